"""The load generator's seeded schedule, and its split into disjoint shards.

The schedule of one phase is drawn from ``Random(f"{seed}:{phase}")``, in this order per
request: the product (``randrange``), the kind (``random() < read_ratio`` → read), then
the gap to the next request (``expovariate(rate)`` for ``poisson``; ``uniform`` puts
request ``i`` at ``i / rate`` exactly, so float error never adds a request).

Shard ``k`` of ``n`` takes the requests whose index ``i`` has ``i % n == k``: shards are
disjoint, together they are the whole schedule, and every shard draws the whole sequence
(cheap: three draws per request), so the same seed gives the same (kind, target, intended
time) sequence whatever the number of shards.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from gameday.errors import GameDayError
from gameday.runbook import LoadSpec

__all__ = ["WHOLE", "Planned", "Shard", "schedule"]


@dataclass(frozen=True, slots=True)
class Planned:
    """One scheduled request: its index in the whole schedule, its intended offset from
    the phase start (s), its kind (``read`` or ``write``) and product."""

    index: int
    offset_s: float
    kind: str
    product: str


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


def schedule(spec: LoadSpec, seed: int, phase: str, shard: Shard = WHOLE) -> Iterator[Planned]:
    """The requests of ``shard`` in intended-time order; endless (the caller stops at the
    phase's end)."""
    rng = random.Random(f"{seed}:{phase}")
    products, n_products = spec.products, len(spec.products)
    poisson = spec.arrival == "poisson"
    offset, i = 0.0, 0
    while True:
        product = products[rng.randrange(n_products)]
        kind = "read" if rng.random() < spec.read_ratio else "write"
        if i % shard.count == shard.index:
            yield Planned(i, offset, kind, product)
        i += 1
        offset = offset + rng.expovariate(spec.rate) if poisson else i / spec.rate
