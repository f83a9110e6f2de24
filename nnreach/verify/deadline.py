"""Cooperative time limits: long-running methods call :meth:`Deadline.check` between units of work."""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager
from typing import Iterator


class Timeout(Exception):
    """Raised by :meth:`Deadline.check` when the time limit has passed.

    Attributes:
        proved: set by a method that proved part of the problem before its time ran out: per
            property position, the positions of the unsafe polytopes it showed unreachable (what
            ``auto`` then leaves out of its next stages), or None.
    """

    proved: dict[int, frozenset[int]] | None = None


class Deadline:
    """A point in time after which work stops. ``seconds=None`` means no limit."""

    __slots__ = ("_end",)

    def __init__(self, seconds: float | None):
        self._end = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (``inf`` without a limit, may be negative)."""
        return float("inf") if self._end is None else self._end - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def instant(self, share: float) -> float | None:
        """The ``time.monotonic()`` instant when ``share`` of the time left now will have passed
        (a budget for one stage of the work), or None without a limit."""
        return None if self._end is None else time.monotonic() + share * max(self.remaining(), 0.0)

    def check(self) -> None:
        """Raise :class:`Timeout` when the limit has passed."""
        if self.expired():
            raise Timeout


def _alarm(_signum, _frame):
    raise Timeout


@contextmanager
def hard_stop(seconds: float | None, slack: float = 0.5) -> Iterator[None]:
    """Raise :class:`Timeout` in the main thread ``slack`` seconds after ``seconds`` (SIGALRM), for
    work that does not check its deadline often; ``None``: no stop. Main thread of a process only."""
    if seconds is None:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.0) + slack)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
