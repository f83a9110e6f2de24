"""Propagate a set through a network, node by node, with the registered reach rules.

Most methods map one set to one set per node. Splitting methods (``"exact-star"``) have rules that
return an iterator of sets whose union is the exact image; :func:`iter_reach` walks the resulting tree
depth-first and yields the output sets one at a time, so a caller can stop early, and a ``visit``
callback can prune or replace a partial set before each node.

Sets in different branches of a DAG share the leading variables they got from common ancestors, and
every rule sees its inputs *aligned* to the most recent set (the "joint" set): zonotopes padded with
zero generators, stars padded with zero basis columns and given the joint predicate (rules only ever
append predicate variables and constraints, so the joint predicate extends every earlier one). For
splitting methods this is also what makes the sets exact: a split constrains the shared predicate, so
it restricts every value computed so far, as it must.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from typing import Callable, Mapping

import numpy as np

from .. import progress
from ..errors import InputError
from ..io import Model, load_model
from ..network.graph import INPUT, Network
from ..network.simplify import simplify
from ..sets.box import Box
from ..sets.star import Star
from ..sets.zonotope import Zonotope
from ..verify.deadline import Deadline, Timeout, hard_stop
from .registry import find_rule
from .symbolic import deeppoly

INITIAL_SET: dict[str, Callable[[Box], object]] = {
    "interval": lambda box: box,
    "zono": lambda box: Zonotope.from_box(box),
    "approx-star": Star.from_box,
    "exact-star": Star.from_box,
}
"""How each method turns an input box into the set type it propagates."""

REACH_METHODS = (*INITIAL_SET, "deeppoly", "conformal")
"""Every reach method: the rule-based ones, ``deeppoly`` (symbolic linear bounds of the whole network, see
:mod:`nnreach.reach.symbolic`) and ``conformal`` (a probabilistic set, see :mod:`nnreach.reach.conformal`)."""

BOX_ONLY = frozenset({"deeppoly", "conformal"})
"""Methods whose input set must be a Box."""

SPLITTING = frozenset({"exact-star"})
"""Methods whose :func:`reach` returns a list of sets (their union is the output set)."""

Visit = Callable[[int, Mapping[str, object], object], object]
"""``visit(index, values, joint)`` is called before node ``index`` runs, with the values computed so
far (by node name, unaligned) and the joint set; it returns the joint set to continue with (the same,
or an equal set in a better form), or None to drop this branch."""


def _pad_generators(z: Zonotope, m: int) -> Zonotope:
    k = z.generators.shape[1]
    if k == m:
        return z
    return Zonotope(z.center, np.hstack([z.generators, np.zeros((z.center.shape[0], m - k))]))


def align(x, joint):
    """``x`` over the variables of ``joint`` (see the module docstring); boxes pass unchanged.

    Stars get the joint predicate, which extends their own: ``x`` must come from the same walk.
    """
    if x is joint:
        return x
    if isinstance(x, Zonotope):
        return _pad_generators(x, joint.generators.shape[1])
    if isinstance(x, Star):
        n, m = x.basis.shape
        mj = joint.num_pred
        basis = x.basis if m == mj else np.hstack([x.basis, np.zeros((n, mj - m))])
        return Star(x.center, basis, joint.C, joint.d, joint.pred_lb, joint.pred_ub, x.shape)
    return x


def _last_uses(network: Network) -> dict[str, int]:
    last = {}
    for k, node in enumerate(network.nodes):
        for name in node.inputs:
            last[name] = k
    return last


def iter_reach_from(network: Network, start: int, values: Mapping[str, object], joint, method: str, *,
                    visit: Visit | None = None, options=None) -> Iterator:
    """Continue a walk at node index ``start``.

    Args:
        network: the network (used as given: simplify it first if wanted).
        start: index into ``network.nodes`` of the next node to run.
        values: the sets of ``INPUT`` and of the nodes before ``start`` that later nodes use, by name.
        joint: the most recent set (every value is aligned to it before use).
        method: the reach method whose rules are used.
        visit: see :data:`Visit`.
        options: passed as ``options=`` to every rule when not None (the star rules accept it), after
            ``options.for_node(index)`` where it has that method.
    Yields:
        Output sets, depth-first; a non-splitting method yields exactly one.
    """
    nodes, output = network.nodes, network.output
    last = _last_uses(network)

    def children(pos: int, vals: dict, name: str, outs: Iterable) -> Iterator:
        keep = {k: v for k, v in vals.items() if last.get(k, -1) > pos or k == output}
        for out in outs:
            yield pos + 1, {**keep, name: out}, out

    stack: list[Iterator] = [iter([(start, dict(values), joint)])]
    while stack:
        state = next(stack[-1], None)
        if state is None:
            stack.pop()
            continue
        pos, vals, joint = state
        if pos == len(nodes):
            yield align(vals[output], joint)
            continue
        if visit is not None:
            new = visit(pos, vals, joint)
            if new is None:
                continue
            if new is not joint:
                vals = {k: (new if v is joint else v) for k, v in vals.items()}
                joint = new
        node = nodes[pos]
        xs = tuple(align(vals[i], joint) for i in node.inputs)
        shapes = tuple(network.shape_of(i) for i in node.inputs)
        kwargs = {} if options is None else {"options": options.for_node(pos) if hasattr(options, "for_node")
                                             else options}
        out = find_rule(node.op, type(xs[0]), method)(node.op, xs, shapes, **kwargs)
        outs = out if isinstance(out, (Iterator, list)) else (out,)
        stack.append(children(pos, vals, node.name, outs))


def iter_reach(network: Network, input_set, method: str, *, visit: Visit | None = None,
               options=None) -> Iterator:
    """Output sets of ``network`` (used as given, not simplified) for ``input_set`` (a Box, converted
    to the method's set type, or a set of that type), depth-first; see :func:`iter_reach_from`."""
    x = INITIAL_SET[method](input_set) if isinstance(input_set, Box) else input_set
    return iter_reach_from(network, 0, {INPUT: x}, x, method, visit=visit, options=options)


class ReachTimeout(Timeout):
    """Raised by :func:`reach` when its time limit passes.

    Attributes:
        sets: the output sets completed before (for a splitting method, part of the union; else empty).
        reached: where the computation stopped, in words (e.g. ``"node 3 of 7 (Relu)"``).
    """

    def __init__(self, sets: list, reached: str):
        super().__init__(reached)
        self.sets, self.reached = sets, reached


def _stop_at(timeout: float | None):
    """:func:`hard_stop` for ``timeout`` in the main thread (a signal); elsewhere only the cooperative checks."""
    return hard_stop(timeout) if threading.current_thread() is threading.main_thread() else nullcontext()


def reach(network: Model, input_set, method: str = "zono", *, options=None, timeout: float | None = None,
          input_shape: int | Sequence[int] | None = None):
    """A set containing the network's (flattened) outputs for every input in ``input_set``.

    Args:
        network: the network (simplified first, see :func:`nnreach.network.simplify.simplify`), or a
            model path or torch module (read by :func:`nnreach.load_model`).
        input_set: a :class:`Box` (converted to the method's set type) or a set of that type, of
            dimension ``network.input_size``; a Box for ``"deeppoly"`` and ``"conformal"``.
        method: ``"interval"`` (boxes), ``"zono"`` (zonotopes, DeepZ relaxations), ``"deeppoly"``
            (symbolic linear bounds of the outputs, an :class:`nnreach.sets.AffineEnvelope`),
            ``"approx-star"`` (stars, triangle relaxations), ``"exact-star"`` (stars, split at every
            activation) or ``"conformal"`` (a probabilistic set from samples of a box, not a sound one).
        options: method options passed to the rules (``StarOptions`` for the star methods);
            :class:`nnreach.verify.settings.Settings` for ``"conformal"`` (coverage, confidence, kind, seed).
        timeout: seconds after which the computation stops with :class:`ReachTimeout` (None: no limit).
            Checked between nodes and output sets, and in the main thread also by a signal
            (:func:`nnreach.verify.deadline.hard_stop`) for long single steps.
        input_shape: with a torch module only: its per-sample input shape (see :func:`nnreach.load_model`).
    Returns:
        The output set, of dimension ``network.output_size``; for ``"exact-star"`` a list of stars
        whose union is exactly the set of outputs; for ``"conformal"`` a Box or Zonotope that contains
        the output of a random input of the box with probability at least the coverage, with the
        stated confidence (see :func:`nnreach.reach.conformal.calibrate` for the full record).
    """
    if not isinstance(method, str) or method not in REACH_METHODS:
        raise InputError(f"unknown reach method {method!r}; choose one of {', '.join(REACH_METHODS)}")
    if not isinstance(input_set, (Box, Zonotope, Star)):
        raise InputError(f"input_set: expected a nnreach Box, Zonotope or Star, got {type(input_set).__name__} "
                         "(nnreach.Box(lo, hi) makes a box)")
    network = load_model(network, input_shape)
    if input_set.dim != network.input_size:
        raise InputError(f"input set has dimension {input_set.dim} but the network has "
                         f"{network.input_size} inputs")
    if method in BOX_ONLY and not isinstance(input_set, Box):
        raise InputError(f"reach method {method!r} takes a Box, not a {type(input_set).__name__}")
    deadline = Deadline(timeout)
    done: list = []
    reached = ["the start"]
    try:
        with _stop_at(timeout):
            if method == "conformal":
                from ..verify.conformal import calibrate_with
                from ..verify.settings import Settings

                return calibrate_with([input_set], network.forward, options or Settings(), deadline).set
            net = simplify(network)
            if method == "deeppoly":
                return deeppoly(net, input_set, deadline.check)

            def visit(pos: int, _values, joint):
                reached[0] = f"node {pos + 1} of {len(net.nodes)} ({type(net.nodes[pos].op).__name__})"
                progress.note(step=reached[0], sets=len(done))
                deadline.check()
                return joint

            for out in iter_reach(net, input_set, method, options=options, visit=visit):
                done.append(out)
    except Timeout:
        raise ReachTimeout(done if method in SPLITTING else [], reached[0]) from None
    return done if method in SPLITTING else done[0]
