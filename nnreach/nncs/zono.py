"""Zonotope operations the closed-loop engine needs beyond :class:`nnreach.sets.Zonotope`.

Conventions: a zonotope over ``N`` variables with ``m`` generators has center (N,) and generators
(N, m). The first ``keep`` generators of a zonotope in a flowpipe are those of the initial set, and
:func:`reduce` never merges them: they carry the dependence on X0 that splitting looks at.
"""

from __future__ import annotations

import numpy as np

from ..sets.zonotope import Zonotope

ROUND_REL = 1e-12
"""Relative margin added to a set after each floating-point step (see :func:`with_rounding`). A step does
O(N m) flops per entry with N, m below a few thousand, whose accumulated relative error is below
N m 2^-53 < 1e-12 of the magnitudes involved."""
ROUND_ABS = 1e-300


def box_zonotope(lo: np.ndarray, hi: np.ndarray) -> Zonotope:
    """The box ``[lo, hi]`` (N,) as a zonotope with one generator per coordinate (zero columns kept,
    so generator k always belongs to coordinate k)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return Zonotope((lo + hi) / 2, np.diag((hi - lo) / 2))


def magnitude(z: Zonotope) -> np.ndarray:
    """``max |x_i|`` over the zonotope, per coordinate (N,)."""
    return np.abs(z.center) + np.abs(z.generators).sum(axis=1)


def add_box(z: Zonotope, radius: np.ndarray) -> Zonotope:
    """``z`` plus the box ``[-radius, radius]`` (one new generator per positive entry)."""
    radius = np.asarray(radius, float)
    idx = np.flatnonzero(radius > 0)
    fresh = np.zeros((z.dim, idx.size))
    fresh[idx, np.arange(idx.size)] = radius[idx]
    return Zonotope(z.center, np.hstack([z.generators, fresh]))


def with_rounding(z: Zonotope) -> Zonotope:
    """``z`` enlarged by the rounding margin :data:`ROUND_REL` of its magnitude."""
    return add_box(z, ROUND_REL * magnitude(z) + ROUND_ABS)


def pad(z: Zonotope, m: int) -> Zonotope:
    """``z`` with zero generators appended up to ``m`` columns."""
    k = z.generators.shape[1]
    return z if k >= m else Zonotope(z.center, np.hstack([z.generators, np.zeros((z.dim, m - k))]))


def enclose(z1: Zonotope, z2: Zonotope) -> Zonotope:
    """A zonotope containing the convex hull of ``z1`` and ``z2`` when both use the same generator
    factors (``{(1 - l) (c1 + G1 e) + l (c2 + G2 e) : l in [0, 1], e in [-1, 1]^m}``)."""
    m = max(z1.generators.shape[1], z2.generators.shape[1])
    a, b = pad(z1, m), pad(z2, m)
    c = (a.center + b.center) / 2
    G = np.hstack([(a.generators + b.generators) / 2, ((b.center - a.center) / 2)[:, None],
                   (b.generators - a.generators) / 2])
    return Zonotope(c, G)


def interval_map(mid: np.ndarray, rad: np.ndarray, z: Zonotope) -> Zonotope:
    """A zonotope containing ``{M x : x in z, |M - mid| <= rad}``; mid, rad (K, N)."""
    return add_box(z.affine_map(mid), rad @ magnitude(z))


def reduce(z: Zonotope, order: float, keep: int = 0) -> Zonotope:
    """Girard's reduction to at most ``order * N`` generators (N = dimension), never merging the first
    ``keep``: the others with the smallest ``|g|_1 - |g|_inf`` are replaced by their interval hull."""
    N, m = z.generators.shape
    limit = max(int(order * N), keep + N)
    G = z.generators
    G = np.hstack([G[:, :keep], G[:, keep:][:, np.abs(G[:, keep:]).sum(axis=0) > 0]])
    if G.shape[1] <= limit:
        return Zonotope(z.center, G)
    rest = G[:, keep:]
    score = np.abs(rest).sum(axis=0) - np.abs(rest).max(axis=0)
    n_free = limit - keep - N  # generators of `rest` kept as they are
    order_idx = np.argsort(score)
    merged, kept = order_idx[: rest.shape[1] - n_free], order_idx[rest.shape[1] - n_free:]
    box = np.abs(rest[:, merged]).sum(axis=1)
    return add_box(Zonotope(z.center, np.hstack([G[:, :keep], rest[:, np.sort(kept)]])), box)


def project(z: Zonotope, n: int) -> Zonotope:
    """The first ``n`` coordinates of ``z`` (all generators kept, so columns stay aligned)."""
    return Zonotope(z.center[:n], z.generators[:n])
