"""The linear program of a network's relaxation on one domain, with a neuron-split domain's cuts as
constraints.

Variables: the network input ``x`` (in the domain's box), then the output ``a_k`` of every activation
node ``k``, in topological order. Every other node's value is an affine function of these (affine ops
compose; :class:`RelaxationLP` finds the functions once per network by pushing identity blocks
through each op's forward pass). On a domain with bounds ``[l, u]`` of every activation input ``z``:

* ``l <= z <= u`` is a constraint, so the cuts of a branch-and-bound domain bound the program (what
  back-substitution cannot do without Lagrange multipliers, as in Beta-CROWN);
* ``a`` lies between the lower and the upper line of each relaxation of the activation on ``[l, u]``
  (every lower-line rule of :mod:`.relaxations`, so a ReLU gets the full triangle), and in
  ``[f(l), f(u)]`` (every activation is non-decreasing).

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

import numpy as np
import scipy.sparse as sp

from ..errors import UnsupportedError
from ..lp import LinearProgram, LPStatus
from ..network.graph import INPUT, Network
from ..network.ops import Activation
from .relaxations import LOWER_SLOPES, relax


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
        v: (num_vars,) an optimal point (the input first, then every activation's output), or None.
    """

    status: LPStatus
    value: float
    v: np.ndarray | None


class RelaxationLP:
    """The affine structure of ``net`` between its activations, and programs built on it.

    Attributes:
        activations: the activation nodes, in order; ``sources[k]`` is the name of node k's input.
        offsets: start of each variable block (the input first, then one per activation), and the
            total number of variables last.
    """

    def __init__(self, net: Network):
        self.net = net
        self.activations = [n for n in net.nodes if isinstance(n.op, Activation)]
        self.sources = [n.inputs[0] for n in self.activations]
        names = [INPUT] + [n.name for n in self.activations]
        sizes = [prod(net.input_shape)] + [prod(n.shape) for n in self.activations]
        self.offsets = np.cumsum([0] + sizes)
        self._column = dict(zip(names, self.offsets[:-1]))
        values = {INPUT: _Affine({INPUT: np.eye(sizes[0])}, np.zeros(sizes[0]))}
        for node in net.nodes:
            if isinstance(node.op, Activation):
                values[node.name] = _Affine({node.name: np.eye(prod(node.shape))}, np.zeros(prod(node.shape)))
            elif node.op.is_affine:
                values[node.name] = self._push(node, [values[i] for i in node.inputs])
            else:
                raise UnsupportedError(f"the LP relaxation does not support {type(node.op).__name__} (node {node.name!r})")
        self._inputs = [self._matrix(values[s]) for s in self.sources]
        self._output = self._matrix(values[net.output])

    @property
    def num_vars(self) -> int:
        return int(self.offsets[-1])

    def _push(self, node, args: list[_Affine]) -> _Affine:
        """The value of an affine node from its arguments' values."""
        shapes = [self.net.shape_of(i) for i in node.inputs]
        zeros = [np.zeros((1, *s)) for s in shapes]
        f0 = node.op.forward(*zeros).reshape(-1)
        const = node.op.forward(*(a.const.reshape(1, *s) for a, s in zip(args, shapes))).reshape(-1)
        blocks: dict[str, np.ndarray] = {}
        for k, (arg, s) in enumerate(zip(args, shapes)):
            for name, M in arg.blocks.items():
                batch = [np.zeros((M.shape[1], *t)) for t in shapes]
                batch[k] = M.T.reshape(M.shape[1], *s)
                part = (node.op.forward(*batch).reshape(M.shape[1], -1) - f0).T
                blocks[name] = blocks[name] + part if name in blocks else part
        return _Affine(blocks, const)

    def _matrix(self, value: _Affine) -> tuple[sp.csr_array, np.ndarray]:
        """``value`` as a sparse matrix over all variables and its constant."""
        rows = value.const.size
        parts = []
        for name, M in value.blocks.items():
            coo = sp.coo_array(M)
            parts.append((coo.row, coo.col + self._column[name], coo.data))
        r, c, d = (np.concatenate(p) for p in zip(*parts))
        return sp.csr_array((d, (r, c)), shape=(rows, self.num_vars)), value.const

    def program(self, lo: np.ndarray, hi: np.ndarray, bounds: dict[str, tuple[np.ndarray, np.ndarray]]
                ) -> tuple[_Rows, np.ndarray, np.ndarray]:
        """Rows ``G v <= g`` (as triplets) and variable bounds of the relaxation on one domain: input box ``lo``,
        ``hi`` (n_in,) and finite bounds (n_k,) of every activation input by source name.

        Per neuron of input ``z = Z v + c`` and output ``a``: ``s Z v - a <= -b - s c`` for a lower
        line ``a >= s z + b``, ``a - s Z v <= b + s c`` for an upper one, and ``l <= Z v + c <= u``."""
        vlo, vhi = [np.asarray(lo, float)], [np.asarray(hi, float)]
        G = _Rows([], [], [], [], 0)
        for node, src, (Z, c) in zip(self.activations, self.sources, self._inputs):
            l, u = (np.asarray(b, float).reshape(-1) for b in bounds[src])
            n = l.size
            f = node.op.forward
            vlo.append(np.nextafter(f(l), -np.inf))
            vhi.append(np.nextafter(f(u), np.inf))
            zr = np.repeat(np.arange(n), np.diff(Z.indptr))
            a_row, a_col = np.arange(n), np.arange(n) + self._column[node.name]
            lines = {}
            for rule in LOWER_SLOPES:
                r = relax(node.op, l[None], u[None], rule)
                lines[(1.0, r.lo_slope.tobytes(), r.lo_bias.tobytes())] = (1.0, r.lo_slope[0], r.lo_bias[0])
                lines[(-1.0, r.hi_slope.tobytes(), r.hi_bias.tobytes())] = (-1.0, r.hi_slope[0], r.hi_bias[0])
            for sign, slope, bias in lines.values():
                G.add(np.concatenate([zr, a_row]), np.concatenate([Z.indices, a_col]),
                      np.concatenate([sign * slope[zr] * Z.data, np.full(n, -sign)]), sign * (-bias - slope * c))
            G.add(zr, Z.indices, Z.data, u - c)
            G.add(zr, Z.indices, -Z.data, c - l)
        return G, np.concatenate(vlo), np.concatenate(vhi)

    def minimum_excess(self, lo: np.ndarray, hi: np.ndarray, bounds: dict[str, tuple[np.ndarray, np.ndarray]],
                       A: np.ndarray, b: np.ndarray) -> Excess:
        """Minimise ``max_i (A y - b)_i`` over the relaxation on one domain (see :meth:`program`):
        one more variable ``t`` with ``A y - b <= t``."""
        G, vlo, vhi = self.program(lo, hi, bounds)
        n = self.num_vars
        E, e = self._output
        obj = sp.coo_array(np.hstack([(sp.csr_array(A) @ E).toarray(), -np.ones((A.shape[0], 1))]))
        G.add(obj.row, obj.col, obj.data, b - A @ e)
        lp = LinearProgram(*G.matrix(n + 1), np.append(vlo, -np.inf), np.append(vhi, np.inf))
        res = lp.minimize(np.append(np.zeros(n), 1.0))
        return Excess(res.status, res.value, None if res.x is None else res.x[:n])

    def violations(self, v: np.ndarray) -> list[np.ndarray]:
        """Per activation node, ``|a - f(z)|`` (n_k,) at the point ``v`` of a program: how far the
        relaxation lets each output stray from the activation there."""
        out = []
        for node, (Z, c), start, end in zip(self.activations, self._inputs, self.offsets[1:-1], self.offsets[2:]):
            out.append(np.abs(v[start:end] - node.op.forward(Z @ v + c)))
        return out
