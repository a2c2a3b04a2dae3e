"""Loading data: course-format HDF5 files and the embedded digits default.

NumPy and h5py live here, at the edge; what comes out is handed to the
Array API code. Every file fault becomes a :class:`DataError` that names the
file and the problem.
"""

from __future__ import annotations

import os
import re

import numpy as np
from array_api_compat import array_namespace

from . import _backends
from . import _validation as v

__all__ = ["DataError", "load_dataset", "load_h5", "flatten_images", "load_digits", "find_keys"]


class DataError(ValueError):
    """A data file is missing, unreadable, or not in the expected format."""


def _memory_bytes():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 2**40


def open_h5(path):
    """Open an HDF5 file for reading, turning every fault into a DataError."""
    import h5py

    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, expected an HDF5 file")
    try:
        if not h5py.is_hdf5(path):
            raise DataError(f"{path}: not an HDF5 file")
        return h5py.File(path, "r")
    except DataError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as HDF5 (truncated or corrupt?): {exc}") from None


def find_keys(f, x_key=None, y_key=None, classes_key=None):
    """Find the data keys of a course-format file: ``*_set_x``, ``*_set_y``, ``list_classes``.

    Keys given explicitly are checked; missing ones are looked up by pattern.
    Returns ``(x_key, y_key, classes_key or None)``.
    """
    keys = sorted(f.keys())
    path = f.filename

    def pick(given, pattern, what, required=True):
        if given is not None:
            if given not in f:
                raise DataError(f"{path}: has no key {given!r} ({what}); its keys are {keys}")
            return given
        found = [k for k in keys if re.fullmatch(pattern, k)]
        if len(found) == 1:
            return found[0]
        if not required and not found:
            return None
        raise DataError(
            f"{path}: expected exactly one key matching {pattern!r} ({what}); found {found or 'none'} "
            f"among keys {keys}; name it explicitly"
        )

    return (pick(x_key, r".*_set_x|x", "the images"), pick(y_key, r".*_set_y|y", "the labels"),
            pick(classes_key, r"list_classes|classes", "the class names", required=False))


def _read(f, key, what, max_bytes):
    import h5py

    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise DataError(f"{f.filename}: {key!r} is a group, expected a dataset of {what}")
    if ds.dtype.kind not in "uifb":
        raise DataError(f"{f.filename}: {key!r} has dtype {ds.dtype}, expected numbers ({what})")
    nbytes = int(np.prod(ds.shape, dtype=np.float64) * ds.dtype.itemsize)
    if nbytes > max_bytes:
        raise DataError(
            f"{f.filename}: {key!r} declares shape {ds.shape} ({nbytes / 2**30:.1f} GiB), more than "
            f"the {max_bytes / 2**30:.1f} GiB of memory here; use backend='dask' to train out of core"
        )
    try:
        return ds[()]
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{f.filename}: {key!r} cannot be read (truncated or corrupt?): {exc}") from None


def load_h5(path, *, x_key=None, y_key=None, classes_key=None):
    """Read one course-format HDF5 file.

    Returns
    -------
    x_orig : ndarray of shape (m, ...)
        The images, one per row, as stored (uint8 for the course data).
    y : ndarray of shape (1, m)
    classes : ndarray of bytes or None
    """
    with open_h5(path) as f:
        xk, yk, ck = find_keys(f, x_key, y_key, classes_key)
        limit = _memory_bytes()
        x = _read(f, xk, "the images", limit)
        y = _read(f, yk, "the labels", limit)
        classes = np.asarray(f[ck][()]) if ck is not None else None
    if x.ndim < 2:
        raise DataError(f"{path}: {xk!r} has shape {x.shape}, expected (m, ...) with one example per row")
    m = x.shape[0]
    if y.size != m or (y.ndim == 2 and 1 not in y.shape) or y.ndim > 2:
        raise DataError(f"{path}: {yk!r} has shape {y.shape}, expected ({m},) or (1, {m}) to match {xk!r}")
    if not np.isin(y, (0, 1)).all():
        raise DataError(f"{path}: {yk!r} must hold only the labels 0 and 1")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{path}: {xk!r} contains NaN or infinity")
    return x, y.reshape(1, m), classes


def load_dataset(train_path, test_path):
    """The course's ``load_dataset()``, reading the two course files.

    Returns
    -------
    train_set_x_orig : ndarray (m_train, 64, 64, 3)
    train_set_y : ndarray (1, m_train)
    test_set_x_orig : ndarray (m_test, 64, 64, 3)
    test_set_y : ndarray (1, m_test)
    classes : ndarray of bytes, e.g. [b'non-cat', b'cat']
    """
    train_x, train_y, classes = load_h5(train_path)
    test_x, test_y, test_classes = load_h5(test_path)
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(
            f"{test_path}: images of shape {test_x.shape[1:]} do not match the training images {train_x.shape[1:]}"
        )
    return train_x, train_y, test_x, test_y, classes if classes is not None else test_classes


def flatten_images(x_orig, scale=255.0, *, dtype=None):
    """Flatten images (m, h, w, c) to X of shape (h*w*c, m) and divide by `scale`.

    As the course: ``x_orig.reshape(m, -1).T / 255``. Works on any Array API
    array; integer pixels become `dtype` (default: the device's floating
    dtype) before scaling.
    """
    x_orig = v.as_array(x_orig, "x_orig")
    if x_orig.ndim < 2:
        raise ValueError(f"x_orig must have shape (m, ...) with one image per row; got shape {tuple(x_orig.shape)}")
    if not (isinstance(scale, (int, float)) and scale > 0):
        raise ValueError(f"scale must be a number > 0; got {scale!r}")
    xp = array_namespace(x_orig)
    dev = v.get_device(x_orig)
    if dtype is None and xp.isdtype(x_orig.dtype, "real floating"):
        dtype = x_orig.dtype
    dtype = _backends.floating_dtype(xp, dev, dtype)
    m = x_orig.shape[0]
    return xp.astype(xp.reshape(x_orig, (m, -1)), dtype).T / scale


def decode_classes(classes):
    """Class names as str: bytes are decoded, None gives ``['0', '1']``."""
    if classes is None:
        return ["0", "1"]
    return [c.decode() if isinstance(c, bytes) else str(c) for c in np.asarray(classes).tolist()]


def load_digits(digit=0, *, test_fraction=0.25, seed=0):
    """The embedded default: scikit-learn's 8x8 handwritten digits as "is it a `digit`?".

    The images ship inside scikit-learn, so this needs no network.

    Returns
    -------
    train_x_orig : ndarray (m_train, 8, 8, 1) of pixel values 0..16
    train_y : ndarray (1, m_train)
    test_x_orig, test_y : the same for the test split
    classes : list of str, ``["not DIGIT", "DIGIT"]``
    """
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise DataError(
            'the embedded digits data set needs scikit-learn: pip install "xlogreg[cli]"'
        ) from None
    if not (isinstance(digit, int) and 0 <= digit <= 9):
        raise ValueError(f"digit must be an integer 0..9; got {digit!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1; got {test_fraction!r}")
    data = sk_digits()
    images = data.images.astype(np.uint8)[..., None]  # values 0..16, (1797, 8, 8, 1)
    labels = (data.target == digit).astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    test, tr = order[:n_test], order[n_test:]
    return (images[tr], labels[tr][None, :], images[test], labels[test][None, :],
            [f"not {digit}", str(digit)])
