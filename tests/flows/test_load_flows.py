"""Load spread over Prefect workers: a flow run per shard on a process work pool, through
the real CLIs (prefect server, work pool, worker, deployment run)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI
from test_deployments import _env, _free_port, _stop

from gameday.load_schedule import schedule
from gameday.runbook import LoadSpec
from loopback_app import serve_in_thread

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_each_shard_is_a_flow_run_of_a_pool_worker_and_the_records_merge(tmp_path) -> None:
    from gameday.cli.serve import start_prefect_server, stop_process, wait_healthy

    app = FastAPI()

    @app.get("/inventory/{product}")
    async def read(product: str) -> dict:
        return {"quorum_achieved": True, "data": {"available_quantity": 3}}

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = _env(tmp_path, PREFECT_API_URL=api, PREFECT_WORKER_QUERY_SECONDS="2")
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
    server = start_prefect_server(port, env, log_path=server_log)
    worker = None
    out_dir = tmp_path / "load"
    load = {"rate": 40, "read_ratio": 1.0, "products": ["A", "B", "C"]}
    try:
        wait_healthy(api, 150, server, server_log)
        prefect = str(BIN / "prefect")
        subprocess.run([prefect, "work-pool", "create", "gameday-load", "--type", "process"],
                       env=env, check=True, capture_output=True, timeout=120)
        registered = subprocess.run(
            [sys.executable, "-m", "flows.deployments", "--work-pool", "gameday-load"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
        assert registered.returncode == 0, registered.stderr[-3000:]
        with open(worker_log, "wb") as log, serve_in_thread(app) as base:
            worker = subprocess.Popen(
                [prefect, "worker", "start", "--pool", "gameday-load"], cwd=tmp_path, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            params = {"urls": {"inventory": [base], "monitor": base, "voter": base,
                               "orders": base},
                      "load": load, "seed": 9, "phase": "spread", "duration_s": 2.0,
                      "shards": 2, "out_dir": str(out_dir), "start_delay_s": 20.0}
            run = subprocess.run(
                [prefect, "deployment", "run", "sharded-load/default", "--watch",
                 "--watch-timeout", "300", "--params", json.dumps(params)],
                env=env, capture_output=True, text=True, timeout=360)
        assert run.returncode == 0, run.stdout[-3000:] + worker_log.read_text()[-6000:]
    finally:
        if worker is not None:
            _stop(worker)
        stop_process(server, group=True)
    shard_files = sorted(p.name for p in out_dir.glob("spread-shard-*.csv"))
    assert shard_files == ["spread-shard-0-of-2.csv", "spread-shard-1-of-2.csv"]
    parts = [pd.read_csv(out_dir / name) for name in shard_files]
    assert len(parts[0]) == len(parts[1]) == 40  # each worker sent its half
    merged = pd.read_csv(out_dir / "spread-requests.csv")
    planned = list(itertools.takewhile(lambda p: p.offset_s < 2.0,
                                       schedule(LoadSpec(**load), 9, "spread")))
    assert list(merged["product_id"]) == [p.product for p in planned]  # the whole schedule
    assert merged["ok"].all()
    gaps = merged["intended_s"].diff().dropna()
    assert (abs(gaps - 1 / 40) < 1e-6).all()  # both shards on one clock
