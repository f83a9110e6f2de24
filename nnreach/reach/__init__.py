"""Reachability: propagate sets through networks with registered per-op rules."""

from . import interval, zonotope  # noqa: F401  (register the rules)
from .propagate import reach
from .registry import find_rule, registered, rule

__all__ = ["reach", "find_rule", "registered", "rule"]
