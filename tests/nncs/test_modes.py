"""Mode-switching controllers: the network's largest output selects the mode, the mode the plant input.
The flowpipe follows every mode a set may select, and every simulated trajectory (whatever its mode
sequence) lies in the union of the flowpipe's sets of its time."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.network.graph import Network
from nnreach.network.ops import Linear, Relu
from nnreach.nncs.loop import ClosedLoop, Modes, reach
from nnreach.nncs.plant import Plant
from nnreach.nncs.simulation import simulate
from nnreach.nncs.spec import Polytope, Spec, Window
from nnreach.nncs.verdict import Problem, Verdict, verify
from nnreach.sets.box import Box
from nnreach.sets.zonotope import Zonotope

TOL = 1e-9


def _sign_controller(rng=None) -> Network:
    """Two scores of the state ``(x, v)``: ``relu(x + v) - relu(-x - v)`` and its negation, so the
    mode is 0 where ``x + v >= 0`` and 1 elsewhere (2 inputs, 2 outputs)."""
    W1 = np.array([[1.0, 1.0], [-1.0, -1.0]])
    W2 = np.array([[1.0, -1.0], [-1.0, 1.0]])
    return Network.sequential((2,), [Linear(W1, np.zeros(2)), Relu(), Linear(W2, np.zeros(2))])


def _loops() -> dict[str, ClosedLoop]:
    """A bang-bang controller on a double integrator (push back towards x + v = 0), in discrete time
    and in continuous time with a nonlinear plant whose dynamics each mode selects by a one-hot input."""
    net = _sign_controller()
    discrete = Plant.linear(np.array([[1.0, 0.2], [0.0, 1.0]]), np.array([[0.0], [0.2]]), discrete=True)
    continuous = Plant.from_strings(["x", "v"], ["a", "b"], ["v", "a*(-1 - 0.1*sin(x)) + b*(1 + 0.1*x**2)"])
    return {"discrete": ClosedLoop(discrete, net, 1.0, np.eye(2), np.zeros(2), np.zeros((1, 2)), np.zeros(1),
                                   Modes(np.array([[-1.0], [1.0]]))),
            "continuous": ClosedLoop(continuous, net, 0.2, np.eye(2), np.zeros(2), np.zeros((2, 2)), np.zeros(2),
                                     Modes(np.array([[1.0, 0.0], [0.0, 1.0]])))}


def test_possible_modes_are_those_some_score_point_selects():
    modes = Modes(np.zeros((3, 1)))
    assert modes.possible(Zonotope(np.array([1.0, 0.0, 0.5]), np.zeros((3, 0)))) == [0]
    assert modes.possible(Zonotope(np.array([1.0, 0.0, 0.9]), np.array([[0.0], [0.0], [0.2]]))) == [0, 2]
    assert modes.possible(Zonotope(np.array([0.0, 0.0, 0.0]), np.array([[1.0], [1.0], [1.0]]))) == [0, 1, 2]


def test_the_simulation_follows_the_largest_score():
    loop = _loops()["discrete"]
    u = loop.control(np.array([[1.0, 0.5], [-1.0, 0.2], [0.3, -0.3]]))
    assert u.ravel().tolist() == [-1.0, 1.0, -1.0]      # a tie (x + v = 0) takes the first mode


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_every_simulated_mode_sequence_lies_in_the_flowpipe(kind):
    loop = _loops()[kind]
    X0 = Box(np.array([-0.3, -0.2]), np.array([0.3, 0.2]))
    steps = 6
    pipe = reach(loop, X0, steps)
    assert pipe.failure is None
    rng = np.random.default_rng(0)
    x0 = np.vstack([rng.uniform(X0.lo, X0.hi, (300, 2)), [X0.lo, X0.hi, [0.3, -0.2], [-0.3, 0.2], [0.2, -0.2]]])
    traj = simulate(loop, x0, steps)
    modes = np.array([loop.controller.forward(traj.states[:, k]).argmax(axis=1) for k in range(traj.states.shape[1])])
    assert len({tuple(col) for col in modes.T}) >= 3, "the sample should take several mode sequences"
    for k, t in enumerate(traj.times):
        sets = [fs.set for fs in pipe.sets if fs.t0 - TOL <= t <= fs.t1 + TOL]
        assert sets
        for x in traj.states[:, k]:
            assert any(_inside(Z, x) for Z in sets), f"the state {x} at t = {t} is in no set of its time"


def _inside(Z: Zonotope, x: np.ndarray) -> bool:
    """Whether ``x`` is in Z: its bounding box first, then exact LP membership (relative tolerance)."""
    tol = 1e-9 * (1 + np.abs(Z.center).max())
    lo, hi = Z.bounds()
    return bool(np.all(x >= lo - tol) and np.all(x <= hi + tol)) and Z.contains(x, tol=tol)


def test_verdicts_with_modes():
    """The bang-bang loop keeps |x| below 0.6 from X0 (holds); it does not keep |x| below 0.3 (a
    trajectory from a corner of X0 leaves at once: violated)."""
    loop = _loops()["discrete"]
    X0 = Box(np.array([-0.3, -0.2]), np.array([0.3, 0.2]))
    wide = Spec(safe=(Window(Polytope(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([0.6, 0.6]))),))
    narrow = Spec(safe=(Window(Polytope(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([0.3, 0.3]))),))
    assert verify(Problem(loop, X0, 6, wide)).verdict == Verdict.HOLDS
    assert verify(Problem(loop, X0, 6, narrow)).verdict == Verdict.VIOLATED


def _switching() -> ClosedLoop:
    """The discrete bang-bang loop where the mode also picks the next network: after mode 0 (push
    down) the scores look at ``x + v``, after mode 1 at ``x + v - 0.1`` (a network with other biases),
    so the mode sequence depends on the networks in turn."""
    shifted = Network.sequential((2,), [Linear(np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([-0.1, 0.1])), Relu(),
                                        Linear(np.array([[1.0, -1.0], [-1.0, 1.0]]), np.zeros(2))])
    plain = _sign_controller()
    plant = Plant.linear(np.array([[1.0, 0.2], [0.0, 1.0]]), np.array([[0.0], [0.2]]), discrete=True)
    return ClosedLoop(plant, shifted, 1.0, np.eye(2), np.zeros(2), np.zeros((1, 2)), np.zeros(1),
                      Modes(np.array([[-1.0], [1.0]]), (plain, shifted), initial=1))


def test_a_network_per_mode_is_followed_by_simulations_and_the_flowpipe():
    loop = _switching()
    x = np.array([[0.05, 0.0], [0.05, 0.0]])
    # before any period: the initial mode's network (shifted): 0.05 - 0.1 < 0 gives mode 1; after
    # mode 0 the plain network gives mode 0 for the same state
    assert loop.decide(x[:1])[1].tolist() == [1]
    assert loop.decide(x, np.array([0, 1]))[1].tolist() == [0, 1]
    X0 = Box(np.array([-0.3, -0.2]), np.array([0.3, 0.2]))
    pipe = reach(loop, X0, 6)
    assert pipe.failure is None
    rng = np.random.default_rng(1)
    traj = simulate(loop, np.vstack([rng.uniform(X0.lo, X0.hi, (300, 2)), X0.lo, X0.hi]), 6)
    for k, t in enumerate(traj.times):
        sets = [fs.set for fs in pipe.sets if fs.t0 - TOL <= t <= fs.t1 + TOL]
        for x in traj.states[:, k]:
            assert any(_inside(Z, x) for Z in sets), f"the state {x} at t = {t} is in no set of its time"


def test_networks_per_mode_must_fit_the_modes():
    from nnreach.errors import InputError

    loop = _switching()
    with pytest.raises(InputError, match="expected 2 networks"):
        ClosedLoop(loop.plant, loop.controller, 1.0, np.eye(2), np.zeros(2), np.zeros((1, 2)), np.zeros(1),
                   Modes(loop.modes.inputs, (loop.controller,)))
    with pytest.raises(InputError, match="initial mode"):
        ClosedLoop(loop.plant, loop.controller, 1.0, np.eye(2), np.zeros(2), np.zeros((1, 2)), np.zeros(1),
                   Modes(loop.modes.inputs, initial=2))

