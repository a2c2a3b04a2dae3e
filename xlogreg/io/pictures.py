"""Pictures out of a data file: chosen examples of a course-format HDF5 file, written as PNGs.

So that ``xlogreg predict MODEL picture.png`` can be tried without hunting for pictures::

    xlogreg pictures ../shared/datasets/test_catvnoncat.h5 1 6     # writes test1.png, test6.png

Only the chosen examples are read from the file (never the whole data set). Each PNG is
written atomically (:func:`xlogreg.model_io.atomic_path`); an output path that is the data
file itself is refused, so an input is never overwritten.
"""

from __future__ import annotations

import os
import re

import numpy as np

from .datasets import DataError, decode_classes, find_keys, open_h5

__all__ = ["write_pictures"]


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
    >>> from xlogreg.pictures import write_pictures
    >>> write_pictures("../shared/datasets/test_catvnoncat.h5", [1, 6])  # doctest: +SKIP
    [('./test1.png', 'cat'), ('./test6.png', 'cat')]
    """
    from PIL import Image

    from .model_io import atomic_path

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
