"""Model files: the SHA-256 checksum, bounded metadata parsing, and model files as untrusted input.

The checksum's recipe is re-implemented here from its documentation
(:func:`xlogreg.io.model_file.checksum`), independently of the code under test, and
every tampering below is made with h5py or by flipping a byte of the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import xlogreg
from conftest import ROOT
from xlogreg import DataError, load_model, save_model
from xlogreg.io.model_file import CHECKSUM_ATTR, FORMAT_VERSION, checksum


def _model():
    X = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 1.0, 0.0], [0.5, 0.5, 0.0, 1.0]])
    model = xlogreg.train(X, [0, 0, 1, 1], num_iterations=50, learning_rate=0.5, record_every=10)
    model.classes, model.image_shape, model.preprocessing = ["non-cat", "cat"], (1, 1, 3), {"scale": 255.0}
    return model


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.h5"
    save_model(_model(), path)
    return path


def _edit(path, edit):
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


# --------------------------------------------------------------------------- the recipe, independently


def _reference_checksum(path):
    """The documented recipe: length-prefixed pieces, sorted objects and attributes, little-endian numbers."""
    h = hashlib.sha256()

    def feed(*parts):
        for part in parts:
            data = part if isinstance(part, bytes) else str(part).encode()
            h.update(len(data).to_bytes(8, "little") + data)

    def value(v):
        if isinstance(v, str):
            return ("str", "", "", v.encode())
        a = np.asarray(v)
        assert a.dtype.kind in "iuf", a.dtype  # all this model file holds
        dt = a.dtype.newbyteorder("<")
        return ("array", dt.str, repr(a.shape), a.astype(dt).tobytes())

    with h5py.File(path, "r") as f:
        names = [""]
        f.visit(names.append)
        feed("xlogreg-model-checksum", 1)
        for name in sorted(names):
            obj = f[name] if name else f
            is_dataset = isinstance(obj, h5py.Dataset)
            feed("dataset" if is_dataset else "group", name)
            for key in sorted(obj.attrs):
                if not (name == "" and key == CHECKSUM_ATTR):
                    feed("attribute", key, *value(obj.attrs[key]))
            if is_dataset:
                feed("data", *value(obj[()]))
    return "sha256:" + h.hexdigest()


def test_saved_file_carries_the_documented_checksum(saved):
    with h5py.File(saved, "r") as f:
        stored = f.attrs[CHECKSUM_ATTR]
        assert f.attrs["format_version"] == FORMAT_VERSION == 2
        assert sorted(f.keys()) == ["cost_iterations", "costs", "w"]
    assert stored == _reference_checksum(saved)
    assert load_model(saved).iterations == 50


# --------------------------------------------------------------------------- tampering is detected


def _flip_bit_in_w(f):
    """Flip the lowest mantissa bit of w[0, 0] in the file's bytes (the value stays finite)."""
    offset = f["w"].id.get_offset()
    assert offset is not None  # contiguous storage
    f.flush()
    with open(f.filename, "r+b") as raw:
        raw.seek(offset)
        byte = raw.read(1)
        raw.seek(offset)
        raw.write(bytes([byte[0] ^ 1]))


def _set_json(key, change):
    def edit(f):
        value = json.loads(f.attrs[key])
        change(value)
        f.attrs[key] = json.dumps(value, sort_keys=True)
    return edit


def _replace(name, data):
    def edit(f):
        del f[name]
        f[name] = data
    return edit


TAMPERING = {
    "a flipped bit in w": None,  # done on the raw bytes, below
    "scale 255 -> 254": _set_json("preprocessing", lambda p: p.update(scale=254.0)),
    "a class name": _set_json("classes", lambda c: c.__setitem__(1, "dog")),
    "the learning rate": _set_json("training", lambda t: t.update(learning_rate=0.25)),
    "the interrupted flag": _set_json("training", lambda t: t.update(interrupted=True)),
    "b": lambda f: f.attrs.__setitem__("b", f.attrs["b"] + 1e-12),
    "b's type": lambda f: f.attrs.__setitem__("b", np.float32(f.attrs["b"])),
    "a cost": _replace("costs", np.arange(5, dtype=np.float64)),
    "w's dtype": lambda f: _replace("w", f["w"][()].astype(np.float32))(f),
    "the library version": lambda f: f.attrs.__setitem__("xlogreg_version", "0.0.1"),
    "an attribute added": lambda f: f.attrs.__setitem__("note", "hello"),
    "an attribute removed": lambda f: f.attrs.__delitem__("xlogreg_version"),
    "a dataset added": lambda f: f.__setitem__("extra", np.zeros(3)),
    "an attribute on w": lambda f: f["w"].attrs.__setitem__("unit", "none"),
}


@pytest.mark.parametrize("name", TAMPERING)
def test_tampering_is_a_checksum_mismatch(saved, name):
    with h5py.File(saved, "r+") as f:
        if TAMPERING[name] is None:
            _flip_bit_in_w(f)
        else:
            TAMPERING[name](f)
    with pytest.raises(DataError, match=str(saved).replace(".", r"\.") + r": the checksum does not match"):
        load_model(saved)


def test_missing_or_malformed_checksum(saved):
    _edit(saved, lambda f: f.attrs.__setitem__(CHECKSUM_ATTR, "sha256:" + "0" * 63))
    with pytest.raises(DataError, match=r"'checksum' is not 'sha256:' and 64 hexadecimal digits"):
        load_model(saved)
    _edit(saved, lambda f: f.attrs.__setitem__(CHECKSUM_ATTR, np.arange(3)))
    with pytest.raises(DataError, match=r"'checksum' must be a string; got an array of shape \(3,\)"):
        load_model(saved)
    _edit(saved, lambda f: f.attrs.__delitem__(CHECKSUM_ATTR))
    with pytest.raises(DataError, match=r"format version 2 has no 'checksum' attribute"):
        load_model(saved)


def test_version_1_files_load_without_a_checksum(saved):
    """Files written before checksums existed (format version 1) load, without a warning (filterwarnings=error)."""
    def downgrade(f):
        del f.attrs[CHECKSUM_ATTR]
        f.attrs["format_version"] = 1
    _edit(saved, downgrade)
    model = load_model(saved)
    assert model.iterations == 50 and model.classes == ["non-cat", "cat"]


def test_a_version_1_file_with_a_checksum_is_verified(saved):
    _edit(saved, lambda f: f.attrs.__setitem__("format_version", 1))  # changes what the checksum covers
    with pytest.raises(DataError, match="checksum does not match"):
        load_model(saved)


def test_new_fields_are_covered_without_changes(saved):
    """Fields a later version adds (an attribute, named datasets, a group) are covered as they are."""
    def add_fields(f):
        f.attrs["future_setting"] = 3
        f["class_names"] = np.array([b"a", b"b", b"c"])
        f.create_group("extra").create_dataset("W", data=np.ones((3, 3)))
        f.attrs[CHECKSUM_ATTR] = checksum(f)
    _edit(saved, add_fields)
    assert load_model(saved).iterations == 50  # re-signed: accepted
    for change in (lambda f: f.attrs.__setitem__("future_setting", 4),
                   lambda f: f["extra/W"].__setitem__((0, 0), 2.0),
                   lambda f: f["class_names"].__setitem__(2, b"d")):
        _edit(saved, change)
        with pytest.raises(DataError, match="checksum does not match"):
            load_model(saved)
        _edit(saved, lambda f: f.attrs.__setitem__(CHECKSUM_ATTR, checksum(f)))


def test_cli_refuses_a_damaged_model(saved, tmp_path):
    with h5py.File(saved, "r+") as f:
        _flip_bit_in_w(f)
    image = tmp_path / "cat.png"
    from PIL import Image

    Image.new("RGB", (4, 4), (200, 10, 10)).save(image)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "xlogreg", "predict", str(saved), str(image)], capture_output=True,
                          text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"xlogreg: error: {saved}: the checksum does not match the contents: the "
                                        "file was damaged or edited after it was saved; restore it from a copy, or "
                                        "train and save the model again"]


# --------------------------------------------------------------------------- bounded metadata parsing


def _attr(key, value):
    return lambda f: f.attrs.__setitem__(key, value)


TRAINING = '{"learning_rate": %s, "num_iterations": 50, "iterations": 50}'
METADATA = {
    "JSON nested 2,000 deep": (_attr("training", "[" * 2000 + "]" * 2000), r"'training' is JSON nested too deeply"),
    "JSON nested 100,000 deep": (_attr("classes", "[" * 100000 + "]" * 100000), r"'classes' is JSON nested too deep"),
    "JSON nested 40 deep": (_attr("preprocessing", "[" * 40 + "]" * 40), r"'preprocessing' is JSON nested too deep"),
    "a 400-digit learning rate": (_attr("training", TRAINING % ("9" * 400)),
                                  r"'training' is not valid JSON: an integer of 400 digits"),
    "NaN in JSON": (_attr("training", TRAINING % "NaN"), r"'training' is not valid JSON: NaN is not a number"),
    "1e999 in JSON": (_attr("training", TRAINING % "1e999"), r"'learning_rate' must be a finite float"),
    "format an array": (_attr("format", np.arange(3)),
                        r"'format' must be a string; got an array of shape \(3,\) and dtype int64"),
    "format_version an array": (_attr("format_version", np.array([2, 2])),
                                r"no valid 'format_version' attribute; got an array of shape \(2,\)"),
    "b an array": (_attr("b", np.zeros(2)), r"'b' must be a finite number; got an array"),
    "classes an array of names": (_attr("classes", np.array([b"non-cat", b"cat"])), r"'classes' must be a JSON "
                                                                                     r"string; got an array"),
    "a huge JSON attribute": (_attr("preprocessing", " " * (16 * 2**20 + 1)), r"more than the 16777216 accepted"),
}


@pytest.mark.parametrize("name", METADATA)
def test_metadata_parsing_is_bounded(saved, name):
    edit, pattern = METADATA[name]
    _edit(saved, edit)
    with pytest.raises(DataError, match=str(saved).replace(".", r"\.") + r": .*" + pattern):
        load_model(saved)


# --------------------------------------------------------------------------- model files are untrusted too


def _secret(tmp_path):
    path = tmp_path / "secret.bin"
    path.write_bytes(np.arange(3, dtype=np.float64).tobytes())
    return path


def _other_model(tmp_path):
    other = tmp_path / "other.h5"
    save_model(_model(), other)
    return other


UNTRUSTED = {
    "w an external link": (lambda f, d: _swap_w(f, h5py.ExternalLink(str(_other_model(d)), "/w")),
                           r"'w' is an external link to '/w' in the file .*other\.h5"),
    "w a soft link": (lambda f, d: (f.__setitem__("w_real", f["w"][()]), _swap_w(f, h5py.SoftLink("/w_real"))),
                      r"'w' is a SoftLink; model files hold only plain datasets"),
    "w a dangling soft link": (lambda f, d: _swap_w(f, h5py.SoftLink("/nowhere")), r"'w' is a SoftLink"),
    "w a virtual dataset": (lambda f, d: _swap_w(f, _virtual(f, _other_model(d))),
                            r"'w' \(model data\) is a virtual dataset mapping data from .*other\.h5"),
    "w in external raw storage": (lambda f, d: _swap_w(f, None, external=[(str(_secret(d)), 0, 24)]),
                                  r"'w' \(model data\) keeps its bytes in the external raw file\(s\) .*secret\.bin"),
    "an extra external link": (lambda f, d: f.__setitem__("x", h5py.ExternalLink(str(d / "nothere.h5"), "/")),
                               r"'x' is an external link"),
    "a group hard-linked inside itself": (lambda f, d: f.create_group("g").__setitem__("loop", f["g"]),
                                          r"holds more than 1000 groups and datasets"),
    "w a null dataspace": (lambda f, d: _swap_w(f, h5py.Empty("f8")), r"'w' is empty \(a null dataspace"),
    "w declared huge": (lambda f, d: _swap_w(f, None, shape=(10**12, 1), chunks=(1024, 1)),
                        r"its datasets declare 7450\.6 GiB, more than the .* GiB"),
}


def _virtual(f, other):
    layout = h5py.VirtualLayout(shape=(3, 1), dtype=np.float64)
    layout[...] = h5py.VirtualSource(str(other), "/w", shape=(3, 1))
    return layout


def _swap_w(f, value, **create):
    del f["w"]
    if isinstance(value, h5py.VirtualLayout):
        f.create_virtual_dataset("w", value)
    elif value is None:
        f.create_dataset("w", shape=create.pop("shape", (3, 1)), dtype=np.float64, **create)
    else:
        f["w"] = value


@pytest.mark.parametrize("name", UNTRUSTED)
def test_model_file_links_and_storage_are_refused(saved, tmp_path, name):
    edit, pattern = UNTRUSTED[name]
    with h5py.File(saved, "r+") as f:
        edit(f, tmp_path)
    with pytest.raises(DataError, match=str(saved).replace(".", r"\.") + r": " + pattern):
        load_model(saved)
