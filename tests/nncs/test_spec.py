"""Violation messages name the first violation: the time a trajectory first leaves a safe set (and by how
much then), or first enters an avoid set, on a discrete loop ``x+ = x + 1`` whose times are known; and
nonlinear sets: verdicts on that loop, bounds that hold on sampled points, splits that decide."""

import numpy as np
import pytest

from nnreach.network.graph import Network
from nnreach.network.ops import Linear
from nnreach.nncs.loop import ClosedLoop
from nnreach.nncs.plant import Plant
from nnreach.nncs.expr import compile_strings
from nnreach.nncs.spec import Nonlinear, Polytope, Spec, Window
from nnreach.nncs.verdict import Problem, Verdict, verify
from nnreach.sets.box import Box
from nnreach.sets.zonotope import Zonotope

BEYOND = Polytope(np.array([[-1.0]]), np.array([-1.5]))   # x >= 1.5
BELOW = Polytope(np.array([[1.0]]), np.array([1.5]))      # x <= 1.5


def _count_up(spec: Spec) -> Problem:
    """``x+ = x + u`` with the constant control ``u = 1`` from x0 = 0: x = t at t = 0, 1, ..., 6."""
    net = Network.sequential((1,), [Linear(np.zeros((1, 1)), np.ones(1))])
    plant = Plant.linear(np.eye(1), np.eye(1), discrete=True)
    loop = ClosedLoop(plant, net, 1.0, np.eye(1), np.zeros(1), np.eye(1), np.zeros(1))
    return Problem(loop, Box(np.zeros(1), np.zeros(1)), 6, spec)


@pytest.mark.parametrize("spec, message", [
    (Spec(avoid=(Window(BEYOND),)), "enters an avoid set at t = 2 (by 0.5)"),
    (Spec(safe=(Window(BELOW),)), "leaves the safe set at t = 2 (by 0.5)"),
    (Spec(avoid=(Window(BEYOND, 3.0, 4.0),)), "enters an avoid set at t = 3 (by 1.5)"),
    # the earliest violation of all sets is reported, not the first set's
    (Spec(safe=(Window(Polytope(np.array([[1.0]]), np.array([4.5]))),), avoid=(Window(BEYOND),)),
     "enters an avoid set at t = 2 (by 0.5)"),
])
def test_violation_message_gives_the_first_violation(spec, message):
    out = verify(_count_up(spec))
    assert out.verdict == Verdict.VIOLATED
    assert out.counterexample.message == message


def test_unknown_reports_the_share_of_x0_proved():
    """From X0 = [0, 1] the state at t = 1 is x0 + 1, and x <= 2 - 1e-7 fails only above x0 = 1 - 1e-7
    (by less than a simulation counts): the boxes [0, 0.5] and [0.5, 0.75] are proved, then the five
    boxes allowed are used up."""
    pb = _count_up(Spec(safe=(Window(Polytope(np.array([[1.0]]), np.array([2.0 - 1e-7]))),)))
    pb = Problem(pb.loop, Box(np.zeros(1), np.ones(1)), 1, pb.spec, max_pieces=5)
    out = verify(pb)
    assert out.verdict == Verdict.UNKNOWN
    assert out.proved == pytest.approx(0.75)
    assert out.message.endswith("(after 5 boxes; 75% of X0 proved)")


def _nonlinear(texts, names=("x",)) -> Nonlinear:
    return Nonlinear(compile_strings(texts, list(names), {}, "test"), tuple(texts))


@pytest.mark.parametrize("spec, verdict, message", [
    (Spec(safe=(Window(_nonlinear(["x**2 - 40"])),)), Verdict.HOLDS, None),
    (Spec(safe=(Window(_nonlinear(["x**2 - 10"])),)), Verdict.VIOLATED, "leaves the safe set at t = 4 (by 6)"),
    (Spec(avoid=(Window(_nonlinear(["(x - 3)**2 - 0.01"])),)), Verdict.VIOLATED, "enters an avoid set at t = 3 (by 0.01)"),
    (Spec(avoid=(Window(_nonlinear(["(x - 3.5)**2 - 0.01"])),)), Verdict.HOLDS, None),
    (Spec(goal=_nonlinear(["sin(x) + 0.2"])), Verdict.HOLDS, None),          # sin(6) = -0.28
    (Spec(goal=_nonlinear(["sin(x) + 0.5"])), Verdict.VIOLATED, "misses the goal at t = 6"),
])
def test_nonlinear_sets_give_verdicts_and_first_violations(spec, verdict, message):
    out = verify(_count_up(spec))
    assert out.verdict == verdict
    if message is not None:
        assert out.counterexample.message == message


CURVES = ["sqrt(x**2 + y**2) - 1 - 0.3*sin(z)", "x*y - 0.2", "exp(z) - 2 + y**2"]


def test_nonlinear_bounds_hold_on_sampled_points_of_random_zonotopes():
    """Over random zonotopes: a zonotope said to be inside the set has no sampled point outside, one said
    to miss it no sampled point inside; each answer comes out both ways."""
    rng = np.random.default_rng(0)
    decided = {"inside": 0, "outside": 0, "disjoint": 0, "meets": 0}
    for k in range(120):
        poly = _nonlinear(CURVES[: 1 + k % 3], ("x", "y", "z"))
        Z = Zonotope(rng.uniform(-1.5, 1.5, 3), rng.normal(size=(3, 4)) * rng.uniform(0.01, 0.4))
        points = Z.center + rng.uniform(-1, 1, (4000, 4)) @ Z.generators.T
        points = np.vstack([points, Z.center + np.sign(rng.normal(size=(500, 4))) @ Z.generators.T])
        excess = poly.excess(points)
        bound, normal = poly.set_excess(Z)
        assert (bound > 0 or excess.max() <= 0) and normal.shape == (3,)
        decided["inside" if bound <= 0 else "outside"] += 1
        missed, _ = poly.disjoint(Z)
        if missed:
            assert np.all(excess > 0)
        decided["disjoint" if missed else "meets"] += 1
    assert min(decided.values()) > 5, decided


def test_nonlinear_sets_split_what_one_enclosure_leaves_open():
    """x*y <= 0.87 on a rotated square around (0.7, 0.7), where x*y reaches 0.8 at most: one enclosure
    over the whole zonotope gives 0.95, its halves decide it."""
    poly = _nonlinear(["x*y - 0.87"], ("x", "y"))
    Z = Zonotope(np.array([0.7, 0.7]), np.array([[0.2, 0.1], [-0.1, 0.2]]))
    e = np.random.default_rng(1).uniform(-1, 1, (20000, 2))
    assert poly.excess(Z.center + e @ Z.generators.T).max() < -0.06
    assert poly.bounds(Z)[1][0] > 0.07
    bound, _ = poly.set_excess(Z)
    assert bound <= 0
