"""Penalties on the weights W: their value, gradient, curvature and proximal step, on the Array API.

The objective of :mod:`xlogreg._loss` is ``J = data term + penalty(W)``, the
biases never penalised. A penalty is a small object; the loss object and
the solvers ask it only for these (W of shape ``(n_x, k)``):

==============================  ==================================================
``value(W)``                    the penalty, a 0-d array
``add_gradient(dW, W)``         ``dW`` plus the penalty's gradient at W
``add_hessian_product(HV, V)``  ``HV`` plus the penalty's Hessian times V
``add_hessian_diagonal(d)``     ``d`` plus the penalty's Hessian diagonal
``prox(W, step)``               ``argmin_U ||U - W||^2 / (2 step) + penalty(U)``
``decay(step)``                 the factor an explicit gradient step of length
                                `step` multiplies W by (``W - step dW``)
``alpha``                       the strength of the smooth (L2) part
==============================  ==================================================

Today: :class:`L2`, the course's ``lambda / (2 m) ||W||^2`` and
scikit-learn's ``1 / (2 C) ||W||^2`` (in J's scale, divided by the total
sample weight). L1 and the elastic net join here as classes with the same
methods, their ``prox`` the soft threshold.
"""

from __future__ import annotations

from array_api_compat import array_namespace

__all__ = ["L2"]


class L2:
    """``alpha / 2 ||W||^2``.

    Parameters
    ----------
    alpha : float >= 0
        The strength in J's scale: ``l2 / S`` for ``train``'s `l2` and a total
        sample weight ``S``. Zero is no penalty: every method then returns its
        input unchanged (no extra array operation).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg.penalties import L2
    >>> W = xp.asarray([[3.0], [4.0]])
    >>> float(L2(0.5).value(W))  # 0.5 / 2 * 25
    6.25
    >>> L2(0.5).prox(W, 2.0)  # W / (1 + 2 * 0.5)
    Array([[1.5],
           [2. ]], dtype=array_api_strict.float64)
    """

    def __init__(self, alpha=0.0):
        self.alpha = float(alpha)

    def __repr__(self):
        return f"L2(alpha={self.alpha!r})"

    def value(self, W):
        """``alpha / 2 ||W||^2``, a 0-d array in W's namespace."""
        xp = array_namespace(W)
        return self.alpha / 2 * xp.sum(W * W)

    def add_gradient(self, dW, W):
        """``dW + alpha W``."""
        return dW + self.alpha * W if self.alpha else dW

    def add_hessian_product(self, HV, V):
        """``HV + alpha V``."""
        return HV + self.alpha * V if self.alpha else HV

    def add_hessian_diagonal(self, d):
        """``d + alpha``."""
        return d + self.alpha if self.alpha else d

    def prox(self, W, step):
        """``W / (1 + step alpha)``: the minimiser of ``||U - W||^2 / (2 step) + alpha / 2 ||U||^2``."""
        return W / (1 + step * self.alpha) if self.alpha else W

    def decay(self, step):
        """``1 - step alpha``: gradient descent's step ``W - step (dW_data + alpha W)`` scales W by it."""
        return 1 - step * self.alpha
