"""Scale-out with Dask (issue 5): NumPy's results, bounded graphs, out of core, on a cluster.

* Results on dask equal NumPy's (1e-9 relative in float64) on the course data
  and on synthetic data, in memory and read lazily from HDF5, and equal the
  plain-NumPy course loop of tests/_reference.py (which xlogreg does not run).
* The loop stays bounded: the graph handed to Dask has the same size at
  every iteration, each chunk of the file is read once per iteration, and a
  distributed scheduler holds no history.
* A ``LocalCluster`` of two worker processes on loopback gives the same
  model; a worker killed mid-run is recovered from (file data is re-read),
  and lost in-memory data fails loudly, never with wrong weights.
* The command line trains out of core within a memory limit on a file three
  times its size.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import _reference as ref
import xlogreg
from xlogreg import _backends, datasets, solvers
from xlogreg.io import datasets as io_datasets, lazy as io_lazy
from xlogreg.solvers import gd
from xlogreg.data import dask as data_dask

try:
    import dask
    import dask.array as da
    import distributed
except ImportError as exc:  # a required backend that is missing is a failure, not a skip
    if "dask" in os.environ.get("XLOGREG_REQUIRE_BACKENDS", "").split(","):
        raise
    pytest.skip(f"dask not available: {exc}", allow_module_level=True)

ROOT = pathlib.Path(__file__).resolve().parents[1]
RTOL = {"float64": 1e-9, "float32": 1e-4}


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_dataset = _load_script("make_dataset")


@pytest.fixture(scope="module")
def synthetic_path(tmp_path_factory):
    """3000 synthetic 8x8 grey images (192 KB) in course format."""
    path = tmp_path_factory.mktemp("data") / "synthetic.h5"
    make_dataset.write(path, 3000, (8, 8, 1), seed=1)
    return path


@pytest.fixture(scope="module")
def synthetic(synthetic_path):
    """The synthetic data in memory, prepared as the course does: X (64, 3000) / 255, Y (1, 3000)."""
    x, y, _ = datasets.load_h5(synthetic_path)
    return datasets.flatten_images(x), y


def assert_close(actual, expected, rtol, what):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    scale = max(np.max(np.abs(expected)), np.finfo(np.float64).tiny)
    error = np.max(np.abs(actual - expected)) / scale
    assert error <= rtol, f"{what}: relative error {error:.3g} > {rtol:g}"


def assert_same_model(model, reference, rtol):
    assert model.backend == "dask" and reference.backend == "numpy"
    assert model.iterations == reference.iterations
    assert_close(_backends.to_numpy(model.w), reference.w, rtol, "w")
    assert_close(model.b, reference.b, rtol, "b")
    assert model.cost_iterations == reference.cost_iterations
    assert_close(model.costs, reference.costs, rtol, "costs")
    assert model.train_accuracy == reference.train_accuracy


def course_loop(X, Y, kwargs):
    """The plain-NumPy float64 course loop (tests/_reference.py) with train's settings."""
    return ref.course_loop(X, Y, kwargs["num_iterations"], kwargs["learning_rate"], kwargs["record_every"])


def assert_matches_course_loop(model, run, X, Y, rtol):
    """The model against a loop xlogreg did not run: w, b, costs, and (in float64) the accuracy."""
    assert_close(_backends.to_numpy(model.w), run.w, rtol, "w against the plain course loop")
    assert_close(model.b, run.b, rtol, "b against the plain course loop")
    assert model.cost_iterations == run.cost_iterations
    assert_close(model.costs, run.costs, rtol, "costs against the plain course loop")
    if model.dtype == "float64":  # float32 rounding may move an example across 0.5
        assert model.train_accuracy == pytest.approx(ref.accuracy(ref.predict(run.w, run.b, X), Y), abs=1e-9)


class ReadCounter:
    """Counts the chunk reads of :class:`xlogreg.io.lazy.H5Slicer` in this process."""

    def __init__(self, monkeypatch):
        self.reads = 0
        read = io_lazy.H5Slicer.__getitem__

        def counting(slicer, index):
            self.reads += 1
            return read(slicer, index)

        monkeypatch.setattr(io_lazy.H5Slicer, "__getitem__", counting)


# --------------------------------------------------------------------------- lazy HDF5


def test_open_lazy_reads_nothing_until_computed_and_matches_load_h5(course_paths, monkeypatch):
    counter = ReadCounter(monkeypatch)
    X, Y, classes = datasets.open_lazy(course_paths[0], chunk_examples=64)
    assert counter.reads == 0
    assert X.shape == (12288, 209) and X.chunks == ((12288,), (64, 64, 64, 17))
    assert Y.shape == (1, 209) and Y.chunks == ((1,), X.chunks[1])
    x, y, expected_classes = datasets.load_h5(course_paths[0])
    np.testing.assert_array_equal(X.compute(), datasets.flatten_images(x))  # bit for bit
    assert counter.reads == 4  # one per chunk of X
    np.testing.assert_array_equal(Y.compute(), y)
    np.testing.assert_array_equal(classes, expected_classes)


def test_open_lazy_float32_and_images(synthetic_path):
    x, y, _ = datasets.load_h5(synthetic_path)
    X, _, _ = datasets.open_lazy(synthetic_path, dtype="float32", chunk_examples=1000)
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X.compute(), datasets.flatten_images(x, dtype=np.float32))
    x_lazy, y_lazy, _ = datasets.open_lazy_images(synthetic_path, chunk_examples=700)
    assert x_lazy.shape == x.shape and x_lazy.chunks[0] == (700, 700, 700, 700, 200)
    np.testing.assert_array_equal(datasets.flatten_images(x_lazy).compute(), datasets.flatten_images(x))
    np.testing.assert_array_equal(y_lazy.compute(), y)


def test_open_lazy_chunk_size_follows_dask_config(synthetic_path):
    with dask.config.set({"array.chunk-size": "64KiB"}):  # 64 features * 8 bytes: 128 examples
        X, _, _ = datasets.open_lazy(synthetic_path)
        X32, _, _ = datasets.open_lazy(synthetic_path, dtype="float32")
    assert X.chunks[1][0] == 128 and X32.chunks[1][0] == 256


def test_open_lazy_refuses_bad_files(tmp_path, synthetic_path):
    with pytest.raises(datasets.DataError, match="no such file"):
        datasets.open_lazy(tmp_path / "missing.h5")
    with pytest.raises(datasets.DataError, match="has no key"):
        datasets.open_lazy(synthetic_path, x_key="nope")
    import h5py

    bad = tmp_path / "bad_labels.h5"
    with h5py.File(bad, "w") as f:
        f["train_set_x"] = np.zeros((3, 2, 2, 1), np.uint8)
        f["train_set_y"] = np.array([0, 1, 2])
    with pytest.raises(datasets.DataError, match="only the labels 0 and 1"):
        datasets.open_lazy(bad)
    with pytest.raises(ValueError, match="dtype"):
        datasets.open_lazy(synthetic_path, dtype="float16")


def test_changed_file_is_refused_not_misread(tmp_path):
    path = tmp_path / "changing.h5"
    make_dataset.write(path, 300, (4, 4, 1), seed=2)
    X, _, _ = datasets.open_lazy(path, chunk_examples=100)
    time.sleep(0.01)
    make_dataset.write(path, 300, (4, 4, 1), seed=3)  # same shape, other content
    with pytest.raises(datasets.DataError, match="changed"):
        X.compute()


def test_make_dataset_is_seeded_learnable_and_independent_of_chunking(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    make_dataset.write(a, 1000, (6, 5, 2), seed=7, chunk_examples=256)
    make_dataset.write(b, 1000, (6, 5, 2), seed=7, chunk_examples=768)
    xa, ya, classes = datasets.load_h5(a)
    xb, yb, _ = datasets.load_h5(b)
    assert xa.shape == (1000, 6, 5, 2) and xa.dtype == np.uint8 and ya.dtype == np.int64
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    assert 0.4 < ya.mean() < 0.6 and list(classes) == [b"negative", b"positive"]
    model = xlogreg.train(datasets.flatten_images(xa), ya, num_iterations=300, learning_rate=0.5)
    assert model.train_accuracy > 75  # learnable (the best possible is about 84 %)


# --------------------------------------------------------------------------- same results as NumPy


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_dask_matches_numpy_on_course_data(course_data, course_paths, solver):
    X, Y = course_data[:2]
    kwargs = dict(num_iterations=12, learning_rate=0.005, solver=solver, record_every=4)
    reference = xlogreg.train(X, Y, backend="numpy", **kwargs)
    in_memory = xlogreg.train(X, Y, backend="dask", **kwargs)
    assert_same_model(in_memory, reference, RTOL["float64"])
    X_lazy, Y_lazy, _ = datasets.open_lazy(course_paths[0], chunk_examples=64)  # 4 chunks
    from_file = xlogreg.train(X_lazy, Y_lazy, backend="dask", **kwargs)
    assert from_file.solver == solver
    assert_same_model(from_file, reference, RTOL["float64"])
    run = course_loop(X, Y, kwargs)
    assert_matches_course_loop(in_memory, run, X, Y, RTOL["float64"])
    assert_matches_course_loop(from_file, run, X, Y, RTOL["float64"])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dask_matches_numpy_on_synthetic_data(synthetic, synthetic_path, dtype):
    X, Y = synthetic
    kwargs = dict(num_iterations=60, learning_rate=0.5, solver="primal", record_every=20, dtype=dtype)
    reference = xlogreg.train(X, Y, backend="numpy", **kwargs)
    X_lazy, Y_lazy, _ = datasets.open_lazy(synthetic_path, dtype=dtype, chunk_examples=700)  # 5 chunks
    model = xlogreg.train(X_lazy, Y_lazy, backend="dask", **kwargs)
    assert model.dtype == dtype and _backends.to_numpy(model.w).dtype == np.dtype(dtype)
    assert_same_model(model, reference, RTOL[dtype])
    assert_close(_backends.to_numpy(model.w), xlogreg.train(X, Y, **{**kwargs, "dtype": "float64"}).w,
                 RTOL[dtype], "w against float64")
    # A dask X in memory, in chunks, with Y from NumPy (moved to dask in one chunk).
    chunked = xlogreg.train(da.from_array(X, chunks=(64, 700)), Y, backend="dask", **kwargs)
    assert_same_model(chunked, reference, RTOL[dtype])
    run = course_loop(X, Y, kwargs)
    assert_matches_course_loop(model, run, X, Y, RTOL[dtype])
    assert_matches_course_loop(chunked, run, X, Y, RTOL[dtype])


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_pass_matches_a_numpy_reference(n_classes, weighted):
    """G = X Q.T, s = sum(Q), loss = sum(s_i L_i) against plain NumPy written here (Q = 2 (A - Y) s binary,
    (softmax - onehot) s multinomial)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 500))
    labels = rng.integers(0, n_classes, (1, 500)).astype(np.float64)
    k = 1 if n_classes == 2 else n_classes
    W = rng.standard_normal((30, k)) * 0.1
    b = rng.standard_normal((k, 1)) * 0.3
    s = rng.integers(0, 4, (1, 500)).astype(np.float64) if weighted else np.ones((1, 500))
    Z = W.T @ X + b
    if k == 1:
        A = 1 / (1 + np.exp(-Z))
        Q = 2 * (A - labels) * s
        L = -(labels * np.log(A) + (1 - labels) * np.log(1 - A))
    else:
        T = (labels == np.arange(k)[:, None]).astype(np.float64)
        E = np.exp(Z - Z.max(axis=0))
        A = E / E.sum(axis=0)
        Q = (A - T) * s
        L = -np.sum(T * np.log(A), axis=0, keepdims=True)
    # Chunks along both axes, a W in two pieces, labels cut elsewhere than X or not at all:
    # the function regroups the features and cuts the labels where X is cut.
    Xd = da.from_array(X, chunks=(10, 120))
    Wd, bd = da.from_array(W, chunks=(15, k)), da.from_array(b)
    sd = da.from_array(s, chunks=(1, 70)) if weighted else None
    for Yd in (da.from_array(labels, chunks=(1, 120)), da.from_array(labels, chunks=(1, 200)), da.from_array(labels)):
        got = dask.compute(*gd.chunked_pass(Wd, bd, Xd, Yd, sd, k > 1))
        assert_close(got[0], X @ Q.T, 1e-12, "G")
        assert_close(got[1], Q.sum(axis=1, keepdims=True), 1e-12, "s")
        assert_close(got[2], np.sum(L * s), 1e-12, "loss")
    assert gd.chunked_pass(Wd, bd, Xd, Yd, sd, k > 1, with_loss=False)[2] is None


def test_lazy_solver_choice_is_primal_for_big_m():
    # Out of core, m is large: the m x m Gram matrix is neither cheaper nor storable.
    assert solvers.choose_solver(12288, 10**6, 2000, lazy=True) == "primal"
    assert solvers.choose_solver(12288, 20000, 2000, lazy=True) == "primal"
    assert solvers.choose_solver(64, 10**7, 10, lazy=True) == "primal"
    assert solvers.choose_solver(12288, 209, 2000, lazy=True) == "dual"  # the course data: cheaper


# --------------------------------------------------------------------------- bounded loop


def test_graph_does_not_grow_and_each_chunk_is_read_once_per_iteration(synthetic_path, monkeypatch):
    counter = ReadCounter(monkeypatch)
    X, Y, _ = datasets.open_lazy(synthetic_path, chunk_examples=700)
    chunks = X.numblocks[1]
    graph_sizes, reads = [], []
    materialize = data_dask.materialize

    def measuring(*arrays):
        graph_sizes.append(sum(len(a.__dask_graph__()) for a in arrays if hasattr(a, "__dask_graph__")))
        return materialize(*arrays)

    monkeypatch.setattr(data_dask, "materialize", measuring)
    model = xlogreg.train(X, Y, num_iterations=12, learning_rate=0.5, solver="primal", record_every=4,
                          callback=lambda i, cost: reads.append(counter.reads))
    # The graph of iteration i has the same size for every i (recording ones carry the cost too).
    assert len(set(graph_sizes[1::4])) == 1 and len(set(graph_sizes[0::4])) == 1, graph_sizes
    # Each iteration reads each chunk of X and of Y exactly once: both products share the read.
    assert set(np.diff(reads)) == {2 * chunks}, reads
    assert len(model.w.__dask_graph__()) == 1  # the trained w is data, not a recipe


# --------------------------------------------------------------------------- Newton and L-BFGS on Dask


class CountingArray:
    """A NumPy array behind ``da.from_array`` whose chunk reads are counted (one ``__getitem__`` per read)."""

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.ndim = array, array.shape, array.dtype, array.ndim
        self.reads = 0

    def __getitem__(self, index):
        self.reads += 1
        return self.array[index]


def _weighted_problem(n_classes, n_x=6, m=310, seed=0):
    rng = np.random.default_rng(seed + n_classes)
    X = rng.standard_normal((n_x, m)) * rng.uniform(0.5, 3.0, (n_x, 1))
    labels = rng.integers(0, n_classes, (1, m)).astype(np.float64)
    weights = rng.uniform(0.2, 3.0, (1, m))
    return X, labels, weights


def _numpy_gradient(W, b, X, labels, weights, l2):
    """J's gradient at (W, b), written here in plain NumPy (sigmoid / softmax, the weighted mean, l2 / S)."""
    S = weights.sum()
    Z = W.T @ X + b
    if W.shape[1] == 1:
        R = (1 / (1 + np.exp(-Z)) - labels) * weights / S
    else:
        E = np.exp(Z - Z.max(axis=0))
        T = (labels == np.arange(W.shape[1])[:, None]).astype(np.float64)
        R = (E / E.sum(axis=0) - T) * weights / S
    return X @ R.T + l2 / S * W, R.sum(axis=1, keepdims=True)


def _fit(solver, loss, **options):
    from xlogreg.solvers import lbfgs, newton

    run = {"newton-cg": newton.newton_cg, "newton-cholesky": newton.newton_cholesky, "lbfgs": lbfgs.lbfgs}[solver]
    return run(loss, *loss.zeros(), **options)


@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky", "lbfgs"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_newton_and_lbfgs_on_dask_equal_their_numpy_fits(solver, n_classes):
    """Weighted binary and softmax fits on a Dask X in uneven chunks (no settle given: the solvers settle Dask
    themselves) equal the same solver's NumPy fit to 1e-8, and both are at the optimum by a NumPy gradient
    written here; the weights come back as data (a one-task graph), not the recipe of the fit."""
    from xlogreg import _loss

    X, labels, weights = _weighted_problem(n_classes)
    l2 = 0.5
    eager = _loss.LogisticLoss(X, labels, n_classes, sample_weight=weights, l2=l2)
    lazy = _loss.LogisticLoss(da.from_array(X, chunks=(6, 70)), da.from_array(labels, chunks=(1, 100)),
                              n_classes, sample_weight=da.from_array(weights, chunks=(1, 45)),
                              total_weight=float(weights.sum()), l2=l2)
    expected = _fit(solver, eager, tol=1e-11, max_iter=200)
    got = _fit(solver, lazy, tol=1e-11, max_iter=200)
    assert got.converged and expected.converged
    assert len(got.w.__dask_graph__()) == 1 and len(got.b.__dask_graph__()) == 1
    W, b = np.asarray(got.w), np.asarray(got.b)
    np.testing.assert_allclose(W, expected.w, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b, expected.b, rtol=1e-8, atol=1e-10)
    dW, db = _numpy_gradient(W, b, X, labels, weights, l2)
    assert np.sqrt(np.sum(dW ** 2) + np.sum(db ** 2)) < 1e-9


@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky", "lbfgs"])
def test_estimator_on_dask_equals_its_numpy_fit_with_weights(solver):
    """The scikit-learn estimator's user path (X of shape (m, n_x) as a Dask array, sample weights, C) gives
    the NumPy fit's coefficients to 1e-8."""
    X, labels, weights = _weighted_problem(3, seed=7)
    y = labels[0].astype(int)
    options = dict(solver=solver, C=0.7, tol=1e-10, max_iter=300)
    numpy_fit = xlogreg.LogisticRegression(**options).fit(X.T, y, sample_weight=weights[0])
    dask_fit = xlogreg.LogisticRegression(**options).fit(da.from_array(X.T, chunks=(80, 6)), y,
                                                         sample_weight=weights[0])
    np.testing.assert_allclose(np.asarray(dask_fit.coef_), numpy_fit.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(dask_fit.intercept_), numpy_fit.intercept_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_newton_cg_step_on_dask_reads_x_once_per_product(n_classes, monkeypatch):
    """A Newton-CG iteration on a Dask X reads each chunk of X once per Hessian-vector product, once per
    value-and-gradient (the start and each trial of the line search), once for the curvature at the iterate
    and once for the Jacobi diagonal: nothing more (before, every scalar that CG read recomputed the chain of
    products behind it). Counted by wrapping the products and the evaluations, and the reads of X."""
    from xlogreg import _loss
    from xlogreg.solvers import newton

    X, labels, weights = _weighted_problem(n_classes, n_x=8, m=400)
    source = CountingArray(X)
    Xd = da.from_array(source, chunks=(8, 90), meta=np.empty((0, 0)))
    chunks = Xd.numblocks[1]
    loss = _loss.LogisticLoss(Xd, da.from_array(labels, chunks=(1, 90)), n_classes,
                              sample_weight=da.from_array(weights, chunks=(1, 90)),
                              total_weight=float(weights.sum()), l2=1.0)
    calls = {"products": 0, "evaluations": 0}
    product, evaluate = _loss._HessianOperator.__call__, _loss.LogisticLoss.value_and_gradient

    def counted(name, function):
        def wrapper(*args):
            calls[name] += 1
            return function(*args)
        return wrapper

    monkeypatch.setattr(_loss._HessianOperator, "__call__", counted("products", product))
    monkeypatch.setattr(_loss.LogisticLoss, "value_and_gradient", counted("evaluations", evaluate))
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore", xlogreg.ConvergenceWarning)
        result = newton.newton_cg(loss, *loss.zeros(), tol=0.0, max_iter=2)
    assert result.iterations == 2 and calls["products"] >= 2 and calls["evaluations"] >= 3
    # per Newton iteration: the products, the trial points, the curvature and the diagonal
    assert source.reads == chunks * (calls["products"] + calls["evaluations"] + 2 * 2), (source.reads, calls)


def test_lbfgs_on_dask_reads_x_once_per_evaluation():
    """L-BFGS on a Dask X: each evaluation of J and its gradient is one read of each chunk, nothing more."""
    from xlogreg import _loss
    from xlogreg.solvers import lbfgs

    X, labels, weights = _weighted_problem(2, n_x=8, m=400)
    source = CountingArray(X)
    Xd = da.from_array(source, chunks=(8, 90), meta=np.empty((0, 0)))
    loss = _loss.LogisticLoss(Xd, da.from_array(labels, chunks=(1, 90)), l2=1.0)
    evaluations = []
    real = loss.value_and_gradient
    loss.value_and_gradient = lambda W, b: evaluations.append(1) or real(W, b)
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore", xlogreg.ConvergenceWarning)
        result = lbfgs.lbfgs(loss, *loss.zeros(), tol=0.0, max_iter=5)
    assert result.iterations == 5 and len(evaluations) >= 6
    assert source.reads == Xd.numblocks[1] * len(evaluations)


# --------------------------------------------------------------------------- distributed


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, on loopback."""
    # The scheduler's HTTP server starts even without a dashboard, on port 8787 when that
    # is free and with a warning when not (another cluster, a parallel test run): port 0
    # takes any free port, quietly.
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as local:
        yield local


def _worker_pids(client):
    return client.run(os.getpid)


def test_local_cluster_gives_numpys_model(cluster, synthetic, synthetic_path):
    X, Y = synthetic
    kwargs = dict(num_iterations=15, learning_rate=0.5, solver="primal", record_every=5)
    reference = xlogreg.train(X, Y, backend="numpy", **kwargs)
    with _backends.dask_scheduler(cluster.scheduler_address) as client:
        assert _backends.dask_client() is client
        assert len(_worker_pids(client)) == 2
        tasks = []
        callback = lambda i, cost: tasks.append(len(cluster.scheduler.tasks))  # noqa: E731
        X_lazy, Y_lazy, _ = datasets.open_lazy(synthetic_path, chunk_examples=700)
        from_file = xlogreg.train(X_lazy, Y_lazy, backend="dask", callback=callback, **kwargs)
        in_memory = xlogreg.train(X, Y, backend="dask", **kwargs)  # scattered to the workers in chunks
    assert _backends.dask_client() is None
    assert_same_model(from_file, reference, RTOL["float64"])
    assert_same_model(in_memory, reference, RTOL["float64"])
    run = course_loop(X, Y, kwargs)
    assert_matches_course_loop(from_file, run, X, Y, RTOL["float64"])
    assert_matches_course_loop(in_memory, run, X, Y, RTOL["float64"])
    # The scheduler holds one iteration's tasks at most (38 for these 5 chunks), never a
    # growing history (with persisted w it held 67 more per iteration: 2000 after 30).
    assert max(tasks) < 60, tasks
    # The models outlive the client: their w holds data, not futures.
    assert from_file.predict(X).shape == (1, 3000)


def test_killed_worker_is_recovered_with_the_same_weights(cluster, synthetic_path, tmp_path):
    X, Y, _ = datasets.open_lazy(synthetic_path, chunk_examples=700)
    kwargs = dict(num_iterations=8, learning_rate=0.5, solver="primal", record_every=1)
    armed, killed = tmp_path / "armed", tmp_path / "killed"

    def kill_once(block):
        # Runs in a worker: after the test arms it, the first task to get here kills its
        # own worker process in the middle of the iteration; later tasks pass through.
        if os.path.exists(armed):
            try:
                os.close(os.open(killed, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return block
            os.kill(os.getpid(), signal.SIGKILL)
        return block

    X_fragile = X.map_blocks(kill_once, dtype=X.dtype)

    def arm(i, cost):
        if i == 3:
            armed.touch()

    with _backends.dask_scheduler(cluster.scheduler_address) as client:
        client.wait_for_workers(2, timeout=60)
        pids = set(_worker_pids(client).values())
        reference = xlogreg.train(X, Y, backend="dask", **kwargs)
        model = xlogreg.train(X_fragile, Y, backend="dask", callback=arm, **kwargs)
        client.wait_for_workers(2, timeout=60)
        assert killed.exists()  # a worker really died, during iteration 4
        assert set(_worker_pids(client).values()) != pids  # and the nanny started a new one
    assert model.iterations == 8
    np.testing.assert_array_equal(_backends.to_numpy(model.w), _backends.to_numpy(reference.w))
    assert model.b == reference.b and model.costs == reference.costs


def test_lost_in_memory_data_fails_loudly(cluster, synthetic):
    X, Y = synthetic

    def kill_the_holders(i, cost):
        if i == 2:  # between iterations: the workers take the chunks of X and Y with them
            client = _backends.dask_client()
            holders = {w for ws in client.who_has().values() for w in ws}  # copies too
            for worker, pid in client.run(os.getpid).items():
                if worker in holders:
                    os.kill(pid, signal.SIGKILL)

    with _backends.dask_scheduler(cluster.scheduler_address) as client:
        client.wait_for_workers(2, timeout=60)
        with pytest.raises(_backends.BackendError, match="cancelled the training computation") as failure:
            xlogreg.train(X, Y, backend="dask", num_iterations=10, learning_rate=0.5, solver="primal",
                          callback=kill_the_holders)
        client.wait_for_workers(2, timeout=60)
    assert "open_lazy" in str(failure.value)
    assert isinstance(failure.value.__cause__, distributed.client.FutureCancelledError)


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(_backends.BackendError, match="cannot connect to the Dask scheduler at 'tcp://127.0.0.1:9'"):
        with _backends.dask_scheduler("tcp://127.0.0.1:9", timeout=0.5):
            pass


def test_no_address_means_local_threads(monkeypatch):
    monkeypatch.delenv(_backends.SCHEDULER_ENV, raising=False)
    with _backends.dask_scheduler() as client:
        assert client is None and dask.config.get("scheduler") == "threads"
        assert _backends.dask_client() is None


# --------------------------------------------------------------------------- command line


def start_cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "xlogreg", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def finish(process, timeout=120):
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_cli_trains_on_a_cluster_like_numpy(cluster, synthetic_path, tmp_path):
    args = ["train", "--train", synthetic_path, "-n", 30, "--learning-rate", 0.5, "--record-every", 10, "-q"]
    started = [  # together: most of each run is Python starting up
        start_cli(*args, "--json", tmp_path / "numpy.json"),
        start_cli(*args, "--backend", "dask", "--scheduler", cluster.scheduler_address,
                  "--json", tmp_path / "flag.json"),
        start_cli(*args, "--backend", "dask", "--json", tmp_path / "env.json",
                  env={_backends.SCHEDULER_ENV: cluster.scheduler_address}),
    ]
    numpy_run, flag_run, env_run = map(finish, started)
    for run in (numpy_run, flag_run, env_run):
        assert run.returncode == 0, run.stderr
    assert f"Dask scheduler: {cluster.scheduler_address}" in flag_run.stdout
    assert f"Dask scheduler: {cluster.scheduler_address}" in env_run.stdout
    summaries = [json.loads((tmp_path / f"{name}.json").read_text())["runs"][0]
                 for name in ("numpy", "flag", "env")]
    for summary in summaries[1:]:
        assert summary["backend"] == "dask"
        assert_close(summary["costs"], summaries[0]["costs"], RTOL["float64"], "costs")
        assert summary["train_accuracy"] == summaries[0]["train_accuracy"]


def test_cli_scheduler_needs_dask():
    run = finish(start_cli("train", "-n", 1, "--scheduler", "tcp://127.0.0.1:9"))
    assert run.returncode == 2 and "--scheduler needs --backend dask" in run.stderr


def _load_benchmark(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cli_trains_out_of_core_on_a_file_three_times_its_memory_limit(tmp_path):
    """The measurement of benchmarks/out_of_core_memory.py (whose results file the README quotes)."""
    memory = _load_benchmark("out_of_core_memory")
    # 1.0 GiB of 64x64x3 uint8 images: 3.2 times the limit on the training process's data
    # segment; flattened to float32, X would be 4 GiB (12.8 times).
    path = tmp_path / "big.h5"
    try:
        size = memory.write_data(path, 87382)
        assert size > 3 * memory.MEMORY_LIMIT
        run, peak = memory.train_limited(path, tmp_path / "run.json", memory.MEMORY_LIMIT)
    finally:
        path.unlink(missing_ok=True)  # pytest keeps the last runs' temporary directories: not this gigabyte
    assert run.returncode == 0, run.stdout + run.stderr
    assert peak < memory.MEMORY_LIMIT < size / 3, (peak, memory.MEMORY_LIMIT, size)
    summary = json.loads((tmp_path / "run.json").read_text())
    assert summary["data"]["m_train"] == 87382
    run_summary = summary["runs"][0]
    assert run_summary["backend"] == "dask" and run_summary["costs"][0] == pytest.approx(np.log(2), rel=1e-6)
    assert run_summary["train_accuracy"] > 60  # one step of gradient descent already learns


def test_small_dual_state_iterates_off_dask(monkeypatch):
    """The dual's small state is computed once and iterated outside Dask: the number of Dask
    computations does not grow with the iterations, and the result equals NumPy's."""
    calls = []
    real = data_dask.dask_run
    monkeypatch.setattr(data_dask, "dask_run", lambda f, *a: calls.append(f.__name__) or real(f, *a))
    rng = np.random.default_rng(7)
    X = rng.standard_normal((300, 40))
    Y = (rng.random((1, 40)) < 1 / (1 + np.exp(-X[:1]))).astype(np.float64)
    Xd, Yd = da.from_array(X, chunks=(300, 15)), da.from_array(Y, chunks=(1, 15))
    counts = []
    for iterations in (5, 50):
        calls.clear()
        model = xlogreg.train(Xd, Yd, num_iterations=iterations, learning_rate=0.1, solver="dual", record_every=10)
        counts.append(len(calls))
        assert isinstance(model.w, da.Array)
        ref = xlogreg.train(X, Y, num_iterations=iterations, learning_rate=0.1, solver="primal", record_every=10)
        np.testing.assert_allclose(model.w.compute(), ref.w, rtol=0, atol=1e-12 * np.max(np.abs(ref.w)))
        np.testing.assert_allclose(model.costs, ref.costs, rtol=1e-12)
    assert counts[0] == counts[1]


def test_fused_true_is_refused_on_a_dask_primal():
    """The compiled kernels take NumPy arrays only: asked for on a Dask X, a clear error, not a silent no."""
    X, Y = da.ones((4, 10), chunks=(4, 5)), da.zeros((1, 10), chunks=(1, 5))
    with pytest.raises(ValueError, match="fused=True cannot run here"):
        gd.primal_loop(da.zeros((4, 1)), da.asarray(0.0), X, Y, 1, 0.1, 1, fused=True)


def test_cli_predict_data_on_dask_reads_the_file_in_chunks_not_whole(synthetic_path, tmp_path, monkeypatch, capsys):
    """`xlogreg predict MODEL --data FILE --backend dask` streams FILE chunk by chunk (it may be bigger than
    memory) and prints NumPy's report, line for line."""
    from xlogreg import cli

    model = tmp_path / "m.h5"
    assert cli.main(["train", "--train", str(synthetic_path), "-n", "30", "--learning-rate", "0.5", "-q",
                     "--save", str(model)]) == 0
    capsys.readouterr()
    assert cli.main(["predict", str(model), "--data", str(synthetic_path)]) == 0
    in_memory = capsys.readouterr().out
    monkeypatch.setattr(io_datasets, "load_h5", lambda *args, **kwargs: pytest.fail("--data was loaded whole"))
    reads = ReadCounter(monkeypatch)
    with dask.config.set({"array.chunk-size": "64KiB"}):  # 128 examples of 64 float64 features per chunk
        assert cli.main(["predict", str(model), "--data", str(synthetic_path), "--backend", "dask"]) == 0
    assert capsys.readouterr().out == in_memory
    chunks = -(-3000 // 128)
    # images: the finiteness check at entry, then the prediction; labels: once
    assert reads.reads == 3 * chunks, reads.reads
