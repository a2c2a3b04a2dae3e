"""The loss object (xlogreg/_loss.py) against computations it did not do.

Values against a plain NumPy transcription of the formulas; gradients against
central finite differences, ``torch.autograd`` and ``jax.grad``; Hessian-vector
products against finite differences of the gradient. Binary and multinomial,
with and without sample weights and L2, on every backend.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import import_backend
from xlogreg import _loss


def numpy_objective(W, b, X, labels, n_classes, s, l2):
    """J = sum_i s_i L_i / S + l2 / (2 S) ||W||^2, written out with NumPy (float64)."""
    Z = W.T @ X + b
    S = s.sum()
    if n_classes == 2:
        y = labels
        A = 1 / (1 + np.exp(-Z))
        L = -(y * np.log(A) + (1 - y) * np.log(1 - A))
    else:
        T = (labels == np.arange(n_classes)[:, None]).astype(float)
        Zs = Z - Z.max(axis=0)
        logA = Zs - np.log(np.exp(Zs).sum(axis=0))
        L = -(T * logA).sum(axis=0, keepdims=True)
    return float((L * s).sum() / S + l2 / (2 * S) * (W * W).sum())


def problem(seed, n_x=5, m=12, n_classes=2, weighted=True):
    rng = np.random.default_rng(seed)
    k = 1 if n_classes == 2 else n_classes
    X = rng.standard_normal((n_x, m))
    labels = rng.integers(0, n_classes, (1, m)).astype(float)
    W = rng.standard_normal((n_x, k)) * 0.5
    b = rng.standard_normal((k, 1)) * 0.5
    s = rng.integers(0, 4, (1, m)).astype(float) + (0.0 if weighted else 1.0)
    if not weighted:
        s = np.ones((1, m))
    elif s.sum() == 0:
        s[0, 0] = 1.0
    return X, labels, W, b, s


def make_loss(X, labels, n_classes, s, l2, weighted=True):
    return _loss.LogisticLoss(X, labels, n_classes, sample_weight=s if weighted else None, l2=l2)


def finite_difference_gradient(f, W, b, h=1e-6):
    dW, db = np.zeros_like(W), np.zeros_like(b)
    for A, dA in ((W, dW), (b, db)):
        for idx in np.ndindex(A.shape):
            old = A[idx]
            A[idx] = old + h
            up = f()
            A[idx] = old - h
            down = f()
            A[idx] = old
            dA[idx] = (up - down) / (2 * h)
    return dW, db


CONFIGS = [(2, False, 0.0), (2, True, 0.7), (4, False, 0.0), (4, True, 0.7), (3, True, 0.0)]


@pytest.mark.parametrize(("n_classes", "weighted", "l2"), CONFIGS)
def test_value_and_gradient_against_numpy_and_finite_differences(n_classes, weighted, l2):
    X, labels, W, b, s = problem(1, n_classes=n_classes, weighted=weighted)
    loss = make_loss(X, labels, n_classes, s, l2, weighted)
    J, dW, db = loss.value_and_gradient(W, b)
    assert float(J) == pytest.approx(numpy_objective(W, b, X, labels, n_classes, s, l2), rel=1e-13)
    assert float(loss.value(W, b)) == pytest.approx(numpy_objective(W, b, X, labels, n_classes, s, l2), rel=1e-13)
    num_dW, num_db = finite_difference_gradient(lambda: numpy_objective(W, b, X, labels, n_classes, s, l2), W, b)
    np.testing.assert_allclose(dW, num_dW, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, num_db, rtol=1e-6, atol=1e-8)
    assert dW.shape == W.shape and db.shape == b.shape


@pytest.mark.parametrize(("n_classes", "weighted", "l2"), CONFIGS)
def test_hessian_product_against_finite_differences_of_the_gradient(n_classes, weighted, l2):
    X, labels, W, b, s = problem(2, n_classes=n_classes, weighted=weighted)
    loss = make_loss(X, labels, n_classes, s, l2, weighted)
    rng = np.random.default_rng(3)
    V, vb = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
    HV, Hvb = loss.hessian_product(W, b, V, vb)
    h = 1e-5
    up, down = loss.gradient(W + h * V, b + h * vb), loss.gradient(W - h * V, b - h * vb)
    np.testing.assert_allclose(HV, (up[0] - down[0]) / (2 * h), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(Hvb, (up[1] - down[1]) / (2 * h), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("n_classes", "weighted", "l2"), CONFIGS)
def test_gradient_against_torch_autograd(n_classes, weighted, l2):
    torch = import_backend("torch")
    X, labels, W, b, s = problem(4, n_classes=n_classes, weighted=weighted)
    Wt = torch.tensor(W, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    Z = Wt.T @ torch.tensor(X) + bt
    st_ = torch.tensor(s)
    if n_classes == 2:
        L = torch.nn.functional.binary_cross_entropy_with_logits(Z, torch.tensor(labels), reduction="none")
    else:
        L = torch.nn.functional.cross_entropy(Z.T, torch.tensor(labels[0]).long(), reduction="none")[None, :]
    J = (L * st_).sum() / st_.sum() + l2 / (2 * st_.sum()) * (Wt * Wt).sum()
    J.backward()
    loss = make_loss(X, labels, n_classes, s, l2, weighted)
    got_J, dW, db = loss.value_and_gradient(W, b)
    assert float(got_J) == pytest.approx(float(J.detach()), rel=1e-13)
    np.testing.assert_allclose(dW, Wt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("n_classes", "weighted", "l2"), CONFIGS)
def test_gradient_and_hessian_product_against_jax(n_classes, weighted, l2):
    jax = import_backend("jax")
    jnp = jax.numpy
    X, labels, W, b, s = problem(5, n_classes=n_classes, weighted=weighted)

    def J(params):
        W_, b_ = params
        Z = W_.T @ X + b_
        if n_classes == 2:
            L = jnp.logaddexp(0.0, -Z) * labels + jnp.logaddexp(0.0, Z) * (1 - labels)
        else:
            L = -jax.nn.log_softmax(Z, axis=0)[labels[0].astype(int), np.arange(X.shape[1])][None, :]
        return jnp.sum(L * s) / s.sum() + l2 / (2 * s.sum()) * jnp.sum(W_ * W_)

    rng = np.random.default_rng(6)
    V, vb = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
    gW, gb = jax.grad(J)((jnp.asarray(W), jnp.asarray(b)))
    _, (hW, hb) = jax.jvp(jax.grad(J), ((jnp.asarray(W), jnp.asarray(b)),), ((jnp.asarray(V), jnp.asarray(vb)),))
    loss = make_loss(X, labels, n_classes, s, l2, weighted)
    dW, db = loss.gradient(W, b)
    np.testing.assert_allclose(dW, np.asarray(gW), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(db, np.asarray(gb), rtol=1e-12, atol=1e-14)
    HV, Hvb = loss.hessian_product(W, b, V, vb)
    np.testing.assert_allclose(HV, np.asarray(hW), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(Hvb, np.asarray(hb), rtol=1e-11, atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_classes=st.sampled_from([2, 3, 5]), weighted=st.booleans(),
       l2=st.sampled_from([0.0, 0.1, 3.0]), scale=st.sampled_from([0.01, 1.0, 30.0]))
def test_gradient_property(seed, n_classes, weighted, l2, scale):
    """Finite differences at random points, including saturated logits (scale 30)."""
    X, labels, W, b, s = problem(seed, n_x=3, m=7, n_classes=n_classes, weighted=weighted)
    W, b = W * scale, b * scale
    loss = make_loss(X, labels, n_classes, s, l2, weighted)
    dW, db = loss.gradient(W, b)
    num_dW, num_db = finite_difference_gradient(lambda: float(loss.value(W, b)), W, b, h=1e-6)
    np.testing.assert_allclose(dW, num_dW, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(db, num_db, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_every_backend_agrees_with_numpy(case, n_classes):
    X, labels, W, b, s = problem(7, n_classes=n_classes)
    ref = make_loss(X, labels, n_classes, s, 0.5)
    J_ref, dW_ref, db_ref = ref.value_and_gradient(W, b)
    HV_ref, Hvb_ref = ref.hessian_product(W, b, W * 0.3, b * 0.3)
    loss = _loss.LogisticLoss(case.asarray(X), case.asarray(labels), n_classes, sample_weight=case.asarray(s),
                              l2=0.5)
    Wc, bc = case.asarray(W), case.asarray(b)
    J, dW, db = loss.value_and_gradient(Wc, bc)
    HV, Hvb = loss.hessian_product(Wc, bc, Wc * 0.3, bc * 0.3)
    tol = 1e-5 if case.dtype_name == "float32" else 1e-12
    for got, want in ((J, J_ref), (dW, dW_ref), (db, db_ref), (HV, HV_ref), (Hvb, Hvb_ref)):
        np.testing.assert_allclose(case.to_numpy(got), want, rtol=tol, atol=tol)
    assert str(dW.device if hasattr(dW, "device") else "") == str(Wc.device if hasattr(Wc, "device") else "")


@pytest.mark.parametrize(("n_classes", "weighted"), [(2, False), (2, True), (4, False), (4, True)])
def test_raw_pass_against_numpy(n_classes, weighted):
    """The pass the solvers call: ``(Z, X Q.T, sum(Q), sum_i s_i L_i)``; Q = 2 (A - Y) s (binary), (A - T) s."""
    X, labels, W, b, s = problem(9, n_classes=n_classes, weighted=weighted)
    Z = W.T @ X + b
    if n_classes == 2:
        T, Q = labels, 2 * (1 / (1 + np.exp(-Z)) - labels) * s
    else:
        T = (labels == np.arange(n_classes)[:, None]).astype(float)
        Q = (np.exp(Z) / np.exp(Z).sum(axis=0) - T) * s
    weights = s if weighted else None
    got_Z, G, q_sum, total = _loss.raw_pass(W, b, X, T, weights, n_classes > 2)
    np.testing.assert_allclose(got_Z, Z, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(G, X @ Q.T, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(q_sum, Q.sum(axis=1, keepdims=True), rtol=1e-12, atol=1e-13)
    assert float(total) == pytest.approx(numpy_objective(W, b, X, labels, n_classes, s, 0.0) * s.sum(), rel=1e-13)
    assert _loss.raw_pass(W, b, X, T, weights, n_classes > 2, with_loss=False)[3] is None


def numpy_hessian(W, b, X, labels, n_classes, s, l2):
    """The Hessian of J written out with NumPy: parameters class by class, each ``[W[:, c]; b[c]]``.

    Block (c, e) is ``Xa diag(s a_c (delta_ce - a_e) / S) Xa.T`` with ``Xa = [X; 1]`` (binary:
    ``a (1 - a)``), plus ``l2 / S`` on the diagonal of the W part; where the docstring promises a
    ridge (softmax, or no L2), ``1e-12`` times the largest entry on the whole diagonal.
    """
    n_x, m = X.shape
    Xa = np.vstack([X, np.ones((1, m))])
    S = s.sum()
    Z = W.T @ X + b
    if n_classes == 2:
        A = 1 / (1 + np.exp(-Z))
        blocks = [[Xa @ np.diag((A * (1 - A) * s / S)[0]) @ Xa.T]]
    else:
        A = np.exp(Z - Z.max(axis=0)) / np.exp(Z - Z.max(axis=0)).sum(axis=0)
        blocks = [[Xa @ np.diag(s[0] / S * A[c] * ((c == e) - A[e])) @ Xa.T for e in range(n_classes)]
                  for c in range(n_classes)]
    H = np.block(blocks)
    in_w = np.tile(np.r_[np.ones(n_x), 0.0], len(blocks))
    ridge = 1e-12 * np.abs(H).max() if n_classes > 2 or not l2 else 0.0
    return H + np.diag(in_w * l2 / S + ridge)


@pytest.mark.parametrize(("n_classes", "l2"), [(2, 0.7), (2, 0.0), (3, 0.7), (3, 0.0)])
def test_hessian_matrix_against_numpy_on_every_backend(case, n_classes, l2):
    """The formed Hessian, in X's dtype and on X's device; exact to rounding (no ridge where none is promised)."""
    X, labels, W, b, s = problem(8, n_x=4, m=15, n_classes=n_classes)
    want = numpy_hessian(W, b, X, labels, n_classes, s, l2)
    Xc = case.asarray(X)
    loss = _loss.LogisticLoss(Xc, case.asarray(labels), n_classes, sample_weight=case.asarray(s), l2=l2)
    H = loss.hessian_matrix(case.asarray(W), case.asarray(b))
    assert H.dtype == Xc.dtype
    assert str(getattr(H, "device", "")) == str(getattr(Xc, "device", ""))
    k = 1 if n_classes == 2 else n_classes
    assert tuple(H.shape) == (5 * k, 5 * k)
    # the ridge is 1e-12 of the largest entry: float64 rounding stays 10 times below it
    tol = 1e-5 if case.dtype_name == "float32" else 1e-13
    np.testing.assert_allclose(case.to_numpy(H), want, rtol=0, atol=tol * np.abs(want).max())


def blockwise_numpy_hessian(W, b, X, s, n_classes):
    """The data term of the Hessian as xlogreg formed it before issue 28: block (c, e) by itself, as
    ``X D X.T``, ``X D 1`` and ``sum(D)`` joined by concatenation (NumPy float64, no ``[X; 1]``)."""
    S = s.sum()
    Z = W.T @ X + b
    if n_classes == 2:
        A = 1 / (1 + np.exp(-Z))
        Ds = {(0, 0): A * (1 - A) * s / S}
        k = 1
    else:
        A = np.exp(Z - Z.max(axis=0)) / np.exp(Z - Z.max(axis=0)).sum(axis=0)
        k = n_classes
        Ds = {(c, e): A[c:c + 1] * (float(c == e) - A[e:e + 1]) * s / S for c in range(k) for e in range(c, k)}
    rows = []
    for c in range(k):
        row = []
        for e in range(k):
            D = Ds[(min(c, e), max(c, e))]
            XD1 = X @ D.T
            block = np.block([[(X * D) @ X.T, XD1], [XD1.T, D.sum(keepdims=True)]])
            row.append(block)
        rows.append(row)
    return np.block(rows)


@pytest.mark.parametrize(("n_classes", "weighted"), [(2, False), (2, True), (4, False), (4, True)])
@pytest.mark.parametrize("chunk", [None, 20])
def test_hessian_matrix_against_finite_differences_and_the_blockwise_formula(monkeypatch, n_classes, weighted,
                                                                            chunk):
    """Column by column, the formed Hessian is the central difference of the gradient; entry by entry, the
    old block-by-block formula (plus the L2 diagonal and the documented ridge); also read in chunks of examples
    (``chunk``: a few examples per chunk, the last one shorter)."""
    if chunk is not None:
        monkeypatch.setattr(_loss, "HESSIAN_CHUNK", chunk * 2 * (6 * (1 if n_classes == 2 else n_classes)))
    X, labels, W, b, s = problem(21, n_x=5, m=47, n_classes=n_classes, weighted=weighted)
    l2 = 0.3
    loss = make_loss(X, labels, n_classes, s, l2, weighted)
    H = loss.hessian_matrix(W, b)
    k = W.shape[1]
    size = 6 * k
    want = blockwise_numpy_hessian(W, b, X, s if weighted else np.ones_like(s), n_classes)
    in_w = np.tile(np.r_[np.ones(5), 0.0], k)
    ridge = 1e-12 * np.abs(want).max() if n_classes > 2 else 0.0  # of the data term, as documented
    want = want + np.diag(in_w * l2 / (s.sum() if weighted else s.shape[1]) + ridge)
    np.testing.assert_allclose(H, want, rtol=0, atol=1e-14 * np.abs(want).max())
    np.testing.assert_array_equal(H, H.T) if n_classes == 2 else np.testing.assert_allclose(H, H.T, atol=1e-16)
    h = 1e-6
    for j in range(size):
        e = np.zeros(size)
        e[j] = 1.0
        E = e.reshape(k, 6).T  # the order of the parameters: class by class, [W[:, c]; b[c]]
        up = loss.gradient(W + h * E[:5], b + h * E[5:].T)
        down = loss.gradient(W - h * E[:5], b - h * E[5:].T)
        column = np.concatenate([np.vstack([up[0][:, c:c + 1] - down[0][:, c:c + 1],
                                            up[1][c:c + 1] - down[1][c:c + 1]]) for c in range(k)]).ravel() / (2 * h)
        np.testing.assert_allclose(H[:, j], column, rtol=1e-6, atol=1e-9)


def test_hessian_matrix_keeps_saturated_diagonal_blocks_accurate():
    """Where a class probability is within 1e-14 of 1, the diagonal blocks keep their accuracy: computed
    from ``p (1 - p)``, not as the difference ``Xa diag(p) Xa.T - Xa diag(p^2) Xa.T`` of two O(1) matrices
    (shown here to lose it), against float64 NumPy from the exact ``1 - p``. ``1 - p`` of a rounded p keeps
    about 2 digits at this saturation, hence the tolerance."""
    rng = np.random.default_rng(5)
    m = 30
    X = rng.standard_normal((3, m)) + 2.0
    labels = rng.integers(0, 3, (1, m)).astype(float)
    W = np.zeros((3, 3))
    b = np.array([[33.0], [0.0], [0.0]])
    loss = _loss.LogisticLoss(X, labels, 3)
    H = loss.hessian_matrix(W, b)
    Xa = np.vstack([X, np.ones((1, m))])
    q = np.exp(-33.0) / (1 + 2 * np.exp(-33.0))  # each other class's probability
    one_minus_p0 = 2 * q
    want = Xa @ np.diag(np.full(m, (1 - one_minus_p0) * one_minus_p0 / m)) @ Xa.T
    ridge = 1e-12 * np.abs(H).max()
    np.testing.assert_allclose(H[:4, :4] - np.eye(4) * ridge, want, rtol=1e-2)
    p0 = 1 / (1 + 2 * np.exp(-33.0))
    cancelled = Xa @ np.diag(np.full(m, p0 / m)) @ Xa.T - Xa @ np.diag(np.full(m, p0 * p0 / m)) @ Xa.T
    assert np.max(np.abs(cancelled - want) / np.abs(want)) > 0.03  # the test can tell the two apart


def test_hessian_matrix_of_a_sparse_X_matches_the_dense_one():
    """The sparse data interface keeps the block-by-block products; both give the same matrix."""
    scipy_sparse = pytest.importorskip("scipy.sparse")
    from xlogreg.data import sparse

    X, labels, W, b, s = problem(23, n_x=6, m=40, n_classes=3)
    X = X * (np.abs(X) > 0.8)
    dense = _loss.LogisticLoss(X, labels, 3, sample_weight=s).hessian_matrix(W, b)
    Xs = sparse.as_matrix(scipy_sparse.csr_array(X), "X")
    got = _loss.LogisticLoss(Xs, labels, 3, sample_weight=s).hessian_matrix(W, b)
    np.testing.assert_allclose(np.asarray(got), dense, rtol=0, atol=1e-14 * np.abs(dense).max())


def test_extreme_logits_stay_finite():
    """Confident right answers cost 0, confident wrong ones the logit gap, never inf or NaN.

    Binary: z = 800 everywhere, two labels 1 (cost 0) and two 0 (cost 800 each): mean 400.
    Softmax: z = (800, 0, -800), two labels 0 (cost 0), two 2 (cost 800 - (-800) = 1600): mean 800.
    """
    X = np.array([[1.0, 1.0, 1.0, 1.0]])
    for n_classes, W, labels in ((2, np.array([[800.0]]), np.array([[1.0, 1.0, 0.0, 0.0]])),
                                 (3, np.array([[800.0, 0.0, -800.0]]), np.array([[0.0, 0.0, 2.0, 2.0]]))):
        k = W.shape[1]
        loss = _loss.LogisticLoss(X, labels, n_classes)
        J, dW, db = loss.value_and_gradient(W, np.zeros((k, 1)))
        assert float(J) == pytest.approx(400.0 if n_classes == 2 else 800.0, rel=1e-12)
        assert np.all(np.isfinite(dW)) and np.all(np.isfinite(db))


def test_softmax_shifts_each_example_by_its_own_largest_logit():
    """Examples whose logits lie far apart: each column is shifted by its own maximum, never the global one.

    Example 1 has logits (800, 799, 0) and label 0: loss log(1 + e^-1 + e^-800) = log(1 + e^-1);
    example 2 has (-800, -799, 0) and label 2: loss log(1 + e^-799 + e^-800) = 0 in float64.
    A shift by the largest logit of all (800) would underflow example 2's exponentials to 0.
    """
    X = np.array([[1.0, -1.0]])
    W = np.array([[800.0, 799.0, 0.0]])
    loss = _loss.LogisticLoss(X, np.array([[0.0, 2.0]]), 3)
    J, dW, db = loss.value_and_gradient(W, np.zeros((3, 1)))
    assert float(J) == pytest.approx(np.log1p(np.exp(-1.0)) / 2, rel=1e-14)
    # softmax of the two columns, by hand: (1, e^-1, 0) / (1 + e^-1) and (0, 0, 1); residuals A - T over m = 2
    a = np.array([[1.0, np.exp(-1.0), 0.0]]).T / (1 + np.exp(-1.0))
    R = (np.hstack([a, [[0.0], [0.0], [1.0]]]) - np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])) / 2
    np.testing.assert_allclose(dW, X @ R.T, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(db, R.sum(axis=1, keepdims=True), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_zeros_in_the_dtype_and_on_the_device_of_X(case, n_classes):
    Xc = case.asarray(np.ones((4, 6)))
    W, b = _loss.LogisticLoss(Xc, case.asarray(np.zeros((1, 6))), n_classes).zeros()
    k = 1 if n_classes == 2 else n_classes
    assert tuple(W.shape) == (4, k) and tuple(b.shape) == (k, 1)
    for a in (W, b):
        assert a.dtype == Xc.dtype
        assert str(getattr(a, "device", "")) == str(getattr(Xc, "device", ""))
        assert not np.any(case.to_numpy(a))


def test_two_classes_by_default():
    """``LogisticLoss(X, labels)`` is the course's binary loss: one row of logits, J as written in NumPy."""
    X, labels, W, b, s = problem(10, n_classes=2, weighted=False)
    loss = _loss.LogisticLoss(X, labels)
    assert loss.k == 1 and not loss.multinomial and loss.n_classes == 2
    assert float(loss.value(W, b)) == pytest.approx(numpy_objective(W, b, X, labels, 2, s, 0.0), rel=1e-13)


# ---------------------------------------------------------------------------------------------------
# Session 7 (docs/mutation-testing.md): the curvature pieces that the Hessian operator is made of.


def numpy_curvature_times(Z, U, n_classes, s):
    """The data term's second derivative in the logits applied to U, written out: binary ``a (1 - a) u s / S``,
    softmax ``(a u - a sum_k(a u)) s / S`` per column."""
    if n_classes == 2:
        A = 1 / (1 + np.exp(-Z))
        D = A * (1 - A) * U
    else:
        E = np.exp(Z - Z.max(axis=0))
        A = E / E.sum(axis=0)
        D = A * U - A * (A * U).sum(axis=0)
    return D * s / s.sum()


@pytest.mark.parametrize("n_classes, weighted", [(2, False), (2, True), (3, False), (3, True)])
def test_curvature_applied_against_numpy(n_classes, weighted):
    X, labels, W, b, s = problem(41, n_classes=n_classes, weighted=weighted)
    rng = np.random.default_rng(42)
    Z = W.T @ X + b
    U = rng.standard_normal(Z.shape)
    multinomial = n_classes > 2
    D = _loss.curvature_apply(*_loss.curvature(Z, s if weighted else None, s.sum(), multinomial), U, multinomial)
    np.testing.assert_allclose(D, numpy_curvature_times(Z, U, n_classes, s), rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_hessian_operator_settles_the_probabilities_once_and_uses_them(n_classes):
    """settle(P, Ps) is called once, with the probabilities (softmax, or a (1 - a) for the binary loss) and
    their scaled copy; what it returns is what every product uses (here: the NumPy Hessian's products)."""
    X, labels, W, b, s = problem(43, n_x=4, m=15, n_classes=n_classes)
    loss = make_loss(X, labels, n_classes, s, 0.7)
    settled = []

    def settle(P, Ps):
        settled.append((np.array(P), np.array(Ps)))
        return np.array(P), np.array(Ps)

    operator = loss.hessian_operator(W, b, settle)
    Z = W.T @ X + b
    if n_classes == 2:
        A = 1 / (1 + np.exp(-Z))
        P = A * (1 - A)
    else:
        E = np.exp(Z - Z.max(axis=0))
        P = E / E.sum(axis=0)
    assert len(settled) == 1
    np.testing.assert_allclose(settled[0][0], P, rtol=1e-13)
    np.testing.assert_allclose(settled[0][1], P * s / s.sum(), rtol=1e-13)
    H = numpy_hessian(W, b, X, labels, n_classes, s, 0.7)
    k = b.shape[0]
    rng = np.random.default_rng(44)
    for _ in range(2):
        V, vb = rng.standard_normal((4, k)), rng.standard_normal((k, 1))
        HV, Hvb = operator(V, vb)
        want = (H @ np.vstack([V, vb.T]).T.reshape(-1)).reshape(k, 5).T
        scale = np.abs(want).max()
        np.testing.assert_allclose(HV, want[:4], rtol=0, atol=1e-11 * scale)
        np.testing.assert_allclose(Hvb, want[4:].T, rtol=0, atol=1e-11 * scale)
    assert len(settled) == 1


# --- lines: J along (W, b) + t (pW, pb) from the logits ------------------------------------------------


def numpy_gradient(W, b, X, labels, n_classes, s, l2):
    """(dW, db) written out with NumPy: X (A - T).T s / S + l2 / S W, sum((A - T) s) / S."""
    Z = W.T @ X + b
    S = s.sum()
    if n_classes == 2:
        R = (1 / (1 + np.exp(-Z)) - labels) * s / S
    else:
        T = (labels == np.arange(n_classes)[:, None]).astype(float)
        E = np.exp(Z - Z.max(axis=0))
        R = (E / E.sum(axis=0) - T) * s / S
    return X @ R.T + l2 / S * W, R.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("n_classes", "weighted", "l2"), CONFIGS)
def test_line_values_slopes_and_point_against_numpy(n_classes, weighted, l2):
    """Line(t) is J(W + t pW, b + t pb) written out in NumPy; its slope is the central difference of that;
    point(t) is the point, its logits and the NumPy gradient there; a Z handed over gives the same line."""
    X, labels, W, b, s = problem(3, n_classes=n_classes, weighted=weighted)
    rng = np.random.default_rng(11)
    pW, pb = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
    loss = make_loss(X, labels, n_classes, s, l2, weighted)
    assert loss.line_ready == (n_classes == 2)  # where L-BFGS uses lines; the softmax's are built all the same
    line = loss.line(W, b, pW, pb)
    along = lambda t: numpy_objective(W + t * pW, b + t * pb, X, labels, n_classes, s, l2)  # noqa: E731
    for t in (0.0, 0.3, 1.0, 2.5):
        J, slope = line.value_and_slope(t)
        assert float(J) == pytest.approx(along(t), rel=1e-12, abs=1e-12)
        h = 1e-6
        assert float(slope) == pytest.approx((along(t + h) - along(t - h)) / (2 * h), rel=1e-6, abs=1e-8)
    Wt, bt, Zt, Jt, dW, db = line.point(0.3)  # not the last trial: computed again
    np.testing.assert_allclose(Wt, W + 0.3 * pW, rtol=1e-15)
    np.testing.assert_allclose(bt, b + 0.3 * pb, rtol=1e-15)
    np.testing.assert_allclose(Zt, (W + 0.3 * pW).T @ X + b + 0.3 * pb, rtol=1e-12, atol=1e-12)
    assert float(Jt) == pytest.approx(along(0.3), rel=1e-12)
    dW_ref, db_ref = numpy_gradient(Wt, bt, X, labels, n_classes, s, l2)
    np.testing.assert_allclose(dW, dW_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, db_ref, rtol=1e-10, atol=1e-12)
    handed = loss.line(Wt, bt, pW, pb, Zt)  # from the handed-over logits: no product for Z
    J, _ = handed.value_and_slope(1.0)
    assert float(J) == pytest.approx(along(1.3), rel=1e-12)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_line_on_every_backend_agrees_with_numpy(case, n_classes):
    """Where the loss offers lines (everywhere but Dask, whose evaluations stay one task per chunk)."""
    if case.backend == "dask":
        assert not _loss.LogisticLoss(case.asarray(problem(5)[0]), case.asarray(problem(5)[1]), 2).line_ready
        return
    X, labels, W, b, s = problem(5, n_classes=n_classes)
    pW, pb = W[::-1] * 0.7 + 0.1, b * -0.4
    ref = make_loss(X, labels, n_classes, s, 0.5).line(W, b, pW, pb)
    J_ref, slope_ref = ref.value_and_slope(0.6)
    _, _, _, _, dW_ref, db_ref = ref.point(0.6)
    loss = _loss.LogisticLoss(case.asarray(X), case.asarray(labels), n_classes, sample_weight=case.asarray(s),
                              l2=0.5)
    line = loss.line(*(case.asarray(np.ascontiguousarray(a)) for a in (W, b, pW, pb)))
    J, slope = line.value_and_slope(0.6)
    _, _, Z, _, dW, db = line.point(0.6)
    tol = 1e-5 if case.dtype_name == "float32" else 1e-12
    for got, want in ((J, J_ref), (slope, slope_ref), (dW, dW_ref), (db, db_ref)):
        np.testing.assert_allclose(case.to_numpy(got), want, rtol=tol, atol=tol)
    assert str(getattr(Z, "device", "")) == str(getattr(case.asarray(X), "device", ""))


def test_lines_where_they_pay_within_their_memory_and_never_on_dask(monkeypatch):
    """L-BFGS uses lines for the binary loss up to LINE_MAX_BYTES per (k, m) array, never for the softmax
    (a trial's softmax is most of an evaluation's cost), never on Dask."""
    X, labels, W, b, s = problem(2, n_classes=2)
    monkeypatch.setattr(_loss, "LINE_MAX_BYTES", 12 * 8 - 1)  # one (1, m) float64 array is 12 * 8 bytes
    assert not make_loss(X, labels, 2, s, 0.0).line_ready
    monkeypatch.setattr(_loss, "LINE_MAX_BYTES", 12 * 8)
    assert make_loss(X, labels, 2, s, 0.0).line_ready
    X3, labels3, _, _, s3 = problem(2, n_classes=3)
    assert not make_loss(X3, labels3, 3, s3, 0.0).line_ready
    da = pytest.importorskip("dask.array")
    lazy = _loss.LogisticLoss(da.from_array(X, chunks=(5, 6)), da.from_array(labels, chunks=(1, 6)), 2)
    assert not lazy.line_ready
    with pytest.raises(ValueError, match="Dask"):
        lazy.line(W, b, W, b)
