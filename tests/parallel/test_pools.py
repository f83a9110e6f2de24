"""Pools run calls on their state; searches shared among worker processes give the verdicts of the
serial search."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nnreach.network import ops
from nnreach.network.simplify import simplify
from nnreach.parallel.pools import ForkedPool, InlinePool, Pool, fork_map, hurried
from nnreach.verify.deadline import Deadline
from nnreach.verify.exact_star import REGIONS
from nnreach.verify.problem import Problem
from nnreach.verify.result import Counterexample, Status
from nnreach.verify.search import Target, search
from nnreach.verify.search.driver import root
from nnreach.verify.search.domain import Domains
from nnreach.verify.search.workers import Job, divide, drive, search_chunk, split
from nnreach.verify.settings import Settings

from ..verify import oracle
from ..verify.test_complete import _instances


def scaled(state: int, x: int) -> tuple[int, int, int]:
    """``state * x``, the process and its most BLAS threads; raises ValueError when ``x < 0``."""
    from threadpoolctl import threadpool_info

    if x < 0:
        raise ValueError(x)
    return state * x, os.getpid(), max((i["num_threads"] for i in threadpool_info()), default=1)


def assert_pool_runs_calls_on_its_state(pool) -> set[int]:
    """``pool`` is of :func:`scaled` with state 3; returns the processes that ran the calls."""
    with pool as p:
        futures = [p.submit(x) for x in range(4)]
        bad = p.submit(-1)
        results = [f.result() for f in futures]
        with pytest.raises(ValueError):
            bad.result()
    assert [r[0] for r in results] == [0, 3, 6, 9] and all(r[2] == 1 for r in results)
    return {r[1] for r in results}


def test_an_inline_pool_runs_calls_here_on_one_blas_thread():
    assert assert_pool_runs_calls_on_its_state(InlinePool(scaled, 3)) == {os.getpid()}


def test_a_forked_pool_runs_calls_in_its_workers_on_one_blas_thread():
    assert os.getpid() not in assert_pool_runs_calls_on_its_state(ForkedPool(scaled, 3, 2))


def waits_to_be_hurried(state: None, limit: float) -> float | None:
    """Seconds until this call saw its pool hurried, or None after ``limit`` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if hurried():
            return time.monotonic() - start
        time.sleep(0.005)
    return None


def test_hurrying_a_forked_pool_reaches_its_running_calls_until_it_is_called_off():
    with ForkedPool(waits_to_be_hurried, None, 2) as pool:
        calls = [pool.submit(60.0) for _ in range(2)]
        time.sleep(0.3)
        pool.hurry()
        assert all(c.result(timeout=20) is not None for c in calls)
        pool.hurry(False)
        assert pool.submit(0.2).result(timeout=20) is None
        left = pool.submit(60.0)
        time.sleep(0.3)                          # started: not cancelled on leaving
    assert left.result(timeout=20) is not None   # leaving the pool hurried the call left running
    assert not hurried()                         # the caller itself is never hurried


def test_split_keeps_every_region_in_order():
    stack = list(range(10))
    parts = split(stack, 3)
    assert [len(p) for p in parts] == [4, 3, 3] and sum(parts, []) == stack
    assert split([1], 4) == [[1]]


def test_divide_cuts_the_largest_entries_in_order_until_every_worker_has_a_chunk():
    entry = lambda first, n: (Domains(np.arange(first, first + n, dtype=float)[:, None], np.zeros((n, 1)),
                                      {"z": (np.zeros((n, 2)), np.ones((n, 2)))}, np.zeros((n, 1))), None)
    chunks = divide([entry(0, 1), entry(1, 5)], 4)            # 5 domains: 3 + 2, then the 3: 2 + 1
    assert [[d.lo[:, 0].tolist() for d, _ in chunk] for chunk in chunks] == [[[0]], [[1, 2]], [[3]], [[4, 5]]]
    assert len(divide([entry(0, 1)], 3)) == 1                 # one domain cannot be cut


class _Threads(Pool):
    """Workers as threads of this process (the driver's logic without processes)."""

    def __init__(self, job: Job, workers: int):
        self.job, self.workers = job, workers
        self._pool = ThreadPoolExecutor(workers)

    def submit(self, chunk, seconds, slice_):
        return self._pool.submit(search_chunk, self.job, chunk, seconds, 0.01)  # tiny slices: many hand-overs

    def shutdown(self, wait=True, cancel_futures=False):
        self._pool.shutdown(wait, cancel_futures=cancel_futures)


def assert_shared_search_agrees_with_brute_force(workers, count: int) -> None:
    """``count`` small random instances searched by ``workers(job, 2)`` from the start (no warm-up)."""
    for net, prop in _instances(ops.Relu(), count, seed=21):
        net = simplify(net)
        problem = Problem(net, (prop,))
        truth = oracle.violated(net, prop)
        target = Target(problem, 0, prop.unsafe, net, Settings(), Deadline(60))
        out = search(target, REGIONS, lambda job: workers(job, 2), warmup=0.0)
        assert isinstance(out, Counterexample) == truth and (truth or out is Status.HOLDS)


def _forked(job: Job, workers: int) -> ForkedPool:
    return ForkedPool(search_chunk, job, workers)


@pytest.mark.parametrize("workers", [_Threads, _forked], ids=["threads", "processes"])
def test_shared_search_agrees_with_brute_force(workers):
    assert_shared_search_agrees_with_brute_force(workers, 8)


def test_the_driver_hands_left_over_regions_to_idle_workers(benchmarks, monkeypatch):
    """A real instance cut into slices of 10 ms: many chunks come back and are split again. The
    progress figures count the workers busy and the domains out with them."""
    from nnreach import progress

    notes: list[dict] = []
    monkeypatch.setattr(progress, "due", lambda: True)
    monkeypatch.setattr(progress, "note", lambda **fields: notes.append(fields))
    from nnreach.io import load_model
    from nnreach.io.vnnlib import read_vnnlib

    folder = benchmarks / "acasxu"
    model = folder / "ACASXU_run2a_1_1_batch_2000.onnx"
    net = simplify(load_model(model))
    problem = Problem(net, tuple(read_vnnlib(folder / "prop_1.vnnlib")), str(model))
    target = Target(problem, 0, problem.properties[0].unsafe, net, Settings(), Deadline(60))
    stack = root(target)
    with _Threads(Job.of(target, REGIONS), 2) as pool:
        assert drive(stack, pool, target) is Status.HOLDS
    assert target.counters.domains > 0 and target.counters.closed > 0
    driver = [n for n in notes if "workers" in n]                        # not those of the searches in threads
    assert any(n["workers"] == "2/2" for n in driver)
    assert all(n["open"] > 0 for n in driver if n["workers"] != "0/2")   # work out with a worker is open


LEAVE_EARLY = """
import signal
import time

import numpy as np

from nnreach.parallel.pools import fork_map

signal.signal(signal.SIGTERM, lambda signum, frame: None)   # a parent's handler that returns


def slow(state, item):
    time.sleep(0.2)
    return item


def large(state, item):
    return np.ones(200_000)                                  # 1.6 MB: sent in many writes


for i, (k, v) in enumerate(fork_map(slow, None, range(20), 2)):
    break                                                    # leaves early: the workers are killed
for _ in range(100):                                         # leaves while the other worker is sending
    for k, v in fork_map(large, None, range(50), 2):
        break
print("done")
"""


def test_leaving_a_fork_map_early_ends_its_workers():
    """Whatever SIGTERM handler the parent has, and while a worker is in the middle of sending a large
    result (``multiprocessing.Pool.terminate`` waited for ever on the rest of such a message, and on a
    worker that kept a handler which returns)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", LEAVE_EARLY], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr


def _fails_on_three(state, item):
    if item == 3:
        raise ValueError("three")
    return state + item


def test_fork_map_returns_every_result_and_raises_a_call_s_exception():
    assert sorted(fork_map(_fails_on_three, 10, [0, 1, 2], 2)) == [(0, 10), (1, 11), (2, 12)]
    assert list(fork_map(_fails_on_three, 10, [], 2)) == []
    with pytest.raises(ValueError, match="three"):
        list(fork_map(_fails_on_three, 10, range(6), 2))
