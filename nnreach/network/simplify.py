"""Simplify a network for analysis: pool before a monotone activation, fuse chains of affine ops into
one dense ``Linear``.

A non-decreasing elementwise activation commutes with max pooling (``max_i f(x_i) = f(max_i x_i)``),
so an activation whose value only a max pooling uses moves after it: the activation then has one
neuron per window instead of one per entry, fewer neurons to relax and to split, and the pooling is
relaxed on the pre-activations.

Exported models spread one dense layer over several nodes (``Sub``, ``Flatten``, ``MatMul``, ``Add``;
or 1x1 convolutions on a ``[1, 1, 1, n]`` tensor). Analyses pay per node and per relaxation, so a
maximal chain of single-input affine ops whose inner values nobody else uses becomes one ``Linear`` on
the flattened vector, framed by reshapes where the surrounding shapes are not 1-D. A chain is only
fused when its dense matrix is not much larger than the parameters it replaces (convolutions on images
stay convolutions).
"""

from __future__ import annotations

from collections import Counter
from math import prod

import numpy as np

from .graph import Network, Node
from .ops import Activation, Linear, MaxPool2d, Reshape

MAX_GROWTH = 4
"""A fused matrix may hold at most this many times the entries of the ops it replaces (plus 4096)."""


def _param_count(node: Node) -> int:
    return sum(getattr(node.op, name).size for name in ("weight", "bias", "scale", "offset")
               if isinstance(getattr(node.op, name, None), np.ndarray))


def _dense(chain: list[Node], in_shape: tuple[int, ...]) -> Linear:
    """The chain as one Linear on flat vectors: columns are images of unit vectors."""
    n = prod(in_shape)
    x = np.vstack([np.zeros((1, n)), np.eye(n)]).reshape((n + 1, *in_shape))
    for node in chain:
        x = node.op.forward(x)
    y = x.reshape(n + 1, -1)
    return Linear((y[1:] - y[0]).T, y[0])


def _single_affine(node: Node) -> bool:
    return node.op.is_affine and len(node.inputs) == 1


def _chains(net: Network) -> list[list[Node]]:
    """Maximal runs of single-input affine nodes, each inner value used only by the next node."""
    uses = Counter(i for n in net.nodes for i in n.inputs)
    runs: list[list[Node]] = []
    for node in net.nodes:
        extends = (_single_affine(node) and runs and _single_affine(runs[-1][-1])
                   and runs[-1][-1].name == node.inputs[0]
                   and uses[node.inputs[0]] == 1 and runs[-1][-1].name != net.output)
        if extends:
            runs[-1].append(node)
        else:
            runs.append([node])
    return runs


def pool_first(net: Network) -> Network:
    """An equivalent network in which every monotone activation whose value only a max pooling uses
    comes after that pooling (the same network when there is none). The pooling is named
    ``<pool>/pooled`` and the activation takes the pooling's name, so the nodes after it are unchanged."""
    uses = Counter(i for n in net.nodes for i in n.inputs)
    by_name = {n.name: n for n in net.nodes}
    moved = {n.inputs[0] for n in net.nodes
             if isinstance(n.op, MaxPool2d) and n.inputs[0] in by_name
             and isinstance(by_name[n.inputs[0]].op, Activation) and by_name[n.inputs[0]].op.monotone
             and uses[n.inputs[0]] == 1 and n.inputs[0] != net.output}
    if not moved:
        return net
    layers = []
    for n in net.nodes:
        if n.name in moved:
            continue
        if isinstance(n.op, MaxPool2d) and n.inputs[0] in moved:
            act = by_name[n.inputs[0]]
            layers.append((f"{n.name}/pooled", n.op, act.inputs))
            layers.append((n.name, act.op, (f"{n.name}/pooled",)))
        else:
            layers.append((n.name, n.op, n.inputs))
    return Network.build(net.input_shape, layers, net.output)


def simplify(net: Network) -> Network:
    """An equivalent network with monotone activations after the max poolings that alone use them
    (:func:`pool_first`) and affine chains fused (the same network when nothing changes).

    Fused chains produce flat vectors; elementwise activations after them stay flat, and a reshape
    back to the original shape is inserted only before an op that needs it. The output value is the
    same up to its shape (analyses flatten it anyway).
    """
    original = net
    net = pool_first(net)
    layers: list[tuple] = []
    flat: set[str] = set()  # values now produced flat although their node has a shaped output
    shaped: dict[str, str] = {}  # flat values already reshaped back: the reshape's name

    def source(name: str) -> str:
        """``name``, reshaped back to its original shape if it is now flat (once for all its users)."""
        if name not in flat:
            return name
        if name not in shaped:
            layers.append((f"{name}/shaped", Reshape(net.shape_of(name)), (name,)))
            shaped[name] = f"{name}/shaped"
        return shaped[name]

    changed = net is not original
    for chain in _chains(net):
        head, last = chain[0], chain[-1]
        in_shape = net.shape_of(head.inputs[0])
        n_in, n_out = prod(in_shape), prod(last.shape)
        if all(isinstance(n.op, Reshape) for n in chain):  # a reshape accepts flat input as it is
            changed |= len(chain) > 1 or head.inputs[0] in flat
            layers.append((last.name, Reshape(last.shape), head.inputs))
            continue
        fusable = (_single_affine(head) and
                   (len(chain) > 1 or not isinstance(head.op, Linear) or head.inputs[0] in flat) and
                   n_in * n_out <= MAX_GROWTH * sum(map(_param_count, chain)) + 4096)
        if fusable:
            changed = True
            src = head.inputs[0]
            if len(in_shape) != 1 and src not in flat:
                layers.append((f"{last.name}/flatten", Reshape((n_in,)), (src,)))
                src = f"{last.name}/flatten"
            layers.append((last.name, _dense(chain, in_shape), (src,)))
            if len(last.shape) != 1:
                flat.add(last.name)
            continue
        for n in chain:
            if isinstance(n.op, Activation) and n.inputs[0] in flat:
                layers.append((n.name, n.op, n.inputs))
                flat.add(n.name)
            else:
                layers.append((n.name, n.op, tuple(source(i) for i in n.inputs)))
    return Network.build(net.input_shape, layers, net.output) if changed else net
