"""Optimised linear bounds (alpha-CROWN, beta-CROWN, row mixtures; :mod:`nnreach.bounds.optimised`).

Every choice of parameters must give a sound bound: with random line parameters in [0, 1], random
multipliers >= 0 and random split constraints, every sampled input that meets the constraints must
satisfy each row's linear bound pointwise. The reverse-mode gradients must match finite differences.
Optimisation must never lose to plain CROWN, must close most of the gap to the LP of the same
relaxation, and with every unstable neuron split (a linear region) must reach the region's exact
optimum.
"""

from __future__ import annotations

import itertools
from math import prod

import numpy as np
import pytest

from nnreach.bounds.linear import InputDomain, Lagrangian, Tape, backward, domain_bounds, intermediate_bounds
from nnreach.bounds.lp_relaxation import RelaxationLP
from nnreach.bounds.optimised import Mixture, Optimisation, Parameters, _Layout, families, optimise, reverse
from nnreach.network import Network, ops
from nnreach.verify.region_walk import linear_region

from . import networks

SEED = 11
TOL = 1e-8


def _kinds(rng, act):
    yield "dense", networks.dense(rng, act, depth=3, width=8, n_in=4)
    yield "conv", networks.convolutional(rng, act)
    yield "residual", networks.residual(rng, act)
    yield "pooled", networks.pooled(rng, act, ops.MaxPool2d((2, 2), (2, 2)))
    yield "structural", networks.structural(rng, act)
    yield "products", networks.products(rng, act)


def _domain(rng, n: int, count: int = 2) -> InputDomain:
    c = rng.normal(size=(count, n))
    r = rng.uniform(0.3, 1.5, size=(count, n))
    return InputDomain(c - r, c + r)


def _random_parameters(rng, net, dom, bounds, k, reference: np.ndarray):
    """Random line parameters for every family and random cuts with random multipliers: about a
    quarter of each node's neurons keep the half of their interval that holds their value at the
    ``reference`` inputs (B, n_in), so that the constrained domains are not empty."""
    fams = families(net, bounds)
    B = dom.size
    alpha = {name: (rng.uniform(size=(B, k, f.size)), rng.uniform(size=(B, k, f.size))) for name, f in fams.items()}
    values = net.activations(reference)
    cuts, beta = {}, {}
    for name, (l, u) in bounds.items():
        mid = (l + u) / 2
        z = values[name].reshape(B, -1)
        pick = rng.uniform(size=l.shape) < 0.25
        lo = np.where(pick & (z >= mid), mid, -np.inf)
        hi = np.where(pick & (z < mid), mid, np.inf)
        cuts[name] = (lo, hi)
        beta[name] = tuple(np.where(np.isfinite(c)[:, None], rng.exponential(size=(B, k, l.shape[1])), 0.0) for c in (lo, hi))
    return fams, alpha, cuts, beta


def _evaluate(net, dom, C, bounds, fams, alpha, cuts, beta):
    evals = {name: f.evaluate(*alpha[name]) for name, f in fams.items()}
    tape = Tape()
    lb = backward(net, dom, net.output, C, bounds, lines={n: e[0] for n, e in evals.items()},
                  lagrangian=Lagrangian(cuts, beta), tape=tape)
    return lb, tape, evals


def _samples(lo, hi, rng, n=400):
    corners = [np.where(np.array(bits, dtype=bool), hi, lo) for bits in itertools.islice(itertools.product((0, 1), repeat=lo.size), 64)]
    return np.vstack([np.array(corners), rng.uniform(lo, hi, size=(n, lo.size))])


def _meets(values: dict, cuts: dict, count: int) -> np.ndarray:
    ok = np.ones(count, dtype=bool)
    for name, (lo, hi) in cuts.items():
        v = values[name].reshape(count, -1)
        ok &= np.all((v >= lo) & (v <= hi), axis=1)
    return ok


@pytest.mark.parametrize("act", networks.ACTIVATIONS, ids=lambda a: a.describe())
def test_every_parameter_choice_gives_a_sound_bound(act):
    rng = np.random.default_rng(SEED)
    for kind, net in _kinds(rng, act):
        dom = _domain(rng, net.input_size)
        bounds = intermediate_bounds(net, dom)
        C = rng.normal(size=(3, net.output_size))
        for _ in range(3):
            reference = rng.uniform(dom.lo, dom.hi)
            fams, alpha, cuts, beta = _random_parameters(rng, net, dom, bounds, 3, reference)
            lb = _evaluate(net, dom, C, bounds, fams, alpha, cuts, beta)[0]
            checked = 0
            for b in range(dom.size):
                near = np.clip(reference[b] + 0.02 * (dom.hi[b] - dom.lo[b]) * rng.normal(size=(400, dom.lo.shape[1])),
                               dom.lo[b], dom.hi[b])
                x = np.vstack([reference[b:b + 1], near, _samples(dom.lo[b], dom.hi[b], rng)])
                values = net.activations(x)
                ok = _meets({k: v for k, v in values.items()}, {k: (lo[b], hi[b]) for k, (lo, hi) in cuts.items()}, len(x))
                cy = values[net.output].reshape(len(x), -1) @ C.T
                linear = x @ lb.A[b].T + lb.c[b]
                assert np.all(cy[ok] >= linear[ok] - TOL * (1 + np.abs(cy[ok]))), f"{kind}: bound violated by {np.max(linear[ok] - cy[ok])}"
                assert np.all(cy[ok] >= lb.lower[b] - TOL * (1 + np.abs(cy[ok])))
                checked += ok.sum()
            assert checked > 0, f"{kind}: no sample met the cuts"


@pytest.mark.parametrize("act", [ops.Relu(), ops.Clip(-1.0, 1.0), ops.Sigmoid(), ops.Tanh()], ids=lambda a: a.describe())
def test_reverse_mode_gradients_match_finite_differences(act):
    rng = np.random.default_rng(SEED)
    h = 1e-6
    for kind, net in _kinds(rng, act):
        dom = _domain(rng, net.input_size)
        bounds = intermediate_bounds(net, dom)
        C = rng.normal(size=(3, net.output_size))
        fams, alpha, cuts, beta = _random_parameters(rng, net, dom, bounds, 3, rng.uniform(dom.lo, dom.hi))
        layout = _Layout(dom.size, 3, fams, cuts, Parameters(alpha, beta))
        P = layout.values

        def bound(P):
            a, b = layout.pairs(P)
            return _evaluate(net, dom, C, bounds, fams, a, cuts, b)

        lb, tape, evals = bound(P)
        G = np.zeros_like(P)
        reverse(net, dom, tape, lb.A, fams, evals, cuts, layout, G)
        base = lb.lower.sum()
        for kind_, name, side, sl in layout.blocks:
            for _ in range(2):
                idx = (rng.integers(0, dom.size), rng.integers(0, 3), rng.integers(sl.start, sl.stop))
                if kind_ == "beta" and P[idx] == 0:
                    continue   # no constraint there
                moved = P.copy()
                moved[idx] += h
                fd = (bound(moved)[0].lower.sum() - base) / h
                assert abs(fd - G[idx]) <= 1e-4 * (1 + abs(fd)), f"{kind} {kind_} {name}: {fd} vs {G[idx]}"


@pytest.mark.parametrize("act", [ops.Relu(), ops.LeakyRelu(0.2), ops.Clip(-1.0, 1.0), ops.Sigmoid(), ops.Tanh()],
                         ids=lambda a: a.describe())
def test_optimised_bounds_are_sound_never_below_crown_and_close_most_of_the_gap_to_the_lp(act):
    """The LP over the same relaxation (every line of the families at three points) is the limit of
    alpha-CROWN with fixed intermediate bounds for piecewise-linear nets; smooth nets may pass it."""
    rng = np.random.default_rng(SEED)
    closed = []
    for _ in range(6):
        net = networks.dense(rng, act, depth=3, width=12, n_in=4, n_out=2)
        dom = _domain(rng, 4, count=1)
        bounds = intermediate_bounds(net, dom)
        C = rng.normal(size=(1, 2))
        crown = backward(net, dom, net.output, C, bounds).lower[0, 0]
        opt, _ = optimise(net, dom, net.output, C, bounds, settings=Optimisation(steps=60, patience=15))
        value = opt.lower[0, 0]
        lp = RelaxationLP(net).minimum_excess(dom.lo[0], dom.hi[0], {k: (l[0], u[0]) for k, (l, u) in bounds.items()},
                                              C, np.zeros(1)).value
        assert value >= crown
        x = _samples(dom.lo[0], dom.hi[0], rng)
        assert np.all(net.forward(x) @ C[0] >= value - TOL)
        if isinstance(act, (ops.Relu, ops.LeakyRelu, ops.Clip)):
            assert value <= lp + 1e-6 * (1 + abs(lp)), "above the LP of the same relaxation"
        if lp - crown > 1e-6:
            closed.append(min((value - crown) / (lp - crown), 1.0))
    assert closed and np.mean(closed) >= 0.5, closed


def test_with_no_steps_given_parameters_give_their_own_bound():
    """What a lookahead uses: ``steps=0`` with a parent's parameters bounds at them (when that beats
    the default lines), and the bound stays sound."""
    rng = np.random.default_rng(SEED)
    net = networks.dense(rng, ops.Relu(), depth=3, width=12, n_in=4, n_out=2)
    dom = _domain(rng, 4, count=2)
    bounds = intermediate_bounds(net, dom)
    C = rng.normal(size=(1, 2))
    crown = backward(net, dom, net.output, C, bounds).lower
    opt, params = optimise(net, dom, net.output, C, bounds, settings=Optimisation(steps=30))
    again, _ = optimise(net, dom, net.output, C, bounds, init=params, settings=Optimisation.none())
    plain, _ = optimise(net, dom, net.output, C, bounds, settings=Optimisation.none())
    assert np.array_equal(plain.lower, crown)
    assert np.all(opt.lower > crown + 1e-6), "no gap to test on"
    np.testing.assert_allclose(again.lower, opt.lower, rtol=1e-12, atol=1e-12)
    for b in range(2):
        assert np.all(net.forward(_samples(dom.lo[b], dom.hi[b], rng)) @ C[0] >= again.lower[b, 0] - TOL)


def test_a_mixture_of_rows_bounds_the_largest_row():
    rng = np.random.default_rng(SEED)
    for act in (ops.Relu(), ops.Tanh()):
        net = networks.dense(rng, act, depth=2, width=10, n_in=3, n_out=4)
        dom = _domain(rng, 3, count=3)
        bounds = intermediate_bounds(net, dom)
        rows, rhs = rng.normal(size=(4, 4)), rng.normal(size=4)
        mix = Mixture(rows, rhs, np.array([0, 0, 0, 1]), 2)
        lb, params = optimise(net, dom, net.output, mix, bounds, settings=Optimisation(steps=30))
        assert lb.lower.shape == (3, 2)
        assert np.allclose(params.weights[:, :3].sum(axis=1), 1.0) and np.all(params.weights >= 0)
        plain = backward(net, dom, net.output, rows, bounds).lower - rhs
        assert np.all(lb.lower[:, 1] >= plain[:, 3] - 1e-12)   # a one-row objective: its row
        for b in range(3):
            x = _samples(dom.lo[b], dom.hi[b], rng)
            excess = net.forward(x) @ rows.T - rhs
            assert np.all(excess[:, :3].max(axis=1) >= lb.lower[b, 0] - TOL)
            assert np.all(excess[:, 3] >= lb.lower[b, 1] - TOL)


def test_beta_with_every_unstable_neuron_split_reaches_the_exact_optimum_of_the_region():
    """With every unstable ReLU split to the side it has at a point, the domain is a linear region of
    the box, and beta-CROWN's bound approaches the LP optimum over the region (strong duality)."""
    rng = np.random.default_rng(SEED)
    for trial in range(3):
        net = networks.dense(rng, ops.Relu(), depth=2, width=6, n_in=3, n_out=2)
        dom = _domain(rng, 3, count=1)
        x0 = rng.uniform(dom.lo[0], dom.hi[0])
        values = net.activations(x0[None])
        root = intermediate_bounds(net, dom)
        cuts = {}
        for name, (l, u) in root.items():
            z = values[name].reshape(1, -1)
            unstable = (l < 0) & (u > 0)
            cuts[name] = (np.where(unstable & (z >= 0), 0.0, -np.inf), np.where(unstable & (z < 0), 0.0, np.inf))
        bounds, empty = domain_bounds(net, dom, prior=cuts)
        assert not empty.any()
        C = rng.normal(size=(1, 2))
        lb, _ = optimise(net, dom, net.output, C, bounds, cuts=cuts,
                         settings=Optimisation(steps=1500, lr_alpha=0.1, lr_beta=0.1, decay=0.997, patience=1500, tol=0))
        rows, rhs, M, q = linear_region(net, x0)
        from nnreach.lp import LinearProgram
        exact = LinearProgram(rows, rhs, dom.lo[0], dom.hi[0]).minimize(C[0] @ M)
        optimum = exact.value + C[0] @ q
        assert lb.lower[0, 0] <= optimum + 1e-7
        assert lb.lower[0, 0] >= optimum - 1e-3 * (1 + abs(optimum)), (trial, lb.lower[0, 0], optimum)


def test_the_check_is_called_before_each_node_and_may_stop_the_optimisation():
    """What keeps a deadline between the nodes of a costly root."""
    from nnreach.bounds.optimised import optimised_bounds
    rng = np.random.default_rng(SEED)
    net = networks.dense(rng, ops.Relu(), depth=3, width=8, n_in=4)
    dom = _domain(rng, 4, count=1)
    calls = []
    optimised_bounds(net, dom, check=lambda: calls.append(1))
    assert len(calls) >= 2

    class Stop(Exception):
        pass

    def stop():
        raise Stop

    with pytest.raises(Stop):
        optimised_bounds(net, dom, check=stop)


def test_a_spent_budget_leaves_back_substitution_and_an_open_one_optimises():
    """``until`` in the past: every node bounded as plain back-substitution would (no step taken);
    without it the same network gets strictly tighter bounds somewhere (so the check can fail)."""
    import time
    from nnreach.bounds.optimised import optimised_bounds
    rng = np.random.default_rng(SEED)
    net = networks.dense(rng, ops.Relu(), depth=3, width=8, n_in=4)
    dom = _domain(rng, 4, count=1)
    plain, _ = domain_bounds(net, dom)
    spent, _ = optimised_bounds(net, dom, until=time.monotonic() - 1.0)
    full, _ = optimised_bounds(net, dom)
    for k, (lo, hi) in plain.items():
        np.testing.assert_allclose(spent[k][0], lo, atol=1e-12)
        np.testing.assert_allclose(spent[k][1], hi, atol=1e-12)
    assert any(np.any(full[k][0] > lo + 1e-6) or np.any(full[k][1] < hi - 1e-6) for k, (lo, hi) in plain.items())


@pytest.mark.parametrize("pool", networks.POOLS, ids=networks.pool_id)
def test_every_convex_combination_of_a_window_bounds_max_pooling_from_below(pool):
    """Max pooling alone, objective rows >= 0 (so every output goes through its lower line), random
    parameters: the linear bound holds at every sampled input (a weight off the simplex, or on a
    padding entry, would break it), and the parameters of the default line give CROWN's bound."""
    from nnreach.bounds.optimised import optimise
    rng = np.random.default_rng(SEED)
    net = Network.sequential((2, 5, 5), [pool, ops.Reshape((prod(pool.output_shape((2, 5, 5))),))])
    dom = _domain(rng, net.input_size, count=2)
    bounds = intermediate_bounds(net, dom)
    fams = families(net, bounds)
    (name, fam), = fams.items()
    C = rng.uniform(0.0, 1.0, size=(4, net.output_size))
    for _ in range(3):
        a = rng.uniform(size=(dom.size, 4, fam.size)) ** 3
        lb = _evaluate(net, dom, C, bounds, fams, {name: (a, None)}, {}, {})[0]
        for b in range(dom.size):
            x = _samples(dom.lo[b], dom.hi[b], rng)
            cy = net.forward(x).reshape(len(x), -1) @ C.T
            assert np.all(cy >= x @ lb.A[b].T + lb.c[b] - TOL * (1 + np.abs(cy)))
    default = np.broadcast_to(fam.init(0)[:, None], (dom.size, 4, fam.size))
    lb = _evaluate(net, dom, C, bounds, fams, {name: (default, None)}, {}, {})[0]
    np.testing.assert_allclose(lb.lower, backward(net, dom, net.output, C, bounds).lower, rtol=1e-9, atol=1e-9)
    assert np.all(optimise(net, dom, net.output, C, bounds, settings=Optimisation(steps=20))[0].lower
                  >= lb.lower - 1e-9)


@pytest.mark.parametrize("kind", ["dense", "conv", "pooled"])
def test_neurons_bounded_in_chunks_of_rows_give_the_same_plain_bounds_and_sound_optimised_ones(kind, monkeypatch):
    """With the row budget (``linear.CHUNK``) so small that every node's neurons are bounded a few at a
    time: plain back-substitution gives the bounds it gives in one piece (its rows are independent),
    and the optimised bounds hold at every sampled input and are never looser than the plain ones."""
    from nnreach.bounds import linear
    from nnreach.bounds.optimised import optimised_bounds
    rng = np.random.default_rng(SEED)
    net = dict(_kinds(rng, ops.Relu()))[kind]
    dom = _domain(rng, net.input_size, count=2)
    whole, _ = domain_bounds(net, dom)
    monkeypatch.setattr(linear, "CHUNK", 1)
    chunked, _ = domain_bounds(net, dom)
    optimised, _ = optimised_bounds(net, dom)
    assert whole.keys() == chunked.keys() == optimised.keys()
    for name, (lo, hi) in whole.items():
        np.testing.assert_allclose(chunked[name][0], lo, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(chunked[name][1], hi, rtol=1e-9, atol=1e-9)
        assert np.all(optimised[name][0] >= lo - 1e-12) and np.all(optimised[name][1] <= hi + 1e-12)
    for b in range(dom.size):
        values = net.activations(_samples(dom.lo[b], dom.hi[b], rng))
        for name, (lo, hi) in optimised.items():
            z = values[name].reshape(len(values[name]), -1)
            assert np.all(z >= lo[b] - TOL) and np.all(z <= hi[b] + TOL), name
