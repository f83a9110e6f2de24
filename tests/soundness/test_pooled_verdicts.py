"""``deeppoly`` and ``bab`` on small convolutional networks with max pooling (every pooling of
``networks.POOLS``, after and before the ReLU): no ``holds`` for a property that a sampled input violates,
no ``violated`` without a counterexample in the box that is unsafe, and enough of both verdicts to check."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.network import ops
from nnreach.sets import Box, HPolytope
from nnreach.verify.api import verify
from nnreach.verify.problem import Problem, Property
from nnreach.verify.result import Status

from . import networks

SEED = 4242
SIDE = 4          # 16 input dimensions: bab splits the input box
SAMPLES = 3000
TIMEOUT = 5
LEVELS = (-0.4, 0.02, 0.3, 1.5)  # thresholds above the sampled maximum, in units of the sampled range


def _problems(pool: ops.MaxPool2d):
    """Properties ``y_0 >= t`` (unsafe) with ``t`` around the sampled maximum of ``y_0`` on random boxes;
    yields the network, the property and whether a sample violates it."""
    rng = np.random.default_rng(SEED)
    for pool_first in (False, True):
        net = networks.pooled(rng, ops.Relu(), pool, side=SIDE, pool_first=pool_first)
        for radius in (0.05, 0.3):
            c = rng.normal(size=net.input_size)
            box = Box(c - radius, c + radius)
            x = np.vstack([box.sample(SAMPLES, rng), np.where(rng.uniform(size=(SAMPLES, box.dim)) < 0.5, box.lo, box.hi)])
            y0 = net.forward(x)[:, 0]
            for level in LEVELS:
                t = y0.max() + level * (y0.max() - y0.min())
                unsafe = HPolytope(np.array([[-1.0, 0.0, 0.0]]), np.array([-t]))
                yield net, Property(box, (unsafe,)), bool(np.any(y0 >= t))


@pytest.mark.parametrize("pool", networks.POOLS, ids=networks.pool_id)
def test_no_method_contradicts_a_sampled_counterexample(pool):
    proved = violated = 0
    for net, prop, sampled_unsafe in _problems(pool):
        violated += sampled_unsafe
        for method in ("deeppoly", "bab"):
            r = verify(Problem(net, (prop,)), method, timeout=TIMEOUT)
            if sampled_unsafe:
                assert r.status is not Status.HOLDS, f"{method} proves a property a sample violates"
            if r.status is Status.VIOLATED:
                assert prop.input_box.contains(r.counterexample.x, tol=0.0)
                assert prop.is_unsafe(net.forward(r.counterexample.x[None]), tol=1e-9)[0]
            proved += r.status is Status.HOLDS
    assert violated and proved, f"{violated} sampled violations, {proved} proofs: too few to test"
