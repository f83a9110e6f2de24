"""The vectorised reader of plain VNN-LIB 1.0 files equals the general one wherever it accepts a file,
and declines every other shape (which the general reader then handles, errors included)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnreach.errors import InputError, UnsupportedError
from nnreach.io.vnnlib import _parse_general, parse_vnnlib
from nnreach.io.vnnlib_fast import parse_plain

from ..properties import assert_same_properties

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "benchmarks"
LARGE = 1_000_000
"""Files above this many bytes are left out of the comparison (the general reader takes minutes)."""


def _published() -> list[Path]:
    files = sorted(ROOT.glob("examples/**/*.vnnlib")) + sorted(ROOT.glob("tests/**/*.vnnlib"))
    if SHARED.is_dir():
        files += sorted(p for p in SHARED.rglob("*.vnnlib") if p.stat().st_size <= LARGE)
    return files


def test_every_published_plain_file_reads_as_the_general_reader_reads_it():
    files = _published()
    accepted = 0
    for path in files:
        text = path.read_text()
        fast = parse_plain(text)
        if fast is None:
            continue
        accepted += 1
        assert_same_properties(fast, _parse_general(text, str(path)))
    assert accepted >= (600 if SHARED.is_dir() else 1), f"only {accepted} of {len(files)} files were plain"


BOX = "(assert (<= X_0 1)) (assert (>= X_0 0)) (assert (<= X_1 1)) (assert (>= X_1 0))"
HEADER = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"

PLAIN = {
    "boxes and one output or": HEADER + """
        (assert (>= X_0 -1)) (assert (<= X_0 1.5e0)) ; a comment
        (assert (and (>= X_1 .5) (< X_1 2)))
        (assert (or (<= Y_0 Y_1) (> 0.25 Y_1) (and (>= Y_0 3) (<= Y_1 Y_0))))""",
    "disjuncts with their own boxes": HEADER + """
        (assert (or (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1) (>= Y_0 Y_1))
                    (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1) (<= Y_0 -2))
                    (and (>= X_0 2) (<= X_0 1) (>= X_1 0) (<= X_1 1) (<= Y_0 -2))
                    (and (>= 3 X_0) (<= 2 X_0) (>= X_1 0) (<= X_1 1))))""",
}


@pytest.mark.parametrize("name", PLAIN)
def test_plain_shapes_are_accepted_and_equal(name):
    fast = parse_plain(PLAIN[name])
    assert fast is not None
    assert_same_properties(fast, _parse_general(PLAIN[name], name))


def test_disjuncts_with_an_empty_box_are_dropped_and_the_others_grouped_by_box():
    props = parse_plain(PLAIN["disjuncts with their own boxes"])
    assert [p.input_box.lo.tolist() for p in props] == [[0.0, 0.0], [2.0, 0.0]]
    assert [len(p.unsafe) for p in props] == [2, 1]
    np.testing.assert_array_equal(props[0].unsafe[0].A, [[-1.0, 1.0]])    # Y_0 >= Y_1: Y_1 - Y_0 <= 0
    np.testing.assert_array_equal(props[1].unsafe[0].A, np.zeros((0, 2)))


OTHER = {
    "two ors": HEADER + "(assert (<= X_0 1)) (assert (>= X_0 0)) (assert (<= X_1 1)) (assert (>= X_1 0))"
                        "(assert (or (<= Y_0 0) (<= Y_1 0))) (assert (or (>= Y_0 1) (>= Y_1 1)))",
    "an or inside an and inside an or": HEADER + "(assert (<= X_0 1)) (assert (>= X_0 0)) (assert (<= X_1 1))"
                                                 "(assert (>= X_1 0)) (assert (or (and (or (<= Y_0 0)))))",
    "a sum": HEADER + "(assert (<= X_0 1)) (assert (>= X_0 0)) (assert (<= X_1 1)) (assert (>= X_1 0))"
                      "(assert (<= (+ Y_0 Y_1) 0))",
    "an input against an output": HEADER + "(assert (<= X_0 1)) (assert (>= X_0 0)) (assert (<= X_1 1))"
                                           "(assert (>= X_1 0)) (assert (<= X_0 Y_0))",
    "an unbounded input": HEADER + "(assert (<= X_0 1)) (assert (>= X_0 0)) (assert (<= X_1 1))",
    "an undeclared output": HEADER + "(assert (<= X_0 1)) (assert (>= X_0 0)) (assert (<= X_1 1))"
                                     "(assert (>= X_1 0)) (assert (<= Y_2 0))",
    "a gap in the declarations": "(declare-const X_1 Real)(declare-const Y_0 Real)(assert (<= X_1 1))",
    "version 2": "(vnnlib-version <2.0>)",
    "an underscore in a number": HEADER + "(assert (<= X_0 1_0)) (assert (>= X_0 0)) (assert (<= X_1 1))"
                                          "(assert (>= X_1 0)) (assert (<= Y_0 0))",
    "a leading zero in an index": HEADER + "(assert (<= X_01 1)) (assert (>= X_0 0)) (assert (<= X_1 1))"
                                           "(assert (>= X_1 0)) (assert (<= Y_0 0))",
    "two numbers": HEADER + BOX + "(assert (<= 0 1))",
    "two inputs": HEADER + BOX + "(assert (<= X_0 X_1))",
    "a number that does not read": HEADER + BOX + "(assert (<= Y_0 1-2))",
    "an infinite number": HEADER + BOX + "(assert (<= Y_0 1e999))",
    "a declaration inside an assert": HEADER + BOX + "(assert (and (declare-const X_2 Real) (<= Y_0 0)))",
    "a literal outside an assert": HEADER + BOX + "(<= Y_0 0)",
    "an unclosed assert": HEADER + BOX + "(assert (<= Y_0 0)",
    "an unknown head": HEADER + BOX + "(assert (=> (<= Y_0 0)))",
    "a literal of four atoms": HEADER + BOX + "(assert (<= Y_0 0 1))",
    "a nested and": HEADER + BOX + "(assert (and (and (<= Y_0 0))))",
    "an and inside an and inside an or": HEADER + BOX + "(assert (or (and (and (<= Y_0 0)))))",
    "an empty or": HEADER + BOX + "(assert (<= Y_0 0)) (assert (or))",
    "a non-ASCII space": HEADER + BOX + "(assert (<=\u00a0Y_0 0))",
    "a variable named with a letter": HEADER + BOX + "(assert (<= Y_a 0))",
}


@pytest.mark.parametrize("name", OTHER)
def test_other_shapes_are_declined_and_read_or_refused_by_the_general_reader(name):
    assert parse_plain(OTHER[name]) is None
    try:
        general = _parse_general(OTHER[name], name)
    except (InputError, UnsupportedError) as e:
        with pytest.raises(type(e)) as got:
            parse_vnnlib(OTHER[name], source=name)
        assert str(got.value) == str(e)
    else:
        assert_same_properties(parse_vnnlib(OTHER[name]), general)


def test_tens_of_thousands_of_disjuncts_are_accepted():
    """The general reader refuses more than 10,000 disjuncts; plain ones are read as arrays."""
    rows = "".join(f"(and (>= X_0 {k}) (<= X_0 {k + 0.5}) (>= X_1 0) (<= X_1 1) (<= Y_0 {k}))" for k in range(20000))
    props = parse_vnnlib(HEADER + f"(assert (or {rows}))")
    assert len(props) == 20000
    assert props[123].input_box.lo.tolist() == [123.0, 0.0] and props[123].unsafe[0].b.tolist() == [123.0]
