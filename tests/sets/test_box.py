"""Box specifics: validation, center/radius, exact conversions of flat boxes."""

import numpy as np
import pytest

from nnreach.sets import Box, Star, Zonotope


def test_validation():
    with pytest.raises(ValueError, match=r"empty Box: lo\[1\]"):
        Box([0.0, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        Box([0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="dimension"):
        Box([[0.0]], [[1.0]])


def test_center_radius_round_trip():
    box = Box.from_center_radius([1.0, -2.0], [0.5, 0.0])
    np.testing.assert_array_equal(box.lo, [0.5, -2.0])
    np.testing.assert_array_equal(box.hi, [1.5, -2.0])
    np.testing.assert_array_equal(box.center, [1.0, -2.0])
    np.testing.assert_array_equal(box.radius, [0.5, 0.0])
    np.testing.assert_array_equal(Box.from_center_radius(np.zeros(3), 2.0).hi, [2.0, 2.0, 2.0])


def test_flat_dimensions_get_no_generator_or_predicate():
    box = Box([0.0, 1.0, -1.0], [2.0, 1.0, 1.0])
    z = Zonotope.from_box(box)
    s = Star.from_box(box)
    assert z.generators.shape == (3, 2)
    assert s.num_pred == 2 and s.C.shape == (0, 2)
    for X in (z, s):
        lo, hi = X.bounds()
        np.testing.assert_allclose(lo, box.lo)
        np.testing.assert_allclose(hi, box.hi)


def test_linear_image_is_a_zonotope_not_a_box():
    rotation = np.array([[1.0, -1.0], [1.0, 1.0]]) / np.sqrt(2)
    image = Box(-np.ones(2), np.ones(2)).affine_map(rotation)
    assert isinstance(image, Zonotope)
    assert image.contains(np.array([np.sqrt(2), 0.0]))
    assert not image.contains(np.array([1.2, 1.2]))  # inside the box hull, outside the diamond


def test_sample_hits_corners_and_stays_inside(rng):
    box = Box([0.0, 0.0, 5.0], [1.0, 2.0, 5.0])
    points = box.sample(64, rng)
    corners = points[:32]
    assert np.all((corners == box.lo) | (corners == box.hi))
    assert np.all((points >= box.lo) & (points <= box.hi))
