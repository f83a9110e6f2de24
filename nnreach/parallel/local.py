"""Worker processes on this machine (forked, one BLAS thread each): for region searches
(:class:`LocalWorkers`) and for independent calls that share read-only state (:func:`fork_map`)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Iterable, Iterator

from ..verify.star_search import Region
from .chunks import SearchJob, search_chunk

_JOB: SearchJob | None = None
_STATE: Any = None


def _start_worker(job: SearchJob) -> None:
    global _JOB
    _JOB = job
    _single_threaded()


def _start_mapper(state: Any) -> None:
    global _STATE
    _STATE = state
    _single_threaded()


def _single_threaded() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # the workers share the cores: no BLAS threads of their own
    from ..verify import check

    check.drop_sessions()  # onnxruntime sessions made before the fork are not to be used in a child


def _search(chunk: list[Region], seconds: float | None):
    return search_chunk(_JOB, chunk, seconds)


def _call(task: tuple[int, Callable, Any]) -> tuple[int, Any]:
    i, fn, item = task
    return i, fn(_STATE, item)


def fork_map(fn: Callable[[Any, Any], Any], state: Any, items: Iterable, workers: int) -> Iterator[tuple[int, Any]]:
    """``(i, fn(state, items[i]))`` in the order the calls finish, on ``workers`` forked processes
    that inherit ``state`` (not pickled); ``fn`` must be a module-level function, items and results
    picklable. An exception in a call is raised here; leaving the loop early kills the workers."""
    pool = multiprocessing.get_context("fork").Pool(workers, _start_mapper, (state,))
    try:
        yield from pool.imap_unordered(_call, [(i, fn, item) for i, item in enumerate(items)])
    finally:
        pool.terminate()


def available_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class LocalWorkers:
    """``workers`` forked processes searching chunks of one job; use as a context manager."""

    def __init__(self, job: SearchJob, workers: int):
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_start_worker, initargs=(job,))
        self.workers = workers

    def submit(self, chunk: list[Region], seconds: float | None) -> Future:
        return self._pool.submit(_search, chunk, seconds)

    def __enter__(self) -> LocalWorkers:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
