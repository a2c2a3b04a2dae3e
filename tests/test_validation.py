"""Every refusal at the public entry points: a clear error naming the argument."""

import numpy as np
import pytest

import _reference as ref
import xlogreg
from conftest import import_backend
from xlogreg import _backends

X = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 1.0, 0.0]])
Y = np.array([[0, 0, 1, 1]])
W = np.zeros((2, 1))


def entry_points(X=X, Y=Y, w=W, b=0.0, learning_rate=0.1, num_iterations=5):
    """Call each public entry point that takes (X, Y, ...) with these arguments."""
    return {
        "train": lambda: xlogreg.train(X, Y, num_iterations=num_iterations, learning_rate=learning_rate),
        "optimize": lambda: xlogreg.optimize(w, b, X, Y, num_iterations=num_iterations, learning_rate=learning_rate),
        "propagate": lambda: xlogreg.propagate(w, b, X, Y),
        "model": lambda: xlogreg.model(X, Y, X, Y, num_iterations=num_iterations, learning_rate=learning_rate),
    }


def assert_refused(calls, exc, *words, only=None):
    for name, call in calls.items():
        if only and name not in only:
            continue
        with pytest.raises(exc) as info:
            call()
        message = str(info.value)
        for word in words:
            assert word in message, f"{name}: {word!r} not in {message!r}"


@pytest.mark.parametrize("bad, words", [
    (np.arange(4.0), ["X", "2-D", "(4,)"]),
    (np.zeros((2, 2, 2)), ["X", "2-D", "(2, 2, 2)"]),
    (np.zeros((4, 8, 8, 3)), ["X", "flatten_images"]),
])
def test_X_must_be_2d(bad, words):
    assert_refused(entry_points(X=bad), ValueError, *words)


def test_X_needs_an_example():
    assert_refused(entry_points(X=np.zeros((2, 0)), Y=np.zeros((1, 0))), ValueError, "X", "at least one", "(2, 0)")


@pytest.mark.parametrize("bad", [np.array([[1 + 2j, 0, 1, 1], [0, 0, 1, 0]]), np.array([["a", "b", "c", "d"]] * 2)])
def test_X_must_be_real_numbers(bad):
    assert_refused(entry_points(X=bad), TypeError, "X", "real numbers")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_X_must_be_finite(value):
    bad = X.copy()
    bad[1, 2] = value
    assert_refused(entry_points(X=bad), ValueError, "X", "finite")


@pytest.mark.parametrize("bad, words", [
    (np.array([[0, 1, 1]]), ["Y", "(1, 4)", "(1, 3)"]),
    (np.array([[0, 1], [1, 0]]), ["Y", "(2, 2)"]),
    (np.array([[0, -1, 1, 1]]), ["Y", "labels 0"]),
    (np.array([[0, 0.5, 1, 1]]), ["Y", "labels 0"]),
    (np.array([[0, np.nan, 1, 1]]), ["Y", "labels 0"]),
])
def test_Y_must_be_m_labels_0_or_1(bad, words):
    """Labels 0 .. K-1 for train (K > 2 is softmax regression: tests/test_multiclass.py), 0 / 1 for the course."""
    assert_refused(entry_points(Y=bad), ValueError, *words)


def test_Y_of_shape_m_is_accepted():
    """Labels of shape (m,) train the same model as (1, m): the plain NumPy course loop's."""
    model = xlogreg.train(X, np.array([0, 0, 1, 1]), num_iterations=3, learning_rate=0.1)
    expected = ref.course_loop(X, Y, 3, 0.1)
    assert model.iterations == 3
    np.testing.assert_allclose(model.w, expected.w, rtol=1e-14)
    assert model.b == pytest.approx(expected.b, rel=1e-14)
    assert model.costs == [pytest.approx(np.log(2), rel=1e-15)]  # a zero model's cost is log 2


def test_boolean_data_is_converted():
    """True / False become 1.0 / 0.0 in the default float64, and train as those numbers do."""
    model = xlogreg.train(X > 0.5, Y.astype(bool), num_iterations=3, learning_rate=0.1)
    assert model.w.dtype == np.float64
    expected = ref.course_loop(np.array([[0.0, 1.0, 1.0, 1.0], [1.0, 0.0, 1.0, 0.0]]), Y, 3, 0.1)
    np.testing.assert_allclose(model.w, expected.w, rtol=1e-14)
    assert model.b == pytest.approx(expected.b, rel=1e-14)


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, np.nan, np.inf])
def test_learning_rate_must_be_positive_and_finite(bad):
    assert_refused(entry_points(learning_rate=bad), ValueError, "learning_rate", "> 0", only=("train", "optimize"))


@pytest.mark.parametrize("bad", ["0.1", None, True])
def test_learning_rate_must_be_a_number(bad):
    assert_refused(entry_points(learning_rate=bad), TypeError, "learning_rate", only=("train", "optimize"))


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (2.5, TypeError), (True, TypeError), ("10", TypeError)])
def test_num_iterations_must_be_a_non_negative_int(bad, exc):
    assert_refused(entry_points(num_iterations=bad), exc, "num_iterations", "integer >= 0", only=("train", "optimize"))


def test_w_must_match_features():
    assert_refused(entry_points(w=np.zeros((3, 1))), ValueError, "w", "(2, 1)", "(3, 1)",
                   only=("optimize", "propagate"))
    with pytest.raises(ValueError, match=r"w must have shape \(2, 1\)"):
        xlogreg.predict(np.zeros((2,)), 0.0, X)


@pytest.mark.parametrize("bad", ["0", None, [1.0, 2.0]])
def test_b_must_be_a_number(bad):
    with pytest.raises((TypeError, ValueError), match="b must be"):
        xlogreg.propagate(W, bad, X, Y)


def test_mixed_namespaces_are_refused():
    torch = import_backend("torch")
    with pytest.raises(TypeError, match="w is a numpy array but X is a torch array"):
        xlogreg.propagate(W, 0.0, torch.tensor(X), torch.tensor(Y))
    with pytest.raises(TypeError, match="numpy"):
        xlogreg.train(torch.tensor(X), np.array([0, 0, 1, 1]), num_iterations=1)


def test_mixed_devices_are_refused():
    xp = import_backend("array_api_strict")
    device1 = xp.Device("device1")
    Xs, Ys = xp.asarray(X), xp.asarray(Y, dtype=xp.float64, device=device1)
    with pytest.raises(ValueError, match="Y is on device .*device1.* but X is on device .*CPU_DEVICE"):
        xlogreg.optimize(xp.asarray(W), 0.0, Xs, Ys)


def test_test_data_must_come_in_pairs():
    with pytest.raises(ValueError, match="X_test and Y_test"):
        xlogreg.train(X, Y, X_test=X)


def test_test_data_must_have_the_same_features():
    with pytest.raises(ValueError, match="X_test must have 2 features"):
        xlogreg.train(X, Y, np.zeros((3, 4)), Y)


def test_unknown_backend_and_device():
    with pytest.raises(ValueError, match="backend must be one of numpy, cupy.*got 'tensorflow'"):
        xlogreg.train(X, Y, backend="tensorflow")
    with pytest.raises(ValueError, match="device 'cuda:7' is not a device of backend 'numpy'"):
        xlogreg.train(X, Y, backend="numpy", device="cuda:7")


def test_unknown_solver():
    with pytest.raises(ValueError, match="solver must be one of auto, primal, dual, newton-cg, newton-cholesky, lbfgs, prox-newton; got 'newton'"):
        xlogreg.train(X, Y, solver="newton")


def test_missing_gpu_backend_says_why_and_what_to_do():
    info = xlogreg.available_backends()["cupy"]
    if info.available:
        pytest.skip("a GPU is present: CuPy is usable here")
    with pytest.raises(xlogreg.BackendError) as err:
        xlogreg.train(X, Y, backend="cupy")
    message = str(err.value)
    assert "cupy" in message and ("GPU" in message or "install" in message)
    assert "Traceback" not in message


def test_float64_is_refused_on_a_device_without_it():
    xp = import_backend("array_api_strict")
    with pytest.raises(ValueError, match="float64.*not supported.*no_float64"):
        xlogreg.train(X, Y, backend="array_api_strict", device="no_float64", dtype="float64")
    with pytest.raises(ValueError, match="float64.*not supported"):  # float64 data: no silent downgrade
        xlogreg.train(X, Y, backend="array_api_strict", device="no_float64")
    model = xlogreg.train(X, Y, backend="array_api_strict", device="no_float64", dtype="float32", num_iterations=2)
    assert model.w.dtype == xp.float32


def test_bad_dtype_names():
    with pytest.raises(ValueError, match="dtype must be 'float32', 'float64' or None; got 'float16'"):
        xlogreg.train(X, Y, dtype="float16")


def test_jax_float64_without_x64_is_a_clear_error():
    jax = import_backend("jax")
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(ValueError, match="jax_enable_x64"):
            _backends.floating_dtype(_backends.get_namespace("jax"), None, "float64")
    finally:
        jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("func, arg, words", [
    ("image2vector", np.zeros((2, 2)), ["image", "3-D"]),
    ("normalize_rows", np.zeros(3), ["x", "2-D"]),
    ("softmax", np.zeros((1, 1, 1)), ["x", "1-D or 2-D"]),
])
def test_shape_errors_of_the_helpers(func, arg, words):
    with pytest.raises(ValueError) as info:
        getattr(xlogreg, func)(arg)
    assert all(w in str(info.value) for w in words)


def test_l1_l2_need_matching_shapes():
    with pytest.raises(ValueError, match="yhat and y must have the same shape"):
        xlogreg.l1(np.zeros(3), np.zeros(4))


@pytest.mark.parametrize("dim", [0, -1, 2.0, "3"])
def test_initialize_with_zeros_needs_a_positive_int(dim):
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        xlogreg.initialize_with_zeros(dim)


def test_model_refuses_other_image_sizes():
    model = xlogreg.train(X, Y, num_iterations=2)
    with pytest.raises(ValueError, match="X has 3 features per example but this model was trained on 2"):
        model.predict(np.zeros((3, 5)))


def test_validation_does_not_leave_the_device():
    """A device1 array (which refuses conversion to NumPy) is validated and trained on in place."""
    xp = import_backend("array_api_strict")
    device1 = xp.Device("device1")
    model = xlogreg.train(xp.asarray(X, device=device1), xp.asarray(Y, device=device1), num_iterations=3)
    assert str(model.w.device) == str(device1)


@pytest.mark.parametrize("column, finite", [
    ([1.0, 2.0, 3.0], True),
    ([np.nan, 0.0, 0.0], False),
    ([np.inf, 0.0, 0.0], False),
    ([np.inf, -np.inf, 0.0], False),  # the column's sum is NaN
    ([1e308, 1e308, -1e308], True),  # finite values whose sum overflows: the exact check accepts them
    ([1e308, 1e308, np.nan], False),
])
def test_check_finite_sums_columns_and_falls_back_on_overflow(case, column, finite):
    """On every backend: a NaN or an infinity anywhere in X is refused, finite X is accepted even
    where the column sums of the fast check overflow."""
    from xlogreg import _validation

    dtype_max = 3e38 if case.dtype_name == "float32" else 1e308
    values = np.array([[v if abs(v) != 1e308 else np.sign(v) * dtype_max for v in column]] * 4).T  # (3, 4)
    values[:, 0] = 1.0  # the other columns stay clean: the bad value is found in its own column
    x = case.asarray(values)
    if finite:
        _validation.check_finite(x, "X")
    else:
        with pytest.raises(ValueError, match="X must hold only finite values"):
            _validation.check_finite(x, "X")


# ---------------------------------------------------------------------------------------------------
# The checks one by one (xlogreg/_validation.py), for what the entry points above do not reach:
# written from the survivors of mutation testing (docs/mutation-testing.md).

from array_api_compat import array_namespace  # noqa: E402

from xlogreg import _validation as v  # noqa: E402

NP = array_namespace(np.zeros(1))


def test_describe_names_an_array_by_type_shape_and_dtype_and_cuts_long_values():
    assert v._describe(np.zeros((2, 3))) == "numpy.ndarray of shape (2, 3) and dtype float64"
    text = v._describe("a" * 300)
    assert len(text) == 120 and text.startswith("str 'aaa")


@pytest.mark.parametrize("check", [
    lambda bad: v.check_Y(bad, 2, "labels"),
    lambda bad: v.check_sample_weight(bad, 2, "labels", xp=NP, dtype=np.float64),
])
def test_unreadable_input_is_named(check):
    with pytest.raises(TypeError, match=r"^labels must be an array or a nested list of real numbers; got object"):
        check(object())


def test_check_Y_binary_shapes_dtypes_and_namespace():
    got = v.check_Y(np.array([0, 1, 1]), 3)  # no xp given: the labels' own namespace
    assert got.shape == (1, 3) and got.dtype == np.float64
    got = v.check_Y(np.array([0.0, 1.0]), 2, xp=NP, dtype=np.float32)
    assert got.shape == (1, 2) and got.dtype == np.float32
    with pytest.raises(TypeError, match=r"^labels must hold labels 0 and 1; got dtype <U1"):
        v.check_Y(np.array(["a", "b"]), 2, "labels")
    with pytest.raises(ValueError, match=r"^Y must hold only the labels 0 and 1; it holds other values$"):
        v.check_Y(np.array([0, 2]), 2)


def test_check_Y_with_more_classes_gives_labels_in_the_dtype_asked_for():
    got = v.check_Y([0, 2, 1], 3, "labels", xp=NP, dtype=np.float32, n_classes=3)
    assert got.shape == (1, 3) and got.dtype == np.float32 and got.tolist() == [[0.0, 2.0, 1.0]]
    with pytest.raises(ValueError, match=r"^labels holds the label 3 but n_classes is 3: labels must be 0 \.\. 2$"):
        v.check_Y([0, 3, 1, 2], 4, "labels", xp=NP, dtype=np.float64, n_classes=3)


def test_check_sample_weight_shapes_dtype_and_sum():
    for given in ([0.25, 0.25], [[0.25, 0.25]]):  # (m,) and (1, m); a sum below 1 is fine
        s, total = v.check_sample_weight(given, 2, xp=NP, dtype=np.float32)
        assert s.shape == (1, 2) and s.dtype == np.float32 and total == 0.5
    with pytest.raises(TypeError, match=r"^weights must hold real numbers"):
        v.check_sample_weight(np.array([1 + 1j, 1]), 2, "weights", xp=NP, dtype=np.float64)


def test_check_b_takes_numbers_and_single_element_arrays():
    b = np.array(0.5)
    assert v.check_b(b) is b
    assert v.check_b(np.array([[2.0]])).shape == (1, 1)
    assert v.check_b(1) == 1.0 and isinstance(v.check_b(1), float)
    with pytest.raises(ValueError, match=r"^b must be a single number; got an array of shape \(2,\)"):
        v.check_b(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"^b must be finite; got inf"):
        v.check_b(float("inf"))
    with pytest.raises(TypeError, match=r"^b must be a real number or a 0-d array; got str '0'"):
        v.check_b("0")


@pytest.mark.parametrize("scale", [True, "255", 0, -1.0, float("nan"), float("inf")])
def test_check_image_shape_refuses_a_bad_scale(scale):
    with pytest.raises(ValueError, match=r"^scale must be a number > 0"):
        v.check_image_shape(None, scale, 12)


def test_check_image_shape_keeps_a_scale_without_an_image_shape():
    assert v.check_image_shape(None, 0.5, 12) == (None, {"scale": 0.5})
    assert v.check_image_shape(None, None, 12) == (None, {})
    assert v.check_image_shape([2, 2, 3], None, 12) == ((2, 2, 3), {"scale": 255.0})
    with pytest.raises(ValueError, match=r"^scale must be a number > 0 \(what the pixels were divided by\); got int 0$"):
        v.check_image_shape(None, 0, 12)


def test_check_labels_reads_labels_and_one_hot_targets():
    labels, K = v.check_labels(np.array([0, 2, 1]), 3, dtype=np.float32)  # no xp given: the labels' own
    assert labels.shape == (1, 3) and labels.dtype == np.float32 and labels.tolist() == [[0, 2, 1]] and K == 3
    for n_classes in (None, 2):  # a two-row one-hot Y: two classes
        labels, K = v.check_labels(np.array([[1, 0, 1], [0, 1, 0]]), 3, xp=NP, dtype=np.float32, n_classes=n_classes)
        assert labels.tolist() == [[0, 1, 0]] and labels.dtype == np.float32 and K == 2
    xs = import_backend("array_api_strict")
    labels, K = v.check_labels(xs.asarray([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 2)
    assert K == 3 and labels.dtype == xs.float64 and [float(labels[0, j]) for j in range(2)] == [1.0, 2.0]


@pytest.mark.parametrize("Y, m, n_classes, exc, message", [
    (object(), 2, None, TypeError, r"Y must be an array or a nested list of real numbers; got object .*"),
    (np.array(["a", "b"]), 2, None, TypeError, r"Y must hold class labels 0 \.\. K-1 \(integers\); got dtype <U1\. "
     r"Encode the labels first \(classes, Y = numpy\.unique\(Y, return_inverse=True\): label k is then "
     r"classes\[k\]\), or use xlogreg\.LogisticRegression, which takes labels of any kind"),
    (np.array([1, 2, 1]), 3, None, ValueError, r"Y has no example of class 0 \(its labels are 1 \.\. 2, so it counts "
     r"K = 3 classes 0 \.\. 2\); labels must be 0 \.\. K-1: encode them \(classes, Y = numpy\.unique\(Y, "
     r"return_inverse=True\)\), or use xlogreg\.LogisticRegression, which takes labels of any kind; if a class "
     r"is meant to have no example, give n_classes=3"),
    (np.eye(3), 3, 4, ValueError, r"Y holds one-hot targets of 3 classes \(shape \(3, 3\)\) but n_classes is 4; "
                                  r"give labels 0 \.\. K-1 instead, or n_classes=3"),
    (np.array([[1, 0], [1, 0]]), 2, None, ValueError,
     r"Y of shape \(2, 2\) is read as one-hot targets of 2 classes \(one row per class\), but some column does "
     r"not hold exactly one 1 and zeros elsewhere"),
    (np.array([0, 1, 2, 4]), 4, None, ValueError, r"Y holds the label 4, more classes than its 4 examples; give "
                                                  r"n_classes \(the number of classes\) explicitly if that is meant"),
    (np.array([0, 2]), 2, None, ValueError, r"Y holds the label 2, more classes than its 2 examples; .*"),
])
def test_check_labels_refusals_name_Y(Y, m, n_classes, exc, message):
    with pytest.raises(exc, match=f"^{message}$"):
        v.check_labels(Y, m, n_classes=n_classes)


def test_same_namespace_messages_in_full():
    xs = import_backend("array_api_strict")
    with pytest.raises(TypeError, match=r"^Y is a array_api_strict array but X is a numpy array; put all arrays on "
                                        r"one backend \(xlogreg\.train\(\.\.\., backend=\.\.\.\) moves them for you\)$"):
        v.same_namespace(X=np.zeros(2), b=1.0, Y=xs.asarray([1.0]))
    with pytest.raises(ValueError, match=r"^Y is on device .*device1.* but X is on device .*CPU_DEVICE.*; "
                                         r"put all arrays on one device$"):
        v.same_namespace(X=xs.asarray([1.0]), Y=xs.asarray([1.0], device=xs.Device("device1")))
    assert v.same_namespace(X=np.zeros(2), b=1.0, Y=np.ones(3))[1] == "cpu"


def test_check_float_casts_to_the_dtype_asked_for_and_keeps_a_matching_array():
    x32 = np.zeros(2, dtype=np.float32)
    assert v.check_float(x32, "x", NP, np.float32) is x32
    assert v.check_float(x32, "x", NP) is x32
    assert v.check_float(np.zeros(2), "x", NP, np.float32).dtype == np.float32


@pytest.mark.parametrize("bad, shown", [(2.5, "float 2.5"), ("3", "str '3'"), (True, "bool True"), (1, "int 1")])
def test_check_n_classes_refusals(bad, shown):
    with pytest.raises(ValueError, match=rf"^n_classes must be None or an integer >= 2; got {shown}$"):
        v.check_n_classes(bad)


def test_check_nonnegative_and_check_callback():
    with pytest.raises(TypeError, match=r"^l2 must be a real number >= 0; got str 'x'$"):
        v.check_nonnegative("x", "l2")
    assert v.check_callback(print) is print and v.check_callback(None) is None


def test_check_X_shapes_and_messages_in_full():
    assert v.check_X(np.zeros((1, 3))).shape == (1, 3)  # one feature is enough
    assert v.check_X(np.zeros((3, 1))).shape == (3, 1)  # so is one example
    with pytest.raises(TypeError, match=r"^X must be an array or a nested list of real numbers; got object"):
        v.check_X(object())
    with pytest.raises(ValueError, match=r"^X must be 2-D of shape \(n_x, m\), one column per example; "
                                         r"got shape \(3,\)$"):
        v.check_X(np.zeros(3))
    with pytest.raises(ValueError, match=r"^X must be 2-D of shape \(n_x, m\), one column per example; got shape "
                                         r"\(2, 2, 2, 2\) \(flatten images first: xlogreg\.flatten_images\)$"):
        v.check_X(np.zeros((2, 2, 2, 2)))
    for shape in ((0, 3), (3, 0)):
        with pytest.raises(ValueError, match=r"^X must have at least one feature and one example; got shape"):
            v.check_X(np.zeros(shape))


def test_check_positive_int():
    assert v.check_positive_int(1, "record_every") == 1
    with pytest.raises(ValueError, match=r"^record_every must be an integer >= 1; got int 0$"):
        v.check_positive_int(0, "record_every")


def test_check_learning_rate_and_check_iterations_by_default_name():
    assert v.check_iterations(0) == 0
    with pytest.raises(TypeError, match=r"^num_iterations must be an integer >= 0; got str '5'$"):
        v.check_iterations("5")
    with pytest.raises(TypeError, match=r"^learning_rate must be a positive real number; got str '0\.1'$"):
        v.check_learning_rate("0.1")


def test_masked_array_message_describes_it():
    with pytest.raises(TypeError, match=r"^X is a NumPy masked array \(numpy\.ma\.MaskedArray of shape \(2,\) and "
                                        r"dtype float64\); xlogreg has no notion of missing values"):
        v.as_array(np.ma.array([1.0, 2.0]), "X")


def test_integers_become_the_default_float_of_their_own_device():
    xs = import_backend("array_api_strict")
    x = xs.asarray([1, 2], device=xs.Device("no_float64"))
    assert v.check_float(x, "x", xs).dtype == xs.float32


def test_check_image_shape_message_shows_what_was_given():
    with pytest.raises(ValueError, match=r"^image_shape must be \(height, width, channels\) of positive integers, "
                                         r"as train_x\.shape\[1:\]; got str '64x64'$"):
        v.check_image_shape("64x64", None, 12)


def test_check_finite_reads_a_2d_float_array_through_its_column_sums_only(monkeypatch):
    """The documented fast path, seen through the arrays that `isfinite` is applied to: for a 2-D floating x
    of two rows or more, its (1, m) column sums alone when they are finite, then x itself when they are not;
    x itself for one row, an integer dtype, one or zero dimensions."""
    import array_api_compat.numpy as cnp

    from xlogreg import _validation

    seen = []
    real = cnp.isfinite
    monkeypatch.setattr(cnp, "isfinite", lambda a: seen.append(tuple(a.shape)) or real(a))

    def shapes(x):
        seen.clear()
        _validation.check_finite(x, "X")
        return list(seen)

    assert shapes(np.ones((3, 5))) == [(1, 5)]
    assert shapes(np.ones((2, 5))) == [(1, 5)]
    assert shapes(np.ones((3, 1))) == [(1, 1)]
    assert shapes(np.ones((1, 5))) == [(1, 5)]
    assert shapes(np.ones((3, 5), dtype=np.int64)) == [(3, 5)]
    assert shapes(np.ones(5)) == [(5,)]
    assert shapes(np.asarray(1.0)) == [()]
    x = np.ones((3, 5))
    x[1, 2] = np.nan
    seen.clear()
    with pytest.raises(ValueError, match="^X must hold only finite values; it contains NaN or infinity$"):
        _validation.check_finite(x, "X")
    assert seen == [(1, 5), (3, 5)]
