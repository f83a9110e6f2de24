"""A vectorised reader for the plain shape that nearly every published VNN-LIB 1.0 property has.

The general reader (:mod:`.vnnlib`) builds an s-expression tree and a Python object per literal: about
0.3 MB/s, so the multi-megabyte properties of VNN-COMP (nn4sys: 2-11 MB, tens of thousands of boxes)
take seconds to minutes. This module reads the same files with numpy alone when they have the plain
shape (22-32 MB/s on the nn4sys files, ``benchmarks/vnnlib_reader.py``), and otherwise declines
(returns None) so that the general reader runs, with its exact error messages. The text's bytes are
cut into tokens (parentheses and atoms) by array operations, the forms are recognised by their first
atom, the numbers are converted as fixed-width byte strings, the nesting is read from the depth of
each token, and the result comes as blocks of arrays (:class:`~nnreach.verify.problem.Properties`),
not an object per box. The plain shape:

* ``(declare-const X_i Real)`` and ``(declare-const Y_j Real)`` for indices ``0..n-1`` and ``0..m-1``;
* asserts whose literals compare one variable with a number (``(<= X_3 0.5)``, ``(>= 0.1 Y_0)``) or
  two outputs (``(<= Y_0 Y_1)``), nested as a single literal, ``(and L ...)``, ``(or L ...)`` or
  ``(or (and L ...) ...)``; at most one assert holds an ``or``;
* every input bounded from both sides in every disjunct, numbers finite; ASCII text, no atom longer
  than 32 characters.

The result equals the general reader's, property by property and row by row (tested on every
published property): the disjuncts of the ``or`` each get the literals of the other asserts first,
in file order, then their own; disjuncts whose input bounds contradict each other are dropped; the
others are grouped by input box in order of first appearance.
"""

from __future__ import annotations

import re

import numpy as np

from ..verify.problem import Properties, PropertyBlock

_COMMENT = re.compile(r";[^\n]*")
_OPEN, _CLOSE, _ATOM = range(3)
_CLASS = np.full(256, _ATOM, np.int8)
_CLASS[[ord(c) for c in " \t\n\r\x0b\x0c"]] = -1
_CLASS[ord("(")], _CLASS[ord(")")] = _OPEN, _CLOSE
"""Each byte's class: white space (-1), a parenthesis, or part of an atom."""
_HEADS = (b"assert", b"and", b"or", b"declare-const", b"<=", b"<", b">=", b">")
_ASSERT, _AND, _OR, _DECLARE, _LE, _LT, _GE, _GT = range(len(_HEADS))
_GROUPS = (_ASSERT, _AND, _OR)
_LIT, _END = len(_HEADS), len(_HEADS) + 1
"""Event kinds of the nesting besides the heads of groups: a literal, the end of a group."""
_WIDE = 32
"""The longest atom read (a longer one is not a plain number or name: the file is declined)."""


def parse_plain(text: str) -> Properties | None:
    """The properties of ``text`` if it has the plain shape (see the module docstring), else None."""
    if ";" in text:
        text = _COMMENT.sub("", text)
    try:
        b = np.frombuffer(text.encode("ascii"), np.uint8)
    except UnicodeEncodeError:
        return None
    tokens = _Tokens.of(b)
    if tokens is None:
        return None
    forms = tokens.forms()
    if forms is None:
        return None
    kind, columns, declared = forms
    n, m = _size(declared, 0), _size(declared, 1)
    if n is None or m is None or n == 0:
        return None
    owners = _disjuncts(kind)
    if owners is None:
        return None
    lits = _Literals(columns, n, m)
    if lits.invalid:
        return None
    return lits.properties(*owners)


class _Tokens:
    """The tokens of a text as arrays: parentheses, and atoms (maximal runs of other non-space bytes).

    Attributes:
        b: the text's bytes; kind: (T,) per token ``_OPEN``, ``_CLOSE`` or ``_ATOM``; start, end:
            (T,) its bytes ``b[start:end]``.
    """

    def __init__(self, b: np.ndarray, kind: np.ndarray, start: np.ndarray, end: np.ndarray):
        self.b, self.kind, self.start, self.end = b, kind, start, end
        self.windows = np.lib.stride_tricks.sliding_window_view(np.concatenate([b, np.zeros(_WIDE, np.uint8)]), _WIDE)
        """Row ``i``: the ``_WIDE`` bytes from ``b[i]`` on (a view)."""

    @classmethod
    def of(cls, b: np.ndarray) -> "_Tokens | None":
        """The tokens of the text's bytes ``b``; None when an atom is longer than :data:`_WIDE`."""
        classes = _CLASS[b]
        atom = classes == _ATOM
        begins = atom.copy()
        begins[1:] &= ~atom[:-1]
        ends = atom.copy()
        ends[:-1] &= ~atom[1:]
        start = np.flatnonzero(begins | (classes == _OPEN) | (classes == _CLOSE))
        kind = classes[start]
        end = start + 1
        end[kind == _ATOM] = np.flatnonzero(ends) + 1
        if np.any(end - start > _WIDE):
            return None
        return cls(b, kind, start, end)

    def atoms(self, which: np.ndarray, dtype) -> np.ndarray:
        """The atoms at token indices ``which`` as fixed-width byte strings converted to ``dtype``
        (``"S"``: kept as bytes); ValueError if one does not convert."""
        start, size = self.start[which], self.end[which] - self.start[which]
        width = int(size.max(initial=1))
        raw = self.windows[start, :width]                  # (k, width) bytes from each start: a copy
        raw[np.arange(width) >= size[:, None]] = 0         # trailing zeros end a fixed-width string
        text = raw.view(f"S{width}").ravel()
        return text if dtype == "S" else text.astype(dtype)

    def forms(self) -> tuple[np.ndarray, dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
        """The forms of a plain file, or None: the nesting as events in file order (a group's head,
        ``_DECLARE``, ``_LIT`` or ``_END``), the literals' columns (:class:`_Literals`) and the
        declared variables (kind 0: X, 1: Y; index)."""
        kind, T = self.kind, self.kind.size
        opens = np.flatnonzero(kind == _OPEN)
        if not opens.size or opens[-1] + 1 >= T or np.any(kind[opens + 1] != _ATOM):
            return None
        head = self._heads(opens + 1)
        if np.any(head < 0):
            return None
        fixed = opens[head >= _DECLARE]                  # declarations and literals: five tokens each
        if fixed.size and fixed[-1] + 4 >= T:
            return None
        used = np.bincount(np.concatenate([opens, opens + 1] + [fixed + k for k in (2, 3, 4)]), minlength=T)
        closes = (kind == _CLOSE) & (used == 0)          # the ends of groups
        if np.any(used > 1) or np.any((kind == _ATOM) & (used == 0)) or np.any(kind[fixed + 4] != _CLOSE) \
                or np.any(kind[fixed + 2] != _ATOM) or np.any(kind[fixed + 3] != _ATOM):
            return None
        event = np.full(T, -1, np.int64)                 # per token, the event it starts (-1: none)
        event[opens] = np.where(head >= _DECLARE, np.where(head == _DECLARE, _DECLARE, _LIT), head)
        event[closes] = _END
        declare, lit = np.flatnonzero(event == _DECLARE), np.flatnonzero(event == _LIT)
        if declare.size and np.any(self.atoms(declare + 3, "S") != b"Real"):
            return None
        try:
            declared = self._variables(declare + 2)
            columns = self._literals(lit, head[event[opens] == _LIT])
        except ValueError:
            return None
        if declared is None or columns is None:
            return None
        if np.count_nonzero(self.b == ord("_")) != declare.size + lit.size + columns["pair"].sum():
            return None          # a "_" outside the variables' names: in a number, which float() would take
        return event[event >= 0], columns, declared

    def _heads(self, which: np.ndarray) -> np.ndarray:
        """Per atom at ``which`` (the first of a form), its position in :data:`_HEADS`, or -1. The
        comparisons, nearly all of them, are read from their bytes; the other heads as strings."""
        first = self.windows[self.start[which], :2]
        size = self.end[which] - self.start[which]
        lt, gt, eq = first[:, 0] == ord("<"), first[:, 0] == ord(">"), first[:, 1] == ord("=")
        one, two = size == 1, (size == 2) & eq
        head = np.select([lt & one, lt & two, gt & one, gt & two], [_LT, _LE, _GT, _GE], -1)
        words = np.flatnonzero(~lt & ~gt)
        if words.size:
            head[words] = _code(self.atoms(which[words], "S"), _HEADS)
        return head

    def _variables(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The atoms at ``which`` as variables ``X_i`` / ``Y_i`` (kind 0 / 1, index); None if one is not
        such a name (``i`` digits without leading zeros)."""
        if not which.size:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        head = self.windows[self.start[which], :3]
        size = self.end[which] - self.start[which]
        if (np.any(size < 3) or np.any(size > 12) or np.any((head[:, 0] != ord("X")) & (head[:, 0] != ord("Y")))
                or np.any(head[:, 1] != ord("_")) or np.any((head[:, 2] < ord("0")) | (head[:, 2] > ord("9")))
                or np.any((head[:, 2] == ord("0")) & (size > 3))):
            return None
        digits = self.windows[self.start[which] + 2, :int(size.max()) - 2].astype(np.int64) - ord("0")
        inside = np.arange(digits.shape[1]) < (size - 2)[:, None]
        if np.any(inside & ((digits < 0) | (digits > 9))):
            return None
        index = np.zeros(which.size, np.int64)
        for column, more in zip(digits.T, inside.T):             # Horner's rule, one digit column at a time
            index = np.where(more, 10 * index + column, index)
        return (head[:, 0] == ord("Y")).astype(np.int64), index

    def _literals(self, lit: np.ndarray, op: np.ndarray) -> dict[str, np.ndarray] | None:
        """The columns of :class:`_Literals` for the literals whose ``(`` is at token ``lit``, with
        comparison ``op``; None for a literal of another form (two numbers, or a pair not of two
        outputs); ValueError from a number that does not read."""
        size = lit.size
        if not size:
            return None
        first, second = lit + 2, lit + 3

        def is_var(t: np.ndarray) -> np.ndarray:
            return (self.b[self.start[t]] == ord("X")) | (self.b[self.start[t]] == ord("Y"))

        var_first, var_second = is_var(first), is_var(second)
        pair = var_first & var_second
        if np.any(~var_first & ~var_second):
            return None
        var = np.where(var_first, first, second)
        number = np.where(var_first, second, first)[~pair]
        names = self._variables(var)
        if names is None:
            return None
        kind, index = names
        value = np.zeros(size)
        if number.size:
            value[~pair] = self.atoms(number, np.float64)
        i, j = np.zeros(size, np.int64), np.zeros(size, np.int64)
        if pair.any():
            others = self._variables(second[pair])
            if others is None or np.any(kind[pair] != 1) or np.any(others[0] != 1):
                return None
            i[pair], j[pair] = index[pair], others[1]
        return {"upper": (op == _LE) | (op == _LT), "var_first": var_first, "pair": pair,
                "input": kind == 0, "index": np.where(pair, 0, index), "value": value, "i": i, "j": j}


def _code(atoms: np.ndarray, words: tuple[bytes, ...]) -> np.ndarray:
    """Per atom, the position of its word in ``words``, or -1."""
    code = np.full(atoms.size, -1, np.int64)
    for k, w in enumerate(words):
        code[atoms == w] = k
    return code


def _size(declared: tuple[np.ndarray, np.ndarray], kind: int) -> int | None:
    """How many variables of ``kind`` are declared, or None unless they are exactly ``0..k-1`` once each."""
    idx = np.sort(declared[1][declared[0] == kind])
    return idx.size if np.array_equal(idx, np.arange(idx.size)) else None


def _disjuncts(kind: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Per literal (an event ``_LIT`` of ``kind``, in file order), the disjunct of the one ``or`` it
    belongs to (``-1``: the literal is common to every disjunct), and the number of disjuncts; None
    for another nesting. ``kind``: the events of the file in order (:meth:`_Tokens.forms`). The
    nesting is read with arrays: the depth before each event, and the kind of the groups open at
    depths 1 and 2."""
    opener = np.isin(kind, _GROUPS)
    step = np.where(opener, 1, np.where(kind == _END, -1, 0))
    depth = np.cumsum(step) - step                                  # the depth before each event
    lit = kind == _LIT
    if (not lit.any() or np.any(depth + step < 0) or depth[-1] + step[-1] != 0
            or np.any((kind == _DECLARE) & (depth != 0)) or np.any((kind == _ASSERT) != (depth == 0) & opener)
            or np.any(lit & ((depth == 0) | (depth > 3))) or np.any(depth[kind == _OR] != 1)
            or np.count_nonzero(kind == _OR) > 1):
        return None
    index = np.arange(kind.size)
    head = {d: kind[np.maximum.accumulate(np.where(opener & (depth == d), index, 0))] for d in (1, 2)}
    if np.any((kind == _AND) & ((depth > 2) | (depth == 2) & (head[1] != _OR))):
        return None
    in_or = (depth >= 2) & (head[1] == _OR)
    if np.any(lit & (depth == 3) & (~in_or | (head[2] != _AND))):
        return None
    opens = (kind == _AND) & (depth == 2) | lit & (depth == 2) & in_or   # each starts a disjunct
    count = np.cumsum(opens)
    owner = np.where(lit & in_or, count - 1, -1)[lit]
    if (kind == _OR).any() and count[-1] == 0:
        return None
    return owner.astype(np.int64), max(int(count[-1]), 1)


class _Literals:
    """The literals as arrays: per literal its kind, variables, number and direction."""

    def __init__(self, columns: dict[str, np.ndarray], n: int, m: int):
        """``columns``: per literal ``upper`` (the comparison is ``<=`` or ``<``; strict ones read as
        non-strict), ``var_first``, ``pair`` (two outputs), ``input`` (the variable is an ``X``) and
        ``index`` of the variable, ``value`` of the number, ``i``, ``j`` of a pair."""
        self.n, self.m = n, m
        upper, pair, i, j = columns["upper"], columns["pair"], columns["i"], columns["j"]
        self.pair, self.index, self.value = pair, columns["index"], columns["value"]
        self.is_x = ~pair & columns["input"]
        # the variable is on the smaller side of the comparison: "v <= c" or "c >= v"
        self.below = np.where(columns["var_first"], upper, ~upper)
        self.first, self.second = np.where(upper, i, j), np.where(upper, j, i)   # row: Y_first - Y_second <= 0
        self.invalid = bool(np.any(self.index[~pair & ~self.is_x] >= m) or np.any(self.index[self.is_x] >= n)
                            or np.any(pair & ((i >= m) | (j >= m) | (i == j))) or not np.all(np.isfinite(self.value)))

    def properties(self, owner: np.ndarray, count: int) -> Properties | None:
        """Group the disjuncts by input box (see the module docstring) into :class:`Properties`
        blocks; None when a disjunct has an unbounded input or all contradict themselves (the general
        reader's errors)."""
        lo, hi = np.full((count, self.n), -np.inf), np.full((count, self.n), np.inf)
        for upper, bounds, tighter in ((True, hi, np.minimum), (False, lo, np.maximum)):
            lits = np.flatnonzero(self.is_x & (self.below == upper))
            common, own = lits[owner[lits] == -1], lits[owner[lits] >= 0]
            for k, v in zip(self.index[common], self.value[common]):
                bounds[:, k] = tighter(bounds[:, k], v)
            tighter.at(bounds, (owner[own], self.index[own]), self.value[own])
        kept = np.flatnonzero(~np.any(lo > hi, axis=1))
        if not kept.size or np.isinf(lo[kept]).any() or np.isinf(hi[kept]).any():
            return None                                    # the general reader says what is wrong
        y = np.flatnonzero(~self.is_x)
        A_common, b_common = self._rows(y[owner[y] == -1])
        own = y[owner[y] >= 0]
        own = own[np.argsort(owner[own], kind="stable")]
        starts = np.searchsorted(owner[own], np.arange(count + 1))
        A_own, b_own = self._rows(own)
        group = _first_appearance(np.hstack([lo[kept], hi[kept]]) + 0.0)    # the property of each kept disjunct
        order = np.argsort(group, kind="stable")                             # by property, then in file order
        offsets = np.concatenate([[0], np.cumsum(np.bincount(group))])
        pattern = _first_appearance(_own_rows(A_own, starts, kept))          # each kept disjunct's rows, as a number
        block_of = _first_appearance([pattern[order[a:b]] for a, b in zip(offsets[:-1], offsets[1:])])
        blocks, row_of = [], np.zeros(block_of.size, np.int64)
        for b in range(int(block_of.max()) + 1):
            members = np.flatnonzero(block_of == b)
            row_of[members] = np.arange(members.size)
            width = offsets[members[0] + 1] - offsets[members[0]]
            disjuncts = kept[order[offsets[members][:, None] + np.arange(width)]]   # (members, width)
            rows, rhs, sizes = [], [], []
            for j in range(width):
                first, stop = starts[disjuncts[0, j]], starts[disjuncts[0, j] + 1]
                rows += [A_common, A_own[first:stop]]
                rhs += [np.broadcast_to(b_common, (members.size, b_common.size)),
                        b_own[starts[disjuncts[:, j]][:, None] + np.arange(stop - first)]]
                sizes.append(b_common.size + stop - first)
            blocks.append(PropertyBlock(lo[disjuncts[:, 0]] + 0.0, hi[disjuncts[:, 0]] + 0.0, np.vstack(rows),
                                        np.hstack(rhs) + 0.0, tuple(sizes)))
        return Properties(blocks, block_of, row_of)

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


def _own_rows(A_own: np.ndarray, starts: np.ndarray, disjuncts: np.ndarray) -> np.ndarray | list[bytes]:
    """The output rows of each of ``disjuncts`` (its rows are ``A_own[starts[d]:starts[d + 1]]``): one
    array row each when all have as many rows, else their bytes."""
    counts = starts[disjuncts + 1] - starts[disjuncts]
    if np.all(counts == counts[0]):
        return A_own[starts[disjuncts][:, None] + np.arange(counts[0])].reshape(disjuncts.size, -1)
    return [A_own[starts[d]:starts[d + 1]].tobytes() for d in disjuncts]


def _first_appearance(keys: np.ndarray | list) -> np.ndarray:
    """Per key (a row of an array, or an item of a list of bytes or of arrays), the number of its
    distinct value, counting in order of first appearance."""
    if isinstance(keys, list) and len({len(k) for k in keys}) == 1 and isinstance(keys[0], np.ndarray):
        keys = np.stack(keys)
    if isinstance(keys, np.ndarray):
        if keys.shape[1] == 0:
            return np.zeros(keys.shape[0], np.int64)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        rank = np.empty(first.size, np.int64)
        rank[np.argsort(first)] = np.arange(first.size)
        return rank[inverse.ravel()]
    ids: dict = {}
    return np.array([ids.setdefault(k.tobytes() if isinstance(k, np.ndarray) else k, len(ids)) for k in keys], np.int64)
