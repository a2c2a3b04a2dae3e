"""Pictures in and out: your own pictures as the X a model takes, and a data file's examples as PNGs.

:func:`load_images` reads image files (PNG, JPEG, ...) into the X a trained
model takes (its image shape and scaling, :func:`data_to_X`), so that a model
classifies your own pictures::

    model = xlogreg.load_model("cat.h5")
    model.predict(xlogreg.io.load_images(["my_cat.jpg"], model))

:func:`write_pictures` goes the other way, so that ``xlogreg predict MODEL picture.png`` can be tried without hunting for pictures::

    xlogreg pictures ../shared/datasets/test_catvnoncat.h5 1 6     # writes test1.png, test6.png

Only the chosen examples are read from the file (never the whole data set). Each PNG is
written atomically (:func:`xlogreg.io.atomic.atomic_path`); an output path that is the data
file itself is refused, so an input is never overwritten.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np
from array_api_compat import is_dask_array

from .datasets import decode_classes
from .hdf5 import DataError, check_file, find_keys, open_h5

__all__ = ["load_images", "data_to_X", "write_pictures"]


def _prefix(x_key):
    match = re.fullmatch(r"(.+)_set_x", x_key)
    return match.group(1) if match else "image"


def write_pictures(path, indices, out_dir=".", *, prefix=None, size=None, x_key=None, y_key=None):
    """Write examples `indices` of the course-format file `path` as PNG pictures.

    Parameters
    ----------
    path : str or os.PathLike
        A course-format HDF5 file (images ``(m, height, width, channels)`` of pixel values
        0..255, channels 1 or 3; labels; class names).
    indices : sequence of int
        Which examples, counted from 0 as in the file (``test_set_x[i]``).
    out_dir : str or os.PathLike
        An existing folder to write into.
    prefix : str, optional
        File names are ``{prefix}{index}.png``; default: the part of the image key before
        ``_set_x`` (``test`` for ``test_set_x``), else ``image``.
    size : int, optional
        Resize to `size` x `size` pixels (bilinear); default: the stored size.
    x_key, y_key : str, optional
        Keys of the images and labels when they are not ``*_set_x`` / ``*_set_y``.

    Returns
    -------
    list of (str, str)
        The path written and the example's class name, for each index.

    Raises
    ------
    xlogreg.DataError
        The file is missing or not in the course format, an index is out of range, or the
        pixels are not 0..255.
    ValueError
        An output would overwrite the data file, or `size` is not a positive integer.
    OSError
        A picture cannot be written (the message names it); nothing partial is left.

    Examples
    --------
    >>> from xlogreg.io import write_pictures
    >>> write_pictures("../shared/datasets/test_catvnoncat.h5", [1, 6])  # doctest: +SKIP
    [('./test1.png', 'cat'), ('./test6.png', 'cat')]
    """
    from PIL import Image

    from .atomic import atomic_path

    path = os.fspath(path)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive number of pixels; got {size!r}")
    if not os.path.isdir(out_dir):
        raise DataError(f"{out_dir}: no such folder to write the pictures into; create it first")
    with open_h5(path) as f:
        xk, yk, ck = find_keys(f, x_key, y_key)
        images, labels = f[xk], f[yk]
        shape = tuple(images.shape)
        if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3)):
            raise DataError(f"{path}: {xk!r} has shape {shape}; pictures need (m, height, width) "
                            "or (m, height, width, 1 or 3)")
        m = shape[0]
        y = np.asarray(labels[()]).reshape(-1)
        if y.size != m:
            raise DataError(f"{path}: {yk!r} holds {y.size} labels for {m} examples in {xk!r}")
        chosen = []
        for index in indices:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < m:
                raise DataError(f"{path}: example index {index!r} is out of range; {xk!r} holds "
                                f"{m} examples, numbered 0 to {m - 1}")
            chosen.append((int(index), np.asarray(images[int(index)]), int(y[index])))
        classes = decode_classes(np.asarray(f[ck][()]) if ck is not None else None)
    prefix = _prefix(xk) if prefix is None else prefix
    written = []
    for index, pixels, label in chosen:
        if pixels.dtype.kind not in "uif" or pixels.min() < 0 or pixels.max() > 255 \
                or (pixels.dtype.kind == "f" and not np.array_equal(pixels, np.round(pixels))):
            raise DataError(f"{path}: {xk!r}[{index}] is not pixels 0..255 (dtype {pixels.dtype}, values "
                            f"{pixels.min()}..{pixels.max()}); only such images can be written as pictures")
        pixels = pixels.astype(np.uint8)
        picture = Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels)
        if size is not None:
            picture = picture.resize((size, size), Image.Resampling.BILINEAR)
        out = os.path.normpath(os.path.join(os.fspath(out_dir), f"{prefix}{index}.png"))
        if os.path.exists(out) and os.path.samefile(out, path):
            raise ValueError(f"{out}: is the data file itself; choose another --prefix or --out-dir")
        with atomic_path(out) as tmp:
            picture.save(tmp, format="PNG")
        written.append((out, classes[label] if label in (0, 1) else str(label)))
    return written


# --------------------------------------------------------------------------- pictures -> X


def _preprocessing(model):
    prep = dict(model.preprocessing or {})
    return float(prep.get("scale", 255.0)), bool(prep.get("invert", False))


def _model_image_shape(model, what):
    if model.image_shape is None:
        raise DataError(f"this model was not trained on images (it has no image shape), so it cannot take {what}")
    return tuple(int(s) for s in model.image_shape)


def data_to_X(x_orig, model, path="data"):
    """Stored examples (m, h, w, c) in the training data's units -> the model's X, as in training.

    Parameters
    ----------
    x_orig : ndarray of shape (m, ...), or a dask array
        As read by :func:`xlogreg.io.load_h5` (uint8 for the course data),
        or opened by :func:`xlogreg.io.lazy.open_lazy_images`.
    model : xlogreg.Model
    path : str
        Named in error messages.

    Returns
    -------
    X : array of shape (n_x, m), float64: ``x_orig`` flattened and divided by the model's scale
        (lazy, :func:`xlogreg.io.lazy.flatten_lazy`, for a dask array).

    Raises
    ------
    xlogreg.DataError
        When the examples do not have the shape the model was trained on.
    """
    lazy = is_dask_array(x_orig)
    x_orig = x_orig if lazy else np.asarray(x_orig)
    scale, _ = _preprocessing(model)
    shape = tuple(x_orig.shape[1:])
    if model.image_shape is not None:
        expected = tuple(int(s) for s in model.image_shape)
        if shape != expected and not (shape + (1,) == expected):
            raise DataError(f"{path}: images of shape {shape}, but the model takes images of shape {expected}")
    elif math.prod(shape) != model.n_features:
        raise DataError(f"{path}: examples of shape {shape} ({math.prod(shape)} features), "
                        f"but the model takes {model.n_features} features")
    if lazy:
        from .lazy import flatten_lazy

        return flatten_lazy(x_orig, scale, dtype="float64")
    return x_orig.reshape(x_orig.shape[0], -1).T.astype(np.float64) / scale


#: Pillow modes with no fixed white level: refused rather than guessed (see :func:`load_images`).
_UNSCALED_MODES = {"I": "32-bit integer", "F": "32-bit floating-point"}


def _convert(img, mode):
    """``img.convert(mode)``, through RGB (or LA) for the pairs Pillow does not convert directly (LAB, La)."""
    try:
        return img.convert(mode)
    except ValueError:
        return img.convert("LA" if img.mode == "La" else "RGB").convert(mode)


def _pixels(img, h, w, c, path):
    """One image as floats of shape (h, w, c) on the 0..255 scale of 8-bit pixels, resized bilinearly."""
    from PIL import Image

    if img.mode in _UNSCALED_MODES:
        raise DataError(
            f"{path}: a {_UNSCALED_MODES[img.mode]} image (Pillow mode {img.mode!r}) has no fixed white level, "
            "so it cannot be scaled like the training pixels; save it as an 8-bit or 16-bit image "
            "(PNG, JPEG) first"
        )
    if img.mode.startswith("I;16"):
        # 16-bit grey: 0..65535 onto 0..255 (65535 is white), resized as floats, not clipped to 8 bits.
        grey = np.asarray(img, dtype=np.float64) * (255.0 / 65535.0)
        if img.size != (w, h):
            grey = np.asarray(Image.fromarray(grey.astype(np.float32)).resize((w, h), Image.Resampling.BILINEAR),
                              dtype=np.float64)
        return np.repeat(grey.reshape(h, w, 1), c, axis=2)
    img = _convert(img, "RGB" if c == 3 else "L")
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float64).reshape(h, w, c)


def load_images(paths, model):
    """Read image files (any format Pillow reads) as the model's X, preprocessed as in training.

    Each image is turned upright (EXIF orientation), converted to RGB (or to
    grey levels for a 1-channel model), resized to the model's image size
    (bilinear, as the course's ``imresize``) and scaled as in training:
    pixels / 255, or (255 - pixels) / 255 for data that stores ink as high
    values (``preprocessing["invert"]``, the embedded digits).

    Pillow modes: 8-bit ones (``1``, ``L``, ``P``, ``RGB``, ``CMYK``,
    ``YCbCr``, ``LAB``, ``HSV``, and with alpha ``LA``, ``La``, ``PA``,
    ``RGBA``, ``RGBa``) are converted by Pillow; alpha is dropped (the colour
    under a transparent pixel is used as it is). 16-bit grey (``I;16``,
    ``I;16B``, ...) is scaled from 0..65535, not clipped. 32-bit integer
    (``I``) and floating-point (``F``) images have no fixed white level and
    are refused with a DataError.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
    model : xlogreg.Model
        With ``image_shape`` (h, w, c), c being 1 or 3.

    Returns
    -------
    X : ndarray of shape (h*w*c, len(paths)), float64

    Raises
    ------
    xlogreg.DataError
        A file is missing or not an image, or the model does not take images.
    """
    from PIL import Image, ImageOps

    h, w, c = _model_image_shape(model, "image files")
    if c not in (1, 3):
        raise DataError(f"the model takes images with {c} channels; image files can be read as 1 (grey) or 3 (RGB)")
    _, invert = _preprocessing(model)
    columns = []
    for path in paths:
        path = check_file(path, "an image file")
        try:
            with Image.open(path) as img:
                pixels = _pixels(ImageOps.exif_transpose(img), h, w, c, path)
        except DataError:
            raise
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            # PIL.UnidentifiedImageError is an OSError; damaged files raise any of these.
            raise DataError(f"{path}: cannot be read as an image: {exc}") from None
        if invert:
            pixels = 255.0 - pixels
        columns.append(pixels.reshape(-1) / 255.0)
    if not columns:
        raise DataError("no image files given")
    return np.stack(columns, axis=1)
