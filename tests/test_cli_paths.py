"""The command line never destroys what it was given, and never hangs on what it reads.

Each case runs ``python -m xlogreg`` in a subprocess (all of them concurrently,
to keep this file fast) and checks the exit status, the one error line, and
that every file involved is exactly as it was.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import stat
import subprocess
import sys

import h5py
import numpy as np
import pytest

import xlogreg
from conftest import ROOT

ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _cli(args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "xlogreg", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("paths")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(12, 4, 4, 3)).astype(np.uint8)
    y = np.arange(12) % 2
    with h5py.File(d / "data.h5", "w") as f:
        f["train_set_x"], f["train_set_y"] = x, y
    with h5py.File(d / "test.h5", "w") as f:
        f["test_set_x"], f["test_set_y"] = x[:4], y[:4]
    model = xlogreg.train(xlogreg.flatten_images(x), y, num_iterations=5)
    model.image_shape, model.preprocessing = (4, 4, 3), {"scale": 255.0}
    model.save(d / "model.h5")
    from PIL import Image

    Image.new("RGB", (4, 4), (250, 10, 10)).save(d / "red.png")
    os.link(d / "data.h5", d / "hard.h5")
    os.symlink(d / "data.h5", d / "soft.h5")
    os.symlink("/proc/self/fd/1", d / "stdout.json")
    os.mkfifo(d / "pipe.png")
    os.mkfifo(d / "pipe.h5")
    os.mkfifo(d / "pipe.json")
    (d / "sub").mkdir()
    try:
        os.mknod(d / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a copy of /dev/null
        has_device = True
    except (OSError, AttributeError):
        has_device = False
    (d / "real.json").write_text("old\n")
    os.symlink(d / "real.json", d / "link.json")
    before = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file() and not p.is_symlink()
              and stat.S_ISREG(p.stat().st_mode)}

    cases = {
        "save and json the same file": (["train", "-n", 2, "--save", "out.h5", "--json", "out.h5"],
                                        "--json out.h5 and --save out.h5 name the same file; give each output "
                                        "its own path"),
        "plot and json through ..": (["train", "-n", 2, "--plot", "c.png", "--json", "sub/../c.png"],
                                     "--json sub/../c.png and --plot c.png name the same file"),
        "save over the training data": (["train", "--train", "data.h5", "-n", 2, "--save", "data.h5"],
                                        "--save data.h5 would overwrite the input --train data.h5; give --save "
                                        "another path"),
        "json over the test data": (["train", "--train", "data.h5", "--test", "test.h5", "-n", 2, "--json",
                                     d / "test.h5"], f"--json {d / 'test.h5'} would overwrite the input --test"),
        "save over a hard link to the data": (["train", "--train", "data.h5", "-n", 2, "--save", "hard.h5"],
                                              "--save hard.h5 would overwrite the input --train data.h5"),
        "plot over a symlink to the data": (["train", "--train", "data.h5", "-n", 2, "--plot", "soft.png"],
                                            None),  # filled below: a .png link to the data
        "json to a link to stdout": (["train", "-n", 2, "--json", "stdout.json"],
                                     "--json stdout.json: is a named pipe, not a regular file"),
        "save to a named pipe": (["train", "-n", 2, "--save", "pipe.h5"],
                                 "--save pipe.h5: is a named pipe, not a regular file; xlogreg writes its outputs "
                                 "by renaming a new file over the old one, which would replace the pipe"),
        "json to a named pipe": (["train", "-n", 2, "--json", "pipe.json"], "--json pipe.json: is a named pipe"),
        "predict a named pipe": (["predict", "model.h5", "red.png", "pipe.png"],
                                 "pipe.png: is a named pipe, expected an image file in a regular file"),
        "model a named pipe": (["predict", "pipe.h5", "red.png"], "pipe.h5: is a named pipe"),
        "data a named pipe": (["predict", "model.h5", "--data", "pipe.h5"], "pipe.h5: is a named pipe"),
        "train on a named pipe": (["train", "--train", "pipe.h5", "-n", 2], "pipe.h5: is a named pipe"),
    }
    os.symlink(d / "data.h5", d / "soft.png")
    cases["plot over a symlink to the data"] = (cases["plot over a symlink to the data"][0],
                                                "--plot soft.png would overwrite the input --train data.h5")
    if has_device:
        cases["json to a character device"] = (["train", "-n", 2, "--json", "null"],
                                               "--json null: is a character device, not a regular file")
    good = {"json through a symlink": ["train", "-n", 2, "-q", "--json", "link.json"]}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_cli, args, d) for name, (args, _) in cases.items()}
        futures.update({name: pool.submit(_cli, args, d) for name, args in good.items()})
        results = {name: future.result() for name, future in futures.items()}
    return d, cases, results, before, has_device


CASES = ["save and json the same file", "plot and json through ..", "save over the training data",
         "json over the test data", "save over a hard link to the data", "plot over a symlink to the data",
         "json to a link to stdout", "save to a named pipe", "json to a named pipe", "predict a named pipe",
         "model a named pipe", "data a named pipe", "train on a named pipe", "json to a character device"]


@pytest.mark.parametrize("name", CASES)
def test_refused_with_one_line(setup, name):
    d, cases, results, before, has_device = setup
    if name not in cases:
        pytest.skip("cannot create a device node here")
    proc = results[name]
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlogreg: error: "), proc.stderr
    assert cases[name][1] in lines[0], lines[0]
    assert "Saved" not in proc.stdout and "Wrote" not in proc.stdout


def test_nothing_was_changed_or_created(setup):
    d, cases, results, before, has_device = setup
    for name, data in before.items():
        if name != "real.json":  # written through the link by the one good run
            assert (d / name).read_bytes() == data, name
    for name in ("pipe.png", "pipe.h5", "pipe.json"):
        assert stat.S_ISFIFO(os.lstat(d / name).st_mode), name
    if has_device:
        assert stat.S_ISCHR(os.lstat(d / "null").st_mode)
    assert os.readlink(d / "stdout.json") == "/proc/self/fd/1"
    assert (d / "soft.h5").is_symlink() and (d / "soft.png").is_symlink()
    for name in ("out.h5", "c.png"):
        assert not (d / name).exists(), name
    assert not [p.name for p in d.iterdir() if p.name.endswith(".tmp")]


def test_output_through_a_symlink_is_written_through(setup):
    d, cases, results, before, has_device = setup
    proc = results["json through a symlink"]
    assert proc.returncode == 0, proc.stderr
    assert (d / "link.json").is_symlink() and os.readlink(d / "link.json") == str(d / "real.json")
    summary = json.loads((d / "real.json").read_text())
    assert summary["runs"][0]["iterations"] == 2
