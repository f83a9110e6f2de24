"""Immutable convex sets in R^n with one shared interface.

Every set has ``dim``, ``affine_map(W, b)``, ``bounds()``, ``support(d)``, ``contains(x)``,
``sample(n, rng)`` and ``intersect_halfspace(a, b)`` (exact on Star and HPolytope; Box and
Zonotope raise TypeError). Convert with ``overapproximate(X, Target)``.
"""

from .box import Box
from .convert import overapproximate
from .polytope import HPolytope
from .star import Star
from .zonotope import Zonotope

__all__ = ["Box", "HPolytope", "Star", "Zonotope", "overapproximate"]
