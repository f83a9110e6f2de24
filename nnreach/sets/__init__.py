"""Immutable convex sets in R^n with one shared interface.

Every set has ``dim``, ``affine_map(W, b)``, ``bounds()``, ``support(d)``, ``contains(x)``,
``sample(n, rng)`` and ``intersect_halfspace(a, b)`` (exact on Star and HPolytope; Box and
Zonotope raise TypeError). Convert with ``overapproximate(X, Target)``. :class:`AffineEnvelope` (the
output of symbolic linear bounds) has the same interface; its affine maps are stars.
"""

from .box import Box
from .convert import overapproximate
from .envelope import AffineEnvelope
from .polytope import HPolytope
from .star import Star
from .zonotope import Zonotope

__all__ = ["AffineEnvelope", "Box", "HPolytope", "Star", "Zonotope", "overapproximate"]
