"""Sampling soundness of every registered reach rule and of whole random networks.

Inputs are sampled from a box (corners, center and uniform points); every image must lie inside the
computed output set's bounds. The test is parametrised over the registry, so a new rule is covered
automatically (and fails here until an example of its op is added to ``examples.py``). Splitting methods
(``exact-star``) return a list of stars: every image must lie inside their union (checked by LP
membership on part of the samples, and against the union of their bounds on all of them).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnreach.errors import UnsupportedError
from nnreach.network import INPUT, Network, ops
from nnreach.reach import registry, reach
from nnreach.reach.propagate import INITIAL_SET, SPLITTING
from nnreach.sets import Box

from . import networks
from .examples import examples_for

SEED = 20261121
KEYS = [k for k in registry.registered() if k[2] in INITIAL_SET]


def _samples(box: Box, rng, n=400) -> np.ndarray:
    corners = [np.where(c, box.hi, box.lo) for c in itertools.islice(itertools.product((0, 1), repeat=box.dim), 64)]
    return np.vstack([np.array(corners), rng.uniform(box.lo, box.hi, size=(n, box.dim))])


def _network_of(op: ops.Op, shapes, lift=None) -> Network:
    """A network whose input is the concatenation of the op's (flattened) inputs or, if ``lift`` (a
    random ``(total, k + 1)`` matrix: weights, then a bias column) is given, its affine image of a
    k-dimensional input. The bias keeps the lifted values in general position: without it every entry
    is 0 at the same input, where all cases of a split meet, and a splitting method enumerates every
    combination of them (each feasible at that one point)."""
    sizes = [int(np.prod(s)) for s in shapes]
    layers, names, start = [], [], 0
    total = sum(sizes)
    if lift is not None:
        layers.append(("lift", ops.Linear(lift[:, :-1], lift[:, -1]), (INPUT,)))
    for k, (s, n) in enumerate(zip(shapes, sizes)):
        sel = np.zeros((n, total))
        sel[:, start:start + n] = np.eye(n)
        start += n
        layers.append((f"sel{k}", ops.Linear(sel, np.zeros(n)), ("lift" if lift is not None else INPUT,)))
        layers.append((f"in{k}", ops.Reshape(s), (f"sel{k}",)))
        names.append(f"in{k}")
    layers.append(("op", op, tuple(names)))
    return Network.build((total if lift is None else lift.shape[1] - 1,), layers)


STAR_TOL = 1e-7  # star bounds come from LPs, exact up to the solver's tolerances
MEMBERSHIP_SAMPLES = 24


def _check_inside(net: Network, box: Box, method: str, rng) -> None:
    out = reach(net, box, method)
    y = net.forward(_samples(box, rng))
    if method in SPLITTING:
        assert out, f"{method}: no output set for a non-empty input box"
        bounds = [s.bounds() for s in out]
        lo, hi = np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)
        picks = rng.choice(len(y), size=min(MEMBERSHIP_SAMPLES, len(y)), replace=False)
        for k in picks:
            assert any(s.contains(y[k], tol=STAR_TOL * (1 + np.abs(y[k]).max())) for s in out), \
                f"{method}: sample {k} is in none of the {len(out)} output stars"
    else:
        lo, hi = out.bounds()
    tol = (STAR_TOL if "star" in method else 1e-9) * (1 + np.abs(y))
    assert np.all(y >= lo - tol), f"{method}: sample below the lower bound by {np.max(lo - y)}"
    assert np.all(y <= hi + tol), f"{method}: sample above the upper bound by {np.max(y - hi)}"


@pytest.mark.parametrize("key", KEYS, ids=lambda k: f"{k[0].__name__}-{k[1].__name__}-{k[2]}")
def test_rule_is_sound(key):
    op_type, set_type, method = key
    examples = examples_for(op_type)
    assert examples, f"add an example of {op_type.__name__} to tests/soundness/examples.py"
    rng = np.random.default_rng(SEED)
    for op, shapes in examples:
        # A splitting method's output grows exponentially with the number of independent undecided
        # units; a 2-dimensional input keeps the number of linear regions polynomial.
        lift = rng.normal(size=(sum(int(np.prod(s)) for s in shapes), 3)) if method in SPLITTING else None
        net = _network_of(op, shapes, lift)
        for scale in (0.1, 1.0, 3.0):
            c = rng.normal(size=net.input_size)
            r = scale * rng.uniform(0, 1, size=net.input_size)
            _check_inside(net, Box(c - r, c + r), method, rng)


@pytest.mark.parametrize("method", sorted(INITIAL_SET))
@pytest.mark.parametrize("activation", [ops.Relu(), ops.LeakyRelu(0.2), ops.Sigmoid(), ops.Tanh(), ops.Clip(-1, 1)],
                         ids=lambda a: type(a).__name__)
def test_random_networks_are_sound(method, activation):
    try:
        registry.find_rule(activation, type(INITIAL_SET[method](Box([0.0], [1.0]))), method)
    except UnsupportedError:
        pytest.skip(f"{method} has no rule for {type(activation).__name__} yet")
    rng = np.random.default_rng(SEED)
    for trial in range(5):
        net = networks.dense(rng, activation, depth=3, width=8, n_in=4)
        c = rng.normal(size=4)
        r = rng.uniform(0.05, 1.0, size=4)
        _check_inside(net, Box(c - r, c + r), method, rng)


def test_residual_dag_is_sound():
    """Generators created in two branches must not be mixed up when the branches are added."""
    rng = np.random.default_rng(SEED)
    net = networks.residual(rng, ops.Relu())
    for method in INITIAL_SET:
        for _ in range(5):
            c = rng.normal(size=3)
            _check_inside(net, Box(c - 1, c + 1), method, rng)


def test_zonotope_is_tighter_than_interval_on_linear_networks():
    """Affine maps are exact on zonotopes: the bounds equal the true range; intervals are looser."""
    rng = np.random.default_rng(SEED)
    net = Network.sequential((3,), [ops.Linear(rng.normal(size=(3, 3)), np.zeros(3)),
                                    ops.Linear(rng.normal(size=(2, 3)), np.zeros(2))])
    box = Box(-np.ones(3), np.ones(3))
    zlo, zhi = reach(net, box, "zono").bounds()
    ilo, ihi = reach(net, box, "interval").bounds()
    W = net.nodes[1].op.weight @ net.nodes[0].op.weight
    exact = np.abs(W).sum(axis=1)
    np.testing.assert_allclose(zhi, exact, rtol=1e-12)
    np.testing.assert_allclose(zlo, -exact, rtol=1e-12)
    assert np.all(ihi >= zhi - 1e-12) and np.all(ilo <= zlo + 1e-12)
