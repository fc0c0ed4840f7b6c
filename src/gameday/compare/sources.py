"""Where each side of a comparison comes from: a git ref, or a directory holding a checkout.

``gameday compare --a REF_OR_DIR --b REF_OR_DIR`` runs two versions of the system.
:func:`open_source` turns one argument into a :class:`StackSource`, a directory holding
one version: the runbook's system file at the same place as in this repository (its
``local`` blocks run from there). What it must hold is ``needs``:

- an existing **directory** is used as it is (a checkout, a copy with a changed setting);
  it must hold what ``needs`` names (the system file);
- anything else is a **git ref** of the repository (a branch, a tag, a sha, ``HEAD~3``),
  checked out into a temporary worktree (``git worktree add --detach``) that
  :meth:`StackSource.close` removes again.

Errors are :class:`~gameday.errors.GameDayError` sentences naming the option, what was
given and what is allowed; nothing is left behind when one is raised.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gameday.errors import GameDayError
from gameday.paths import REPO_ROOT

__all__ = ["StackSource", "check_source", "open_source", "check_checkout"]
_GIT_TIMEOUT_S = 120


@dataclass
class StackSource:
    """One side's stack code: ``path`` holds ``stack/``. ``ref``/``sha`` are set for a git
    ref; ``temporary``: a worktree this object made and :meth:`close` removes."""

    spec: str
    path: Path
    ref: str | None = None
    sha: str | None = None
    temporary: bool = False
    repo: Path | None = None

    @property
    def label(self) -> str:
        """How reports name it: ``main (3f2a1c9)`` or the directory."""
        if self.ref is not None:
            return f"{self.ref} ({(self.sha or '')[:10]})"
        return str(self.path)

    def close(self) -> None:
        """Remove a temporary worktree (safe to call twice; a directory is left alone)."""
        if not self.temporary:
            return
        self.temporary = False
        if self.repo is not None:
            _git(self.repo, "worktree", "remove", "--force", str(self.path), check=False)
        shutil.rmtree(self.path.parent, ignore_errors=True)
        if self.repo is not None:
            _git(self.repo, "worktree", "prune", check=False)


def check_checkout(path: Path, option: str, given: str, needs: tuple[str, ...]) -> None:
    """Raise GameDayError unless ``path`` holds every file ``needs`` names (the system
    file, relative to the work tree)."""
    missing = [rel for rel in needs if not (path / rel).is_file()]
    if not missing:
        return
    what = ", ".join(missing[:4])
    raise GameDayError(
        f"{option} {given}: {path} does not hold the system (missing {what}); give a "
        "checkout holding the system file at the same place as here, or a git ref")


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GameDayError("git is not installed: give directories instead of refs") from None
    except subprocess.TimeoutExpired:
        raise GameDayError(f"git {' '.join(args)} took more than {_GIT_TIMEOUT_S} s") from None
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise GameDayError(f"git {args[0]} failed: "
                           + (said[-1] if said else f"exit status {done.returncode}"))
    return done


def check_source(given: str, option: str, *, needs: tuple[str, ...],
                 repo: Path = REPO_ROOT) -> str | None:
    """Check ``given`` without touching anything: a directory holding a checkout with
    ``needs`` (returns None), or a git ref of ``repo`` (returns its commit sha). Raises
    GameDayError saying what is wrong and what is allowed."""
    if not given.strip():
        raise GameDayError(f"{option}: empty; give a git ref (main, v1.2, a sha) or a "
                           "directory holding a checkout")
    path = Path(given).expanduser()
    if path.is_dir():
        check_checkout(path.resolve(), option, given, needs)
        return None
    if given.startswith("-") or any(c in given for c in "\0\n"):
        raise GameDayError(f"{option} {given!r}: not a directory, and not a git ref")
    if path.exists():
        raise GameDayError(f"{option} {given}: is a file, not a directory or a git ref")
    inside = _git(repo, "rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0:
        raise GameDayError(f"{option} {given}: no such directory, and {repo} is not a git "
                           "repository to find a ref in")
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{given}^{{commit}}", check=False)
    if found.returncode != 0:
        raise GameDayError(
            f"{option} {given}: neither a directory holding a checkout nor a git ref of "
            f"{repo} (a branch, tag or commit: see `git -C {repo} log --oneline`)")
    return found.stdout.strip()


def open_source(given: str, option: str, *, repo: Path = REPO_ROOT,
                workdir: Path | None = None, needs: tuple[str, ...]) -> StackSource:
    """Resolve ``given`` (a directory, else a git ref of ``repo``) for ``option``
    (``--a``/``--b``, for messages). A ref is checked out under ``workdir`` (default: a
    new temporary directory). Raises GameDayError with what is allowed (see
    :func:`check_source`)."""
    sha = check_source(given, option, repo=repo, needs=needs)
    if sha is None:
        return StackSource(spec=given, path=Path(given).expanduser().resolve())
    parent = Path(tempfile.mkdtemp(prefix="gameday-compare-", dir=workdir))
    tree = parent / "checkout"
    try:
        _git(repo, "worktree", "add", "--detach", "--force", str(tree), sha)
        check_checkout(tree, option, given, needs)
    except BaseException:
        _git(repo, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(parent, ignore_errors=True)
        _git(repo, "worktree", "prune", check=False)
        raise
    return StackSource(spec=given, path=tree, ref=given, sha=sha, temporary=True, repo=repo)
