"""Requests a run still owes, kept on disk while it runs.

A load can make changes that a later request undoes: a system file's ``follow_up``
requests (docs/systems.md) are sent ``after_s`` after their request succeeded (an order
cancelled, so that its stock comes back). A run killed in between leaves those changes
in the system. So each such request is written down when it becomes owed (``{"owe":
key, "request": …}``: method, rendered URL, JSON body, headers, the statuses it expects)
and again when it is done (``{"paid": key}``), one line each, flushed at once, in
``<run_dir>/follow-ups-owed.jsonl``; whoever finds the run interrupted
(:mod:`gameday.recovery`) sends what is still owed. A run that ends normally owes nothing
and removes the file.

Secrets stay out of the run folder (the reports server serves it): a header whose
template reads ``env()`` is written as its template (``env_headers``) and rendered with
the environment when it is sent.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["OWED_FILE", "OwedRequest", "Owed", "OwedRequests", "outstanding", "owed_entries"]

OWED_FILE = "follow-ups-owed.jsonl"


class OwedRequest(BaseModel):
    """What is needed to send an owed request later, by another process."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: str = "POST"
    url: str
    json_: Any = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    #: Header templates that read the environment (``{{ env('TOKEN') }}``): rendered when
    #: sent, never written rendered.
    env_headers: dict[str, str] = Field(default_factory=dict)
    #: The statuses that mean it was done; a 4xx settles it too (the system refused it:
    #: sending it again would not help). Anything else leaves it owed.
    expect: list[int] = Field(default_factory=lambda: [200])

    def settled_by(self, status: int) -> bool:
        return status in self.expect or 400 <= status < 500


class Owed(BaseModel):
    """One owed entry: its key and its request (None in a line without one: it is
    reported as not sent)."""

    key: str
    request: OwedRequest | None = None


class OwedRequests:
    """Append-only record of requests owed and paid (thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._open: set[str] = set()

    def _write(self, line: dict[str, Any]) -> None:
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self._file.write(json.dumps(line) + "\n")
            self._file.flush()  # in the kernel's page cache: survives kill -9 of this process

    def owe(self, key: str, request: OwedRequest) -> None:
        """``key`` is now owed; ``request`` is how to send it."""
        self._open.add(key)
        self._write({"owe": key, "request": request.model_dump(mode="json", by_alias=True,
                                                               exclude_defaults=True)})

    def paid(self, key: str) -> None:
        """The owed request is done (or needs doing no more)."""
        self._open.discard(key)
        self._write({"paid": key})

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


def owed_entries(path: str | Path) -> list[Owed]:
    """What is owed per the file at ``path`` (empty when it does not exist), in the order
    it became owed. A torn or unreadable line (the writer died mid-write) is skipped."""
    owed: dict[str, Owed] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            entry = json.loads(line)
            if "owe" in entry:
                request = entry.get("request")
                owed[str(entry["owe"])] = Owed(
                    key=str(entry["owe"]),
                    request=None if request is None else OwedRequest.model_validate(request))
            elif "paid" in entry:
                owed.pop(str(entry["paid"]), None)
        except (ValueError, TypeError, AttributeError, ValidationError):
            continue
    return list(owed.values())


def outstanding(path: str | Path) -> list[str]:
    """The keys owed per the file at ``path`` (``<request key>><n>``)."""
    return [o.key for o in owed_entries(path)]
