"""Networks as directed acyclic graphs of operations, with a batched forward and backward pass."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Iterable, Sequence

import numpy as np

from .ops import Activation, Linear, MaxPool2d, Op, Reshape

INPUT = "input"
"""Name by which nodes refer to the network input."""


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One operation in a network.

    Attributes:
        name: unique name (taken from the model file where there is one).
        op: the operation.
        inputs: names of the nodes feeding this one, in the op's argument order (``INPUT`` for the
            network input).
        shape: per-sample output shape.
    """

    name: str
    op: Op
    inputs: tuple[str, ...]
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Network:
    """A feed-forward network: a DAG of :class:`Node` with one input and one output.

    Attributes:
        input_shape: per-sample input shape (no batch axis).
        nodes: nodes in topological order; every node's inputs come earlier or are ``INPUT``.
        output: name of the node whose value is the network output.
        source: the ONNX, ``.nnet`` or ``.mat`` file the network was read from (set by
            :func:`nnreach.load_model`, also for the ONNX file a torch module was exported to), which
            :class:`nnreach.Problem` replays counterexamples on; None for networks built in Python and
            for networks derived from another (a suffix, a simplified copy).
    """

    input_shape: tuple[int, ...]
    nodes: tuple[Node, ...]
    output: str
    source: str | None = None

    def __post_init__(self):
        seen = {INPUT}
        for node in self.nodes:
            missing = [i for i in node.inputs if i not in seen]
            if missing:
                raise ValueError(f"node {node.name!r} uses {missing} before they are computed")
            if node.name in seen:
                raise ValueError(f"duplicate node name {node.name!r}")
            seen.add(node.name)
        if self.output not in seen:
            raise ValueError(f"output {self.output!r} is not a node of the network")

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def build(cls, input_shape: Sequence[int], layers: Iterable[tuple[str, Op, Sequence[str]]],
              output: str | None = None) -> "Network":
        """Build a network, inferring every node's shape.

        Args:
            input_shape: per-sample input shape.
            layers: ``(name, op, input_names)`` in topological order.
            output: the output node (default: the last one).
        Raises:
            ValueError naming the node when shapes do not fit.
        """
        shapes: dict[str, tuple[int, ...]] = {INPUT: tuple(int(d) for d in input_shape)}
        nodes = []
        for name, op, inputs in layers:
            try:
                in_shapes = [shapes[i] for i in inputs]
            except KeyError as e:
                raise ValueError(f"node {name!r} uses unknown input {e.args[0]!r}") from None
            try:
                shape = tuple(int(d) for d in op.output_shape(*in_shapes))
            except ValueError as e:
                raise ValueError(f"node {name!r} ({type(op).__name__}): {e}") from None
            shapes[name] = shape
            nodes.append(Node(name, op, tuple(inputs), shape))
        if not nodes:
            raise ValueError("a network needs at least one layer")
        return cls(shapes[INPUT], tuple(nodes), output or nodes[-1].name)

    @classmethod
    def sequential(cls, input_shape: Sequence[int], ops: Sequence[Op]) -> "Network":
        """A chain of ops, named ``layer0``, ``layer1``, ..."""
        layers, prev = [], INPUT
        for k, op in enumerate(ops):
            layers.append((f"layer{k}", op, (prev,)))
            prev = f"layer{k}"
        return cls.build(input_shape, layers)

    def suffix(self, start: int) -> "Network":
        """The sequential network of nodes ``start`` onwards, whose input is the value that node
        ``start`` reads (ValueError unless the network is sequential)."""
        if not self.is_sequential:
            raise ValueError("only a sequential network has a suffix network")
        if not 0 <= start < len(self.nodes):
            raise ValueError(f"suffix start {start} is not a node index (0..{len(self.nodes) - 1})")
        first = self.nodes[start]
        head = Node(first.name, first.op, (INPUT,), first.shape)
        return Network(self.shape_of(first.inputs[0]), (head, *self.nodes[start + 1:]), self.output)

    # -- shapes ------------------------------------------------------------------------------------

    def shape_of(self, name: str) -> tuple[int, ...]:
        """Per-sample shape of a node's value (or of ``INPUT``)."""
        if name == INPUT:
            return self.input_shape
        return self.node(name).shape

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shape_of(self.output)

    @property
    def input_size(self) -> int:
        return prod(self.input_shape)

    @property
    def output_size(self) -> int:
        return prod(self.output_shape)

    @property
    def is_sequential(self) -> bool:
        """True when every node takes exactly the previous node's value."""
        prev = INPUT
        for n in self.nodes:
            if n.inputs != (prev,):
                return False
            prev = n.name
        return self.output == prev

    @property
    def piecewise_linear(self) -> bool:
        """Whether the network is piecewise linear through its activations' breakpoints: every op is
        affine, a max pooling or an activation with breakpoints (ReLU, leaky ReLU, clip; not sigmoid,
        tanh, products or the functions of ``Unary``), which linear-region searches and LPs need."""
        return all(op.is_affine or isinstance(op, MaxPool2d) or isinstance(op, Activation) and op.breakpoints is not None
                   for op in (n.op for n in self.nodes))

    @property
    def is_chain(self) -> bool:
        """Whether the network is sequential, of 1-D ``Linear`` layers, reshapes and piecewise-linear
        activations (what ``milp``, linear-region walks and exact region searches take)."""
        if not self.is_sequential:
            return False
        for node in self.nodes:
            op = node.op
            if isinstance(op, Activation):
                if op.breakpoints is None:
                    return False
            elif not (isinstance(op, Reshape) or (isinstance(op, Linear) and len(self.shape_of(node.inputs[0])) == 1)):
                return False
        return True

    # -- evaluation ----------------------------------------------------------------------------------

    def _as_input(self, x: np.ndarray, dtype) -> np.ndarray:
        x = np.asarray(x, dtype=dtype)
        if x.ndim == 1:
            x = x[None]
        if x.shape[1:] == self.input_shape:
            return x
        if x.ndim == 2 and x.shape[1] == self.input_size:
            return x.reshape((x.shape[0], *self.input_shape))
        raise ValueError(f"input of shape {x.shape} does not fit the network input shape {self.input_shape}")

    def activations(self, x: np.ndarray, dtype=np.float64) -> dict[str, np.ndarray]:
        """All node values for a batch. ``x``: (batch, n_in) or (batch, *input_shape)."""
        values = {INPUT: self._as_input(x, dtype)}
        for node in self.nodes:
            values[node.name] = node.op.forward(*(values[i] for i in node.inputs))
        return values

    def forward(self, x: np.ndarray, dtype=np.float64) -> np.ndarray:
        """Outputs for a batch of inputs, flattened: (batch, n_in) or (batch, *input_shape) ->
        (batch, n_out). Computes in ``dtype`` (float64 by default, float32 on request)."""
        values = self.activations(x, dtype)
        out = values[self.output]
        return out.reshape(out.shape[0], -1)

    __call__ = forward

    def gradient(self, x: np.ndarray, grad_out: np.ndarray, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """Vector-Jacobian product at a batch of inputs.

        Args:
            x: inputs, (batch, n_in) or (batch, *input_shape).
            grad_out: gradient with respect to the flattened output, (batch, n_out).
        Returns:
            ``(y, g)``: the flattened outputs (batch, n_out) and the input gradient (batch, n_in).
        """
        values = self.activations(x, dtype)
        out = values[self.output]
        grads: dict[str, np.ndarray] = {self.output: np.asarray(grad_out, dtype=dtype).reshape(out.shape)}
        for node in reversed(self.nodes):
            g = grads.pop(node.name, None)
            if g is None:
                continue
            for name, gi in zip(node.inputs, node.op.backward(tuple(values[i] for i in node.inputs), g)):
                grads[name] = grads[name] + gi if name in grads else gi
        g_in = grads.get(INPUT, np.zeros_like(values[INPUT]))
        return out.reshape(out.shape[0], -1), g_in.reshape(g_in.shape[0], -1)

    def summary(self) -> str:
        """A table of the nodes: name, operation, inputs and output shape."""
        rows = [f"input {self.input_shape}"]
        for n in self.nodes:
            src = ", ".join(n.inputs)
            rows.append(f"{n.name}: {n.op.describe()} <- {src}  -> {n.shape}")
        rows.append(f"output {self.output} {self.output_shape}")
        return "\n".join(rows)
