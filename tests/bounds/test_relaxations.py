"""Dense-grid checks of every 1-D relaxation: both lines bound the activation on the whole interval."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.bounds.relaxations import LOWER_SLOPES, relax
from nnreach.network import ops

SEED = 20261201
ACTIVATIONS = [ops.Relu(), ops.LeakyRelu(0.1), ops.LeakyRelu(1.0), ops.Clip(0.0, 1.0), ops.Clip(-1.0, 1.0),
               ops.Clip(-0.5, 2.0), ops.Sigmoid(), ops.Tanh()]


def _intervals(rng) -> tuple[np.ndarray, np.ndarray]:
    """Random intervals of many scales and positions, plus degenerate and breakpoint-touching ones."""
    c = np.concatenate([rng.normal(scale=s, size=300) for s in (0.1, 1.0, 5.0, 30.0)])
    r = np.abs(np.concatenate([rng.normal(scale=s, size=300) for s in (0.1, 1.0, 5.0, 30.0)]))
    l, u = c - r, c + r
    special_l = np.array([0.0, -1.0, 0.0, -2.0, 1.0, 0.5, -1e-12, 3.0, -3.0])
    special_u = np.array([0.0, 0.0, 1.0, 2.0, 1.0, 0.5, 1e-12, 3.0, 5.0])
    return np.concatenate([l, special_l]), np.concatenate([u, special_u])


@pytest.mark.parametrize("lower", LOWER_SLOPES)
@pytest.mark.parametrize("op", ACTIVATIONS, ids=lambda a: a.describe())
def test_relaxation_bounds_the_activation_on_a_dense_grid(op, lower):
    rng = np.random.default_rng(SEED)
    l, u = _intervals(rng)
    r = relax(op, l, u, lower)
    t = np.linspace(0.0, 1.0, 401)[:, None]
    x = l + t * (u - l)                       # (401, n): dense grid of every interval, ends included
    y = op.forward(x)
    below = r.lo_slope * x + r.lo_bias
    above = r.hi_slope * x + r.hi_bias
    assert np.all(below <= y), f"lower line above f by {np.max(below - y)}"
    assert np.all(above >= y), f"upper line below f by {np.max(y - above)}"
    assert np.all(r.lo_slope >= 0) and np.all(r.hi_slope >= 0), "monotone activations get slopes >= 0"


@pytest.mark.parametrize("op", [ops.Relu(), ops.LeakyRelu(0.1), ops.Clip(0.0, 1.0)], ids=lambda a: a.describe())
def test_piecewise_linear_relaxation_is_exact_on_one_piece(op):
    """On an interval inside one linear piece both lines are the piece itself (up to the rounding widening)."""
    l = np.array([1.5, -3.0, 0.2])
    u = np.array([2.5, -2.0, 0.8])
    keep = [i for i in range(3) if not isinstance(op, ops.Clip) or i == 2]
    l, u = l[keep], u[keep]
    r = relax(op, l, u)
    x = np.linspace(l, u, 50)
    assert np.allclose(r.lo_slope * x + r.lo_bias, op.forward(x), atol=1e-12)
    assert np.allclose(r.hi_slope * x + r.hi_bias, op.forward(x), atol=1e-12)


def test_the_upper_relu_line_is_the_chord():
    r = relax(ops.Relu(), np.array([-1.0]), np.array([3.0]))
    assert np.isclose(r.hi_slope[0], 0.75) and np.isclose(r.hi_bias[0], 0.75)
