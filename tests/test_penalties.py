"""xlogreg.penalties: L2, L1 and the elastic net, against hand-worked values and brute-force minimisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from array_api_compat import array_namespace, device as get_device
from scipy.optimize import minimize_scalar

from xlogreg.penalties import L1, L2, ElasticNet, soft_threshold

W = np.array([[3.0, -0.5], [0.0, 1.5], [-2.0, 0.0]])


def test_soft_threshold_hand_worked():
    out = soft_threshold(np.array([-3.0, -0.5, 0.0, 1.0, 2.5]), 1.0)
    np.testing.assert_array_equal(out, [-2.0, 0.0, 0.0, 0.0, 1.5])
    assert np.count_nonzero(out) == 2  # exact zeros, not tiny numbers
    # one threshold per entry: zero leaves the entry unchanged (the biases in a stacked vector)
    np.testing.assert_array_equal(soft_threshold(np.array([2.0, 2.0]), np.array([0.5, 0.0])), [1.5, 2.0])


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.2])
@pytest.mark.parametrize("step", [0.3, 2.0])
def test_prox_is_the_minimiser(l1_ratio, step):
    """prox(W, step) entry by entry against SciPy's scalar minimiser of ``(u - w)^2 / (2 step) + penalty(u)``."""
    pen = ElasticNet(1.5, l1_ratio)
    a1, a2 = 1.5 * l1_ratio, 1.5 * (1 - l1_ratio)
    out = pen.prox(W, step)
    for w, u in zip(W.ravel(), out.ravel()):
        best = minimize_scalar(lambda x: (x - w) ** 2 / (2 * step) + a1 * abs(x) + a2 / 2 * x * x,
                               bounds=(-10, 10), method="bounded", options={"xatol": 1e-12}).x
        assert u == pytest.approx(best, abs=1e-7)
    assert not np.shares_memory(out, W)


def test_values_hand_worked():
    # ||W||_1 = 7, ||W||^2 = 9 + 0.25 + 2.25 + 4 = 15.5
    assert float(L1(2.0).value(W)) == pytest.approx(14.0)
    assert float(ElasticNet(2.0, 0.25).value(W)) == pytest.approx(0.5 * 7 + 1.5 / 2 * 15.5)
    assert float(L2(2.0).value(W)) == pytest.approx(15.5)
    pen = ElasticNet(2.0, 0.25)
    assert (pen.l1_alpha, pen.l2_alpha) == (0.5, 1.5)
    assert (L1(2.0).l1_alpha, L1(2.0).l2_alpha, L2(2.0).l1_alpha, L2(2.0).l2_alpha) == (2.0, 0.0, 0.0, 2.0)
    np.testing.assert_array_equal(pen.add_gradient(np.zeros_like(W), W), 1.5 * W)  # the smooth part only
    np.testing.assert_array_equal(L1(2.0).add_gradient(W, W), W)
    assert pen.add_hessian_diagonal(1.0) == 2.5 and pen.decay(0.1) == pytest.approx(0.85)


def test_min_norm_subgradient_hand_worked():
    """Where w != 0: g + l2 w + l1 sign(w); where w == 0: the soft threshold of g at l1."""
    dW = np.array([[-0.5, 0.25], [0.3, 0.0], [1.0, -2.5]])
    got = L1(1.0).min_norm_subgradient(W, dW)
    np.testing.assert_allclose(got, [[0.5, -0.75], [0.0, 1.0], [0.0, -1.5]])
    np.testing.assert_array_equal(L1(1.0).subdiff_distance(W, dW), np.abs(got))
    net = ElasticNet(2.0, 0.5).min_norm_subgradient(W, dW)  # l1 = l2 = 1: e.g. 0 + 1.5 + 1 at w = 1.5
    np.testing.assert_allclose(net, [[3.5, -1.25], [0.0, 2.5], [-2.0, -1.5]])
    np.testing.assert_allclose(L2(2.0).min_norm_subgradient(W, dW), dW + 2 * W)


def test_zero_subgradient_is_a_fixed_point_of_the_prox():
    """min_norm_subgradient(W, g) == 0 exactly when W = prox(W - t g, t) (the optimality of a composite problem)."""
    pen = ElasticNet(1.0, 0.7)  # l1 = 0.7, l2 = 0.3
    rng = np.random.default_rng(0)
    for _ in range(20):
        Wr = rng.normal(size=(4, 3)) * (rng.random((4, 3)) > 0.4)
        g = rng.normal(size=(4, 3))
        # about half the entries made optimal by hand: |g| <= l1 at w = 0, g = -l1 sign(w) - l2 w elsewhere
        optimal = rng.random((4, 3)) > 0.5
        g = np.where(optimal, np.where(Wr == 0, rng.uniform(-0.7, 0.7, (4, 3)), -0.7 * np.sign(Wr) - 0.3 * Wr), g)
        fixed = np.abs(pen.prox(Wr - 0.5 * g, 0.5) - Wr) < 1e-12
        zero = np.abs(pen.min_norm_subgradient(Wr, g)) < 1e-12
        np.testing.assert_array_equal(fixed, zero)
        assert np.all(zero[optimal])


def test_alpha_max_and_support():
    dW0 = np.array([[-0.5], [0.2]])
    assert L1(3.0).alpha_max(dW0) == 0.5
    assert ElasticNet(3.0, 0.25).alpha_max(dW0) == 2.0
    assert ElasticNet(3.0, 0.0).alpha_max(dW0) == math.inf and L2(1.0).alpha_max(dW0) == math.inf
    assert L1(1.0).alpha_max(np.zeros((2, 1))) == 0.0
    # at alpha_max, W = 0 is optimal (the subgradient vanishes); just below it is not
    assert not np.any(L1(0.5).min_norm_subgradient(np.zeros((2, 1)), dW0))
    assert np.any(L1(0.4999).min_norm_subgradient(np.zeros((2, 1)), dW0))
    np.testing.assert_array_equal(L1(1.0).generalized_support(W), W != 0)
    assert np.all(L2(1.0).generalized_support(W))


@pytest.mark.parametrize("args, message", [((-1.0, 0.5), "alpha must be a finite number >= 0; got -1.0"),
                                           ((math.inf, 0.5), "alpha must be a finite number >= 0; got inf"),
                                           ((1.0, 1.5), r"l1_ratio must be in \[0, 1\]; got 1.5"),
                                           ((1.0, math.nan), r"l1_ratio must be in \[0, 1\]; got nan")])
def test_elastic_net_refuses_bad_parameters(args, message):
    with pytest.raises(ValueError, match=message):
        ElasticNet(*args)


def test_every_backend_keeps_namespace_device_and_dtype(case):
    pen = ElasticNet(2.0, 0.5)
    Wc, dW = case.asarray(W), case.asarray(np.array([[-0.5, 0.25], [0.3, 0.0], [1.0, -2.5]]))
    outputs = [pen.prox(Wc, 1.0), pen.min_norm_subgradient(Wc, dW), pen.subdiff_distance(Wc, dW),
               soft_threshold(Wc, 1.0), pen.value(Wc), L2(1.0).min_norm_subgradient(Wc, dW)]
    for out in outputs:
        assert array_namespace(out) is case.xp
        assert get_device(out) == case.device and out.dtype == case.dtype
    support = pen.generalized_support(Wc)
    assert array_namespace(support) is case.xp and get_device(support) == case.device
    assert array_namespace(L2(1.0).generalized_support(Wc)) is case.xp
    np.testing.assert_allclose(case.to_numpy(outputs[0]), pen.prox(W, 1.0), rtol=case.rtol)
    np.testing.assert_allclose(case.to_numpy(outputs[1]), np.array([[3.5, -1.25], [0.0, 2.5], [-2.0, -1.5]]),
                               rtol=case.rtol)
    assert L1(1.0).alpha_max(dW) == pytest.approx(2.5, rel=case.rtol)


def test_l2_hand_worked(case):
    """Every method on every backend, in the input's namespace, device and dtype."""
    W = case.asarray([[3.0], [-4.0]])
    penalty = L2(0.5)
    results = {
        "value": (penalty.value(W), 0.5 / 2 * 25),
        "gradient": (penalty.add_gradient(W * 0 + 1, W), [[1 + 1.5], [1 - 2.0]]),
        "hessian product": (penalty.add_hessian_product(W * 0, W), [[1.5], [-2.0]]),
        "hessian diagonal": (penalty.add_hessian_diagonal(W * 0 + 2), [[2.5], [2.5]]),
        # argmin_U ||U - W||^2 / (2 t) + alpha/2 ||U||^2 = W / (1 + t alpha); t = 2: W / 2
        "prox": (penalty.prox(W, 2.0), [[1.5], [-2.0]]),
    }
    for what, (got, expected) in results.items():
        assert str(get_device(got)) == str(get_device(W)), what
        assert got.dtype == W.dtype, what
        np.testing.assert_allclose(case.to_numpy(got), expected, rtol=case.rtol, err_msg=what)
    assert penalty.decay(0.1) == pytest.approx(1 - 0.05)


def test_l2_prox_minimises_its_objective():
    """The prox against a brute-force minimisation of ||U - W||^2 / (2 t) + alpha/2 U^2 on a grid."""
    W, t, alpha = np.asarray([[0.7]]), 0.3, 2.5
    grid = np.linspace(-2, 2, 400001)
    objective = (grid - W[0, 0]) ** 2 / (2 * t) + alpha / 2 * grid ** 2
    assert float(L2(alpha).prox(W, t)[0, 0]) == pytest.approx(grid[np.argmin(objective)], abs=1e-5)


def test_zero_l2_returns_its_inputs_unchanged():
    """No penalty costs no array operation: the same objects come back."""
    W = np.ones((3, 2))
    penalty = L2(0.0)
    assert penalty.add_gradient(W, W) is W and penalty.add_hessian_product(W, W) is W
    assert penalty.add_hessian_diagonal(W) is W and penalty.prox(W, 1.0) is W
    assert float(penalty.value(W)) == 0.0 and penalty.decay(0.5) == 1.0
    assert repr(L2(0.25)) == "L2(alpha=0.25)"


def test_the_loss_asks_its_penalty(monkeypatch):
    """LogisticLoss's gradient and Hessian product go through its penalty object (adding a penalty is one class)."""
    from xlogreg._loss import LogisticLoss

    X, labels = np.asarray([[1.0, -1.0, 2.0]]), np.asarray([[1.0, 0.0, 1.0]])
    loss = LogisticLoss(X, labels, l2=3.0)
    asked = []

    class Spy(L2):
        def add_gradient(self, dW, W):
            asked.append("gradient")
            return super().add_gradient(dW, W)

        def add_hessian_product(self, HV, V):
            asked.append("hessian")
            return super().add_hessian_product(HV, V)

    loss.penalty_term = Spy(loss.alpha)
    W, b = np.asarray([[0.5]]), np.asarray([[0.1]])
    loss.gradient(W, b)
    loss.hessian_product(W, b, W, b)
    assert asked == ["gradient", "hessian"]
