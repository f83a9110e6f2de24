"""Branch-and-bound over neuron splits (``bab`` on networks with many inputs) against brute force,
and on smooth activations against sampling."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.bounds.linear import InputDomain, domain_bounds
from nnreach.network import INPUT, Network, ops
from nnreach.reach import reach
from nnreach.sets import Box
from nnreach.verify import bab as bab_module
from nnreach.verify.api import verify
from nnreach.verify.problem import Problem, halfspace_property
from nnreach.verify.result import Status

from ..soundness import networks
from . import oracle


@pytest.fixture
def neuron_splits(monkeypatch):
    """``bab`` splits neurons whatever the input dimension."""
    monkeypatch.setattr(bab_module, "LOW_INPUT_DIM", 0)


def _threshold_problems(rng, op, count: int, n_in: int, width: int):
    """Chains with unsafe sets ``y_0 >= t``, ``t`` 2% to 20% of the sampled range of ``y_0`` off its exact maximum."""
    for _ in range(count):
        net = networks.dense(rng, op, depth=2, width=width, n_in=n_in, n_out=2)
        c = rng.normal(size=n_in)
        box = Box(c - 0.7, c + 0.7)
        top = oracle.maximum(net, box, np.array([1.0, 0.0]))
        spread = np.ptp(net.forward(box.sample(500, rng))[:, 0])
        t = top + rng.choice([-1.0, 1.0]) * rng.uniform(0.02, 0.2) * max(spread, 1e-3)
        yield Problem(net, (halfspace_property(box, [[-1.0, 0.0]], [-t]),)), t < top


@pytest.mark.parametrize("op", networks.PIECEWISE, ids=lambda a: a.describe())
@pytest.mark.parametrize("n_in", [3, 12])
def test_neuron_splits_agree_with_brute_force(op, n_in, neuron_splits):
    rng = np.random.default_rng(31 + n_in)
    seen = set()
    for problem, truth in _threshold_problems(rng, op, 6, n_in, width=3):
        r = verify(problem, "bab", timeout=60)
        assert r.stats["splitting"] == "neurons"
        assert r.status is (Status.VIOLATED if truth else Status.HOLDS), (r.status, truth)
        seen.add(truth)
    assert seen == {True, False}


def test_cut_domains_are_found_empty():
    """A prior that no input meets (a neuron's input forced above its maximum) empties the domain;
    one that every input meets does not."""
    rng = np.random.default_rng(3)
    net = networks.dense(rng, ops.Relu(), depth=2, width=4, n_in=3)
    dom = InputDomain(-np.ones((2, 3)), np.ones((2, 3)))
    name = net.nodes[0].name          # the first layer's output feeds the first ReLU
    l, u = (b[0] for b in domain_bounds(net, InputDomain(-np.ones((1, 3)), np.ones((1, 3))))[0][name])
    lo, hi = np.full((2, 4), -np.inf), np.full((2, 4), np.inf)
    lo[0, 0] = u[0] + 0.1             # impossible
    lo[1, 0] = l[0] - 0.1             # always true
    _, empty = domain_bounds(net, dom, prior={name: (lo, hi)}, tol=1e-7)
    assert empty.tolist() == [True, False]


@pytest.mark.parametrize("op", [ops.Sigmoid(), ops.Tanh()], ids=lambda a: a.describe())
def test_smooth_activations_are_decided(op, neuron_splits):
    """Neuron-interval splits on sigmoid / tanh (with the LP of the relaxation): thresholds 1% of the
    output range above a dense grid's maximum are proved, those 1% below it are violated."""
    rng = np.random.default_rng(41)
    lps = 0
    for _ in range(3):
        net = networks.dense(rng, op, depth=2, width=3, n_in=2, n_out=2)
        box = Box(-np.ones(2), np.ones(2))
        grid = np.stack(np.meshgrid(np.linspace(-1, 1, 301), np.linspace(-1, 1, 301)), -1).reshape(-1, 2)
        y = net.forward(grid)[:, 0]
        spread = max(y.max() - y.min(), 1e-3)
        for t, right in ((y.max() + 0.01 * spread, Status.HOLDS), (y.max() - 0.01 * spread, Status.VIOLATED)):
            problem = Problem(net, (halfspace_property(box, [[-1.0, 0.0]], [-t]),))
            r = verify(problem, "bab", timeout=30)
            assert r.status is right, (t, r.status)
            lps += r.stats.get("lps", 0)
    assert lps > 0


@pytest.mark.parametrize("op", [ops.Sigmoid(), ops.Tanh()], ids=lambda a: a.describe())
def test_smooth_activations_with_many_inputs(op):
    """20 inputs (neuron splits): thresholds between the best of an attack's samples and the
    network's maximum are violated; a threshold above the interval bound's maximum holds."""
    rng = np.random.default_rng(43)
    net = networks.dense(rng, op, depth=2, width=6, n_in=20, n_out=2)
    box = Box(-0.3 * np.ones(20), 0.3 * np.ones(20))
    top = net.forward(box.sample(20000, rng))[:, 0].max()
    for t, right in ((top - 1e-3, Status.VIOLATED), (top + 0.5, Status.HOLDS)):
        problem = Problem(net, (halfspace_property(box, [[-1.0, 0.0]], [-t]),))
        r = verify(problem, "bab", timeout=30)
        assert r.stats["splitting"] == "neurons"
        assert r.status is right, (t, r.status)


def test_products_and_functions_split_the_input_up_to_their_own_limit():
    """A network with products and sine, 20 inputs: ``bab`` splits the input box first (neuron splits
    cannot shrink a product's planes), finds a threshold just under the sampled maximum violated and
    proves one above the interval bound; with more inputs than the limit it splits neurons only."""
    rng = np.random.default_rng(47)
    w = lambda o, i: ops.Linear(rng.normal(size=(o, i)) / np.sqrt(i), rng.normal(size=o) * 0.1)
    net = Network.build((20,), [
        ("a", w(6, 20), (INPUT,)), ("b", w(6, 20), (INPUT,)), ("p", ops.Product(), ("a", "b")),
        ("s", ops.Unary("Sin"), ("p",)), ("r", ops.Relu(), ("a",)), ("q", ops.Add(), ("s", "r")), ("out", w(2, 6), ("q",)),
    ])
    assert bab_module.input_split_limit(net) == bab_module.NONLINEAR_INPUT_DIM > 20 > bab_module.LOW_INPUT_DIM
    box = Box(-0.3 * np.ones(20), 0.3 * np.ones(20))
    top = net.forward(box.sample(20000, rng))[:, 0].max()
    bound = reach(net, box, "interval").bounds()[1][0]
    for t, right in ((top - 1e-3, Status.VIOLATED), (bound + 0.01, Status.HOLDS)):
        r = verify(Problem(net, (halfspace_property(box, [[-1.0, 0.0]], [-t]),)), "bab", timeout=30)
        assert r.stats["splitting"].startswith("inputs")
        assert r.status is right, (t, r.status)
    wide = Network.build((40,), [("a", w(6, 40), (INPUT,)), ("p", ops.Product(), ("a", "a")), ("out", w(2, 6), ("p",))])
    big = Box(-0.3 * np.ones(40), 0.3 * np.ones(40))
    r = verify(Problem(wide, (halfspace_property(big, [[-1.0, 0.0]], [-1e6]),)), "bab", timeout=30)
    assert r.stats["splitting"] == "neurons" and r.status is Status.HOLDS
