"""xlogreg: logistic regression with a neural network mindset, on any Array API backend.

The course's single sigmoid neuron trained by vectorized batch gradient
descent, written once against the Python Array API standard so the same code
runs on NumPy, CuPy, PyTorch, JAX, Dask and array-api-strict.
"""

from ._version import __version__

import importlib.util as _importlib_util

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

# The scikit-learn estimators: imported on first use (module __getattr__ below), so that
# `import xlogreg` needs only NumPy, array-api-compat and h5py (scikit-learn is the `sklearn` extra).
_ESTIMATORS = ("LogisticRegression", "LogisticRegressionCV")

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
# Listed where scikit-learn is installed (found without importing it), so that `from xlogreg import *`
# works without it: a star import resolves every name in __all__, and the estimators need scikit-learn.
if _importlib_util.find_spec("sklearn") is not None:
    __all__ += _ESTIMATORS


def __getattr__(name):
    if name in _ESTIMATORS:
        from . import estimator, estimator_cv  # ImportError naming the `sklearn` extra without scikit-learn

        return getattr(estimator_cv if name == "LogisticRegressionCV" else estimator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_ESTIMATORS))
