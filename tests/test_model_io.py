"""Model files: round trips on every backend, atomic writes, and refusal of bad files."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import h5py
import numpy as np
import pytest

import xlogreg
from conftest import import_backend
from xlogreg import DataError, Model, load_model, save_model
from xlogreg import _backends
from xlogreg.io.atomic import atomic_path
from xlogreg.io.model_file import CHECKSUM_ATTR, FORMAT, FORMAT_VERSION, checksum
from xlogreg.io.pictures import data_to_X, load_images


def _toy_data(seed=0, n_x=12, m=40):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_x, m))
    Y = (X[0] + 0.5 * X[1] > 0).astype(np.int64)[None, :]
    return X, Y


def _numpy_model(**changes):
    X, Y = _toy_data()
    model = xlogreg.train(X, Y, num_iterations=300, learning_rate=0.1, record_every=50)
    model.classes = ["no", "yes"]
    model.image_shape = (2, 2, 3)
    model.preprocessing = {"scale": 255.0}
    for key, value in changes.items():
        setattr(model, key, value)
    return model


def _assert_same_model(loaded, model):
    np.testing.assert_array_equal(loaded.w, _backends.to_numpy(model.w))
    assert loaded.w.dtype == _backends.to_numpy(model.w).dtype
    assert loaded.b == float(model.b)
    assert loaded.costs == [float(c) for c in model.costs]
    assert loaded.cost_iterations == list(model.cost_iterations)
    for name in ("learning_rate", "num_iterations", "iterations", "interrupted", "solver",
                 "train_accuracy", "test_accuracy", "classes", "preprocessing"):
        assert getattr(loaded, name) == getattr(model, name), name
    assert loaded.image_shape == (None if model.image_shape is None else tuple(model.image_shape))


def test_round_trip_numpy(tmp_path):
    model = _numpy_model(interrupted=True, test_accuracy=None)
    path = tmp_path / "model.h5"
    save_model(model, path)
    loaded = load_model(path)
    _assert_same_model(loaded, model)
    assert isinstance(loaded.w, np.ndarray)
    assert (loaded.backend, loaded.device) == ("numpy", "cpu")
    with h5py.File(path, "r") as f:  # the documented layout, read without xlogreg
        assert f.attrs["format"] == FORMAT and f.attrs["format_version"] == FORMAT_VERSION
        assert f.attrs["xlogreg_version"] == xlogreg.__version__
        assert json.loads(f.attrs["training"])["interrupted"] is True
        assert json.loads(f.attrs["image_shape"]) == [2, 2, 3]
        assert f["w"].shape == (12, 1)


def test_l1_round_trip_and_older_files(tmp_path):
    """The L1 strength a model was trained with survives save / load; a file without it reads as l1 = 0."""
    X, Y = _toy_data()
    model = xlogreg.train(X, Y, l1=3.0, num_iterations=50)
    assert model.l1 == 3.0 and 0 < np.count_nonzero(model.w) < X.shape[0]
    path = tmp_path / "l1.h5"
    model.save(path)
    loaded = load_model(path)
    assert loaded.l1 == 3.0 and loaded.l2 == 0.0
    np.testing.assert_array_equal(loaded.w, model.w)
    with h5py.File(path, "r") as f:  # stored in the documented place, readable without xlogreg
        assert json.loads(f.attrs["training"])["l1"] == 3.0

    def drop_l1(f):  # a file written before l1 was stored (re-checksummed: only the missing key differs)
        training = json.loads(f.attrs["training"])
        del training["l1"]
        f.attrs["training"] = json.dumps(training, sort_keys=True)
        f.attrs[CHECKSUM_ATTR] = checksum(f)
    with h5py.File(path, "r+") as f:
        drop_l1(f)
    assert load_model(path).l1 == 0.0
    with h5py.File(path, "r+") as f:
        training = json.loads(f.attrs["training"])
        training["l1"] = -1.0
        f.attrs["training"] = json.dumps(training, sort_keys=True)
        f.attrs[CHECKSUM_ATTR] = checksum(f)
    with pytest.raises(DataError, match="'l1' must be a finite float >= 0"):
        load_model(path)


def test_model_save_method_and_public_names(tmp_path):
    model = _numpy_model()
    model.save(tmp_path / "m.h5")
    _assert_same_model(xlogreg.load_model(str(tmp_path / "m.h5")), model)
    assert {"load_model", "save_model"} <= set(xlogreg.__all__)


def test_round_trip_every_backend(case, tmp_path):
    """A model trained anywhere is saved from the host and loads back as NumPy, bit for bit."""
    X, Y = _toy_data()
    model = xlogreg.train(case.asarray(X), case.asarray(Y), num_iterations=3, learning_rate=0.1, record_every=1)
    save_model(model, tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    assert isinstance(loaded.w, np.ndarray) and loaded.dtype == case.dtype_name
    _assert_same_model(loaded, model)


def test_load_onto_backend(case, tmp_path):
    """load_model(backend=, device=) puts w there; predictions match the NumPy model."""
    X, Y = _toy_data()
    model = xlogreg.train(X, Y, num_iterations=100, learning_rate=0.1)
    if case.dtype_name == "float32":
        model = model.to_numpy()
        model.w = model.w.astype(np.float32)
        model.dtype = "float32"
    save_model(model, tmp_path / "m.h5")
    moved = load_model(tmp_path / "m.h5", backend=case.backend, device=case.device)
    assert _backends.backend_name(case.xp) == moved.backend
    assert str(xlogreg._validation.get_device(moved.w)) == str(case.device)
    assert moved.w.dtype == case.dtype
    np.testing.assert_allclose(_backends.to_numpy(moved.predict_proba(case.asarray(X))),
                               _backends.to_numpy(model.predict_proba(X)), rtol=case.rtol * 10)


def test_float64_model_on_a_device_without_float64_is_refused(tmp_path):
    import_backend("array_api_strict")
    import array_api_strict as xps

    save_model(_numpy_model(), tmp_path / "m.h5")
    no64 = xps.Device("no_float64")
    with pytest.raises(ValueError, match="float64"):
        load_model(tmp_path / "m.h5", backend="array_api_strict", device=no64)
    model = load_model(tmp_path / "m.h5", backend="array_api_strict", device=no64, dtype="float32")
    assert model.w.dtype == xps.float32 and model.dtype == "float32"


def test_load_unknown_or_unusable_backend(tmp_path):
    save_model(_numpy_model(), tmp_path / "m.h5")
    with pytest.raises(ValueError, match="backend must be one of"):
        load_model(tmp_path / "m.h5", backend="nope")
    if not xlogreg.available_backends()["cupy"].available:
        with pytest.raises(xlogreg.BackendError, match="cupy"):
            load_model(tmp_path / "m.h5", backend="cupy")


# --------------------------------------------------------------------------- atomic writes


def _leftovers(directory, keep):
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def test_save_leaves_no_temporary_file_and_usual_permissions(tmp_path):
    save_model(_numpy_model(), tmp_path / "m.h5")
    assert _leftovers(tmp_path, {"m.h5"}) == []
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert (tmp_path / "m.h5").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("where", ["during the write", "before the rename", "at fsync"])
@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch, where, error):
    path = tmp_path / "m.h5"
    old = _numpy_model(iterations=111)
    save_model(old, path)
    before = path.read_bytes()
    if where == "during the write":
        real = h5py.Group.create_dataset

        def create_dataset(self, name, *args, **kwargs):
            if name == "costs":  # "w" is already written
                raise error("simulated")
            return real(self, name, *args, **kwargs)

        monkeypatch.setattr(h5py.Group, "create_dataset", create_dataset)
    elif where == "before the rename":
        monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(error("simulated")))
    else:
        monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(error("simulated")))
    with pytest.raises(error):
        save_model(_numpy_model(iterations=222), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_model(path).iterations == 111
    assert _leftovers(tmp_path, {"m.h5"}) == []


def test_crash_during_save_keeps_the_previous_file(tmp_path):
    """A process killed in the middle of writing (no cleanup runs) leaves the old model intact."""
    path = tmp_path / "m.h5"
    save_model(_numpy_model(iterations=111), path)
    before = path.read_bytes()
    code = f"""
import os, h5py, xlogreg, numpy as np
real = h5py.Group.create_dataset
def create_dataset(self, name, *args, **kwargs):
    if name == "costs":
        self.file.flush()
        os._exit(9)
    return real(self, name, *args, **kwargs)
h5py.Group.create_dataset = create_dataset
model = xlogreg.train(np.eye(3), [0, 1, 1], num_iterations=5)
xlogreg.save_model(model, {str(path)!r})
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert path.read_bytes() == before
    assert load_model(path).iterations == 111
    # The file is built in memory: killed while building it, the process leaves nothing behind.
    # (Killed while writing the temporary file, it leaves that file: tests/test_save_faults.py.)
    assert _leftovers(tmp_path, {"m.h5"}) == []


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        save_model(_numpy_model(), tmp_path / "missing" / "m.h5")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change, match", [
    ({"image_shape": (3, 3, 3)}, "image_shape"),
    ({"classes": ["a", "b", "c"]}, "classes"),
    ({"b": float("nan")}, "model.b"),
    ({"preprocessing": {"scale": -1}}, "scale"),
    ({"costs": [0.5]}, "same length"),
    ({"train_accuracy": float("inf")}, "train_accuracy"),
])
def test_inconsistent_model_is_not_saved(tmp_path, change, match):
    with pytest.raises(ValueError, match=match):
        save_model(_numpy_model(**change), tmp_path / "m.h5")
    assert list(tmp_path.iterdir()) == []


def test_non_finite_weights_are_not_saved(tmp_path):
    model = _numpy_model()
    model.w = np.full_like(model.w, np.nan)
    with pytest.raises(ValueError, match="finite"):
        save_model(model, tmp_path / "m.h5")


def test_atomic_path_cleans_up_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.json") as tmp:
            with open(tmp, "w") as f:
                f.write("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- refusing bad files


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "good.h5"
    save_model(_numpy_model(), path)
    return path


def _edit(path, edit):
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _replace(name, data):
    def edit(f):
        del f[name]
        f[name] = data
    return edit


def _set_attr(name, value):
    def edit(f):
        f.attrs[name] = value
    return edit


BAD_FILES = {
    "wrong format": (_set_attr("format", "something-else"), "not an xlogreg model file"),
    "no format": (lambda f: f.attrs.__delitem__("format"), "not an xlogreg model file"),
    "future version": (_set_attr("format_version", FORMAT_VERSION + 1),
                       f"format version {FORMAT_VERSION + 1} is not supported"),
    "text version": (_set_attr("format_version", "1"), "format_version"),
    "w missing": (lambda f: f.__delitem__("w"), "no 'w' dataset"),
    "w 1-D": (_replace("w", np.zeros(12)), r"'w' has shape \(12,\)"),
    "w integer": (_replace("w", np.zeros((12, 1), dtype=np.int64)), "float32 or float64"),
    "w strings": (_replace("w", np.array([[b"x"]] * 12)), "expected numbers"),
    "w NaN": (_replace("w", np.full((12, 1), np.nan)), "NaN"),
    "w a group": (lambda f: (f.__delitem__("w"), f.create_group("w")), "is a group"),
    "b infinite": (_set_attr("b", np.inf), "'b' must be a finite number"),
    "b text": (_set_attr("b", "0.5"), "'b' must be a finite number"),
    "image shape mismatch": (_set_attr("image_shape", "[4, 4, 3]"), "does not match 'w'"),
    "image shape junk": (_set_attr("image_shape", '"big"'), "image_shape"),
    "bad JSON": (_set_attr("training", "{not json"), "not valid JSON"),
    "JSON attribute not text": (_set_attr("preprocessing", 3.0), "must be a JSON string"),
    "classes wrong": (_set_attr("classes", '["only one"]'), "classes"),
    "negative scale": (_set_attr("preprocessing", '{"scale": -2}'), "scale"),
    "costs mismatch": (_replace("cost_iterations", np.arange(2)), "same length"),
    "iterations negative": (_set_attr("training", '{"learning_rate": 0.1, "num_iterations": 5, '
                                                  '"iterations": -1}'), "iterations"),
    "interrupted not bool": (_set_attr("training", '{"learning_rate": 0.1, "num_iterations": 5, '
                                                   '"iterations": 5, "interrupted": "yes"}'), "interrupted"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_model_file_is_refused(good_file, name):
    edit, match = BAD_FILES[name]
    _edit(good_file, edit)
    with pytest.raises(DataError, match=match) as info:
        load_model(good_file)
    assert str(good_file) in str(info.value)


def test_missing_not_hdf5_and_truncated(tmp_path, good_file):
    with pytest.raises(DataError, match="no such file"):
        load_model(tmp_path / "absent.h5")
    (tmp_path / "text.h5").write_text("hello, not HDF5\n")
    with pytest.raises(DataError, match="not an HDF5 file"):
        load_model(tmp_path / "text.h5")
    data = good_file.read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.h5"):
        load_model(tmp_path / "cut.h5")


def test_data_file_is_not_a_model(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = np.zeros((2, 2, 2, 3), dtype=np.uint8)
        f["train_set_y"] = np.array([0, 1])
    with pytest.raises(DataError, match="looks like a data file"):
        load_model(path)


class _Trap:
    """Unpickling this creates a marker file: loading must never do it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["opaque bytes", "object reference text"])
def test_loading_never_unpickles(good_file, tmp_path, how):
    marker = tmp_path / "pwned"
    if how == "opaque bytes":
        value = np.void(pickle.dumps(_Trap(str(marker))))
    else:  # protocol 0 is printable text
        value = pickle.dumps(_Trap(str(marker)), protocol=0).decode("ascii")
    _edit(good_file, _set_attr("preprocessing", value))
    with pytest.raises(DataError, match="preprocessing"):
        load_model(good_file)
    assert not marker.exists()


# --------------------------------------------------------------------------- inputs for a loaded model


def test_load_images_scales_resizes_and_inverts(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    model = Model(w=np.zeros((60, 1)), b=0.0, image_shape=(4, 5, 3), preprocessing={"scale": 255.0})
    X = load_images([tmp_path / "a.png"], model)
    np.testing.assert_allclose(X[:, 0], pixels.reshape(-1) / 255.0)

    grey = Model(w=np.zeros((20, 1)), b=0.0, image_shape=(4, 5, 1), preprocessing={"scale": 16.0, "invert": True})
    X = load_images([tmp_path / "a.png"], grey)
    expected = 255.0 - np.asarray(Image.fromarray(pixels).convert("L"), dtype=np.float64)
    np.testing.assert_allclose(X[:, 0], expected.reshape(-1) / 255.0)

    # A bigger RGBA picture: alpha dropped, resized to width 5 x height 4 by Pillow's bilinear filter
    # (the course's imresize), written out here with Pillow directly; a transposed size, another
    # filter or the alpha channel kept would all differ.
    big = rng.integers(0, 256, size=(40, 30, 4), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    resized = Image.fromarray(big[..., :3]).resize((5, 4), Image.Resampling.BILINEAR)
    expected = np.asarray(resized, dtype=np.float64).reshape(-1, 1) / 255.0
    np.testing.assert_allclose(load_images([tmp_path / "big.png"], model), expected, rtol=1e-15)
    # One colour: every filter keeps it, so the values are known by hand.
    Image.fromarray(np.full((40, 30, 3), (51, 102, 255), dtype=np.uint8)).save(tmp_path / "flat.png")
    np.testing.assert_allclose(load_images([tmp_path / "flat.png"], model)[:, 0], np.tile([0.2, 0.4, 1.0], 20),
                               rtol=1e-15)


def test_load_images_errors(tmp_path):
    model = Model(w=np.zeros((60, 1)), b=0.0, image_shape=(4, 5, 3))
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="cannot be read as an image"):
        load_images([tmp_path / "notes.txt"], model)
    with pytest.raises(DataError, match="no such file"):
        load_images([tmp_path / "absent.png"], model)
    with pytest.raises(DataError, match="not trained on images"):
        load_images([tmp_path / "notes.txt"], Model(w=np.zeros((60, 1)), b=0.0))


def test_data_to_X_checks_the_image_shape():
    model = Model(w=np.zeros((12, 1)), b=0.0, image_shape=(2, 2, 3), preprocessing={"scale": 4.0})
    x = np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3)
    np.testing.assert_allclose(data_to_X(x, model), x.reshape(2, -1).T / 4.0)
    with pytest.raises(DataError, match=r"images of shape \(3, 2, 2\)"):
        data_to_X(np.zeros((1, 3, 2, 2)), model, "other.h5")
