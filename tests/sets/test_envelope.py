"""Affine envelopes: support and bounds against the exact star, samples inside, bad shapes rejected."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.sets import AffineEnvelope


def _envelope(rng, n: int = 3, m: int = 4) -> AffineEnvelope:
    lo = rng.normal(size=m)
    hi = lo + rng.uniform(0.2, 2.0, m)
    A = rng.normal(size=(n, m))
    b = rng.normal(size=n)
    gap = rng.normal(size=(n, m)) * 0.3
    # lower = A x + b - |gap| |x| - 1 stays below upper = A x + b + 1 on the box: shift the lower by gap's worst case
    worst = np.abs(gap) @ np.maximum(np.abs(lo), np.abs(hi))
    return AffineEnvelope(lo, hi, A + gap, b - worst - 1.0, A, b + 0.5)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_support_bounds_and_samples_match_the_exact_star(seed):
    rng = np.random.default_rng(seed)
    E = _envelope(rng)
    S = E.to_star()
    for d in rng.normal(size=(6, E.dim)):
        assert E.support(d) == pytest.approx(S.support(d), abs=1e-7)
    np.testing.assert_allclose(np.vstack(E.bounds()), np.vstack(S.bounds()), atol=1e-7)
    pts = E.sample(40, rng)
    assert pts.shape == (40, E.dim)
    assert all(E.contains(p, tol=1e-7) for p in pts)
    lo, hi = E.bounds()
    np.testing.assert_allclose(pts.max(axis=0), hi, atol=1e-9)   # the axis directions come first
    np.testing.assert_allclose(pts.min(axis=0), lo, atol=1e-9)
    assert not E.contains(hi + 1e-3)
    W, b = rng.normal(size=(2, E.dim)), rng.normal(size=2)
    u = rng.normal(size=2)
    assert E.affine_map(W, b).support(u) == pytest.approx(E.support(W.T @ u) + u @ b, abs=1e-7)


def test_crossing_functions_and_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="exceeds the upper"):
        AffineEnvelope([0.0], [1.0], [[1.0]], [0.0], [[-1.0]], [0.5])    # x > 0.5 - x for x > 0.25
    with pytest.raises(ValueError, match="do not fit"):
        AffineEnvelope([0.0, 0.0], [1.0, 1.0], [[1.0]], [0.0], [[1.0]], [0.0])
    with pytest.raises(TypeError, match="to_star"):
        AffineEnvelope([0.0], [1.0], [[1.0]], [0.0], [[1.0]], [0.0]).intersect_halfspace(np.ones(1), 0.0)
