"""verify(): verdicts of every method on instances with known answers, counterexample checking."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.io import load_model
from nnreach.io.vnnlib import read_vnnlib
from nnreach.network import Network, ops
from nnreach.sets import Box
from nnreach.verify.api import METHODS, verify
from nnreach.verify.check import confirm, float32_inside
from nnreach.verify.problem import Problem, halfspace_property, linf_ball, robustness_property
from nnreach.verify.result import Status
from nnreach.verify.settings import Settings

from ..conftest import REPO
from ..soundness import networks

# VNN-COMP 2021 "test" category: (model, property, expected verdict)
TEST_ROWS = [("test_nano.onnx", "test_nano.vnnlib", "holds"), ("test_tiny.onnx", "test_tiny.vnnlib", "holds"),
             ("test_small.onnx", "test_small.vnnlib", "holds"), ("test_sat.onnx", "test_prop.vnnlib", "violated"),
             ("test_unsat.onnx", "test_prop.vnnlib", "holds")]
SOUND_ONLY = {"interval", "zono"}  # may say holds/unknown, never violated
ATTACKS = {"falsify"}              # may say violated/unknown, never holds
PROBABLE = {"conformal": {Status.HOLDS_PROBABLY}}  # may say holds-probably (a statistical verdict)


def load_problem(folder, model, spec) -> Problem:
    return Problem(load_model(folder / model), tuple(read_vnnlib(folder / spec)), str(folder / model))


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("row", TEST_ROWS, ids=lambda r: r[0])
def test_methods_never_contradict_known_verdicts(benchmarks, method, row):
    model, spec, expected = row
    r = verify(load_problem(benchmarks / "test", model, spec), method, timeout=60)
    assert r.status in {Status.HOLDS, Status.VIOLATED, Status.UNKNOWN} | PROBABLE.get(method, set())
    if r.status is Status.HOLDS:
        assert expected == "holds" and method not in ATTACKS
    if r.status is Status.VIOLATED:
        assert expected == "violated" and method not in SOUND_ONLY
        assert r.counterexample.checked_by == "onnxruntime"


def test_auto_decides_the_test_category(benchmarks):
    for model, spec, expected in TEST_ROWS:
        r = verify(load_problem(benchmarks / "test", model, spec), "auto", timeout=60)
        if expected == "violated":
            assert r.status is Status.VIOLATED, model
        else:
            assert r.status in {Status.HOLDS, Status.UNKNOWN}, model


def relu_line() -> Network:
    """y = relu(x) on one input."""
    return Network.sequential((1,), [ops.Relu()])


def test_verdicts_on_a_hand_made_problem():
    net = relu_line()
    box = Box([-1.0], [1.0])
    holds = Problem(net, (halfspace_property(box, [[-1.0]], [-1.5]),))      # unsafe: y >= 1.5
    violated = Problem(net, (halfspace_property(box, [[-1.0]], [-0.5]),))   # unsafe: y >= 0.5
    for method in ("interval", "zono", "auto"):
        assert verify(holds, method).status is Status.HOLDS
    r = verify(violated, "auto")
    assert r.status is Status.VIOLATED
    assert r.counterexample.checked_by == "nnreach"
    assert r.counterexample.x[0] >= 0.5 and r.counterexample.y[0] >= 0.5
    assert verify(violated, "zono").status is Status.UNKNOWN


def test_attack_finds_a_narrow_counterexample():
    """With no random samples (and too many inputs for corners) only the attack can reach y >= 0.999,
    which needs every input within 0.008 of its upper bound."""
    net = Network.sequential((8,), [ops.Linear(np.ones((1, 8)) / 8, np.zeros(1)), ops.Relu()])
    prob = Problem(net, (halfspace_property(Box(-np.ones(8), np.ones(8)), [[-1.0]], [-0.999]),))
    r = verify(prob, "falsify", settings=Settings(samples=0))
    assert r.status is Status.VIOLATED
    assert r.stats["pgd_steps"] > 0


def test_confirm_rejects_false_candidates():
    net = relu_line()
    prob = Problem(net, (halfspace_property(Box([-1.0], [1.0]), [[-1.0]], [-0.5]),))
    assert confirm(prob, 0, np.array([0.2])) is None
    assert confirm(prob, 0, np.array([0.7])) is not None


def test_float32_inside_stays_in_the_box():
    box = Box([0.1, -0.3], [0.1 + 1e-9, 0.7])  # 0.1 is not a float32 and the first interval is tiny
    x = float32_inside(np.array([0.1, 0.7]), box)
    assert x is None or (np.all(x >= box.lo) and np.all(x <= box.hi))
    x = float32_inside(np.array([0.3, 0.7]), Box([0.1, -0.3], [0.5, 0.7]))
    assert np.all(x >= [0.1, -0.3]) and np.all(x <= [0.5, 0.7])
    assert np.all(x.astype(np.float32).astype(np.float64) == x)


def test_problem_builders():
    box = linf_ball(np.array([0.5, 0.0, 1.0]), 0.1, lo=0.0, hi=1.0)
    np.testing.assert_allclose(box.lo, [0.4, 0.0, 0.9])
    np.testing.assert_allclose(box.hi, [0.6, 0.1, 1.0])
    prop = robustness_property(box, 1, 3)
    assert len(prop.unsafe) == 2
    assert prop.is_unsafe(np.array([[0.0, 1.0, 1.0]]))[0]        # tie counts as unsafe (y_2 >= y_1)
    assert not prop.is_unsafe(np.array([[0.0, 1.0, 0.5]]))[0]


def test_expired_deadline_gives_timeout():
    net = relu_line()
    prob = Problem(net, (halfspace_property(Box([-1.0], [1.0]), [[-1.0]], [-2.0]),))
    r = verify(prob, "falsify", timeout=1e-9)
    assert r.status is Status.TIMEOUT


def test_a_deadline_gives_the_instant_when_a_share_of_its_time_is_spent():
    import time
    from nnreach.verify.deadline import Deadline
    assert Deadline(None).instant(0.5) is None
    before = time.monotonic()
    at = Deadline(100.0).instant(0.25)
    assert before + 24.0 < at < time.monotonic() + 25.0 + 1e-6


def test_problem_rejects_mismatched_sizes():
    from nnreach.errors import InputError
    with pytest.raises(InputError, match="2 inputs"):
        Problem(relu_line(), (halfspace_property(Box([0.0, 0.0], [1.0, 1.0]), [[1.0]], [0.0]),))


def test_models_onnxruntime_cannot_load_are_checked_by_our_forward(benchmarks, capsys):
    """The ACC controller (opset 6, rank-4 Gemm) does not load in onnxruntime: nnreach checks the
    counterexample itself, in float32 and float64, and says so."""
    path = benchmarks / "ainncs/ACC/controller_5_20.onnx"
    net = load_model(path)
    box = Box([30.0, 1.4, 30.0, 80.0, 1.0], [30.0, 1.4, 30.2, 100.0, 2.0])
    y = net.forward((box.lo + box.hi)[None] / 2)[0, 0]
    prob = Problem(net, (halfspace_property(box, [[-1.0]], [-(y - 10.0)]),), str(path))  # unsafe: y >= y_mid - 10
    r = verify(prob, "falsify")
    assert r.status is Status.VIOLATED
    assert r.counterexample.checked_by == "nnreach"
    assert "onnxruntime cannot load" in capsys.readouterr().err


def test_polishing_shrinks_with_the_network():
    """Few attack end points are polished by LP on image-sized networks, many on small ones."""
    from nnreach.verify.falsify import POLISHED, polish_count

    def dense(n_in, width):
        rng = np.random.default_rng(0)
        return Network.sequential((n_in,), [ops.Linear(rng.normal(size=(width, n_in)), np.zeros(width)), ops.Relu(),
                                            ops.Linear(rng.normal(size=(2, width)), np.zeros(2))])

    assert polish_count(dense(5, 50), 5, 512) == POLISHED
    assert polish_count(dense(5, 50), 5, 4) == 4
    assert polish_count(dense(784, 1024), 784, 512) == 1


def test_auto_gives_the_full_attack_only_a_share_of_the_time(monkeypatch):
    """With a complete method to follow, a slow full attack is cut at its share and the proof still comes."""
    import time

    from nnreach.verify import api
    from nnreach.verify.result import Result

    net = load_model(str(REPO / "examples/models/tiny_relu.onnx"))
    prop = halfspace_property(linf_ball(np.array([0.25, 0.25]), 0.25), A=[[-1.0, 0.0]], b=[-50.0])  # holds
    given = []

    def slow_falsify(problem, settings, deadline):
        given.append(deadline.remaining())
        if len(given) == 1:  # the quick rung
            return Result(Status.UNKNOWN, "falsify")
        while True:
            deadline.check()
            time.sleep(0.01)

    def unknown(problem, settings, deadline):
        return Result(Status.UNKNOWN, "bound")

    monkeypatch.setattr(api, "falsify", slow_falsify)
    monkeypatch.setattr(api.bounds, "interval", unknown)
    monkeypatch.setattr(api.bounds, "zono", unknown)
    monkeypatch.setattr(api, "deeppoly", unknown)
    r = api.auto(Problem(net, (prop,)), Settings(), api.Deadline(4.0))
    assert r.status is Status.HOLDS and r.method.startswith("auto/")
    assert len(given) == 2 and given[1] <= api.ATTACK_SHARE * 4.0 + 1e-6
    assert "falsify.stopped_after_s" in r.stats


def test_auto_gives_bab_a_share_then_milp_on_chains_with_many_inputs(monkeypatch):
    """On a dense ReLU chain with more inputs than input splits suit, ``auto``'s complete methods are
    ``bab`` for :data:`BAB_SHARE` of the time left, then ``milp`` with the rest."""
    import time

    from nnreach.verify import api
    from nnreach.verify.result import Result

    rng = np.random.default_rng(3)
    n = api.LOW_INPUT_DIM + 4
    net = Network.sequential((n,), [ops.Linear(rng.normal(size=(6, n)), np.zeros(6)), ops.Relu(),
                                    ops.Linear(rng.normal(size=(1, 6)), np.zeros(1))])
    prop = halfspace_property(linf_ball(np.zeros(n), 0.1), A=[[-1.0]], b=[-1e3])   # holds
    given = {}

    def slow_bab(problem, settings, deadline):
        given["bab"] = deadline.remaining()
        while True:
            deadline.check()
            time.sleep(0.01)

    def milp(problem, settings, deadline):
        given["milp"] = deadline.remaining()
        return Result(Status.HOLDS, "milp")

    def unknown(problem, settings, deadline):
        return Result(Status.UNKNOWN, "bound")

    monkeypatch.setattr(api, "bab", slow_bab)
    monkeypatch.setattr(api, "milp", milp)
    for name in ("falsify", "deeppoly"):
        monkeypatch.setattr(api, name, unknown)
    monkeypatch.setattr(api.bounds, "interval", unknown)
    monkeypatch.setattr(api.bounds, "zono", unknown)
    r = api.auto(Problem(net, (prop,)), Settings(), api.Deadline(2.0))
    assert r.status is Status.HOLDS and r.method == "auto/milp"
    assert given["bab"] <= api.BAB_SHARE * 2.0 + 1e-6
    assert 0.5 < given["milp"] <= 2.0 - given["bab"] + 0.1
    assert "bab.stopped_after_s" in r.stats


HARD = {"tanh": ("dense", "tanh", (12,), 1, "thr", "planted", 11)}  # auto ends in bab, which needs over 10 s
TIMEOUT_SLACK = 1.0
"""Seconds past the timeout that a method may take to stop (the deadline is checked between LPs)."""


@pytest.fixture(scope="module")
def hard_problems(tmp_path_factory):
    """Planted-suite instances that no method decides in seconds: name -> Problem."""
    from nnreach.soundness import planted

    instances = {name: planted.build(planted.Spec(*spec)) for name, spec in HARD.items()}
    root = planted.write(list(instances.values()), tmp_path_factory.mktemp("hard"), 60)
    out = {name: load_problem(root, f"onnx/{inst.spec.name}.onnx", f"vnnlib/{inst.spec.name}.vnnlib")
           for name, inst in instances.items()}
    # a deep chain whose threshold is 0.1% of the output's range above its sampled maximum: exact-star
    # needs over 20 s
    rng = np.random.default_rng(0)
    net = networks.dense(rng, ops.Relu(), depth=6, width=40, n_in=5, n_out=2)
    box = Box(-np.ones(5), np.ones(5))
    y = net.forward(box.sample(200000, rng))[:, 0]
    t = y.max() + 0.001 * (y.max() - y.min())
    out["deep"] = Problem(net, (halfspace_property(box, [[-1.0, 0.0]], [-t]),))
    return out


@pytest.mark.parametrize("method, instance, jobs", [("exact-star", "deep", 1), ("exact-star", "deep", 2),
                                                    ("auto", "tanh", 1)])
def test_methods_stop_soon_after_the_timeout(hard_problems, method, instance, jobs):
    """Long enough for the region search to work on large batches (which took seconds between checks)."""
    import time

    timeout = 5.0
    start = time.perf_counter()
    r = verify(hard_problems[instance], method, timeout=timeout, settings=Settings(jobs=jobs))
    elapsed = time.perf_counter() - start
    assert r.status is Status.TIMEOUT
    assert elapsed < timeout + TIMEOUT_SLACK, f"{method} stopped {elapsed - timeout:.2f} s after its timeout"
