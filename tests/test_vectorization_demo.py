"""scripts/vectorization_demo.py runs, and its one-thread column is measured with one thread.

No timing is checked (a shared machine's timings mean nothing); only that the script runs,
reports both thread settings, agrees with its own loops, and really limits the threads.
"""

import importlib.util
import re

import pytest

from conftest import ROOT, import_backend

threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl (with scikit-learn) limits the threads")


def _load_demo():
    spec = importlib.util.spec_from_file_location("vectorization_demo", ROOT / "scripts" / "vectorization_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


def test_one_thread_limits_blas_and_restores_it():
    before = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    with demo.one_thread("numpy")():
        inside = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    after = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert inside and set(inside) == {1}
    assert after == before


def test_one_thread_limits_torch_and_restores_it():
    torch = import_backend("torch")
    before = torch.get_num_threads()
    with demo.one_thread("torch")():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_demo_runs_with_tiny_sizes(capsys, monkeypatch):
    # numpy only: the other backends run the same code, and each costs start-up time here
    monkeypatch.setattr(demo, "targets", lambda: ([("numpy", "numpy", "cpu")], []))
    demo.main(["--n", "500", "--synthetic", "30,12", "--repeats", "1", "--iterations", "2"])
    out = capsys.readouterr().out
    assert "| backend | device | one thread: seconds (best) |" in out and "default threads" in out
    assert "The Python loop runs on one core" in out
    rows = re.findall(r"^\| numpy \| cpu \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", out, re.M)
    assert len(rows) == 2  # the dot product and the iteration
    for single, _, default, _, difference in rows:
        assert float(single) > 0 and float(default) > 0
        assert float(difference) < 1e-12  # vectorized and loop results agree
