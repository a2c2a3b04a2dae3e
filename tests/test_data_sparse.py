"""Sparse X (xlogreg.data.sparse): the data interface, its checks, and fits equal to the dense fits.

References are independent of the code under test: the products of the
dense NumPy matrix (``toarray`` here, in the test, of a small matrix), the
dense fits of the same data by the same estimator or ``train``, and
scikit-learn's own ``LogisticRegression``. Every format the issue names is a
case: SciPy CSR, CSC and COO (matrices and arrays), torch sparse CSR (and CSC,
COO) on the CPU, torch CSR on CUDA and CuPy CSR where a GPU exists (skipped
with the reason elsewhere, failed where ``XLOGREG_REQUIRE_BACKENDS`` names them).
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")

import xlogreg  # noqa: E402
from conftest import REQUIRED, Missing, import_backend  # noqa: E402
from xlogreg import _backends, data  # noqa: E402
from xlogreg.data import sparse  # noqa: E402
from xlogreg.solvers import choose_solver  # noqa: E402


# --------------------------------------------------------------------------- the formats

def _torch_sparse(dense, layout, device="cpu"):
    torch = import_backend("torch")
    csr = sp.csr_array(dense)
    with warnings.catch_warnings():  # torch's own note, once per process, that CSR is in beta
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        t = torch.sparse_csr_tensor(torch.as_tensor(csr.indptr), torch.as_tensor(csr.indices),
                                    torch.as_tensor(csr.data), size=csr.shape, check_invariants=True)
        t = t.to(device)
        return {"csr": t, "csc": t.to_sparse_csc(), "coo": t.to_sparse_coo()}[layout]


def _torch_cuda(dense):
    torch = import_backend("torch")
    if not torch.cuda.is_available():
        Missing("torch-cuda", "no CUDA GPU visible to torch", "torch-cuda" in REQUIRED).resolve()
    return _torch_sparse(dense, "csr", "cuda")


def _cupy(dense):
    cupy = import_backend("cupy")
    try:  # cupy-cuda12x installs without a GPU, and cannot compute there
        _backends._devices("cupy", cupy)
    except _backends.BackendError as exc:
        Missing("cupy", str(exc), "cupy" in REQUIRED).resolve()
    import cupyx.scipy.sparse as csp

    return csp.csr_matrix(cupy.asarray(dense))


#: name -> (dense NumPy array -> sparse matrix in that format)
FORMATS = {
    "scipy-csr_matrix": sp.csr_matrix, "scipy-csc_matrix": sp.csc_matrix, "scipy-coo_matrix": sp.coo_matrix,
    "scipy-csr_array": sp.csr_array, "scipy-csc_array": sp.csc_array, "scipy-coo_array": sp.coo_array,
    "torch-csr": lambda d: _torch_sparse(d, "csr"), "torch-csc": lambda d: _torch_sparse(d, "csc"),
    "torch-coo": lambda d: _torch_sparse(d, "coo"),
    "torch-cuda-csr": _torch_cuda, "cupy-csr": _cupy,
}
GPU = {"torch-cuda-csr", "cupy-csr"}


@pytest.fixture(params=[pytest.param(name, marks=pytest.mark.gpu if name in GPU else ()) for name in FORMATS])
def make_sparse(request):
    return FORMATS[request.param]


@pytest.fixture(params=["scipy-csr_array", "scipy-csc_matrix", "scipy-coo_array", "torch-csr"])
def make_cpu_sparse(request):
    """The CPU formats for the slower fits: one of each library and orientation."""
    return FORMATS[request.param]


def host(x):
    return xlogreg._backends.to_numpy(x)


def like(x, ref):
    """Dense NumPy `x` in the namespace, device and dtype of the dense array `ref`."""
    from array_api_compat import array_namespace, device

    return xlogreg._backends.asarray(np.asarray(x), array_namespace(ref), device(ref), ref.dtype)


def random_sparse(m, n, density=0.3, seed=0):
    """A dense NumPy (m, n) array with about `density` non-zeros, none of its rows or columns empty."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) * (rng.random((m, n)) < density)
    A[np.arange(m), rng.integers(0, n, m)] = 1.0
    A[rng.integers(0, m, n), np.arange(n)] = -1.0
    return A


# --------------------------------------------------------------------------- the data interface

def test_interface_against_dense_products(make_sparse):
    rng = np.random.default_rng(1)
    D = random_sparse(7, 11)  # (n_x, m)
    X = sparse.as_matrix(make_sparse(D))
    ops = data.operations(X)
    assert ops is sparse
    ref = X.stored_values
    W, R, w = rng.standard_normal((7, 3)), rng.standard_normal((3, 11)), rng.random((1, 11))
    b = rng.standard_normal((3, 1))
    assert X.shape == (7, 11) and X.nnz == np.count_nonzero(D)
    np.testing.assert_allclose(host(ops.forward(like(W, ref), like(b, ref), X)), W.T @ D + b, rtol=1e-12)
    np.testing.assert_allclose(host(ops.forward(like(W, ref), None, X)), W.T @ D, rtol=1e-12)
    np.testing.assert_allclose(host(ops.backward(X, like(R, ref))), D @ R.T, rtol=1e-12)
    np.testing.assert_allclose(host(ops.gram(X)), D.T @ D, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(host(ops.weighted_gram(X, like(w, ref))), (D * w) @ D.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(host(ops.squares_backward(X, like(R, ref))), (D * D) @ R.T, rtol=1e-12)
    assert ops.product_work(X) == np.count_nonzero(D)
    assert ops.gram_work(X) == float(np.sum(np.count_nonzero(D, axis=1) ** 2))
    index = like(np.array([0, 3, 6]), ref)
    index = array_namespace_of(ref).astype(index, array_namespace_of(ref).int64)
    rows = ops.take_rows(X, index)  # a working set's features, still sparse
    assert isinstance(rows, sparse.SparseMatrix) and rows.shape == (3, 11)
    np.testing.assert_allclose(host(ops.backward(rows, like(R, ref))), D[[0, 3, 6]] @ R.T, rtol=1e-12)
    np.testing.assert_allclose(host(ops.forward(like(W[:3], ref), None, rows)), W[:3].T @ D[[0, 3, 6]], rtol=1e-12)

    def terms(Z, shift):
        return Z - shift, "extra"

    Z, G, s, extra = ops.one_pass(like(W, ref), like(b, ref), X, terms, 0.5)
    np.testing.assert_allclose(host(Z), W.T @ D + b, rtol=1e-12)
    np.testing.assert_allclose(host(G), D @ (W.T @ D + b - 0.5).T, rtol=1e-12)
    np.testing.assert_allclose(host(s), np.sum(W.T @ D + b - 0.5, axis=1, keepdims=True), rtol=1e-12)
    assert extra == "extra"
    # the transpose is the other orientation, without a copy; products from both sides
    np.testing.assert_allclose(host(X.T @ like(W, ref)), D.T @ W, rtol=1e-12)
    np.testing.assert_allclose(host(like(W, ref).T @ X), W.T @ D, rtol=1e-12)
    assert X.T.shape == (11, 7) and X.T.T.shape == (7, 11)


def array_namespace_of(x):
    from array_api_compat import array_namespace

    return array_namespace(x)


def test_entries_stored_twice_are_added_before_squaring():
    """COO (and CSR) may store an entry twice: its value is the sum, so its square is the sum's square."""
    coo = sp.coo_array((np.array([1.0, 2.0, 3.0]), (np.array([0, 0, 1]), np.array([1, 1, 0]))), shape=(2, 2))
    D = coo.toarray()  # [[0, 3], [3, 0]]
    csr = sp.csr_array((np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0]), np.array([0, 2, 3])), shape=(2, 2))
    before = (csr.data.copy(), csr.indices.copy(), csr.indptr.copy())
    d = np.array([[1.0, 2.0]])
    for given in (coo, csr):
        X = sparse.as_matrix(given)
        np.testing.assert_allclose(sparse.squares_backward(X, d), (D * D) @ d.T)
    for kept, now in zip(before, (csr.data, csr.indices, csr.indptr)):  # the caller's matrix untouched
        np.testing.assert_array_equal(kept, now)


def test_inputs_not_mutated_and_never_densified(monkeypatch):
    D = random_sparse(40, 6)
    given = sp.csr_matrix(D)
    before = (given.data.copy(), given.indices.copy(), given.indptr.copy())
    _forbid_densifying(monkeypatch, given.shape)
    for solver in ("newton-cholesky", "newton-cg", "agd", "gd"):
        clf = xlogreg.LogisticRegression(C=0.5, solver=solver).fit(given, np.arange(40) % 3)
        clf.predict_proba(given)
    for solver in ("primal", "dual", "newton-cg", "newton-cholesky"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", xlogreg.ConvergenceWarning)  # 5 Newton iterations, tol None
            xlogreg.train(given.T, np.arange(40) % 3, num_iterations=5, solver=solver).predict(given.T)
    for kept, now in zip(before, (given.data, given.indices, given.indptr)):
        np.testing.assert_array_equal(kept, now)


def test_recognising_sparse_imports_nothing():
    """is_sparse and data.operations ask sys.modules: a dense NumPy call imports neither SciPy nor torch."""
    code = ("import sys, numpy as np\n"
            "from xlogreg.data import operations, sparse\n"
            "before = set(sys.modules)\n"
            "assert not sparse.is_sparse(np.ones((2, 2)))\n"
            "assert operations(np.ones((2, 2))).__name__ == 'xlogreg.data.dense'\n"
            "new = {m for m in set(sys.modules) - before if m.split('.')[0] in ('scipy', 'torch', 'cupy', 'cupyx')}\n"
            "assert not new, new\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- checks

def test_as_matrix_dtypes():
    ints = sp.csr_array(np.array([[1, 0], [0, 2]], dtype=np.int64))
    assert sparse.as_matrix(ints).dtype == np.float64  # NumPy's default floating dtype
    assert sparse.as_matrix(sp.csr_array(np.eye(2, dtype=np.float32))).dtype == np.float32
    assert sparse.as_matrix(sp.csr_array(np.eye(2)), dtype="float32").dtype == np.float32
    with pytest.raises(TypeError, match="X must hold real numbers.*complex"):
        sparse.as_matrix(sp.csr_array(np.eye(2, dtype=np.complex128)))


def test_as_matrix_torch_dtypes():
    torch = import_backend("torch")
    assert sparse.as_matrix(_torch_sparse(np.eye(2, dtype=np.int64), "csr")).dtype == torch.float32  # torch's default
    assert sparse.as_matrix(_torch_sparse(np.eye(2, dtype=np.float32), "csr")).dtype == torch.float32
    assert sparse.as_matrix(_torch_sparse(np.eye(2), "coo")).dtype == torch.float64
    half = _torch_sparse(np.eye(2), "csr").to(torch.float16)
    assert sparse.as_matrix(half).dtype == torch.float32  # as train: too few digits to sum gradients


@pytest.mark.parametrize("fmt", ["lil", "dok", "bsr", "dia"])
def test_unsupported_scipy_formats_named(fmt):
    with pytest.raises(TypeError, match=f"X is a scipy sparse matrix in the '{fmt}' format; xlogreg takes csr, "
                                        "csc, coo"):
        sparse.as_matrix(sp.csr_array(np.eye(3)).asformat(fmt))
    with pytest.raises(TypeError, match=f"'{fmt}' format"):
        xlogreg.train(sp.csr_array(np.eye(3)).asformat(fmt), [0, 1, 0])


def test_unsupported_torch_layout_named():
    t = _torch_sparse(np.eye(4), "csr")
    with pytest.raises(TypeError, match="X is a torch sparse matrix in the 'sparse_bsr' format; xlogreg takes "
                                        "sparse_csr, sparse_csc, sparse_coo"):
        sparse.as_matrix(t.to_sparse_bsr(2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_stored_values_refused(bad):
    D = np.eye(3)
    D[1, 2] = bad
    with pytest.raises(ValueError, match="X must hold only finite values; it contains NaN or infinity"):
        xlogreg.train(sp.csr_array(D), [0, 1, 0])
    with pytest.raises(ValueError, match="X_test must hold only finite values"):
        xlogreg.train(sp.csr_array(np.eye(3)), [0, 1, 0], sp.csc_array(D), [0, 1, 0], num_iterations=1)
    with pytest.raises(ValueError, match="NaN|infinity"):
        xlogreg.LogisticRegression().fit(sp.csr_array(D), [0, 1, 0])
    D = np.eye(3)
    D[0, 0] = bad
    torch_X = _torch_sparse(D, "csr")
    with pytest.raises(ValueError, match="X must hold only finite values"):
        xlogreg.LogisticRegression().fit(torch_X, [0, 1, 1])


def test_empty_and_mixed_refused():
    with pytest.raises(ValueError, match="at least one row and one column; got a sparse matrix of shape \\(0, 3\\)"):
        sparse.as_matrix(sp.csr_array((0, 3)))
    X = sparse.as_matrix(sp.csr_array(np.eye(2)))
    torch = import_backend("torch")
    with pytest.raises(TypeError, match="whose dense arrays are numpy, but the data must be torch here"):
        sparse.as_matrix(X, xp=xlogreg._backends.get_namespace("torch"))
    with pytest.raises(TypeError, match="sparse data is not moved between libraries"):
        xlogreg.train(sp.csr_array(np.eye(2)), [0, 1], backend="torch")
    model = xlogreg.train(torch.eye(2, dtype=torch.float64), torch.tensor([0.0, 1.0]), num_iterations=1)
    with pytest.raises(TypeError, match="must be torch here"):
        model.predict(sp.csr_array(np.eye(2)))


def test_never_densified_by_accident():
    X = sparse.as_matrix(sp.csr_array(np.eye(2)))
    with pytest.raises(TypeError, match="never turned into a dense array"):
        np.asarray(X)
    with pytest.raises(TypeError):
        X * 2.0
    with pytest.raises(TypeError, match="pass it through xlogreg.data.sparse.as_matrix"):
        data.operations(sp.csr_array(np.eye(2)))


# --------------------------------------------------------------------------- train: sparse equals dense

@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("solver", ["primal", "dual", "newton-cg", "newton-cholesky"])
def test_train_equals_dense(make_sparse, n_classes, solver):
    D = random_sparse(9, 60)  # (n_x, m)
    rng = np.random.default_rng(2)
    Y = rng.integers(0, n_classes, 60)
    weights = rng.random(60) + 0.5
    X = make_sparse(D)
    ref = sparse.as_matrix(X).stored_values
    options = dict(num_iterations=30, learning_rate=0.5, l2=0.3, solver=solver, n_classes=n_classes, tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xlogreg.ConvergenceWarning)  # Newton stops at 30 before tol=1e-12
        got = xlogreg.train(X, like(Y, ref), X, like(Y, ref), sample_weight=like(weights, ref), **options)
        want = xlogreg.train(like(D, ref), like(Y, ref), sample_weight=like(weights, ref), **options)
    assert got.solver == solver and type(got.w) is type(want.w)
    np.testing.assert_allclose(host(got.w), host(want.w), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(got.b, dtype=float), np.asarray(want.b, dtype=float), rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(got.costs, want.costs, rtol=1e-10)
    assert got.train_accuracy == want.train_accuracy == got.test_accuracy
    np.testing.assert_allclose(host(got.predict_proba(X)), host(want.predict_proba(like(D, ref))), rtol=1e-8)


def test_train_float32_stays_float32():
    D = random_sparse(5, 30).astype(np.float32)
    model = xlogreg.train(sp.csc_array(D), np.arange(30) % 2, num_iterations=20)
    assert model.w.dtype == np.float32 and model.dtype == "float32"
    dense = xlogreg.train(D, np.arange(30) % 2, num_iterations=20)
    np.testing.assert_allclose(model.w, dense.w, rtol=1e-5, atol=1e-6)


def test_choose_solver_counts_stored_entries():
    """Hand-worked: n_x = 1000, m = 100, 100 iterations, k = 1.

    Dense: primal 2 * 100 * 1000 * 100 = 2e7 > dual 1000 * 100^2 + 100 * 100^2 = 1.1e7: dual.
    Sparse, 1000 entries, 10 per feature on 100 features (gram 100 * 10^2 = 1e4): primal
    2 * 100 * 1000 = 2e5 < dual 1e4 + 1e6: primal.
    """
    assert choose_solver(1000, 100, 100) == "dual"
    assert choose_solver(1000, 100, 100, work=1000, gram_work=1e4) == "primal"
    D = np.zeros((1000, 100))
    D[np.arange(1000) % 100, np.arange(1000) % 100] = 1.0  # 100 entries on the diagonal
    model = xlogreg.train(sp.csr_array(D), np.arange(100) % 2, num_iterations=100)
    assert model.solver == "primal"
    assert xlogreg.train(D, np.arange(100) % 2, num_iterations=100).solver == "dual"


def test_fused_refused_for_sparse():
    with pytest.raises(ValueError, match="fused=True cannot run here"):
        xlogreg.train(sp.csr_array(random_sparse(4, 20)), np.arange(20) % 2, fused=True, solver="primal")


# --------------------------------------------------------------------------- the estimator: sparse equals dense

@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("solver", ["auto", "newton-cg", "newton-cholesky", "agd", "gd"])
def test_estimator_equals_dense(make_sparse, n_classes, solver):
    D = random_sparse(80, 12)  # (n_samples, n_features)
    rng = np.random.default_rng(3)
    y = rng.integers(0, n_classes, 80)
    weights = rng.random(80) + 0.5
    X = make_sparse(D)
    ref = sparse.as_matrix(X).stored_values
    options = dict(C=2.0, solver=solver, tol=1e-10 if solver != "gd" else 1e-8, max_iter=20_000)
    got = xlogreg.LogisticRegression(**options).fit(X, y, sample_weight=weights)
    want = xlogreg.LogisticRegression(**options).fit(like(D, ref), y, sample_weight=weights)
    assert type(got.coef_) is type(want.coef_) and got.coef_.dtype == want.coef_.dtype
    assert str(got.coef_.device if hasattr(got.coef_, "device") else "cpu") == \
        str(want.coef_.device if hasattr(want.coef_, "device") else "cpu")
    np.testing.assert_allclose(host(got.coef_), host(want.coef_), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(host(got.intercept_), host(want.intercept_), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(host(got.predict_proba(X)), host(want.predict_proba(like(D, ref))), atol=1e-8)
    np.testing.assert_allclose(host(got.decision_function(X)), host(want.decision_function(like(D, ref))),
                               atol=1e-8)
    np.testing.assert_array_equal(host(got.predict(X)), host(want.predict(like(D, ref))))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_estimator_l1_equals_dense(make_sparse, n_classes, l1_ratio):
    """L1 and elastic net (proximal Newton, its working sets gathered by the sparse take_rows) on a sparse X
    reach the dense fit's optimum, with the same exact zeros."""
    D = random_sparse(120, 40, density=0.2, seed=6)  # 40 features: the working set is a subset at first
    rng = np.random.default_rng(6)
    y = rng.integers(0, n_classes, 120)
    weights = rng.random(120) + 0.5
    X = make_sparse(D)
    ref = sparse.as_matrix(X).stored_values
    options = dict(C=0.5, l1_ratio=l1_ratio, tol=1e-10, max_iter=200)
    got = xlogreg.LogisticRegression(**options).fit(X, y, sample_weight=weights)
    want = xlogreg.LogisticRegression(**options).fit(like(D, ref), y, sample_weight=weights)
    assert type(got.coef_) is type(want.coef_)
    np.testing.assert_allclose(host(got.coef_), host(want.coef_), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(host(got.intercept_), host(want.intercept_), rtol=1e-8, atol=1e-8)
    zeros = host(want.coef_) == 0
    assert 0 < zeros.sum() < zeros.size  # a sparse model: some features out, some in
    np.testing.assert_array_equal(host(got.coef_) == 0, zeros)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_estimator_l1_three_informative_features_equals_dense(make_sparse, n_classes):
    """l1_ratio > 0 on 30 features: proximal Newton's working sets gather rows of the sparse X (never densified)."""
    D = random_sparse(90, 30, seed=6)
    signal = D[:, 0] - D[:, 1] + D[:, 2] + 0.1 * np.random.default_rng(6).normal(size=90)  # three features matter
    y = np.digitize(signal, np.quantile(signal, np.arange(1, n_classes) / n_classes))
    X = make_sparse(D)
    ref = sparse.as_matrix(X).stored_values
    for l1_ratio in (0.5, 1.0):
        options = dict(C=0.3, l1_ratio=l1_ratio, tol=1e-10)
        got = xlogreg.LogisticRegression(**options).fit(X, y)
        want = xlogreg.LogisticRegression(**options).fit(like(D, ref), y)
        assert 0 < np.count_nonzero(host(want.coef_)) < want.coef_.shape[0] * 15  # working sets smaller than X
        np.testing.assert_allclose(host(got.coef_), host(want.coef_), rtol=1e-8, atol=1e-8)
        np.testing.assert_array_equal(host(got.coef_) == 0, host(want.coef_) == 0)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_estimator_reaches_sklearn_optimum(make_cpu_sparse, n_classes):
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    D = random_sparse(150, 20, seed=4)
    y = np.random.default_rng(4).integers(0, n_classes, 150)
    sk = SkLogisticRegression(C=0.7, tol=1e-12, max_iter=10_000).fit(sp.csr_array(D), y)
    got = xlogreg.LogisticRegression(C=0.7, tol=1e-10).fit(make_cpu_sparse(D), y)
    np.testing.assert_allclose(host(got.coef_), sk.coef_, atol=1e-6)
    np.testing.assert_allclose(host(got.intercept_), sk.intercept_, atol=1e-6)


def test_estimator_float32_and_integers():
    D = random_sparse(60, 5, seed=5)
    y = np.arange(60) % 2
    clf = xlogreg.LogisticRegression().fit(sp.csr_array(D.astype(np.float32)), y)
    assert clf.coef_.dtype == np.float32
    assert clf.predict_proba(sp.csr_array(D.astype(np.float32))).dtype == np.float32
    counts = sp.csr_array((np.abs(D) * 3).astype(np.int64))
    clf = xlogreg.LogisticRegression().fit(counts, y)
    assert clf.coef_.dtype == np.float64
    dense = xlogreg.LogisticRegression().fit(counts.toarray().astype(np.float64), y)
    np.testing.assert_allclose(clf.coef_, dense.coef_, rtol=1e-8, atol=1e-10)


def test_estimator_sparse_fit_dense_predict_and_features_checked():
    D = random_sparse(50, 6, seed=6)
    clf = xlogreg.LogisticRegression().fit(sp.csr_array(D), np.arange(50) % 2)
    np.testing.assert_allclose(clf.predict_proba(D), clf.predict_proba(sp.coo_array(D)), atol=1e-12)
    with pytest.raises(ValueError, match="X has 5 features, but LogisticRegression is expecting 6"):
        clf.predict(sp.csr_array(D[:, :5]))


# --------------------------------------------------------------------------- never densified

def _forbid_densifying(monkeypatch, shape):
    """Make densifying a SciPy matrix of X's shape (either orientation) an error.

    Products of X with itself (the Gram matrix, the Hessian ``X D X.T``) are dense by design and
    of other shapes (X is never square in these tests), so they are let through.
    """
    def guard(method):
        def refuse(self, *args, **kwargs):
            if tuple(self.shape) in (tuple(shape), tuple(shape)[::-1]):
                raise AssertionError(f"a sparse matrix of X's shape ({type(self).__name__}) was densified")
            return method(self, *args, **kwargs)
        return refuse

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array, sp.coo_array):
        for name in ("toarray", "todense"):
            monkeypatch.setattr(cls, name, guard(getattr(cls, name)))


@pytest.mark.parametrize("solver", ["auto", "newton-cg", "agd", "gd"])
def test_huge_sparse_matrix_fits_in_memory(monkeypatch, solver):
    """200,000 x 500,000 with 400,000 stored values: dense it would take 800 GB; the fit stays near the data.

    The memory traced (NumPy's allocations included) stays below a bound in the stored values and in
    the weights (n_features floats, which every solver holds a few of), far below one dense row block.
    """
    m, n, nnz = 200_000, 500_000, 400_000
    rng = np.random.default_rng(7)
    rows, cols = rng.integers(0, m, nnz), rng.integers(0, n, nnz)
    X = sp.csr_array((rng.random(nnz) + 0.1, (rows, cols)), shape=(m, n))
    y = (rng.random(m) < 0.3).astype(int)
    _forbid_densifying(monkeypatch, X.shape)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few iterations only: not converged
            clf = xlogreg.LogisticRegression(solver=solver, max_iter=3).fit(X, y)
        clf.predict_proba(X[:1000])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert clf.coef_.shape == (1, n)
    data_bytes = nnz * (8 + 4) + 8 * n  # values and indices, and one W
    assert peak < 30 * data_bytes, (peak, data_bytes)  # dense X: 8e11 bytes


def test_torch_sparse_never_densified(monkeypatch):
    torch = import_backend("torch")
    X = _torch_sparse(random_sparse(100, 8, seed=8), "csr")

    def refuse(self, *args, **kwargs):
        raise AssertionError("a torch sparse tensor was densified")

    monkeypatch.setattr(torch.Tensor, "to_dense", refuse)
    clf = xlogreg.LogisticRegression(solver="newton-cg").fit(X, np.arange(100) % 3)
    assert isinstance(clf.coef_, torch.Tensor) and clf.coef_.layout == torch.strided
    assert clf.predict_proba(X).shape == (100, 3)


# --------------------------------------------------------------------------- Dask arrays of sparse chunks

def _dask_of_sparse_chunks(chunk_kind):
    """A (60, 8) Dask array whose chunks are SciPy CSR matrices or pydata ``sparse`` COO arrays."""
    da = import_backend("dask")  # xlogreg's "dask" backend: dask.array
    if chunk_kind == "pydata":
        to_chunk = pytest.importorskip("sparse").COO.from_numpy
    else:
        to_chunk = sp.csr_matrix
    D = random_sparse(60, 8, seed=7)
    return da.from_array(D, chunks=(20, 8)).map_blocks(to_chunk), D


@pytest.mark.parametrize("chunk_kind", ["scipy", "pydata"])
def test_dask_of_sparse_chunks_refused_by_name(chunk_kind):
    """Not supported (issue 29 made it optional): a TypeError naming X and what is taken, nothing computed."""
    Xd, D = _dask_of_sparse_chunks(chunk_kind)
    y = np.arange(60) % 2
    message = r"X is a Dask array of sparse chunks \(.+\), which xlogreg does not take: it fits Dask arrays of dense"
    with pytest.raises(TypeError, match=message):
        xlogreg.LogisticRegression().fit(Xd, y)
    with pytest.raises(TypeError, match=message):
        xlogreg.train(Xd.T, y[None, :], num_iterations=5)
    model = xlogreg.LogisticRegression().fit(D, y)
    with pytest.raises(TypeError, match=message):
        model.predict(Xd)
    with pytest.raises(TypeError, match=message):
        xlogreg.train(D.T, y[None, :], num_iterations=5).predict(Xd.T)
    # the way out the message gives: one SciPy CSR matrix, fitted as the dense data
    if chunk_kind == "scipy":
        clf = xlogreg.LogisticRegression().fit(Xd.compute().tocsr(), y)
        np.testing.assert_allclose(clf.coef_, model.coef_, rtol=1e-8, atol=1e-10)


# --------------------------------------------------------------------------- scikit-learn pipelines

def test_tfidf_pipeline_in_grid_search():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(9)
    topics = [["goal", "match", "team", "score", "league"], ["vote", "party", "election", "law", "senate"],
              ["gpu", "kernel", "compiler", "memory", "cache"]]
    common = ["the", "a", "of", "and", "to", "in", "is"]
    docs, labels = [], []
    for i in range(90):
        label = i % 3
        words = list(rng.choice(topics[label], 6)) + list(rng.choice(common, 6)) + list(rng.choice(sum(topics, []), 2))
        docs.append(" ".join(words))
        labels.append(["sport", "politics", "computing"][label])
    pipe = make_pipeline(TfidfVectorizer(), xlogreg.LogisticRegression(tol=1e-10))
    search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1.0, 10.0]}, cv=3).fit(docs, labels)
    assert search.best_score_ > 0.9
    best = search.best_estimator_
    tfidf = best[0].transform(docs)
    assert sp.issparse(tfidf)
    dense = xlogreg.LogisticRegression(C=search.best_params_["logisticregression__C"], tol=1e-10).fit(
        tfidf.toarray(), labels)
    np.testing.assert_allclose(best[-1].coef_, dense.coef_, rtol=1e-8, atol=1e-10)
    assert list(best.predict(["the team scored a goal", "the senate passed the law"])) == ["sport", "politics"]


def test_newton_cg_on_the_gram_matrix_equals_dense(monkeypatch):
    """More stored entries than examples squared (900 > 10^2): Newton-CG iterates on the sparse Gram matrix."""
    D = random_sparse(10, 300, density=0.3, seed=10)  # (n_samples, n_features)
    y = np.arange(10) % 2
    grams = []
    original = sparse.gram
    monkeypatch.setattr(sparse, "gram", lambda X: grams.append(X.shape) or original(X))
    got = xlogreg.LogisticRegression(solver="newton-cg", tol=1e-10).fit(sp.csr_array(D), y)
    assert grams == [(300, 10)]  # X.T X of the engine's (n_x, m) X, once
    want = xlogreg.LogisticRegression(solver="newton-cg", tol=1e-10).fit(D, y)
    np.testing.assert_allclose(got.coef_, want.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got.intercept_, want.intercept_, rtol=1e-8, atol=1e-10)


def test_train_dtype_argument_and_accuracy():
    D = random_sparse(6, 40, seed=11)
    model = xlogreg.train(sp.csr_matrix(D), np.arange(40) % 2, dtype="float32", num_iterations=10)
    assert model.w.dtype == np.float32
    X = sp.coo_matrix(D)
    assert model.accuracy(X, np.arange(40) % 2) == xlogreg.train(D.astype(np.float32), np.arange(40) % 2,
                                                                 num_iterations=10).accuracy(D, np.arange(40) % 2)
