"""Nothing a run records can run as code where it is rendered.

Every free-text field of a journal (roles, notes, errors quoting the system under test,
abort and interruption reasons, check names, runbook name and path, phase and component
names, package versions) holds a script and an ``<img onerror>``; the report, the index,
the trends page, the Prefect summary and the session's tables are opened in headless
Chromium: no script runs, and the text is there to read.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from gameday.journal import read_journal, write_journal
from gameday.run_record import Abort, Interruption, Observation, Roles, SessionInfo

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
#: Runs when rendered as HTML: either marks <body data-pwned=…>.
HOSTILE = ('<script>document.body.dataset.pwned="script"</script>'
           '<img src=x onerror="document.body.dataset.pwned=\'img\'">'
           '**bold** [click](javascript:alert(1)) | cell `code` <!channel>')
#: What a reader must see of it (the DOM serializes text with < as &lt;).
VISIBLE = "&lt;img src=x onerror="


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _open(page: Path, tmp_path: Path, screenshot: Path | None = None) -> str:
    """The page's DOM after its scripts ran (no network at all)."""
    base = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--proxy-server=http://127.0.0.1:{_closed_port()}", "--virtual-time-budget=10000"]
    if screenshot is not None:
        subprocess.run([*base, "--window-size=1280,3200", f"--screenshot={screenshot}",
                        page.as_uri()], capture_output=True, timeout=120, check=False)
    done = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _assert_inert(dom: str, what: str) -> None:
    body = re.search(r"<body[^>]*>", dom)
    assert body and "data-pwned" not in body.group(0), f"a script ran in the {what}"
    assert VISIBLE in dom, f"the hostile text is not shown as text in the {what}"


def _hostile_run(run_dir: Path) -> Path:
    """The recorded run with a hostile string in every free-text field."""
    journal = read_journal(run_dir / "journal.json")
    h = HOSTILE
    journal.run_id = f"run {h}"
    journal.runbook = {**journal.runbook, "name": f"rb {h}", "description": h}
    journal.runbook_path = f"runbooks/{h}.yaml"
    journal.error = f"replica answered: {h}"
    journal.report_error = None
    journal.status = "interrupted"
    journal.interruption = Interruption(found_at=journal.start, found_by=f"someone {h}",
                                        reason=f"because {h}", phase=f"phase {h}")
    journal.environment.git_sha = h
    journal.environment.packages[h] = h
    journal.verdict.failing_checks.append(f"check {h}")  # type: ignore[union-attr]
    journal.session = SessionInfo(roles=Roles(owner=h, coordinator=h, reporter=h,
                                              observers=[h, h]))
    last = journal.phases[-1]
    renamed = f"recovery {h}"
    requests = pd.read_csv(run_dir / "requests.csv", dtype={"phase": str})
    requests.loc[requests["phase"] == last.name, "phase"] = renamed
    requests.to_csv(run_dir / "requests.csv", index=False)
    last.name = renamed
    crash = journal.phases[1]
    crash.checks[0].name = f"availability {h}"
    crash.checks[0].detail = h
    crash.checks[0].passed = False  # listed in the verdict banner's "What failed"
    journal.abort = Abort(reason=f"floor {h}", at=journal.start, phase=f"phase {h}")
    assert crash.fault is not None
    crash.fault.params = {h: h}
    journal.observations.append(Observation(at=journal.start, role=h, phase=renamed,
                                            kind="noticed", text=h))
    write_journal(run_dir, journal)
    transitions = pd.read_csv(run_dir / "transitions.csv", dtype={"instance_id": str})
    extra = transitions.iloc[:1].assign(instance_id=h, reason=h)
    pd.concat([transitions, extra]).to_csv(run_dir / "transitions.csv", index=False)
    return run_dir


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_hostile_text_in_every_field_never_runs_and_stays_readable(
    tmp_path: Path, copy_run: Callable[[Path], Path]
) -> None:
    from gameday.report import render_report, render_trends

    reports = tmp_path / "reports"
    copy_run(reports / "plain")
    run_dir = _hostile_run(copy_run(reports / "hostile"))
    page = render_report(run_dir)
    shots = Path(__file__).resolve().parents[2] / ".gameday" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    dom = _open(page, tmp_path, screenshot=shots / "hostile-report.png")
    _assert_inert(dom, "report")
    for text in ("&lt;script&gt;document.body.dataset.pwned", "**bold** [click]",
                 "because &lt;script&gt;", "Interrupted"):
        assert text in dom, text
    # the verdict banner (abort reason, failing check and its detail, runbook name) and
    # the headline table (the fault's parameters) show the text, inert
    banner = dom[dom.index('class="gd-verdict'):dom.index('class="gd-headline')]
    for text in ("ABORTED", "floor &lt;script&gt;", "availability &lt;script&gt;",
                 "rb &lt;script&gt;", VISIBLE):
        assert text in banner, text
    headline = dom[dom.index('class="gd-headline'):]
    assert VISIBLE in headline[:headline.index("</table>")]
    assert 'class="plotly-graph-div' in dom  # the charts still drew
    _assert_inert(_open(reports / "index.html", tmp_path), "index")
    _assert_inert(_open(render_trends(reports), tmp_path), "trends page")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_the_prefect_summary_and_the_session_tables_escape_hostile_text(
    tmp_path: Path, copy_run: Callable[[Path], Path]
) -> None:
    import mistune

    from gameday.escape import styler
    from gameday.run_record import Outcome
    from gameday.summary import markdown_summary

    run_dir = _hostile_run(copy_run(tmp_path / "reports" / "hostile"))
    journal = read_journal(run_dir / "journal.json")
    outcome = Outcome(run_id=journal.run_id, name=HOSTILE, status="failed", passed=False,
                      score=1, failing_checks=[HOSTILE], run_dir=str(run_dir),
                      journal=f"{HOSTILE}/journal.json", report=f"{HOSTILE}/report.html")
    # the Prefect UI renders the artifact as Markdown (raw HTML allowed, like nbconvert)
    markdown = mistune.create_markdown(escape=False, plugins=["table"])
    page = tmp_path / "summary.html"
    page.write_text(f"<html><body>{markdown(markdown_summary(journal, outcome))}</body></html>")
    _assert_inert(_open(page, tmp_path), "Prefect summary")
    table = tmp_path / "table.html"  # what Session._show_table displays
    rows = [{"item": HOSTILE, "ok": False, "detail": HOSTILE}]
    table.write_text(f"<html><body>{styler(pd.DataFrame(rows)).to_html()}</body></html>")
    _assert_inert(_open(table, tmp_path), "session table")
