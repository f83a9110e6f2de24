"""nnreach: formal verification of neural networks and neural network control systems.

The public API::

    net = nnreach.load_model("model.onnx")
    problem = nnreach.Problem(net, tuple(nnreach.read_vnnlib("prop.vnnlib")), "model.onnx")
    result = nnreach.verify(problem, "auto", timeout=60)
    out_set = nnreach.reach(net, nnreach.Box(lo, hi), "zono")
"""

from importlib.metadata import PackageNotFoundError, version as _version

from .errors import InputError, NnreachError, UnsupportedError
from .io import load_model
from .io.vnnlib import read_vnnlib
from .network import Network
from .reach import reach
from .sets import Box, HPolytope, Star, Zonotope, overapproximate
from .verify.api import METHODS, verify
from .verify.problem import Problem, Property, halfspace_property, linf_ball, robustness_property
from .verify.result import Counterexample, Result, Status
from .verify.settings import Settings

try:
    __version__ = _version("nnreach")   # pyproject.toml's, as installed
except PackageNotFoundError:            # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "InputError", "NnreachError", "UnsupportedError", "load_model", "read_vnnlib", "Network", "reach",
    "Box", "HPolytope", "Star", "Zonotope", "overapproximate", "METHODS", "verify", "Problem", "Property",
    "halfspace_property", "linf_ball", "robustness_property", "Counterexample", "Result", "Status", "Settings",
    "__version__",
]
