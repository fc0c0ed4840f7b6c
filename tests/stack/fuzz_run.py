"""Run the fuzz corpus against a running stack and judge every answer.

A case fails when the answer is a 5xx, when there is no answer, when a well-formed
request made the server drop the keep-alive connection, when (fault cases) the replica's
fault changed, when a huge body was not refused with 413, or when plainly invalid input
(``MUST_REFUSE``) was answered 2xx. Malformed HTTP may close the connection, but
still never 5xx.

``python tests/stack/fuzz_run.py --base-port 7200 --token tok`` prints the table of
categories (cases, 5xx, drops, changed faults) for a stack started by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

from fuzz_client import Answer, KeepAlive
from fuzz_corpus import Case, cases

__all__ = ["Outcome", "run_service", "summary", "SERVICES", "SENTINEL_FAULT"]

SERVICES = ("inventory", "orders", "monitor", "voter")
#: Categories whose every case is invalid input: never answered 2xx. (The others, junk
#: query strings and odd headers on valid routes, may well be answered 200.)
MUST_REFUSE = ("id-", "fault-", "field-", "quantity-", "not-json", "json-not-object",
               "invalid-utf8", "deep-nesting", "huge-", "nan-", "lone-", "nul",
               "reports-no-token")
#: The fault set on the fuzzed replica first: harmless, and it must survive every bad body.
SENTINEL_FAULT = {"type": "latency", "latency_ms": 0, "ttl_s": 900, "seed": 12345}


@dataclass
class Outcome:
    case: Case
    answer: Answer
    fault_changed: bool = False

    @property
    def server_error(self) -> bool:
        return self.answer.status is not None and self.answer.status >= 500

    @property
    def no_answer(self) -> bool:
        return self.answer.status is None and not self.case.protocol

    @property
    def bad_drop(self) -> bool:
        return self.answer.dropped and not self.case.protocol

    @property
    def unbounded(self) -> bool:
        """A huge body that was not refused with 413 (there is a request size limit)."""
        return self.case.category == "huge-body" and self.answer.status != 413

    @property
    def accepted(self) -> bool:
        """Invalid input answered 2xx (a redirect, e.g. of a ``%2F`` in a path, is fine)."""
        status = self.answer.status
        return self.case.category.startswith(MUST_REFUSE) and (
            status is None or 200 <= status < 300)

    @property
    def failed(self) -> bool:
        return (self.server_error or self.no_answer or self.bad_drop or self.fault_changed
                or self.unbounded or self.accepted)

    def describe(self) -> str:
        what = [f"HTTP {self.answer.status}"]
        if self.bad_drop:
            what.append("connection dropped")
        if self.fault_changed:
            what.append("the replica's fault changed")
        if self.unbounded:
            what.append("a huge body was not refused with 413")
        if self.accepted:
            what.append("invalid input was accepted")
        if self.answer.error:
            what.append(self.answer.error)
        return f"{self.case.describe()} -> {', '.join(what)}: {self.answer.body[:160]!r}"


def _base(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _fault_state(conn: KeepAlive) -> dict | None:
    answer = conn.request("GET", "/inject-failure")
    try:
        return json.loads(answer.body).get("fault") if answer.status == 200 else None
    except ValueError:
        return None


def _set_sentinel(conn: KeepAlive, token: str | None) -> dict | None:
    headers = {"X-Chaos-Token": token, "Content-Type": "application/json"} if token else {}
    answer = conn.request("POST", "/inject-failure", json.dumps(SENTINEL_FAULT).encode(), headers)
    assert answer.status == 200, f"cannot set the sentinel fault: {answer.status} {answer.body!r}"
    return _fault_state(conn)


def run_service(service: str, url: str, token: str | None, *, seed: int = 10,
                timeout_s: float = 15.0) -> list[Outcome]:
    """Send every case of ``service`` to ``url`` (one keep-alive connection)."""
    host, port = _base(url)
    conn = KeepAlive(host, port, timeout_s=timeout_s)
    control = KeepAlive(host, port, timeout_s=timeout_s)
    outcomes: list[Outcome] = []
    sentinel = _set_sentinel(control, token) if service == "inventory" else None
    try:
        for case in [*cases(service, seed), None]:
            if case is None:  # a last valid request shows whether the previous one dropped
                answer = conn.request("GET", "/health")
                if answer.prior_dropped and outcomes:
                    outcomes[-1].answer.dropped = True
                assert answer.status == 200, f"GET /health after the fuzz: {answer.status}"
                break
            headers = dict(case.headers)
            if case.token and token:
                headers["X-Chaos-Token"] = token
            if case.body is not None and not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
            if case.protocol:
                probe = KeepAlive(host, port, timeout_s=timeout_s)  # its own connection
                answer = probe.request(case.method, case.target, case.body, headers)
                probe.close()
            else:
                answer = conn.request(case.method, case.target, case.body, headers)
            if answer.prior_dropped and outcomes:
                outcomes[-1].answer.dropped = True
            outcome = Outcome(case, answer)
            if case.fault and sentinel is not None and _fault_state(control) != sentinel:
                outcome.fault_changed = True
                sentinel = _set_sentinel(control, token)
            outcomes.append(outcome)
    finally:
        if service == "inventory":
            headers = {"X-Chaos-Token": token} if token else {}
            control.request("POST", "/inject-failure", b'{"type": "clear"}', headers)
        conn.close()
        control.close()
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    """A Markdown table: per service and category, cases / 5xx / drops / changed faults."""
    rows: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for o in outcomes:
        c = rows[(o.case.service, o.case.category)]
        c["cases"] += 1
        c["5xx"] += o.server_error
        c["no answer"] += o.no_answer
        c["dropped"] += o.bad_drop
        c["fault changed"] += o.fault_changed
        c["no 413"] += o.unbounded
        c["2xx"] += o.accepted
    cols = ("cases", "5xx", "no answer", "dropped", "fault changed", "no 413", "2xx")
    lines = ["| service | category | " + " | ".join(cols) + " |",
             "|---|---|" + "---:|" * len(cols)]
    for (service, category), c in sorted(rows.items()):
        lines.append(f"| {service} | {category} | " + " | ".join(str(c[k]) for k in cols) + " |")
    totals = Counter()
    for c in rows.values():
        totals.update(c)
    lines.append("| **all** | | " + " | ".join(f"**{totals[k]}**" for k in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-port", type=int, required=True)
    p.add_argument("--token", required=True,
                   help="the stack's chaos token (GAMEDAY_CHAOS_TOKEN when it started): the "
                   "no-token cases send real crash faults, which only a token refuses")
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--services", nargs="+", default=list(SERVICES), choices=SERVICES)
    p.add_argument("--show", type=int, default=15, help="failing cases to print")
    args = p.parse_args(argv)
    b = args.base_port
    urls = {"inventory": b, "monitor": b + 3, "voter": b + 4, "orders": b + 5}
    outcomes = []
    for service in args.services:
        outcomes += run_service(service, f"http://127.0.0.1:{urls[service]}", args.token,
                                seed=args.seed, timeout_s=5.0)
    print(summary(outcomes))
    for o in [o for o in outcomes if o.failed][: args.show]:
        print("-", o.describe())
    return 1 if any(o.failed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
