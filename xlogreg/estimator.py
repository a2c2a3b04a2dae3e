"""``xlogreg.LogisticRegression``: the scikit-learn estimator, fitted where the data lives.

scikit-learn's conventions: X of shape ``(n_samples, n_features)``, one row
per example (the **transpose** of the course's ``(n_x, m)``; the estimator
transposes it, without a copy, for the engine of :mod:`xlogreg._loss`). The
objective is scikit-learn's: ``C sum_i s_i L_i + ||W||^2 / 2`` (the biases
not penalised), which has the optimum of the engine's
``J = sum_i s_i L_i / S + l2 / (2 S) ||W||^2`` with ``l2 = 1 / C``, whatever
the total weight S; ``class_weight`` multiplies the sample weights, as in
scikit-learn.

Arrays of any Array API library (torch, CuPy, JAX, Dask, array-api-strict)
are fitted in their namespace and on their device, with no configuration:
``coef_``, ``intercept_``, ``n_iter_`` and the outputs of
``decision_function`` / ``predict_proba`` stay there, and ``classes_`` too
where the labels are numbers. The labels and sample weights are encoded on
the host (one copy of ``y`` in, the encoded labels out), once per fit; the
iterations run on the device with a host synchronisation only every ten
iterations, for the stopping rule.

scikit-learn is needed by this module only: ``import xlogreg`` does not import
it (``xlogreg.LogisticRegression`` imports this module on first use).
"""

from __future__ import annotations

import math
import numbers
import warnings

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score
    from sklearn.utils.class_weight import compute_class_weight
    from sklearn.utils import assert_all_finite
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import (
        _check_sample_weight,
        check_consistent_length,
        check_is_fitted,
        column_or_1d,
        validate_data,
    )
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "xlogreg.LogisticRegression needs scikit-learn, which is not installed; install it with "
        "`pip install scikit-learn`"
    ) from exc

import array_api_compat
import numpy as np
from array_api_compat import device as get_device

from . import _backends, _loss, solvers
from . import _validation as v
from . import _warnings
from .data import compiled, sparse
from .solvers import lbfgs, newton, prox_newton
from .solvers.agd import accelerated_gradient, lipschitz_constant
from ._namespace import array_namespace

__all__ = ["LogisticRegression"]

_SOLVERS = ("auto", "lbfgs", "newton-cg", "newton-cholesky", "agd", "gd", "prox-newton")
#: The solvers that fit an L1 term (l1_ratio > 0); "auto" takes the first.
_L1_SOLVERS = ("prox-newton",)
#: scikit-learn's solvers that xlogreg does not have (refused by name, pointing to scikit-learn).
_SKLEARN_ONLY_SOLVERS = ("liblinear", "sag", "saga")

#: ``solver="auto"`` forms and solves the Hessian (newton-cholesky) up to this many
#: parameters ``(n_features + 1) * k``; above, it runs L-BFGS, and Newton-CG after
#: :data:`AUTO_LBFGS_ITERATIONS` L-BFGS iterations that did not reach `tol`. Measured
#: (benchmarks/bench_workloads.py, benchmarks/results/bench_workloads_before.txt): forming the Hessian
#: costs ``m p^2`` per iteration, and at 400 parameters (benchopt's 100,000 x 400) Newton-Cholesky took
#: 3.0 s against L-BFGS's 0.52 s; at 650 (digits, 10 classes) 159 ms against Newton-CG's 38 ms; at 101
#: (100,000 x 100) the three solvers are within 20% of each other.
CHOLESKY_MAX_PARAMETERS = 200

#: ``solver="auto"`` above :data:`CHOLESKY_MAX_PARAMETERS`: the L-BFGS iterations before Newton-CG takes
#: over. Measured (same file): where L-BFGS wins it converges in 11 to 18 iterations (160,000 x 512
#: embeddings, 10 classes: 1.3 s against Newton-CG's 5.5 s; the 1,000-class probe: 5.5 s against 308 s;
#: benchopt's problems without intercept); where Newton wins, L-BFGS needs 119 to 227 (digits, the
#: 50,000 x 256 float32 10-class problem, the 209 x 12,288 cat pictures), and Newton-CG 5 to 10.
AUTO_LBFGS_ITERATIONS = 25


def choose_solver(n_features, k, *, lazy=False):
    """What ``solver="auto"`` runs for an L2 (or no) penalty: ``"newton-cholesky"`` up to
    :data:`CHOLESKY_MAX_PARAMETERS` parameters ``(n_features + 1) k`` (k = 1 for two classes, K for
    more), else ``"lbfgs+newton-cg"``: L-BFGS for at most :data:`AUTO_LBFGS_ITERATIONS` iterations,
    then, if `tol` is not reached, Newton-CG from where L-BFGS stopped.

    On a `lazy` (Dask) X, ``"newton-cg"`` above that limit: every L-BFGS evaluation is a read of X,
    and Newton-CG batches its passes. Measured (``benchmarks/bench_dask_newton.py``,
    ``benchmarks/results/bench_dask_newton.txt``, 200,000 x 100 in chunks of 25,000): Newton-CG in
    memory 1.27 s against 5.37 s for L-BFGS; out of core from HDF5 1.75 s against 6.03 s.
    (Newton-Cholesky took 1.79 s and 2.38 s there; below the limit, Dask fits the same solver as
    in-memory data.)"""
    if (n_features + 1) * k <= CHOLESKY_MAX_PARAMETERS:
        return "newton-cholesky"
    return "newton-cg" if lazy else "lbfgs+newton-cg"


#: Iterations between two checks of `tol` (each check is one host synchronisation).
CHECK_EVERY = 10


def _foreign(x):
    """True for an array of an Array API library other than NumPy (torch, CuPy, JAX, Dask, strict, ...)."""
    return v.is_array(x) and not array_api_compat.is_numpy_array(x)


def _to_host(x):
    """``x`` on the host: arrays of any library become NumPy; lists and frames are left to NumPy / scikit-learn."""
    return _backends.to_numpy(x) if _foreign(x) else x


def _is_inf(value):
    """True for a positive infinite real `value` (``C=numpy.inf``: no penalty)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isinf(value) and value > 0


def _real(value, name, *, minimum=None, strict=False, allow_inf=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    if math.isnan(value) or (math.isinf(value) and not (allow_inf and value > 0)):
        raise ValueError(f"{name} must be a finite real number; got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}; got {value!r}")
    return float(value)


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic (two classes) and softmax (more classes) regression with scikit-learn's interface.

    A drop-in for the L2 / unpenalised cases of
    :class:`sklearn.linear_model.LogisticRegression` (scikit-learn 1.9's
    whole constructor: same ``C``, ``l1_ratio``, ``class_weight``,
    ``sample_weight``, hence the same optimum), fitted in the namespace and
    on the device of X (torch, CuPy, JAX, Dask, array-api-strict or NumPy)
    with no configuration.

    Parameters
    ----------
    penalty : {"l2", None, "l1", "elasticnet"}, deprecated
        scikit-learn 1.8 deprecated it (removed in 1.10): set ``l1_ratio`` and
        ``C`` instead. Given, it keeps its meaning, with scikit-learn's
        FutureWarning (and its UserWarning where ``penalty=None`` meets a ``C``).
    C : float > 0
        Inverse regularisation strength, as in scikit-learn (the engine's
        ``l2 = 1 / C``): the L2 penalty ``||W||^2 / 2`` with ``C sum_i s_i L_i``;
        ``numpy.inf`` is no penalty.
    l1_ratio : float in [0, 1]
        0 (the default) is the L2 penalty; 1 is L1 and between is the elastic
        net ``C sum_i s_i L_i + (1 - r)/2 ||W||^2 + r ||W||_1``, fitted by
        proximal Newton (``solver="auto"`` or ``"prox-newton"``; other solvers
        refuse it), with exact zeros in ``coef_``. None is deprecated, as in
        scikit-learn (a FutureWarning; it means 0).
    dual : bool
        Only False: the dual formulation is liblinear's (True raises).
    tol : float >= 0
        Stop at the first check (Newton: every iteration; ``"agd"`` / ``"gd"``:
        every 10) where the Euclidean norm of the gradient of the mean objective
        ``sum_i s_i L_i / S + ||W||^2 / (2 C S)`` (W and b together) is at most
        `tol` (Newton: and its decrement, the gap its model predicts, at most
        ``tol**2``). Newton and L-BFGS also stop, converged, where their model predicts a
        decrease within the objective's rounding and steps no longer shrink the
        gradient (float32 with a tol below its reach). 0 runs all `max_iter`
        iterations (``"agd"`` / ``"gd"``). A fit that ends unconverged issues a
        :class:`~sklearn.exceptions.ConvergenceWarning` in scikit-learn's words.
    fit_intercept : bool
        False keeps the intercepts at 0 (every solver, Newton's included).
    intercept_scaling : float > 0
        Accepted, no effect: it is liblinear's (xlogreg never penalises the intercept).
    class_weight : None, dict or "balanced"
        Weights of the classes, multiplied into the sample weights;
        ``"balanced"`` is ``n_samples / (n_classes * count(class))``, as in scikit-learn.
    random_state : None, int or numpy.random.RandomState
        Accepted, no effect: every solver here is deterministic.
    solver : {"auto", "lbfgs", "newton-cg", "newton-cholesky", "agd", "gd", "prox-newton"}
        ``"auto"`` (:func:`choose_solver`): up to :data:`CHOLESKY_MAX_PARAMETERS`
        parameters ``(n_features + 1) k``, Newton's method with the Hessian formed
        and solved (``"newton-cholesky"``, :mod:`xlogreg.solvers.newton`); above,
        L-BFGS for :data:`AUTO_LBFGS_ITERATIONS` iterations, which is where it
        ends on well-conditioned data (embeddings, probes), then, if `tol` is not
        reached, Newton-CG from there (ill-conditioned data, where Newton needs
        few iterations and L-BFGS hundreds); on a Dask X, Newton-CG alone above
        the limit (each L-BFGS evaluation reads X); with or without an intercept.
        ``"newton-cg"`` alone: conjugate gradients on Hessian-vector products
        (on the Gram matrix when there are more features than samples). ``"lbfgs"``, scikit-learn's default: the
        quasi-Newton method of :mod:`xlogreg.solvers.lbfgs` (a strong Wolfe line
        search, one pass over X per step; no Hessian), with or without an
        intercept. ``"agd"``: accelerated gradient descent
        with the step ``1 / L`` from the loss's Lipschitz bound
        (:mod:`xlogreg.solvers.agd`). ``"gd"``: the course's batch gradient
        descent (:func:`xlogreg.train`'s iteration) with `learning_rate`;
        for two classes without a penalty and ``tol=0`` it gives exactly
        :func:`xlogreg.train`'s model. scikit-learn's ``"liblinear"``,
        ``"sag"`` and ``"saga"`` are refused by name.
    max_iter : int >= 0
        The most iterations (Newton steps, L-BFGS steps, both together for
        ``"auto"``, or gradient steps); 2000 by
        default (scikit-learn: 100), for ``"gd"``.
    verbose : int
        1 prints one line per fit; 2 also the course's cost lines (``solver="gd"``).
    warm_start : bool
        Start the next fit from the fitted ``coef_`` and ``intercept_``
        (when the classes and features are the same).
    n_jobs : None or int
        Accepted, no effect; deprecated by scikit-learn 1.8, with its FutureWarning when set.
    learning_rate : "auto" or float > 0
        The step: ``"auto"`` is ``1 / L``; a number is used as given (the
        course used 0.005 on its image data).
    backend : str, optional
        A name of :data:`xlogreg.BACKENDS`: host data (NumPy, lists, data
        frames) is moved there once, at fit and at predict. None fits where X lives.
    device : optional
        A device of that backend (object, name such as ``"cuda:1"``, or index).
    dtype : {None, "float32", "float64"}
        None keeps X's floating dtype (integer data: the device's default).

    Attributes
    ----------
    classes_ : array of shape (n_classes,)
        The labels, sorted; in X's namespace and device where they are numbers.
    coef_ : array of shape (1, n_features), or (n_classes, n_features) for more than two classes
    intercept_ : array of shape (1,), or (n_classes,)
    n_iter_ : array of shape (1,), int32
        Iterations run.
    n_features_in_ : int
    feature_names_in_ : array of shape (`n_features_in_`,)
        Column names, where X was a data frame with string column names.

    Notes
    -----
    The course writes X as ``(n_x, m)``, one **column** per example;
    scikit-learn (and this class) as ``(n_samples, n_features)``, one **row**
    per example: ``LogisticRegression().fit(X.T, y)`` fits what
    ``xlogreg.train(X, y)`` trains.

    Examples
    --------
    >>> import numpy as np
    >>> from xlogreg import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = LogisticRegression(C=10.0).fit(X, ["no", "no", "yes", "yes"])
    >>> clf.predict(np.array([[0.2], [2.8]])).tolist()
    ['no', 'yes']
    >>> import array_api_strict as xp
    >>> clf = LogisticRegression().fit(xp.asarray(X), xp.asarray([0, 0, 1, 1]))
    >>> type(clf.coef_).__module__.split(".")[0]
    'array_api_strict'
    """

    def __init__(self, penalty="deprecated", *, C=1.0, l1_ratio=0.0, dual=False, tol=1e-4, fit_intercept=True,
                 intercept_scaling=1, class_weight=None, random_state=None, solver="auto", max_iter=2000, verbose=0,
                 warm_start=False, n_jobs=None, learning_rate="auto", backend=None, device=None, dtype=None):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.dual = dual
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.learning_rate = learning_rate
        self.backend = backend
        self.device = device
        self.dtype = dtype

    # ------------------------------------------------------------------ scikit-learn's protocol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        tags.input_tags.sparse = True
        return tags

    def _penalty(self):
        """The penalty meant by `penalty`, `l1_ratio` and `C`, with scikit-learn 1.9's warnings and meaning.

        Returns ``"l2"``, ``"l1"``, ``"elasticnet"`` or None (no penalty:
        ``C=numpy.inf``, or ``penalty=None``).
        """
        l1_ratio = self.l1_ratio
        if l1_ratio is not None:
            l1_ratio = _real(l1_ratio, "l1_ratio", minimum=0)
            if l1_ratio > 1:
                raise ValueError(f"l1_ratio must be a real number in [0, 1]; got {self.l1_ratio!r}")
        if isinstance(self.penalty, str) and self.penalty == "deprecated":
            if l1_ratio is None or l1_ratio == 0:
                penalty = "l2"
                if l1_ratio is None:
                    warnings.warn("'l1_ratio=None' was deprecated in version 1.8 and will trigger an error in "
                                  "1.10. Use 0<=l1_ratio<=1 instead.", FutureWarning, stacklevel=4)
            else:
                penalty = "l1" if l1_ratio == 1 else "elasticnet"
            return None if _is_inf(self.C) else penalty
        if self.penalty not in ("l1", "l2", "elasticnet", None):
            raise ValueError(f"penalty must be 'l1', 'l2', 'elasticnet' or None (better: leave it unset and use "
                             f"l1_ratio and C); got {self.penalty!r}")
        warnings.warn(
            "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To avoid this warning, leave "
            "'penalty' set to its default value and use 'l1_ratio' or 'C' instead. Use l1_ratio=0 instead of "
            "penalty='l2', l1_ratio=1 instead of penalty='l1', l1_ratio set to a float between 0 and 1 instead of "
            "penalty='elasticnet', and C=np.inf instead of penalty=None.", FutureWarning, stacklevel=4)
        penalty = self.penalty
        if penalty != "elasticnet" and l1_ratio is not None and 0 < l1_ratio < 1:
            warnings.warn(f"l1_ratio parameter is only used when penalty is 'elasticnet'. Got (penalty={penalty})",
                          UserWarning, stacklevel=4)
        if (penalty == "l2" and l1_ratio != 0) or (penalty == "l1" and l1_ratio != 1):
            warnings.warn(f"Inconsistent values: penalty={penalty} with l1_ratio={self.l1_ratio}. penalty is "
                          "deprecated. Please use l1_ratio only.", UserWarning, stacklevel=4)
        if penalty == "elasticnet" and l1_ratio is None:
            raise ValueError("l1_ratio must be specified when penalty is elasticnet.")
        if penalty is None and not (isinstance(self.C, numbers.Real) and self.C == 1.0):
            warnings.warn("Setting penalty=None will ignore the C and l1_ratio parameters", UserWarning,
                          stacklevel=4)
        return penalty

    def _check_params(self):
        """The parameters checked (scikit-learn's warnings included): ``(solver, C, tol, learning_rate)``.

        `solver` is the one that runs; `C` is ``inf`` where there is no penalty.
        """
        C = _real(self.C, "C", minimum=0, strict=True, allow_inf=True)
        penalty = self._penalty()  # first, as scikit-learn: its warnings and errors whatever the solver
        if self.solver in _SKLEARN_ONLY_SOLVERS:
            raise ValueError(
                f"solver={self.solver!r} is not available in xlogreg: solver must be one of "
                f"{', '.join(map(repr, _SOLVERS))}; use "
                f"sklearn.linear_model.LogisticRegression for {', '.join(map(repr, _SKLEARN_ONLY_SOLVERS))}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(map(repr, _SOLVERS))}; got {self.solver!r}")
        l1 = penalty in ("l1", "elasticnet") and not math.isinf(C)
        if l1 and self.solver not in ("auto", *_L1_SOLVERS):
            raise ValueError(
                f"Solver {self.solver} supports only 'l2' or None penalties, got {penalty} penalty "
                f"(l1_ratio={self.l1_ratio!r}): in xlogreg, L1 and elastic net are fitted by "
                f"{' or '.join(map(repr, _L1_SOLVERS))} (solver='auto' takes it)")
        if not l1 and self.solver in _L1_SOLVERS:
            raise ValueError(f"solver={self.solver!r} fits an L1 term: set l1_ratio > 0 (and a finite C), or "
                             "leave solver='auto' for the L2 penalty")
        #: the share of L1 in the penalty, read by fit (0 for L2 or no penalty)
        self._l1_share = (1.0 if penalty == "l1" else float(self.l1_ratio)) if l1 else 0.0
        if not isinstance(self.dual, (bool, np.bool_)):
            raise TypeError(f"dual must be True or False; got {self.dual!r}")
        if self.dual:
            raise ValueError(f"Solver {self.solver} supports only dual=False, got dual=True (the dual formulation "
                             "is liblinear's, which xlogreg does not have)")
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept must be True or False; got {self.fit_intercept!r}")
        _real(self.intercept_scaling, "intercept_scaling", minimum=0, strict=True)
        if not (self.random_state is None or isinstance(self.random_state, (numbers.Integral, np.random.RandomState,
                                                                            np.random.Generator))):
            raise ValueError(f"random_state must be None, an int or a numpy RandomState; got {self.random_state!r}")
        if self.n_jobs is not None:
            if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, numbers.Integral):
                raise ValueError(f"n_jobs must be None or an integer; got {self.n_jobs!r}")
            warnings.warn("'n_jobs' has no effect since 1.8 and will be removed in 1.10. You provided "
                          f"'n_jobs={self.n_jobs}', please leave it unspecified.", FutureWarning, stacklevel=3)
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 0:
            raise ValueError(f"max_iter must be an integer >= 0; got {self.max_iter!r}")
        tol = _real(self.tol, "tol", minimum=0)
        if isinstance(self.learning_rate, str):
            if self.learning_rate != "auto":
                raise ValueError(f"learning_rate must be 'auto' or a number > 0; got {self.learning_rate!r}")
            learning_rate = None
        else:
            learning_rate = _real(self.learning_rate, "learning_rate", minimum=0, strict=True)
        cw = self.class_weight
        if not (cw is None or isinstance(cw, dict) or (isinstance(cw, str) and cw == "balanced")):
            raise ValueError(f"class_weight must be None, a dict {{label: weight}} or 'balanced'; got {cw!r}")
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start must be True or False; got {self.warm_start!r}")
        if self.backend is not None and self.backend not in _backends.BACKENDS:
            raise ValueError(f"backend must be None or one of {', '.join(_backends.BACKENDS)}; got {self.backend!r}")
        if isinstance(self.verbose, bool) or not isinstance(self.verbose, numbers.Integral) or self.verbose < 0:
            raise ValueError(f"verbose must be an integer >= 0; got {self.verbose!r}")
        return self.solver, (math.inf if penalty is None else C), tol, learning_rate

    def _moves_host_data(self):
        return self.backend is not None or self.device is not None or self.dtype is not None

    def _target(self, X):
        """``(xp, device, dtype)`` to fit in: X's own, or those asked for with backend / device / dtype."""
        if self._moves_host_data():
            xp, dev = _backends.resolve(self.backend, self.device, like=X)
        else:
            xp, dev = array_namespace(X), get_device(X)
        return xp, dev, _backends.floating_dtype(xp, dev, self.dtype, like=X)

    def _fitted_place(self):
        """``(xp, device, dtype)`` of the fitted attributes: ``intercept_``'s, which stays an array of the
        fit's namespace when :meth:`sparsify` has made ``coef_`` a SciPy matrix."""
        return array_namespace(self.intercept_), get_device(self.intercept_), self.intercept_.dtype

    def _validate_X(self, X, reset, method):
        """X checked and placed: in the fitted namespace / device / dtype (or the target's, at fit)."""
        if sparse.is_sparse(X):  # SciPy, torch, CuPy sparse: checked on the stored values, never densified
            X = (validate_data(self, X, reset=reset, accept_sparse=("csr", "csc", "coo"),
                               dtype=[np.float64, np.float32])
                 if sparse.is_scipy_sparse(X) else validate_data(self, X, reset=reset, skip_check_array=True))
            X = sparse.as_matrix(X, "X", finite=False)
            xp, dev, dtype = self._target(X) if reset else self._fitted_place()
            return sparse.as_matrix(X, "X", dtype=dtype, xp=xp, device=dev)
        if _foreign(X):
            v.check_dense_chunks(X, "X")
            X = validate_data(self, X, reset=reset, skip_check_array=True)
            if X.ndim != 2:
                raise ValueError(f"X must be 2-D of shape (n_samples, n_features); got shape {tuple(X.shape)}. "
                                 "Reshape a single feature with X.reshape(-1, 1), a single sample with "
                                 "X.reshape(1, -1)")
            if X.shape[0] < 1 or X.shape[1] < 1:
                raise ValueError(f"X must have at least one sample and one feature; got shape {tuple(X.shape)}")
            X = v.check_float(X, "X", array_namespace(X))
        else:
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        if reset:
            xp, dev, dtype = self._target(X)
        else:
            xp, dev, dtype = self._fitted_place()
            same = array_namespace(X) is xp and str(get_device(X)) == str(dev)
            if not same and not (self._moves_host_data() and not _foreign(X)):
                raise ValueError(
                    f"{type(self).__name__}.{method}(): X must use the same namespace and device as the fitted "
                    f"attributes (it must use the same namespace as the data given to fit): the model is "
                    f"{_backends.backend_name(xp)} on {_backends.device_name(dev)}, X is "
                    f"{_backends.backend_name(array_namespace(X))} on {_backends.device_name(get_device(X))}; "
                    "move X there, or set backend= / device= to have host data moved for you"
                )
        X = _backends.asarray(X, xp, dev, dtype)
        if _foreign(X):
            v.check_finite(X, "X")
        return X

    # ------------------------------------------------------------------ fit

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X ``(n_samples, n_features)`` and labels y ``(n_samples,)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy, a data frame, a list, or an array of any Array API library
            (fitted in its namespace and on its device).
        y : array-like of shape (n_samples,)
            Labels of any kind (integers, strings, booleans), at least two distinct.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; integer weights fit as repeated rows.

        Returns
        -------
        self
        """
        solver, C, tol, learning_rate = self._check_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        X = self._validate_X(X, reset=True, method="fit")
        xp, dev = array_namespace(X), get_device(X)
        m = X.shape[0]
        _, classes, y_index, _, fit_weight = self._targets(X, y, sample_weight)
        K = classes.shape[0]
        weights = fit_weight if sample_weight is not None or self.class_weight is not None else None
        Xt = X.T  # (n_x, m): the engine's layout, a view
        labels = _backends.asarray(np.reshape(y_index, (1, m)).astype(np.float64), xp, dev, X.dtype)
        loss_weights = total = None
        if weights is not None:
            loss_weights = _backends.asarray(np.reshape(weights, (1, m)), xp, dev, X.dtype)
            total = float(weights.sum())
        l1_share = self._l1_share
        # C = inf (or penalty=None): no penalty, as in scikit-learn; with L1, the penalty is the solver's
        l2 = 0.0 if math.isinf(C) or l1_share else 1.0 / C
        method = (choose_solver(Xt.shape[0], K if K > 2 else 1, lazy=array_api_compat.is_dask_array(Xt))
                  if solver == "auto" and not l1_share else solver)  # L-BFGS's evaluations compiled where it pays:
        fused = method in ("lbfgs", "lbfgs+newton-cg") and compiled.choose_fused_softmax(Xt, K, int(self.max_iter))
        loss = _loss.LogisticLoss(Xt, labels, K, sample_weight=loss_weights, total_weight=total, l2=l2, fused=fused)
        W0, b0 = self._start(loss, classes, Xt)

        if l1_share:  # L1 / elastic net: proximal Newton (xlogreg/solvers/prox_newton.py)
            warm = self.warm_start and hasattr(self, "coef_") and bool(xp.any(W0 != 0))
            with warnings.catch_warnings():  # the iteration limit is reported below, as scikit-learn's warning
                warnings.simplefilter("ignore", _warnings.ConvergenceWarning)
                result = prox_newton.fit_l1(loss, C, l1_share, W0, b0 if warm else None, tol=tol,
                                            max_iter=int(self.max_iter), fit_intercept=bool(self.fit_intercept))
            W, b, n_iter, step = result.w, result.b, result.iterations, 1.0
            converged = result.converged or tol == 0
            gradient_norm = math.sqrt(float(xp.sum(result.dw * result.dw) + xp.sum(result.db * result.db)))
            final_cost, ran = None, "prox-newton"
        elif solver == "gd" and self.fit_intercept:
            step = learning_rate if learning_rate is not None else 1 / lipschitz_constant(loss, True)
            b_start = xp.reshape(b0, ()) if loss.k == 1 else b0  # the course's bias is a number
            result = solvers.run(W0, b_start, Xt, labels, int(self.max_iter), step, solver="auto",
                                 record_every=CHECK_EVERY, print_cost=self.verbose > 1, loss=loss,
                                 tol=tol if tol > 0 else None)
            W, b, n_iter = result.w, xp.reshape(result.b, (loss.k, 1)), result.iterations
            converged = result.converged
            gradient_norm = math.sqrt(float(xp.sum(result.dw * result.dw) + xp.sum(result.db * result.db)))
            final_cost = result.costs[-1][1] if result.costs else float("nan")
            ran = "gd"
        elif solver in ("auto", "newton-cg", "newton-cholesky", "lbfgs"):
            max_iter, n_iter, final_cost = int(self.max_iter), 0, None
            with warnings.catch_warnings():  # the iteration limit is reported below, as scikit-learn's warning
                warnings.simplefilter("ignore", _warnings.ConvergenceWarning)
                if method in ("lbfgs", "lbfgs+newton-cg"):
                    first = max_iter if method == "lbfgs" else min(max_iter, AUTO_LBFGS_ITERATIONS)
                    result = lbfgs.lbfgs(loss, W0, b0, tol=tol, max_iter=first, fit_intercept=self.fit_intercept)
                    n_iter = result.iterations
                    if method == "lbfgs+newton-cg" and not result.converged and n_iter < max_iter:
                        # L-BFGS is slow here (ill-conditioned data): Newton-CG goes on from where it stopped
                        result = newton.newton_cg(loss, result.w, result.b, tol=tol, max_iter=max_iter - n_iter,
                                                  fit_intercept=bool(self.fit_intercept))
                        n_iter += result.iterations
                        method = "newton-cg"
                    else:
                        method = "lbfgs"
                elif method == "newton-cholesky":
                    result = newton.newton_cholesky(loss, W0, b0, tol=tol, max_iter=max_iter,
                                                    fit_intercept=bool(self.fit_intercept))
                    n_iter = result.iterations
                else:
                    gram = (loss.ops.product_work(Xt) > m * m and not array_api_compat.is_dask_array(Xt)
                            and not bool(xp.any(W0 != 0)))
                    result = newton.newton_cg(loss, W0, b0, tol=tol, max_iter=max_iter, gram=gram,
                                              fit_intercept=bool(self.fit_intercept))
                    n_iter = result.iterations
            W, b, step = result.w, result.b, 1.0
            converged = result.converged or tol == 0
            gradient_norm = math.sqrt(float(xp.sum(result.dw * result.dw) + xp.sum(result.db * result.db)))
            final_cost = result.costs[-1][1] if result.costs else None
            ran = method
        else:
            # "agd": accelerated, in centred and scaled coordinates; "gd" without intercept: the plain iteration
            accelerate = solver == "agd"
            result = accelerated_gradient(loss, W0, b0, max_iter=int(self.max_iter), tol=tol, step=learning_rate,
                                          fit_intercept=self.fit_intercept, momentum=accelerate,
                                          precondition=accelerate, check_every=CHECK_EVERY)
            W, b, n_iter, step = result.W, result.b, result.iterations, result.step
            converged, gradient_norm = result.converged, result.gradient_norm
            final_cost, ran = None, solver  # the message of "agd" / "gd" does not quote the loss
        if tol > 0 and not converged:
            warnings.warn(self._convergence_message(ran, n_iter, final_cost, gradient_norm, tol),
                          ConvergenceWarning, stacklevel=2)
        if self.verbose:
            print(f"{type(self).__name__} ({ran}): {n_iter} iterations, gradient norm {gradient_norm:.3g}, "
                  f"{'converged' if converged else 'not converged'} (tol={tol:g}, step={step:.3g})")

        self.classes_ = self._classes_like(classes, xp, dev)
        self.coef_ = xp.reshape(W.T, (loss.k, Xt.shape[0]))
        self.intercept_ = xp.reshape(b, (loss.k,))
        self.n_iter_ = xp.asarray([n_iter], dtype=xp.int32, device=dev)
        self._converged = bool(converged)
        self._step = float(step)
        return self

    def _targets(self, X, y, sample_weight, *, class_weight_keys=False):
        """The labels and weights of a fit, checked on the host (shared by every estimator's ``fit``).

        Parameters
        ----------
        X : array or SparseMatrix of shape (n_samples, n_features)
            Checked already (its length is compared with y's).
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,) or None
        class_weight_keys : bool
            Refuse a `class_weight` dict with a key that is not a label (LogisticRegressionCV's check).

        Returns
        -------
        y_host : ndarray of shape (n_samples,)
        classes : ndarray of shape (n_classes,)
            The sorted labels, at least two.
        y_index : ndarray of shape (n_samples,)
            Each label's index in `classes`.
        sample_weight : ndarray of shape (n_samples,), float64
            The sample weights checked (ones where None).
        fit_weight : ndarray of shape (n_samples,), float64
            The sample weights times the class weights: the weights of the fit.
        """
        m = X.shape[0]
        y_host = column_or_1d(_to_host(y), warn=True)
        check_consistent_length(X, y_host)
        if y_host.dtype.kind in "fc":
            assert_all_finite(y_host, input_name="y")
        check_classification_targets(y_host)
        classes, y_index = np.unique(y_host, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in the data, but the "
                             f"data contains only one class: {classes[0]!r}")
        sw = _check_sample_weight(None if sample_weight is None else _to_host(sample_weight),
                                  np.empty((m, 0)), dtype=np.float64, ensure_non_negative=True, copy=True)
        fit_weight = sw
        if self.class_weight is not None:
            if (class_weight_keys and isinstance(self.class_weight, dict)
                    and not set(self.class_weight) <= set(classes.tolist())):
                raise ValueError(f"class_weight must have the class labels as keys; the classes are "
                                 f"{classes.tolist()}, class_weight has {sorted(self.class_weight, key=str)}")
            cw = compute_class_weight(self.class_weight, classes=classes, y=y_host, sample_weight=sw)
            fit_weight = sw * cw[y_index]
        per_class = np.bincount(y_index, weights=fit_weight, minlength=classes.shape[0])
        if np.count_nonzero(per_class > 0) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes with non-zero "
                             "weight; after sample_weight and class_weight only one class is left")
        return y_host, classes, y_index, sw, fit_weight

    def _convergence_message(self, ran, n_iter, cost, gradient_norm, tol):
        """The ConvergenceWarning's text: scikit-learn's for the solver named, then what xlogreg measured.

        scikit-learn's users and tests match on its words: ``"lbfgs failed to
        converge"``, ``"newton-cg failed to converge at loss = ..."``,
        ``"Newton solver did not converge after n iterations."``.
        """
        at_limit = n_iter >= self.max_iter
        increase = (f"Increase the number of iterations to improve the convergence (max_iter={self.max_iter}).\n"
                    if at_limit else "")
        scale = ("You might also want to scale the data as shown in:\n"
                 "    https://scikit-learn.org/stable/modules/preprocessing.html")
        measured = (f"xlogreg ({ran}): the gradient norm is {gradient_norm:.3g} > tol={tol:g} after {n_iter} "
                    f"iteration(s)" + ("" if at_limit else ", where the line search found no decrease"))
        if ran == "lbfgs":
            return f"lbfgs failed to converge after {n_iter} iteration(s):\n{measured}.\n\n{increase}{scale}"
        if ran == "newton-cg":
            return f"newton-cg failed to converge at loss = {cost}. Increase the number of iterations.\n{measured}."
        if ran == "newton-cholesky":
            return f"Newton solver did not converge after {n_iter} iterations.\n{measured}.\n{increase}{scale}"
        return f"{ran} failed to converge after {n_iter} iteration(s):\n{measured}.\n\n{increase}{scale}"

    def _start(self, loss, classes, Xt):
        """Zeros, or the fitted ``(W, b)`` under `warm_start` when the classes and features match."""
        W0, b0 = loss.zeros()
        if not (self.warm_start and hasattr(self, "coef_")):
            return W0, b0
        same_classes = np.array_equal(_backends.to_numpy(self.classes_), classes) if hasattr(self, "classes_") \
            else False
        if not same_classes or tuple(self.coef_.shape) != (loss.k, Xt.shape[0]):
            return W0, b0
        xp, dev = array_namespace(Xt), get_device(Xt)
        W = _backends.asarray(self._dense_coef(), xp, dev, Xt.dtype).T
        b = xp.reshape(_backends.asarray(self.intercept_, xp, dev, Xt.dtype), (loss.k, 1))
        if not self.fit_intercept:
            b = b0
        return W, b

    @staticmethod
    def _classes_like(classes, xp, dev):
        """The sorted labels: in (xp, dev) where they are numbers (or booleans), else a NumPy array."""
        if array_api_compat.is_numpy_namespace(xp) or classes.dtype.kind not in "biuf":
            return classes
        try:
            return xp.asarray(classes, device=dev)
        except (TypeError, ValueError, RuntimeError):  # a dtype the device lacks (float64 labels on no_float64)
            return classes

    # ------------------------------------------------------------------ predictions

    def decision_function(self, X):
        """Logits: shape (n_samples,) for two classes (> 0 predicts ``classes_[1]``), else (n_samples, n_classes)."""
        check_is_fitted(self)
        return self._decision(self._validate_X(X, reset=False, method="decision_function"))

    def _decision(self, X):
        xp = array_namespace(X)
        coef = self.coef_
        if sparse.is_scipy_sparse(coef) and not sparse.is_sparse(X):
            # after sparsify(): the sparse coef_ times the dense X, (k, n) @ (n, m), a sparse-times-dense product
            Z = np.asarray(coef @ X.T).T + self.intercept_
        else:  # a dense coef_; or a sparsified one with a sparse X: its (k, n) dense copy, for X's own product
            Z = X @ self._dense_coef().T + self.intercept_
        return xp.reshape(Z, (X.shape[0],)) if coef.shape[0] == 1 else Z

    def _dense_coef(self):
        """``coef_`` as an array: itself, or the dense copy of the SciPy matrix :meth:`sparsify` made of it."""
        return self.coef_.toarray() if sparse.is_scipy_sparse(self.coef_) else self.coef_

    def predict_proba(self, X):
        """Probabilities of each class, shape (n_samples, n_classes); rows sum to 1."""
        check_is_fitted(self)
        Z = self._decision(self._validate_X(X, reset=False, method="predict_proba"))
        xp = array_namespace(Z)
        if Z.ndim == 1:
            p = _loss.sigmoid(Z)
            return xp.stack([1 - p, p], axis=1)
        return xp.exp(_log_softmax(Z))

    def predict_log_proba(self, X):
        """Logarithms of :meth:`predict_proba`, computed stably from the logits."""
        check_is_fitted(self)
        Z = self._decision(self._validate_X(X, reset=False, method="predict_log_proba"))
        xp = array_namespace(Z)
        if Z.ndim == 1:
            return xp.stack([-_loss.softplus(Z), -_loss.softplus(-Z)], axis=1)
        return _log_softmax(Z)

    def predict(self, X):
        """The most probable label of each sample, from ``classes_``."""
        check_is_fitted(self)
        Z = self._decision(self._validate_X(X, reset=False, method="predict"))
        xp = array_namespace(Z)
        index = xp.astype(Z > 0, xp.int64) if Z.ndim == 1 else xp.argmax(Z, axis=1)
        if _foreign(self.classes_):
            return xp.take(self.classes_, index, axis=0)
        return self.classes_[_backends.to_numpy(index)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on (X, y), weighted by `sample_weight` (a Python float)."""
        predicted = _backends.to_numpy(self.predict(X)) if _foreign(self.intercept_) else self.predict(X)
        y = _to_host(y)
        return float(accuracy_score(y, predicted,
                                    sample_weight=None if sample_weight is None else _to_host(sample_weight)))

    # ------------------------------------------------------------------ sparse coef_ (scikit-learn's SparseCoefMixin)

    def sparsify(self):
        """Convert ``coef_`` to a SciPy CSR matrix (scikit-learn's ``SparseCoefMixin.sparsify``).

        For L1 fits (``l1_ratio > 0``), whose ``coef_`` is mostly exact zeros,
        the CSR matrix stores only the non-zero coefficients. ``intercept_`` is
        not converted. :meth:`predict`, :meth:`predict_proba`,
        :meth:`predict_log_proba`, :meth:`decision_function` and :meth:`score`
        take the sparse ``coef_`` (a sparse-times-dense product on dense X);
        :meth:`save` writes it dense; a `warm_start` fit starts from its dense
        copy and sets a dense ``coef_``. The class follows scikit-learn's
        ``sparse_interface`` setting: ``csr_matrix`` by default, ``csr_array``
        under ``sklearn.set_config(sparse_interface="sparray")``.

        Returns
        -------
        self

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        TypeError
            Where ``coef_`` is not a NumPy array (a fit on torch, CuPy, JAX,
            Dask or array-api-strict data, or with `backend` / `device`): a
            SciPy matrix lives on the host, and the model's other arrays and
            its inputs would not. scikit-learn does not support it either
            (its ``array_api_dispatch`` fits "may raise or return unexpected
            results"); xlogreg refuses it up front.

        Examples
        --------
        >>> import numpy as np
        >>> from xlogreg import LogisticRegression
        >>> X = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
        >>> clf = LogisticRegression(l1_ratio=1.0, C=10.0).fit(X, [0, 0, 1, 1]).sparsify()
        >>> type(clf.coef_).__name__, clf.coef_.nnz
        ('csr_matrix', 1)
        >>> clf.predict(np.array([[0.2, 5.0], [2.8, 5.0]])).tolist()
        [0, 1]
        """
        import scipy.sparse as sp
        from sklearn import get_config

        check_is_fitted(self, msg="Estimator, %(name)s, must be fitted before sparsifying.")
        if not (sparse.is_scipy_sparse(self.coef_) or array_api_compat.is_numpy_array(self.coef_)):
            raise TypeError(
                f"{type(self).__name__}.sparsify() needs a NumPy coef_; this one is "
                f"{_backends.backend_name(array_namespace(self.coef_))} on "
                f"{_backends.device_name(get_device(self.coef_))} (the fit's data was there): a SciPy sparse "
                "coef_ lives on the host, where the model's other arrays and its inputs do not. Fit on NumPy or "
                "SciPy sparse data (or load the model file with backend=None) to sparsify")
        csr = sp.csr_array if get_config().get("sparse_interface") == "sparray" else sp.csr_matrix
        self.coef_ = csr(self.coef_)
        return self

    def densify(self):
        """Convert a sparsified ``coef_`` back to a NumPy array (scikit-learn's ``SparseCoefMixin.densify``).

        A no-op where ``coef_`` is dense already (of any namespace).

        Returns
        -------
        self

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        """
        check_is_fitted(self, msg="Estimator, %(name)s, must be fitted before densifying.")
        self.coef_ = self._dense_coef()
        return self

    # ------------------------------------------------------------------ model files

    def to_model(self):
        """The fitted estimator as an :class:`xlogreg.Model` (the course's ``(n_x, m)`` layout, NumPy)."""
        from .training import Model

        check_is_fitted(self)
        coef = np.asarray(_backends.to_numpy(self._dense_coef()))  # a sparsified coef_ is saved dense
        intercept = np.asarray(_backends.to_numpy(self.intercept_), dtype=np.float64)
        classes = np.asarray(_backends.to_numpy(self.classes_))
        K = classes.shape[0]
        labels = [c.item() if isinstance(c, np.generic) else c for c in classes.tolist()]
        params = {k: p for k, p in self.get_params().items()
                  if k != "device" and (p is None or isinstance(p, (bool, int, float, str)))}
        if _is_inf(params.get("C")):  # JSON has no infinity
            params["C"] = "inf"
        estimator = {
            "classes": labels,
            "params": params,
            "feature_names_in": (None if not hasattr(self, "feature_names_in_")
                                 else [str(n) for n in self.feature_names_in_]),
            "n_iter": int(_backends.to_numpy(self.n_iter_)[0]),
        }
        if isinstance(self.class_weight, dict):  # JSON keys are strings: kept as [label, weight] pairs
            estimator["class_weight"] = [[k.item() if isinstance(k, np.generic) else k, float(w)]
                                         for k, w in self.class_weight.items()]
        return Model(
            w=coef.T, b=float(intercept[0]) if K == 2 else intercept.reshape(K, 1), n_classes=K,
            classes=[str(c) for c in labels], learning_rate=self._step, num_iterations=int(self.max_iter),
            iterations=estimator["n_iter"], solver=f"LogisticRegression/{self.solver}",
            dtype=str(coef.dtype), l2=0.0 if self.penalty is None or _is_inf(self.C) else 1.0 / float(self.C),
            tol=float(self.tol), converged=self._converged, preprocessing={"estimator": estimator},
        )

    def save(self, path):
        """Write the fitted model to the HDF5 model file `path` (no pickle; see :func:`xlogreg.save_model`).

        :func:`xlogreg.load_model` reads it as an :class:`xlogreg.Model`
        (``w`` is ``coef_.T``); :meth:`load` as an estimator again, with its
        labels, parameters and feature names.
        """
        from .io.model_file import save_model

        save_model(self.to_model(), path)

    @classmethod
    def load(cls, path, *, backend=None, device=None, dtype=None):
        """A fitted estimator from a model file of :meth:`save` (or any xlogreg model file).

        Parameters
        ----------
        path : str or os.PathLike
        backend, device, dtype : optional
            Where to put ``coef_`` and ``intercept_`` (as :func:`xlogreg.load_model`); default NumPy.

        Returns
        -------
        LogisticRegression
            Files written by :func:`xlogreg.save_model` from :func:`xlogreg.train`
            come back with the labels ``0 .. K-1`` (or the class names they store).
        """
        from .training import load_model

        model = load_model(path, backend, device, dtype=dtype)
        info = (model.preprocessing or {}).get("estimator")
        info = info if isinstance(info, dict) else {}
        params = info.get("params") if isinstance(info.get("params"), dict) else {}
        known = cls().get_params()
        params = {k: p for k, p in params.items() if k in known}
        if params.get("C") == "inf":
            params["C"] = math.inf
        if params.get("penalty", "deprecated") != "deprecated":  # a file of xlogreg before scikit-learn 1.8's
            penalty = params.pop("penalty")                       # spelling: the same objective, in the new one
            if penalty is None:
                params["C"] = math.inf
        est = cls(**params)
        pairs = info.get("class_weight")
        if (isinstance(pairs, list) and pairs
                and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], (bool, int, float, str))
                        and isinstance(p[1], (int, float)) for p in pairs)):
            est.class_weight = {label: weight for label, weight in pairs}
        K = model.n_classes
        labels = info.get("classes")
        if not (isinstance(labels, list) and len(labels) == K):
            labels = model.classes if model.classes is not None else list(range(K))
        classes = np.asarray(labels)
        xp, dev = array_namespace(model.w), get_device(model.w)
        k = K if K > 2 else 1
        b = model.b if K > 2 else xp.asarray([model.b], dtype=model.w.dtype, device=dev)
        est.coef_ = xp.reshape(model.w.T, (k, model.w.shape[0]))
        est.intercept_ = xp.reshape(xp.asarray(b, dtype=model.w.dtype, device=dev), (k,))
        est.classes_ = cls._classes_like(classes, xp, dev)
        est.n_features_in_ = model.w.shape[0]
        names = info.get("feature_names_in")
        if isinstance(names, list) and len(names) == est.n_features_in_:
            est.feature_names_in_ = np.asarray(names, dtype=object)
        est.n_iter_ = xp.asarray([model.iterations], dtype=xp.int32, device=dev)
        est._converged = bool(model.converged)
        est._step = float(model.learning_rate)
        return est


def _log_softmax(Z):
    """``log softmax`` over axis 1 of Z (n_samples, n_classes), shift-stable."""
    xp = array_namespace(Z)
    shifted = Z - xp.max(Z, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
