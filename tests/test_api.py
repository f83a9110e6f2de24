"""The public API of ``import nnreach``: models given as paths, Networks or torch modules, the model
file Problem replays counterexamples on, one-line errors for arguments of the wrong type, lazy
submodules and ``verify_robustness``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import nnreach
from nnreach.network import Network, ops

from .conftest import EXAMPLES, REPO

TINY = EXAMPLES / "models" / "tiny_relu.onnx"   # 2 inputs, 2 outputs


def _sum_net() -> Network:
    """``y0 = x0 + x1``, ``y1 = 1``: class 0 while ``x0 + x1 > 1``."""
    return Network.sequential((2,), [ops.Linear(np.array([[1.0, 1.0], [0.0, 0.0]]), np.array([0.0, 1.0]))])


def _tiny_box_property(threshold: float) -> nnreach.Property:
    """Inputs in [0, 0.5]^2 of the tiny net; unsafe: ``y0 >= threshold``."""
    box = nnreach.Box([0.0, 0.0], [0.5, 0.5])
    return nnreach.halfspace_property(box, [[-1.0, 0.0]], [-threshold])


# -- import and lazy submodules ---------------------------------------------------------------------

def test_import_loads_neither_torch_nor_matplotlib_and_plot_is_an_attribute():
    code = ("import sys, nnreach; before = [m for m in ('torch', 'matplotlib') if m in sys.modules]; "
            "f = nnreach.plot.plot_reach; print(before, 'matplotlib' in sys.modules, f.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}).stdout
    assert out.split() == ["[]", "False", "nnreach.plot"]


def test_an_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nnreach.nope  # noqa: B018


# -- the model file Problem replays counterexamples on ------------------------------------------------

def test_a_loaded_network_remembers_its_file_and_problem_uses_it():
    net = nnreach.load_model(TINY)
    assert net.source == str(TINY)
    problem = nnreach.Problem(net, _tiny_box_property(0.0))      # one Property, not a tuple
    assert problem.model_path == str(TINY) and len(problem.properties) == 1
    assert nnreach.Problem(net, [_tiny_box_property(0.0)], model_path=TINY).model_path == str(TINY)
    r = nnreach.verify(problem, "falsify")
    assert r.status is nnreach.Status.VIOLATED and r.counterexample.checked_by == "onnxruntime"


def test_a_path_goes_wherever_a_model_does():
    prop = _tiny_box_property(0.0)
    assert nnreach.Problem(str(TINY), prop).network.input_size == 2
    r = nnreach.verify(TINY, "auto", properties=nnreach.read_vnnlib(EXAMPLES / "specs" / "tiny_violated.vnnlib"))
    assert r.status is nnreach.Status.VIOLATED
    lo, hi = nnreach.reach(TINY, prop.input_box, "interval").bounds()
    y = nnreach.load_model(TINY).forward(np.random.default_rng(0).uniform(0.0, 0.5, (200, 2)))
    assert np.all(y >= lo - 1e-9) and np.all(y <= hi + 1e-9)


def test_a_network_built_in_python_has_no_file_and_says_so():
    net = _sum_net()
    problem = nnreach.Problem(net, nnreach.halfspace_property(nnreach.Box([0.0, 0.0], [1.0, 1.0]), [[-1.0, 0.0]], [-1.5]))
    assert net.source is None and problem.model_path is None
    r = nnreach.verify(problem, "auto", timeout=30)
    assert r.status is nnreach.Status.VIOLATED and r.counterexample.checked_by == "nnreach"


# -- torch modules ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def conv_module(torch):
    """A module with its own forward (not Sequential): conv, relu, flatten, linear and arithmetic."""
    class ConvNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 3, 3, stride=1, padding=1)
            self.fc = torch.nn.Linear(3 * 5 * 5, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).flatten(1)) * 0.5 - 0.1

    torch.manual_seed(0)
    return ConvNet().eval()


def _torch_out(torch, module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.tensor(x, dtype=torch.float32)).numpy().reshape(len(x), -1).astype(np.float64)


def test_a_torch_module_with_its_own_forward_is_exported_and_loaded(torch, conv_module):
    net = nnreach.load_model(conv_module, input_shape=(1, 5, 5))
    assert net.input_shape == (1, 5, 5) and net.source.endswith(".onnx")
    x = np.random.default_rng(1).uniform(-1.0, 1.0, (16, 1, 5, 5))
    assert np.allclose(net.forward(x.reshape(16, -1)), _torch_out(torch, conv_module, x), atol=1e-5)


def test_the_input_shape_is_inferred_from_a_first_linear_layer_only(torch, conv_module):
    class Mlp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(3, 5), torch.nn.Linear(5, 2)

        def forward(self, x):
            h = self.a(x)
            return self.b(torch.tanh(h) + h)

    assert nnreach.load_model(Mlp()).input_shape == (3,)
    with pytest.raises(nnreach.InputError, match=r"first layer is Conv2d.*give input_shape \(channels first, C = 1\)"):
        nnreach.load_model(conv_module)
    with pytest.raises(nnreach.InputError, match=r"on an input of shape \(1, 25\) failed"):
        nnreach.load_model(conv_module, input_shape=25)


def test_a_forward_that_branches_on_input_values_is_refused(torch):
    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else -self.fc(x)

    with pytest.raises(nnreach.UnsupportedError, match="cannot be exported faithfully"):
        nnreach.load_model(Branchy())


def test_a_counterexample_on_a_torch_model_is_checked_by_onnxruntime(torch, conv_module):
    net = nnreach.load_model(conv_module, (1, 5, 5))
    box = nnreach.Box(np.zeros(25), np.ones(25))
    y = net.forward(np.random.default_rng(2).uniform(0.0, 1.0, (500, 25)))
    t = float(np.median(y[:, 0]))          # half the samples have y0 >= t
    r = nnreach.verify(conv_module, "falsify", input_shape=(1, 5, 5),
                       properties=nnreach.halfspace_property(box, [[-1.0, 0, 0, 0]], [-t]))
    assert r.status is nnreach.Status.VIOLATED and r.counterexample.checked_by == "onnxruntime"
    ce = r.counterexample
    assert np.all(ce.x >= 0.0) and np.all(ce.x <= 1.0) and ce.y[0] >= t
    assert np.allclose(ce.y, _torch_out(torch, conv_module, ce.x.reshape(1, 1, 5, 5))[0], atol=1e-6)


def test_reach_of_a_torch_module_contains_its_outputs(torch, conv_module):
    box = nnreach.Box(np.zeros(25), np.ones(25))
    lo, hi = nnreach.reach(conv_module, box, "zono", input_shape=(1, 5, 5)).bounds()
    x = np.random.default_rng(3).uniform(0.0, 1.0, (300, 1, 5, 5))
    y = _torch_out(torch, conv_module, x)
    assert np.all(y >= lo - 1e-5) and np.all(y <= hi + 1e-5)


def test_verify_robustness_of_a_torch_module(torch, conv_module):
    image = np.random.default_rng(4).uniform(0.0, 1.0, (1, 5, 5))
    label = int(np.argmax(_torch_out(torch, conv_module, image[None])[0]))
    small = nnreach.verify_robustness(conv_module, image, 1e-4, clip=(0.0, 1.0), timeout=60)
    assert small.status is nnreach.Status.HOLDS and small.stats["label"] == label
    big = nnreach.verify_robustness(conv_module, image, 1.0, clip=(0.0, 1.0), timeout=60)
    assert big.status is nnreach.Status.VIOLATED and big.counterexample.checked_by == "onnxruntime"
    y = _torch_out(torch, conv_module, big.counterexample.x.reshape(1, 1, 5, 5))[0]
    assert np.delete(y, label).max() >= y[label]


# -- verify_robustness on a tiny net -------------------------------------------------------------------

def test_verify_robustness_holds_and_is_violated_on_a_tiny_net():
    net, image = _sum_net(), np.array([0.8, 0.8])        # y0 = 1.6 > y1 = 1: class 0
    holds = nnreach.verify_robustness(net, image, 0.05)
    assert holds.status is nnreach.Status.HOLDS and holds.stats["label"] == 0
    violated = nnreach.verify_robustness(net, image, 0.35)  # x0 + x1 reaches 0.9 < 1
    assert violated.status is nnreach.Status.VIOLATED
    x = violated.counterexample.x
    assert np.all(np.abs(x - image) <= 0.35) and x.sum() <= 1.0
    assert nnreach.verify_robustness(net, image, 0.35, clip=(0.6, 1.0)).status is nnreach.Status.HOLDS
    assert nnreach.verify_robustness(net, image, 0.05, label=1).status is nnreach.Status.VIOLATED


# -- one-line errors for arguments of the wrong type ---------------------------------------------------

def _problem() -> nnreach.Problem:
    return nnreach.Problem(TINY, _tiny_box_property(0.0))


BAD_CALLS = {
    "load_model(list)": (lambda: nnreach.load_model([0, 1]), r"^model: expected a path .* got list$"),
    "load_model(path, input_shape)": (lambda: nnreach.load_model(TINY, (2,)), r"^input_shape applies only to torch"),
    "Problem(net, str)": (lambda: nnreach.Problem(TINY, "prop.vnnlib"), r"^properties: .* got str \(read a VNN-LIB"),
    "Problem(net, [1])": (lambda: nnreach.Problem(TINY, [1]), r"^properties: .* holding int$"),
    "Problem(net, [])": (lambda: nnreach.Problem(TINY, []), r"^properties: empty"),
    "Problem(model_path=3)": (lambda: nnreach.Problem(TINY, _tiny_box_property(0.0), 3), r"^model_path: expected"),
    "verify(problem, 'nope')": (lambda: nnreach.verify(_problem(), "nope"), r"^unknown method 'nope'; choose one of auto"),
    "verify(problem, 60)": (lambda: nnreach.verify(_problem(), 60), r"^unknown method 60"),
    "verify(net)": (lambda: nnreach.verify(nnreach.load_model(TINY)), r"^problem: expected a nnreach.Problem, or a model"),
    "verify(problem, properties=)": (lambda: nnreach.verify(_problem(), properties=_tiny_box_property(0.0)),
                                     r"^properties and input_shape go with a model"),
    "verify(timeout='5')": (lambda: nnreach.verify(_problem(), timeout="5"), r"^timeout must be a positive number"),
    "verify(settings={})": (lambda: nnreach.verify(_problem(), settings={}), r"^settings: expected a nnreach.Settings"),
    "reach(net, [0, 1])": (lambda: nnreach.reach(TINY, [0, 1]), r"^input_set: expected a nnreach Box, Zonotope or Star, got list"),
    "reach(net, box, 3)": (lambda: nnreach.reach(TINY, nnreach.Box([0, 0], [1, 1]), 3), r"^unknown reach method 3"),
    "verify_robustness(eps='0.1')": (lambda: nnreach.verify_robustness(TINY, [0.1, 0.1], "0.1"), r"^eps: expected a number"),
    "verify_robustness(clip=(1, 0))": (lambda: nnreach.verify_robustness(TINY, [0.1, 0.1], 0.1, clip=(1, 0)),
                                       r"^clip: expected a pair"),
    "verify_robustness(image outside clip)": (lambda: nnreach.verify_robustness(TINY, [2.0, 0.1], 0.1, clip=(0, 1)),
                                              r"^image: its values .* outside clip"),
    "verify_robustness(image size)": (lambda: nnreach.verify_robustness(TINY, np.zeros(3), 0.1),
                                      r"^image: 3 values but the model has 2 inputs$"),
    "verify_robustness(image='x')": (lambda: nnreach.verify_robustness(TINY, "x", 0.1), r"^image: expected an array"),
    "verify_robustness(label=0.5)": (lambda: nnreach.verify_robustness(TINY, [0.1, 0.1], 0.1, label=0.5),
                                     r"^label: expected an int or None, got float$"),
}


@pytest.mark.parametrize("name", BAD_CALLS)
def test_arguments_of_the_wrong_type_give_one_line_input_errors(name):
    call, pattern = BAD_CALLS[name]
    with pytest.raises(nnreach.InputError) as e:
        call()
    assert "\n" not in str(e.value)
    assert e.match(pattern)
