"""xlogreg.LogisticRegression as a drop-in for scikit-learn's (issue 26).

scikit-learn 1.9's whole constructor, its penalty spelling (``l1_ratio`` and
``C``; ``penalty`` deprecated), its warnings' words, Newton's method with and
without an intercept, a stopping rule that can stop in float32, and centred
multinomial iterates. References are independent of the code under test:
scikit-learn's own fits at a tight tolerance, its signature read with
:mod:`inspect`, and its messages as its tests match them.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_breast_cancer, load_iris, load_wine  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression as SkLogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from xlogreg import LogisticRegression  # noqa: E402


def _relative(a, b):
    """max |a - b| / max |b|."""
    return np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b))) / np.max(np.abs(np.asarray(b)))


def _wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@contextlib.contextmanager
def _no_warnings():
    """Any warning inside is an error (pytest.ini says so too; this keeps the test honest under -W)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --------------------------------------------------------------------------- 1. the whole constructor


def test_every_parameter_of_sklearns_signature_is_accepted_with_its_default():
    """Each of scikit-learn's constructor parameters exists here, keyword-only where it is keyword-only there,
    with scikit-learn's default except where the README says otherwise (solver, max_iter)."""
    theirs = inspect.signature(SkLogisticRegression.__init__).parameters
    ours = inspect.signature(LogisticRegression.__init__).parameters
    differ = {"solver": ("auto", "lbfgs"), "max_iter": (2000, 100)}  # documented differences
    for name, parameter in theirs.items():
        assert name in ours, name
        assert ours[name].kind == parameter.kind, name
        expected = differ[name] if name in differ else (parameter.default, parameter.default)
        assert (ours[name].default, parameter.default) == expected, name
    assert list(ours)[:len(theirs)] == list(theirs)  # scikit-learn's first, in its order


def test_parameters_without_effect_here_change_nothing():
    """random_state (deterministic solvers), intercept_scaling (liblinear's) and n_jobs (deprecated by
    scikit-learn, with its FutureWarning) are accepted and give the very same fit."""
    X, y = _wine()
    reference = LogisticRegression().fit(X, y)
    for params in ({"random_state": 0}, {"random_state": np.random.RandomState(3)}, {"intercept_scaling": 10.0},
                   {"dual": False}):
        clf = LogisticRegression(**params).fit(X, y)
        np.testing.assert_array_equal(clf.coef_, reference.coef_)
        np.testing.assert_array_equal(clf.intercept_, reference.intercept_)
    with pytest.warns(FutureWarning, match=r"'n_jobs' has no effect since 1.8 and will be removed in 1.10. "
                                           r"You provided 'n_jobs=2', please leave it unspecified."):
        clf = LogisticRegression(n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, reference.coef_)


def test_dual_is_refused_by_name():
    X, y = _wine()
    with pytest.raises(ValueError, match=r"Solver auto supports only dual=False, got dual=True \(the dual "
                                         r"formulation is liblinear's"):
        LogisticRegression(dual=True).fit(X, y)


@pytest.mark.parametrize("solver", ["liblinear", "sag", "saga"])
def test_sklearn_only_solvers_are_refused_with_a_pointer(solver):
    X, y = _wine()
    with pytest.raises(ValueError, match=rf"solver='{solver}' is not available in xlogreg: solver must be one "
                                         r"of 'auto', 'lbfgs', .*use sklearn.linear_model.LogisticRegression"):
        LogisticRegression(solver=solver).fit(X, y)


def test_lbfgs_is_scikit_learns_default_name_and_runs_lbfgs():
    """scikit-learn's default solver name runs xlogreg's own L-BFGS: scikit-learn's optimum, by its own steps."""
    X, y = _wine()
    reference = SkLogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=10_000).fit(X, y)
    with _no_warnings():
        lbfgs = LogisticRegression(solver="lbfgs", tol=1e-8, max_iter=10_000).fit(X, y)
        newton = LogisticRegression(solver="auto", tol=1e-8).fit(X, y)
    assert _relative(lbfgs.coef_, reference.coef_) < 1e-5
    assert lbfgs.n_iter_[0] > newton.n_iter_[0]  # quasi-Newton steps, not Newton's


# --------------------------------------------------------------------------- 2. the penalty spelling


PENALTY_DEPRECATED = r"'penalty' was deprecated in version 1.8 and will be removed in 1.10"


def test_l1_ratio_zero_is_the_default_l2_and_c_inf_no_penalty():
    X, y = _wine()
    assert LogisticRegression().get_params()["l1_ratio"] == 0.0
    assert LogisticRegression().get_params()["penalty"] == "deprecated"
    reference = SkLogisticRegression(C=0.3, tol=1e-10, max_iter=10_000).fit(X, y)
    with _no_warnings():
        ours = LogisticRegression(C=0.3, l1_ratio=0.0, tol=1e-8).fit(X, y)
    assert _relative(ours.coef_, reference.coef_) < 1e-5


def test_penalty_is_deprecated_with_sklearns_warning_and_meaning():
    X, y = _breast_cancer()
    X = X[:, :4]  # not separable without a penalty: a finite optimum
    l2 = LogisticRegression(C=0.5, tol=1e-10).fit(X, y)
    none = LogisticRegression(C=np.inf, tol=1e-10).fit(X, y)
    with pytest.warns(FutureWarning, match=PENALTY_DEPRECATED):
        clf = LogisticRegression(penalty="l2", C=0.5, tol=1e-10).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, l2.coef_)
    with pytest.warns(FutureWarning, match=PENALTY_DEPRECATED):
        clf = LogisticRegression(penalty=None, tol=1e-10).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, none.coef_)
    reference = SkLogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    assert _relative(none.coef_, reference.coef_) < 1e-5
    with pytest.warns(UserWarning, match="Setting penalty=None will ignore the C and l1_ratio parameters"):
        with pytest.warns(FutureWarning, match=PENALTY_DEPRECATED):
            clf = LogisticRegression(penalty=None, C=0.5, tol=1e-10).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, none.coef_)
    with pytest.warns(FutureWarning, match=r"'l1_ratio=None' was deprecated in version 1.8"):
        clf = LogisticRegression(C=0.5, l1_ratio=None, tol=1e-10).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, l2.coef_)


@pytest.mark.parametrize("l1_ratio, penalty", [(1.0, "l1"), (0.5, "elasticnet"), (1, "l1")])
def test_l1_and_elastic_net_are_refused_by_the_l2_solvers(l1_ratio, penalty):
    X, y = _wine()
    with pytest.raises(ValueError, match=rf"Solver newton-cg supports only 'l2' or None penalties, got {penalty} "
                                         rf"penalty \(l1_ratio={l1_ratio}\): in xlogreg, L1 and elastic net are "
                                         r"fitted by 'prox-newton' \(solver='auto' takes it\)"):
        LogisticRegression(l1_ratio=l1_ratio, solver="newton-cg").fit(X, y)


# --------------------------------------------------------------------------- 3. Newton without an intercept


@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky", "auto"])
@pytest.mark.parametrize("data", ["breast_cancer", "wine"])
def test_newton_runs_without_an_intercept(solver, data):
    """fit_intercept=False runs Newton's method (it used to run plain gradient descent): scikit-learn's
    optimum, without warning, in the tens of iterations its Newton solvers take."""
    X, y = _breast_cancer() if data == "breast_cancer" else _wine()
    reference = SkLogisticRegression(fit_intercept=False, solver="newton-cholesky", tol=1e-12,
                                     max_iter=1000).fit(X, y)
    with _no_warnings():
        ours = LogisticRegression(fit_intercept=False, solver=solver, max_iter=100, tol=1e-10).fit(X, y)
    assert ours.n_iter_[0] <= 20
    np.testing.assert_array_equal(ours.intercept_, np.zeros_like(ours.intercept_))
    assert _relative(ours.coef_, reference.coef_) < 1e-7


def test_newton_without_intercept_on_a_warm_start_keeps_the_intercept_at_zero():
    X, y = _wine()
    clf = LogisticRegression(warm_start=True, tol=1e-10).fit(X, y)
    assert np.any(clf.intercept_ != 0)
    clf.set_params(fit_intercept=False).fit(X, y)
    np.testing.assert_array_equal(clf.intercept_, np.zeros(3))
    reference = SkLogisticRegression(fit_intercept=False, solver="newton-cholesky", tol=1e-12,
                                     max_iter=1000).fit(X, y)
    assert _relative(clf.coef_, reference.coef_) < 1e-7


# --------------------------------------------------------------------------- 4. a stopping rule that can stop


@pytest.mark.parametrize("data", ["breast_cancer", "wine", "iris"])
@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky"])
def test_float32_with_a_tol_below_its_reach_stops_converged(data, solver):
    """tol=1e-12 in float32 (scikit-learn's array-API tests do this): the gradient cannot fall that far, so
    the fit stops where neither the objective nor the gradient can improve, as converged (no warning), in
    tens of iterations, not max_iter; and it is the float64 optimum to float32's precision."""
    if data == "iris":
        X, y = load_iris(return_X_y=True)
    else:
        X, y = _breast_cancer() if data == "breast_cancer" else _wine()
    reference = SkLogisticRegression(tol=1e-12, max_iter=10_000, solver="newton-cholesky").fit(X, y)
    with _no_warnings():
        ours = LogisticRegression(solver=solver, tol=1e-12, max_iter=500).fit(X.astype(np.float32), y)
    assert ours.coef_.dtype == np.float32
    assert ours.n_iter_[0] < 50
    assert _relative(ours.coef_, reference.coef_) < 1e-3
    assert _relative(ours.intercept_, reference.intercept_) < 1e-3


def test_a_fit_stopped_by_max_iter_far_from_the_optimum_still_warns():
    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning):
        clf = LogisticRegression(max_iter=2, tol=1e-12).fit(X.astype(np.float32), y)
    assert clf.n_iter_[0] == 2


# --------------------------------------------------------------------------- 5. centred in float32


def test_float32_multinomial_intercepts_and_coefficients_stay_centred():
    """float32 newton-cholesky with a dict class_weight on iris: the intercepts sum to 0 (they drifted to
    0.0156), the coefficients of each feature too, and both are the float64 fit's to float32's precision."""
    X, y = load_iris(return_X_y=True)
    weights = {0: 1.0, 1: 10.0, 2: 1.0}
    reference = SkLogisticRegression(class_weight=weights, tol=1e-12, max_iter=10_000,
                                     solver="newton-cholesky").fit(X, y)
    ours = LogisticRegression(class_weight=weights, solver="newton-cholesky").fit(X.astype(np.float32), y)
    assert abs(float(np.sum(ours.intercept_, dtype=np.float64))) < 1e-5
    np.testing.assert_allclose(np.sum(ours.coef_, axis=0, dtype=np.float64), 0, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=0,
                               atol=2e-3 * np.max(np.abs(reference.intercept_)))


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky"])
def test_float64_multinomial_is_identifiable(solver, fit_intercept):
    """scikit-learn's identifiability test on iris: sum over classes of coef_ (and intercept_) is 0."""
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(C=len(X), solver=solver, fit_intercept=fit_intercept).fit(
        StandardScaler().fit_transform(X), y)
    np.testing.assert_allclose(clf.coef_.sum(axis=0), 0, atol=1e-10)
    if fit_intercept:
        assert abs(clf.intercept_.sum()) < 1e-11


# --------------------------------------------------------------------------- 6. the messages


@pytest.mark.parametrize("solver, message", [
    ("newton-cg", r"newton-cg failed to converge.* Increase the number of iterations."),
    ("lbfgs", r"lbfgs failed to converge"),
    ("newton-cholesky", r"Newton solver did not converge after [0-9]* iterations"),
])
def test_convergence_warnings_say_what_sklearns_say(solver, message):
    """The words of scikit-learn's test_max_iter, for binary iris at one iteration and tol=1e-15."""
    X, y = load_iris(return_X_y=True)
    y = np.where(y == 2, 0, y)
    with pytest.warns(ConvergenceWarning, match=message):
        clf = LogisticRegression(solver=solver, max_iter=1, tol=1e-15).fit(X, y)
    assert clf.n_iter_[0] == 1


def test_a_saved_model_keeps_c_inf_and_an_old_file_spelling_loads_without_warning(tmp_path):
    X, y = _breast_cancer()
    X = X[:, :3]
    clf = LogisticRegression(C=np.inf, tol=1e-10).fit(X, y)
    clf.save(tmp_path / "model.h5")
    back = LogisticRegression.load(tmp_path / "model.h5")
    assert back.C == math.inf and back.penalty == "deprecated"
    with _no_warnings():
        refit = LogisticRegression(**back.get_params()).fit(X, y)
    np.testing.assert_array_equal(refit.coef_, clf.coef_)
