"""The linear program of a network's relaxation on one domain, with a neuron-split domain's cuts as
constraints.

Variables: the network input ``x`` (in the domain's box), then for every activation node ``k`` in
topological order its input ``z_k`` and its output ``a_k``. Every other node's value is an affine
function of ``x`` and the ``a``'s (affine ops compose; :class:`RelaxationLP` finds the functions once
per network by pushing identity blocks through each op's forward pass), and ``z_k`` equals its
function (an equality row). On a domain with bounds ``[l, u]`` of every activation input:

* ``l <= z <= u`` are variable bounds, so the cuts of a branch-and-bound domain bound the program (what
  back-substitution cannot do without Lagrange multipliers, as in Beta-CROWN);
* ``a`` lies between the lower and the upper lines of the activation on ``[l, u]``: those of every
  lower-line rule of :mod:`.relaxations` and of its line family at :data:`FAMILY_POINTS` (so a ReLU
  gets the full triangle, a sigmoid three tangents on its convex side), and in ``[f(l), f(u)]``
  (every activation is non-decreasing).

:meth:`RelaxationLP.minimum_excess` then minimises ``t`` subject to ``A y - b <= t`` for an unsafe
polytope ``A y <= b``: a checked lower bound above 0 shows that no input of the domain reaches it.
The program is the tightest bound these relaxations give (optimised alpha and beta multipliers of
back-substitution approach it from below), and as the cuts shrink every interval the relaxations,
hence the program, converge to the network: this is what makes neuron splits complete for smooth
activations up to a tolerance. The point ``x`` of its optimum is a candidate counterexample.

Max pooling has no encoding here (:class:`~nnreach.errors.UnsupportedError`).

Reference: Ehlers, Formal Verification of Piece-Wise Linear Feed-Forward Neural Networks (Planet),
ATVA 2017; Salman et al., A Convex Relaxation Barrier to Tight Robustness Verification of Neural
Networks, NeurIPS 2019.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UnsupportedError
from ..lp import LinearProgram, LPStatus
from ..network.graph import INPUT, Network
from ..network.ops import Activation
from ..reach._apply import apply_flat, linear_part
from .relaxations import LOWER_SLOPES, line_family, relax

if TYPE_CHECKING:  # scipy.sparse is imported where used: it costs a tenth of a second at start-up
    import scipy.sparse as sp


FAMILY_POINTS = (0.0, 0.5, 1.0)
"""Parameters of the line families (:func:`.relaxations.line_family`) whose lines bound each activation
in the program, besides the default relaxations: both ends give the full triangle of a ReLU (slopes 0
and 1 below), three tangents bound a sigmoid's convex side."""


INTERIOR_POINT_NONZEROS = 100_000
"""Programs with at least this many non-zero coefficients are solved by the interior point method (a
6x200 sigmoid net's, 377,401: 2.2 s; with the links as two opposite inequalities, 735,401 and 3.6 s,
and 120 s by simplex); smaller ones by the simplex method (on nets of a few dozen neurons it was the
faster)."""
TINY_SLOPE = 1e-9
"""Lines with a smaller slope enter the program flat (:func:`_flattened`): a saturated sigmoid's
tangents have slopes near 1e-17, on which HiGHS ran 45,000 iterations and 48 s into a false claim of
infeasibility (the 6x200 sigmoid net at eps 0.03)."""


def _flattened(sign: float, slope: np.ndarray, bias: np.ndarray, l: np.ndarray, u: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """A lower (``sign`` 1) or upper (-1) line ``slope z + bias`` on ``[l, u]`` (arrays (n,)) with the
    slopes below :data:`TINY_SLOPE` replaced by the constant line through its minimum (lower) or
    maximum (upper) over the interval: still below (above) the activation, looser by at most
    ``|slope| (u - l)``."""
    tiny = np.abs(slope) < TINY_SLOPE
    if not tiny.any():
        return slope, bias
    ends = np.minimum(slope * l, slope * u) if sign > 0 else np.maximum(slope * l, slope * u)
    return np.where(tiny, 0.0, slope), np.where(tiny, bias + ends, bias)


@dataclass(frozen=True, slots=True)
class _Affine:
    """A node's flattened value ``sum_s blocks[s] @ v_s + const`` over the variable blocks ``v_s``
    (the input, or an activation's output): blocks (n_node, n_s), const (n_node,)."""

    blocks: dict[str, np.ndarray]
    const: np.ndarray


@dataclass(slots=True)
class _Rows:
    """Rows ``G v <= g`` in coordinate form, as lists of parts: ``count`` rows so far."""

    rows: list[np.ndarray]
    cols: list[np.ndarray]
    vals: list[np.ndarray]
    rhs: list[np.ndarray]
    count: int

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, rhs: np.ndarray) -> None:
        """Append ``len(rhs)`` rows given by their entries (row indices counted from 0)."""
        self.rows.append(self.count + rows)
        self.cols.append(cols)
        self.vals.append(vals)
        self.rhs.append(rhs)
        self.count += rhs.size

    def matrix(self, n_cols: int) -> tuple[sp.csr_array, np.ndarray]:
        """``(G, g)``: the rows as a sparse (count, n_cols) matrix and their right-hand sides."""
        import scipy.sparse as sp

        G = sp.csr_array((np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
                         shape=(self.count, n_cols))
        return G, np.concatenate(self.rhs)


@dataclass(frozen=True, slots=True)
class Excess:
    """The answer of :meth:`RelaxationLP.minimum_excess`.

    Attributes:
        status: the LP's status (INFEASIBLE: no point of the relaxation meets the domain's bounds).
        value: a checked lower bound of ``min max_i (A y - b)_i`` over the relaxation (``inf`` when
            infeasible, ``nan`` on a solver error).
        v: (num_vars,) an optimal point (the input, then every activation's input and output), or None.
    """

    status: LPStatus
    value: float
    v: np.ndarray | None


class RelaxationLP:
    """The affine structure of ``net`` between its activations, and programs built on it.

    Attributes:
        activations: the activation nodes, in order; ``sources[k]`` is the name of node k's input.
        n_in: the input's size; num_vars: the number of variables, ``n_in`` plus twice every
            activation's size.
    """

    def __init__(self, net: Network):
        self.net = net
        self.activations = [n for n in net.nodes if isinstance(n.op, Activation)]
        self.sources = [n.inputs[0] for n in self.activations]
        self.n_in = n_in = prod(net.input_shape)
        sizes = [prod(n.shape) for n in self.activations]
        starts = n_in + np.cumsum([0] + [2 * s for s in sizes])
        self.num_vars = int(starts[-1])
        self._z = [np.arange(s) + st for s, st in zip(sizes, starts[:-1])]       # columns of each z_k
        self._a = [np.arange(s) + st + s for s, st in zip(sizes, starts[:-1])]   # and of each a_k
        self._column = {INPUT: 0, **{n.name: int(st) + s for n, s, st in zip(self.activations, sizes, starts)}}
        values = {INPUT: _Affine({INPUT: np.eye(n_in)}, np.zeros(n_in))}
        for node in net.nodes:
            if isinstance(node.op, Activation):
                values[node.name] = _Affine({node.name: np.eye(prod(node.shape))}, np.zeros(prod(node.shape)))
            elif node.op.is_affine:
                values[node.name] = self._push(node, [values[i] for i in node.inputs])
            else:
                raise UnsupportedError(f"the LP relaxation does not support {type(node.op).__name__} (node {node.name!r})")
        self._output = self._matrix(values[net.output])
        links = _Rows([], [], [], [], 0)   # z_k = Z v + c, as Z v - z_k = -c (one more column: the excess t)
        for src, z in zip(self.sources, self._z):
            Z, c = self._matrix(values[src])
            zr = np.repeat(np.arange(z.size), np.diff(Z.indptr))
            rows, cols = np.concatenate([zr, np.arange(z.size)]), np.concatenate([Z.indices, z])
            links.add(rows, cols, np.concatenate([Z.data, -np.ones(z.size)]), -c)
        self._links = links.matrix(self.num_vars + 1)

    def _push(self, node, args: list[_Affine]) -> _Affine:
        """The value of an affine node from its arguments' values."""
        shapes = [self.net.shape_of(i) for i in node.inputs]
        const = apply_flat(node.op, [a.const[None] for a in args], shapes)[0]
        blocks: dict[str, np.ndarray] = {}
        for k, arg in enumerate(args):
            for name, M in arg.blocks.items():
                cols = [M if i == k else np.zeros((prod(s), M.shape[1])) for i, s in enumerate(shapes)]
                part = linear_part(node.op, cols, shapes)
                blocks[name] = blocks[name] + part if name in blocks else part
        return _Affine(blocks, const)

    def _matrix(self, value: _Affine) -> tuple[sp.csr_array, np.ndarray]:
        """``value`` as a sparse matrix over all variables and its constant."""
        import scipy.sparse as sp

        rows = value.const.size
        parts = []
        for name, M in value.blocks.items():
            coo = sp.coo_array(M)
            parts.append((coo.row, coo.col + self._column[name], coo.data))
        r, c, d = (np.concatenate(p) for p in zip(*parts))
        return sp.csr_array((d, (r, c)), shape=(rows, self.num_vars)), value.const

    def program(self, lo: np.ndarray, hi: np.ndarray, bounds: dict[str, tuple[np.ndarray, np.ndarray]]
                ) -> tuple[_Rows, np.ndarray, np.ndarray]:
        """Rows ``G v <= g`` (as triplets) and variable bounds of the relaxation on one domain: input
        box ``lo``, ``hi`` (n_in,) and finite bounds (n_k,) of every activation input by source name.

        Per neuron: ``s z - a <= -b`` for a lower line ``a >= s z + b`` and ``a - s z <= b`` for an
        upper one. The rows linking each ``z`` to its function are the same on every domain
        (``self._links``, equalities)."""
        G = _Rows([], [], [], [], 0)
        vlo, vhi = [np.asarray(lo, float)], [np.asarray(hi, float)]
        for node, src, z, a in zip(self.activations, self.sources, self._z, self._a):
            l, u = (np.asarray(b, float).reshape(-1) for b in bounds[src])
            f = node.op.forward
            vlo += [l, np.nextafter(f(l), -np.inf)]
            vhi += [u, np.nextafter(f(u), np.inf)]
            lines = {}
            fam = line_family(node.op, l[None], u[None])
            for alpha in FAMILY_POINTS:
                p = np.full((1, 1, l.size), alpha)
                lo_s, lo_b, hi_s, hi_b = (v[0, 0] for v in fam.evaluate(p, p)[0])
                lines[(1.0, lo_s.tobytes(), lo_b.tobytes())] = (1.0, lo_s, lo_b)
                lines[(-1.0, hi_s.tobytes(), hi_b.tobytes())] = (-1.0, hi_s, hi_b)
            for rule in LOWER_SLOPES:
                r = relax(node.op, l[None], u[None], rule)
                lines[(1.0, r.lo_slope.tobytes(), r.lo_bias.tobytes())] = (1.0, r.lo_slope[0], r.lo_bias[0])
                lines[(-1.0, r.hi_slope.tobytes(), r.hi_bias.tobytes())] = (-1.0, r.hi_slope[0], r.hi_bias[0])
            rows = np.tile(np.arange(z.size), 2)
            for sign, slope, bias in lines.values():
                slope, bias = _flattened(sign, slope, bias, l, u)
                G.add(rows, np.concatenate([z, a]), np.concatenate([sign * slope, np.full(z.size, -sign)]), -sign * bias)
        return G, np.concatenate(vlo), np.concatenate(vhi)

    def minimum_excess(self, lo: np.ndarray, hi: np.ndarray, bounds: dict[str, tuple[np.ndarray, np.ndarray]],
                       A: np.ndarray, b: np.ndarray, seconds: float = np.inf) -> Excess:
        """Minimise ``max_i (A y - b)_i`` over the relaxation on one domain (see :meth:`program`):
        one more variable ``t`` with ``A y - b <= t``; the solve stops after ``seconds`` (status
        ``TIME_LIMIT``)."""
        import scipy.sparse as sp

        G, vlo, vhi = self.program(lo, hi, bounds)
        n = self.num_vars
        E, e = self._output
        obj = sp.coo_array(np.hstack([(sp.csr_array(A) @ E).toarray(), -np.ones((A.shape[0], 1))]))
        G.add(obj.row, obj.col, obj.data, b - A @ e)
        M, rhs = G.matrix(n + 1)
        L, ell = self._links
        lp = LinearProgram(M, rhs, np.append(vlo, -np.inf), np.append(vhi, np.inf), A_eq=L, b_eq=ell)
        lp.limit_time(seconds)
        if M.nnz + L.nnz >= INTERIOR_POINT_NONZEROS:
            lp.interior_point()
        res = lp.minimize(np.append(np.zeros(n), 1.0))
        return Excess(res.status, res.value, None if res.x is None else res.x[:n])

    def violations(self, v: np.ndarray) -> list[np.ndarray]:
        """Per activation node, ``|a - f(z)|`` (n_k,) at the point ``v`` of a program: how far the
        relaxation lets each output stray from the activation there."""
        return [np.abs(v[a] - node.op.forward(v[z])) for node, z, a in zip(self.activations, self._z, self._a)]

    def point(self, x: np.ndarray) -> np.ndarray:
        """The program variables (S, num_vars) of an execution of the network from inputs ``x`` (S, n_in)."""
        values = self.net.activations(x)
        v = np.zeros((len(x), self.num_vars))
        v[:, :self.n_in] = x.reshape(len(x), -1)
        for node, src, z, a in zip(self.activations, self.sources, self._z, self._a):
            v[:, z] = values[src].reshape(len(x), -1)
            v[:, a] = values[node.name].reshape(len(x), -1)
        return v
