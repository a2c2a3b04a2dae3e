"""Messages that point the way: each names the argument or file, what was expected, what was given
and how to fix it (issue 12, "a newcomer's first hour")."""

import os

import numpy as np
import pytest

import xlogreg
from conftest import import_backend
from xlogreg import _backends

rng = np.random.default_rng(0)
X = rng.normal(size=(5, 8))  # n_x = 5 features, m = 8 examples
Y = np.array([[0, 1, 0, 1, 1, 0, 1, 0]])


def _message(exc_type, call):
    with pytest.raises(exc_type) as info:
        call()
    return str(info.value)


# --------------------------------------------------------------------------- X transposed


@pytest.mark.parametrize("Y_given", [Y, Y.ravel(), Y.T], ids=["(1, m)", "(m,)", "(m, 1)"])
def test_transposed_X_is_named(Y_given):
    message = _message(ValueError, lambda: xlogreg.train(X.T, Y_given, num_iterations=1))
    assert "X looks transposed" in message and "(8, 5)" in message and "X.T" in message
    assert "(n_x, m)" in message and "one column per example" in message


def test_transposed_X_in_the_course_model_and_the_test_data():
    message = _message(ValueError, lambda: xlogreg.model(X.T, Y, X, Y, num_iterations=1))
    assert "X looks transposed" in message
    message = _message(ValueError, lambda: xlogreg.train(X, Y, X.T, Y, num_iterations=1))
    assert "X_test looks transposed" in message and "X_test.T" in message
    model = xlogreg.train(X, Y, num_iterations=1)
    message = _message(ValueError, lambda: model.accuracy(np.zeros((5, 3)), np.zeros(5)))
    assert "looks transposed" not in message  # Y of 5 labels for 3 examples: Y is wrong, X is not
    message = _message(ValueError, lambda: model.predict(X.T))
    assert "X has 8 features per example but this model was trained on 5" in message
    assert "X looks transposed, one row per example: pass X.T" in message


@pytest.mark.parametrize("call", ["propagate", "optimize"])
def test_transposed_X_in_the_course_functions_is_named_not_w(call):
    """The course's propagate and optimize take w shaped for the X they were meant to get: the message
    names X, not w."""
    w = np.zeros((5, 1))
    run = {"propagate": lambda: xlogreg.propagate(w, 0.0, X.T, Y),
           "optimize": lambda: xlogreg.optimize(w, 0.0, X.T, Y, 10, 0.1)}[call]
    message = _message(ValueError, run)
    assert "X looks transposed" in message and "(8, 5)" in message and "w must have" not in message


def test_square_X_is_not_called_transposed():
    """Both counts equal: nothing to tell the two apart, so Y's own message stays."""
    message = _message(ValueError, lambda: xlogreg.train(np.zeros((4, 4)), [0, 1, 0], num_iterations=1))
    assert "transposed" not in message and "Y must have shape (1, 4) or (4,)" in message


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", [np.float16])
def test_half_precision_numpy_data_is_trained_in_float32(dtype):
    X16 = X.astype(dtype)
    reference = xlogreg.train(X16.astype(np.float32), Y, num_iterations=20, learning_rate=0.1)
    model = xlogreg.train(X16, Y, X16, Y, num_iterations=20, learning_rate=0.1)
    assert model.dtype == "float32" and model.w.dtype == np.float32
    # the same run as on the float16 values given as float32 (float16 -> float32 is exact)
    np.testing.assert_array_equal(model.w, reference.w)
    assert model.predict(X16).dtype == np.float32


def test_bfloat16_torch_data_is_trained_in_float32():
    torch = import_backend("torch")
    Xt = torch.tensor(X, dtype=torch.bfloat16)
    model = xlogreg.train(Xt, torch.tensor(Y), num_iterations=5, learning_rate=0.1)
    assert model.w.dtype == torch.float32 and model.dtype == "float32"


def test_flatten_images_of_float16_gives_the_default_float():
    images = (rng.random((3, 2, 2, 3)) * 255).astype(np.float16)
    flat = xlogreg.flatten_images(images)
    assert flat.dtype == np.float64 and flat.shape == (12, 3)
    np.testing.assert_allclose(flat, images.astype(np.float64).reshape(3, -1).T / 255)


def test_asking_for_float16_says_why_and_what_to_do():
    message = _message(ValueError, lambda: xlogreg.train(X, Y, dtype="float16"))
    assert "got 'float16'" in message and "dtype='float32'" in message


def test_jax_float64_message_says_how_to_get_float32_and_no_device_none():
    jax = import_backend("jax")
    jax.config.update("jax_enable_x64", False)
    try:
        message = _message(ValueError, lambda: xlogreg.train(X, Y, backend="jax"))
    finally:
        jax.config.update("jax_enable_x64", True)
    assert "dtype='float32'" in message and "jax_enable_x64" in message
    assert "None" not in message and "default device" in message


def test_no_float64_device_message_says_how_to_get_float32():
    import_backend("array_api_strict")
    message = _message(ValueError, lambda: xlogreg.train(X, Y, backend="array_api_strict", device="no_float64"))
    assert "no_float64" in message and "dtype='float32'" in message


# --------------------------------------------------------------------------- masked arrays


@pytest.mark.parametrize("mask", [False, [[True] + [False] * 7] * 5], ids=["nothing masked", "one masked"])
def test_masked_X_is_refused(mask):
    Xm = np.ma.masked_array(X, mask=mask)
    message = _message(TypeError, lambda: xlogreg.train(Xm, Y, num_iterations=1))
    assert "X is a NumPy masked array" in message and ".filled(" in message and "getdata" in message


def test_masked_Y_and_masked_input_to_a_model_are_refused():
    message = _message(TypeError, lambda: xlogreg.train(X, np.ma.masked_array(Y), num_iterations=1))
    assert message.startswith("Y is a NumPy masked array")
    model = xlogreg.train(X, Y, num_iterations=1)
    assert "X is a NumPy masked array" in _message(TypeError, lambda: model.predict(np.ma.masked_array(X)))
    w = np.ma.masked_array(np.zeros((5, 1)))
    assert "w is a NumPy masked array" in _message(TypeError, lambda: xlogreg.propagate(w, 0.0, X, Y))


# --------------------------------------------------------------------------- callback, model()


@pytest.mark.parametrize("entry", ["train", "optimize"])
def test_callback_must_be_callable_at_entry(entry, monkeypatch):
    from xlogreg import solvers

    def no_loop(*args, **kwargs):
        raise AssertionError("the loop started")

    monkeypatch.setattr(solvers, "run", no_loop)
    calls = {
        "train": lambda: xlogreg.train(X, Y, callback=5),
        "optimize": lambda: xlogreg.optimize(np.zeros((5, 1)), 0.0, X, Y, callback=5),
    }
    message = _message(TypeError, calls[entry])
    assert message == "callback must be callable as callback(i, cost), or None; got int 5"


def test_model_without_test_data_fails_before_printing(capsys):
    message = _message(ValueError, lambda: xlogreg.model(X, Y, None, None, num_iterations=1))
    assert "X_test=None and Y_test=None" in message and "xlogreg.train(X_train, Y_train)" in message
    assert capsys.readouterr().out == ""
    message = _message(ValueError, lambda: xlogreg.model(X, Y, X, None, num_iterations=1))
    assert "X_test=an array and Y_test=None" in message


# --------------------------------------------------------------------------- saving


def test_save_into_a_missing_folder_names_the_users_path(tmp_path):
    model = xlogreg.train(X, Y, num_iterations=1)
    target = tmp_path / "no" / "such" / "folder" / "m.h5"
    with pytest.raises(FileNotFoundError) as info:
        model.save(target)
    message = str(info.value)
    assert f"cannot write {target}" in message and f"{target.parent} does not exist" in message
    assert "create it" in message and ".tmp" not in message


def test_save_into_a_read_only_folder_names_the_users_path(tmp_path, monkeypatch):
    """A read-only folder, for real where the tests do not run as root, and as the OS reports it otherwise."""
    model = xlogreg.train(X, Y, num_iterations=1)
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the OS answer as it would to a user
        from xlogreg.io import atomic

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(folder / ".m.h5.abc123.tmp"))

        monkeypatch.setattr(atomic.tempfile, "NamedTemporaryFile", refuse)
        monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)
    try:
        with pytest.raises(PermissionError) as info:
            model.save(folder / "m.h5")
    finally:
        folder.chmod(0o755)
    message = str(info.value)
    assert f"cannot write {folder / 'm.h5'}" in message and ".tmp" not in message
    assert "choose a folder you can write to" in message
    assert list(folder.iterdir()) == []


def test_save_onto_a_folder_says_so(tmp_path):
    model = xlogreg.train(X, Y, num_iterations=1)
    (tmp_path / "m.h5").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        model.save(tmp_path / "m.h5")
    assert f"cannot write {tmp_path / 'm.h5'}" in str(info.value) and ".tmp" not in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["m.h5"]  # no temporary file left behind


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize("args, words", [
    (["train", "--seed", "-1"], ["argument --seed", "must be an integer >= 0", "'-1'"]),
    (["train", "--seed", str(2**32)], ["argument --seed", "2**32 - 1"]),
    (["--bogus"], ["unrecognized arguments: --bogus"]),
    (["--bogus", "train"], ["unrecognized arguments: --bogus"]),
    (["train", "--bogus"], ["unrecognized arguments: --bogus"]),
    ([], ["a COMMAND is required: train, predict, pictures or backends"]),
])
def test_cli_errors_name_the_argument(args, words, capsys):
    from xlogreg.cli import main

    assert main(args) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith("xlogreg: error: "), err
    assert all(w in lines[0] for w in words), lines[0]


def test_cli_save_failure_names_the_path_once(tmp_path, capsys, monkeypatch):
    """A write that fails at the end (the folder vanished during training): one line, the user's path."""
    from xlogreg import cli

    target = tmp_path / "gone" / "m.h5"
    monkeypatch.setattr(cli, "_check_output", lambda path, option: None)
    assert cli.main(["train", "-n", "1", "-q", "--save", str(target)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"xlogreg: error: cannot write {target}: "), err
    assert f"{target.parent} does not exist" in err[0] and err[0].count("cannot write") == 1


def test_floating_dtype_of_float16_like_is_float32():
    xp = _backends.get_namespace("numpy")
    assert _backends.floating_dtype(xp, "cpu", None, like=np.zeros(2, np.float16)) == xp.float32
