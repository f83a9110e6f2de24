"""Optimised linear bounds: alpha-CROWN and beta-CROWN by projected gradient ascent, in numpy.

Back-substitution (:func:`.linear.backward`) gives, for objective rows ``C`` over a node ``z`` and
every choice of sound relaxation lines, a lower bound ``min_a (A a + c)`` of ``C z`` on each domain.
Where a line is free to move (a :class:`.relaxations.LineFamily`: the lower ReLU line's slope, a
tangent point of sigmoid or tanh; a :class:`.relaxations.PoolFamily`: the weights of max pooling's
lower line over its window) each row may choose its own, parameterised by ``alpha`` in [0, 1];
split constraints of a domain (``lo <= z_j <= hi``) enter through multipliers ``beta >= 0``
(:class:`.linear.Lagrangian`). Every choice of ``alpha`` in range and ``beta >= 0`` gives a sound
bound, so the parameters are optimised freely: Adam steps up the gradient of the sum of the rows'
bounds (each row has its own parameters, so each row is maximised), projected back into range, and
the best bound seen for each row is kept (the first is plain CROWN: never looser).

Gradients come by reverse mode through the back-substitution. The bound is ``c + A a*`` at the box
corner ``a*`` that minimises it; going back over the pass, the gradient in the coefficients that
reached node ``v`` is the value of ``v`` computed *forwards* from ``a*`` through the same linear maps:
an affine op's adjoint of its vector-Jacobian product is its forward map, and an activation's is the
line each coefficient used. So one forward pass of the ``B x k`` corners, with the lines chosen by
the backward pass, gives every gradient: a line's slope gets ``L x`` and its intercept ``L`` (``L``
the coefficient reaching it, ``x`` the forward value of its input; a pooling weight ``w_i`` gets
``L x_i``), a multiplier ``beta_hi`` gets
``z - hi`` and ``beta_lo`` gets ``lo - z``.

Shapes: ``B`` domains, ``k`` objective rows, ``n`` neurons of a node.

Reference: Xu et al., Fast and Complete: Enabling Complete Neural Network Verification with Rapid and
Massively Parallel Incomplete Verifiers (alpha-CROWN), ICLR 2021; Wang et al., Beta-CROWN: Efficient
Bound Propagation with Per-neuron Split Constraints for Neural Network Robustness Verification, NeurIPS
2021; Kingma and Ba, Adam, ICLR 2015.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..network.graph import INPUT, Network
from ..network.ops import Activation, Linear, MaxPool2d, Product, pool_windows
from .linear import ELEMENTWISE, Bounds, InputDomain, Lagrangian, LinearBound, Relaxations, Tape, _by_sign, backward, domain_bounds
from .relaxations import LineFamily, PoolFamily, line_family, pool_family


@dataclass(frozen=True, slots=True)
class Optimisation:
    """Settings of the gradient ascent.

    Attributes:
        steps: Adam steps at most.
        lr_alpha, lr_beta: step sizes of the line parameters and of the multipliers.
        decay: factor applied to the step sizes after every step.
        patience: stop when the summed bound has not improved by ``tol`` (relative) for this many steps.
        tol: see ``patience``.
    """

    steps: int = 20
    lr_alpha: float = 0.1
    lr_beta: float = 0.05
    decay: float = 0.98
    patience: int = 5
    tol: float = 1e-4

    @classmethod
    def none(cls) -> "Optimisation":
        """No optimisation: plain CROWN with split multipliers at 0."""
        return cls(steps=0)


Pairs = dict[str, tuple[np.ndarray | None, np.ndarray | None]]
"""Per node name, a (lower, upper) pair of (B, k, n) arrays; None for a side that has no parameter."""


@dataclass(frozen=True, slots=True)
class Mixture:
    """Objectives that are nonnegative mixtures of rows: objective ``p`` is ``sum_r w_r (rows_r z -
    rhs_r)`` over the rows ``r`` with ``owner[r] == p``, with weights ``w >= 0`` summing to 1 over
    each objective's rows, optimised with the rest. Where it is positive, some row of ``p`` is
    positive: the bound of the mixture proves a polytope ``rows z <= rhs`` empty, as the LP
    ``min max_r`` would, without an LP.

    Attributes:
        rows: (R, n) rows over the bounded node's value; rhs: (R,); owner: (R,) objective of each row.
        count: the number P of objectives.
    """

    rows: np.ndarray
    rhs: np.ndarray
    owner: np.ndarray
    count: int

    @property
    def members(self) -> np.ndarray:
        """(P, R): which rows each objective mixes."""
        return self.owner[None] == np.arange(self.count)[:, None]

    def uniform(self, B: int) -> np.ndarray:
        """Equal weights (B, R) within each objective."""
        return np.broadcast_to(1.0 / np.bincount(self.owner, minlength=self.count)[self.owner], (B, self.owner.size)).copy()

    def objectives(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mixed rows (B, P, n) and right-hand sides (B, P) for weights ``w`` (B, R)."""
        W = w[:, None, :] * self.members[None]
        return W @ self.rows, W @ self.rhs

    def project(self, w: np.ndarray) -> np.ndarray:
        """``w`` (B, R) projected onto the simplex of each objective (Euclidean: the nearest weights)."""
        out = np.empty_like(w)
        for p in range(self.count):
            cols = np.flatnonzero(self.owner == p)
            out[:, cols] = _simplex(w[:, cols])
        return out


def _simplex(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` (B, r) projected onto the probability simplex (Duchi et al., ICML 2008)."""
    r = v.shape[1]
    if r == 1:
        return np.ones_like(v)
    u = -np.sort(-v, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    ind = np.arange(1, r + 1)
    rho = np.sum(u - css / ind > 0, axis=1)
    theta = css[np.arange(len(v)), rho - 1] / rho
    return np.maximum(v - theta[:, None], 0.0)


@dataclass(frozen=True, slots=True)
class Parameters:
    """The optimised parameters of B domains, to warm-start children from their parent.

    Attributes:
        alpha: per activation node, the lower and upper line parameters (B, k, n) in [0, 1] (None for
            a side with no variable line).
        beta: per split node, the multipliers of the lower and upper constraints (B, k, n), >= 0 (None
            for a side with no constraint).
        weights: the rows' weights (B, R) of a :class:`Mixture`, or None.
    """

    alpha: Pairs
    beta: Pairs
    weights: np.ndarray | None = None

    def take(self, index: np.ndarray) -> "Parameters":
        """The parameters of domains ``index`` (an index array into B, repeats allowed)."""
        pick = lambda d: {k: tuple(None if v is None else v[index] for v in pair) for k, pair in d.items()}
        return Parameters(pick(self.alpha), pick(self.beta), None if self.weights is None else self.weights[index])

    @staticmethod
    def concatenate(parts: list["Parameters"], sizes: list[int]) -> "Parameters":
        """The parameters of several batches of ``sizes`` domains, one after the other. A node missing from
        some batch gets zeros there: its domains have no variable line (no multiplier) at that node,
        and domains only lose those as they are split, so the values are never used."""
        def cat(key):
            out = {}
            for name in {n for p in parts for n in getattr(p, key)}:
                pair = []
                for side in (0, 1):
                    given = [getattr(p, key).get(name, (None, None))[side] for p in parts]
                    shape = next((g.shape[1:] for g in given if g is not None), None)
                    pair.append(None if shape is None else np.concatenate(
                        [np.zeros((size, *shape)) if g is None else g for g, size in zip(given, sizes)]))
                out[name] = tuple(pair)
            return out
        w = None if parts[0].weights is None else np.concatenate([p.weights for p in parts])
        return Parameters(cat("alpha"), cat("beta"), w)


Family = LineFamily | PoolFamily


def families(net: Network, bounds: Bounds) -> dict[str, Family]:
    """The line families of the activation and max pooling nodes whose input bounds are known, where
    some line is free to move."""
    out = {}
    for node in net.nodes:
        src = node.inputs[0]
        if src not in bounds:
            continue
        if isinstance(node.op, Activation):
            fam = line_family(node.op, *bounds[src])
        elif isinstance(node.op, MaxPool2d):
            fam = pool_family(pool_windows(node.op, net.shape_of(src)), *bounds[src])
        else:
            continue
        if any(fam.variable()):
            out[node.name] = fam
    return out


def optimise(net: Network, domain: InputDomain, start: str, C: np.ndarray | Mixture, bounds: Bounds, *,
             cuts: Bounds | None = None, init: Parameters | None = None,
             settings: Optimisation = Optimisation(), goal: float | np.ndarray = np.inf,
             relaxations: Relaxations | None = None, record: tuple[str, ...] = (),
             until: float | None = None) -> tuple[LinearBound, Parameters]:
    """The best lower bounds of ``C z`` (``z`` the flattened value of node ``start``) over the line
    parameters and split multipliers, and the parameters that gave them.

    Args:
        C: (k, n_start) or (B, k, n_start) objective rows, or a :class:`Mixture` of rows (then the
            bounds are of the ``k = P`` mixed objectives minus their right-hand sides).
        bounds: bounds of every relaxed node's input between the input and ``start``, valid on the
            domains' inputs that satisfy ``cuts``.
        cuts: split constraints ``lo <= z <= hi`` (B, n) by node name (infinite: none), or None.
        init: parameters to start from (a parent's, repeated for its children), or None for the
            default relaxation's lines, zero multipliers and equal weights. Nodes missing from it
            start so too.
        settings: the gradient ascent: after a pass at the default lines, ``steps`` passes from
            ``init`` on (with no steps but an ``init``, one pass at it).
        goal: a row whose bound exceeds this (scalar or (B, k)) needs no more work; the ascent stops
            when every row does.
        relaxations: a cache of the default relaxations on ``bounds``.
        record: nodes whose incoming coefficients to return, from the last pass (which has the best
            parameters when the ascent stopped at its goal, others close to them).
        until: a ``time.monotonic()`` instant after which the ascent stops with the best bound so far
            (every pass gives a sound bound), or None.
    Returns:
        The bound (each row's best) and the parameters of each row's best.
    """
    rel = relaxations if relaxations is not None else Relaxations(bounds, "adaptive")
    B = domain.size
    mix = C if isinstance(C, Mixture) else None
    weights = None
    if mix is not None:
        weights = mix.uniform(B) if init is None or init.weights is None else np.array(init.weights)
        C, rhs = mix.objectives(weights)
    passes = settings.steps or (1 if init is not None else 0)   # no steps: the given parameters' bound
    fams = families(net, bounds) if passes else {}
    if rel.lower == "adaptive":   # the families' default lines are the relaxations (line_family's rule)
        for name, fam in fams.items():
            if isinstance(fam, LineFamily):
                rel.adopt(name, fam.base)
    best = backward(net, domain, start, C, bounds, relaxations=rel, record=record)
    if mix is not None:
        best = LinearBound(best.A, best.c - rhs, best.lower - rhs, best.recorded)
    k = best.lower.shape[1]
    cut_nodes = {name: cut for name, cut in (cuts or {}).items()
                 if np.any(np.isfinite(cut[0])) or np.any(np.isfinite(cut[1]))}
    layout = _Layout(B, k, fams, cut_nodes, init)
    mixed = mix is not None and np.any(np.bincount(mix.owner) > 1)
    if not passes or not (layout.total or mixed) or np.all(best.lower > goal):
        return best, layout.parameters(layout.values, weights)
    A, c, lower, recorded = best.A.copy(), best.c.copy(), best.lower.copy(), best.recorded
    P = layout.values                       # (B, k, total): every parameter, the blocks are views
    best_P, best_w = P.copy(), None if weights is None else weights.copy()
    adam = _Adam(settings, layout)
    stale, score = 0, lower.sum()
    for step in range(passes):
        alpha, beta = layout.pairs(P)
        evals = {name: fam.evaluate(*alpha[name]) for name, fam in fams.items()}
        tape = Tape()
        if mix is not None:
            C, rhs = mix.objectives(weights)
        lb = backward(net, domain, start, C, bounds, relaxations=rel, lines={n: e[0] for n, e in evals.items()},
                      lagrangian=Lagrangian(cut_nodes, beta) if beta else None, tape=tape, record=record)
        recorded = lb.recorded
        now_c, now_lower = (lb.c - rhs, lb.lower - rhs) if mix is not None else (lb.c, lb.lower)
        better = now_lower > lower
        if better.any():
            keep = better[..., None]
            A = np.where(keep, lb.A, A)
            c, lower = np.where(better, now_c, c), np.where(better, now_lower, lower)
            best_P = np.where(keep, P, best_P)
            if mix is not None:
                rows_better = better[:, mix.owner]
                best_w[rows_better] = weights[rows_better]
        if np.all(lower > goal):
            break
        new_score = lower.sum()
        stale = 0 if new_score - score > settings.tol * (1 + abs(score)) else stale + 1
        score = max(score, new_score)
        if stale >= settings.patience or step == passes - 1 or (until is not None and time.monotonic() > until):
            break
        G = np.zeros_like(P)
        z = reverse(net, domain, tape, lb.A, fams, evals, cut_nodes, layout, G)
        P = adam.ascend(P, G)
        if mix is not None:   # d/dw_r of (w . (rows z - rhs)) at each objective's corner
            g_weights = np.einsum("brn,rn->br", z[:, mix.owner], mix.rows) - mix.rhs
            weights = mix.project(adam.ascend_weights(weights, g_weights))
    return LinearBound(A, c, lower, recorded), layout.parameters(best_P, best_w)


class _Layout:
    """Where each parameter block lives in one array (B, k, total): the line parameters of every
    family side that has a variable line, then the multipliers of every split side that has a
    constraint; with the bounds of each entry for the projection and the initial values."""

    def __init__(self, B: int, k: int, fams: dict[str, Family], cut_nodes: Bounds, init: Parameters | None):
        self.blocks: list[tuple[str, str, int, slice]] = []
        pos = 0
        for kind, items in (("alpha", [(n, f.variable(), f.size) for n, f in fams.items()]),
                            ("beta", [(n, tuple(np.isfinite(c).any() for c in cut), cut[0].shape[1])
                                      for n, cut in cut_nodes.items()])):
            for name, sides, n in items:
                for side in (0, 1):
                    if sides[side]:
                        self.blocks.append((kind, name, side, slice(pos, pos + n)))
                        pos += n
        self.total = pos
        self.names = {"alpha": list(fams), "beta": list(cut_nodes)}
        self.hi = np.full(pos, np.inf)
        self.values = np.zeros((B, k, pos))
        for kind, name, side, sl in self.blocks:
            if kind == "alpha":
                self.hi[sl] = 1.0
                fam = fams[name]
                given = init.alpha.get(name, (None, None))[side] if init is not None else None
                start = fam.init(side)[:, None] if given is None else given
            else:
                given = init.beta.get(name, (None, None))[side] if init is not None else None
                start = 0.0 if given is None else given
                start = np.where(np.isfinite(cut_nodes[name][side])[:, None], start, 0.0)  # no constraint, no multiplier
            self.values[..., sl] = start

    def pairs(self, P: np.ndarray) -> tuple[Pairs, Pairs]:
        """Views of ``P`` as alpha and beta pairs (None where a side has no block)."""
        out = {"alpha": {n: [None, None] for n in self.names["alpha"]}, "beta": {n: [None, None] for n in self.names["beta"]}}
        for kind, name, side, sl in self.blocks:
            out[kind][name][side] = P[..., sl]
        return ({n: tuple(v) for n, v in out["alpha"].items()}, {n: tuple(v) for n, v in out["beta"].items()})

    def parameters(self, P: np.ndarray, weights: np.ndarray | None) -> "Parameters":
        alpha, beta = self.pairs(P)
        return Parameters(alpha, beta, weights)


class _Adam:
    """Adam ascent (Kingma and Ba) of a flat parameter array, projected into each entry's range
    (alpha into [0, 1], beta onto >= 0), and of a mixture's weights (projected by the caller)."""

    B1, B2, EPS = 0.9, 0.999, 1e-8

    def __init__(self, settings: Optimisation, layout: _Layout):
        self.s = settings
        self.lr = np.array([settings.lr_alpha if kind == "alpha" else settings.lr_beta
                            for kind, _, _, sl in layout.blocks for _ in range(sl.stop - sl.start)])
        self.hi = layout.hi
        self.t = {"params": 0, "weights": 0}
        self.m: dict = {}
        self.v: dict = {}

    def _step(self, key: str, x: np.ndarray, g: np.ndarray, lr) -> np.ndarray:
        self.t[key] += 1
        t = self.t[key]
        m = self.m.setdefault(key, np.zeros_like(g))
        v = self.v.setdefault(key, np.zeros_like(g))
        m *= self.B1
        m += (1 - self.B1) * g
        v *= self.B2
        v += (1 - self.B2) * g * g
        scale = lr * (self.s.decay ** (t - 1) / (1 - self.B1 ** t))
        return x + scale * m / (np.sqrt(v / (1 - self.B2 ** t)) + self.EPS)

    def ascend(self, P: np.ndarray, G: np.ndarray) -> np.ndarray:
        """One step of the parameters ``P`` along their gradient ``G`` (B, k, total), projected."""
        return np.clip(self._step("params", P, G, self.lr), 0.0, self.hi)

    def ascend_weights(self, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        return self._step("weights", w, g, self.s.lr_alpha)


def reverse(net: Network, domain: InputDomain, tape: Tape, A: np.ndarray, fams: dict[str, Family],
            evals: dict[str, tuple], cut_nodes: Bounds, layout: _Layout, G: np.ndarray) -> np.ndarray:
    """Gradients of the summed bound of a back-substitution pass (recorded on ``tape``, with
    coefficients ``A`` (B, k, m) over the domain variables) in the line parameters of ``fams``
    (evaluated as in ``evals``: :meth:`LineFamily.evaluate`) and in the multipliers of ``cut_nodes``,
    written into ``G`` (B, k, total) at the blocks of ``layout``. Returns the gradient in the
    objective rows (B, k, n_start): the start node's forward value at each row's minimising corner."""
    B, k, _ = A.shape
    alpha_grads, beta_grads = layout.pairs(G)
    mid, rad = (domain.lo + domain.hi) / 2, (domain.hi - domain.lo) / 2
    corner = mid[:, None] - np.sign(A) * rad[:, None]                    # (B, k, m): minimises each row
    x = corner if domain.basis is None else domain.center[:, None] + np.matmul(corner, np.swapaxes(domain.basis, 1, 2))
    values = {INPUT: x}
    if INPUT in cut_nodes:
        _split_gradients(x, *cut_nodes[INPUT], *beta_grads[INPUT])
    for node in reversed(tape.nodes):     # topological order
        op = node.op
        ins = [values[i] for i in node.inputs]
        if isinstance(op, ELEMENTWISE):
            L, up, slope, bias = tape.lines[node.name]
            v = ins[0] * slope + bias
            fam = fams.get(node.name)
            if fam is not None:
                fam.gradients(evals[node.name][1], L, ins[0], up, *alpha_grads[node.name])
        elif isinstance(op, MaxPool2d):
            L, r, given = tape.lines[node.name]
            up = L < 0
            idx = _by_sign(up, r.hi_index, r.lo_index)
            v = (np.take_along_axis(ins[0], idx, axis=-1) * _by_sign(up, r.lines.hi_slope, r.lines.lo_slope)
                 + _by_sign(up, r.lines.hi_bias, r.lines.lo_bias))
            if given is not None:   # the lower lines: convex combinations of the window's entries
                win, w = given
                lower = np.sum(w * ins[0][..., np.maximum(win, 0)], axis=-1) + r.lines.lo_bias[:, None]
                v = np.where(up, v, lower)
                fams[node.name].gradients(evals[node.name][1], L, ins[0], alpha_grads[node.name][0])
        elif isinstance(op, Product):
            L, r = tape.lines[node.name]
            v = (ins[0] * r.x_slope[:, None] + ins[1] * r.y_slope[:, None]
                 + np.where(L < 0, r.hi_bias[:, None], r.lo_bias[:, None]))
        elif isinstance(op, Linear) and len(net.shape_of(node.inputs[0])) == 1:
            v = (ins[0].reshape(B * k, -1) @ op.weight.T + op.bias).reshape(B, k, -1)
        else:
            shaped = [w.reshape(B * k, *net.shape_of(i)) for w, i in zip(ins, node.inputs)]
            v = op.forward(*shaped).reshape(B, k, -1)
        values[node.name] = v
        if node.name in cut_nodes:
            _split_gradients(v, *cut_nodes[node.name], *beta_grads[node.name])
    return values[tape.nodes[0].name] if tape.nodes else np.zeros((B, k, 0))


def _split_gradients(z: np.ndarray, lo: np.ndarray, hi: np.ndarray, g_lo: np.ndarray | None,
                     g_hi: np.ndarray | None) -> None:
    """Write into ``g_lo``, ``g_hi`` (B, k, n; None: no block) the gradients in ``beta_lo``, ``beta_hi``
    of ``beta_hi (z - hi) - beta_lo (z - lo)`` at the forward values ``z`` (B, k, n); 0 where the
    constraint is infinite."""
    if g_lo is not None:
        g_lo[...] = np.where(np.isfinite(lo)[:, None], lo[:, None] - z, 0.0)
    if g_hi is not None:
        g_hi[...] = np.where(np.isfinite(hi)[:, None], z - hi[:, None], 0.0)


def optimised_bounds(net: Network, domain: InputDomain, *, prior: Bounds | None = None, tol: float = 0.0,
                     settings: Optimisation = Optimisation(),
                     plain: tuple[Bounds, np.ndarray] | None = None,
                     check: Callable[[], None] | None = None, until: float | None = None) -> tuple[Bounds, np.ndarray]:
    """:func:`.linear.domain_bounds` with every neuron's bounds optimised (alpha-CROWN: each bound
    row has its own line parameters), node by node in order, so later nodes are relaxed on the
    tighter bounds of earlier ones, and intersected with the plain bounds (back-substitution is not
    monotone in the bounds it relaxes on, so a neuron's plain bound can be the better one). Costs
    ``settings.steps`` back-substitutions per node: meant for a root, where tighter bounds leave fewer
    neurons to split. ``plain``: what :func:`.linear.domain_bounds` gave on these arguments, if known;
    ``check`` is called before each node (see :func:`.linear.domain_bounds`). ``until``: a
    ``time.monotonic()`` instant after which the ascent stops, and later nodes get back-substitution
    only (a budget for the optimisation: the bounds stay sound, only less tight)."""
    plain, empty = plain if plain is not None else domain_bounds(net, domain, prior=prior, tol=tol)

    def rows(start, C, bounds, rel):
        late = until is not None and time.monotonic() > until
        return optimise(net, domain, start, C, bounds, settings=Optimisation.none() if late else settings,
                        relaxations=rel, until=until)[0].lower

    bounds, more = domain_bounds(net, domain, prior=plain, tol=tol, rows=rows, check=check)
    return bounds, empty | more
