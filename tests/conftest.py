"""Shared fixtures: the session-scoped local stack every end-to-end test runs against.

``local_stack`` starts one local stack (real Postgres, broker and services) on a free
range of 8 ports on 127.0.0.1, never the default ports, with chaos token "test-token",
and stops it at the end of the session. Knobs for a quicker edit-test loop:

- ``GAMEDAY_TEST_BASE_PORT=N``: use base port N instead of a random free one;
- ``GAMEDAY_TEST_KEEP_STACK=1``: leave the stack running at the end (the next session
  with the same base port reuses it, with whatever data it holds).

The stack runs from systems/inventory.yaml through the harness's generic launcher
(``SystemLocalTarget``; tests/inventory_system.py). Logs of the test stack:
``.gameday/test-stacks/system-inventory-<base port>/logs/`` (its Postgres data is removed
at the end of the session).

``compose_stack`` is the same stack under Docker Compose, on the images of ``make images``
(built when missing; tests/dockerd/engine.py), in a project of its own (``gdtest-<hex>``)
on a free range of ports; ``docker compose down -v`` at the end. It skips saying why when
this machine cannot run Docker (fails under CI=true).

Tests marked ``docker`` run last (``pytest_collection_modifyitems``): those that start
their own stack first, then those on ``compose_stack``, so that the compose stack never
idles beside the rest of the suite, nor beside a GameDay that starts its own.

``stack`` is the stack of the contract tests (tests/stack: inventory, monitor, voter,
orders): each runs against the local stack, then again against the compose stack
(``[compose]``, marked ``docker`` and ``slow``); every fault is cleared after each test.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_REPO = Path(__file__).resolve().parents[1]
try:  # the package is normally installed (make install); work from a bare checkout too
    import gameday  # noqa: F401
except ModuleNotFoundError:  # pragma: no cover - depends on the environment
    sys.path[:0] = [str(_REPO / "src"), str(_REPO)]

from gameday.config import Settings, get_settings  # noqa: E402
from inventory_system import StackUrls, inventory_target, replica_member, stack_urls  # noqa: E402

TEST_CHAOS_TOKEN = "test-token"
_AVOID = {*range(5001, 5007), 9092, 5432}
_STACK_PORTS = 8


@dataclass(frozen=True)
class LocalStack:
    """What a test needs of the running stack (the local one, or ``compose_stack``)."""

    urls: StackUrls
    target: Any  # gameday.systems.local.SystemLocalTarget or compose.SystemComposeTarget
    chaos_token: str
    settings: Settings

    @property
    def base_port(self) -> int:
        return self.settings.base_port

    def kill_replica(self, instance_id: str, *, hold: bool = False) -> None:
        """SIGKILL replica ``instance_id``: restarted by the supervisor or the restart
        policy, or with ``hold`` down until :meth:`restart_replica`."""
        self.target.kill_member(replica_member(self.target.resolved, instance_id), hold=hold)

    def restart_replica(self, instance_id: str, *, timeout_s: float = 30.0) -> None:
        """Start replica ``instance_id`` unless it runs and wait until it is healthy."""
        self.target.restart_member(replica_member(self.target.resolved, instance_id),
                                   timeout_s=timeout_s)

    @property
    def chaos_headers(self) -> dict[str, str]:
        return {"X-Chaos-Token": self.chaos_token}


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port(count: int = _STACK_PORTS) -> int:
    """A base port B such that B..B+count-1 are all free on 127.0.0.1.

    Drawn at random below the kernel's ephemeral range (32768+), so two test sessions
    rarely collide and outgoing connections never take one of the ports.
    """
    rng = random.Random()
    for _ in range(500):
        base = rng.randrange(15000, 32700 - count)
        ports = range(base, base + count)
        if not _AVOID.intersection(ports) and all(_bindable(p) for p in ports):
            return base
    raise RuntimeError("no free range of ports found on 127.0.0.1")


def until(predicate: Callable[[], object], timeout_s: float, what: str) -> float:
    """Seconds until ``predicate()`` is truthy, polled every 50 ms; the test fails naming
    ``what`` after ``timeout_s``."""
    import time

    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{what} within {timeout_s} s")
        time.sleep(0.05)
    return time.monotonic() - started


def clear_faults(stack: LocalStack, *, timeout_s: float = 2.0) -> None:
    """POST {"type": "clear"} to every replica; a replica that does not answer is skipped."""
    import httpx

    for replica in stack.urls.inventory:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{replica}/inject-failure", json={"type": "clear"},
                       headers=stack.chaos_headers, timeout=timeout_s)


@pytest.fixture(name="until")
def until_fixture() -> Callable[[Callable[[], object], float, str], float]:
    """The :func:`until` function: seconds until a condition holds, or the test fails."""
    return until


@pytest.fixture(name="free_base_port")
def free_base_port_fixture() -> Callable[[], int]:
    """The :func:`free_base_port` function, for tests that start a stack of their own."""
    return free_base_port


def _trials_journal(ttds: tuple[float, ...] = (0.3, 1.9, 0.35)) -> Any:
    from gameday.evidence.trials import evidence_sentences, trial_evidence
    from gameday.journal import read_journal
    from gameday.runbook import SloSpec

    journal = read_journal(_REPO / "tests" / "report" / "fixtures" / "run-smoke" / "journal.json")
    crash = next(p for p in journal.phases if p.name == "crash")
    trials = []
    for k, ttd in enumerate(ttds, start=1):
        trial = crash.model_copy(deep=True, update={"name": f"crash-t{k}", "trial": k,
                                                    "repeats": "crash"})
        trial.metrics.ttd_s = ttd
        trial.checks = [c.model_copy(update={"value": ttd, "passed": ttd <= 0.8})
                        if c.name == "ttd_s" else c for c in trial.checks]
        trial.passed = all(c.passed for c in trial.checks)
        trials.append(trial)
    journal.phases = [journal.phases[0], *trials, *journal.phases[2:]]
    journal.evidence = trial_evidence(journal.phases, SloSpec(ttd_s={"crash": 0.8}), seed=1)
    assert journal.verdict is not None
    journal.verdict = journal.verdict.model_copy(update={
        "outcome": "fail", "inconclusive": evidence_sentences(journal.evidence,
                                                              "inconclusive")})
    return journal

@pytest.fixture(name="trials_journal")
def trials_journal_fixture() -> Callable[..., Any]:
    """``trials_journal(ttds)``: the recorded smoke run as if its crash phase had been
    three trials with those TTDs (one slow by default), judged with intervals."""
    return _trials_journal


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    """One local stack for the whole session (≈ 5-10 s to start), stopped at the end."""
    base = int(os.environ.get("GAMEDAY_TEST_BASE_PORT") or free_base_port())
    settings = get_settings(base_port=base, chaos_token=TEST_CHAOS_TOKEN,
                            state_dir=_REPO / ".gameday" / "test-stacks")
    keep = os.environ.get("GAMEDAY_TEST_KEEP_STACK") == "1"
    # owned by this session: a killed pytest takes its stack with it
    target = inventory_target(settings, owner_pid=None if keep else os.getpid())
    try:
        target.start(timeout_s=90)
    except BaseException:
        target.stop()
        raise
    stack = LocalStack(urls=stack_urls(target.resolved), target=target,
                       chaos_token=TEST_CHAOS_TOKEN, settings=settings)
    try:
        yield stack
    finally:
        if not keep:
            target.stop()
            shutil.rmtree(target.dir / "pgdata", ignore_errors=True)


@pytest.fixture
def clean_faults(local_stack: LocalStack) -> Iterator[LocalStack]:
    """Yield the stack in its steady state (no fault, every probe of its system file's
    steady state holding: every replica UP and ON per the monitor, reads reaching a
    majority; an earlier test's crashed replica may still be coming back); afterwards
    clear every fault on every replica."""
    from inventory_system import wait_steady

    clear_faults(local_stack)
    wait_steady(local_stack, timeout_s=60)
    try:
        yield local_stack
    finally:
        clear_faults(local_stack)


def _docker_helpers() -> Any:
    # tests/dockerd has no __init__.py (a package "docker" would shadow the SDK): by path.
    import importlib.util

    name = "gameday_tests_docker_engine"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _REPO / "tests/dockerd/engine.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def docker_helpers() -> Any:
    """tests/dockerd/engine.py: a running engine, local images, skip-or-fail."""
    return _docker_helpers()


@pytest.fixture(scope="session")
def stack_images(docker_helpers: Any) -> None:
    """`make images` done (cached: seconds), or skip saying why this machine cannot."""
    docker_helpers.stack_images()


@pytest.fixture(scope="session")
def compose_stack(docker_helpers: Any, stack_images: None) -> Iterator[LocalStack]:
    """The stack under Docker Compose for the whole session (≈ 20-60 s to start here)."""
    settings = get_settings(target="compose", base_port=free_base_port(),
                            chaos_token=TEST_CHAOS_TOKEN,
                            compose_project=f"gdtest-{uuid.uuid4().hex[:8]}",
                            compose_file=docker_helpers.LOCAL_COMPOSE_FILES,
                            state_dir=_REPO / ".gameday" / "test-stacks")
    target = inventory_target(settings, target="compose", docker_timeout_s=30)
    try:
        target.start(timeout_s=300)
    except BaseException:
        target.stop(timeout_s=60)
        raise
    try:
        yield LocalStack(urls=stack_urls(target.resolved), target=target,
                         chaos_token=TEST_CHAOS_TOKEN, settings=settings)
    finally:
        target.stop(timeout_s=60)


@pytest.fixture(
    scope="session",
    params=["local", pytest.param("compose", marks=[pytest.mark.docker, pytest.mark.slow])],
)
def stack_target(request: pytest.FixtureRequest) -> str:
    """Which stack the contract tests run against: "local", then "compose"."""
    return str(request.param)


@pytest.fixture
def stack(request: pytest.FixtureRequest, stack_target: str) -> Iterator[LocalStack]:
    """The running stack of ``stack_target``; every fault cleared after the test."""
    running: LocalStack = request.getfixturevalue(f"{stack_target}_stack")
    try:
        yield running
    finally:
        clear_faults(running)


@pytest.hookimpl(trylast=True)  # after pytest's own grouping by fixture parameters
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("docker") is None:
            return 0
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_compose_stack = ("compose_stack" in getattr(item, "fixturenames", ())
                            or params.get("stack_target") == "compose")
        return 2 if on_compose_stack else 1

    items[:] = sorted(items, key=rank)  # stable: the order within each group is kept
