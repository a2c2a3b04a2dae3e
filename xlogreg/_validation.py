"""Checks at the public entry points: once, before any loop, in the Array API.

Each check raises ``ValueError`` or ``TypeError`` whose message names the
argument, what was expected and what was given. The data checks cost one pass
over the data and one device-to-host transfer of a single boolean each.
"""

from __future__ import annotations

import math
import numbers
import operator
import sys

import array_api_compat
import numpy as np
from array_api_compat import device as get_device

from . import _backends
from ._namespace import array_namespace


def is_array(x):
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, numbers.Number)


def _describe(x):
    if is_array(x):
        return f"{type(x).__module__}.{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"[:120]


def check_dense_chunks(x, name):
    """Refuse a Dask array whose chunks are sparse matrices (SciPy, CuPy or pydata ``sparse``).

    xlogreg takes sparse data as one sparse matrix (:mod:`xlogreg.data.sparse`)
    and Dask arrays of dense chunks (:mod:`xlogreg.data.dask`), not the two
    together. Only Dask's own record of its chunks' type (``_meta``) is read:
    nothing is computed, and no library is imported to ask.
    """
    if not array_api_compat.is_dask_array(x):
        return
    meta = getattr(x, "_meta", None)
    kind = f"{type(meta).__module__}.{type(meta).__name__}"
    scipy_sparse, cupy_sparse = sys.modules.get("scipy.sparse"), sys.modules.get("cupyx.scipy.sparse")
    if ((scipy_sparse is not None and scipy_sparse.issparse(meta))
            or (cupy_sparse is not None and cupy_sparse.issparse(meta)) or kind.partition(".")[0] == "sparse"):
        raise TypeError(
            f"{name} is a Dask array of sparse chunks ({kind}), which xlogreg does not take: it fits Dask "
            f"arrays of dense chunks (NumPy, CuPy), and sparse data as one SciPy, torch or CuPy sparse matrix "
            f"(never densified). Pass {name}.compute().tocsr() (one SciPy CSR matrix) where it fits in "
            f"memory, or dense chunks: {name}.map_blocks(lambda chunk: chunk.toarray())"
        )


def as_array(x, name):
    """Array API array for `x`: arrays as they are, lists and scalars via NumPy.

    NumPy masked arrays are refused, even with nothing masked: the maths has no notion of a
    missing value, and NumPy would drop the mask silently on the way. So are Dask arrays of
    sparse chunks (:func:`check_dense_chunks`).
    """
    check_dense_chunks(x, name)
    if _backends.is_masked_array(x):
        raise TypeError(
            f"{name} is a NumPy masked array ({_describe(x)}); xlogreg has no notion of missing "
            f"values, so it does not take masked arrays, even with nothing masked: fill the masked "
            f"entries ({name}.filled(value)) or drop those examples, and pass a plain array "
            f"(numpy.ma.getdata({name}) if nothing is masked)"
        )
    if is_array(x):
        return x
    try:
        return _backends.from_host(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be an array or a nested list of real numbers; got {_describe(x)} ({exc})") from None


def detached(x):
    """`x`, detached from autograd where it is a torch tensor that requires grad (a view, no copy)."""
    return x.detach() if getattr(x, "requires_grad", False) and hasattr(x, "detach") else x


def same_namespace(**arrays):
    """The shared namespace and device of the named arrays; refuses mixtures.

    Python scalars are skipped. Mixing libraries or devices is an error, never
    a silent copy.
    """
    named = {k: v for k, v in arrays.items() if is_array(v)}
    first_name, first = next(iter(named.items()))
    xp = array_namespace(first)
    dev = get_device(first)
    for name, arr in named.items():
        other = array_namespace(arr)
        if other is not xp:
            raise TypeError(
                f"{name} is a {_backends.backend_name(other)} array but {first_name} is a "
                f"{_backends.backend_name(xp)} array; put all arrays on one backend "
                "(xlogreg.train(..., backend=...) moves them for you)"
            )
        if str(get_device(arr)) != str(dev):
            raise ValueError(
                f"{name} is on device {get_device(arr)} but {first_name} is on device {dev}; "
                "put all arrays on one device"
            )
    return xp, dev


def check_float(x, name, xp, dtype=None):
    """Return `x` as a real floating array (of `dtype` when given).

    Integers and booleans become `dtype`, or the device's default floating
    dtype; complex numbers are refused.
    """
    if xp.isdtype(x.dtype, "real floating"):
        return x if dtype is None or x.dtype == dtype else xp.astype(x, dtype)
    if xp.isdtype(x.dtype, ("integral", "bool")):
        if dtype is None:
            dtype = _backends.floating_dtype(xp, get_device(x))
        return xp.astype(x, dtype)
    raise TypeError(f"{name} must hold real numbers (floating, integer or boolean); got dtype {x.dtype}")


def check_finite(x, name):
    """x must hold only finite values.

    For a 2-D floating x (X, of shape (n_x, m)) it first sums each column
    with one matrix-vector product, ``ones @ x``: a NaN or an infinity makes
    its column's sum NaN or infinite, so finite sums prove x finite in one
    read at the speed of BLAS: 1.0-1.3 times one ``w.T @ x`` against 3.6-4.0
    for ``all(isfinite(x))``, which also writes an n_x x m temporary (300 MiB,
    2-vCPU Intel Xeon, ``python benchmarks/bench_check_finite.py``). Sums
    that overflow from finite values fall back to the exact check.
    """
    x = getattr(x, "stored_values", x)  # a sparse X (xlogreg.data.sparse): only what it stores can be NaN
    xp = array_namespace(x)
    if x.ndim == 2 and x.shape[0] > 1 and xp.isdtype(x.dtype, "real floating"):
        with np.errstate(over="ignore", invalid="ignore"):  # NumPy (and what wraps it) would warn
            sums = xp.ones((1, x.shape[0]), dtype=x.dtype, device=get_device(x)) @ x
            finite = bool(xp.all(xp.isfinite(sums)))
        if finite:
            return
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} must hold only finite values; it contains NaN or infinity")


def check_X(X, name="X"):
    """X must be a 2-D real array of shape (n_x, m) with n_x, m >= 1."""
    X = as_array(X, name)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n_x, m), one column per example; got shape {tuple(X.shape)}"
            + (" (flatten images first: xlogreg.flatten_images)" if X.ndim == 4 else "")
        )
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature and one example; got shape {tuple(X.shape)}")
    xp = array_namespace(X)
    return check_float(X, name, xp)


def check_not_transposed(Y, X_shape, names=("X", "Y")):
    """Refuse an X given as ``(m, n_x)``, one row per example: Y's labels match its rows, not its columns.

    Called before the check of Y's shape, whose own message would blame Y. A square X, or a Y
    that matches neither count, is left to that check.
    """
    X_name, Y_name = names
    shape = tuple(Y.shape)
    length = shape[0] if len(shape) == 1 else max(shape) if len(shape) == 2 and 1 in shape else None
    n_rows, n_columns = X_shape
    if length == n_rows != n_columns:
        raise ValueError(
            f"{X_name} looks transposed: it has shape {tuple(X_shape)}, one row per example, but "
            f"xlogreg (as the course) takes {X_name} of shape (n_x, m), one column per example; "
            f"{Y_name} has {n_rows} labels, as many as {X_name} has rows. Pass {X_name}.T "
            f"(shape ({n_columns}, {n_rows}))"
        )


def check_Y(Y, m, name="Y", *, xp=None, dtype=None, n_classes=2):
    """Y must hold m labels, each 0 or 1 (0 .. K-1 for ``n_classes`` K), as (1, m) or (m,); returned as (1, m)."""
    if n_classes != 2:
        return check_labels(Y, m, name, xp=xp, dtype=dtype, n_classes=n_classes)[0]
    Y = as_array(Y, name)
    shape = tuple(Y.shape)
    if shape not in ((1, m), (m,)):
        raise ValueError(f"{name} must have shape (1, {m}) or ({m},) to match X's {m} examples; got shape {shape}")
    xp = xp or array_namespace(Y)
    if not (xp.isdtype(Y.dtype, "real floating") or xp.isdtype(Y.dtype, ("integral", "bool"))):
        raise TypeError(f"{name} must hold labels 0 and 1; got dtype {Y.dtype}")
    if not bool(xp.all((Y == 0) | (Y == 1))):
        raise ValueError(f"{name} must hold only the labels 0 and 1; it holds other values")
    Y = xp.reshape(Y, (1, m))
    return check_float(Y, name, xp, dtype)


def _labels_type_message(name, dtype):
    text = getattr(dtype, "kind", "") in "USO"  # NumPy's str, bytes and object arrays
    return (f"{name} must hold class labels 0 .. K-1 (integers); got dtype {dtype}"
            + (f". Encode the labels first (classes, {name} = numpy.unique({name}, return_inverse=True): label "
               "k is then classes[k]), or use xlogreg.LogisticRegression, which takes labels of any kind"
               if text else ""))


def as_labels(Y, name):
    """:func:`as_array` for labels: lists of text (str, bytes) are told how to become labels 0 .. K-1."""
    if not is_array(Y) and not _backends.is_masked_array(Y):
        try:
            kind = np.asarray(Y).dtype.kind
        except (ValueError, TypeError):
            kind = None
        if kind in ("U", "S"):
            raise TypeError(_labels_type_message(name, np.asarray(Y).dtype))
    return as_array(Y, name)


def check_n_classes(n_classes, name="n_classes"):
    if n_classes is None:
        return None
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral) or n_classes < 2:
        raise ValueError(f"{name} must be None or an integer >= 2; got {_describe(n_classes)}")
    return int(n_classes)


def check_labels(Y, m, name="Y", *, xp=None, dtype=None, n_classes=None):
    """Labels of m examples and their number of classes K: ``((1, m) labels, K)``.

    Y is either labels 0 .. K-1 of shape (1, m) or (m,), or one-hot targets
    of shape (K, m) (each column a single 1). K is `n_classes` when given,
    else the number of rows of one-hot Y, else the largest label plus one
    (at least 2). Labels come back in `dtype` (default: Y's floating dtype).
    One pass over Y and a host transfer of two numbers.
    """
    Y = as_array(Y, name)
    xp = xp or array_namespace(Y)
    n_classes = check_n_classes(n_classes)
    shape = tuple(Y.shape)
    if not (xp.isdtype(Y.dtype, "real floating") or xp.isdtype(Y.dtype, ("integral", "bool"))):
        raise TypeError(_labels_type_message(name, Y.dtype))
    if len(shape) == 2 and shape[1] == m and shape[0] > 1:  # one-hot, (K, m)
        K = shape[0]
        if n_classes is not None and n_classes != K:
            raise ValueError(f"{name} holds one-hot targets of {K} classes (shape {shape}) but n_classes is "
                             f"{n_classes}; give labels 0 .. K-1 instead, or n_classes={K}")
        if not bool(xp.all(((Y == 0) | (Y == 1)) & (xp.sum(xp.astype(Y == 1, xp.int32), axis=0) == 1))):
            raise ValueError(f"{name} of shape {shape} is read as one-hot targets of {K} classes (one row per "
                             "class), but some column does not hold exactly one 1 and zeros elsewhere")
        labels = xp.reshape(xp.argmax(xp.astype(Y == 1, xp.int32), axis=0), (1, m))
        return check_float(labels, name, xp, dtype), K
    if shape not in ((1, m), (m,)):
        raise ValueError(f"{name} must have shape (1, {m}) or ({m},) (labels) or (K, {m}) (one-hot) to match "
                         f"X's {m} examples; got shape {shape}")
    Y = check_float(xp.reshape(Y, (1, m)), name, xp, dtype)
    finite = xp.isfinite(Y)
    if not bool(xp.all((Y >= 0) & (Y == xp.floor(Y)) & finite)):
        what = "other values" if bool(xp.all(finite)) else "NaN or infinity"
        raise ValueError(f"{name} must hold class labels 0 .. K-1 (whole numbers >= 0); it holds {what}")
    top = int(xp.max(Y))
    if n_classes is None:
        if top + 1 > max(2, m):
            raise ValueError(f"{name} holds the label {top}, more classes than its {m} examples; give n_classes "
                             "(the number of classes) explicitly if that is meant")
        if top + 1 > 2:
            _check_every_class_seen(Y, top + 1, name)
        return Y, max(2, top + 1)
    if top >= n_classes:
        raise ValueError(f"{name} holds the label {top} but n_classes is {n_classes}: labels must be 0 .. "
                         f"{n_classes - 1}")
    return Y, n_classes


def _check_every_class_seen(Y, K, name):
    """Refuse labels (1, m) that leave one of the classes 0 .. K-1 without an example.

    K counted from the largest label, a class without an example is almost always a mistake
    (labels 1 .. K, or codes that skip values): it would train a class no example belongs to.
    Two classes are left alone: 0 / 1 labels of one class are the course's neuron on a subset.
    One pass over Y per block of classes (the comparison is (block, m)) and one host transfer.
    """
    xp, dev = array_namespace(Y), get_device(Y)
    block = max(1, 2**22 // Y.shape[1])
    seen = [xp.any(Y == xp.reshape(xp.arange(k, min(K, k + block), dtype=Y.dtype, device=dev), (-1, 1)), axis=1)
            for k in range(0, K, block)]
    seen = np.asarray(_backends.to_numpy(xp.concat(seen) if len(seen) > 1 else seen[0]))
    absent = np.flatnonzero(~seen).tolist()
    if absent:
        listed = ", ".join(map(str, absent[:10])) + (", ..." if len(absent) > 10 else "")
        raise ValueError(
            f"{name} has no example of class{'es' if len(absent) > 1 else ''} {listed} (its labels are "
            f"{int(np.flatnonzero(seen)[0])} .. {K - 1}, so it counts K = {K} classes 0 .. {K - 1}); labels "
            f"must be 0 .. K-1: encode them (classes, {name} = numpy.unique({name}, return_inverse=True)), or "
            f"use xlogreg.LogisticRegression, which takes labels of any kind; if a class is meant to have no "
            f"example, give n_classes={K}"
        )


def check_sample_weight(sample_weight, m, name="sample_weight", *, xp, dtype):
    """Weights of m examples: (1, m) array of `dtype` and their sum S as a Python float (> 0)."""
    s = as_array(sample_weight, name)
    shape = tuple(s.shape)
    if shape not in ((1, m), (m,)):
        raise ValueError(f"{name} must have shape ({m},) or (1, {m}), one weight per example; got shape {shape}")
    s = check_float(xp.reshape(s, (1, m)), name, xp, dtype)
    check_finite(s, name)
    if not bool(xp.all(s >= 0)):
        raise ValueError(f"{name} must be >= 0; it holds negative values")
    total = float(xp.sum(s))
    if not (total > 0 and math.isfinite(total)):
        raise ValueError(f"{name} must have a positive, finite sum; got {total}")
    return s, total


def check_nonnegative(value, name):
    """A finite real number >= 0, as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0; got {_describe(value)}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def check_w(w, n_x, name="w"):
    w = as_array(w, name)
    if tuple(w.shape) != (n_x, 1):
        raise ValueError(f"{name} must have shape ({n_x}, 1) to match X's {n_x} features; got shape {tuple(w.shape)}")
    return w


def check_b(b, name="b"):
    """b is a Python real number or a 0-d (or single-element) array."""
    if isinstance(b, bool) or not (isinstance(b, numbers.Real) or is_array(b)):
        raise TypeError(f"{name} must be a real number or a 0-d array; got {_describe(b)}")
    if is_array(b):
        if math.prod(b.shape) != 1:
            raise ValueError(f"{name} must be a single number; got an array of shape {tuple(b.shape)}")
        return b
    if not math.isfinite(b):
        raise ValueError(f"{name} must be finite; got {b!r}")
    return float(b)


def check_callback(callback, name="callback"):
    """`callback` must be None or callable as ``callback(i, cost)``."""
    if callback is not None and not callable(callback):
        raise TypeError(f"{name} must be callable as {name}(i, cost), or None; got {_describe(callback)}")
    return callback


def check_image_shape(image_shape, scale, n_x):
    """``(image_shape, preprocessing)`` for a Model: image_shape as (h, w, c) matching n_x features.

    ``(h, w)`` means one channel. `scale` defaults to 255 (as ``flatten_images``) when an image
    shape is given; with neither, the model has no image shape and no preprocessing.
    """
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)
                              or not (math.isfinite(scale) and scale > 0)):
        raise ValueError(f"scale must be a number > 0 (what the pixels were divided by); got {_describe(scale)}")
    if image_shape is None:
        return None, ({} if scale is None else {"scale": float(scale)})
    try:
        shape = tuple(operator.index(s) for s in image_shape)
    except TypeError:
        shape = None
    if shape is not None and len(shape) == 2:
        shape += (1,)
    if shape is None or len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"image_shape must be (height, width, channels) of positive integers, as train_x.shape[1:]; "
            f"got {_describe(image_shape)}"
        )
    if math.prod(shape) != n_x:
        raise ValueError(
            f"image_shape {shape} holds {math.prod(shape)} values per image but X has {n_x} features "
            f"per example; pass the shape of the images X was flattened from (train_x.shape[1:])"
        )
    return shape, {"scale": 255.0 if scale is None else float(scale)}


def check_learning_rate(learning_rate, name="learning_rate"):
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
        raise TypeError(f"{name} must be a positive real number; got {_describe(learning_rate)}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {learning_rate!r}")
    return float(learning_rate)


def check_iterations(num_iterations, name="num_iterations"):
    if isinstance(num_iterations, bool) or not isinstance(num_iterations, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 0; got {_describe(num_iterations)}")
    if num_iterations < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {num_iterations!r}")
    return int(num_iterations)


def check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {_describe(value)}")
    return int(value)


def check_problem(w, b, X, Y=None):
    """Validate (w, b, X, Y) once at a public entry point; return them ready to use.

    X and Y become the floating dtype of X (or the default one for integer
    data); w and b are cast to it. All arrays must share one namespace and
    device.
    """
    X = check_X(X)
    n_x, m = X.shape
    if Y is not None:
        Y = as_array(Y, "Y")
        check_not_transposed(Y, tuple(X.shape))  # before w's check, whose message would blame w
    w = check_w(w, n_x)
    b = check_b(b)
    arrays = {"X": X, "w": w, "b": b}
    if Y is not None:
        arrays["Y"] = Y
    xp, dev = same_namespace(**arrays)
    w = check_float(w, "w", xp, X.dtype)
    if is_array(b):
        b = xp.astype(xp.reshape(b, ()), X.dtype)
    check_finite(X, "X")
    check_finite(w, "w")
    if is_array(b):
        check_finite(b, "b")
    if Y is not None:
        Y = check_Y(arrays["Y"], m, xp=xp, dtype=X.dtype)
    return w, b, X, Y
