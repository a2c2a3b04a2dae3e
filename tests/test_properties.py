"""Property-based tests (hypothesis) on every backend x device x dtype.

Each property is checked against an independent computation: central finite
differences in NumPy float64, or a plain NumPy float64 formula (written here or in
tests/_reference.py, which does not import xlogreg).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import _reference as ref
import xlogreg
from xlogreg.core import cost_from_z

# The `case` fixture is immutable, so sharing it across examples is safe.
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# A few fixed shapes keep JAX from compiling a new kernel for every example.
SHAPES = st.sampled_from([(3, 5), (1, 1), (4, 2)])


def finite(shape, bound):
    return arrays(np.float64, shape, elements=st.floats(-bound, bound, allow_nan=False, allow_infinity=False))


@st.composite
def problems(draw, bound=5.0):
    n_x, m = draw(SHAPES)
    X = draw(finite((n_x, m), bound))
    w = draw(finite((n_x, 1), bound))
    b = draw(st.floats(-bound, bound))
    Y = draw(arrays(np.int64, (1, m), elements=st.integers(0, 1))).astype(np.float64)
    return w, b, X, Y


def numpy_cost(w, b, X, Y):
    z = w.T @ X + b
    return float(np.mean(np.logaddexp(0, z) - Y * z))


@SETTINGS
@given(data=problems())
def test_gradient_matches_finite_differences(case64, data):
    w, b, X, Y = data
    grads, cost = xlogreg.propagate(case64.asarray(w), b, case64.asarray(X), case64.asarray(Y))
    h = 1e-6
    numeric = np.empty_like(w)
    for j in range(w.shape[0]):
        e = np.zeros_like(w)
        e[j] = h
        numeric[j] = (numpy_cost(w + e, b, X, Y) - numpy_cost(w - e, b, X, Y)) / (2 * h)
    numeric_b = (numpy_cost(w, b + h, X, Y) - numpy_cost(w, b - h, X, Y)) / (2 * h)
    np.testing.assert_allclose(case64.to_numpy(grads["dw"]), numeric, rtol=1e-5, atol=1e-7)
    assert float(case64.to_numpy(grads["db"])) == pytest.approx(numeric_b, rel=1e-5, abs=1e-7)
    assert float(case64.to_numpy(cost)) == pytest.approx(numpy_cost(w, b, X, Y), rel=1e-10, abs=1e-12)


@SETTINGS
@given(data=problems())
def test_every_backend_matches_the_plain_numpy_formulas(case, data):
    """dw, db and the cost against tests/_reference.py (SciPy's expit, numpy.logaddexp), not xlogreg on NumPy."""
    w, b, X, Y = data
    grads, cost = xlogreg.propagate(case.asarray(w), b, case.asarray(X), case.asarray(Y))
    dw, db, ref_cost = ref.propagate(w, b, X, Y)
    tol = case.rtol * 100
    scale = max(1.0, float(np.max(np.abs(X))))
    np.testing.assert_allclose(case.to_numpy(grads["dw"]), dw, rtol=tol, atol=tol * scale)
    assert float(case.to_numpy(grads["db"])) == pytest.approx(db, rel=tol, abs=tol)
    assert float(case.to_numpy(cost)) == pytest.approx(ref_cost, rel=tol, abs=tol)


@SETTINGS
@given(data=problems(bound=1e4))
def test_cost_is_finite_for_any_finite_input(case, data):
    w, b, X, Y = data
    _, cost = xlogreg.propagate(case.asarray(w), b, case.asarray(X), case.asarray(Y))
    value = float(case.to_numpy(cost))
    assert np.isfinite(value) and value >= 0


@SETTINGS
@given(z=finite((2, 6), 1e6))
def test_sigmoid_is_in_0_1_and_monotone(case, z):
    s = case.to_numpy(xlogreg.sigmoid(case.asarray(z))).astype(np.float64)
    assert np.all((s >= 0) & (s <= 1))
    order = np.argsort(case.to_numpy(case.asarray(z)).ravel(), kind="stable")
    assert np.all(np.diff(s.ravel()[order]) >= 0)


@SETTINGS
@given(x=finite((3, 4), 1e3))
def test_softmax_rows_sum_to_one(case, x):
    out = case.to_numpy(xlogreg.softmax(case.asarray(x))).astype(np.float64)
    assert np.all(out >= 0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=case.rtol * 10)


@SETTINGS
@given(x=finite((3, 4), 1e30), zero_row=st.integers(0, 2))
@example(x=np.full((3, 4), 2.2250738585e-311), zero_row=0)  # subnormal rows (found by hypothesis on JAX)
def test_normalize_rows_gives_unit_rows(case, x, zero_row):
    x = x.copy()
    x[zero_row] = 0.0
    arr = case.asarray(x)
    out = case.to_numpy(xlogreg.normalize_rows(arr)).astype(np.float64)
    assert np.all(np.isfinite(out))
    norms = np.linalg.norm(out, axis=1)
    # Zero as the backend computes it: XLA on CPU flushes subnormals to zero (JAX), so a row of
    # subnormals is a zero row there, and elsewhere a row to scale to unit norm.
    nonzero = case.to_numpy(case.xp.any(arr != 0, axis=1))
    np.testing.assert_allclose(norms[nonzero], 1.0, rtol=case.rtol * 10)
    assert np.all(out[~nonzero] == 0)


@SETTINGS
@given(z=finite((1, 5), 1e4), y=arrays(np.int64, (1, 5), elements=st.integers(0, 1)))
def test_stable_cost_equals_the_course_formula_where_that_is_finite(case64, z, y):
    y = y.astype(np.float64)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        a = 1 / (1 + np.exp(-z))
        course = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))
    value = float(case64.to_numpy(cost_from_z(case64.asarray(z), case64.asarray(y))))
    assert np.isfinite(value)
    if np.isfinite(course) and np.all(np.abs(z) < 30):
        assert value == pytest.approx(course, rel=1e-9, abs=1e-12)
