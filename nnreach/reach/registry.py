"""The registry of reach rules, keyed by (op type, set type, method).

A rule computes a set containing the image of its input set(s) under one op::

    @rule(Relu, Zonotope, "zono")
    def relu_zono(op: Relu, x: Zonotope) -> Zonotope: ...

Lookup walks the op's class hierarchy, so a rule registered for a base class serves its subclasses.
A missing combination raises :class:`UnsupportedError` naming the op, the set type and the method.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import UnsupportedError
from ..network.ops import Op

Rule = Callable[..., Any]
_RULES: dict[tuple[type, type, str], Rule] = {}


def rule(op_types: type | tuple[type, ...], set_type: type, method: str) -> Callable[[Rule], Rule]:
    """Register the decorated function as the rule for ``op_types`` on ``set_type`` under ``method``."""
    types = op_types if isinstance(op_types, tuple) else (op_types,)

    def register(fn: Rule) -> Rule:
        for t in types:
            key = (t, set_type, method)
            if key in _RULES:
                raise ValueError(f"duplicate reach rule for {t.__name__} on {set_type.__name__} ({method})")
            _RULES[key] = fn
        return fn

    return register


def find_rule(op: Op, set_type: type, method: str) -> Rule:
    """The rule for ``op`` on sets of ``set_type`` under ``method``."""
    for cls in type(op).__mro__:
        fn = _RULES.get((cls, set_type, method))
        if fn is not None:
            return fn
    raise UnsupportedError(f"method {method!r} has no reach rule for {type(op).__name__} on {set_type.__name__}")


def registered() -> list[tuple[type, type, str]]:
    """All registered (op type, set type, method) keys, for tests that cover every rule."""
    return sorted(_RULES, key=lambda k: (k[2], k[1].__name__, k[0].__name__))
