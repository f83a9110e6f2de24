"""Zonotope specifics: a point zonotope, vertex sampling, membership near the boundary."""

import numpy as np
import pytest

from nnreach.sets import Zonotope


def test_validation():
    with pytest.raises(ValueError, match="rows"):
        Zonotope(np.zeros(2), np.zeros((3, 1)))


def test_point_zonotope():
    z = Zonotope([1.0, 2.0], np.zeros((2, 0)))
    assert z.contains(np.array([1.0, 2.0]))
    assert not z.contains(np.array([1.0, 2.1]))
    np.testing.assert_array_equal(z.sample(3, np.random.default_rng(0)), [[1.0, 2.0]] * 3)
    assert z.support(np.array([1.0, 1.0])) == 3.0


def test_membership_is_exact_up_to_tol():
    # The diamond |x| + |y| <= 1: (0.5, 0.5) is on the boundary.
    z = Zonotope(np.zeros(2), np.array([[0.5, 0.5], [0.5, -0.5]]))
    assert z.contains(np.array([0.5, 0.5]))
    assert not z.contains(np.array([0.5 + 1e-4, 0.5]))
    assert z.contains(np.array([0.5 + 1e-4, 0.5]), tol=1e-3)


def test_first_half_of_samples_are_the_axis_extreme_vertices(rng):
    z = Zonotope(rng.normal(size=3), rng.normal(size=(3, 5)))
    vertices = z.sample(12, rng)[:6]
    for d in np.vstack([np.eye(3), -np.eye(3)]):
        assert np.max(vertices @ d) == pytest.approx(z.support(d), abs=1e-12)
