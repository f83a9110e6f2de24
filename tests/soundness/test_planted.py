"""The fast part of the planted-counterexample suite (``make soundness`` runs all of it).

Small planted / twin / tie instances (:mod:`nnreach.soundness.planted`) go through every method: on a
planted instance the complete methods find the counterexample and no method says ``holds``; on a
twin no method says ``violated``; on a tie (violated only on a set of measure zero) no method says
``holds``. Every reported counterexample is re-run in onnxruntime in float32 here. The generator's own
guarantees are checked too: twins' bounds against sampling, ties' exact points, and that the attack
does not find the planted counterexamples.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import onnxruntime as ort
import pytest

from nnreach import Problem, load_model, read_vnnlib
from nnreach.errors import UnsupportedError
from nnreach.soundness import planted
from nnreach.verify.api import METHODS, verify
from nnreach.verify.result import Status

PAIRS = [planted.Spec("dense", "relu", (2,), 0, "thr", "planted", 0),
         planted.Spec("dense", "relu", (3,), 1, "dom", "planted", 1),
         planted.Spec("dense", "sigmoid", (3,), 1, "thr", "planted", 8)]
FAST = [*PAIRS, *(replace(s, kind="twin") for s in PAIRS),
        planted.Spec("conv", "relu", (1, 3, 3), 1, "thr", "planted", 12),   # its twin takes 40 s: make soundness
        planted.Spec("dense", "relu", (2,), 0, "thr", "tie", 16),
        planted.Spec("dense", "relu", (3,), 1, "thr", "tie", 17)]
COMPLETE = ("exact-star", "bab", "milp", "auto")
TIMEOUT = 20


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every FAST instance, built and written: name -> (instance, Problem)."""
    instances = [planted.build(s) for s in FAST]
    root = planted.write(instances, tmp_path_factory.mktemp("planted"), TIMEOUT)
    out = {}
    for inst in instances:
        model = str(root / "onnx" / f"{inst.spec.name}.onnx")
        props = tuple(read_vnnlib(root / "vnnlib" / f"{inst.spec.name}.vnnlib"))
        out[inst.spec.name] = inst, Problem(load_model(model), props, model)
    return out


def _v_onnxruntime(inst: planted.Instance, model: str, x: np.ndarray) -> float:
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x.astype(np.float32).reshape(1, *inst.spec.input_shape)})[0].ravel()
    return float(y.astype(np.float64) @ inst.row)


def _complete_on(method: str, inst: planted.Instance) -> bool:
    """``bab`` and ``auto`` on every network (sigmoid/tanh up to a tolerance), the others on
    piecewise-linear ones."""
    return inst.spec.activation == "relu" or method in ("bab", "auto")


@pytest.mark.parametrize("spec", FAST, ids=lambda s: s.name)
def test_every_method_on_a_planted_instance(spec, written):
    inst, problem = written[spec.name]
    for method in METHODS:
        try:
            r = verify(problem, method, timeout=TIMEOUT)
        except UnsupportedError:
            piecewise_only = spec.activation != "relu" and method in ("exact-star", "approx-star", "milp")
            assert piecewise_only or (method == "milp" and spec.arch != "dense"), method
            continue
        if inst.expected == "sat":
            assert r.status is not Status.HOLDS, f"{method} proves a violated property"
        else:
            assert r.status is not Status.VIOLATED, f"{method} violates a property proved analytically"
        if spec.kind == "planted" and method in COMPLETE and _complete_on(method, inst):
            assert r.status is Status.VIOLATED, f"{method} misses the planted counterexample ({r.status})"
        if r.status is Status.VIOLATED:   # independently: in the box and unsafe in float32 onnxruntime
            x = r.counterexample.x
            assert np.all(inst.lo <= x) and np.all(x <= inst.hi)
            assert _v_onnxruntime(inst, problem.model_path, x) >= 0


@pytest.mark.parametrize("spec", [s for s in FAST if s.kind == "planted"], ids=lambda s: s.name)
def test_the_attack_does_not_find_the_planted_counterexample(spec, written):
    inst, problem = written[spec.name]
    assert inst.log10_hit < -6
    assert verify(problem, "falsify", timeout=TIMEOUT).status is Status.UNKNOWN
    assert _v_onnxruntime(inst, problem.model_path, inst.witness) >= planted.WITNESS_MARGIN


@pytest.mark.parametrize("spec", [s for s in FAST if s.kind != "planted"], ids=lambda s: s.name)
def test_bounds_of_twins_and_ties_hold_on_samples(spec, written):
    """The rational interval bound is an upper bound of ``v`` on the box (sampled, and at ``s``, where
    the bump nearly reaches it)."""
    inst, _ = written[spec.name]
    x = np.vstack([inst.secret, np.random.default_rng(0).uniform(inst.lo, inst.hi, (10000, spec.n))])
    v = planted.forward(inst.layers, x) @ inst.row
    assert v.max() <= float(inst.bound) + 1e-9
    assert v[0] > float(inst.bound) - 0.01
    if spec.kind == "tie":
        assert inst.bound == 0
        x_star = np.array([float(c) for c in inst.tie_point])
        assert abs(planted.forward(inst.layers, x_star[None])[0] @ inst.row) < 1e-5


def test_generation_is_reproducible_and_twins_share_the_network():
    a, b = planted.build(FAST[1]), planted.build(FAST[1])
    twin = planted.build(replace(FAST[1], kind="twin"))
    assert twin.spec.kind == "twin" and twin.spec.seed == a.spec.seed
    for la, lb, lt in zip(a.layers, b.layers, twin.layers[:-1]):
        assert np.array_equal(la.W, lb.W) and np.array_equal(la.b, lb.b)
        assert np.array_equal(la.W, lt.W) and np.array_equal(la.b, lt.b)
    assert planted.to_vnnlib(a) == planted.to_vnnlib(b)


def test_upper_bound_is_exact_interval_arithmetic():
    """On a one-layer network the rational bound is the exact interval maximum."""
    layer = planted.Layer(np.array([[1.0, -2.0], [0.5, 0.25], [0.0, 0.0]], dtype=np.float32),
                          np.array([0.125, 0.0, 0.0], dtype=np.float32), None)
    bound = planted.upper_bound((layer,), np.array([-1.0, -1.0]), np.array([1.0, 2.0]), np.array([1.0, -1.0, 0.0]))
    assert bound == Fraction(1, 2) * 1 + Fraction(9, 4) * 1 + Fraction(1, 8)   # 0.5 x0 - 2.25 x1 + 1/8
