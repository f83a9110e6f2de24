"""2-D pictures of sets: projections of boxes, zonotopes, stars, polytopes and affine envelopes, with
sampled points, for reports.

Boxes and zonotopes are drawn exactly (the projection of a zonotope on a plane is the zonotope of the
projected generators). Other sets are drawn as the outer polygon of their projection: the intersection
of the half-planes given by their support function in up to ``DIRECTIONS`` directions, so every point
of the set lies inside what is drawn. Unsafe polytopes are cut to the axes' view before they are
drawn. Each group of sets is one collection (one artist, one legend entry), the legends sit outside
the data area and the title gives the method, the number of sets and the time. matplotlib is imported
only when a picture is made.

A model with one output is drawn against one input coordinate (the output set(s) over the input
interval; for ``deeppoly`` the region between the lower and upper linear bounds), and a model with one
input has its input drawn as an interval.

Example::

    out = nnreach.reach(net, box, "zono")
    nnreach.plot.plot_reach(net, box, "zono", "out.png")
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import InputError
from .sets.box import Box
from .sets.envelope import AffineEnvelope
from .sets.zonotope import Zonotope

DIRECTIONS = 64
"""Directions of the support function used to draw one set."""
SUPPORT_BUDGET = 2048
"""Support-function evaluations (LPs for stars) that drawing a group of sets may take: with many sets
each gets fewer directions (at least ``MIN_DIRECTIONS``), a coarser outer polygon."""
MIN_DIRECTIONS = 12
LEGEND = dict(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False, fontsize="small")
"""Legend placement under the axes, outside the data area."""


def default_dims(size: int) -> tuple[int, ...]:
    """The coordinates drawn by default for a vector of ``size`` entries: (0, 1), or (0,) for one."""
    return (0, 1) if size >= 2 else (0,)


def check_dims(name: str, dims: tuple[int, ...], size: int) -> None:
    """InputError naming the option ``name`` if a coordinate of ``dims`` is not below ``size``."""
    if max(dims) >= size:
        raise InputError(f"{name} {','.join(map(str, dims))}: the model has only {size} coordinate"
                         f"{'s' if size != 1 else ''} there")


def zonotope_polygon(Z: Zonotope, P: np.ndarray) -> np.ndarray:
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


def outline(X, dims: tuple[int, int] = (0, 1), directions: int = DIRECTIONS) -> np.ndarray:
    """Vertices (k, 2) of the outer polygon of the projection of ``X`` on ``dims``, in order.

    ``X`` is any set with ``support(direction)`` (Box, Zonotope, Star, HPolytope, AffineEnvelope).
    """
    theta = np.linspace(0, 2 * np.pi, directions, endpoint=False)
    normals = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    h = np.empty(directions)
    for k, nrm in enumerate(normals):
        d = np.zeros(X.dim)
        d[list(dims)] = nrm
        h[k] = X.support(d)
    nxt = np.roll(np.arange(directions), -1)
    # vertex k: the intersection of the support lines k and k + 1
    A = np.stack([normals, normals[nxt]], axis=1)          # (k, 2, 2)
    rhs = np.stack([h, h[nxt]], axis=1)                     # (k, 2)
    return np.linalg.solve(A, rhs[..., None])[..., 0]


def polygons(sets: Sequence, dims: tuple[int, int]) -> list[np.ndarray]:
    """The drawn polygons (k, 2) of ``sets`` projected on ``dims``: exact for boxes and zonotopes, outer
    support polygons (within ``SUPPORT_BUDGET``) for the others."""
    P = np.eye(sets[0].dim)[list(dims)] if sets else None
    lp_sets = sum(not isinstance(X, (Box, Zonotope)) for X in sets)
    directions = max(MIN_DIRECTIONS, min(DIRECTIONS, SUPPORT_BUDGET // max(lp_sets, 1)))
    out = []
    for X in sets:
        if isinstance(X, Box):
            X = Zonotope.from_box(X)
        out.append(zonotope_polygon(X, P) if isinstance(X, Zonotope) else outline(X, dims, directions))
    return out


def fill(ax, polys: Iterable[np.ndarray], *, color: str, label: str | None = None, alpha: float = 0.3,
         zorder: float = 1.0):
    """Add the polygons to ``ax`` as one collection (one legend entry); returns it."""
    from matplotlib.collections import PolyCollection

    coll = PolyCollection(list(polys), closed=True, facecolors=color, edgecolors=color, alpha=alpha,
                          linewidths=0.5, label=label, zorder=zorder)
    ax.add_collection(coll)
    return coll


def draw(ax, sets: Sequence, dims: tuple[int, int] = (0, 1), *, color: str = "tab:blue", label: str | None = None,
         alpha: float = 0.3) -> None:
    """Fill the projections of ``sets`` on ``dims`` into the matplotlib axes ``ax``."""
    fill(ax, polygons(list(sets), dims), color=color, label=label, alpha=alpha)
    ax.autoscale_view()


def rectangle(lo, hi) -> np.ndarray:
    """The rectangle ``[lo[0], hi[0]] x [lo[1], hi[1]]`` as vertices (4, 2)."""
    return np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])


def _graph(X, j: int, i: int, box: Box) -> np.ndarray:
    """A polygon (k, 2) over ``(x[i], y[j])`` containing the pairs of an input of ``box`` and its output in
    ``X``: between the lower and upper linear bounds for an affine envelope, else (an output set, an
    unsafe polytope) the rectangle of the input interval times the set's interval."""
    xl, xh = box.lo[i], box.hi[i]
    if isinstance(X, AffineEnvelope):   # the other inputs at their worst, for each x[i]
        others = np.ones(box.dim, dtype=bool)
        others[i] = False
        rest = Box(box.lo[others], box.hi[others])
        low = lambda x: X.lower_A[j, i] * x + X.lower_b[j] - rest.support(-X.lower_A[j, others])
        up = lambda x: X.upper_A[j, i] * x + X.upper_b[j] + rest.support(X.upper_A[j, others])
        return np.array([[xl, low(xl)], [xh, low(xh)], [xh, up(xh)], [xl, up(xl)]])
    e = np.zeros(X.dim)
    e[j] = 1.0
    return rectangle([xl, -X.support(-e)], [xh, X.support(e)])


def _clipped(poly, lo: np.ndarray, hi: np.ndarray):
    """The polytope cut to the box ``[lo, hi]`` (so it can be drawn), or None if they do not meet."""
    from .sets.polytope import HPolytope

    n = lo.size
    cut = HPolytope(np.vstack([poly.A, np.eye(n), -np.eye(n)]), np.concatenate([poly.b, hi, -lo]))
    return None if cut.is_empty() else cut


def _window(sets: Sequence, y: np.ndarray, unsafe: Sequence | None) -> tuple[np.ndarray, np.ndarray, list]:
    """The output box (n,) to show and the unsafe polytopes cut to it: the hull of the sets and the sampled
    outputs ``y`` (m, n), padded, and widened (up to 3 times) until it meets an unsafe polytope, so the
    picture shows the gap between the output and the unsafe set."""
    lo = np.minimum(np.min([s.bounds()[0] for s in sets], axis=0), y.min(axis=0))
    hi = np.maximum(np.max([s.bounds()[1] for s in sets], axis=0), y.max(axis=0))
    width = np.maximum(hi - lo, 1e-6 * (1 + np.abs(lo) + np.abs(hi)))
    cut: list = []
    for pad in (0.08, 0.5, 2.0, 8.0):
        wlo, whi = lo - pad * width, hi + pad * width
        cut = [c for c in (_clipped(p, wlo, whi) for p in unsafe or ()) if c is not None]
        if cut or not unsafe:
            break
    if not cut:   # no unsafe set near the output: the view is the output's
        wlo, whi = lo - 0.08 * width, hi + 0.08 * width
    return wlo, whi, cut


def _input_panel(ax, box: Box, x: np.ndarray, dims: tuple[int, ...], rng) -> None:
    if len(dims) == 2:
        fill(ax, polygons([box], dims), color="tab:gray", label="input box")
        ax.scatter(x[:, dims[0]], x[:, dims[1]], s=2, color="black", label="samples", zorder=3)
        ax.set_ylabel(f"x[{dims[1]}]")
    else:
        i = dims[0]
        ax.axvspan(box.lo[i], box.hi[i], color="tab:gray", alpha=0.3, label="input interval")
        ax.scatter(x[:, i], rng.uniform(0.1, 0.9, len(x)), s=2, color="black", label="samples", zorder=3)
        ax.set_yticks([])
    ax.set_xlabel(f"x[{dims[0]}]")
    ax.autoscale_view()
    ax.set_title("input")
    ax.legend(**LEGEND)


def _output_sets(network, input_set: Box, method: str) -> list:
    from .reach import reach
    from .reach.propagate import SPLITTING

    out = reach(network, input_set, method)
    return out if method in SPLITTING else [out]


def save(fig, path: str | Path) -> Path:
    """Write the matplotlib figure to the PNG ``path`` (with its legends outside the axes) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_reach(network, input_set: Box, method: str, path: str | Path, **options) -> Path:
    """Write the picture of :func:`reach_figure` (same ``options``) as a PNG to ``path``; returns it."""
    return save(reach_figure(network, input_set, method, **options), path)


def reach_figure(network, input_set: Box, method: str, *, in_dims: tuple[int, ...] | None = None,
                 out_dims: tuple[int, ...] | None = None, samples: int = 2000, seed: int = 0,
                 unsafe: Sequence | None = None, out_sets: list | None = None, sound: str | None = None,
                 seconds: float | None = None, verdict: str | None = None):
    """Draw the input box and the ``method`` output set(s) of ``network`` side by side, with the
    images of ``samples`` random inputs (inside the output set for a sound method; for ``conformal``
    most of them) and the unsafe output polytopes, cut to the view, in red.

    Args:
        in_dims, out_dims: one or two coordinates to draw (default :func:`default_dims`). With one output
            coordinate the output panel shows it against the input coordinate ``in_dims[0]``.
        out_sets: the output sets when already computed.
        sound: a sound reach method whose output set(s) are drawn too, behind (e.g. beside a
            probabilistic set; left out if the method does not apply to the network).
        seconds: the time the output sets took, for the title.
        verdict: what the sets say of the unsafe set, for the title (e.g. ``"holds"``).
    Returns the matplotlib figure; its title names the method, the number of sets, the time and the verdict.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .errors import UnsupportedError

    in_dims = default_dims(input_set.dim) if in_dims is None else tuple(in_dims)
    out_dims = default_dims(network.output_size) if out_dims is None else tuple(out_dims)
    check_dims("in_dims", in_dims, input_set.dim)
    check_dims("out_dims", out_dims, network.output_size)
    out_sets = _output_sets(network, input_set, method) if out_sets is None else out_sets
    try:
        sound_sets = _output_sets(network, input_set, sound) if sound else []
    except UnsupportedError:
        sound_sets = []
    rng = np.random.default_rng(seed)
    x = rng.uniform(input_set.lo, input_set.hi, size=(samples, input_set.dim))
    y = network.forward(x).reshape(samples, -1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.5), layout="constrained")
    _input_panel(left, input_set, x, in_dims, rng)

    wlo, whi, cut = _window([*out_sets, *sound_sets], y, unsafe)
    if len(out_dims) == 2:
        shown = lambda sets: polygons(sets, out_dims)
        view = out_dims
        pts = y[:, list(out_dims)]
        right.set_xlabel(f"y[{out_dims[0]}]")
        right.set_ylabel(f"y[{out_dims[1]}]")
    else:
        i, j = in_dims[0], out_dims[0]
        shown = lambda sets: [_graph(X, j, i, input_set) for X in sets]
        view = None
        pts = np.stack([x[:, i], y[:, j]], axis=1)
        right.set_xlabel(f"x[{i}]")
        right.set_ylabel(f"y[{j}]")
    if cut:
        regions = shown(cut)   # with one output coordinate: its unsafe values over the input interval
        # overlapping unsafe polytopes darken each other: where all overlap, the shade of one alone
        fill(right, regions, color="tab:red", label="unsafe", alpha=1 - 0.8 ** (1 / len(regions)), zorder=0.5)
    if sound_sets:
        fill(right, shown(sound_sets), color="tab:green", label=f"{sound} output set (sound)", alpha=0.2)
    label = f"{method} output set{'s' if len(out_sets) != 1 else ''}" + \
        (" (probabilistic)" if method == "conformal" else "")
    fill(right, shown(out_sets), color="tab:blue", label=label, zorder=2)
    right.scatter(pts[:, 0], pts[:, 1], s=2, color="black", label="images of the samples", zorder=3)
    if view is not None:
        right.set_xlim(wlo[view[0]], whi[view[0]])
        right.set_ylim(wlo[view[1]], whi[view[1]])
    else:
        pad = 0.04 * max(input_set.hi[i] - input_set.lo[i], 1e-9)
        right.set_xlim(input_set.lo[i] - pad, input_set.hi[i] + pad)
        right.set_ylim(wlo[j], whi[j])
    right.set_title("output")
    right.legend(**LEGEND)
    took = "" if seconds is None else f", {seconds:.2f} s"
    said = "" if verdict is None else f": {verdict}"
    fig.suptitle(f"{method} reach: {len(out_sets)} output set{'s' if len(out_sets) != 1 else ''}{took}{said}")
    return fig
