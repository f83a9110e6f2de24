"""``overapproximate(X, Target)``: the one verb for converting between set types.

Each supported pair and its precision:

=============  ===========  ==========================================================
from           to           result
=============  ===========  ==========================================================
Box            Zonotope     exact (one generator per dimension of nonzero width)
Box            Star         exact
Box            HPolytope    exact (``[I; -I] x <= [hi; -lo]``)
Zonotope       Box          exact box hull (``c -+ |G| 1``)
Zonotope       Star         exact (predicate box [-1, 1]^m)
Star           Box          exact box hull (2 LPs per dimension)
Star           Zonotope     outer: ``c + V a`` over the predicate box, ignoring C
HPolytope      Box          exact box hull (LP); ValueError if unbounded or empty
HPolytope      Star         exact for bounded nonempty polytopes; ValueError otherwise
any X          type(X)      X itself
=============  ===========  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from .box import Box
from .polytope import HPolytope
from .star import Star
from .zonotope import Zonotope

T = TypeVar("T", Box, Zonotope, Star, HPolytope)


def _box_hull(X: Zonotope | Star | HPolytope) -> Box:
    lo, hi = X.bounds()
    return Box(lo, hi)


def _box_to_hpolytope(box: Box) -> HPolytope:
    eye = np.eye(box.dim)
    return HPolytope(np.vstack([eye, -eye]), np.concatenate([box.hi, -box.lo]))


def _star_to_zonotope(s: Star) -> Zonotope:
    mid = (s.pred_lb + s.pred_ub) / 2
    rad = (s.pred_ub - s.pred_lb) / 2
    return Zonotope(s.center + s.basis @ mid, s.basis * rad)


_CONVERSIONS: dict[tuple[type, type], Callable] = {
    (Box, Zonotope): Zonotope.from_box,
    (Box, Star): Star.from_box,
    (Box, HPolytope): _box_to_hpolytope,
    (Zonotope, Box): _box_hull,
    (Zonotope, Star): Star.from_zonotope,
    (Star, Box): _box_hull,
    (Star, Zonotope): _star_to_zonotope,
    (HPolytope, Box): _box_hull,
    (HPolytope, Star): Star.from_polytope,
}


def overapproximate(X: Box | Zonotope | Star | HPolytope, target: type[T]) -> T:
    """A set of type ``target`` containing X, the tightest that is cheap to compute
    (see the module docstring for each pair). TypeError for an unsupported pair.

    Example:
        >>> import numpy as np
        >>> z = overapproximate(Box(np.zeros(2), np.ones(2)), Zonotope)
        >>> z.center.tolist(), z.generators.tolist()
        ([0.5, 0.5], [[0.5, 0.0], [0.0, 0.5]])
    """
    if type(X) is target:
        return X
    convert = _CONVERSIONS.get((type(X), target))
    if convert is None:
        supported = ", ".join(sorted(t.__name__ for s, t in _CONVERSIONS if s is type(X)))
        raise TypeError(
            f"no overapproximation of a {type(X).__name__} by a {getattr(target, '__name__', target)} "
            f"(supported targets for {type(X).__name__}: {supported or 'none'})"
        )
    return convert(X)
