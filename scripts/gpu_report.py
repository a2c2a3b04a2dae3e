"""The GPU run as one command: tests, the course run, bandwidth and crossover timings, one report.

On the GPU host, from the repository root, with the wheels and the course data that
``scripts/gather_wheels.sh`` put in ``.whl/`` (carried along with the checkout):

    python3 -m pip install -q --no-index --find-links .whl --prefix /tmp/xlr-deps array-api-compat array-api-strict "dask[array]" distributed && python3 scripts/gpu_report.py "$OUT/gpu" --deps /tmp/xlr-deps

pip's ``--prefix`` (unlike ``--target``) weighs what the host has: it installs only the
packages that are missing there or too old, so the host's NumPy and the rest keep their
versions. ``--deps DIR`` puts the site-packages folder under DIR (or DIR itself, for a
``--target`` install) at the front of ``sys.path`` and of ``PYTHONPATH``, for this process
and for what it starts (pytest, and the ``python -m xlogreg`` runs of the tests). Elsewhere:

    python scripts/gpu_report.py out/gpu             # everything, at most --budget-s (480 s)
    python scripts/gpu_report.py out/gpu --quick     # a smoke run, about 2 minutes
    python scripts/gpu_report.py out/gpu --dry-run-on-cpu --quick   # every section on the CPU

What it does, in this order, each section only while the time budget allows it (a
skipped section says so in the report):

1. environment: the device, its driver and CUDA versions, library versions, date, command;
2. the course run: ``xlogreg.train`` on the course data (2000 iterations at 0.005) on CuPy
   and on torch-cuda against NumPy in the same dtype: costs, w and b within 1e-9 (relative)
   in float64 and 1e-4 in float32, one PASS/FAIL line each;
3. the test suite's GPU cases: ``pytest -m gpu tests`` in a subprocess with
   ``XLOGREG_REQUIRE_BACKENDS=cupy,torch-cuda`` (a missing GPU backend fails, not skips);
4. bandwidth: a device-to-device copy (bytes read + written per second: the reference), then
   for X of 1, 2, 4 and 8 GB (those that fit in 40 % of the free memory) in C and Fortran
   order, float32 and float64: one read of X (``w.T @ X``) and one primal iteration
   (``solvers.run(solver="primal")``), each as a share of the copy bandwidth
   (``X.nbytes / seconds / copy bandwidth``); target: the iteration at >= 60 %;
5. the dual (and the primal) on the course data, NumPy against each GPU backend;
6. the CPU/GPU crossover: ``compare_backends.time_loop`` on its synthetic data (100 features)
   from 1,000 to 4,000,000 examples, NumPy against each GPU backend; the crossover is the
   fewest examples from which on the GPU is faster at every size measured;
7. the estimator's fit on the GPU against scikit-learn's on the CPU, once
   ``xlogreg.LogisticRegression`` exists (until then: "not built yet").

Every timing synchronises the device before the clock starts and after the work
(``cupy.cuda.Device().synchronize()``, ``torch.cuda.synchronize()``), after a warm-up, and
keeps the best and the median of the repeats. Output, in OUTDIR: ``report.md`` and up to 6
CSV files (7 files: one more, a log, still fits in 8; each under 16 MiB), each written atomically (a temporary file,
then a rename); ``report.md`` is rewritten after each section, so a run cut off still leaves
what it measured. Exit status: 0 when everything ran and passed, or when no GPU was found
(the report says so plainly); 1 when a check failed or the GPU cannot be used; 2 for a bad
command line.
"""

from __future__ import annotations

import os

# JAX (with its CUDA plugin on the GPU host) takes 75 % of the GPU's memory the first time it
# starts its backend; the report and the tests share the GPU with CuPy and torch.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import argparse
import csv
import datetime
import io
import math
import pathlib
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
GB = 10**9
MAX_FILES = 8
MAX_FILE_BYTES = 16 * 2**20
DEFAULT_BUDGET_S = 480.0
#: Seconds kept back from the budget for writing the report; the hard stop (SIGALRM) comes
#: this much after the budget.
RESERVE_S = 20.0
HARD_STOP_GRACE_S = 30.0
REQUIRED_BACKENDS = "cupy,torch-cuda"
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}
BANDWIDTH_TARGET = 0.60
COURSE_ITERATIONS, COURSE_LEARNING_RATE = 2000, 0.005
N_FEATURES_BANDWIDTH = 12288  # the course's images: 64 x 64 x 3
#: Free memory that one X may take: leaves room for a copy the backend might make.
MEMORY_FRACTION = 0.4


#: The install half of the one-line command (the other half: ``python3 scripts/gpu_report.py "$OUT/gpu" --deps
#: /tmp/xlr-deps``).
INSTALL_COMMAND = ('python3 -m pip install -q --no-index --find-links .whl --prefix /tmp/xlr-deps '
                   'array-api-compat array-api-strict "dask[array]" distributed')


class BudgetExhausted(BaseException):
    """The hard time limit passed (SIGALRM); not an Exception, so no section swallows it."""


# --- pure helpers (tested with fake timings in tests/test_gpu_report.py) --------------------------

def summarize(seconds):
    """``(best, median)`` of a list of seconds."""
    if not seconds:
        raise ValueError("seconds must hold at least one timing; got an empty list")
    return min(seconds), statistics.median(seconds)


def copy_bandwidth(nbytes, seconds):
    """Bytes per second of a device-to-device copy of `nbytes`: each byte is read once and written once."""
    return 2 * nbytes / seconds


def bandwidth_share(nbytes, seconds, copy_bytes_per_s):
    """The rate at which something read `nbytes` in `seconds`, as a share of the copy bandwidth.

    One read of X at the copy's rate gives 1.0; an iteration that reads X twice at that rate
    gives 0.5.
    """
    return nbytes / seconds / copy_bytes_per_s


def fit_sizes(wanted_bytes, free_bytes, fraction=MEMORY_FRACTION):
    """The sizes of `wanted_bytes` that fit in `fraction` of `free_bytes`, in the order given."""
    return [n for n in wanted_bytes if n <= fraction * free_bytes]


def crossover(points):
    """The fewest examples from which on the GPU is faster at every size measured, or None.

    Parameters
    ----------
    points : iterable of (m, cpu_seconds, gpu_seconds)

    Returns
    -------
    int or None
        None when the GPU is slower at the largest size (or there are no points).
    """
    answer = None
    for m, cpu_s, gpu_s in sorted(points, reverse=True):
        if gpu_s >= cpu_s:
            break
        answer = m
    return answer


def relative_error(got, want):
    """``max |got - want| / max |want|`` (the error relative to the size of the reference)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    return diff / scale if scale > 0 else diff


def verdict(ok):
    return "PASS" if ok else "FAIL"


def markdown_table(header, rows):
    """A Markdown table; ``|`` and newlines inside cells are escaped."""
    def cell(value):
        if isinstance(value, float):
            value = f"{value:.4g}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def csv_text(fields, rows):
    """CSV text of dict rows (missing keys are empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in fields})
    return buffer.getvalue()


class Budget:
    """Seconds left of a total, with some kept back for writing the report.

    Parameters
    ----------
    total_s : float
    reserve_s : float, optional
        Kept back: :meth:`allows` refuses what would eat into it (default :data:`RESERVE_S`).
    clock : callable
        Seconds, monotonic (``time.monotonic``; tests pass a fake).
    """

    def __init__(self, total_s, reserve_s=None, clock=time.monotonic):
        if not total_s > 0:
            raise ValueError(f"the time budget must be > 0 seconds; got {total_s!r}")
        reserve_s = RESERVE_S if reserve_s is None else reserve_s
        self.total_s, self.reserve_s, self.clock = float(total_s), float(reserve_s), clock
        self.start = clock()

    def elapsed(self):
        return self.clock() - self.start

    def left(self):
        """Seconds left before the reserve."""
        return self.total_s - self.reserve_s - self.elapsed()

    def allows(self, estimate_s):
        """True when about `estimate_s` more seconds fit before the reserve."""
        return self.left() >= estimate_s

    def cap(self, want_s):
        """`want_s`, or fewer seconds if fewer are left (never below 0)."""
        return max(0.0, min(want_s, self.left()))

    def skip_note(self, what, estimate_s):
        return (f"Skipped {what}: {max(self.left(), 0):.0f} s of the {self.total_s:.0f} s budget were left "
                f"(after {self.reserve_s:.0f} s kept for the report), it needs about {estimate_s:.0f} s. "
                "Run it with a larger --budget-s, or alone.")


def backend_of_test(name):
    """The GPU backend a test id belongs to (its parameters', else its name's): cupy, torch-cuda, jax-gpu or other."""
    function, _, params = name.partition("[")
    for text in (params, function):
        if "cupy" in text:
            return "cupy"
        if "torch-cuda" in text or "torch_cuda" in text:
            return "torch-cuda"
        if re.search(r"jax-(cuda|gpu)", text):
            return "jax-gpu"
    return "other"


def parse_junit(path):
    """Rows ``{test, backend, outcome, seconds, message}`` of a pytest JUnit XML file."""
    rows = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (child.get("message") or child.text or "").strip().splitlines()[:1]
                message = message[0][:300] if message else ""
                break
        classname, name = case.get("classname", ""), case.get("name", "")
        module = classname.replace(".", "/") + ".py" if classname else ""
        rows.append(dict(test=f"{module}::{name}", backend=backend_of_test(name), outcome=outcome,
                         seconds=float(case.get("time") or 0.0), message=message))
    return rows


def count_outcomes(rows):
    """``{backend: {outcome: count}}`` of :func:`parse_junit` rows."""
    counts = {}
    for row in rows:
        per = counts.setdefault(row["backend"], {})
        per[row["outcome"]] = per.get(row["outcome"], 0) + 1
    return counts


class Output:
    """The files of the report in one folder: at most :data:`MAX_FILES`, each under :data:`MAX_FILE_BYTES`.

    Each write goes to a temporary file in the folder and is renamed over the final name,
    so a reader (or a run cut off) never sees half a file.
    """

    def __init__(self, outdir):
        self.outdir = pathlib.Path(outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.names = set()

    def write(self, name, text):
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", name):
            raise ValueError(f"output file name must be letters, digits, '.', '_' and '-'; got {name!r}")
        if name not in self.names and len(self.names) >= MAX_FILES:
            raise ValueError(f"the report keeps to {MAX_FILES} files ({sorted(self.names)}); "
                             f"cannot add {name!r}")
        data = text.encode()
        if len(data) >= MAX_FILE_BYTES:
            note = f"\n[cut at {MAX_FILE_BYTES // 2**20} MiB: the report keeps each file under that]\n".encode()
            data = data[:MAX_FILE_BYTES - len(note) - 1024] + note
        self.names.add(name)
        path = self.outdir / name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.outdir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the report is for reading
            os.replace(tmp, path)
        except BaseException:
            pathlib.Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def write_csv(self, name, fields, rows):
        return self.write(name, csv_text(fields, rows))


@dataclass
class Report:
    """The Markdown report, built section by section."""

    title: str = "xlogreg GPU report"
    header: list = field(default_factory=list)
    sections: list = field(default_factory=list)
    status: str = "in progress: if you read this, the run was cut off before it ended"

    def add(self, title, body):
        self.sections.append((title, body.strip()))

    def render(self):
        parts = [f"# {self.title}", "", f"**Status: {self.status}**", "", *self.header, ""]
        for title, body in self.sections:
            parts += [f"## {title}", "", body, ""]
        return "\n".join(parts).rstrip() + "\n"


# --- time ------------------------------------------------------------------------------------------

def time_repeated(work, sync, repeats, warmup=1, inner=1):
    """Seconds per call of `work`: the device synchronised before and after, best and median.

    `work` runs `inner` times between the two synchronisations (short kernels: the launch and
    the synchronisation are then a small part); `warmup` untimed rounds first.
    """
    for _ in range(warmup):
        for _ in range(inner):
            work()
        sync()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for _ in range(inner):
            work()
        sync()
        times.append((time.perf_counter() - start) / inner)
    return summarize(times)


# --- where to run ---------------------------------------------------------------------------------

class Target:
    """A GPU backend to measure: how to make arrays on it, wait for it and free its memory."""

    stands_for = ""  # "cupy" or "torch-cuda"
    backend = ""  # the xlogreg backend name
    device = None  # passed to xlogreg.train(device=...)
    label = ""

    def sync(self):
        pass

    def free_bytes(self):
        raise NotImplementedError

    def release(self):
        pass

    def normal(self, shape, dtype_name, order="C", seed=0):
        raise NotImplementedError

    def labels(self, m, dtype_name, seed=1):
        raise NotImplementedError

    def ones(self, shape, dtype_name):
        raise NotImplementedError

    def buffer(self, nbytes):
        raise NotImplementedError

    def copy(self, dst, src):
        raise NotImplementedError


class CupyTarget(Target):
    stands_for = backend = "cupy"

    def __init__(self, index=0):
        import cupy

        self.cp, self.index = cupy, index
        self.cp.cuda.Device(index).use()
        self.device = cupy.cuda.Device(index)
        self.label = f"cupy cuda:{index}"

    def sync(self):
        self.cp.cuda.Device(self.index).synchronize()

    def free_bytes(self):
        self.release()
        return self.cp.cuda.runtime.memGetInfo()[0]

    def release(self):
        self.cp.get_default_memory_pool().free_all_blocks()

    def normal(self, shape, dtype_name, order="C", seed=0):
        rs = self.cp.random.RandomState(seed)
        if order == "F":
            return rs.standard_normal(tuple(reversed(shape)), dtype=dtype_name).T
        return rs.standard_normal(shape, dtype=dtype_name)

    def labels(self, m, dtype_name, seed=1):
        rs = self.cp.random.RandomState(seed)
        return (rs.random_sample((1, m), dtype=dtype_name) < 0.5).astype(dtype_name)

    def ones(self, shape, dtype_name):
        return self.cp.ones(shape, dtype=dtype_name)

    def buffer(self, nbytes):
        return self.cp.empty(nbytes, dtype=self.cp.uint8)

    def copy(self, dst, src):
        self.cp.cuda.runtime.memcpyAsync(dst.data.ptr, src.data.ptr, src.nbytes,
                                         self.cp.cuda.runtime.memcpyDeviceToDevice,
                                         self.cp.cuda.get_current_stream().ptr)


class TorchTarget(Target):
    stands_for = "torch-cuda"
    backend = "torch"

    def __init__(self, device="cuda:0"):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.label = f"torch {self.device}"

    def _dtype(self, dtype_name):
        return getattr(self.torch, dtype_name)

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def free_bytes(self):
        if self.device.type != "cuda":
            return _host_free_bytes()
        self.release()
        return self.torch.cuda.mem_get_info(self.device)[0]

    def release(self):
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()

    def normal(self, shape, dtype_name, order="C", seed=0):
        g = self.torch.Generator(device=self.device).manual_seed(seed)
        dims = tuple(reversed(shape)) if order == "F" else tuple(shape)
        x = self.torch.randn(dims, generator=g, dtype=self._dtype(dtype_name), device=self.device)
        return x.T if order == "F" else x

    def labels(self, m, dtype_name, seed=1):
        g = self.torch.Generator(device=self.device).manual_seed(seed)
        u = self.torch.rand((1, m), generator=g, dtype=self._dtype(dtype_name), device=self.device)
        return (u < 0.5).to(self._dtype(dtype_name))

    def ones(self, shape, dtype_name):
        return self.torch.ones(shape, dtype=self._dtype(dtype_name), device=self.device)

    def buffer(self, nbytes):
        return self.torch.empty(nbytes, dtype=self.torch.uint8, device=self.device)

    def copy(self, dst, src):
        dst.copy_(src)


class NumpyTarget(Target):
    """NumPy on the CPU, standing in for CuPy in ``--dry-run-on-cpu`` (no GPU figure)."""

    stands_for = "cupy"
    backend = "numpy"
    device = "cpu"
    label = "numpy cpu (dry run, in place of cupy)"

    def free_bytes(self):
        return _host_free_bytes()

    def normal(self, shape, dtype_name, order="C", seed=0):
        x = np.random.default_rng(seed).standard_normal(shape, dtype=dtype_name)
        return np.asfortranarray(x) if order == "F" else x

    def labels(self, m, dtype_name, seed=1):
        return (np.random.default_rng(seed).random((1, m)) < 0.5).astype(dtype_name)

    def ones(self, shape, dtype_name):
        return np.ones(shape, dtype=dtype_name)

    def buffer(self, nbytes):
        return np.empty(nbytes, dtype=np.uint8)

    def copy(self, dst, src):
        np.copyto(dst, src)


def _host_free_bytes():
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 * GB


def site_dirs(folder):
    """The folders that ``pip install --prefix FOLDER`` fills for this Python, or ``[FOLDER]`` (``--target``)."""
    folder = pathlib.Path(folder).resolve()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    found = [p for pattern in (f"lib/{version}/site-packages", f"lib/{version}/dist-packages",
                               f"local/lib/{version}/dist-packages", f"local/lib/{version}/site-packages",
                               f"lib64/{version}/site-packages")
             for p in sorted(folder.glob(pattern)) if p.is_dir()]
    return found or [folder]


def use_deps(folder):
    """Put the packages installed under `folder` first, here and for every process started from here."""
    dirs = [str(d) for d in site_dirs(folder)]
    sys.path[0:0] = [d for d in dirs if d not in sys.path]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([*dirs, *([old] if old else [])])
    return dirs


def _run(command, timeout=20):
    """stdout of a short command, or None when it cannot run."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def detect_gpus():
    """What sees a GPU here, without importing xlogreg.

    Returns
    -------
    dict
        ``cupy`` and ``torch``: the number of CUDA devices each sees, or the reason it sees
        none (a str); ``nvidia_smi``: its ``-L`` lines, or None; ``hidden``: True when
        ``CUDA_VISIBLE_DEVICES`` hides every GPU.
    """
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES", None) is not None and \
        os.environ["CUDA_VISIBLE_DEVICES"].strip() in ("", "-1")
    found = {"hidden": hidden}
    try:
        import cupy

        try:
            count = cupy.cuda.runtime.getDeviceCount()
            found["cupy"] = count if count > 0 else "CUDA reports 0 devices"
        except Exception as exc:  # no driver, no device, broken runtime
            found["cupy"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        found["cupy"] = f"cupy does not import ({type(exc).__name__}: {exc})"
    try:
        import torch

        if torch.cuda.is_available():
            found["torch"] = torch.cuda.device_count()
        else:
            found["torch"] = f"torch {torch.__version__} sees no CUDA GPU (torch.version.cuda = {torch.version.cuda})"
    except Exception as exc:
        found["torch"] = f"torch does not import ({type(exc).__name__}: {exc})"
    found["nvidia_smi"] = None if hidden else _run(["nvidia-smi", "-L"])
    return found


def gpu_seen(found):
    return isinstance(found.get("cupy"), int) or isinstance(found.get("torch"), int)


def make_targets(found, dry_run=False):
    """The targets to measure, and ``(name, reason)`` for each GPU backend that cannot run."""
    if dry_run:  # torch on the CPU stands in for torch-cuda where it is installed (not in the "test" extra)
        try:
            return [NumpyTarget(), TorchTarget("cpu")], []
        except ImportError:
            return [NumpyTarget()], []
    targets, problems = [], []
    if isinstance(found.get("cupy"), int):
        targets.append(CupyTarget(0))
    else:
        problems.append(("cupy", found.get("cupy")))
    if isinstance(found.get("torch"), int):
        targets.append(TorchTarget("cuda:0"))
    else:
        problems.append(("torch-cuda", found.get("torch")))
    return targets, problems


def find_course_data():
    """The folder holding the course's two files, and the folders searched."""
    candidates = []
    if os.environ.get("XLOGREG_DATA_DIR"):
        candidates.append(pathlib.Path(os.environ["XLOGREG_DATA_DIR"]))
    candidates += [ROOT.parent / "shared" / "datasets", ROOT / "shared" / "datasets", ROOT / ".whl" / "data"]
    for folder in candidates:
        if (folder / "train_catvnoncat.h5").is_file() and (folder / "test_catvnoncat.h5").is_file():
            return folder, candidates
    return None, candidates


# --- the run ---------------------------------------------------------------------------------------

@dataclass
class Context:
    args: argparse.Namespace
    budget: Budget
    report: Report
    out: Output
    targets: list
    problems: list
    failures: list = field(default_factory=list)
    course: tuple | None = None
    data_dir: pathlib.Path | None = None
    copy_bw: dict = field(default_factory=dict)

    def fail(self, text):
        self.failures.append(text)
        return f"FAIL: {text}"


def _versions():
    names = ["numpy", "cupy", "torch", "jax", "jaxlib", "numba", "h5py", "sklearn", "array_api_compat",
             "array_api_strict", "dask", "distributed", "pytest", "hypothesis", "xlogreg"]
    rows = []
    for name in names:
        try:
            module = __import__(name)
            where = str(pathlib.Path(getattr(module, "__file__", "") or "").parent)
            rows.append((name, getattr(module, "__version__", "?"), where))
        except Exception as exc:
            rows.append((name, "not importable", f"{type(exc).__name__}: {exc}"[:120]))
    return rows


def section_environment(ctx):
    lines = []
    smi = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,memory.free,pci.bus_id",
                "--format=csv,noheader"])
    lines.append(f"- nvidia-smi: {smi or 'not available'}")
    for target in ctx.targets:
        if isinstance(target, CupyTarget):
            rt = target.cp.cuda.runtime
            props = rt.getDeviceProperties(target.index)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            free, total = rt.memGetInfo()
            lines.append(f"- CuPy {target.cp.__version__}: {name}, CUDA runtime {rt.runtimeGetVersion()}, "
                         f"driver API {rt.driverGetVersion()}, {free / GB:.1f} of {total / GB:.1f} GB free, "
                         f"{props.get('multiProcessorCount', '?')} multiprocessors")
        elif isinstance(target, TorchTarget) and target.device.type == "cuda":
            torch = target.torch
            free, total = torch.cuda.mem_get_info(target.device)
            with warnings.catch_warnings():  # newer torch deprecates allow_tf32 for fp32_precision
                warnings.simplefilter("ignore")
                tf32 = getattr(torch.backends.cuda.matmul, "allow_tf32", "?")
            lines.append(f"- torch {torch.__version__}: {torch.cuda.get_device_name(target.device)}, "
                         f"CUDA {torch.version.cuda}, {free / GB:.1f} of {total / GB:.1f} GB free, "
                         f"TF32 in float32 matmul: {tf32}")
        else:
            lines.append(f"- {target.label}: stands in for {target.stands_for} (dry run: no GPU figure)")
    if ctx.args.dry_run_on_cpu and not any(isinstance(t, TorchTarget) for t in ctx.targets):
        lines.append("- torch: not installed, so nothing stands in for torch-cuda in this dry run "
                     "(install the CPU build of torch to check that path too)")
    for name, reason in ctx.problems:
        lines.append(f"- {ctx.fail(f'{name} cannot run here: {reason}')}")
    try:  # what the tuning reads (xlogreg._machine); xlogreg needs array-api-compat to import
        from xlogreg import _machine

        cpu, tuning = _machine.cpu_name(), _machine.summary()
    except Exception as exc:
        cpu, tuning = platform.processor() or platform.machine(), f"not read ({type(exc).__name__}: {exc})"[:200]
    lines.append(f"- CPU: {cpu}, {os.cpu_count()} logical cores; Python {platform.python_version()} "
                 f"({sys.executable}); {platform.platform()}")
    lines.append(f"- tuning reads (xlogreg._machine): {tuning}")
    lines.append(f"- course data: {ctx.data_dir or 'not found'}")
    lines.append("")
    lines.append(markdown_table(["library", "version", "from"], _versions()))
    return "\n".join(lines)


def _load_course(ctx):
    if ctx.course is None:
        import xlogreg

        train_x, train_y, test_x, test_y, _ = xlogreg.load_dataset(ctx.data_dir / "train_catvnoncat.h5",
                                                                   ctx.data_dir / "test_catvnoncat.h5")
        ctx.course = (xlogreg.flatten_images(train_x), train_y.astype(np.float64),
                      xlogreg.flatten_images(test_x), test_y.astype(np.float64))
    return ctx.course


def section_course(ctx):
    import xlogreg
    from xlogreg import _backends

    if ctx.data_dir is None:
        return ctx.fail("course data not found (set XLOGREG_DATA_DIR, or run scripts/gather_wheels.sh, "
                        "which copies it into .whl/data/)")
    X, Y, X_test, Y_test = _load_course(ctx)
    rows, lines = [], []
    solvers_to_run = ["auto"] if ctx.args.quick else ["auto", "primal"]
    iterations = 200 if ctx.args.dry_run_on_cpu else COURSE_ITERATIONS
    settings = dict(num_iterations=iterations, learning_rate=COURSE_LEARNING_RATE)
    for solver in solvers_to_run:
        for dtype in ("float64", "float32"):
            if not ctx.budget.allows(10):
                lines.append(ctx.budget.skip_note(f"the course run {solver} {dtype} and after", 10))
                break
            start = time.perf_counter()
            ref = xlogreg.train(X, Y, X_test, Y_test, dtype=dtype, solver=solver, **settings)
            ref_s = time.perf_counter() - start
            rows.append(dict(backend="numpy", device="cpu", dtype=dtype, asked=solver, solver=ref.solver,
                             final_cost=ref.costs[-1], train_accuracy=ref.train_accuracy,
                             test_accuracy=ref.test_accuracy, seconds=ref_s))
            for target in ctx.targets:
                try:
                    start = time.perf_counter()
                    got = xlogreg.train(X, Y, X_test, Y_test, dtype=dtype, solver=solver,
                                        backend=target.backend, device=target.device, **settings)
                    target.sync()
                    seconds = time.perf_counter() - start
                except Exception as exc:
                    lines.append(ctx.fail(f"{target.label} {dtype} solver={solver}: train raised "
                                          f"{type(exc).__name__}: {exc}"))
                    continue
                errors = dict(cost_error=relative_error(got.costs, ref.costs),
                              w_error=relative_error(_backends.to_numpy(got.w), _backends.to_numpy(ref.w)),
                              b_error=relative_error(got.b, ref.b))
                tol = TOLERANCE[dtype]
                ok = all(e <= tol for e in errors.values()) and got.solver == ref.solver
                text = (f"{target.label} {dtype} solver={solver} ({got.solver}): costs {errors['cost_error']:.2e}, "
                        f"w {errors['w_error']:.2e}, b {errors['b_error']:.2e} from NumPy's (tolerance {tol:g}); "
                        f"accuracy train {got.train_accuracy:.2f} % / test {got.test_accuracy:.2f} %")
                lines.append(f"PASS: {text}" if ok else ctx.fail(text))
                rows.append(dict(backend=target.label, device=str(target.device), dtype=dtype, asked=solver,
                                 solver=got.solver, final_cost=got.costs[-1], train_accuracy=got.train_accuracy,
                                 test_accuracy=got.test_accuracy, seconds=seconds, tolerance=tol,
                                 verdict=verdict(ok), **errors))
    ctx.out.write_csv("course.csv", ["backend", "device", "dtype", "asked", "solver", "final_cost", "cost_error",
                                     "w_error", "b_error", "tolerance", "verdict", "train_accuracy",
                                     "test_accuracy", "seconds"], rows)
    intro = (f"`xlogreg.train` on the course data ({X.shape[0]} x {X.shape[1]}), {iterations} iterations at "
             f"{COURSE_LEARNING_RATE}, against NumPy in the same dtype; errors are max |got - NumPy| / max |NumPy| "
             "(course.csv; seconds there include moving the data to the device).")
    return intro + "\n\n" + "\n".join(f"- {line}" for line in lines)


#: ``python -m pytest``, but with Ctrl-C handled whatever this process inherited. Started in the
#: background (``nohup``, ``cmd &`` in a script), a process and its children start with SIGINT
#: ignored, and Python then installs no Ctrl-C handler: pytest would ignore the SIGINT of
#: :func:`_kill_group`, be killed by its SIGTERM 15 s later and write no JUnit file, so not even
#: the tests that had finished would be counted. (Not a ``preexec_fn``: that forks a process
#: that may hold JAX's threads.)
PYTEST_WITH_CTRL_C = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                      "import pytest; sys.exit(pytest.console_main())")


def _kill_group(proc):
    """Stop the pytest run this script started (its own process group), by its id.

    SIGINT first: pytest takes it as Ctrl-C, and still prints its summary and writes its
    JUnit XML file, so the tests that finished are counted.
    """
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def section_tests(ctx):
    want = ctx.args.tests_timeout or (120 if ctx.args.quick else 210)
    timeout = ctx.budget.cap(want)
    paths = ctx.args.test_paths or (["tests/test_backends.py", "tests/test_core.py", "tests/test_training.py"]
                                    if ctx.args.quick else ["tests"])
    with tempfile.TemporaryDirectory(prefix="xlogreg-gpu-tests-") as tmp:
        junit = pathlib.Path(tmp) / "junit.xml"
        log_path = pathlib.Path(tmp) / "pytest.log"
        pytest_args = ["-m", "gpu", "-p", "no:cacheprovider", "-q", "-rfEs", "--maxfail=100",
                       f"--junitxml={junit}", *paths]
        command = [sys.executable, "-c", PYTEST_WITH_CTRL_C, *pytest_args]
        env = dict(os.environ, XLOGREG_REQUIRE_BACKENDS=REQUIRED_BACKENDS, XLOGREG_REQUIRE_DATA="1",
                   PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
        if ctx.data_dir is not None:
            env["XLOGREG_DATA_DIR"] = str(ctx.data_dir)
        shown = f"XLOGREG_REQUIRE_BACKENDS={REQUIRED_BACKENDS} XLOGREG_REQUIRE_DATA=1 python -m pytest " + \
            " ".join(shlex.quote(a) for a in pytest_args if not a.startswith("--junitxml"))
        start = time.monotonic()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            timed_out = False
            try:
                rc = proc.wait(timeout=max(timeout, 1))
            except subprocess.TimeoutExpired:
                timed_out, rc = True, None
            finally:
                if proc.poll() is None:
                    _kill_group(proc)
        seconds = time.monotonic() - start
        output = log_path.read_text(errors="replace")
        rows = parse_junit(junit) if junit.is_file() else []
    ctx.out.write_csv("tests.csv", ["test", "backend", "outcome", "seconds", "message"], rows)
    counts = count_outcomes(rows)
    lines = [f"`{shown}` ({seconds:.0f} s; every test in tests.csv)", ""]
    if timed_out:
        lines.append("- " + ctx.fail(f"pytest stopped after {timeout:.0f} s (the time given to it); "
                                      "the counts below are of the tests that had finished, if any"))
    elif rc not in (0,):
        lines.append("- " + ctx.fail(f"pytest exited with status {rc}"))
    else:
        lines.append("- PASS: pytest exited with status 0")
    for backend in ("cupy", "torch-cuda", "jax-gpu", "other"):
        if backend in counts:
            c = counts[backend]
            text = ", ".join(f"{n} {k}" for k, n in sorted(c.items()))
            bad = c.get("failed", 0) + c.get("error", 0)
            lines.append(f"- PASS: {backend}: {text}" if bad == 0 else f"- {ctx.fail(f'{backend} tests: {text}')}")
    # A missing backend fails under XLOGREG_REQUIRE_BACKENDS; the skips left are the tests' own
    # (a case that does not apply to a backend): listed, not failed.
    reasons = sorted({r["message"] for r in rows if r["outcome"] == "skipped"})
    lines += [f"- skipped: {reason}" for reason in reasons[:10]]
    for backend in ("cupy", "torch-cuda"):
        if backend not in counts and not timed_out:
            lines.append("- " + ctx.fail(f"no {backend} test ran"))
    tail = "\n".join(output.strip().splitlines()[-40:])
    lines += ["", "The end of pytest's output:", "", "```", tail, "```"]
    return "\n".join(lines)


def _primal_seconds(X, Y, iterations, repeats):
    import compare_backends

    best, median, ran = compare_backends.time_loop(X, Y, "primal", iterations, repeats, COURSE_LEARNING_RATE)
    return best, median, ran


def section_bandwidth(ctx):
    args = ctx.args
    sizes = [int(s * GB) for s in args.sizes_gb]
    layouts = ["C"] if args.quick else ["C", "F"]
    iterations, repeats = (10, 2) if args.quick else (20, 3)
    rows, lines = [], []
    for target in ctx.targets:
        free = target.free_bytes()
        nbytes = int(min(max(sizes), free * MEMORY_FRACTION / 2, 2 * GB))
        src, dst = target.buffer(nbytes), target.buffer(nbytes)
        target.copy(src, dst)  # touch both
        best, median = time_repeated(lambda: target.copy(dst, src), target.sync, repeats=10, warmup=2, inner=5)
        del src, dst
        target.release()
        bw = copy_bandwidth(nbytes, best)
        ctx.copy_bw[target.label] = bw
        copy = dict(copy_bytes=nbytes, copy_best_s=best, copy_median_s=median, copy_gb_s=bw / GB)
        lines.append(f"- {target.label}: device-to-device copy of {nbytes / GB:.3g} GB: {bw / GB:.0f} GB/s "
                     f"(read + written; best of 10; median {copy_bandwidth(nbytes, median) / GB:.0f} GB/s)")
        free = target.free_bytes()
        fitting = fit_sizes(sizes, free)
        if len(fitting) < len(sizes):
            lines.append(f"- {target.label}: {free / GB:.1f} GB free: X of "
                         f"{', '.join(f'{s / GB:g}' for s in sizes if s not in fitting)} GB left out "
                         f"(each X keeps under {MEMORY_FRACTION:.0%} of the free memory)")
        for dtype in ("float32", "float64"):
            itemsize = np.dtype(dtype).itemsize
            for size in fitting:
                for layout in layouts:
                    # ~35 reads of X for the one-read timings, ~2 (3 + iterations x repeats) for the
                    # iterations, each at half the copy's rate (a copy reads and writes), three times
                    # over for safety; 3 s to make X and compile the kernels
                    estimate = 3 + 3 * (35 + 2 * (3 + iterations * repeats)) * size / (bw / 2)
                    if not ctx.budget.allows(estimate + 5):
                        what = f"{target.label} {dtype} X of {size / GB:g} GB {layout}"
                        lines.append(f"- {ctx.budget.skip_note(what, estimate + 5)}")
                        break
                    n_x = N_FEATURES_BANDWIDTH
                    m = max(1, size // (n_x * itemsize))
                    X = target.normal((n_x, m), dtype, layout)
                    Y = target.labels(m, dtype)
                    w = target.ones((n_x, 1), dtype)
                    target.sync()
                    x_bytes = n_x * m * itemsize
                    read_best, read_median = time_repeated(lambda: w.T @ X, target.sync, repeats=repeats * 2,
                                                           warmup=1, inner=5)
                    p_best, p_median, ran = _primal_seconds(X, Y, iterations, repeats)
                    del X, Y, w
                    target.release()
                    row = dict(backend=target.label, dtype=dtype, layout=layout, size_gb=size / GB, n_x=n_x, m=m,
                               x_gb=x_bytes / GB,
                               iterations=iterations, solver=ran, read_best_s=read_best, read_median_s=read_median,
                               primal_best_s=p_best, primal_median_s=p_median, primal_over_read=p_best / read_best,
                               read_share_of_copy=bandwidth_share(x_bytes, read_best, bw),
                               primal_share_of_copy=bandwidth_share(x_bytes, p_best, bw), **copy)
                    rows.append(row)
                    print(f"  bandwidth {target.label} {dtype} {layout} X {x_bytes / GB:.3g} GB: iteration "
                          f"{row['primal_share_of_copy']:.0%} of copy, read {row['read_share_of_copy']:.0%}",
                          flush=True)
                else:
                    continue
                break
    ctx.out.write_csv("primal.csv", ["backend", "dtype", "layout", "size_gb", "n_x", "m", "x_gb", "iterations",
                                     "solver",
                                     "read_best_s", "read_median_s", "primal_best_s", "primal_median_s",
                                     "primal_over_read", "read_share_of_copy", "primal_share_of_copy",
                                     "copy_gb_s", "copy_bytes", "copy_best_s", "copy_median_s"], rows)
    table = markdown_table(
        ["backend", "dtype", "order", "X (GB)", "one read (ms)", "iteration (ms)", "iteration / read",
         "read: share of copy", "iteration: share of copy", f"target {BANDWIDTH_TARGET:.0%}"],
        [(r["backend"], r["dtype"], r["layout"], f"{r['x_gb']:.3g}", r["read_best_s"] * 1e3, r["primal_best_s"] * 1e3,
          f"{r['primal_over_read']:.2f}x", f"{r['read_share_of_copy']:.0%}", f"{r['primal_share_of_copy']:.0%}",
          "- (X < 1 GB)" if r["size_gb"] < 1 else
          "met" if r["primal_share_of_copy"] >= BANDWIDTH_TARGET else "not met")
         for r in rows])
    big = [r for r in rows if r["size_gb"] >= 1]  # X's bytes round down to whole examples
    if big:
        met = sum(r["primal_share_of_copy"] >= BANDWIDTH_TARGET for r in big)
        lines.append(f"- target (the primal iteration at >= {BANDWIDTH_TARGET:.0%} of the copy bandwidth for X of "
                     f"1 GB and more): met in {met} of {len(big)} timings")
    intro = (f"X of shape ({N_FEATURES_BANDWIDTH}, m), random normal, made on the device. One read: `w.T @ X` "
             f"(best of {repeats * 2}, 5 per timing); iteration: `solvers.run(solver=\"primal\")`, {iterations} "
             f"iterations per timing, best of {repeats} (per iteration; primal.csv, with the copy's figures). "
             "Share of copy = X bytes / seconds / copy bandwidth: an iteration that reads X twice at the copy's "
             "rate scores 50 %.")
    return "\n".join([intro, "", *lines, "", table])


def section_dual(ctx):
    import compare_backends
    from xlogreg import _backends

    if ctx.data_dir is None:
        return ctx.fail("course data not found: nothing to time")
    X_host, Y_host, _, _ = _load_course(ctx)
    iterations = {"dual": 500 if ctx.args.quick else COURSE_ITERATIONS, "primal": 200}
    if ctx.args.dry_run_on_cpu:  # a check of the script, not a measurement
        iterations = {"dual": 50, "primal": 5}
    repeats = 2 if ctx.args.quick else 3
    rows, lines = [], []
    targets = [("numpy cpu", "numpy", "cpu", lambda: None)] + [(t.label, t.backend, t.device, t.sync)
                                                              for t in ctx.targets]
    for label, backend, device, sync in targets:
        for dtype in ("float64", "float32"):
            for solver in ("dual", "primal"):
                if not ctx.budget.allows(10):
                    lines.append(ctx.budget.skip_note(f"{label} {dtype} {solver} and after", 10))
                    break
                xp, dev = _backends.resolve(backend, device)
                X = _backends.asarray(X_host, xp, dev, _backends.floating_dtype(xp, dev, dtype))
                Y = _backends.asarray(Y_host, xp, dev, X.dtype)
                sync()
                best, median, ran = compare_backends.time_loop(X, Y, solver, iterations[solver], repeats,
                                                               COURSE_LEARNING_RATE)
                rows.append(dict(backend=label, dtype=dtype, solver=ran, iterations=iterations[solver],
                                 best_s=best, median_s=median))
                del X, Y
            else:
                continue
            break
    numpy_best = {(r["dtype"], r["solver"]): r["best_s"] for r in rows if r["backend"] == "numpy cpu"}
    for r in rows:
        base = numpy_best.get((r["dtype"], r["solver"]))
        r["speedup_over_numpy"] = base / r["best_s"] if base else ""
    ctx.out.write_csv("dual.csv", ["backend", "dtype", "solver", "iterations", "best_s", "median_s",
                                   "speedup_over_numpy"], rows)
    table = markdown_table(["backend", "dtype", "solver", "iterations", "ms / iteration (best)",
                            "ms / iteration (median)", "speed-up over NumPy"],
                           [(r["backend"], r["dtype"], r["solver"], r["iterations"], r["best_s"] * 1e3,
                             r["median_s"] * 1e3,
                             f"{r['speedup_over_numpy']:.2f}x" if r["speedup_over_numpy"] != "" else "-")
                            for r in rows])
    intro = ("The course data, `compare_backends.time_loop` (after a warm-up; the dual's Gram matrix is "
             "counted in its seconds per iteration, amortised over the iterations shown; dual.csv).")
    return "\n".join([intro, "", *[f"- {line}" for line in lines], "", table])


def section_crossover(ctx):
    import compare_backends
    from xlogreg import _backends

    sizes = ctx.args.crossover_sizes or ([1_000, 10_000, 100_000] if ctx.args.quick
                                         else [1_000, 10_000, 100_000, 1_000_000, 4_000_000])
    iterations, repeats = (5, 2) if ctx.args.quick else (10, 3)
    rows, lines = [], []
    host_limit = _host_free_bytes() * MEMORY_FRACTION
    for data_name, X_host, Y_host in compare_backends.datasets(sizes):
        if data_name == "course data":
            break
        n_x, m = X_host.shape
        # NumPy's runs dominate: two reads of X per iteration at a pessimistic 5 GB/s, float64 and
        # float32 (1.5 times float64's bytes), the warm-ups too; 5 s for the copies to the devices
        estimate = 5 + 1.5 * 2 * X_host.nbytes * (iterations * repeats + 3) / 5e9
        if not ctx.budget.allows(estimate) or 2 * X_host.nbytes > host_limit:
            lines.append(ctx.budget.skip_note(f"m = {m:,} and larger", estimate))
            break
        for dtype in ("float64", "float32"):
            X_np, Y_np = X_host.astype(dtype), Y_host.astype(dtype)
            best, median, ran = compare_backends.time_loop(X_np, Y_np, "auto", iterations, repeats, 0.5)
            rows.append(dict(backend="numpy cpu", dtype=dtype, n_x=n_x, m=m, solver=ran, best_s=best,
                             median_s=median))
            for target in ctx.targets:
                if X_host.nbytes > target.free_bytes() * MEMORY_FRACTION:
                    lines.append(f"{target.label}: m = {m:,} left out (does not fit)")
                    continue
                xp, dev = _backends.resolve(target.backend, target.device)
                X = _backends.asarray(X_np, xp, dev)
                Y = _backends.asarray(Y_np, xp, dev)
                target.sync()
                best, median, ran = compare_backends.time_loop(X, Y, "auto", iterations, repeats, 0.5)
                rows.append(dict(backend=target.label, dtype=dtype, n_x=n_x, m=m, solver=ran, best_s=best,
                                 median_s=median))
                del X, Y
                target.release()
        print(f"  crossover: m = {m:,} done", flush=True)
    cpu = {(r["dtype"], r["m"]): r["best_s"] for r in rows if r["backend"] == "numpy cpu"}
    for r in rows:
        base = cpu.get((r["dtype"], r["m"]))
        r["speedup_over_numpy"] = base / r["best_s"] if base else ""
    ctx.out.write_csv("crossover.csv", ["backend", "dtype", "n_x", "m", "solver", "best_s", "median_s",
                                        "speedup_over_numpy"], rows)
    found = []
    for target in ctx.targets:
        for dtype in ("float64", "float32"):
            points = [(r["m"], cpu[(dtype, r["m"])], r["best_s"]) for r in rows
                      if r["backend"] == target.label and r["dtype"] == dtype and (dtype, r["m"]) in cpu]
            if not points:
                continue
            at = crossover(points)
            found.append(f"{target.label} {dtype}: " + (f"faster than NumPy from m = {at:,} on (of the sizes measured)"
                                                        if at is not None else
                                                        f"not faster than NumPy at the largest size measured "
                                                        f"(m = {max(p[0] for p in points):,})"))
    table = markdown_table(["backend", "dtype", "m", "solver", "ms / iteration (best)", "ms / iteration (median)",
                            "speed-up over NumPy"],
                           [(r["backend"], r["dtype"], f"{r['m']:,}", r["solver"], r["best_s"] * 1e3,
                             r["median_s"] * 1e3,
                             f"{r['speedup_over_numpy']:.2f}x" if r["speedup_over_numpy"] != "" else "-")
                            for r in rows])
    intro = (f"Synthetic data of {compare_backends.N_FEATURES} features (`compare_backends.datasets`), "
             f"`compare_backends.time_loop` with solver \"auto\", {iterations} iterations x {repeats} repeats, "
             "NumPy on the CPU against each GPU backend (crossover.csv).")
    return "\n".join([intro, "", *[f"- {line}" for line in found + lines], "", table])


def section_estimator(ctx):
    import xlogreg

    if not hasattr(xlogreg, "LogisticRegression"):
        return ("Not built yet: `xlogreg.LogisticRegression` does not exist in this checkout. Once it does, this "
                "section times its fit on the course data on each GPU backend against scikit-learn's "
                "`LogisticRegression` on the CPU.")
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    from xlogreg import _backends

    if ctx.data_dir is None:
        return ctx.fail("course data not found: nothing to fit")
    X, Y, _, _ = _load_course(ctx)
    Xs, ys = np.ascontiguousarray(X.T), Y.ravel()  # scikit-learn's layout: (n_samples, n_features)
    rows, lines = [], []
    sk_best, sk_median = time_repeated(lambda: SkLogisticRegression(max_iter=1000).fit(Xs, ys), lambda: None,
                                       repeats=3, warmup=1)
    rows.append(dict(estimator="sklearn.linear_model.LogisticRegression", backend="numpy cpu",
                     best_s=sk_best, median_s=sk_median))
    for target in ctx.targets:
        try:
            xp, dev = _backends.resolve(target.backend, target.device)
            Xd = _backends.asarray(Xs, xp, dev)
            yd = _backends.asarray(ys, xp, dev)
            best, median = time_repeated(lambda: xlogreg.LogisticRegression().fit(Xd, yd), target.sync,
                                         repeats=3, warmup=1)
            rows.append(dict(estimator="xlogreg.LogisticRegression", backend=target.label, best_s=best,
                             median_s=median, speedup_over_sklearn=sk_best / best))
        except Exception as exc:  # a placeholder written before the estimator: say what broke
            lines.append(ctx.fail(f"{target.label}: xlogreg.LogisticRegression().fit raised "
                                  f"{type(exc).__name__}: {exc}"))
    ctx.out.write_csv("estimator.csv", ["estimator", "backend", "best_s", "median_s", "speedup_over_sklearn"], rows)
    table = markdown_table(["estimator", "backend", "s (best)", "s (median)"],
                           [(r["estimator"], r["backend"], r["best_s"], r["median_s"]) for r in rows])
    return "\n".join([*[f"- {line}" for line in lines], "", table])


#: (key, title, function, seconds it needs at least to start)
SECTIONS = [
    ("environment", "Environment", section_environment, 5),
    ("course", "The course run on the GPU against NumPy", section_course, 20),
    ("tests", "The test suite's GPU cases", section_tests, 30),
    ("bandwidth", "Primal iteration against one read of X and the copy bandwidth", section_bandwidth, 20),
    ("dual", "The dual (and the primal) on the course data", section_dual, 15),
    ("crossover", "CPU/GPU crossover", section_crossover, 15),
    ("estimator", "The estimator's fit against scikit-learn on the CPU", section_estimator, 5),
]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=pathlib.Path, help="folder for report.md and the CSV files")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer sizes, tests, repeats (~2 min)")
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                        help=f"the whole run's time limit in seconds (default {DEFAULT_BUDGET_S:.0f})")
    parser.add_argument("--deps", type=pathlib.Path,
                        help="the --prefix (or --target) of the wheels' install: its site-packages go first on "
                             "sys.path and PYTHONPATH, here and in the test run")
    parser.add_argument("--only", nargs="+", choices=[key for key, *_ in SECTIONS], help="run only these sections")
    parser.add_argument("--sizes-gb", type=float, nargs="+", help="sizes of X for the bandwidth section "
                                                                  "(default 1 2 4 8; --quick 1 2)")
    parser.add_argument("--crossover-sizes", type=int, nargs="+", help="numbers of examples for the crossover")
    parser.add_argument("--test-paths", nargs="+", help="what pytest runs (default tests; --quick three files)")
    parser.add_argument("--tests-timeout", type=float, help="seconds given to pytest at most (default 210)")
    parser.add_argument("--dry-run-on-cpu", action="store_true",
                        help="run every section with NumPy and torch on the CPU in place of CuPy and torch-cuda, "
                             "to check the script where there is no GPU (no GPU figure)")
    args = parser.parse_args(argv)
    if not args.budget_s > 0:
        parser.error(f"--budget-s must be > 0 seconds; got {args.budget_s:g}")
    if args.sizes_gb is None:
        args.sizes_gb = [0.004, 0.008] if args.dry_run_on_cpu else ([1, 2] if args.quick else [1, 2, 4, 8])
    if any(not s > 0 for s in args.sizes_gb):
        parser.error(f"--sizes-gb must be > 0; got {args.sizes_gb}")
    if args.deps is not None and not args.deps.is_dir():
        parser.error(f"--deps must be a folder (the --prefix of the wheels' install); got {str(args.deps)!r}, "
                     "which is not one: run the install half of the command first")
    if args.crossover_sizes is None and args.dry_run_on_cpu:
        args.crossover_sizes = [1_000, 10_000]
    return args


def _header(args, found):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    command = " ".join(shlex.quote(a) for a in ["python", *[str(a) for a in sys.argv]])
    commit = _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "unknown (no git here)"
    lines = [f"- date: {now}", f"- command: `{command}`", f"- xlogreg commit: {commit}",
             f"- host: {platform.node()}, Python {platform.python_version()}"]
    if found is not None:
        lines.append(f"- GPUs seen: cupy: {found.get('cupy')}; torch: {found.get('torch')}; "
                     f"nvidia-smi: {found.get('nvidia_smi') or 'none'}")
    return lines


def main(argv=None):
    args = parse_args(argv)
    budget = Budget(args.budget_s)
    out = Output(args.outdir)
    if args.deps:
        use_deps(args.deps)
    report = Report()
    found = detect_gpus()
    report.header = _header(args, found)
    if args.dry_run_on_cpu:
        report.title += " (DRY RUN ON THE CPU: no GPU figure)"

    if not gpu_seen(found) and not args.dry_run_on_cpu:
        listed = found.get("nvidia_smi")
        if listed:
            report.status = "FAILED: nvidia-smi lists a GPU, but neither CuPy nor torch can use it"
            report.add("What was found", f"nvidia-smi:\n\n```\n{listed}\n```\n\n- cupy: {found['cupy']}\n"
                                         f"- torch: {found['torch']}")
            out.write("report.md", report.render())
            print(f"gpu_report: nvidia-smi lists a GPU but neither CuPy nor torch can use it "
                  f"(cupy: {found['cupy']}; torch: {found['torch']}); wrote {out.outdir / 'report.md'}", flush=True)
            return 1
        why = " (CUDA_VISIBLE_DEVICES hides every GPU)" if found["hidden"] else ""
        report.status = "no GPU found: nothing was measured"
        report.add("No GPU", f"No GPU was found on this machine{why}, so nothing was measured and no GPU figure "
                             f"exists in this report.\n\n- cupy: {found['cupy']}\n- torch: {found['torch']}\n"
                             f"- nvidia-smi: {'hidden' if found['hidden'] else 'not found or lists no GPU'}")
        out.write("report.md", report.render())
        print(f"gpu_report: no GPU found here{why}: nothing measured (cupy: {found['cupy']}; "
              f"torch: {found['torch']}); wrote {out.outdir / 'report.md'}", flush=True)
        return 0

    try:
        import xlogreg  # noqa: F401  (needs array-api-compat: the wheels' install)
        sys.path.insert(0, str(ROOT / "scripts"))  # compare_backends, when imported, not run as a script
    except ImportError as exc:
        report.status = "FAILED: xlogreg does not import"
        report.add("xlogreg does not import", f"`import xlogreg` raised `{type(exc).__name__}: {exc}`. On the GPU "
                   "host, install the gathered wheels first and pass their folder:\n\n```\n"
                   f"{INSTALL_COMMAND}\n```\n\nwith the wheels that scripts/gather_wheels.sh put in .whl/.")
        out.write("report.md", report.render())
        print(f"gpu_report: error: xlogreg does not import ({exc}); wrote {out.outdir / 'report.md'}", flush=True)
        return 1

    targets, problems = make_targets(found, args.dry_run_on_cpu)
    data_dir, searched = find_course_data()
    ctx = Context(args, budget, report, out, targets, problems, data_dir=data_dir)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(max(1, math.ceil(args.budget_s + HARD_STOP_GRACE_S - budget.elapsed())))
    print(f"gpu_report: {', '.join(t.label for t in targets) or 'no GPU backend'}; budget {args.budget_s:.0f} s; "
          f"writing {out.outdir}", flush=True)
    try:
        for key, title, function, estimate in SECTIONS:
            if args.only and key not in args.only:
                continue
            if not budget.allows(estimate):
                report.add(title, budget.skip_note("this section", estimate))
                continue
            print(f"gpu_report: {title} ({budget.elapsed():.0f} s in)", flush=True)
            start = time.monotonic()
            try:
                body = function(ctx)
            except BudgetExhausted:
                raise
            except Exception as exc:
                body = ctx.fail(f"the section raised {type(exc).__name__}: {exc}") + \
                    "\n\n```\n" + traceback.format_exc()[-3000:] + "```"
            report.add(title, f"{body}\n\n_{time.monotonic() - start:.1f} s_")
            out.write("report.md", report.render())
        report.status = "complete" if not ctx.failures else f"complete, with {len(ctx.failures)} FAIL lines"
    except BudgetExhausted:
        report.add("Stopped", ctx.fail(f"the run passed its time limit ({args.budget_s:.0f} s + "
                                       f"{HARD_STOP_GRACE_S:.0f} s) and was stopped; the sections above are "
                                       "what it finished"))
        report.status = "stopped at the time limit"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    report.add("Summary", "\n".join(f"- FAIL: {f}" for f in ctx.failures) or "- every check passed")
    out.write("report.md", report.render())
    print(f"gpu_report: {report.status} in {budget.elapsed():.0f} s; wrote {', '.join(sorted(out.names))} "
          f"to {out.outdir}", flush=True)
    return 1 if ctx.failures else 0


def _alarm(signum, frame):
    raise BudgetExhausted()


if __name__ == "__main__":
    sys.exit(main())
