"""Dense-grid checks of every 1-D relaxation: both lines bound the activation on the whole interval;
sampled checks of the max pooling relaxation on boxes."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.bounds.relaxations import LOWER_SLOPES, line_family, max_pool_exact, relax, relax_max_pool
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


POOLS = [ops.MaxPool2d((2, 2), (2, 2)), ops.MaxPool2d((3, 3), (1, 1), (1, 1, 1, 1)),
         ops.MaxPool2d((2, 3), (2, 1), (1, 0, 0, 2), dilation=(1, 2))]
POOL_SHAPE = (2, 5, 6)


def _pool_boxes(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (B, n) of many widths, including points and boxes where entries dominate their windows."""
    c = np.concatenate([rng.normal(size=(6, n)), rng.permutation(n)[None] * 1.0, rng.normal(size=(3, n)) * 10])
    r = np.concatenate([np.abs(rng.normal(scale=s, size=(3, n))) for s in (0.05, 1.0, 3.0)] + [np.zeros((1, n))])
    return c - r, c + r


@pytest.mark.parametrize("pool", POOLS, ids=lambda p: p.describe())
def test_max_pool_lines_bound_the_maximum_at_sampled_points(pool):
    """Both lines bound each window's maximum at corners and uniform points of the box; the upper line
    is never above the largest upper bound, and both equal the maximum where one entry dominates."""
    rng = np.random.default_rng(SEED)
    n = int(np.prod(POOL_SHAPE))
    l, u = _pool_boxes(rng, n)
    r = relax_max_pool(ops.pool_windows(pool, POOL_SHAPE), l, u)
    lines = r.lines
    top = pool.forward(u.reshape(-1, *POOL_SHAPE)).reshape(len(u), -1)
    exact = max_pool_exact(ops.pool_windows(pool, POOL_SHAPE), l, u)
    assert exact.any() and not exact.all()
    for b in range(len(l)):
        x = np.vstack([np.where(rng.uniform(size=(200, n)) < 0.5, l[b], u[b]), rng.uniform(l[b], u[b], (200, n))])
        y = pool.forward(x.reshape(-1, *POOL_SHAPE)).reshape(len(x), -1)
        below = lines.lo_slope[b] * x[:, r.lo_index[b]] + lines.lo_bias[b]
        above = lines.hi_slope[b] * x[:, r.hi_index[b]] + lines.hi_bias[b]
        assert np.all(below <= y), f"lower line above the maximum by {np.max(below - y)}"
        assert np.all(above >= y), f"upper line below the maximum by {np.max(y - above)}"
        assert np.all(above <= top[b] + 1e-12 * (1 + np.abs(top[b])))
        np.testing.assert_allclose(below[:, exact[b]], y[:, exact[b]], atol=1e-12)
        np.testing.assert_allclose(above[:, exact[b]], y[:, exact[b]], atol=1e-12)
    assert np.all(lines.hi_slope >= 0) and np.all(lines.hi_slope <= 1 + 1e-12)


def test_max_pool_exactness_and_the_chord():
    """One window of three entries: exact when the entry with the largest lower bound reaches every
    other's upper bound; else the upper line is the chord of ``max(x_k, m)`` over the widest entry."""
    win = np.array([[0, 1, 2]])
    l, u = np.array([[2.0, 0.0, -1.0], [0.0, -1.0, -3.0]]), np.array([[3.0, 2.0, 1.0], [4.0, 2.0, -2.0]])
    assert max_pool_exact(win, l, u).tolist() == [[True], [False]]
    r = relax_max_pool(win, l, u)
    assert r.lo_index.tolist() == [[0], [0]] and r.hi_index.tolist() == [[0], [0]]
    assert np.allclose(r.lines.hi_slope[:, 0], [1.0, 0.5]) and np.allclose(r.lines.hi_bias[:, 0], [0.0, 2.0])


@pytest.mark.parametrize("op", ACTIVATIONS, ids=lambda a: a.describe())
def test_every_line_of_a_family_bounds_the_activation_on_a_dense_grid(op):
    """alpha-CROWN may pick any parameter in [0, 1]: every such line must bound f on the interval."""
    rng = np.random.default_rng(SEED)
    l, u = _intervals(rng)
    fam = line_family(op, l[None], u[None])
    t = np.linspace(0.0, 1.0, 401)[:, None]
    x = l + t * (u - l)
    y = op.forward(x)
    for alpha in (0.0, 0.5, 1.0, rng.uniform(size=l.size)):
        a = np.broadcast_to(alpha, l.shape)[None, None].astype(float)
        lo_s, lo_b, hi_s, hi_b = (v[0, 0] for v in fam.evaluate(a, a)[0])
        assert np.all(lo_s * x + lo_b <= y), f"lower line above f by {np.max(lo_s * x + lo_b - y)}"
        assert np.all(hi_s * x + hi_b >= y), f"upper line below f by {np.max(y - hi_s * x - hi_b)}"
    variable = fam.lo.mask | fam.hi.mask
    assert variable.any() or isinstance(op, ops.LeakyRelu) and op.alpha == 1.0


@pytest.mark.parametrize("op", ACTIVATIONS, ids=lambda a: a.describe())
def test_the_family_starts_at_the_default_relaxation_where_it_contains_it(op):
    rng = np.random.default_rng(SEED)
    l, u = _intervals(rng)
    fam = line_family(op, l[None], u[None])
    lo_s, lo_b, hi_s, hi_b = (v[0, 0] for v in fam.evaluate(fam.lo.init[:, None], fam.hi.init[:, None])[0])
    base = relax(op, l, u)
    if isinstance(op, (ops.Relu, ops.LeakyRelu)):   # ReLU-shaped: the default lower line is in the family
        assert np.allclose(lo_s, base.lo_slope) and np.allclose(hi_s, base.hi_slope)
    if isinstance(op, (ops.Sigmoid, ops.Tanh)):     # S-shaped: both default lines are in the family
        assert np.allclose(lo_s, base.lo_slope) and np.allclose(lo_b, base.lo_bias)
        assert np.allclose(hi_s, base.hi_slope) and np.allclose(hi_b, base.hi_bias)


@pytest.mark.parametrize("op", [ops.Sigmoid(), ops.Tanh()], ids=lambda a: a.describe())
def test_across_zero_each_default_s_line_meets_f_at_the_far_end(op):
    """Across 0 the lower line is the tangent through (u, f(u)) or the chord, the upper one the tangent
    through (l, f(l)) or the chord: both meet f at the far end of the interval (lines through the near
    end, as parallel lines through the end points are, leave a gap there)."""
    rng = np.random.default_rng(SEED)
    l, u = _intervals(rng)
    cross = (l < 0) & (u > 0)
    l, u = l[cross], u[cross]
    r = relax(op, l, u)
    scale = 1e-9 * (1 + np.abs(l) + np.abs(u))
    assert np.allclose(r.lo_slope * u + r.lo_bias, op.forward(u), rtol=0, atol=scale.max())
    assert np.allclose(r.hi_slope * l + r.hi_bias, op.forward(l), rtol=0, atol=scale.max())
