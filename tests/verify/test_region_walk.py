"""region_walk: linear regions of chain networks, and the walk over them towards an unsafe polytope."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.network import Network, ops
from nnreach.sets import Box, HPolytope
from nnreach.verify.problem import Problem, Property
from nnreach.verify.region_walk import linear_region, walk


@pytest.mark.parametrize("act", [ops.Relu(), ops.LeakyRelu(0.1), ops.Clip(-0.5, 0.5)], ids=lambda a: type(a).__name__)
def test_a_linear_region_holds_its_point_and_the_network_is_affine_on_it(act):
    rng = np.random.default_rng(1)
    net = Network.sequential((4,), [ops.Linear(rng.normal(size=(12, 4)), rng.normal(size=12)), act,
                                    ops.Linear(rng.normal(size=(9, 12)), rng.normal(size=9)), act,
                                    ops.Linear(rng.normal(size=(3, 9)), rng.normal(size=3))])
    for x in rng.uniform(-1, 1, size=(20, 4)):
        rows, rhs, M, q = linear_region(net, x)
        assert np.all(rows @ x <= rhs + 1e-9)
        assert np.allclose(M @ x + q, net.forward(x[None])[0])
        # points nearby that stay in the region are mapped affinely too; the others leave it
        near = x + np.logspace(-5, 0, 200)[:, None] * rng.normal(size=(200, 4))
        inside = np.all(near @ rows.T <= rhs + 1e-12, axis=1)
        assert inside.any() and not inside.all()
        assert np.allclose(near[inside] @ M.T + q, net.forward(near[inside]))


def _valley(x_star: np.ndarray, slack: float, k: int = 24):
    """y = sum_j relu(a_j . (x - x_star) - slack_j), convex with minimum 0 on a small polytope around
    x_star; its hyperplanes do not meet at one point, so a walk crosses several regions."""
    rng = np.random.default_rng(2)
    angles = np.linspace(0, 2 * np.pi, k, endpoint=False)
    a = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    s = slack * rng.uniform(0.5, 1.5, size=k)
    return Network.sequential((2,), [ops.Linear(a, -(a @ x_star) - s), ops.Relu(),
                                     ops.Linear(np.ones((1, k)), np.zeros(1))])


def test_a_walk_crosses_regions_down_to_a_small_unsafe_set():
    x_star = np.array([-0.3, 0.4])
    net = _valley(x_star, 0.01)
    box = Box(np.full(2, -1.0), np.ones(2))
    poly = HPolytope(np.ones((1, 1)), np.zeros(1))        # unsafe: y <= 0, only near x_star
    problem = Problem(net, (Property(box, (poly,)),))
    assert net.forward(np.array([[1.0, -1.0]]))[0, 0] > 1   # the start is far from it
    stats: dict = {}
    ce = walk(problem, 0, poly, np.array([1.0, -1.0]), stats)
    assert ce is not None and np.linalg.norm(ce.x - x_star) < 0.05
    assert ce.y[0] <= 0
    assert stats["walk_lps"] >= 2


def test_a_walk_finds_nothing_where_the_polytope_is_out_of_reach():
    net = _valley(np.array([0.2, 0.1]), 0.01)
    box = Box(np.full(2, -1.0), np.ones(2))
    poly = HPolytope(np.ones((1, 1)), np.array([-0.1]))   # y <= -0.1: y is never negative
    problem = Problem(net, (Property(box, (poly,)),))
    stats: dict = {}
    assert walk(problem, 0, poly, np.array([-1.0, 1.0]), stats) is None
    assert stats["walk_lps"] >= 2
