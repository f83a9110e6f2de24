"""Pictures of closed-loop flowpipes: state pairs and affine functions of the state over time, with the
unsafe regions (red), the goal (green), simulated trajectories (black) and a counterexample (red line).

Zonotopes are drawn exactly: the projection of a zonotope on a plane is the zonotope of the projected
generators, a polygon whose edges are the generators sorted by angle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..sets.zonotope import Zonotope
from .config import Config
from .loop import Flowpipe, reach
from .verdict import Outcome

MAX_TRAJECTORIES = 60


def polygon(Z: Zonotope, P: np.ndarray) -> np.ndarray:
    """Vertices (k, 2), in counter-clockwise order, of the projection ``P Z``; P (2, n)."""
    c, G = P @ Z.center, P @ Z.generators
    G = G[:, np.abs(G).sum(axis=0) > 0]
    if G.shape[1] == 0:
        return c[None]
    G = np.where((G[1] < 0) | ((G[1] == 0) & (G[0] < 0)), -G, G)   # all in the upper half plane
    G = G[:, np.argsort(np.arctan2(G[1], G[0]))]
    start = c - G.sum(axis=1)
    # from the lowest point: +2 g in increasing angle, then -2 g in increasing angle
    steps = np.hstack([2 * G, -2 * G]).T
    return start + np.vstack([np.zeros(2), np.cumsum(steps, axis=0)[:-1]])


def _clip(poly: np.ndarray, a: np.ndarray, b: float) -> np.ndarray:
    """The polygon (k, 2) cut by the half plane ``a . z <= b`` (Sutherland-Hodgman)."""
    out = []
    for p, q in zip(poly, np.roll(poly, -1, axis=0)):
        fp, fq = a @ p - b, a @ q - b
        if fp <= 0:
            out.append(p)
        if fp * fq < 0:
            out.append(p + (q - p) * fp / (fp - fq))
    return np.array(out).reshape(-1, 2)


def _rect(lo, hi) -> np.ndarray:
    return np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])


def _limits(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.08 * np.maximum(hi - lo, 1e-6)
    return lo - pad, hi + pad


def _pair_rows(H: np.ndarray, g: np.ndarray, dims: tuple[int, int]):
    """The rows of ``H x <= g`` that only involve the two coordinates ``dims``, as 2-D rows."""
    other = np.ones(H.shape[1], dtype=bool)
    other[list(dims)] = False
    keep = np.abs(H[:, other]).sum(axis=1) == 0
    return H[keep][:, list(dims)], g[keep]


def _flowpipes(cfg: Config, outcome: Outcome) -> list[Flowpipe]:
    if outcome.flowpipes:
        return outcome.flowpipes
    pb = cfg.problem  # no flowpipe (a falsified problem): compute one for the picture, as far as it goes
    return [reach(pb.loop, pb.X0, pb.steps, pb.reach_options)]


def plot_outcome(cfg: Config, outcome: Outcome, path: str | Path) -> Path:
    """Write a PNG with one panel per ``cfg.plot_pairs`` and ``cfg.plot_time`` entry (default: the first
    two states, and each of the first two states over time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    pb = cfg.problem
    n = pb.loop.plant.n
    names = pb.loop.plant.states
    pairs = list(cfg.plot_pairs) or ([(0, 1)] if n > 1 else [])
    times = list(cfg.plot_time) or [(np.eye(n)[i], 0.0, names[i]) for i in range(min(n, 2))]
    pipes = _flowpipes(cfg, outcome)
    sets = [fs for p in pipes for fs in p.sets if (fs.t0 < fs.t1) or pb.loop.plant.discrete]
    sims = outcome.simulations
    ce = outcome.counterexample
    panels = len(pairs) + len(times)
    cols = min(panels, 2)
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.8 * rows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[panels:]:
        ax.axis("off")
    title = f"{cfg.name}: {outcome.verdict.value}"
    for ax, (i, j) in zip(axes, pairs):
        P = np.eye(n)[[i, j]]
        polys = [polygon(fs.set, P) for fs in sets]
        # with a counterexample the flowpipe usually blows up: frame the trajectories only
        pts = [np.vstack(polys)] if polys and (ce is None or sims is None) else []
        if sims is not None:
            pts.append(sims.states[:MAX_TRAJECTORIES][..., [i, j]].reshape(-1, 2))
        lo, hi = _limits(np.vstack(pts))
        window = _rect(lo, hi)
        for w in pb.spec.safe:
            for a, b in zip(*_pair_rows(w.poly.H, w.poly.g, (i, j))):
                region = _clip(window, -a, -b)
                if len(region) >= 3:
                    ax.add_patch(Polygon(region, color="tab:red", alpha=0.25, lw=0))
        for poly_, color in [(w.poly, "tab:red") for w in pb.spec.avoid] + \
                            ([(pb.spec.goal, "tab:green")] if pb.spec.goal is not None else []):
            region = window
            for a, b in zip(*_pair_rows(poly_.H, poly_.g, (i, j))):
                region = _clip(region, a, b)
            if len(region) >= 3:
                ax.add_patch(Polygon(region, color=color, alpha=0.3, lw=0))
        for v in polys:
            ax.add_patch(Polygon(v, facecolor="tab:blue", edgecolor="tab:blue", alpha=0.25, lw=0.3))
        if sims is not None:
            for s in sims.states[:MAX_TRAJECTORIES]:
                ax.plot(s[:, i], s[:, j], color="k", lw=0.4, alpha=0.6)
        if ce is not None:
            s = ce.trajectory.states[0]
            ax.plot(s[:, i], s[:, j], color="tab:red", lw=1.5, label="counterexample")
            ax.legend(loc="best")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
        ax.set_title(title)
    for ax, (w_vec, c, label) in zip(axes[len(pairs):], times):
        bars = [(fs.t0, fs.t1, w_vec @ fs.set.center + c - np.abs(w_vec @ fs.set.generators).sum(),
                 w_vec @ fs.set.center + c + np.abs(w_vec @ fs.set.generators).sum()) for fs in sets]
        vals = [np.array([b[2], b[3]]) for b in bars] if ce is None or sims is None else []
        if sims is not None:
            vals.append((sims.states[:MAX_TRAJECTORIES] @ w_vec + c).ravel())
        for win in pb.spec.safe:  # show the bounds parallel to w_vec
            for a, b in zip(win.poly.H, win.poly.g):
                s = (a @ w_vec) / max(w_vec @ w_vec, 1e-300)
                if s != 0 and np.allclose(a, s * w_vec):
                    vals.append(np.array([b / s + c]))
        vals = np.concatenate(vals) if vals else np.zeros(1)
        ylo, yhi = _limits(vals[:, None])
        t_end = pb.final_time
        for win in pb.spec.safe:
            H, g = win.poly.H, win.poly.g
            for a, b in zip(H, g):  # rows parallel to w_vec: a = s w_vec, bound s (y - c) <= b
                s = (a @ w_vec) / max(w_vec @ w_vec, 1e-300)
                if s == 0 or not np.allclose(a, s * w_vec):
                    continue
                bound = b / s + c
                t0, t1 = max(win.t0, 0.0), min(win.t1, t_end)
                y0, y1 = (bound, yhi[0]) if s > 0 else (ylo[0], bound)
                ax.fill_between([t0, t1], [y0, y0], [y1, y1], color="tab:red", alpha=0.25, lw=0)
        if pb.spec.goal is not None:  # the goal's bounds on this function, as a green bar at the final time
            g_lo, g_hi = ylo[0], yhi[0]
            for a, b in zip(pb.spec.goal.H, pb.spec.goal.g):
                s = (a @ w_vec) / max(w_vec @ w_vec, 1e-300)
                if s != 0 and np.allclose(a, s * w_vec):
                    g_hi, g_lo = (min(g_hi, b / s + c), g_lo) if s > 0 else (g_hi, max(g_lo, b / s + c))
            ax.plot([t_end, t_end], [g_lo, g_hi], color="tab:green", lw=6, alpha=0.7, label="goal")
        for t0, t1, lo_, hi_ in bars:
            ax.fill_between([t0, t1], [lo_, lo_], [hi_, hi_], color="tab:blue", alpha=0.3, lw=0)
        if sims is not None:
            for s in sims.states[:MAX_TRAJECTORIES]:
                ax.plot(sims.times, s @ w_vec + c, color="k", lw=0.4, alpha=0.6)
        if ce is not None:
            ax.plot(ce.trajectory.times, ce.trajectory.states[0] @ w_vec + c, color="tab:red", lw=1.5)
        ax.set_ylim(ylo[0], yhi[0])
        ax.set_xlim(0, t_end)
        ax.set_xlabel("t [s]")
        ax.set_ylabel(label)
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
