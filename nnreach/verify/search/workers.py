"""Sharing one search among worker processes or Ray tasks.

A search's stack is cut into *chunks* (lists of stack entries). A worker searches a chunk for a
slice of time at most (:func:`search_chunk`) and returns what it found: a confirmed counterexample,
or the entries it has left, with its counters. The driver (:func:`drive`) hands chunks to idle
workers and splits the entries that come back among them (the shallowest, whose subtrees are
largest, go first), so no worker waits while another has work. A chunk searched again from the
start gives the same outcome, which is what makes retries of lost Ray tasks safe.

Every hand-over sends the entries, with their bounds and optimised parameters, both ways (tens of
megabytes for a thousand domains of a 4x256 net), so slices are long where the pool can *hurry*
its calls (:meth:`nnreach.parallel.pools.Pool.hurry`: forked processes and Ray tasks): a worker
then returns early only when another is idle with nothing queued.

The pools are those of :mod:`nnreach.parallel.pools`: forked processes for ``Settings.jobs > 1``,
Ray tasks for ``Settings.ray``.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Callable

import numpy as np

from ...network.graph import Network
from ...sets.polytope import HPolytope
from ..deadline import Deadline, Timeout
from ..problem import Problem
from ..result import Counterexample, Status
from ..settings import Settings
from .domain import Bounded, Counters, Domains, Target, note_progress, summary

if TYPE_CHECKING:
    from ...parallel.pools import Pool
    from .driver import Config, Stack

SLICE = 0.5
"""Seconds a worker searches a chunk before it hands back what is left, where it cannot be hurried."""
LONG_SLICE = 5.0
"""The same where the driver can hurry it (it also bounds how stale the driver's counters get)."""
WARMUP = 0.3
"""Seconds the calling process searches alone before it starts workers (most searches end by then)."""
CACHED = ("root_bounds", "min_width", "chain")
"""What a worker takes over from the search's cache (computed at the root, which workers never see)."""


@dataclass(frozen=True, slots=True)
class Job:
    """What every worker needs to search chunks of one search (sent once per worker)."""

    problem: Problem
    index: int
    polys: tuple[HPolytope, ...]
    net: Network
    settings: Settings
    config: "Config"
    cache: dict

    @classmethod
    def of(cls, target: Target, config: "Config") -> "Job":
        return cls(target.problem, target.index, target.polys, target.net, target.settings, config,
                   {k: v for k, v in target.cache.items() if k in CACHED})


@dataclass(slots=True)
class ChunkResult:
    """What a worker returns for a chunk.

    Attributes:
        counterexample: a confirmed counterexample, or None.
        unknown: a leaf was left undecided.
        leftover: stack entries not searched yet (empty when the chunk is done).
        counters: the search's counters for this chunk.
        timeout: the overall time limit ran out during the chunk.
    """

    counterexample: Counterexample | None = None
    unknown: bool = False
    leftover: list = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)
    timeout: bool = False


def search_chunk(job: Job, chunk: "Stack", seconds: float | None, slice_: float = SLICE) -> ChunkResult:
    """Search ``chunk`` for at most ``slice_`` seconds, within ``seconds`` left overall (None: no
    limit), or until the pool is hurried (after one batch at least, so that a chunk handed back and
    forth still gets searched)."""
    from ...parallel.pools import hurried
    from .driver import drain

    target = Target(job.problem, job.index, job.polys, job.net, job.settings, Deadline(seconds), Counters(),
                    cache=dict(job.cache))
    stack = [_writable(entry) for entry in chunk]
    try:
        end = time.monotonic() + slice_
        ce = drain(target, job.config, stack, stop=lambda: time.monotonic() > end or hurried())
    except Timeout:
        return ChunkResult(counters=target.counters, timeout=True)
    return ChunkResult(ce, target.unknown, [] if ce is not None else stack, target.counters)


def _writable(entry: tuple[Domains, Bounded | None]) -> tuple[Domains, Bounded | None]:
    """An entry whose arrays may be written (arrays from Ray's object store arrive read-only)."""
    doms, bd = entry
    copy = lambda obj: replace(obj, **{f.name: np.array(v) for f in fields(obj)
                                       if isinstance(v := getattr(obj, f.name), np.ndarray) and not v.flags.writeable})
    return copy(doms), None if bd is None else copy(bd)


def split(stack: list, pieces: int) -> list[list]:
    """``stack`` in up to ``pieces`` contiguous chunks (each keeps depth-first order), bottom first."""
    pieces = max(1, min(pieces, len(stack)))
    size, extra = divmod(len(stack), pieces)
    out, start = [], 0
    for k in range(pieces):
        end = start + size + (k < extra)
        out.append(stack[start:end])
        start = end
    return out


def divide(stack: list, pieces: int) -> list[list]:
    """:func:`split` of ``stack``, whose largest entries are first cut in two (their domains, in
    order) while it has fewer entries than ``pieces``: a narrow search still keeps every worker busy."""
    stack = list(stack)
    while len(stack) < pieces:
        k = max(range(len(stack)), key=lambda i: stack[i][0].size, default=None)
        if k is None or stack[k][0].size < 2:
            break
        doms, bd = stack[k]
        halves = np.array_split(np.arange(doms.size), 2)
        stack[k:k + 1] = [(doms.take(h), None if bd is None else bd.take(h)) for h in halves]
    return split(stack, pieces)


def drive(stack: list, pool: "Pool", target: Target) -> Counterexample | Status:
    """Search ``stack`` on the workers of ``pool`` (of :func:`search_chunk` on the search's
    :class:`Job`); the first confirmed counterexample ends the search. While a worker is idle with
    nothing queued, the pool is hurried. Counters go into ``target.counters``, an undecided leaf into
    ``target.unknown``. Raises Timeout when the deadline passes."""
    deadline, workers = target.deadline, pool.workers
    slice_ = LONG_SLICE if pool.hurries else SLICE
    queue = divide(stack, 2 * workers)
    running: dict[Future, tuple[int, float]] = {}     # the calls, with what their chunks held
    while queue or running:
        deadline.check()
        if queue:
            pool.hurry(False)
        while queue and len(running) < workers:
            chunk = queue.pop()
            running[pool.submit(chunk, _left(deadline), slice_)] = summary(chunk)
        note_progress((entry for chunk in queue for entry in chunk), target.counters, running.values(),
                      workers=f"{len(running)}/{workers}")
        pool.hurry(len(running) < workers)
        remaining = deadline.remaining()
        done, _ = wait(running, timeout=None if remaining == float("inf") else max(remaining, 0) + 1.0,
                       return_when=FIRST_COMPLETED)
        for fut in done:
            del running[fut]
        for fut in done:
            res: ChunkResult = fut.result()
            target.counters.merge(res.counters)
            if res.timeout:
                raise Timeout
            if res.counterexample is not None:
                for other in running:
                    other.cancel()
                return res.counterexample
            target.unknown |= res.unknown
            if res.leftover:
                idle = workers - len(running) - len(queue)
                queue.extend(divide(res.leftover, max(1, idle)))
    return Status.UNKNOWN if target.unknown else Status.HOLDS


def _left(deadline: Deadline) -> float | None:
    r = deadline.remaining()
    return None if r == float("inf") else max(r, 0.0)


def pool_factory(settings: Settings) -> Callable[[Job], object] | None:
    """How a search gets its workers: a Ray pool over the cluster at ``settings.ray``, forked processes
    for ``settings.jobs > 1``, else None (the search runs in this process)."""
    from ...parallel.pools import ForkedPool, RayPool

    if settings.ray is not None:
        from ...parallel.ray_tasks import connect

        cpus = connect(settings.ray)
        return lambda job: RayPool(search_chunk, job, cpus)
    if settings.jobs > 1:
        return lambda job: ForkedPool(search_chunk, job, settings.jobs)
    return None
