"""xlogreg: logistic regression with a neural network mindset, on any Array API backend.

The course's single sigmoid neuron trained by vectorized batch gradient
descent, written once against the Python Array API standard so the same code
runs on NumPy, CuPy, PyTorch, JAX, Dask and array-api-strict.
"""

from ._version import __version__

from ._backends import BACKENDS, BackendError, available_backends
from .core import (
    L1,
    L2,
    basic_sigmoid,
    image2vector,
    initialize_with_zeros,
    l1,
    l2,
    normalize_rows,
    normalizeRows,
    optimize,
    predict,
    propagate,
    sigmoid,
    sigmoid_derivative,
    softmax,
)
from .io import DataError, flatten_images, load_dataset, load_digits, save_model
from ._warnings import ConvergenceWarning
from .solvers import TrainingDiverged, TrainingInterrupted
from .training import Model, load_model, model, train

# The modules under their first published names (`from xlogreg.datasets import open_lazy`,
# `xlogreg.model_io.load_images`); the code is in xlogreg.io.
from . import datasets, model_io  # noqa: E402,F401  (after training: model_io re-exports load_model)

__all__ = [
    "L1",
    "L2",
    "BACKENDS",
    "BackendError",
    "ConvergenceWarning",
    "DataError",
    "Model",
    "TrainingDiverged",
    "TrainingInterrupted",
    "available_backends",
    "basic_sigmoid",
    "flatten_images",
    "image2vector",
    "initialize_with_zeros",
    "l1",
    "l2",
    "load_dataset",
    "load_digits",
    "load_model",
    "model",
    "normalize_rows",
    "normalizeRows",
    "optimize",
    "predict",
    "propagate",
    "save_model",
    "sigmoid",
    "sigmoid_derivative",
    "softmax",
    "train",
]


def __getattr__(name):
    # The scikit-learn estimator is imported on first use, so that `import xlogreg`
    # needs only NumPy, array-api-compat and h5py (scikit-learn is the `sklearn` extra).
    # It is left out of __all__ so that `from xlogreg import *` works without scikit-learn.
    if name == "LogisticRegression":
        from .estimator import LogisticRegression

        return LogisticRegression
    if name == "LogisticRegressionCV":
        from .estimator_cv import LogisticRegressionCV

        return LogisticRegressionCV
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"LogisticRegression", "LogisticRegressionCV"})
