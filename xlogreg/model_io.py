"""Model files: a trained :class:`~xlogreg.Model` as a small, self-describing HDF5 file.

Layout (format ``xlogreg-model``, version 1)::

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
                       backend, device, dtype, solver, train_accuracy, test_accuracy

Everything but the arrays is a string holding JSON: loading a model parses
numbers and strings and never executes anything from the file (no pickle).
Writing is atomic: the file is written under a temporary name in the target
directory, flushed to disk and renamed over the target, so a crash or Ctrl-C
leaves either the previous file or the complete new one.

NumPy and h5py live here, at the edge, like in :mod:`xlogreg.datasets`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile

import numpy as np
from array_api_compat import device as get_device, is_dask_array

from . import _backends
from .datasets import DataError, _memory_bytes, check_file, open_h5

__all__ = ["save_model", "load_model", "atomic_path", "load_images", "data_to_X", "FORMAT", "FORMAT_VERSION"]

FORMAT = "xlogreg-model"
FORMAT_VERSION = 1

_JSON_ATTRS = ("classes", "image_shape", "preprocessing", "training")
_TRAINING_KEYS = ("learning_rate", "num_iterations", "iterations", "interrupted", "backend", "device",
                  "dtype", "solver", "train_accuracy", "test_accuracy")


# --------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_path(path):
    """Write a file atomically: yield a temporary path to write to, then move it over `path`.

    The temporary file lives in the directory of `path` (so the final
    ``os.replace`` is an atomic rename on the same file system). After the
    body has written and closed it, the file is fsync'ed, given the
    permissions a new file would get (or those of the file it replaces) and
    renamed over `path`; the directory is then fsync'ed so the rename itself
    survives a power cut. On any exception, ``KeyboardInterrupt`` included,
    the temporary file is removed and `path` is left as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> from xlogreg.model_io import atomic_path
    >>> target = os.path.join(tempfile.mkdtemp(), "summary.json")
    >>> with atomic_path(target) as tmp:
    ...     with open(tmp, "w") as f:
    ...         _ = f.write("{}")
    >>> with open(target) as f:
    ...     f.read()
    '{}'
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        tmp = tempfile.NamedTemporaryFile(dir=directory, prefix=f".{os.path.basename(path)}.",
                                          suffix=".tmp", delete=False)
    except OSError as exc:
        raise _write_error(exc, path, directory) from None
    tmp.close()
    try:
        yield tmp.name
        _fsync_file(tmp.name)
        os.chmod(tmp.name, _new_file_mode(path))
        try:
            os.replace(tmp.name, path)
        except OSError as exc:
            raise _write_error(exc, path, directory) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise
    _fsync_dir(directory)


def _write_error(exc, path, directory):
    """The OSError of a failed write, naming the user's `path` (not the temporary file) and the fix."""
    if not os.path.isdir(directory):
        why = f"folder {directory} does not exist; create it first (os.makedirs) or choose another path"
    elif os.path.isdir(path):
        why = "it is a folder; give a file name such as model.h5"
    elif not os.access(directory, os.W_OK):
        why = f"no permission to create files in folder {directory}; choose a folder you can write to"
    else:
        why = f"{exc.strerror or exc}"
    # OSError(errno, ...) builds the matching subclass (FileNotFoundError, PermissionError, ...).
    return OSError(exc.errno, f"cannot write {path}: {why}", path)


def _fsync_file(path):
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory):
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _new_file_mode(path):
    """Mode of the file being replaced, or what ``open()`` would create (0o666 minus the umask).

    NamedTemporaryFile creates files readable by their owner only; a saved
    model should have the usual permissions instead.
    """
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# --------------------------------------------------------------------------- saving


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
    if w.ndim != 2 or w.shape[1] != 1 or w.shape[0] < 1:
        raise ValueError(f"model.w must have shape (n_x, 1); got shape {w.shape}")
    if w.dtype not in (np.float32, np.float64):
        raise ValueError(f"model.w must be float32 or float64; got dtype {w.dtype}")
    if not np.isfinite(w).all():
        raise ValueError("model.w must hold only finite values; it contains NaN or infinity")
    b = float(model.b)
    if not math.isfinite(b):
        raise ValueError(f"model.b must be finite; got {b!r}")
    n_x = w.shape[0]
    classes = None if model.classes is None else [str(c) for c in model.classes]
    if classes is not None and len(classes) != 2:
        raise ValueError(f"model.classes must name 2 classes (label 0, label 1); got {classes!r}")
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
    }
    from . import __version__

    attrs = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xlogreg_version": __version__,
        "b": np.float64(b),
        "classes": _json(classes, "classes"),
        "image_shape": _json(image_shape, "image_shape"),
        "preprocessing": _json(preprocessing, "preprocessing"),
        "training": _json(training, "training"),
    }
    return w, attrs, costs, cost_iterations


def save_model(model, path):
    """Write `model` to the HDF5 file `path`, atomically.

    The weights are copied to the host (NumPy) first, whatever backend and
    device they are on. A crash or Ctrl-C during the write leaves the
    previous file at `path` (if any) untouched and no partial file behind.

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
        When the file cannot be written (missing directory, permissions,
        disk full); `path` is left as it was.

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
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("w", data=w)
            f.create_dataset("costs", data=costs)
            f.create_dataset("cost_iterations", data=cost_iterations)
            for key, value in attrs.items():
                f.attrs[key] = value


# --------------------------------------------------------------------------- loading


def _check_preprocessing(preprocessing, error, where):
    if not isinstance(preprocessing, dict):
        raise error(f"{where} must be a dict like {{'scale': 255.0}}; got {preprocessing!r}")
    value = preprocessing.get("scale", 255.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise error(f"{where}['scale'] must be a number > 0; got {value!r}")
    if not isinstance(preprocessing.get("invert", False), bool):
        raise error(f"{where}['invert'] must be true or false; got {preprocessing['invert']!r}")


def _attr_json(f, path, key):
    if key not in f.attrs:
        raise DataError(f"{path}: model file has no {key!r} attribute (damaged or written by another program?)")
    raw = f.attrs[key]
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        raise DataError(f"{path}: model attribute {key!r} must be a JSON string; got {type(raw).__name__}")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise DataError(f"{path}: model attribute {key!r} is not valid JSON: {exc}") from None


def _dataset(f, path, key, max_bytes):
    import h5py

    if key not in f:
        raise DataError(f"{path}: model file has no {key!r} dataset (damaged or written by another program?)")
    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise DataError(f"{path}: {key!r} is a group, expected a dataset")
    if ds.dtype.kind not in "fiu":
        raise DataError(f"{path}: {key!r} has dtype {ds.dtype}, expected numbers")
    nbytes = math.prod(ds.shape or ()) * ds.dtype.itemsize
    if nbytes > max_bytes:
        raise DataError(f"{path}: {key!r} declares shape {ds.shape}, more than the memory here")
    try:
        return np.asarray(ds[()])
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{path}: {key!r} cannot be read (truncated or corrupt?): {exc}") from None


def _number(value, path, key, kind=float, minimum=None, allow_none=False):
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if ok:
        value = kind(value)
        ok = math.isfinite(value) and (minimum is None or value >= minimum)
    if not ok:
        raise DataError(f"{path}: model setting {key!r} must be a finite {kind.__name__}"
                        + (f" >= {minimum}" if minimum is not None else "") + f"; got {value!r}")
    return value


def _read_model_file(path):
    """Read and check everything in a model file; returns the Model's fields (w as NumPy)."""
    with open_h5(path) as f:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8", errors="replace")
        if fmt != FORMAT:
            hint = ""
            if any(k.endswith("_set_x") for k in f.keys()):
                hint = " (it looks like a data file; use it as data, e.g. `xlogreg predict MODEL --data FILE`)"
            raise DataError(f"{path}: not an xlogreg model file (no format attribute {FORMAT!r}){hint}")
        version = f.attrs.get("format_version")
        if isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)):
            raise DataError(f"{path}: model file has no valid 'format_version' attribute; got {version!r}")
        if version > FORMAT_VERSION or version < 1:
            raise DataError(
                f"{path}: model file format version {int(version)} is not supported by this xlogreg "
                f"(it reads version {FORMAT_VERSION}); upgrade xlogreg to read it"
            )
        limit = _memory_bytes()
        w = _dataset(f, path, "w", limit)
        costs = _dataset(f, path, "costs", limit)
        cost_iterations = _dataset(f, path, "cost_iterations", limit)
        b = f.attrs.get("b")
        parsed = {key: _attr_json(f, path, key) for key in _JSON_ATTRS}

    if w.ndim != 2 or w.shape[1] != 1 or w.shape[0] < 1:
        raise DataError(f"{path}: 'w' has shape {w.shape}, expected (n_x, 1)")
    if w.dtype not in (np.float32, np.float64):
        raise DataError(f"{path}: 'w' has dtype {w.dtype}, expected float32 or float64")
    if not np.isfinite(w).all():
        raise DataError(f"{path}: 'w' contains NaN or infinity")
    if isinstance(b, (bool, np.bool_)) or not isinstance(b, (float, int, np.floating, np.integer)) \
            or not math.isfinite(float(b)):
        raise DataError(f"{path}: attribute 'b' must be a finite number; got {b!r}")
    if costs.ndim != 1 or cost_iterations.shape != costs.shape:
        raise DataError(f"{path}: 'costs' and 'cost_iterations' must be 1-D of the same length; "
                        f"got shapes {costs.shape} and {cost_iterations.shape}")
    if cost_iterations.dtype.kind not in "iu" or not np.isfinite(costs).all():
        raise DataError(f"{path}: 'cost_iterations' must be integers and 'costs' finite numbers")

    n_x = w.shape[0]
    classes, image_shape = parsed["classes"], parsed["image_shape"]
    if classes is not None and not (isinstance(classes, list) and len(classes) == 2
                                    and all(isinstance(c, str) for c in classes)):
        raise DataError(f"{path}: attribute 'classes' must be a list of 2 names; got {classes!r}")
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
    return dict(
        w=w,
        b=float(b),
        costs=[float(c) for c in costs],
        cost_iterations=[int(i) for i in cost_iterations],
        learning_rate=_number(training.get("learning_rate"), path, "learning_rate", float, 0.0),
        num_iterations=_number(training.get("num_iterations"), path, "num_iterations", int, 0),
        iterations=_number(training.get("iterations"), path, "iterations", int, 0),
        interrupted=interrupted,
        solver=strings["solver"],
        train_accuracy=_number(training.get("train_accuracy"), path, "train_accuracy", allow_none=True),
        test_accuracy=_number(training.get("test_accuracy"), path, "test_accuracy", allow_none=True),
        classes=classes,
        image_shape=image_shape,
        preprocessing=preprocessing,
    )


def load_model(path, backend=None, device=None, *, dtype=None):
    """Read a model written by :func:`save_model`.

    The file's format, shapes and values are checked; nothing in it is
    executed (all metadata is JSON text, parsed as data).

    Parameters
    ----------
    path : str or os.PathLike
    backend : str, optional
        None keeps w as a NumPy array (``model.backend == "numpy"``); a name
        from :data:`xlogreg.BACKENDS` moves it there.
    device : optional
        A device of that backend (object, name such as ``"cuda:1"``, or index).
    dtype : {None, "float32", "float64"}
        None keeps the dtype the model was saved in. A device without that
        dtype (float64 on array_api_strict's ``no_float64``) is an error, not
        a silent downgrade: ask for ``dtype="float32"`` explicitly.

    Returns
    -------
    xlogreg.Model

    Raises
    ------
    xlogreg.DataError
        The file is missing, not HDF5, not a model file, damaged, or holds
        values of the wrong shape or type; the message names the file.
    xlogreg.BackendError, ValueError
        The backend, device or dtype cannot be used here.

    Examples
    --------
    >>> import os, tempfile, xlogreg
    >>> path = os.path.join(tempfile.mkdtemp(), "model.h5")
    >>> xlogreg.train([[0.0, 1.0, 2.0, 3.0]], [0, 0, 1, 1], num_iterations=10).save(path)
    >>> model = xlogreg.load_model(path, backend="array_api_strict")
    >>> model.backend, model.w.shape
    ('array_api_strict', (1, 1))
    """
    from .training import Model

    path = os.fspath(path)
    fields = _read_model_file(path)
    w = fields.pop("w")
    model = Model(w=w, backend="numpy", device="cpu", dtype=str(w.dtype), **fields)
    if backend is None and device is None and dtype is None:
        return model
    xp, dev = _backends.resolve(backend, device, like=w)
    target = _backends.floating_dtype(xp, dev, dtype if dtype is not None else str(w.dtype))
    model.w = _backends.asarray(w, xp, dev, target)
    model.backend = _backends.backend_name(xp)
    model.device = str(get_device(model.w))
    model.dtype = dtype if dtype is not None else str(w.dtype)
    return model


# --------------------------------------------------------------------------- raw inputs -> X


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
        As read by :func:`xlogreg.datasets.load_h5` (uint8 for the course data),
        or opened by :func:`xlogreg.datasets.open_lazy_images`.
    model : xlogreg.Model
    path : str
        Named in error messages.

    Returns
    -------
    X : array of shape (n_x, m), float64: ``x_orig`` flattened and divided by the model's scale
        (lazy, :func:`xlogreg.datasets.flatten_lazy`, for a dask array).

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
        from .datasets import flatten_lazy

        return flatten_lazy(x_orig, scale, dtype="float64")
    return x_orig.reshape(x_orig.shape[0], -1).T.astype(np.float64) / scale


def load_images(paths, model):
    """Read image files (any format Pillow reads) as the model's X, preprocessed as in training.

    Each image is turned upright (EXIF orientation), converted to RGB (or to
    grey levels for a 1-channel model), resized to the model's image size
    (bilinear, as the course's ``imresize``) and scaled as in training:
    pixels / 255, or (255 - pixels) / 255 for data that stores ink as high
    values (``preprocessing["invert"]``, the embedded digits).

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
                img = ImageOps.exif_transpose(img).convert("RGB" if c == 3 else "L")
                if img.size != (w, h):
                    img = img.resize((w, h), Image.Resampling.BILINEAR)
                pixels = np.asarray(img, dtype=np.float64).reshape(h, w, c)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            # PIL.UnidentifiedImageError is an OSError; damaged files raise any of these.
            raise DataError(f"{path}: cannot be read as an image: {exc}") from None
        if invert:
            pixels = 255.0 - pixels
        columns.append(pixels.reshape(-1) / 255.0)
    if not columns:
        raise DataError("no image files given")
    return np.stack(columns, axis=1)
