"""The library API: ``train()`` returns a :class:`Model`; the course's ``model()``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from array_api_compat import array_namespace, device as get_device

from . import _backends, solvers
from . import _validation as v
from .core import predict_proba_unchecked, predict_unchecked, zeros_like_params

__all__ = ["Model", "train", "model"]


@dataclass
class Model:
    """A trained logistic-regression neuron.

    Attributes
    ----------
    w : array of shape (n_x, 1)
        Weights, in the namespace and on the device training ran on.
    b : float
        Bias.
    costs : list of float
        The cost at iterations ``cost_iterations`` (0, 100, 200, ... by default).
    cost_iterations : list of int
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
        Class names, index 0 for label 0 and 1 for label 1.
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

    @property
    def n_features(self):
        return self.w.shape[0]

    def _prepare(self, X, name="X"):
        """X in the model's namespace, device and dtype; host data is moved there."""
        X = v.as_array(X, name)
        xp = array_namespace(self.w)
        dev = get_device(self.w)
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
        X = xp.astype(X, self.w.dtype)
        v.check_finite(X, name)
        return X

    def predict_proba(self, X):
        """Probability of label 1 for each column of X: array of shape (1, m)."""
        return predict_proba_unchecked(self.w, self.b, self._prepare(X))

    def predict(self, X):
        """Labels 0.0 / 1.0 for each column of X (probability > 0.5 is 1): shape (1, m)."""
        return predict_unchecked(self.w, self.b, self._prepare(X))

    def accuracy(self, X, Y):
        """Percent of correct predictions, as the course prints it: ``100 - mean(|Yhat - Y|) * 100``."""
        X = self._prepare(X)
        xp = array_namespace(X)
        Y = v.check_Y(_to_like(Y, X, "Y"), X.shape[1], xp=xp, dtype=X.dtype)
        return _accuracy(predict_unchecked(self.w, self.b, X), Y)

    def to_numpy(self):
        """A copy of this model with w as a NumPy array (for saving, or CPU use)."""
        return dataclasses.replace(
            self, w=_backends.to_numpy(self.w), backend="numpy", device="cpu",
            costs=list(self.costs), cost_iterations=list(self.cost_iterations),
        )

    def save(self, path):
        """Write the model to an HDF5 file, atomically (see :func:`xlogreg.save_model`)."""
        from .model_io import save_model

        save_model(self, path)

    def __repr__(self):
        status = ", interrupted" if self.interrupted else ""
        return (
            f"Model(n_features={self.n_features}, b={self.b:.6g}, iterations={self.iterations}{status}, "
            f"learning_rate={self.learning_rate}, backend={self.backend!r}, device={self.device!r}, "
            f"dtype={self.dtype!r}, solver={self.solver!r}, final_cost="
            f"{self.costs[-1] if self.costs else None})"
        )


def _accuracy(Y_prediction, Y):
    # The count of errors is exact in any float dtype; the percent is taken in
    # Python floats so float32 models print the course's figures too.
    xp = array_namespace(Y)
    errors = float(xp.sum(xp.abs(Y_prediction - Y)))
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


def _prepare_data(X, Y, xp, dev, dtype, names):
    X = v.check_X(_move(v.as_array(X, names[0]), xp, dev, dtype), names[0])
    X = xp.astype(X, dtype) if X.dtype != dtype else X
    v.check_finite(X, names[0])
    Y = _move(v.as_array(Y, names[1]), xp, dev, dtype)
    v.check_not_transposed(Y, tuple(X.shape), names)
    Y = v.check_Y(Y, X.shape[1], names[1], xp=xp, dtype=dtype)
    return X, Y


def train(X, Y, X_test=None, Y_test=None, *, num_iterations=2000, learning_rate=0.005,
          backend=None, device=None, dtype=None, print_cost=False, solver="auto",
          record_every=100, callback=None, fused="auto", image_shape=None, scale=None):
    """Train a logistic-regression neuron by batch gradient descent from zero.

    Parameters
    ----------
    X : array of shape (n_x, m)
        Training data, one column per example (see :func:`xlogreg.flatten_images`).
    Y : array of shape (1, m) or (m,)
        Labels 0 / 1.
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
    solver : {"auto", "primal", "dual"}
    record_every : int
        Record the cost every this many iterations.
    callback : callable, optional
        ``callback(i, cost)`` after each iteration (see :func:`xlogreg.optimize`).
    fused : {"auto", True, False}
        The optional compiled kernels (numba; see :func:`xlogreg.optimize`).
    image_shape : tuple of int, optional
        ``(height, width, channels)`` of the images X was flattened from (for
        the course data ``(64, 64, 3)``, that is ``train_x.shape[1:]``), with
        ``height * width * channels == n_x``. Stored as ``Model.image_shape``,
        so the saved model classifies picture files (``xlogreg predict MODEL
        picture.png``, :func:`xlogreg.model_io.load_images`).
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
        The cost or parameters stopped being finite (learning rate too large).
    TrainingInterrupted
        Ctrl-C; its ``model`` attribute holds the model trained so far.

    Examples
    --------
    >>> import numpy as np, xlogreg
    >>> X = np.array([[0.0, 1.0, 2.0, 3.0]])
    >>> model = xlogreg.train(X, [0, 0, 1, 1], num_iterations=500, learning_rate=0.5)
    >>> model.predict(X)
    array([[0., 0., 1., 1.]])
    """
    num_iterations = v.check_iterations(num_iterations)
    learning_rate = v.check_learning_rate(learning_rate)
    record_every = v.check_positive_int(record_every, "record_every")
    if solver not in solvers.SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(solvers.SOLVERS)}; got {solver!r}")
    solvers.check_fused_option(fused)
    v.check_callback(callback)
    if (X_test is None) != (Y_test is None):
        raise ValueError("X_test and Y_test must be given together; got only one of them")
    X = v.as_array(X, "X")
    if backend is None:  # keep X where it is; other arrays must already be there (lists are fine)
        given = {"X": X, "Y": Y, "X_test": X_test, "Y_test": Y_test}
        v.same_namespace(**{k: a for k, a in given.items() if v.is_array(a)})
    xp, dev = _backends.resolve(backend, device, like=X)
    dtype = _backends.floating_dtype(xp, dev, dtype, like=X)
    X, Y = _prepare_data(X, Y, xp, dev, dtype, ("X", "Y"))
    if X_test is not None:
        X_test, Y_test = _prepare_data(X_test, Y_test, xp, dev, dtype, ("X_test", "Y_test"))
        if X_test.shape[0] != X.shape[0]:
            raise ValueError(
                f"X_test must have {X.shape[0]} features per example like X; got shape {tuple(X_test.shape)}"
            )
    w, b = zeros_like_params(X)
    image_shape, preprocessing = v.check_image_shape(image_shape, scale, X.shape[0])
    settings = dict(learning_rate=learning_rate, num_iterations=num_iterations,
                    image_shape=image_shape, preprocessing=preprocessing,
                    backend=_backends.backend_name(xp), device=_backends.device_name(get_device(X)),
                    dtype=_dtype_name(xp, dtype))
    try:
        result = solvers.run(w, b, X, Y, num_iterations, learning_rate, solver=solver,
                             record_every=record_every, print_cost=print_cost, callback=callback, fused=fused)
    except solvers.TrainingInterrupted as exc:
        exc.model = _make_model(exc.result, settings, interrupted=True)
        raise
    trained = _make_model(result, settings)
    trained.train_accuracy = _accuracy(predict_unchecked(trained.w, trained.b, X), Y)
    if X_test is not None:
        trained.test_accuracy = _accuracy(predict_unchecked(trained.w, trained.b, X_test), Y_test)
    return trained


def _dtype_name(xp, dtype):
    for name in ("float32", "float64"):
        if getattr(xp, name, None) == dtype:
            return name
    return str(dtype)


def _make_model(result, settings, interrupted=False):
    return Model(
        w=result.w, b=float(result.b),
        costs=[c for _, c in result.costs], cost_iterations=[i for i, _ in result.costs],
        iterations=result.iterations, interrupted=interrupted, solver=result.solver, **settings,
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
