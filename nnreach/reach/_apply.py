"""Evaluate an op on rows of flat arrays (the layout sets use)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..network.ops import Op


def apply_flat(op: Op, rows: Sequence[np.ndarray], shapes: Sequence[tuple[int, ...]]) -> np.ndarray:
    """``op.forward`` on flat rows.

    Args:
        rows: one array per op input, each (k, prod(shape_i)).
        shapes: the per-sample input shapes.
    Returns:
        (k, n_out) flat outputs.
    """
    xs = [r.reshape((r.shape[0], *s)) for r, s in zip(rows, shapes)]
    y = op.forward(*xs)
    return y.reshape(y.shape[0], -1)


def linear_part(op: Op, cols: Sequence[np.ndarray], shapes: Sequence[tuple[int, ...]]) -> np.ndarray:
    """The linear part of an affine op (its value minus its value at zero) on columns.

    Args:
        cols: one array per op input, each (prod(shape_i), m): m directions.
        shapes: the per-sample input shapes.
    Returns:
        (n_out, m).
    """
    m = cols[0].shape[1]
    rows = [np.concatenate([c.T, np.zeros((1, c.shape[0]))]) for c in cols]
    out = apply_flat(op, rows, shapes)
    return (out[:m] - out[m]).T
