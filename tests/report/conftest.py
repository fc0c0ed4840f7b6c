"""Fixtures of the report tests: a run folder (the recorded real run when present) and
its report, rendered once per session (papermill + a kernel take several seconds)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "run-smoke"
RUN_FILES = ("journal.json", "requests.csv", "transitions.csv")


def real_run_recorded() -> bool:
    return all((FIXTURE / name).is_file() for name in RUN_FILES)


def copy_run(dest: Path) -> Path:
    """Copy the recorded real run (or, until one is recorded, a synthetic one) to ``dest``."""
    if real_run_recorded():
        dest.mkdir(parents=True)
        for name in RUN_FILES:
            shutil.copy2(FIXTURE / name, dest / name)
        return dest
    import importlib.util

    path = Path(__file__).parent / "synth.py"
    spec = importlib.util.spec_from_file_location("report_synth", path)
    assert spec and spec.loader
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    return synth.make_run(dest)


def shifted_copy(src: Path, dest: Path, days: int, ttd_factor: float = 1.0) -> Path:
    """A copy of run ``src`` started ``days`` later, its fault TTDs scaled by ``ttd_factor``
    (trend tests need several runs; the raw CSVs are copied unchanged)."""
    shutil.copytree(src, dest)
    journal = json.loads((dest / "journal.json").read_text())
    start = datetime.fromisoformat(journal["start"].replace("Z", "+00:00"))
    journal["start"] = (start + timedelta(days=days)).astimezone(UTC).isoformat()
    journal["run_id"] = dest.name
    for ph in journal["phases"]:
        if ph.get("fault") and ph["metrics"].get("ttd_s") is not None:
            ph["metrics"]["ttd_s"] *= ttd_factor
    (dest / "journal.json").write_text(json.dumps(journal, indent=2))
    for name in ("report.ipynb", "report.html"):
        (dest / name).unlink(missing_ok=True)
    return dest


@pytest.fixture(name="copy_run")
def _copy_run_fixture() -> object:
    """``copy_run(dest)``: a fresh copy of the test run in ``dest``."""
    return copy_run


@pytest.fixture(name="shifted_copy")
def _shifted_copy_fixture() -> object:
    """``shifted_copy(src, dest, days, ttd_factor)``: a later copy of a run."""
    return shifted_copy


@pytest.fixture(scope="session")
def rendered_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder under a reports folder, with report.ipynb/report.html rendered."""
    from gameday.report import render_report

    reports = tmp_path_factory.mktemp("reports")
    run_dir = copy_run(reports / "run-smoke")
    render_report(run_dir)
    return run_dir


PASS_FIXTURE = Path(__file__).parent / "fixtures" / "run-pass"


def copy_pass_run(dest: Path) -> Path:
    """Copy the recorded real run that passed (fixtures/run-pass) to ``dest``."""
    dest.mkdir(parents=True)
    for name in RUN_FILES:
        shutil.copy2(PASS_FIXTURE / name, dest / name)
    return dest


def make_aborted(run_dir: Path) -> Path:
    """Turn the run in ``run_dir`` into one the availability floor aborted during its
    third phase (the reason as gameday.safety words it), with two observations."""
    from gameday.journal import read_journal, write_journal
    from gameday.run_record import Abort, Observation

    journal = read_journal(run_dir / "journal.json")
    phase = journal.phases[2]
    at = phase.injected_at or phase.start
    journal.status = "aborted"
    journal.abort = Abort(phase=phase.name, at=at + timedelta(seconds=3), reason=(
        "availability 84.0% over the last 5 s (42/50 requests ok) fell below the floor "
        "90.0%"))
    assert journal.verdict is not None
    journal.verdict.passed = False
    journal.verdict.failing_checks.append("run aborted")
    journal.observations = [
        Observation(at=at + timedelta(seconds=1.2), role="observer", phase=phase.name,
                    kind="noticed", text="orders page shows stale stock"),
        Observation(at=at + timedelta(seconds=2.5), role="coordinator", phase=phase.name,
                    text="calling the abort"),
    ]
    write_journal(run_dir, journal)
    return run_dir


@pytest.fixture(scope="session")
def rendered_pass_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The passing run (fixtures/run-pass) with its report rendered."""
    from gameday.report import render_report

    run_dir = copy_pass_run(tmp_path_factory.mktemp("reports") / "run-pass")
    render_report(run_dir)
    return run_dir


@pytest.fixture(scope="session")
def rendered_aborted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recorded failing run turned into an aborted one, with its report rendered."""
    from gameday.report import render_report

    run_dir = make_aborted(copy_run(tmp_path_factory.mktemp("reports") / "run-aborted"))
    render_report(run_dir)
    return run_dir


@pytest.fixture(name="copy_pass_run")
def _copy_pass_run_fixture() -> object:
    """``copy_pass_run(dest)``: a fresh copy of the recorded passing run in ``dest``."""
    return copy_pass_run
