"""A one-component system file for tests of the load generator: the app under test at one
base URL (a stub served in a thread, a raw socket server, a closed port), the load the
test gives, and a runbook naming the file, as a user writes them.

:func:`app_load` writes both into a folder and returns what :class:`SystemLoad.of
<gameday.load_shards.SystemLoad>` makes of the runbook (for :func:`run_sharded
<gameday.load_shards.run_sharded>`); :func:`app_generator` returns the
:class:`~gameday.systems.load.SystemLoadGenerator` a GameDay would send with, its answers
judged by the file's oracle when asked (``judged``: the truth read from the oracle's URL
now, as a run does when it starts; :func:`judged_by_oracle` does the same for any
resolved system)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gameday.load_schedule import WHOLE, Shard
from gameday.load_shards import SystemLoad
from gameday.runbook import LoadSpec
from gameday.systems.load import SystemLoadGenerator
from gameday.systems.probe import oracle_values
from gameday.systems.resolve import ResolvedSystem
from gameday.truth import Truth

__all__ = ["GET", "app_generator", "app_load", "judged_by_oracle", "oracle_truth"]

#: The simplest load: one GET of the app's root, a 200 expected.
GET: dict[str, Any] = {"requests": {"get": {"url": "{{ app.url }}/"}}}


def app_load(folder: Path, base: str, load: dict[str, Any] | None = None, *, seed: int = 1,
             **spec: Any) -> tuple[SystemLoad, LoadSpec, int]:
    """Write ``folder/app.yaml`` (one component ``app`` at ``base``, never faulted, with
    ``load``: the file's ``load`` section, default :data:`GET`) and ``folder/app-rb.yaml``
    naming it with ``seed`` and ``spec`` as its ``load`` (``rate``, ``timeout_s``,
    ``arrival``, ``mix``, ``values``, ``follow_up_after_s``; ``rate`` defaults to 10);
    return the runbook's system load, load spec and seed."""
    (folder / "app.yaml").write_text(yaml.safe_dump({
        "name": "app",
        "components": {"app": {"url": base, "faultable": False}},
        "load": load or GET,
    }))
    runbook = folder / "app-rb.yaml"
    runbook.write_text(yaml.safe_dump({
        "name": "app-load", "system": "app.yaml", "seed": seed,
        "load": {"rate": 10, **spec},
        "phases": [{"name": "load", "duration_s": 1}],
    }))
    return SystemLoad.of(runbook)


def app_generator(folder: Path, base: str, load: dict[str, Any] | None = None, *,
                  seed: int = 1, judged: bool = False, shard: Shard = WHOLE,
                  **spec: Any) -> SystemLoadGenerator:
    """The generator of :func:`app_load`'s system; with ``judged``, its answers judged
    against the oracle's values read now (the file's ``load.oracle`` must answer)."""
    source, load_spec, seed = app_load(folder, base, load, seed=seed, **spec)
    gen = source.generator(load_spec, seed, shard)
    assert isinstance(gen, SystemLoadGenerator)
    return judged_by_oracle(gen.resolved, load_spec, seed, shard) if judged else gen


def judged_by_oracle(resolved: ResolvedSystem, spec: LoadSpec, seed: int,
                     shard: Shard = WHOLE, *, truth: Truth | None = None
                     ) -> SystemLoadGenerator:
    """The generator of ``resolved``'s load, its answers judged against ``truth``,
    default :func:`oracle_truth` read now (as a GameDay reads it when it starts; one
    truth for every phase of a run, so pass it on to the next phase's generator)."""
    return SystemLoadGenerator(resolved, spec, seed, shard=shard,
                               truth=truth or oracle_truth(resolved))


def oracle_truth(resolved: ResolvedSystem) -> Truth:
    """The truth of ``resolved``'s load: its oracle's values read now."""
    oracle = resolved.system.load.oracle
    assert oracle is not None, "judged: the load needs an oracle"
    _, values = oracle_values(resolved)
    return Truth(values, settle_s=oracle.settle_s)
