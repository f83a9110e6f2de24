"""The mixed-integer encoding (``milp``): its pieces, its constraints on real executions, and its
verdicts against brute force on networks with more inputs than the other brute-force tests."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.bounds.linear import InputDomain, intermediate_bounds
from nnreach.network import ops
from nnreach.sets import Box
from nnreach.verify.api import verify
from nnreach.verify.milp import encode, relu_terms
from nnreach.verify.problem import Problem, halfspace_property, robustness_property
from nnreach.verify.settings import Settings
from nnreach.verify.result import Status

from ..soundness import networks
from . import oracle

PIECEWISE = networks.PIECEWISE


@pytest.mark.parametrize("op", PIECEWISE, ids=lambda a: a.describe())
def test_relu_terms_are_the_activation(op):
    z = np.linspace(-3, 3, 2001)
    m, c, terms = relu_terms(op)
    np.testing.assert_allclose(m * z + c + sum(w * np.maximum(z - b, 0) for w, b in terms), op.forward(z), atol=1e-12)




@pytest.mark.parametrize("op", PIECEWISE, ids=lambda a: a.describe())
def test_executions_satisfy_the_encoding(op):
    """For sampled inputs, the true neuron values (with binaries set by the sign of each term) meet
    every constraint, and the encoded output equals the network's."""
    rng = np.random.default_rng(5)
    for _ in range(4):
        net = networks.dense(rng, op, depth=2, width=6, n_in=4, n_out=3)
        box = Box(-np.ones(4), np.ones(4))
        bounds = intermediate_bounds(net, InputDomain(box.lo[None], box.hi[None]))
        enc = encode(net, box, bounds)
        m_terms = relu_terms(op)[2]
        for x in rng.uniform(box.lo, box.hi, size=(50, 4)):
            values, z = [x], x
            for node in net.nodes:
                if isinstance(node.op, ops.Linear):
                    z = node.op.forward(z[None])[0]
                elif isinstance(node.op, ops.Activation):
                    l, u = (b[0] for b in bounds[node.inputs[0]])
                    for _, b in m_terms:
                        for j in np.flatnonzero((l < b) & (u > b)):
                            values += [np.array([max(z[j] - b, 0.0), float(z[j] > b)])]
                    z = node.op.forward(z[None])[0]
            v = np.concatenate(values)
            assert v.size == enc.lo.size
            assert np.all(enc.rows @ v <= enc.rhs + 1e-9 * (1 + np.abs(enc.rhs)))
            assert np.all(v >= enc.lo - 1e-9) and np.all(v <= enc.hi + 1e-9)
            np.testing.assert_allclose(enc.E @ v + enc.e, net.forward(x[None])[0], atol=1e-9)


@pytest.mark.parametrize("op", PIECEWISE, ids=lambda a: a.describe())
def test_milp_agrees_with_brute_force_on_wider_inputs(op):
    """Ten inputs and 2 x 3 neurons: thresholds a little above and below the exact maximum."""
    rng = np.random.default_rng(23)
    seen = set()
    for _ in range(6):
        net = networks.dense(rng, op, depth=2, width=3, n_in=10, n_out=2)
        c = rng.normal(size=10)
        box = Box(c - 0.5, c + 0.5)
        top = oracle.maximum(net, box, np.array([1.0, 0.0]))
        t = top + rng.choice([-1.0, 1.0]) * rng.uniform(0.02, 0.2) * (1 + abs(top))
        problem = Problem(net, (halfspace_property(box, [[-1.0, 0.0]], [-t]),))
        expected = Status.VIOLATED if t < top else Status.HOLDS
        seen.add(expected)
        assert verify(problem, "milp", timeout=60).status is expected
    assert seen == {Status.HOLDS, Status.VIOLATED}


def test_two_processes_give_the_serial_verdicts():
    """Tightening and the programs of several polytopes on forked workers decide as one process does."""
    rng = np.random.default_rng(29)
    for _ in range(3):
        net = networks.dense(rng, ops.Relu(), depth=2, width=12, n_in=10, n_out=4)
        box = Box(-np.ones(10), np.ones(10))
        y = net.forward(box.sample(2000, rng))
        label = int(np.argmax(np.bincount(np.argmax(y, axis=1), minlength=4)))
        problem = Problem(net, (robustness_property(box, label, 4),))
        serial = verify(problem, "milp", timeout=60, settings=Settings(jobs=1))
        parallel = verify(problem, "milp", timeout=60, settings=Settings(jobs=2))
        assert serial.status is parallel.status and serial.status is not Status.UNKNOWN
