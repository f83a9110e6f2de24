"""Closed-loop pictures: the verdict in the title, a legend outside every panel naming what is drawn,
the unsafe regions inside the view, and one collection for the whole flowpipe."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.nncs.config import load_config
from nnreach.nncs.plot import outcome_figure
from nnreach.nncs.verdict import verify

from ..conftest import EXAMPLES


@pytest.mark.parametrize("name, verdict", [("acc_linear", "holds"), ("double_pendulum_more", "violated")])
def test_closed_loop_picture(name, verdict):
    import matplotlib.pyplot as plt

    cfg = load_config(EXAMPLES / "nncs" / f"{name}.toml")
    out = verify(cfg.problem, 60, 0, 1, None)
    assert out.verdict.value == verdict
    fig = outcome_figure(cfg, out)
    try:
        assert fig._suptitle.get_text().startswith(f"{cfg.name}: {verdict} (")
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        panels = [ax for ax in fig.axes if ax.axison]
        assert panels
        for ax in panels:
            legend = ax.get_legend()
            labels = {t.get_text() for t in legend.get_texts()}
            assert {"initial set", "simulations"} <= labels
            assert ("flowpipe" in labels) == (verdict == "holds")
            assert ("counterexample" in labels) == (verdict == "violated")
            assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
            flow = [c for c in ax.collections if c.get_label() == "flowpipe"]
            assert len(flow) == (verdict == "holds")
            (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
            for c in ax.collections:
                if c.get_label() == "unsafe":
                    v = np.vstack([p.vertices for p in c.get_paths()])
                    tol = 1e-9 * max(x1 - x0, y1 - y0)
                    assert v[:, 0].min() >= x0 - tol and v[:, 0].max() <= x1 + tol
                    assert v[:, 1].min() >= y0 - tol and v[:, 1].max() <= y1 + tol
        assert any(c.get_label() == "unsafe" for ax in panels for c in ax.collections)
    finally:
        plt.close(fig)
