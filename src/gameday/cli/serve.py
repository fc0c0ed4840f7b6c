"""``gameday serve``: serve the GameDay deployments (standard, nightly, smoke) to Prefect.

Deployments and cron schedules need a real Prefect server. When ``PREFECT_API_URL`` is
unset, this command starts one on loopback (``prefect server start --host 127.0.0.1
--port P``, its database under ``.gameday/prefect`` unless ``PREFECT_HOME`` is set),
waits for ``/api/health``, and exports ``PREFECT_API_URL`` to the serve process
(``python -m flows.deployments``). A server already healthy on that port is reused.
Ctrl-C or SIGTERM stops the serve process, then the server this command started; both
are started with :func:`gameday.children.spawn`, so a ``kill -9`` of this command takes
them along too.

Then, from another shell with the same ``PREFECT_API_URL``::

    prefect deployment run gameday/smoke --watch

``--reports`` also serves the reports folder over HTTP (:mod:`gameday.reports_server`,
on ``--reports-host``:``--reports-port``, loopback by default) and, unless
``GAMEDAY_REPORT_URL`` says otherwise, hands its URL to the deployments as
``GAMEDAY_REPORT_URL``: their Slack messages and Prefect artifacts then link to the
reports. ``--no-deployments`` serves only the reports.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from gameday.errors import GameDayError

__all__ = ["register", "start_prefect_server", "server_environment", "stop_process",
           "wait_healthy"]

DEFAULT_PORT = 4200


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "serve",
        help="serve the standard, nightly and smoke deployments to Prefect",
        description="Serve the Prefect deployments gameday/standard, gameday/nightly "
        "(cron GAMEDAY_NIGHTLY_CRON, default '0 2 * * *', in GAMEDAY_NIGHTLY_TZ) and "
        "gameday/smoke from one process. When PREFECT_API_URL is unset, start a Prefect "
        "server on 127.0.0.1:P first (data in .gameday/prefect) and stop it on exit. "
        "Then run e.g. `prefect deployment run gameday/smoke --watch`.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="P",
        help=f"port of the Prefect server started when PREFECT_API_URL is unset "
        f"(default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--server-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds to wait for that server to be healthy (default 120)",
    )
    parser.add_argument(
        "--ui", action="store_true", help="enable the dashboard of the Prefect server it starts"
    )
    parser.add_argument("--reports", action="store_true",
                        help="also serve the reports folder over HTTP (read-only) and link "
                             "Slack messages and Prefect artifacts to it")
    parser.add_argument("--reports-host", default="127.0.0.1", metavar="HOST",
                        help="address the reports are served on (default 127.0.0.1; "
                             "0.0.0.0 lets your team reach them)")
    parser.add_argument("--reports-port", type=int, default=None, metavar="R",
                        help="port of the reports server (default 8088)")
    parser.add_argument("--no-deployments", action="store_true",
                        help="with --reports: serve only the reports (no Prefect)")
    parser.set_defaults(func=_serve, _parser=parser)


def _serve(args: argparse.Namespace) -> int:
    from gameday.paths import REPO_ROOT, STATE_DIR

    if (args.no_deployments or args.reports_port is not None
            or args.reports_host != "127.0.0.1") and not args.reports:
        args._parser.error("--no-deployments, --reports-host and --reports-port go with "
                           "--reports")
    if args.reports_port is not None and not 1 <= args.reports_port <= 65535:
        args._parser.error("--reports-port must be 1..65535")
    env = dict(os.environ)
    env["PYTHONPATH"] = _python_path(env.get("PYTHONPATH"), REPO_ROOT)
    server: subprocess.Popen[bytes] | None = None
    serving: subprocess.Popen[bytes] | None = None
    reports: subprocess.Popen[bytes] | None = None
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if args.reports:
            reports = _serve_reports(args, env)
            if args.no_deployments:
                return reports.wait()
        if not env.get("PREFECT_API_URL"):
            api_url = f"http://127.0.0.1:{args.port}/api"
            if _healthy(api_url):
                print(f"gameday serve: using the Prefect server already at {api_url}")
            else:
                env.setdefault("PREFECT_HOME", str(STATE_DIR / "prefect"))
                log_path = STATE_DIR / "logs" / "prefect-server.log"
                server = start_prefect_server(args.port, env, log_path=log_path, ui=args.ui)
                wait_healthy(api_url, args.server_timeout, server, log_path)
                print(f"gameday serve: Prefect server at {api_url}")
            env["PREFECT_API_URL"] = api_url
        print(f"gameday serve: export PREFECT_API_URL={env['PREFECT_API_URL']}", flush=True)
        from gameday.children import spawn

        serving = spawn([sys.executable, "-m", "flows.deployments"], cwd=REPO_ROOT, env=env,
                        state_dir=STATE_DIR, log=None, death_signal=signal.SIGINT,
                        inherit_output=True)
        return serving.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if serving is not None:  # SIGINT: the way Prefect's serve() expects to be stopped
            stop_process(serving, group=False, first=signal.SIGINT)
        if server is not None:
            stop_process(server, group=True)
        if reports is not None:
            stop_process(reports, group=True)


def _serve_reports(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start the reports server; set GAMEDAY_REPORT_URL in ``env`` unless it is set."""
    from gameday.children import spawn
    from gameday.config import get_settings
    from gameday.paths import STATE_DIR
    from gameday.reports_server import DEFAULT_PORT, is_loopback, public_url

    reports_dir = Path(get_settings().reports_dir).resolve()
    port = args.reports_port or DEFAULT_PORT
    log_path = STATE_DIR / "logs" / "reports-server.log"
    process = spawn([sys.executable, "-m", "gameday.reports_server", "--dir",
                     str(reports_dir), "--host", args.reports_host, "--port", str(port)],
                    env=env, log=log_path, state_dir=STATE_DIR, new_session=True)
    wildcard = args.reports_host in ("0.0.0.0", "::", "")
    probe = public_url("127.0.0.1" if wildcard else args.reports_host, port)
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline and not _answers(probe):
        time.sleep(0.2)
    if process.poll() is not None or not _answers(probe):
        stop_process(process, group=True)
        raise GameDayError(f"the reports server did not start on {args.reports_host}:{port} "
                           f"(is the port taken?); see {log_path}")
    url = public_url(args.reports_host, port)
    print(f"gameday serve: reports of {reports_dir} at {url}", flush=True)
    if not is_loopback(args.reports_host):
        print(f"gameday serve: anyone who can reach {args.reports_host}:{port} can read "
              "them", flush=True)
    if env.get("GAMEDAY_REPORT_URL"):
        print(f"gameday serve: links use GAMEDAY_REPORT_URL={env['GAMEDAY_REPORT_URL']}",
              flush=True)
    else:
        env["GAMEDAY_REPORT_URL"] = url
    return process


def _answers(url: str) -> bool:
    import httpx

    try:
        httpx.head(url, timeout=1.0)
        return True
    except httpx.HTTPError:
        return False


def start_prefect_server(
    port: int, env: dict[str, str], *, log_path: Path, ui: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``prefect server start`` on 127.0.0.1:``port`` in its own process group, as a
    child that dies with this process."""
    from gameday.children import spawn
    from gameday.paths import STATE_DIR

    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect)] if prefect.exists() else [sys.executable, "-m", "prefect"]
    return spawn(
        [*command, "server", "start", "--host", "127.0.0.1", "--port", str(port),
         "--ui" if ui else "--no-ui", "--analytics-off"],
        env=server_environment(port, env), log=log_path, state_dir=STATE_DIR,
        new_session=True)


def server_environment(port: int, env: dict[str, str]) -> dict[str, str]:
    """The environment of a Prefect server on 127.0.0.1:``port``: its dashboard talks to
    the API it is served with. (``prefect server start --port P`` alone leaves the UI's
    ``api_url`` at PREFECT_API_URL or PREFECT_SERVER_API_HOST/PORT, i.e. port 4200 on
    any other port.) A PREFECT_UI_API_URL of the caller's own (a proxy in front) wins."""
    return {**env, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_UI_API_URL": env.get("PREFECT_UI_API_URL")
            or f"http://127.0.0.1:{port}/api"}


def wait_healthy(
    api_url: str,
    timeout_s: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Return once ``api_url``/health answers; raise GameDayError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    see = f"; see {log_path}" if log_path else ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise GameDayError(
                f"the Prefect server exited with code {process.returncode} before it was "
                f"healthy{see}"
            )
        if _healthy(api_url):
            return
        time.sleep(0.5)
    raise GameDayError(
        f"the Prefect server at {api_url} was not healthy within {timeout_s:.0f} s{see}"
    )


def stop_process(
    process: subprocess.Popen[bytes],
    *,
    group: bool,
    first: signal.Signals = signal.SIGTERM,
    timeout_s: float = 20,
) -> None:
    """Signal ``process`` (its whole process group if ``group``), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    send = (lambda sig: os.killpg(process.pid, sig)) if group else process.send_signal
    try:
        send(first)
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass


def _healthy(api_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _python_path(current: str | None, repo_root: Path) -> str:
    """PYTHONPATH that finds ``flows`` and ``gameday`` even if the package isn't installed."""
    import gameday

    entries = [str(repo_root), str(Path(gameday.__file__).resolve().parents[1])]
    if current:
        entries.append(current)
    return os.pathsep.join(dict.fromkeys(entries))


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
