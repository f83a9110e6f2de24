"""VNN-LIB 2.0 queries: the mapping onto properties, the refusals, and the standard's example queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnreach.errors import InputError, UnsupportedError
from nnreach.io.vnnlib import parse_vnnlib
from nnreach.io.vnnlib2 import parse_vnnlib2, read_vnnlib2
from tests.conftest import REPO

STANDARD_EXAMPLES = REPO.parent / "shared" / "vnnlib2" / "syntax" / "test"  # the standard, beside the benchmarks

BOX = "(assert (and (>= X[0,0] 0.0) (<= X[0,0] 1.0) (>= X[0,1] -1.0) (<= X[0,1] 2.0)))\n"


def _query(body: str, declarations: str = "(declare-input X real [1,2]) (declare-output Y real [3])",
           version: str = "2.0") -> str:
    return f"(vnnlib-version <{version}>)\n(declare-network f {declarations})\n{body}"


def _error(text: str, error_type: type[InputError], *fragments: str) -> str:
    """Parse ``text``, expecting exactly ``error_type`` with one line naming every fragment."""
    with pytest.raises(InputError) as info:
        parse_vnnlib2(text, source="q.vnnlib")
    message = str(info.value)
    assert type(info.value) is error_type, message
    assert "\n" not in message and message.startswith("q.vnnlib"), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_query_maps_onto_a_box_and_unsafe_polytopes():
    q = parse_vnnlib2(_query(BOX + "(assert (or (<= (- Y[0] (* 2.0 Y[2])) 1.5) (> Y[1] 3.0)))"))
    assert (q.network, q.input.name, q.input.shape, q.output.shape) == ("f", "X", (1, 2), (3,))
    (prop,) = q.properties
    assert prop.input_box.lo.tolist() == [0.0, -1.0] and prop.input_box.hi.tolist() == [1.0, 2.0]
    first, second = prop.unsafe
    assert first.A.tolist() == [[1.0, 0.0, -2.0]] and first.b.tolist() == [1.5]
    assert second.A.tolist() == [[0.0, -1.0, 0.0]] and second.b.tolist() == [-3.0]  # strict read as closed


def test_entries_are_numbered_row_major_and_scalars_have_one():
    q = parse_vnnlib2(_query("(assert (and (>= X[1,0] 5.0) (<= X[1,0] 6.0) (>= X[0,0] 0.0) (<= X[0,0] 1.0)"
                             " (>= X[0,1] 0.0) (<= X[0,1] 1.0) (>= X[1,1] 0.0) (<= X[1,1] 1.0)))\n"
                             "(assert (>= Y 2.0))",
                             "(declare-input X real [2,2]) (declare-output Y real [])"))
    (prop,) = q.properties
    assert prop.input_box.lo.tolist() == [0.0, 0.0, 5.0, 0.0]
    assert prop.unsafe[0].A.tolist() == [[-1.0]] and q.output.size == 1


def test_equality_gives_two_rows_and_ors_of_input_bounds_give_several_boxes():
    q = parse_vnnlib2(_query("(assert (and (>= X[0,1] 0.0) (<= X[0,1] 1.0)))\n"
                             "(assert (or (and (>= X[0,0] 0.0) (<= X[0,0] 1.0)) (and (>= X[0,0] 2.0) (<= X[0,0] 3.0))))\n"
                             "(assert (== (+ Y[0] Y[1]) 1.0))"))
    assert [p.input_box.lo[0] for p in q.properties] == [0.0, 2.0]
    assert q.properties[0].unsafe[0].A.tolist() == [[1.0, 1.0, 0.0], [-1.0, -1.0, 0.0]]


def test_the_1_0_reader_passes_2_0_queries_on():
    text = _query(BOX + "(assert (<= Y[0] Y[1]))")
    (routed,) = parse_vnnlib(text, source="q.vnnlib")
    (direct,) = parse_vnnlib2(text).properties
    assert np.array_equal(routed.input_box.lo, direct.input_box.lo)
    assert np.array_equal(routed.unsafe[0].A, direct.unsafe[0].A)


@pytest.mark.parametrize("text, fragments", [
    (_query(BOX + "(assert (<= Y[0] 1.0))").replace(")\n(assert (and", ")\n(declare-network g (declare-input "
                                                     "U real [1]) (declare-output W real [1]))\n(assert (and", 1),
     ["queries over 2 networks are not supported"]),
    (_query(BOX, "(declare-input X real [1,2]) (declare-hidden H real [2] \"relu1\") (declare-output Y real [3])"),
     ["hidden nodes are not supported", "declare-hidden H \"relu1\""]),
    (_query(BOX, "(declare-input X real [1,2]) (declare-input Z real [1]) (declare-output Y real [3])"),
     ["networks with 2 inputs are not supported"]),
    (_query(BOX, "(declare-input X real [1,2]) (declare-output Y real [3]) (declare-output Z real [1])"),
     ["networks with 2 outputs are not supported"]),
    (_query(BOX, "(declare-input X float32 [1,2]) (declare-output Y float32 [3])"),
     ["element type float32 of input X", "sound over the real numbers", "'real'"]),
    (_query(BOX, "(declare-input X Real [1,2]) (declare-output Y Real [3])").replace(BOX, "(assert (<= Y[0] Y[1]))"),
     ["element type 'Real' of input X is not a VNN-LIB type"]),
    (_query(BOX + "(assert (<= (* Y[0] Y[1]) 1.0))"), ["multiplication of variables", "only linear arithmetic"]),
    (_query(BOX + "(assert (!= Y[0] 1.0))"), ["'!=' comparisons are not supported"]),
    (_query(BOX + "(assert (<= X[0,0] Y[0]))"), ["constraint mixes inputs (X) and outputs (Y)"]),
    (_query(BOX + "(assert (<= (+ X[0,0] X[0,1]) 1.0))"), ["linear constraint over several inputs", "X[0,0]", "X[0,1]"]),
    (_query(BOX + "(assert (<= Y[0] 1.0))", version="2.1"), ["version 2.1 is not supported (nnreach reads 2.0)"]),
])
def test_constructs_beyond_one_network_with_linear_constraints_are_refused_by_name(text, fragments):
    _error(text, UnsupportedError, "VNN-LIB 2.0", *fragments)


@pytest.mark.parametrize("text, fragments", [
    (_query("(assert (<= Y[0] 1.0)"), ["q.vnnlib: VNN-LIB 2.0: Parse error: syntax error"]),
    (_query(BOX + "(assert (<= Y[0] 1))"), ["q.vnnlib:4: VNN-LIB 2.0: Type mismatch", "'1'"]),
    (_query("(assert (and (>= X[0,0] 0.0) (<= X[0,0] 1.0) (<= X[0,1] 2.0)))\n(assert (<= Y[0] 1.0))"),
     ["X[0,1] has no lower bound"]),
    (_query(BOX + "(assert (<= Y[5] 1.0))"), ["q.vnnlib:4:", "Index 5 is out of bounds"]),
])
def test_malformed_queries_are_one_line_input_errors(text, fragments):
    _error(text, InputError, *fragments)


def test_read_errors_name_the_file(tmp_path: Path):
    with pytest.raises(InputError, match="cannot read VNN-LIB file .*missing.vnnlib"):
        read_vnnlib2(tmp_path / "missing.vnnlib")


# Each of the standard's example queries as it is, and with its type 'Real' written 'real' as the
# standard spells it: parsed (None) or refused with the construct named.
EXPECTED = {
    "acc": ("Type mismatch", "linear constraint over several inputs (X[2], X[1])"),
    "cartpole": ("element type 'Real' of input X", None),
    "drones": ("element type 'Real' of input X", None),
    "dubinsrejoin": ("element type 'Real' of input X", None),
    "initialized": ("syntax error at line 4, column 27: 'initialized'",) * 2,
    "intermediate_nodes": ("Type mismatch", "hidden nodes are not supported"),
    "lunarlander": ("element type 'Real' of input X", None),
    "mnist": ("element type 'Real' of input X", "X[0,1] has no lower bound"),  # the file elides the bounds
    "multiple_networks": ("queries over 3 networks are not supported",) * 2,
    "single_network": ("Type mismatch", "linear constraint over several inputs (X[2], X[1])"),
    "test_linearise": ("Type mismatch", "linear constraint over several inputs (X[0], X[1])"),
}


def test_every_standard_example_is_listed():
    if not STANDARD_EXAMPLES.is_dir():
        pytest.skip(f"the standard's examples are not at {STANDARD_EXAMPLES}")
    assert sorted(p.stem for p in STANDARD_EXAMPLES.glob("*.vnnlib")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("spelling", [0, 1], ids=["as-written", "real"])
def test_standard_examples_are_parsed_or_refused_by_name(name: str, spelling: int):
    path = STANDARD_EXAMPLES / f"{name}.vnnlib"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    text = path.read_text()
    if spelling:
        text = text.replace(" Real ", " real ")
    expected = EXPECTED[name][spelling]
    if expected is None:
        q = parse_vnnlib2(text, source=path.name)
        assert q.network == name and q.properties
        assert all(np.all(np.isfinite(p.input_box.lo)) for p in q.properties)
    else:
        with pytest.raises(InputError) as info:  # UnsupportedError for a construct, InputError for a typo
            parse_vnnlib2(text, source=path.name)
        message = str(info.value)
        assert "\n" not in message and message.startswith(path.name) and expected in message, message
