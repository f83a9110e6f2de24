"""2-D pictures of sets: projections of boxes, zonotopes, stars and polytopes, with sampled points.

Every set is drawn as the outer polygon of its projection on two coordinates: the intersection of
the half-planes given by its support function in ``DIRECTIONS`` directions (exact for boxes and, up to
the number of directions, for the others), so every point of the set lies inside what is drawn.
matplotlib is imported only when a picture is made.

Example::

    out = nnreach.reach(net, box, "zono")
    nnreach.plot.plot_reach(net, box, "zono", "out.png")
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .sets.box import Box

DIRECTIONS = 64
"""Directions of the support function used to draw one set."""


def outline(X, dims: tuple[int, int] = (0, 1), directions: int = DIRECTIONS) -> np.ndarray:
    """Vertices (k, 2) of the outer polygon of the projection of ``X`` on ``dims``, in order.

    ``X`` is any set with ``support(direction)`` (Box, Zonotope, Star, HPolytope).
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


def draw(ax, sets: Iterable, dims: tuple[int, int] = (0, 1), *, color: str = "tab:blue", label: str | None = None,
         alpha: float = 0.3) -> None:
    """Fill the projections of ``sets`` on ``dims`` into the matplotlib axes ``ax``."""
    from matplotlib.patches import Polygon

    for k, X in enumerate(sets):
        ax.add_patch(Polygon(outline(X, dims), closed=True, facecolor=color, edgecolor=color, alpha=alpha,
                             label=label if k == 0 else None))
    ax.autoscale_view()


def _clipped(poly, lo: np.ndarray, hi: np.ndarray):
    """The polytope cut to the box ``[lo, hi]`` (so it can be drawn), or None if they do not meet."""
    from .sets.polytope import HPolytope

    n = lo.size
    cut = HPolytope(np.vstack([poly.A, np.eye(n), -np.eye(n)]), np.concatenate([poly.b, hi, -lo]))
    return None if cut.is_empty() else cut


def _output_sets(network, input_set: Box, method: str) -> list:
    from .reach import reach
    from .reach.propagate import SPLITTING

    out = reach(network, input_set, method)
    return out if method in SPLITTING else [out]


def plot_reach(network, input_set: Box, method: str, path: str | Path, *, in_dims: tuple[int, int] = (0, 1),
               out_dims: tuple[int, int] = (0, 1), samples: int = 2000, seed: int = 0,
               unsafe: Sequence | None = None, out_sets: list | None = None, sound: str | None = None) -> Path:
    """Draw the input box and the ``method`` output set(s) of ``network`` side by side, with the
    images of ``samples`` random inputs (inside the output set for a sound method; for ``conformal``
    most of them) and, optionally, unsafe output polytopes (bounded ones) in red. ``out_sets``: the
    output sets when already computed. ``sound``: a sound reach method whose output set(s) are drawn
    too, behind (e.g. beside a probabilistic set; left out if the method does not apply to the network).
    Writes a PNG to ``path`` and returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .errors import UnsupportedError

    out_sets = _output_sets(network, input_set, method) if out_sets is None else out_sets
    try:
        sound_sets = _output_sets(network, input_set, sound) if sound else []
    except UnsupportedError:
        sound_sets = []
    rng = np.random.default_rng(seed)
    x = rng.uniform(input_set.lo, input_set.hi, size=(samples, input_set.dim))
    y = network.forward(x)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
    if input_set.dim >= 2:
        draw(left, [input_set], in_dims, color="tab:gray", label="input box")
        left.scatter(x[:, in_dims[0]], x[:, in_dims[1]], s=2, color="black", label="samples")
        left.set_xlabel(f"x[{in_dims[0]}]")
        left.set_ylabel(f"x[{in_dims[1]}]")
        left.legend(loc="best")
    left.set_title("input")
    if sound_sets:
        draw(right, sound_sets, out_dims, color="tab:green", label=f"{sound} output set (sound)", alpha=0.2)
    label = f"{method} output set" + (" (probabilistic)" if method == "conformal" else "")
    draw(right, out_sets, out_dims, color="tab:blue", label=label)
    if unsafe:
        lo = np.min([s.bounds()[0] for s in out_sets], axis=0)
        hi = np.max([s.bounds()[1] for s in out_sets], axis=0)
        pad = 0.5 * (hi - lo) + 1e-6
        window = [_clipped(p, lo - pad, hi + pad) for p in unsafe]
        draw(right, [w for w in window if w is not None], out_dims, color="tab:red", label="unsafe", alpha=0.2)
    right.scatter(y[:, out_dims[0]], y[:, out_dims[1]], s=2, color="black", label="images of the samples")
    right.set_xlabel(f"y[{out_dims[0]}]")
    right.set_ylabel(f"y[{out_dims[1]}]")
    right.set_title(f"output ({len(out_sets)} set{'s' if len(out_sets) != 1 else ''})")
    right.legend(loc="best")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
