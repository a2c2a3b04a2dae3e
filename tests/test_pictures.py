"""Pictures in and out: ``xlogreg pictures`` (xlogreg/pictures.py), and a model trained in Python
(``train(..., image_shape=, scale=)``) that classifies picture files from the command line."""

import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest

import xlogreg
from conftest import ROOT
from xlogreg.io.pictures import write_pictures

PIL = pytest.importorskip("PIL", reason="Pillow is needed for pictures (pip install pillow)")
from PIL import Image  # noqa: E402


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "xlogreg", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture
def data_file(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, size=(5, 6, 7, 3), dtype=np.uint8)
    path = tmp_path / "small.h5"
    with h5py.File(path, "w") as f:
        f["valid_set_x"] = x
        f["valid_set_y"] = np.array([0, 1, 1, 0, 1])
        f["list_classes"] = np.array([b"dog", b"cat"])
    return path, x


def test_pictures_are_the_stored_pixels(data_file, tmp_path):
    path, x = data_file
    out = tmp_path / "out"
    out.mkdir()
    written = write_pictures(path, [4, 0], out)
    assert written == [(str(out / "valid4.png"), "cat"), (str(out / "valid0.png"), "dog")]
    for index in (4, 0):
        with Image.open(out / f"valid{index}.png") as img:
            assert img.format == "PNG" and img.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(img), x[index])
    assert sorted(p.name for p in out.iterdir()) == ["valid0.png", "valid4.png"]  # no temporary files


def test_pictures_prefix_size_and_grey(tmp_path):
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1) * 7
    path = tmp_path / "grey.h5"
    with h5py.File(path, "w") as f:
        f["x"], f["y"] = x, np.array([0, 1])
    (out, label), = write_pictures(path, [1], tmp_path, prefix="g", size=12)
    assert out == str(tmp_path / "g1.png") and label == "1"
    with Image.open(out) as img:
        assert img.mode == "L" and img.size == (12, 12)


@pytest.mark.parametrize("indices, words", [
    ([5], ["index 5 is out of range", "5 examples, numbered 0 to 4"]),
    ([-1], ["index -1 is out of range"]),
])
def test_pictures_bad_index(data_file, tmp_path, indices, words):
    path, _ = data_file
    with pytest.raises(xlogreg.DataError) as info:
        write_pictures(path, indices, tmp_path)
    assert all(w in str(info.value) for w in words) and str(path) in str(info.value)


def test_pictures_never_overwrite_the_data_file(data_file, tmp_path):
    path, _ = data_file
    before = path.read_bytes()
    # a prefix that makes "small.h5" + ... impossible, so name the data file itself "valid0.png"
    trap = tmp_path / "valid0.png"
    os.replace(path, trap)
    with pytest.raises(ValueError, match="is the data file itself"):
        write_pictures(trap, [0], tmp_path)
    assert trap.read_bytes() == before


def test_pictures_refuse_values_that_are_not_pixels(tmp_path):
    path = tmp_path / "scaled.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"], f["train_set_y"] = np.full((2, 3, 3, 3), 0.5), np.array([0, 1])
    with pytest.raises(xlogreg.DataError, match="is not pixels 0..255"):
        write_pictures(path, [0], tmp_path)


def test_pictures_command(data_file, tmp_path):
    path, x = data_file
    proc = _cli("pictures", path, "1", "3", "--out-dir", tmp_path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{tmp_path / 'valid1.png'}: example 1 of {path} (label: cat)",
                                        f"{tmp_path / 'valid3.png'}: example 3 of {path} (label: dog)"]
    proc = _cli("pictures", path, "9", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("xlogreg: error: ") and "out of range" in proc.stderr
    proc = _cli("pictures", path, "1", "--out-dir", tmp_path / "absent", cwd=tmp_path)
    assert proc.returncode == 2 and "no such folder" in proc.stderr


# --------------------------------------------------------------------------- train(image_shape=, scale=)


def test_train_stores_image_shape_and_scale():
    X, Y = np.random.default_rng(1).random((12, 6)), [0, 1, 0, 1, 1, 0]
    model = xlogreg.train(X, Y, num_iterations=2, image_shape=(2, 2, 3))
    assert model.image_shape == (2, 2, 3) and model.preprocessing == {"scale": 255.0}
    model = xlogreg.train(X, Y, num_iterations=2, image_shape=np.array([3, 4]), scale=16)
    assert model.image_shape == (3, 4, 1) and model.preprocessing == {"scale": 16.0}
    model = xlogreg.train(X, Y, num_iterations=2)
    assert model.image_shape is None and model.preprocessing == {}


@pytest.mark.parametrize("kwargs, words", [
    ({"image_shape": (2, 2, 2)}, ["image_shape (2, 2, 2) holds 8 values per image", "X has 12 features"]),
    ({"image_shape": (12,)}, ["image_shape must be (height, width, channels)"]),
    ({"image_shape": "64x64"}, ["image_shape must be (height, width, channels)"]),
    ({"image_shape": (2, 2, 3), "scale": 0}, ["scale must be a number > 0"]),
])
def test_train_refuses_a_wrong_image_shape(kwargs, words):
    X, Y = np.zeros((12, 2)), [0, 1]
    with pytest.raises(ValueError) as info:
        xlogreg.train(X, Y, num_iterations=1, **kwargs)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_python_trained_model_predicts_pictures_from_the_command_line(course_paths, tmp_path):
    """The issue's case end to end: train in Python on flatten_images data, save, `xlogreg predict` a PNG."""
    train_x, train_y, test_x, test_y, _ = xlogreg.load_dataset(*course_paths)
    model = xlogreg.train(xlogreg.flatten_images(train_x), train_y, num_iterations=300,
                          image_shape=train_x.shape[1:])
    model.save(tmp_path / "m.h5")
    assert xlogreg.load_model(tmp_path / "m.h5").image_shape == (64, 64, 3)
    proc = _cli("pictures", course_paths[1], "1", "6", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = _cli("predict", "m.h5", "test1.png", "test6.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    printed = re.findall(r"^(test\d\.png): (\S+) \(P\(1\) = ([0-9.]+)\)$", proc.stdout, re.M)
    # Independent: the model's probability on the stored pixels, in plain NumPy.
    w = np.asarray(model.w, dtype=np.float64)
    for (name, label, p), index in zip(printed, (1, 6)):
        x = test_x[index].reshape(-1, 1).astype(np.float64) / 255
        expected = 1 / (1 + np.exp(-(w.T @ x + model.b)))[0, 0]
        assert float(p) == pytest.approx(expected, abs=5e-5), name
        assert label == str(int(expected > 0.5))
    assert [n for n, _, _ in printed] == ["test1.png", "test6.png"]
