"""The scripts in examples/ run as written, on this checkout, and print what they say."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT


def run_example(name, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-W", "error", str(ROOT / "examples" / name)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_text_classification(tmp_path):
    pytest.importorskip("sklearn")
    out = run_example("text_classification.py", tmp_path).splitlines()
    assert out[0].startswith("TF-IDF: 450 documents x 44 words") and out[0].endswith("(csr_matrix)")
    accuracy = float(out[1].rpartition(" ")[2])
    assert accuracy > 0.8
    assert [line.split()[0] for line in out[2:5]] == ["computing", "politics", "sport"]
    assert out[5] == "['sport' 'computing']"
