"""The command line: verdict words, result files, exit codes and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nnreach.cli import main

from .conftest import REPO


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_verify_sat_prints_violated_and_writes_witness(capsys, benchmarks, tmp_path):
    res = tmp_path / "out.txt"
    code, out, err = run(capsys, "verify", str(benchmarks / "test/test_sat.onnx"),
                         str(benchmarks / "test/test_prop.vnnlib"), "--result-file", str(res), "--timeout", "60")
    assert code == 0, err
    assert last_line(out) == "violated"
    text = res.read_text().splitlines()
    assert text[0] == "sat"
    body = "\n".join(text[1:])
    assert body.startswith("((X_0 ") and body.endswith("))")
    values = {}
    for line in text[1:]:
        name, v = line.strip("()").split()
        values[name] = float(v)
    assert {f"X_{i}" for i in range(5)} | {f"Y_{i}" for i in range(5)} == set(values)
    # the witness reproduces in onnxruntime and lies in the unsafe region of test_prop (Y_0 <= Y_k for all k)
    import onnxruntime as ort
    sess = ort.InferenceSession(str(benchmarks / "test/test_sat.onnx"))
    x = np.array([values[f"X_{i}"] for i in range(5)], dtype=np.float32).reshape(1, 1, 1, 5)
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0].ravel()
    np.testing.assert_allclose(y, [values[f"Y_{i}"] for i in range(5)], rtol=1e-6)


def test_verify_unsat_is_never_violated(capsys, benchmarks):
    code, out, _ = run(capsys, "verify", str(benchmarks / "test/test_unsat.onnx"),
                       str(benchmarks / "test/test_prop.vnnlib"), "--timeout", "30")
    assert code == 0
    assert last_line(out) in {"holds", "unknown", "timeout"}


@pytest.mark.parametrize("method", ["interval", "zono", "falsify"])
def test_every_method_runs_from_the_cli(capsys, benchmarks, method):
    code, out, _ = run(capsys, "verify", str(benchmarks / "test/test_small.onnx"),
                       str(benchmarks / "test/test_small.vnnlib"), "--method", method)
    assert code == 0
    assert last_line(out) in {"holds", "unknown"}


def test_timeout_is_honoured(capsys, benchmarks):
    import time
    start = time.perf_counter()
    code, out, _ = run(capsys, "verify", str(benchmarks / "test/test_unsat.onnx"),
                       str(benchmarks / "test/test_prop.vnnlib"), "--method", "falsify", "--timeout", "0.2")
    assert code == 0
    assert last_line(out) in {"timeout", "unknown"}
    assert time.perf_counter() - start < 5


def test_info_lists_layers(capsys, benchmarks):
    code, out, _ = run(capsys, "info", str(benchmarks / "acasxu/ACASXU_run2a_1_1_batch_2000.onnx"))
    assert code == 0
    assert "inputs 5, outputs 5" in out


# -- bad input: one line on stderr, exit code 2 -----------------------------------------------------


def bad(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nnreach: error: ")
    return lines[0]


def test_missing_model(capsys, tmp_path):
    spec = tmp_path / "p.vnnlib"
    spec.write_text("(declare-const X_0 Real)\n")
    assert "model file not found" in bad(capsys, "verify", str(tmp_path / "nope.onnx"), str(spec))


def test_missing_spec(capsys, benchmarks, tmp_path):
    msg = bad(capsys, "verify", str(benchmarks / "test/test_small.onnx"), str(tmp_path / "nope.vnnlib"))
    assert "nope.vnnlib" in msg


def test_malformed_onnx(capsys, tmp_path):
    f = tmp_path / "broken.onnx"
    f.write_bytes(b"this is not a protobuf \x00\x01\x02")
    assert "broken.onnx" in bad(capsys, "info", str(f))


def test_unknown_model_format(capsys, tmp_path):
    f = tmp_path / "model.h5"
    f.write_text("x")
    assert "unknown model format" in bad(capsys, "info", str(f))


def test_unsupported_ops_are_listed(capsys, tmp_path):
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["s"], name="soft"), helper.make_node("Erf", ["s"], ["y"], name="erf")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    f = tmp_path / "unsupported.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), f)
    msg = bad(capsys, "info", str(f))
    assert "Softmax" in msg and "Erf" in msg


def test_vnnlib_syntax_error_has_position(capsys, benchmarks, tmp_path):
    spec = tmp_path / "bad.vnnlib"
    spec.write_text("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 1.0)\n")
    msg = bad(capsys, "verify", str(benchmarks / "test/test_small.onnx"), str(spec))
    assert "bad.vnnlib" in msg and ":" in msg


def test_spec_size_mismatch(capsys, benchmarks):
    msg = bad(capsys, "verify", str(benchmarks / "test/test_small.onnx"), str(benchmarks / "test/test_prop.vnnlib"))
    assert "5 inputs" in msg and "1 inputs" in msg


@pytest.mark.parametrize("value", ["0", "-3", "abc"])
def test_bad_timeout(capsys, benchmarks, value):
    msg = bad(capsys, "verify", str(benchmarks / "test/test_small.onnx"),
              str(benchmarks / "test/test_small.vnnlib"), "--timeout", value)
    assert "timeout" in msg


def test_unknown_method(capsys, benchmarks):
    msg = bad(capsys, "verify", str(benchmarks / "test/test_small.onnx"),
              str(benchmarks / "test/test_small.vnnlib"), "--method", "magic")
    assert "magic" in msg


def test_usage_error_exit_code_from_the_installed_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nnreach.cli", "verify"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1


def test_reach_prints_bounds_and_draws_the_sets(capsys, tmp_path):
    png = tmp_path / "sets.png"
    code, out, err = run(capsys, "reach", str(REPO / "examples/models/tiny_relu.onnx"),
                         str(REPO / "examples/specs/tiny_holds.vnnlib"), "--method", "exact-star", "--plot", str(png))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("method exact-star:") and lines[1].startswith("y[0] in [")
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("method, spec, verdict", [
    ("exact-star", "tiny_holds", "holds"), ("zono", "tiny_holds", "holds"), ("deeppoly", "tiny_holds", "holds"),
    ("exact-star", "tiny_violated", "meets the unsafe set"), ("zono", "tiny_violated", "undecided"),
])
def test_reach_says_what_its_sets_say_of_the_unsafe_set_and_titles_the_plot(capsys, monkeypatch, method, spec,
                                                                             verdict):
    import nnreach.plot

    titles = []
    monkeypatch.setattr(nnreach.plot, "save", lambda fig, path: titles.append(fig._suptitle.get_text()) or path)
    code, out, err = run(capsys, "reach", TINY, str(REPO / f"examples/specs/{spec}.vnnlib"), "--method", method,
                         "--plot", "unused.png")
    assert code == 0, err
    assert any(line.startswith(f"verdict: {verdict} (") for line in out.splitlines())
    assert titles and titles[0].endswith(f": {verdict}")


def test_conformal_states_its_guarantee_and_writes_unknown(capsys, tmp_path):
    res = tmp_path / "out.txt"
    code, out, err = run(capsys, "verify", TINY, str(REPO / "examples/specs/tiny_holds.vnnlib"),
                         "--method", "conformal", "--coverage", "0.9", "--confidence", "0.99", "--jobs", "1",
                         "--result-file", str(res))
    assert code == 0, err
    assert last_line(out) == "holds-probably"
    assert "calibration n = 44, rank k = 44" in out and "not a proof" in out
    assert res.read_text() == "unknown\n"


def test_reach_conformal_draws_the_sound_set_beside(capsys, tmp_path):
    png = tmp_path / "sets.png"
    code, out, err = run(capsys, "reach", TINY, str(REPO / "examples/specs/tiny_holds.vnnlib"),
                         "--method", "conformal", "--conformal-set", "box", "--plot", str(png))
    assert code == 0, err
    assert "calibration n = 688, rank k = 688" in out and "guarantee: " in out
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize("command", ["verify", "reach"])
@pytest.mark.parametrize("option,value", [("--coverage", "1"), ("--coverage", "0"), ("--confidence", "1.5"),
                                          ("--confidence", "-0.1"), ("--coverage", "high")])
def test_conformal_probabilities_outside_0_1_are_one_line_errors(capsys, command, option, value):
    code, _, err = run(capsys, command, TINY, str(REPO / "examples/specs/tiny_holds.vnnlib"),
                       "--method", "conformal", option, value)
    assert code == 2 and len(err.strip().splitlines()) == 1 and option in err


@pytest.mark.parametrize("dims", ["0,7", "1,1", "x", "0,1,2"])
def test_reach_rejects_bad_coordinates(capsys, dims, tmp_path):
    code, out, err = run(capsys, "reach", str(REPO / "examples/models/tiny_relu.onnx"),
                         str(REPO / "examples/specs/tiny_holds.vnnlib"), "--out-dims", dims,
                         "--plot", str(tmp_path / "p.png"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "dims" in err


def _dense_onnx(path, n_in: int, n_out: int, seed: int = 0):
    """A dense ReLU model n_in -> 6 -> n_out written to ``path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(a.astype(np.float32), name) for name, a in
             [("W1", rng.normal(size=(n_in, 6))), ("b1", rng.normal(size=6) * 0.1),
              ("W2", rng.normal(size=(6, n_out))), ("b2", rng.normal(size=n_out) * 0.1)]]
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["a"]),
             helper.make_node("Relu", ["a"], ["r"]), helper.make_node("MatMul", ["r", "W2"], ["m"]),
             helper.make_node("Add", ["m", "b2"], ["y"])]
    graph = helper.make_graph(nodes, "dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def _box_spec(path, n_in: int, n_out: int, unsafe: str):
    lines = [f"(declare-const X_{i} Real)" for i in range(n_in)] + [f"(declare-const Y_{i} Real)" for i in range(n_out)]
    lines += [f"(assert (>= X_{i} -1.0))\n(assert (<= X_{i} {0.5 + i}))" for i in range(n_in)] + [unsafe]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("n_in,n_out", [(1, 3), (3, 1), (1, 1)])
@pytest.mark.parametrize("method", ["zono", "deeppoly", "exact-star"])
def test_reach_draws_models_with_one_input_or_one_output(capsys, tmp_path, n_in, n_out, method):
    model = _dense_onnx(tmp_path / "m.onnx", n_in, n_out)
    spec = _box_spec(tmp_path / "p.vnnlib", n_in, n_out, "(assert (>= Y_0 2.0))")
    code, out, err = run(capsys, "reach", str(model), str(spec), "--method", method)
    assert code == 0, err
    bounds = [line.split(" in ")[0] for line in out.splitlines()[1:] if line.startswith("y[")]
    assert bounds == [f"y[{k}]" for k in range(n_out)]
    png = tmp_path / "m.png"
    code, out, err = run(capsys, "reach", str(model), str(spec), "--method", method, "--plot", str(png))
    assert code == 0, err
    assert png.stat().st_size > 10_000


def test_reach_picture_of_a_one_output_model_is_drawn_against_an_input(tmp_path):
    import matplotlib.pyplot as plt

    from nnreach.io import load_model
    from nnreach.io.vnnlib import read_vnnlib
    from nnreach.plot import reach_figure
    from nnreach.reach import reach

    net = load_model(_dense_onnx(tmp_path / "m.onnx", 3, 1))
    prop = read_vnnlib(_box_spec(tmp_path / "p.vnnlib", 3, 1, "(assert (>= Y_0 2.0))"))[0]
    env = reach(net, prop.input_box, "deeppoly")
    fig = reach_figure(net, prop.input_box, "deeppoly", unsafe=prop.unsafe, out_sets=[env])
    try:
        right = fig.axes[1]
        assert right.get_xlabel() == "x[0]" and right.get_ylabel() == "y[0]"
        (band,) = [c for c in right.collections if c.get_label() == "deeppoly output set"]
        v = band.get_paths()[0].vertices
        assert v[:, 0].min() == pytest.approx(-1.0) and v[:, 0].max() == pytest.approx(0.5)
        lo, hi = env.bounds()
        assert v[:, 1].min() >= lo[0] - 1e-9 and v[:, 1].max() <= hi[0] + 1e-9
        (unsafe,) = [c for c in right.collections if c.get_label() == "unsafe"]
        assert unsafe.get_paths()[0].vertices[:, 1].min() == pytest.approx(2.0)
        assert max(unsafe.get_paths()[0].vertices[:, 1]) <= right.get_ylim()[1] + 1e-9
    finally:
        plt.close(fig)


def test_reach_timeout_prints_timeout_last_with_what_was_reached(capsys, tmp_path):
    model = _dense_onnx(tmp_path / "m.onnx", 3, 2)
    spec = _box_spec(tmp_path / "p.vnnlib", 3, 2, "(assert (>= Y_0 2.0))")
    code, out, err = run(capsys, "reach", str(model), str(spec), "--method", "exact-star", "--timeout", "1e-9")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[-1] == "timeout" and lines[0].startswith("method exact-star: time limit of 1e-09 s reached at node")
    assert not any(line.startswith("y[") for line in lines)     # no bounds that are not the output's
    code, out, err = run(capsys, "reach", str(model), str(spec), "--method", "exact-star", "--timeout", "60")
    assert code == 0 and "timeout" not in out and out.startswith("method exact-star: ")


# ------------------------------------------------------------------------------- nnreach robust

TINY = str(REPO / "examples/models/tiny_relu.onnx")


def _image(tmp_path, values, name="x.npy"):
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, np.asarray(values, dtype=np.float64))
    else:
        path.write_text(", ".join(map(str, values)))
    return str(path)


def _picture(tmp_path, pixels, name):
    import PIL.Image

    path = tmp_path / name
    PIL.Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path, quality=100)
    return str(path)


@pytest.mark.parametrize("name", ["x.npy", "x.txt"])
def test_robust_at_radius_zero_holds_for_the_predicted_class(capsys, tmp_path, name):
    from nnreach.io import load_model

    x = np.array([0.25, 0.1])
    predicted = int(np.argmax(load_model(TINY).forward(x.reshape(1, -1))[0]))
    code, out, err = run(capsys, "robust", TINY, "--image", _image(tmp_path, x, name), "--eps", "0")
    assert code == 0, err
    assert f"label {predicted} " in out and last_line(out) == "holds"
    code, out, err = run(capsys, "robust", TINY, "--image", _image(tmp_path, x, name), "--eps", "0",
                         "--label", str(1 - predicted), "--result-file", str(tmp_path / "r.txt"))
    assert code == 0, err
    assert last_line(out) == "violated"
    assert (tmp_path / "r.txt").read_text().splitlines()[0] == "sat"


def test_robust_scale_and_clip_shape_the_ball(capsys, tmp_path):
    """Pixels 0..255 scaled to [0, 1]; the ball is clipped to [0, 1], so its corners stay valid."""
    from nnreach.verify.problem import linf_ball

    code, out, err = run(capsys, "robust", TINY, "--image", _image(tmp_path, [255.0, 0.0]), "--eps", "0.1",
                         "--scale", "255", "--clip", "0,1", "--method", "interval")
    assert code == 0, err
    assert last_line(out) in ("holds", "unknown")
    box = linf_ball(np.array([1.0, 0.0]), 0.1, 0.0, 1.0)
    assert box.lo.tolist() == [0.9, 0.0] and box.hi.tolist() == [1.0, 0.1]


@pytest.mark.parametrize("argv, message", [
    (["--image", "{bad_size}", "--eps", "0.1"], "the image has 3 values but the model has 2 inputs"),
    (["--image", "{good}", "--eps", "0.1", "--label", "7"], "label 7 is not one of the 2 outputs"),
    (["--image", "{garbage}", "--eps", "0.1"], "cannot read image"),
    (["--image", "{missing}", "--eps", "0.1"], "image file not found"),
    (["--image", "{good}", "--eps", "-1"], "must be zero or more"),
    (["--image", "{good}", "--eps", "0.1", "--clip", "1,0"], "LO <= HI"),
    (["--image", "{nan}", "--eps", "0.1"], "non-finite"),
    (["--image", "{rgba}", "--eps", "0.1"], "the image is 2x1 with 4 channels (RGBA), 8-bit: 8 values, but the model "
                                            "has 2 inputs; convert it to grayscale"),
    (["--image", "{good}", "--eps", "0.1", "--clip", "0,1", "--no-clip"], "not allowed with argument"),
    (["--image", "{good}", "--eps", "0.1", "--clip", "2,3"], "leaves --clip 2,3; check --scale"),
    (["--image", "{good}", "--eps", "0.1", "--counterexample", "ce.txt"], "expected a path ending in .npy"),
])
def test_robust_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, message):
    files = {"bad_size": _image(tmp_path, [0.1, 0.2, 0.3], "bad.npy"), "good": _image(tmp_path, [0.1, 0.2]),
             "garbage": str(tmp_path / "g.txt"), "missing": str(tmp_path / "none.npy"),
             "nan": _image(tmp_path, [0.1, float("nan")], "nan.npy"),
             "rgba": _picture(tmp_path, [[[255, 0, 0, 255], [0, 0, 255, 128]]], "rgba.png")}
    (tmp_path / "g.txt").write_text("0.1 zebra")
    code, out, err = run(capsys, "robust", TINY, *[a.format(**files) for a in argv])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_robust_matches_the_vnnlib_property_of_an_mnist_instance(benchmarks, tmp_path):
    """The box that `robust` builds from an image equals the one the published VNN-LIB file states."""
    from nnreach.io.vnnlib import read_vnnlib
    from nnreach.verify.problem import linf_ball, robustness_property

    spec = benchmarks / "mnistfc/prop_0_0.03.vnnlib"
    if not spec.is_file():
        pytest.skip(f"{spec} not found")
    (prop,) = read_vnnlib(spec)
    lo, hi = prop.input_box.lo, prop.input_box.hi
    interior = (lo > 0) & (hi < 1)
    center = np.where(interior, (lo + hi) / 2, np.where(lo <= 0, np.maximum(hi - 0.03, 0), np.minimum(lo + 0.03, 1)))
    ours = robustness_property(linf_ball(center, 0.03, 0.0, 1.0), 8, 10)  # "Mnist property with label: 8"
    assert np.allclose(ours.input_box.lo, lo, atol=1e-9) and np.allclose(ours.input_box.hi, hi, atol=1e-9)
    rows = lambda unsafe: sorted(tuple(row) for p in unsafe for row in p.A)  # noqa: E731
    assert len(ours.unsafe) == len(prop.unsafe) == 9 and rows(ours.unsafe) == rows(prop.unsafe)


def _boxes(monkeypatch):
    """Record the input box of every problem ``robust`` hands to ``verify`` (which answers unknown)."""
    import importlib

    from nnreach.verify.result import Result, Status

    boxes = []

    def fake(problem, method, **kwargs):
        boxes.append(problem.properties[0].input_box)
        return Result(Status.UNKNOWN, method)

    monkeypatch.setattr(importlib.import_module("nnreach.verify.api"), "verify", fake)
    return boxes


@pytest.mark.parametrize("options, lo, hi, said", [
    ([], [0.8, 0.0], [1.0, 0.2], "clipped to the pixel range [0, 1]"),
    (["--clip", "0.1,0.9"], [0.8, 0.1], [0.9, 0.2], "clipped to [0.1, 0.9] (--clip)"),
    (["--no-clip"], [0.8, -0.2], [1.2, 0.2], "not clipped (--no-clip)"),
])
def test_robust_clips_the_ball_of_a_picture_to_its_pixel_range(capsys, monkeypatch, tmp_path, options, lo, hi, said):
    """PNG and JPEG give the same pixels (0..255 as stored), so the same ball; a .npy of the same values
    divided by 255 gives it too, but is clipped only with --clip."""
    boxes = _boxes(monkeypatch)
    for name in ("p.png", "p.jpg"):
        code, out, err = run(capsys, "robust", TINY, "--image", _picture(tmp_path, [[255, 0]], name),
                             "--scale", "255", "--eps", "0.2", *options)
        assert code == 0, err
        assert "2x1 with 1 channel (grayscale), 8-bit: 2 values; pixel values 0..255 divided by --scale 255" in out
        assert said in out
    code, out, err = run(capsys, "robust", TINY, "--image", _image(tmp_path, [1.0, 0.0]), "--eps", "0.2", *options)
    assert code == 0, err
    for box in boxes[:2]:
        np.testing.assert_allclose(box.lo, lo) and np.testing.assert_allclose(box.hi, hi)
    if not options:
        assert "not clipped (a .npy or text file has no pixel range: --clip LO,HI sets one)" in out
        lo, hi = [0.8, -0.2], [1.2, 0.2]
    np.testing.assert_allclose(boxes[2].lo, lo) and np.testing.assert_allclose(boxes[2].hi, hi)


def test_robust_reads_a_gray_picture_saved_in_colour_as_grayscale_and_says_so(capsys, monkeypatch, tmp_path):
    boxes = _boxes(monkeypatch)
    code, out, err = run(capsys, "robust", TINY, "--image", _picture(tmp_path, [[[255] * 3, [0] * 3]], "rgb.png"),
                         "--eps", "0")
    assert code == 0, err
    assert ("note: the image is 2x1 with 3 channels (RGB), 8-bit: 6 values; its colour channels are equal: "
            "read as grayscale") in out
    assert "as stored (a model that takes [0, 1] needs --scale 255)" in out
    assert boxes[0].lo.tolist() == [255.0, 0.0]


def test_robust_puts_a_colour_pictures_channels_first_for_a_model_that_takes_them_so(capsys, monkeypatch, tmp_path):
    """A model of input shape (3, 1, 2) gets the 1x2 RGB picture channel by channel, and a counterexample
    written back as a picture has the picture's layout again."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.eye(2, 6, dtype=np.float32)  # y = the red channel
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "W"], ["y"], transB=1)], "chw",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [numpy_helper.from_array(w, "W")])
    model = tmp_path / "chw.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), model)
    pixels = [[[10, 20, 30], [40, 50, 60]]]
    picture = _picture(tmp_path, pixels, "rgb.png")
    code, out, err = run(capsys, "robust", str(model), "--image", picture, "--eps", "0", "--label", "0",
                         "--counterexample", str(tmp_path / "ce.npy"))
    assert code == 0, err
    assert "the picture's channels are put first, as the model's input shape (3, 1, 2)" in out
    assert last_line(out) == "violated"  # y = (10, 40): class 1 wins
    np.testing.assert_array_equal(np.load(tmp_path / "ce.npy"), [[[10, 40]], [[20, 50]], [[30, 60]]])
    from nnreach.io.image import load_image

    np.testing.assert_array_equal(load_image(tmp_path / "ce.png").values, pixels)


def _readme_commands() -> list[list[str]]:
    """The command lines of README.md's "Robustness of an image" paragraph."""
    import shlex

    text = (REPO / "README.md").read_text().split("### Robustness of an image", 1)[1].split("\n#", 1)[0]
    return [shlex.split(line)[1:] for line in text.splitlines() if line.startswith("    nnreach robust ")]


def test_the_readme_robustness_commands_run_on_the_bundled_files(capsys, monkeypatch, tmp_path):
    """The README's commands, from the repository root: the first verbatim; the second with its
    --counterexample written to a temporary folder instead of out/."""
    monkeypatch.chdir(REPO)
    holds, violated = _readme_commands()
    code, out, err = run(capsys, *holds)
    assert code == 0, err
    assert "label 6 " in out and "clipped to the pixel range [0, 1]" in out and last_line(out) == "holds"

    k = violated.index("--counterexample")
    assert violated[k + 1] == "out/ce.npy"
    violated[k + 1] = str(tmp_path / "ce.npy")
    code, out, err = run(capsys, *violated)
    assert code == 0, err
    assert last_line(out) == "violated"
    assert all(len(line) < 300 for line in out.splitlines())  # no 784 numbers on a line
    assert f"(784 values in [0, 1]; all of them: {tmp_path / 'ce.npy'})" in out
    assert f"counterexample written to {tmp_path / 'ce.npy'} and {tmp_path / 'ce.png'}" in out
    from nnreach.io import load_model
    from nnreach.io.image import load_image

    x = np.load(tmp_path / "ce.npy")
    center = load_image(REPO / "examples/images/mnist_6.png").values / 255
    assert x.shape == (28, 28) and np.abs(x - center).max() <= 0.05 + 1e-9 and 0 <= x.min() and x.max() <= 1
    assert np.argmax(load_model(REPO / violated[1]).forward(x.reshape(1, -1))[0]) != 6
    png = load_image(tmp_path / "ce.png")
    assert png.mode == "L" and png.values.shape == (28, 28) and np.abs(png.values / 255 - x).max() <= 0.5 / 255


def test_verify_saves_a_counterexample_flat_and_says_when_there_is_none(capsys, tmp_path):
    specs = REPO / "examples/specs"
    ce = tmp_path / "sub/ce.npy"
    code, out, err = run(capsys, "verify", TINY, str(specs / "tiny_violated.vnnlib"), "--counterexample", str(ce))
    assert code == 0, err
    assert last_line(out) == "violated" and f"counterexample written to {ce}\n" in out
    x = np.load(ce)
    assert x.shape == (2,) and f"x = {x.tolist()}" in out  # short vectors are printed whole
    ce.unlink()
    code, out, err = run(capsys, "verify", TINY, str(specs / "tiny_holds.vnnlib"), "--counterexample", str(ce))
    assert code == 0, err
    assert last_line(out) == "holds" and f"no counterexample: {ce} not written" in out and not ce.exists()


def test_version_is_the_package_version(capsys):
    import nnreach
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"nnreach {nnreach.__version__}"
    assert nnreach.__version__[0].isdigit()


def test_a_usage_error_names_the_command_once(capsys):
    code, _, err = run(capsys, "verify")
    assert code == 2
    assert err.startswith("nnreach: error: verify: ") and err.count("nnreach") == 1


def test_json_gives_the_verdict_times_statistics_and_the_checked_counterexample(capsys, tmp_path):
    """``--json -``: stdout is one JSON object with exactly ``cli.JSON_KEYS`` (the text goes to stderr);
    ``--json PATH`` writes the same object and keeps the text; a counterexample is replayed to its output."""
    import json

    from nnreach.cli import JSON_KEYS
    from nnreach.io import load_model

    model = REPO / "examples/models/tiny_relu.onnx"
    code, out, err = run(capsys, "verify", str(model), str(REPO / "examples/specs/tiny_violated.vnnlib"), "--json", "-")
    assert code == 0, err
    record = json.loads(out)
    assert tuple(record) == JSON_KEYS
    assert record["verdict"] == "violated" and record["decided"] is True and record["vnncomp"] == "sat"
    assert record["method"].startswith("auto") and record["seconds"] >= record["method_seconds"] > 0
    ce = record["counterexample"]
    assert ce["checked_by"] == "onnxruntime" and ce["property"] == 0
    np.testing.assert_allclose(load_model(model).forward(np.array([ce["x"]]))[0], ce["y"], rtol=1e-4, atol=1e-5)
    assert "model" in err and "spec" in err
    path = tmp_path / "r.json"
    code, out, err = run(capsys, "verify", str(model), str(REPO / "examples/specs/tiny_holds.vnnlib"), "--json", str(path))
    assert code == 0 and last_line(out) == "holds"
    record = json.loads(path.read_text())
    assert record["verdict"] == "holds" and record["decided"] is True and record["counterexample"] is None
    assert isinstance(record["stats"], dict)
    code, out, err = run(capsys, "verify", str(model), str(REPO / "examples/specs/tiny_holds.vnnlib"),
                         "--json", str(tmp_path / "new" / "r.json"))            # a missing folder is made
    assert code == 0 and json.loads((tmp_path / "new" / "r.json").read_text())["verdict"] == "holds"
    code, out, err = run(capsys, "verify", str(model), str(REPO / "examples/specs/tiny_holds.vnnlib"),
                         "--json", str(path / "r.json"))                        # under a file: unwritable
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot write JSON file" in err
