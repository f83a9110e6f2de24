"""Closed-loop pictures: the verdict in the title, a legend outside every panel naming what is drawn,
the unsafe regions inside the view, and one collection for the whole flowpipe."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.nncs.config import load_config
from nnreach.nncs.plot import outcome_figure
from nnreach.nncs.verdict import Outcome, Verdict, verify

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


def test_long_flowpipes_are_drawn_as_a_bounded_number_of_enclosing_shapes(monkeypatch):
    import matplotlib.pyplot as plt

    import nnreach.nncs.plot as plot
    from nnreach.nncs.loop import reach
    from nnreach.plot import zonotope_polygon

    cfg = load_config(EXAMPLES / "nncs" / "acc_linear.toml")
    pb = cfg.problem
    pipe = reach(pb.loop, pb.X0, pb.steps, pb.reach_options)
    sets = [fs for fs in pipe.sets if fs.t0 < fs.t1]
    assert len(sets) > 40
    monkeypatch.setattr(plot, "MAX_SHAPES", 10)
    out = Outcome(Verdict.UNKNOWN, flowpipes=[pipe])
    fig = outcome_figure(cfg, out)
    try:
        pair, over_time = fig.axes[0], fig.axes[1]
        (flow,) = [c for c in pair.collections if c.get_label() == "flowpipe"]
        shapes = [p.vertices for p in flow.get_paths()]
        assert len(shapes) <= 10
        P = np.eye(pb.loop.plant.n)[list(cfg.plot_pairs[0] if cfg.plot_pairs else (0, 1))]
        size = -(-len(sets) // 10)
        for k, fs in enumerate(sets):   # each shape is the box around its run of consecutive sets
            v, box = zonotope_polygon(fs.set, P), shapes[k // size]
            assert np.all(v >= box.min(axis=0) - 1e-9) and np.all(v <= box.max(axis=0) + 1e-9)
        (bars,) = [c for c in over_time.collections if c.get_label() == "flowpipe"]
        assert len(bars.get_paths()) <= 10
    finally:
        plt.close(fig)


def test_windowed_safe_sets_and_unrelated_goals_are_not_painted_everywhere():
    """A safe set of t in [1, 2] is unsafe outside only then (drawn in the time panel over [1, 2], not in
    the state panel), and a goal on a coordinate not drawn is not drawn."""
    import dataclasses

    import matplotlib.pyplot as plt

    from nnreach.nncs.spec import Polytope, Spec, Window

    cfg = load_config(EXAMPLES / "nncs" / "acc_linear.toml")
    pb = cfg.problem
    safe = Window(pb.spec.safe[0].poly, 1.0, 2.0)
    g_lead = np.eye(pb.loop.plant.n)[pb.loop.plant.states.index("g_lead")]
    goal = Polytope(np.stack([g_lead, -g_lead]), np.array([1.0, 1.0]))
    cfg = dataclasses.replace(cfg, problem=dataclasses.replace(pb, spec=Spec(safe=(safe,), goal=goal)))
    fig = outcome_figure(cfg, Outcome(Verdict.UNKNOWN))
    try:
        pair, over_time = fig.axes[0], fig.axes[1]
        assert not [c for c in pair.collections if c.get_label() in ("unsafe", "goal")]
        assert not [line for ax in (pair, over_time) for line in ax.lines if line.get_label() == "goal"]
        (unsafe,) = [c for c in over_time.collections if c.get_label() == "unsafe"]
        t = np.vstack([p.vertices for p in unsafe.get_paths()])[:, 0]
        assert t.min() == pytest.approx(1.0) and t.max() == pytest.approx(2.0)
    finally:
        plt.close(fig)
