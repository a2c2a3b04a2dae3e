"""Loading data: course-format HDF5 files and the embedded digits default.

NumPy and h5py live here, at the edge; what comes out is handed to the
Array API code. Every file fault becomes a :class:`~xlogreg.DataError` that
names the file and the problem; how a file is opened and read safely is
:mod:`xlogreg.io.hdf5`, and opening one lazily on Dask :mod:`xlogreg.io.lazy`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _backends
from .. import _validation as v
from .hdf5 import DataError, _check_numbers, _check_size, _read_all, find_keys, get_dataset, open_h5
from .._namespace import array_namespace

__all__ = ["load_dataset", "load_h5", "flatten_images", "load_digits", "decode_classes", "check_scale"]


#: At most this many class names, of at most this many bytes in all.
MAX_CLASSES = 65536


MAX_CLASS_BYTES = 16 * 2**20


def check_file_labels(path, key, y, classes, classes_key=None):
    """The labels of a data file: whole numbers 0 .. K-1, K the number of class names (2 without them).

    With class names, the largest label must be the last name's (K names, labels up to K - 1): more
    names than the labels use means the names are not these labels' (a wrong --classes-key).
    """
    y = np.asarray(y)
    K = 2 if classes is None else max(2, len(classes))
    whole = y.dtype.kind in "iub" or (y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.floor(y)).all())
    if not (whole and (y >= 0).all() and (y < K).all()):
        names = "" if classes is None else f" (it names {len(classes)} classes)"
        allowed = "0 and 1" if K == 2 else f"0 .. {K - 1}"
        raise DataError(f"{path}: {key!r} must hold only the labels {allowed}{names}" +
                        ("; a file of more classes must name them in list_classes" if classes is None else ""))
    top = int(y.max()) if y.size else 0
    if classes is not None and K > max(2, top + 1):
        raise DataError(
            f"{path}: {classes_key or 'the class names'!r} names {len(classes)} classes but the labels "
            f"{key!r} hold {max(2, top + 1)} (0 .. {max(1, top)}); the names must be the labels' classes, one "
            "per label 0 .. K-1: check --classes-key (classes_key=) or the file's list_classes"
        )


def _read_classes(f, key):
    """The class names dataset (``list_classes``), checked like the images; None when `key` is None.

    Returns an ndarray of bytes (or of integers, for numeric class labels)."""
    import h5py

    if key is None:
        return None
    path, what = f.filename, "the class names"
    ds = get_dataset(f, key, what)
    dt = ds.dtype
    variable = h5py.check_string_dtype(dt) is not None and dt.kind == "O"
    if not (variable or dt.kind in "SUiu"):
        raise DataError(f"{path}: {key!r} has dtype {dt}, expected strings ({what})")
    if len(ds.shape) != 1 or not 1 <= ds.shape[0] <= MAX_CLASSES:
        raise DataError(f"{path}: {key!r} has shape {ds.shape}, expected (K,) with one name per class "
                        f"(1 <= K <= {MAX_CLASSES})")
    if not variable and ds.shape[0] * dt.itemsize > MAX_CLASS_BYTES:
        raise DataError(f"{path}: {key!r} declares {ds.shape[0] * dt.itemsize} bytes of class names, "
                        f"more than the {MAX_CLASS_BYTES} accepted")
    classes = np.asarray(_read_all(ds, key, what))
    if variable or dt.kind in "SU":
        names = classes.tolist()
        if sum(len(n) for n in names) > MAX_CLASS_BYTES:
            raise DataError(f"{path}: {key!r} holds more than {MAX_CLASS_BYTES} bytes of class names")
        for name in names:
            if isinstance(name, bytes):
                try:
                    name.decode("utf-8")
                except UnicodeDecodeError:
                    raise DataError(f"{path}: {key!r} holds a class name that is not UTF-8 text: {name[:40]!r}") \
                        from None
        if variable:
            classes = np.array([n if isinstance(n, bytes) else str(n).encode() for n in names])
    return classes


def _check_shapes(path, xk, yk, x_shape, y_shape):
    """Images (m, ...) with m >= 1 and at least one feature; labels (m,) or (1, m). From declared shapes only."""
    if len(x_shape) < 2:
        raise DataError(f"{path}: {xk!r} has shape {x_shape}, expected (m, ...) with one example per row")
    m = x_shape[0]
    if m == 0:
        raise DataError(f"{path}: {xk!r} holds 0 examples (shape {x_shape}); a data file needs at least one")
    if math.prod(x_shape[1:]) == 0:
        raise DataError(f"{path}: {xk!r} has shape {x_shape}: examples with 0 features")
    if math.prod(y_shape) != m or len(y_shape) > 2 or (len(y_shape) == 2 and 1 not in y_shape):
        raise DataError(f"{path}: {yk!r} has shape {y_shape}, expected ({m},) or (1, {m}) to match {xk!r}")
    return m


def load_h5(path, *, x_key=None, y_key=None, classes_key=None):
    """Read one course-format HDF5 file.

    The file is treated as untrusted: external links, virtual datasets and
    external raw storage are refused (nothing is read from a file that was
    not named), shapes are compared and sizes checked against the memory this
    process may use before anything is read.

    Returns
    -------
    x_orig : ndarray of shape (m, ...)
        The images, one per row, as stored (uint8 for the course data).
    y : ndarray of shape (1, m)
    classes : ndarray of bytes or None

    Raises
    ------
    DataError
        Naming the file, and the key where one is at fault.
    """
    with open_h5(path) as f:
        xk, yk, ck = find_keys(f, x_key, y_key, classes_key)
        x_ds, y_ds = get_dataset(f, xk, "the images"), get_dataset(f, yk, "the labels")
        _check_numbers(x_ds, xk, "the images")
        _check_numbers(y_ds, yk, "the labels")
        m = _check_shapes(path, xk, yk, x_ds.shape, y_ds.shape)
        _check_size(path, yk, y_ds.shape, y_ds.dtype.itemsize, "the labels")
        _check_size(path, xk, x_ds.shape, x_ds.dtype.itemsize, "the images")
        classes = _read_classes(f, ck)
        y = np.asarray(_read_all(y_ds, yk, "the labels"))
        check_file_labels(path, yk, y, classes, ck)
        x = np.asarray(_read_all(x_ds, xk, "the images"))
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

    Parameters
    ----------
    x_orig : array of shape (m, ...)
        Real pixel values (integer, boolean or real floating), one image per row.
    scale : real number > 0, finite
        A Python or NumPy scalar (``255``, ``np.float32(255)``); not a bool.
    dtype : {None, "float32", "float64"}

    Returns
    -------
    X : array of shape (n_x, m)

    Raises
    ------
    TypeError
        Complex pixels, or a `scale` that is not a real number (a bool, a string).
    ValueError
        `x_orig` not at least 2-D, or `scale` not finite and > 0.
    """
    x_orig = v.as_array(x_orig, "x_orig")
    if x_orig.ndim < 2:
        raise ValueError(f"x_orig must have shape (m, ...) with one image per row; got shape {tuple(x_orig.shape)}")
    scale = check_scale(scale)
    xp = array_namespace(x_orig)
    if xp.isdtype(x_orig.dtype, "complex floating"):
        raise TypeError(f"x_orig must hold real pixel values; got complex dtype {x_orig.dtype} "
                        "(take the real part or the magnitude first)")
    dev = v.get_device(x_orig)
    if dtype is None and _backends.float_dtype_name(x_orig) in ("float32", "float64"):
        dtype = x_orig.dtype  # (float16 and narrower: the device's default, as integers)
    dtype = _backends.floating_dtype(xp, dev, dtype)
    m = x_orig.shape[0]
    # An explicit feature count, so that 0 examples give X of shape (n_x, 0) rather than a reshape error.
    n_x = math.prod(x_orig.shape[1:]) if m == 0 else -1
    return xp.astype(xp.reshape(x_orig, (m, n_x)), dtype).T / scale


def check_scale(scale, name="scale"):
    """`scale` as a Python float, if it is a real number > 0 and finite (NumPy scalars included)."""
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, numbers.Real):
        raise TypeError(f"{name} must be a real number > 0, such as 255.0; got {scale!r} "
                        f"of type {type(scale).__name__}")
    value = float(scale)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, such as 255.0; got {scale!r}")
    return value


def decode_classes(classes):
    """Class names as str: bytes are decoded, None gives ``['0', '1']``."""
    if classes is None:
        return ["0", "1"]
    return [c.decode() if isinstance(c, bytes) else str(c) for c in np.asarray(classes).tolist()]


def load_digits(digit=0, *, test_fraction=0.25, seed=0):
    """The embedded default: scikit-learn's 8x8 handwritten digits as "is it a `digit`?", or all ten.

    The images ship inside scikit-learn, so this needs no network.

    Parameters
    ----------
    digit : int 0..9 or "all"
        The digit of the binary task, or ``"all"`` for the ten classes 0..9.

    Returns
    -------
    train_x_orig : ndarray (m_train, 8, 8, 1) of pixel values 0..16
    train_y : ndarray (1, m_train)
        0 / 1 (is it `digit`?), or the digit 0..9 with ``"all"``.
    test_x_orig, test_y : the same for the test split
    classes : list of str, ``["not DIGIT", "DIGIT"]``, or ``["0", ..., "9"]``
    """
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise DataError(
            'the embedded digits data set needs scikit-learn: pip install scikit-learn'
        ) from None
    if not (digit == "all" or (isinstance(digit, int) and not isinstance(digit, bool) and 0 <= digit <= 9)):
        raise ValueError(f"digit must be an integer 0..9 or 'all'; got {digit!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1; got {test_fraction!r}")
    data = sk_digits()
    images = data.images.astype(np.uint8)[..., None]  # values 0..16, (1797, 8, 8, 1)
    labels = data.target.astype(np.int64) if digit == "all" else (data.target == digit).astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    test, tr = order[:n_test], order[n_test:]
    classes = [str(d) for d in range(10)] if digit == "all" else [f"not {digit}", str(digit)]
    return images[tr], labels[tr][None, :], images[test], labels[test][None, :], classes
