"""Sampling soundness of symbolic linear bounds (back-substitution) on random networks of every kind.

Inputs are sampled from each domain (corners and uniform points); every activation input must lie
inside its intermediate bounds, and every objective row must satisfy its linear lower bound *pointwise*
(``C y >= A a + c`` at each sample), which also implies the concretized bound.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnreach.bounds.linear import InputDomain, backward, intermediate_bounds

from . import networks

SEED = 7
TOL = 1e-9


def _samples(lo: np.ndarray, hi: np.ndarray, rng, n: int = 300) -> np.ndarray:
    corners = [np.where(np.array(bits, dtype=bool), hi, lo)
               for bits in itertools.islice(itertools.product((0, 1), repeat=lo.size), 64)]
    return np.vstack([np.array(corners), rng.uniform(lo, hi, size=(n, lo.size))])


def _check(net, dom: InputDomain, rng, prior=None) -> None:
    bounds = intermediate_bounds(net, dom, prior=prior)
    C = rng.normal(size=(4, net.output_size))
    lb = backward(net, dom, net.output, C, bounds)
    for b in range(dom.size):
        a = _samples(dom.lo[b], dom.hi[b], rng)
        x = a if dom.basis is None else dom.center[b] + a @ dom.basis[b].T
        values = net.activations(x)
        for name, (l, u) in bounds.items():
            v = values[name].reshape(len(x), -1)
            scale = TOL * (1 + np.abs(v))
            assert np.all(v >= l[b] - scale), f"{name}: value below its bound by {np.max(l[b] - v)}"
            assert np.all(v <= u[b] + scale), f"{name}: value above its bound by {np.max(v - u[b])}"
        y = values[net.output].reshape(len(x), -1)
        cy = y @ C.T
        linear = a @ lb.A[b].T + lb.c[b]
        assert np.all(cy >= linear - TOL * (1 + np.abs(cy))), f"linear bound violated by {np.max(linear - cy)}"
        assert np.all(cy >= lb.lower[b] - TOL * (1 + np.abs(cy)))


def _boxes(rng, n: int, count: int = 3) -> InputDomain:
    c = rng.normal(size=(count, n))
    r = rng.uniform(0.05, 1.5, size=(count, n))
    return InputDomain(c - r, c + r)


@pytest.mark.parametrize("activation", networks.ACTIVATIONS, ids=lambda a: a.describe())
def test_dense_networks(activation):
    rng = np.random.default_rng(SEED)
    for _ in range(4):
        net = networks.dense(rng, activation, depth=3, width=8, n_in=4)
        _check(net, _boxes(rng, 4), rng)


@pytest.mark.parametrize("activation", networks.ACTIVATIONS, ids=lambda a: a.describe())
def test_convolutional_and_residual_networks(activation):
    rng = np.random.default_rng(SEED)
    for net in (networks.convolutional(rng, activation), networks.residual(rng, activation)):
        _check(net, _boxes(rng, net.input_size, count=2), rng)


@pytest.mark.parametrize("activation", networks.PIECEWISE, ids=lambda a: a.describe())
def test_mapped_domains(activation):
    """Domains given by an affine map of a low-dimensional box (the regions of a star search)."""
    rng = np.random.default_rng(SEED)
    net = networks.dense(rng, activation, depth=3, width=8, n_in=5)
    B, m = 3, 2
    lo = rng.uniform(-1, 0, size=(B, m))
    dom = InputDomain(lo, lo + rng.uniform(0.1, 1, size=(B, m)), rng.normal(size=(B, 5)), rng.normal(size=(B, 5, m)))
    _check(net, dom, rng)


def test_batches_match_single_domains():
    """Bounds of a batch are those of its domains computed one at a time."""
    rng = np.random.default_rng(SEED)
    net = networks.dense(rng, networks.ACTIVATIONS[0], depth=3, width=8, n_in=4)
    dom = _boxes(rng, 4, count=4)
    C = rng.normal(size=(2, 3))
    together = backward(net, dom, net.output, C, intermediate_bounds(net, dom)).lower
    for b in range(dom.size):
        one = InputDomain(dom.lo[b:b + 1], dom.hi[b:b + 1])
        alone = backward(net, one, net.output, C, intermediate_bounds(net, one)).lower
        np.testing.assert_allclose(together[b], alone[0], rtol=1e-10, atol=1e-10)


def test_prior_bounds_are_kept_and_stay_sound():
    """Bounds of an enclosing box are valid priors for a sub-box: the result is sound and at least as tight."""
    rng = np.random.default_rng(SEED)
    net = networks.dense(rng, networks.ACTIVATIONS[0], depth=3, width=8, n_in=4)
    big = InputDomain(-np.ones((1, 4)), np.ones((1, 4)))
    prior = intermediate_bounds(net, big)
    small = InputDomain(np.full((1, 4), -0.3), np.full((1, 4), 0.2))
    tight = intermediate_bounds(net, small, prior=prior)
    for name, (l, u) in tight.items():
        assert np.all(l >= prior[name][0] - 1e-12) and np.all(u <= prior[name][1] + 1e-12)
    _check(net, small, rng, prior=prior)
