"""Violation messages name the first violation: the time a trajectory first leaves a safe set (and by how
much then), or first enters an avoid set, on a discrete loop ``x+ = x + 1`` whose times are known."""

import numpy as np
import pytest

from nnreach.network.graph import Network
from nnreach.network.ops import Linear
from nnreach.nncs.loop import ClosedLoop
from nnreach.nncs.plant import Plant
from nnreach.nncs.spec import Polytope, Spec, Window
from nnreach.nncs.verdict import Problem, Verdict, verify
from nnreach.sets.box import Box

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
