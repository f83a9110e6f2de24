"""A check shared by the tests of property readers."""

from __future__ import annotations

import numpy as np


def assert_same_properties(a, b) -> None:
    """Two lists of properties are equal: the same input boxes and unsafe polytopes, in the same order."""
    assert len(a) == len(b)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.input_box.lo, q.input_box.lo)
        np.testing.assert_array_equal(p.input_box.hi, q.input_box.hi)
        assert len(p.unsafe) == len(q.unsafe)
        for s, t in zip(p.unsafe, q.unsafe):
            np.testing.assert_array_equal(s.A, t.A)
            np.testing.assert_array_equal(s.b, t.b)
