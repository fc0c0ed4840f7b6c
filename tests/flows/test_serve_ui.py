"""``gameday serve --ui --port P``: the Prefect dashboard on a port other than 4200 talks to
its own API, and shows a GameDay flow run with its artifacts (headless Chromium)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gameday.cli.serve import server_environment

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / "tests" / "report" / "fixtures" / "run-smoke" / "journal.json"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)

#: A GameDay flow run with the artifacts the real flow creates (flows.gameday._artifacts),
#: from the recorded run's journal; prints the flow run id.
_FLOW = """
import sys
from types import SimpleNamespace
from prefect import flow
from prefect.runtime import flow_run
from flows.gameday import _artifacts
from gameday.journal import read_journal
from gameday.run_record import Outcome

@flow(name="gameday")
def recorded(path: str) -> str:
    j = read_journal(path)
    outcome = Outcome(run_id=j.run_id, name=j.runbook["name"], status=j.status,
                      passed=j.verdict.passed, score=j.verdict.score,
                      failing_checks=j.verdict.failing_checks, duration_s=j.duration,
                      run_dir="reports/" + j.run_id, journal="reports/journal.json",
                      report="reports/report.html")
    run = SimpleNamespace(journal=SimpleNamespace(record=j), phases=j.phases)
    _artifacts(SimpleNamespace(run=run, progress=print), outcome)
    return str(flow_run.id)

print("FLOW_RUN", recorded(sys.argv[1]))
"""


def test_the_server_environment_points_the_ui_at_its_own_port() -> None:
    env = server_environment(4321, {"PREFECT_SERVER_API_PORT": "4200"})
    assert env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4321/api"
    assert env["PREFECT_SERVER_API_PORT"] == "4321"
    proxied = server_environment(4321, {"PREFECT_UI_API_URL": "https://gd.example/api"})
    assert proxied["PREFECT_UI_API_URL"] == "https://gd.example/api"


def _chromium(url: str, work: Path, shot: Path) -> str:
    """Screenshot ``url`` into ``shot`` (looked at: see the report) and return its DOM."""
    common = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-dev-shm-usage", "--window-size=1440,1000",
              "--virtual-time-budget=30000"]
    done = subprocess.run([*common, f"--user-data-dir={work / 'p1'}", f"--screenshot={shot}",
                           url], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and shot.stat().st_size > 30_000, done.stderr[-2000:]
    return subprocess.run([*common, f"--user-data-dir={work / 'p2'}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=240).stdout


def _free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != 4200:
            return port


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_dashboard_on_another_port_reaches_its_api_and_shows_the_gameday_artifacts(
    tmp_path: Path,
) -> None:
    port = _free_port()
    base, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_LOGGING_LEVEL="WARNING",
               GAMEDAY_STATE_DIR=str(tmp_path / "state"),
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serving = subprocess.Popen(
            [sys.executable, "-m", "gameday", "serve", "--ui", "--port", str(port),
             "--server-timeout", "400"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 420
        while True:
            assert serving.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        settings = httpx.get(f"{base}/ui-settings", timeout=10).json()
        assert settings["api_url"] == api  # was http://127.0.0.1:4200/api

        done = subprocess.run([sys.executable, "-c", _FLOW, str(RECORDED)], cwd=REPO,
                              env={**env, "PREFECT_API_URL": api}, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        flow_run = done.stdout.split("FLOW_RUN ")[1].split()[0]
        artifacts = {a["key"]: a["id"] for a in httpx.post(
            f"{api}/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [
                flow_run]}}}, timeout=10).json()}
        assert set(artifacts) == {"gameday-summary", "gameday-phases"}

        shots = Path(os.environ.get("GAMEDAY_SCREENSHOTS", tmp_path))
        run_dom = _chromium(f"{base}/runs/flow-run/{flow_run}", tmp_path / "run",
                            shots / "flow-run.png")
        assert "connect to Server API" not in run_dom and "Something went wrong" not in run_dom
        assert "Completed" in run_dom and "Artifacts" in run_dom  # the run, from the API
        summary_dom = _chromium(f"{base}/artifacts/artifact/{artifacts['gameday-summary']}",
                                tmp_path / "summary", shots / "gameday-summary.png")
        assert "connect to Server API" not in summary_dom
        # the summary artifact rendered: its verdict, its phase table, its failing checks
        assert "20261122-074438-smoke-1095ef" in summary_dom and "FAILED" in summary_dom
        assert "<table" in summary_dom and "incorrect_response" in summary_dom
        assert "Failing checks" in summary_dom
    finally:
        if serving.poll() is None:
            os.killpg(serving.pid, signal.SIGTERM)
            try:
                serving.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(serving.pid, signal.SIGKILL)
                serving.wait(5)
