"""Wake an asyncio loop at a precise moment without spinning: a Linux ``timerfd``.

The load generator must send each request at its intended time, neither early (its
latency would read short) nor late. uvloop's timers (and asyncio's) tick in whole
milliseconds from a loop time cached per iteration, so a timer alone wakes up to a
millisecond off. The generator used to sleep on such a timer until 2 ms before a send and
then yield to the loop until the time came: exact, but at a few hundred requests a second
it is always inside those 2 ms, so the process spins on a core for the whole run, and a
process that never sleeps is the one the kernel preempts when the machine is busy.

A ``timerfd`` armed at an absolute ``CLOCK_MONOTONIC`` time (``time.perf_counter``'s clock
on Linux) becomes readable at that moment to the nanosecond the kernel's timers give; the
loop wakes on it like on a socket. :class:`PreciseTimer` is that, through ``ctypes``
(Python 3.13 has ``os.timerfd_create``; this project runs on 3.11). Where it is not
available (not Linux), :meth:`PreciseTimer.create` returns None and the caller keeps the
millisecond timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import math
import os
import sys
import time

__all__ = ["PreciseTimer"]

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_create.restype = ctypes.c_int
        libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int,
                                         ctypes.POINTER(_Itimerspec),
                                         ctypes.POINTER(_Itimerspec)]
        libc.timerfd_settime.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


class PreciseTimer:
    """One timerfd for one event loop: :meth:`sleep_until` a ``time.perf_counter()`` time.

    Not for concurrent sleeps: one caller (the generator's schedule loop) at a time."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self._libc, self._fd = libc, fd
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None

    @classmethod
    def create(cls) -> PreciseTimer | None:
        """A timer, or None where timerfd is not available (then use the loop's timers)."""
        if time.get_clock_info("perf_counter").implementation != "clock_gettime(CLOCK_MONOTONIC)":
            return None
        libc = _libc()
        if libc is None:
            return None
        fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        return None if fd < 0 else cls(libc, fd)

    def _arm(self, when: float) -> None:
        seconds = math.floor(when)
        nanos = min(999_999_999, int((when - seconds) * 1e9))
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(seconds, nanos))
        if self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None):
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")

    def _fired(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)  # the expiry count; readable again only when re-armed
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    async def sleep_until(self, when: float) -> None:
        """Return at ``when`` (a ``time.perf_counter()`` value) or just after; at once if
        it has passed."""
        if when <= time.perf_counter():
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                self._loop.remove_reader(self._fd)
            loop.add_reader(self._fd, self._fired)
            self._loop = loop
        self._waiter = loop.create_future()
        self._arm(when)
        try:
            await self._waiter
        finally:
            self._waiter = None
            self._arm(0.0)  # disarmed (a cancelled sleep must not fire later)

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        self._loop = None
        with contextlib.suppress(OSError):
            os.close(self._fd)
