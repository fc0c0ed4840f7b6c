"""Load spread over Prefect workers: a flow run per shard on a process work pool, through
the real CLIs (prefect server, work pool, worker, deployment run)."""

from __future__ import annotations

import itertools
import json
import subprocess

import pandas as pd
import pytest

from gameday.runbook import load_runbook
from gameday.systems.load import adjusted_load, system_schedule
from gameday.systems.loader import load_system
from pair_system import pair_runbook, pair_system
from prefect_pool import PREFECT, process_pool


@pytest.mark.slow
def test_each_shard_is_a_flow_run_of_a_pool_worker_and_the_records_merge(tmp_path) -> None:
    """A system's load (a runbook naming a system file): each shard a flow run on the
    pool's worker, merged into one run on one clock, the whole schedule sent once."""
    out_dir = tmp_path / "load"
    with process_pool(tmp_path, "gameday-load") as pool:
        pool.worker()
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
    shard_files = sorted(p.name for p in out_dir.glob("pair-shard-*.csv"))
    assert shard_files == ["pair-shard-0-of-2.csv", "pair-shard-1-of-2.csv"]
    pair_parts = [pd.read_csv(out_dir / name) for name in shard_files]
    assert [len(part) for part in pair_parts] == [30, 30]  # each worker sent its half
    pair_merged = pd.read_csv(out_dir / "pair-requests.csv")
    assert set(pair_merged["kind"]) == {"buy"} and pair_merged["ok"].all()
    assert set(pair_merged["key"]) == {"apple", "pear"}  # the file's values
    assert asked == {"a": 60, "b": 60}  # the system's front door saw every request once
    rb = load_runbook(runbook)
    spec = rb.load.model_copy(update={"rate": 30})
    mix = adjusted_load(load_system(tmp_path / "pair.yaml").load, spec)
    planned = list(itertools.takewhile(lambda p: p.offset_s < 2.0,
                                       system_schedule(mix, spec, rb.seed, "pair")))
    # the whole schedule, in order
    assert list(pair_merged["key"]) == [p.values["item"] for p in planned]
    gaps = pair_merged["intended_s"].diff().dropna()
    assert (abs(gaps - 1 / 30) < 1e-6).all()  # both shards on one clock
