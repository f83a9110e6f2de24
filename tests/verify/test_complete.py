"""Complete methods against brute force, and every method against the complete ones, on tiny random
networks with properties whose verdicts go both ways."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.errors import UnsupportedError
from nnreach.network import ops
from nnreach.reach import reach
from nnreach.sets import Box
from nnreach.verify import exact_star as exact_star_module
from nnreach.verify.api import METHODS, verify
from nnreach.verify.deadline import Deadline
from nnreach.verify.problem import Problem, halfspace_property
from nnreach.verify.result import Counterexample, Status
from nnreach.verify.settings import Settings

from ..soundness import networks
from . import oracle

SEED = 11
COMPLETE = ("exact-star", "bab", "milp")
INCOMPLETE = ("interval", "zono", "deeppoly", "approx-star", "falsify", "auto", "conformal")


def _threshold(rng, top: float, spread: float) -> float:
    """Above or below ``top`` (alternating at random) by 2% to 30% of ``spread``: never a tie."""
    return top + rng.choice([-1.0, 1.0]) * rng.uniform(0.02, 0.3) * max(spread, 1e-3)


def _instances(activation, count: int, seed: int = SEED):
    """Random chains with 2-3 inputs and unsafe sets ``y_0 >= t``, ``t`` near the exact maximum."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n_in = int(rng.integers(2, 4))
        net = networks.dense(rng, activation, depth=2, width=3, n_in=n_in, n_out=2)
        c = rng.normal(size=n_in)
        box = Box(c - 1, c + 1)
        top, bottom = oracle.maximum(net, box, np.array([1.0, 0.0])), -oracle.maximum(net, box, np.array([-1.0, 0.0]))
        yield net, halfspace_property(box, [[-1.0, 0.0]], [-_threshold(rng, top, top - bottom)])


@pytest.mark.parametrize("activation", networks.PIECEWISE, ids=lambda a: a.describe())
def test_complete_methods_agree_with_brute_force(activation):
    seen = set()
    for net, prop in _instances(activation, 12):
        truth = oracle.violated(net, prop)
        seen.add(truth)
        problem = Problem(net, (prop,))
        for method in COMPLETE:
            r = verify(problem, method, timeout=60)
            assert r.status is (Status.VIOLATED if truth else Status.HOLDS), (method, r.status, truth)
    assert seen == {True, False}, "the instances should have both verdicts"


@pytest.mark.parametrize("activation", networks.PIECEWISE, ids=lambda a: a.describe())
def test_generic_walk_agrees_with_brute_force(activation):
    """The star walk used for DAGs and convolutions, run on chains so the oracle applies."""
    for net, prop in _instances(activation, 8, seed=SEED + 1):
        truth = oracle.violated(net, prop)
        out = exact_star_module.search(Problem(net, (prop,)), net, 0, Settings(), Deadline(60), {})
        assert isinstance(out, Counterexample) == truth and (truth or out is Status.HOLDS)


@pytest.mark.parametrize("activation", networks.PIECEWISE, ids=lambda a: a.describe())
def test_incomplete_methods_never_contradict_brute_force(activation):
    for net, prop in _instances(activation, 10, seed=SEED + 2):
        truth = oracle.violated(net, prop)
        problem = Problem(net, (prop,))
        for method in INCOMPLETE:
            r = verify(problem, method, timeout=60)
            assert r.status is not (Status.HOLDS if truth else Status.VIOLATED), (method, r.status, truth)


def test_complete_methods_agree_on_a_residual_network():
    """No brute force for DAGs: the exact output set (exact-star reach) gives the maximum, and both
    complete methods for DAGs (milp takes chains only) must decide thresholds on either side of it."""
    rng = np.random.default_rng(SEED)
    verdicts = set()
    for _ in range(6):
        net = networks.residual(rng, ops.Relu())
        c = rng.normal(size=3)
        box = Box(c - 1, c + 1)
        stars = reach(net, box, "exact-star")
        top = max(s.support(np.array([1.0, 0.0])) for s in stars)
        bottom = min(-s.support(np.array([-1.0, 0.0])) for s in stars)
        t = _threshold(rng, top, top - bottom)
        problem = Problem(net, (halfspace_property(box, [[-1.0, 0.0]], [-t]),))
        expected = Status.VIOLATED if t < top else Status.HOLDS
        for method in ("exact-star", "bab"):
            assert verify(problem, method, timeout=60).status is expected, method
        verdicts.add(expected)
    assert verdicts == {Status.HOLDS, Status.VIOLATED}


def test_every_method_is_registered_with_a_test():
    assert set(METHODS) == set(COMPLETE) | set(INCOMPLETE)


@pytest.mark.parametrize("activation", [ops.Sigmoid(), ops.Tanh()], ids=lambda a: a.describe())
def test_no_method_proves_a_sampled_violation(activation):
    """Smooth activations (no brute force): a threshold below a sampled output is violated, so no
    method may say holds, and one above every bound may never be called violated."""
    rng = np.random.default_rng(SEED)
    for _ in range(6):
        net = networks.dense(rng, activation, depth=2, width=4, n_in=3, n_out=2)
        c = rng.normal(size=3)
        box = Box(c - 1, c + 1)
        y = net.forward(rng.uniform(box.lo, box.hi, size=(2000, 3)))[:, 0]
        hi = reach(net, box, "interval").bounds()[1][0]
        for t, forbidden in ((y.max() - 0.01, Status.HOLDS), (hi + 0.01, Status.VIOLATED)):
            problem = Problem(net, (halfspace_property(box, [[-1.0, 0.0]], [-t]),))
            unsupported = set()
            for method in METHODS:
                try:
                    assert verify(problem, method, timeout=60).status is not forbidden, (method, t)
                except UnsupportedError:
                    unsupported.add(method)
            assert unsupported <= {"approx-star", "exact-star", "milp"}  # piecewise-linear methods
