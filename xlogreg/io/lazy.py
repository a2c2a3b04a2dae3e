"""Course-format HDF5 files opened lazily on Dask: data bigger than memory, read chunk by chunk.

:func:`open_lazy` returns a Dask X whose chunks are read from the file by the
tasks themselves (:class:`H5Slicer`, opened once per worker process), so the
whole file never sits in memory; :func:`xlogreg.train` then runs one task per
chunk per iteration (:mod:`xlogreg.data.dask`).
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np

from .. import _backends
from .. import _validation as v
from .datasets import _check_shapes, _read_classes, check_file_labels, check_scale
from .hdf5 import DataError, _check_numbers, _check_size, _read_all, _resolve, find_keys, get_dataset, open_h5

__all__ = ["open_lazy", "open_lazy_images", "flatten_lazy", "H5Slicer"]


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
        info = os.stat(self.path)
        # The file's identity, so Dask task names change when the file does.
        self._stamp = (info.st_size, info.st_mtime_ns)

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
        xk, yk, ck = find_keys(f, x_key, y_key, classes_key)
        x_ds, y_ds = get_dataset(f, xk, "the images"), get_dataset(f, yk, "the labels")
        _check_numbers(x_ds, xk, "the images")
        _check_numbers(y_ds, yk, "the labels")
        x_shape, x_dtype = x_ds.shape, x_ds.dtype
        y_shape, y_dtype = y_ds.shape, y_ds.dtype
        m = _check_shapes(path, xk, yk, x_shape, y_shape)
        _check_size(path, yk, y_shape, y_dtype.itemsize, "the labels")
        classes = _read_classes(f, ck)
        check_file_labels(path, yk, _read_all(y_ds, yk, "the labels"), classes, ck)
        # The workers read these keys by name: read them through the links checked here.
        xk, yk = _resolve(f, xk, "the images"), _resolve(f, yk, "the labels")
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
    scale = check_scale(scale)
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
    >>> from xlogreg.io import open_lazy
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
