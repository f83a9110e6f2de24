"""Symbolic linear bounds by back-substitution (DeepPoly / CROWN), batched over many input domains.

For a batch of ``B`` input domains and objective rows ``C`` over some node's value ``z``,
:func:`backward` returns linear functions of the domain's variables with ``C z >= A a + c`` on each
domain, by back-substitution: coefficients travel from the node back to the input; an affine op
passes them through its transposed linear part (its vector-Jacobian product), an activation or a max
pooling through the lower or upper line of its relaxation (:mod:`.relaxations`) according to the
coefficient's sign (a max pooling output's line runs through one entry of its window), and so do the
functions of ``Unary`` and products, through their lines and planes (:mod:`.elementwise`).

A domain is a box of variables ``a`` in ``[lo, hi]``, mapped to the network input by an optional
affine map ``x = center + basis a`` (:class:`InputDomain`): plain input boxes have no map; the regions
of a star-set search have one per domain (the star's center and basis) and start the network at an
inner node (:meth:`nnreach.network.Network.suffix`).

Relaxations need bounds on the inputs of every relaxed node (activation, function of ``Unary``, max
pooling; both factors of a product).
:func:`intermediate_bounds` computes them in topological order by back-substitution from each such
input, intersected with interval bounds and with ``prior`` bounds known to hold on the domains (a
parent domain's bounds in branch-and-bound, or the linear piece a split fixed a neuron to). Only the
neurons whose relaxation is not yet exact are recomputed, and none where the interval bounds are
already as tight as back-substitution would make them (the input, and the output of a relaxed node
whose input bounds are: every line has a slope >= 0, so bounding through it cannot beat the interval
image of those bounds).

Shapes: ``B`` domains, ``m`` domain variables, bounds of a node are (B, n_node) over its flattened
value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Callable

import numpy as np

from ..errors import UnsupportedError
from ..network.graph import INPUT, Network
from ..network.ops import Activation, Add, ElementwiseAffine, Linear, MaxPool2d, Product, SparseAffine, Unary, pool_windows
from ..reach.relax import crosses_breakpoint
from .elementwise import ProductRelaxation, product_range, relax_product, relax_unary, unary_range
from .relaxations import PoolRelaxation, Relaxation, max_pool_exact, relax, relax_max_pool

ELEMENTWISE = (Activation, Unary)
"""Ops bounded by one line below and one above per entry."""
RELAXED = (Activation, Unary, MaxPool2d, Product)
"""Ops that back-substitution bounds by lines, which need bounds of their inputs."""


def relaxed_inputs(node) -> tuple[str, ...]:
    """The inputs of a relaxed node whose bounds its relaxation needs: both factors of a product,
    the only input of the others."""
    return tuple(node.inputs) if isinstance(node.op, Product) else tuple(node.inputs[:1])

Bounds = dict[str, tuple[np.ndarray, np.ndarray]]
"""Per name of a relaxed node's input: lower and upper bounds (B, n) of its flattened value."""


@dataclass(frozen=True, slots=True)
class InputDomain:
    """``B`` domains of the network input: ``x = center_b + basis_b a`` for ``a`` in ``[lo_b, hi_b]``,
    or ``x = a`` when there is no map.

    Attributes:
        lo, hi: (B, m) variable bounds, ``lo <= hi``.
        center: (B, n_in) or None.
        basis: (B, n_in, m) or None (both or neither).
    """

    lo: np.ndarray
    hi: np.ndarray
    center: np.ndarray | None = None
    basis: np.ndarray | None = None

    def __post_init__(self):
        if self.lo.ndim != 2 or self.lo.shape != self.hi.shape:
            raise ValueError(f"domain bounds must be (B, m) arrays of one shape, got {self.lo.shape}, {self.hi.shape}")
        if (self.center is None) != (self.basis is None):
            raise ValueError("a domain map needs both center and basis")
        if self.basis is not None and (self.basis.shape[0] != self.lo.shape[0] or self.basis.shape[2] != self.lo.shape[1]
                                       or self.center.shape != self.basis.shape[:2]):
            raise ValueError(f"domain map shapes {self.center.shape}, {self.basis.shape} do not fit bounds {self.lo.shape}")

    @property
    def size(self) -> int:
        """Number B of domains."""
        return self.lo.shape[0]

    def input_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Interval bounds (B, n_in) of the network input over each domain."""
        if self.basis is None:
            return self.lo, self.hi
        mid, rad = (self.lo + self.hi) / 2, (self.hi - self.lo) / 2
        c = self.center + np.matmul(self.basis, mid[:, :, None])[..., 0]
        r = np.matmul(np.abs(self.basis), rad[:, :, None])[..., 0]
        return c - r, c + r

    def pull_back(self, A: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A linear function ``A x + c`` of the input, (B, k, n_in), (B, k), as ``A' a + c'`` of the
        domain variables: (B, k, m), (B, k)."""
        if self.basis is None:
            return A, c
        return np.matmul(A, self.basis), c + np.matmul(A, self.center[:, :, None])[..., 0]

    def minimum(self, A: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Minimum over each domain's box of ``A a + c``: (B, k, m), (B, k) -> (B, k)."""
        mid, rad = (self.lo + self.hi) / 2, (self.hi - self.lo) / 2
        return c + np.matmul(A, mid[:, :, None])[..., 0] - np.matmul(np.abs(A), rad[:, :, None])[..., 0]


@dataclass(frozen=True, slots=True)
class LinearBound:
    """``C z >= A a + c`` on every domain; ``lower`` is its minimum over the domain's box.

    Attributes:
        A: (B, k, m) over the domain variables. c: (B, k). lower: (B, k).
        recorded: for each node asked for, the coefficients (B, k, n_node) that reached its
            (flattened) value during back-substitution.
    """

    A: np.ndarray
    c: np.ndarray
    lower: np.ndarray
    recorded: dict[str, np.ndarray] = field(default_factory=dict)


class Relaxations:
    """Relaxations of the relaxed nodes for one set of bounds, computed once and reused by every
    back-substitution (keyed by node name)."""

    __slots__ = ("bounds", "lower", "_cache")

    def __init__(self, bounds: Bounds, lower: str):
        self.bounds, self.lower, self._cache = bounds, lower, {}

    def of(self, node, in_shape: tuple[int, ...] | None = None) -> Relaxation | PoolRelaxation | ProductRelaxation:
        """The relaxation of a relaxed node; max pooling needs the per-sample shape ``in_shape`` of
        its input."""
        r = self._cache.get(node.name)
        if r is None:
            l, u = self.bounds[node.inputs[0]]
            if isinstance(node.op, MaxPool2d):
                r = relax_max_pool(pool_windows(node.op, in_shape), l, u)
            elif isinstance(node.op, Product):
                r = relax_product(l, u, *self.bounds[node.inputs[1]])
            elif isinstance(node.op, Unary):
                r = relax_unary(node.op, l, u)
            else:
                r = relax(node.op, l, u, self.lower)
            self._cache[node.name] = r
        return r

    def adopt(self, name: str, relaxation: Relaxation) -> None:
        """Take ``relaxation`` as the node ``name``'s, computed elsewhere on the same bounds with the
        same lower-line rule (a line family's default lines, whose tangent points are costly)."""
        self._cache.setdefault(name, relaxation)


@dataclass(frozen=True, slots=True)
class Lagrangian:
    """Split constraints of B domains with their multipliers (beta-CROWN).

    A domain of branch-and-bound may restrict the inputs ``z`` of relaxed nodes to ``lo <= z <= hi``
    (its splits). Back-substitution bounds ``C y`` over the whole box, so it adds ``beta_hi (z - hi) -
    beta_lo (z - lo)`` with ``beta >= 0``, which is ``<= 0`` wherever the constraints hold: the result
    is a lower bound of ``C y`` on the inputs that satisfy them, and the multipliers let a split
    tighten the whole bound, not only the split neuron's relaxation.

    Attributes:
        cuts: per node name, the constraints (lo, hi) (B, n), infinite where there is none.
        beta: per node name of ``cuts``, the multipliers (beta_lo, beta_hi) (B, k, n), >= 0, and 0
            where the constraint is infinite.
    """

    cuts: Bounds
    beta: dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(slots=True)
class Tape:
    """What a back-substitution pass leaves for the reverse pass of :mod:`.optimised`: the nodes the
    coefficients reached, in the order they were processed, and per activation node the coefficients
    ``L`` reaching its output and the slopes and intercepts used (B, k, n); per max pooling node the
    coefficients, the relaxation and the lower lines' ``(win, w)`` given (or None)."""

    nodes: list = field(default_factory=list)
    lines: dict = field(default_factory=dict)


def backward(net: Network, domain: InputDomain, start: str, C: np.ndarray, bounds: Bounds, *,
             lower: str = "adaptive", relaxations: Relaxations | None = None,
             record: tuple[str, ...] = (), lines: dict[str, tuple] | None = None,
             lagrangian: Lagrangian | None = None, tape: Tape | None = None) -> LinearBound:
    """Lower linear bounds of ``C z`` where ``z`` is the flattened value of node ``start``.

    Args:
        C: (k, n_start) or (B, k, n_start) objective rows.
        bounds: bounds of every relaxed node's input between the input and ``start``.
        lower: the lower-line rule of ReLU-shaped relaxations (see :mod:`.relaxations`).
        relaxations: a cache built on ``bounds`` to share between calls.
        record: nodes whose incoming coefficients to return in ``LinearBound.recorded``.
        lines: per activation node, ``(lo_slope, lo_bias, hi_slope, hi_bias)`` broadcastable to
            (B, k, n) to use instead of its relaxation (sound lines on its bounds, e.g. of a
            :class:`.relaxations.LineFamily`); one line per objective row. Per max pooling node,
            ``(win, w)``: the windows (n_out, K) and the weights (B, k, n_out, K) of lower lines
            ``y >= sum_i w_i x_i`` (:class:`.relaxations.PoolFamily`).
        lagrangian: split constraints with multipliers (the bound then holds where they hold).
        tape: filled with what the reverse pass needs.
    """
    rel = relaxations if relaxations is not None else Relaxations(bounds, lower)
    B = domain.size
    C = np.broadcast_to(C, (B, *C.shape[-2:])) if C.ndim == 2 else C
    k = C.shape[1]
    coef: dict[str, np.ndarray] = {start: C}
    const = np.zeros((B, k))
    recorded = {}
    for node in reversed(net.nodes):  # coefficients only reach the ancestors of ``start``
        L = coef.pop(node.name, None)
        if L is None:
            continue
        if lagrangian is not None and node.name in lagrangian.beta:
            L = _add_split_terms(L, const, *lagrangian.cuts[node.name], *lagrangian.beta[node.name])
        if tape is not None:
            tape.nodes.append(node)
        if node.name in record:
            recorded[node.name] = L
        op = node.op
        if isinstance(op, ELEMENTWISE):
            given = lines.get(node.name) if lines is not None else None
            if given is None and tape is None:
                r = rel.of(node)
                pos = np.maximum(L, 0)
                new = L * r.hi_slope[:, None]
                new += pos * (r.lo_slope - r.hi_slope)[:, None]
                const += np.matmul(L, r.hi_bias[:, :, None])[..., 0]
                const += np.matmul(pos, (r.lo_bias - r.hi_bias)[:, :, None])[..., 0]
            else:
                if given is None:
                    r = rel.of(node)
                    given = (r.lo_slope[:, None], r.lo_bias[:, None], r.hi_slope[:, None], r.hi_bias[:, None])
                lo_s, lo_b, hi_s, hi_b = given
                up = L < 0
                slope, bias = np.where(up, hi_s, lo_s), np.where(up, hi_b, lo_b)
                new = L * slope
                const += np.sum(L * bias, axis=-1)
                if tape is not None:
                    tape.lines[node.name] = (L, up, slope, bias)
            _accumulate(coef, node.inputs[0], new)
        elif isinstance(op, MaxPool2d):
            src = node.inputs[0]
            r = rel.of(node, net.shape_of(src))
            n_in = prod(net.shape_of(src))
            given = lines.get(node.name) if lines is not None else None
            if given is None:
                new, c = _through_max_pool(L, r, n_in)
            else:   # the lower lines are convex combinations of the window's entries
                new, c = _through_max_pool(np.minimum(L, 0.0), r, n_in)
                pos = np.maximum(L, 0.0)
                new += _spread(pos[..., None] * given[1], given[0], n_in)
                c += np.sum(pos * r.lines.lo_bias[:, None], axis=-1)
            const += c
            if tape is not None:
                tape.lines[node.name] = (L, r, given)
            _accumulate(coef, src, new)
        elif isinstance(op, Product):   # one plane per coefficient: the lower one where it is >= 0
            r = rel.of(node)
            const += np.sum(L * np.where(L < 0, r.hi_bias[:, None], r.lo_bias[:, None]), axis=-1)
            if tape is not None:
                tape.lines[node.name] = (L, r)
            _accumulate(coef, node.inputs[0], L * r.x_slope[:, None])
            _accumulate(coef, node.inputs[1], L * r.y_slope[:, None])
        elif isinstance(op, Linear) and len(net.shape_of(node.inputs[0])) == 1:
            flat = L.reshape(B * k, -1)
            const += (flat @ op.bias).reshape(B, k)
            _accumulate(coef, node.inputs[0], (flat @ op.weight).reshape(B, k, -1))
        elif op.is_affine:
            in_shapes = [net.shape_of(i) for i in node.inputs]
            f0 = op.forward(*(np.zeros((1, *s)) for s in in_shapes)).reshape(-1)
            const += L @ f0
            dummies = tuple(np.broadcast_to(np.zeros(()), (B * k, *s)) for s in in_shapes)
            grads = op.backward(dummies, L.reshape(B * k, *node.shape))
            for name, g, s in zip(node.inputs, grads, in_shapes):
                _accumulate(coef, name, g.reshape(B, k, prod(s)))
        else:
            raise UnsupportedError(f"symbolic linear bounds do not support {type(op).__name__} (node {node.name!r})")
    A_in = coef.get(INPUT, np.zeros((B, k, prod(net.input_shape))))
    if lagrangian is not None and INPUT in lagrangian.beta:
        A_in = _add_split_terms(A_in, const, *lagrangian.cuts[INPUT], *lagrangian.beta[INPUT])
    A, c = domain.pull_back(A_in, const)
    return LinearBound(A, c, domain.minimum(A, c), recorded)


def _add_split_terms(L: np.ndarray, const: np.ndarray, lo: np.ndarray, hi: np.ndarray, beta_lo: np.ndarray,
                     beta_hi: np.ndarray) -> np.ndarray:
    """``L`` (B, k, n) plus the coefficients of ``beta_hi (z - hi) - beta_lo (z - lo)``, whose constant
    goes into ``const`` (B, k) in place; infinite constraints have zero multipliers, a side with no
    constraint at all may have None."""
    if beta_lo is not None:
        const += np.sum(beta_lo * np.where(np.isfinite(lo), lo, 0.0)[:, None], axis=-1)
        L = L - beta_lo
    if beta_hi is not None:
        const -= np.sum(beta_hi * np.where(np.isfinite(hi), hi, 0.0)[:, None], axis=-1)
        L = L + beta_hi
    return L


def _accumulate(coef: dict, name: str, value: np.ndarray) -> None:
    coef[name] = coef[name] + value if name in coef else value


def _through_max_pool(L: np.ndarray, r: PoolRelaxation, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (B, k, n_in) and constant (B, k) of a lower bound of ``L y`` for max pooling outputs
    ``y`` (coefficients ``L`` (B, k, n_out)): each coefficient goes to the entry of its output's lower
    line if positive, of its upper line if negative, summed over the windows sharing an entry."""
    B, k, _ = L.shape
    up = L < 0
    const = np.sum(L * _by_sign(up, r.lines.hi_bias, r.lines.lo_bias), axis=-1)
    target = _by_sign(up, r.hi_index, r.lo_index) + (np.arange(B * k) * n_in).reshape(B, k, 1)
    weights = L * _by_sign(up, r.lines.hi_slope, r.lines.lo_slope)
    new = np.bincount(target.ravel(), weights.ravel(), minlength=B * k * n_in)
    return new.reshape(B, k, n_in), const


def _spread(weights: np.ndarray, win: np.ndarray, n_in: int) -> np.ndarray:
    """Coefficients (B, k, n_in) from ``weights`` (B, k, n_out, K) on the window entries ``win``
    (n_out, K; -1 for padding, whose weights must be 0), summed over the windows sharing an entry."""
    B, k = weights.shape[:2]
    target = np.maximum(win, 0)[None] + (np.arange(B * k) * n_in).reshape(B * k, 1, 1)
    return np.bincount(target.ravel(), weights.reshape(B * k, *win.shape).ravel(), minlength=B * k * n_in).reshape(B, k, n_in)


def _by_sign(up: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Per coefficient (B, k, n_out), the upper line's value ``hi`` (B, n_out) where ``up``, else the
    lower line's ``lo``."""
    return np.where(up, hi[:, None], lo[:, None])


def _interval_through(op, l, u, in_shape):
    """Interval image of one single-input node (used to intersect symbolic bounds), or None."""
    if isinstance(op, Unary):
        return unary_range(op, l, u)
    if isinstance(op, Activation):
        if not op.monotone:
            return None
        return op.forward(l), op.forward(u)
    if isinstance(op, MaxPool2d):  # non-decreasing in every entry
        return tuple(op.forward(v.reshape(-1, *in_shape)).reshape(v.shape[0], -1) for v in (l, u))
    if isinstance(op, Linear) and len(in_shape) == 1 or isinstance(op, (SparseAffine, ElementwiseAffine)):
        mid, rad = ((v.reshape(-1, *in_shape) for v in ((l + u) / 2, (u - l) / 2)))
        c, r = op.forward(mid).reshape(len(l), -1), op.magnitude().forward(rad).reshape(len(l), -1)
        return c - r, c + r
    return None


def _box_through(net: Network, node, bounds: Bounds, box: dict[str, tuple]) -> None:
    """Put into ``box`` the interval image of ``node``, where its inputs' bounds (``bounds`` for a
    relaxed node's, ``box`` for the others') say it cheaply."""
    op = node.op
    if isinstance(op, Product):
        if all(i in bounds for i in node.inputs):
            box[node.name] = product_range(*bounds[node.inputs[0]], *bounds[node.inputs[1]])
        return
    if isinstance(op, Add):
        if all(i in box for i in node.inputs):
            box[node.name] = tuple(box[node.inputs[0]][s] + box[node.inputs[1]][s] for s in (0, 1))
        return
    if len(node.inputs) != 1:
        return
    src = node.inputs[0]
    prev = bounds.get(src) if isinstance(op, RELAXED) else box.get(src)
    if prev is not None:
        out = _interval_through(op, *prev, net.shape_of(src))
        if out is not None:
            box[node.name] = out


def _inexact(op, l: np.ndarray, u: np.ndarray, in_shape: tuple[int, ...]) -> np.ndarray:
    """Entries (B, n) of the input of a relaxed node whose relaxation on [l, u] is not exact, per
    domain: neurons of an activation, entries of a max pooling window."""
    if isinstance(op, MaxPool2d):
        win = pool_windows(op, in_shape)
        loose = ~max_pool_exact(win, l, u)                        # (B, n_out) windows
        out = np.zeros(l.shape, dtype=bool)
        b, w = np.nonzero(loose)
        entries = win[w]                                          # (k, K)
        keep = entries >= 0
        out[np.repeat(b, entries.shape[1])[keep.ravel()], entries[keep]] = True
        return out
    if not isinstance(op, Activation) or op.breakpoints is None:
        return u > l
    return crosses_breakpoint(op, l, u)


PACK = 0.7
"""Neurons are bounded per domain (each domain's own undecided neurons, padded to the most any
domain has) rather than for the union over the batch when that is under this fraction of it."""
CHUNK = 2 ** 23
"""Entries of the coefficient arrays (domains x rows x the network's width) a call of the row bounds
may hold at once: a node's neurons are bounded in chunks of rows under it. Measured on a conv net
with max pooling: the root's optimised bounds of all its neurons at once held arrays of hundreds of
MB, and the kernel's time to map and clear their pages exceeded the arithmetic."""


def intermediate_bounds(net: Network, domain: InputDomain, *, lower: str = "adaptive",
                        prior: Bounds | None = None) -> Bounds:
    """Bounds (B, n) of the inputs of every relaxed node (see :func:`relaxed_inputs`), by name of that
    input node.

    Args:
        lower: the lower-line rule of ReLU-shaped relaxations.
        prior: bounds known to hold on these domains already (entries may be infinite); results are
            intersected with them, and only neurons whose relaxation they leave inexact are
            recomputed.
    """
    return domain_bounds(net, domain, lower=lower, prior=prior)[0]


RowBounds = Callable[[str, np.ndarray, Bounds, "Relaxations"], np.ndarray]
"""``f(node, C, bounds, relaxations)``: lower bounds (B, k) of the rows ``C`` (k, n) over a node's value,
given the bounds (and their relaxations) of the relaxed nodes before it."""


def domain_bounds(net: Network, domain: InputDomain, *, lower: str = "adaptive", prior: Bounds | None = None,
                  tol: float = 0.0, rows: RowBounds | None = None, keep: frozenset = frozenset(),
                  check: Callable[[], None] | None = None) -> tuple[Bounds, np.ndarray]:
    """:func:`intermediate_bounds` and which domains (B,) they show empty: some neuron's computed
    bounds and its ``prior`` ones cross by more than ``tol (1 + |l| + |u|)``, so no input of the domain satisfies
    the prior (a branch-and-bound split that cuts off the whole domain). The bounds of an empty
    domain are clamped to ``lower <= upper`` and mean nothing. ``rows`` bounds each node's neurons
    (default: :func:`backward`; :func:`nnreach.bounds.optimised.optimised_bounds` passes alpha-CROWN).
    The nodes in ``keep`` take their ``prior`` bounds as they are (finite bounds that recomputing
    cannot improve: a parent's, where nothing before the node changed). ``check`` is called before
    each node's neurons are bounded (a deadline's, which raises to stop)."""
    prior = prior or {}
    bounds: Bounds = {}
    empty = np.zeros(domain.size, dtype=bool)
    rel = Relaxations(bounds, lower)
    width = sum(prod(net.shape_of(n.name)) for n in net.nodes)
    size = max(1, CHUNK // (2 * domain.size * width))

    def bound(src: str, n: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (B, k) of the neurons ``idx`` of node ``src`` (``n`` neurons; (k,) the
        same for every domain or (B, k) each domain's own), bounded as unit rows in chunks."""
        lo, hi = [], []
        for s in range(0, idx.shape[-1], size):
            part = idx[..., s:s + size]
            eye = np.zeros((*part.shape, n))
            np.put_along_axis(eye, part[..., None], 1.0, axis=-1)
            C = np.concatenate([eye, -eye], axis=-2)
            lb = (rows(src, C, bounds, rel) if rows is not None
                  else backward(net, domain, src, C, bounds, relaxations=rel).lower)
            lo.append(lb[:, :part.shape[-1]])
            hi.append(-lb[:, part.shape[-1]:])
        return np.concatenate(lo, axis=1), np.concatenate(hi, axis=1)

    box: dict[str, tuple] = {INPUT: domain.input_bounds()}  # interval bounds of node values, where cheap
    tight = {INPUT}  # nodes whose box back-substitution cannot tighten
    B = domain.size
    for node in net.nodes:
        for src in relaxed_inputs(node) if isinstance(node.op, RELAXED) else ():
            if src in bounds:
                continue
            shape = net.shape_of(src)
            n = prod(shape)
            l, u = np.full((B, n), -np.inf), np.full((B, n), np.inf)
            for known in (box.get(src), prior.get(src)):
                if known is not None:
                    l, u = np.maximum(l, known[0]), np.minimum(u, known[1])
            todo = _inexact(node.op, l, u, shape) | ~(np.isfinite(l) & np.isfinite(u))   # (B, n)
            idx = np.flatnonzero(todo.any(axis=0))
            packed = False
            if idx.size and src not in tight and src not in keep:
                if check is not None:
                    check()
                most = int(todo.sum(axis=1).max())
                packed = most < PACK * idx.size
                if packed:   # each domain its own neurons (padded with others: still valid)
                    own = np.argsort(~todo, axis=1, kind="stable")[:, :most]              # (B, most)
                    lo, hi = bound(src, n, own)
                    at = np.arange(B)[:, None]
                    l[at, own] = np.maximum(l[at, own], lo)
                    u[at, own] = np.minimum(u[at, own], hi)
                else:
                    lo, hi = bound(src, n, idx)
                    l[:, idx] = np.maximum(l[:, idx], lo)
                    u[:, idx] = np.minimum(u[:, idx], hi)
            # the interval image of exact bounds through one input is as tight as lines can make it
            # (not so for a product, whose factors may depend on each other)
            if not isinstance(node.op, Product) and (src in tight or (idx.size == n and not packed)):
                tight.add(node.name)
            empty |= np.any(l - u > tol * (1 + np.abs(l) + np.abs(u)), axis=1)
            bounds[src] = (l, np.maximum(u, l))
        _box_through(net, node, bounds, box)
    return bounds, empty
