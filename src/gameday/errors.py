"""The one exception tree of the harness. Messages are sentences a user can act on.

GameDayError
 ├── RunbookError       a runbook file is invalid (names the file and the field)
 ├── TargetError        the stack could not be started, stopped, reached or controlled
 │    └── StackNotRunning
 ├── FaultError         a fault could not be injected or cleared
 ├── SafetyError        a safety rule refused the action (blast radius, lock held)
 │    └── TargetLocked
 ├── GameDayAborted     an abort condition fired during a run
 └── ReportError        a report notebook failed (names the cell)
"""

from __future__ import annotations

__all__ = [
    "GameDayError",
    "RunbookError",
    "TargetError",
    "StackNotRunning",
    "FaultError",
    "SafetyError",
    "TargetLocked",
    "GameDayAborted",
    "ReportError",
]


class GameDayError(Exception):
    """Base class of every error the harness raises on purpose."""


class RunbookError(GameDayError):
    """A runbook is invalid; the message names the file, the field and what is allowed."""


class TargetError(GameDayError):
    """The target stack could not be started, stopped, reached or controlled."""


class StackNotRunning(TargetError):
    """An action needs a running stack and none is running."""


class FaultError(GameDayError):
    """A fault could not be injected or cleared."""


class SafetyError(GameDayError):
    """A safety rule refused the action."""


class TargetLocked(SafetyError):
    """Another GameDay holds the lock on this target."""


class GameDayAborted(GameDayError):
    """An abort condition fired; the run was rolled back."""


class ReportError(GameDayError):
    """A report notebook failed to execute or export."""
