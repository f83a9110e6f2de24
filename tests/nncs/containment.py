"""Checks that simulated trajectories lie in flowpipes (shared by the soundness tests)."""

from __future__ import annotations

import numpy as np

from nnreach.nncs.loop import Flowpipe
from nnreach.nncs.simulation import Trajectories

TIME_TOL = 1e-9


def directions(n: int, rng: np.random.Generator, count: int = 40) -> np.ndarray:
    """Unit directions (2 n + count, n): the signed axes and random ones."""
    d = rng.standard_normal((count, n))
    return np.vstack([np.eye(n), -np.eye(n), d / np.linalg.norm(d, axis=1, keepdims=True)])


def worst_escape(pipe: Flowpipe, traj: Trajectories, rng: np.random.Generator, exact: int = 40) -> float:
    """The largest distance by which a simulated state leaves a set of the flowpipe whose time interval
    contains its time, relative to the set's size (<= ~1e-9 when everything is inside).

    Every state is checked against the support function of every set of its time in the directions of
    :func:`directions`, and ``exact`` random (state, set) pairs by exact LP membership.
    """
    n = traj.states.shape[2]
    D = directions(n, rng)
    worst = -np.inf
    pairs = []
    for fs in pipe.sets:
        sel = np.flatnonzero((traj.times >= fs.t0 - TIME_TOL) & (traj.times <= fs.t1 + TIME_TOL))
        if sel.size == 0:
            continue
        pts = traj.states[:, sel].reshape(-1, n)
        Z = fs.set
        support = D @ Z.center + np.abs(D @ Z.generators).sum(axis=1)
        scale = 1.0 + np.abs(Z.center).max() + np.abs(Z.generators).sum(axis=1).max()
        worst = max(worst, float(((pts @ D.T - support) / scale).max()))
        pairs.append((fs, pts))
    for k in rng.choice(len(pairs), size=min(exact, len(pairs)), replace=False):
        fs, pts = pairs[k]
        x = pts[rng.integers(pts.shape[0])]
        scale = 1.0 + np.abs(fs.set.center).max()
        if not fs.set.contains(x, tol=1e-9 * scale):
            worst = max(worst, 1.0)
    return worst
