"""Loading data: course-format HDF5 files and the embedded digits default.

NumPy and h5py live here, at the edge; what comes out is handed to the
Array API code. Every file fault becomes a :class:`DataError` that names the
file and the problem.
"""

from __future__ import annotations

import functools
import math
import os
import re

import numpy as np
from array_api_compat import array_namespace

from . import _backends
from . import _validation as v

__all__ = ["DataError", "load_dataset", "load_h5", "flatten_images", "load_digits", "find_keys",
           "open_lazy", "open_lazy_images", "flatten_lazy"]


class DataError(ValueError):
    """A data file is missing, unreadable, or not in the expected format."""


def _memory_bytes():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 2**40


def check_file(path, what):
    """The path as a str, if it names an existing file; else a DataError saying why."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, expected {what}")
    return path


def open_h5(path):
    """Open an HDF5 file for reading, turning every fault into a DataError."""
    import h5py

    path = check_file(path, "an HDF5 file")
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
    if dtype is None and _backends.float_dtype_name(x_orig) in ("float32", "float64"):
        dtype = x_orig.dtype  # (float16 and narrower: the device's default, as integers)
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


# --- Out of core: course-format HDF5 files as lazy, chunked Dask arrays ------------------------


class H5Slicer:
    """A picklable stand-in for one HDF5 dataset that reads slices by opening the file by path.

    h5py objects cannot be pickled, so they cannot travel to Dask workers in
    other processes or on other machines. This object holds only the path,
    the key, the shape and the dtype; the first read in a process opens the
    file by path (once per process: opening costs milliseconds, a chunk's read
    about as much), later reads reuse it. Every worker therefore needs the file
    at the same path (a shared file system). A file changed since it was
    opened is refused, never read as if it were the same data.

    Parameters
    ----------
    path : str
    key : str
        Dataset name inside the file.
    shape : tuple of int
    dtype : numpy dtype
    """

    def __init__(self, path, key, shape, dtype):
        self.path = os.fspath(path)
        self.key = key
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        stat = os.stat(self.path)
        # The file's identity, so Dask task names change when the file does.
        self._stamp = (stat.st_size, stat.st_mtime_ns)

    @property
    def ndim(self):
        return len(self.shape)

    def __getitem__(self, index):
        try:
            now = os.stat(self.path)  # a few microseconds per chunk, against reading stale data
            if (now.st_size, now.st_mtime_ns) != self._stamp:
                raise DataError(f"{self.path}: the file changed after it was opened for training; open it again")
            return _open_file(self.path, self._stamp, os.getpid())[self.key][index]
        except DataError:
            raise
        except FileNotFoundError:
            raise DataError(
                f"{self.path}: no such file on host {_hostname()} (out-of-core data is read by path: "
                "every Dask worker needs the file at the same path, e.g. on a shared file system)"
            ) from None
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise DataError(f"{self.path}: {self.key!r} cannot be read on host {_hostname()}: {exc}") from None

    def __dask_tokenize__(self):
        return (type(self).__name__, self.path, self.key, self.shape, str(self.dtype), self._stamp)

    def __repr__(self):
        return f"H5Slicer({self.path!r}, {self.key!r}, shape={self.shape}, dtype={self.dtype})"


@functools.lru_cache(maxsize=8)
def _open_file(path, stamp, pid):
    """The h5py file at `path` as of `stamp`, opened once per process (`pid`: not across a fork)."""
    import h5py

    return h5py.File(path, "r")


def _hostname():
    import socket

    return socket.gethostname()


def chunk_bytes_default():
    """Target bytes of one chunk of out-of-core data: Dask's ``array.chunk-size`` setting.

    128 MiB unless changed, for example with the environment variable
    ``DASK_ARRAY__CHUNK_SIZE=32MiB``. Training holds a few chunks per thread.
    """
    import dask
    from dask.utils import parse_bytes

    return parse_bytes(dask.config.get("array.chunk-size"))


def examples_per_chunk(n_x, chunk_bytes=None, itemsize=8):
    """Examples per Dask chunk so that one chunk of X (n_x, k) in floats is about `chunk_bytes`."""
    if chunk_bytes is None:
        chunk_bytes = chunk_bytes_default()
    return max(1, int(chunk_bytes) // max(1, n_x * itemsize))


def _scale_block(block, scale, out_dtype):
    # One pass and one allocation: integers are cast inside the ufunc loop. Bit for bit
    # the same values as flatten_images' astype-then-divide, at about 3/4 of its cost.
    return np.divide(block, scale, dtype=out_dtype)


def open_lazy_images(path, *, x_key=None, y_key=None, classes_key=None, chunk_bytes=None, chunk_examples=None):
    """Open a course-format HDF5 file as lazy Dask arrays, reading no images.

    The lazy counterpart of :func:`load_h5`: same keys, same shapes, same
    checks. Each Dask task reads one chunk of examples, opening the file by
    path (:class:`H5Slicer`), so it also works on ``dask.distributed`` workers
    that see the same path. :func:`flatten_lazy` (or :func:`flatten_images`)
    on the images stays lazy.

    Parameters
    ----------
    path : str or path
    x_key, y_key, classes_key : str, optional
        Keys of the images, labels and class names (found by pattern when not
        given, as :func:`load_h5`).
    chunk_bytes : int, optional
        Target size in bytes of one chunk once flattened to float64 (default:
        :func:`chunk_bytes_default`, 128 MiB: 1365 examples of 64 x 64 x 3,
        16 MiB of pixels on disk).
    chunk_examples : int, optional
        Examples per chunk; overrides `chunk_bytes`.

    Returns
    -------
    x_orig : dask array of shape (m, ...), chunked along m only
        The images as stored (uint8 for course data).
    y : dask array of shape (1, m), chunked like x_orig
        The labels as stored, checked here to be 0 / 1 (one read of the
        label column, a few bytes per example).
    classes : ndarray of bytes or None

    Raises
    ------
    DataError
        When the file or its keys are missing or malformed.
    BackendError
        When Dask is not installed.
    """
    da = _backends._import("dask")
    path = os.path.abspath(os.fspath(path))
    with open_h5(path) as f:
        import h5py

        xk, yk, ck = find_keys(f, x_key, y_key, classes_key)
        for key, what in ((xk, "the images"), (yk, "the labels")):
            if not isinstance(f[key], h5py.Dataset):
                raise DataError(f"{path}: {key!r} is a group, expected a dataset of {what}")
            if f[key].dtype.kind not in "uifb":
                raise DataError(f"{path}: {key!r} has dtype {f[key].dtype}, expected numbers ({what})")
        x_shape, x_dtype = f[xk].shape, f[xk].dtype
        y_shape, y_dtype = f[yk].shape, f[yk].dtype
        classes = np.asarray(f[ck][()]) if ck is not None else None
        if len(x_shape) < 2:
            raise DataError(f"{path}: {xk!r} has shape {x_shape}, expected (m, ...) with one example per row")
        m = x_shape[0]
        if math.prod(y_shape) != m or len(y_shape) > 2 or (len(y_shape) == 2 and 1 not in y_shape):
            raise DataError(f"{path}: {yk!r} has shape {y_shape}, expected ({m},) or (1, {m}) to match {xk!r}")
        if not np.isin(_read(f, yk, "the labels", _memory_bytes()), (0, 1)).all():
            raise DataError(f"{path}: {yk!r} must hold only the labels 0 and 1")
    if chunk_examples is None:
        chunk_examples = examples_per_chunk(math.prod(x_shape[1:]), chunk_bytes)
    k = int(min(m, v.check_positive_int(chunk_examples, "chunk_examples")))
    # meta: Dask would otherwise read an empty slice here to learn the chunk type.
    x_orig = da.from_array(H5Slicer(path, xk, x_shape, x_dtype), chunks=(k, *x_shape[1:]), lock=False,
                           asarray=True, inline_array=True, meta=np.empty((0,) * len(x_shape), x_dtype))
    # The labels are read lazily too, so no data is embedded in the graphs sent to a cluster.
    labels = da.from_array(H5Slicer(path, yk, y_shape, y_dtype), chunks=-1 if len(y_shape) == 2 else k,
                           lock=False, asarray=True, inline_array=True,
                           meta=np.empty((0,) * len(y_shape), y_dtype))
    y = da.reshape(labels, (1, m)).rechunk((1, x_orig.chunks[0]))
    return x_orig, y, classes


def flatten_lazy(x_orig, scale=255.0, *, dtype="float64"):
    """:func:`flatten_images` for a Dask array of images, in one pass per chunk.

    The same values as ``flatten_images(x_orig, scale, dtype=dtype)``: X of
    shape (h*w*c, m) holding ``pixels / scale``, chunked along the examples
    as `x_orig` is. Each chunk is cast and scaled in one pass when it is
    computed.

    Parameters
    ----------
    x_orig : dask array of shape (m, ...), chunked along m only
    scale : float > 0
    dtype : {"float64", "float32"}

    Returns
    -------
    X : dask array of shape (n_x, m)
    """
    if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0):
        raise ValueError(f"scale must be a number > 0; got {scale!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    if x_orig.ndim < 2:
        raise ValueError(f"x_orig must have shape (m, ...) with one image per row; got shape {tuple(x_orig.shape)}")
    m = x_orig.shape[0]
    # (m, h, w, c) -> (m, n_x) keeps the chunks when the trailing axes are whole; .T is free.
    flat = x_orig.rechunk({i: -1 for i in range(1, x_orig.ndim)}).reshape((m, math.prod(x_orig.shape[1:]))).T
    return flat.map_blocks(_scale_block, float(scale), np.dtype(dtype), dtype=np.dtype(dtype))


def open_lazy(path, *, scale=255.0, dtype="float64", x_key=None, y_key=None, classes_key=None,
              chunk_bytes=None, chunk_examples=None):
    """Open a course-format HDF5 file as lazy Dask arrays X (n_x, m) and Y (1, m), ready to train.

    The out-of-core counterpart of ``flatten_images(load_h5(path)[0], scale)``:
    the same values, but nothing is read until Dask computes. X is chunked
    along the examples only (each chunk holds every feature of its examples);
    each Dask task reads one chunk of images, flattens it and divides it by
    `scale`. Training on it streams the file once per iteration with memory
    bounded by a few chunks, whatever the file's size.

    Parameters
    ----------
    path : str or path
    scale : float > 0
        X is ``pixels / scale`` (255 for the course's 8-bit images).
    dtype : {"float64", "float32"}
        Floating dtype of X.
    x_key, y_key, classes_key : str, optional
        As :func:`open_lazy_images`.
    chunk_bytes : int, optional
        Target size in bytes of one chunk of X in `dtype` (default:
        :func:`chunk_bytes_default`, 128 MiB).
    chunk_examples : int, optional
        Examples per chunk; overrides `chunk_bytes`.

    Returns
    -------
    X : dask array of shape (n_x, m) and dtype `dtype`, chunks (n_x, chunk_examples)
    Y : dask array of shape (1, m), chunked like X (the labels as stored)
    classes : ndarray of bytes or None

    Examples
    --------
    >>> import xlogreg
    >>> from xlogreg.datasets import open_lazy
    >>> X, Y, classes = open_lazy("train_catvnoncat.h5")  # doctest: +SKIP
    >>> X                                                 # nothing read yet  # doctest: +SKIP
    dask.array<_scale_block, shape=(12288, 209), dtype=float64, chunksize=(12288, 209), ...>
    >>> model = xlogreg.train(X, Y, backend="dask")       # doctest: +SKIP
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    if chunk_examples is None and chunk_bytes is None:
        chunk_bytes = chunk_bytes_default()
    if chunk_examples is None:  # chunk_bytes counts bytes of `dtype`; open_lazy_images counts float64
        chunk_bytes = int(chunk_bytes) * 8 // np.dtype(dtype).itemsize
    x_orig, y, classes = open_lazy_images(path, x_key=x_key, y_key=y_key, classes_key=classes_key,
                                          chunk_bytes=chunk_bytes, chunk_examples=chunk_examples)
    return flatten_lazy(x_orig, scale, dtype=dtype), y, classes
