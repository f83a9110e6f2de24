"""Reachability: propagate sets through networks with registered per-op rules."""

from . import interval, star, zonotope  # noqa: F401  (register the rules)
from .propagate import ReachTimeout, iter_reach, reach
from .registry import find_rule, registered, rule
from .star import StarOptions

__all__ = ["reach", "iter_reach", "ReachTimeout", "find_rule", "registered", "rule", "StarOptions"]
