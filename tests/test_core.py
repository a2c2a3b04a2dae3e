"""The course maths on every backend x device x dtype, against hand-worked values.

Expected numbers are the course's published outputs (independent of this
code) or plain NumPy float64 computations written out here.
"""

import numpy as np
import pytest
from array_api_compat import array_namespace, device as get_device

import _reference as ref
import xlogreg
from conftest import import_backend
from xlogreg.core import cost_from_z


def check(case, out, expected, rtol=None, atol=0.0):
    """`out` is on the case's namespace, device and dtype, and close to `expected`."""
    assert array_namespace(out) is case.xp
    assert str(get_device(out)) == str(case.device)
    assert out.dtype == case.dtype
    rtol = max(case.rtol, 1e-7) if rtol is None else rtol  # an explicit 0 stays 0
    np.testing.assert_allclose(case.to_numpy(out), expected, rtol=rtol, atol=atol)


def test_sigmoid(case):
    z = case.asarray([0.0, 2.0, -2.0, 40.0, -40.0])
    expected = 1 / (1 + np.exp(-np.array([0.0, 2.0, -2.0, 40.0, -40.0])))
    check(case, xlogreg.sigmoid(z), expected, rtol=max(case.rtol, 1e-14))
    np.testing.assert_allclose(case.to_numpy(xlogreg.sigmoid(case.asarray([0.0, 2.0]))), [0.5, 0.88079708],
                               rtol=1e-7)


def test_sigmoid_saturates_without_overflow(case):
    z = case.asarray([-1000.0, 1000.0, -1e30, 1e30])
    out = case.to_numpy(xlogreg.sigmoid(z))
    np.testing.assert_array_equal(out, [0.0, 1.0, 0.0, 1.0])


def test_sigmoid_derivative(case):
    out = xlogreg.sigmoid_derivative(case.asarray([1.0, 2.0, 3.0]))
    check(case, out, [0.19661193, 0.10499359, 0.04517666], rtol=max(case.rtol, 1e-7))


def test_integer_input_becomes_default_float(case):
    x = case.asarray(np.array([0, 2]), dtype=None)
    out = xlogreg.sigmoid(x)
    default = case.xp.__array_namespace_info__().default_dtypes(device=case.device)["real floating"]
    assert out.dtype == default
    np.testing.assert_allclose(case.to_numpy(out), [0.5, 1 / (1 + np.exp(-2.0))], rtol=1e-15 if default == case.xp.float64
                               else 1e-7)


def test_image2vector(case):
    image = np.arange(3 * 3 * 2, dtype=np.float64).reshape(3, 3, 2) / 7
    out = xlogreg.image2vector(case.asarray(image))
    assert tuple(out.shape) == (18, 1)
    check(case, out, image.reshape(18, 1))


def test_normalize_rows(case):
    x = case.asarray([[0.0, 3.0, 4.0], [1.0, 6.0, 4.0], [0.0, 0.0, 0.0]])
    expected = [[0.0, 0.6, 0.8], [0.13736056, 0.82416338, 0.54944226], [0.0, 0.0, 0.0]]
    check(case, xlogreg.normalize_rows(x), expected, rtol=1e-7, atol=1e-12)


def test_normalize_rows_extreme_magnitudes(case):
    big = 1e300 if case.dtype_name == "float64" else 1e37
    x = case.asarray([[3 * big, 4 * big], [3 / big, 4 / big]])
    # Each output is x / max / norm: the rounding of the input, two divisions, two squares, a sum
    # and a square root, each within half an ulp: 4 eps covers them (1e-6 would let float64 be wrong
    # in its 7th digit).
    eps = float(np.finfo(case.dtype_name).eps)
    check(case, xlogreg.normalize_rows(x), [[0.6, 0.8], [0.6, 0.8]], rtol=4 * eps)


def test_softmax(case):
    x = case.asarray([[9.0, 2.0, 5.0, 0.0, 0.0], [7.0, 5.0, 0.0, 0.0, 0.0]])
    expected = [
        [9.80897665e-01, 8.94462891e-04, 1.79657674e-02, 1.21052389e-04, 1.21052389e-04],
        [8.78679856e-01, 1.18916387e-01, 8.01252314e-04, 8.01252314e-04, 8.01252314e-04],
    ]  # the course's printed values (9 digits)
    check(case, xlogreg.softmax(x), expected, rtol=max(case.rtol, 1e-8))
    e = np.exp(np.array([[9.0, 2.0, 5.0, 0.0, 0.0], [7.0, 5.0, 0.0, 0.0, 0.0]]))
    check(case, xlogreg.softmax(x), e / e.sum(axis=1, keepdims=True), rtol=max(case.rtol, 1e-15))


def test_softmax_is_shift_stable(case):
    out = xlogreg.softmax(case.asarray([[1000.0, 1001.0], [-1000.0, -1000.0]]))
    e = np.exp(-1.0)
    check(case, out, [[e / (1 + e), 1 / (1 + e)], [0.5, 0.5]], rtol=max(case.rtol, 1e-15))


def test_l1_l2(case):
    yhat = case.asarray([0.9, 0.2, 0.1, 0.4, 0.9])
    y = case.asarray([1.0, 0.0, 0.0, 1.0, 1.0])
    l1, l2 = xlogreg.l1(yhat, y), xlogreg.l2(yhat, y)
    assert l1.shape == () and l2.shape == ()
    # The inputs themselves are rounded to the dtype (0.9 is 0.89999998 in float32), then 5
    # differences and a sum of 5 terms: 8 eps relative bounds both (1e-6 was float32's eps x 8
    # for float64 too, 1e10 times what float64 achieves).
    eps = float(np.finfo(case.dtype_name).eps)
    check(case, l1, 1.1, rtol=8 * eps)
    check(case, l2, 0.43, rtol=8 * eps)


def test_initialize_with_zeros(case):
    w, b = xlogreg.initialize_with_zeros(4, xp=case.xp, device=case.device, dtype=case.dtype_name)
    assert tuple(w.shape) == (4, 1) and b == 0.0 and isinstance(b, float)
    check(case, w, np.zeros((4, 1)))


def test_initialize_with_zeros_defaults_to_numpy():
    w, b = xlogreg.initialize_with_zeros(2)
    assert isinstance(w, np.ndarray) and w.shape == (2, 1) and w.dtype == np.float64 and b == 0.0


PROPAGATE_CASE = dict(
    w=[[1.0], [2.0]], b=2.0, X=[[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]], Y=[[1, 0, 1]],
)


def test_propagate_course_values(case):
    w, X, Y = (case.asarray(PROPAGATE_CASE[k]) for k in ("w", "X", "Y"))
    grads, cost = xlogreg.propagate(w, 2.0, X, Y)
    check(case, grads["dw"], [[0.99845601], [2.39507239]], rtol=1e-7)
    # db is the mean of A - Y = [-1.2e-4, 0.99999, -0.9955], which cancel down to 0.0015: its error
    # is absolute, a few roundings of numbers below 1 (each A within ~eps, the sum of 3 terms, the
    # input -3.2 rounded in float32): 4 eps absolute, relative ~1e-4 in float32 and 6e-13 in float64
    # (the old rtol of 1e-2 for float32 would have accepted a db 1% off).
    eps = float(np.finfo(case.dtype_name).eps)
    _, db_ref, _ = ref.propagate(*(PROPAGATE_CASE[k] for k in ("w", "b", "X", "Y")))
    assert db_ref == pytest.approx(0.00145557813678, rel=1e-11)  # the course's printed value
    check(case, grads["db"], db_ref, rtol=0.0, atol=4 * eps)
    check(case, cost, 5.801545319394553, rtol=max(case.rtol, 1e-14))


def _numpy_propagate(w, b, X, Y):
    m = X.shape[1]
    A = 1 / (1 + np.exp(-(w.T @ X + b)))
    cost = -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    return X @ (A - Y).T / m, np.sum(A - Y) / m, cost


def test_propagate_matches_numpy_reference(case):
    rng = np.random.default_rng(0)
    X, w = rng.normal(size=(7, 11)), rng.normal(size=(7, 1)) * 0.3
    Y = (rng.random((1, 11)) > 0.5).astype(np.float64)
    dw, db, cost = _numpy_propagate(w, -0.2, X, Y)
    grads, c = xlogreg.propagate(case.asarray(w), -0.2, case.asarray(X), case.asarray(Y))
    check(case, grads["dw"], dw, rtol=case.rtol * 100)
    check(case, grads["db"], db, rtol=case.rtol * 100)
    check(case, c, cost, rtol=case.rtol * 100)


def test_propagate_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    X, w, b = rng.normal(size=(5, 8)), rng.normal(size=(5, 1)), 0.3
    Y = (rng.random((1, 8)) > 0.5).astype(np.float64)
    grads, _ = xlogreg.propagate(w, b, X, Y)
    h = 1e-6
    for j in range(5):
        e = np.zeros_like(w)
        e[j] = h
        numeric = (float(xlogreg.propagate(w + e, b, X, Y)[1]) - float(xlogreg.propagate(w - e, b, X, Y)[1])) / (2 * h)
        assert grads["dw"][j, 0] == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    numeric_b = (float(xlogreg.propagate(w, b + h, X, Y)[1]) - float(xlogreg.propagate(w, b - h, X, Y)[1])) / (2 * h)
    assert float(grads["db"]) == pytest.approx(numeric_b, rel=1e-6, abs=1e-9)


def test_propagate_gradient_matches_autograd():
    torch = import_backend("torch")
    rng = np.random.default_rng(2)
    X, w = rng.normal(size=(6, 9)), rng.normal(size=(6, 1))
    Y = (rng.random((1, 9)) > 0.5).astype(np.float64)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    z = wt.T @ torch.tensor(X) + bt
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor(Y))
    loss.backward()
    grads, cost = xlogreg.propagate(torch.tensor(w), 0.4, torch.tensor(X), torch.tensor(Y))
    np.testing.assert_allclose(grads["dw"].numpy(), wt.grad.numpy(), rtol=1e-12)
    assert float(grads["db"]) == pytest.approx(float(bt.grad), rel=1e-12)
    assert float(cost) == pytest.approx(loss.item(), rel=1e-12)


def test_propagate_gradient_matches_jax_grad():
    jax = import_backend("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(3)
    X, w = rng.normal(size=(4, 6)), rng.normal(size=(4, 1))
    Y = (rng.random((1, 6)) > 0.5).astype(np.float64)

    def loss(w, b):
        a = jax.nn.sigmoid(w.T @ X + b)
        return -jnp.mean(Y * jnp.log(a) + (1 - Y) * jnp.log(1 - a))

    gw, gb = jax.grad(loss, argnums=(0, 1))(jnp.asarray(w), 0.1)
    grads, _ = xlogreg.propagate(jnp.asarray(w), 0.1, jnp.asarray(X), jnp.asarray(Y))
    np.testing.assert_allclose(np.asarray(grads["dw"]), np.asarray(gw), rtol=1e-10)
    assert float(grads["db"]) == pytest.approx(float(gb), rel=1e-10)


def test_cost_is_finite_when_sigmoid_saturates(case):
    # |z| = 50: sigmoid is exactly 0 or 1 in float32 and float64, the naive log gives inf
    Z = case.asarray([[50.0, -50.0, 50.0, -50.0]])
    Y = case.asarray([[0.0, 1.0, 1.0, 0.0]])
    cost = cost_from_z(Z, Y)
    # four softplus values and their mean: a few roundings of the dtype (1e-6 was 1e10 times
    # float64's)
    check(case, cost, (50 + 50 + np.log1p(np.exp(-50)) * 2) / 4, rtol=4 * float(np.finfo(case.dtype_name).eps))


def test_predict_course_values(case):
    w = case.asarray([[0.1124579], [0.23106775]])
    X = case.asarray([[1.0, -1.1, -3.2], [1.2, 2.0, 0.1]])
    check(case, xlogreg.predict(w, -0.3, X), [[1.0, 1.0, 0.0]])


def test_optimize_course_values(case):
    w, X, Y = (case.asarray(PROPAGATE_CASE[k]) for k in ("w", "X", "Y"))
    params, grads, costs = xlogreg.optimize(w, 2.0, X, Y, num_iterations=100, learning_rate=0.009)
    tol = 1e-7 if case.dtype_name == "float64" else 1e-4
    check(case, params["w"], [[0.19033591], [0.12259159]], rtol=tol)
    check(case, params["b"], 1.92535983008, rtol=tol)
    check(case, grads["dw"], [[0.67752042], [1.41625495]], rtol=tol)
    check(case, grads["db"], 0.219194504541, rtol=tol)
    assert len(costs) == 1 and costs[0] == pytest.approx(5.801545319394553, rel=tol)
    assert all(isinstance(c, float) for c in costs)


@pytest.mark.parametrize("func", ["sigmoid", "sigmoid_derivative", "normalize_rows", "softmax", "image2vector"])
def test_functions_do_not_mutate_inputs(case, func):
    data = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, -4.0]])
    x = case.asarray(data[..., None] if func == "image2vector" else data)
    before = case.to_numpy(x).copy()
    getattr(xlogreg, func)(x)
    np.testing.assert_array_equal(case.to_numpy(x), before)


def test_optimize_does_not_mutate_inputs(case):
    w, X, Y = (case.asarray(PROPAGATE_CASE[k]) for k in ("w", "X", "Y"))
    snapshots = [case.to_numpy(a).copy() for a in (w, X, Y)]
    xlogreg.optimize(w, 2.0, X, Y, num_iterations=20, learning_rate=0.1)
    for arr, before in zip((w, X, Y), snapshots):
        np.testing.assert_array_equal(case.to_numpy(arr), before)


def test_predict_is_1_only_strictly_above_one_half(case):
    """sigmoid(0) = 0.5 exactly: the course's ``A > 0.5`` says 0 there, and 1 just above."""
    zero = case.asarray(np.zeros((2, 1)))
    X = case.asarray([[1.0, -3.0, 0.0], [2.0, 4.0, 0.0]])
    check(case, xlogreg.predict(zero, 0.0, X), [[0.0, 0.0, 0.0]])
    # w.T X + b = x - 2: exactly 0 at x = 2 (sigmoid 0.5: label 0), one step of the dtype either side
    eps = float(np.finfo(case.dtype_name).eps)
    X = case.asarray([[2.0, 2.0 + 2 * eps, 2.0 - eps, 3.0, 1.0]])
    check(case, xlogreg.predict(case.asarray([[1.0]]), -2.0, X), [[0.0, 1.0, 0.0, 1.0, 0.0]])


# Logits far out on both sides, where a naive sigmoid or cost overflows (exp(800) is inf in
# float64, exp(100) in float32) or loses the tail; +-80 is where float32's exp(-z) is still a
# normal number. The reference is SciPy's expit in float64, rounded to the case's dtype.
EXTREME_Z = [1e4, -1e4, 800.0, -800.0, 100.0, -100.0, 80.0, -80.0, 40.0, -40.0, np.inf, -np.inf, 0.0]


def _eps(case):
    return float(np.finfo(case.dtype_name).eps)


def test_sigmoid_values_at_extreme_logits(case):
    z = np.array(EXTREME_Z)
    s = xlogreg.sigmoid(case.asarray(z))
    expected = ref.sigmoid(z).astype(case.dtype_name)
    out = case.to_numpy(s)
    assert np.all(np.isfinite(out)), out
    # The exact values are normal numbers (or exactly 0 / 1) in both dtypes: a few ulps apart at most.
    normal = (expected == 0) | (np.abs(expected) >= np.finfo(case.dtype_name).tiny)
    assert s.dtype == case.dtype and str(get_device(s)) == str(case.device)
    np.testing.assert_allclose(out[normal], expected[normal], rtol=4 * _eps(case), atol=0.0)
    # Far below 0, sigmoid(z) = e^z / (1 + e^z) rounds to e^z itself: the backend's own exp(z),
    # a subnormal number (or 0 where the backend flushes subnormals: XLA on CPU). The naive
    # 1 / (1 + exp(-z)) overflows to 1 / inf = 0 there, silently on torch and JAX.
    deep = case.asarray([-100.0, -103.0] if case.dtype_name == "float32" else [-740.0, -744.0])
    np.testing.assert_array_equal(case.to_numpy(xlogreg.sigmoid(deep)), case.to_numpy(case.xp.exp(deep)))


def test_sigmoid_derivative_at_extreme_logits(case):
    z = np.array(EXTREME_Z)
    out = case.to_numpy(xlogreg.sigmoid_derivative(case.asarray(z)))
    assert np.all(np.isfinite(out)) and np.all((out >= 0) & (out <= 0.25)), out
    s = ref.sigmoid(z)
    # s (1 - s) in the dtype: 1 - s loses everything below eps where s rounds to 1 (z >~ 17 / 37),
    # so the absolute error is up to eps against a maximum of 0.25.
    np.testing.assert_allclose(out, s * (1 - s), rtol=4 * _eps(case), atol=_eps(case))


def test_propagate_at_extreme_logits(case):
    """Z = X (w = 1, b = 0): confident right and wrong answers at |z| = 1e4, 800, 80."""
    X = np.array([[1e4, -1e4, 800.0, -800.0, 80.0, -80.0]])
    Y = np.array([[1.0, 1.0, 0.0, 0.0, 1.0, 0.0]])
    grads, cost = xlogreg.propagate(case.asarray([[1.0]]), 0.0, case.asarray(X), case.asarray(Y))
    dw, db, cost_ref = ref.propagate(np.ones((1, 1)), 0.0, X, Y)
    # by hand: the wrong answers cost 1e4 and 800, the right ones ~0: (1e4 + 800) / 6 = 1800,
    # and dw = (0 + 1e4 + 800 + 0 + ~0 + ~0) / 6 = 1800, db = (0 - 1 + 1 + 0 - ~0 + ~0) / 6 = ~0
    assert cost_ref == pytest.approx(1800.0, rel=1e-15) and dw[0, 0] == pytest.approx(1800.0, rel=1e-15)
    assert abs(db) < 1e-30
    # a mean of 6 terms of at most 1e4: a few roundings of the dtype, relative to the result
    tol = 8 * _eps(case)
    check(case, cost, cost_ref, rtol=tol)
    check(case, grads["dw"], dw, rtol=tol)
    check(case, grads["db"], db, rtol=0.0, atol=tol)


# The overflow of w.T X itself is real and NumPy says so; the test is about what follows it.
@pytest.mark.filterwarnings("ignore:overflow encountered in matmul:RuntimeWarning")
def test_propagate_at_infinite_logits(case):
    """w.T X overflows to +inf and -inf: right answers, so the cost and the gradient are exactly 0."""
    big = 1e300 if case.dtype_name == "float64" else 1e30
    X = case.asarray([[big, -big]])
    grads, cost = xlogreg.propagate(case.asarray([[big]]), 0.0, X, case.asarray([[1.0, 0.0]]))
    check(case, cost, 0.0, atol=0.0)
    check(case, grads["dw"], [[0.0]], atol=0.0)
    check(case, grads["db"], 0.0, atol=0.0)
    # ... and one wrong answer at Z = +inf costs inf (the course's -log(1 - 1)), with a finite gradient
    grads, cost = xlogreg.propagate(case.asarray([[big]]), 0.0, X, case.asarray([[0.0, 0.0]]))
    assert case.to_numpy(cost) == np.inf
    check(case, grads["dw"], [[big / 2]], rtol=_eps(case))
    check(case, grads["db"], 0.5, rtol=_eps(case))
