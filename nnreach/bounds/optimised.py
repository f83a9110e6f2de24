"""Optimised linear bounds: alpha-CROWN and beta-CROWN by projected gradient ascent, in numpy.

Back-substitution (:func:`.linear.backward`) gives, for objective rows ``C`` over a node ``z`` and
every choice of sound relaxation lines, a lower bound ``min_a (A a + c)`` of ``C z`` on each domain.
Where a line is free to move (a :class:`.relaxations.LineFamily`: the lower ReLU line's slope, a
tangent point of sigmoid or tanh) each row may choose its own, parameterised by ``alpha`` in [0, 1];
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
the coefficient reaching it, ``x`` the forward value of its input), a multiplier ``beta_hi`` gets
``z - hi`` and ``beta_lo`` gets ``lo - z``.

Shapes: ``B`` domains, ``k`` objective rows, ``n`` neurons of a node.

Reference: Xu et al., Fast and Complete: Enabling Complete Neural Network Verification with Rapid and
Massively Parallel Incomplete Verifiers (alpha-CROWN), ICLR 2021; Wang et al., Beta-CROWN: Efficient
Bound Propagation with Per-neuron Split Constraints for Neural Network Robustness Verification, NeurIPS
2021; Kingma and Ba, Adam, ICLR 2015.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network.graph import INPUT, Network
from ..network.ops import Activation, Linear, MaxPool2d
from .linear import Bounds, InputDomain, Lagrangian, LinearBound, Relaxations, Tape, _by_sign, backward
from .relaxations import LineFamily, line_family


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


Pairs = dict[str, tuple[np.ndarray, np.ndarray]]
"""Per node name, a (lower, upper) pair of (B, k, n) arrays."""


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
        alpha: per activation node, the lower and upper line parameters (B, k, n) in [0, 1].
        beta: per split node, the multipliers of the lower and upper constraints (B, k, n), >= 0.
        weights: the rows' weights (B, R) of a :class:`Mixture`, or None.
    """

    alpha: Pairs
    beta: Pairs
    weights: np.ndarray | None = None

    def take(self, index: np.ndarray) -> "Parameters":
        """The parameters of domains ``index`` (an index array into B, repeats allowed)."""
        pick = lambda d: {k: (lo[index], hi[index]) for k, (lo, hi) in d.items()}
        return Parameters(pick(self.alpha), pick(self.beta), None if self.weights is None else self.weights[index])

    @staticmethod
    def concatenate(parts: list["Parameters"]) -> "Parameters":
        """The parameters of several batches of domains, one after the other (same nodes in each)."""
        cat = lambda key: {name: tuple(np.concatenate([getattr(p, key)[name][s] for p in parts]) for s in (0, 1))
                           for name in getattr(parts[0], key)}
        w = None if parts[0].weights is None else np.concatenate([p.weights for p in parts])
        return Parameters(cat("alpha"), cat("beta"), w)


def families(net: Network, bounds: Bounds) -> dict[str, LineFamily]:
    """The line families of the activation nodes whose input bounds are known, where some line is
    free to move."""
    out = {}
    for node in net.nodes:
        if isinstance(node.op, Activation) and node.inputs[0] in bounds:
            fam = line_family(node.op, *bounds[node.inputs[0]])
            if fam.lo.mask.any() or fam.hi.mask.any():
                out[node.name] = fam
    return out


def optimise(net: Network, domain: InputDomain, start: str, C: np.ndarray | Mixture, bounds: Bounds, *,
             cuts: Bounds | None = None, init: Parameters | None = None,
             settings: Optimisation = Optimisation(), goal: float | np.ndarray = np.inf,
             relaxations: Relaxations | None = None) -> tuple[LinearBound, Parameters]:
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
        settings: the gradient ascent.
        goal: a row whose bound exceeds this (scalar or (B, k)) needs no more work; the ascent stops
            when every row does.
        relaxations: a cache of the default relaxations on ``bounds``.
    Returns:
        The bound (each row's best, ``recorded`` empty) and the parameters of each row's best.
    """
    rel = relaxations if relaxations is not None else Relaxations(bounds, "adaptive")
    B = domain.size
    mix = C if isinstance(C, Mixture) else None
    weights = None
    if mix is not None:
        weights = mix.uniform(B) if init is None or init.weights is None else np.array(init.weights)
        C, rhs = mix.objectives(weights)
    best = backward(net, domain, start, C, bounds, relaxations=rel)
    if mix is not None:
        best = LinearBound(best.A, best.c - rhs, best.lower - rhs)
    k = best.lower.shape[1]
    fams = families(net, bounds) if settings.steps else {}
    cut_nodes = {name: cut for name, cut in (cuts or {}).items()
                 if np.any(np.isfinite(cut[0])) or np.any(np.isfinite(cut[1]))}
    alpha = {name: _start(init.alpha if init else None, name, (B, k, fam.l.shape[1]), fam.lo.init, fam.hi.init)
             for name, fam in fams.items()}
    beta = {name: _start(init.beta if init else None, name, (B, k, lo.shape[1]), None, None)
            for name, (lo, _) in cut_nodes.items()}
    for name, (lo, hi) in cut_nodes.items():   # no multiplier without a constraint
        beta[name] = (np.where(np.isfinite(lo)[:, None], beta[name][0], 0.0), np.where(np.isfinite(hi)[:, None], beta[name][1], 0.0))
    best_params = Parameters({n: (a.copy(), b.copy()) for n, (a, b) in alpha.items()},
                             {n: (a.copy(), b.copy()) for n, (a, b) in beta.items()},
                             None if weights is None else weights.copy())
    optimised = fams or cut_nodes or (mix is not None and np.any(np.bincount(mix.owner) > 1))
    if not settings.steps or not optimised or np.all(best.lower > goal):
        return best, best_params
    A, c, lower = best.A.copy(), best.c.copy(), best.lower.copy()
    adam = _Adam(settings, alpha, beta, weights)
    stale, score = 0, lower.sum()
    for _ in range(settings.steps):
        evals = {name: fam.evaluate(*alpha[name]) for name, fam in fams.items()}
        tape = Tape()
        if mix is not None:
            C, rhs = mix.objectives(weights)
        lb = backward(net, domain, start, C, bounds, relaxations=rel, lines={n: e[0] for n, e in evals.items()},
                      lagrangian=Lagrangian(cut_nodes, beta) if beta else None, tape=tape)
        now_c, now_lower = (lb.c - rhs, lb.lower - rhs) if mix is not None else (lb.c, lb.lower)
        better = now_lower > lower
        if better.any():
            keep = better[..., None]
            A = np.where(keep, lb.A, A)
            c, lower = np.where(better, now_c, c), np.where(better, now_lower, lower)
            for store, current in ((best_params.alpha, alpha), (best_params.beta, beta)):
                for name, (lo_, hi_) in current.items():
                    store[name] = (np.where(keep, lo_, store[name][0]), np.where(keep, hi_, store[name][1]))
            if mix is not None:
                rows_better = better[:, mix.owner]
                best_params.weights[rows_better] = weights[rows_better]
        if np.all(lower > goal):
            break
        new_score = lower.sum()
        stale = 0 if new_score - score > settings.tol * (1 + abs(score)) else stale + 1
        score = max(score, new_score)
        if stale >= settings.patience:
            break
        g_alpha, g_beta, z = reverse(net, domain, tape, lb.A, fams, evals, cut_nodes)
        g_weights = None
        if mix is not None:   # d/dw_r of (w . (rows z - rhs)) at each objective's corner
            g_weights = np.einsum("brn,rn->br", z[:, mix.owner], mix.rows) - mix.rhs
        weights = adam.ascend(alpha, g_alpha, beta, g_beta, weights, g_weights)
        if mix is not None:
            weights = mix.project(weights)
    return LinearBound(A, c, lower), best_params


def _start(given: Pairs | None, name: str, shape: tuple[int, int, int], lo_init, hi_init):
    """A node's parameters: copies of the given ones (broadcast over rows if they have one), else the
    initial values (B, n) of the family broadcast over the rows, or zeros."""
    if given is not None and name in given:
        return tuple(np.array(np.broadcast_to(p, shape)) for p in given[name])
    return tuple(np.zeros(shape) if init is None else np.array(np.broadcast_to(init[:, None], shape))
                 for init in (lo_init, hi_init))


class _Adam:
    """Adam ascent with projection: alpha into [0, 1], beta onto >= 0 (mixture weights are projected
    by the caller)."""

    def __init__(self, settings: Optimisation, alpha: Pairs, beta: Pairs, weights: np.ndarray | None):
        self.s = settings
        self.t = 0
        self.m: dict = {}
        self.v: dict = {}

    def _step(self, key, x: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
        b1, b2, eps = 0.9, 0.999, 1e-8
        m = self.m.setdefault(key, np.zeros_like(g))
        v = self.v.setdefault(key, np.zeros_like(g))
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        scale = lr * self.s.decay ** (self.t - 1)
        return x + scale * (m / (1 - b1 ** self.t)) / (np.sqrt(v / (1 - b2 ** self.t)) + eps)

    def ascend(self, alpha: Pairs, g_alpha: Pairs, beta: Pairs, g_beta: Pairs, weights, g_weights):
        """One step of every parameter (``alpha`` and ``beta`` in place); returns the new weights."""
        self.t += 1
        for key, params, grads, lr, hi in (("alpha", alpha, g_alpha, self.s.lr_alpha, 1.0),
                                           ("beta", beta, g_beta, self.s.lr_beta, np.inf)):
            for name, pair in params.items():
                params[name] = tuple(np.clip(self._step((key, name, side), pair[side], grads[name][side], lr), 0.0, hi)
                                     for side in (0, 1))
        if weights is None:
            return None
        return self._step("weights", weights, g_weights, self.s.lr_alpha)


def reverse(net: Network, domain: InputDomain, tape: Tape, A: np.ndarray, fams: dict[str, LineFamily],
            evals: dict[str, tuple], cut_nodes: Bounds) -> tuple[Pairs, Pairs, np.ndarray]:
    """Gradients of the summed bound of a back-substitution pass (recorded on ``tape``, with
    coefficients ``A`` (B, k, m) over the domain variables) in the line parameters of ``fams``
    (evaluated as in ``evals``: :meth:`LineFamily.evaluate`) and in the multipliers of ``cut_nodes``,
    and the gradient in the objective rows (B, k, n_start): the start node's forward value at each
    row's minimising corner."""
    B, k, _ = A.shape
    mid, rad = (domain.lo + domain.hi) / 2, (domain.hi - domain.lo) / 2
    corner = mid[:, None] - np.sign(A) * rad[:, None]                    # (B, k, m): minimises each row
    x = corner if domain.basis is None else domain.center[:, None] + np.matmul(corner, np.swapaxes(domain.basis, 1, 2))
    values = {INPUT: x}
    g_alpha: Pairs = {}
    g_beta: Pairs = {}
    if INPUT in cut_nodes:
        g_beta[INPUT] = _split_gradients(x, *cut_nodes[INPUT])
    for node in reversed(tape.nodes):     # topological order
        op = node.op
        ins = [values[i] for i in node.inputs]
        if isinstance(op, Activation):
            L, up, slope, bias = tape.lines[node.name]
            v = ins[0] * slope + bias
            fam = fams.get(node.name)
            if fam is not None:
                gs = L * ins[0]
                zero = np.zeros_like(L)
                g_alpha[node.name] = fam.gradients(evals[node.name][1], np.where(up, zero, gs), np.where(up, zero, L),
                                                   np.where(up, gs, zero), np.where(up, L, zero))
        elif isinstance(op, MaxPool2d):
            L, r = tape.lines[node.name]
            up = L < 0
            idx = _by_sign(up, r.hi_index, r.lo_index)
            v = (np.take_along_axis(ins[0], idx, axis=-1) * _by_sign(up, r.lines.hi_slope, r.lines.lo_slope)
                 + _by_sign(up, r.lines.hi_bias, r.lines.lo_bias))
        elif isinstance(op, Linear) and len(net.shape_of(node.inputs[0])) == 1:
            v = ins[0] @ op.weight.T + op.bias
        else:
            shaped = [w.reshape(B * k, *net.shape_of(i)) for w, i in zip(ins, node.inputs)]
            v = op.forward(*shaped).reshape(B, k, -1)
        values[node.name] = v
        if node.name in cut_nodes:
            g_beta[node.name] = _split_gradients(v, *cut_nodes[node.name])
    z = values[tape.nodes[0].name] if tape.nodes else np.zeros((B, k, 0))
    for name in fams:
        g_alpha.setdefault(name, (np.zeros((B, k, fams[name].l.shape[1])),) * 2)
    for name in cut_nodes:
        g_beta.setdefault(name, (np.zeros((B, k, cut_nodes[name][0].shape[1])),) * 2)
    return g_alpha, g_beta, z


def _split_gradients(z: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients in ``beta_lo``, ``beta_hi`` (B, k, n) of ``beta_hi (z - hi) - beta_lo (z - lo)`` at the
    forward values ``z`` (B, k, n); 0 where the constraint is infinite."""
    lo_, hi_ = lo[:, None], hi[:, None]
    return (np.where(np.isfinite(lo_), lo_ - z, 0.0), np.where(np.isfinite(hi_), z - hi_, 0.0))
