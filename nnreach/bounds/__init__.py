"""Linear relaxations of activations and symbolic linear bounds (DeepPoly / CROWN)."""

from .linear import InputDomain, LinearBound, backward, intermediate_bounds
from .relaxations import Relaxation, relax

__all__ = ["InputDomain", "LinearBound", "backward", "intermediate_bounds", "Relaxation", "relax"]
