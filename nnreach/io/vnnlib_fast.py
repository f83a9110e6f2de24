"""A vectorised reader for the plain shape that nearly every published VNN-LIB 1.0 property has.

The general reader (:mod:`.vnnlib`) builds an s-expression tree and a Python object per literal: about
0.3 MB/s, so the multi-megabyte properties of VNN-COMP (nn4sys: 2-11 MB, tens of thousands of boxes)
take seconds to minutes. This module reads the same files with regular expressions and numpy when
they have the plain shape, and otherwise declines (returns None) so that the general reader runs,
with its exact error messages. The plain shape:

* ``(declare-const X_i Real)`` and ``(declare-const Y_j Real)`` for indices ``0..n-1`` and ``0..m-1``;
* asserts whose literals compare one variable with a number (``(<= X_3 0.5)``, ``(>= 0.1 Y_0)``) or
  two outputs (``(<= Y_0 Y_1)``), nested as a single literal, ``(and L ...)``, ``(or L ...)`` or
  ``(or (and L ...) ...)``; at most one assert holds an ``or``;
* every input bounded from both sides in every disjunct, numbers finite.

The result equals the general reader's, property by property and row by row (tested on every
published property): the disjuncts of the ``or`` each get the literals of the other asserts first,
in file order, then their own; disjuncts whose input bounds contradict each other are dropped; the
others are grouped by input box in order of first appearance.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from ..sets.box import Box
from ..sets.polytope import HPolytope
from ..verify.problem import Property

_NUM = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_VAR = r"([XY])_(0|[1-9][0-9]*)"
_LITERAL = re.compile(
    rf"\(\s*(<=|>=|<|>)\s+(?:{_VAR}\s+({_NUM})|({_NUM})\s+{_VAR}|Y_(0|[1-9][0-9]*)\s+Y_(0|[1-9][0-9]*))\s*\)")
"""A literal; groups: 1 the comparison; 2-4 variable then number; 5-7 number then variable; 8-9 two outputs."""
_VAR_NUMBER = re.compile(rf"\(\s*((?:<=|>=|<|>)\s+[XY]_(?:0|[1-9][0-9]*)\s+{_NUM})\s*\)")
"""The literal of nearly every published file: a variable, then a number; when it is the only form in
a file, the literals are read through it (one group, its text, turned into numbers all at once)."""
_CODES = (("<=", " 0 "), (">=", " 1 "), ("<", " 0 "), (">", " 1 "), ("X_", " 0 "), ("Y_", " 1 "))
"""Replacements that turn the text of :data:`_VAR_NUMBER` literals into four numbers each: the
comparison (0: ``<=``, 1: ``>=``; strict read as non-strict), the kind (0: X, 1: Y), index, number."""
_DECLARE = re.compile(rf"\(\s*declare-const\s+{_VAR}\s+Real\s*\)")
_COMMENT = re.compile(r";[^\n]*")
_STRUCTURE = re.compile(r"\(\s*(?:assert|and|or)\b|\)|L(?:\s*L)*")
"""What is left once literals are replaced by ``L`` and declarations removed: the nesting (a run of
literals is one token)."""


def parse_plain(text: str) -> list[Property] | None:
    """The properties of ``text`` if it has the plain shape (see the module docstring), else None."""
    if ";" in text:
        text = _COMMENT.sub("", text)
    parts = _DECLARE.split(text)                  # text, kind, index, text, kind, index, ..., text
    declared = list(zip(parts[1::3], parts[2::3]))
    n, m = _size(declared, "X"), _size(declared, "Y")
    if n is None or m is None or n == 0:
        return None
    body = "".join(parts[0::3])
    parts = _VAR_NUMBER.split(body)               # one pass: text, literal, text, literal, ..., text
    simple = parts[1::2]
    skeleton = "L".join(parts[0::2])
    if _LITERAL.search(skeleton):                 # other literal forms too: read them all in file order
        columns = _general_columns(_LITERAL.findall(body))
        skeleton = _LITERAL.sub("L", body)
    elif simple:
        columns = _var_number_columns(simple)
    else:
        return None
    if columns is None:
        return None
    tokens = _STRUCTURE.findall(skeleton)
    if _STRUCTURE.sub("", skeleton).strip():
        return None
    owners = _disjuncts(tokens)
    if owners is None:
        return None
    lits = _Literals(columns, n, m)
    if lits.invalid:
        return None
    return lits.properties(*owners)


def _var_number_columns(literals: list[str]) -> dict[str, np.ndarray] | None:
    """The columns of :class:`_Literals` from the texts of :data:`_VAR_NUMBER` literals (None if a
    number does not read back)."""
    text = " ".join(literals)
    for old, new in _CODES:
        text = text.replace(old, new)
    with warnings.catch_warnings():     # text it cannot read ends the array early: caught by the size
        warnings.simplefilter("ignore", DeprecationWarning)
        values = np.fromstring(text, dtype=np.float64, sep=" ")
    if values.size != 4 * len(literals):
        return None
    op, kind, index, value = values.reshape(-1, 4).T
    size = len(literals)
    return {"upper": op == 0, "var_first": np.ones(size, dtype=bool), "pair": np.zeros(size, dtype=bool),
            "kind": np.where(kind == 0, "X", "Y"), "index": index.astype(np.int64), "value": value,
            "i": np.zeros(size, dtype=np.int64), "j": np.zeros(size, dtype=np.int64)}


def _general_columns(literals: list[tuple[str, ...]]) -> dict[str, np.ndarray]:
    """The columns of :class:`_Literals` from the groups of :data:`_LITERAL`."""
    cols = list(zip(*literals))
    op = np.array(cols[0])
    var_first = np.array([c != "" for c in cols[1]])
    pair = np.array([c != "" for c in cols[7]])
    index = np.where(var_first, cols[2], cols[6])
    number = np.where(var_first, cols[3], cols[4])
    return {"upper": (op == "<=") | (op == "<"), "var_first": var_first, "pair": pair,
            "kind": np.where(var_first, cols[1], cols[5]),
            "index": np.where(pair, 0, np.where(index == "", "0", index).astype(np.int64)),
            "value": np.where(pair, "0", np.where(number == "", "0", number)).astype(np.float64),
            "i": np.where(pair, cols[7], "0").astype(np.int64), "j": np.where(pair, cols[8], "0").astype(np.int64)}


def _size(declared: list[tuple[str, str]], kind: str) -> int | None:
    """How many variables of ``kind`` are declared, or None unless they are exactly ``0..k-1`` once each."""
    idx = sorted(int(i) for k, i in declared if k == kind)
    return len(idx) if idx == list(range(len(idx))) else None


def _disjuncts(tokens: list[str]) -> tuple[np.ndarray, int] | None:
    """Per literal (in file order), the disjunct of the one ``or`` it belongs to (``-1``: the literal
    is common to every disjunct), and the number of disjuncts; None for another nesting. A token
    ``L...`` is a run of literals."""
    owners: list[np.ndarray] = []
    stack: list[str] = []
    count, seen_or = 0, False
    for tok in tokens:
        if tok[0] == "L":
            inside, k = stack[1:], tok.count("L")          # what encloses the run below its assert
            if inside in ([], ["and"]):
                owners.append(np.full(k, -1))
            elif inside == ["or", "and"]:
                owners.append(np.full(k, count - 1))
            elif inside == ["or"]:                   # a bare literal is a disjunct of its own
                owners.append(np.arange(count, count + k))
                count += k
            else:
                return None
        elif tok == ")":
            if not stack:
                return None
            stack.pop()
        else:
            head = tok.strip("( \t\r\n")
            if (head == "assert") != (not stack):
                return None
            if head == "or":
                if seen_or or stack != ["assert"]:
                    return None
                seen_or = True
            elif head == "and" and stack == ["assert", "or"]:
                count += 1
            stack.append(head)
    if stack or (seen_or and count == 0) or not owners:
        return None
    return np.concatenate(owners).astype(np.int64), max(count, 1)


class _Literals:
    """The literals as arrays: per literal its kind, variables, number and direction."""

    def __init__(self, columns: dict[str, np.ndarray], n: int, m: int):
        """``columns``: per literal ``upper`` (the comparison is ``<=`` or ``<``; strict ones read as
        non-strict), ``var_first``, ``pair`` (two outputs), ``kind`` and ``index`` of the variable,
        ``value`` of the number, ``i``, ``j`` of a pair."""
        self.n, self.m = n, m
        upper, pair, i, j = columns["upper"], columns["pair"], columns["i"], columns["j"]
        self.pair, self.index, self.value = pair, columns["index"], columns["value"]
        self.is_x = ~pair & (columns["kind"] == "X")
        # the variable is on the smaller side of the comparison: "v <= c" or "c >= v"
        self.below = np.where(columns["var_first"], upper, ~upper)
        self.first, self.second = np.where(upper, i, j), np.where(upper, j, i)   # row: Y_first - Y_second <= 0
        self.invalid = bool(np.any(self.index[~pair & ~self.is_x] >= m) or np.any(self.index[self.is_x] >= n)
                            or np.any(pair & ((i >= m) | (j >= m) | (i == j))) or not np.all(np.isfinite(self.value)))

    def properties(self, owner: np.ndarray, count: int) -> list[Property] | None:
        """Group the disjuncts by input box (see the module docstring); None when a disjunct has an
        unbounded input or all contradict themselves (the general reader's errors)."""
        lo, hi = np.full((count, self.n), -np.inf), np.full((count, self.n), np.inf)
        for upper, bounds, tighter in ((True, hi, np.minimum), (False, lo, np.maximum)):
            lits = np.flatnonzero(self.is_x & (self.below == upper))
            common, own = lits[owner[lits] == -1], lits[owner[lits] >= 0]
            for k, v in zip(self.index[common], self.value[common]):
                bounds[:, k] = tighter(bounds[:, k], v)
            tighter.at(bounds, (owner[own], self.index[own]), self.value[own])
        keep = ~np.any(lo > hi, axis=1)
        if not keep.any() or np.isinf(lo[keep]).any() or np.isinf(hi[keep]).any():
            return None                                    # the general reader says what is wrong
        y = np.flatnonzero(~self.is_x)
        common = y[owner[y] == -1]
        A_common, b_common = self._rows(common)
        own = y[owner[y] >= 0]
        order = np.argsort(owner[own], kind="stable")
        own = own[order]
        starts = np.searchsorted(owner[own], np.arange(count + 1))
        A_own, b_own = self._rows(own)
        groups: dict[bytes, tuple[Box, list[HPolytope]]] = {}
        for d in np.flatnonzero(keep):
            mine = slice(starts[d], starts[d + 1])
            A, b = A_own[mine], b_own[mine]
            if b_common.size:
                A, b = np.vstack([A_common, A]), np.concatenate([b_common, b])
            l, h = lo[d] + 0.0, hi[d] + 0.0
            key = l.tobytes() + h.tobytes()
            if key not in groups:
                groups[key] = (Box(l, h), [])
            groups[key][1].append(HPolytope(A, b + 0.0))
        return [Property(box, tuple(polys)) for box, polys in groups.values()]

    def _rows(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Output rows ``A y <= b`` of the output literals ``which``: ``Y_j <= c`` is ``e_j``, ``c``;
        ``Y_j >= c`` is ``-e_j``, ``-c``; ``Y_i <= Y_j`` is ``e_i - e_j``, 0."""
        A = np.zeros((which.size, self.m))
        pair = self.pair[which]
        r = np.arange(which.size)
        sign = np.where(self.below[which], 1.0, -1.0)
        single = ~pair
        A[r[single], self.index[which][single]] = sign[single]
        A[r[pair], self.first[which][pair]] = 1.0
        A[r[pair], self.second[which][pair]] = -1.0
        b = np.where(pair, 0.0, sign * self.value[which])
        return A, b
