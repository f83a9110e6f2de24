"""Region searches shared among worker processes give the verdicts of the serial search."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nnreach.network import ops
from nnreach.network.simplify import simplify
from nnreach.parallel.chunks import SearchJob, drive, search_chunk, search_with_workers, split
from nnreach.parallel.local import LocalWorkers
from nnreach.verify.deadline import Deadline
from nnreach.verify.problem import Problem
from nnreach.verify.result import Counterexample, Status
from nnreach.verify.settings import Settings
from nnreach.verify.star_search import RegionSearch

from ..verify import oracle
from ..verify.test_complete import _instances


def test_split_keeps_every_region_in_order():
    stack = list(range(10))
    parts = split(stack, 3)
    assert [len(p) for p in parts] == [4, 3, 3] and sum(parts, []) == stack
    assert split([1], 4) == [[1]]


class _Threads:
    """Workers as threads of this process (the driver's logic without processes)."""

    def __init__(self, job: SearchJob, workers: int):
        self.job, self.workers = job, workers
        self._pool = ThreadPoolExecutor(workers)

    def submit(self, chunk, seconds):
        return self._pool.submit(search_chunk, self.job, chunk, seconds, 0.01)  # tiny slices: many hand-overs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._pool.shutdown()


def assert_shared_search_agrees_with_brute_force(workers, count: int) -> None:
    """``count`` small random instances searched by ``workers(job, 2)`` from the start (no warm-up)."""
    for net, prop in _instances(ops.Relu(), count, seed=21):
        net = simplify(net)
        problem = Problem(net, (prop,))
        truth = oracle.violated(net, prop)
        out = search_with_workers(problem, net, 0, Settings(), Deadline(60), {},
                                  lambda job: workers(job, 2), warmup=0.0)
        assert isinstance(out, Counterexample) == truth and (truth or out is Status.HOLDS)


@pytest.mark.parametrize("workers", [_Threads, LocalWorkers], ids=["threads", "processes"])
def test_shared_search_agrees_with_brute_force(workers):
    assert_shared_search_agrees_with_brute_force(workers, 8)


def test_the_driver_hands_left_over_regions_to_idle_workers(benchmarks):
    """A real instance cut into slices of 10 ms: many chunks come back and are split again."""
    from nnreach.io import load_model
    from nnreach.io.vnnlib import read_vnnlib

    folder = benchmarks / "acasxu"
    model = folder / "ACASXU_run2a_1_1_batch_2000.onnx"
    net = simplify(load_model(model))
    problem = Problem(net, tuple(read_vnnlib(folder / "prop_1.vnnlib")), str(model))
    stats: dict = {}
    stack = RegionSearch(problem, net, 0, Settings(), Deadline(60), stats).roots()
    with _Threads(SearchJob(problem, net, 0, Settings()), 2) as pool:
        assert drive(stack, pool.submit, 2, Deadline(60), stats) is Status.HOLDS
    assert stats["bounded"] > 0 and stats["pruned"] > 0
