"""Pictures of sets: the drawn outline contains the set (so every sample is inside what is drawn)."""

from __future__ import annotations

import numpy as np

from nnreach.plot import outline
from nnreach.sets import Box, Star, Zonotope

SEED = 3


def _inside(vertices: np.ndarray, pts: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Which points lie in the convex polygon with counter-clockwise ``vertices``."""
    edge = np.roll(vertices, -1, axis=0) - vertices                       # (k, 2)
    rel = pts[:, None, :] - vertices[None]                                # (n, k, 2)
    cross = edge[None, :, 0] * rel[..., 1] - edge[None, :, 1] * rel[..., 0]
    return np.all(cross >= -tol * (1 + np.abs(pts).max()), axis=1)


def test_the_outline_of_a_box_is_its_rectangle():
    v = outline(Box([0.0, -1.0, 5.0], [2.0, 1.0, 6.0]), dims=(0, 1))
    assert np.allclose(v.min(axis=0), [0.0, -1.0]) and np.allclose(v.max(axis=0), [2.0, 1.0])


def test_samples_of_zonotopes_and_stars_lie_in_their_outlines():
    rng = np.random.default_rng(SEED)
    z = Zonotope(rng.normal(size=3), rng.normal(size=(3, 5)))
    s = Star.from_zonotope(z).intersect_halfspace(np.array([1.0, 0.5, 0.0]), 0.2)
    for X in (z, s):
        for dims in ((0, 1), (2, 0)):
            pts = X.sample(200, rng)[:, list(dims)]
            assert _inside(outline(X, dims), pts).all()
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            assert not _inside(outline(X, dims), (hi + (hi - lo))[None]).any()
