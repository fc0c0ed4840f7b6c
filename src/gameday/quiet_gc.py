"""No full garbage collection while the load generator sends: :func:`quiet_gc`.

Why: CPython's oldest-generation (gen 2) collection walks every tracked object of the
process. In a load-generator process (pandas, aiohttp and the harness imported: ~95,000
objects before the first request) one such pass took 80–160 ms of CPU, and at 2,000 req/s
the records pile up fast enough to set one off every ~5 s; every request due during the
pause is sent that much late (BENCHMARKS.md, "The load generator's ceiling"). Young
collections (gen 0/1) stay on: they cost 1–3 ms at most and free the per-request cycles.

While at least one :func:`quiet_gc` block is open in the process (any thread):

- the objects alive when the first block opened are frozen (:func:`gc.freeze`), so a
  collection that does run (someone's ``gc.collect()``) does not walk them;
- the gen-2 threshold is raised so high that no automatic full collection starts.

When the last block closes, the threshold is put back and the frozen objects are
unfrozen (returned to gen 2, collectable again), so nothing a run left behind leaks. A
heap someone else froze before (``gc.get_freeze_count() > 0``) is left as they froze it:
then only the threshold is raised.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["GcPauses", "quiet_gc", "watch_gc"]

#: Gen-1 collections between gen-2 collections while quiet: never, in practice.
QUIET_GEN2_THRESHOLD = 1_000_000_000

_lock = threading.Lock()
_depth = 0
_saved_threshold: tuple[int, int, int] | None = None
_we_froze = False


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """No automatic full collection inside the block (see the module docstring);
    re-entrant and thread-safe: the state is restored when the last block closes."""
    global _depth, _saved_threshold, _we_froze
    with _lock:
        if _depth == 0:
            _saved_threshold = gc.get_threshold()
            _we_froze = gc.get_freeze_count() == 0
            if _we_froze:
                gc.freeze()
            gen0, gen1, _ = _saved_threshold
            gc.set_threshold(gen0, gen1, QUIET_GEN2_THRESHOLD)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_threshold is not None:
                gc.set_threshold(*_saved_threshold)
                if _we_froze:
                    gc.unfreeze()
                _saved_threshold, _we_froze = None, False


@dataclass
class GcPauses:
    """The collections seen by :func:`watch_gc`: per generation, how many and the longest
    (ms of the collecting thread's CPU time: unlike wall time, not lengthened by other
    processes taking the core on a busy machine)."""

    count: list[int] = field(default_factory=lambda: [0, 0, 0])
    max_ms: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    total_ms: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])


@contextlib.contextmanager
def watch_gc() -> Iterator[GcPauses]:
    """Count the process's garbage collections inside the block (for benchmarks)."""
    pauses = GcPauses()
    started: dict[int, float] = {}

    def callback(phase: str, info: dict[str, int]) -> None:
        now, key = time.thread_time(), threading.get_ident()
        if phase == "start":
            started[key] = now
        elif key in started:
            gen, ms = info["generation"], 1000.0 * (now - started.pop(key))
            pauses.count[gen] += 1
            pauses.total_ms[gen] += ms
            pauses.max_ms[gen] = max(pauses.max_ms[gen], ms)

    gc.callbacks.append(callback)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(callback)
