"""Cooperative time limits: long-running methods call :meth:`Deadline.check` between units of work."""

from __future__ import annotations

import time


class Timeout(Exception):
    """Raised by :meth:`Deadline.check` when the time limit has passed."""


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

    def check(self) -> None:
        """Raise :class:`Timeout` when the limit has passed."""
        if self.expired():
            raise Timeout
