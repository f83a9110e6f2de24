"""HPolytope specifics: unbounded and empty polytopes, invertible affine maps."""

import numpy as np
import pytest

from nnreach.sets import HPolytope

SQUARE = HPolytope(np.vstack([np.eye(2), -np.eye(2)]), np.array([1.0, 1.0, 0.0, 0.0]))


def test_unbounded_polytope():
    strip = HPolytope(np.array([[0.0, 1.0], [0.0, -1.0]]), np.array([1.0, 1.0]))
    assert strip.support(np.array([0.0, 1.0])) == pytest.approx(1.0, abs=1e-12)
    assert strip.support(np.array([1.0, 0.0])) == np.inf
    assert strip.contains(np.array([1e6, 0.5]))
    assert not strip.is_empty()
    with pytest.raises(ValueError, match=r"unbounded in dimension\(s\) \[0\]"):
        strip.bounds()
    with pytest.raises(ValueError, match="unbounded"):
        strip.sample(3, np.random.default_rng(0))


def test_empty_polytope():
    empty = SQUARE.intersect_halfspace(np.array([1.0, 1.0]), -0.5)
    assert empty.is_empty()
    assert empty.support(np.array([1.0, 0.0])) == -np.inf


def test_invertible_affine_map():
    W = np.array([[2.0, 1.0], [0.0, 1.0]])
    image = SQUARE.affine_map(W, np.array([1.0, -1.0]))
    for corner in ([0, 0], [1, 0], [0, 1], [1, 1]):
        assert image.contains(W @ np.array(corner, dtype=float) + [1.0, -1.0])
    assert not image.contains(np.array([1.0, 0.5]))  # W^-1 (y - b) = (-0.75, 1.5)
    with pytest.raises(ValueError, match="invertible"):
        SQUARE.affine_map(np.array([[1.0, 1.0], [1.0, 1.0]]))
