"""``--a``/``--b`` of ``gameday compare``: a checkout directory or a git ref, and clear
errors for everything else. Runs against a throw-away git repository holding a copy of
the stack and its system file (never this checkout's own worktree list)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gameday.compare.sources import check_source, open_source
from gameday.errors import GameDayError

REPO = Path(__file__).resolve().parents[2]
#: What a side's checkout must hold: the runbook's system file (compare.yaml's).
NEEDS = ("systems/inventory.yaml",)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.invalid", *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO / "stack", root / "stack",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "systems", root / "systems")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "stack", "systems")
    _git(root, "commit", "-q", "-m", "the stack")
    _git(root, "tag", "v1")
    (root / "notes.txt").write_text("no stack here\n")
    _git(root, "rm", "-q", "-r", "stack", "systems")
    _git(root, "add", "notes.txt")
    _git(root, "commit", "-q", "-m", "the stack removed")
    return root


def test_a_ref_is_checked_out_into_a_temporary_worktree_that_close_removes(repo: Path,
                                                                            tmp_path: Path) -> None:
    src = open_source("v1", "--a", repo=repo, workdir=tmp_path, needs=NEEDS)
    try:
        assert src.ref == "v1" and src.temporary and len(src.sha or "") == 40
        assert (src.path / "stack" / "monitor" / "__main__.py").is_file()
        assert (src.path / NEEDS[0]).is_file()
        assert src.label == f"v1 ({(src.sha or '')[:10]})"
        assert str(src.path) in _git(repo, "worktree", "list")
    finally:
        src.close()
    assert not src.path.exists()
    assert str(src.path) not in _git(repo, "worktree", "list")
    src.close()  # twice: harmless


def test_a_directory_holding_a_checkout_is_used_as_it_is(tmp_path: Path) -> None:
    copy = tmp_path / "b-build"
    shutil.copytree(REPO / "stack", copy / "stack", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "systems", copy / "systems")
    src = open_source(str(copy), "--b", needs=NEEDS)
    assert src.path == copy.resolve() and src.ref is None and not src.temporary
    src.close()
    assert copy.is_dir()  # never removed: it is the user's


@pytest.mark.parametrize(("given", "message"), [
    ("", "--b: empty; give a git ref"),
    ("no-such-branch", "--b no-such-branch: neither a directory holding a checkout nor a "
                       "git ref of"),
    ("some/missing/dir", "neither a directory holding a checkout nor a git ref"),
    ("--upload-pack=touch /tmp/x", "not a directory, and not a git ref"),
])
def test_what_is_neither_a_checkout_nor_a_ref_is_refused_saying_what_is_allowed(
        repo: Path, given: str, message: str) -> None:
    with pytest.raises(GameDayError, match=message.replace("(", r"\(")):
        check_source(given, "--b", repo=repo, needs=NEEDS)


def test_a_directory_or_a_ref_without_the_system_is_refused(repo: Path,
                                                            tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(GameDayError, match=r"does not hold the system \(missing "
                                           r"systems/inventory.yaml\)"):
        check_source(str(tmp_path / "empty"), "--a", repo=repo, needs=NEEDS)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(GameDayError, match="is a file, not a directory or a git ref"):
        check_source(str(tmp_path / "file.txt"), "--a", repo=repo, needs=NEEDS)
    before = _git(repo, "worktree", "list")
    with pytest.raises(GameDayError, match="does not hold the system"):
        open_source("main", "--a", repo=repo, workdir=tmp_path,  # main has none now
                    needs=NEEDS)
    assert _git(repo, "worktree", "list") == before  # nothing left behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("gameday-compare-")]


def test_outside_a_git_repository_a_ref_cannot_be_found(tmp_path: Path) -> None:
    with pytest.raises(GameDayError, match="is not a git repository to find a ref in"):
        check_source("main", "--a", repo=tmp_path, needs=NEEDS)
