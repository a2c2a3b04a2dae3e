"""Loading data: course-format HDF5 files and the embedded digits default.

NumPy and h5py live here, at the edge; what comes out is handed to the
Array API code. Every file fault becomes a :class:`DataError` that names the
file and the problem.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import re
import stat

import numpy as np
from array_api_compat import array_namespace

from . import _backends
from . import _validation as v

__all__ = ["DataError", "load_dataset", "load_h5", "flatten_images", "load_digits", "find_keys",
           "open_lazy", "open_lazy_images", "flatten_lazy"]


class DataError(ValueError):
    """A data file is missing, unreadable, or not in the expected format."""


#: Where cgroup file systems are mounted (a module constant so tests can point it elsewhere).
CGROUP_ROOT = "/sys/fs/cgroup"


def _proc_status_bytes(field):
    """A ``kB`` field of /proc/self/status (VmSize, VmData) in bytes, or 0 where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _read_int(path):
    """The integer in a cgroup file, None for "max", a missing file or anything else."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read(64).strip()
        return int(text)
    except (OSError, ValueError):
        return None


def _cgroup_limits(root):
    """(headroom, description) of every cgroup memory limit that applies to this process.

    cgroup v2 (``memory.max`` minus ``memory.current``, in this process's group
    and every ancestor) and v1 (``memory.limit_in_bytes`` minus
    ``memory.usage_in_bytes``); the group is read from /proc/self/cgroup, and
    the mount's top directory is tried as well, since a container sees its own
    group there.
    """
    groups = {"v2": "/", "v1": "/"}
    try:
        with open("/proc/self/cgroup", encoding="utf-8", errors="replace") as f:
            for line in f:
                hierarchy, controllers, group = line.rstrip("\n").split(":", 2)
                if hierarchy == "0" and controllers == "":
                    groups["v2"] = group
                elif "memory" in controllers.split(","):
                    groups["v1"] = group
    except (OSError, ValueError):
        pass
    found = []
    for version, base, limit_name, usage_name in (
            ("v2", root, "memory.max", "memory.current"),
            ("v1", os.path.join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes")):
        parts = [p for p in groups[version].split("/") if p and p not in (".", "..")]
        directories = {os.path.join(base, *parts[:i]) for i in range(len(parts) + 1)}
        for directory in sorted(directories):
            limit = _read_int(os.path.join(directory, limit_name))
            if limit is None or limit >= 2**60:  # "max", or v1's "no limit" (about 2**63)
                continue
            usage = _read_int(os.path.join(directory, usage_name)) or 0
            found.append((max(0, limit - usage), f"left under the cgroup memory limit of {limit / 2**30:.1f} GiB "
                                                 f"({os.path.join(directory, limit_name)})"))
    return found


def _memory_limit():
    """(bytes this process may still allocate, a description of the tightest limit).

    The smallest of: physical memory; what is left under the soft
    ``RLIMIT_AS`` (``ulimit -v``, against the address space in use) and
    ``RLIMIT_DATA`` (``ulimit -d``, against the data segment in use); what is
    left under a cgroup's memory limit (containers, ``systemd-run -p
    MemoryMax=``). A declared dataset larger than this is refused before any
    allocation, instead of ending in a ``MemoryError`` or the OOM killer.
    """
    limits = []
    try:
        limits.append((os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "of memory here"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        limits.append((2**40, "assumed as memory here"))
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        resource = None
    if resource is not None:
        for name, field, option in (("RLIMIT_AS", "VmSize", "ulimit -v"), ("RLIMIT_DATA", "VmData", "ulimit -d")):
            try:
                soft, _ = resource.getrlimit(getattr(resource, name))
            except (AttributeError, ValueError, OSError):  # pragma: no cover - platforms without it
                continue
            if soft == resource.RLIM_INFINITY or soft < 0:
                continue
            left = max(0, soft - _proc_status_bytes(field))
            limits.append((left, f"left under this process's {name} limit of {soft / 2**30:.1f} GiB ({option})"))
    limits.extend(_cgroup_limits(CGROUP_ROOT))
    return min(limits, key=lambda item: item[0])


def _memory_bytes():
    """Bytes this process may still allocate (see :func:`_memory_limit`)."""
    return _memory_limit()[0]


def _file_kind(mode):
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_file(path, what):
    """The path as a str, if it names an existing regular file; else a DataError saying why.

    Named pipes, devices and sockets are refused without being opened: opening
    a pipe with no writer would block forever, and a device can hand out
    endless or changing bytes. A symbolic link to a regular file is fine.
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(f"{path}: is a directory, expected {what}")
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: is {_file_kind(info.st_mode)}, expected {what} in a regular file "
                        "(xlogreg reads only regular files; copy the data into one)")
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

    Keys given explicitly are checked to exist (through links that stay in
    the file, see :func:`get_dataset`); missing ones are looked up by pattern among the
    names at the top of the file. Returns ``(x_key, y_key, classes_key or None)``.
    """
    keys = sorted(f.keys())
    path = f.filename

    def pick(given, pattern, what, required=True):
        if given is not None:
            _resolve(f, given, what)  # exists, through links that stay in this file
            return given
        found = [k for k in keys if re.fullmatch(pattern, k, re.IGNORECASE)]  # X / y too
        if len(found) == 1:
            return found[0]
        if not required and not found:
            return None
        option = {"the images": "x", "the labels": "y", "the class names": "classes"}[what]
        raise DataError(
            f"{path}: expected exactly one key matching {pattern!r} ({what}); found {found or 'none'} "
            f"among keys {keys}; name it explicitly: --{option}-key KEY on the command line, "
            f"{option}_key='KEY' in Python"
        )

    return (pick(x_key, r".*_set_x|x", "the images"), pick(y_key, r".*_set_y|y", "the labels"),
            pick(classes_key, r"list_classes|classes", "the class names", required=False))


#: Soft links followed at most while resolving one key (HDF5's own default limit).
MAX_SOFT_LINKS = 16


def _split(name):
    return [part for part in name.split("/") if part and part != "."]


def _resolve(f, key, what):
    """The path of `key` inside `f` through hard links only, checking every link on the way.

    The file is untrusted: each component of the key is looked at as a link
    (never followed blindly). Soft links are resolved here, by name, inside
    the file; external links are refused before HDF5 would open the file they
    name; a soft link to nothing is reported as a broken link.
    """
    import h5py

    path = f.filename
    if not isinstance(key, str):
        raise TypeError(f"the key of {what} must be a str; got {key!r}")
    pending, resolved, hops, via = _split(key), [], 0, None
    while pending:
        part = pending.pop(0)
        name = "/" + "/".join([*resolved, part])
        try:
            link = f.get(name, getlink=True)
        except (KeyError, ValueError, TypeError, RuntimeError, OSError):
            link = None
        if link is None:
            if via is not None:
                raise DataError(f"{path}: {key!r} ({what}) leads through the soft link to {via!r} to {name!r}, "
                                "which does not exist in the file (a broken link)")
            raise DataError(f"{path}: has no key {key!r} ({what}); its keys are {sorted(f.keys())}")
        if isinstance(link, h5py.ExternalLink):
            raise DataError(
                f"{path}: {key!r} ({what}) is an external link to {link.path!r} in the file "
                f"{link.filename!r}; xlogreg reads only the file it was given and never follows links "
                "to other files: copy the data into this file"
            )
        if isinstance(link, h5py.SoftLink):
            hops += 1
            if hops > MAX_SOFT_LINKS:
                raise DataError(f"{path}: {key!r} ({what}) goes through more than {MAX_SOFT_LINKS} soft links "
                                "(a loop?)")
            via = link.path
            if via.startswith("/"):
                resolved = []
            pending = _split(via) + pending
            continue
        if not isinstance(link, h5py.HardLink):  # pragma: no cover - user-defined link classes
            raise DataError(f"{path}: {key!r} ({what}) is a link of an unknown kind ({type(link).__name__})")
        resolved.append(part)
    return "/" + "/".join(resolved)


def get_dataset(f, key, what):
    """``f[key]`` as an h5py Dataset whose data lives in `f` itself, or a DataError naming file and key.

    Refused: external links and broken soft links (see :func:`_resolve`),
    groups, virtual datasets (their data comes from other files, or is a fill
    value when those are missing), datasets with external raw storage (their
    bytes come from any file on the machine) and null dataspaces
    (``h5py.Empty``). Nothing is read yet.
    """
    import h5py

    path = f.filename
    name = _resolve(f, key, what)
    try:
        ds = f[name]
    except (KeyError, ValueError, RuntimeError, OSError) as exc:
        raise DataError(f"{path}: {key!r} ({what}) cannot be opened (corrupt?): {exc}") from None
    if not isinstance(ds, h5py.Dataset):
        raise DataError(f"{path}: {key!r} is a group, expected a dataset of {what}")
    try:
        virtual, external = ds.is_virtual, ds.external
        sources = sorted({s.file_name for s in ds.virtual_sources()}) if virtual else []
    except (ValueError, RuntimeError, OSError) as exc:
        raise DataError(f"{path}: {key!r} ({what}) cannot be opened (corrupt?): {exc}") from None
    if virtual:
        raise DataError(
            f"{path}: {key!r} ({what}) is a virtual dataset mapping data from {sources}; xlogreg reads "
            "only data stored in the file it was given: copy the data into a plain dataset"
        )
    if external:
        files = sorted({os.fsdecode(entry[0]) for entry in external})
        raise DataError(
            f"{path}: {key!r} ({what}) keeps its bytes in the external raw file(s) {files}; xlogreg reads "
            "only data stored in the file it was given: copy the data into a plain dataset"
        )
    if ds.shape is None:
        raise DataError(f"{path}: {key!r} is empty (a null dataspace, h5py.Empty): it holds no {what}")
    return ds


def _check_numbers(ds, key, what):
    if ds.dtype.kind not in "uifb":
        raise DataError(f"{ds.file.filename}: {key!r} has dtype {ds.dtype}, expected numbers ({what})")


def _check_size(path, key, shape, itemsize, what="data"):
    """Refuse a declared size larger than what this process may allocate, before allocating it."""
    nbytes = math.prod(shape) * itemsize
    limit, where = _memory_limit()
    if nbytes > limit:
        raise DataError(
            f"{path}: {key!r} ({what}) declares shape {tuple(shape)} ({nbytes / 2**30:.1f} GiB), more than the "
            f"{limit / 2**30:.1f} GiB {where}; use backend='dask' (--backend dask) to train out of core"
        )


def _read_all(ds, key, what):
    path = ds.file.filename
    try:
        return ds[()]
    except MemoryError:
        raise DataError(f"{path}: {key!r} ({what}) of shape {ds.shape} does not fit in the memory left; "
                        "use backend='dask' (--backend dask) to train out of core") from None
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: {key!r} cannot be read (truncated or corrupt?): {exc}") from None


def _read(f, key, what, max_bytes=None):
    """A numeric dataset of `f` read whole, after every check of :func:`get_dataset` and the memory guard."""
    ds = get_dataset(f, key, what)
    _check_numbers(ds, key, what)
    _check_size(f.filename, key, ds.shape, ds.dtype.itemsize, what)
    return _read_all(ds, key, what)


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
