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
from pair_system import pair_runbook, pair_system
from prefect_pool import PREFECT, process_pool


@pytest.mark.slow
def test_each_shard_is_a_flow_run_of_a_pool_worker_and_the_records_merge(tmp_path) -> None:
    """The inventory stack's mix (urls + load), then a system's (a runbook naming a
    system file): each shard a flow run on the pool's worker, merged into one run."""
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
        with pair_system(tmp_path) as (pair, port):
            runbook = pair_runbook(tmp_path)
            system_params = {"runbook": str(runbook), "base_port": port, "rate": 30,
                             "phase": "pair", "duration_s": 2.0, "shards": 2,
                             "out_dir": str(out_dir), "start_delay_s": 20.0}
            system_run = subprocess.run(
                [PREFECT, "deployment", "run", "sharded-load/default", "--watch",
                 "--watch-timeout", "300", "--params", json.dumps(system_params)],
                env=pool.env, capture_output=True, text=True, timeout=360)
            assert system_run.returncode == 0, system_run.stdout[-3000:] + pool.logs()
            asked = dict(pair.asked)
    pair_parts = [pd.read_csv(out_dir / f"pair-shard-{k}-of-2.csv") for k in range(2)]
    assert [len(part) for part in pair_parts] == [30, 30]
    pair_merged = pd.read_csv(out_dir / "pair-requests.csv")
    assert set(pair_merged["kind"]) == {"buy"} and pair_merged["ok"].all()
    assert set(pair_merged["product_id"]) == {"apple", "pear"}  # the file's values
    assert asked == {"a": 60, "b": 60}  # the system's front door saw every request once
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
