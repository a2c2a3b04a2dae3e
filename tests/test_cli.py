"""The ``xlogreg`` command, run for real: ``python -m xlogreg ...`` in a subprocess.

Runs are shared through module-scoped fixtures (one training run serves
several tests) and the error cases run concurrently, to keep this file fast.
Expected numbers come from outside the code under test: the course's
published costs and accuracies, a plain NumPy transcription of the course
loop (``conftest.course_reference``), or the library API called in-process.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest

import _reference as ref
import xlogreg
from conftest import DATA_DIR, ROOT, course_reference
from xlogreg import flatten_images, load_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COST_LINE = re.compile(r"^Cost after iteration (\d+): (\d+\.\d{6})$", re.M)


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("JAX_ENABLE_X64", None)
    return env


def xlogreg_cmd(*args):
    return [sys.executable, "-m", "xlogreg", *map(str, args)]


def run_cli(*args, cwd=None, timeout=300):
    return subprocess.run(xlogreg_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=_env(), stdin=subprocess.DEVNULL)


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def costs_printed(stdout):
    return [(int(i), float(c)) for i, c in COST_LINE.findall(stdout)]


def accuracy_printed(stdout, which):
    return [float(a) for a in re.findall(rf"^{which} accuracy: ([0-9.]+) %$", stdout, re.M)]


def write_course_file(path, x, y, prefix, classes=(b"dark", b"bright")):
    with h5py.File(path, "w") as f:
        f[f"{prefix}_set_x"] = x
        f[f"{prefix}_set_y"] = y
        f["list_classes"] = np.array(classes)
    return path


def synthetic_images(m, seed, size=10):
    """Course-format images a linear model can learn: bright red channel = label 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=m)
    x = rng.integers(0, 120, size=(m, size, size, 3))
    x[..., 0] += (y * 100 + rng.integers(0, 40, size=m))[:, None, None]
    return x.astype(np.uint8), y.astype(np.int64)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small synthetic course-format train/test files, plus bad files for the error cases."""
    d = tmp_path_factory.mktemp("data")
    x, y = synthetic_images(80, seed=0)
    xt, yt = synthetic_images(30, seed=1)
    paths = {
        "dir": d,
        "train": write_course_file(d / "train.h5", x, y, "train"),
        "test": write_course_file(d / "test.h5", xt, yt, "test"),
        "other_size": write_course_file(d / "other.h5", *synthetic_images(5, seed=2, size=12), "test"),
        "bad_labels": write_course_file(d / "labels.h5", x, y * 2, "train"),
        "text": d / "notes.txt",
        "no_keys": d / "no_keys.h5",
    }
    paths["text"].write_text("just text, not HDF5 and not an image\n")
    with h5py.File(paths["no_keys"], "w") as f:
        f["pictures"] = x
        f["answers"] = y
    # A model of 10x10x3 images for the predict errors, made with the library, not the command.
    model = xlogreg.train(flatten_images(x), y, num_iterations=10)
    model.image_shape, model.classes, model.preprocessing = (10, 10, 3), ["dark", "bright"], {"scale": 255.0}
    paths["model"] = d / "model.h5"
    model.save(paths["model"])
    return paths


@pytest.fixture(scope="module")
def runs(files, tmp_path_factory):
    """Every independent command of this module, started together (most of their time is start-up).

    Returns a dict name -> (CompletedProcess, output directory).
    """
    d = tmp_path_factory.mktemp("runs")
    specs = {
        "digits": ["train", "--save", d / "digits.h5", "--json", d / "digits.json"],
        "synthetic": ["train", "--train", files["train"], "--test", files["test"], "--learning-rate", 0.05,
                      "-n", 300, "--record-every", 50, "--save", d / "m.h5", "--json", d / "m.json"],
        "learning_rates": ["train", "--train", files["train"], "--test", files["test"], "--learning-rates",
                           "0.05,0.005,0.0005", "-n", 400, "--plot", d / "lr.png", "--json", d / "lr.json"],
        "backends": ["backends"],
        "divergence": ["train", "--train", files["train"], "--learning-rate", "1e308", "-n", 20,
                       "--record-every", 1],
    }
    train, test = DATA_DIR / "train_catvnoncat.h5", DATA_DIR / "test_catvnoncat.h5"
    if train.is_file() and test.is_file():  # the course tests skip or fail through `course_paths`
        specs["course"] = ["train", "--train", train, "--test", test, "--learning-rate", 0.005,
                           "--iterations", 2000, "--save", d / "cat.h5", "--json", d / "cat.json",
                           "--plot", d / "cat.png"]
    for case, (args, _) in ERRORS.items():
        specs[f"error: {case}"] = [str(a).format(**files) for a in args]
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        futures = {name: pool.submit(run_cli, *args, cwd=files["dir"]) for name, args in specs.items()}
        return {name: (future.result(), d) for name, future in futures.items()}


# --------------------------------------------------------------------------- the embedded default


@pytest.fixture(scope="module")
def digits_run(runs):
    proc, d = runs["digits"]
    return ok(proc), d


def test_default_trains_on_embedded_digits(digits_run):
    proc, d = digits_run
    summary = json.loads((d / "digits.json").read_text())
    (run,) = summary["runs"]
    assert summary["data"]["source"] == "embedded-digits" and summary["data"]["image_shape"] == [8, 8, 1]
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal, no warnings

    # An independent NumPy transcription of the course loop on the same data gives the same costs.
    from xlogreg.datasets import load_digits

    train_x, train_y, test_x, test_y, classes = load_digits(0, seed=0)
    w, b, ref_costs = course_reference(flatten_images(train_x, 16.0), train_y, num_iterations=2000,
                                       learning_rate=run["learning_rate"])
    np.testing.assert_allclose(run["costs"], ref_costs, rtol=1e-9)
    printed = costs_printed(proc.stdout)
    assert [i for i, _ in printed] == list(range(0, 2000, 100)) == run["cost_iterations"]
    np.testing.assert_allclose([c for _, c in printed], ref_costs, atol=5e-7)

    ref_train = 100 - np.mean(np.abs((1 / (1 + np.exp(-(w.T @ flatten_images(train_x, 16.0) + b))) > 0.5)
                                     - train_y)) * 100
    assert accuracy_printed(proc.stdout, "train") == [pytest.approx(ref_train)] == [run["train_accuracy"]]
    assert accuracy_printed(proc.stdout, "test") == [run["test_accuracy"]]
    assert run["test_accuracy"] > 95  # "is it a 0?" is easy; always answering "no" scores ~90


def test_predict_digit_pictures(digits_run, tmp_path):
    """Pictures of dark ink on white (inverted from the data's ink-is-high 0..16) classify as the data do."""
    from PIL import Image

    from xlogreg.datasets import load_digits

    _, d = digits_run
    _, _, test_x, test_y, _ = load_digits(0, seed=0)
    picks = list(np.flatnonzero(test_y[0] == 1)[:3]) + list(np.flatnonzero(test_y[0] == 0)[:3])
    paths = []
    for k in picks:
        ink = test_x[k, :, :, 0].astype(np.float64) * 255 / 16
        path = tmp_path / f"digit{k}.png"
        Image.fromarray(np.round(255 - ink).astype(np.uint8)).save(path)
        paths.append(path)
    proc = ok(run_cli("predict", d / "digits.h5", *paths))
    labels = re.findall(r": (not 0|0) \(P\(0\) = ([0-9.]+)\)$", proc.stdout, re.M)
    assert [label for label, _ in labels] == ["0"] * 3 + ["not 0"] * 3
    # The 8-bit round trip moves pixels by at most 0.5/255 of full scale.
    model = load_model(d / "digits.h5")  # P(0) in plain NumPy from the saved weights
    proba = ref.sigmoid(np.asarray(model.w).T @ (test_x[picks].reshape(len(picks), -1).T / 16.0) + model.b)[0]
    np.testing.assert_allclose([float(p) for _, p in labels], proba, atol=0.01)


# --------------------------------------------------------------------------- the course data


@pytest.fixture(scope="module")
def course_run(course_paths, runs):
    proc, d = runs["course"]
    return ok(proc), d


def test_course_numbers(course_run, course_data):
    """The course's published results: costs 0.693147 ... 0.140872, accuracies 99.04 % / 70 %."""
    proc, d = course_run
    costs = dict(costs_printed(proc.stdout))
    assert sorted(costs) == list(range(0, 2000, 100))
    assert (costs[0], costs[100], costs[200], costs[1900]) == (0.693147, 0.584508, 0.466949, 0.140872)
    (train_acc,) = accuracy_printed(proc.stdout, "train")
    (test_acc,) = accuracy_printed(proc.stdout, "test")
    assert round(train_acc, 2) == 99.04 and test_acc == 70.0

    summary = json.loads((d / "cat.json").read_text())
    assert summary["data"]["m_train"] == 209 and summary["data"]["m_test"] == 50
    assert summary["data"]["classes"] == ["non-cat", "cat"]
    assert summary["model_path"] == str(d / "cat.h5") and summary["interrupted"] is False
    (run,) = summary["runs"]
    assert (run["train_accuracy"], run["test_accuracy"]) == (train_acc, test_acc)
    # The cost at the end (after iteration 2000), not the last recorded one (0.140872, iteration 1900)
    X, Y = (np.asarray(a, dtype=np.float64) for a in course_data[:2])
    model = load_model(d / "cat.h5")
    A = 1 / (1 + np.exp(-(model.w.T @ X + model.b)))
    end = float(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)))
    assert run["final_cost"] == pytest.approx(end, rel=1e-9) and end < 0.140872 - 1e-4


def test_course_model_file(course_run):
    _, d = course_run
    model = load_model(d / "cat.h5")
    assert model.w.shape == (12288, 1) and model.image_shape == (64, 64, 3)
    assert model.classes == ["non-cat", "cat"] and model.preprocessing == {"scale": 255.0}
    assert (model.iterations, model.num_iterations, model.learning_rate) == (2000, 2000, 0.005)
    assert model.interrupted is False and round(model.train_accuracy, 2) == 99.04
    assert model.costs == json.loads((d / "cat.json").read_text())["runs"][0]["costs"]


def test_course_predict_pictures(course_run, course_paths, tmp_path):
    """PNG files of test images give the model's own predictions on those images."""
    from PIL import Image

    _, d = course_run
    test_x, _, _ = xlogreg.datasets.load_h5(course_paths[1])
    paths = []
    for k in range(8):
        paths.append(tmp_path / f"test{k}.png")
        Image.fromarray(test_x[k]).save(paths[-1])
    Image.fromarray(test_x[0]).resize((150, 110)).convert("RGBA").save(tmp_path / "big_rgba.png")
    Image.fromarray(test_x[1]).convert("L").save(tmp_path / "grey.png")
    proc = ok(run_cli("predict", d / "cat.h5", *paths, tmp_path / "big_rgba.png", tmp_path / "grey.png"))
    lines = re.findall(r"^(.+): (non-cat|cat) \(P\(cat\) = ([0-9.]+)\)$", proc.stdout, re.M)
    assert [line[0] for line in lines] == [str(p) for p in paths] + [str(tmp_path / "big_rgba.png"),
                                                                     str(tmp_path / "grey.png")]
    model = load_model(d / "cat.h5")  # P(cat) in plain NumPy from the saved weights
    proba = ref.sigmoid(np.asarray(model.w).T @ (test_x[:8].reshape(8, -1).T / 255) + model.b)[0]
    np.testing.assert_allclose([float(p) for _, _, p in lines[:8]], proba, atol=5e-5)
    assert [label for _, label, _ in lines[:8]] == [["non-cat", "cat"][int(p > 0.5)] for p in proba]


def test_course_predict_data(course_run, course_paths):
    _, d = course_run
    proc = ok(run_cli("predict", d / "cat.h5", "--data", course_paths[1]))
    assert re.search(r"^accuracy: 70\.0 % \(50 examples", proc.stdout, re.M)
    rows = dict(re.findall(r"^(non-cat|cat)\s+(\d+\s+\d+)$", proc.stdout, re.M))
    matrix = np.array([[int(n) for n in rows[name].split()] for name in ("non-cat", "cat")])
    test_x, test_y, _ = xlogreg.datasets.load_h5(course_paths[1])
    model = load_model(d / "cat.h5")  # the course's predict in plain NumPy from the saved weights
    pred = ref.predict(np.asarray(model.w), model.b, test_x.reshape(len(test_x), -1).T / 255)[0]
    expected = [[np.sum((test_y[0] == t) & (pred == p)) for p in (0, 1)] for t in (0, 1)]
    np.testing.assert_array_equal(matrix, expected)
    assert np.trace(matrix) == 35


def _check_png(path):
    from PIL import Image

    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and 5_000 < len(data) < 150_000
    with Image.open(path) as img:
        assert img.format == "PNG" and 400 <= img.width <= 2000 and 300 <= img.height <= 1500
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20  # axes, text and curves, not a blank canvas


def test_course_plot(course_run):
    _check_png(course_run[1] / "cat.png")


# --------------------------------------------------------------------------- synthetic course-format files


@pytest.fixture(scope="module")
def synthetic_run(runs):
    proc, d = runs["synthetic"]
    return ok(proc), d


def test_hdf5_training_summary(synthetic_run):
    proc, d = synthetic_run
    summary = json.loads((d / "m.json").read_text())
    (run,) = summary["runs"]
    assert run["cost_iterations"] == [0, 50, 100, 150, 200, 250] == [i for i, _ in costs_printed(proc.stdout)]
    assert (run["iterations"], run["num_iterations"], run["learning_rate"]) == (300, 300, 0.05)
    assert run["backend"] == "numpy" and run["dtype"] == "float64" and run["interrupted"] is False
    assert summary["data"]["classes"] == ["dark", "bright"] and summary["data"]["image_shape"] == [10, 10, 3]
    assert accuracy_printed(proc.stdout, "test") == [run["test_accuracy"]]
    assert run["test_accuracy"] >= 90


def test_predict_synthetic_pictures_and_data(synthetic_run, files, tmp_path):
    from PIL import Image

    _, d = synthetic_run
    x, y = synthetic_images(30, seed=1)
    paths = []
    for k in range(4):
        paths.append(tmp_path / f"s{k}.png")
        Image.fromarray(x[k]).save(paths[-1])
    proc = ok(run_cli("predict", d / "m.h5", *paths, "--data", files["test"]))
    model = load_model(d / "m.h5")
    # Probabilities and accuracy from the saved w, b with the plain-NumPy formulas (tests/_reference.py),
    # not from the Model methods the command itself calls.
    w, b = np.asarray(model.w, dtype=np.float64), float(model.b)
    proba = ref.sigmoid(w.T @ flatten_images(x[:4]) + b)[0]
    printed = [float(p) for p in re.findall(r"P\(bright\) = ([0-9.]+)\)$", proc.stdout, re.M)]
    np.testing.assert_allclose(printed, proba, atol=5e-5)
    (accuracy,) = re.findall(r"^accuracy: ([0-9.]+) %", proc.stdout, re.M)
    expected = ref.accuracy(ref.predict(w, b, flatten_images(x)), y)
    assert float(accuracy) == pytest.approx(expected)


def test_learning_rates_and_plot(runs):
    proc, tmp_path = runs["learning_rates"]
    ok(proc)
    assert re.findall(r"^learning rate is: (.+)$", proc.stdout, re.M) == ["0.05", "0.005", "0.0005"]
    runs = json.loads((tmp_path / "lr.json").read_text())["runs"]
    assert [r["learning_rate"] for r in runs] == [0.05, 0.005, 0.0005]
    assert len(accuracy_printed(proc.stdout, "train")) == 3
    final = [r["final_cost"] for r in runs]
    assert final[0] < final[1] < final[2] < 0.6932  # larger steps get further in the same iterations
    _check_png(tmp_path / "lr.png")


def test_other_keys_and_float32(files, tmp_path):
    """Keys named explicitly; --dtype float32 is used and recorded."""
    path = tmp_path / "renamed.h5"
    x, y = synthetic_images(40, seed=3)
    with h5py.File(path, "w") as f:
        f["pictures"], f["answers"], f["names"] = x, y, np.array([b"no", b"yes"])
    proc = ok(run_cli("train", "--train", path, "--x-key", "pictures", "--y-key", "answers",
                      "--classes-key", "names", "--dtype", "float32", "-n", 50, "--quiet",
                      "--json", tmp_path / "s.json"))
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["data"]["classes"] == ["no", "yes"] and summary["runs"][0]["dtype"] == "float32"
    assert costs_printed(proc.stdout) == [] and accuracy_printed(proc.stdout, "test") == []
    assert len(accuracy_printed(proc.stdout, "train")) == 1


# --------------------------------------------------------------------------- progress bar


def _run_on_pty(args):
    """Run with stderr on a pseudo-terminal (stdout piped); returns (returncode, stdout, stderr)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    proc = subprocess.Popen(xlogreg_cmd(*args), stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                            env=_env())
    os.close(slave)
    chunks = []

    def drain():  # keep reading so the child never blocks on a full terminal buffer
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(master)
    return proc.returncode, stdout.decode(), b"".join(chunks).decode(errors="replace")


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX only")
def test_progress_bar_on_a_terminal(files):
    code, out, err = _run_on_pty(["train", "--train", files["train"], "-n", 1500])
    assert code == 0, err
    assert "1500/1500" in err and "it/s" in err and re.search(r"cost=0\.\d{6}", err)
    assert "Cost after iteration" not in err
    assert [i for i, _ in costs_printed(out)] == list(range(0, 1500, 100))  # cost lines intact on stdout

    code, out, err = _run_on_pty(["train", "--train", files["train"], "-n", 1500, "--quiet"])
    assert code == 0 and "it/s" not in err and costs_printed(out) == []


# --------------------------------------------------------------------------- Ctrl-C


#: ``python -m xlogreg``, with Ctrl-C handled whatever the test process inherited: run in the
#: background (``nohup``, ``cmd &`` in a script) pytest starts with SIGINT ignored, its children
#: too, and Python then installs no handler: the SIGINT below would be ignored and the run would
#: go on to its end (exit 0, in under two minutes on this small file).
XLOGREG_WITH_CTRL_C = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                       "runpy.run_module('xlogreg', run_name='__main__', alter_sys=True)")


@pytest.mark.skipif(os.name != "posix", reason="needs SIGINT")
def test_interrupted_run_saves_a_marked_model(files, tmp_path):
    model_path, summary_path = tmp_path / "partial.h5", tmp_path / "partial.json"
    args = ["train", "--train", files["train"], "-n", 100_000_000, "--record-every", 1000,
            "--save", model_path, "--json", summary_path]
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background run, whatever this one is
    try:
        proc = subprocess.Popen([sys.executable, "-c", XLOGREG_WITH_CTRL_C, *map(str, args)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                                stdin=subprocess.DEVNULL)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        seen = []
        for line in proc.stdout:  # wait until training is under way
            seen.append(line)
            if line.startswith("Cost after iteration 1000:"):
                break
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    reached = int(re.search(r"interrupted after (\d+) of 100000000 iterations", err).group(1))
    assert 1001 <= reached < 100_000_000

    assert model_path.exists()
    model = load_model(model_path)
    assert model.interrupted is True and model.iterations == reached and model.num_iterations == 100_000_000
    assert model.classes == ["dark", "bright"] and model.image_shape == (10, 10, 3)
    summary = json.loads(summary_path.read_text())
    assert summary["interrupted"] is True and summary["runs"][0]["iterations"] == reached
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# --------------------------------------------------------------------------- backends


def test_backends_lists_every_backend(runs):
    proc = ok(runs["backends"][0])
    report = xlogreg.available_backends()
    for name, info in report.items():
        (line,) = [ln for ln in proc.stdout.splitlines() if ln.split()[:1] == [name]]
        assert line.split()[1] == ("yes" if info.available else "no")
        if info.available:
            assert all(dev in line for dev in info.devices)
        else:
            assert "why not:" in line and info.reason[:40] in line
    assert re.search(r"^numpy\s+yes\s", proc.stdout, re.M)


# --------------------------------------------------------------------------- user errors


# Run as subprocesses: the kinds of user error the command must report cleanly, one line, status 2.
ERRORS = {
    "missing file": (["train", "--train", "{dir}/absent.h5"], "absent.h5: no such file"),
    "not HDF5": (["train", "--train", "{text}"], "not an HDF5 file"),
    "wrong key": (["train", "--train", "{train}", "--x-key", "nope"], "has no key 'nope'"),
    "image size vs model": (["predict", "{model}", "--data", "{other_size}"],
                            "images of shape (12, 12, 3), but the model takes images of shape (10, 10, 3)"),
    "unknown backend": (["train", "--backend", "nope"], "argument --backend: invalid choice: 'nope'"),
    "cupy without GPU": (["train", "--backend", "cupy"], "cupy"),
    "negative learning rate": (["train", "--learning-rate", "-0.1"], "argument --learning-rate/--lr: must be"),
    "bad iterations": (["train", "--iterations", "ten"], "argument -n/--iterations"),
}

# More of them, called in-process through cli.main() (no start-up cost each).
MORE_ERRORS = {
    "unknown device": (["train", "--device", "cuda:7"], "device 'cuda:7' is not a device of backend 'numpy'"),
    "save dir missing": (["train", "--save", "{dir}/missing/m.h5"], "does not exist"),
    "model missing": (["predict", "{dir}/absent_model.h5", "{text}"], "absent_model.h5: no such file"),
    "data file as model": (["predict", "{train}", "--data", "{train}"], "not an xlogreg model file"),
    "not an image": (["predict", "{model}", "{text}"], "cannot be read as an image"),
    "no course keys": (["train", "--train", "{no_keys}"], "expected exactly one key"),
    "labels not 0/1": (["train", "--train", "{bad_labels}"], "only the labels 0 and 1"),
    "train/test sizes differ": (["train", "--train", "{train}", "--test", "{other_size}"], "do not match"),
    "bad learning rates": (["train", "--learning-rates", "0.1,fast"], "argument --learning-rates"),
    "zero learning rate": (["train", "--lr", "0"], "must be a finite number > 0"),
    "infinite learning rate": (["train", "--lr", "inf"], "must be a finite number > 0"),
    "zero record-every": (["train", "--record-every", "0"], "argument --record-every"),
    "negative iterations": (["train", "-n", "-5"], "must be an integer >= 0"),
    "bad dtype": (["train", "--dtype", "float16"], "argument --dtype: invalid choice"),
    "bad digit": (["train", "--digit", "12"], "argument --digit"),
    "bad scale": (["train", "--scale", "0"], "argument --scale"),
    "bad plot format": (["train", "--plot", "curve.txt"], ".png"),
    "plot into a directory": (["train", "--plot", "{dir}/"], "must end in"),
    "json into a directory": (["train", "--json", "{dir}"], "is a directory"),
    "test without train": (["train", "--test", "{test}"], "--test needs --train"),
    "save with several rates": (["train", "--learning-rates", "0.1,0.01", "--save", "{dir}/m.h5"], "--save"),
    "l1 with the primal solver": (["train", "--l1", "1", "--solver", "primal"], "cannot fit an L1 penalty"),
    "negative l1": (["train", "--l1", "-1"], "argument --l1"),
    "no command": ([], "required"),
    "unknown command": (["fit"], "invalid choice: 'fit'"),
    "model not HDF5": (["predict", "{text}", "--data", "{train}"], "not an HDF5 file"),
    "image missing": (["predict", "{model}", "{dir}/absent.png"], "absent.png: no such file"),
    "nothing to predict": (["predict", "{model}"], "give image files"),
    "predict on an unknown device": (["predict", "{model}", "--data", "{train}", "--device", "gpu9"],
                                     "not a device of backend 'numpy'"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_user_error(runs, case):
    if case == "cupy without GPU" and xlogreg.available_backends()["cupy"].available:
        pytest.skip("CuPy has a GPU here")
    proc = runs[f"error: {case}"][0]
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlogreg: error: "), proc.stderr
    assert ERRORS[case][1] in lines[0]


@pytest.mark.parametrize("case", MORE_ERRORS)
def test_user_error_in_process(files, capsys, case):
    from xlogreg.cli import main

    args, message = MORE_ERRORS[case]
    assert main([a.format(**files) for a in args]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith("xlogreg: error: "), err
    assert message in lines[0]


def test_divergence_is_reported_without_traceback(runs):
    proc = runs["divergence"][0]
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("xlogreg: error: training diverged") and "Traceback" not in proc.stderr


def test_internal_errors_keep_their_traceback():
    code = "import sys, xlogreg.cli as cli; cli.cmd_backends = lambda args: 1 / 0; sys.exit(cli.main(['backends']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ZeroDivisionError" in proc.stderr


def test_console_script_entry_point():
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="console_scripts") if e.name == "xlogreg"]
    assert entry.value == "xlogreg.cli:main"
    from xlogreg.cli import main

    assert entry.load() is main


def test_l1_is_passed_to_training_and_stored(files, tmp_path, capsys):
    """``--l1`` trains by proximal Newton to the L1 optimum (checked by its optimality conditions in NumPy,
    independently of the solver), and the model file and the JSON summary record it."""
    from xlogreg.cli import main

    l1, model_path, summary_path = 2.0, tmp_path / "l1.h5", tmp_path / "l1.json"
    assert main(["train", "--train", str(files["train"]), "--l1", str(l1), "-n", "100", "--tol", "1e-10",
                 "--quiet", "--save", str(model_path), "--json", str(summary_path)]) == 0
    capsys.readouterr()
    model = load_model(model_path)
    assert model.l1 == l1 and model.solver == "prox-newton"
    assert json.loads(summary_path.read_text())["runs"][0]["l1"] == l1
    with h5py.File(files["train"], "r") as f:
        X = f["train_set_x"][...].reshape(80, -1).T / 255.0
        y = f["train_set_y"][...].astype(np.float64)
    w, b = model.w[:, 0], float(model.b)
    m = X.shape[1]
    a = 1 / (1 + np.exp(-(w @ X + b)))
    grad = X @ (a - y) / m  # the cost's smooth part: sum_i L_i / m (+ l1 / m ||w||_1)
    assert 0 < np.count_nonzero(w) < w.size  # exact zeros, and some weights
    assert abs(np.mean(a - y)) < 1e-8
    nonzero = w != 0
    np.testing.assert_allclose(grad[nonzero], -np.sign(w[nonzero]) * l1 / m, atol=1e-8)
    assert np.all(np.abs(grad[~nonzero]) <= l1 / m + 1e-8)
