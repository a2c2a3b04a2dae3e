"""Model files: a trained :class:`~xlogreg.Model` as a small, self-describing HDF5 file.

Layout (format ``xlogreg-model``, version 2)::

    /w                 dataset (n_x, 1), float32 or float64: the weights
    /costs             dataset (k,), float64: the recorded costs
    /cost_iterations   dataset (k,), int64: the iterations they were recorded at
    attributes of /:
      format           "xlogreg-model"
      format_version   1
      xlogreg_version  the library version that wrote the file
      b                float64: the bias
      classes          JSON: ["non-cat", "cat"] or null
      image_shape      JSON: [height, width, channels] or null
      preprocessing    JSON: {"scale": 255.0} (X = stored pixels / scale), and
                       "invert": true where the data stores dark as high (see
                       :func:`load_images`)
      training         JSON: learning_rate, num_iterations, iterations, interrupted,
                       backend, device, dtype, solver, train_accuracy, test_accuracy,
                       l2, l1 (the penalties' strengths; l1 absent in older files:
                       read as 0), tol, converged, final_cost
      checksum         "sha256:<64 hex digits>" over everything else (see :func:`checksum`)

Everything but the arrays is a string holding JSON: loading a model parses
numbers and strings and never executes anything from the file (no pickle).
Writing is atomic: the file is written under a temporary name in the target
directory, flushed to disk and renamed over the target, so a crash or Ctrl-C
leaves either the previous file or the complete new one.

**Integrity.** Version 2 adds the ``checksum`` attribute: SHA-256 over every
attribute (but itself) and every dataset of the file, generically (names,
types, shapes and bytes, in sorted order), so fields added later are covered
without changes here. It is written at save and verified at load; a mismatch
is a :class:`~xlogreg.DataError` naming the file. It detects damage (a flipped
bit, a truncated copy, a hand edit); it is not a signature: whoever can write
the file can recompute it. Version 1 files (written before the checksum) are
still loaded, without a warning and without that check: they were written by
this library, and refusing them would strand every saved model, while an
attacker could as easily recompute a checksum as delete one. Everything else
is checked in every version (shapes, types, finite values, bounded JSON).

**Untrusted files.** A model file may hold only plain datasets and groups:
external and soft links, virtual datasets and external raw storage are
refused (nothing is read from a file that was not named), as are declared
sizes beyond the memory this process may use.

NumPy and h5py live here, at the edge, like in :mod:`xlogreg.io.datasets`. The\n:class:`~xlogreg.Model` itself, and :func:`xlogreg.load_model` which builds one from\n:func:`read_model_file`'s fields, are in :mod:`xlogreg.training`: this module knows the\nfile, not the class.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re

import numpy as np

from .. import _backends
from .._version import __version__
from .atomic import atomic_path
from .hdf5 import DataError, _memory_limit, _read_all, get_dataset, open_h5

__all__ = ["save_model", "read_model_file", "checksum", "FORMAT", "FORMAT_VERSION"]

FORMAT = "xlogreg-model"


#: 1: the first layout; 2: the same plus the ``checksum`` attribute, required from version 2 on.
FORMAT_VERSION = 2


CHECKSUM_ATTR = "checksum"


#: Bounds on what a model file may hold, so that parsing it takes bounded time and memory.
MAX_OBJECTS = 1000


MAX_JSON_CHARS = 16 * 2**20


MAX_JSON_DEPTH = 32


MAX_INT_DIGITS = 20


#: The most classes a model file may declare (its w has n_x times this many numbers at most).
MAX_CLASSES = 100_000


_JSON_ATTRS = ("classes", "image_shape", "preprocessing", "training")


_TRAINING_KEYS = ("learning_rate", "num_iterations", "iterations", "interrupted", "backend", "device",
                  "dtype", "solver", "train_accuracy", "test_accuracy", "l2", "l1", "tol", "converged", "final_cost")


def _json(value, what):
    try:
        return json.dumps(value, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model.{what} must be JSON-serialisable without NaN or infinity; got {value!r} ({exc})") \
            from None


def _optional_float(value, what):
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"model.{what} must be a finite number or None; got {value!r}")
    return value


def _model_contents(model):
    """Check a Model and return (w as NumPy, attributes, costs, cost_iterations)."""
    w = np.asarray(_backends.to_numpy(model.w))
    K = int(model.n_classes)
    k = K if K > 2 else 1
    if K < 2 or w.ndim != 2 or w.shape[1] != k or w.shape[0] < 1:
        raise ValueError(f"model.w must have shape (n_x, {k}) for {K} classes; got shape {w.shape}")
    if w.dtype not in (np.float32, np.float64):
        raise ValueError(f"model.w must be float32 or float64; got dtype {w.dtype}")
    if not np.isfinite(w).all():
        raise ValueError("model.w must hold only finite values; it contains NaN or infinity")
    if K > 2:
        b = np.asarray(_backends.to_numpy(model.b), dtype=np.float64).reshape(-1)
        if b.shape != (K,) or not np.isfinite(b).all():
            raise ValueError(f"model.b must hold {K} finite numbers (shape ({K}, 1)); got {b!r}")
    else:
        b = float(model.b)
        if not math.isfinite(b):
            raise ValueError(f"model.b must be finite; got {b!r}")
    n_x = w.shape[0]
    classes = None if model.classes is None else [str(c) for c in model.classes]
    if classes is not None and len(classes) != K:
        raise ValueError(f"model.classes must name {K} classes (label 0 .. {K - 1}); got {classes!r}")
    image_shape = None if model.image_shape is None else [int(s) for s in model.image_shape]
    if image_shape is not None and (len(image_shape) != 3 or math.prod(image_shape) != n_x):
        raise ValueError(
            f"model.image_shape must be (height, width, channels) with height*width*channels = {n_x} "
            f"(the length of w); got {tuple(image_shape)}"
        )
    preprocessing = dict(model.preprocessing or {})
    _check_preprocessing(preprocessing, ValueError, "model.preprocessing")
    costs = np.asarray([float(c) for c in model.costs], dtype=np.float64)
    cost_iterations = np.asarray([int(i) for i in model.cost_iterations], dtype=np.int64)
    if costs.shape != cost_iterations.shape:
        raise ValueError(f"model.costs and model.cost_iterations must have the same length; "
                         f"got {costs.size} and {cost_iterations.size}")
    training = {
        "learning_rate": float(model.learning_rate),
        "num_iterations": int(model.num_iterations),
        "iterations": int(model.iterations),
        "interrupted": bool(model.interrupted),
        "backend": str(model.backend),
        "device": str(model.device),
        "dtype": str(model.dtype),
        "solver": str(model.solver),
        "train_accuracy": _optional_float(model.train_accuracy, "train_accuracy"),
        "test_accuracy": _optional_float(model.test_accuracy, "test_accuracy"),
        "l2": float(model.l2),
        "l1": float(getattr(model, "l1", 0.0)),
        "tol": _optional_float(model.tol, "tol"),
        "converged": None if model.converged is None else bool(model.converged),
        "final_cost": _optional_float(getattr(model, "final_cost", None), "final_cost"),
    }
    attrs = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xlogreg_version": __version__,
        "b": np.float64(b) if K == 2 else b,
        "n_classes": np.int64(K),
        "classes": _json(classes, "classes"),
        "image_shape": _json(image_shape, "image_shape"),
        "preprocessing": _json(preprocessing, "preprocessing"),
        "training": _json(training, "training"),
    }
    return w, attrs, costs, cost_iterations


def save_model(model, path):
    """Write `model` to the HDF5 file `path`, atomically.

    The weights are copied to the host (NumPy) first, whatever backend and
    device they are on. The file carries a SHA-256 checksum of its contents,
    verified by :func:`load_model`. A crash or Ctrl-C during the write leaves
    the previous file at `path` (if any) untouched; Ctrl-C and errors also
    remove the temporary file, while a process killed outright (SIGKILL, a
    power cut) leaves it beside `path` until the next save of `path` removes
    it (see :func:`atomic_path`). A symbolic link at `path` is written
    through; a device, pipe or directory there is refused.

    Parameters
    ----------
    model : xlogreg.Model
    path : str or os.PathLike
        Conventionally ending in ``.h5``. Its directory must exist.

    Raises
    ------
    ValueError
        When the model is inconsistent (w not (n_x, 1) or not finite,
        image_shape not matching w, ...); nothing is written.
    OSError
        When the file cannot be written (missing folder, permissions, disk
        full, `path` not a regular file); the message names `path`, never
        the temporary file, and says what to do. `path` is left as it was.

    Examples
    --------
    >>> import os, tempfile, xlogreg
    >>> model = xlogreg.train([[0.0, 1.0, 2.0, 3.0]], [0, 0, 1, 1], num_iterations=100, learning_rate=0.5)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.h5")
    >>> xlogreg.save_model(model, path)
    >>> xlogreg.load_model(path).iterations
    100
    """
    import h5py

    w, attrs, costs, cost_iterations = _model_contents(model)
    path = os.fspath(path)
    # The file is built in memory (a model is a few arrays of n_x numbers) and written with one
    # plain write: HDF5 never meets a failing disk. When it did, a full disk surfaced as a
    # RuntimeError from File.close and the library could crash at exit on the half-closed file.
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_dataset("w", data=w)
        f.create_dataset("costs", data=costs)
        f.create_dataset("cost_iterations", data=cost_iterations)
        for key, value in attrs.items():
            f.attrs[key] = value
        # Over what h5py reads back, the way load_model will read it.
        f.attrs[CHECKSUM_ATTR] = checksum(f)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as out:
            out.write(buffer.getbuffer())


def _feed(h, *parts):
    """Hash each part with its length first, so that no two sequences of parts hash alike."""
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)


def _canonical(value, where):
    """A value read from HDF5 (attribute or dataset) as (kind, dtype, shape, bytes), independent of byte order."""
    if isinstance(value, str):
        return ("str", "", "", value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bytes):
        return ("bytes", "", "", bytes(value))
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as exc:  # pragma: no cover - h5py hands out arrays and scalars
        raise DataError(f"{where} cannot be read: {exc}") from None
    if a.dtype.kind in "biufc":
        dt = a.dtype.newbyteorder("<")
        return ("array", dt.str, repr(a.shape), np.ascontiguousarray(a, dtype=dt).tobytes())
    if a.dtype.kind in "SUO":
        items = a.reshape(-1).tolist()
        if all(isinstance(x, (bytes, str)) for x in items):
            text = json.dumps([("b:" + x.hex()) if isinstance(x, bytes) else "s:" + x for x in items])
            return ("strings", a.dtype.kind, repr(a.shape), text.encode("utf-8", "surrogatepass"))
    raise DataError(f"{where} has a type xlogreg does not read ({a.dtype}); this is not an xlogreg model file")


def checksum(f):
    """The ``"sha256:..."`` checksum of an open model file: every attribute but itself, every dataset.

    Generic over the file's contents, in sorted order: for the file and each
    group and dataset (by path), its kind and name, then each attribute's
    name, type, shape and bytes (strings as UTF-8, numbers little-endian),
    and for a dataset its dtype, shape and raw bytes. Any field added to the
    format later is covered as it is. Each piece is hashed after its length,
    so different contents cannot produce the same stream of bytes.

    Parameters
    ----------
    f : h5py.File
        Open for reading (or being written: :func:`save_model` calls this
        before closing the file).

    Returns
    -------
    str
        ``"sha256:"`` followed by 64 hexadecimal digits.
    """
    import h5py

    h = hashlib.sha256()
    _feed(h, "xlogreg-model-checksum", 1)
    objects = [("", f)]
    f.visititems(lambda name, obj: objects.append((name, obj)) if len(objects) <= MAX_OBJECTS else True)
    if len(objects) > MAX_OBJECTS:
        raise DataError(f"{f.filename}: holds more than {MAX_OBJECTS} groups and datasets; "
                        "this is not an xlogreg model file")
    for name, obj in sorted(objects, key=lambda item: item[0]):
        is_dataset = isinstance(obj, h5py.Dataset)
        _feed(h, "dataset" if is_dataset else "group", name)
        for key in sorted(obj.attrs.keys()):
            if name == "" and key == CHECKSUM_ATTR:
                continue
            _feed(h, "attribute", key, *_canonical(obj.attrs[key], f"{f.filename}: attribute {key!r}"))
        if is_dataset:
            where = f"{f.filename}: dataset {name!r}"
            _feed(h, "data", *_canonical(_read_all(obj, name, "model data"), where))
    return "sha256:" + h.hexdigest()


def _check_preprocessing(preprocessing, error, where):
    if not isinstance(preprocessing, dict):
        raise error(f"{where} must be a dict like {{'scale': 255.0}}; got {preprocessing!r}")
    value = preprocessing.get("scale", 255.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise error(f"{where}['scale'] must be a number > 0; got {value!r}")
    if not isinstance(preprocessing.get("invert", False), bool):
        raise error(f"{where}['invert'] must be true or false; got {preprocessing['invert']!r}")


def _describe(value):
    """A short description of an unexpected value, for messages (never a whole array)."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"


def _attr_text(f, path, key, what="a string"):
    """A string attribute (str, or bytes as UTF-8), or a DataError naming the file; None when absent."""
    if key not in f.attrs:
        return None
    raw = f.attrs[key]
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        raise DataError(f"{path}: model attribute {key!r} must be {what}; got {_describe(raw)}")
    return raw


def _bounded_int(text):
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {digits} digits (at most {MAX_INT_DIGITS} are read)")
    return int(text)


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _depth(value):
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _attr_json(f, path, key):
    raw = _attr_text(f, path, key, "a JSON string")
    if raw is None:
        raise DataError(f"{path}: model file has no {key!r} attribute (damaged or written by another program?)")
    if len(raw) > MAX_JSON_CHARS:
        raise DataError(f"{path}: model attribute {key!r} holds {len(raw)} characters, more than the "
                        f"{MAX_JSON_CHARS} accepted")
    try:
        value = json.loads(raw, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError:
        raise DataError(f"{path}: model attribute {key!r} is JSON nested too deeply (at most {MAX_JSON_DEPTH} "
                        "levels are read)") from None
    except ValueError as exc:
        raise DataError(f"{path}: model attribute {key!r} is not valid JSON: {exc}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise DataError(f"{path}: model attribute {key!r} is JSON nested too deeply (at most {MAX_JSON_DEPTH} "
                        "levels are read)")
    return value


def _check_tree(f, path):
    """Every link in the file a hard link, every dataset plain and within the memory here; their names."""
    import h5py

    datasets, total, seen, pending = [], 0, 0, [("", f)]
    while pending:  # every link, looked at as a link, never followed unless it is a hard link
        prefix, group = pending.pop()
        for key in group.keys():
            seen += 1
            if seen > MAX_OBJECTS:  # also ends a group hard-linked inside itself
                raise DataError(f"{path}: holds more than {MAX_OBJECTS} groups and datasets; this is not an "
                                "xlogreg model file")
            name = f"{prefix}/{key}" if prefix else key
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.HardLink) and isinstance(group[key], h5py.Group):
                pending.append((name, group[key]))
                continue
            total += _check_link(f, path, name, link, datasets)
    limit, where = _memory_limit()
    if total > limit:
        raise DataError(f"{path}: its datasets declare {total / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB "
                        f"{where}; an xlogreg model file holds a few arrays of n_x numbers")
    return datasets


def _check_link(f, path, name, link, datasets):
    """One link of a model file that is not a group: a plain dataset (appended to `datasets`); its bytes."""
    import h5py

    if isinstance(link, h5py.ExternalLink):
        raise DataError(f"{path}: {name!r} is an external link to {link.path!r} in the file "
                        f"{link.filename!r}; model files hold their data themselves (xlogreg never follows "
                        "links to other files)")
    if not isinstance(link, h5py.HardLink):
        raise DataError(f"{path}: {name!r} is a {type(link).__name__}; model files hold only plain datasets")
    ds = get_dataset(f, name, "model data")  # refuses virtual datasets, external storage, h5py.Empty
    datasets.append(name)
    return math.prod(ds.shape) * ds.dtype.itemsize


def _dataset(f, path, key):
    import h5py

    if f.get(key, getlink=True) is None:
        raise DataError(f"{path}: model file has no {key!r} dataset (damaged or written by another program?)")
    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise DataError(f"{path}: {key!r} is a group, expected a dataset")
    if ds.dtype.kind not in "fiu":
        raise DataError(f"{path}: {key!r} has dtype {ds.dtype}, expected numbers")
    return np.asarray(_read_all(ds, key, "model data"))


def _number(value, path, key, kind=float, minimum=None, allow_none=False):
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        if kind is int:
            ok = ok and float(value).is_integer()
        if ok:
            value = kind(value)
            ok = math.isfinite(value) and (minimum is None or value >= minimum)
    except OverflowError:
        ok = False
    if not ok:
        raise DataError(f"{path}: model setting {key!r} must be a finite {kind.__name__}"
                        + (f" >= {minimum}" if minimum is not None else "") + f"; got {value!r}")
    return value


def read_model_file(path):
    """Read and check everything in a model file; returns the Model's fields (w as NumPy)."""
    with open_h5(path) as f:
        try:
            return _read_model(f, path)
        except (OSError, RuntimeError, KeyError, TypeError) as exc:
            # h5py on a damaged file or an attribute of a type it cannot read.
            raise DataError(f"{path}: cannot be read as an xlogreg model file (damaged?): {exc}") from None
        except ValueError as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{path}: cannot be read as an xlogreg model file (damaged?): {exc}") from None


def _read_model(f, path):
    """Check and read an open model file (see :func:`_read_model_file`)."""
    fmt = _attr_text(f, path, "format")
    if fmt != FORMAT:
        hint = ""
        if any(k.endswith("_set_x") for k in f.keys()):
            hint = " (it looks like a data file; use it as data, e.g. `xlogreg predict MODEL --data FILE`)"
        raise DataError(f"{path}: not an xlogreg model file (no format attribute {FORMAT!r}){hint}")
    version = f.attrs.get("format_version")
    if isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)):
        raise DataError(f"{path}: model file has no valid 'format_version' attribute; got {_describe(version)}")
    if version > FORMAT_VERSION or version < 1:
        raise DataError(
            f"{path}: model file format version {int(version)} is not supported by this xlogreg "
            f"(it reads versions 1 to {FORMAT_VERSION}); upgrade xlogreg to read it"
        )
    _check_tree(f, path)
    w = _dataset(f, path, "w")
    costs = _dataset(f, path, "costs")
    cost_iterations = _dataset(f, path, "cost_iterations")
    b = f.attrs.get("b")
    parsed = {key: _attr_json(f, path, key) for key in _JSON_ATTRS}
    stored = _attr_text(f, path, CHECKSUM_ATTR)
    if stored is None and version >= 2:
        raise DataError(f"{path}: model file of format version {int(version)} has no {CHECKSUM_ATTR!r} "
                        "attribute (damaged, or edited after it was saved)")
    if stored is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", stored):
        raise DataError(f"{path}: model attribute {CHECKSUM_ATTR!r} is not 'sha256:' and 64 hexadecimal "
                        f"digits; got {_describe(stored)}")
    # Computed now, while the file is open; compared once the checks below have passed, so that
    # a file built to be wrong in a specific way gets that specific message.
    actual = None if stored is None else checksum(f)

    K = f.attrs.get("n_classes", 2)  # files of format version 1 hold the course's two classes
    if isinstance(K, (bool, np.bool_)) or not isinstance(K, (int, np.integer)) or not 2 <= K <= MAX_CLASSES:
        raise DataError(f"{path}: attribute 'n_classes' must be an integer from 2 to {MAX_CLASSES}; "
                        f"got {_describe(K)}")
    K = int(K)
    k = K if K > 2 else 1
    if w.ndim != 2 or w.shape[1] != k or w.shape[0] < 1:
        raise DataError(f"{path}: 'w' has shape {w.shape}, expected (n_x, {k}) for {K} classes")
    if w.dtype not in (np.float32, np.float64):
        raise DataError(f"{path}: 'w' has dtype {w.dtype}, expected float32 or float64")
    if not np.isfinite(w).all():
        raise DataError(f"{path}: 'w' contains NaN or infinity")
    if K > 2:
        if not (isinstance(b, np.ndarray) and b.shape == (K,) and b.dtype.kind == "f" and np.isfinite(b).all()):
            raise DataError(f"{path}: attribute 'b' must hold {K} finite numbers; got {_describe(b)}")
        b = b.astype(w.dtype).reshape(K, 1)
    elif isinstance(b, (bool, np.bool_)) or not isinstance(b, (float, int, np.floating, np.integer)) \
            or not math.isfinite(float(b)):
        raise DataError(f"{path}: attribute 'b' must be a finite number; got {_describe(b)}")
    else:
        b = float(b)
    if costs.ndim != 1 or cost_iterations.shape != costs.shape:
        raise DataError(f"{path}: 'costs' and 'cost_iterations' must be 1-D of the same length; "
                        f"got shapes {costs.shape} and {cost_iterations.shape}")
    if cost_iterations.dtype.kind not in "iu" or not np.isfinite(costs).all():
        raise DataError(f"{path}: 'cost_iterations' must be integers and 'costs' finite numbers")

    n_x = w.shape[0]
    classes, image_shape = parsed["classes"], parsed["image_shape"]
    if classes is not None and not (isinstance(classes, list) and len(classes) == K
                                    and all(isinstance(c, str) for c in classes)):
        raise DataError(f"{path}: attribute 'classes' must be a list of {K} names; got {classes!r}")
    if image_shape is not None:
        if not (isinstance(image_shape, list) and len(image_shape) == 3
                and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in image_shape)):
            raise DataError(f"{path}: attribute 'image_shape' must be [height, width, channels]; got {image_shape!r}")
        if math.prod(image_shape) != n_x:
            raise DataError(f"{path}: image_shape {tuple(image_shape)} does not match 'w' of {n_x} features")
        image_shape = tuple(image_shape)
    preprocessing = parsed["preprocessing"]
    _check_preprocessing(preprocessing, DataError, f"{path}: preprocessing")
    training = parsed["training"]
    if not isinstance(training, dict):
        raise DataError(f"{path}: attribute 'training' must be a JSON object; got {training!r}")
    interrupted = training.get("interrupted", False)
    if not isinstance(interrupted, bool):
        raise DataError(f"{path}: model setting 'interrupted' must be true or false; got {interrupted!r}")
    strings = {}
    for key in ("solver", "dtype"):
        value = training.get(key, "primal" if key == "solver" else str(w.dtype))
        if not isinstance(value, str):
            raise DataError(f"{path}: model setting {key!r} must be a string; got {value!r}")
        strings[key] = value
    converged = training.get("converged")
    if converged is not None and not isinstance(converged, bool):
        raise DataError(f"{path}: model setting 'converged' must be true, false or null; got {converged!r}")
    fields = dict(
        w=w,
        b=b,
        n_classes=K,
        l2=_number(training.get("l2", 0.0), path, "l2", float, 0.0),
        l1=_number(training.get("l1", 0.0), path, "l1", float, 0.0),  # 0: files written before L1 was stored
        tol=_number(training.get("tol"), path, "tol", float, 0.0, allow_none=True),
        converged=converged,
        costs=[float(c) for c in costs],
        cost_iterations=[int(i) for i in cost_iterations],
        learning_rate=_number(training.get("learning_rate"), path, "learning_rate", float, 0.0),
        num_iterations=_number(training.get("num_iterations"), path, "num_iterations", int, 0),
        iterations=_number(training.get("iterations"), path, "iterations", int, 0),
        interrupted=interrupted,
        solver=strings["solver"],
        train_accuracy=_number(training.get("train_accuracy"), path, "train_accuracy", allow_none=True),
        test_accuracy=_number(training.get("test_accuracy"), path, "test_accuracy", allow_none=True),
        final_cost=_number(training.get("final_cost"), path, "final_cost", allow_none=True),  # None: older files
        classes=classes,
        image_shape=image_shape,
        preprocessing=preprocessing,
    )
    if actual != stored:
        raise DataError(f"{path}: the checksum does not match the contents: the file was damaged or edited "
                        "after it was saved; restore it from a copy, or train and save the model again")
    return fields
