"""Pictures, ``.npy`` and text files as input points: one pixel convention (pixels as stored) for PNG
and JPEG, lossless channel reductions only, one-line errors with what was read."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest

from nnreach.errors import InputError
from nnreach.io.image import Image, fit, load_image, write_picture

from ..conftest import EXAMPLES


def _digit() -> np.ndarray:
    """A smooth 28x28 8-bit picture (a blurred ring), which JPEG keeps within a few levels."""
    y, x = np.mgrid[:28, :28]
    r = np.hypot(x - 13.5, y - 13.5)
    return np.rint(255 * np.exp(-((r - 8) / 3) ** 2)).astype(np.uint8)


def _save(tmp_path, pixels: np.ndarray, name: str, **options) -> str:
    path = tmp_path / name
    PIL.Image.fromarray(pixels).save(path, **options)
    return str(path)


def test_png_jpeg_and_npy_of_the_same_pixels_read_alike(tmp_path):
    """PNG and JPEG both give the pixels as stored (0..255), the same as a .npy of those pixels."""
    pixels = _digit()
    np.save(tmp_path / "d.npy", pixels)
    png = load_image(_save(tmp_path, pixels, "d.png"))
    jpeg = load_image(_save(tmp_path, pixels, "d.jpg", quality=100, subsampling=0))
    npy = load_image(tmp_path / "d.npy")
    assert (png.mode, png.max_value, jpeg.mode, jpeg.max_value) == ("L", 255, "L", 255)
    assert npy.mode is None and npy.max_value is None
    np.testing.assert_array_equal(png.values, npy.values)
    assert png.values.shape == jpeg.values.shape == (28, 28)
    assert np.abs(jpeg.values - png.values).max() <= 3  # JPEG's loss, not a change of scale
    flat = np.full((8, 8), 200, dtype=np.uint8)  # a flat gray survives JPEG exactly
    np.testing.assert_array_equal(load_image(_save(tmp_path, flat, "f.jpeg", quality=100)).values,
                                  load_image(_save(tmp_path, flat, "f.png")).values)
    colour = np.stack([pixels, 255 - pixels, pixels // 2], axis=-1)
    rgb_png, rgb_jpeg = (load_image(_save(tmp_path, colour, name, quality=100, subsampling=0))
                         for name in ("c.png", "c.jpg"))
    assert rgb_png.mode == rgb_jpeg.mode == "RGB" and rgb_png.values.shape == rgb_jpeg.values.shape == (28, 28, 3)
    np.testing.assert_array_equal(rgb_png.values, colour)
    assert np.abs(rgb_jpeg.values - colour).max() <= 4


def test_the_bundled_mnist_image_is_the_benchmark_image_in_8_bits(benchmarks):
    """``examples/images/mnist_6.png`` times 1/255 is the centre of MNIST-FC prop_8's input box."""
    from nnreach.io.vnnlib import read_vnnlib

    spec = benchmarks / "mnistfc/prop_8_0.03.vnnlib"
    if not spec.is_file():
        pytest.skip(f"{spec} not found")
    (prop,) = read_vnnlib(spec)
    center = load_image(EXAMPLES / "images/mnist_6.png").values.ravel() / 255
    lo, hi = np.maximum(center - 0.03, 0), np.minimum(center + 0.03, 1)
    np.testing.assert_allclose(lo, prop.input_box.lo, atol=1e-6)
    np.testing.assert_allclose(hi, prop.input_box.hi, atol=1e-6)


def test_other_bit_depths_and_modes(tmp_path):
    wide = np.array([[0, 1000, 65535]], dtype=np.uint16)
    sixteen = load_image(_save(tmp_path, wide, "w.png"))
    assert (sixteen.mode, sixteen.max_value, sixteen.bits) == ("L", 65535, 16)
    np.testing.assert_array_equal(sixteen.values, wide)
    bilevel = tmp_path / "b.png"
    PIL.Image.fromarray(np.array([[True, False]])).save(bilevel)
    np.testing.assert_array_equal(load_image(bilevel).values, [[255, 0]])
    palette = tmp_path / "p.png"
    PIL.Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8)).convert("P").save(palette)
    read = load_image(palette)
    assert read.mode == "RGB" and read.values.tolist() == [[[255, 0, 0], [0, 0, 255]]]
    cmyk = tmp_path / "c.jpg"
    PIL.Image.new("CMYK", (2, 2)).save(cmyk)
    with pytest.raises(InputError, match="pixel mode CMYK is not supported"):
        load_image(cmyk)


def test_lossless_reductions_are_made_and_said(tmp_path):
    """A gray picture saved as RGBA (as matplotlib's imsave writes it) is read as grayscale, with a note;
    an opaque RGBA picture loses its alpha channel for a model of 3 x H x W inputs."""
    import matplotlib.pyplot as plt

    pixels = _digit()
    path = tmp_path / "m.png"
    plt.imsave(path, pixels, cmap="gray", vmin=0, vmax=255)
    rgba = load_image(path)
    assert rgba.mode == "RGBA" and rgba.values.size == 4 * 784
    gray, note = fit(rgba, 784)
    assert gray.mode == "L" and note == ("the image is 28x28 with 4 channels (RGBA), 8-bit: 3136 values; its colour "
                                         "channels are equal and its alpha channel is fully opaque: read as grayscale")
    np.testing.assert_array_equal(gray.values, rgba.values[..., 0])
    assert np.abs(gray.values - pixels).max() <= 1  # imsave's colour map rounds
    rgb, note = fit(rgba, 3 * 784)
    assert rgb.mode == "RGB" and "alpha channel is fully opaque: dropped" in note
    same, note = fit(gray, 784)
    assert same is gray and note is None


@pytest.mark.parametrize("mode, n_inputs, message", [
    ("RGB", 784, "the image is 28x28 with 3 channels (RGB), 8-bit: 2352 values, but the model has 784 inputs; "
                 "convert it to grayscale"),
    ("RGBA", 784, "the image is 28x28 with 4 channels (RGBA), 8-bit: 3136 values, but the model has 784 inputs; "
                  "convert it to grayscale"),
    ("RGBA", 3 * 784, "3136 values, but the model has 2352 inputs; save it as RGB without transparent pixels"),
    ("L", 100, "the image is 28x28 with 1 channel (grayscale), 8-bit: 784 values, but the model has 100 inputs; "
               "resize it, or give a .npy of 100 values in the model's input order"),
])
def test_other_mismatches_are_refused_with_what_was_read(mode, n_inputs, message):
    rng = np.random.default_rng(0)
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    values = rng.integers(0, 255, size=(28, 28, *channels)).astype(np.float64)  # channels differ, alpha < 255
    with pytest.raises(InputError) as refused:
        fit(Image(values, mode, 255.0), n_inputs)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(InputError) as refused:
        fit(Image(np.zeros(3)), 2)
    assert str(refused.value) == "the image has 3 values but the model has 2 inputs"


@pytest.mark.parametrize("mode, shape, dtype", [("L", (3, 4), np.uint8), ("RGB", (3, 4, 3), np.uint8),
                                                ("RGBA", (3, 4, 4), np.uint8), ("L", (3, 4), np.uint16)])
def test_a_written_picture_reads_back_rounded_and_clipped(tmp_path, mode, shape, dtype):
    top = float(np.iinfo(dtype).max)
    like = Image(np.zeros(shape), mode, top)
    values = np.random.default_rng(1).uniform(-5, top + 5, size=shape)
    back = load_image(write_picture(tmp_path / "w.png", values, like))
    assert (back.mode, back.max_value) == (mode, top)
    np.testing.assert_array_equal(back.values, np.clip(np.rint(values), 0, top))
