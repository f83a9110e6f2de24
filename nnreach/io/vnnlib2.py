"""Reader for VNN-LIB 2.0 queries, parsed and type-checked by the standard's own ``vnnlib`` package.

A query declares networks by name, each with typed tensor inputs and outputs, and asserts
constraints on their entries; it is satisfiable (the property is violated) when some input makes
every assert true. nnreach handles the queries that map onto a :class:`~nnreach.verify.problem.Property`
list: in the standard's terms (chapter "Theories and Logics") the logic NH-SNET-SIO-SNC-COUT-REAL,
with linear constraints over the outputs:

- one network (no ``equal-to`` / ``isomorphic-to`` partners), no hidden nodes (``declare-hidden``),
  one input and one output tensor of any shape; entries are numbered row-major, as nnreach flattens;
- element type ``real`` only: nnreach's bounds are sound over the real numbers up to round-off, not
  in floating-point arithmetic, and the standard requires a solver to refuse the ONNX element types
  unless it is sound for them;
- asserts nesting ``and`` / ``or`` over ``<= >= < > ==`` (strict ones read as non-strict, as the sets
  are closed) of linear terms: each input entry bounded on its own, outputs in any linear combination.

Everything else is refused with a one-line :class:`~nnreach.errors.UnsupportedError` naming the
construct; malformed queries (syntax or type errors the package reports) with an
:class:`~nnreach.errors.InputError` naming the line. The normal form and the grouping into properties
are the VNN-LIB 1.0 reader's (:mod:`nnreach.io.vnnlib`).

Example:
    >>> q = parse_vnnlib2('''(vnnlib-version <2.0>)
    ... (declare-network f (declare-input X real [1,2]) (declare-output Y real [2]))
    ... (assert (and (>= X[0,0] 0.0) (<= X[0,0] 1.0) (>= X[0,1] -1.0) (<= X[0,1] 1.0)))
    ... (assert (or (<= Y[0] Y[1]) (>= Y[1] 3.0)))''')
    >>> q.network, q.input.shape, len(q.properties), len(q.properties[0].unsafe)
    ('f', (1, 2), 1, 2)
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, UnsupportedError
from ..verify.problem import Properties
from .vnnlib import _DNF, _Linear, _Located, _add, _conjoin, _literal, _Namer, _properties, _read_text, _scale

__all__ = ["VERSION", "ELEMENT_TYPE", "TensorDeclaration", "Query", "parse_vnnlib2", "read_vnnlib2"]

VERSION = (2, 0)
"""The VNN-LIB version read here (major, minor): the grammar of the ``vnnlib`` package 1.0.2."""

ELEMENT_TYPE = "real"
"""The one element type nnreach accepts (see the module docstring)."""

_VERSION = re.compile(r"\(vnnlib-version <(\d+)\.(\d+)>")
_ONNX_TYPES = {"F16": "float16", "F32": "float32", "F64": "float64", "BF16": "bfloat16",
               "F8E4M3FN": "float8e4m3fn", "F8E5M2": "float8e5m2", "F8E4M3FNUZ": "float8e4m3fnuz",
               "F8E5M2FNUZ": "float8e5m2fnuz", "F4E2M1": "float4e2m1", "I8": "int8", "I16": "int16",
               "I32": "int32", "I64": "int64", "U8": "uint8", "U16": "uint16", "U32": "uint32",
               "U64": "uint64", "C64": "complex64", "C128": "complex128", "Bool": "bool", "String": "string"}
"""The ONNX names (the standard's "Set 1") of the package's element types, for messages."""


@dataclass(frozen=True, slots=True)
class TensorDeclaration:
    """A declared network input or output.

    Attributes:
        name: the variable name in the query (``X``).
        element_type: as the query writes it (always :data:`ELEMENT_TYPE` once read).
        shape: the declared shape; ``()`` for a scalar.
    """

    name: str
    element_type: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """The number of entries (1 for a scalar)."""
        return math.prod(self.shape)

    def entry(self, index: int) -> str:
        """The query's name of flattened entry ``index``: ``X[0,3]``, or ``X`` for a scalar."""
        if not self.shape:
            return self.name
        return f"{self.name}[{','.join(str(int(i)) for i in np.unravel_index(index, self.shape))}]"

    def describe(self) -> str:
        """``X real [1,5]``, the header of the standard's assignment format."""
        return f"{self.name} {self.element_type} [{','.join(map(str, self.shape))}]"


@dataclass(frozen=True, slots=True)
class Query:
    """A VNN-LIB 2.0 query nnreach can check.

    Attributes:
        network: the declared network's name (the key of ``--network NAME=PATH``).
        input: its input tensor; the properties' input boxes are over its flattened entries.
        output: its output tensor; the unsafe polytopes are over its flattened entries.
        properties: one per distinct input box, as :func:`nnreach.io.vnnlib.parse_vnnlib` gives them.
    """

    network: str
    input: TensorDeclaration
    output: TensorDeclaration
    properties: Properties


def _package_error(err: Exception, source: str) -> InputError:
    """The ``vnnlib`` package's error as one line: its JSON report (first error, with a count of the
    others) or its plain message (syntax errors)."""
    text = " ".join(str(err).split())
    try:
        errors = json.loads(str(err))["errors"]
        first = errors[0]
    except (ValueError, KeyError, IndexError, TypeError):
        return InputError(f"{source}: VNN-LIB 2.0: {text}")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return InputError(f"{source}:{first.get('line', '?')}: VNN-LIB 2.0: {first.get('message', 'error')}: "
                      f"{first.get('hint', '')}{more}")


def _element_type(decl) -> str:
    """The element type of a package declaration, as the query writes it."""
    kind = decl.dtype.name
    if kind == "Real":
        return ELEMENT_TYPE
    if kind in _ONNX_TYPES:
        return _ONNX_TYPES[kind]
    return str(decl).split()[2]  # "(declare-input X Real [4])": an unknown type, shown as written


def _declaration(decl, role: str) -> TensorDeclaration:
    """One input or output of the single network, refused unless it is ``real``."""
    element_type = _element_type(decl)
    if decl.dtype.name == "Unknown":
        raise UnsupportedError(f"element type '{element_type}' of {role} {decl.name} is not a VNN-LIB type "
                               f"(the real numbers are written '{ELEMENT_TYPE}')")
    if element_type != ELEMENT_TYPE:
        raise UnsupportedError(f"element type {element_type} of {role} {decl.name}: nnreach's analysis is "
                               f"sound over the real numbers, not in {element_type} arithmetic; declare the "
                               f"variables '{ELEMENT_TYPE}' to accept that")
    return TensorDeclaration(decl.name, element_type, tuple(int(d) for d in decl.shape))


def _check_query(query) -> None:
    """Refuse what does not map onto one network with one input and one output."""
    version = _VERSION.match(str(query))
    if version is None or tuple(map(int, version.groups())) != VERSION:
        found = ".".join(version.groups()) if version else "unknown"
        raise UnsupportedError(f"version {found} is not supported (nnreach reads {VERSION[0]}.{VERSION[1]})")
    networks = query.networks
    if len(networks) != 1:
        raise UnsupportedError(f"queries over {len(networks)} networks are not supported")
    net = networks[0]
    if net.hidden:
        raise UnsupportedError(f"hidden nodes are not supported (declare-hidden {net.hidden[0].name} "
                               f"{net.hidden[0].onnx_name})")
    for role, decls in (("inputs", net.inputs), ("outputs", net.outputs)):
        if len(decls) != 1:
            raise UnsupportedError(f"networks with {len(decls)} {role} are not supported (network {net.name})")


def _linear(expr, inputs: TensorDeclaration, outputs: TensorDeclaration) -> _Linear:
    """An arithmetic expression as an affine form over ("X", entry) and ("Y", entry)."""
    try:
        form = expr.to_linear_expr()
    except Exception as err:  # the package's exception for products of variables
        raise UnsupportedError(f"{' '.join(str(err).split())}; only linear arithmetic is supported") from None
    coeffs: dict[tuple[str, int], float] = {}
    for term in form.terms:
        var = term.var
        kind, decl = ("X", inputs) if var.kind.name == "Input" else ("Y", outputs)
        index = int(np.ravel_multi_index(var.indices, decl.shape)) if decl.shape else 0
        coeffs[(kind, index)] = coeffs.get((kind, index), 0.0) + float(term.coeff)
    return _Linear({v: c for v, c in coeffs.items() if c != 0.0}, float(form.constant))


def _comparison(comp, inputs: TensorDeclaration, outputs: TensorDeclaration) -> list:
    """The literals of one comparison (two for ``==``); a bool when it is constant."""
    kind = type(comp).__name__
    if kind == "NotEqual":
        raise UnsupportedError("'!=' comparisons are not supported (their set is not closed)")
    below = _add([_linear(comp.lhs, inputs, outputs), _scale(_linear(comp.rhs, inputs, outputs), -1.0)])
    above = _scale(below, -1.0)  # below: lhs - rhs <= 0
    sides = {"LessEqual": [below], "LessThan": [below], "GreaterEqual": [above], "GreaterThan": [above],
             "Equal": [below, above]}[kind]
    return [_literal(side, None, _namer(inputs, outputs)) for side in sides]


def _namer(inputs: TensorDeclaration, outputs: TensorDeclaration) -> _Namer:
    """Names entries in messages as the query does: ``("X", 3)`` -> ``X[0,3]``."""
    return lambda kind, index: (inputs if kind == "X" else outputs).entry(index)


def _assertion_dnf(expr, inputs: TensorDeclaration, outputs: TensorDeclaration) -> _DNF:
    """The disjunctive normal form of one assertion (the package distributes ``and`` over ``or``)."""
    dnf: _DNF = []
    for conj in expr.to_dnf():
        literals: list = []
        for comp in conj:
            parts = _comparison(comp, inputs, outputs)
            if False in parts:
                break
            literals.extend(p for p in parts if p is not True)
        else:
            dnf.append(literals)
    return dnf


def parse_vnnlib2(text: str, *, source: str = "<string>") -> Query:
    """Read a VNN-LIB 2.0 query from ``text``.

    Args:
        text: the query.
        source: a name for error messages (the file path).

    Returns:
        The :class:`Query`: the network's name, its input and output declarations and the properties.

    Raises:
        InputError: a query the ``vnnlib`` package refuses (syntax, scoping, typing), or asserts that
            leave an input entry unbounded or contradict each other.
        UnsupportedError: a well-formed query beyond what nnreach handles (see the module docstring).
    """
    import vnnlib

    try:
        query = vnnlib.parse_query_string(text)
    except vnnlib.VNNLibException as err:
        raise _package_error(err, source) from None
    try:
        _check_query(query)
        net = query.networks[0]
        inputs, outputs = _declaration(net.inputs[0], "input"), _declaration(net.outputs[0], "output")
        dnfs = [_assertion_dnf(a.expr, inputs, outputs) for a in query.assertions]
        if not dnfs:
            raise InputError("no assert: the query does not constrain anything")
        properties = _properties(_conjoin(dnfs, None), inputs.size, outputs.size, _namer(inputs, outputs))
    except _Located as err:
        raise err.error_type(f"{source}: VNN-LIB 2.0: {err.message}") from None
    except InputError as err:
        raise type(err)(f"{source}: VNN-LIB 2.0: {err}") from None
    return Query(net.name, inputs, outputs, properties)


def read_vnnlib2(path: str | os.PathLike) -> Query:
    """Read a VNN-LIB 2.0 query file; see :func:`parse_vnnlib2`."""
    name = os.fspath(path)
    return parse_vnnlib2(_read_text(name), source=name)
