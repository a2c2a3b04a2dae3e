"""Pictures in every Pillow mode are scaled like the training pixels, or refused clearly; and
``flatten_images`` takes only real pixels and a real, finite scale > 0 (NumPy scalars included).

Expected values are worked out by hand from the pixel values put into each
image (8-bit: value / 255; 16-bit: value / 65535).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import xlogreg
from xlogreg import DataError, flatten_images
from xlogreg.io.pictures import _pixels, load_images


def _model(channels, invert=False):
    n_x = 2 * 2 * channels
    X = np.linspace(-1, 1, n_x * 4).reshape(n_x, 4)
    model = xlogreg.train(X, [0, 1, 0, 1], num_iterations=2)
    model.image_shape, model.preprocessing = (2, 2, channels), {"scale": 255.0, "invert": invert}
    return model


def _palette_image(mode):
    img = Image.new(mode, (2, 2), 0 if mode == "P" else (0, 255))
    img.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    return img


# mode -> (image of 2x2 pixels, expected RGB on the 0..255 scale, tolerance in those units)
MODES = {
    "1": (lambda: Image.new("1", (2, 2), 1), (255, 255, 255), 0),
    "L": (lambda: Image.new("L", (2, 2), 77), (77, 77, 77), 0),
    "P": (lambda: _palette_image("P"), (10, 20, 30), 0),
    "PA": (lambda: _palette_image("PA"), (10, 20, 30), 0),
    "RGB": (lambda: Image.new("RGB", (2, 2), (10, 20, 30)), (10, 20, 30), 0),
    "RGBA (transparent)": (lambda: Image.new("RGBA", (2, 2), (10, 20, 30, 0)), (10, 20, 30), 0),
    "RGBX": (lambda: Image.new("RGBX", (2, 2), (10, 20, 30, 0)), (10, 20, 30), 0),
    "RGBa (premultiplied)": (lambda: Image.new("RGBa", (2, 2), (10, 20, 30, 255)), (10, 20, 30), 0),
    "LA": (lambda: Image.new("LA", (2, 2), (77, 0)), (77, 77, 77), 0),
    "La (premultiplied)": (lambda: Image.new("La", (2, 2), (77, 255)), (77, 77, 77), 0),
    # C=51, M=255: R = 255 - 51, G = 255 - 255, B = 255.
    "CMYK": (lambda: Image.new("CMYK", (2, 2), (51, 255, 0, 0)), (204, 0, 255), 0),
    "YCbCr (grey)": (lambda: Image.new("YCbCr", (2, 2), (128, 128, 128)), (128, 128, 128), 1),
    "HSV (red)": (lambda: Image.new("HSV", (2, 2), (0, 255, 255)), (255, 0, 0), 0),
    "LAB (white)": (lambda: Image.new("LAB", (2, 2), (255, 128, 128)), (255, 255, 255), 2),
    # The cases: a mid-grey and a near-black 16-bit image were read as white and as 0.78.
    "I;16 mid-grey": (lambda: Image.fromarray(np.full((2, 2), 32768, np.uint16)), (32768 / 65535 * 255,) * 3, 1e-9),
    "I;16 near-black": (lambda: Image.fromarray(np.full((2, 2), 200, np.uint16)), (200 / 65535 * 255,) * 3, 1e-9),
    "I;16 white": (lambda: Image.fromarray(np.full((2, 2), 65535, np.uint16)), (255,) * 3, 1e-9),
    "I;16B": (lambda: Image.frombytes("I;16B", (2, 2), np.full(4, 1000, ">u2").tobytes()),
              (1000 / 65535 * 255,) * 3, 1e-9),
}


@pytest.mark.parametrize("name", MODES)
@pytest.mark.parametrize("channels", [3, 1])
def test_every_mode_is_scaled(name, channels):
    make, rgb, tol = MODES[name]
    pixels = _pixels(make(), 2, 2, channels, "picture")
    if channels == 3:
        expected = np.broadcast_to(np.array(rgb, dtype=np.float64), (2, 2, 3))
    else:  # ITU-R 601-2 luma, as Pillow's "L": 299/1000 R + 587/1000 G + 114/1000 B
        luma = (299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2]) / 1000
        expected = np.full((2, 2, 1), luma)
        tol = max(tol, 1.0)  # Pillow rounds luma to an integer for 8-bit modes
    np.testing.assert_allclose(pixels, expected, rtol=0, atol=tol)


@pytest.mark.parametrize("mode, kind", [("I", "32-bit integer"), ("F", "32-bit floating-point")])
def test_modes_without_a_white_level_are_refused(tmp_path, mode, kind):
    path = tmp_path / "deep.tif"
    Image.new(mode, (2, 2), 1000).save(path)
    with pytest.raises(DataError, match=f"{path}: a {kind} image \\(Pillow mode '{mode}'\\) has no fixed white level"):
        load_images([path], _model(3))


@pytest.mark.parametrize("invert", [False, True])
def test_16_bit_png_from_a_file(tmp_path, invert):
    """Read back from disk, resized from 3x3 to the model's 2x2 (a uniform image stays uniform)."""
    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((3, 3), 32768, np.uint16)).save(path)
    with Image.open(path) as img:
        assert img.mode == "I;16"
    X = load_images([path], _model(1, invert=invert))
    expected = 32768 / 65535
    np.testing.assert_allclose(X, np.full((4, 1), 1 - expected if invert else expected), rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode, fmt, value, rgb", [
    ("P", "png", None, (10, 20, 30)),
    ("LA", "png", (77, 10), (77, 77, 77)),
    ("RGBA", "png", (10, 20, 30, 0), (10, 20, 30)),
    ("CMYK", "tiff", (51, 255, 0, 0), (204, 0, 255)),
    ("1", "png", 1, (255, 255, 255)),
])
def test_eight_bit_modes_from_a_file(tmp_path, mode, fmt, value, rgb):
    path = tmp_path / f"picture.{fmt}"
    img = _palette_image(mode) if value is None else Image.new(mode, (2, 2), value)
    img.save(path)
    with Image.open(path) as reread:
        assert reread.mode == mode
    X = load_images([path], _model(3))
    np.testing.assert_allclose(X[:, 0], np.tile(np.array(rgb) / 255, 4), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- flatten_images


def test_complex_pixels_are_refused():
    with pytest.raises(TypeError, match=r"x_orig must hold real pixel values; got complex dtype complex128"):
        flatten_images(np.ones((2, 2, 2, 3), dtype=np.complex128))


@pytest.mark.parametrize("scale, error, match", [
    (float("inf"), ValueError, r"scale must be a finite number > 0, such as 255\.0; got inf"),
    (float("nan"), ValueError, r"finite number > 0"),
    (0, ValueError, r"finite number > 0"),
    (-255.0, ValueError, r"finite number > 0"),
    (np.float64("inf"), ValueError, r"finite number > 0"),
    (True, TypeError, r"scale must be a real number > 0, such as 255\.0; got True of type bool"),
    (np.True_, TypeError, r"got (np\.)?True_? of type bool"),
    ("255", TypeError, r"got '255' of type str"),
    (1 + 0j, TypeError, r"of type complex"),
    (None, TypeError, r"of type NoneType"),
])
def test_bad_scales_are_refused(scale, error, match):
    with pytest.raises(error, match=match):
        flatten_images(np.ones((2, 2, 2, 3), dtype=np.uint8), scale)


@pytest.mark.parametrize("scale", [255, 255.0, np.float32(255), np.int64(255), np.uint8(255), np.float64(255)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_numpy_scalar_scales_are_accepted(scale, dtype):
    x = (np.arange(2 * 2 * 2 * 3) * 10 % 256).reshape(2, 2, 2, 3).astype(dtype)
    X = flatten_images(x, scale)
    expected_dtype = np.float64 if dtype == np.uint8 else dtype  # dtype follows the data, not the scale
    assert X.dtype == expected_dtype and X.shape == (12, 2)
    np.testing.assert_array_equal(X, (x.reshape(2, -1).T.astype(expected_dtype) / expected_dtype(255)))


def test_lazy_flatten_takes_the_same_scales():
    da = pytest.importorskip("dask.array")
    from xlogreg.io.lazy import flatten_lazy

    x = da.from_array(np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3), chunks=1)
    np.testing.assert_array_equal(flatten_lazy(x, np.float32(255)).compute(),
                                  np.arange(24).reshape(2, 12).T / 255.0)
    with pytest.raises(TypeError, match="bool"):
        flatten_lazy(x, True)
    with pytest.raises(ValueError, match="finite"):
        flatten_lazy(x, float("inf"))


def test_zero_examples_give_an_empty_X():
    X = flatten_images(np.zeros((0, 4, 4, 3), dtype=np.uint8))
    assert X.shape == (48, 0)
