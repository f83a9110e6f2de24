"""Progress of long runs: what a run is doing now, its status line, and why it stopped undecided.

Work reports through two module functions that cost next to nothing when nobody listens:
:func:`stage` when a stage starts (a method, a rung of ``auto``, a step of a closed loop) and
:func:`note` with the stage's latest figures (:data:`FIELDS`). :func:`tracking` installs a
:class:`Tracker` for the length of a run; at a timeout or an ``unknown`` its :meth:`Tracker.reason`
says which stage was running and what it had reached. A :class:`Printer` writes the tracker's
status line to a stream every few seconds from a background thread (rewritten in place in a
terminal), so that a line appears even while a solver holds the main thread.

Worker processes inherit no listener: their figures reach the parent through the search's own
counters, which the parent notes.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator, TextIO

FIELDS = {
    "open": "{} open",
    "closed": "{} closed",
    "margin": "worst margin {:.4g}",
    "polytope": "polytope {}",
    "step": "{}",
    "sets": "{} sets",
    "samples": "{} samples",
    "attacks": "{} attack inputs",
    "workers": "{} workers",
}
"""What a stage may report, and how it reads: ``open`` sub-problems left and ``closed`` ones shown
safe; ``margin``, the smallest lower bound on the excess over the unsafe rows among open
sub-problems (a proof needs every one above the proof margin, about 0); ``polytope`` ``k/m`` being
decided; ``step``, what the stage is doing (``"attack step 3/20"``); ``sets`` held; ``samples`` drawn; ``attacks`` inputs
tried; ``workers`` processes sharing the search."""

NOTE_EVERY = 1.0
"""Seconds between two figures worth computing (:func:`due`): costly figures are noted no more often."""


class Tracker:
    """The current stage of a run and its latest figures, with the run's start and time limit."""

    def __init__(self, limit: float | None):
        self.start = time.monotonic()
        self.end = None if limit is None else self.start + limit
        self.stage_name = ""
        self.fields: dict[str, object] = {}
        self._noted = 0.0

    def stage(self, name: str) -> None:
        self.stage_name, self.fields = name, {}

    def note(self, **fields) -> None:
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown progress fields {sorted(unknown)}")
        self.fields = {**self.fields, **fields}
        self._noted = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self._noted >= NOTE_EVERY

    def figures(self) -> str:
        """The stage's figures as text, e.g. ``"12 open, 301 closed, worst margin -0.153"``."""
        fields = dict(self.fields)
        return ", ".join(FIELDS[k].format(v) for k, v in fields.items())

    def line(self) -> str:
        """The status line: ``12.3 s (47.7 s left) bab: 12 open, 301 closed, worst margin -0.153``."""
        now = time.monotonic()
        clock = f"{now - self.start:.1f} s"
        if self.end is not None:
            clock += f" ({max(self.end - now, 0.0):.1f} s left)"
        figures = self.figures()
        return f"{clock} {self.stage_name or 'starting'}" + (f": {figures}" if figures else "")

    def reason(self, timed_out: bool) -> str:
        """One sentence on why the run stopped undecided: the stage that ran and what it reached."""
        where = self.stage_name or "the first stage"
        figures = self.figures()
        text = (f"the time limit ran out in {where} after {time.monotonic() - self.start:.1f} s" if timed_out
                else f"{where} could not decide")
        if figures:
            text += f" ({figures})"
        if "margin" in self.fields:
            text += "; a proof needs every margin above 0"
        return text


_current: Tracker | None = None


def current() -> Tracker | None:
    """The tracker of the run in progress in this process, if any."""
    return _current


@contextmanager
def tracking(limit: float | None) -> Iterator[Tracker]:
    """The current tracker if a run already has one (a nested call), else a new one for ``limit``
    seconds (None: no limit), current until the block ends."""
    global _current
    if _current is not None:
        yield _current
        return
    _current = Tracker(limit)
    try:
        yield _current
    finally:
        _current = None


def stage(name: str) -> None:
    """A new stage starts (its figures start empty)."""
    if _current is not None:
        _current.stage(name)


def note(**fields) -> None:
    """The current stage's latest figures (keys of :data:`FIELDS`)."""
    if _current is not None:
        _current.note(**fields)


def due() -> bool:
    """Whether a listener wants new figures (none noted for :data:`NOTE_EVERY` s): for figures that
    cost something to compute."""
    return _current is not None and _current.due()


class Printer:
    """Writes ``tracker.line()`` to ``stream`` every ``every`` seconds (none for shorter runs) while
    the ``with`` block runs. In a terminal each line overwrites the one before and the last is erased
    at the end, so the run's own output stays clean; elsewhere each is a line of its own."""

    def __init__(self, tracker: Tracker, stream: TextIO, every: float | None = None):
        self.tracker, self.stream = tracker, stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every = every if every is not None else (2.0 if self.tty else 5.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nnreach-progress", daemon=True)
        self._shown = False

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            line = self.tracker.line()
            self.stream.write(f"\r\033[K{line}" if self.tty else f"{line}\n")
            self.stream.flush()
            self._shown = True

    def __enter__(self) -> "Printer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self.tty and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
