"""xlogreg.data: the data interface on dense arrays, against plain NumPy, on every backend and device."""

import numpy as np
import pytest
from array_api_compat import device as get_device

from xlogreg import _loss, data
from xlogreg.data import dense


def _problem(rng, n_x=4, m=7, k=3):
    return rng.standard_normal((n_x, m)), rng.standard_normal((n_x, k)), rng.standard_normal((k, 1))


def test_operations_of_an_array_is_the_dense_module(case):
    X = case.asarray(np.ones((2, 3)))
    assert data.operations(X) is dense


def test_dense_operations_against_numpy(case):
    rng = np.random.default_rng(0)
    Xh, Wh, bh = _problem(rng)
    Rh, Dh = rng.standard_normal((3, 7)), rng.uniform(0.1, 1.0, (1, 7))
    X, W, b, R, D = (case.asarray(a) for a in (Xh, Wh, bh, Rh, Dh))
    expected = {
        "forward": (dense.forward(W, b, X), Wh.T @ Xh + bh),
        "forward without b": (dense.forward(W, None, X), Wh.T @ Xh),
        "backward": (dense.backward(X, R), Xh @ Rh.T),
        "gram": (dense.gram(X), Xh.T @ Xh),
        "weighted gram": (dense.weighted_gram(X, D), Xh @ np.diag(Dh[0]) @ Xh.T),
        "weighted gram, D >= 0": (dense.weighted_gram(X, D, nonnegative=True), Xh @ np.diag(Dh[0]) @ Xh.T),
        "squares backward": (dense.squares_backward(X, R), (Xh * Xh) @ Rh.T),
    }
    for what, (got, want) in expected.items():
        assert str(get_device(got)) == str(get_device(X)) and got.dtype == X.dtype, what
        np.testing.assert_allclose(case.to_numpy(got), want, rtol=100 * case.rtol, atol=100 * case.rtol,
                                   err_msg=what)


def test_take_rows_against_numpy(case):
    rng = np.random.default_rng(2)
    Xh = rng.standard_normal((6, 9))
    X = case.asarray(Xh)
    xp = case.xp
    index = xp.asarray([0, 2, 5], device=get_device(X))
    got = dense.take_rows(X, index)
    assert str(get_device(got)) == str(get_device(X)) and got.dtype == X.dtype
    np.testing.assert_array_equal(case.to_numpy(got), case.to_numpy(X)[[0, 2, 5]])


def test_take_rows_of_a_transposed_numpy_array_reads_it_as_it_is_stored(monkeypatch):
    """The estimator's X.T view: gathered as columns of the C-ordered array, never copied whole first."""
    A = np.random.default_rng(3).standard_normal((50, 8))  # (m, n_x), C order: the user's X
    from array_api_compat import array_namespace

    xp = array_namespace(A)
    calls = []
    real_take = xp.take

    def spy(a, indices, axis=None, **kwargs):
        calls.append((a.flags.c_contiguous, axis))
        return real_take(a, indices, axis=axis, **kwargs)

    monkeypatch.setattr(xp, "take", spy)
    got = dense.take_rows(A.T, np.asarray([1, 4, 7]))
    np.testing.assert_array_equal(got, A.T[[1, 4, 7]])
    assert calls == [(True, 1)]  # the C-ordered array, along its columns


def test_one_pass_puts_terms_between_the_products(case):
    """Z, X Q.T, sum(Q) and the terms' extra, with Q computed by the terms from Z (plain NumPy reference)."""
    rng = np.random.default_rng(1)
    Xh, Wh, bh = _problem(rng)
    X, W, b = (case.asarray(a) for a in (Xh, Wh, bh))
    seen = []

    def terms(Z, scale, *, shift):
        seen.append((scale, shift))
        return Z * scale + shift, "extra"

    Z, G, s, extra = dense.one_pass(W, b, X, terms, 2.0, shift=1.0)
    Zh = Wh.T @ Xh + bh
    Qh = 2.0 * Zh + 1.0
    assert seen == [(2.0, 1.0)] and extra == "extra"
    np.testing.assert_allclose(case.to_numpy(Z), Zh, rtol=100 * case.rtol)
    np.testing.assert_allclose(case.to_numpy(G), Xh @ Qh.T, rtol=100 * case.rtol, atol=100 * case.rtol)
    np.testing.assert_allclose(case.to_numpy(s), Qh.sum(axis=1, keepdims=True), rtol=100 * case.rtol,
                               atol=100 * case.rtol)


@pytest.mark.parametrize("multinomial", [False, True])
def test_the_dask_chunked_pass_equals_the_dense_one(multinomial):
    """One task per chunk, the labels made into targets in each task: the same sums as one dense pass."""
    da = pytest.importorskip("dask.array")
    from xlogreg.data import dask as data_dask

    rng = np.random.default_rng(2)
    K = 3 if multinomial else 2
    k = K if multinomial else 1
    Xh = rng.standard_normal((4, 23))
    labels = rng.integers(0, K, (1, 23)).astype(float)
    weights = rng.uniform(0.5, 2.0, (1, 23))
    Wh, bh = rng.standard_normal((4, k)), rng.standard_normal((k, 1))
    T = _loss.one_hot(labels, K) if multinomial else labels
    _, G_ref, s_ref, loss_ref = dense.one_pass(Wh, bh, Xh, _loss.example_terms, T, weights, multinomial, True)
    G, s, total = data_dask.chunked_pass(da.from_array(Wh), da.from_array(bh), da.from_array(Xh, chunks=(4, 5)),
                                         _loss.label_terms, [da.from_array(labels, chunks=(1, 7)),
                                                             da.from_array(weights, chunks=(1, 9))],
                                         with_extra=True, k=k, multinomial=multinomial)
    np.testing.assert_allclose(G.compute(), G_ref, rtol=1e-12)
    np.testing.assert_allclose(s.compute(), s_ref, rtol=1e-12)
    assert float(total.compute()) == pytest.approx(float(loss_ref), rel=1e-12)
