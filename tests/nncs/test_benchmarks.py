"""The bundled AINNCS benchmarks (examples/nncs): flowpipes contain simulated trajectories, and the
verdicts are the expected ones."""

import time

import numpy as np
import pytest

from nnreach.nncs.config import load_config
from nnreach.nncs.loop import reach
from nnreach.nncs.simulation import draw_disturbances, initial_points, simulate
from nnreach.nncs.verdict import Verdict, verify
from nnreach.sets.box import Box

from ..conftest import EXAMPLES
from .containment import worst_escape

FOLDER = EXAMPLES / "nncs"
ALL = sorted(p.stem for p in FOLDER.glob("*.toml"))


def test_every_benchmark_of_the_readme_is_bundled():
    assert set(ALL) == {"acc", "acc_linear", "tora", "tora_relu_tanh", "tora_sigmoid", "unicycle",
                        "single_pendulum", "double_pendulum_less", "double_pendulum_more", "airplane"}


@pytest.mark.parametrize("name", ALL)
def test_flowpipe_contains_500_simulated_trajectories(name):
    """Random points and corners of X0, tight tolerances, 20 states per period; the flowpipe of the whole
    X0 (as far as it goes when the flow cannot be closed) must contain each state at its time."""
    pb = load_config(FOLDER / f"{name}.toml").problem
    pipe = reach(pb.loop, pb.X0, pb.steps, pb.reach_options)
    assert len(pipe.sets) > 1
    rng = np.random.default_rng(7)
    x0 = initial_points(pb.X0.lo, pb.X0.hi, 500, rng)
    tr = simulate(pb.loop, x0, pb.steps, disturbances=draw_disturbances(pb.loop, 500, pb.steps, rng), points=20)
    assert worst_escape(pipe, tr, rng) <= 1e-9


@pytest.mark.parametrize("name,limit", [("acc", 10), ("acc_linear", 10), ("single_pendulum", 20),
                                        ("tora_relu_tanh", 20), ("tora_sigmoid", 20), ("unicycle", 30),
                                        ("tora", 60)])
def test_verified_benchmarks_are_proved(name, limit):
    cfg = load_config(FOLDER / f"{name}.toml")
    start = time.perf_counter()
    out = verify(cfg.problem, timeout=limit, jobs=2 if name == "tora" else 1)  # tora: splits X0 on 2 workers
    assert out.verdict is Verdict.HOLDS and cfg.expected == "holds"
    assert time.perf_counter() - start < limit
    # every piece's flowpipe starts from a box of X0 and all pieces cover X0 (their volumes add up)
    boxes = [p.samples[0].bounds() for p in out.flowpipes]
    free = cfg.problem.X0.hi > cfg.problem.X0.lo
    vol = sum(np.prod((hi - lo)[free]) for lo, hi in boxes)
    assert vol == pytest.approx(np.prod((cfg.problem.X0.hi - cfg.problem.X0.lo)[free]))


def test_x0_boxes_on_two_workers_are_the_serial_ones():
    """TORA needs X0 split: two worker processes try exactly the boxes the serial search tries."""
    pb = load_config(FOLDER / "tora.toml").problem
    serial, parallel = verify(pb, timeout=120, jobs=1), verify(pb, timeout=120, jobs=2)
    assert serial.verdict is parallel.verdict is Verdict.HOLDS and serial.pieces == parallel.pieces > 1
    boxes = [sorted(tuple(np.round(np.concatenate(p.samples[0].bounds()), 12)) for p in o.flowpipes)
             for o in (serial, parallel)]
    assert boxes[0] == boxes[1]


@pytest.mark.parametrize("name", ["double_pendulum_more", "airplane"])
def test_falsified_benchmarks_have_a_real_counterexample(name):
    cfg = load_config(FOLDER / f"{name}.toml")
    pb = cfg.problem
    out = verify(pb, timeout=60)
    assert out.verdict is Verdict.VIOLATED and cfg.expected == "violated"
    ce = out.counterexample
    assert np.all(ce.x0 >= pb.X0.lo) and np.all(ce.x0 <= pb.X0.hi)
    # simulate it again independently, with a different integrator, and check the violation
    tr = simulate(pb.loop, ce.x0[None], pb.steps, disturbances=ce.disturbances[None], points=50)
    assert pb.spec.robustness(tr.times, tr.states, pb.final_time)[0] > 1e-3


def test_double_pendulum_piece_flowpipe_contains_500_trajectories_over_the_horizon():
    """A sixty-fourth of X0 of the less-robust double pendulum is proved; its flowpipe over all 20 periods
    (strongly nonlinear, remainders centred and bounded to third order) contains simulated trajectories."""
    pb = load_config(FOLDER / "double_pendulum_less.toml").problem
    w = (pb.X0.hi - pb.X0.lo) / np.array([4, 4, 2, 2])
    lo = pb.X0.lo + np.array([3, 3, 1, 1]) * w
    box = Box(lo, lo + w)
    pipe = reach(pb.loop, box, pb.steps, pb.reach_options)
    assert pipe.failure is None and len(pipe.samples) == pb.steps + 1
    rng = np.random.default_rng(11)
    tr = simulate(pb.loop, initial_points(box.lo, box.hi, 500, rng), pb.steps, points=20)
    assert worst_escape(pipe, tr, rng) <= 1e-9
