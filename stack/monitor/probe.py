"""One check of the replicas: their health and their answers on the clients' read path.

Each round the monitor sends every replica, all at once, ``HEALTH_PER_ROUND`` (3) health
checks and ``GET /inventory/{p}`` for one product in turn (the route voter reads use),
and compares the replicas' stock of that product with each other's (:func:`classify`).
Three health checks because they are the error-rate rule's samples and cost no database
query; one read because each does (three of them, times three replicas, every 0.2 s,
slowed the replicas' own answers on a busy machine).

- a replica whose *total* (available + reserved) differs from the total a majority of
  replicas holds is **wrong**: order events only move stock between available and
  reserved, so no replication lag explains another total — only a wrong answer does;
- a replica with the majority's total but another split may just be one event behind
  under writes: that is healthy (it is only held against a replica already suspected of
  wrong answers, see :mod:`stack.monitor.checker`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from stack.common.http1 import Http1Client, Http1Error

__all__ = ["Read", "Check", "Stock", "HEALTH_PER_ROUND", "classify", "probe", "judge",
           "read_stock", "majority_offset"]

Stock = tuple[int, int]  # (available, reserved)


@dataclass(frozen=True)
class Read:
    kind: str  # "ok" | "timeout" | "error"
    detail: str = ""
    value: Stock | None = None  # a product read that found the product
    offset: int | None = None  # a health check: the replica's applied event offset

    @property
    def failed(self) -> bool:
        return self.kind != "ok"


HEALTH_PER_ROUND = 3


@dataclass
class Check:
    """One replica's part of a round."""

    health: list[Read]
    reads: dict[str, Read] = field(default_factory=dict)  # product → read
    wrong: str | None = None  # what was provably wrong in its answers
    wrong_product: str | None = None
    outliers: set[str] = field(default_factory=set)  # products where its split differs

    @property
    def every(self) -> list[Read]:
        return [*self.health, *self.reads.values()]

    @property
    def health_failed(self) -> Read | None:
        """The first failed health check when every one of them failed, else None."""
        return self.health[0] if all(h.failed for h in self.health) else None

    @property
    def applied_offset(self) -> int | None:
        """The furthest applied event offset its health checks reported this round."""
        offsets = [h.offset for h in self.health if h.offset is not None]
        return max(offsets) if offsets else None

    @property
    def errors(self) -> list[Read]:
        return [r for r in self.every if r.kind == "error"]

    @property
    def clean(self) -> bool:
        return not any(r.failed for r in self.every) and self.wrong is None


def classify(values: Mapping[str, Stock | None], instance_id: str) -> str:
    """``instance_id``'s stock among every replica's: "agrees" (it holds the majority's
    value), "impossible" (its total differs from a majority's total), "outlier" (a
    majority holds another split) or "unknown" (it did not answer, or no majority)."""
    mine = values.get(instance_id)
    if mine is None:
        return "unknown"
    answered = [v for v in values.values() if v is not None]
    total, total_count = Counter(sum(v) for v in answered).most_common(1)[0]
    if total_count * 2 > len(values) and sum(mine) != total:
        return "impossible"
    value, count = Counter(answered).most_common(1)[0]
    if count * 2 <= len(values):
        return "unknown"
    return "agrees" if value == mine else "outlier"


async def _get(client: Http1Client, path: str, what: str) -> tuple[Read, object]:
    try:
        response = await client.get(path)
    except TimeoutError:
        return Read("timeout", f"{what}: timeout"), None
    except (Http1Error, EOFError) as exc:  # refused, reset, closed mid-answer, garbled
        return Read("error", f"{what}: {exc}"), None
    try:
        body = response.json()
    except ValueError:
        body = None
    return Read("ok"), (response.status_code, body)


async def _health(client: Http1Client) -> Read:
    read, answer = await _get(client, "/health", "health")
    if answer is None:
        return read
    status, body = answer  # type: ignore[misc]
    if status != 200:
        return Read("error", f"health: HTTP {status}")
    if not isinstance(body, dict) or body.get("status") != "UP":
        return Read("error", "health: status not UP")
    events = body.get("events")
    offset = events.get("applied_offset") if isinstance(events, dict) else None
    return Read("ok", offset=offset if isinstance(offset, int) and offset >= 0 else None)


def majority_offset(offsets: Mapping[str, int | None]) -> int | None:
    """The event offset a majority of replicas has applied (None without a majority)."""
    need = len(offsets) // 2 + 1
    known = sorted((o for o in offsets.values() if o is not None), reverse=True)
    return known[need - 1] if len(known) >= need else None


async def read_stock(client: Http1Client, product_id: str) -> Read:
    """``GET /inventory/{product_id}``: a value, "ok" without one (404), or a failure."""
    what = f"read of {product_id}"
    read, answer = await _get(client, f"/inventory/{quote(product_id, safe='')}", what)
    if answer is None:
        return read
    status, body = answer  # type: ignore[misc]
    if status == 404:
        return Read("ok")
    try:
        if status != 200:
            raise ValueError(f"HTTP {status}")
        value = (int(body["available_quantity"]), int(body["reserved_quantity"]))  # type: ignore[index]
    except (ValueError, KeyError, TypeError) as exc:
        return Read("error", f"{what}: {exc}")
    return Read("ok", value=value)


async def probe(client: Http1Client, products: Sequence[str],
                health_checks: int = HEALTH_PER_ROUND) -> Check:
    """The health checks and every product read of one replica, concurrently."""
    answers = await asyncio.gather(
        *(_health(client) for _ in range(health_checks)),
        *(read_stock(client, p) for p in products),
    )
    health, reads = list(answers[:health_checks]), answers[health_checks:]
    return Check(health, dict(zip(products, reads, strict=True)))


def judge(checks: Mapping[str, Check], products: Sequence[str]) -> None:
    """Compare the replicas' answers product by product; mark ``wrong`` and ``outliers``."""
    for product in products:
        values = {i: c.reads[product].value for i, c in checks.items()}
        for instance_id, check in checks.items():
            verdict = classify(values, instance_id)
            if verdict == "impossible" and check.wrong is None:
                mine = values[instance_id]
                majority = Counter(sum(v) for v in values.values() if v).most_common(1)[0][0]
                check.wrong = (f"{product}: total {sum(mine or (0, 0))} where a majority of "
                               f"replicas hold {majority}")
                check.wrong_product = product
            elif verdict == "outlier":
                check.outliers.add(product)
