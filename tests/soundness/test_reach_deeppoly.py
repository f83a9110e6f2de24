"""Sampling soundness of the ``deeppoly`` reach method on random networks: every output of a sampled
input lies between the envelope's lower and upper functions at that input and inside its bounds."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.network import ops
from nnreach.reach import reach
from nnreach.sets import AffineEnvelope, Box

from . import networks

SEED = 5
TOL = 1e-9


@pytest.mark.parametrize("activation", [ops.Relu(), ops.Sigmoid(), ops.Tanh(), ops.LeakyRelu(0.2)],
                         ids=lambda a: a.describe())
def test_outputs_lie_between_the_linear_bounds_at_their_input(activation):
    rng = np.random.default_rng(SEED)
    for _ in range(4):
        net = networks.dense(rng, activation, depth=3, width=10, n_in=4)
        c, r = rng.normal(size=4), rng.uniform(0.1, 1.5, size=4)
        box = Box(c - r, c + r)
        env = reach(net, box, "deeppoly")
        assert isinstance(env, AffineEnvelope) and env.dim == net.output_size
        x = np.vstack([box.sample(200, rng), rng.uniform(box.lo, box.hi, size=(300, 4))])
        y = net.forward(x)
        low, up = env.at(x)
        scale = TOL * (1 + np.abs(y))
        assert np.all(y >= low - scale), f"below the lower bound by {np.max(low - y)}"
        assert np.all(y <= up + scale), f"above the upper bound by {np.max(y - up)}"
        lo, hi = env.bounds()
        assert np.all(y >= lo - scale) and np.all(y <= hi + scale)
        # the set is not vacuous: its bounds are no looser than the interval method's by much
        ilo, ihi = reach(net, box, "interval").bounds()
        assert np.all(hi - lo <= (ihi - ilo) * 1.5 + 1e-9)


def test_convolutional_and_residual_networks():
    rng = np.random.default_rng(SEED)
    for net in (networks.convolutional(rng, ops.Relu()), networks.residual(rng, ops.Tanh())):
        box = Box(-np.full(net.input_size, 0.3), np.full(net.input_size, 0.3))
        env = reach(net, box, "deeppoly")
        x = box.sample(300, rng)
        y = net.forward(x.reshape(-1, *net.input_shape)).reshape(len(x), -1)
        low, up = env.at(x)
        assert np.all(y >= low - 1e-9) and np.all(y <= up + 1e-9)
