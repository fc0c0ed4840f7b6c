"""orders-svc against each real stack: the contract's routes, errors, results and ledger."""

from __future__ import annotations

import pytest
from stack_helpers import wait_consistent, wait_until

pytestmark = pytest.mark.usefixtures("stack")


def _order(http, stack, product_id="PROD-002", quantity=1):
    response = http.post(
        f"{stack.urls.orders}/orders", json={"product_id": product_id, "quantity": quantity}
    )
    assert response.status_code == 201, response.text
    return response.json()


def _status(http, stack, order_id):
    return http.get(f"{stack.urls.orders}/orders/{order_id}").json()["status"]


def test_every_service_answers_health(http, stack):
    urls = stack.urls
    for url, name in [
        *((u, "inventory-svc") for u in urls.inventory),
        (urls.monitor, "monitor-svc"),
        (urls.voter, "voter-svc"),
        (urls.orders, "orders-svc"),
    ]:
        body = http.get(f"{url}/health").json()
        assert (body["status"], body["service"]) == ("UP", name)
        assert body["timestamp"].endswith("+00:00")


def test_order_is_created_pending_then_confirmed_by_two_replicas(http, stack):
    created = _order(http, stack, quantity=2)
    assert created["status"] == "PENDING"
    assert created["message"] == "Order created successfully"
    assert (created["product_id"], created["quantity"]) == ("PROD-002", 2)
    wait_until(
        lambda: _status(http, stack, created["order_id"]) == "CONFIRMED",
        what="order CONFIRMED",
    )
    row = http.get(f"{stack.urls.orders}/orders/{created['order_id']}").json()
    assert row["order_id"] == created["order_id"]


def test_order_larger_than_the_stock_is_rejected(http, stack):
    created = _order(http, stack, product_id="PROD-003", quantity=10_000)
    wait_until(
        lambda: _status(http, stack, created["order_id"]) == "REJECTED",
        what="order REJECTED",
    )


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (None, 400, "product_id and quantity are required"),
        ({"product_id": "PROD-001"}, 400, "product_id and quantity are required"),
        ({"quantity": 1}, 400, "product_id and quantity are required"),
        ({"product_id": "PROD-001", "quantity": "x"}, 400, "quantity must be an integer"),
        ({"product_id": "PROD-001", "quantity": 0}, 400, "quantity must be positive"),
        ({"product_id": "PROD-001", "quantity": -2}, 400, "quantity must be positive"),
        ({"product_id": "NOPE-9", "quantity": 1}, 404, "Product not found"),
    ],
)
def test_bad_order_bodies_get_the_contract_errors(http, stack, body, status, error):
    url = f"{stack.urls.orders}/orders"
    response = http.post(url, json=body) if body is not None else http.post(url)
    assert (response.status_code, response.json()) == (status, {"error": error})


def test_cancel_releases_the_stock_and_twice_is_400(http, stack):
    created = _order(http, stack, product_id="PROD-001", quantity=3)
    order_id = created["order_id"]
    wait_until(lambda: _status(http, stack, order_id) == "CONFIRMED", what="CONFIRMED")
    cancel = http.post(f"{stack.urls.orders}/orders/{order_id}/cancel")
    assert cancel.status_code == 200
    assert cancel.json()["status"] == "CANCELLED"
    again = http.post(f"{stack.urls.orders}/orders/{order_id}/cancel")
    assert (again.status_code, again.json()) == (400, {"error": "Order already cancelled"})
    wait_consistent(http, stack)


def test_unknown_order_is_404(http, stack):
    missing = "00000000-0000-0000-0000-000000000000"
    got = http.get(f"{stack.urls.orders}/orders/{missing}")
    assert (got.status_code, got.json()) == (404, {"error": "Order not found"})
    cancel = http.post(f"{stack.urls.orders}/orders/{missing}/cancel")
    assert (cancel.status_code, cancel.json()) == (404, {"error": "Order not found"})


def test_ledger_counts_pending_and_confirmed_orders_only(http, stack):
    before = http.get(f"{stack.urls.orders}/ledger").json()["products"]["PROD-003"]
    assert before["initial"] == 750
    kept = _order(http, stack, product_id="PROD-003", quantity=4)
    dropped = _order(http, stack, product_id="PROD-003", quantity=6)
    http.post(f"{stack.urls.orders}/orders/{dropped['order_id']}/cancel")
    after = http.get(f"{stack.urls.orders}/ledger").json()["products"]["PROD-003"]
    assert after["reserved"] == before["reserved"] + 4
    assert after["available"] == after["initial"] - after["reserved"]
    wait_until(lambda: _status(http, stack, kept["order_id"]) == "CONFIRMED", what="kept")
    replicas = wait_consistent(http, stack)
    assert {r["PROD-003"] for r in replicas.values()} == {(after["available"], after["reserved"])}
