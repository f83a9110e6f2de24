"""Star specifics: tensor shape, validation, cheap vs LP bounds, from_box/from_polytope."""

import numpy as np
import pytest

from nnreach.sets import Box, HPolytope, Star


def unit_star(n: int, **kw) -> Star:
    return Star(np.zeros(n), np.eye(n), np.zeros((0, n)), np.zeros(0), -np.ones(n), np.ones(n), **kw)


def test_shape_defaults_reshape_and_affine_map_drop_it():
    s = unit_star(12)
    assert s.shape == (12,)
    image = s.reshape((3, 2, 2))
    assert image.shape == (3, 2, 2) and s.shape == (12,)
    assert image.intersect_halfspace(np.ones(12), 0.0).shape == (3, 2, 2)
    assert image.affine_map(np.ones((5, 12))).shape == (5,)
    with pytest.raises(ValueError, match="12 entries"):
        s.reshape((5, 2))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(pred_ub=np.array([1.0, np.inf])), "finite"),
        (dict(pred_lb=np.array([2.0, -1.0])), r"pred_lb\[0\]"),
        (dict(C=np.zeros((1, 3)), d=np.zeros(1)), r"\(k, 2\)"),
        (dict(center=np.zeros(3)), "center"),
    ],
)
def test_validation(change, message):
    fields = dict(center=np.zeros(2), basis=np.eye(2), C=np.zeros((0, 2)), d=np.zeros(0), pred_lb=-np.ones(2), pred_ub=np.ones(2))
    with pytest.raises(ValueError, match=message):
        Star(**{**fields, **change})


def test_lp_bounds_lie_inside_estimate_and_are_tighter_with_constraints(rng, make_set):
    s = make_set("star", rng)
    lo, hi = s.bounds()
    elo, ehi = s.estimate_bounds()
    assert np.all(elo <= lo + 1e-9) and np.all(hi <= ehi + 1e-9)
    cut = s.intersect_halfspace(np.eye(s.dim)[0], float(lo[0] + hi[0]) / 2)
    assert cut.bounds()[1][0] == pytest.approx((lo[0] + hi[0]) / 2)
    assert cut.estimate_bounds()[1][0] == pytest.approx(ehi[0])  # the estimate ignores C


def test_estimate_is_exact_without_constraints(rng):
    s = Star(rng.normal(size=3), rng.normal(size=(3, 4)), np.zeros((0, 4)), np.zeros(0), -rng.random(4), rng.random(4))
    redundant = s.intersect_halfspace(np.zeros(3), 1.0)  # 0 <= 1: forces the LP path
    for lp_bound, estimate in zip(redundant.bounds(), s.estimate_bounds()):
        np.testing.assert_allclose(lp_bound, estimate, atol=1e-9)


def test_from_polytope_is_exact():
    triangle = HPolytope(np.array([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]]), np.array([0.0, 0.0, 1.0]))
    s = Star.from_polytope(triangle)
    np.testing.assert_allclose(s.pred_lb, [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(s.pred_ub, [1.0, 1.0], atol=1e-12)
    assert s.contains(np.array([0.5, 0.5]))
    assert not s.contains(np.array([0.6, 0.6]))


def test_from_box_is_exact(rng):
    box = Box(-rng.random(3), rng.random(3))
    s = Star.from_box(box)
    for corner in [box.lo, box.hi, np.array([box.lo[0], box.hi[1], box.lo[2]])]:
        assert s.contains(corner)
    assert not s.contains(box.hi + 1e-3)


def test_samples_are_support_points_then_convex_combinations(rng, make_set):
    s = make_set("star", rng)
    points = s.sample(2 * 2 * s.dim, rng)
    lo, hi = s.bounds()
    support = points[: 2 * s.dim]
    np.testing.assert_allclose(support.max(axis=0), hi, atol=1e-9)
    np.testing.assert_allclose(support.min(axis=0), lo, atol=1e-9)
