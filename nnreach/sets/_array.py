"""Helpers that make set fields immutable float arrays of checked shape."""

import numpy as np


def frozen(values, *, ndim: int, name: str, dtype=np.float64) -> np.ndarray:
    """Return ``values`` as a read-only float array with ``ndim`` dimensions.

    Raises ValueError naming the field when the number of dimensions is wrong.
    """
    arr = np.array(values, dtype=dtype, copy=True)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    arr.setflags(write=False)
    return arr
