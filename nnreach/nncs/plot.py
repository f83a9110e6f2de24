"""Pictures of closed-loop flowpipes: state pairs and affine functions of the state over time, with the
flowpipe (blue), the initial set (gray), the unsafe regions (red), the goal (green), simulated
trajectories (black) and a counterexample (red line), a legend under each panel and the verdict and
time in the title.

Nonlinear sets (:class:`.spec.Nonlinear`) are drawn on a grid in the panels of the two states their
constraints use, and nowhere else (a time panel draws the bounds of polytopes only).
Zonotopes are drawn exactly (:func:`nnreach.plot.zonotope_polygon`), stars (of the star methods, at
the sample times only) as outer polygons from support lines (:func:`_star_polygon`). Each group of shapes is one
matplotlib collection: thousands of flowpipe sets added as separate patches took most of the time of
``nncs --plot`` (each patch's data limits are computed from its path, curve by curve). A panel draws at
most :data:`MAX_SHAPES` flowpipe shapes, so the picture's time and memory stay bounded however many sets
were computed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plot import LEGEND, fill, rectangle, save, zonotope_polygon
from ..sets.star import Star
from ..sets.zonotope import Zonotope
from .config import Config
from .loop import FlowSet
from .spec import Nonlinear, Polytope
from .verdict import Outcome

MAX_TRAJECTORIES = 60
STAR_DIRECTIONS = 16
"""Directions (with their opposites) whose support lines bound the polygon drawn for one star."""
MAX_SHAPES = 4000
"""The most flowpipe shapes a panel draws. Beyond that, runs of consecutive sets of a flowpipe are drawn
as one shape each: the bounding box of their projections, coarser but containing every set."""


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


def _limits(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.08 * np.maximum(hi - lo, 1e-6)
    return lo - pad, hi + pad


GRID = 200
"""Points per side of the grid on which a nonlinear set is drawn."""


def _grid(poly: Nonlinear, n: int, dims: tuple[int, int], lo: np.ndarray, hi: np.ndarray):
    """The panel ``[lo, hi]`` over the states ``dims`` as a grid ``(xx, yy)`` and the set's excess
    there (<= 0: inside), when its constraints depend on these two states only; else None (the set
    has no picture in this plane)."""
    names = {poly.f.variables[d] for d in dims}
    if any(str(sym) not in names for e in poly.f.exprs for sym in e.free_symbols):
        return None
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID))
    points = np.zeros((xx.size, n))
    points[:, dims[0]], points[:, dims[1]] = xx.ravel(), yy.ravel()
    return xx, yy, poly.excess(points).reshape(xx.shape)


def _pair_rows(H: np.ndarray, g: np.ndarray, dims: tuple[int, int]):
    """The rows of ``H x <= g`` that only involve the two coordinates ``dims``, as 2-D rows."""
    other = np.ones(H.shape[1], dtype=bool)
    other[list(dims)] = False
    keep = np.abs(H[:, other]).sum(axis=1) == 0
    return H[keep][:, list(dims)], g[keep]


def _runs(pipes: list[list[FlowSet]], budget: int) -> list[list[FlowSet]]:
    """The sets of each flowpipe in runs of consecutive sets, about ``budget`` runs in all (one set per
    run when they fit)."""
    size = max(1, -(-sum(map(len, pipes)) // budget))
    return [p[i:i + size] for p in pipes for i in range(0, len(p), size)]


def _set_range(S: Zonotope | Star, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest values of ``W x`` (W (k, n)) over one set (a star's by LP), each (k,)."""
    if isinstance(S, Star):
        return S.affine_map(W).bounds()
    mid, rad = W @ S.center, np.abs(W @ S.generators).sum(axis=1)
    return mid - rad, mid + rad


def _range(run: list[FlowSet], W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest values of ``W x`` (W (k, n)) over the sets of the run, each (k,)."""
    los, his = zip(*(_set_range(fs.set, W) for fs in run))
    return np.min(los, axis=0), np.max(his, axis=0)


def _star_polygon(S: Star, P: np.ndarray) -> np.ndarray:
    """A polygon containing the projection ``P S`` (P (2, n)): its bounding box cut by the support lines
    of :data:`STAR_DIRECTIONS` directions (one LP each); the projection itself as the directions grow."""
    T = S.affine_map(P)
    poly = rectangle(*T.bounds())
    for th in np.linspace(0, np.pi, STAR_DIRECTIONS // 2, endpoint=False)[1:]:
        for a in (np.array([np.cos(th), np.sin(th)]), -np.array([np.cos(th), np.sin(th)])):
            poly = _clip(poly, a, T.support(a))
    return poly


def _shape(run: list[FlowSet], P: np.ndarray) -> np.ndarray:
    """The polygon drawn for a run: the projection of a single set (exact for a zonotope, an outer
    polygon for a star), else the bounding box."""
    if len(run) > 1:
        return rectangle(*_range(run, P))
    S = run[0].set
    return _star_polygon(S, P) if isinstance(S, Star) else zonotope_polygon(S, P)


def plot_outcome(cfg: Config, outcome: Outcome, path: str | Path) -> Path:
    """Write the picture of :func:`outcome_figure` as a PNG to ``path``; returns it."""
    return save(outcome_figure(cfg, outcome), path)


def _lines(ax, curves: list[np.ndarray], label: str) -> None:
    """The polylines (k, 2) as one collection of thin black lines."""
    from matplotlib.collections import LineCollection

    if curves:
        ax.add_collection(LineCollection(curves, colors="k", linewidths=0.4, alpha=0.6, label=label, zorder=3))


def _parallel(a: np.ndarray, w: np.ndarray) -> float:
    """``s`` with ``a = s w`` (a row of a constraint parallel to the function ``w``), else 0."""
    s = (a @ w) / max(w @ w, 1e-300)
    return s if s != 0 and np.allclose(a, s * w) else 0.0


def outcome_figure(cfg: Config, outcome: Outcome):
    """A matplotlib figure with one panel per ``cfg.plot_pairs`` and ``cfg.plot_time`` entry (default: the
    first two states, and each of the first two states over time), titled with the verdict and time.
    Draws the outcome's flowpipes only (a violated or timed-out outcome may have none: reaching one for
    the picture could take longer than the verdict did)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pb = cfg.problem
    n = pb.loop.plant.n
    names = pb.loop.plant.states
    pairs = list(cfg.plot_pairs) or ([(0, 1)] if n > 1 else [])
    times = list(cfg.plot_time) or [(np.eye(n)[i], 0.0, names[i]) for i in range(min(n, 2))]
    # a time-point set lies in the time-interval sets around it (of a continuous plant); stars are only
    # computed at the sample times
    runs = _runs([[fs for fs in p.sets if fs.t0 < fs.t1 or pb.loop.plant.discrete or isinstance(fs.set, Star)]
                  for p in outcome.flowpipes], MAX_SHAPES)
    x0 = Zonotope.from_box(pb.X0)
    sims = outcome.simulations
    t_end = pb.final_time
    shown = sims.states[:MAX_TRAJECTORIES] if sims is not None else None
    ce = outcome.counterexample
    panels = len(pairs) + len(times)
    cols = min(panels, 2)
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 5.2 * rows), squeeze=False, layout="constrained")
    axes = axes.ravel()
    for ax in axes[panels:]:
        ax.axis("off")
    fig.suptitle(f"{cfg.name}: {outcome.verdict.value} ({outcome.seconds:.2f} s)")
    for ax, (i, j) in zip(axes, pairs):
        P = np.eye(n)[[i, j]]
        polys = [_shape(run, P) for run in runs]
        start = zonotope_polygon(x0, P)
        # with a counterexample the flowpipe usually blows up: frame the trajectories only
        pts = [start] + ([np.vstack(polys)] if polys and (ce is None or sims is None) else [])
        if shown is not None:
            pts.append(shown[..., [i, j]].reshape(-1, 2))
        lo, hi = _limits(np.vstack(pts))
        window = rectangle(lo, hi)
        labels: dict[str, bool] = {}
        # a safe set of a time window only: its outside is unsafe at those times only (see the time panels)
        whole = [w.poly for w in pb.spec.safe if w.t0 <= 0 and w.t1 >= t_end]
        unsafe = [_clip(window, -a, -b) for poly_ in whole if isinstance(poly_, Polytope)
                  for a, b in zip(*_pair_rows(poly_.H, poly_.g, (i, j)))]
        curved = [(poly_, False, "tab:red") for poly_ in whole] + \
            [(w.poly, True, "tab:red") for w in pb.spec.avoid] + [(pb.spec.goal, True, "tab:green")]
        for poly_, inside, color in curved:     # nonlinear sets of these two coordinates, on a grid
            if isinstance(poly_, Nonlinear) and (grid := _grid(poly_, n, (i, j), lo, hi)) is not None:
                xx, yy, excess = grid
                excess = np.nan_to_num(excess, nan=0.0)
                levels = [min(excess.min(), 0.0) - 1, 0.0] if inside else [0.0, max(excess.max(), 0.0) + 1]
                ax.contourf(xx, yy, excess, levels=levels, colors=[color], alpha=0.25 if color == "tab:red" else 0.3,
                            zorder=0.5)
                labels[color] = True
        for poly_, color, label in [(w.poly, "tab:red", "unsafe") for w in pb.spec.avoid] + \
                ([(pb.spec.goal, "tab:green", "goal")] if pb.spec.goal is not None else []):
            if not isinstance(poly_, Polytope):
                continue
            rows = _pair_rows(poly_.H, poly_.g, (i, j))
            if not len(rows[1]):   # no limit on these coordinates: it would cover the whole panel
                continue
            region = window
            for a, b in zip(*rows):
                region = _clip(region, a, b)
            if color == "tab:red":
                unsafe.append(region)
            elif len(region) >= 3:
                fill(ax, [region], color=color, label=label, alpha=0.3, zorder=0.5)
        unsafe = [r for r in unsafe if len(r) >= 3]
        if unsafe or labels.pop("tab:red", False):     # an empty collection labels the grid regions
            fill(ax, unsafe, color="tab:red", label="unsafe", alpha=0.25, zorder=0.5)
        if labels.pop("tab:green", False):
            fill(ax, [], color="tab:green", label="goal", alpha=0.3, zorder=0.5)
        if polys:
            fill(ax, polys, color="tab:blue", label="flowpipe", alpha=0.25)
        fill(ax, [start], color="tab:gray", label="initial set", alpha=0.6, zorder=2)
        if shown is not None:
            _lines(ax, list(shown[..., [i, j]]), "simulations")
        if ce is not None:
            s = ce.trajectory.states[0]
            ax.plot(s[:, i], s[:, j], color="tab:red", lw=1.5, label="counterexample", zorder=4)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
        ax.legend(**LEGEND)
    for ax, (w_vec, c, label) in zip(axes[len(pairs):], times):
        ranges = np.array([_range(run, w_vec[None]) for run in runs]).reshape(-1, 2) + c
        r0 = np.abs(w_vec @ x0.generators).sum()
        m0 = w_vec @ x0.center + c
        vals = [np.array([m0 - r0, m0 + r0])] + ([ranges.ravel()] if ce is None or sims is None else [])
        if shown is not None:
            vals.append((shown @ w_vec + c).ravel())
        bounds = [(win, _parallel(a, w_vec), b) for win in pb.spec.safe if isinstance(win.poly, Polytope)
                  for a, b in zip(win.poly.H, win.poly.g)]
        bounds = [(win, s, b / s + c) for win, s, b in bounds if s != 0]   # rows s (y - c) <= b
        vals += [np.array([bound]) for _, _, bound in bounds]   # show the bounds parallel to w_vec
        vals = np.concatenate(vals) if vals else np.zeros(1)
        ylo, yhi = _limits(vals[:, None])
        ylo, yhi = ylo[0], yhi[0]
        unsafe = []
        for win, s, bound in bounds:
            t0, t1 = max(win.t0, 0.0), min(win.t1, t_end)
            y0, y1 = (bound, yhi) if s > 0 else (ylo, bound)
            if t0 < t1 and y0 < y1:
                unsafe.append(rectangle([t0, y0], [t1, y1]))
        if unsafe:
            fill(ax, unsafe, color="tab:red", label="unsafe", alpha=0.25, zorder=0.5)
        goal = [] if not isinstance(pb.spec.goal, Polytope) else \
            [(s, b / s + c) for a, b in zip(pb.spec.goal.H, pb.spec.goal.g) if (s := _parallel(a, w_vec))]
        if goal:  # the goal's bounds on this function, as a green bar at the final time
            g_lo = max([ylo] + [bound for s, bound in goal if s < 0])
            g_hi = min([yhi] + [bound for s, bound in goal if s > 0])
            ax.plot([t_end, t_end], [g_lo, g_hi], color="tab:green", lw=6, alpha=0.7, label="goal")
        if runs:
            tick = t_end / 400   # the half width of a bar drawn for the sets of one time point
            fill(ax, [rectangle([run[0].t0 - tick * (run[0].t0 == run[-1].t1), lo],
                                [run[-1].t1 + tick * (run[0].t0 == run[-1].t1), hi])
                      for run, (lo, hi) in zip(runs, ranges)],
                 color="tab:blue", label="flowpipe", alpha=0.3)
        ax.plot([0, 0], [m0 - r0, m0 + r0], color="tab:gray", lw=6, alpha=0.8, label="initial set", zorder=2)
        if shown is not None:
            _lines(ax, [np.stack([sims.times, s @ w_vec + c], axis=1) for s in shown], "simulations")
        if ce is not None:
            ax.plot(ce.trajectory.times, ce.trajectory.states[0] @ w_vec + c, color="tab:red", lw=1.5,
                    label="counterexample", zorder=4)
        ax.set_ylim(ylo, yhi)
        ax.set_xlim(0, t_end)
        ax.set_xlabel("t [s]")
        ax.set_ylabel(label)
        ax.legend(**LEGEND)
    return fig
