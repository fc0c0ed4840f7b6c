"""voter-svc HTTP API: voted reads of one product or of the whole inventory."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from stack.common import direct, guards
from stack.common.batch import BatchWriter
from stack.common.db import ensure_schema, open_pool
from stack.common.health import health_payload
from stack.common.http1 import Http1Client
from stack.common.looplag import LoopLag
from stack.common.metrics import METRICS_INSERT
from stack.common.settings import Settings
from stack.common.timeutil import now_iso, utcnow
from stack.common.validation import check_id
from stack.voter.reports import Reporter
from stack.voter.retry_budget import RetryBudget
from stack.voter.roster import Roster
from stack.voter.stats import VotingStats
from stack.voter.vote import (
    NOT_FOUND,
    QUORUM,
    Ballot,
    Reply,
    fan_out,
    inventory_value,
    product_value,
)

__all__ = ["create_app"]

log = logging.getLogger("stack.voter")

SERVICE = "voter-svc"
#: The one retry layer: replicas that answered but disagree are asked again within the
#: vote (fan_out), this many times, after 30, 60 and 120 ms (together about the voter's
#: timeout, which the old second vote used to add on top); nothing re-votes afterwards.
RETRY_DELAY_S = 0.03
MAX_REASKS = 3
#: No re-ask starts later than this into a vote: a vote ends within ~0.6 + 0.3 s, under the
#: 1 s a client (the GameDay's load) waits.
VOTE_BUDGET_S = 0.6
VOTING_INSERT = (
    "INSERT INTO voting_events (request_id, product_id, quorum_achieved, successful_responses,"
    " failed_responses, outliers, total_time_ms, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


def _first_differing_product(ballot: Ballot) -> str | None:
    """For a whole-inventory vote: a product on which an outlier differs (to report it)."""
    winner = dict((row[0], row) for row in ballot.winner or ())
    for reply in ballot.outliers:
        for row in reply.value or ():
            if winner.get(row[0]) != row:
                return row[0]
    return None


def create_app(settings: Settings) -> FastAPI:
    stats = VotingStats()
    retry_budget = RetryBudget()
    background: set[asyncio.Task[Any]] = set()
    targets = dict(zip(settings.replica_ids(), settings.inventory_urls, strict=True))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await open_pool(settings.database_url, max_size=4)
        await ensure_schema(pool)
        # One lean keep-alive client per replica (httpx cost most of the voter's CPU).
        app.state.clients = {
            i: Http1Client(url, timeout_s=settings.voter_timeout_s) for i, url in targets.items()
        }
        app.state.reporter = Reporter(settings.monitor_url, token=settings.chaos_token)
        app.state.roster = Roster(settings.monitor_url)
        app.state.roster.start()
        app.state.loop_lag = LoopLag()
        app.state.loop_lag.start()
        app.state.metrics_writer = BatchWriter(pool, METRICS_INSERT)
        app.state.voting_writer = BatchWriter(pool, VOTING_INSERT)
        app.state.metrics_writer.start()
        app.state.voting_writer.start()
        try:
            yield
        finally:
            for task in list(background):
                task.cancel()
            await app.state.roster.stop()
            await app.state.loop_lag.stop()
            for client in app.state.clients.values():
                await client.aclose()
            await app.state.reporter.close()
            await app.state.metrics_writer.stop()
            await app.state.voting_writer.stop()
            await pool.close()

    app = FastAPI(title="voter-svc", lifespan=lifespan)
    guards.install(app, SERVICE)

    def spawn(coro: Any) -> None:
        task = asyncio.create_task(coro)
        background.add(task)
        task.add_done_callback(background.discard)

    def report_bodies(ballot: Ballot, replies: list[Reply], product_id: str | None) -> list[dict]:
        bodies = []
        for r in replies:
            if r.ok and ballot.winner is not None and r.value != ballot.winner:
                if ballot.lags(r):  # behind or ahead of the majority: timing, not wrong
                    stats.lag_disagreements += 1
                    continue
                detail = f"answered {r.value}, majority {ballot.winner}"
                bodies.append(
                    {
                        "instance_id": r.instance_id,
                        "reason": "incorrect_response",
                        "product_id": product_id,
                        "detail": detail,
                    }
                )
            elif not r.ok:
                bodies.append(
                    {
                        "instance_id": r.instance_id,
                        "reason": r.failure,
                        "product_id": product_id,
                        "detail": r.detail,
                    }
                )
        return bodies

    def report(request: Request, ballot: Ballot, product_id: str | None) -> None:
        """Tell the monitor about outliers and failures; fire-and-forget."""
        if not ballot.answered:
            # Nobody answered: as likely the voter's own trouble (overload) as every
            # replica's; the monitor's own checks see a real outage.
            return
        reporter: Reporter = request.app.state.reporter
        for body in report_bodies(ballot, ballot.replies, product_id):
            reporter.submit(body)
        if ballot.late:
            spawn(follow_late(reporter, ballot, product_id))

    async def follow_late(reporter: Reporter, ballot: Ballot, product_id: str | None) -> None:
        """After the answer: replicas that were still answering may be wrong or failing."""
        replies = [
            r
            for r in await asyncio.gather(*ballot.late, return_exceptions=True)
            if isinstance(r, Reply)
        ]
        if product_id is None and ballot.winner is not None:  # whole inventory: name a product
            product_id = _first_differing_product(Ballot(replies=replies, winner=ballot.winner))
        for body in report_bodies(ballot, replies, product_id):
            stats.late_findings += 1
            if body["reason"] == "incorrect_response":
                stats.outliers_detected += 1
                stats.outliers_by_instance[body["instance_id"]] += 1
            reporter.submit(body)

    async def vote(
        request: Request, path: str, value_of: Callable[[dict[str, Any]], Hashable]
    ) -> tuple[Ballot, str, float]:
        request_id = str(uuid.uuid4())
        start = time.perf_counter()
        urls = {i: f"{u}{path}" for i, u in targets.items()}
        retry_budget.deposit()
        ballot = await fan_out(
            request.app.state.clients,
            urls,
            value_of,
            keep_late=True,
            timeout_s=settings.voter_timeout_s,
            reask_after_s=RETRY_DELAY_S,
            max_reasks=MAX_REASKS,
            standby=request.app.state.roster.off,
            budget_s=VOTE_BUDGET_S,
            retry_budget=retry_budget,
            # replicas answer a product at an exact offset (?at_offset=), not a list
            versioned=value_of is product_value,
            on_reply=lambda r: stats.record_reply(r.instance_id, r.failure),
        )
        stats.retries += ballot.reasks + ballot.failure_reasks
        stats.lag_retries += ballot.lag_reasks
        stats.skipped.update(ballot.skipped)
        return ballot, request_id, (time.perf_counter() - start) * 1000.0

    def envelope(ballot: Ballot, request_id: str, total_ms: float) -> dict[str, Any]:
        received = ballot.replies
        times = [r.elapsed_ms for r in received]
        outliers = [r.instance_id for r in ballot.outliers]
        return {
            "quorum_achieved": ballot.winner is not None,
            "successful_responses": len(ballot.answered),
            "failed_responses": len(ballot.failed),
            "outliers_detected": outliers or None,
            "voting_metrics": {
                "avg_response_time_ms": sum(times) / len(times) if times else None,
                "max_response_time_ms": max(times) if times else None,
                "participating_instances": [r.instance_id for r in ballot.answered],
                "agreeing_instances": [r.instance_id for r in ballot.agreeing],
                "late_instances": ballot.unanswered,
                # held OFF by the monitor and not needed for this vote (never asked)
                "skipped_instances": ballot.skipped,
                # each replica's latest answer: the events it held, its value, or why not
                "replies": {
                    r.instance_id: {"applied_offset": r.offset, "value": r.value}
                    if r.ok else {"failure": r.failure, "detail": r.detail}
                    for r in received
                },
                "reasks": ballot.reasks,
                "failure_reasks": ballot.failure_reasks,
            },
            "total_time_ms": total_ms,
            "request_id": request_id,
        }

    def finish(
        request: Request,
        ballot: Ballot,
        request_id: str,
        total_ms: float,
        product_id: str | None,
        data: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> JSONResponse:
        quorum = ballot.winner is not None
        not_found = ballot.winner == NOT_FOUND
        outliers = [r.instance_id for r in ballot.outliers]
        stats.record(
            quorum=quorum,
            outliers=outliers,
            failed=[r.instance_id for r in ballot.failed],
            total_ms=total_ms,
            not_found=not_found,
        )
        request.app.state.voting_writer.add(
            (
                request_id,
                product_id,
                quorum,
                len(ballot.answered),
                len(ballot.failed),
                ",".join(outliers) or None,
                total_ms,
                utcnow(),
            )
        )
        report(request, ballot, product_id)
        body = envelope(ballot, request_id, total_ms)
        if not quorum:
            detail = (
                "no two replicas agreed"
                if ballot.disagreement
                else "fewer than two replicas answered"
            )
            return JSONResponse(
                {
                    "success": False,
                    "error": "Insufficient responses for quorum",
                    "detail": detail,
                    "required_quorum": QUORUM,
                    **body,
                },
                status_code=503,
            )
        if not_found:
            return JSONResponse(
                {"success": False, "error": "Product not found", **body}, status_code=404
            )
        return JSONResponse({"success": True, "data": data(ballot.agreeing[0].body or {}), **body})

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return health_payload(SERVICE)

    @app.get("/inventory/{product_id}")
    async def voted_product_route(product_id: str, request: Request) -> JSONResponse:
        """The voted row (answered by the direct path for plain GETs)."""
        return await voted_product(request, product_id)

    async def voted_product(request: Request, product_id: str) -> JSONResponse:
        # Validated like the replicas do, then percent-encoded: the decoded id must never
        # reach a request line raw (a space or CR/LF would split it).
        check_id(product_id, "product_id")
        ballot, request_id, total_ms = await vote(
            request, f"/inventory/{quote(product_id, safe='')}", product_value
        )

        def data(body: dict[str, Any]) -> dict[str, Any]:
            return {
                "product_id": product_id,
                "available_quantity": body["available_quantity"],
                "reserved_quantity": body["reserved_quantity"],
                "timestamp": now_iso(),
                "voted_by": "majority",
            }

        return finish(request, ballot, request_id, total_ms, product_id, data)

    direct.install(app, "/inventory/{product_id}", voted_product)

    @app.get("/inventory")
    async def voted_inventory(request: Request) -> JSONResponse:
        ballot, request_id, total_ms = await vote(request, "/inventory", inventory_value)

        def data(body: dict[str, Any]) -> dict[str, Any]:
            rows = [
                {k: row[k] for k in ("product_id", "available_quantity", "reserved_quantity")}
                for row in body["inventory"]
            ]
            return {"inventory": rows, "timestamp": now_iso(), "voted_by": "majority"}

        return finish(request, ballot, request_id, total_ms, _first_differing_product(ballot), data)

    @app.get("/voting-stats")
    async def voting_stats(request: Request) -> dict[str, Any]:
        reporter: Reporter = request.app.state.reporter
        clients: dict[str, Http1Client] = request.app.state.clients
        body = {
            **stats.to_json(),
            "timeout_s": settings.voter_timeout_s,
            "off_instances": sorted(request.app.state.roster.off),
            "retries_refused": retry_budget.refused,
            "in_flight": {i: c.in_flight for i, c in clients.items()},
            "max_in_flight": {i: c.max_in_flight for i, c in clients.items()},
            "connections_opened": {i: c.connections_opened for i, c in clients.items()},
            "loop_lag": request.app.state.loop_lag.to_json(),
            "reports_sent": reporter.sent,
            "reports_coalesced": reporter.suppressed,
            "reports_refused": reporter.refused,
        }
        return {"voting_stats": body, "timestamp": now_iso()}

    return app
