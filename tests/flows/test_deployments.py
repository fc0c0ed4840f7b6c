"""The served deployments, end to end through the real CLIs (gameday serve, prefect)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from flows.deployments import build_deployments
from prefect import flow

from lb_software import HAVE_LB_SOFTWARE
from prefect_pool import free_port as _free_port
from prefect_pool import prefect_env as _env
from prefect_pool import process_pool
from prefect_pool import stop as _stop

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@flow(name="gameday")
def _stand_in(runbook: str, start_stack: bool = False, trends: bool = False) -> str:
    return runbook


def test_four_deployments_with_the_nightly_cron_from_the_environment():
    env = {"GAMEDAY_NIGHTLY_CRON": "15 4 * * 1-5", "GAMEDAY_NIGHTLY_TZ": "Europe/Paris"}
    deployments = {d.name: d for d in build_deployments(_stand_in, env)}
    assert sorted(deployments) == ["lb", "nightly", "smoke", "standard"]
    assert deployments["smoke"].parameters["runbook"].endswith("runbooks/smoke.yaml")
    assert deployments["lb"].parameters["runbook"].endswith("runbooks/lb.yaml")
    # a deployment run starts the stack when none runs (and uses the one that does)
    assert all(d.parameters["start_stack"] is True for d in deployments.values())
    assert deployments["nightly"].parameters["trends"] is True  # refreshes reports/trends.html
    assert "trends" not in deployments["standard"].parameters
    assert deployments["standard"].schedules in (None, [])
    (nightly,) = deployments["nightly"].schedules
    assert nightly.schedule.cron == "15 4 * * 1-5"
    assert nightly.schedule.timezone == "Europe/Paris"


def test_nightly_defaults_to_two_in_the_morning_utc():
    deployments = {d.name: d for d in build_deployments(_stand_in, {})}
    (nightly,) = deployments["nightly"].schedules
    assert (nightly.schedule.cron, nightly.schedule.timezone) == ("0 2 * * *", "UTC")


def _wait_for(check, timeout_s: float, what: str, process: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gameday serve exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(1)
    pytest.fail(f"{what} not within {timeout_s} s:\n{log.read_text()[-3000:]}")


def _start_serving(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gameday", "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _deployment(api: str, name: str) -> dict | None:
    answer = httpx.get(f"{api}/deployments/name/gameday/{name}", timeout=5)
    return answer.json() if answer.status_code == 200 else None


@pytest.mark.slow
def test_smoke_deployment_runs_to_a_report_and_nightly_carries_its_schedule(
        local_stack, tmp_path, free_base_port):
    from gameday.cli.serve import start_prefect_server, stop_process, wait_healthy

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    reports = tmp_path / "reports"
    env = _env(
        tmp_path,
        GAMEDAY_BASE_PORT=str(local_stack.base_port),
        GAMEDAY_STATE_DIR=str(local_stack.settings.state_dir),
        GAMEDAY_CHAOS_TOKEN=local_stack.chaos_token,
        GAMEDAY_REPORTS_DIR=str(reports),
        GAMEDAY_NIGHTLY_CRON="45 3 * * *",
        GAMEDAY_NIGHTLY_TZ="Europe/Paris",
    )
    # A server of the user's own, named by PREFECT_API_URL: it outlives the serve process,
    # so the test can see that stopping serve does not pause the nightly schedule.
    server_log = tmp_path / "server.log"
    server = start_prefect_server(port, env, log_path=server_log)
    log = tmp_path / "serve.log"
    serving = None
    try:
        wait_healthy(api, 150, server, server_log)
        serving = _start_serving({**env, "PREFECT_API_URL": api}, port, log)
        for name in ("standard", "nightly", "smoke"):
            _wait_for(lambda n=name: _deployment(api, n), 120, f"deployment {name}", serving, log)

        nightly = _deployment(api, "nightly")
        assert not nightly["paused"]
        (schedule,) = nightly["schedules"]
        assert schedule["active"]
        assert schedule["schedule"]["cron"] == "45 3 * * *"
        assert schedule["schedule"]["timezone"] == "Europe/Paris"
        assert _deployment(api, "standard")["schedules"] == []

        def upcoming_nightly_runs() -> list[dict]:
            answer = httpx.post(
                f"{api}/flow_runs/filter",
                json={
                    "deployments": {"id": {"any_": [nightly["id"]]}},
                    "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                },
                timeout=5,
            )
            return answer.json() if answer.status_code == 200 else []

        # Prefect's scheduler turns the cron into runs: 03:45 in Paris is 02:45 UTC in
        # winter, 01:45 UTC in summer.
        runs = _wait_for(upcoming_nightly_runs, 120, "scheduled nightly runs", serving, log)
        assert all(r["expected_start_time"][11:19] in ("02:45:00", "01:45:00") for r in runs)

        # This test is about deployments, not about the stack's latency on a machine busy
        # with other tests.
        relaxed = _relaxed_smoke(tmp_path)
        run = subprocess.run(
            [
                str(BIN / "prefect"),
                "deployment",
                "run",
                "gameday/smoke",
                "--watch",
                "--watch-timeout",
                "400",
                "--param",
                f"runbook={relaxed}",
            ],
            cwd=REPO,
            env={**env, "PREFECT_API_URL": api},
            capture_output=True,
            text=True,
            timeout=480,
        )
        journals = list(reports.glob("*/journal.json"))
        assert len(journals) == 1, run.stdout[-2000:] + log.read_text()[-8000:]
        journal = json.loads(journals[0].read_text())
        assert journal["runbook"]["name"] == "smoke"
        assert (journals[0].parent / "report.html").exists()
        kinds = [n["kind"] for n in journal["notifications"]]
        assert kinds[0] == "start" and kinds[-1] == "verdict"
        assert {n["channel"] for n in journal["notifications"]} == {"console"}
        assert run.returncode == 0, f"smoke GameDay verdict: {journal['verdict']}\n{run.stdout}"
        assert "Completed" in run.stdout
        assert journal["status"] == "completed"

        if HAVE_LB_SOFTWARE:  # tests/system.sh installs haproxy and nginx-light
            # the second system from its deployment: started by the run, on its own ports
            run = subprocess.run(
                [str(BIN / "prefect"), "deployment", "run", "gameday/lb", "--watch",
                 "--watch-timeout", "400", "--param", f"base_port={free_base_port()}"],
                cwd=REPO, env={**env, "PREFECT_API_URL": api}, capture_output=True,
                text=True, timeout=480)
            lb = [json.loads(p.read_text()) for p in reports.glob("*/journal.json")]
            lb = [j for j in lb if j["runbook"]["name"] == "lb"]
            assert len(lb) == 1, run.stdout[-2000:] + log.read_text()[-8000:]
            assert lb[0]["system"]["name"] == "lb" and lb[0]["status"] in ("completed",
                                                                            "failed")
            assert [p["name"] for p in lb[0]["phases"]] == ["baseline", "kill", "hang",
                                                           "recovery"]
            assert all(p["metrics"]["ttd_s"] is not None for p in lb[0]["phases"]
                       if p["fault"]), lb[0]["phases"]

        _stop(serving)
        assert not _deployment(api, "nightly")["paused"]  # pause_on_shutdown=False
    finally:
        if serving is not None:
            _stop(serving)
        stop_process(server, group=True)


@pytest.mark.slow
def test_serve_starts_a_loopback_prefect_server_when_no_api_url_is_set(tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    log = tmp_path / "serve.log"
    serving = _start_serving(_env(tmp_path), port, log)
    try:
        _wait_for(
            lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200,
            150,
            "the Prefect server",
            serving,
            log,
        )
        _wait_for(lambda: _deployment(api, "smoke"), 120, "deployment smoke", serving, log)
        assert f"export PREFECT_API_URL={api}" in log.read_text()
    finally:
        _stop(serving)
    assert serving.returncode is not None
    # the server it started is gone with it
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api}/health", timeout=2)


def _relaxed_smoke(tmp_path: Path) -> Path:
    """runbooks/smoke.yaml with a p95 floor that load noise on a busy machine cannot break."""
    runbook = yaml.safe_load((REPO / "runbooks" / "smoke.yaml").read_text())
    runbook.setdefault("slo", {})["latency_p95_min_ms"] = 250
    relaxed = tmp_path / "smoke.yaml"
    relaxed.write_text(yaml.safe_dump(runbook, sort_keys=False))
    return relaxed


@pytest.mark.slow
def test_a_worker_of_a_process_work_pool_runs_the_registered_smoke_deployment(
    local_stack, tmp_path
):
    """The README's remote-server path: register with a work pool, run with a worker."""
    reports = tmp_path / "reports"
    with process_pool(tmp_path, "gameday-host") as pool:
        smoke = _deployment(pool.api, "smoke")
        assert smoke is not None and smoke["work_pool_name"] == "gameday-host"
        assert smoke["entrypoint"] == "flows.gameday.gameday_flow"  # a module path
        pool.worker(GAMEDAY_BASE_PORT=str(local_stack.base_port),
                    GAMEDAY_STATE_DIR=str(local_stack.settings.state_dir),
                    GAMEDAY_CHAOS_TOKEN=local_stack.chaos_token,
                    GAMEDAY_REPORTS_DIR=str(reports))
        run = subprocess.run(
            [str(BIN / "prefect"), "deployment", "run", "gameday/smoke", "--watch",
             "--watch-timeout", "400", "--param", f"runbook={_relaxed_smoke(tmp_path)}"],
            env=pool.env, capture_output=True, text=True, timeout=480)
        journals = list(reports.glob("*/journal.json"))
        assert len(journals) == 1, run.stdout[-2000:] + pool.logs()
        assert run.returncode == 0, run.stdout[-3000:]
        journal = json.loads(journals[0].read_text())
        assert journal["status"] == "completed"
        assert journal["notifications"][0]["kind"] == "start"
        assert (journals[0].parent / "report.html").exists()
