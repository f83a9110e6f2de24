"""Reading an image (or any input point) for robustness queries: ``.npy``, ``.png``/``.jpg``, or text.

The pixel convention, the same for every picture format: a picture's values are its pixels **as
stored**, integers from 0 to the largest value its bit depth holds (255 for 8-bit PNG and JPEG files,
65535 for 16-bit grayscale PNG files), never rescaled; ``nnreach robust --scale 255`` maps 8-bit
pixels to [0, 1]. The picture's pixel range, ``[0, max_value]``, is known, so ``nnreach robust``
clips the L-inf ball to it by default.

- ``.png``, ``.jpg``, ``.jpeg`` (read with Pillow, after the EXIF orientation a camera may have
  stored): grayscale ``L`` (bilevel pictures as 0/255, 16-bit ones as 0..65535), ``LA``, ``RGB``
  or ``RGBA`` (palette pictures become ``RGB``, or ``RGBA`` when they have transparency; 16-bit colour
  PNG files are read at 8 bits by Pillow); the values have the shape ``(H, W)`` or ``(H, W, C)``;
  other pixel modes (CMYK, ...) are refused;
- ``.npy``: a numpy array of any shape, taken as it is (no pixel range);
- anything else: numbers separated by whitespace or commas (``.txt``, ``.csv``), taken as they are.

A picture whose channels carry nothing beyond fewer channels is reduced without loss when a model
needs it (:func:`fit`): equal colour channels to grayscale, a fully opaque alpha channel dropped.
Any other mismatch with the model's input count is refused with what was read and a hint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import check_readable

PICTURES = (".png", ".jpg", ".jpeg")

_MODE_NAMES = {"L": "grayscale", "LA": "grayscale and alpha", "RGB": "RGB", "RGBA": "RGBA"}


@dataclass(frozen=True)
class Image:
    """What :func:`load_image` read.

    Attributes:
        values: float64; pictures ``(H, W)`` (mode ``L``) or ``(H, W, C)``, ``.npy`` files in their
            own shape, text files ``(n,)``.
        mode: pictures: ``"L"``, ``"LA"``, ``"RGB"`` or ``"RGBA"``; ``None`` for numbers.
        max_value: pictures: the largest pixel value of their bit depth (255 or 65535), so their
            range is ``[0, max_value]``; ``None`` for numbers, which have no range.
    """

    values: np.ndarray
    mode: str | None = None
    max_value: float | None = None

    @property
    def is_picture(self) -> bool:
        return self.mode is not None

    @property
    def bits(self) -> int:
        """Bits per pixel value of a picture (8 or 16)."""
        return 16 if self.max_value == 65535 else 8

    def describe(self) -> str:
        """E.g. ``28x28 with 4 channels (RGBA), 8-bit: 3136 values`` or ``784 values``."""
        if not self.is_picture:
            return f"{self.values.size} values"
        h, w = self.values.shape[:2]
        channels = "1 channel (grayscale)" if self.mode == "L" else f"{len(self.mode)} channels ({self.mode})"
        return f"{w}x{h} with {channels}, {self.bits}-bit: {self.values.size} values"


def load_image(path: str | os.PathLike) -> Image:
    """The file at ``path`` as an :class:`Image`, under the module's pixel convention.

    Raises:
        InputError: missing or unreadable file, an unsupported pixel mode, malformed content, no
            values, or non-finite values.
    """
    p = check_readable(path, "image")
    suffix = p.suffix.lower()
    mode = max_value = None
    try:
        if suffix in PICTURES:
            values, mode, max_value = _read_picture(p)
        elif suffix == ".npy":
            values = np.load(p, allow_pickle=False)
        else:
            values = np.array(p.read_text().replace(",", " ").split(), dtype=np.float64)
    except (OSError, ValueError, SyntaxError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read image {p}: {e}") from None
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"image {p} does not hold numbers") from None
    if values.size == 0:
        raise InputError(f"image {p} holds no values")
    if not np.isfinite(values).all():
        raise InputError(f"image {p} holds non-finite values")
    return Image(values, mode, max_value)


def _read_picture(p: Path) -> tuple[np.ndarray, str, float]:
    """Pixels as stored, the mode (L, LA, RGB, RGBA) and the largest pixel value."""
    import PIL.Image
    import PIL.ImageOps

    with PIL.Image.open(p) as opened:
        im = PIL.ImageOps.exif_transpose(opened)
        if im.mode.startswith("I;16") or im.mode == "I":  # 16-bit grayscale (PNG holds at most 16 bits)
            return np.asarray(im, dtype=np.int64), "L", 65535.0
        if im.mode == "1":
            im = im.convert("L")
        elif im.mode in ("P", "PA"):
            im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
        if im.mode not in _MODE_NAMES:
            raise ValueError(f"pixel mode {im.mode} is not supported: save it as grayscale or RGB")
        return np.asarray(im), im.mode, 255.0


def _reductions(image: Image) -> list[tuple[Image, str]]:
    """Lossless reductions of a picture's channels, with what was done: equal colour channels to
    grayscale, a fully opaque alpha channel dropped (``LA`` -> ``L``, ``RGBA`` -> ``RGB``)."""
    if image.mode in (None, "L"):
        return []
    v = image.values
    colour = v[..., :3] if image.mode.startswith("RGB") else v[..., :1]
    opaque = not image.mode.endswith("A") or bool((v[..., -1] == image.max_value).all())
    gray = bool((colour == colour[..., :1]).all())
    out = []
    if opaque and image.mode == "RGBA":
        out.append((replace(image, values=colour, mode="RGB"), "its alpha channel is fully opaque: dropped"))
    if opaque and gray:
        why = "its colour channels are equal" if image.mode.startswith("RGB") else "it is gray"
        if image.mode.endswith("A"):
            why += " and its alpha channel is fully opaque"
        out.append((replace(image, values=colour[..., 0], mode="L"), f"{why}: read as grayscale"))
    return out


def fit(image: Image, n_inputs: int, what: str = "the image") -> tuple[Image, str | None]:
    """``image`` with ``n_inputs`` values: as read, or reduced without loss (see the module docstring).

    Returns:
        The image and, when it was reduced, a note saying how (to print), else None.

    Raises:
        InputError: no lossless reduction fits; one line with what was read and a hint.
    """
    if image.values.size == n_inputs:
        return image, None
    for reduced, note in _reductions(image):
        if reduced.values.size == n_inputs:
            return reduced, f"{what} is {image.describe()}; {note}"
    if not image.is_picture:
        raise InputError(f"{what} has {image.values.size} values but the model has {n_inputs} inputs")
    h, w = image.values.shape[:2]
    if n_inputs == h * w:
        hint = "convert it to grayscale (nnreach converts only equal colour channels with opaque alpha)"
    elif n_inputs == 3 * h * w:
        hint = "save it as RGB" + (" without transparent pixels" if image.mode == "RGBA" else "")
    else:
        hint = f"resize it, or give a .npy of {n_inputs} values in the model's input order"
    raise InputError(f"{what} is {image.describe()}, but the model has {n_inputs} inputs; {hint}")


def write_picture(path: str | os.PathLike, values: np.ndarray, like: Image) -> Path:
    """Write ``values`` (in ``like``'s units and shape) as a PNG of ``like``'s mode and bit depth,
    rounded to whole pixel values and clipped to ``[0, like.max_value]``. Returns the path."""
    import PIL.Image

    pixels = np.clip(np.rint(np.asarray(values, dtype=np.float64)), 0, like.max_value)
    pixels = pixels.reshape(like.values.shape).astype(np.uint16 if like.bits == 16 else np.uint8)
    p = Path(path)
    try:
        PIL.Image.fromarray(pixels).save(p, format="PNG")  # uint8 (H, W, C): L/LA/RGB/RGBA; uint16: I;16
    except (OSError, ValueError) as e:
        raise InputError(f"cannot write picture {p}: {e}") from None
    return p
