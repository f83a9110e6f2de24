"""``nnreach.reach(..., timeout=)``: the computation stops at the deadline with what it reached."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nnreach.network import ops
from nnreach.reach import ReachTimeout, reach
from nnreach.sets import Box, Star

from .soundness import networks


@pytest.mark.parametrize("method", ["exact-star", "approx-star"])
def test_reach_stops_at_its_time_limit(method):
    rng = np.random.default_rng(0)
    net = networks.dense(rng, ops.Relu(), depth=4, width=60, n_in=5)
    box = Box(-np.ones(5), np.ones(5))
    start = time.perf_counter()
    with pytest.raises(ReachTimeout) as info:
        reach(net, box, method, timeout=0.3)
    assert time.perf_counter() - start < 0.3 + 1.5     # the cooperative check, or the signal's slack
    assert info.value.reached.startswith("node ")
    if method == "exact-star":   # the stars done before the limit are kept (part of the union)
        assert all(isinstance(s, Star) for s in info.value.sets)
    else:
        assert info.value.sets == []


def test_a_generous_time_limit_changes_nothing():
    rng = np.random.default_rng(1)
    net = networks.dense(rng, ops.Tanh(), depth=2, width=5, n_in=3)
    box = Box(-np.ones(3), np.ones(3))
    for method in ("zono", "deeppoly"):
        a, b = reach(net, box, method), reach(net, box, method, timeout=60)
        np.testing.assert_array_equal(np.vstack(a.bounds()), np.vstack(b.bounds()))
