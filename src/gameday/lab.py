"""``make lab``: JupyterLab on 127.0.0.1 with the session notebook open.

    python -m gameday.lab [--runbook R] [--port P] [--token T] [--no-browser]

Serves the repository (so ``notebooks/`` and ``reports/`` are browsable) from a free
loopback port (the first free one from 8888 unless ``--port``), with the project's
environment as the notebook's kernel (``gameday``, registered by ``make install``). It
opens a fresh copy of the runbook's session notebook, ``reports/sessions/<name>-<time>
.ipynb`` (git-ignored): the tracked ``notebooks/session.ipynb`` (the standard runbook's)
stays clean, and each session keeps its own record.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from gameday.paths import REPO_ROOT, REPORTS_DIR

__all__ = ["free_port", "session_notebook_for", "lab_command", "main"]

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
    os.chdir(REPO_ROOT)
    os.execv(cmd[0], cmd)
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    raise SystemExit(main())
