"""The standard GameDay's own cross-check holds: every figure the run recorded is the one
its report recomputes from the raw data (the defect: `differs: ttr_s 0.0 vs 39.55`)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_every_cross_check_row_of_the_standard_gameday_matches(
    prefect_harness, local_stack, tmp_path, monkeypatch
):
    import yaml
    from flows.gameday import gameday_flow

    from gameday.paths import RUNBOOKS_DIR
    from gameday.report import read_summary

    reports = tmp_path / "reports"
    monkeypatch.setenv("GAMEDAY_CHAOS_TOKEN", local_stack.chaos_token)
    monkeypatch.setenv("GAMEDAY_BASE_PORT", str(local_stack.base_port))
    monkeypatch.setenv("GAMEDAY_REPORTS_DIR", str(reports))
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(local_stack.settings.state_dir))
    # the standard runbook; only its abort floor lowered, so that a busy machine cannot
    # end the run before the phases whose figures are cross-checked
    runbook = yaml.safe_load((RUNBOOKS_DIR / "standard.yaml").read_text())
    runbook["safety"]["abort_availability_floor"] = 0.0
    path = tmp_path / "standard.yaml"
    path.write_text(yaml.safe_dump(runbook, sort_keys=False))
    state = gameday_flow(runbook=str(path), return_state=True)
    outcome = state.result(raise_on_failure=False)
    assert outcome["report"], outcome
    assert not [f for f in outcome["failing_checks"] if "cross-check" in f], outcome
    [run_dir] = [p.parent for p in reports.glob("*/journal.json")]
    summary = read_summary(run_dir / "report.ipynb")
    rows = summary["crosscheck"]
    assert [r["phase"] for r in rows] == ["baseline", "crash", "latency", "intermittent",
                                          "incorrect_response", "recovery"]
    assert all(r["result"] == "matches" for r in rows), rows
