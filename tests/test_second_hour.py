"""A newcomer's second hour (issue 25): labels, fields and messages that must not mislead.

Each test fails on the code before its fix. Expected values come from plain NumPy written here,
not from the code under test.
"""

import math
import warnings

import numpy as np
import pytest

import xlogreg
from conftest import import_backend
from xlogreg import _backends

X = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]])  # n_x = 2, m = 6
Y01 = np.array([[0, 0, 0, 1, 1, 1]])


def _message(exc_type, call):
    with pytest.raises(exc_type) as info:
        call()
    return str(info.value)


def numpy_cost(w, b, X, Y):
    """The course's cross-entropy, in NumPy float64."""
    A = 1 / (1 + np.exp(-(w.T @ X + b)))
    return float(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)))


def numpy_gradient_descent(X, Y, num_iterations, learning_rate):
    """The course's loop in NumPy float64: (w, b) after `num_iterations` steps."""
    w, b = np.zeros((X.shape[0], 1)), 0.0
    for _ in range(num_iterations):
        A = 1 / (1 + np.exp(-(w.T @ X + b)))
        w = w - learning_rate * X @ (A - Y).T / X.shape[1]
        b = b - learning_rate * float(np.mean(A - Y))
    return w, b


# --------------------------------------------------------------------------- labels


def test_a_class_without_examples_is_refused_unless_n_classes_says_so(case):
    Y = case.asarray([[1, 2, 1, 2, 1, 2]])
    message = _message(ValueError, lambda: xlogreg.train(case.asarray(X), Y, num_iterations=1))
    assert "Y has no example of class 0" in message and "its labels are 1 .. 2" in message
    assert "n_classes=3" in message and "LogisticRegression" in message
    model = xlogreg.train(case.asarray(X), Y, num_iterations=1, n_classes=3)  # said so: class 0 stays empty
    assert model.n_classes == 3


def test_the_course_model_refuses_a_class_without_examples_too(capsys):
    Y = np.array([[1, 2, 1, 2, 1, 2]])
    message = _message(ValueError, lambda: xlogreg.model(X, Y, X, Y, num_iterations=1))
    assert "Y has no example of class 0" in message and "n_classes" in message
    assert capsys.readouterr().out == ""  # refused before anything was printed


def test_missing_classes_in_the_middle_are_listed():
    Y = np.array([[0, 3, 0, 3, 5, 5]])
    message = _message(ValueError, lambda: xlogreg.train(X, Y, num_iterations=1))
    assert "Y has no example of classes 1, 2, 4" in message and "n_classes=6" in message


def test_binary_labels_of_one_class_still_train():
    """0 / 1 labels that happen to hold one class are the course's sigmoid neuron, not a mistake of K."""
    model = xlogreg.train(X, np.ones((1, 6)), num_iterations=3)
    assert model.n_classes == 2


@pytest.mark.parametrize("labels", [["cat", "dog", "cat", "dog", "cat", "dog"],
                                    np.array([b"no", b"yes", b"no", b"yes", b"no", b"yes"])],
                         ids=["str", "bytes"])
def test_text_labels_say_what_train_takes_and_what_takes_them(labels):
    message = _message(TypeError, lambda: xlogreg.train(X, labels, num_iterations=1))
    assert "Y must hold class labels 0 .. K-1" in message
    assert "numpy.unique(Y, return_inverse=True)" in message
    assert "xlogreg.LogisticRegression" in message and "labels of any kind" in message


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_non_finite_label_is_a_value_error_naming_y(case, bad):
    Y = case.asarray([[0.0, 1.0, bad, 0.0, 1.0, 0.0]])
    message = _message(ValueError, lambda: xlogreg.train(case.asarray(X), Y, num_iterations=1))
    assert message.startswith("Y must hold class labels 0 .. K-1") and "NaN or infinity" in message


def test_a_non_finite_label_in_the_test_data_is_named_too():
    Y_test = np.array([[0.0, 1.0, math.inf, 0.0, 1.0, 0.0]])
    message = _message(ValueError, lambda: xlogreg.train(X, Y01, X, Y_test, num_iterations=1))
    assert message.startswith("Y_test must hold class labels 0 .. K-1") and "NaN or infinity" in message


# --------------------------------------------------------------------------- Model


def test_a_model_made_from_lists_predicts_like_numpy():
    w, b = [[1.0], [-2.0]], 0.5
    model = xlogreg.Model(w=w, b=b)
    expected = (1 / (1 + np.exp(-(np.array(w).T @ X + b))) > 0.5).astype(np.float64)
    np.testing.assert_array_equal(model.predict(X), expected)
    np.testing.assert_allclose(model.predict_proba(X), 1 / (1 + np.exp(-(np.array(w).T @ X + b))), rtol=1e-15)
    assert w == [[1.0], [-2.0]]  # not mutated


def test_a_model_with_a_flat_w_is_refused_naming_w():
    message = _message(ValueError, lambda: xlogreg.Model(w=[1.0, 2.0], b=0.0))
    assert "w must be 2-D of shape (n_x, 1)" in message and "(2,)" in message


def test_final_cost_is_the_cost_at_the_end_not_the_last_recorded(case):
    model = xlogreg.train(case.asarray(X), case.asarray(Y01), num_iterations=5, learning_rate=0.1,
                          record_every=100)
    w, b = numpy_gradient_descent(X, Y01, 5, 0.1)
    assert model.cost_iterations == [0]  # the only recorded cost is at iteration 0 ...
    assert model.final_cost == pytest.approx(numpy_cost(w, b, X, Y01), rel=10 * case.rtol)  # ... not the end's
    assert model.final_cost != pytest.approx(model.costs[0], rel=1e-3)
    assert f"final_cost={model.final_cost:.6g}" in repr(model)


def test_final_cost_survives_save_and_load(tmp_path):
    model = xlogreg.train(X, Y01, num_iterations=5, learning_rate=0.1)
    model.save(tmp_path / "m.h5")
    assert xlogreg.load_model(tmp_path / "m.h5").final_cost == model.final_cost


def test_an_interrupted_model_has_no_final_cost():
    def stop(i, cost):
        if i == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        xlogreg.train(X, Y01, num_iterations=10, callback=stop)
    assert info.value.model.final_cost is None and "final_cost=None" in repr(info.value.model)


@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky"])
def test_the_repr_of_a_newton_fit_shows_no_learning_rate(solver):
    model = xlogreg.train(X, Y01, num_iterations=20, solver=solver, l2=1.0, tol=1e-6)
    assert "learning_rate" not in repr(model) and f"solver={solver!r}" in repr(model)
    assert "learning_rate=0.005" in repr(xlogreg.train(X, Y01, num_iterations=5))


# --------------------------------------------------------------------------- messages


def test_newton_running_out_of_iterations_names_num_iterations():
    rng = np.random.default_rng(0)
    Xr = rng.normal(size=(3, 40))
    Yr = (rng.random((1, 40)) > 0.5).astype(float)
    with pytest.warns(xlogreg.ConvergenceWarning) as record:
        xlogreg.train(Xr, Yr, num_iterations=1, solver="newton-cg", l2=1.0, tol=1e-12)
    message = str(record[0].message)
    assert "increase num_iterations" in message and "max_iter" not in message


def test_tensors_that_require_grad_train_without_warnings():
    torch = import_backend("torch")
    Xt = torch.tensor(X, requires_grad=True)
    Yt = torch.tensor(Y01, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = xlogreg.train(Xt, Yt, Xt, Yt, num_iterations=5, learning_rate=0.1)
        model.predict(Xt)
        model.accuracy(Xt, Yt)
    assert not model.w.requires_grad and Xt.grad is None  # nothing traced through training
    w, b = numpy_gradient_descent(X, Y01, 5, 0.1)
    np.testing.assert_allclose(model.w.numpy(), w, rtol=1e-12)


def test_cuda_on_torch_without_a_gpu_says_so_plainly():
    torch = import_backend("torch")
    if torch.cuda.is_available():
        pytest.skip("torch sees a CUDA GPU here")
    for device in ("cuda", "cuda:0", "cuda:1"):
        message = _message(_backends.BackendError,
                           lambda: xlogreg.train(X, Y01, backend="torch", device=device, num_iterations=1))
        assert f"device {device!r}: no CUDA GPU is visible to torch" in message and "device='cpu'" in message


def test_install_hints_work_as_written_outside_a_checkout():
    """The package is installed from a checkout, so ``pip install "xlogreg[cupy]"`` fails: hints name packages."""
    for name, hint in _backends._INSTALL_HINT.items():
        assert "xlogreg[" not in hint, (name, hint)
    assert "pip install cupy-cuda12x" in _backends._INSTALL_HINT["cupy"]


def test_propagate_returns_the_course_types_on_numpy():
    """The course's notebook checks ``type(grads["db"]) == np.float64``."""
    w, b = np.array([[1.0], [2.0]]), 2.0
    Xc = np.array([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]])
    Yc = np.array([[1, 0, 1]])
    grads, cost = xlogreg.propagate(w, b, Xc, Yc)
    assert type(grads["db"]) == np.float64 and type(grads["dw"]) == np.ndarray
    A = 1 / (1 + np.exp(-(w.T @ Xc + b)))
    assert grads["db"] == pytest.approx(float(np.mean(A - Yc)), rel=1e-12)
    assert float(cost) == pytest.approx(numpy_cost(w, b, Xc, Yc), rel=1e-12)
    params, grads, costs = xlogreg.optimize(w, b, Xc, Yc, num_iterations=3, learning_rate=0.1)
    assert type(grads["db"]) == np.float64 and type(params["b"]) == np.float64
    w_ref, b_ref = w, b
    for _ in range(3):
        A = 1 / (1 + np.exp(-(w_ref.T @ Xc + b_ref)))
        w_ref, b_ref = w_ref - 0.1 * Xc @ (A - Yc).T / 3, b_ref - 0.1 * float(np.mean(A - Yc))
    assert params["b"] == pytest.approx(b_ref, rel=1e-12)


def test_propagate_keeps_db_an_array_on_other_backends(case):
    grads, _ = xlogreg.propagate(case.asarray([[1.0], [2.0]]), 2.0, case.asarray(X), case.asarray(Y01))
    assert _backends.backend_name(case.xp) == "numpy" or tuple(grads["db"].shape) == ()


# --------------------------------------------------------------------------- non-image data in the CLI


def _h5(path, **datasets):
    import h5py

    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
    return str(path)


def _cli(capsys, *args):
    from xlogreg.cli import main

    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def _features(m=60, n_x=4, dtype=np.float32, seed=0):
    """Features (m, n_x), not pixels: values around 0, label 1 where the first two sum above 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, n_x)).astype(dtype)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def test_a_features_file_with_keys_x_and_y_trains_as_stored_in_its_dtype(tmp_path, capsys):
    x, y = _features()
    path = _h5(tmp_path / "features.h5", X=x, y=y)
    status, out, err = _cli(capsys, "train", "--train", path, "-n", 50, "--lr", 0.5, "--save", tmp_path / "m.h5")
    assert status == 0, err
    assert "floating-point values used as stored" in out and "float32" in out
    model = xlogreg.load_model(tmp_path / "m.h5")
    assert model.dtype == "float32" and model.preprocessing == {"scale": 1.0}
    w, b = numpy_gradient_descent(x.T.astype(np.float64), y[None, :], 50, 0.5)  # not divided by 255
    np.testing.assert_allclose(model.w, w, rtol=1e-4, atol=1e-6)


def test_scale_divides_floating_point_features_when_asked(tmp_path, capsys):
    x, y = _features(dtype=np.float64)
    path = _h5(tmp_path / "features.h5", X=x, y=y)
    status, out, err = _cli(capsys, "train", "--train", path, "-n", 20, "--lr", 0.5, "--scale", 4,
                            "--save", tmp_path / "m.h5")
    assert status == 0, err and "values divided by 4" in out
    w, b = numpy_gradient_descent(x.T / 4, y[None, :], 20, 0.5)
    np.testing.assert_allclose(xlogreg.load_model(tmp_path / "m.h5").w, w, rtol=1e-12)


def test_integer_pixels_are_still_divided_by_255(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(30, 2, 2, 3)).astype(np.uint8)
    y = (x[:, 0, 0, 0] > 127).astype(np.int64)
    path = _h5(tmp_path / "pixels.h5", train_set_x=x, train_set_y=y)
    status, out, err = _cli(capsys, "train", "--train", path, "-n", 20, "--lr", 0.5, "--save", tmp_path / "m.h5")
    assert status == 0, err and "values divided by 255 (integer pixels" in out
    w, b = numpy_gradient_descent(x.reshape(30, -1).T / 255, y[None, :], 20, 0.5)
    np.testing.assert_allclose(xlogreg.load_model(tmp_path / "m.h5").w, w, rtol=1e-12)


def test_unknown_keys_name_the_options(tmp_path, capsys):
    x, y = _features()
    path = _h5(tmp_path / "odd.h5", features=x, labels=y)
    status, out, err = _cli(capsys, "train", "--train", path)
    assert status == 2 and "found none among keys ['features', 'labels']" in err
    assert "--x-key KEY on the command line" in err


@pytest.mark.parametrize("names, key, count", [([b"a", b"b", b"c"], "list_classes", 3),
                                               (None, "train_set_y", 30)], ids=["three names", "labels as names"])
def test_class_names_that_do_not_match_the_labels_are_refused(tmp_path, capsys, names, key, count):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(30, 2, 2, 3)).astype(np.uint8)
    y = np.arange(30) % 2
    files = dict(train_set_x=x, train_set_y=y) | ({"list_classes": np.array(names)} if names else {})
    path = _h5(tmp_path / "data.h5", **files)
    status, out, err = _cli(capsys, "train", "--train", path, "--classes-key", key)
    assert status == 2, err
    assert f"{path}: {key!r} names {count} classes but the labels 'train_set_y' hold 2 (0 .. 1)" in err


@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_a_nan_in_the_file_is_the_same_clear_error_on_every_backend(tmp_path, capsys, backend):
    if backend == "dask":
        import_backend("dask")
    x, y = _features(dtype=np.float64)
    x[3, 1] = np.nan
    path = _h5(tmp_path / "nan.h5", train_set_x=x, train_set_y=y)
    status, out, err = _cli(capsys, "train", "--train", path, "--backend", backend, "-n", 5)
    assert status == 2
    assert err.strip() == f"xlogreg: error: {path}: 'train_set_x' contains NaN or infinity"


def test_unscaled_pixels_that_diverge_are_named_with_the_fix(course_paths):
    """Raw uint8 pixels at the course's learning rate blow up: the error says the data's range explains it."""
    x, y = xlogreg.load_dataset(*course_paths)[:2]
    X = x.reshape(x.shape[0], -1).T  # uint8, 0 .. 255: not divided by 255
    with pytest.raises(xlogreg.TrainingDiverged, match=r"reach 255 in absolute value: unscaled pixel values "
                                                       r"\(0 \.\. 255\)\? Divide X by 255, or build X with "
                                                       r"xlogreg\.flatten_images"):
        xlogreg.train(X, y, num_iterations=200)
    # scaled data of the same run trains; and a divergence on unit-scale data keeps the plain message
    xlogreg.train(X / 255.0, y, num_iterations=200)
    with pytest.raises(xlogreg.TrainingDiverged) as info:
        xlogreg.train(X / 255.0, y, num_iterations=200, learning_rate=1e4)
    assert "unscaled" not in str(info.value)
