"""Order cancels a run still owes, kept on disk while it runs.

The load generator creates orders and cancels each one ``cancel_after_s`` later, so that
stock comes back. A run killed between the two leaves orders that hold stock. So every
order is written down when it is created (``+<id>``) and again when its cancel is done
(``-<id>``), one line each, flushed at once, in ``<run_dir>/cancels-owed.jsonl``; whoever
finds the run interrupted (:mod:`gameday.recovery`) sends what is still owed. A run that
ends normally owes nothing and removes the file.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO

__all__ = ["OWED_FILE", "OwedCancels", "outstanding"]

OWED_FILE = "cancels-owed.jsonl"


class OwedCancels:
    """Append-only record of orders created and cancelled (thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._open: set[str] = set()

    def _write(self, line: dict[str, str]) -> None:
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self._file.write(json.dumps(line) + "\n")
            self._file.flush()  # in the kernel's page cache: survives kill -9 of this process

    def owe(self, order_id: str) -> None:
        """An order was created; its cancel is now owed."""
        self._open.add(order_id)
        self._write({"owe": order_id})

    def paid(self, order_id: str) -> None:
        """The order's cancel is done (or it was already cancelled)."""
        self._open.discard(order_id)
        self._write({"paid": order_id})

    @property
    def owing(self) -> int:
        return len(self._open)

    def close(self, *, remove_if_settled: bool = True) -> None:
        """Close the file; remove it when nothing is owed."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
        if remove_if_settled and not outstanding(self.path):
            self.path.unlink(missing_ok=True)


def outstanding(path: str | Path) -> list[str]:
    """Order ids owed per the file at ``path`` (empty when it does not exist), in the
    order they were created. A torn last line (the writer died mid-write) is skipped."""
    owed: dict[str, None] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if "owe" in entry:
            owed[str(entry["owe"])] = None
        elif "paid" in entry:
            owed.pop(str(entry["paid"]), None)
    return list(owed)
