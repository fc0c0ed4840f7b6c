"""Hostile input against the real local stack: a seeded fuzz of every endpoint of every
service (``fuzz_corpus.py``), a few hundred cases each.

Zero 5xx, no dropped keep-alive connection, a refused fault body leaves the fault in
force, a huge body is 413 — and afterwards a valid request still works and every replica
still agrees with the ledger.
"""

from __future__ import annotations

import pytest
from fuzz_run import SERVICES, run_service, summary
from stack_helpers import wait_all_on, wait_consistent, wait_until


def _url(stack, service: str) -> str:
    return {"inventory": stack.urls.replica("1"), "orders": stack.urls.orders,
            "monitor": stack.urls.monitor, "voter": stack.urls.voter}[service]


@pytest.mark.parametrize("service", SERVICES)
def test_hostile_input_never_gets_a_5xx_nor_drops_the_connection(http, clean_faults, service):
    stack = clean_faults
    outcomes = run_service(service, _url(stack, service), stack.chaos_token)
    assert len(outcomes) >= 150
    failing = [o for o in outcomes if o.failed]
    assert not failing, (
        f"{len(failing)} of {len(outcomes)} cases failed\n{summary(failing)}\n"
        + "\n".join(o.describe() for o in failing[:25])
    )


def test_after_the_fuzz_valid_requests_work_and_replicas_agree_with_the_ledger(
    http, clean_faults
):
    stack = clean_faults
    voted = http.get(f"{stack.urls.voter}/inventory/PROD-001")
    assert voted.status_code == 200 and voted.json()["quorum_achieved"] is True
    created = http.post(f"{stack.urls.orders}/orders",
                        json={"product_id": "PROD-003", "quantity": 1})
    assert created.status_code == 201, created.text
    order_id = created.json()["order_id"]
    wait_until(lambda: http.get(f"{stack.urls.orders}/orders/{order_id}").json()["status"]
               == "CONFIRMED", what="the order CONFIRMED")
    assert http.get(f"{stack.urls.replica('1')}/inject-failure").json()["failure_injected"] is False
    wait_consistent(http, stack)
    wait_all_on(http, stack)
