"""Sampling soundness of the LP of a network's relaxation (:mod:`nnreach.bounds.lp_relaxation`).

Every execution of the network from an input of the domain whose activation inputs meet the domain's
bounds is a point of the program: it must satisfy every row and variable bound, and the program's
minimum excess can only lie below the excess of every such sample. Domains are random sub-boxes with
back-substitution bounds, some of whose neuron intervals are then cut in half (a branch-and-bound
domain). As the intervals shrink, the program must approach the network.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.bounds.linear import InputDomain, intermediate_bounds
from nnreach.bounds.lp_relaxation import RelaxationLP
from nnreach.errors import UnsupportedError
from nnreach.lp import LPStatus
from nnreach.network import Network, ops

from . import networks

TOL = 1e-7


def _kinds(rng):
    for act in networks.ACTIVATIONS:
        yield f"dense {act.describe()}", networks.dense(rng, act, depth=2, width=5, n_in=3)
    for act in (ops.Relu(), ops.Tanh()):
        yield f"conv {act.describe()}", networks.convolutional(rng, act)
        yield f"residual {act.describe()}", networks.residual(rng, act)
        yield f"structural {act.describe()}", networks.structural(rng, act)
    yield "batch norm", Network.sequential((3,), [
        ops.Linear(rng.normal(size=(4, 3)), rng.normal(size=4)), ops.ElementwiseAffine(rng.uniform(0.5, 2, 4), rng.normal(size=4)),
        ops.Sigmoid(), ops.Linear(rng.normal(size=(2, 4)), rng.normal(size=2))])


def _cut(bounds: dict, values: dict, rng) -> dict:
    """Up to three neurons of each node get the half of their interval that holds their value
    ``values`` at a reference input (so that the domain is not empty)."""
    out = {}
    for name, (l, u) in bounds.items():
        l, u = l[0].copy(), u[0].copy()
        pick = rng.choice(l.size, min(3, l.size), replace=False)
        mid = (l + u) / 2
        z = values[name].reshape(-1)
        below = z[pick] <= mid[pick]
        u[pick[below]] = mid[pick[below]]
        l[pick[~below]] = mid[pick[~below]]
        out[name] = (l, u)
    return out


def _points(lp: RelaxationLP, net: Network, x: np.ndarray, bounds: dict) -> tuple[np.ndarray, np.ndarray]:
    """The program points (S, num_vars) of the samples ``x`` that meet ``bounds``, and their outputs."""
    values = net.activations(x)
    ok = np.ones(len(x), dtype=bool)
    for src, (l, u) in bounds.items():
        z = values[src].reshape(len(x), -1)
        ok &= np.all((z >= l) & (z <= u), axis=1)
    return lp.point(x[ok]), net.forward(x[ok])


@pytest.mark.parametrize("seed", range(3))
def test_executions_are_points_of_the_program(seed):
    rng = np.random.default_rng(100 + seed)
    for kind, net in _kinds(rng):
        lp = RelaxationLP(net)
        n = net.input_size
        c = rng.normal(size=n) * 0.3
        lo, hi = c - rng.uniform(0.1, 1.0, n), c + rng.uniform(0.1, 1.0, n)
        full = intermediate_bounds(net, InputDomain(lo[None], hi[None]))
        x = rng.uniform(lo, hi, size=(4000, n))
        bounds = _cut(full, net.activations(x[:1]), rng)
        v, y = _points(lp, net, x, bounds)
        assert len(v) >= 20, kind
        rows, vlo, vhi = lp.program(lo, hi, bounds)
        G, g = rows.matrix(lp.num_vars)
        slack = G @ v.T - g[:, None]
        assert slack.max() <= TOL * (1 + np.abs(v).max()), (kind, slack.max())
        assert np.all(v >= vlo - TOL) and np.all(v <= vhi + TOL), kind
        A = rng.normal(size=(2, net.output_size))
        b = rng.normal(size=2)
        ex = lp.minimum_excess(lo, hi, bounds, A, b)
        assert ex.status is LPStatus.OPTIMAL, kind
        sampled = np.max(y @ A.T - b, axis=1).min()
        assert ex.value <= sampled + 1e-9, (kind, ex.value, sampled)


def test_domain_that_no_input_meets_is_infeasible():
    rng = np.random.default_rng(5)
    net = networks.dense(rng, ops.Sigmoid(), depth=1, width=3, n_in=2)
    lp = RelaxationLP(net)
    lo, hi = -np.ones(2), np.ones(2)
    bounds = {k: (l[0], u[0]) for k, (l, u) in intermediate_bounds(net, InputDomain(lo[None], hi[None])).items()}
    name = lp.sources[0]
    l, u = bounds[name]
    impossible = {name: (np.append(u[0] + 0.1, l[1:]), np.append(u[0] + 0.2, u[1:]))}
    ex = lp.minimum_excess(lo, hi, impossible, np.ones((1, 3)), np.zeros(1))
    assert ex.status is LPStatus.INFEASIBLE and ex.value == np.inf


@pytest.mark.parametrize("op", [ops.Sigmoid(), ops.Tanh()], ids=lambda a: a.describe())
def test_program_converges_to_the_network_as_intervals_shrink(op):
    """On a 1-D input cut into ever smaller pieces (with the bounds of each piece), the program's
    minimum of ``y_0`` tends to the network's minimum on the piece."""
    rng = np.random.default_rng(9)
    net = networks.dense(rng, op, depth=2, width=4, n_in=1, n_out=1)
    lp = RelaxationLP(net)
    gaps = []
    for width in (2.0, 0.2, 0.02):
        lo, hi = np.array([-0.5]), np.array([-0.5 + width])
        bounds = {k: (l[0], u[0]) for k, (l, u) in intermediate_bounds(net, InputDomain(lo[None], hi[None])).items()}
        true = net.forward(np.linspace(lo, hi, 2001))[:, 0].min()
        ex = lp.minimum_excess(lo, hi, bounds, np.ones((1, 1)), np.zeros(1))
        assert ex.value <= true + 1e-9
        gaps.append(true - ex.value)
    assert gaps[0] > 1e-5 and gaps[1] < gaps[0] / 5 and gaps[2] <= max(gaps[1] / 5, 1e-7), gaps  # floor: round-off


def test_max_pooling_has_no_encoding():
    rng = np.random.default_rng(2)
    with pytest.raises(UnsupportedError, match="MaxPool2d"):
        RelaxationLP(networks.pooled(rng, ops.Relu(), ops.MaxPool2d((2, 2), (2, 2))))


def test_saturated_sigmoids_get_flat_lines_that_executions_still_meet():
    """Pre-activations around +-30 give tangents of slope near 1e-13: such lines enter the program
    flat (no line slope in (0, 1e-9), where HiGHS's simplex stalled), and every execution is still a
    point of it."""
    rng = np.random.default_rng(21)
    net = Network.sequential((2,), [ops.Linear(rng.normal(size=(6, 2)) * 3, np.array([30, -30, 28, -31, 0.5, 29.0])),
                                    ops.Sigmoid(), ops.Linear(rng.normal(size=(2, 6)), rng.normal(size=2))])
    lp = RelaxationLP(net)
    lo, hi = -np.ones(2), np.ones(2)
    bounds = {k: (l[0], u[0]) for k, (l, u) in intermediate_bounds(net, InputDomain(lo[None], hi[None])).items()}
    rows, vlo, vhi = lp.program(lo, hi, bounds)
    G, g = rows.matrix(lp.num_vars)
    a = lp._a[0]
    z = lp._z[0]
    line_rows = np.flatnonzero(np.abs(G[:, a]).sum(axis=1) > 0)
    slopes = np.abs(G[line_rows][:, z].toarray())
    assert np.all((slopes == 0) | (slopes >= 1e-9))
    x = rng.uniform(lo, hi, size=(2000, 2))
    v = lp.point(x)
    assert (G @ v.T - g[:, None]).max() <= TOL
    assert np.all(v >= vlo - TOL) and np.all(v <= vhi + TOL)


def test_the_interior_point_method_gives_the_simplex_value(monkeypatch):
    """Large programs go to HiGHS's interior point method: on the same programs its checked value
    matches the simplex method's and stays below every sampled excess."""
    from nnreach.bounds import lp_relaxation

    rng = np.random.default_rng(7)
    for kind, net in _kinds(rng):
        lp = RelaxationLP(net)
        n = net.input_size
        lo, hi = -np.ones(n), np.ones(n)
        bounds = {k: (l[0], u[0]) for k, (l, u) in intermediate_bounds(net, InputDomain(lo[None], hi[None])).items()}
        A, b = rng.normal(size=(2, net.output_size)), rng.normal(size=2)
        simplex = lp.minimum_excess(lo, hi, bounds, A, b)
        monkeypatch.setattr(lp_relaxation, "INTERIOR_POINT_NONZEROS", 0)
        ipm = lp.minimum_excess(lo, hi, bounds, A, b)
        monkeypatch.undo()
        assert simplex.status is ipm.status is LPStatus.OPTIMAL, kind
        assert abs(simplex.value - ipm.value) <= 1e-6 * (1 + abs(simplex.value)), (kind, simplex.value, ipm.value)
        y = net.forward(rng.uniform(lo, hi, size=(2000, n)))
        assert ipm.value <= np.max(y @ A.T - b, axis=1).min() + 1e-9, kind
