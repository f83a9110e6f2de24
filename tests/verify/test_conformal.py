"""The probabilistic method ``conformal``: its statistical guarantee, its sets against sound ones, and
that its verdict is never a proof."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from nnreach.bench import NOT_PROOFS
from nnreach.errors import InputError
from nnreach.network import ops
from nnreach.reach import reach
from nnreach.reach.conformal import KINDS, UnionSampler, calibrate, calibration_size, rank
from nnreach.sets.box import Box
from nnreach.verify.api import verify
from nnreach.verify.problem import Problem, halfspace_property
from nnreach.verify.result import Status
from nnreach.verify.settings import Settings

from ..soundness import networks

RUNS = 200
COVERAGE = CONFIDENCE = 0.9
FRESH = 4000
MARGIN = 3 * math.sqrt(0.1 * 0.9 / RUNS)
"""Three standard deviations of a mean of RUNS values in [0, 1] whose mean is at most 0.1 (variance at
most 0.1 * 0.9 by the Bhatia-Davis inequality): 0.064. It bounds the excess of both the average miss
rate and the fraction of runs below the coverage (a Binomial(RUNS, <= 0.1) count over RUNS) over 0.1."""


def test_calibration_size_is_the_smallest_valid_one():
    for coverage, confidence in ((0.99, 0.999), (0.9, 0.9), (0.95, 0.99), (0.5, 0.5)):
        n, k = calibration_size(coverage, confidence)
        assert k == n and coverage ** n <= 1 - confidence < coverage ** (n - 1)
        assert rank(n - 1, coverage, confidence) is None
        assert binom.cdf(n - k, n, 1 - coverage) <= 1 - confidence
    assert calibration_size(0.99, 0.999) == (688, 688)
    k = rank(2000, 0.99, 0.999)   # with more samples than needed, a lower rank: the smallest valid one
    assert binom.cdf(2000 - k, 2000, 0.01) <= 0.001 < binom.cdf(2000 - k + 1, 2000, 0.01)


def _runs():
    """Per run: a small random network, a box, and its seed."""
    for seed in range(RUNS):
        rng = np.random.default_rng(seed)
        net = networks.dense(rng, ops.Relu(), depth=2, width=8, n_in=3, n_out=3)
        c = rng.normal(size=3)
        yield seed, net, Box(c - 1, c + 1)


def _miss_rates(threshold_of) -> np.ndarray:
    """Per run, the fraction of FRESH new inputs whose score exceeds ``threshold_of(calibration, net,
    box, seed)``."""
    rates = []
    for seed, net, box in _runs():
        kind = KINDS[seed % len(KINDS)]
        cal = calibrate([box], net.forward, coverage=COVERAGE, confidence=CONFIDENCE, kind=kind, seed=seed)
        _, x = UnionSampler([box]).draw(FRESH, np.random.default_rng([seed, 99]))
        q = threshold_of(cal, net, box, seed)
        rates.append(np.mean(cal.surrogate.scores(x, net.forward(x)) > q))
    return np.array(rates)


def _meets_the_guarantee(rates: np.ndarray) -> bool:
    return rates.mean() <= 1 - COVERAGE + MARGIN and np.mean(rates > 1 - COVERAGE) <= 1 - CONFIDENCE + MARGIN


def test_the_calibrated_sets_meet_the_guarantee():
    rates = _miss_rates(lambda cal, *_: cal.threshold)
    assert _meets_the_guarantee(rates), (rates.mean(), np.mean(rates > 1 - COVERAGE))
    # the expected miss rate of the largest of n scores is 1 / (n + 1)
    n, _ = calibration_size(COVERAGE, CONFIDENCE)
    assert rates.mean() == pytest.approx(1 / (n + 1), abs=MARGIN)


def _naive_threshold(cal, net, box, seed):
    """The plain empirical quantile of a new calibration sample of the same size (rank ceil(coverage
    n) instead of the order-statistic bound's): right on average, wrong half of the time."""
    _, x = UnionSampler([box]).draw(cal.calibration, np.random.default_rng([seed, 7]))
    scores = np.sort(cal.surrogate.scores(x, net.forward(x)))
    return scores[math.ceil(COVERAGE * cal.calibration) - 1]


def test_the_check_rejects_an_uncalibrated_threshold():
    assert not _meets_the_guarantee(_miss_rates(_naive_threshold))


def test_calibrated_points_lie_in_the_set():
    rng = np.random.default_rng(0)
    net = networks.dense(rng, ops.Relu(), depth=2, width=8, n_in=3, n_out=3)
    box = Box(-np.ones(3), np.ones(3))
    _, x = UnionSampler([box]).draw(200, rng)
    y = net.forward(x)
    for kind in KINDS:
        cal = calibrate([box], net.forward, kind=kind)
        for xi, yi in zip(x[cal.covers(x, y)][:20], y[cal.covers(x, y)][:20]):
            assert cal.set.contains(yi, tol=1e-7), kind


@pytest.mark.parametrize("method", ["interval", "zono"])
def test_the_probabilistic_box_lies_in_sound_bounds(method):
    """A sanity check, not a theorem: the threshold scales every direction alike, so the box may reach
    a little past the true output range in some coordinate (against approx-star's tighter bounds it
    does, by about 1% of the width, for one of these networks); the interval and zonotope bounds of
    these networks leave room for that."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        net = networks.dense(rng, ops.Relu(), depth=2, width=6, n_in=3, n_out=2)
        c = rng.normal(size=3)
        box = Box(c - 0.5, c + 0.5)
        prob = reach(net, box, "conformal", options=Settings(seed=seed, conformal_set="box"))
        lo, hi = reach(net, box, method).bounds()
        assert np.all(prob.lo >= lo - 1e-9) and np.all(prob.hi <= hi + 1e-9), (seed, prob, lo, hi)


def test_union_sampling_is_uniform_and_skips_zero_volume_boxes():
    a, b = Box(np.zeros(2), np.ones(2)), Box(np.array([0.5, 0.0]), np.array([1.5, 1.0]))
    flat = Box(np.array([5.0, 5.0]), np.array([6.0, 5.0]))          # zero area: never drawn
    which, x = UnionSampler([a, b, flat]).draw(60000, np.random.default_rng(0))
    assert not np.any(which == 2)
    # uniform on the union [0, 1.5] x [0, 1]: each third of the width holds a third of the points
    thirds = np.histogram(x[:, 0], bins=[0, 0.5, 1.0, 1.5])[0] / len(x)
    assert np.allclose(thirds, 1 / 3, atol=0.01)
    points = [Box(np.full(2, v), np.full(2, v)) for v in (0.0, 1.0)]
    which, _ = UnionSampler(points).draw(2000, np.random.default_rng(0))
    assert abs(np.mean(which) - 0.5) < 0.05


def _unsafe_mass_problem(seed: int, mass: float) -> Problem:
    """A network and box whose unsafe region ``y_0 >= t`` has probability ``mass`` under uniform inputs
    (``t`` the empirical quantile of 20000 samples)."""
    rng = np.random.default_rng(seed)
    net = networks.dense(rng, ops.Relu(), depth=2, width=8, n_in=3, n_out=2)
    box = Box(-np.ones(3), np.ones(3))
    t = np.quantile(net.forward(rng.uniform(box.lo, box.hi, size=(20000, 3)))[:, 0], 1 - mass)
    return Problem(net, (halfspace_property(box, np.array([[-1.0, 0.0]]), np.array([-t])),))


@pytest.mark.parametrize("mass", [0.012, 0.03, 0.2])
def test_never_holds_probably_when_the_unsafe_mass_exceeds_the_miss_rate(mass):
    for seed in range(5):
        r = verify(_unsafe_mass_problem(seed, mass), "conformal", settings=Settings(seed=seed))
        assert r.status in (Status.VIOLATED, Status.UNKNOWN), (seed, r.status)
        if r.status is Status.VIOLATED:
            assert r.counterexample.checked_by == "nnreach"


def test_holds_probably_is_not_a_proof_anywhere():
    rng = np.random.default_rng(0)
    net = networks.dense(rng, ops.Relu(), depth=2, width=8, n_in=3, n_out=2)
    box = Box(-np.ones(3), np.ones(3))
    top = reach(net, box, "zono").bounds()[1][0]                       # y_0 >= top + 1 is unreachable
    problem = Problem(net, (halfspace_property(box, np.array([[-1.0, 0.0]]), np.array([-top - 1])),))
    r = verify(problem, "conformal", settings=Settings(coverage=0.9, confidence=0.9))
    assert r.status is Status.HOLDS_PROBABLY and r.status is not Status.HOLDS
    assert Status.HOLDS_PROBABLY.vnncomp == "unknown"
    assert NOT_PROOFS["holds-probably"] == "unknown"
    assert "not a proof" in r.stats["guarantee"] and r.stats["calibration"] == 22


@pytest.mark.parametrize("name", ["coverage", "confidence"])
@pytest.mark.parametrize("value", [0.0, 1.0, 1.5, -0.1])
def test_probabilities_outside_the_open_unit_interval_are_input_errors(name, value):
    with pytest.raises(InputError, match=f"{name} must lie strictly between 0 and 1"):
        Settings(**{name: value})


def test_jobs_do_not_change_the_set():
    rng = np.random.default_rng(1)
    net = networks.dense(rng, ops.Relu(), depth=2, width=8, n_in=3, n_out=3)
    box = Box(-np.ones(3), np.ones(3))
    one, two = (calibrate([box], net.forward, kind="box", jobs=j) for j in (1, 2))
    assert np.array_equal(one.set.lo, two.set.lo) and np.array_equal(one.set.hi, two.set.hi)


def test_high_dimensional_small_boxes_are_drawn_in_proportion_to_their_volumes():
    small, large = Box(np.zeros(3072), np.full(3072, 1 / 255)), Box(np.ones(3072), np.full(3072, 1 + 1.001 / 255))
    weights = UnionSampler([small, large]).weights          # volumes 255^-3072 underflow to 0
    assert np.allclose(weights, np.array([1, 1.001 ** 3072]) / (1 + 1.001 ** 3072))


def _erf_model(path) -> None:
    """An ONNX model y = W erf(x) + b with 3 inputs and 2 outputs: Erf is an operator nnreach's graph
    refuses, onnxruntime runs it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    W = np.array([[1.0, -0.5, 0.25], [0.5, 1.0, -1.0]], dtype=np.float32)
    b = np.array([0.1, -0.2], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Erf", ["x"], ["s"]), helper.make_node("Gemm", ["s", "W", "b"], ["y"], transB=1)],
        "erf", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def test_a_model_only_onnxruntime_runs_is_sampled_by_conformal_and_refused_by_the_others(tmp_path, capsys):
    """``conformal`` needs no relaxation: an ONNX model with an operator nnreach does not support runs in
    onnxruntime alone (holds-probably far from the outputs, violated where samples are unsafe); every
    other method refuses it with one line and exit code 2."""
    from nnreach.cli import main

    model = tmp_path / "erf.onnx"
    _erf_model(model)
    box = "".join(f"(assert (>= X_{i} -0.5))\n(assert (<= X_{i} 0.5))\n" for i in range(3))
    head = "".join(f"(declare-const X_{i} Real)\n" for i in range(3)) + "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
    far = tmp_path / "far.vnnlib"
    far.write_text(head + box + "(assert (>= Y_0 5.0))\n")          # |y_0| <= 1.0 + 0.1 on the box
    near = tmp_path / "near.vnnlib"
    near.write_text(head + box + "(assert (>= Y_0 0.1))\n")         # about half the inputs
    assert main(["verify", str(model), str(far), "--method", "conformal"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "holds-probably"
    assert main(["verify", str(model), str(near), "--method", "conformal"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "violated" and "checked by onnxruntime" in out
    assert main(["verify", str(model), str(far), "--method", "auto"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Erf" in err[0]
