"""xlogreg.LogisticRegressionCV: scikit-learn's choice of C, its scores and coefficients, on the data's device.

References are scikit-learn's own ``LogisticRegressionCV`` (newton-cg for L2,
saga for elastic net and L1, to a tight tolerance, on the same folds), never
the code under test; "batched equals one fold at a time" compares two paths of
:mod:`xlogreg.solvers.path` that share only the Newton step; a sparse X is
compared with the dense fit of the same numbers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_breast_cancer, load_digits, make_classification  # noqa: E402
from sklearn.linear_model import LogisticRegressionCV as SkLogisticRegressionCV  # noqa: E402
from sklearn.model_selection import KFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import xlogreg  # noqa: E402
from xlogreg import LogisticRegressionCV, _backends  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _problems(small=True):
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer", StandardScaler().fit_transform(X), y
    X, y = load_digits(return_X_y=True)
    n = 400 if small else X.shape[0]
    yield "digits", X[:n] / 16, y[:n]
    X, y = make_classification(n_samples=300, n_features=8, n_informative=5, n_classes=3, random_state=0)
    yield "synthetic", X, y


PROBLEMS = {name: (X, y) for name, X, y in _problems()}


def _sklearn(X, y, **params):
    """scikit-learn's LogisticRegressionCV, legacy attributes, to a tight tolerance (newton-cg: fast and exact)."""
    options = dict(Cs=10, cv=5, scoring="neg_log_loss", solver="newton-cg", tol=1e-9, max_iter=1000,
                   l1_ratios=(0,), use_legacy_attributes=True)
    options.update(params)
    return SkLogisticRegressionCV(**options).fit(X, y)


def _assert_same(ours, theirs, coef_rtol=1e-4):
    """Equal C_, scores_ within 1e-4, coef_ within coef_rtol relative (of its largest entry)."""
    np.testing.assert_array_equal(np.asarray(_backends.to_numpy(ours.C_)), theirs.C_)
    np.testing.assert_allclose(np.asarray(_backends.to_numpy(ours.Cs_)), theirs.Cs_)
    assert list(ours.scores_) == list(theirs.scores_)
    for key, scores in theirs.scores_.items():
        mine = np.asarray(_backends.to_numpy(ours.scores_[key]))
        assert mine.shape == scores.shape[:2]  # l1_ratios=None here: no l1_ratios axis
        np.testing.assert_allclose(mine, scores[..., 0], atol=1e-4, rtol=0)
    scale = np.abs(theirs.coef_).max()
    np.testing.assert_allclose(np.asarray(_backends.to_numpy(ours.coef_)), theirs.coef_, atol=coef_rtol * scale, rtol=0)
    np.testing.assert_allclose(np.asarray(_backends.to_numpy(ours.intercept_)), theirs.intercept_,
                               atol=coef_rtol * max(scale, 1.0), rtol=0)


# --------------------------------------------------------------------------- scikit-learn's contract


@parametrize_with_checks([LogisticRegressionCV()], expected_failed_checks=lambda estimator: {
    "check_sparsify_coefficients": "9 samples, 3 per class: the default cv=5 cannot split them (scikit-learn runs "
                                   "its own with cv=3); test_sparsify_and_scores below runs the check with cv=3"})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_sparsify_and_scores():
    """sparsify() (inherited from LogisticRegression): scikit-learn's check, and every scoring unchanged."""
    from sklearn.utils.estimator_checks import check_sparsify_coefficients

    check_sparsify_coefficients("LogisticRegressionCV", LogisticRegressionCV(cv=3))
    X, y = PROBLEMS["breast_cancer"]
    for scoring in (None, "neg_log_loss", "roc_auc"):
        clf = LogisticRegressionCV(Cs=3, cv=3, scoring=scoring).fit(X, y)
        score, proba = clf.score(X, y), clf.predict_proba(X)
        clf.sparsify()
        assert clf.score(X, y) == pytest.approx(score, rel=1e-12)
        np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-12, atol=1e-15)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SCIPY_ARRAY_API") == "1",
                    reason="SCIPY_ARRAY_API=1 is set: the checks above already run the array-API ones")
def test_sklearn_estimator_checks_with_array_api():
    """scikit-learn's array-API checks (array-api-strict on its devices, torch): a new process, SCIPY_ARRAY_API=1."""
    pytest.importorskip("array_api_strict")
    env = dict(os.environ, SCIPY_ARRAY_API="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    select = "test_sklearn_estimator_checks and array_api"
    if not xlogreg.available_backends()["cupy"].available:
        select += " and not cupy"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", __file__, "-k",
                           select], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "SCIPY_ARRAY_API is not set" not in out, out[-4000:]


# --------------------------------------------------------------------------- the choice is scikit-learn's


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_same_choice_as_sklearn(name):
    X, y = PROBLEMS[name]
    theirs = _sklearn(X, y)
    ours = LogisticRegressionCV(Cs=10, cv=5, scoring="neg_log_loss", tol=1e-10).fit(X, y)
    _assert_same(ours, theirs)
    for key, path in theirs.coefs_paths_.items():  # every fold's fit at every C, intercept last
        mine = ours.coefs_paths_[key]
        assert mine.shape == path[:, :, 0, :].shape
        if len(theirs.classes_) > 2:  # softmax: the coefficients are defined up to a common shift
            continue
        np.testing.assert_allclose(mine, path[:, :, 0, :], atol=1e-4 * np.abs(path).max(), rtol=0)
    assert ours.n_iter_.shape == theirs.n_iter_[..., 0].shape and ours.n_iter_.dtype == np.int32
    assert ours.C_.shape == theirs.C_.shape and ours.l1_ratio_.shape == theirs.C_.shape


@pytest.mark.slow
def test_same_choice_as_sklearn_on_all_of_digits():
    X, y = load_digits(return_X_y=True)
    _assert_same(LogisticRegressionCV(scoring="neg_log_loss", tol=1e-10).fit(X / 16, y), _sklearn(X / 16, y))


@pytest.mark.slow
def test_same_choice_as_sklearn_on_tens_of_thousands_of_rows():
    """20,000 examples, 40 features, 3 classes: 123 parameters per fold, so "auto" runs Newton-CG (Gram
    preconditioner, batched folds) along the path."""
    X, y = make_classification(n_samples=20_000, n_features=40, n_informative=20, n_redundant=0, n_classes=3,
                               random_state=0)
    _assert_same(LogisticRegressionCV(scoring="neg_log_loss", tol=1e-10).fit(X, y), _sklearn(X, y))


@pytest.mark.parametrize("name", ["breast_cancer", "synthetic"])
def test_refit_false_averages_the_folds_best_coefficients(name):
    X, y = PROBLEMS[name]
    _assert_same(LogisticRegressionCV(scoring="neg_log_loss", tol=1e-10, refit=False).fit(X, y),
                 _sklearn(X, y, refit=False))


def test_sample_and_class_weights_and_a_splitter():
    X, y = make_classification(n_samples=240, n_features=6, weights=[0.7, 0.3], random_state=1)
    sw = np.random.default_rng(0).uniform(0.2, 3.0, size=y.shape[0])
    cv = KFold(4, shuffle=True, random_state=0)
    theirs = _sklearn(X, y, Cs=[0.01, 0.1, 1.0, 10.0], cv=cv, class_weight="balanced").fit(X, y, sample_weight=sw)
    ours = LogisticRegressionCV(Cs=[0.01, 0.1, 1.0, 10.0], cv=cv, class_weight="balanced", scoring="neg_log_loss",
                                tol=1e-10).fit(X, y, sample_weight=sw)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("scoring", [None, "accuracy", "neg_brier_score", "roc_auc"])
def test_other_scorings(scoring):
    """Accuracy on the device; any other scorer on the host, with every label told, as scikit-learn."""
    X, y = PROBLEMS["breast_cancer"]
    ours = LogisticRegressionCV(Cs=6, scoring=scoring, tol=1e-10).fit(X, y)
    theirs = _sklearn(X, y, Cs=6, scoring=scoring)
    np.testing.assert_allclose(ours.scores_[1], theirs.scores_[1][..., 0], atol=1e-6, rtol=0)
    # the choice may differ on a tie of accuracies (equal scores at several C): compare where scikit-learn is sure
    if np.sum(theirs.scores_[1][..., 0].sum(axis=0) == theirs.scores_[1][..., 0].sum(axis=0).max()) == 1:
        assert ours.C_[0] == theirs.C_[0]


def test_l1_ratios_zero_keeps_scikit_learns_axis():
    X, y = PROBLEMS["synthetic"]
    ours = LogisticRegressionCV(Cs=3, l1_ratios=(0,), scoring="neg_log_loss", tol=1e-10).fit(X, y)
    theirs = _sklearn(X, y, Cs=3)
    for key in theirs.scores_:
        assert ours.scores_[key].shape == theirs.scores_[key].shape
        assert ours.coefs_paths_[key].shape == theirs.coefs_paths_[key].shape
    assert ours.n_iter_.shape == theirs.n_iter_.shape
    np.testing.assert_allclose(ours.scores_[0], theirs.scores_[0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["breast_cancer", "synthetic"])
@pytest.mark.parametrize("l1_ratios", [None, (0,)])
@pytest.mark.parametrize("refit", [True, False])
@pytest.mark.filterwarnings("ignore:'l1_ratios=None' was deprecated:FutureWarning")  # scikit-learn's, for None
def test_new_attribute_layout_is_scikit_learns(name, l1_ratios, refit):
    """use_legacy_attributes=False: scikit-learn's new layout (floats; folds, l1_ratios, Cs), its values too."""
    X, y = PROBLEMS[name]
    ours = LogisticRegressionCV(Cs=4, l1_ratios=l1_ratios, refit=refit, scoring="neg_log_loss", tol=1e-10,
                                use_legacy_attributes=False).fit(X, y)
    theirs = _sklearn(X, y, Cs=4, l1_ratios=l1_ratios, refit=refit, use_legacy_attributes=False)
    assert isinstance(ours.C_, float) and ours.C_ == theirs.C_
    assert isinstance(ours.l1_ratio_, float) and ours.l1_ratio_ == theirs.l1_ratio_ == 0.0
    assert ours.scores_.shape == theirs.scores_.shape  # (n_folds, n_l1_ratios, n_cs)
    np.testing.assert_allclose(ours.scores_, theirs.scores_, atol=1e-4, rtol=0)
    assert ours.coefs_paths_.shape == theirs.coefs_paths_.shape  # (n_folds, n_l1_ratios, n_cs, 1 or k, n_dof)
    assert ours.n_iter_.shape == theirs.n_iter_.shape and ours.n_iter_.dtype == np.int32
    if len(theirs.classes_) == 2:  # softmax coefficients are defined up to a common shift: binary only
        np.testing.assert_allclose(ours.coefs_paths_, theirs.coefs_paths_,
                                   atol=1e-4 * np.abs(theirs.coefs_paths_).max(), rtol=0)
    scale = np.abs(theirs.coef_).max()
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-4 * scale, rtol=0)
    # the model file's Model from a float C_ (it predicts label indices, one column per example)
    np.testing.assert_array_equal(ours.to_model().predict(X.T).ravel(), np.searchsorted(ours.classes_, ours.predict(X)))


def test_folds_that_miss_a_class():
    """scikit-learn's test_multinomial_cv_iris, its part without lbfgs / sag / saga: KFold(3) on iris (sorted by
    class) holds out one class each time, unseen in training, so every held-out accuracy is exactly 0; the
    Brier score prefers the strongest penalty (probabilities nearest uniform)."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    cv = KFold(n_splits=3)
    clf = LogisticRegressionCV(cv=cv, scoring="accuracy", use_legacy_attributes=False).fit(X, y)
    assert np.all(clf.scores_ == 0.0)
    clf = LogisticRegressionCV(cv=cv, scoring="neg_brier_score", Cs=np.logspace(-6, 3, 10),
                               use_legacy_attributes=False).fit(X, y)
    assert clf.C_ == 1e-6
    brier = -clf.scores_
    assert np.all(brier > 0.7 * 2) and np.min(brier) < 0.8 * 2  # bad, but better than the worst (2, unscaled)


def test_new_attribute_layout_of_an_elastic_net_search():
    """The l1_ratios axis second: each (fold, l1_ratio, C) of the new layout is the legacy (fold, C, l1_ratio)."""
    X, y = PROBLEMS["synthetic"]
    params = dict(Cs=3, l1_ratios=[0.0, 0.5], scoring="neg_log_loss", tol=1e-8)
    legacy = LogisticRegressionCV(**params).fit(X, y)
    new = LogisticRegressionCV(**params, use_legacy_attributes=False).fit(X, y)
    assert new.scores_.shape == (5, 2, 3) and new.coefs_paths_.shape == (5, 2, 3, 3, X.shape[1] + 1)
    assert new.n_iter_.shape == (5, 2, 3)
    for l in range(2):
        for j in range(3):
            np.testing.assert_array_equal(new.scores_[:, l, j], legacy.scores_[0][:, j, l])
            np.testing.assert_array_equal(new.n_iter_[:, l, j], legacy.n_iter_[0, :, j, l])
            for i, c in enumerate(legacy.classes_):
                np.testing.assert_array_equal(new.coefs_paths_[:, l, j, i, :], legacy.coefs_paths_[c][:, j, l, :])
    assert new.C_ == float(legacy.C_[0]) and new.l1_ratio_ == float(legacy.l1_ratio_[0])


@pytest.mark.parametrize("params, message", [
    (dict(Cs=0), "Cs must be an int >= 1"),
    (dict(Cs=[1.0, -2.0]), "Cs must be an int >= 1 or a non-empty 1-d list of floats > 0"),
    (dict(solver="sgd"), "solver must be one of 'auto', 'lbfgs', 'newton-cholesky', 'newton-cg', 'prox-newton'; "
                         "got 'sgd'"),
    (dict(l1_ratios=[0.5], solver="lbfgs"), "Solver lbfgs supports only 'l2' or None penalties, got elasticnet"),
    (dict(solver="saga"), "solver='saga' is not available in xlogreg"),
    (dict(l1_ratios=[0.5, 1.5]), r"l1_ratios must be None or an array-like of numbers between 0 and 1; got "
                                 r"\(l1_ratios=\[0\.5, 1\.5\]\)"),
    (dict(l1_ratios=[]), "l1_ratios must be None or an array-like of numbers between 0 and 1"),
    (dict(l1_ratios="l1"), "l1_ratios must be None or an array-like of numbers between 0 and 1"),
    (dict(l1_ratios=[0.5], solver="newton-cg"), "Solver newton-cg supports only 'l2' or None penalties, got "
                                                "elasticnet penalty"),
    (dict(l1_ratios=[1], solver="newton-cholesky"), "Solver newton-cholesky supports only 'l2' or None "
                                                     "penalties, got l1 penalty"),
    (dict(solver="prox-newton"), "solver='prox-newton' fits an L1 term: give l1_ratios with a value > 0"),
    (dict(scoring="not_a_scorer"), "scoring must be None, a scikit-learn scorer name"),
    (dict(class_weight={"cat": 2.0}), "class_weight must have the class labels as keys"),
    (dict(use_legacy_attributes="warn"), "use_legacy_attributes must be True or False; got 'warn'"),
])
def test_clear_errors(params, message):
    X, y = PROBLEMS["synthetic"]
    with pytest.raises((ValueError, TypeError), match=message):
        LogisticRegressionCV(**params).fit(X, y)


# --------------------------------------------------------------------------- batched equals one fold at a time


@pytest.mark.parametrize("name", ["breast_cancer", "synthetic"])
@pytest.mark.parametrize("solver", ["newton-cholesky", "newton-cg"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_batched_folds_equal_one_fold_at_a_time(name, solver, fit_intercept):
    X, y = PROBLEMS[name]
    params = dict(Cs=5, scoring="neg_log_loss", solver=solver, tol=1e-10, fit_intercept=fit_intercept)
    batched = LogisticRegressionCV(batch_folds=True, **params).fit(X, y)
    single = LogisticRegressionCV(batch_folds=False, **params).fit(X, y)
    np.testing.assert_array_equal(batched.C_, single.C_)
    # the same optimum to the solver's accuracy: at C = 1e4 on breast_cancer (nearly separable) a gradient
    # of 1e-10 leaves the coefficients free by ~1e-6 of their size along the flattest direction
    rtol = 1e-9 if solver == "newton-cholesky" else 1e-5
    for key in batched.scores_:
        np.testing.assert_allclose(batched.scores_[key], single.scores_[key], atol=rtol / 10, rtol=0)
        scale = np.abs(single.coefs_paths_[key]).max()
        np.testing.assert_allclose(batched.coefs_paths_[key], single.coefs_paths_[key], atol=rtol * scale, rtol=0)
    np.testing.assert_allclose(batched.coef_, single.coef_, atol=rtol * np.abs(single.coef_).max(), rtol=0)
    if not fit_intercept:
        assert not np.any(batched.intercept_)
        assert all(path.shape[-1] == X.shape[1] for path in batched.coefs_paths_.values())  # no intercept column


def test_without_intercept_matches_sklearn():
    X, y = PROBLEMS["breast_cancer"]
    _assert_same(LogisticRegressionCV(Cs=5, scoring="neg_log_loss", tol=1e-10, fit_intercept=False).fit(X, y),
                 _sklearn(X, y, Cs=5, fit_intercept=False))


# --------------------------------------------------------------------------- the search stays on the data's device


def test_torch_in_its_namespace():
    torch = pytest.importorskip("torch")
    X, y = PROBLEMS["synthetic"]
    ours = LogisticRegressionCV(Cs=5, scoring="neg_log_loss", tol=1e-10).fit(torch.asarray(X), torch.asarray(y))
    for value in (ours.coef_, ours.intercept_, ours.Cs_, ours.C_, ours.n_iter_, ours.classes_,
                  *ours.scores_.values(), *ours.coefs_paths_.values()):
        assert isinstance(value, torch.Tensor)
    assert isinstance(ours.predict_proba(torch.asarray(X)), torch.Tensor)
    _assert_same(ours, _sklearn(X, y, Cs=5))


@pytest.mark.parametrize("device_name", ["CPU_DEVICE", "device1"])
def test_array_api_strict_on_its_device(device_name):
    xp = pytest.importorskip("array_api_strict")
    dev = xp.Device(device_name)
    X, y = PROBLEMS["breast_cancer"]
    ours = LogisticRegressionCV(Cs=4, scoring="neg_log_loss", tol=1e-10).fit(xp.asarray(X, device=dev),
                                                                           xp.asarray(y, device=dev))
    for value in (ours.coef_, ours.intercept_, ours.Cs_, ours.C_, ours.n_iter_, *ours.scores_.values(),
                  *ours.coefs_paths_.values()):
        assert value.device == dev, value
    assert ours.predict_proba(xp.asarray(X, device=dev)).device == dev
    _assert_same(ours, _sklearn(X, y, Cs=4))


def test_float32_data_stays_float32():
    """float32 in, float32 out; at C up to 1 (a well-conditioned objective) the scores agree to float32's accuracy."""
    torch = pytest.importorskip("torch")
    X, y = PROBLEMS["breast_cancer"]
    Cs = [1e-3, 1e-2, 1e-1, 1.0]
    ours = LogisticRegressionCV(Cs=Cs, scoring="neg_log_loss", tol=1e-5).fit(torch.asarray(X, dtype=torch.float32),
                                                                            torch.asarray(y))
    assert ours.coef_.dtype == torch.float32 and ours.scores_[1].dtype == torch.float32
    theirs = _sklearn(X, y, Cs=Cs)
    np.testing.assert_allclose(ours.scores_[1].numpy(), theirs.scores_[1][..., 0], atol=1e-4, rtol=0)
    assert float(ours.C_[0]) == theirs.C_[0]


def test_the_docs_example_runs_as_written():
    import re

    with open(os.path.join(ROOT, "docs", "user-guide", "choosing-c.md"), encoding="utf-8") as file:
        text = file.read()
    first, enet, text_example = re.findall(r"```python\n(.*?)```", text, re.S)
    namespace = {}
    exec(compile(first, "docs/user-guide/choosing-c.md", "exec"), namespace)
    theirs = _sklearn(namespace["X"], namespace["y"])
    assert namespace["clf"].C_[0] == theirs.C_[0]
    namespace = {}
    exec(compile(enet, "docs/user-guide/choosing-c.md", "exec"), namespace)
    assert namespace["enet"].scores_[1].shape == (5, 6, 3)
    assert namespace["enet"].l1_ratio_[0] in (0.0, 0.5, 1.0)
    namespace = {}
    exec(compile(text_example, "docs/user-guide/choosing-c.md", "exec"), namespace)
    assert namespace["clf"].coefs_paths_[1].shape[:3] == (4, 4, 1)


# --------------------------------------------------------------------------- l1_ratios > 0: elastic net and L1


def _enet_problems():
    X, y = load_breast_cancer(return_X_y=True)
    # a subset of weakly correlated features, which saga solves to 1e-10 in a few hundred epochs
    X = StandardScaler().fit_transform(X[:, [1, 4, 8, 9, 11, 14, 18, 19]])
    yield "breast_cancer", X, y
    # three classes, no redundant (collinear) features: saga converges to 1e-10 in under 20,000 epochs
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_redundant=0, n_classes=3,
                               random_state=0)
    yield "synthetic", X, y


ENET_PROBLEMS = {name: (X, y) for name, X, y in _enet_problems()}


def _sklearn_enet(X, y, **params):
    """scikit-learn's elastic-net search: saga (its only elastic-net solver), tight, legacy attributes."""
    options = dict(Cs=4, cv=5, l1_ratios=np.array([0.5, 1.0]), scoring="neg_log_loss", solver="saga", tol=1e-10,
                   max_iter=100_000, random_state=0, use_legacy_attributes=True)
    options.update(params)
    return SkLogisticRegressionCV(**options).fit(X, y)


def _intercept_only_scores(y):
    """Each fold's held-out mean log-likelihood of the model without features: its training frequencies."""
    from sklearn.model_selection import StratifiedKFold

    classes, index = np.unique(y, return_inverse=True)
    scores = []
    for train, test in StratifiedKFold(5).split(np.zeros((y.shape[0], 1)), y):
        frequencies = np.bincount(index[train], minlength=classes.shape[0]) / train.shape[0]
        scores.append(np.mean(np.log(frequencies[index[test]])))
    return np.array(scores)


def _centred(intercept):
    """Softmax intercepts up to their common shift (which changes no probability), binary ones as they are."""
    intercept = np.asarray(_backends.to_numpy(intercept))
    return intercept - intercept.mean() if intercept.shape[0] > 2 else intercept


@pytest.mark.parametrize("refit", [True, False])
@pytest.mark.parametrize("name", list(ENET_PROBLEMS))
def test_elastic_net_search_matches_sklearn(name, refit):
    X, y = ENET_PROBLEMS[name]
    theirs = _sklearn_enet(X, y, refit=refit)
    ours = LogisticRegressionCV(Cs=4, l1_ratios=[0.5, 1.0], scoring="neg_log_loss", tol=1e-10,
                                refit=refit).fit(X, y)
    np.testing.assert_allclose(ours.C_, theirs.C_, rtol=1e-12)
    np.testing.assert_allclose(ours.l1_ratio_, theirs.l1_ratio_, rtol=1e-12)
    np.testing.assert_array_equal(ours.l1_ratios_, [0.5, 1.0])
    assert ours.n_iter_.shape == theirs.n_iter_.shape
    assert list(ours.scores_) == list(theirs.scores_)
    # at C = 1e-4 every fit is W = 0 with the intercept-only biases, which saga (steps of 1 / (L + 1 / (C n)))
    # leaves short of its optimum by up to 4e-3 in the score: that column against the hand-worked optimum
    first = next(iter(theirs.coefs_paths_.values()))[:, 0, :, :X.shape[1]]
    assert theirs.Cs_[0] == 1e-4 and not np.any(first)
    for key, scores in theirs.scores_.items():
        assert ours.scores_[key].shape == scores.shape  # (n_folds, n_cs, n_l1_ratios)
        np.testing.assert_allclose(ours.scores_[key][:, 1:, :], scores[:, 1:, :], atol=1e-4, rtol=0)
        np.testing.assert_allclose(ours.scores_[key][:, 0, :], _intercept_only_scores(y)[:, None] + [0, 0],
                                   atol=1e-9, rtol=0)
        assert ours.coefs_paths_[key].shape == theirs.coefs_paths_[key].shape
    scale = np.abs(theirs.coef_).max()
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-4 * scale, rtol=0)
    np.testing.assert_allclose(_centred(ours.intercept_), _centred(theirs.intercept_), atol=1e-4 * max(scale, 1))
    np.testing.assert_array_equal(ours.coef_[theirs.coef_ == 0], 0.0)
    for key, path in theirs.coefs_paths_.items():  # every fold's path, with the zeros of each fit
        mine = np.asarray(ours.coefs_paths_[key])[..., :X.shape[1]]
        path = path[..., :X.shape[1]]
        np.testing.assert_allclose(mine, path, atol=1e-4 * np.abs(path).max(), rtol=0)
        assert np.count_nonzero(path == 0) > 0  # the small Cs' fits are sparse: the zeros are tested
        np.testing.assert_array_equal(mine[path == 0], 0.0)


def test_l1_ratio_zero_among_others_runs_the_batched_l2_path():
    """l1_ratios [0, 1]: the 0 column is the L2 search (the same as l1_ratios=(0,)), the other proximal Newton."""
    X, y = ENET_PROBLEMS["breast_cancer"]
    both = LogisticRegressionCV(Cs=4, l1_ratios=[0.0, 1.0], scoring="neg_log_loss", tol=1e-10).fit(X, y)
    l2 = LogisticRegressionCV(Cs=4, l1_ratios=(0,), scoring="neg_log_loss", tol=1e-10).fit(X, y)
    l1 = LogisticRegressionCV(Cs=4, l1_ratios=(1,), scoring="neg_log_loss", tol=1e-10).fit(X, y)
    np.testing.assert_array_equal(both.scores_[1][:, :, 0], l2.scores_[1][:, :, 0])
    np.testing.assert_array_equal(both.scores_[1][:, :, 1], l1.scores_[1][:, :, 0])
    best = np.unravel_index(np.argmax(both.scores_[1].sum(axis=0)), (4, 2))  # scikit-learn's rule, by hand
    assert both.C_[0] == both.Cs_[best[0]] and both.l1_ratio_[0] == [0.0, 1.0][best[1]]
    # the same optimum by the other solver: prox-newton at l1_ratio 0 is the L2 fit
    prox = LogisticRegressionCV(Cs=4, l1_ratios=[0.0, 1.0], scoring="neg_log_loss", tol=1e-10,
                                solver="prox-newton").fit(X, y)
    np.testing.assert_allclose(prox.coefs_paths_[1], both.coefs_paths_[1], atol=1e-6 * np.abs(both.coef_).max())


# --------------------------------------------------------------------------- sparse X


def _sparsified(name):
    """The problem with its small entries set to zero (a third or more of X), dense: the reference's numbers."""
    X, y = {**PROBLEMS, **ENET_PROBLEMS}[name]
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    return X, y


def _assert_equal_fits(ours, dense, atol=1e-8):
    np.testing.assert_array_equal(ours.C_, dense.C_)
    np.testing.assert_array_equal(ours.l1_ratio_, dense.l1_ratio_)
    scale = np.abs(dense.coef_).max()
    np.testing.assert_allclose(ours.coef_, dense.coef_, atol=atol * scale, rtol=0)
    np.testing.assert_allclose(ours.intercept_, dense.intercept_, atol=atol * max(scale, 1), rtol=0)
    for key in dense.scores_:
        np.testing.assert_allclose(ours.scores_[key], dense.scores_[key], atol=atol, rtol=0)
        paths = dense.coefs_paths_[key]
        np.testing.assert_allclose(ours.coefs_paths_[key], paths, atol=atol * np.abs(paths).max(), rtol=0)
    assert ours.n_iter_.shape == dense.n_iter_.shape


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("name", ["breast_cancer", "synthetic"])
def test_sparse_X_equals_the_dense_fit(name, fmt):
    X, y = _sparsified(name)
    params = dict(Cs=4, scoring="neg_log_loss", tol=1e-10)
    dense = LogisticRegressionCV(**params).fit(X, y)
    ours = LogisticRegressionCV(**params).fit(sp.coo_matrix(X).asformat(fmt), y)
    _assert_equal_fits(ours, dense)
    np.testing.assert_allclose(ours.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X), atol=1e-8, rtol=0)


@pytest.mark.parametrize("name", ["breast_cancer", "synthetic"])
@pytest.mark.parametrize("params", [
    dict(l1_ratios=[0.5, 1.0]),
    dict(solver="newton-cg"),
    dict(batch_folds=False, refit=False),
    dict(scoring="roc_auc_ovr", l1_ratios=(0,)),
], ids=["elastic-net", "newton-cg", "one-fold-at-a-time", "host-scorer"])
def test_sparse_X_equals_the_dense_fit_every_path(name, params):
    X, y = _sparsified(name)
    params = dict(dict(Cs=4, scoring="neg_log_loss", tol=1e-10), **params)
    dense = LogisticRegressionCV(**params).fit(X, y)
    ours = LogisticRegressionCV(**params).fit(sp.csr_array(X), y)
    _assert_equal_fits(ours, dense, atol=1e-7 if params.get("solver") == "newton-cg" else 1e-8)
    if "scoring" in params and params["scoring"] != "neg_log_loss":
        assert ours.score(sp.csr_array(X), y) == pytest.approx(dense.score(X, y), abs=1e-12)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta:UserWarning")  # torch's own note
def test_torch_sparse_X_equals_the_dense_fit():
    torch = pytest.importorskip("torch")
    X, y = _sparsified("synthetic")
    params = dict(Cs=3, l1_ratios=[0.0, 0.5], scoring="roc_auc_ovr", tol=1e-10)
    dense = LogisticRegressionCV(**params).fit(X, y)
    ours = LogisticRegressionCV(**params).fit(torch.asarray(X).to_sparse_csr(), torch.asarray(y))
    assert isinstance(ours.coef_, torch.Tensor) and isinstance(ours.scores_[0], torch.Tensor)
    _assert_equal_fits(ours, dense)
    assert ours.score(torch.asarray(X).to_sparse_csr(), y) == pytest.approx(dense.score(X, y), abs=1e-12)
    with pytest.raises(TypeError, match="a callable scoring needs X on the host"):
        LogisticRegressionCV(Cs=2, scoring=lambda est, X, y: 0.0).fit(torch.asarray(X).to_sparse_csr(), y)


def test_sparse_X_is_never_densified(monkeypatch):
    """Densifying a SciPy matrix of X's shape is made an error (the Gram products of X, of other shapes, pass)."""
    X, y = _sparsified("synthetic")

    def guard(method):
        def refuse(self, *args, **kwargs):
            if tuple(self.shape) in (X.shape, X.shape[::-1]):
                raise AssertionError(f"a sparse matrix of X's shape ({type(self).__name__}) was densified")
            return method(self, *args, **kwargs)
        return refuse

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array, sp.coo_array):
        for method in ("toarray", "todense"):
            monkeypatch.setattr(cls, method, guard(getattr(cls, method)))
    for params in (dict(), dict(l1_ratios=[0.5]), dict(scoring="roc_auc_ovr"), dict(solver="newton-cg")):
        clf = LogisticRegressionCV(Cs=2, cv=3, **params).fit(sp.csr_matrix(X), y)
        clf.score(sp.csr_matrix(X), y)
    assert LogisticRegressionCV().__sklearn_tags__().input_tags.sparse


def test_a_dask_X_is_refused_with_what_to_do():
    """A Dask X is refused up front (the batched folds would build a new graph at every CG step and never
    finish), naming X and what to pass instead."""
    da = pytest.importorskip("dask.array")
    X, y = PROBLEMS["synthetic"]
    with pytest.raises(TypeError, match=r"Dask array X.*X\.compute\(\).*LogisticRegression"):
        LogisticRegressionCV(Cs=2).fit(da.from_array(X, chunks=(100, 8)), y)


def test_auto_choices_follow_the_measurements():
    """Cholesky only on small problems; its folds batched on the CPU only for two classes up to 5,000 examples
    (batched was measured slower elsewhere); Newton-CG, L-BFGS and a GPU always batched."""
    from xlogreg import estimator_cv

    assert estimator_cv.choose_path_newton(30, 1) == "newton-cholesky"  # 31 parameters
    assert estimator_cv.choose_path_newton(64, 10) == "newton-cg"  # 650: digits
    batch = estimator_cv.choose_batch_folds
    assert batch("newton-cholesky", 569, 1)  # breast_cancer
    assert batch("newton-cholesky", 5_000, 1) and not batch("newton-cholesky", 5_001, 1)
    assert not batch("newton-cholesky", 50_000, 1)
    assert not batch("newton-cholesky", 3_000, 6)  # more classes: one fold at a time
    assert batch("newton-cholesky", 50_000, 1, "cuda:0") and batch("newton-cholesky", 3_000, 6, "gpu")
    assert batch("newton-cg", 50_000, 5) and batch("lbfgs", 50_000, 1)
    X, y = PROBLEMS["breast_cancer"]
    calls = []
    real = estimator_cv.cross_validation_path

    def spy(*args, **kwargs):
        calls.append((kwargs["batched"], kwargs["method"]))
        return real(*args, **kwargs)

    import pytest as _pytest

    with _pytest.MonkeyPatch.context() as mp:
        mp.setattr(estimator_cv, "cross_validation_path", spy)
        LogisticRegressionCV(Cs=3).fit(X, y)
        LogisticRegressionCV(Cs=3, batch_folds=True).fit(X, y)
        LogisticRegressionCV(Cs=3, solver="newton-cg").fit(X, y)
        LogisticRegressionCV(Cs=[0.1, 1.0], solver="lbfgs").fit(X, y)
        LogisticRegressionCV(Cs=3, batch_folds=False).fit(X, y)
    assert calls == [(True, "newton-cholesky"), (True, "newton-cholesky"), (True, "newton-cg"), (True, "lbfgs"),
                     (False, "newton-cholesky")]
    with _pytest.raises(TypeError, match="batch_folds must be 'auto', True or False"):
        LogisticRegressionCV(batch_folds="yes").fit(X, y)


# --------------------------------------------------------------------------- solver="lbfgs": batched L-BFGS

#: L-BFGS to a tight tol: more (cheaper) iterations than Newton, nearly separable folds at C = 1e4 need many.
LBFGS = dict(solver="lbfgs", tol=1e-10, max_iter=10_000)


@pytest.mark.parametrize("name", ["breast_cancer", pytest.param("digits", marks=pytest.mark.slow), "synthetic"])
def test_lbfgs_same_choice_as_sklearn(name):
    """Equal C_, scores_ within 1e-4, coef_ within 1e-4 relative, and every fold's path, as newton's test above."""
    X, y = PROBLEMS[name]
    theirs = _sklearn(X, y)
    ours = LogisticRegressionCV(Cs=10, cv=5, scoring="neg_log_loss", **LBFGS).fit(X, y)
    _assert_same(ours, theirs)
    n = X.shape[1] if len(theirs.classes_) > 2 else X.shape[1] + 1  # softmax: intercepts up to a common shift
    for key, path in theirs.coefs_paths_.items():
        path = path[:, :, 0, :n]
        np.testing.assert_allclose(np.asarray(ours.coefs_paths_[key])[..., :n], path, atol=1e-4 * np.abs(path).max(),
                                   rtol=0)


@pytest.mark.slow
def test_lbfgs_same_choice_as_sklearn_on_all_of_digits():
    X, y = load_digits(return_X_y=True)
    _assert_same(LogisticRegressionCV(scoring="neg_log_loss", **LBFGS).fit(X / 16, y), _sklearn(X / 16, y))


def _assert_same_paths(ours, newton, rtol=1e-5, score_atol=1e-6):
    """The same optimum as Newton's to the solvers' accuracy (as the newton-cg / newton-cholesky test above)."""
    np.testing.assert_array_equal(ours.C_, newton.C_)
    for key in newton.scores_:
        np.testing.assert_allclose(ours.scores_[key], newton.scores_[key], atol=score_atol, rtol=0)
        paths = np.asarray(newton.coefs_paths_[key])
        np.testing.assert_allclose(ours.coefs_paths_[key], paths, atol=rtol * np.abs(paths).max(), rtol=0)
    np.testing.assert_allclose(ours.coef_, newton.coef_, atol=rtol * np.abs(newton.coef_).max(), rtol=0)
    np.testing.assert_allclose(ours.intercept_, newton.intercept_, atol=rtol * max(np.abs(newton.coef_).max(), 1))


@pytest.mark.parametrize("name", ["breast_cancer", "synthetic"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("batch_folds", [True, False])
def test_lbfgs_paths_equal_newton_cholesky(name, fit_intercept, batch_folds):
    """Every fold's fit at every C and its score: L-BFGS's against Newton-Cholesky's (formed Hessians), tight tol."""
    X, y = PROBLEMS[name]
    # breast_cancer without intercept at C = 1e4: one fold's L-BFGS stops on rounding at a gradient of 1.6e-9
    # (float64's reach on that conditioning), above tol=1e-10; Newton reaches it. Up to C = 100 there.
    Cs = [1e-4, 1e-2, 1.0, 1e2] if (name, fit_intercept) == ("breast_cancer", False) else 5
    params = dict(Cs=Cs, scoring="neg_log_loss", fit_intercept=fit_intercept)
    newton = LogisticRegressionCV(solver="newton-cholesky", tol=1e-10, **params).fit(X, y)
    ours = LogisticRegressionCV(batch_folds=batch_folds, **LBFGS, **params).fit(X, y)
    _assert_same_paths(ours, newton)
    assert ours.n_iter_.shape == newton.n_iter_.shape
    assert np.all(np.asarray(ours.n_iter_) >= np.asarray(newton.n_iter_))  # quasi-Newton steps, not Newton's


def test_lbfgs_with_sample_and_class_weights():
    X, y = make_classification(n_samples=240, n_features=6, n_informative=4, n_classes=3, random_state=1)
    sw = np.random.default_rng(0).uniform(0.2, 3.0, size=y.shape[0])
    cv = KFold(4, shuffle=True, random_state=0)
    params = dict(Cs=[0.01, 0.1, 1.0, 10.0], cv=cv, class_weight="balanced", scoring="neg_log_loss")
    newton = LogisticRegressionCV(solver="newton-cholesky", tol=1e-10, **params).fit(X, y, sample_weight=sw)
    ours = LogisticRegressionCV(**LBFGS, **params).fit(X, y, sample_weight=sw)
    _assert_same_paths(ours, newton)
    theirs = _sklearn(X, y, **params).fit(X, y, sample_weight=sw)
    np.testing.assert_array_equal(ours.C_, theirs.C_)
    np.testing.assert_allclose(ours.scores_[0], theirs.scores_[0][..., 0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("device_name", ["CPU_DEVICE", "device1"])
def test_lbfgs_array_api_strict_on_its_device(device_name):
    xp = pytest.importorskip("array_api_strict")
    dev = xp.Device(device_name)
    X, y = PROBLEMS["synthetic"]
    ours = LogisticRegressionCV(Cs=4, scoring="neg_log_loss", **LBFGS).fit(xp.asarray(X, device=dev),
                                                                        xp.asarray(y, device=dev))
    for value in (ours.coef_, ours.intercept_, ours.Cs_, ours.C_, ours.n_iter_, *ours.scores_.values(),
                  *ours.coefs_paths_.values()):
        assert value.device == dev, value
    theirs = _sklearn(X, y, Cs=4)
    np.testing.assert_array_equal(np.asarray(_backends.to_numpy(ours.C_)), theirs.C_)
    np.testing.assert_allclose(np.asarray(_backends.to_numpy(ours.scores_[0])), theirs.scores_[0][..., 0],
                               atol=1e-4, rtol=0)


def test_lbfgs_float32_data_stays_float32():
    torch = pytest.importorskip("torch")
    X, y = PROBLEMS["breast_cancer"]
    Cs = [1e-3, 1e-2, 1e-1, 1.0]
    ours = LogisticRegressionCV(Cs=Cs, scoring="neg_log_loss", solver="lbfgs", tol=1e-5).fit(
        torch.asarray(X, dtype=torch.float32), torch.asarray(y))
    assert ours.coef_.dtype == torch.float32 and ours.scores_[1].dtype == torch.float32
    theirs = _sklearn(X, y, Cs=Cs)
    np.testing.assert_allclose(ours.scores_[1].numpy(), theirs.scores_[1][..., 0], atol=1e-4, rtol=0)
    assert float(ours.C_[0]) == theirs.C_[0]
    scale = np.abs(theirs.coef_).max()
    np.testing.assert_allclose(ours.coef_.numpy(), theirs.coef_, atol=1e-2 * scale, rtol=0)  # tol 1e-5, float32


@pytest.mark.parametrize("name", ["breast_cancer", "synthetic"])
def test_lbfgs_sparse_X_equals_the_dense_fit(name):
    X, y = _sparsified(name)
    params = dict(Cs=4, scoring="neg_log_loss", **LBFGS)
    dense = LogisticRegressionCV(**params).fit(X, y)
    ours = LogisticRegressionCV(**params).fit(sp.csr_array(X), y)
    _assert_equal_fits(ours, dense, atol=1e-6)


def test_lbfgs_each_fold_stops_at_its_own_tol():
    """fold_lbfgs: every fold converged, at its own iteration count; a converged fold is left where it stopped."""
    from xlogreg.solvers.path import FoldLoss
    from xlogreg.solvers.path_lbfgs import fold_lbfgs

    X, y = PROBLEMS["synthetic"]
    m = X.shape[0]
    folds = np.ones((3, m))
    for f in range(3):
        folds[f, f::3] = 0.0
    folds[2] *= np.linspace(0.1, 10.0, m)  # one fold far from the others: a different number of iterations
    loss = FoldLoss(np.ascontiguousarray(X.T), y.reshape(1, -1).astype(float), 3, folds, l2=1.0)
    result = fold_lbfgs(loss, *loss.zeros(), tol=1e-10, max_iter=500)
    assert result.converged.all() and list(result.stop) == ["tol"] * 3
    assert len(set(result.n_iter.tolist())) > 1
    # one evaluation serves every fold: fewer than the folds' iterations together (each needs one at least)
    assert result.n_evaluations < result.n_iter.sum()
    np.testing.assert_array_less(result.gradient_norm, 1e-10)
    J, dW, db, _ = loss.value_and_gradient(result.W, result.b)  # the gradients, computed again
    np.testing.assert_allclose(loss.fold_dot((dW, db), (dW, db)) ** 0.5, result.gradient_norm, atol=1e-12)
    # each fold alone (F = 1, its own run) reaches the same optimum
    for f in range(3):
        alone = FoldLoss(np.ascontiguousarray(X.T), y.reshape(1, -1).astype(float), 3, folds[f:f + 1], l2=1.0)
        single = fold_lbfgs(alone, *alone.zeros(), tol=1e-10, max_iter=500)
        np.testing.assert_allclose(single.W, result.W[:, 3 * f:3 * f + 3], atol=1e-6)
        np.testing.assert_allclose(single.b, result.b[3 * f:3 * f + 3], atol=1e-6)


def test_lbfgs_counts_are_reported(capsys):
    """verbose=1 prints each C's iterations; n_iter_ counts L-BFGS iterations (more than Newton's)."""
    X, y = PROBLEMS["breast_cancer"]
    ours = LogisticRegressionCV(Cs=[0.01, 0.1, 1.0], solver="lbfgs", verbose=1).fit(X, y)
    assert "folds at once" in capsys.readouterr().out
    assert np.asarray(ours.n_iter_).min() >= 1


# --------------------------------------------------------------------------- Newton-CG's preconditioners


def _numpy_fold_hessians(X, labels, n_classes, folds, l2, W, b, fit_intercept=True):
    """Every fold's Hessian in plain NumPy, class by class ``[W[:, c]; b[c]]``: sum_i s_fi / S_f times
    ``(diag(p_i) - p_i p_i.T) (x) xa_i xa_i.T`` (binary: ``a (1 - a) xa xa.T``), plus l2 / S_f on W's entries
    (``xa = [x; 1]``, or x without intercept)."""
    n_x, m = X.shape
    Xa = np.vstack([X, np.ones((1, m))]) if fit_intercept else X
    n1 = Xa.shape[0]
    F = folds.shape[0]
    k = n_classes if n_classes > 2 else 1
    hessians = []
    for f in range(F):
        w = folds[f] / folds[f].sum()
        Z = W[:, f * k:(f + 1) * k].T @ X + b[f * k:(f + 1) * k]  # (k, m)
        if k == 1:
            a = 1 / (1 + np.exp(-Z[0]))
            H = (Xa * (w * a * (1 - a))) @ Xa.T
        else:
            P = np.exp(Z - Z.max(axis=0))
            P /= P.sum(axis=0)
            H = np.zeros((k * n1, k * n1))
            for c in range(k):
                for e in range(k):
                    weight = w * P[c] * ((c == e) - P[e])
                    H[c * n1:(c + 1) * n1, e * n1:(e + 1) * n1] = (Xa * weight) @ Xa.T
        penalty = np.tile(np.r_[np.full(n_x, l2 / folds[f].sum()), [0.0] * (n1 - n_x)], k)
        hessians.append(H + np.diag(penalty))
    return hessians


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("gram", [True, False])
def test_preconditioned_conjugate_gradients_reach_the_newton_step(monkeypatch, n_classes, gram, fit_intercept):
    """_cg_direction, run to a residual of 0 (its forcing term made 0), solves every fold's H_f p = -g_f:
    the Newton step of a Hessian formed in plain NumPy. With the Gram preconditioner (the default here,
    an L2 penalty and a few features) and with Jacobi's diagonal (the limit set to 0). Softmax with
    intercepts: H is singular along "the same intercept change for every class" (which changes no
    probability and, unpenalised, no objective), and CG driven to a residual of 0 wanders along it, so
    the steps are compared with the minimum-norm solution after centring their intercepts, to 1e-6."""
    from xlogreg.solvers import path

    if not gram:
        monkeypatch.setattr(path, "GRAM_PRECONDITIONER_MAX_FEATURES", 0)
    rng = np.random.default_rng(5)
    n_x, m, F = 4, 40, 2
    X = rng.standard_normal((n_x, m)) * np.array([[1.0], [3.0], [0.3], [1.0]])
    X[3] = X[0] + 0.1 * X[3]  # correlated features: what the Gram captures and the diagonal does not
    labels = rng.integers(0, n_classes, (1, m)).astype(float)
    folds = np.ones((F, m))
    folds[0, ::2] = 0.0
    folds[1, 1::3] = 0.0
    l2 = 0.7
    loss = path.FoldLoss(X, labels, n_classes, folds, l2=l2, fit_intercept=fit_intercept)
    k = loss.k
    W, b = 0.3 * rng.standard_normal((n_x, F * k)), 0.2 * rng.standard_normal((F * k, 1)) * fit_intercept
    if k > 1:  # centred over the classes of each fold, as every iterate from zero is
        W = (W.reshape(n_x, F, k) - W.reshape(n_x, F, k).mean(axis=2, keepdims=True)).reshape(n_x, F * k)
        b = (b.reshape(F, k) - b.reshape(F, k).mean(axis=1, keepdims=True)).reshape(F * k, 1)
    _, dW, db, _ = loss.value_and_gradient(W, b)
    g_norm = np.full(F, 1e-300)  # forcing term 0: CG runs until its residual is 0 or max_cg
    p = path._cg_direction(loss, W, b, (dW, db), g_norm, np.ones(F, dtype=bool), max_cg=200, tol=0.0)
    steps = np.array(loss.to_blocks(*p))  # (F, k, n1)
    singular = k > 1 and fit_intercept
    if singular:
        steps[:, :, n_x] -= steps[:, :, n_x].mean(axis=1, keepdims=True)
    gradients = loss.to_blocks(dW, db)
    for f, H in enumerate(_numpy_fold_hessians(X, labels, n_classes, folds, l2, W, b, fit_intercept)):
        expected = np.linalg.lstsq(H, -gradients[f].reshape(-1), rcond=None)[0]
        np.testing.assert_allclose(steps[f].reshape(-1), expected, rtol=0,
                                   atol=(1e-6 if singular else 1e-9) * np.abs(expected).max())


def test_the_gram_preconditioner_takes_fewer_products_where_features_are_correlated():
    """Digits (correlated pixels, 10 classes): the search's Hessian products with the Gram preconditioner
    are far fewer than Jacobi's (counted: 365 against 713 for all of digits at the defaults; here the first
    600 examples, 5 Cs, tol 1e-8), for the same choice of C and the same scores."""
    from xlogreg.solvers import path

    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16, y[:600]
    counts = {}
    real = path.FoldLoss.hessian_operator

    def counting(self, W, b):
        operator = real(self, W, b)

        class Counted:
            def __call__(self, V, vb):
                counts[key] += 1
                return operator(V, vb)

            def __getattr__(self, name):
                return getattr(operator, name)

        return Counted()

    fits = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(path.FoldLoss, "hessian_operator", counting)
        for key, limit in (("gram", path.GRAM_PRECONDITIONER_MAX_FEATURES), ("jacobi", 0)):
            counts[key] = 0
            mp.setattr(path, "GRAM_PRECONDITIONER_MAX_FEATURES", limit)
            fits[key] = LogisticRegressionCV(Cs=5, solver="newton-cg", tol=1e-8).fit(X, y)
    assert counts["gram"] < 0.7 * counts["jacobi"], counts
    np.testing.assert_array_equal(fits["gram"].C_, fits["jacobi"].C_)
    for key in fits["jacobi"].scores_:  # (the coefficients at C = 1e4 are too ill-conditioned to compare)
        np.testing.assert_array_equal(fits["gram"].scores_[key], fits["jacobi"].scores_[key])
