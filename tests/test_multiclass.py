"""train() with softmax (K classes), L2, sample weights and the stopping rule.

The reference is a plain NumPy gradient-descent loop written here, from the
formulas of the engine issue, not from the library:
``J = sum_i s_i L_i / S + l2 / (2 S) ||W||^2``,
``dW = X ((A - T) s).T / S + l2 / S W``, ``db = sum_i s_i (a_i - t_i) / S``.
"""

from __future__ import annotations

import numpy as np
import pytest

import xlogreg
from xlogreg import _backends


def reference_gd(X, labels, n_classes, num_iterations, learning_rate, l2=0.0, s=None, record_every=100):
    """Batch gradient descent from zero, float64, plain NumPy: (W, b, costs)."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64).reshape(1, -1)
    m = X.shape[1]
    s = np.ones((1, m)) if s is None else np.asarray(s, dtype=np.float64).reshape(1, m)
    S = s.sum()
    if n_classes == 2:
        T, k = labels, 1
    else:
        T, k = (labels == np.arange(n_classes)[:, None]).astype(np.float64), n_classes
    W, b, costs = np.zeros((X.shape[0], k)), np.zeros((k, 1)), []
    for i in range(num_iterations):
        Z = W.T @ X + b
        if k == 1:
            A = 1 / (1 + np.exp(-Z))
            L = -(T * np.log(A) + (1 - T) * np.log(1 - A))
        else:
            E = np.exp(Z - Z.max(axis=0))
            A = E / E.sum(axis=0)
            L = -(T * np.log(A)).sum(axis=0, keepdims=True)
        if i % record_every == 0:
            costs.append(float((L * s).sum() / S + l2 / (2 * S) * (W * W).sum()))
        R = (A - T) * s / S
        dW = X @ R.T + l2 / S * W
        db = R.sum(axis=1, keepdims=True)
        W, b = W - learning_rate * dW, b - learning_rate * db
    return W, b, costs


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits  # in the test extra

    data = load_digits()
    return (data.data / 16.0).T, data.target.reshape(1, -1).astype(np.float64)


def assert_model(model, W, b, costs, rtol):
    scale = np.max(np.abs(W))
    np.testing.assert_allclose(_backends.to_numpy(model.w), W, rtol=0, atol=rtol * scale)
    got_b = _backends.to_numpy(model.b) if model.n_classes > 2 else np.array([[model.b]])
    np.testing.assert_allclose(got_b, b, rtol=0, atol=rtol * max(scale, 1.0))
    np.testing.assert_allclose(model.costs, costs, rtol=rtol)


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_digits_ten_classes_match_the_numpy_loop(digits, solver):
    X, y = digits
    W, b, costs = reference_gd(X, y, 10, 150, 0.5, l2=1.0, record_every=25)
    model = xlogreg.train(X, y, num_iterations=150, learning_rate=0.5, l2=1.0, solver=solver, record_every=25)
    assert model.n_classes == 10 and model.w.shape == (64, 10) and model.b.shape == (10, 1)
    assert model.solver == solver
    assert_model(model, W, b, costs, 1e-9)
    # Accuracy from the reference's own predictions.
    pred = np.argmax(W.T @ X + b, axis=0)
    assert model.train_accuracy == pytest.approx(100 * np.mean(pred == y[0]), abs=1e-9)
    assert model.train_accuracy > 90


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_more_features_than_examples_with_weights_and_l2(solver, n_classes):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 40))
    y = rng.integers(0, n_classes, 40).astype(np.float64)
    s = rng.integers(0, 3, 40).astype(np.float64) + rng.random(40)
    W, b, costs = reference_gd(X, y, n_classes, 120, 0.05, l2=2.0, s=s, record_every=10)
    model = xlogreg.train(X, y, num_iterations=120, learning_rate=0.05, l2=2.0, sample_weight=s, solver=solver,
                          record_every=10)
    assert_model(model, W, b, costs, 1e-9)


def test_integer_weights_equal_repeated_examples():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 30))
    y = rng.integers(0, 3, 30)
    s = rng.integers(0, 4, 30)
    repeated = xlogreg.train(np.repeat(X, s, axis=1), np.repeat(y, s), num_iterations=200, learning_rate=0.3,
                             l2=0.5, record_every=20, n_classes=3)
    for solver in ("primal", "dual"):
        weighted = xlogreg.train(X, y, sample_weight=s, num_iterations=200, learning_rate=0.3, l2=0.5,
                                 record_every=20, solver=solver, n_classes=3)
        np.testing.assert_allclose(weighted.w, repeated.w, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(weighted.b, repeated.b, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(weighted.costs, repeated.costs, rtol=1e-12)


def test_softmax_with_two_classes_decides_like_the_sigmoid():
    """Softmax over two classes is a sigmoid of the logit difference; gradient descent moves that
    difference at twice the step. The reference's K = 2 softmax, run here, against train's neuron."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 50))
    y = (X[0] + 0.5 * rng.standard_normal(50) > 0).astype(np.float64)
    T = np.vstack([1 - y, y])
    W, b = np.zeros((4, 2)), np.zeros((2, 1))
    for _ in range(300):
        Z = W.T @ X + b
        E = np.exp(Z - Z.max(axis=0))
        R = (E / E.sum(axis=0) - T) / 50
        W, b = W - 0.1 * X @ R.T, b - 0.1 * R.sum(axis=1, keepdims=True)
    model = xlogreg.train(X, y, num_iterations=300, learning_rate=0.2)
    np.testing.assert_allclose(model.w[:, 0], W[:, 1] - W[:, 0], rtol=1e-12, atol=1e-14)
    assert model.b == pytest.approx(b[1, 0] - b[0, 0], abs=1e-14)
    np.testing.assert_array_equal(model.predict(X)[0], np.argmax(W.T @ X + b, axis=0))


def test_one_hot_labels_and_absent_classes():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3, 20))
    y = rng.integers(0, 3, 20)
    one_hot = (y == np.arange(3)[:, None]).astype(np.float64)
    a = xlogreg.train(X, y, num_iterations=50, learning_rate=0.1)
    b = xlogreg.train(X, one_hot, num_iterations=50, learning_rate=0.1)
    np.testing.assert_array_equal(a.w, b.w)
    c = xlogreg.train(X, y, num_iterations=50, learning_rate=0.1, n_classes=5)  # classes 3, 4 absent
    assert c.n_classes == 5 and c.w.shape == (3, 5)
    W, b_ref, _ = reference_gd(X, y, 5, 50, 0.1)
    np.testing.assert_allclose(c.w, W, rtol=1e-12, atol=1e-14)
    assert np.all(c.predict(X) < 3)


def test_predictions_and_probabilities():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 60))
    y = np.argmax(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]) @ X, axis=0)
    model = xlogreg.train(X, y, num_iterations=300, learning_rate=1.0)
    P = model.predict_proba(X)
    assert P.shape == (3, 60)
    np.testing.assert_allclose(P.sum(axis=0), 1.0, rtol=1e-14)
    Z = model.w.T @ X + model.b
    np.testing.assert_allclose(P, np.exp(Z) / np.exp(Z).sum(axis=0), rtol=1e-12)
    pred = model.predict(X)
    assert pred.shape == (1, 60) and pred.dtype == np.float64
    np.testing.assert_array_equal(pred[0], np.argmax(Z, axis=0))
    assert model.accuracy(X, y) == pytest.approx(100 * np.mean(pred[0] == y))
    assert model.train_accuracy == model.accuracy(X, y) > 90


def test_stopping_rule_gives_the_model_of_that_many_iterations():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((5, 80))
    y = rng.integers(0, 3, 80)
    for solver in ("primal", "dual"):
        model = xlogreg.train(X, y, num_iterations=5000, learning_rate=0.5, l2=1.0, tol=1e-4, record_every=10,
                              solver=solver)
        assert model.converged and 0 < model.iterations < 5000 and model.iterations % 10 == 0
        exact = xlogreg.train(X, y, num_iterations=model.iterations, learning_rate=0.5, l2=1.0, solver=solver)
        np.testing.assert_array_equal(model.w, exact.w)
        # The rule held at the stop and not at the check before it: gradient norms from the reference.
        for n, holds in ((model.iterations, True), (model.iterations - 10, False)):
            W, b, _ = reference_gd(X, y, 3, n, 0.5, l2=1.0)
            Z = W.T @ X + b
            E = np.exp(Z - Z.max(axis=0))
            R = (E / E.sum(axis=0) - (y == np.arange(3)[:, None])) / 80
            grad = np.sqrt(np.sum((X @ R.T + 1.0 / 80 * W) ** 2) + np.sum(R.sum(axis=1) ** 2))
            assert (grad <= 1e-4) == holds, (n, grad)
    never = xlogreg.train(X, y, num_iterations=30, learning_rate=0.5, tol=0.0, record_every=10)
    assert never.converged is False and never.iterations == 30
    assert xlogreg.train(X, y, num_iterations=30, learning_rate=0.5).converged is None


def test_compiled_kernels_cover_l2_and_refuse_what_they_do_not_compute(numba_kernel):
    rng = np.random.default_rng(6)
    X = np.asfortranarray(rng.standard_normal((20, 300)))
    y = (X[0] > 0).astype(np.float64)
    for solver in ("primal", "dual"):
        plain = xlogreg.train(X, y, num_iterations=50, learning_rate=0.5, l2=3.0, solver=solver, fused=False)
        W, b, costs = reference_gd(X, y, 2, 50, 0.5, l2=3.0)
        assert_model(plain, W, b, costs, 1e-10)
    fused = xlogreg.train(X, y, num_iterations=50, learning_rate=0.5, l2=3.0, solver="primal", fused=True)
    assert_model(fused, W, b, costs, 1e-10)
    with pytest.raises(ValueError, match="fused=True cannot run here: .*binary"):
        xlogreg.train(X, y, sample_weight=np.ones(300), num_iterations=5, solver="dual", fused=True)
    with pytest.raises(ValueError, match="fused=True cannot run here: .*binary"):
        xlogreg.train(X, np.arange(300) % 3, num_iterations=5, solver="dual", fused=True)
    with pytest.raises(ValueError, match="fused=True cannot run here: .*L2"):
        xlogreg.train(X, y, l2=1.0, num_iterations=5, solver="dual", fused=True)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_compiled_primal_pass_takes_weights_and_classes_in_either_order(numba_kernel, order, n_classes, dtype,
                                                                        rtol):
    """The one-read primal pass (xlogreg.data.compiled.PrimalPass) with sample weights, L2 and K classes, X in
    C or Fortran order, against the plain NumPy loop of this file."""
    rng = np.random.default_rng(16)
    X = rng.standard_normal((23, 301))
    y = rng.integers(0, n_classes, 301) if n_classes > 2 else (X[0] + X[1] > 0).astype(np.float64)
    s = rng.random(301) * 2
    W, b, costs = reference_gd(X, y, n_classes, 60, 0.5, l2=2.0, s=s, record_every=20)
    Xd = np.asarray(X.astype(dtype), order=order)
    fused = xlogreg.train(Xd, y, n_classes=n_classes, sample_weight=s, num_iterations=60, learning_rate=0.5,
                          l2=2.0, solver="primal", fused=True, record_every=20)
    assert fused.w.dtype == dtype
    assert_model(fused, W, b, costs, rtol)


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_every_backend_agrees_with_the_reference(case, solver):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((8, 30))
    y = rng.integers(0, 3, 30)
    s = rng.random(30) + 0.5
    W, b, costs = reference_gd(X, y, 3, 40, 0.3, l2=0.7, s=s, record_every=10)
    model = xlogreg.train(case.asarray(X), case.asarray(y, dtype=None), sample_weight=case.asarray(s),
                          num_iterations=40, learning_rate=0.3, l2=0.7, solver=solver, record_every=10)
    assert model.backend == case.backend and model.dtype == case.dtype_name
    # Everything stays on the data's device (array_api_strict's device1 refuses to mix).
    assert str(_backends.get_device(model.w)) == str(case.device) if hasattr(_backends, "get_device") else True
    P = model.predict_proba(case.asarray(X))
    assert P.shape == (3, 30)
    assert_model(model, W, b, costs, 1e-4 if case.dtype_name == "float32" else 1e-9)


def test_errors_name_the_argument():
    X = np.zeros((2, 4))
    y = np.array([0, 1, 2, 1])
    for kwargs, error, words in [
        (dict(sample_weight=[1, 1, -1, 1]), ValueError, "sample_weight must be >= 0"),
        (dict(sample_weight=[1, 1, 1]), ValueError, r"sample_weight must have shape \(4,\)"),
        (dict(sample_weight=[1, np.nan, 1, 1]), ValueError, "sample_weight must hold only finite"),
        (dict(sample_weight=[0, 0, 0, 0]), ValueError, "sample_weight must have a positive"),
        (dict(l2=-1.0), ValueError, "l2 must be a finite number >= 0"),
        (dict(tol=-1.0), ValueError, "tol must be a finite number >= 0"),
        (dict(tol="1e-4"), TypeError, "tol must be a real number"),
        (dict(n_classes=2), ValueError, "holds the label 2 but n_classes is 2"),
        (dict(n_classes=1), ValueError, "n_classes must be None or an integer >= 2"),
    ]:
        with pytest.raises(error, match=words):
            xlogreg.train(X, y, num_iterations=1, **kwargs)
    with pytest.raises(ValueError, match="one-hot targets of 3 classes"):
        xlogreg.train(X, np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1.0]]), num_iterations=1)
    with pytest.raises(ValueError, match="more classes than its 4 examples"):
        xlogreg.train(X, np.array([0, 1, 2, 100]), num_iterations=1)


def test_finite_divergence_is_reported():
    """A cost that explodes and stays finite (0.69 -> ~1e4) is an error; oscillating runs that settle are not."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((3, 100))
    y = (rng.random(100) < 0.5).astype(np.float64)  # not separable
    with pytest.raises(xlogreg.TrainingDiverged, match="rose from 0.693147"):
        xlogreg.train(X, y, num_iterations=300, learning_rate=1e6)
    with pytest.raises(xlogreg.TrainingDiverged, match="rose"):
        xlogreg.train(X, y, num_iterations=5, learning_rate=1e6, record_every=100)  # one recorded cost only


@pytest.mark.parametrize("learning_rate", [0.005, 0.01, 0.5, 50.0])
def test_course_runs_that_oscillate_and_settle_stay_silent(course_data, learning_rate):
    X, Y = course_data[:2]
    model = xlogreg.train(X, Y, num_iterations=2000, learning_rate=learning_rate)
    assert model.costs[-1] < 0.2 and model.train_accuracy >= 99


def test_model_files_carry_the_classes(tmp_path):
    rng = np.random.default_rng(9)
    X = rng.standard_normal((4, 40))
    y = rng.integers(0, 3, 40)
    model = xlogreg.train(X, y, num_iterations=60, learning_rate=0.3, l2=0.5, tol=1e-9, record_every=20)
    model.classes = ["ant", "bee", "cat"]
    path = tmp_path / "three.h5"
    model.save(path)
    loaded = xlogreg.load_model(path)
    assert loaded.n_classes == 3 and loaded.classes == ["ant", "bee", "cat"]
    assert loaded.l2 == 0.5 and loaded.tol == 1e-9 and loaded.converged is False
    np.testing.assert_array_equal(loaded.w, model.w)
    np.testing.assert_array_equal(loaded.b, model.b)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=0, atol=0)
    strict = xlogreg.load_model(path, backend="array_api_strict", dtype="float32")
    assert strict.b.shape == (3, 1) and strict.b.dtype == strict.w.dtype
    model.classes = ["ant", "bee"]
    with pytest.raises(ValueError, match="must name 3 classes"):
        model.save(tmp_path / "bad.h5")
    assert not (tmp_path / "bad.h5").exists()


def _write_course_file(path, images, labels, classes, prefix):
    import h5py

    with h5py.File(path, "w") as f:
        f[f"{prefix}_set_x"] = images
        f[f"{prefix}_set_y"] = labels
        f["list_classes"] = np.array([c.encode() for c in classes])


def test_cli_trains_and_predicts_three_classes_from_course_files(tmp_path):
    """Course-format files with labels 0..2 and three class names: train --l2 --tol, save, predict."""
    from PIL import Image
    from test_cli import ok, run_cli

    rng = np.random.default_rng(10)
    colours = np.array([[230, 20, 20], [20, 230, 20], [20, 20, 230]], dtype=np.uint8)

    def images(labels):
        noise = rng.integers(0, 25, (len(labels), 4, 4, 3))
        return np.clip(colours[labels][:, None, None, :].astype(int) + noise, 0, 255).astype(np.uint8)

    y_train, y_test = rng.integers(0, 3, 60), np.array([0, 1, 2, 2, 1, 0])
    names = ["red", "green", "blue"]
    _write_course_file(tmp_path / "train.h5", images(y_train), y_train, names, "train")
    _write_course_file(tmp_path / "test.h5", images(y_test), y_test, names, "test")
    proc = ok(run_cli("train", "--train", tmp_path / "train.h5", "--test", tmp_path / "test.h5", "-n", "3000",
                      "--lr", "0.5", "--l2", "0.1", "--tol", "1e-3", "--record-every", "50", "--save",
                      tmp_path / "m.h5", "--json", tmp_path / "run.json", "-q", cwd=tmp_path))
    assert "classes ['red', 'green', 'blue']" in proc.stdout
    assert "converged after" in proc.stdout and "test accuracy: 100.0 %" in proc.stdout
    import json

    run = json.loads((tmp_path / "run.json").read_text())["runs"][0]
    assert run["n_classes"] == 3 and run["l2"] == 0.1 and run["converged"] is True
    Image.fromarray(images(np.array([2]))[0]).save(tmp_path / "blue.png")
    proc = ok(run_cli("predict", tmp_path / "m.h5", tmp_path / "blue.png", "--data", tmp_path / "test.h5"))
    assert "blue.png: blue (P(blue) = " in proc.stdout
    assert "accuracy: 100.0 % (6 examples" in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines()[-3:]]
    assert rows == [["red", "2", "0", "0"], ["green", "0", "2", "0"], ["blue", "0", "0", "2"]]


def test_cli_refuses_labels_beyond_the_class_names(tmp_path):
    from test_cli import run_cli

    y = np.array([0, 1, 3, 1])
    _write_course_file(tmp_path / "d.h5", np.zeros((4, 2, 2, 3), np.uint8), y, ["a", "b", "c"], "train")
    proc = run_cli("train", "--train", tmp_path / "d.h5", "-n", "1")
    assert proc.returncode == 2 and "must hold only the labels 0 .. 2 (it names 3 classes)" in proc.stderr


def test_cli_digits_all_ten_classes(tmp_path):
    from test_cli import ok, run_cli

    proc = ok(run_cli("train", "--digit", "all", "-n", "300", "--lr", "0.5", "-q", cwd=tmp_path))
    assert "embedded digits (ten classes)" in proc.stdout
    test_accuracy = float(proc.stdout.split("test accuracy: ")[1].split(" %")[0])
    assert test_accuracy > 90


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_out_of_core_softmax_with_weights_matches_the_reference(tmp_path, solver):
    """A course-format file of three classes, read lazily in chunks by Dask (one pass per iteration)."""
    import dask.array as da

    from xlogreg import datasets

    rng = np.random.default_rng(11)
    images = rng.integers(0, 256, (90, 3, 3, 2), dtype=np.uint8)
    y = rng.integers(0, 3, 90)
    _write_course_file(tmp_path / "d.h5", images, y, ["a", "b", "c"], "train")
    X_lazy, Y_lazy, classes = datasets.open_lazy(tmp_path / "d.h5", chunk_examples=25)  # 4 chunks
    assert X_lazy.numblocks[1] == 4
    s = rng.random(90) + 0.5
    X = images.reshape(90, -1).T / 255.0
    W, b, costs = reference_gd(X, y, 3, 30, 0.5, l2=0.3, s=s, record_every=10)
    model = xlogreg.train(X_lazy, Y_lazy, sample_weight=da.from_array(s, chunks=40), num_iterations=30,
                          learning_rate=0.5, l2=0.3, record_every=10, solver=solver)
    assert model.backend == "dask" and model.solver == solver
    assert_model(model, W, b, costs, 1e-9)
