"""LogisticRegression(l1_ratio > 0): L1 and elastic net in the estimator, against scikit-learn's optima.

The references are scikit-learn 1.9.1's saga / liblinear at tol=1e-12 (tests/data/l1_reference.json,
scripts/make_l1_reference.py), with their objectives recomputed from scratch (tests/_reference).
"""

from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import _reference as ref  # noqa: E402
from xlogreg import LogisticRegression  # noqa: E402

RECORDS = json.loads((pathlib.Path(__file__).parent / "data" / "l1_reference.json").read_text())["records"]


def _ids(record):
    return f"{record['problem']}-C{record['C']}-r{record['l1_ratio']}"


@pytest.mark.parametrize("record", [r for r in RECORDS if r["problem"] != "digits"], ids=_ids)
def test_the_estimator_reaches_scikit_learns_l1_optimum(record):
    """solver="auto" takes proximal Newton for l1_ratio > 0: the best reference's objective to 1e-6, its
    features, and exact zeros in coef_ (labels relabelled as scikit-learn's classes_)."""
    X, y = ref.l1_problems()[record["problem"]]
    C, r = record["C"], record["l1_ratio"]
    best = record["fits"][record["best"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = LogisticRegression(C=C, l1_ratio=r, tol=1e-10, max_iter=200).fit(X, y)
    ours = ref.sklearn_objective(clf.coef_, clf.intercept_, X, y, C, r)
    assert ours <= best["objective"] * (1 + 1e-6)
    np.testing.assert_array_equal(clf.coef_ != 0, np.array(best["coef"]) != 0)
    assert 0 < np.count_nonzero(clf.coef_) < clf.coef_.size


def test_kkt_of_the_estimators_fit_hand_worked():
    """At the optimum of C sum L_i + (1 - r)/2 ||w||^2 + r ||w||_1 (plain NumPy gradient here):
    |C grad_j + (1 - r) w_j| <= r where w_j = 0, and = -r sign(w_j) where not."""
    X, y = ref.l1_problems()["breast_cancer"]
    C, r = 0.1, 0.5
    clf = LogisticRegression(C=C, l1_ratio=r, tol=1e-10, max_iter=200).fit(X, y)
    w, b = clf.coef_[0], clf.intercept_[0]
    p = 1 / (1 + np.exp(-(X @ w + b)))
    g = C * X.T @ (p - y) + (1 - r) * w
    zero = w == 0
    assert np.all(np.abs(g[zero]) <= r + 1e-6)
    np.testing.assert_allclose(g[~zero], -r * np.sign(w[~zero]), atol=1e-6)
    assert abs(np.sum(p - y)) < 1e-6  # the intercept's own condition


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "newton-cholesky", "agd", "gd"])
def test_a_solver_that_cannot_fit_l1_is_refused_by_name(solver):
    X, y = ref.l1_problems()["breast_cancer"]
    with pytest.raises(ValueError, match=rf"Solver {solver} supports only 'l2' or None penalties.*'prox-newton'"):
        LogisticRegression(solver=solver, l1_ratio=1.0).fit(X, y)


def test_prox_newton_without_l1_is_refused_and_c_inf_needs_none():
    X, y = ref.l1_problems()["breast_cancer"]
    with pytest.raises(ValueError, match="solver='prox-newton' fits an L1 term"):
        LogisticRegression(solver="prox-newton").fit(X, y)
    # C = inf is no penalty at all, whatever l1_ratio says (scikit-learn's meaning): the L2 solvers run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(C=np.inf, l1_ratio=1.0, solver="lbfgs", max_iter=50).fit(X[:, :3], y)
    assert np.all(clf.coef_ != 0)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_multinomial_intercepts_stay_centred(l1_ratio):
    """The objective does not see a shift of every class's intercept alike: the fit keeps them centred (sum 0, as
    scikit-learn's L2 solvers do), so that fits of the same data through different products (dense, sparse) agree."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((150, 12))
    y = np.argmax(X[:, :3] + 0.5 * rng.standard_normal((150, 3)), axis=1)
    est = LogisticRegression(C=0.3, l1_ratio=l1_ratio, tol=1e-10).fit(X, y)
    b = np.asarray(est.intercept_)
    assert abs(b.sum()) <= 1e-12 * max(1.0, np.abs(b).max())
    assert 0 < np.count_nonzero(est.coef_) < est.coef_.size
