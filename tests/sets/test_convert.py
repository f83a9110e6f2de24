"""overapproximate(X, T): the result contains X, and exact pairs also go back."""

import numpy as np
import pytest

from nnreach.sets import Box, HPolytope, Star, Zonotope, overapproximate

from .test_interface import assert_all_contained

# (source kind, target type, exact)
PAIRS = [
    ("box", Zonotope, True),
    ("box", Star, True),
    ("box", HPolytope, True),
    ("zonotope", Box, False),
    ("zonotope", Star, True),
    ("star", Box, False),
    ("star", Zonotope, False),
    ("hpolytope", Box, False),
    ("hpolytope", Star, True),
]


@pytest.mark.parametrize(("source", "target", "exact"), PAIRS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_overapproximation_contains_source(source, target, exact, rng, make_set):
    X = make_set(source, rng)
    Y = overapproximate(X, target)
    assert type(Y) is target
    assert_all_contained(Y, X.sample(60, rng))
    if exact:
        assert_all_contained(X, Y.sample(60, rng))
        for lo_x, lo_y in zip(X.bounds(), Y.bounds()):
            np.testing.assert_allclose(lo_x, lo_y, atol=1e-6)


@pytest.mark.parametrize("source", ["zonotope", "star", "hpolytope"])
def test_box_hull_is_the_exact_bounds(source, rng, make_set):
    X = make_set(source, rng)
    box = overapproximate(X, Box)
    for ours, theirs in zip(box.bounds(), X.bounds()):
        np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_star_to_zonotope_is_the_predicate_box_image(rng, make_set):
    X = make_set("star", rng)
    Z = overapproximate(X, Zonotope)
    for ours, theirs in zip(Z.bounds(), X.estimate_bounds()):
        np.testing.assert_allclose(ours, theirs, atol=1e-9)
    # It ignores C: the unconstrained star is inside too, and is the same set.
    free = Star(X.center, X.basis, np.zeros((0, X.num_pred)), np.zeros(0), X.pred_lb, X.pred_ub)
    assert_all_contained(Z, free.sample(60, rng))
    assert_all_contained(free, Z.sample(60, rng))


def test_identity_returns_the_same_object(kind, rng, make_set):
    X = make_set(kind, rng)
    assert overapproximate(X, type(X)) is X


@pytest.mark.parametrize(("source", "target"), [("zonotope", HPolytope), ("star", HPolytope), ("box", int)])
def test_unsupported_pair_names_both_types(source, target, rng, make_set):
    X = make_set(source, rng)
    with pytest.raises(TypeError, match=f"{type(X).__name__}.*{target.__name__}"):
        overapproximate(X, target)


def test_unbounded_polytope_has_no_box_or_star():
    halfplane = HPolytope(np.array([[1.0, 0.0]]), np.array([1.0]))
    for target in (Box, Star):
        with pytest.raises(ValueError, match=r"unbounded in dimension\(s\) \[0, 1\]"):
            overapproximate(halfplane, target)
