"""Load spread over Prefect workers: a flow run per shard on a process work pool, through
the real CLIs (prefect server, work pool, worker, deployment run)."""

from __future__ import annotations

import itertools
import json
import subprocess

import pandas as pd
import pytest
from fastapi import FastAPI

from gameday.load_schedule import schedule
from gameday.runbook import LoadSpec
from loopback_app import serve_in_thread
from prefect_pool import PREFECT, process_pool


@pytest.mark.slow
def test_each_shard_is_a_flow_run_of_a_pool_worker_and_the_records_merge(tmp_path) -> None:
    app = FastAPI()

    @app.get("/inventory/{product}")
    async def read(product: str) -> dict:
        return {"quorum_achieved": True, "data": {"available_quantity": 3}}

    out_dir = tmp_path / "load"
    load = {"rate": 40, "read_ratio": 1.0, "products": ["A", "B", "C"]}
    with process_pool(tmp_path, "gameday-load") as pool, serve_in_thread(app) as base:
        pool.worker()
        params = {"urls": {"inventory": [base], "monitor": base, "voter": base,
                           "orders": base},
                  "load": load, "seed": 9, "phase": "spread", "duration_s": 2.0,
                  "shards": 2, "out_dir": str(out_dir), "start_delay_s": 20.0}
        run = subprocess.run(
            [PREFECT, "deployment", "run", "sharded-load/default", "--watch",
             "--watch-timeout", "300", "--params", json.dumps(params)],
            env=pool.env, capture_output=True, text=True, timeout=360)
        assert run.returncode == 0, run.stdout[-3000:] + pool.logs()
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
