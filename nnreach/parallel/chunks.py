"""Chunks of a region search: the unit of work handed to workers, and the driver that hands them out.

Workers search a chunk for ``SLICE`` seconds at most and return what they found: a confirmed
counterexample, or the regions left, with the search's counters. Between slices the driver gives
left-over regions to idle workers (the shallowest regions, whose subtrees are largest, go first).
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Callable

from ..network.graph import Network
from ..verify.deadline import Deadline, Timeout
from ..verify.problem import Problem
from ..verify.result import Counterexample, Status
from ..verify.settings import Settings
from ..verify.star_search import Region, RegionSearch

SLICE = 0.5
"""Seconds a worker searches a chunk before it hands back what is left."""
WARMUP = 0.3
"""Seconds the calling process searches alone before it starts workers (most searches end by then)."""


@dataclass(frozen=True, slots=True)
class SearchJob:
    """What every worker needs to search chunks of one property (sent once per worker)."""

    problem: Problem
    network: Network
    index: int
    settings: Settings


@dataclass(slots=True)
class ChunkResult:
    """What a worker returns for a chunk.

    Attributes:
        counterexample: a confirmed counterexample, or None.
        unconfirmed: a leaf met an unsafe polytope without a confirmed point.
        leftover: regions not searched yet (empty when the chunk is done).
        stats: the search's counters for this chunk.
        timeout: the overall time limit ran out during the chunk.
    """

    counterexample: Counterexample | None = None
    unconfirmed: bool = False
    leftover: list[Region] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    timeout: bool = False


def search_chunk(job: SearchJob, chunk: list[Region], seconds: float | None, slice_: float = SLICE) -> ChunkResult:
    """Search ``chunk`` for at most ``slice_`` seconds, within ``seconds`` left overall (None: no limit)."""
    stats: dict = {}
    search = RegionSearch(job.problem, job.network, job.index, job.settings, Deadline(seconds), stats)
    try:
        out = search.drain(list(chunk), until=time.monotonic() + slice_)
    except Timeout:
        return ChunkResult(stats=stats, timeout=True)
    if isinstance(out, Counterexample):
        return ChunkResult(counterexample=out, stats=stats)
    return ChunkResult(unconfirmed=search.unconfirmed, leftover=out, stats=stats)


def search_read_only_chunk(job: SearchJob, chunk: list[Region], seconds: float | None) -> ChunkResult:
    """:func:`search_chunk` on writable copies of regions that arrived read-only (from Ray's object
    store, which does not copy arrays; the search updates some in place)."""
    return search_chunk(job, [r.writable() for r in chunk], seconds)


def split(stack: list[Region], pieces: int) -> list[list[Region]]:
    """``stack`` in up to ``pieces`` contiguous chunks (each keeps depth-first order), bottom first."""
    pieces = max(1, min(pieces, len(stack)))
    size, extra = divmod(len(stack), pieces)
    out, start = [], 0
    for k in range(pieces):
        end = start + size + (k < extra)
        out.append(stack[start:end])
        start = end
    return out


def merge_stats(into: dict, more: dict) -> None:
    for k, v in more.items():
        if isinstance(v, (int, float)):
            into[k] = into.get(k, 0) + v


Submit = Callable[[list[Region], float | None], Future]
"""``submit(chunk, seconds_left)``: start searching a chunk on some worker; a future of a ChunkResult."""


def drive(stack: list[Region], submit: Submit, workers: int, deadline: Deadline, stats: dict) -> Counterexample | Status:
    """Search ``stack`` with ``workers`` workers reached through ``submit``; the first confirmed
    counterexample ends the search. Raises Timeout when the deadline passes."""
    queue = split(stack, 2 * workers)
    running: set[Future] = set()
    unconfirmed = False
    while queue or running:
        deadline.check()
        while queue and len(running) < workers:
            running.add(submit(queue.pop(), _left(deadline)))
        remaining = deadline.remaining()
        done, running = wait(running, timeout=None if remaining == float("inf") else max(remaining, 0) + 1.0,
                             return_when=FIRST_COMPLETED)
        for fut in done:
            res: ChunkResult = fut.result()
            merge_stats(stats, res.stats)
            if res.timeout:
                raise Timeout
            if res.counterexample is not None:
                for other in running:
                    other.cancel()
                return res.counterexample
            unconfirmed |= res.unconfirmed
            if res.leftover:
                idle = workers - len(running) - len(queue)
                queue.extend(split(res.leftover, max(1, idle)))
    return Status.UNKNOWN if unconfirmed else Status.HOLDS


def _left(deadline: Deadline) -> float | None:
    r = deadline.remaining()
    return None if r == float("inf") else max(r, 0.0)


def search_with_workers(problem: Problem, network: Network, index: int, settings: Settings, deadline: Deadline,
                        stats: dict, workers: Callable[[SearchJob], object],
                        warmup: float = WARMUP) -> Counterexample | Status:
    """The region search of property ``index``, alone for ``warmup`` seconds and then, if it is not
    done, shared out among the workers that ``workers(job)`` starts (a context manager with
    ``submit`` and ``workers``, e.g. a :class:`nnreach.parallel.pools.ForkedPool` of :func:`search_chunk`)."""
    search = RegionSearch(problem, network, index, settings, deadline, stats)
    stack = search.roots()
    if not isinstance(stack, list):
        return stack
    out = search.drain(stack, until=time.monotonic() + warmup)
    if isinstance(out, Counterexample):
        return out
    if out:
        with workers(SearchJob(problem, network, index, settings)) as pool:
            result = drive(out, pool.submit, pool.workers, deadline, stats)
        if isinstance(result, Counterexample) or not search.unconfirmed:
            return result
    return Status.UNKNOWN if search.unconfirmed else Status.HOLDS
