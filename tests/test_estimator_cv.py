"""xlogreg.LogisticRegressionCV: scikit-learn's choice of C, its scores and coefficients, on the data's device.

References are scikit-learn's own ``LogisticRegressionCV`` (newton-cg, to a tight
tolerance, on the same folds), never the code under test; "batched equals one
fold at a time" compares two paths of :mod:`xlogreg.solvers.path` that share
only the Newton step.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

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


@parametrize_with_checks([LogisticRegressionCV()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


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


def test_l1_ratios_zero_keeps_scikit_learns_axis_and_others_are_refused():
    X, y = PROBLEMS["synthetic"]
    ours = LogisticRegressionCV(Cs=3, l1_ratios=(0,), scoring="neg_log_loss", tol=1e-10).fit(X, y)
    theirs = _sklearn(X, y, Cs=3)
    for key in theirs.scores_:
        assert ours.scores_[key].shape == theirs.scores_[key].shape
        assert ours.coefs_paths_[key].shape == theirs.coefs_paths_[key].shape
    assert ours.n_iter_.shape == theirs.n_iter_.shape
    np.testing.assert_allclose(ours.scores_[0], theirs.scores_[0], atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"l1_ratios must be None or \(0,\).*got \(0\.5,\)"):
        LogisticRegressionCV(l1_ratios=(0.5,)).fit(X, y)


@pytest.mark.parametrize("params, message", [
    (dict(Cs=0), "Cs must be an int >= 1"),
    (dict(Cs=[1.0, -2.0]), "Cs must be an int >= 1 or a non-empty 1-d list of floats > 0"),
    (dict(solver="lbfgs"), "solver must be one of 'auto', 'newton-cholesky', 'newton-cg'; got 'lbfgs'"),
    (dict(scoring="not_a_scorer"), "scoring must be None, a scikit-learn scorer name"),
    (dict(class_weight={"cat": 2.0}), "class_weight must have the class labels as keys"),
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
    batched = LogisticRegressionCV(**params).fit(X, y)
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
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace = {}
    exec(compile(code, "docs/user-guide/choosing-c.md", "exec"), namespace)
    theirs = _sklearn(namespace["X"], namespace["y"])
    assert namespace["clf"].C_[0] == theirs.C_[0]
