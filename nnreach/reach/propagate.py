"""Propagate a set through a network, node by node, with the registered reach rules."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import InputError
from ..network.graph import INPUT, Network
from ..network.simplify import simplify
from ..sets.box import Box
from ..sets.zonotope import Zonotope
from .registry import find_rule

INITIAL_SET: dict[str, Callable[[Box], object]] = {
    "interval": lambda box: box,
    "zono": lambda box: Zonotope.from_box(box),
}
"""How each method turns an input box into the set type it propagates."""


def _pad_generators(z: Zonotope, m: int) -> Zonotope:
    k = z.generators.shape[1]
    if k == m:
        return z
    return Zonotope(z.center, np.hstack([z.generators, np.zeros((z.center.shape[0], m - k))]))


def reach(network: Network, input_set, method: str = "zono"):
    """A set containing the network's (flattened) outputs for every input in ``input_set``.

    Args:
        network: the network.
        input_set: a :class:`Box` (converted to the method's set type) or a set of that type, of
            dimension ``network.input_size``.
        method: ``"interval"`` (boxes) or ``"zono"`` (zonotopes, DeepZ relaxations).
    Returns:
        The output set, of dimension ``network.output_size``.
    """
    if method not in INITIAL_SET:
        raise InputError(f"unknown reach method {method!r}; choose one of {', '.join(INITIAL_SET)}")
    if input_set.dim != network.input_size:
        raise InputError(f"input set has dimension {input_set.dim} but the network has "
                         f"{network.input_size} inputs")
    network = simplify(network)
    x = INITIAL_SET[method](input_set) if isinstance(input_set, Box) else input_set
    values = {INPUT: x}
    # Zonotopes in different branches of a DAG must not reuse generator columns for different fresh
    # symbols: every rule sees its input padded to all columns created so far.
    columns = x.generators.shape[1] if isinstance(x, Zonotope) else 0
    for node in network.nodes:
        xs = tuple(values[i] for i in node.inputs)
        if isinstance(x, Zonotope):
            xs = tuple(_pad_generators(z, columns) for z in xs)
        shapes = tuple(network.shape_of(i) for i in node.inputs)
        out = find_rule(node.op, type(xs[0]), method)(node.op, xs, shapes)
        if isinstance(out, Zonotope):
            columns = out.generators.shape[1]
        values[node.name] = out
    return values[network.output]
