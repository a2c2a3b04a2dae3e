"""HDF5 data files are untrusted input: nothing is read from a file the user did not name.

Every malicious or odd file here is built with h5py in ``tmp_path``; each case
checks the error (a ``DataError`` naming the file and the key) and, where the
old behaviour was a silently wrong result, that the foreign bytes never come
back. The command-line cases run ``python -m xlogreg`` in subprocesses.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from conftest import ROOT
from xlogreg.io import datasets, hdf5, lazy
from xlogreg.io.datasets import load_h5
from xlogreg.io.hdf5 import DataError

M, SHAPE = 6, (4, 4, 3)
SECRET = b"TOP-SECRET-" * 40  # the bytes of a file nobody named


def _images(m=M):
    return (np.arange(m * 48, dtype=np.int64).reshape(m, *SHAPE) % 251).astype(np.uint8)


def _labels(m=M):
    return np.arange(m) % 2


def _plain(path, m=M):
    with h5py.File(path, "w") as f:
        f["train_set_x"] = _images(m)
        f["train_set_y"] = _labels(m)
        f["list_classes"] = np.array([b"non-cat", b"cat"])
    return path


def _write(path, x=None, y=None, classes=None):
    """A course file whose entries are built by the callables x, y, classes (default: plain data)."""
    with h5py.File(path, "w") as f:
        (x or (lambda f, k: f.create_dataset(k, data=_images())))(f, "train_set_x")
        (y or (lambda f, k: f.create_dataset(k, data=_labels())))(f, "train_set_y")
        (classes or (lambda f, k: f.create_dataset(k, data=np.array([b"non-cat", b"cat"]))))(f, "list_classes")
    return path


# --------------------------------------------------------------------------- the malicious entries


def _other_file(tmp_path):
    """A valid file beside the data: readable, but not named by the user."""
    return _plain(tmp_path / "other.h5")


def _secret_file(tmp_path):
    path = tmp_path / "secret.bin"
    path.write_bytes(SECRET)
    return path


def external_link(tmp_path):
    other = _other_file(tmp_path)
    return lambda f, k: f.__setitem__(k, h5py.ExternalLink(str(other), "/train_set_x" if k.endswith("x")
                                                           else "/train_set_y" if k.endswith("y")
                                                           else "/list_classes"))


def external_link_to_missing_file(tmp_path):
    return lambda f, k: f.__setitem__(k, h5py.ExternalLink(str(tmp_path / "missing.h5"), "/data"))


def soft_link_to_external_link(tmp_path):
    other = _other_file(tmp_path)

    def make(f, k):
        f[f"{k}_hidden"] = h5py.ExternalLink(str(other), f"/{k}")
        f[k] = h5py.SoftLink(f"/{k}_hidden")
    return make


def group_through_external_link(tmp_path):
    """The key's parent group lives in another file: ``grp/train_set_x`` through an external link."""
    other = tmp_path / "other_group.h5"
    with h5py.File(other, "w") as g:
        g["grp/train_set_x"] = _images()
        g["grp/train_set_y"] = _labels()
        g["grp/list_classes"] = np.array([b"a", b"b"])

    def make(f, k):
        if "grp" not in f:
            f["grp"] = h5py.ExternalLink(str(other), "/grp")
        f[k] = h5py.SoftLink(f"/grp/{k}")
    return make


def dangling_soft_link(tmp_path):
    return lambda f, k: f.__setitem__(k, h5py.SoftLink(f"/nowhere_{k}"))


def soft_link_loop(tmp_path):
    def make(f, k):
        f[f"{k}_loop"] = h5py.SoftLink(f"/{k}")
        f[k] = h5py.SoftLink(f"/{k}_loop")
    return make


def _source_data(k):
    # Class names as numbers: HDF5's virtual datasets take no string types.
    return _images() if k.endswith("x") else _labels() if k.endswith("y") else np.array([0, 1])


def virtual_dataset(tmp_path):
    other = _other_file(tmp_path)

    def make(f, k):
        data = _source_data(k)
        layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
        layout[...] = h5py.VirtualSource(str(other), f"/{k}", shape=data.shape, dtype=data.dtype)
        f.create_virtual_dataset(k, layout, fillvalue=0)
    return make


def virtual_dataset_missing_source(tmp_path):
    def make(f, k):
        data = _source_data(k)
        layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
        layout[...] = h5py.VirtualSource(str(tmp_path / "gone.h5"), f"/{k}", shape=data.shape, dtype=data.dtype)
        f.create_virtual_dataset(k, layout, fillvalue=1)
    return make


def external_storage(tmp_path):
    secret = _secret_file(tmp_path)

    def make(f, k):
        data = _source_data(k)
        dtype = np.uint8 if data.dtype.kind != "S" else data.dtype
        f.create_dataset(k, shape=data.shape, dtype=dtype,
                         external=[(str(secret), 0, int(np.prod(data.shape)) * np.dtype(dtype).itemsize)])
    return make


def null_dataspace(tmp_path):
    return lambda f, k: f.__setitem__(k, h5py.Empty("u1" if k != "list_classes" else "S7"))


BAD = {
    "external link": (external_link, r"external link to .* in the file .*other\.h5"),
    "external link to a missing file": (external_link_to_missing_file, r"external link to .*missing\.h5"),
    "soft link to an external link": (soft_link_to_external_link, r"external link to .*other\.h5"),
    "group through an external link": (group_through_external_link, r"external link to '/grp'"),
    "dangling soft link": (dangling_soft_link, r"soft link to '/nowhere_\w+'.*does not exist.*broken link"),
    "soft link loop": (soft_link_loop, r"more than 16 soft links"),
    "virtual dataset": (virtual_dataset, r"virtual dataset mapping data from .*other\.h5"),
    "virtual dataset, source missing": (virtual_dataset_missing_source, r"virtual dataset mapping data from .*gone"),
    "external raw storage": (external_storage, r"external raw file\(s\) .*secret\.bin"),
    "null dataspace": (null_dataspace, r"empty \(a null dataspace, h5py\.Empty\)"),
}
KEYS = {"train_set_x": "x", "train_set_y": "y", "list_classes": "classes"}


def _bad_file(tmp_path, kind, key):
    make, _ = BAD[kind]
    return _write(tmp_path / "data.h5", **{KEYS[key]: make(tmp_path)})


def _match(path, key, pattern):
    return re.escape(str(path)) + rf": {re.escape(repr(key))}.*{pattern}"


@pytest.mark.parametrize("key", list(KEYS))
@pytest.mark.parametrize("kind", list(BAD))
def test_load_h5_refuses(tmp_path, kind, key):
    path = _bad_file(tmp_path, kind, key)
    with pytest.raises(DataError, match=_match(path, key, BAD[kind][1])) as info:
        load_h5(path)
    assert SECRET[:11].decode() not in str(info.value)


@pytest.mark.parametrize("key", ["train_set_x", "train_set_y", "list_classes"])
@pytest.mark.parametrize("kind", list(BAD))
def test_open_lazy_refuses(tmp_path, kind, key):
    pytest.importorskip("dask")
    path = _bad_file(tmp_path, kind, key)
    with pytest.raises(DataError, match=_match(os.path.abspath(path), key, BAD[kind][1])):
        lazy.open_lazy(path)


def test_named_keys_are_checked_the_same_way(tmp_path):
    path = _write(tmp_path / "data.h5", x=external_link(tmp_path))
    with h5py.File(path, "a") as f:
        f["pixels"] = h5py.SoftLink("/train_set_x")
    with pytest.raises(DataError, match=_match(path, "pixels", "external link")):
        load_h5(path, x_key="pixels")
    with pytest.raises(DataError, match=_match(path, "nothere", "") + "|has no key 'nothere'"):
        load_h5(path, x_key="nothere")


def test_soft_links_inside_the_file_still_work(tmp_path):
    """A soft link to a plain dataset in the same file is followed (relative and absolute)."""
    path = tmp_path / "linked.h5"
    with h5py.File(path, "w") as f:
        f["data/pixels"] = _images()
        f["data/labels"] = _labels()
        f["train_set_x"] = h5py.SoftLink("/data/pixels")
        f["data/y"] = h5py.SoftLink("labels")  # relative to /data
        f["train_set_y"] = h5py.SoftLink("/data/y")
    x, y, classes = load_h5(path)
    np.testing.assert_array_equal(x, _images())
    np.testing.assert_array_equal(y, _labels()[None, :])
    assert classes is None


def test_external_storage_bytes_never_come_back(tmp_path):
    """Before the fix, the secret file's bytes came back as pixels."""
    secret = _secret_file(tmp_path)
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", shape=(2, 4, 4, 3), dtype=np.uint8, external=[(str(secret), 0, 96)])
        f["train_set_y"] = np.array([0, 1])
    with pytest.raises(DataError, match="external raw file"):
        load_h5(path)


# --------------------------------------------------------------------------- list_classes


@pytest.mark.parametrize("make, pattern", [
    (lambda f, k: f.create_group(k), r"is a group"),
    (lambda f, k: f.create_dataset(k, shape=(10**12,), dtype="S7", chunks=(1024,)), r"shape \(1000000000000,\)"),
    (lambda f, k: f.create_dataset(k, shape=(60000,), dtype="S1024", chunks=(64,)), r"declares 61440000 bytes"),
    (lambda f, k: f.create_dataset(k, data=np.array([[b"a", b"b"]])), r"shape \(1, 2\), expected \(K,\)"),
    (lambda f, k: f.create_dataset(k, data=np.zeros((0,), "S3")), r"shape \(0,\)"),
    (lambda f, k: f.create_dataset(k, data=np.array([0.5, 1.5])), r"dtype float64, expected strings"),
    (lambda f, k: f.create_dataset(k, data=np.array([b"\xff\xfe", b"cat"])), r"not UTF-8"),
    (lambda f, k: f.create_dataset(k, data=np.array(b"cat")), r"shape \(\), expected \(K,\)"),
])
def test_list_classes_is_checked_like_the_images(tmp_path, make, pattern):
    path = _write(tmp_path / "data.h5", classes=make)
    assert path.stat().st_size < 10**6
    with pytest.raises(DataError, match=_match(path, "list_classes", pattern)):
        load_h5(path)


def test_variable_length_class_names(tmp_path):
    path = _write(tmp_path / "data.h5", classes=lambda f, k: f.create_dataset(
        k, data=["non-cat", "chat"], dtype=h5py.string_dtype()))
    assert load_h5(path)[2].tolist() == [b"non-cat", b"chat"]


# --------------------------------------------------------------------------- odd datasets


def test_zero_examples(tmp_path):
    path = _write(tmp_path / "data.h5", x=lambda f, k: f.create_dataset(k, shape=(0, 4, 4, 3), dtype="u1"),
                  y=lambda f, k: f.create_dataset(k, shape=(0,), dtype="i8"))
    with pytest.raises(DataError, match=_match(path, "train_set_x", r"holds 0 examples")):
        load_h5(path)


def test_zero_features(tmp_path):
    path = _write(tmp_path / "data.h5", x=lambda f, k: f.create_dataset(k, shape=(M, 0, 4, 3), dtype="u1"))
    with pytest.raises(DataError, match=_match(path, "train_set_x", r"0 features")):
        load_h5(path)


def test_labels_are_compared_before_they_are_read(tmp_path, monkeypatch):
    """A label dataset declaring 10**11 entries (800 GB) is refused by its shape, never read."""
    path = _write(tmp_path / "data.h5",
                  y=lambda f, k: f.create_dataset(k, shape=(10**11,), dtype="i8", chunks=(4096,)))
    reads = []
    real = datasets._read_all
    monkeypatch.setattr(datasets, "_read_all", lambda ds, *a: reads.append(ds.name) or real(ds, *a))
    with pytest.raises(DataError, match=_match(path, "train_set_y", r"shape \(100000000000,\), expected \(6,\)")):
        load_h5(path)
    assert reads == []


# --------------------------------------------------------------------------- the memory guard


def test_cgroup_memory_limit(tmp_path, monkeypatch):
    """A cgroup v2 memory.max (minus memory.current) bounds what may be read, like physical memory."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "memory.max").write_text(f"{2**30}\n")
    (root / "memory.current").write_text(f"{2**29}\n")
    monkeypatch.setattr(hdf5, "CGROUP_ROOT", str(root))
    limit, where = hdf5._memory_limit()
    assert limit == 2**29 and "cgroup memory limit of 1.0 GiB" in where
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:  # 600 MiB declared, a few KB on disk
        f.create_dataset("train_set_x", shape=(600, 1024, 1024, 1), dtype="u1", chunks=(1, 64, 64, 1))
        f["train_set_y"] = np.zeros(600, dtype=np.int64)
    with pytest.raises(DataError, match=r"'train_set_x' \(the images\) declares shape \(600, 1024, 1024, 1\) "
                                        r"\(0\.6 GiB\), more than the 0\.5 GiB left under the cgroup"):
        load_h5(path)


def test_cgroup_v1_and_no_limit(tmp_path, monkeypatch):
    root = tmp_path / "cgroup"
    (root / "memory").mkdir(parents=True)
    (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    monkeypatch.setattr(hdf5, "CGROUP_ROOT", str(root))
    assert hdf5._cgroup_limits(str(root)) == []
    (root / "memory" / "memory.limit_in_bytes").write_text(f"{3 * 2**30}\n")
    (root / "memory" / "memory.usage_in_bytes").write_text(f"{2**30}\n")
    assert [limit for limit, _ in hdf5._cgroup_limits(str(root))] == [2 * 2**30]
    (root / "memory.max").write_text("max\n")  # v2 without a limit
    assert [limit for limit, _ in hdf5._cgroup_limits(str(root))] == [2 * 2**30]


@pytest.mark.parametrize("limit", ["RLIMIT_AS", "RLIMIT_DATA"])
def test_resource_limit_is_respected(tmp_path, limit):
    """Under a 1 GiB allowance (ulimit -v / -d), a 2.3 GB declared dataset is a DataError, not a MemoryError."""
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", shape=(2300, 1000, 1000, 1), dtype="u1", chunks=(1, 100, 100, 1))
        f["train_set_y"] = np.zeros(2300, dtype=np.int64)
    field = {"RLIMIT_AS": "VmSize", "RLIMIT_DATA": "VmData"}[limit]
    code = textwrap.dedent(f"""
        import resource, sys
        import numpy, h5py
        from xlogreg.io.datasets import load_h5
        from xlogreg.io.hdf5 import DataError, _proc_status_bytes
        soft = _proc_status_bytes({field!r}) + 2**30
        resource.setrlimit(resource.{limit}, (soft, resource.getrlimit(resource.{limit})[1]))
        try:
            load_h5({str(path)!r})
        except DataError as exc:
            print(exc)
            sys.exit(3)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 3, proc.stderr
    assert re.search(rf"declares shape \(2300, 1000, 1000, 1\) \(2\.1 GiB\), more than the 1\.0 GiB left under "
                     rf"this process's {limit} limit", proc.stdout), proc.stdout


# --------------------------------------------------------------------------- inputs that are not regular files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=re.escape(str(fifo)) + r": is a named pipe, expected an HDF5 file in a "
                                                               r"regular file"):
        load_h5(fifo)


def test_character_device_is_refused():
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    with pytest.raises(DataError, match=r"/dev/zero: is a character device"):
        load_h5("/dev/zero")


# --------------------------------------------------------------------------- the command line


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "xlogreg", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env, stdin=subprocess.DEVNULL)


def test_cli_refuses_untrusted_files(tmp_path):
    """train --train and predict --data (in memory and with Dask): one error line, exit 2, no traceback."""
    import xlogreg

    model_path = tmp_path / "model.h5"
    model = xlogreg.train(xlogreg.flatten_images(_images()), _labels(), num_iterations=5)
    model.image_shape, model.preprocessing = SHAPE, {"scale": 255.0}
    model.save(model_path)
    cases = {}
    for kind in ("external link", "dangling soft link", "virtual dataset, source missing",
                 "external raw storage", "null dataspace"):
        d = tmp_path / re.sub(r"\W+", "_", kind)
        d.mkdir()
        path = _write(d / "data.h5", x=BAD[kind][0](d))
        cases[(kind, "train")] = (["train", "--train", path, "-n", 2], path, BAD[kind][1])
        cases[(kind, "train dask")] = (["train", "--train", path, "-n", 2, "--backend", "dask"], path, BAD[kind][1])
        cases[(kind, "predict")] = (["predict", model_path, "--data", path], path, BAD[kind][1])
    zero = _write(tmp_path / "zero.h5", x=lambda f, k: f.create_dataset(k, shape=(0, *SHAPE), dtype="u1"),
                  y=lambda f, k: f.create_dataset(k, shape=(0,), dtype="i8"))
    cases[("zero", "train")] = (["train", "--train", zero, "-n", 2], zero, "holds 0 examples")
    cases[("zero", "predict")] = (["predict", model_path, "--data", zero], zero, "holds 0 examples")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_cli, *args, cwd=tmp_path) for name, (args, _, _) in cases.items()}
    for name, (_, path, pattern) in cases.items():
        proc = futures[name].result()
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"xlogreg: error: {path}: 'train_set_x'"), (name, lines)
        assert re.search(pattern, lines[0]), (name, lines)
