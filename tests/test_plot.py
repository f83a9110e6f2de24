"""Pictures of sets: the drawn outline contains the set (so every sample is inside what is drawn)."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.plot import outline
from nnreach.sets import Box, Star, Zonotope

SEED = 3


def _inside(vertices: np.ndarray, pts: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Which points lie in the convex polygon with counter-clockwise ``vertices``."""
    edge = np.roll(vertices, -1, axis=0) - vertices                       # (k, 2)
    rel = pts[:, None, :] - vertices[None]                                # (n, k, 2)
    cross = edge[None, :, 0] * rel[..., 1] - edge[None, :, 1] * rel[..., 0]
    return np.all(cross >= -tol * (1 + np.abs(pts).max()), axis=1)


def test_the_outline_of_a_box_is_its_rectangle():
    v = outline(Box([0.0, -1.0, 5.0], [2.0, 1.0, 6.0]), dims=(0, 1))
    assert np.allclose(v.min(axis=0), [0.0, -1.0]) and np.allclose(v.max(axis=0), [2.0, 1.0])


def test_samples_of_zonotopes_and_stars_lie_in_their_outlines():
    rng = np.random.default_rng(SEED)
    z = Zonotope(rng.normal(size=3), rng.normal(size=(3, 5)))
    s = Star.from_zonotope(z).intersect_halfspace(np.array([1.0, 0.5, 0.0]), 0.2)
    for X in (z, s):
        for dims in ((0, 1), (2, 0)):
            pts = X.sample(200, rng)[:, list(dims)]
            assert _inside(outline(X, dims), pts).all()
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            assert not _inside(outline(X, dims), (hi + (hi - lo))[None]).any()


# ------------------------------------------------------------------ reach pictures (artists, not pixels)

def _legend_outside(fig) -> None:
    """Every axes with data has a legend, and it does not overlap the axes' data area."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        if not ax.axison:
            continue
        legend = ax.get_legend()
        assert legend is not None and legend.get_texts()
        assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))


def _collection(ax, label: str):
    found = [c for c in ax.collections if c.get_label() == label]
    assert len(found) == 1, f"no single collection labelled {label!r} in {[c.get_label() for c in ax.collections]}"
    return found[0]


def _inside_view(ax, coll, tol: float = 1e-9) -> None:
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    for path in coll.get_paths():
        v = path.vertices
        span = max(x1 - x0, y1 - y0)
        assert np.all(v[:, 0] >= x0 - tol * span) and np.all(v[:, 0] <= x1 + tol * span)
        assert np.all(v[:, 1] >= y0 - tol * span) and np.all(v[:, 1] <= y1 + tol * span)


def _tiny():
    from nnreach.io import load_model
    from nnreach.io.vnnlib import read_vnnlib

    from .conftest import EXAMPLES

    return load_model(EXAMPLES / "models/tiny_relu.onnx"), read_vnnlib(EXAMPLES / "specs/tiny_holds.vnnlib")[0]


def test_exact_star_picture_has_the_unsafe_half_space_cut_to_the_view_and_legends_outside():
    import matplotlib.pyplot as plt

    from nnreach.plot import reach_figure

    net, prop = _tiny()      # unsafe: y0 >= 0.3, beyond the outputs (y0 <= 0.12)
    fig = reach_figure(net, prop.input_box, "exact-star", unsafe=prop.unsafe, seconds=1.25)
    try:
        assert fig._suptitle.get_text() == "exact-star reach: 93 output sets, 1.25 s"
        right = fig.axes[1]
        unsafe = _collection(right, "unsafe")
        _inside_view(right, unsafe)
        v = np.vstack([p.vertices for p in unsafe.get_paths()])
        assert v[:, 0].min() == pytest.approx(0.3, abs=1e-6)       # the half-space's edge is drawn
        assert len(_collection(right, "exact-star output sets").get_paths()) == 93
        _legend_outside(fig)
    finally:
        plt.close(fig)


def test_unsafe_sets_on_the_data_are_cut_to_the_view():
    import matplotlib.pyplot as plt

    from nnreach.plot import reach_figure
    from nnreach.reach import reach
    from nnreach.sets import HPolytope

    net, prop = _tiny()
    lo, hi = reach(net, prop.input_box, "zono").bounds()
    unsafe = [HPolytope(np.array([[-1.0, 0.0]]), np.array([-(lo[0] + hi[0]) / 2]))]   # y0 >= the middle
    fig = reach_figure(net, prop.input_box, "zono", unsafe=unsafe)
    try:
        _inside_view(fig.axes[1], _collection(fig.axes[1], "unsafe"))
    finally:
        plt.close(fig)
