"""xlogreg.penalties: the L2 term's value, gradient, curvature and proximal step, against hand-worked values."""

import numpy as np
import pytest
from array_api_compat import device as get_device

from xlogreg.penalties import L2


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
