"""Penalties on the weights W: their value, gradient, curvature, proximal step and optimality check, on the Array API.

The objective of :mod:`xlogreg._loss` is ``J = data term + penalty(W)``, the
biases never penalised. A penalty is a small object; the loss object and
the solvers ask it only for these (W of shape ``(n_x, k)``, every array
method vectorised over all the entries of W, nothing read back to the host):

====================================  ==================================================
``value(W)``                          the penalty, a 0-d array
``add_gradient(dW, W)``               ``dW`` plus the gradient of the penalty's smooth
                                      (L2) part at W
``add_hessian_product(HV, V)``        ``HV`` plus that part's Hessian times V
``add_hessian_diagonal(d)``           ``d`` plus that part's Hessian diagonal
``prox(W, step)``                     ``argmin_U ||U - W||^2 / (2 step) + penalty(U)``
``decay(step)``                       the factor an explicit gradient step of length
                                      `step` multiplies W by (``W - step dW``)
``min_norm_subgradient(W, dW)``       the smallest element of ``dW + subdifferential``
                                      (``dW`` the datafit's gradient): zero at the
                                      optimum; its norm is the L1 solvers' stopping rule
``subdiff_distance(W, dW)``           its absolute value, entry by entry (skglm's name)
``alpha_max(dW0)``                    the smallest strength whose optimum is ``W = 0``,
                                      from the datafit's gradient at ``W = 0``
``generalized_support(W)``            where the optimality condition is an equation
                                      (boolean, W's shape): ``W != 0`` for L1
``alpha``                             the strength
``l2_alpha``, ``l1_alpha``            the coefficients of the smooth part
                                      ``||W||^2 / 2`` and of the non-smooth ``||W||_1``
====================================  ==================================================

:class:`L2` is the course's ``lambda / (2 m) ||W||^2`` and scikit-learn's
``1 / (2 C) ||W||^2`` (in J's scale, divided by the total sample weight).
:class:`L1` and :class:`ElasticNet` are scikit-learn's ``l1_ratio`` penalty,
``alpha (r ||W||_1 + (1 - r) / 2 ||W||^2)``: scikit-learn's
``LogisticRegression(C=c, l1_ratio=r)`` minimises ``C sum_i s_i L_i + (1 - r)
/ 2 ||W||^2 + r ||W||_1``, which divided by ``C S`` is J with
``ElasticNet(alpha=1 / (C S), l1_ratio=r)``. Their ``prox`` is the soft
threshold (:func:`soft_threshold`), followed for the elastic net by the
shrinking of the L2 part. The methods are the few of skglm's separable
penalties (``penalties/separable.py``), written on whole arrays instead of one
coordinate at a time, so that a GPU runs them as a handful of kernels.
"""

from __future__ import annotations

import math

from array_api_compat import device as get_device

from ._namespace import array_namespace

__all__ = ["L2", "L1", "ElasticNet", "soft_threshold"]


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
        self.l2_alpha = self.alpha
        self.l1_alpha = 0.0

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

    def min_norm_subgradient(self, W, dW):
        """``dW + alpha W``: the penalty is smooth, its subdifferential one point."""
        return self.add_gradient(dW, W)

    def subdiff_distance(self, W, dW):
        """``|dW + alpha W|``, entry by entry."""
        xp = array_namespace(W)
        return xp.abs(self.min_norm_subgradient(W, dW))

    def alpha_max(self, dW0):
        """``inf``: no finite L2 strength makes the optimum exactly zero (0.0 where ``dW0`` is already 0)."""
        xp = array_namespace(dW0)
        return 0.0 if not float(xp.max(xp.abs(dW0))) else math.inf

    def generalized_support(self, W):
        """Every entry (the optimality condition is ``dW + alpha W = 0`` everywhere)."""
        xp = array_namespace(W)
        return xp.ones(W.shape, dtype=xp.bool, device=get_device(W))


def soft_threshold(W, threshold):
    """``sign(W) max(|W| - threshold, 0)``: the prox of ``threshold ||.||_1``, exact zeros where ``|W| <= threshold``.

    Parameters
    ----------
    W : array
    threshold : float >= 0, or array broadcasting against W
        One threshold, or one per entry (a zero leaves that entry unchanged:
        the biases in a solver's stacked vector).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> soft_threshold(xp.asarray([-3.0, -0.5, 0.0, 1.0, 2.5]), 1.0)
    Array([-2. , -0. ,  0. ,  0. ,  1.5], dtype=array_api_strict.float64)
    """
    xp = array_namespace(W)
    return xp.sign(W) * xp.maximum(xp.abs(W) - threshold, 0.0)


class ElasticNet:
    """``alpha (l1_ratio ||W||_1 + (1 - l1_ratio) / 2 ||W||^2)``, scikit-learn's and skglm's elastic net.

    The L2 part is smooth: :meth:`add_gradient`, :meth:`add_hessian_product`
    and :meth:`add_hessian_diagonal` are those of ``L2(l2_alpha)``; the L1
    part enters through :meth:`prox` and the optimality check. A solver that
    keeps the smooth part beside the datafit (a proximal Newton method)
    treats only ``l1_alpha ||W||_1`` by its prox.

    Parameters
    ----------
    alpha : float >= 0
        The strength in J's scale: ``1 / (C S)`` for scikit-learn's `C` and a
        total sample weight ``S``.
    l1_ratio : float in [0, 1]
        ``r``: 1 is the lasso's L1 (:class:`L1`), 0 is :class:`L2`.

    Attributes
    ----------
    l1_alpha : float
        ``alpha l1_ratio``, the coefficient of ``||W||_1``.
    l2_alpha : float
        ``alpha (1 - l1_ratio)``, the coefficient of ``||W||^2 / 2``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg.penalties import ElasticNet
    >>> W = xp.asarray([[3.0], [-0.5]])
    >>> net = ElasticNet(2.0, l1_ratio=0.5)  # ||W||_1 + ||W||^2 / 2
    >>> float(net.value(W))  # 3.5 + 9.25 / 2
    8.125
    >>> net.prox(W, 1.0)  # soft threshold at 1, then / (1 + 1)
    Array([[ 1.],
           [-0.]], dtype=array_api_strict.float64)
    """

    def __init__(self, alpha=0.0, l1_ratio=0.5):
        alpha, l1_ratio = float(alpha), float(l1_ratio)
        if not alpha >= 0 or math.isinf(alpha):
            raise ValueError(f"alpha must be a finite number >= 0; got {alpha!r}")
        if not 0 <= l1_ratio <= 1:
            raise ValueError(f"l1_ratio must be in [0, 1]; got {l1_ratio!r}")
        self.alpha, self.l1_ratio = alpha, l1_ratio
        self.l1_alpha = alpha * l1_ratio
        self.l2_alpha = alpha * (1 - l1_ratio)

    def __repr__(self):
        return f"{type(self).__name__}(alpha={self.alpha!r}, l1_ratio={self.l1_ratio!r})"

    def value(self, W):
        """``l1_alpha ||W||_1 + l2_alpha / 2 ||W||^2``, a 0-d array in W's namespace."""
        xp = array_namespace(W)
        value = self.l1_alpha * xp.sum(xp.abs(W))
        return value + self.l2_alpha / 2 * xp.sum(W * W) if self.l2_alpha else value

    def add_gradient(self, dW, W):
        """``dW + l2_alpha W``: the gradient of the smooth part only."""
        return dW + self.l2_alpha * W if self.l2_alpha else dW

    def add_hessian_product(self, HV, V):
        """``HV + l2_alpha V``."""
        return HV + self.l2_alpha * V if self.l2_alpha else HV

    def add_hessian_diagonal(self, d):
        """``d + l2_alpha``."""
        return d + self.l2_alpha if self.l2_alpha else d

    def prox(self, W, step):
        """``soft_threshold(W, step l1_alpha) / (1 + step l2_alpha)``, exact zeros where ``|W| <= step l1_alpha``.

        `step` is a number, or an array broadcasting against W (one step per
        entry: a diagonal metric).
        """
        U = soft_threshold(W, step * self.l1_alpha) if self.l1_alpha else W
        return U / (1 + step * self.l2_alpha) if self.l2_alpha else U

    def decay(self, step):
        """``1 - step l2_alpha``: the smooth part's factor in an explicit step (the L1 part needs the prox)."""
        return 1 - step * self.l2_alpha

    def min_norm_subgradient(self, W, dW):
        """The element of least magnitude of ``dW + l2_alpha W + l1_alpha d||W||_1``, entry by entry.

        With ``G = dW + l2_alpha W``: ``G + l1_alpha sign(W)`` where ``W != 0``,
        and ``sign(G) max(|G| - l1_alpha, 0)`` where ``W == 0`` (the
        subdifferential of ``|w|`` at 0 is ``[-1, 1]``). Zero everywhere exactly
        at the optimum (the KKT conditions); its Euclidean norm measures the
        distance to it, as the gradient's norm does for a smooth J.
        """
        xp = array_namespace(W)
        G = self.add_gradient(dW, W)
        return xp.where(W != 0, G + self.l1_alpha * xp.sign(W), soft_threshold(G, self.l1_alpha))

    def subdiff_distance(self, W, dW):
        """``|min_norm_subgradient(W, dW)|``: the distance of ``-dW`` to the subdifferential, entry by entry."""
        xp = array_namespace(W)
        return xp.abs(self.min_norm_subgradient(W, dW))

    def alpha_max(self, dW0):
        """``max |dW0| / l1_ratio``, a Python float (one host synchronisation).

        `dW0` is the datafit's gradient at ``W = 0`` with the biases at their
        optimum for ``W = 0``: ``W = 0`` is optimal exactly when every
        ``|dW0| <= alpha l1_ratio``. ``inf`` without an L1 part.
        """
        xp = array_namespace(dW0)
        top = float(xp.max(xp.abs(dW0)))
        if not top:
            return 0.0
        return top / self.l1_ratio if self.l1_ratio else math.inf

    def generalized_support(self, W):
        """``W != 0``: where the optimality condition is the equation ``G = -l1_alpha sign(W)``."""
        return W != 0


class L1(ElasticNet):
    """``alpha ||W||_1``: :class:`ElasticNet` with ``l1_ratio = 1``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg.penalties import L1
    >>> W = xp.asarray([[3.0], [-0.5]])
    >>> float(L1(2.0).value(W))
    7.0
    >>> L1(1.0).min_norm_subgradient(W, xp.asarray([[-0.5], [0.25]]))  # 1 - 0.5; 0.25 - 1
    Array([[ 0.5 ],
           [-0.75]], dtype=array_api_strict.float64)
    """

    def __init__(self, alpha=0.0):
        super().__init__(alpha, 1.0)

    def __repr__(self):
        return f"L1(alpha={self.alpha!r})"
