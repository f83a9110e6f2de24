"""Differential checks on random problems with several input boxes and disjunctions of polytopes:
the complete methods agree with each other and with brute force (``tests/verify/oracle.py``), and no
incomplete method is contradicted by them. (``tests/verify/test_complete.py`` does the same for
single half-spaces.)"""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.sets import Box, HPolytope
from nnreach.verify.api import METHODS, verify
from nnreach.verify.problem import Problem, Property
from nnreach.verify.result import Status

from ..verify import oracle
from . import networks

SEED = 707
COMPLETE = ("exact-star", "bab", "milp")


def _polytope(rng, net, box: Box) -> HPolytope:
    """``{y : y_0 >= t_0, c . y <= t_1}``: ``t_0`` a little above or below the maximum of ``y_0``
    over the box, ``c`` random and ``t_1`` at a random quantile of ``c . y`` on samples."""
    top = oracle.maximum(net, box, np.array([1.0, 0.0]))
    bottom = -oracle.maximum(net, box, np.array([-1.0, 0.0]))
    t0 = top + rng.uniform(-0.15, 0.3) * max(top - bottom, 1e-3)
    c = rng.normal(size=2)
    t1 = np.quantile(net.forward(box.sample(500, rng)) @ c, rng.uniform(0.2, 0.9))
    return HPolytope(np.array([[-1.0, 0.0], c]), np.array([-t0, t1]))


def _problems(activation, count: int):
    rng = np.random.default_rng(SEED)
    for _ in range(count):
        n_in = int(rng.integers(2, 4))
        net = networks.dense(rng, activation, depth=2, width=3, n_in=n_in, n_out=2)
        props = []
        for _ in range(2):
            c = rng.normal(size=n_in)
            box = Box(c - rng.uniform(0.3, 1.0, n_in), c + rng.uniform(0.3, 1.0, n_in))
            props.append(Property(box, tuple(_polytope(rng, net, box) for _ in range(2))))
        yield net, tuple(props)


@pytest.mark.parametrize("activation", networks.PIECEWISE[:2], ids=lambda a: a.describe())
def test_methods_agree_on_disjunctions_over_several_boxes(activation):
    verdicts = set()
    for net, props in _problems(activation, 8):
        truth = any(oracle.violated(net, p) for p in props)
        verdicts.add(truth)
        problem = Problem(net, props)
        for method in METHODS:
            r = verify(problem, method, timeout=60)
            if method in COMPLETE:
                assert r.status is (Status.VIOLATED if truth else Status.HOLDS), (method, r.status, truth)
            else:
                assert r.status is not (Status.HOLDS if truth else Status.VIOLATED), (method, r.status, truth)
            if r.status is Status.VIOLATED:
                ce = r.counterexample
                prop = props[ce.property_index]
                assert prop.input_box.contains(ce.x, tol=0.0)
                assert prop.is_unsafe(net.forward(ce.x[None]), tol=1e-9)[0]
    assert verdicts == {True, False}, "the problems should have both verdicts"
