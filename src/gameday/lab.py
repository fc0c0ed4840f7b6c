"""``make lab``: JupyterLab on 127.0.0.1 with the session notebook open.

    python -m gameday.lab [--runbook R] [--port P] [--token T] [--no-browser]

Serves the repository (so ``notebooks/`` and ``reports/`` are browsable) from a free
loopback port (the first free one from 8888 unless ``--port``), with the project's
environment as the notebook's kernel (``gameday``, registered by ``make install``). It
opens a fresh copy of the runbook's session notebook, ``reports/sessions/<name>-<time>
.ipynb`` (git-ignored): the tracked ``notebooks/session.ipynb`` (the standard runbook's)
stays clean, and each session keeps its own record.

It opens quietly: the server it starts reads one more configuration directory,
``.gameday/jupyter/`` (on ``JUPYTER_CONFIG_PATH``), whose ``labconfig/page_config.json``
disables JupyterLab's announcements plugin, the one that asks "get notified about
official Jupyter news?" over the notebook and would fetch news and update checks from the
internet. The user's own Jupyter settings (``~/.jupyter``) are neither read for this nor
written.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

from gameday.paths import REPO_ROOT, REPORTS_DIR, STATE_DIR

__all__ = ["free_port", "session_notebook_for", "lab_command", "lab_environment",
           "QUIET_PLUGINS", "main"]

#: JupyterLab plugins the GameDay server does not load: the news prompt and its fetches.
QUIET_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)

DEFAULT_RUNBOOK = "runbooks/standard.yaml"
DEFAULT_NOTEBOOK = "notebooks/session.ipynb"


def free_port(start: int = 8888, host: str = "127.0.0.1", tries: int = 100) -> int:
    """The first port from ``start`` that nothing listens on at ``host``."""
    for port in range(start, start + tries):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port on {host} in {start}..{start + tries - 1}")


def session_notebook_for(runbook: str | Path, *, stamp: str | None = None) -> Path:
    """A fresh working copy of ``runbook``'s session notebook, relative to the repository
    root: ``reports/sessions/<runbook name>-<stamp>.ipynb`` (git-ignored), so what a team
    types and sees in a session never lands in the tracked ``notebooks/session.ipynb``."""
    import shutil
    from datetime import datetime

    from gameday.runbook import load_runbook
    from gameday.session_notebook import write

    path = Path(runbook)
    full = (path if path.is_absolute() else REPO_ROOT / path).resolve()
    stamp = stamp or datetime.now().strftime("%Y%m%d-%H%M%S")
    out = REPORTS_DIR / "sessions" / f"{load_runbook(full).name}-{stamp}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    if full == (REPO_ROOT / DEFAULT_RUNBOOK).resolve():
        shutil.copyfile(REPO_ROOT / DEFAULT_NOTEBOOK, out)
    else:
        write(full, out)
    return out.resolve().relative_to(REPO_ROOT.resolve())


def lab_command(port: int, notebook: str | Path, *, token: str | None = None,
                open_browser: bool = True) -> list[str]:
    """The ``jupyter lab`` command line (run from the repository root)."""
    cmd = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--ServerApp.root_dir={REPO_ROOT}",
           "--MappingKernelManager.default_kernel_name=gameday",
           # no calls to PyPI or jupyter.org: the session must work offline
           "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.news_url=None"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
        cmd.append("--allow-root")
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        cmd.append("--no-browser")
    return [*cmd, str(notebook)]


def lab_environment(env: dict[str, str] | None = None, *,
                    config_dir: Path | None = None) -> dict[str, str]:
    """``env`` (default: this process's) for the lab server: ``config_dir`` (default
    ``.gameday/jupyter``), written now, first on ``JUPYTER_CONFIG_PATH``."""
    env = dict(os.environ if env is None else env)
    config_dir = config_dir or STATE_DIR / "jupyter"
    page_config = config_dir / "labconfig" / "page_config.json"
    page_config.parent.mkdir(parents=True, exist_ok=True)
    page_config.write_text(json.dumps(
        {"disabledExtensions": dict.fromkeys(QUIET_PLUGINS, True)}, indent=2) + "\n",
        encoding="utf-8")
    paths = [str(config_dir), *filter(None, env.get("JUPYTER_CONFIG_PATH", "").split(
        os.pathsep))]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gameday.lab", description=__doc__.split("\n")[0])
    p.add_argument("--runbook", default=DEFAULT_RUNBOOK)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--token", default=None, help="server token (default: a random one)")
    p.add_argument("--no-browser", action="store_true")
    args = p.parse_args(argv)
    notebook = session_notebook_for(args.runbook)
    port = args.port or free_port()
    cmd = lab_command(port, notebook, token=args.token, open_browser=not args.no_browser)
    print(f"gameday: JupyterLab on http://127.0.0.1:{port}/lab/tree/{notebook}", flush=True)
    env = lab_environment()
    os.chdir(REPO_ROOT)
    os.execve(cmd[0], cmd, env)
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    raise SystemExit(main())
