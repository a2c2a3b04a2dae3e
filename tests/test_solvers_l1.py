"""xlogreg.solvers.prox_newton: L1 and elastic-net fits against scikit-learn's optima and hand-worked KKT conditions.

The references (tests/data/l1_reference.json) are scikit-learn 1.9.1's saga and
liblinear at tol=1e-12 (scripts/make_l1_reference.py), their objectives
computed from scratch (tests/_reference.sklearn_objective); the data is rebuilt
here by tests/_reference.l1_problems, and checked against the stored objectives.
"""

from __future__ import annotations

import functools
import json
import pathlib
import warnings

import numpy as np
import pytest
from array_api_compat import array_namespace, device as get_device

import _reference as ref
import xlogreg
from xlogreg._loss import LogisticLoss
from xlogreg._warnings import ConvergenceWarning
from xlogreg.penalties import ElasticNet, L1
from xlogreg.solvers import prox_newton as pn

RECORDS = json.loads((pathlib.Path(__file__).parent / "data" / "l1_reference.json").read_text())["records"]
TOL = 1e-10


@functools.lru_cache(maxsize=None)
def problems():
    return ref.l1_problems()


def engine_loss(X, y, backend_asarray=np.asarray, sample_weight=None):
    """The unpenalised LogisticLoss of scikit-learn-shaped (X, y)."""
    K = int(np.max(y)) + 1
    sw = None if sample_weight is None else backend_asarray(np.reshape(sample_weight, (1, -1)))
    return LogisticLoss(backend_asarray(np.ascontiguousarray(X.T)), backend_asarray(y[None, :].astype(float)), K,
                        sample_weight=sw)


@functools.lru_cache(maxsize=None)
def our_fit(problem, C, r):
    X, y = problems()[problem]
    res = pn.fit_l1(engine_loss(X, y), C, r, tol=TOL, max_iter=100)
    assert res.converged
    return res.w.T, res.b[:, 0], res


def ids(record):
    return f"{record['problem']}-C{record['C']}-r{record['l1_ratio']}"


@pytest.mark.parametrize("record", RECORDS, ids=ids)
def test_objective_support_and_zeros_match_scikit_learn(record):
    X, y = problems()[record["problem"]]
    C, r = record["C"], record["l1_ratio"]
    best = record["fits"][record["best"]]
    ref_coef, ref_intercept = np.array(best["coef"]), np.array(best["intercept"])
    # the data rebuilt here is the data the references were fitted on
    assert ref.sklearn_objective(ref_coef, ref_intercept, X, y, C, r) == pytest.approx(best["objective"], rel=1e-12)
    coef, intercept, _ = our_fit(record["problem"], C, r)
    ours = ref.sklearn_objective(coef, intercept, X, y, C, r)
    assert ours <= best["objective"] * (1 + 1e-6)
    assert ours >= best["objective"] * (1 - 1e-9)  # not better than an optimum by more than its tolerance
    np.testing.assert_array_equal(coef != 0, ref_coef != 0)  # the same features selected
    assert 0 < np.count_nonzero(coef) < coef.size  # a sparse model, with exact zeros


@pytest.mark.parametrize("record", [r for r in RECORDS if r["problem"] != "digits"] + [RECORDS[4]], ids=ids)
def test_kkt_conditions_hand_worked(record):
    """In scikit-learn's scale, with G the data gradient plus (1 - r) w: |G| <= r where w = 0, G = -r sign(w) where not."""
    X, y = problems()[record["problem"]]
    C, r = record["C"], record["l1_ratio"]
    coef, intercept, _ = our_fit(record["problem"], C, r)
    G, g_intercept = ref.sklearn_gradient(coef, intercept, X, y, C)
    G = G + (1 - r) * coef
    # tol is on J = objective / (C S): in scikit-learn's scale the residual is at most C S tol
    slack = C * X.shape[0] * TOL * 10
    zero = coef == 0
    assert np.all(np.abs(G[zero]) <= r + slack)
    np.testing.assert_allclose(G[~zero], -r * np.sign(coef[~zero]), atol=slack, rtol=0)
    np.testing.assert_allclose(g_intercept, 0, atol=slack)


def test_many_small_violations_outside_the_working_set_still_converge():
    """400 x 20,000 standardised, 10 informative features, C=1, L1: after a few steps the 20-feature working set is
    nearly optimal while thousands of features outside it each violate their condition a little (the optimality,
    over all features, stays above 2). The inner solve's tolerance comes from the working set's own optimality, and
    a step that fails on a working set grows it: the fit converges (it stopped at 5 iterations, 5 times the optimal
    objective, before), and its KKT conditions hold, computed here in NumPy."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=400, n_features=20_000, n_informative=10, n_redundant=0, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    C = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = pn.fit_l1(LogisticLoss(np.ascontiguousarray(X.T), y[None].astype(float), 2), C, 1.0, tol=1e-8,
                           max_iter=100)
    assert result.converged
    coef, intercept = np.asarray(result.w).T, np.asarray(result.b).ravel()
    G, g_intercept = ref.sklearn_gradient(coef, intercept, X, y, C)
    slack = C * X.shape[0] * 1e-8 * 10
    zero = coef == 0
    assert 0 < np.count_nonzero(coef) < 400
    assert np.all(np.abs(G[zero]) <= 1 + slack)
    np.testing.assert_allclose(G[~zero], -np.sign(coef[~zero]), atol=slack, rtol=0)
    np.testing.assert_allclose(g_intercept, 0, atol=slack)


def test_fit_intercept_false_and_sample_weight_match_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    X, y = problems()["tall"]
    sw = np.random.default_rng(0).integers(1, 4, size=y.shape[0]).astype(float)
    for fit_intercept, weights in ((False, None), (True, sw)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk = LogisticRegression(solver="liblinear", l1_ratio=1.0, C=0.2, tol=1e-12, max_iter=100_000,
                                    fit_intercept=fit_intercept, intercept_scaling=1000.0).fit(X, y, sample_weight=weights)
        res = pn.fit_l1(engine_loss(X, y, sample_weight=weights), 0.2, 1.0, tol=TOL, fit_intercept=fit_intercept)
        coef, intercept = res.w.T, res.b[:, 0]
        if not fit_intercept:
            assert np.all(intercept == 0)
        ours = ref.sklearn_objective(coef, intercept, X, y, 0.2, 1.0, weights)
        theirs = ref.sklearn_objective(sk.coef_, sk.intercept_, X, y, 0.2, 1.0, weights)
        assert ours <= theirs * (1 + 1e-6) and ours >= theirs * (1 - 1e-6)
        np.testing.assert_array_equal(coef != 0, sk.coef_ != 0)


def test_integer_weights_fit_as_repeated_rows():
    X, y = problems()["tall"]
    counts = np.random.default_rng(1).integers(1, 4, size=y.shape[0])
    weighted = pn.fit_l1(engine_loss(X, y, sample_weight=counts.astype(float)), 0.3, 0.5, tol=TOL)
    repeated = pn.fit_l1(engine_loss(np.repeat(X, counts, axis=0), np.repeat(y, counts)), 0.3, 0.5, tol=TOL)
    np.testing.assert_allclose(weighted.w, repeated.w, atol=1e-8)
    np.testing.assert_array_equal(weighted.w != 0, repeated.w != 0)


def test_min_c_hand_worked_and_the_path():
    # x = 1..4, y = 0 0 1 1: at w = 0 the optimal bias gives a = 1/2, dJ/dw = mean(x (1/2 - y)) = -1/2,
    # so alpha_max = 1/2 (l1_ratio 1) or 1 (l1_ratio 1/2) and C_min = 1 / (S alpha_max) with S = 4
    X = np.array([[1.0, 2.0, 3.0, 4.0]])
    loss = LogisticLoss(X, np.array([[0.0, 0.0, 1.0, 1.0]]))
    assert pn.min_c(loss, 1.0) == pytest.approx(0.5, rel=1e-14)
    assert pn.min_c(loss, 0.5) == pytest.approx(0.25, rel=1e-14)
    Xb, y = problems()["breast_cancer"]
    loss = engine_loss(Xb, y)
    c_min = pn.min_c(loss, 1.0)
    Cs = [1.0, c_min * 0.999, 0.1, c_min * 1.5, c_min]
    path = pn.l1_path(loss, Cs, 1.0, tol=TOL)
    for C, result in zip(Cs, path):
        assert result.converged
        if C <= c_min:
            assert not np.any(result.w)  # exact zeros at and below C_min
        else:
            assert np.any(result.w)
            alone = pn.fit_l1(loss, C, 1.0, tol=TOL)  # warm-started along the path = fitted alone
            objective = [ref.sklearn_objective(r.w.T, r.b[:, 0], Xb, y, C, 1.0) for r in (result, alone)]
            assert objective[0] == pytest.approx(objective[1], rel=1e-12)
            # C = 1 is ill-conditioned (collinear features): an optimality of 1e-10 leaves w within ~1e-6
            np.testing.assert_allclose(result.w, alone.w, atol=1e-5)
            np.testing.assert_array_equal(result.w != 0, alone.w != 0)


def _numpy_model_minimiser(H, g, w, threshold, iterations=20_000):
    """``argmin_D g.D + D.H D / 2 + threshold.|w + D|`` by plain proximal gradient (ISTA) in NumPy float64."""
    L = np.linalg.eigvalsh(H).max()
    D = np.zeros_like(g)
    for _ in range(iterations):
        V = w + D - (g + H @ D) / L
        D = np.sign(V) * np.maximum(np.abs(V) - threshold / L, 0.0) - w
    return D


def _small_model(seed=4, n=9):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    H = A @ A.T / n + 0.2 * np.eye(n)
    g = rng.standard_normal(n)
    w = np.where(rng.random(n) < 0.5, rng.standard_normal(n), 0.0)
    threshold = np.r_[np.full(n - 1, 0.6), 0.0]  # the last entry plays a bias: not penalised
    free = np.ones(n)
    model = pn._Model(lambda v: H @ v, H, np.diag(H).copy(), g, w, threshold, free,
                      lambda: float(np.linalg.eigvalsh(H / np.sqrt(np.outer(np.diag(H), np.diag(H)))).max()))
    return model, H, g, w, threshold


def test_inner_solve_reaches_the_models_minimiser_with_its_zeros():
    """FISTA with the face-minimiser finish reaches the quadratic model's minimiser (NumPy ISTA reference), with
    the same exact zeros in ``w + D``; from a point on the minimiser's face, the face solve alone ends it."""
    model, H, g, w, threshold = _small_model()
    want = _numpy_model_minimiser(H, g, w, threshold)
    zeros = (w + want) == 0
    assert 0 < zeros.sum() < zeros.size - 1  # a model with zeros and non-zeros at its minimiser
    D, inner = pn._fista(model, np.zeros_like(g), 1e-12, 10_000)
    np.testing.assert_allclose(D, want, atol=1e-10)
    np.testing.assert_array_equal((w + D) == 0, zeros)
    on_face = np.where(zeros, -w, want + 0.01 * np.sign(w + want))  # the right signs and zeros, wrong values
    D, inner = pn._fista(model, on_face, 1e-12, 10_000)
    assert inner == 0
    np.testing.assert_allclose(D, want, atol=1e-10)
    np.testing.assert_array_equal((w + D) == 0, zeros)
    # a face with a wrong zero is not the minimiser's: its minimiser is refused, FISTA runs on
    wrong = on_face.copy()
    moved = np.flatnonzero(~zeros[:-1])[0]
    wrong[moved] = -w[moved]
    assert np.linalg.norm(model.optimality(model.face_minimiser(wrong))) > 1e-6
    D, inner = pn._fista(model, wrong, 1e-12, 10_000)
    assert inner > 0
    np.testing.assert_allclose(D, want, atol=1e-10)


def test_working_set_off_finds_the_same_optimum():
    X, y = problems()["wide"]
    loss = engine_loss(X, y)
    with_ws = pn.fit_l1(loss, 0.1, 1.0, tol=TOL)
    penalty = ElasticNet(1 / (0.1 * loss.total_weight), 1.0)
    without = pn.prox_newton(loss, penalty, tol=TOL, working_set=False, max_iter=100)
    np.testing.assert_allclose(with_ws.w, without.w, atol=1e-7)
    np.testing.assert_array_equal(with_ws.w != 0, without.w != 0)


def test_reports_convergence_and_warns_at_max_iter():
    X, y = problems()["breast_cancer"]
    loss = engine_loss(X, y)
    res = pn.fit_l1(loss, 1.0, 1.0, tol=TOL)
    assert res.converged and res.iterations == len(res.costs) - 1
    assert np.sqrt(np.sum(res.dw ** 2) + np.sum(res.db ** 2)) <= TOL  # the rule reported is the rule met
    assert all(a[1] >= b[1] for a, b in zip(res.costs, res.costs[1:]))  # the objective never rises
    with pytest.warns(ConvergenceWarning, match=r"prox-newton: stopped after 1 iterations .* above tol=1e-10"):
        short = pn.fit_l1(loss, 1.0, 1.0, tol=TOL, max_iter=1)
    assert not short.converged and short.iterations == 1


def test_fit_l1_refuses_bad_arguments():
    loss = engine_loss(*problems()["tall"])
    with pytest.raises(ValueError, match="C must be > 0; got -1.0"):
        pn.fit_l1(loss, -1.0)
    with pytest.raises(ValueError, match=r"l1_ratio must be in \[0, 1\]; got 2.0"):
        pn.fit_l1(loss, 1.0, 2.0)


@pytest.mark.slow
@pytest.mark.parametrize("problem, C, r", [("tall", 0.05, 1.0), ("tall", 1.0, 0.5), ("digits300", 0.5, 1.0)])
def test_every_backend_fits_as_numpy(case, problem, C, r):
    if problem == "digits300":
        X, y = problems()["digits"]
        X, y = X[:300], y[:300]
    else:
        X, y = problems()[problem]
    expected = pn.fit_l1(engine_loss(X, y), C, r, tol=TOL)
    loss = engine_loss(X, y, case.asarray)
    if case.backend == "dask":
        with pytest.raises(TypeError, match="prox_newton: X is a Dask array"):
            pn.fit_l1(loss, C, r)
        return
    tol = TOL if case.dtype_name == "float64" else 1e-4
    res = pn.fit_l1(loss, C, r, tol=tol)
    assert res.converged
    for out in (res.w, res.b, res.dw, res.db):
        assert array_namespace(out) is case.xp and get_device(out) == case.device and out.dtype == case.dtype
    w = case.to_numpy(res.w)
    if case.dtype_name == "float64":
        np.testing.assert_allclose(w, expected.w, atol=1e-7)
        np.testing.assert_array_equal(w != 0, expected.w != 0)
    else:  # float32 to tol 1e-4: the objective is what is pinned (the coefficients of an ill-conditioned
        # problem move by 1e-2 within that tolerance)
        ours = ref.sklearn_objective(w.T, case.to_numpy(res.b)[:, 0], X, y, C, r)
        best = ref.sklearn_objective(expected.w.T, expected.b[:, 0], X, y, C, r)
        assert ours <= best * (1 + 1e-5)
    assert np.count_nonzero(w) < w.size


def test_train_l1_is_scikit_learns_objective():
    """train(l1=r/C, l2=(1-r)/C) reaches scikit-learn's optimum of (C, l1_ratio=r); l1 > 0 takes prox-newton."""
    record = next(r for r in RECORDS if (r["problem"], r["C"], r["l1_ratio"]) == ("breast_cancer", 0.1, 0.5))
    X, y = problems()["breast_cancer"]
    C, r = record["C"], record["l1_ratio"]
    model = xlogreg.train(X.T, y, l1=r / C, l2=(1 - r) / C, tol=TOL, num_iterations=100)
    assert model.solver == "prox-newton" and model.converged and model.l1 == r / C and model.l2 == (1 - r) / C
    coef = np.asarray(model.w).T
    ours = ref.sklearn_objective(coef, np.array([model.b]), X, y, C, r)
    assert ours == pytest.approx(record["fits"]["saga"]["objective"], rel=1e-6)
    np.testing.assert_array_equal(coef != 0, np.array(record["fits"]["saga"]["coef"]) != 0)
    # the recorded costs are J with the L1 term: the last one is the objective / (C S)
    assert model.costs[-1] == pytest.approx(ours / (C * X.shape[0]), rel=1e-9)


def test_train_l1_refuses_other_solvers_and_bad_values():
    X, y = problems()["tall"]
    with pytest.raises(ValueError, match="solver='primal' cannot fit an L1 penalty"):
        xlogreg.train(X.T, y, l1=1.0, solver="primal")
    with pytest.raises(ValueError, match="l1"):
        xlogreg.train(X.T, y, l1=-1.0)
