"""Closed loops with linear plants: the sets at sample times are the exact images on small examples."""

import numpy as np
import pytest
from scipy.linalg import expm

from nnreach.network.graph import Network
from nnreach.network.ops import Linear, Relu
from nnreach.nncs.loop import ClosedLoop, ReachOptions, reach
from nnreach.nncs.plant import Plant
from nnreach.nncs.simulation import simulate
from nnreach.sets.box import Box
from nnreach.sets.zonotope import Zonotope

from .containment import directions, worst_escape


def _controller(K: np.ndarray) -> Network:
    """``y = K x`` through a ReLU layer that is active on the whole region used (``relu(K x + 50) - 50``)."""
    m, n = K.shape
    return Network.sequential((n,), [Linear(K, np.full(m, 50.0)), Relu(), Linear(np.eye(m), np.full(m, -50.0))])


def _loop(discrete: bool) -> tuple[ClosedLoop, np.ndarray, np.ndarray]:
    A = np.array([[1.0, 0.1], [0.0, 1.0]]) if discrete else np.array([[0.0, 1.0], [-1.0, -0.2]])
    B = np.array([[0.0], [0.1]]) if discrete else np.array([[0.0], [1.0]])
    K = np.array([[-1.0, -1.5]])
    plant = Plant.linear(A, B, discrete=discrete)
    return ClosedLoop(plant, _controller(K), 0.2, np.eye(2), np.zeros(2), np.eye(1), np.zeros(1)), A, B @ K


@pytest.mark.parametrize("discrete", [True, False], ids=["discrete", "continuous"])
def test_sample_sets_are_the_exact_image(discrete):
    loop, A, BK = _loop(discrete)
    X0 = Box(np.array([0.5, -0.2]), np.array([1.0, 0.3]))
    steps = 15
    pipe = reach(loop, X0, steps, ReachOptions(substeps=4))
    assert pipe.failure is None and len(pipe.samples) == steps + 1
    if discrete:
        M = A + BK
    else:  # x(T) = [I 0] expm([[A, B K], [0, 0]] T) [x; x]
        aug = np.zeros((4, 4))
        aug[:2, :2], aug[:2, 2:] = A, BK
        E = expm(aug * loop.period)
        M = E[:2, :2] + E[:2, 2:]
    exact = Zonotope.from_box(X0)
    rng = np.random.default_rng(0)
    for k in range(steps + 1):
        Z = pipe.samples[k]
        scale = 1 + np.abs(exact.center).max()
        for d in directions(2, rng, 20):
            assert Z.support(d) >= exact.support(d) - 1e-12 * scale
            assert Z.support(d) <= exact.support(d) + 1e-7 * scale
        exact = exact.affine_map(M)


def test_continuous_flowpipe_contains_trajectories_between_samples():
    loop, _, _ = _loop(False)
    X0 = Box(np.array([0.5, -0.2]), np.array([1.0, 0.3]))
    pipe = reach(loop, X0, 10, ReachOptions(substeps=3))
    rng = np.random.default_rng(1)
    tr = simulate(loop, X0.lo + rng.uniform(size=(100, 2)) * (X0.hi - X0.lo), 10, points=30)
    assert worst_escape(pipe, tr, rng) <= 1e-9
    interval_sets = [fs for fs in pipe.sets if fs.t1 > fs.t0]
    assert len(interval_sets) == 30 and interval_sets[-1].t1 == pytest.approx(2.0)


def test_control_set_shares_the_state_generators():
    loop, _, _ = _loop(True)
    X = Zonotope(np.array([0.2, 0.1]), np.array([[0.1, 0.0], [0.0, 0.2]]))
    U = loop.control_set(X)
    K = np.array([[-1.0, -1.5]])
    np.testing.assert_allclose(U.generators[:, :2], K @ X.generators, atol=1e-9)
