"""``xlogreg.LogisticRegressionCV``: C (and the l1_ratio) chosen by cross-validation, on the data's device.

scikit-learn's :class:`sklearn.linear_model.LogisticRegressionCV` with its
meaning (the grid ``Cs`` and ``l1_ratios``, the folds of ``cv``, ``scoring``,
``refit``, the fitted ``Cs_``, ``C_``, ``l1_ratio_``, ``scores_``,
``coefs_paths_``, ``n_iter_``), fitted in X's namespace and on its device,
dense or sparse. Each fold's fits go from the largest penalty to the
smallest, warm-started (:mod:`xlogreg.solvers.path`). For the L2 penalty
(l1_ratio 0) the folds of one C are one batched problem on the whole X
(held-out examples weighted 0), so one product with X serves every fold, and
the held-out scores come from the same logits, by Newton's method or by
L-BFGS (``solver="lbfgs"``, :mod:`xlogreg.solvers.path_lbfgs`); an l1_ratio > 0
runs proximal Newton fold by fold (:func:`xlogreg.solvers.path.elastic_net_path`).

scikit-learn is needed by this module only (``xlogreg.LogisticRegressionCV``
imports it on first use).
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings

import numpy as np
from array_api_compat import device as get_device, is_dask_array

from . import _backends, _loss, _warnings, data
from .data import sparse
from .estimator import LogisticRegression, _foreign, _real, _to_host
from .solvers import prox_newton
from .solvers.path import SCORINGS, FoldLoss, cross_validation_path, elastic_net_path, fold_newton
from .solvers.path_lbfgs import fold_lbfgs
from ._namespace import array_namespace

from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer, get_scorer_names, make_scorer
from sklearn.model_selection import check_cv

#: ``solver="auto"`` forms and solves each fold's Hessian (newton-cholesky) up to this many parameters
#: ``(n_features + 1) k`` and runs Newton-CG above. Lower than the single fit's
#: (:data:`xlogreg.estimator.CHOLESKY_MAX_PARAMETERS`): warm-started along the path, a fit takes two or three
#: Newton iterations, and forming a Hessian costs ``m q^2`` against Newton-CG's ``2 m q`` per product.
#: Measured (2-vCPU VM, one fold at a time, 10 Cs, 5 folds): Cholesky ahead at 31 and 51 parameters (breast
#: cancer, 50,000 x 50 binary), Newton-CG 3x and 6x ahead at 650 (digits) and 255 (50,000 x 50, 5 classes).
PATH_CHOLESKY_MAX_PARAMETERS = 100


def choose_path_newton(n_features, k):
    """The Newton method ``solver="auto"`` takes along a path: Cholesky up to
    :data:`PATH_CHOLESKY_MAX_PARAMETERS` parameters ``(n_features + 1) k``, Newton-CG above."""
    return "newton-cholesky" if (n_features + 1) * k <= PATH_CHOLESKY_MAX_PARAMETERS else "newton-cg"


#: ``batch_folds="auto"`` with Newton-Cholesky on the CPU: two classes batched up to this many examples. Batched,
#: one product with X serves every fold's logits and gradients, but each fold's Hessian is formed over all of X
#: by a general product (one fold at a time: over its own rows, by a symmetric one). Measured (session 12,
#: ``python benchmarks/bench_batch_folds.py``, ``benchmarks/results/bench_batch_folds.txt``; 2-vCPU VM, 10 Cs,
#: 5 folds, interleaved, best of 3, one fold at a time over batched): two classes, 1.12-2.13x at 569-5,000
#: examples and 0.69-0.84x at 10,000-50,000 (30-60 features); checked on shapes it was not read from: 4,000 x 80
#: 1.12x (batched), 8,000 x 40 1.08x (one fold at a time: an 8% miss). More classes: one fold at a time
#: (0.48x and 0.80x batched: the softmax Hessian batched is the costlier product).
BATCH_CHOLESKY_MAX_EXAMPLES = 5_000


def choose_batch_folds(method, n_examples, k, device_name="cpu"):
    """``batch_folds="auto"``: whether the folds of one C run as one batched problem.

    Batched with Newton-CG and L-BFGS (one product with X serves every fold's
    products), on a GPU, and with Newton-Cholesky for two classes up to
    :data:`BATCH_CHOLESKY_MAX_EXAMPLES` examples; one fold at a time otherwise.
    """
    if method in ("newton-cg", "lbfgs") or device_name.startswith(("cuda", "gpu")):
        return True
    return k == 1 and n_examples <= BATCH_CHOLESKY_MAX_EXAMPLES


__all__ = ["LogisticRegressionCV"]

_SOLVERS = ("auto", "lbfgs", "newton-cholesky", "newton-cg", "prox-newton")
#: The solvers that fit an L1 term (an l1_ratio > 0); "auto" takes the first for those.
_L1_SOLVERS = ("prox-newton",)
#: scikit-learn's solvers that xlogreg does not have (refused by name, pointing to scikit-learn).
_SKLEARN_ONLY_SOLVERS = ("liblinear", "sag", "saga")


def _float_dtype(xp, dev):
    """The widest real floating dtype of the device (float64, or float32 where it has no float64)."""
    supported = xp.__array_namespace_info__().dtypes(device=dev, kind="real floating")
    return supported["float64"] if "float64" in supported else supported["float32"]


def _host_model(coef, intercept, classes):
    """A fitted :class:`LogisticRegression` on the host (NumPy) with these coefficients, for scorers."""
    model = LogisticRegression()
    model.coef_ = np.asarray(coef, dtype=np.float64)
    model.intercept_ = np.asarray(intercept, dtype=np.float64)
    model.classes_ = classes
    model.n_features_in_ = model.coef_.shape[1]
    return model


def _fold_scorer(scoring, classes):
    """scikit-learn's scorer for `scoring`, told every label (a fold's held-out part may lack some), as its CV does."""
    scorer = get_scorer(scoring)
    params = inspect.signature(scorer._score_func).parameters if hasattr(scorer, "_score_func") else {}
    if "labels" in params:
        pos_label = {"pos_label": classes[-1]} if len(classes) <= 2 and "pos_label" in params else {}
        scorer = make_scorer(scorer._score_func, greater_is_better=scorer._sign == 1,
                             response_method=scorer._response_method, labels=classes, **pos_label,
                             **getattr(scorer, "_kwargs", {}))
    return scorer


class LogisticRegressionCV(LogisticRegression):
    """Logistic regression with C (and the elastic-net mix) chosen by cross-validation.

    scikit-learn's :class:`sklearn.linear_model.LogisticRegressionCV`: the same
    grid of C and of l1_ratio, folds, scores, choice and refit, hence the same
    ``C_``, ``l1_ratio_`` and coefficients; fitted in the namespace and on the
    device of X (torch, CuPy, JAX, array-api-strict or NumPy; SciPy, torch or
    CuPy sparse matrices too, never densified). The folds of one C are fitted
    together as one batched problem for the L2 penalty.

    Parameters
    ----------
    Cs : int or array-like of float > 0
        The grid of C (inverse regularisation strengths); an int n is
        ``numpy.logspace(-4, 4, n)``, as in scikit-learn. ``numpy.inf`` is no penalty.
    l1_ratios : None or array-like of floats in [0, 1]
        The grid of the elastic-net mix r: every fold is fitted at every
        (C, r) to scikit-learn's ``C sum_i s_i L_i + (1 - r)/2 ||W||^2 + r ||W||_1``
        (0: the L2 penalty, 1: L1, with exact zeros in the coefficients). None
        (the default) is the L2 penalty alone, and gives scikit-learn's
        attributes without an ``l1_ratios`` axis; a list keeps that axis, as
        scikit-learn does (``(0,)``: of length 1).
    fit_intercept : bool
    cv : int, cross-validation splitter or iterable, optional
        As in scikit-learn: None is 5-fold stratified, an int the number of
        stratified folds (:func:`sklearn.model_selection.check_cv`).
    scoring : None, str or callable
        How a fold's held-out examples score a fit (higher is better). None is
        accuracy (scikit-learn 1.9's default). ``"neg_log_loss"`` and
        ``"accuracy"`` are computed on the device, from the logits the fit
        already has; any other scikit-learn scorer runs on the host, on the
        coefficients.
    solver : {"auto", "lbfgs", "newton-cholesky", "newton-cg", "prox-newton"}
        For l1_ratio 0, Newton's method for every fold at once
        (:func:`xlogreg.solvers.path.fold_newton`): each fold's Hessian formed
        and solved (on a sparse X through its weighted Gram products), or
        conjugate gradients on Hessian products (matrix-free); or ``"lbfgs"``
        (scikit-learn's default), L-BFGS for every fold at once
        (:func:`xlogreg.solvers.path_lbfgs.fold_lbfgs`: each fold its own
        memory, strong Wolfe line search and stopping, one evaluation of the
        gradient for all folds; only gradients, no Hessian). Every solver reaches the same optimum. ``"auto"``:
        Cholesky up to :data:`PATH_CHOLESKY_MAX_PARAMETERS` parameters
        ``(n_features + 1) k``, conjugate gradients above (warm-started along the
        path, each fit takes few Newton iterations, so the cost of one matters
        more than in a single fit). For an l1_ratio > 0, proximal
        Newton fold by fold (:mod:`xlogreg.solvers.prox_newton`), which
        ``"auto"`` takes; ``"newton-cholesky"`` and ``"newton-cg"`` refuse
        such l1_ratios, as does ``"lbfgs"`` (scikit-learn's L2-only solvers'
        message); ``"prox-newton"``
        fits every l1_ratio with it, 0 included.
    tol : float >= 0
        Each fit stops when its gradient's Euclidean norm (of the mean
        objective, as :class:`xlogreg.LogisticRegression`; with an L1 term, its
        minimum-norm subgradient's) is at most `tol`.
    max_iter : int >= 0
        Newton (proximal Newton, L-BFGS) iterations per fit at most. L-BFGS
        takes more, cheaper iterations than Newton: at a tight `tol`, raise it.
    class_weight : None, dict or "balanced"
        As in scikit-learn: "balanced" is computed once on all of y.
    n_jobs : None or int
        Accepted for scikit-learn's interface; the folds run together on the
        device, not in processes.
    verbose : int
        1 prints one line per C.
    refit : bool
        True: the best (C, l1_ratio) of the scores summed over folds (on a tie
        the first in ``Cs_``, then in ``l1_ratios_``), refitted on all the data
        from the mean of the folds' coefficients there. False: the mean of
        each fold's best coefficients, of their Cs and of their l1_ratios.
    random_state : None, int or RandomState
        Accepted for scikit-learn's interface; the Newton solvers use no randomness.
        (As in scikit-learn, it does not shuffle the folds: pass a splitter for that.)
    batch_folds : "auto" or bool
        True: the folds of one C as one batched problem on the whole X (for
        l1_ratio 0). False: one fold at a time on its own training rows (same
        solver). Same results either way. ``"auto"``: batched with Newton-CG
        (measured 0.85-1.42x on the CPU, ``benchmarks/bench_cv.py``: one product
        with X serves every fold's Hessian product), with L-BFGS (1.48x),
        wherever X is on a GPU (not measured yet), and with Newton-Cholesky
        for two classes up to 5,000 examples (1.12-2.13x);
        one fold at a time with Newton-Cholesky otherwise on the CPU, where the
        batched Hessians were measured slower (0.48-0.84x: each fold's Hessian
        is formed over all of X). :func:`choose_batch_folds` has the evidence.
    use_legacy_attributes : bool
        True (the default): scikit-learn's legacy layout of the fitted
        attributes, described below. False: scikit-learn's new layout (its
        default from 1.10): ``C_`` and ``l1_ratio_`` Python floats, ``scores_``
        an array ``(n_folds, n_l1_ratios, n_cs)``, ``coefs_paths_`` an array
        ``(n_folds, n_l1_ratios, n_cs, n_classes or 1, n_features + 1)`` (1 for
        two classes; ``n_features`` without intercept), ``n_iter_`` ``(n_folds,
        n_l1_ratios, n_cs)``; the l1_ratios axis is there for ``l1_ratios=None``
        too (of length 1). xlogreg keeps True as its default without
        scikit-learn 1.9's FutureWarning about the change.
    backend, device, dtype : optional
        As :class:`xlogreg.LogisticRegression`: where host data is fitted.

    Attributes
    ----------
    Cs_ : array of shape (n_cs,)
    C_ : array of shape (1,), or (n_classes,) (the same value repeated) for more than two classes
    l1_ratio_ : array, of the shape of ``C_``
        The chosen l1_ratio (refit=False: the mean of the folds' choices; where
        every l1_ratio is 1 that is 1.0, where scikit-learn 1.9 reports 0.0).
    l1_ratios_ : array of shape (n_l1_ratios,)
        ``l1_ratios`` as given; ``[0.0]`` for None (scikit-learn has ``[None]``; the same penalty).
    scores_ : dict
        ``{class: array (n_folds, n_cs, n_l1_ratios)}``, ``(n_folds, n_cs)`` for
        ``l1_ratios=None``; for two classes keyed by ``classes_[1]`` only; the
        same scores for every class.
    coefs_paths_ : dict
        ``{class: array (n_folds, n_cs, n_l1_ratios, n_features + 1)}``
        (without the l1_ratios axis for None; ``n_features`` without
        intercept): that class's row of every fold's coefficients, intercept last.
    n_iter_ : array of shape (1, n_folds, n_cs, n_l1_ratios), int32
        Without the last axis for ``l1_ratios=None``.
    coef_, intercept_, classes_, n_features_in_, feature_names_in_
        As :class:`xlogreg.LogisticRegression`.

    Every array but ``classes_`` of strings is in X's namespace and on its device.

    Examples
    --------
    >>> import numpy as np
    >>> from xlogreg import LogisticRegressionCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = (X[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    >>> clf = LogisticRegressionCV(Cs=5, scoring="neg_log_loss").fit(X, y)
    >>> clf.Cs_.shape, clf.scores_[1].shape, clf.coefs_paths_[1].shape
    ((5,), (5, 5), (5, 5, 4))
    >>> float(clf.C_[0]) in clf.Cs_.tolist()
    True
    >>> enet = LogisticRegressionCV(Cs=3, l1_ratios=[0.5, 1.0], scoring="neg_log_loss").fit(X, y)
    >>> enet.scores_[1].shape, enet.coefs_paths_[1].shape, float(enet.l1_ratio_[0]) in (0.5, 1.0)
    ((5, 3, 2), (5, 3, 2, 4), True)
    """

    def __init__(self, *, Cs=10, l1_ratios=None, fit_intercept=True, cv=None, scoring=None, solver="auto",
                 tol=1e-4, max_iter=100, class_weight=None, n_jobs=None, verbose=0, refit=True,
                 random_state=None, batch_folds="auto", use_legacy_attributes=True, backend=None, device=None,
                 dtype=None):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.random_state = random_state
        self.batch_folds = batch_folds
        self.use_legacy_attributes = use_legacy_attributes
        self.backend = backend
        self.device = device
        self.dtype = dtype

    # ------------------------------------------------------------------ parameters

    def _check_params(self):
        Cs = self.Cs
        if isinstance(Cs, numbers.Integral) and not isinstance(Cs, bool):
            if Cs < 1:
                raise ValueError(f"Cs must be an int >= 1 or a list of floats > 0; got {Cs!r}")
            grid = np.logspace(-4, 4, int(Cs))
        else:
            try:
                grid = np.asarray(Cs, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise TypeError(f"Cs must be an int >= 1 or a list of floats > 0; got {Cs!r}") from None
            if grid.size == 0 or np.isnan(grid).any() or (grid <= 0).any() or np.asarray(Cs).ndim != 1:
                raise ValueError(f"Cs must be an int >= 1 or a non-empty 1-d list of floats > 0 (inf: no "
                                 f"penalty); got {Cs!r}")
        ratios = self._l1_ratios()
        l1 = bool(np.any(ratios > 0))
        if self.solver in _SKLEARN_ONLY_SOLVERS:
            raise ValueError(f"solver={self.solver!r} is not available in xlogreg: solver must be one of "
                             f"{', '.join(map(repr, _SOLVERS))}; use sklearn.linear_model.LogisticRegressionCV "
                             f"for {', '.join(map(repr, _SKLEARN_ONLY_SOLVERS))}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(map(repr, _SOLVERS))}; got {self.solver!r}")
        if l1 and self.solver not in ("auto", *_L1_SOLVERS):
            penalty = "l1" if np.all(ratios == 1) else "elasticnet"
            raise ValueError(
                f"Solver {self.solver} supports only 'l2' or None penalties, got {penalty} penalty "
                f"(l1_ratios={self.l1_ratios!r}): in xlogreg, L1 and elastic net are fitted by "
                f"{' or '.join(map(repr, _L1_SOLVERS))} (solver='auto' takes it)")
        if not l1 and self.solver in _L1_SOLVERS:
            raise ValueError(f"solver={self.solver!r} fits an L1 term: give l1_ratios with a value > 0, or leave "
                             "solver='auto' for the L2 penalty")
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept must be True or False; got {self.fit_intercept!r}")
        if not isinstance(self.refit, (bool, np.bool_)):
            raise TypeError(f"refit must be True or False; got {self.refit!r}")
        if not isinstance(self.use_legacy_attributes, (bool, np.bool_)):
            raise TypeError(f"use_legacy_attributes must be True or False; got {self.use_legacy_attributes!r}")
        if not (isinstance(self.batch_folds, (bool, np.bool_)) or
                (isinstance(self.batch_folds, str) and self.batch_folds == "auto")):
            raise TypeError(f"batch_folds must be 'auto', True or False; got {self.batch_folds!r}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 0:
            raise ValueError(f"max_iter must be an integer >= 0; got {self.max_iter!r}")
        tol = _real(self.tol, "tol", minimum=0)
        cw = self.class_weight
        if not (cw is None or isinstance(cw, dict) or (isinstance(cw, str) and cw == "balanced")):
            raise ValueError(f"class_weight must be None, a dict {{label: weight}} or 'balanced'; got {cw!r}")
        scoring = self.scoring
        if not (scoring is None or callable(scoring) or (isinstance(scoring, str) and scoring in get_scorer_names())):
            raise ValueError(f"scoring must be None, a scikit-learn scorer name (sklearn.metrics.get_scorer_names()) "
                             f"or a callable scorer(estimator, X, y); got {scoring!r}")
        if self.n_jobs is not None and (isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, numbers.Integral)):
            raise TypeError(f"n_jobs must be None or an int; got {self.n_jobs!r}")
        if self.backend is not None and self.backend not in _backends.BACKENDS:
            raise ValueError(f"backend must be None or one of {', '.join(_backends.BACKENDS)}; got {self.backend!r}")
        if isinstance(self.verbose, bool) or not isinstance(self.verbose, numbers.Integral) or self.verbose < 0:
            raise ValueError(f"verbose must be an integer >= 0; got {self.verbose!r}")
        return grid, ratios, tol

    def _l1_ratios(self):
        """`l1_ratios` checked: a float64 array of values in [0, 1] (``[0.0]`` for None)."""
        if self.l1_ratios is None:
            return np.zeros(1)
        message = (f"l1_ratios must be None or an array-like of numbers between 0 and 1; got "
                   f"(l1_ratios={self.l1_ratios!r})")
        if isinstance(self.l1_ratios, (str, bytes)) or np.ndim(self.l1_ratios) != 1:
            raise ValueError(message)
        values = list(self.l1_ratios)
        if not values or any(isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 <= r <= 1
                             for r in values):
            raise ValueError(message)
        return np.asarray(values, dtype=np.float64)

    # ------------------------------------------------------------------ fit

    def fit(self, X, y, sample_weight=None):
        """Choose C (and the l1_ratio) by cross-validation on X ``(n_samples, n_features)`` and labels y, and fit.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            NumPy, a data frame, a list, an array of any Array API library
            (the whole search runs in its namespace and on its device), or a
            SciPy, torch or CuPy sparse matrix (CSR, CSC, COO; never densified).
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the fits and of the held-out scores, as in scikit-learn.

        Returns
        -------
        self
        """
        Cs, ratios, tol = self._check_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        X_input = X
        if is_dask_array(X):
            raise TypeError(f"{type(self).__name__} does not take a Dask array X yet: its batched folds read X at "
                            "every conjugate-gradient step, and on Dask each read is a new graph. Pass X.compute() "
                            "(or a NumPy, CuPy or torch array) if it fits in memory, or fit xlogreg.LogisticRegression "
                            "on the Dask X (out of core) for each C")
        X = self._validate_X(X, reset=True, method="fit")
        xp, dev = array_namespace(X), get_device(X)
        m, n_features = X.shape
        y_host, classes, y_index, sw, fit_weight = self._targets(X, y, sample_weight, class_weight_keys=True)
        K = classes.shape[0]
        k = K if K > 2 else 1

        folds = list(check_cv(self.cv, y_host, classifier=True).split(np.zeros((m, 1)), y_host))
        F = len(folds)
        train_w = np.zeros((F, m))
        test_w = np.zeros((F, m))
        for f, (train, test) in enumerate(folds):
            train_w[f, train] = fit_weight[train]
            test_w[f, test] = sw[test]
            if not train_w[f].sum() > 0 or not test_w[f].sum() > 0:
                raise ValueError(f"cv: fold {f} has no training or no held-out example with a positive weight "
                                 f"({len(train)} training, {len(test)} held out)")

        scoring = "accuracy" if self.scoring is None else self.scoring
        on_device = isinstance(scoring, str) and scoring in SCORINGS
        method = choose_path_newton(n_features, k) if self.solver in ("auto", *_L1_SOLVERS) else self.solver
        batched = (self.batch_folds if self.batch_folds != "auto"  # see batch_folds
                   else choose_batch_folds(method, m, k, _backends.device_name(dev)))
        Xt = X.T  # (n_x, m): the engine's layout, a view
        labels = _backends.asarray(np.reshape(y_index, (1, m)).astype(np.float64), xp, dev, X.dtype)
        train_dev = _backends.asarray(train_w, xp, dev, X.dtype)
        test_dev = _backends.asarray(test_w, xp, dev, X.dtype)
        options = dict(fit_intercept=bool(self.fit_intercept), tol=tol, max_iter=int(self.max_iter),
                       scoring=scoring if on_device else None, train_index=[train for train, _ in folds],
                       test_index=[test for _, test in folds], verbose=self.verbose)
        by_ratio = {}  # l1_ratio -> (coefs, scores, n_iter, converged): one path per distinct value
        for r in ratios.tolist():
            if r in by_ratio:
                continue
            if self._by_prox_newton(r):
                by_ratio[r] = elastic_net_path(Xt, labels, K, train_dev, test_dev, Cs.tolist(), r, **options)
            else:
                by_ratio[r] = cross_validation_path(Xt, labels, K, train_dev, test_dev, Cs.tolist(), method=method,
                                                    batched=bool(batched), **options)
        paths = xp.stack([xp.stack(by_ratio[r][0], axis=1) for r in ratios.tolist()], axis=2)  # (F, n_cs, L, k, n1)
        L = len(ratios)
        if on_device:
            scores = np.stack([np.asarray(_backends.to_numpy(by_ratio[r][1]), dtype=np.float64)
                               for r in ratios.tolist()], axis=2)  # (F, n_cs, L)
        else:
            scores = np.stack([self._host_scores(scoring, X_input, Xt, y_host,
                                                 sw if sample_weight is not None else None, folds,
                                                 paths[:, :, l, :, :], classes) for l in range(L)], axis=2)
        n_iter = np.stack([by_ratio[r][2] for r in ratios.tolist()], axis=2)  # (F, n_cs, L)
        converged = np.stack([by_ratio[r][3] for r in ratios.tolist()], axis=2)
        if tol > 0 and not converged.all():
            ran = " and ".join(sorted({"prox-newton" if self._by_prox_newton(r) else method for r in ratios.tolist()}))
            warnings.warn(f"{type(self).__name__} (solver={ran!r}): {int((~converged).sum())} of the "
                          f"{converged.size} fits of the folds did not reach tol={tol:g} in max_iter={self.max_iter} "
                          "iterations; increase max_iter, or scale the data", ConvergenceWarning, stacklevel=2)

        if self.refit:  # the best (C, l1_ratio) of the scores summed over folds (ties: the first, C-major)
            total = scores.sum(axis=0)  # (n_cs, L)
            best_c, best_l = np.unravel_index(int(np.argmax(total)), total.shape)
            C, l1_ratio = float(Cs[best_c]), float(ratios[best_l])
            start = xp.mean(paths[:, int(best_c), int(best_l), :, :], axis=0)  # (k, n1): the folds' mean
            w = self._refit(Xt, labels, K, fit_weight, C, l1_ratio, start, tol)
        else:  # each fold's best (C, l1_ratio); the mean of their coefficients, of their Cs and of their l1_ratios
            best_c, best_l = np.unravel_index(np.argmax(scores.reshape(F, -1), axis=1), (len(Cs), L))
            chosen = xp.stack([paths[f, int(best_c[f]), int(best_l[f]), :, :] for f in range(F)], axis=0)
            w = xp.mean(chosen, axis=0)
            if not self.fit_intercept:
                w = xp.concat([w, xp.zeros((w.shape[0], 1), dtype=w.dtype, device=dev)], axis=1)
            C, l1_ratio = float(np.mean(Cs[best_c])), float(np.mean(ratios[best_l]))

        n_x = n_features
        dtype_c = _float_dtype(xp, dev)
        self.classes_ = self._classes_like(classes, xp, dev)
        self.Cs_ = xp.asarray(Cs, dtype=dtype_c, device=dev)
        self.C_ = xp.asarray([C] * k, dtype=dtype_c, device=dev)
        self.l1_ratio_ = xp.asarray([l1_ratio] * k, dtype=dtype_c, device=dev)
        self.l1_ratios_ = xp.asarray(ratios, dtype=dtype_c, device=dev)
        self.coef_ = w[:, :n_x]
        self.intercept_ = w[:, n_x]
        keys = classes[1:] if K == 2 else classes
        l1_axis = self.l1_ratios is not None  # scikit-learn keeps the l1_ratios axis when they are given
        scores_x = xp.asarray(scores if l1_axis else scores[:, :, 0], dtype=X.dtype, device=dev)
        self.scores_ = {c: scores_x for c in keys}
        self.coefs_paths_ = {c: paths[:, :, :, i, :] if l1_axis else paths[:, :, 0, i, :] for i, c in enumerate(keys)}
        self.n_iter_ = xp.asarray(np.reshape(n_iter if l1_axis else n_iter[:, :, 0], (1,) + n_iter.shape[:2]
                                             + ((L,) if l1_axis else ())), dtype=xp.int32, device=dev)
        if not self.use_legacy_attributes:  # scikit-learn's new layout: folds, l1_ratios, Cs; the l1_ratios axis kept
            self.C_, self.l1_ratio_ = C, l1_ratio
            self.scores_ = xp.asarray(np.transpose(scores, (0, 2, 1)), dtype=X.dtype, device=dev)
            self.coefs_paths_ = xp.permute_dims(paths, (0, 2, 1, 3, 4))  # (F, L, n_cs, k, n_dof)
            self.n_iter_ = xp.asarray(np.transpose(n_iter, (0, 2, 1)), dtype=xp.int32, device=dev)
        self._converged = bool(converged.all())
        self._step = 1.0
        return self

    def _by_prox_newton(self, l1_ratio):
        """Whether the fits at `l1_ratio` run proximal Newton (one fold at a time) rather than the batched Newton path."""
        return l1_ratio > 0 or self.solver in _L1_SOLVERS

    def _refit(self, Xt, labels, K, fit_weight, C, l1_ratio, start, tol):
        """The fit on all the data at (C, l1_ratio) from `start` (``(k, n_x + 1)``, ``(k, n_x)`` without intercept).

        Returns ``[coef_, intercept_]``, shape ``(k, n_x + 1)`` (the intercept 0 without one).
        """
        xp, dev = array_namespace(Xt), get_device(Xt)
        weights = _backends.asarray(np.reshape(fit_weight, (1, -1)), xp, dev, Xt.dtype)
        n_x = Xt.shape[0]
        if self._by_prox_newton(l1_ratio):
            loss = _loss.LogisticLoss(Xt, labels, K, sample_weight=weights, total_weight=float(fit_weight.sum()))
            W0 = xp.permute_dims(start[:, :n_x], (1, 0))
            b0 = xp.reshape(start[:, n_x], (-1, 1)) if self.fit_intercept else None
            with warnings.catch_warnings():  # reported below, with the estimator's name
                warnings.simplefilter("ignore", _warnings.ConvergenceWarning)
                result = prox_newton.fit_l1(loss, C, l1_ratio, W0, b0, tol=tol, max_iter=int(self.max_iter),
                                            fit_intercept=bool(self.fit_intercept))
            converged = result.converged
            norm = math.sqrt(float(xp.sum(result.dw * result.dw) + xp.sum(result.db * result.db)))
            W, b = result.w, result.b
        else:
            loss = FoldLoss(Xt, labels, K, weights, l2=0.0 if math.isinf(C) else 1.0 / C,
                            fit_intercept=bool(self.fit_intercept))
            W0, b0 = loss.from_blocks(xp.reshape(start, (1,) + tuple(start.shape)))
            method = choose_path_newton(n_x, loss.k) if self.solver == "auto" else self.solver
            if method == "lbfgs":
                result = fold_lbfgs(loss, W0, b0, tol=tol, max_iter=int(self.max_iter))
            else:
                result = fold_newton(loss, W0, b0, tol=tol, max_iter=int(self.max_iter), method=method)
            converged, norm = bool(result.converged.all()), float(result.gradient_norm[0])
            W, b = result.W, result.b
        if tol > 0 and not converged:
            warnings.warn(f"{type(self).__name__}: the refit at C={C:g}, l1_ratio={l1_ratio:g} did not reach "
                          f"tol={tol:g} in max_iter={self.max_iter} iterations (optimality {norm:.3g}); "
                          "increase max_iter, or scale the data", ConvergenceWarning, stacklevel=3)
        B = xp.permute_dims(W, (1, 0))  # (k, n_x)
        b = b if self.fit_intercept else xp.zeros((B.shape[0], 1), dtype=B.dtype, device=dev)
        return xp.concat([B, xp.reshape(b, (-1, 1))], axis=1)

    def _host_scores(self, scoring, X_input, Xt, y_host, sample_weight, folds, paths, classes):
        """Scores ``(n_folds, n_cs)`` of any scikit-learn scorer, on the host, from the coefficients ``paths``.

        The scorer sees each fold's model on its held-out rows of X: NumPy
        rows, or SciPy sparse rows. A torch or CuPy sparse X is not brought to
        the host: its logits are (computed where X is), and a scorer *name*
        is given a model of the logits (the identity as ``coef_``), which
        predicts the same; a callable scorer there is refused.
        """
        scorer = _fold_scorer(scoring, classes) if isinstance(scoring, str) else scoring
        n_x = Xt.shape[0]
        P = np.asarray(_backends.to_numpy(paths), dtype=np.float64)  # (F, n_cs, k, n1)
        k = P.shape[2]
        logits = sparse.is_sparse(X_input) and not sparse.is_scipy_sparse(X_input)
        if logits and not isinstance(scoring, str):
            raise TypeError(f"{type(self).__name__}: a callable scoring needs X on the host, and a "
                            f"{Xt.format} X is not moved there; give a scorer name (sklearn.metrics."
                            "get_scorer_names()), or a SciPy sparse or dense X")
        if sparse.is_scipy_sparse(X_input):
            X_host = X_input.tocsr()
        elif not logits:
            X_host = np.asarray(_backends.to_numpy(Xt.T)) if _foreign(Xt) else np.asarray(Xt.T)
        ops = data.operations(Xt)
        xp, dev = array_namespace(Xt), get_device(Xt)
        scores = np.zeros(P.shape[:2])
        for f, (_, test) in enumerate(folds):
            kwargs = {} if sample_weight is None else {"sample_weight": sample_weight[test]}
            for j in range(P.shape[1]):
                intercept = P[f, j, :, n_x] if self.fit_intercept else np.zeros(k)
                if logits:
                    W = _backends.asarray(P[f, j, :, :n_x].T, xp, dev, Xt.dtype)
                    b = _backends.asarray(intercept.reshape(k, 1), xp, dev, Xt.dtype)
                    Z = np.asarray(_backends.to_numpy(ops.forward(W, b, Xt)), dtype=np.float64).T  # (m, k)
                    model, X_scored = _host_model(np.eye(k), np.zeros(k), classes), Z[test]
                else:
                    model, X_scored = _host_model(P[f, j, :, :n_x], intercept, classes), X_host[test]
                scores[f, j] = scorer(model, X_scored, y_host[test], **kwargs)
        return scores

    # ------------------------------------------------------------------ scoring and model files

    def score(self, X, y, sample_weight=None):
        """The `scoring` of the fitted model on (X, y) (accuracy for None), a Python float."""
        if self.scoring is None or self.scoring == "accuracy":
            return super().score(X, y, sample_weight=sample_weight)
        classes = np.asarray(_backends.to_numpy(self.classes_)) if _foreign(self.classes_) else self.classes_
        model = _host_model(_backends.to_numpy(self._dense_coef()), _backends.to_numpy(self.intercept_), classes)
        X_input = X
        X = self._validate_X(X, reset=False, method="score")
        scorer = get_scorer(self.scoring) if isinstance(self.scoring, str) else self.scoring
        kwargs = {} if sample_weight is None else {"sample_weight": _to_host(sample_weight)}
        if sparse.is_scipy_sparse(X_input):
            X_scored = X_input  # the host model multiplies it as it is
        elif sparse.is_sparse(X_input):  # torch / CuPy sparse stays where it is: a model of its logits
            if not isinstance(self.scoring, str):
                raise TypeError(f"{type(self).__name__}.score: a callable scoring needs X on the host, and a "
                                f"{X.format} X is not moved there; give a scorer name, or a SciPy sparse X")
            X_scored = np.asarray(_backends.to_numpy(self._decision(X)), dtype=np.float64).reshape(X.shape[0], -1)
            model = _host_model(np.eye(X_scored.shape[1]), np.zeros(X_scored.shape[1]), classes)
        else:
            X_scored = np.asarray(_backends.to_numpy(X))
        return float(scorer(model, X_scored, _to_host(y), **kwargs))

    def to_model(self):
        """The refitted model as an :class:`xlogreg.Model` (that of ``LogisticRegression(C=C_)``)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        C = self.C_ if isinstance(self.C_, float) else float(_backends.to_numpy(self.C_)[0])  # new layout: a float
        single = LogisticRegression(C=C, fit_intercept=self.fit_intercept,
                                    tol=self.tol, max_iter=self.max_iter, class_weight=self.class_weight)
        for name in ("coef_", "intercept_", "classes_", "n_features_in_", "_converged", "_step"):
            setattr(single, name, getattr(self, name))
        if hasattr(self, "feature_names_in_"):
            single.feature_names_in_ = self.feature_names_in_
        xp = array_namespace(self.n_iter_)
        single.n_iter_ = xp.reshape(xp.sum(self.n_iter_), (1,))  # every fit of the search
        return single.to_model()
