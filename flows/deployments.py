"""Prefect deployments of the flow named "gameday", served by one process.

- ``gameday/standard``: on demand, ``runbooks/standard.yaml``;
- ``gameday/nightly``: on a cron schedule, ``runbooks/nightly.yaml``. The schedule is
  ``GAMEDAY_NIGHTLY_CRON`` (default ``0 2 * * *``) in time zone ``GAMEDAY_NIGHTLY_TZ``
  (default ``UTC``);
- ``gameday/smoke``: on demand, ``runbooks/smoke.yaml`` (a short GameDay for checks);
- ``gameday/lb``: on demand, ``runbooks/lb.yaml``: the second system (``systems/lb.yaml``,
  HAProxy + nginx, started by the run when none runs; ``--param base_port=N`` moves it).

Run ``python -m flows.deployments`` with ``PREFECT_API_URL`` pointing at a real Prefect
server (``gameday serve`` starts one when it is unset). ``serve`` is called with
``pause_on_shutdown=False`` so that stopping the process does not pause the nightly
schedule.

The load flows of ``flows/load.py`` are served and registered beside them:
``load-shard/default`` and ``sharded-load/default`` (load spread over workers).

``python -m flows.deployments --work-pool NAME`` registers the same deployments with a
(process) work pool instead and exits; a worker (``prefect worker start --pool NAME``)
started in this checkout's environment then runs them. The deployments name the flow by
module path (``flows.gameday.gameday_flow``), so no image or remote storage is needed.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from prefect import Flow, deploy, serve
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from gameday.paths import RUNBOOKS_DIR

__all__ = ["DEFAULT_NIGHTLY_CRON", "DEFAULT_NIGHTLY_TZ", "build_deployments", "main"]

DEFAULT_NIGHTLY_CRON = "0 2 * * *"
DEFAULT_NIGHTLY_TZ = "UTC"
FLOW_NAME = "gameday"
#: Names the flow may give its runbook parameter, in order of preference.
_RUNBOOK_PARAMETERS = ("runbook", "runbook_path", "path")


def _gameday_flow() -> Flow[Any, Any]:
    import flows.gameday as module

    for value in vars(module).values():
        if isinstance(value, Flow) and value.name == FLOW_NAME:
            return value
    raise LookupError(f"flows/gameday.py defines no flow named {FLOW_NAME!r}")


def _runbook_parameter(flow: Flow[Any, Any]) -> str:
    names = (flow.parameters.properties or {}).keys()
    for name in _RUNBOOK_PARAMETERS:
        if name in names:
            return name
    raise LookupError(
        f"the {FLOW_NAME!r} flow takes none of the runbook parameters {_RUNBOOK_PARAMETERS}; "
        f"it takes {sorted(names)}"
    )


def build_deployments(
    flow: Flow[Any, Any] | None = None, env: Mapping[str, str] | None = None
) -> list[RunnerDeployment]:
    """The four deployments, the nightly schedule read from ``env`` (default os.environ)."""
    flow = flow or _gameday_flow()
    env = os.environ if env is None else env
    runbook = _runbook_parameter(flow)
    cron = env.get("GAMEDAY_NIGHTLY_CRON") or DEFAULT_NIGHTLY_CRON
    timezone = env.get("GAMEDAY_NIGHTLY_TZ") or DEFAULT_NIGHTLY_TZ

    accepts = set((flow.parameters.properties or {}).keys())

    def deployment(
        name: str, description: str, trends: bool = False, **options: Any
    ) -> RunnerDeployment:
        parameters: dict[str, Any] = {runbook: str(RUNBOOKS_DIR / f"{name}.yaml")}
        if trends and "trends" in accepts:  # each morning's run refreshes reports/trends.html
            parameters["trends"] = True
        if "start_stack" in accepts:  # a stack that runs is used; none → started, then stopped
            parameters["start_stack"] = True
        if "started_by" in accepts:  # shown in the Slack start message
            parameters["started_by"] = f"deployment {FLOW_NAME}/{name}"
        return flow.to_deployment(
            name,
            parameters=parameters,
            description=description,
            tags=["gameday", name],
            # "flows.gameday:..." imported as a module: loaded as the script
            # flows/gameday.py, its directory would go on sys.path and the module would
            # shadow the gameday package it imports.
            entrypoint_type=EntrypointType.MODULE_PATH,
            **options,
        )

    return [
        deployment("standard", "The standard GameDay (runbooks/standard.yaml), on demand."),
        deployment(
            "nightly",
            f"The nightly GameDay (runbooks/nightly.yaml), cron {cron!r} in {timezone}.",
            schedules=[Cron(cron, timezone=timezone)],
            trends=True,
        ),
        deployment("smoke", "A short smoke GameDay (runbooks/smoke.yaml), on demand."),
        deployment("lb", "A GameDay on the second system (runbooks/lb.yaml: HAProxy in front "
                         "of three nginx, systems/lb.yaml), on demand."),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m flows.deployments",
        description="Serve the GameDay deployments from this process, or register them "
        "with a work pool (--work-pool) for a worker to run.",
    )
    parser.add_argument(
        "--work-pool",
        metavar="NAME",
        help="register the deployments with this existing work pool and exit",
    )
    args = parser.parse_args(argv)
    if not os.environ.get("PREFECT_API_URL"):
        raise SystemExit(
            "PREFECT_API_URL is not set: deployments need a real Prefect server "
            "(run `gameday serve`, which starts one)"
        )
    from flows.load import build_load_deployments

    every = [*build_deployments(), *build_load_deployments()]
    if args.work_pool:
        try:
            deploy(*every, work_pool_name=args.work_pool, ignore_warnings=True)
        except ValueError as exc:  # e.g. the pool does not exist
            raise SystemExit(f"flows.deployments: {exc}") from None
        return
    serve(*every, pause_on_shutdown=False)


if __name__ == "__main__":
    main()
