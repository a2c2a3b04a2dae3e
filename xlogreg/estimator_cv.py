"""``xlogreg.LogisticRegressionCV``: C chosen by cross-validation, every fold of one C fitted at once.

scikit-learn's :class:`sklearn.linear_model.LogisticRegressionCV` with its
meaning (the grid ``Cs``, the folds of ``cv``, ``scoring``, ``refit``, the
fitted ``Cs_``, ``C_``, ``scores_``, ``coefs_paths_``, ``n_iter_``), fitted in
X's namespace and on its device. Each fold's fits go from the largest penalty
to the smallest, warm-started (:mod:`xlogreg.solvers.path`); the folds of one
C are one batched problem on the whole X (held-out examples weighted 0), so
one product with X serves every fold, and the held-out scores come from the
same logits.

scikit-learn is needed by this module only (``xlogreg.LogisticRegressionCV``
imports it on first use).
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings

import numpy as np
from array_api_compat import array_namespace, device as get_device

from . import _backends
from .data import sparse
from .estimator import LogisticRegression, _foreign, _real, _to_host, choose_newton
from .solvers.path import SCORINGS, cross_validation_path, fold_newton, FoldLoss

from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer, get_scorer_names, make_scorer
from sklearn.model_selection import check_cv
from sklearn.utils import assert_all_finite
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_consistent_length, column_or_1d

__all__ = ["LogisticRegressionCV"]

_SOLVERS = ("auto", "newton-cholesky", "newton-cg")


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
    """Logistic regression with C chosen by cross-validation, every fold of one C fitted at once.

    scikit-learn's :class:`sklearn.linear_model.LogisticRegressionCV`, for the
    L2 penalty: the same grid, folds, scores, choice of C and refit, hence the
    same ``C_`` and coefficients; fitted in the namespace and on the device of X
    (torch, CuPy, JAX, array-api-strict or NumPy).

    Parameters
    ----------
    Cs : int or array-like of float > 0
        The grid of C (inverse regularisation strengths); an int n is
        ``numpy.logspace(-4, 4, n)``, as in scikit-learn. ``numpy.inf`` is no penalty.
    l1_ratios : None or array-like of 0
        Accepted for scikit-learn's interface; only the L2 penalty (0) for now.
        None (the default) gives scikit-learn's attributes without an
        ``l1_ratios`` axis; ``(0,)`` keeps that axis (of length 1), as scikit-learn does.
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
    solver : {"auto", "newton-cholesky", "newton-cg"}
        Newton's method for every fold (:func:`xlogreg.solvers.path.fold_newton`):
        each fold's Hessian formed and solved, or conjugate gradients on
        Hessian products. ``"auto"``: as :class:`xlogreg.LogisticRegression`
        (Cholesky up to ``CHOLESKY_MAX_PARAMETERS`` parameters).
    tol : float >= 0
        Each fit stops when its gradient's Euclidean norm (of the mean
        objective, as :class:`xlogreg.LogisticRegression`) is at most `tol`.
    max_iter : int >= 0
        Newton iterations per fit at most.
    class_weight : None, dict or "balanced"
        As in scikit-learn: "balanced" is computed once on all of y.
    n_jobs : None or int
        Accepted for scikit-learn's interface; the folds run together on the
        device, not in processes.
    verbose : int
        1 prints one line per C.
    refit : bool
        True: the best C of the scores summed over folds, refitted on all the
        data (from the mean of the folds' coefficients there). False: the mean
        of each fold's best coefficients, and of their Cs.
    random_state : None, int or RandomState
        Accepted for scikit-learn's interface; the Newton solvers use no randomness.
        (As in scikit-learn, it does not shuffle the folds: pass a splitter for that.)
    batch_folds : bool
        True: the folds of one C as one batched problem on the whole X. False:
        one fold at a time on its own training rows (same solver), to measure
        what batching gains. Same results either way.
    backend, device, dtype : optional
        As :class:`xlogreg.LogisticRegression`: where host data is fitted.

    Attributes
    ----------
    Cs_ : array of shape (n_cs,)
    C_ : array of shape (1,), or (n_classes,) (the same value repeated) for more than two classes
    l1_ratio_ : array, of the shape of ``C_``
        0.0 (the L2 penalty).
    l1_ratios_ : array of shape (1,)
        ``[0.0]`` (scikit-learn has ``[None]`` for ``l1_ratios=None``; the same penalty).
    scores_ : dict
        ``{class: array (n_folds, n_cs)}``; for two classes keyed by ``classes_[1]`` only; the
        same scores for every class. ``(n_folds, n_cs, 1)`` with ``l1_ratios=(0,)``.
    coefs_paths_ : dict
        ``{class: array (n_folds, n_cs, n_features + 1)}`` (``n_features`` without
        intercept): that class's row of every fold's coefficients, intercept last.
    n_iter_ : array of shape (1, n_folds, n_cs), int32
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
    """

    def __init__(self, *, Cs=10, l1_ratios=None, fit_intercept=True, cv=None, scoring=None, solver="auto",
                 tol=1e-4, max_iter=100, class_weight=None, n_jobs=None, verbose=0, refit=True,
                 random_state=None, batch_folds=True, backend=None, device=None, dtype=None):
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
        if self.l1_ratios is not None:
            try:
                ratios = np.asarray(self.l1_ratios, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise ValueError(f"l1_ratios must be None or an array-like of numbers in [0, 1]; got "
                                 f"{self.l1_ratios!r}") from None
            if ratios.size == 0 or not np.all(ratios == 0):
                raise ValueError(f"l1_ratios must be None or (0,): xlogreg has only the L2 penalty for now "
                                 f"(l1_ratio 0); got {self.l1_ratios!r}. Use "
                                 "sklearn.linear_model.LogisticRegressionCV for L1 or elastic-net penalties")
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept must be True or False; got {self.fit_intercept!r}")
        if not isinstance(self.refit, (bool, np.bool_)):
            raise TypeError(f"refit must be True or False; got {self.refit!r}")
        if not isinstance(self.batch_folds, (bool, np.bool_)):
            raise TypeError(f"batch_folds must be True or False; got {self.batch_folds!r}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(map(repr, _SOLVERS))}; got {self.solver!r}"
                             + (" (the L-BFGS solver is not in xlogreg yet; every solver reaches the same "
                                "optimum)" if self.solver == "lbfgs" else ""))
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
        return grid, tol

    # ------------------------------------------------------------------ fit

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # the batched folds form dense Hessians (xlogreg/solvers/path.py)
        return tags

    def fit(self, X, y, sample_weight=None):
        """Choose C by cross-validation on X ``(n_samples, n_features)`` and labels y, and fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy, a data frame, a list, or an array of any Array API library
            (the whole search runs in its namespace and on its device).
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the fits and of the held-out scores, as in scikit-learn.

        Returns
        -------
        self
        """
        Cs, tol = self._check_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        if sparse.is_sparse(X):
            raise TypeError(f"{type(self).__name__} does not take a sparse X yet (its batched folds form dense "
                            "Hessians); fit LogisticRegression on it, or GridSearchCV over LogisticRegression")
        X = self._validate_X(X, reset=True, method="fit")
        xp, dev = array_namespace(X), get_device(X)
        m, n_features = X.shape
        y_host = column_or_1d(_to_host(y), warn=True)
        check_consistent_length(X, y_host)
        if y_host.dtype.kind in "fc":
            assert_all_finite(y_host, input_name="y")
        check_classification_targets(y_host)
        classes, y_index = np.unique(y_host, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in the data, but the "
                             f"data contains only one class: {classes[0]!r}")
        K = classes.shape[0]
        k = K if K > 2 else 1
        sw = _check_sample_weight(None if sample_weight is None else _to_host(sample_weight), np.empty((m, 0)),
                                  dtype=np.float64, ensure_non_negative=True, copy=True)
        fit_weight = sw
        if self.class_weight is not None:
            if isinstance(self.class_weight, dict) and not set(self.class_weight) <= set(classes.tolist()):
                raise ValueError(f"class_weight must have the class labels as keys; the classes are "
                                 f"{classes.tolist()}, class_weight has {sorted(self.class_weight, key=str)}")
            cw = compute_class_weight(self.class_weight, classes=classes, y=y_host, sample_weight=sw)
            fit_weight = sw * cw[y_index]  # "balanced": on all of y, once, as scikit-learn

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
        method = choose_newton(n_features, k) if self.solver == "auto" else self.solver
        Xt = X.T  # (n_x, m): the engine's layout, a view
        labels = _backends.asarray(np.reshape(y_index, (1, m)).astype(np.float64), xp, dev, X.dtype)
        coefs, scores_dev, n_iter, converged = cross_validation_path(
            Xt, labels, K, _backends.asarray(train_w, xp, dev, X.dtype), _backends.asarray(test_w, xp, dev, X.dtype),
            Cs.tolist(), fit_intercept=bool(self.fit_intercept), tol=tol, max_iter=int(self.max_iter), method=method,
            scoring=scoring if on_device else None, batched=bool(self.batch_folds),
            train_index=[train for train, _ in folds], test_index=[test for _, test in folds], verbose=self.verbose)
        paths = xp.stack(coefs, axis=1)  # (F, n_cs, k, n_x + 1)
        if on_device:
            scores = np.asarray(_backends.to_numpy(scores_dev), dtype=np.float64)
        else:
            scores = self._host_scores(scoring, X, y_host, sw if sample_weight is not None else None, folds,
                                       paths, classes)
        if tol > 0 and not converged.all():
            warnings.warn(f"{type(self).__name__} (solver={method!r}): {int((~converged).sum())} of the "
                          f"{converged.size} fits of the folds did not reach tol={tol:g} in max_iter={self.max_iter} "
                          "iterations; increase max_iter, or scale the data", ConvergenceWarning, stacklevel=2)

        n_x = n_features
        if self.refit:
            best = int(np.argmax(scores.sum(axis=0)))
            C = float(Cs[best])
            start = xp.mean(paths[:, best, :, :], axis=0)  # (k, n_x + 1): the folds' mean, as scikit-learn
            w = self._refit(Xt, labels, K, fit_weight, C, start, tol)
        else:
            best_per_fold = np.argmax(scores, axis=1)
            chosen = xp.stack([paths[f, int(best_per_fold[f]), :, :] for f in range(F)], axis=0)
            w = xp.mean(chosen, axis=0)
            C = float(np.mean(Cs[best_per_fold]))

        dtype_c = _float_dtype(xp, dev)
        self.classes_ = self._classes_like(classes, xp, dev)
        self.Cs_ = xp.asarray(Cs, dtype=dtype_c, device=dev)
        self.C_ = xp.asarray([C] * k, dtype=dtype_c, device=dev)
        self.l1_ratio_ = xp.zeros(k, dtype=dtype_c, device=dev)
        self.l1_ratios_ = xp.zeros(1, dtype=dtype_c, device=dev)
        self.coef_ = w[:, :n_x]
        self.intercept_ = w[:, n_x] if self.fit_intercept else xp.zeros(k, dtype=X.dtype, device=dev)
        keys = classes[1:] if K == 2 else classes
        l1_axis = self.l1_ratios is not None  # scikit-learn keeps the l1_ratios axis when they are given
        scores_x = xp.asarray(scores, dtype=X.dtype, device=dev)
        if l1_axis:
            scores_x = xp.reshape(scores_x, (F, len(Cs), 1))
        self.scores_ = {c: scores_x for c in keys}
        self.coefs_paths_ = {}
        for i, c in enumerate(keys):
            path = paths[:, :, i, :]
            self.coefs_paths_[c] = xp.reshape(path, (F, len(Cs), 1, path.shape[2])) if l1_axis else path
        self.n_iter_ = xp.asarray(n_iter.reshape((1, F, len(Cs)) + ((1,) if l1_axis else ())), dtype=xp.int32,
                                  device=dev)
        self._converged = bool(converged.all())
        self._step = 1.0
        return self

    def _refit(self, Xt, labels, K, fit_weight, C, start, tol):
        """The fit on all the data at C from `start` (``(k, n_x + 1)``, ``(k, n_x)`` without intercept).

        Returns ``[coef_, intercept_]``, shape ``(k, n_x + 1)`` (the intercept 0 without one).
        """
        xp, dev = array_namespace(Xt), get_device(Xt)
        weights = _backends.asarray(np.reshape(fit_weight, (1, -1)), xp, dev, Xt.dtype)
        loss = FoldLoss(Xt, labels, K, weights, l2=0.0 if math.isinf(C) else 1.0 / C,
                        fit_intercept=bool(self.fit_intercept))
        W0, b0 = loss.from_blocks(xp.reshape(start, (1,) + tuple(start.shape)))
        method = choose_newton(Xt.shape[0], loss.k) if self.solver == "auto" else self.solver
        result = fold_newton(loss, W0, b0, tol=tol, max_iter=int(self.max_iter), method=method)
        if tol > 0 and not result.converged.all():
            warnings.warn(f"{type(self).__name__}: the refit at C={C:g} did not reach tol={tol:g} in "
                          f"max_iter={self.max_iter} iterations (gradient norm {result.gradient_norm[0]:.3g}); "
                          "increase max_iter, or scale the data", ConvergenceWarning, stacklevel=3)
        B = loss.to_blocks(result.W, result.b)[0, ...]  # (k, n_x + 1), or (k, n_x)
        if not self.fit_intercept:
            B = xp.concat([B, xp.zeros((B.shape[0], 1), dtype=B.dtype, device=dev)], axis=1)
        return B

    def _host_scores(self, scoring, X, y_host, sample_weight, folds, paths, classes):
        """Scores ``(n_folds, n_cs)`` of any scikit-learn scorer, on the host, from the coefficients."""
        scorer = _fold_scorer(scoring, classes) if isinstance(scoring, str) else scoring
        X_host = np.asarray(_backends.to_numpy(X)) if _foreign(X) else np.asarray(X)
        P = np.asarray(_backends.to_numpy(paths), dtype=np.float64)  # (F, n_cs, k, n_x + 1)
        n_x = X_host.shape[1]
        scores = np.zeros(P.shape[:2])
        for f, (_, test) in enumerate(folds):
            kwargs = {} if sample_weight is None else {"sample_weight": sample_weight[test]}
            for j in range(P.shape[1]):
                intercept = P[f, j, :, n_x] if self.fit_intercept else np.zeros(P.shape[2])
                model = _host_model(P[f, j, :, :n_x], intercept, classes)
                scores[f, j] = scorer(model, X_host[test], y_host[test], **kwargs)
        return scores

    # ------------------------------------------------------------------ scoring and model files

    def score(self, X, y, sample_weight=None):
        """The `scoring` of the fitted model on (X, y) (accuracy for None), a Python float."""
        if self.scoring is None or self.scoring == "accuracy":
            return super().score(X, y, sample_weight=sample_weight)
        classes = np.asarray(_backends.to_numpy(self.classes_)) if _foreign(self.classes_) else self.classes_
        model = _host_model(_backends.to_numpy(self.coef_), _backends.to_numpy(self.intercept_), classes)
        X = self._validate_X(X, reset=False, method="score")
        scorer = get_scorer(self.scoring) if isinstance(self.scoring, str) else self.scoring
        kwargs = {} if sample_weight is None else {"sample_weight": _to_host(sample_weight)}
        return float(scorer(model, np.asarray(_backends.to_numpy(X)), _to_host(y), **kwargs))

    def to_model(self):
        """The refitted model as an :class:`xlogreg.Model` (that of ``LogisticRegression(C=C_)``)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        single = LogisticRegression(C=float(_backends.to_numpy(self.C_)[0]), fit_intercept=self.fit_intercept,
                                    tol=self.tol, max_iter=self.max_iter, class_weight=self.class_weight)
        for name in ("coef_", "intercept_", "classes_", "n_features_in_", "_converged", "_step"):
            setattr(single, name, getattr(self, name))
        if hasattr(self, "feature_names_in_"):
            single.feature_names_in_ = self.feature_names_in_
        xp = array_namespace(self.n_iter_)
        single.n_iter_ = xp.reshape(xp.sum(self.n_iter_), (1,))  # every fit of the search
        return single.to_model()
