"""Which failures the flow retries: exactly those whose error says it is transient."""

from __future__ import annotations

from typing import Any

import pytest

from gameday.errors import (
    FaultError,
    GameDayError,
    NotReady,
    RunbookError,
    SafetyError,
    TargetError,
    TargetLocked,
    is_transient,
)


class _State:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def result(self) -> Any:
        raise self.exc


@pytest.mark.parametrize(("error", "retried"), [
    # what a system file's http fault provider raises (gameday.systems.providers)
    (FaultError("POST http://127.0.0.1:5002/inject-failure: ConnectError: connection "
                "refused", transient=True), True),
    (FaultError("POST http://127.0.0.1:5002/inject-failure: status 401, expected 200",
                transient=False), False),
    (TargetError("cannot read the orders ledger: connect", transient=True), True),
    (TargetError("replica 2 did not become healthy within 30 s"), False),
    (NotReady("the stack is not in its steady state after 30 s"), False),
    (SafetyError("would fault 2 replicas"), False),
    (TargetLocked("a GameDay is already running"), False),
    (RunbookError("x.yaml: load.rate: is required"), False),
    (FaultError("a fault that says nothing"), False),
    (TimeoutError("a raw timeout"), False),
    (ValueError("a bug"), False),
])
def test_the_retry_condition_reads_what_the_error_says(error: Exception, retried: bool) -> None:
    from flows.gameday import _transient

    assert _transient(None, None, _State(error)) is retried
    assert is_transient(error) is retried


def test_every_error_type_says_whether_it_is_transient() -> None:
    for cls in (GameDayError, TargetError, NotReady, FaultError, SafetyError, RunbookError):
        assert cls("x").transient is False, cls
        assert cls("x", transient=True).transient is True, cls


@pytest.mark.slow
def test_a_step_that_fails_once_transiently_succeeds_on_its_second_try(prefect_harness) -> None:
    from flows.gameday import _transient
    from prefect import flow, task

    calls: dict[str, int] = {}

    def step(name: str, errors: list[Exception]) -> str:
        calls[name] = calls.get(name, 0) + 1
        if calls[name] <= len(errors):
            raise errors[calls[name] - 1]
        return "done"

    retried = task(retries=3, retry_delay_seconds=0, retry_condition_fn=_transient)(step)

    @flow
    def steps() -> dict[str, str]:
        out = {}
        cases = {
            "transient inject": [FaultError("connect", transient=True)],
            "permanent target": [TargetError("replica did not come back"),
                                 TargetError("again")],
            "wait timed out": [NotReady("replica 2 ON not reached within 30 s")],
        }
        for name, errors in cases.items():
            try:
                out[name] = retried(name, errors)
            except GameDayError as exc:
                out[name] = f"failed: {exc}"
        return out

    result = steps()
    assert result["transient inject"] == "done" and calls["transient inject"] == 2
    assert result["permanent target"] == "failed: replica did not come back"
    assert calls["permanent target"] == 1  # a TargetError is not retried unless it says so
    assert result["wait timed out"].startswith("failed: replica 2 ON not reached")
    assert calls["wait timed out"] == 1  # the wait was the retry
