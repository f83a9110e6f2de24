"""Sampling soundness of symbolic linear bounds (back-substitution) on random networks of every kind.

Inputs are sampled from each domain (corners and uniform points); the input of every activation and
max pooling must lie inside its intermediate bounds, and every objective row must satisfy its linear
lower bound *pointwise* (``C y >= A a + c`` at each sample), which also implies the concretized bound.
"""

from __future__ import annotations

import itertools
from math import prod

import numpy as np
import pytest

from nnreach.bounds.forward import forward_bounds
from nnreach.bounds.linear import RELAXED, InputDomain, _inexact, backward, domain_bounds, intermediate_bounds
from nnreach.bounds.optimised import Optimisation, optimised_bounds
from nnreach.network import INPUT, Network, ops

from . import networks

SEED = 7
TOL = 1e-9


def _samples(lo: np.ndarray, hi: np.ndarray, rng, n: int = 300) -> np.ndarray:
    corners = [np.where(np.array(bits, dtype=bool), hi, lo)
               for bits in itertools.islice(itertools.product((0, 1), repeat=lo.size), 64)]
    return np.vstack([np.array(corners), rng.uniform(lo, hi, size=(n, lo.size))])


def _check(net, dom: InputDomain, rng, prior=None, compute=intermediate_bounds) -> None:
    bounds = compute(net, dom, prior=prior)
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
def test_convolutional_residual_and_structural_networks(activation):
    rng = np.random.default_rng(SEED)
    for net in (networks.convolutional(rng, activation), networks.residual(rng, activation),
                networks.structural(rng, activation)):
        _check(net, _boxes(rng, net.input_size, count=2), rng)


@pytest.mark.parametrize("pool", networks.POOLS, ids=networks.pool_id)
@pytest.mark.parametrize("activation", [ops.Relu(), ops.LeakyRelu(0.2), ops.Sigmoid()], ids=lambda a: a.describe())
def test_max_pooling_networks(activation, pool):
    """Max pooling after the activation (bounds of its input from the activation's) and before it (from
    back-substitution through the convolution), on wide and narrow boxes."""
    rng = np.random.default_rng(SEED)
    for pool_first in (False, True):
        net = networks.pooled(rng, activation, pool, pool_first=pool_first)
        _check(net, _boxes(rng, net.input_size, count=2), rng)
        c = rng.normal(size=(2, net.input_size))
        _check(net, InputDomain(c - 0.02, c + 0.02), rng)


@pytest.mark.parametrize("pool", networks.POOLS, ids=networks.pool_id)
def test_max_pooling_is_exact_where_one_entry_dominates(pool):
    """When the largest entry of every window is above the others on the whole box, max pooling is a
    selection of entries: the linear bounds of ``C y`` and ``-C y`` equal it at every sample, which
    checks that coefficients reach the right entries (stride, padding, dilation, partial windows)."""
    rng = np.random.default_rng(SEED)
    shape = (2, 7, 7)
    n = prod(shape)
    pooled = pool.output_shape(shape)
    net = Network.sequential((n,), [ops.Linear(np.eye(n), np.zeros(n)), ops.Reshape(shape), pool,
                                    ops.Reshape((prod(pooled),))])
    c = rng.permutation(n)[None] * 1.0              # distinct values 1 apart: no two entries overlap
    dom = InputDomain(c - 0.25, c + 0.25)
    C = rng.normal(size=(5, prod(pooled)))
    bounds = intermediate_bounds(net, dom)
    low, high = (backward(net, dom, net.output, M, bounds) for M in (C, -C))
    a = _samples(dom.lo[0], dom.hi[0], rng)
    cy = net.forward(a) @ C.T
    np.testing.assert_allclose(a @ low.A[0].T + low.c[0], cy, atol=1e-9)
    np.testing.assert_allclose(-(a @ high.A[0].T + high.c[0]), cy, atol=1e-9)


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


@pytest.mark.parametrize("kind", ["dense", "relu-maxpool", "maxpool-relu"])
def test_prior_bounds_are_kept_and_stay_sound(kind):
    """Bounds of an enclosing box are valid priors for a sub-box: the result is sound and at least as tight."""
    rng = np.random.default_rng(SEED)
    if kind == "dense":
        net = networks.dense(rng, networks.ACTIVATIONS[0], depth=3, width=8, n_in=4)
    else:
        net = networks.pooled(rng, ops.Relu(), networks.POOLS[2], pool_first=kind == "maxpool-relu")
    n = net.input_size
    big = InputDomain(-np.ones((1, n)), np.ones((1, n)))
    prior = intermediate_bounds(net, big)
    small = InputDomain(np.full((1, n), -0.3), np.full((1, n), 0.2))
    tight = intermediate_bounds(net, small, prior=prior)
    for name, (l, u) in tight.items():
        assert np.all(l >= prior[name][0] - 1e-12) and np.all(u <= prior[name][1] + 1e-12)
    _check(net, small, rng, prior=prior)


def test_back_substitution_cannot_tighten_the_bounds():
    """Where a relaxation is inexact, its input's bounds are as tight as back-substitution makes them,
    also where back-substitution was skipped (outputs of relaxed nodes whose input bounds are tight): on
    chains of relaxed nodes (a clip then a ReLU after loose interval bounds, a ReLU then max pooling,
    max pooling then a ReLU)."""
    rng = np.random.default_rng(SEED)

    def dense(o, i):
        return ops.Linear(rng.normal(size=(o, i)) * 0.3 / np.sqrt(i), rng.normal(size=o) * 0.1)

    nets = [Network.sequential((4,), [dense(8, 4), ops.Relu(), dense(8, 8), ops.Clip(-1.0, 1.0), ops.Relu(),
                                      dense(3, 8)]),
            networks.pooled(rng, ops.Relu(), networks.POOLS[2]),
            networks.pooled(rng, ops.Relu(), networks.POOLS[2], pool_first=True)]
    for net in nets:
        dom = _boxes(rng, net.input_size, count=2)
        bounds = intermediate_bounds(net, dom)
        for node in net.nodes:
            src = node.inputs[0]
            if not isinstance(node.op, RELAXED) or src == INPUT:
                continue
            l, u = bounds[src]
            idx = np.flatnonzero(_inexact(node.op, l, u, net.shape_of(src)).any(axis=0))
            if not idx.size:
                continue
            eye = np.eye(l.shape[1])[idx]
            lb = backward(net, dom, src, np.concatenate([eye, -eye]), bounds).lower
            l, u = l[:, idx], u[:, idx]
            tol = 1e-9 * (1 + np.abs(l) + np.abs(u))
            assert np.all(l >= lb[:, :idx.size] - tol), f"{src}: back-substitution raises a lower bound"
            assert np.all(u <= -lb[:, idx.size:] + tol), f"{src}: back-substitution lowers an upper bound"


MODES = {
    "forward": lambda net, dom, prior=None: forward_bounds(net, dom, prior=prior)[0],
    "optimised": lambda net, dom, prior=None: optimised_bounds(net, dom, prior=prior, settings=Optimisation(steps=8))[0],
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("activation", networks.ACTIVATIONS, ids=lambda a: a.describe())
def test_forward_and_optimised_intermediate_bounds_are_sound(activation, mode):
    """Forward-mode bounds (few inputs) and alpha-optimised ones (the root of neuron splits) hold at
    every sample of dense, convolutional, residual and pooled networks, plain or mapped domains."""
    rng = np.random.default_rng(SEED)
    nets = [networks.dense(rng, activation, depth=3, width=8, n_in=4), networks.convolutional(rng, activation),
            networks.residual(rng, activation), networks.pooled(rng, activation, networks.POOLS[2]),
            networks.pooled(rng, activation, networks.POOLS[2], pool_first=True), networks.structural(rng, activation)]
    for net in nets:
        _check(net, _boxes(rng, net.input_size, count=2), rng, compute=MODES[mode])
    net = nets[0]
    B, m = 2, 2
    lo = rng.uniform(-1, 0, size=(B, m))
    mapped = InputDomain(lo, lo + rng.uniform(0.1, 1, size=(B, m)), rng.normal(size=(B, 4)), rng.normal(size=(B, 4, m)))
    _check(net, mapped, rng, compute=MODES[mode])
    big = InputDomain(-np.ones((1, 4)), np.ones((1, 4)))
    _check(net, InputDomain(np.full((1, 4), -0.3), np.full((1, 4), 0.2)), rng, prior=intermediate_bounds(net, big),
           compute=MODES[mode])


@pytest.mark.parametrize("mode", ["back-substitution", *MODES])
@pytest.mark.parametrize("op", networks.ELEMENTWISE, ids=lambda a: a.describe())
def test_products_and_elementwise_functions_are_bounded_soundly(op, mode):
    """Sin, cos, exp, abs, floor, ceil and powers as the activation of dense networks and in a DAG of
    products and reciprocals: every bound of every mode holds at every sample."""
    rng = np.random.default_rng(SEED)
    compute = intermediate_bounds if mode == "back-substitution" else MODES[mode]
    for net in (networks.dense(rng, op, depth=2, width=6, n_in=3), networks.products(rng, op)):
        _check(net, _boxes(rng, 3, count=3), rng, compute=compute)


def test_optimised_bounds_are_never_looser_and_forward_bounds_meet_back_substitution_on_small_boxes():
    rng = np.random.default_rng(SEED)
    net = networks.dense(rng, ops.Relu(), depth=4, width=16, n_in=5)
    dom = _boxes(rng, 5, count=3)
    plain = intermediate_bounds(net, dom)
    tight = MODES["optimised"](net, dom)
    for k, (l, u) in plain.items():
        assert np.all(tight[k][0] >= l - 1e-12) and np.all(tight[k][1] <= u + 1e-12)
    assert any(np.any(tight[k][1] - tight[k][0] < u - l - 1e-6) for k, (l, u) in plain.items())
    c = rng.normal(size=(3, 5))
    small = InputDomain(c - 1e-2, c + 1e-2)
    C = rng.normal(size=(2, 3))
    fwd, back = (backward(net, small, net.output, C, b).lower for b in (MODES["forward"](net, small),
                                                                         intermediate_bounds(net, small)))
    exact = np.array([(net.forward(_samples(small.lo[b], small.hi[b], rng)) @ C.T).min(axis=0) for b in range(3)])
    assert np.all(fwd <= exact) and np.all(back <= exact)
    np.testing.assert_allclose(exact - fwd, exact - back, rtol=0.5, atol=1e-3)


def test_forward_bounds_find_the_same_empty_domains():
    rng = np.random.default_rng(3)
    net = networks.dense(rng, ops.Relu(), depth=2, width=4, n_in=3)
    dom = InputDomain(-np.ones((2, 3)), np.ones((2, 3)))
    name = net.nodes[0].name
    l, u = (b[0] for b in intermediate_bounds(net, InputDomain(-np.ones((1, 3)), np.ones((1, 3))))[name])
    lo, hi = np.full((2, 4), -np.inf), np.full((2, 4), np.inf)
    lo[0, 0] = u[0] + 0.1
    lo[1, 0] = l[0] - 0.1
    assert forward_bounds(net, dom, prior={name: (lo, hi)}, tol=1e-7)[1].tolist() == [True, False]
    assert domain_bounds(net, dom, prior={name: (lo, hi)}, tol=1e-7)[1].tolist() == [True, False]
