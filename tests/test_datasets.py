"""Loading course-format HDF5 files: the course data, and every file fault."""

import h5py
import numpy as np
import pytest

import xlogreg
from xlogreg.io.datasets import load_h5
from xlogreg.io.hdf5 import DataError


def write_course_file(path, m=6, shape=(4, 4, 3), prefix="train", labels=None, classes=True):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f[f"{prefix}_set_x"] = rng.integers(0, 256, size=(m, *shape), dtype=np.uint8)
        f[f"{prefix}_set_y"] = np.asarray(labels if labels is not None else np.arange(m) % 2, dtype=np.int64)
        if classes:
            f["list_classes"] = np.array([b"non-cat", b"cat"])
    return path


def test_course_files_as_the_course_loads_them(course_paths):
    train_x, train_y, test_x, test_y, classes = xlogreg.load_dataset(*course_paths)
    assert train_x.shape == (209, 64, 64, 3) and train_x.dtype == np.uint8
    assert train_y.shape == (1, 209) and test_x.shape == (50, 64, 64, 3) and test_y.shape == (1, 50)
    assert list(classes) == [b"non-cat", b"cat"]
    X = xlogreg.flatten_images(train_x)
    # the course's own preprocessing, written out independently
    np.testing.assert_array_equal(X, train_x.reshape(train_x.shape[0], -1).T / 255.0)
    assert X.shape == (12288, 209) and X.min() >= 0 and X.max() <= 1


def test_flatten_images_on_every_backend(case):
    images = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    out = xlogreg.flatten_images(case.asarray(images, dtype=None), dtype=case.dtype)
    assert tuple(out.shape) == (12, 2) and out.dtype == case.dtype
    np.testing.assert_allclose(case.to_numpy(out), images.reshape(2, -1).T / 255.0, rtol=case.rtol)


def test_keys_are_found_by_pattern_or_named(tmp_path):
    path = write_course_file(tmp_path / "d.h5", prefix="valid")
    x, y, classes = load_h5(path)
    assert x.shape == (6, 4, 4, 3) and y.shape == (1, 6) and list(classes) == [b"non-cat", b"cat"]
    with h5py.File(path, "a") as f:
        f["images"] = f["valid_set_x"][()]
        f["other_set_x"] = f["valid_set_x"][()]
    with pytest.raises(DataError, match=r"exactly one key matching .*found \['other_set_x', 'valid_set_x'\]"):
        load_h5(path)
    x, _, _ = load_h5(path, x_key="images")
    assert x.shape == (6, 4, 4, 3)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_h5(tmp_path / "nope.h5")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        load_h5(tmp_path)


def test_not_hdf5(tmp_path):
    path = tmp_path / "fake.h5"
    path.write_text("these are not the images you are looking for")
    with pytest.raises(DataError, match="not an HDF5 file"):
        load_h5(path)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_file(tmp_path, keep):
    path = write_course_file(tmp_path / "d.h5", m=64, shape=(16, 16, 3))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError, match="d.h5"):
        load_h5(path)


def test_wrong_keys(tmp_path):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f["pixels"] = np.zeros((3, 2))
    with pytest.raises(DataError, match=r"expected exactly one key matching.*keys \['pixels'\]"):
        load_h5(path)
    with pytest.raises(DataError, match="has no key 'nothere'"):
        load_h5(path, x_key="nothere")


def test_label_count_must_match(tmp_path):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = np.zeros((4, 2, 2, 3), dtype=np.uint8)
        f["train_set_y"] = np.zeros(5, dtype=np.int64)
    with pytest.raises(DataError, match=r"'train_set_y' has shape \(5,\), expected \(4,\) or \(1, 4\)"):
        load_h5(path)


def test_labels_must_be_0_or_1(tmp_path):
    path = write_course_file(tmp_path / "d.h5", labels=[0, 1, 2, 0, 1, 0])
    with pytest.raises(DataError, match="only the labels 0 and 1"):
        load_h5(path)


def test_wrong_dtype(tmp_path):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = np.array([b"a", b"b"])
        f["train_set_y"] = np.zeros(2, dtype=np.int64)
    with pytest.raises(DataError, match="'train_set_x' has dtype .*expected numbers"):
        load_h5(path)


def test_group_instead_of_dataset(tmp_path):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_group("train_set_x")
        f["train_set_y"] = np.zeros(2, dtype=np.int64)
    with pytest.raises(DataError, match="is a group"):
        load_h5(path)


def test_nan_pixels(tmp_path):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = np.array([[0.5, np.nan], [0.1, 0.2]])
        f["train_set_y"] = np.array([0, 1])
    with pytest.raises(DataError, match="NaN or infinity"):
        load_h5(path)


def test_declared_shape_larger_than_memory_is_not_allocated(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:  # ~100 TB declared, a few KB on disk
        f.create_dataset("train_set_x", shape=(10**9, 64, 64, 3), dtype=np.uint8, chunks=(1, 64, 64, 3))
        f.create_dataset("train_set_y", shape=(10**9,), dtype=np.int64, chunks=(1024,))
    assert path.stat().st_size < 10**6
    with pytest.raises(DataError, match=r"declares shape \(1000000000, 64, 64, 3\).*more than .* memory"):
        load_h5(path)


def test_train_and_test_images_must_match(tmp_path):
    train = write_course_file(tmp_path / "a.h5", shape=(4, 4, 3))
    test = write_course_file(tmp_path / "b.h5", shape=(5, 5, 3), prefix="test")
    with pytest.raises(DataError, match=r"\(5, 5, 3\) do not match the training images \(4, 4, 3\)"):
        xlogreg.load_dataset(train, test)


def test_digits_default_is_embedded_and_learnable():
    train_x, train_y, test_x, test_y, classes = xlogreg.load_digits(0)
    assert train_x.shape[1:] == (8, 8, 1) and train_x.shape[0] + test_x.shape[0] == 1797
    assert classes == ["not 0", "0"]
    assert 0 < train_y.mean() < 0.2  # about one image in ten is a 0
    model = xlogreg.train(xlogreg.flatten_images(train_x, 16.0), train_y,
                          xlogreg.flatten_images(test_x, 16.0), test_y, num_iterations=300, learning_rate=0.5)
    assert model.test_accuracy > 97
