"""train(), Model and the course's model(): the reference run on every backend."""

import numpy as np
import pytest
from array_api_compat import array_namespace, device as get_device

import _reference as ref
import xlogreg
from conftest import course_reference

# The course's published figures (../shared/datasets/README.md).
PUBLISHED_COSTS = {0: 0.693147, 100: 0.584508, 200: 0.466949, 1900: 0.140872}


@pytest.fixture(scope="session")
def reference_run(course_data):
    X, Y, X_test, Y_test, _ = course_data
    w, b, costs = course_reference(X, Y)
    predict = lambda X: (1 / (1 + np.exp(-(w.T @ X + b))) > 0.5).astype(float)  # noqa: E731
    train_acc = 100 - np.mean(np.abs(predict(X) - Y)) * 100
    test_acc = 100 - np.mean(np.abs(predict(X_test) - Y_test)) * 100
    return w, b, costs, train_acc, test_acc


def test_reference_transcription_reproduces_published_figures(reference_run):
    _, _, costs, train_acc, test_acc = reference_run
    for i, value in PUBLISHED_COSTS.items():
        assert round(costs[i // 100], 6) == value
    assert round(train_acc, 2) == 99.04 and test_acc == 70.0


def test_course_run_matches_reference(case, course_data, reference_run):
    """2000 iterations at 0.005: costs, weights and accuracies equal the NumPy course loop."""
    X, Y, X_test, Y_test, _ = course_data
    w_ref, b_ref, costs_ref, train_acc, test_acc = reference_run
    model = xlogreg.train(case.asarray(X), case.asarray(Y), case.asarray(X_test), case.asarray(Y_test),
                          num_iterations=2000, learning_rate=0.005)
    rtol = 1e-9 if case.dtype_name == "float64" else 1e-4
    np.testing.assert_allclose(model.costs, costs_ref, rtol=rtol)
    assert model.cost_iterations == list(range(0, 2000, 100))
    scale = np.max(np.abs(w_ref))
    np.testing.assert_allclose(case.to_numpy(model.w), w_ref, rtol=0, atol=rtol * scale)
    assert model.b == pytest.approx(b_ref, abs=rtol * scale)  # b is a sum of small steps: same scale as w
    assert model.train_accuracy == pytest.approx(train_acc, abs=1e-9)
    assert model.test_accuracy == pytest.approx(test_acc, abs=1e-9)
    assert array_namespace(model.w) is case.xp and str(get_device(model.w)) == str(case.device)
    assert model.w.dtype == case.dtype and model.dtype == case.dtype_name
    assert model.iterations == 2000 and not model.interrupted


def test_backend_selector_moves_numpy_data(case64, course_data):
    X, Y, *_ = course_data
    model = xlogreg.train(X, Y, num_iterations=200, learning_rate=0.005,
                          backend=case64.backend, device=case64.device)
    assert array_namespace(model.w) is case64.xp and str(get_device(model.w)) == str(case64.device)
    assert model.backend == case64.backend
    _, _, costs = course_reference(X, Y, num_iterations=200)
    np.testing.assert_allclose(model.costs, costs, rtol=1e-9)


def test_course_model_function(course_data, capsys):
    X, Y, X_test, Y_test, _ = course_data
    d = xlogreg.model(X, Y, X_test, Y_test, num_iterations=2000, learning_rate=0.005, print_cost=True)
    out = capsys.readouterr().out
    assert "Cost after iteration 0: 0.693147" in out
    assert "Cost after iteration 1900: 0.140872" in out
    assert "train accuracy: 99.04" in out and "test accuracy: 70.0 %" in out
    assert set(d) == {"costs", "Y_prediction_test", "Y_prediction_train", "w", "b", "learning_rate", "num_iterations"}
    assert d["Y_prediction_test"].shape == (1, 50) and d["w"].shape == (12288, 1)
    assert round(d["costs"][-1], 6) == 0.140872
    assert 100 - np.mean(np.abs(d["Y_prediction_test"] - Y_test)) * 100 == 70.0


def test_model_methods(case):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 40))
    Y = (X[0] + 0.5 * X[1] > 0).astype(np.int64)
    model = xlogreg.train(case.asarray(X), case.asarray(Y, dtype=None), num_iterations=300, learning_rate=0.5)
    proba = model.predict_proba(case.asarray(X))
    labels = model.predict(case.asarray(X))
    assert tuple(proba.shape) == (1, 40) and tuple(labels.shape) == (1, 40)
    w, b = case.to_numpy(model.w), model.b
    expected = 1 / (1 + np.exp(-(w.T @ X + b)))
    np.testing.assert_allclose(case.to_numpy(proba), expected, rtol=case.rtol * 10)
    np.testing.assert_array_equal(case.to_numpy(labels), (expected > 0.5).astype(float))
    accuracy = model.accuracy(case.asarray(X), Y)  # host labels are moved to the model's device
    assert accuracy == pytest.approx(100 * np.mean((expected > 0.5) == Y))
    assert model.predict(X).shape == (1, 40)  # host data is moved to the model's backend
    plain = model.to_numpy()
    assert isinstance(plain.w, np.ndarray) and plain.backend == "numpy"
    np.testing.assert_array_equal(plain.predict(X), case.to_numpy(labels))
    assert "Model(n_features=3" in repr(model)


def test_lists_train_on_numpy():
    model = xlogreg.train([[0.0, 1.0, 2.0, 3.0]], [0, 0, 1, 1], num_iterations=500, learning_rate=0.5)
    assert isinstance(model.w, np.ndarray) and model.backend == "numpy"
    np.testing.assert_array_equal(model.predict([[0.0, 3.0]]), [[0.0, 1.0]])


def test_integer_data_uses_default_float(case64):
    X = np.array([[0, 1, 2, 3], [1, 1, 0, 0]])
    model = xlogreg.train(case64.asarray(X, dtype=None), case64.asarray([0, 0, 1, 1], dtype=None),
                          num_iterations=10, learning_rate=0.1)
    default = case64.xp.__array_namespace_info__().default_dtypes(device=case64.device)["real floating"]
    assert model.w.dtype == default


def test_dtype_argument_casts(case64):
    model = xlogreg.train(case64.asarray([[0.0, 1.0, 2.0]]), [0, 1, 1], num_iterations=5, dtype="float32")
    assert model.w.dtype == case64.xp.float32 and model.dtype == "float32"


def test_zero_iterations_gives_zero_model():
    model = xlogreg.train([[1.0, 2.0]], [0, 1], num_iterations=0)
    assert model.costs == [] and model.iterations == 0 and np.all(model.w == 0) and model.b == 0.0


def test_record_every_and_callback(capsys):
    seen = []
    X = np.array([[0.0, 1.0, 2.0, 3.0]])
    model = xlogreg.train(X, [0, 0, 1, 1], num_iterations=25, learning_rate=0.1, record_every=10,
                          print_cost=True, callback=lambda i, c: seen.append((i, c)))
    assert model.cost_iterations == [0, 10, 20]
    assert [i for i, _ in seen] == list(range(25))
    assert [c for _, c in seen if c is not None] == model.costs
    assert capsys.readouterr().out.count("Cost after iteration") == 3


def test_interrupt_returns_partial_model():
    X = np.array([[0.0, 1.0, 2.0, 3.0]])

    def stop_at_7(i, cost):
        if i == 7:
            raise KeyboardInterrupt

    with pytest.raises(xlogreg.TrainingInterrupted) as info:
        xlogreg.train(X, [0, 0, 1, 1], num_iterations=100, learning_rate=0.1, callback=stop_at_7, solver="primal")
    partial = info.value.model
    assert partial.interrupted and partial.iterations == 8
    reference = xlogreg.train(X, [0, 0, 1, 1], num_iterations=8, learning_rate=0.1, solver="primal")
    np.testing.assert_allclose(partial.w, reference.w, rtol=1e-15)
    np.testing.assert_allclose(partial.w, ref.course_loop(X, [[0, 0, 1, 1]], 8, 0.1).w, rtol=1e-13)  # plain NumPy
    assert isinstance(info.value, KeyboardInterrupt)  # scripts still stop on Ctrl-C


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_divergence_is_an_error_not_nan(case64, solver):
    """No NaN model and no stray overflow warning (pytest turns warnings into errors)."""
    X = case64.asarray([[1e300, -1e300, 1e300, 2e300]])
    with pytest.raises(xlogreg.TrainingDiverged, match="iteration .*smaller"):
        xlogreg.train(X, [0, 1, 0, 1], num_iterations=500, learning_rate=1e300, record_every=50, solver=solver)


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_divergence_after_the_last_recorded_cost_is_an_error_not_nan(case, solver):
    """The cost is recorded (and checked) at iteration 0 only; w overflows at 1 and is NaN by 4.

    Only the check of the final parameters (``_loop._check_final``) can catch this run:
    without it, train returns w = [[nan], [nan]], b = nan on every backend (checked by hand).
    """
    X = case.asarray(np.array([[1.0, 2.0, -1.0, -3.0], [3.0, -4.0, 1.0, 0.5]]) * 1e10)
    Y = case.asarray([0, 1, 1, 0])
    with pytest.raises(xlogreg.TrainingDiverged, match="not finite after 5 iterations.*smaller"):
        xlogreg.train(X, Y, num_iterations=5, learning_rate=1e300, record_every=100, solver=solver)


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_divergence_after_the_last_recorded_cost_with_compiled_kernels(numba_kernel, solver):
    X = np.asfortranarray(np.array([[1.0, 2.0, -1.0, -3.0], [3.0, -4.0, 1.0, 0.5]]) * 1e10)
    with pytest.raises(xlogreg.TrainingDiverged, match="not finite after 5 iterations"):
        xlogreg.train(X, [0, 1, 1, 0], num_iterations=5, learning_rate=1e300, record_every=100, solver=solver,
                      fused=True)


def test_a_zero_model_predicts_0_everywhere(case):
    """The course's predict: 1 only where the probability is strictly above 0.5; a zero model gives 0.5."""
    X = case.asarray([[0.0, 1.0, -2.0, 3.0, 5.0], [1.0, -1.0, 0.5, 2.0, -7.0]])
    Y = case.asarray([0, 1, 1, 0, 1])
    model = xlogreg.train(X, Y, num_iterations=0)
    np.testing.assert_array_equal(case.to_numpy(model.predict_proba(X)), np.full((1, 5), 0.5))
    np.testing.assert_array_equal(case.to_numpy(model.predict(X)), np.zeros((1, 5)))
    assert model.train_accuracy == 40.0  # two of the five labels are 0
    assert model.accuracy(X, Y) == 40.0


def test_readme_p_cat_figures_come_from_the_results_file(course_data, reference_run):
    """benchmarks/results/cat_test_images.json (python benchmarks/cat_test_images.py) holds P(cat) of
    the README's model for test images 1 and 6; the plain NumPy course loop gives the same, and the
    README prints them."""
    import json
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    results = json.loads((root / "benchmarks" / "results" / "cat_test_images.json").read_text())
    _, _, X_test, test_y, _ = course_data
    w, b = reference_run[:2]
    readme = (root / "README.md").read_text()
    assert [image["index"] for image in results["images"]] == [1, 6]
    for image in results["images"]:
        k = image["index"]
        assert image["p_cat"] == pytest.approx(float(ref.sigmoid(w.T @ X_test[:, k] + b)[0]), rel=1e-9)
        assert image["label"] == ("cat" if test_y[0, k] == 1 else "non-cat")
        assert f"P(cat) = {image['p_cat']:.4f}" in readme
    assert results["test_accuracy"] == reference_run[4]


@pytest.mark.parametrize("solver", ["auto", "primal", "dual", "newton-cg", "newton-cholesky"])
def test_non_finite_X_is_refused_by_every_solver(case, solver):
    """train leaves the finiteness check of X to solvers.run: every solver still refuses NaN or infinity
    in X (on every backend), with the message that names X, not a diverged run."""
    for bad in (np.nan, -np.inf):
        values = np.array([[1.0, 2.0, -1.0, -3.0], [3.0, -4.0, 1.0, 0.5]])
        values[1, 2] = bad
        with pytest.raises(ValueError, match="^X must hold only finite values; it contains NaN or infinity$"):
            xlogreg.train(case.asarray(values), case.asarray([0, 1, 1, 0]), num_iterations=3, learning_rate=0.1,
                          solver=solver)
