"""A brute-force oracle for tiny chain networks: one LP per pattern of linear pieces of all neurons."""

from __future__ import annotations

from itertools import product

import numpy as np

from nnreach.lp import LinearProgram, LPStatus
from nnreach.network import Network, ops
from nnreach.reach.star import pieces
from nnreach.verify.problem import Property


def _regions(net: Network, box):
    """Every pattern of pieces of the chain's neurons with its region and output map: yields
    ``(rows, rhs, M, q)`` where the region is ``{x in box : rows x <= rhs}`` (maybe empty) and the
    output there is ``M x + q``. ``net``: Linear and piecewise-linear activations only."""
    layers = [n.op for n in net.nodes]
    sizes = [op.weight.shape[0] for op in layers[:-1] if isinstance(op, ops.Linear)]
    acts = [op for op in layers if isinstance(op, ops.Activation)]
    choices = [range(len(pieces(a)[1])) for a, n in zip(acts, sizes) for _ in range(n)]
    for pattern in product(*choices):
        rows, rhs = [], []
        M, q = np.eye(box.dim), np.zeros(box.dim)   # the current value is M x + q
        k = 0
        for op in layers:
            if isinstance(op, ops.Linear):
                M, q = op.weight @ M, op.weight @ q + op.bias
                continue
            b, s, t = pieces(op)
            ext = np.concatenate([[-np.inf], b, [np.inf]])
            for i in range(M.shape[0]):
                j = pattern[k + i]
                if np.isfinite(ext[j]):        # z_i >= b[j-1]
                    rows.append(-M[i]); rhs.append(q[i] - ext[j])
                if np.isfinite(ext[j + 1]):    # z_i <= b[j]
                    rows.append(M[i]); rhs.append(ext[j + 1] - q[i])
            sel = np.array(pattern[k:k + M.shape[0]])
            M, q = s[sel][:, None] * M, s[sel] * q + t[sel]
            k += len(sel)
        yield np.array(rows).reshape(-1, box.dim), np.array(rhs), M, q


def violated(net: Network, prop: Property) -> bool:
    """Whether some input of the property's box reaches an unsafe polytope (one LP per region and polytope)."""
    box = prop.input_box
    for rows, rhs, M, q in _regions(net, box):
        for poly in prop.unsafe:
            A = np.vstack([rows, poly.A @ M])
            d = np.concatenate([rhs, poly.b - poly.A @ q])
            if LinearProgram(A, d, box.lo, box.hi).minimize(np.zeros(box.dim)).status is LPStatus.OPTIMAL:
                return True
    return False


def maximum(net: Network, box, c: np.ndarray) -> float:
    """The exact maximum of ``c . y`` over the box (one LP per region)."""
    best = -np.inf
    for rows, rhs, M, q in _regions(net, box):
        r = LinearProgram(rows, rhs, box.lo, box.hi).maximize(c @ M)
        if r.status is LPStatus.OPTIMAL:
            best = max(best, r.value + c @ q)
    return best
