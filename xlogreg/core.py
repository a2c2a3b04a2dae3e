"""The course maths, written once against the Python Array API standard.

Every function takes its namespace from its inputs, creates arrays on the
device of its inputs, keeps their floating dtype and never mutates them, so
the same code runs on NumPy, CuPy, PyTorch, JAX, Dask and array-api-strict.

Shapes follow the course: ``X`` is ``(n_x, m)`` (one column per example),
``Y`` is ``(1, m)``, ``w`` is ``(n_x, 1)`` and ``b`` a number.
"""

from __future__ import annotations

import math
import numbers

from array_api_compat import device as get_device

from . import _backends, _loss, solvers
from . import _validation as v
from ._namespace import array_namespace

__all__ = [
    "basic_sigmoid",
    "sigmoid",
    "sigmoid_derivative",
    "image2vector",
    "normalize_rows",
    "softmax",
    "l1",
    "l2",
    "L1",
    "L2",
    "normalizeRows",
    "initialize_with_zeros",
    "propagate",
    "optimize",
    "predict",
]


def _float(x, name):
    x = v.as_array(x, name)
    return v.check_float(x, name, array_namespace(x))


def _scalar_if(given, result):
    """A NumPy scalar where the course passed a Python number (``sigmoid(1)``), the array otherwise."""
    return result[()] if not v.is_array(given) and getattr(result, "ndim", None) == 0 else result


def basic_sigmoid(x):
    """The course's first sigmoid, for one real number, with ``math.exp``: ``1 / (1 + exp(-x))``.

    Stable for every finite x (``exp`` only sees ``-|x|``). Use :func:`sigmoid` for arrays.

    Examples
    --------
    >>> from xlogreg import basic_sigmoid
    >>> basic_sigmoid(1)
    0.7310585786300049
    """
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"x must be one real number (use xlogreg.sigmoid for arrays); got {type(x).__name__} {x!r}")
    if math.isnan(x):
        raise ValueError("x must be a number; got nan")
    e = math.exp(-abs(x))
    return 1 / (1 + e) if x >= 0 else e / (1 + e)


def sigmoid(z):
    """Compute the sigmoid of z, ``1 / (1 + exp(-z))``, element-wise.

    Written so that it never overflows: ``exp`` only ever sees ``-|z|``.

    Parameters
    ----------
    z : array or number
        Integer inputs become the backend's default floating dtype.

    Returns
    -------
    s : array of the same shape, values in [0, 1]

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg import sigmoid
    >>> sigmoid(xp.asarray([0.0, 2.0]))
    Array([0.5       , 0.88079708], dtype=array_api_strict.float64)
    """
    return _scalar_if(z, _sigmoid(_float(z, "z")))


_sigmoid = _loss.sigmoid


def cost_from_z(Z, Y):
    """Cross-entropy cost of the logits Z = w.T X + b against labels Y.

    With ``A = sigmoid(Z)``, ``-log A = softplus(-Z)`` and
    ``-log(1 - A) = softplus(Z)``, so for labels 0 / 1 the course's
    ``-mean(Y log A + (1 - Y) log(1 - A))`` is the mean of
    ``softplus(-Z)`` where Y is 1 and ``softplus(Z)`` where Y is 0. That stays
    finite when A saturates at exactly 0 or 1 (|Z| > ~17 in float32, ~37 in
    float64), and is exact (0) for a confident right answer even at Z = inf.
    Returns a 0-d array.
    """
    xp = array_namespace(Z)
    return xp.mean(_loss.losses(Z, Y, False))


def sigmoid_derivative(x):
    """Gradient of the sigmoid at x: ``s (1 - s)`` with ``s = sigmoid(x)``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg import sigmoid_derivative
    >>> sigmoid_derivative(xp.asarray([1.0, 2.0, 3.0]))
    Array([0.19661193, 0.10499359, 0.04517666], dtype=array_api_strict.float64)
    """
    s = _sigmoid(_float(x, "x"))
    return _scalar_if(x, s * (1 - s))


def image2vector(image):
    """Reshape an image of shape (height, width, channels) to (height*width*channels, 1).

    The order is row-major (C order), as ``numpy.reshape`` in the course.
    """
    image = v.as_array(image, "image")
    if image.ndim != 3:
        raise ValueError(f"image must be 3-D of shape (height, width, channels); got shape {tuple(image.shape)}")
    xp = array_namespace(image)
    return xp.reshape(image, (-1, 1))


def normalize_rows(x):
    """Divide each row of x by its Euclidean norm; rows of zeros stay zeros.

    The rows are scaled by their largest magnitude first, so the norm neither
    overflows (values near 1e300) nor underflows (values near 1e-300).

    Parameters
    ----------
    x : array of shape (n, d)

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg import normalize_rows
    >>> normalize_rows(xp.asarray([[0.0, 3.0, 4.0], [0.0, 0.0, 0.0]]))
    Array([[0. , 0.6, 0.8],
           [0. , 0. , 0. ]], dtype=array_api_strict.float64)
    """
    x = _float(x, "x")
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D of shape (n, d); got shape {tuple(x.shape)}")
    xp = array_namespace(x)
    scale = xp.max(xp.abs(x), axis=1, keepdims=True)
    scale = xp.where(scale == 0, xp.ones_like(scale), scale)
    y = x / scale
    norm = xp.sqrt(xp.sum(y * y, axis=1, keepdims=True))
    norm = xp.where(norm == 0, xp.ones_like(norm), norm)
    return y / norm


def softmax(x):
    """Row-wise softmax: ``exp(x) / sum(exp(x), axis=1)``, shift-stable.

    The row maximum is subtracted first, so rows of values near 1000 work.

    Parameters
    ----------
    x : array of shape (n, d) (a 1-D array is one row)

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg import softmax
    >>> softmax(xp.asarray([[1000.0, 1000.0]]))
    Array([[0.5, 0.5]], dtype=array_api_strict.float64)
    """
    x = _float(x, "x")
    if x.ndim not in (1, 2):
        raise ValueError(f"x must be 1-D or 2-D of shape (n, d); got shape {tuple(x.shape)}")
    xp = array_namespace(x)
    e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def _pair(yhat, y):
    yhat, y = _float(yhat, "yhat"), _float(y, "y")
    if tuple(yhat.shape) != tuple(y.shape):
        raise ValueError(f"yhat and y must have the same shape; got {tuple(yhat.shape)} and {tuple(y.shape)}")
    xp, _ = v.same_namespace(yhat=yhat, y=y)
    return xp, yhat, y


def l1(yhat, y):
    """L1 loss ``sum(|y - yhat|)``, as a 0-d array.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg import l1
    >>> l1(xp.asarray([0.9, 0.2, 0.1, 0.4, 0.9]), xp.asarray([1.0, 0.0, 0.0, 1.0, 1.0]))
    Array(1.1, dtype=array_api_strict.float64)
    """
    xp, yhat, y = _pair(yhat, y)
    return xp.sum(xp.abs(y - yhat))


def l2(yhat, y):
    """L2 loss ``sum((y - yhat)**2)``, as a 0-d array.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg import l2
    >>> l2(xp.asarray([0.9, 0.2, 0.1, 0.4, 0.9]), xp.asarray([1.0, 0.0, 0.0, 1.0, 1.0]))
    Array(0.43, dtype=array_api_strict.float64)
    """
    xp, yhat, y = _pair(yhat, y)
    d = y - yhat
    return xp.sum(d * d)


#: The course's names (``L1``, ``L2``, ``normalizeRows``), beside the Python-style ones.
L1, L2, normalizeRows = l1, l2, normalize_rows


def initialize_with_zeros(dim, *, xp=None, device=None, dtype=None):
    """Create w of zeros of shape (dim, 1) and b = 0.0.

    Parameters
    ----------
    dim : int
        Number of features n_x.
    xp : namespace, optional
        Array namespace for w (default: NumPy).
    device, dtype : optional
        Where and in which floating dtype w lives (default: the namespace's
        default device and floating dtype).

    Returns
    -------
    w : array of shape (dim, 1)
    b : float
    """
    dim = v.check_positive_int(dim, "dim")
    if xp is None:
        xp = _backends.get_namespace("numpy")
    dtype = _backends.floating_dtype(xp, device, dtype)
    return xp.zeros((dim, 1), dtype=dtype, device=device), 0.0


def propagate(w, b, X, Y):
    """Cost and gradient of logistic regression (forward and backward pass).

    Parameters
    ----------
    w : array of shape (n_x, 1)
    b : float or 0-d array
    X : array of shape (n_x, m)
    Y : array of shape (1, m) (or (m,)) of labels 0 / 1

    Returns
    -------
    grads : dict
        ``"dw"``: array of the shape of w, ``"db"``: 0-d array.
    cost : 0-d array
        The cross-entropy ``-mean(Y log A + (1 - Y) log(1 - A))``, computed
        stably from the logits.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg import propagate
    >>> w, b = xp.asarray([[1.0], [2.0]]), 2.0
    >>> X = xp.asarray([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]])
    >>> Y = xp.asarray([[1.0, 0.0, 1.0]])
    >>> grads, cost = propagate(w, b, X, Y)
    >>> grads["dw"]
    Array([[0.99845601],
           [2.39507239]], dtype=array_api_strict.float64)
    >>> round(float(cost), 10)
    5.8015453194
    """
    w, b, X, Y = v.check_problem(w, b, X, Y)
    xp = array_namespace(X)
    cost, dw, db = _loss.LogisticLoss(X, Y).value_and_gradient(w, b)
    db = xp.reshape(db, ())
    if _backends.backend_name(xp) == "numpy":
        db = db[()]  # the course's type: a NumPy scalar (its notebook checks type(db) == np.float64)
    return {"dw": dw, "db": db}, cost


def optimize(w, b, X, Y, num_iterations=100, learning_rate=0.009, print_cost=False, *,
             solver="auto", record_every=100, callback=None, fused="auto"):
    """Learn w and b by batch gradient descent, as in the course.

    Parameters
    ----------
    w : array of shape (n_x, 1)
    b : float or 0-d array
    X : array of shape (n_x, m)
    Y : array of shape (1, m) (or (m,)) of labels 0 / 1
    num_iterations : int >= 0
    learning_rate : float > 0
    print_cost : bool
        Print ``Cost after iteration i: ...`` every `record_every` iterations.
    solver : {"auto", "primal", "dual", "newton-cg", "newton-cholesky"}
        ``"dual"`` runs the same iterates on the m x m Gram matrix; ``"auto"``
        picks the cheaper one from the shapes (:func:`xlogreg.solvers.choose_solver`). The
        Newton solvers (:mod:`xlogreg.solvers.newton`) take `num_iterations` as their
        most iterations and set each step by a line search (`learning_rate`
        is not used).
    record_every : int
        Record (and print) the cost every this many iterations, from 0.
    callback : callable, optional
        ``callback(i, cost)`` after iteration i; cost is the recorded float
        on recording iterations, else None. It costs no device sync.
    fused : {"auto", True, False}
        The optional compiled kernels (numba: ``pip install "xlogreg[fast]"``;
        NumPy float32/float64 only): True wherever they apply (an error where
        they cannot), False never, ``"auto"`` where they are predicted to save
        more than the ~1 s a new process takes to load them
        (:func:`xlogreg.data.compiled.choose_fused`, :func:`~xlogreg.data.compiled.choose_fused_dual`). True pays in a
        process that trains many times: the course run takes ~30 instead of
        ~50 ms once they are loaded.

    Returns
    -------
    params : dict
        ``"w"``, ``"b"`` (arrays in the namespace and on the device of X).
    grads : dict
        ``"dw"``, ``"db"`` of the last iteration.
    costs : list of float
        The cost at iterations 0, record_every, 2 record_every, ...

    Raises
    ------
    TrainingDiverged
        When the cost or the parameters stop being finite.
    TrainingInterrupted
        On Ctrl-C; it carries the parameters reached.
    """
    w, b, X, Y = v.check_problem(w, b, X, Y)
    num_iterations = v.check_iterations(num_iterations)
    learning_rate = v.check_learning_rate(learning_rate)
    record_every = v.check_positive_int(record_every, "record_every")
    v.check_callback(callback)
    result = solvers.run(w, b, X, Y, num_iterations, learning_rate, solver=solver, record_every=record_every,
                 print_cost=print_cost, callback=callback, fused=fused)
    params = {"w": result.w, "b": result.b}
    grads = {"dw": result.dw, "db": result.db}
    if _backends.backend_name(array_namespace(result.w)) == "numpy":  # the course's types: NumPy scalars
        params["b"], grads["db"] = (array_namespace(a).reshape(a, ())[()] for a in (result.b, result.db))
    return params, grads, [c for _, c in result.costs]


def predict(w, b, X):
    """Predict labels 0.0 / 1.0 with learned (w, b): 1 where sigmoid(w.T X + b) > 0.5.

    Returns
    -------
    Y_prediction : array of shape (1, m), in the floating dtype of X
    """
    w, b, X, _ = v.check_problem(w, b, X)
    return predict_unchecked(w, b, X)


def predict_proba_unchecked(w, b, X):
    return _sigmoid(w.T @ X + b)


def predict_unchecked(w, b, X):
    xp = array_namespace(X)
    return xp.astype(predict_proba_unchecked(w, b, X) > 0.5, X.dtype)


def zeros_like_params(X):
    """Zero (w, b) for data X: w of shape (n_x, 1), b a 0-d array, dtype and device of X."""
    xp = array_namespace(X)
    dev = get_device(X)
    return (
        xp.zeros((X.shape[0], 1), dtype=X.dtype, device=dev),
        xp.zeros((), dtype=X.dtype, device=dev),
    )
