"""The one exception tree of the harness. Messages are sentences a user can act on.

GameDayError                 transient: may a retry of the same step succeed?
 ├── RunbookError            no   a runbook file is invalid (names the file and the field)
 ├── SystemFileError         no   a system file is invalid (names the file and the field)
 ├── TargetError             no*  the stack could not be started, stopped, reached or controlled
 │    ├── StackNotRunning    no   an action needs a running stack and none runs
 │    └── NotReady           no   a wait timed out (steady state, a component ON): the
 │                                wait was the retry; its timeout is the runbook's
 ├── FaultError              no*  a fault could not be injected or cleared
 ├── SafetyError             no   a safety rule refused the action (blast radius, lock held)
 │    └── TargetLocked       no
 ├── GameDayAborted          no   an abort condition fired during a run
 ├── ReportError             no   a report notebook failed (names the cell): deterministic
 └── ConfigError             no   a GAMEDAY_* setting is invalid (names the variable)

* an instance says otherwise with ``transient=True``: connection refused or reset, a
timeout of one HTTP call, HTTP 5xx (:func:`gameday.http.is_transient` decides, in one
place). The Prefect flow retries a step exactly when its error is transient
(:func:`is_transient`); a wait polls until its own timeout and is not retried on top.
"""

from __future__ import annotations

__all__ = [
    "GameDayError",
    "RunbookError",
    "SystemFileError",
    "TargetError",
    "StackNotRunning",
    "NotReady",
    "FaultError",
    "SafetyError",
    "TargetLocked",
    "GameDayAborted",
    "ReportError",
    "ConfigError",
    "is_transient",
]


class GameDayError(Exception):
    """Base class of every error the harness raises on purpose.

    ``transient`` (class default False; ``transient=True`` per instance) says whether
    running the same step again may succeed.
    """

    transient: bool = False

    def __init__(self, *args: object, transient: bool | None = None) -> None:
        super().__init__(*args)
        if transient is not None:
            self.transient = transient


class RunbookError(GameDayError):
    """A runbook is invalid; the message names the file, the field and what is allowed."""


class TargetError(GameDayError):
    """The target stack could not be started, stopped, reached or controlled."""


class StackNotRunning(TargetError):
    """An action needs a running stack and none is running."""


class NotReady(TargetError):
    """A wait for a state (steady state, a component ON) ran out of time."""


class FaultError(GameDayError):
    """A fault could not be injected or cleared."""


class SafetyError(GameDayError):
    """A safety rule refused the action."""


class TargetLocked(SafetyError):
    """Another GameDay holds the lock on this target."""


class GameDayAborted(GameDayError):
    """An abort condition fired; the run was rolled back."""


class SystemFileError(GameDayError):
    """A system file (``systems/<name>.yaml``) is invalid: names the file and the field."""


class ReportError(GameDayError):
    """A report notebook failed to execute or export."""


class ConfigError(GameDayError):
    """A setting read from the environment (or ``.env``) is invalid."""


def is_transient(exc: BaseException) -> bool:
    """Whether a step that raised ``exc`` may succeed when run again: only a GameDayError
    that says so. Anything else (a bug, a timeout of a wait, bad input) is final."""
    return isinstance(exc, GameDayError) and exc.transient
