"""scripts/gpu_report.py: the no-GPU exit, the pure helpers (fake timings), the budget, a dry run on the CPU."""

import csv
import importlib.util
import io
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from conftest import REQUIRED

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_report.py"


@pytest.fixture(scope="module")
def gr():
    """The script, imported as a module (its directory on sys.path for compare_backends)."""
    spec = importlib.util.spec_from_file_location("gpu_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_report"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_report", None)


def _rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text())))


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(extra)
    return env


# --- without a GPU ------------------------------------------------------------------------------

def test_no_gpu_exits_0_and_says_so_plainly(tmp_path):
    # CUDA_VISIBLE_DEVICES="" hides any GPU (so this holds on a GPU machine too); no PYTHONPATH:
    # saying "no GPU" must not need xlogreg or its dependencies.
    out = tmp_path / "gpu"
    done = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, timeout=300,
                          env=_env(CUDA_VISIBLE_DEVICES=""), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no GPU found" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["report.md"]
    text = (out / "report.md").read_text()
    assert "No GPU was found on this machine (CUDA_VISIBLE_DEVICES hides every GPU)" in text
    assert "nothing was measured" in text and "PASS" not in text
    assert "- date: 20" in text and "gpu_report.py" in text  # the date and the command


def test_a_gpu_that_no_library_can_use_is_a_failure(gr, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gr, "detect_gpus", lambda: {"cupy": "CUDARuntimeError: no driver", "hidden": False,
                                                    "torch": "torch sees no CUDA GPU",
                                                    "nvidia_smi": "GPU 0: NVIDIA H100 80GB HBM3"})
    assert gr.main([str(tmp_path)]) == 1
    text = (tmp_path / "report.md").read_text()
    assert "FAILED: nvidia-smi lists a GPU, but neither CuPy nor torch can use it" in text
    assert "NVIDIA H100" in text and "CUDARuntimeError: no driver" in text
    assert "neither CuPy nor torch" in capsys.readouterr().out


def test_bad_budget_is_a_usage_error(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--budget-s", "0"], capture_output=True,
                          text=True, timeout=120, env=_env(CUDA_VISIBLE_DEVICES=""))
    assert done.returncode == 2 and "--budget-s must be > 0 seconds; got 0" in done.stderr


# --- pure helpers, on fake timings ----------------------------------------------------------------

def test_copy_bandwidth_counts_bytes_read_and_written(gr):
    assert gr.copy_bandwidth(10**9, 0.5) == pytest.approx(4e9)  # 1 GB read + 1 GB written in 0.5 s


def test_bandwidth_share(gr):
    # 1 GB read in 0.5 ms is 2 TB/s; against a 3 TB/s copy: 2/3.
    assert gr.bandwidth_share(10**9, 0.5e-3, 3e12) == pytest.approx(2 / 3)
    # A copy of N bytes takes t: reading N at the copy's rate takes t / 2, so an iteration
    # that reads X twice at that rate takes t, and scores one half.
    n, t = 4 * 10**9, 2.7e-3
    bw = gr.copy_bandwidth(n, t)
    assert gr.bandwidth_share(n, t / 2, bw) == pytest.approx(1.0)
    assert gr.bandwidth_share(n, t, bw) == pytest.approx(0.5)


def test_summarize_gives_best_and_median(gr):
    assert gr.summarize([0.3, 0.1, 0.2, 0.9]) == (0.1, pytest.approx(0.25))
    with pytest.raises(ValueError, match="at least one timing"):
        gr.summarize([])


def test_fit_sizes_keeps_those_under_the_fraction_of_free_memory(gr):
    GB = 10**9
    assert gr.fit_sizes([1 * GB, 2 * GB, 4 * GB, 8 * GB], 10 * GB, 0.4) == [1 * GB, 2 * GB, 4 * GB]
    assert gr.fit_sizes([1 * GB], 2 * GB, 0.4) == []


@pytest.mark.parametrize("points, expected", [
    ([(1_000, 1.0, 2.0), (10_000, 1.0, 0.5), (100_000, 1.0, 0.1)], 10_000),
    ([(100_000, 1.0, 0.1), (1_000, 1.0, 0.5), (10_000, 1.0, 2.0)], 100_000),  # slower in between; any order
    ([(1_000, 1.0, 0.5), (10_000, 1.0, 0.4)], 1_000),
    ([(1_000, 1.0, 0.5), (10_000, 1.0, 1.0)], None),  # a tie at the largest size is no win
    ([], None),
])
def test_crossover(gr, points, expected):
    assert gr.crossover(points) == expected


def test_relative_error(gr):
    assert gr.relative_error([1.0, 2.0], [1.0, 2.5]) == pytest.approx(0.5 / 2.5)
    assert gr.relative_error([[0.1]], [[0.0]]) == pytest.approx(0.1)  # a zero reference: the difference
    assert gr.relative_error([1.0], [1.0, 2.0]) == float("inf")


def test_markdown_table_escapes_cells(gr):
    text = gr.markdown_table(["a", "b|c"], [(1, "x|y"), (0.123456, "two\nlines")])
    assert text.splitlines() == ["| a | b\\|c |", "|---|---|", "| 1 | x\\|y |", "| 0.1235 | two lines |"]


def test_csv_text_fills_missing_fields(gr):
    text = gr.csv_text(["a", "b"], [{"a": 1, "b": "x,y"}, {"b": 2, "ignored": 3}])
    assert list(csv.DictReader(io.StringIO(text))) == [{"a": "1", "b": "x,y"}, {"a": "", "b": "2"}]


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_budget_keeps_a_reserve_and_refuses_what_does_not_fit(gr):
    clock = FakeClock()
    budget = gr.Budget(100, reserve_s=20, clock=clock)
    assert budget.left() == 80 and budget.allows(80) and not budget.allows(81)
    clock.now += 70
    assert budget.elapsed() == 70 and budget.left() == 10
    assert budget.cap(30) == 10 and budget.cap(5) == 5
    note = budget.skip_note("the crossover", 15)
    assert "10 s of the 100 s budget were left" in note and "about 15 s" in note
    clock.now += 50
    assert budget.cap(30) == 0 and not budget.allows(0)
    with pytest.raises(ValueError, match="time budget must be > 0 seconds; got 0"):
        gr.Budget(0)


def test_time_repeated_synchronises_around_every_timing(gr):
    calls = []
    best, median = gr.time_repeated(lambda: calls.append("work"), lambda: calls.append("sync"),
                                    repeats=3, warmup=2, inner=4)
    assert calls.count("work") == (2 + 3) * 4
    assert calls.count("sync") == 2 + 2 * 3  # one after each warm-up; one before and one after each timing
    assert calls[-1] == "sync" and calls[-2] == "work" and calls[-6] == "sync"
    assert 0 <= best <= median


def test_output_writes_atomically_and_keeps_its_limits(gr, tmp_path, monkeypatch):
    out = gr.Output(tmp_path / "new" / "folder")
    out.write("report.md", "first")
    out.write("report.md", "second")
    assert (tmp_path / "new" / "folder" / "report.md").read_text() == "second"
    out.write_csv("a.csv", ["x"], [{"x": 1}])
    assert (out.outdir / "a.csv").read_text() == "x\n1\n"
    for i in range(6):
        out.write(f"f{i}.csv", "")
    assert len(out.names) == 8
    with pytest.raises(ValueError, match="keeps to 8 files"):
        out.write("ninth.csv", "")
    out.write("f0.csv", "rewriting one of the 8 is fine")
    with pytest.raises(ValueError, match="letters, digits"):
        out.write("../escape.md", "")
    monkeypatch.setattr(gr, "MAX_FILE_BYTES", 4096)
    out.write("f1.csv", "x" * 10_000)
    size = (out.outdir / "f1.csv").stat().st_size
    assert size < 4096 and (out.outdir / "f1.csv").read_text().endswith("under that]\n")
    assert sorted(p.name for p in out.outdir.iterdir() if p.name.startswith(".")) == []  # no temporary left


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="tests.test_core" name="test_sigmoid[cupy-cuda:0-float64]" time="0.50"/>
<testcase classname="tests.test_core" name="test_sigmoid[torch-cuda:0-float32]" time="0.25">
  <failure message="AssertionError: not close&#10;more">trace</failure></testcase>
<testcase classname="tests.test_training" name="test_divergence[torch-cuda]" time="0.01">
  <error message="failed on setup with &quot;Failed: torch-cuda is required&quot;">trace</error></testcase>
<testcase classname="tests.test_core" name="test_sigmoid[jax-cuda:0-float32]" time="0.1">
  <skipped message="jax: no x64"/></testcase>
<testcase classname="tests.test_backends" name="test_cupy_on_gpu_matches_numpy" time="1.0"/>
</testsuite></testsuites>
"""


def test_parse_junit_and_count_by_backend(gr, tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    rows = gr.parse_junit(path)
    assert [(r["test"], r["backend"], r["outcome"]) for r in rows] == [
        ("tests/test_core.py::test_sigmoid[cupy-cuda:0-float64]", "cupy", "passed"),
        ("tests/test_core.py::test_sigmoid[torch-cuda:0-float32]", "torch-cuda", "failed"),
        ("tests/test_training.py::test_divergence[torch-cuda]", "torch-cuda", "error"),
        ("tests/test_core.py::test_sigmoid[jax-cuda:0-float32]", "jax-gpu", "skipped"),
        ("tests/test_backends.py::test_cupy_on_gpu_matches_numpy", "cupy", "passed"),
    ]
    assert rows[1]["message"] == "AssertionError: not close" and rows[1]["seconds"] == 0.25
    assert gr.count_outcomes(rows) == {"cupy": {"passed": 2}, "torch-cuda": {"failed": 1, "error": 1},
                                       "jax-gpu": {"skipped": 1}}


def test_deps_finds_a_prefix_install_and_puts_it_first_for_children_too(gr, tmp_path, monkeypatch):
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = tmp_path / "prefix" / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "xlr_fake_dep.py").write_text("VALUE = 42\n")
    assert gr.site_dirs(tmp_path / "prefix") == [site]
    assert gr.site_dirs(tmp_path) == [tmp_path]  # no lib/pythonX.Y inside: a --target folder
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", "/already/there")
    assert gr.use_deps(tmp_path / "prefix") == [str(site)]
    assert sys.path[0] == str(site)
    assert os.environ["PYTHONPATH"] == os.pathsep.join([str(site), "/already/there"])
    done = subprocess.run([sys.executable, "-c", "import xlr_fake_dep; print(xlr_fake_dep.VALUE)"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "42", done.stderr


def test_deps_that_is_not_a_folder_is_a_usage_error(gr, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        gr.main([str(tmp_path / "out"), "--deps", str(tmp_path / "missing")])
    assert exit_.value.code == 2
    assert "--deps must be a folder" in capsys.readouterr().err


# --- the run, with fake sections and a fake GPU -----------------------------------------------------

def _fake_gpu(gr, monkeypatch, sections):
    monkeypatch.setattr(gr, "detect_gpus", lambda: {"cupy": 1, "torch": 1, "nvidia_smi": "GPU 0", "hidden": False})
    monkeypatch.setattr(gr, "make_targets", lambda found, dry_run=False: ([], []))
    monkeypatch.setattr(gr, "SECTIONS", sections)


def test_sections_past_the_budget_are_skipped_with_a_note(gr, tmp_path, monkeypatch):
    ran = []
    sections = [("a", "Section A", lambda ctx: ran.append("a") or "PASS: a", 5),
                ("b", "Section B", lambda ctx: ran.append("b") or "never", 1000),
                ("c", "Section C", lambda ctx: 1 / 0, 5),
                ("d", "Section D", lambda ctx: ran.append("d") or ctx.fail("d went wrong"), 5)]
    _fake_gpu(gr, monkeypatch, sections)
    assert gr.main([str(tmp_path), "--budget-s", "200"]) == 1
    assert ran == ["a", "d"]
    text = (tmp_path / "report.md").read_text()
    assert "## Section B\n\nSkipped this section:" in text and "it needs about 1000 s" in text
    assert "FAIL: the section raised ZeroDivisionError" in text  # C fails, and D still runs
    assert "- FAIL: d went wrong" in text
    assert "complete, with 2 FAIL lines" in text


def test_a_run_that_passes_exits_0(gr, tmp_path, monkeypatch):
    _fake_gpu(gr, monkeypatch, [("a", "Section A", lambda ctx: "PASS: fine", 1)])
    assert gr.main([str(tmp_path)]) == 0
    assert "**Status: complete**" in (tmp_path / "report.md").read_text()


def test_the_hard_time_limit_stops_a_section_and_keeps_the_report(gr, tmp_path, monkeypatch):
    def slow(ctx):
        time.sleep(30)
        return "never"

    _fake_gpu(gr, monkeypatch, [("a", "Fast", lambda ctx: "PASS: fast", 0), ("b", "Slow", slow, 0),
                                ("c", "After", lambda ctx: "never", 0)])
    monkeypatch.setattr(gr, "RESERVE_S", 0.0)
    monkeypatch.setattr(gr, "HARD_STOP_GRACE_S", 0.0)
    start = time.monotonic()
    assert gr.main([str(tmp_path), "--budget-s", "1"]) == 1
    assert time.monotonic() - start < 10
    text = (tmp_path / "report.md").read_text()
    assert "PASS: fast" in text and "## After" not in text
    assert "stopped at the time limit" in text and "passed its time limit (1 s + 0 s)" in text


SLOW_TESTS = """
import pathlib
import time

import pytest

STARTED = pathlib.Path({started!r})


@pytest.mark.gpu
def test_quick():
    pass


@pytest.mark.gpu
def test_slow():
    STARTED.write_text("test_quick has finished")
    time.sleep(600)
"""


class _ClockFromTestSlow(subprocess.Popen):
    """A Popen whose first wait starts once the child's ``test_slow`` has begun.

    The script's time limit then falls after ``test_quick`` has finished however long pytest
    took to start: on a busy machine, an 8-second limit counted from the start could end before
    any test ran, and the test would pass only on an idle machine.
    """

    started = None  # set by the test

    def wait(self, timeout=None):
        deadline = time.monotonic() + 300
        while not self.started.exists() and self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return super().wait(timeout)


def test_a_test_run_past_its_time_is_stopped_and_what_finished_is_counted(gr, tmp_path, monkeypatch):
    import argparse

    started = tmp_path / "test_slow_started"
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_fake_gpu.py").write_text(SLOW_TESTS.format(started=str(started)))
    args = argparse.Namespace(tests_timeout=8, quick=False, test_paths=[str(tmp_path / "tests")])
    ctx = gr.Context(args, gr.Budget(300, reserve_s=0), gr.Report(), gr.Output(tmp_path / "out"), [], [])
    monkeypatch.setattr(_ClockFromTestSlow, "started", started)
    monkeypatch.setattr(gr.subprocess, "Popen", _ClockFromTestSlow)
    # Run in the background (nohup, `cmd &` in a script), a process and its children start with
    # SIGINT ignored: the script must still stop pytest with SIGINT and count what had finished.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        start = time.monotonic()
        body = gr.section_tests(ctx)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert started.exists()
    assert time.monotonic() - start < 300  # stopped, not left to sleep 600 s
    assert "FAIL: pytest stopped after 8 s" in body
    rows = _rows(tmp_path / "out" / "tests.csv")
    assert [(r["test"].rsplit("::", 1)[1], r["outcome"]) for r in rows][:1] == [("test_quick", "passed")]


# --- every section, on the CPU ----------------------------------------------------------------------

@pytest.mark.slow
def test_dry_run_on_the_cpu_runs_every_section(tmp_path):
    data = os.environ.get("XLOGREG_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))
    if not (pathlib.Path(data) / "train_catvnoncat.h5").is_file():
        pytest.skip(f"course data not found in {data} (set XLOGREG_DATA_DIR)")
    # torch on the CPU stands in for torch-cuda where it is installed; the "test" extra leaves it out.
    with_torch = importlib.util.find_spec("torch") is not None
    if not with_torch and "torch" in REQUIRED:
        pytest.fail("torch is required by XLOGREG_REQUIRE_BACKENDS but not installed")
    backends = ["numpy", "torch"] if with_torch else ["numpy"]
    out = tmp_path / "gpu"
    command = [sys.executable, str(SCRIPT), str(out), "--dry-run-on-cpu", "--quick", "--sizes-gb", "0.002",
               "--crossover-sizes", "500", "2000", "--test-paths", "tests/test_backends.py", "--budget-s", "400"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=_env(PYTHONPATH=str(ROOT), XLOGREG_DATA_DIR=data))
    assert done.returncode in (0, 1), done.stdout + done.stderr
    files = {p.name: p for p in out.iterdir()}
    assert set(files) == {"report.md", "course.csv", "tests.csv", "primal.csv", "dual.csv",
                          "crossover.csv", "estimator.csv"}
    assert all(p.stat().st_size < 16 * 2**20 for p in files.values())
    text = files["report.md"].read_text()
    assert "DRY RUN ON THE CPU: no GPU figure" in text
    for title in ("Environment", "The course run", "GPU cases", "copy bandwidth", "The dual", "crossover",
                  "The estimator's fit against scikit-learn"):
        assert title in text
    assert "- tuning reads (xlogreg._machine): L1d " in text  # the caches, cores and BLAS threads it tunes by
    fits = _rows(files["estimator.csv"])  # scikit-learn, then xlogreg on each stand-in target
    assert fits[0]["estimator"].startswith("sklearn") and len(fits) == 1 + len(backends)
    assert all(float(r["speedup_over_sklearn"]) > 0 for r in fits[1:])
    assert ("every check passed" in text) == (done.returncode == 0)
    course = _rows(files["course.csv"])
    compared = [r for r in course if r["verdict"]]
    assert len(compared) == 2 * len(backends) and all(r["verdict"] == "PASS" for r in compared)  # 2 dtypes each
    primal = _rows(files["primal.csv"])
    assert {(r["backend"].split()[0], r["dtype"]) for r in primal} == {
        (b, d) for b in backends for d in ("float32", "float64")}
    assert ("torch: not installed, so nothing stands in for torch-cuda" in text) == (not with_torch)
    for r in primal:  # the share is the arithmetic of the same row's figures
        share = float(r["x_gb"]) * 1e9 / float(r["primal_best_s"]) / (float(r["copy_gb_s"]) * 1e9)
        assert float(r["primal_share_of_copy"]) == pytest.approx(share)
    tests = _rows(files["tests.csv"])
    assert tests and {r["backend"] for r in tests} >= ({"cupy", "torch-cuda"} if with_torch else {"cupy"})
