"""Pools of workers that share one state, sent to them once: in this process (:class:`InlinePool`), in
forked processes (:class:`ForkedPool`), or as Ray tasks (:class:`RayPool`). Also :func:`fork_map`
(independent calls on forked processes that share read-only state) and :func:`available_cores`.

A pool of ``fn`` and ``state`` runs ``fn(state, *args)`` for each ``submit(*args)`` and returns a
:class:`concurrent.futures.Future` of its result (an exception raised by ``fn`` is set on the future).
``fn`` must be a module-level function; arguments and results must be picklable. Each call runs with
one BLAS thread, as the workers share the cores (and for the small matrices of one call, more threads
only cost time).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
from abc import ABC, abstractmethod
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.connection import wait
from typing import Any, Callable, Iterable, Iterator

CANCEL_WAIT = 10.0
"""Seconds :meth:`RayPool.shutdown` waits for interrupted tasks to end before it kills their workers."""
_STATE: Any = None  # the state of a forked worker (set when the worker starts)
_HURRY: Any = None  # what a call of a pool asks whether it is hurried (an event of a ForkedPool, an _AskFlag of a RayPool)


def hurried() -> bool:
    """Whether the caller of this process's pool asks its running calls to return what they have
    (:meth:`Pool.hurry`); always False outside a call of a :class:`ForkedPool` or a :class:`RayPool`."""
    return _HURRY is not None and _HURRY.is_set()


def _start_worker(state: Any, hurry: Any = None) -> None:
    global _STATE, _HURRY
    _STATE, _HURRY = state, hurry
    # a Python SIGTERM handler inherited from the parent (Ray's driver installs sys.exit) runs in a worker
    # instead of ending it, and a worker blocked on the task queue then outlived Pool.terminate, whose
    # join waited for ever
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # the workers share the cores: no BLAS threads of their own
    from ..verify import check

    check.drop_sessions()  # onnxruntime sessions made before the fork are not to be used in a child


def _apply(fn: Callable, *args: Any) -> Any:
    return fn(_STATE, *args)


class Pool(ABC):
    """The interface of the pools; use one as a context manager. Leaving it cancels the calls not
    started; a pool that :attr:`hurries` hurries the running ones and waits for them to end (a
    call returns within a step of its work then, and no worker is left to take cores from what
    comes next, or to race the interpreter's exit), the others leave them to finish.

    Attributes:
        workers: how many calls the pool runs at once.
        hurries: whether :meth:`hurry` reaches running calls.
    """

    workers: int
    hurries: bool = False

    @abstractmethod
    def submit(self, *args: Any) -> Future:
        """Start ``fn(state, *args)``; a future of its result."""

    @abstractmethod
    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Take no more calls. With ``cancel_futures`` calls not started are cancelled; started calls
        run to their end (a :class:`RayPool` interrupts them), and with ``wait`` this returns once
        they have ended."""

    def hurry(self, on: bool = True) -> None:
        """Ask the running calls to return what they have as soon as they can (``on``), or no longer;
        a call sees it through :func:`hurried`. A :class:`ForkedPool` and a :class:`RayPool` pass
        it on; elsewhere this does nothing and calls run their course."""

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.hurry()
        self.shutdown(wait=self.hurries, cancel_futures=True)


class InlinePool(Pool):
    """Calls run in this process, one at a time, each done when :meth:`submit` returns."""

    def __init__(self, fn: Callable, state: Any):
        self._fn, self._state = fn, state
        self.workers = 1

    def submit(self, *args: Any) -> Future:
        from threadpoolctl import threadpool_limits

        fut: Future = Future()
        try:
            with threadpool_limits(1):
                fut.set_result(self._fn(self._state, *args))
        except Exception as e:  # noqa: BLE001 (handed over like a worker's exception, Timeout included)
            fut.set_exception(e)
        return fut

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass  # every call has ended already


class ForkedPool(Pool):
    """``workers`` forked processes that inherit ``state`` (not pickled) and an event through which
    :meth:`hurry` reaches them."""

    hurries = True

    def __init__(self, fn: Callable, state: Any, workers: int):
        ctx = multiprocessing.get_context("fork")
        self._fn = fn
        self._hurry = ctx.Event()
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                         initializer=_start_worker, initargs=(state, self._hurry))
        self.workers = workers

    def hurry(self, on: bool = True) -> None:
        if on:
            self._hurry.set()
        else:
            self._hurry.clear()

    def submit(self, *args: Any) -> Future:
        return self._pool.submit(_apply, self._fn, *args)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _run_task(fn: Callable, state: Any, hurry: Any, *args: Any) -> Any:
    global _HURRY
    from threadpoolctl import threadpool_limits

    _HURRY = hurry   # a Ray worker process runs one task at a time
    try:
        with threadpool_limits(1):  # the tasks share the cores: no BLAS threads of their own
            return fn(state, *args)
    finally:
        _HURRY = None


class _Flags:
    """The hurry flags of the :class:`RayPool` s of one process, by pool, as a Ray actor (no CPU of
    its own) that their tasks ask. One per process (:func:`_flags`): an actor is a worker process of
    its own, and starting one for each search cost more than the hand-overs it saved."""

    def __init__(self):
        self.on: set[int] = set()

    def set(self, pool: int, on: bool) -> None:
        if on:
            self.on.add(pool)
        else:
            self.on.discard(pool)

    def is_set(self, pool: int) -> bool:
        return pool in self.on


_POOLS = itertools.count()   # numbers the RayPools of this process
_FLAGS: tuple[str, Any] | None = None   # (Ray job, its _Flags actor) of this process (a new ray.init: a new job)


def _flags(ray: Any) -> Any:
    global _FLAGS
    job = ray.get_runtime_context().get_job_id()
    if _FLAGS is None or _FLAGS[0] != job:
        _FLAGS = job, ray.remote(num_cpus=0)(_Flags).remote()
    return _FLAGS[1]


class _AskFlag:
    """The hurry flag of one pool as its Ray tasks see it: :meth:`is_set` asks the :class:`_Flags`
    actor (a round trip of 1-2 ms; calls ask between steps of their work). A flag that is lost
    (its node died) counts as set."""

    def __init__(self, actor: Any, pool: int):
        self._actor, self._pool = actor, pool

    def is_set(self) -> bool:
        import ray

        try:
            return ray.get(self._actor.is_set.remote(self._pool))
        except ray.exceptions.RayActorError:
            return True


class RayPool(Pool):
    """Calls as Ray tasks, one CPU each, run again when their worker dies (see
    :mod:`nnreach.parallel.ray_tasks`, whose :func:`~nnreach.parallel.ray_tasks.connect` comes first).
    ``state`` is put in the object store once; ``workers`` is how many tasks the caller runs at once
    (the cluster's CPUs, say). Arrays in the arguments arrive read-only (Ray does not copy them).
    :meth:`hurry` reaches the tasks through the process's :class:`_Flags` actor."""

    hurries = True

    def __init__(self, fn: Callable, state: Any, workers: int):
        from .ray_tasks import RETRIES, _ray

        ray = _ray()
        self._ray, self._fn = ray, fn
        self._task = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)(_run_task)
        self._state = ray.put(state)
        self._flags, self._id = _flags(ray), next(_POOLS)
        self._refs: list = []
        self.workers = workers

    def hurry(self, on: bool = True) -> None:
        self._flags.set.remote(self._id, on)   # an actor takes one caller's calls in order

    def submit(self, *args: Any) -> Future:
        ref = self._task.remote(self._fn, self._state, _AskFlag(self._flags, self._id), *args)
        self._refs.append(ref)
        return ref.future()

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Ray does not tell queued tasks from running ones, and the pool has no workers of its own (the
        cluster's outlive it). With ``cancel_futures`` every task not done is cancelled (a task is a
        pure function of its arguments, so only its work is lost): with ``wait`` a running one is
        interrupted and this returns once every task has ended (or :data:`CANCEL_WAIT` seconds have
        passed, and the workers of those left are killed); without, its worker is killed and this
        returns at once. Without ``cancel_futures`` the tasks run to their end on the cluster."""
        if cancel_futures:
            for ref in self._refs:
                self._ray.cancel(ref, force=not wait)
            if wait and self._refs:   # a task deaf to the interruption is killed after a while
                _, deaf = self._ray.wait(self._refs, num_returns=len(self._refs), timeout=CANCEL_WAIT)
                for ref in deaf:
                    self._ray.cancel(ref, force=True)
            self._flags.set.remote(self._id, False)   # no task asks any more


def fork_map(fn: Callable[[Any, Any], Any], state: Any, items: Iterable, workers: int) -> Iterator[tuple[int, Any]]:
    """``(i, fn(state, items[i]))`` in the order the calls finish, on ``workers`` forked processes
    that inherit ``state`` (not pickled); ``fn`` must be a module-level function, items and results
    picklable. An exception in a call is raised here; leaving the loop early kills the workers.

    Each worker has a pipe of its own and is sent one item at a time, and only this generator reads
    the pipes: a worker killed while it was sending a large result leaves a partial message that
    nobody waits for (``multiprocessing.Pool.terminate`` hung for ever then, its result thread
    reading the rest of such a message)."""
    ctx = multiprocessing.get_context("fork")
    tasks = iter(enumerate(items))
    procs, conns, busy = [], [], {}
    try:
        for _ in range(max(1, workers)):
            task = next(tasks, None)
            if task is None:
                break
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(fn, state, theirs))
            proc.start()
            theirs.close()
            procs.append(proc)
            conns.append(ours)
            ours.send(task)
            busy[ours] = task[0]
        while busy:
            for conn in wait(list(busy)):
                try:
                    ok, value = conn.recv()
                except EOFError:
                    raise RuntimeError(f"a fork_map worker died while computing item {busy[conn]}") from None
                i = busy.pop(conn)
                if not ok:
                    raise value
                task = next(tasks, None)
                if task is not None:
                    conn.send(task)
                    busy[conn] = task[0]
                yield i, value
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.join()
            proc.close()
        for conn in conns:
            conn.close()


def _serve(fn: Callable, state: Any, conn) -> None:
    """A :func:`fork_map` worker: ``(i, item)`` in, ``(True, result)`` or ``(False, exception)`` out,
    until the pipe closes."""
    _start_worker(state)
    while True:
        try:
            i, item = conn.recv()
        except EOFError:
            return
        try:
            reply = (True, fn(_STATE, item))
        except Exception as e:  # noqa: BLE001 (raised again in the caller)
            reply = (False, e)
        try:
            conn.send(reply)
        except Exception as e:  # noqa: BLE001 (a result or exception that does not pickle)
            conn.send((False, RuntimeError(f"fork_map item {i}: {e}")))


def available_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
