"""gameday.quiet_gc: no automatic full collection while load is sent, state restored after."""

from __future__ import annotations

import gc
import threading
import weakref

from gameday.quiet_gc import QUIET_GEN2_THRESHOLD, quiet_gc, watch_gc


def test_the_block_freezes_the_heap_and_stops_full_collections_then_restores() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with quiet_gc():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (before[0], before[1], QUIET_GEN2_THRESHOLD)
        assert gc.isenabled()  # young collections keep freeing per-request cycles
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0  # nothing alive before the run stays uncollectable


def test_a_cycle_made_before_the_block_is_collected_after_it() -> None:
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    gone = threading.Event()
    ref = weakref.ref(a, lambda _: gone.set())
    with quiet_gc():
        del a, b
        gc.collect(0)
        gc.collect(1)
    gc.collect()
    assert ref() is None and gone.is_set()


def test_overlapping_blocks_in_two_threads_restore_only_when_the_last_closes() -> None:
    before = gc.get_threshold()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with quiet_gc():
            inside.set()
            leave.wait(5)

    t = threading.Thread(target=other)
    with quiet_gc():
        t.start()
        assert inside.wait(5)
    # this thread's block closed, the other's is still open: still quiet
    assert gc.get_threshold()[2] == QUIET_GEN2_THRESHOLD and gc.get_freeze_count() > 0
    leave.set()
    t.join(5)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_heap_frozen_by_the_caller_stays_frozen() -> None:
    gc.freeze()
    try:
        with quiet_gc():
            assert gc.get_threshold()[2] == QUIET_GEN2_THRESHOLD
        # still frozen: had the block unfrozen the caller's heap, the count would be 0.
        # (Not ">= the count at the freeze": a frozen object that dies leaves the
        # permanent generation, so the count may fall a little: a flaky CI failure.)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def test_an_exception_inside_the_block_still_restores() -> None:
    before = gc.get_threshold()
    try:
        with quiet_gc():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_watch_gc_counts_collections_by_generation() -> None:
    with watch_gc() as pauses:
        gc.collect()
        gc.collect(0)
    assert pauses.count[2] == 1 and pauses.count[0] >= 1
    assert pauses.max_ms[2] >= 0.0 and pauses.total_ms[2] >= pauses.max_ms[2]
    gc.collect()
    assert pauses.count[2] == 1  # the callback is gone after the block
