"""Reading an image (or any input point) for robustness queries: ``.npy``, ``.png``/``.jpg``, or text.

- ``.npy``: a numpy array of any shape (flattened in C order);
- ``.png``, ``.jpg``, ``.jpeg``: through matplotlib; PNG values come in [0, 1], JPEG values in
  [0, 255]; colour images keep their channels in height x width x channel order (the layout of the
  file, which may not be the model's: flatten to the model's order and save as ``.npy`` instead);
- anything else: numbers separated by whitespace or commas (``.txt``, ``.csv``).
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from . import check_readable

PICTURES = (".png", ".jpg", ".jpeg")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The values of the file at ``path``, flattened, as float64, shape (n,).

    Raises:
        InputError: missing or unreadable file, malformed content, no values, or non-finite values.
    """
    p = check_readable(path, "image")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            values = np.load(p, allow_pickle=False)
        elif suffix in PICTURES:
            import matplotlib.image

            values = matplotlib.image.imread(p)
        else:
            values = np.array(p.read_text().replace(",", " ").split(), dtype=np.float64)
    except (OSError, ValueError, SyntaxError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read image {p}: {e}") from None
    try:
        values = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError(f"image {p} does not hold numbers") from None
    if values.size == 0:
        raise InputError(f"image {p} holds no values")
    if not np.isfinite(values).all():
        raise InputError(f"image {p} holds non-finite values")
    return values
