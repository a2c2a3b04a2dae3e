"""The library API: ``train()`` returns a :class:`Model`; the course's ``model()``."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from array_api_compat import device as get_device

from . import _backends, _loss, penalties, solvers
from .data import compiled, sparse
from .io import model_file
from .solvers import _loop
from . import _validation as v
from ._namespace import array_namespace

__all__ = ["Model", "train", "model", "load_model"]


@dataclass
class Model:
    """A trained logistic-regression neuron (two classes) or softmax regression (K > 2 classes).

    Attributes
    ----------
    w : array of shape (n_x, 1), or (n_x, K) for K > 2 classes
        Weights, in the namespace and on the device training ran on.
    b : float, or array of shape (K, 1) for K > 2 classes (beside w)
        Bias.
    costs : list of float
        The cost at iterations ``cost_iterations`` (0, 100, 200, ... by default).
    cost_iterations : list of int
    final_cost : float or None
        The cost at the end of training, with the returned w and b (after
        `iterations` iterations), whatever was recorded; None for an
        interrupted model or one made by hand.
    learning_rate, num_iterations : float, int
        The settings training was asked for.
    iterations : int
        Iterations actually run (less than `num_iterations` when interrupted).
    interrupted : bool
        True when training was stopped by Ctrl-C before the end.
    backend, device, dtype, solver : str
        Where and how it was trained.
    train_accuracy, test_accuracy : float or None
        Percent correct on the training and test data given to :func:`train`.
    classes : list of str or None
        Class names, index k for label k.
    n_classes : int
        K: 2 for the course's sigmoid neuron, more for softmax regression.
    l2 : float
        The L2 strength training used (``l2 / (2 S) ||w||^2`` in the cost).
    l1 : float
        The L1 strength training used (``l1 / S ||w||_1`` in the cost).
    tol : float or None
        The stopping rule's tolerance training used (None: all iterations).
    converged : bool or None
        With `tol`: whether the rule was met (None without `tol`).
    image_shape : tuple of int or None
        (height, width, channels) of the images the model takes, if any.
    preprocessing : dict
        How raw inputs were turned into X (for example ``{"scale": 255.0}``).
    """

    w: object
    b: float
    costs: list = field(default_factory=list)
    cost_iterations: list = field(default_factory=list)
    learning_rate: float = 0.005
    num_iterations: int = 0
    iterations: int = 0
    interrupted: bool = False
    backend: str = "numpy"
    device: str = "cpu"
    dtype: str = "float64"
    solver: str = "primal"
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    classes: list | None = None
    image_shape: tuple | None = None
    preprocessing: dict = field(default_factory=dict)
    n_classes: int = 2
    l2: float = 0.0
    l1: float = 0.0
    tol: float | None = None
    converged: bool | None = None
    final_cost: float | None = None

    def __post_init__(self):
        # A model made by hand from lists (Model(w=[[1.0], [2.0]], b=0)) gets NumPy arrays, as from train().
        if not v.is_array(self.w):
            self.w = v.check_float(v.as_array(self.w, "w"), "w", _backends.get_namespace("numpy"))
        if self.w.ndim != 2:
            raise ValueError(f"w must be 2-D of shape (n_x, 1), or (n_x, K) for K > 2 classes; got shape "
                             f"{tuple(self.w.shape)}")
        if self.multinomial and not v.is_array(self.b):
            self.b = v.check_float(v.as_array(self.b, "b"), "b", _backends.get_namespace("numpy"))

    @property
    def n_features(self):
        return self.w.shape[0]

    @property
    def multinomial(self):
        return self.n_classes > 2

    def _bias(self):
        """b as an array beside w: 0-d (two classes) or (K, 1)."""
        if self.multinomial:
            return self.b
        xp = array_namespace(self.w)
        return xp.asarray(self.b, dtype=self.w.dtype, device=get_device(self.w))

    def decision_function(self, X):
        """The logits ``w.T X + b``: shape (1, m), or (K, m) for K > 2 classes."""
        return self.w.T @ self._prepare(X) + self._bias()
    def _prepare(self, X, name="X"):
        """X in the model's namespace, device and dtype; host data is moved there."""
        xp = array_namespace(self.w)
        dev = get_device(self.w)
        if sparse.is_sparse(X):  # checked on its stored values, never densified nor moved
            X = sparse.as_matrix(X, name, dtype=self.w.dtype, xp=xp, device=dev)
        else:
            X = v.as_array(X, name)
            if array_namespace(X) is not xp and _backends.backend_name(array_namespace(X)) == "numpy":
                X = _backends.asarray(X, xp, dev, self.w.dtype if X.dtype.kind == "f" else None)
            X = v.check_X(X, name)
            v.same_namespace(w=self.w, **{name: X})
        if X.shape[0] != self.n_features:
            raise ValueError(
                f"{name} has {X.shape[0]} features per example but this model was trained on "
                f"{self.n_features}" + (f" (images of shape {self.image_shape})" if self.image_shape else "")
                + (f"; {name} looks transposed, one row per example: pass {name}.T" if X.shape[1] == self.n_features else "")
            )
        if isinstance(X, sparse.SparseMatrix):
            return X
        X = xp.astype(X, self.w.dtype)
        v.check_finite(X, name)
        return X

    def predict_proba(self, X):
        """Probabilities for each column of X.

        Two classes: P(label 1), shape (1, m) (the course's ``A``). K > 2
        classes: shape (K, m), row k is P(label k); each column sums to 1.
        """
        return probabilities(self.decision_function(X), self.multinomial)

    def predict(self, X):
        """Labels for each column of X, shape (1, m), in X's floating dtype.

        Two classes: 1.0 where the probability of label 1 is > 0.5, as the
        course's ``predict``; K > 2: the label 0 .. K-1 of the most probable
        class (the first of a tie).
        """
        return labels_from_logits(self.decision_function(X), self.multinomial)

    def accuracy(self, X, Y):
        """Percent of correct predictions, as the course prints it: ``100 - mean(|Yhat - Y|) * 100``."""
        X = self._prepare(X)
        xp = array_namespace(X)
        Y = v.check_Y(_to_like(Y, X, "Y"), X.shape[1], xp=xp, dtype=X.dtype, n_classes=self.n_classes)
        return _accuracy(labels_from_logits(self.w.T @ X + self._bias(), self.multinomial), Y)

    def to_numpy(self):
        """A copy of this model with w (and a multi-class b) as NumPy arrays (for saving, or CPU use)."""
        return dataclasses.replace(
            self, w=_backends.to_numpy(self.w), b=_backends.to_numpy(self.b) if self.multinomial else self.b,
            backend="numpy", device="cpu", costs=list(self.costs), cost_iterations=list(self.cost_iterations),
        )

    def save(self, path):
        """Write the model to an HDF5 file, atomically (see :func:`xlogreg.save_model`)."""
        model_file.save_model(self, path)

    def __repr__(self):
        status = ", interrupted" if self.interrupted else ""
        bias = f"n_classes={self.n_classes}" if self.multinomial else f"b={self.b:.6g}"
        rate = "" if self.solver.startswith("newton") else f"learning_rate={self.learning_rate}, "  # a line search
        final = None if self.final_cost is None else f"{self.final_cost:.6g}"
        return (
            f"Model(n_features={self.n_features}, {bias}, iterations={self.iterations}{status}, "
            f"{rate}backend={self.backend!r}, device={self.device!r}, "
            f"dtype={self.dtype!r}, solver={self.solver!r}, final_cost={final})"
        )


def load_model(path, backend=None, device=None, *, dtype=None):
    """Read a model written by :func:`xlogreg.save_model` (the file format: :mod:`xlogreg.io.model_file`).

    The file is treated as untrusted. Its format, shapes and values are
    checked; nothing in it is executed (all metadata is JSON text, parsed as
    data, with bounded nesting and integer sizes); external links, soft
    links, virtual datasets and external raw storage are refused; its
    checksum is verified (files of format version 1, written before
    checksums existed, are loaded without that check: see the module notes).

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
        The file is missing, not a regular file, not HDF5, not a model file,
        damaged (checksum mismatch), or holds values of the wrong shape or
        type; the message names the file.
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
    path = os.fspath(path)
    fields = model_file.read_model_file(path)
    w = fields.pop("w")
    model = Model(w=w, backend="numpy", device="cpu", dtype=str(w.dtype), **fields)
    if backend is None and device is None and dtype is None:
        return model
    xp, dev = _backends.resolve(backend, device, like=w)
    target = _backends.floating_dtype(xp, dev, dtype if dtype is not None else str(w.dtype))
    model.w = _backends.asarray(w, xp, dev, target)
    if model.n_classes > 2:
        model.b = _backends.asarray(model.b, xp, dev, target)
    model.backend = _backends.backend_name(xp)
    model.device = str(get_device(model.w))
    model.dtype = dtype if dtype is not None else str(w.dtype)
    return model


def probabilities(Z, multinomial):
    """Class probabilities from logits: ``sigmoid(Z)`` (1, m), or the softmax over axis 0 (K, m)."""
    if multinomial:
        xp = array_namespace(Z)
        E = xp.exp(Z - xp.max(Z, axis=0, keepdims=True))
        return E / xp.sum(E, axis=0, keepdims=True)
    return _loss.sigmoid(Z)


def labels_from_logits(Z, multinomial):
    """Predicted labels (1, m) in Z's dtype: sigmoid > 0.5 (the course), or the most probable class."""
    xp = array_namespace(Z)
    if multinomial:
        return xp.astype(xp.reshape(xp.argmax(Z, axis=0), (1, Z.shape[1])), Z.dtype)
    return xp.astype(_loss.sigmoid(Z) > 0.5, Z.dtype)


def _accuracy(Y_prediction, Y):
    # The count of errors is exact in any float dtype; the percent is taken in
    # Python floats so float32 models print the course's figures too. For two
    # classes this is the course's 100 - mean(|Yhat - Y|) * 100.
    xp = array_namespace(Y)
    errors = float(xp.sum(xp.astype(Y_prediction != Y, Y.dtype)))
    return 100 - errors / Y.shape[1] * 100


def _to_like(Y, X, name):
    """Y in the namespace/device of X: host data is moved, other backends must match."""
    Y = v.as_array(Y, name)
    xp = array_namespace(X)
    if array_namespace(Y) is not xp and _backends.backend_name(array_namespace(Y)) == "numpy":
        Y = _backends.asarray(Y, xp, get_device(X), X.dtype if Y.dtype.kind == "f" else None)
    v.same_namespace(X=X, **{name: Y})
    return Y


def _move(x, xp, dev, dtype):
    """x on (xp, dev); floating host data is cast to `dtype` on the way (a device may lack float64)."""
    float_data = _backends.float_dtype_name(x) is not None
    return _backends.asarray(x, xp, dev, dtype if float_data else None)


def _prepare_data(X, Y, xp, dev, dtype, names, n_classes=None, finite=True):
    """Checked X (n_x, m) and labels (1, m) on (xp, dev) in `dtype`, and the number of classes K.

    With ``finite=False`` X is not checked for NaN and infinities: the caller
    has :func:`xlogreg.solvers.run` do it (``check_x``), in a pass over X
    it makes anyway where it can.
    """
    if sparse.is_sparse(X):  # SciPy, torch, CuPy sparse: never densified (xlogreg.data.sparse)
        X = sparse.as_matrix(X, names[0], dtype=dtype, xp=xp, device=dev, finite=finite)
    else:
        X = v.check_X(_move(v.as_array(X, names[0]), xp, dev, dtype), names[0])
        X = xp.astype(X, dtype) if X.dtype != dtype else X
        if finite:
            v.check_finite(X, names[0])
    Y = _move(v.as_labels(Y, names[1]), xp, dev, dtype)
    v.check_not_transposed(Y, tuple(X.shape), names)
    Y, K = v.check_labels(Y, X.shape[1], names[1], xp=xp, dtype=dtype, n_classes=n_classes)
    return X, Y, K


def train(X, Y, X_test=None, Y_test=None, *, num_iterations=2000, learning_rate=0.005,
          backend=None, device=None, dtype=None, print_cost=False, solver="auto",
          record_every=100, callback=None, fused="auto", l2=0.0, sample_weight=None, tol=None,
          n_classes=None, image_shape=None, scale=None, l1=0.0):
    """Train logistic regression (two classes) or softmax regression (K > 2) by batch gradient descent from zero.

    The cost, with sample weights ``s`` (all ones by default, ``S = sum(s)``)
    and the per-example cross-entropy ``L_i``, is
    ``J = sum_i s_i L_i / S + l2 / (2 S) ||w||^2`` (the bias is not
    penalised); each iteration is ``w -= learning_rate dw``,
    ``b -= learning_rate db`` with ``dw = X ((A - Y) s).T / S + l2 / S w``.
    With the defaults this is exactly the course's neuron.

    Parameters
    ----------
    X : array of shape (n_x, m)
        Training data, one column per example (see :func:`xlogreg.flatten_images`).
    Y : array of shape (1, m) or (m,), or (K, m)
        Labels 0 .. K-1 (0 / 1: the course's sigmoid neuron; more classes:
        softmax regression), or one-hot targets, one row per class.
    X_test, Y_test : optional
        Test data; its accuracy is stored in ``Model.test_accuracy``.
    num_iterations : int >= 0
    learning_rate : float > 0
    backend : {None, "numpy", "cupy", "torch", "jax", "dask", "array_api_strict"}
        None keeps the namespace of X (NumPy for lists). A name moves the data
        there once, before the loop.
    device : optional
        A device of the backend (object, name like ``"cuda:1"``, or index).
    dtype : {None, "float32", "float64"} or dtype
        None keeps X's floating dtype (integer data: the device's default;
        float16, bfloat16 and other narrower floats: float32, since they
        carry too few digits to sum gradients over many examples).
    print_cost : bool
        Print the course's ``Cost after iteration i: ...`` lines.
    solver : {"auto", "primal", "dual", "newton-cg", "newton-cholesky", "lbfgs"}
        Gradient descent on X (``"primal"``) or on its Gram matrix
        (``"dual"``, same iterates), ``"auto"`` the cheaper of the two; or
        Newton's method (:mod:`xlogreg.solvers.newton`), its direction by conjugate
        gradients on Hessian-vector products (``"newton-cg"``) or by solving
        the formed Hessian (``"newton-cholesky"``: for a few thousand
        parameters at most). `num_iterations` is then the most
        Newton iterations, `learning_rate` is not used (a line search sets
        each step), and tol None runs until no step decreases the cost. It
        converges in tens of iterations; with ``l2 = 0`` on separable data
        the optimum is at infinity and it stops when the cost stops falling.
        ``"lbfgs"``: the quasi-Newton method of :mod:`xlogreg.solvers.lbfgs`
        (one pass over X per step, no Hessian products), with the same
        meaning of `num_iterations` and `tol`.
        ``"prox-newton"`` (:mod:`xlogreg.solvers.prox_newton`) is the one that
        fits an L1 term, and ``"auto"`` takes it when ``l1 > 0``: proximal
        Newton iterations (`num_iterations` at most, `learning_rate` not
        used), `tol` on the minimum-norm subgradient's norm.
    record_every : int
        Record the cost every this many iterations (and check `tol` there).
    callback : callable, optional
        ``callback(i, cost)`` after each iteration (see :func:`xlogreg.optimize`).
    fused : {"auto", True, False}
        The optional compiled kernels (numba; see :func:`xlogreg.optimize`).
        They compute the two-class cost without sample weights; other
        problems run the Array API loops (``fused=True`` is then an error).
    l2 : float >= 0
        L2 regularisation strength (the course's lambda). scikit-learn's
        ``LogisticRegression(C=c)`` minimises the same cost with ``l2 = 1 / c``.
    l1 : float >= 0
        L1 strength: the cost becomes
        ``J = sum_i s_i L_i / S + l2 / (2 S) ||w||^2 + l1 / S ||w||_1`` (the
        bias not penalised), whose optimum has exact zeros in w (feature
        selection). scikit-learn's ``LogisticRegression(C=c, l1_ratio=r)``
        minimises ``C sum_i s_i L_i + (1 - r) / 2 ||w||^2 + r ||w||_1``, which
        divided by ``c S`` is this J with ``l1 = r / c`` and ``l2 = (1 - r) / c``.
        ``l1 > 0`` trains with ``solver="prox-newton"``.
    sample_weight : array of shape (m,) or (1, m), optional
        Non-negative, finite weights of the examples (host data is moved to X's
        backend and device). Integer weights train exactly as repeating each
        example that many times.
    tol : float >= 0, optional
        None (default) runs all `num_iterations`. A number stops training at
        the first recorded iteration (0, `record_every`, ...) where the
        gradient's Euclidean norm (w and b together) is at most `tol`
        (``solver="newton-cg"`` / ``"newton-cholesky"``: and Newton's
        decrement, the gap it predicts, at most ``tol**2``); the
        model is then exactly that of a run of that many iterations
        (``Model.iterations``), and ``Model.converged`` is True.
    n_classes : int >= 2, optional
        K. Default: the rows of one-hot Y, else the largest label plus one.
        Give it when some classes are absent from the training labels.
    image_shape : tuple of int, optional
        ``(height, width, channels)`` of the images X was flattened from (for
        the course data ``(64, 64, 3)``, that is ``train_x.shape[1:]``), with
        ``height * width * channels == n_x``. Stored as ``Model.image_shape``,
        so the saved model classifies picture files (``xlogreg predict MODEL
        picture.png``, :func:`xlogreg.io.load_images`).
    scale : float, optional
        What the stored pixels were divided by (``flatten_images``' `scale`,
        255 by default; also the default here when `image_shape` is given).
        Stored as ``Model.preprocessing["scale"]``.

    Returns
    -------
    Model

    Raises
    ------
    TrainingDiverged
        The cost or parameters stopped being finite, or the cost ended above
        ten times its start (:func:`xlogreg.solvers._loop.check_not_diverged`):
        the learning rate is too large.
    TrainingInterrupted
        Ctrl-C; its ``model`` attribute holds the model trained so far.

    Examples
    --------
    >>> import numpy as np, xlogreg
    >>> X = np.array([[0.0, 1.0, 2.0, 3.0]])
    >>> model = xlogreg.train(X, [0, 0, 1, 1], num_iterations=500, learning_rate=0.5)
    >>> model.predict(X)
    array([[0., 0., 1., 1.]])
    >>> three = xlogreg.train(X, [0, 1, 2, 2], num_iterations=2000, learning_rate=0.5, l2=0.01)
    >>> three.n_classes, three.predict(X)
    (3, array([[0., 1., 2., 2.]]))
    """
    num_iterations = v.check_iterations(num_iterations)
    learning_rate = v.check_learning_rate(learning_rate)
    record_every = v.check_positive_int(record_every, "record_every")
    l2 = v.check_nonnegative(l2, "l2")
    l1 = v.check_nonnegative(l1, "l1")
    tol = None if tol is None else v.check_nonnegative(tol, "tol")
    n_classes = v.check_n_classes(n_classes)
    if solver not in solvers.SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(solvers.SOLVERS)}; got {solver!r}")
    compiled.check_fused_option(fused)
    v.check_callback(callback)
    if (X_test is None) != (Y_test is None):
        raise ValueError("X_test and Y_test must be given together; got only one of them")
    # xlogreg computes its own gradients: torch tensors that require grad are detached (views, not
    # copies), or every iteration would be traced by autograd and float() on a cost would warn.
    X, Y, X_test, Y_test, sample_weight = (v.detached(a) for a in (X, Y, X_test, Y_test, sample_weight))
    X = sparse.as_matrix(X, "X", finite=False) if sparse.is_sparse(X) else v.as_array(X, "X")
    if backend is None:  # keep X where it is; other arrays must already be there (lists are fine)
        given = {"X": X, "Y": Y, "X_test": X_test, "Y_test": Y_test, "sample_weight": sample_weight}
        v.same_namespace(**{k: a for k, a in given.items() if v.is_array(a)})
    xp, dev = _backends.resolve(backend, device, like=X)
    dtype = _backends.floating_dtype(xp, dev, dtype, like=X)
    X, Y, K = _prepare_data(X, Y, xp, dev, dtype, ("X", "Y"), n_classes, finite=False)  # run checks X
    if X_test is not None:
        X_test, Y_test, _ = _prepare_data(X_test, Y_test, xp, dev, dtype, ("X_test", "Y_test"), K)
        if X_test.shape[0] != X.shape[0]:
            raise ValueError(
                f"X_test must have {X.shape[0]} features per example like X; got shape {tuple(X_test.shape)}"
            )
    weights = total = None
    if sample_weight is not None:
        weights, total = v.check_sample_weight(_move(v.as_array(sample_weight, "sample_weight"), xp, dev, dtype),
                                               X.shape[1], xp=xp, dtype=dtype)
    loss = _loss.LogisticLoss(X, Y, K, sample_weight=weights, total_weight=total, l2=l2)
    penalty = penalties.L1(l1 / loss.total_weight) if l1 else None
    w, b = loss.zeros()
    if not loss.multinomial:
        b = xp.reshape(b, ())  # the course's bias is a number
    image_shape, preprocessing = v.check_image_shape(image_shape, scale, X.shape[0])
    settings = dict(learning_rate=learning_rate, num_iterations=num_iterations,
                    image_shape=image_shape, preprocessing=preprocessing,
                    backend=_backends.backend_name(xp), device=_backends.device_name(get_device(X)),
                    dtype=_dtype_name(xp, dtype), n_classes=K, l2=l2, l1=l1, tol=tol)
    try:
        result = solvers.run(w, b, X, Y, num_iterations, learning_rate, solver=solver,
                             record_every=record_every, print_cost=print_cost, callback=callback, fused=fused,
                             loss=loss, tol=tol, check_x="X", penalty=penalty)
    except solvers.TrainingInterrupted as exc:
        exc.model = _make_model(exc.result, settings, interrupted=True)
        raise
    except solvers.TrainingDiverged as exc:
        raise _diverged_with_the_data_range(exc, X) from None
    trained = _make_model(result, settings)
    # One product over X, and one transfer to the host, for both the final cost (is it far above
    # the start?) and the accuracy: on Dask, two transfers would read X twice.
    logits = loss.logits if result.logits is None else result.logits  # the compiled pass's, where it ran
    Z = logits(result.w, xp.reshape(result.b, (loss.k, 1)))
    errors = xp.sum(xp.astype(labels_from_logits(Z, loss.multinomial) != Y, Y.dtype))
    final_cost = loss.value_from_logits(Z, result.w)
    final_cost = xp.reshape(final_cost + penalty.value(result.w) if penalty is not None else final_cost, ())
    final_cost, errors = (float(value) for value in _backends.to_numpy(xp.stack([final_cost, errors])))
    if trained.costs:
        try:
            _loop.check_not_diverged(trained.costs[0], final_cost, result.iterations)
        except solvers.TrainingDiverged as exc:
            raise _diverged_with_the_data_range(exc, X) from None
    trained.train_accuracy = 100 - errors / Y.shape[1] * 100  # as _accuracy
    trained.final_cost = final_cost
    if X_test is not None:
        trained.test_accuracy = _accuracy(trained.predict(X_test), Y_test)
    return trained


#: Features larger than this (in absolute value) explain a diverging run better than the learning rate.
UNSCALED_FEATURES = 10.0


def _diverged_with_the_data_range(exc, X):
    """`exc` (TrainingDiverged), with what X's range says when its features are far from unit scale.

    Unscaled pixels (0 .. 255) make gradient descent at the course's learning rate blow up; the
    message then says so, and how to scale them. One pass over X, on the error path only.
    """
    if sparse.is_sparse(X):
        return exc
    xp = array_namespace(X)
    top = float(_backends.to_numpy(xp.max(xp.abs(X))))
    if not top > UNSCALED_FEATURES:
        return exc
    return solvers.TrainingDiverged(
        f"{exc}. The features of X reach {top:g} in absolute value: unscaled pixel values (0 .. 255)? Divide X "
        "by 255, or build X with xlogreg.flatten_images, which does; features of any kind train best near unit "
        "scale (standardise them)")


def _dtype_name(xp, dtype):
    for name in ("float32", "float64"):
        if getattr(xp, name, None) == dtype:
            return name
    return str(dtype)


def _make_model(result, settings, interrupted=False):
    multinomial = settings["n_classes"] > 2
    return Model(
        w=result.w, b=result.b if multinomial else float(result.b),
        costs=[c for _, c in result.costs], cost_iterations=[i for i, _ in result.costs],
        iterations=result.iterations, interrupted=interrupted, solver=result.solver,
        converged=None if settings["tol"] is None else result.converged, **settings,
    )


def model(X_train, Y_train, X_test, Y_test, num_iterations=2000, learning_rate=0.5, print_cost=False):
    """The course's ``model()``: train, predict on both sets, print the accuracies.

    Returns
    -------
    d : dict
        ``costs``, ``Y_prediction_test``, ``Y_prediction_train``, ``w``, ``b``,
        ``learning_rate``, ``num_iterations``, as in the course.
    """
    if X_test is None or Y_test is None:  # before training and printing anything
        raise ValueError(
            "model() takes the test data as the course does: model(X_train, Y_train, X_test, Y_test, "
            f"...); got X_test={'None' if X_test is None else 'an array'} and "
            f"Y_test={'None' if Y_test is None else 'an array'}. To train without test data, use "
            "xlogreg.train(X_train, Y_train)"
        )
    trained = train(X_train, Y_train, X_test, Y_test, num_iterations=num_iterations,
                    learning_rate=learning_rate, print_cost=print_cost)
    print(f"train accuracy: {trained.train_accuracy} %")
    print(f"test accuracy: {trained.test_accuracy} %")
    return {
        "costs": trained.costs,
        "Y_prediction_test": trained.predict(X_test),
        "Y_prediction_train": trained.predict(X_train),
        "w": trained.w,
        "b": trained.b,
        "learning_rate": learning_rate,
        "num_iterations": num_iterations,
    }
