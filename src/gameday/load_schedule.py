"""A load schedule's split into disjoint shards.

A phase's schedule (:func:`gameday.systems.load.system_schedule`) is drawn from
``Random(f"{seed}:{phase}")``; ``uniform`` puts request ``i`` at ``i / rate`` exactly (so
float error never adds a request), ``poisson`` draws exponential gaps.

Shard ``k`` of ``n`` takes the requests whose index ``i`` has ``i % n == k``: shards are
disjoint, together they are the whole schedule, and every shard draws the whole sequence
(cheap: a few draws per request), so the same seed gives the same (kind, values, intended
time) sequence whatever the number of shards.
"""

from __future__ import annotations

from dataclasses import dataclass

from gameday.errors import GameDayError

__all__ = ["WHOLE", "Shard"]


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (``Shard(0, 1)``: the whole schedule)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise GameDayError(
                f"shard {self.index} of {self.count}: the count must be ≥ 1 and the index "
                f"in 0..{max(self.count - 1, 0)}")

    def split(self, count: int) -> list[Shard]:
        """``count`` shards covering this one (only for the whole schedule)."""
        if self.count != 1:
            raise GameDayError("only the whole schedule (shard 0 of 1) is split again")
        return [Shard(i, count) for i in range(count)]


#: The whole schedule, unsplit.
WHOLE = Shard()
