"""One interface check run on every set type (as in LazySets): sampling soundness,
tight bounds, exact support functions, affine maps, halfspace intersection, emptiness."""

import dataclasses
import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from nnreach.sets import Box, Star, Zonotope, overapproximate

TOL = 1e-7


def reference_support(X, d: np.ndarray) -> float:
    """max d @ x over X, computed independently: vertex enumeration or scipy's linprog."""
    if isinstance(X, Box):
        corners = np.array(list(itertools.product(*zip(X.lo, X.hi))))
        return float(np.max(corners @ d))
    if isinstance(X, Zonotope):
        signs = np.array(list(itertools.product([-1.0, 1.0], repeat=X.generators.shape[1])))
        return float(np.max((X.center + signs @ X.generators.T) @ d))
    if isinstance(X, Star):
        bounds = list(zip(X.pred_lb, X.pred_ub))
        r = linprog(-(d @ X.basis), A_ub=X.C, b_ub=X.d, bounds=bounds, method="highs")
        return float(-r.fun + d @ X.center)
    r = linprog(-d, A_ub=X.A, b_ub=X.b, bounds=(None, None), method="highs")
    return float(-r.fun)


def assert_all_contained(X, points: np.ndarray) -> None:
    lo, hi = X.bounds()
    assert np.all(points >= lo - TOL) and np.all(points <= hi + TOL)
    outside = [p for p in points if not X.contains(p, tol=TOL)]
    assert not outside, f"{len(outside)} of {len(points)} points not in {type(X).__name__}, e.g. {outside[0]}"


def test_sample_shape_and_membership(kind, rng, make_set):
    X = make_set(kind, rng)
    points = X.sample(40, rng)
    assert points.shape == (40, X.dim)
    assert X.sample(0, rng).shape == (0, X.dim)
    assert_all_contained(X, points)


def test_bounds_are_tight_and_match_support(kind, rng, make_set):
    X = make_set(kind, rng)
    lo, hi = X.bounds()
    assert lo.shape == hi.shape == (X.dim,)
    points = X.sample(200, rng)
    np.testing.assert_allclose(points.max(axis=0), hi, atol=1e-6)
    np.testing.assert_allclose(points.min(axis=0), lo, atol=1e-6)
    eye = np.eye(X.dim)
    np.testing.assert_allclose(hi, [reference_support(X, e) for e in eye], atol=1e-6)
    np.testing.assert_allclose(lo, [-reference_support(X, -e) for e in eye], atol=1e-6)


def test_support_is_exact(kind, rng, make_set):
    X = make_set(kind, rng)
    points = X.sample(100, rng)
    for d in rng.normal(size=(5, X.dim)):
        s = X.support(d)
        assert s >= np.max(points @ d) - TOL
        assert s == pytest.approx(reference_support(X, d), abs=1e-6)


def test_contains_rejects_points_beyond_support(kind, rng, make_set):
    X = make_set(kind, rng)
    points = X.sample(10, rng)
    for d, p in zip(rng.normal(size=(10, X.dim)), points):
        beyond = p + (X.support(d) - d @ p + 1e-3) / (d @ d) * d
        assert X.contains(p, tol=TOL)
        assert not X.contains(beyond)


@pytest.mark.parametrize("rows", ["fewer", "same", "more"])
def test_affine_map_is_sound_and_exact(kind, rng, make_set, rows):
    X = make_set(kind, rng)
    m = {"fewer": X.dim - 1, "same": X.dim, "more": X.dim + 2}[rows]
    W, b = rng.normal(size=(m, X.dim)), rng.normal(size=m)
    if kind == "hpolytope" and m != X.dim:
        with pytest.raises(ValueError, match="Star"):
            X.affine_map(W, b)
        return
    Y = X.affine_map(W, b)
    assert type(Y) is {"box": Zonotope}.get(kind, type(X))
    assert Y.dim == m
    assert_all_contained(Y, X.sample(60, rng) @ W.T + b)
    for u in rng.normal(size=(4, m)):  # support of an image: rho_Y(u) = rho_X(W^T u) + u @ b
        assert Y.support(u) == pytest.approx(X.support(W.T @ u) + u @ b, abs=1e-6)
    np.testing.assert_allclose(X.affine_map(W).bounds()[1], Y.bounds()[1] - b, atol=1e-6)


def test_intersect_halfspace_keeps_exactly_the_points_inside(kind, rng, make_set):
    X = make_set(kind, rng)
    if kind in ("box", "zonotope"):
        with pytest.raises(TypeError, match="overapproximate"):
            X.intersect_halfspace(np.ones(X.dim), 0.0)
        X = overapproximate(X, Star)
    points = X.sample(60, rng)
    a = rng.normal(size=X.dim)
    b = float(np.median(points @ a))
    Y = X.intersect_halfspace(a, b)
    assert type(Y) is type(X)
    for p in points:
        if a @ p <= b - 1e-6:
            assert Y.contains(p, tol=TOL)
        elif a @ p >= b + 1e-6:
            assert not Y.contains(p)
    inside = Y.sample(40, rng)
    assert np.all(inside @ a <= b + TOL)
    assert_all_contained(X, inside)
    assert Y.support(a) == pytest.approx(b, abs=1e-6)


def test_emptiness(kind, rng, make_set):
    X = make_set(kind, rng)
    if kind in ("box", "zonotope"):
        X = overapproximate(X, Star)
    a = rng.normal(size=X.dim)
    lowest = -X.support(-a)
    assert not X.is_empty()
    assert not X.intersect_halfspace(a, lowest + 1e-3).is_empty()
    empty = X.intersect_halfspace(a, lowest - 1e-2)
    assert empty.is_empty()
    assert empty.support(a) == -np.inf
    with pytest.raises(ValueError, match="empty"):
        empty.bounds()
    with pytest.raises(ValueError, match="empty"):
        empty.sample(4, rng)


def test_sets_are_immutable(kind, rng, make_set):
    X = make_set(kind, rng)
    field = dataclasses.fields(X)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(X, field, None)
    for f in dataclasses.fields(X):
        value = getattr(X, f.name)
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable
            assert value.dtype == np.float64


def test_shape_mismatches_raise(kind, rng, make_set):
    X = make_set(kind, rng)
    wrong = np.zeros(X.dim + 1)
    for call in (lambda: X.contains(wrong), lambda: X.support(wrong), lambda: X.affine_map(np.eye(X.dim + 1))):
        with pytest.raises(ValueError, match="shape"):
            call()
