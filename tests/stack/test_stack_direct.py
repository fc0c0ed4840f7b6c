"""The direct path to a hot route (stack/common/direct.py) answers exactly as the FastAPI
route would, inside the same guards, and leaves everything else to FastAPI."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from stack.common import direct, guards
from stack.common.errors import ApiError


class _Rows:
    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)


@pytest.fixture
def app_and_calls() -> tuple[FastAPI, list[str]]:
    app = FastAPI()
    guards.install(app, "svc")
    calls: list[str] = []

    async def item(request: Request, item_id: str) -> JSONResponse:
        if item_id == "bad":
            raise ApiError(400, "item_id: bad", instance_id="1")
        if item_id == "boom":
            raise RuntimeError("a bug")
        return JSONResponse({"item": item_id, "q": request.query_params.get("q")})

    @app.get("/items/{item_id}")
    async def item_route(item_id: str, request: Request) -> JSONResponse:
        calls.append("route")
        return await item(request, item_id)

    async def counted(request: Request, item_id: str) -> JSONResponse:
        calls.append("direct")
        return await item(request, item_id)

    direct.install(app, "/items/{item_id}", counted)
    app.state.metrics_writer = _Rows()
    return app, calls


def test_a_plain_get_takes_the_direct_path_with_the_routes_answer(app_and_calls) -> None:
    app, calls = app_and_calls
    with TestClient(app) as client:
        r = client.get("/items/a%20b?q=1&q=2")
        assert r.status_code == 200 and r.json() == {"item": "a b", "q": "2"}
        assert r.headers["content-type"] == "application/json"
        assert calls == ["direct"]
        # the request metrics name the route template, as for a routed request
        assert app.state.metrics_writer.rows[-1][:4] == ("svc", "/items/{item_id}", "GET", 200)


def test_errors_are_answered_as_the_exception_handlers_and_the_catch_all_do(
        app_and_calls) -> None:
    app, calls = app_and_calls
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/items/bad")
        assert r.status_code == 400 and r.json() == {"error": "item_id: bad", "instance_id": "1"}
        r = client.get("/items/boom")
        assert r.status_code == 500 and r.json()["error"] == "internal error"
        assert "a bug" not in r.text
    assert calls == ["direct", "direct"]
    assert [row[3] for row in app.state.metrics_writer.rows] == [400, 500]


@pytest.mark.parametrize("method, path, kwargs, status", [
    ("HEAD", "/items/a", {}, 405),   # FastAPI's own answer: a GET route takes no HEAD
    ("GET", "/items/a", {"content": b"x" * 10}, 200),  # a body: FastAPI reads and ignores it
    ("GET", "/items/a/b", {}, 404),
    ("GET", "/items/", {}, 404),
    ("POST", "/items/a", {}, 405),
])
def test_everything_else_goes_on_to_fastapi(app_and_calls, method, path, kwargs,
                                           status) -> None:
    app, calls = app_and_calls
    with TestClient(app) as client:
        r = client.request(method, path, **kwargs)
    assert r.status_code == status
    assert "direct" not in calls
    assert calls == (["route"] if status == 200 else [])


def test_a_body_over_the_limit_is_refused_before_any_handler(app_and_calls) -> None:
    app, calls = app_and_calls
    with TestClient(app) as client:
        r = client.request("GET", "/items/a", content=b"x" * (guards.MAX_BODY_BYTES + 1))
    assert r.status_code == 413 and calls == []


def test_install_refuses_what_it_cannot_serve() -> None:
    app = FastAPI()
    with pytest.raises(ValueError, match="not a route of this app"):
        direct.install(app, "/nope/{x}", lambda r, s: None)  # type: ignore[arg-type,return-value]

    @app.get("/fixed")
    async def fixed() -> dict[str, str]:
        return {}

    with pytest.raises(ValueError, match="ending in one"):
        direct.install(app, "/fixed", lambda r, s: None)  # type: ignore[arg-type,return-value]
