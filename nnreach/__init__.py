"""nnreach: formal verification of neural networks and neural network control systems.

The public API. A model is a path (``.onnx``, ``.nnet``, ``.mat``), a loaded :class:`Network` or a
PyTorch ``nn.Module`` (exported to ONNX; ``input_shape=`` unless its first layer is ``Linear``)::

    net = nnreach.load_model("model.onnx")                 # or load_model(module, input_shape=(1, 28, 28))
    problem = nnreach.Problem(net, nnreach.read_vnnlib("prop.vnnlib"))  # one Property or several
    result = nnreach.verify(problem, "auto", timeout=60)   # or verify(model, properties=...)
    result = nnreach.verify_robustness(module, image, eps=0.01, clip=(0, 1))
    out_set = nnreach.reach(net, nnreach.Box(lo, hi), "zono")
    nnreach.plot.plot_reach(net, box, "zono", "out.png")   # matplotlib is imported when drawing

Counterexamples of models read from (or exported to) an ONNX file are confirmed by onnxruntime on
that file; ``result.counterexample.checked_by`` names the implementation that confirmed one.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version as _version

from .errors import InputError, NnreachError, UnsupportedError
from .io import load_model
from .io.vnnlib import read_vnnlib
from .network import Network
from .reach import reach
from .sets import Box, HPolytope, Star, Zonotope, overapproximate
from .verify.api import METHODS, verify, verify_robustness
from .verify.problem import Problem, Properties, Property, halfspace_property, linf_ball, robustness_property
from .verify.result import Counterexample, Result, Status
from .verify.settings import Settings

try:
    __version__ = _version("nnreach")   # pyproject.toml's, as installed
except PackageNotFoundError:            # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "InputError", "NnreachError", "UnsupportedError", "load_model", "read_vnnlib", "Network", "reach",
    "Box", "HPolytope", "Star", "Zonotope", "overapproximate", "METHODS", "verify", "Problem", "Properties", "Property",
    "halfspace_property", "linf_ball", "robustness_property", "Counterexample", "Result", "Status", "Settings",
    "verify_robustness", "plot", "__version__",
]

_LAZY_SUBMODULES = ("plot",)
"""Submodules imported on first attribute access (``nnreach.plot``), not by ``import nnreach``."""


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
