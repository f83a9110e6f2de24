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


def _slow(name: str, given: dict, decide_on_call: int | None = None):
    """A fake method that records the seconds its deadline leaves (``given[name]``, a list) and works
    until the deadline passes, except on call ``decide_on_call`` (1-based), where it proves the property."""
    import time

    from nnreach.verify.result import Result

    def method(problem, settings, deadline):
        given.setdefault(name, []).append(deadline.remaining())
        if len(given[name]) == decide_on_call:
            return Result(Status.HOLDS, name)
        while True:
            deadline.check()
            time.sleep(0.005)

    return method


def _undecided(problem, settings, deadline):
    from nnreach.verify.result import Result

    return Result(Status.UNKNOWN, "bound")


def _far_from_unsafe() -> Problem:
    """The 2-input example net with an unsafe set far from its outputs (``y0 >= 50``): every method
    may prove it, so the fake methods of the budget tests decide what happens."""
    net = load_model(str(REPO / "examples/models/tiny_relu.onnx"))
    return Problem(net, halfspace_property(linf_ball(np.array([0.25, 0.25]), 0.25), A=[[-1.0, 0.0]], b=[-50.0]))


def _as_many_inputs(monkeypatch, api) -> None:
    """Make ``auto`` treat the 2-input example net as one with many inputs (the ladder with a first
    short complete run and a full attack), with exact-star as its one complete method."""
    monkeypatch.setattr(api, "LOW_INPUT_DIM", 1)
    monkeypatch.setattr(api, "complete_methods", lambda net: [("exact-star", api.exact_star, 1.0)])


def test_auto_budgets_its_attacks_around_the_first_complete_method(monkeypatch):
    """With many inputs, the first attack gets at most :data:`QUICK_ATTACK`, the complete method a
    short run next (:data:`FIRST_COMPLETE`), the full attack its share, the complete method the rest:
    attacks that find nothing cannot keep the complete method from its time."""
    from nnreach.verify import api

    _as_many_inputs(monkeypatch, api)
    problem = _far_from_unsafe()
    given: dict = {}
    monkeypatch.setattr(api, "falsify", _slow("falsify", given))
    monkeypatch.setattr(api, "exact_star", _slow("exact-star", given, decide_on_call=2))
    monkeypatch.setattr(api, "deeppoly", _undecided)
    r = api.auto(problem, Settings(), api.Deadline(4.0))
    assert r.status is Status.HOLDS and r.method == "auto/exact-star"
    (quick, full), (first, last) = given["falsify"], given["exact-star"]
    assert quick <= min(api.QUICK_ATTACK[0] * 4.0, api.QUICK_ATTACK[1]) + 1e-6
    assert first <= api.FIRST_COMPLETE[0] * (4.0 - quick) + 1e-6
    assert full <= api.ATTACK_SHARE * (4.0 - quick - first) + 1e-6
    assert last >= 4.0 - quick - first - full - 0.2     # the rest, but for a little work in between
    for stage in ("quick-falsify", "quick-exact-star", "falsify"):
        assert r.stats[f"{stage}.stopped_after_s"] <= r.stats[f"{stage}.seconds"] + 1e-3


def test_auto_caps_the_first_complete_run_without_a_time_limit(monkeypatch):
    """Without a limit the first complete run still stops at :data:`FIRST_COMPLETE`'s cap and the
    full attack comes next; a complete method that ended undecided is not run a second time."""
    from nnreach.verify import api

    _as_many_inputs(monkeypatch, api)
    problem = _far_from_unsafe()
    given: dict = {}
    calls = []

    def attack(problem, settings, deadline):
        calls.append(("falsify", settings.polish))
        return _undecided(problem, settings, deadline)

    monkeypatch.setattr(api, "FIRST_COMPLETE", (0.1, 0.3))
    monkeypatch.setattr(api, "falsify", attack)
    monkeypatch.setattr(api, "exact_star", _slow("exact-star", given, decide_on_call=2))
    monkeypatch.setattr(api, "deeppoly", _undecided)
    r = api.auto(problem, Settings(), api.Deadline(None))
    assert r.status is Status.HOLDS and given["exact-star"][0] <= 0.3 and given["exact-star"][1] == float("inf")
    assert calls == [("falsify", False), ("falsify", True)]   # the first attack without polishing walks

    def unknown_star(problem, settings, deadline):
        calls.append(("exact-star", None))
        return _undecided(problem, settings, deadline)

    calls.clear()
    monkeypatch.setattr(api, "exact_star", unknown_star)
    r = api.auto(problem, Settings(), api.Deadline(None))
    assert r.status is Status.UNKNOWN and calls == [("falsify", False), ("exact-star", None), ("falsify", True)]


def test_auto_with_few_inputs_gives_the_complete_method_all_the_rest_at_once(monkeypatch):
    """With few inputs the complete method (which attacks every input split or region itself) runs
    once, with all the time the first attack and the bounds leave: no first short run to throw away,
    no full attack."""
    from nnreach.verify import api

    problem = _far_from_unsafe()   # 2 inputs: exact-star
    given: dict = {}
    monkeypatch.setattr(api, "falsify", _slow("falsify", given))
    monkeypatch.setattr(api, "exact_star", _slow("exact-star", given, decide_on_call=1))
    monkeypatch.setattr(api, "deeppoly", _undecided)
    r = api.auto(problem, Settings(), api.Deadline(3.0))
    assert r.status is Status.HOLDS and r.method == "auto/exact-star"
    (quick,), (rest,) = given["falsify"], given["exact-star"]
    assert quick <= min(api.QUICK_ATTACK[0] * 3.0, api.QUICK_ATTACK[1]) + 1e-6
    assert rest >= 3.0 - quick - 0.2
    assert [name for name, *_ in api.ladder(problem, Settings())] == \
        ["quick-falsify", "deeppoly", "exact-star"]


def test_auto_gives_bab_a_share_then_milp_on_chains_with_many_inputs(monkeypatch):
    """On a dense ReLU chain with more inputs than input splits suit, ``auto``'s complete methods are
    ``bab`` (a short run before the full attack, then :data:`BAB_SHARE` of the time left), then
    ``milp`` with the rest."""
    from nnreach.verify import api

    rng = np.random.default_rng(3)
    n = api.LOW_INPUT_DIM + 4
    net = Network.sequential((n,), [ops.Linear(rng.normal(size=(6, n)), np.zeros(6)), ops.Relu(),
                                    ops.Linear(rng.normal(size=(1, 6)), np.zeros(1))])
    prop = halfspace_property(linf_ball(np.zeros(n), 0.1), A=[[-1.0]], b=[-1e3])   # holds
    given: dict = {}
    monkeypatch.setattr(api, "bab", _slow("bab", given))
    monkeypatch.setattr(api, "milp", _slow("milp", given, decide_on_call=1))
    for name in ("falsify", "deeppoly"):
        monkeypatch.setattr(api, name, _undecided)
    r = api.auto(Problem(net, (prop,)), Settings(), api.Deadline(2.0))
    assert r.status is Status.HOLDS and r.method == "auto/milp"
    first, second = given["bab"]
    assert first <= api.FIRST_COMPLETE[0] * 2.0 + 1e-6
    assert second <= api.BAB_SHARE * (2.0 - first) + 1e-6
    assert 0.5 < given["milp"][0] <= 2.0 - first - second + 0.1
    assert "quick-bab.stopped_after_s" in r.stats and "bab.stopped_after_s" in r.stats


def test_a_complete_method_that_does_not_decide_hints_at_the_one_auto_would_run():
    """``bab`` on a small ReLU chain it cannot finish names exact-star (what auto runs there); on a
    chain with many inputs milp; on a network of smooth activations there is nothing to suggest;
    a decided result carries no hint."""
    from nnreach.verify import api

    rng = np.random.default_rng(0)
    few = networks.dense(rng, ops.Relu(), depth=6, width=40, n_in=5, n_out=2)
    box = Box(-np.ones(5), np.ones(5))
    y = few.forward(box.sample(20000, rng))[:, 0]
    hard = Problem(few, (halfspace_property(box, [[-1.0, 0.0]], [-(y.max() + 1e-3 * (y.max() - y.min()))]),))
    r = verify(hard, "bab", timeout=0.5)
    assert r.status in (Status.TIMEOUT, Status.UNKNOWN)
    assert r.stats["hint"].startswith("few inputs (5) and a chain") and "exact-star may decide this" in r.stats["hint"]
    many = networks.dense(rng, ops.Relu(), depth=1, width=8, n_in=api.LOW_INPUT_DIM + 1, n_out=2)
    assert "milp may decide this" in api.hint("bab", many) and "bab may decide this" in api.hint("milp", many)
    assert api.hint("auto", many) is None
    assert api.hint("bab", networks.dense(rng, ops.Tanh(), depth=1, width=8, n_in=3, n_out=2)) is None
    easy = Problem(few, (halfspace_property(box, [[-1.0, 0.0]], [-1e6]),))
    assert "hint" not in verify(easy, "bab", timeout=30).stats


def test_the_cli_prints_the_hint_before_the_verdict(tmp_path, capsys, monkeypatch):
    from nnreach.cli import main
    from nnreach.verify import api
    from nnreach.verify.result import Result

    monkeypatch.setitem(api.METHODS, "bab", lambda problem, settings, deadline: Result(Status.UNKNOWN, "bab"))
    assert main(["verify", str(REPO / "examples/models/tiny_relu.onnx"), str(REPO / "examples/specs/tiny_holds.vnnlib"),
                 "--method", "bab"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "unknown"
    assert lines[-2].startswith("hint: few inputs (2) and a chain") and "exact-star may decide this" in lines[-2]


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
