"""xlogreg.LogisticRegression: scikit-learn's contract, its optimum, and the data staying where it lives.

References are independent of the code under test: scikit-learn's own
``LogisticRegression`` (lbfgs, fitted to a tight tolerance), plain NumPy,
repeated rows for integer weights, and :func:`xlogreg.train` for the course's
gradient descent.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression as SkLogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import xlogreg  # noqa: E402
from xlogreg import LogisticRegression, _backends  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- scikit-learn's contract


@parametrize_with_checks([LogisticRegression()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SCIPY_ARRAY_API") == "1",
                    reason="SCIPY_ARRAY_API=1 is set: the checks above already run the array-API ones")
def test_sklearn_estimator_checks_with_array_api():
    """The same checks with SCIPY_ARRAY_API=1 (set before scikit-learn is imported: a new process).

    scikit-learn then adds its array-API checks (array-api-strict on its
    devices, torch on the CPU, and CuPy / torch CUDA where they exist): fitted
    attributes and outputs in X's namespace and on its device, values equal
    to the NumPy fit's, mixed namespaces for y and sample_weight, and the
    refusal of a namespace other than fit's at predict.
    """
    pytest.importorskip("array_api_strict")
    env = dict(os.environ, SCIPY_ARRAY_API="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    select = "test_sklearn_estimator_checks and not with_array_api"
    if not xlogreg.available_backends()["cupy"].available:
        # CuPy installs and imports without a GPU (CI installs it) but cannot make an array: scikit-learn
        # would run its CuPy checks, and fail in its own setup. They run wherever a GPU is.
        select += " and not cupy"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", __file__, "-k", select],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "SCIPY_ARRAY_API is not set" not in out, out[-4000:]  # the array-API checks ran


# --------------------------------------------------------------------------- the optimum is scikit-learn's


def _datasets():
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer", StandardScaler().fit_transform(X), y
    X, y = load_wine(return_X_y=True)
    yield "wine", StandardScaler().fit_transform(X), y
    X, y = load_iris(return_X_y=True)
    yield "iris", X, y
    X, y = load_digits(return_X_y=True)
    yield "digits", X / 16, y


DATASETS = {name: (X, y) for name, X, y in _datasets()}


def _relative(a, b):
    """max |a - b| / max |b|."""
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b)))


@pytest.mark.parametrize("C", [1.0, 0.1])
@pytest.mark.parametrize("name", list(DATASETS))
def test_matches_sklearn_optimum(name, C):
    """coef_ and intercept_ within 1e-3 relative of scikit-learn's, binary (breast_cancer) and multinomial."""
    X, y = DATASETS[name]
    reference = SkLogisticRegression(C=C, tol=1e-10, max_iter=100_000).fit(X, y)
    ours = LogisticRegression(C=C, tol=1e-7).fit(X, y)
    assert ours.coef_.shape == reference.coef_.shape
    assert _relative(ours.coef_, reference.coef_) < 1e-3
    assert _relative(ours.intercept_, reference.intercept_) < 1e-3
    np.testing.assert_array_equal(ours.classes_, reference.classes_)
    assert (ours.predict(X) == reference.predict(X)).mean() > 0.99


def test_default_tol_reaches_a_close_optimum():
    """The defaults (tol=1e-4) converge on unscaled data and land within 2% of scikit-learn's coefficients."""
    X, y = DATASETS["iris"]
    reference = SkLogisticRegression(tol=1e-10, max_iter=100_000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = LogisticRegression().fit(X, y)
    assert _relative(ours.coef_, reference.coef_) < 2e-2


def test_no_penalty_matches_sklearn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) + 5.0
    y = (X[:, 0] - 5 + rng.normal(size=200) > 0).astype(int)  # overlapping classes: a finite optimum
    reference = SkLogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(X, y)  # scikit-learn's "none"
    with pytest.warns(FutureWarning, match="'penalty' was deprecated in version 1.8"):
        old_spelling = LogisticRegression(penalty=None, tol=1e-8).fit(X, y)
    for ours in (old_spelling, LogisticRegression(C=np.inf, tol=1e-8).fit(X, y)):
        assert _relative(ours.coef_, reference.coef_) < 1e-4
        assert _relative(ours.intercept_, reference.intercept_) < 1e-4


def test_no_intercept_matches_sklearn():
    X, y = DATASETS["wine"]
    reference = SkLogisticRegression(fit_intercept=False, tol=1e-10, max_iter=10_000).fit(X, y)
    ours = LogisticRegression(fit_intercept=False, tol=1e-8).fit(X, y)
    np.testing.assert_array_equal(ours.intercept_, np.zeros(3))
    assert _relative(ours.coef_, reference.coef_) < 1e-4


@pytest.mark.parametrize("name", ["breast_cancer", "wine"])
def test_class_weight_balanced_matches_sklearn(name):
    X, y = DATASETS[name]
    keep = np.r_[np.flatnonzero(y == 0)[:20], np.flatnonzero(y != 0)]  # unbalance the classes
    X, y = X[keep], y[keep]
    reference = SkLogisticRegression(class_weight="balanced", tol=1e-10, max_iter=10_000).fit(X, y)
    ours = LogisticRegression(class_weight="balanced", tol=1e-8).fit(X, y)
    assert _relative(ours.coef_, reference.coef_) < 1e-4
    assert _relative(ours.intercept_, reference.intercept_) < 1e-4
    # and a dict, with sample weights on top
    weights = {0: 3.0, 1: 0.5, 2: 1.0} if name == "wine" else {0: 3.0, 1: 0.5}
    sw = np.linspace(0.5, 2.0, len(y))
    reference = SkLogisticRegression(class_weight=weights, tol=1e-10, max_iter=10_000).fit(X, y, sample_weight=sw)
    ours = LogisticRegression(class_weight=weights, tol=1e-8).fit(X, y, sample_weight=sw)
    assert _relative(ours.coef_, reference.coef_) < 1e-4


@pytest.mark.parametrize("name", ["breast_cancer", "wine"])
def test_integer_sample_weight_equals_repeated_rows(name):
    X, y = DATASETS[name]
    counts = np.random.default_rng(1).integers(0, 4, size=len(y))
    weighted = LogisticRegression(tol=1e-9).fit(X, y, sample_weight=counts)
    repeated = LogisticRegression(tol=1e-9).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, rtol=1e-6, atol=1e-8)


def test_probabilities_against_numpy():
    X, y = DATASETS["wine"]
    clf = LogisticRegression().fit(X, y)
    Z = X @ clf.coef_.T + clf.intercept_
    expected = np.exp(Z - Z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.decision_function(X), Z, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(expected), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[expected.argmax(axis=1)])
    Xb, yb = DATASETS["breast_cancer"]
    binary = LogisticRegression().fit(Xb, yb)
    z = Xb @ binary.coef_[0] + binary.intercept_[0]
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(binary.decision_function(Xb), z, rtol=1e-12)
    np.testing.assert_allclose(binary.predict_proba(Xb), np.c_[1 - p, p], rtol=1e-10, atol=1e-15)
    assert binary.score(Xb, yb) == pytest.approx(np.mean((z > 0) == (yb == 1)))


# --------------------------------------------------------------------------- labels


def test_string_and_boolean_labels():
    X, y = DATASETS["wine"]
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    clf = LogisticRegression().fit(X, names)
    np.testing.assert_array_equal(clf.classes_, ["barbera", "barolo", "grignolino"])
    predicted = clf.predict(X)
    assert predicted.dtype.kind == "U" and set(predicted) <= set(names)
    np.testing.assert_array_equal(predicted, np.array(["barolo", "grignolino", "barbera"])[
        LogisticRegression().fit(X, y).predict(X)])
    Xb, yb = DATASETS["breast_cancer"]
    flags = LogisticRegression().fit(Xb, yb == 1)
    assert flags.classes_.dtype == bool and flags.predict(Xb).dtype == bool


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogisticRegression().fit(np.zeros((3, 2)), [1, 1, 1])
    with pytest.raises(ValueError, match="non-zero weight"):
        LogisticRegression().fit(np.eye(3), [0, 1, 1], sample_weight=[0.0, 1.0, 1.0])


# --------------------------------------------------------------------------- solvers


def test_gd_is_exactly_the_course_training():
    """solver="gd", two classes, no penalty, tol=0: train()'s model, bit for bit (X transposed)."""
    rng = np.random.default_rng(3)
    X = np.asfortranarray(rng.normal(size=(5, 60)))  # the course's (n_x, m)
    Y = (X[0] + 0.5 * rng.normal(size=60) > 0).astype(float)
    model = xlogreg.train(X, Y, num_iterations=300, learning_rate=0.1)
    clf = LogisticRegression(C=np.inf, solver="gd", learning_rate=0.1, max_iter=300, tol=0).fit(X.T, Y)
    np.testing.assert_array_equal(clf.coef_, model.w.T)
    assert clf.intercept_[0] == model.b
    assert clf.n_iter_[0] == 300


def test_gd_converges_with_its_automatic_step():
    X, y = DATASETS["breast_cancer"]
    reference = SkLogisticRegression(C=0.1, tol=1e-10, max_iter=10_000).fit(X, y)
    clf = LogisticRegression(C=0.1, solver="gd", tol=1e-7, max_iter=20_000).fit(X, y)
    assert _relative(clf.coef_, reference.coef_) < 1e-3


def _clusters(scale):
    """3,000 x 40, 6 classes (246 parameters, above the Cholesky limit of solver="auto"): Gaussian clusters,
    well-conditioned, or with the features scaled from 1 to `scale` (ill-conditioned)."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((6, 40)) * 1.5 / np.sqrt(2)
    y = rng.integers(0, 6, 3000)
    return (centres[y] + rng.standard_normal((3000, 40))) * np.geomspace(1, scale, 40), y


@pytest.mark.parametrize("scale, ends_with", [(1.0, "lbfgs"), (100.0, "newton-cg")])
def test_auto_above_the_cholesky_limit_is_lbfgs_then_newton_cg(scale, ends_with, capsys):
    """Above CHOLESKY_MAX_PARAMETERS, "auto" runs L-BFGS, and Newton-CG where L-BFGS has not reached tol after
    AUTO_LBFGS_ITERATIONS; both end at scikit-learn's optimum, and the ill-conditioned fit in few iterations
    where L-BFGS alone takes hundreds."""
    from xlogreg.estimator import AUTO_LBFGS_ITERATIONS, CHOLESKY_MAX_PARAMETERS
    X, y = _clusters(scale)
    assert 41 * 6 > CHOLESKY_MAX_PARAMETERS
    clf = LogisticRegression(verbose=1).fit(X, y)
    assert f"({ends_with})" in capsys.readouterr().out
    assert clf.n_iter_[0] <= (AUTO_LBFGS_ITERATIONS if ends_with == "lbfgs" else AUTO_LBFGS_ITERATIONS + 20)
    # tight enough for 1e-6: tol bounds the gradient, and at 1e-9 an intercept can still be 1.5e-5 off here
    # (Newton-CG's last step stops once it meets tol, without the overshoot it had before session 12)
    tight = LogisticRegression(tol=1e-11).fit(X, y)
    reference = SkLogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    assert _relative(tight.coef_, reference.coef_) < 1e-6
    np.testing.assert_allclose(tight.intercept_, reference.intercept_, rtol=1e-6, atol=1e-7)
    if ends_with == "newton-cg":  # what the switch saves: L-BFGS alone takes more than twice the iterations
        assert LogisticRegression(solver="lbfgs").fit(X, y).n_iter_[0] > 2 * clf.n_iter_[0]


def test_convergence_warning_when_max_iter_ends_first():
    X, y = DATASETS["iris"]
    with pytest.warns(ConvergenceWarning, match="max_iter=5"):
        clf = LogisticRegression(max_iter=5).fit(X, y)
    assert clf.n_iter_[0] == 5
    with pytest.warns(ConvergenceWarning):
        LogisticRegression(solver="gd", max_iter=5).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogisticRegression(max_iter=5, tol=0).fit(X, y)  # tol=0: all iterations asked for, no warning


def test_warm_start_continues():
    X, y = DATASETS["wine"]
    # plain gradient descent: 40 + 60 warm-started iterations are the 100 iterations of one fit
    once = LogisticRegression(solver="gd", max_iter=100, tol=0).fit(X, y)
    twice = LogisticRegression(solver="gd", max_iter=40, tol=0, warm_start=True).fit(X, y)
    twice.set_params(max_iter=60).fit(X, y)
    np.testing.assert_allclose(twice.coef_, once.coef_, rtol=1e-10)
    np.testing.assert_allclose(twice.intercept_, once.intercept_, rtol=1e-10, atol=1e-14)
    # a converged model, refitted warm, is already converged
    clf = LogisticRegression(warm_start=True).fit(X, y)
    coef = clf.coef_.copy()
    clf.fit(X, y)
    assert clf.n_iter_[0] == 0
    np.testing.assert_array_equal(clf.coef_, coef)
    cold = LogisticRegression().fit(X, y)
    assert cold.set_params(warm_start=False).fit(X, y).n_iter_[0] > 0


# --------------------------------------------------------------------------- scikit-learn's tools


def test_pipeline_and_grid_search_on_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    grid = {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}
    ours = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()), grid, cv=5).fit(X, y)
    theirs = GridSearchCV(make_pipeline(StandardScaler(), SkLogisticRegression()), grid, cv=5).fit(X, y)
    assert abs(ours.best_score_ - theirs.best_score_) <= 0.02
    assert ours.best_score_ > 0.95
    scores = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()), X, y, cv=3)
    assert scores.min() > 0.9


def test_clone_pickle_and_params():
    X, y = DATASETS["wine"]
    clf = LogisticRegression(C=0.5, class_weight="balanced").fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    fresh = clone(clf)
    assert fresh.get_params() == clf.get_params() and not hasattr(fresh, "coef_")


@pytest.mark.parametrize("params, match", [
    ({"penalty": "bridge"}, "penalty"), ({"l1_ratio": 1.0, "solver": "lbfgs"}, "l1_ratio=1.0"), ({"l1_ratio": 1.5}, "l1_ratio"),
    ({"C": 0.0}, "C must be > 0"), ({"dual": True}, "dual=False, got dual=True"),
    ({"intercept_scaling": 0}, "intercept_scaling"), ({"solver": "saga"}, "solver='saga' is not available"),
    ({"solver": "bfgs"}, "solver"), ({"n_jobs": "all"}, "n_jobs"), ({"random_state": "seed"}, "random_state"),
    ({"max_iter": -1}, "max_iter"), ({"tol": -1.0}, "tol"), ({"learning_rate": 0}, "learning_rate"),
    ({"class_weight": "even"}, "class_weight"), ({"backend": "tensorflow"}, "backend"),
])
def test_bad_parameters_are_named(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        LogisticRegression(**params).fit(np.eye(2), [0, 1])


# --------------------------------------------------------------------------- sparse coef_ (sparsify / densify)


@pytest.mark.parametrize("name", ["breast_cancer", "wine"])
def test_sparsify_and_densify(name):
    """scikit-learn's SparseCoefMixin: coef_ becomes SciPy CSR and back; every prediction is unchanged.

    The references are the dense model's outputs, and the logits and probabilities computed here in NumPy
    from its dense coef_ (an L1 fit, so most coefficients are exact zeros and the CSR matrix stores fewer).
    """
    import scipy.sparse as sp

    X, y = DATASETS[name]
    clf = LogisticRegression(l1_ratio=1.0, C=0.05).fit(X, y)
    coef, intercept = clf.coef_.copy(), clf.intercept_.copy()
    assert 0 < np.count_nonzero(coef) < coef.size / 2
    Z = X @ coef.T + intercept  # NumPy's logits, (m, k)
    logits = Z[:, 0] if coef.shape[0] == 1 else Z
    if coef.shape[0] == 1:
        proba = np.column_stack([1 / (1 + np.exp(Z[:, 0])), 1 / (1 + np.exp(-Z[:, 0]))])
    else:
        proba = np.exp(Z - Z.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
    dense = {X_kind: (clf.decision_function(Xs), clf.predict_proba(Xs), clf.predict_log_proba(Xs),
                      clf.predict(Xs), clf.score(Xs, y))
             for X_kind, Xs in (("dense", X), ("csr", sp.csr_array(X)), ("coo", sp.coo_matrix(X)))}

    assert clf.sparsify() is clf
    assert type(clf.coef_) is type(SkLogisticRegression().fit(X, y).sparsify().coef_) is sp.csr_matrix
    assert clf.coef_.shape == coef.shape and clf.coef_.nnz == np.count_nonzero(coef)
    np.testing.assert_array_equal(clf.coef_.toarray(), coef)
    np.testing.assert_array_equal(clf.intercept_, intercept)  # not converted
    for X_kind, Xs in (("dense", X), ("csr", sp.csr_array(X)), ("coo", sp.coo_matrix(X))):
        d, p, lp, pred, score = dense[X_kind]
        np.testing.assert_allclose(clf.decision_function(Xs), logits, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(clf.decision_function(Xs), d, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(clf.predict_proba(Xs), proba, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(clf.predict_proba(Xs), p, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(clf.predict_log_proba(Xs), lp, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(clf.predict(Xs), pred)
        assert clf.score(Xs, y) == score
    assert clf.sparsify() is clf and sp.issparse(clf.coef_)  # twice: still CSR

    assert clf.densify() is clf
    assert type(clf.coef_) is np.ndarray
    np.testing.assert_array_equal(clf.coef_, coef)
    assert clf.densify() is clf and type(clf.coef_) is np.ndarray  # a no-op on a dense coef_
    np.testing.assert_array_equal(clf.decision_function(X), dense["dense"][0])


def test_sparsify_follows_sklearn_sparse_interface():
    import scipy.sparse as sp

    X, y = DATASETS["iris"]
    with sklearn.config_context(sparse_interface="sparray"):
        clf = LogisticRegression().fit(X, y).sparsify()
        theirs = SkLogisticRegression(max_iter=1000).fit(X, y).sparsify()
    assert type(clf.coef_) is type(theirs.coef_) is sp.csr_array
    np.testing.assert_allclose(clf.predict_proba(X), LogisticRegression().fit(X, y).predict_proba(X), rtol=1e-12)


def test_sparsify_and_densify_before_fit_are_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="Estimator, LogisticRegression, must be fitted before sparsifying"):
        LogisticRegression().sparsify()
    with pytest.raises(NotFittedError, match="Estimator, LogisticRegression, must be fitted before densifying"):
        LogisticRegression().densify()


def test_sparsify_refuses_a_coef_that_is_not_numpy():
    xp = pytest.importorskip("array_api_strict")
    X, y = DATASETS["iris"]
    clf = LogisticRegression().fit(xp.asarray(X), xp.asarray(y))
    coef = clf.coef_
    with pytest.raises(TypeError, match=r"sparsify\(\) needs a NumPy coef_; this one is array_api_strict"):
        clf.sparsify()
    assert clf.coef_ is coef  # unchanged
    assert clf.densify() is clf and clf.coef_ is coef  # nothing to densify


def test_sparsified_model_saves_dense_and_warm_starts(tmp_path):
    X, y = DATASETS["wine"]
    clf = LogisticRegression(l1_ratio=1.0, C=0.1).fit(X, y)
    coef, proba = clf.coef_.copy(), clf.predict_proba(X)
    clf.sparsify().save(tmp_path / "model.h5")
    np.testing.assert_array_equal(xlogreg.load_model(tmp_path / "model.h5").w, coef.T)
    back = LogisticRegression.load(tmp_path / "model.h5")
    assert type(back.coef_) is np.ndarray
    np.testing.assert_array_equal(back.predict_proba(X), proba)
    # warm start from the sparse coef_: already at the optimum, and the refitted coef_ is dense again
    clf.set_params(warm_start=True).fit(X, y)
    assert type(clf.coef_) is np.ndarray
    np.testing.assert_allclose(clf.coef_, coef, atol=1e-6)


def test_sparsify_in_a_pipeline():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(l1_ratio=1.0, C=0.1)).fit(X, y)
    expected = pipe.predict_proba(X)
    pipe[-1].sparsify()
    np.testing.assert_allclose(pipe.predict_proba(X), expected, rtol=1e-12, atol=1e-15)
    assert pipe.score(X, y) > 0.95


# --------------------------------------------------------------------------- model files


def test_save_and_load(tmp_path):
    X, y = DATASETS["wine"]
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    for labels in (y, names):
        clf = LogisticRegression(C=0.3).fit(X, labels)
        path = tmp_path / "model.h5"
        clf.save(path)
        model = xlogreg.load_model(path)  # the course's Model: w is coef_.T, X is (n_x, m)
        np.testing.assert_array_equal(model.w, clf.coef_.T)
        np.testing.assert_array_equal(np.ravel(model.b), clf.intercept_)
        assert model.n_classes == 3 and model.l2 == pytest.approx(1 / 0.3)
        np.testing.assert_array_equal(np.ravel(model.predict(X.T)), np.searchsorted(clf.classes_, clf.predict(X)))
        back = LogisticRegression.load(path)
        assert back.get_params()["C"] == 0.3
        np.testing.assert_array_equal(back.classes_, clf.classes_)
        assert back.classes_.dtype.kind == clf.classes_.dtype.kind
        np.testing.assert_array_equal(back.predict(X), clf.predict(X))
        np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_dict_class_weight_survives_save_and_load(tmp_path):
    X, y = DATASETS["wine"]
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    for labels, weights in ((y, {0: 2.0, 2: 0.5}), (names, {"barolo": 3.0})):
        clf = LogisticRegression(class_weight=weights).fit(X, labels)
        clf.save(tmp_path / "model.h5")
        back = LogisticRegression.load(tmp_path / "model.h5")
        assert back.get_params()["class_weight"] == weights
        refit = LogisticRegression(**back.get_params()).fit(X, labels)  # the same fit again
        np.testing.assert_allclose(refit.coef_, clf.coef_, rtol=0, atol=1e-12)


def test_save_without_penalty(tmp_path):
    X, y = DATASETS["breast_cancer"]
    clf = LogisticRegression(C=np.inf, max_iter=50, tol=0).fit(X[:, :3], y)
    clf.save(tmp_path / "model.h5")
    back = LogisticRegression.load(tmp_path / "model.h5")
    assert back.C == np.inf and xlogreg.load_model(tmp_path / "model.h5").l2 == 0.0
    np.testing.assert_array_equal(back.decision_function(X[:, :3]), clf.decision_function(X[:, :3]))


def test_load_a_course_model(tmp_path):
    X = np.array([[0.0, 1.0, 2.0, 3.0]])
    path = tmp_path / "course.h5"
    xlogreg.train(X, [0, 0, 1, 1], num_iterations=200, learning_rate=0.5).save(path)
    clf = LogisticRegression.load(path)
    np.testing.assert_array_equal(clf.predict(X.T), [0, 0, 1, 1])


# --------------------------------------------------------------------------- where the data lives


def test_fits_where_the_data_lives(case):
    """Fitted attributes and outputs in X's namespace, device and dtype; values those of the NumPy fit."""
    X, y = DATASETS["wine"]
    reference = LogisticRegression(tol=1e-6).fit(X, y)
    Xc, yc = case.asarray(X), case.asarray(y, dtype=None)
    clf = LogisticRegression(tol=1e-6).fit(Xc, yc)
    for name in ("coef_", "intercept_", "n_iter_", "classes_"):
        value = getattr(clf, name)
        assert _backends.backend_name(_namespace(value)) == case.backend, name
        assert str(_device(value)) == str(_device(Xc)), name
    assert clf.coef_.dtype == case.dtype
    proba = clf.predict_proba(Xc)
    assert _backends.backend_name(_namespace(proba)) == case.backend and proba.dtype == case.dtype
    assert str(_device(proba)) == str(_device(Xc))
    predicted = clf.predict(Xc)
    assert _backends.backend_name(_namespace(predicted)) == case.backend
    tol = 1e-3 if case.dtype_name == "float32" else 1e-6
    assert _relative(case.to_numpy(clf.coef_), reference.coef_) < tol
    np.testing.assert_allclose(case.to_numpy(proba), reference.predict_proba(X), atol=tol)
    assert clf.score(Xc, yc) == pytest.approx(reference.score(X, y), abs=0.02)
    if case.backend != "numpy":
        with pytest.raises(ValueError, match="same namespace"):
            clf.predict(X)  # host data is not moved silently (backend= asks for that)


def _namespace(a):
    from array_api_compat import array_namespace

    return array_namespace(a)


def _device(a):
    from array_api_compat import device

    return device(a)


def test_string_labels_with_torch_data():
    torch = pytest.importorskip("torch")
    X, y = DATASETS["wine"]
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    clf = LogisticRegression().fit(torch.asarray(X), names)
    assert isinstance(clf.coef_, torch.Tensor) and clf.classes_.dtype.kind == "U"
    assert set(clf.predict(torch.asarray(X))) <= set(names)


def test_backend_moves_host_data():
    xp = pytest.importorskip("array_api_strict")
    X, y = DATASETS["breast_cancer"]
    clf = LogisticRegression(backend="array_api_strict", device="device1", dtype="float32").fit(X, y)
    assert _namespace(clf.coef_) is _namespace(xp.asarray([1.0]))
    assert _backends.device_name(_device(clf.coef_)) == "device1" and clf.coef_.dtype == xp.float32
    proba = clf.predict_proba(X)  # host data moved there for predictions too
    assert _backends.device_name(_device(proba)) == "device1"
    reference = LogisticRegression().fit(X, y)
    np.testing.assert_allclose(np.asarray(_backends.to_numpy(proba)), reference.predict_proba(X), atol=1e-3)


# --------------------------------------------------------------------------- scikit-learn stays optional


def _run(code):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_import_xlogreg_does_not_import_sklearn():
    proc = _run("import sys, xlogreg; assert 'sklearn' not in sys.modules, 'sklearn imported'; "
                "assert 'LogisticRegression' in dir(xlogreg)")
    assert proc.returncode == 0, proc.stderr


def test_all_lists_the_estimators_and_resolves_them_lazily():
    """With scikit-learn, ``__all__`` names the estimators; ``import xlogreg`` still does not import it,
    and ``from xlogreg import *`` brings every name in ``__all__`` (the estimators imported then)."""
    proc = _run("import sys, xlogreg\n"
                "assert 'LogisticRegression' in xlogreg.__all__ and 'sklearn' not in sys.modules\n"
                "namespace = {}\n"
                "exec('from xlogreg import *', namespace)\n"
                "missing = set(xlogreg.__all__) - set(namespace)\n"
                "assert not missing, missing\n"
                "assert namespace['LogisticRegression'].__module__ == 'xlogreg.estimator'\n")
    assert proc.returncode == 0, proc.stderr


def test_missing_sklearn_says_what_to_install():
    proc = _run("import sys; sys.modules['sklearn'] = None\n"
                "import xlogreg\n"
                "from xlogreg import *\n"  # the core works without scikit-learn
                "assert 'train' in dir() and 'LogisticRegression' not in xlogreg.__all__\n"
                "try:\n    xlogreg.LogisticRegression\n"
                "except ImportError as exc:\n    print(exc)\n")
    assert proc.returncode == 0, proc.stderr
    assert "install it with `pip install scikit-learn`" in proc.stdout  # works outside a checkout too


def test_feature_names_from_a_dataframe_are_kept_checked_and_saved(tmp_path):
    """A pandas DataFrame's column names become ``feature_names_in_`` (scikit-learn's convention), survive
    save and load, and are checked at prediction: other names are refused, a plain array warns."""
    pd = pytest.importorskip("pandas")  # in the "test" extra: CI installs it
    X, y = DATASETS["wine"]
    columns = [f"f{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    clf = LogisticRegression(C=0.5).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, np.array(columns, dtype=object))
    assert clf.feature_names_in_.dtype == object and clf.n_features_in_ == X.shape[1]
    plain = LogisticRegression(C=0.5).fit(X, y)  # the same numbers without names: the same model
    assert not hasattr(plain, "feature_names_in_")
    np.testing.assert_allclose(clf.coef_, plain.coef_, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(frame), plain.predict(X))

    clf.save(tmp_path / "model.h5")
    back = LogisticRegression.load(tmp_path / "model.h5")
    np.testing.assert_array_equal(back.feature_names_in_, clf.feature_names_in_)
    np.testing.assert_array_equal(back.predict(frame), clf.predict(frame))
    renamed = frame.rename(columns={"f0": "alcohol"})
    with pytest.raises(ValueError, match="feature names should match"):
        back.predict(renamed)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        back.predict(X)
