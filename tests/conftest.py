"""Backend x device x dtype fixtures, and the shared course data.

* ``case`` yields a :class:`Case` for every (backend, device, dtype) this
  machine supports: numpy; array_api_strict on its default device, on
  ``device1`` (which refuses to mix with the default device) and on
  ``no_float64``; torch cpu; jax cpu (x64 enabled); dask; cupy and torch on
  each GPU. Pairs a device does not support (float64 on ``no_float64``) are
  not generated: the namespace is asked, nothing is hard-coded.
* A backend that is not installed, or a GPU backend with no GPU, is skipped
  with its reason, unless its name is in ``XLOGREG_REQUIRE_BACKENDS``
  (comma separated; CI sets it), where the skip becomes a failure. The name
  ``numba`` there does the same for the ``numba_kernel`` fixture (the
  optional compiled primal pass), and ``torch-cuda`` for torch without a
  CUDA GPU (``torch`` alone requires only torch's CPU cases).
* Every case on a GPU (cupy; torch and jax on a CUDA device), and the
  placeholder of a GPU backend that cannot run here, carries the ``gpu``
  marker: ``pytest -m gpu`` runs the GPU cases alone, and with
  ``XLOGREG_REQUIRE_BACKENDS=cupy,torch-cuda`` a missing GPU fails
  (``scripts/gpu_report.py`` runs them so).
* ``import_backend(name)`` is ``pytest.importorskip`` for the tests that use a backend's own
  library (``torch.autograd``, ``jax.grad``): it skips with the reason, or fails when the
  backend is named in ``XLOGREG_REQUIRE_BACKENDS``.
* The quick default run takes a representative case of each backend (:data:`QUICK_CASES`: both
  NumPy dtypes, array-api-strict on ``device1`` and on ``no_float64``, Dask, torch on the CPU in
  float32, JAX in float64, and every GPU case); the other cases carry the ``slow`` marker and
  run with ``pytest --full`` (CI), so every backend x device x dtype stays tested there.
* ``course_data`` reads the course files from ``XLOGREG_DATA_DIR`` or
  ``../shared/datasets``; absent, it skips, or fails when
  ``XLOGREG_REQUIRE_DATA=1``.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass

import numpy as np
import pytest

from xlogreg import _backends

try:  # JAX computes in float32 unless x64 is on; the float64 cases need it.
    import jax

    jax.config.update("jax_enable_x64", True)
except ImportError:
    pass

ROOT = pathlib.Path(__file__).resolve().parents[1]
REQUIRED = {b.strip() for b in os.environ.get("XLOGREG_REQUIRE_BACKENDS", "").split(",") if b.strip()}
REQUIRE_DATA = os.environ.get("XLOGREG_REQUIRE_DATA", "") not in ("", "0")
DATA_DIR = pathlib.Path(os.environ.get("XLOGREG_DATA_DIR", ROOT.parent / "shared" / "datasets"))

unknown = REQUIRED - set(_backends.BACKENDS) - {"numba", "torch-cuda"}
if unknown:
    raise pytest.UsageError(f"XLOGREG_REQUIRE_BACKENDS names unknown backends {sorted(unknown)}")


@dataclass(frozen=True)
class Case:
    """One backend, device and floating dtype to run a test on."""

    backend: str
    xp: object
    device: object
    dtype: object
    dtype_name: str

    def asarray(self, x, dtype="float"):
        """Host data -> this case's namespace and device; floats get the case's dtype."""
        x = np.asarray(x)
        if dtype == "float":
            dtype = self.dtype if x.dtype.kind in "fiub" else None
        return _backends.asarray(x, self.xp, self.device, dtype)

    def to_numpy(self, x):
        return _backends.to_numpy(x)

    @property
    def rtol(self):
        """Tolerance tied to the dtype: float32 keeps ~7 digits, float64 ~16."""
        return 1e-5 if self.dtype_name == "float32" else 1e-12

    def __str__(self):
        return f"{self.backend}-{self.device}-{self.dtype_name}"


#: The cases of the quick default run; the others are marked slow (``pytest --full`` runs them).
#: Chosen to keep each kind of trouble in the quick run: float32 and float64, a non-default
#: device that refuses to mix (array-api-strict's device1), a device without float64, a lazy
#: backend, torch's and JAX's own promotion rules.
QUICK_CASES = {"numpy-cpu-float64", "numpy-cpu-float32", "array_api_strict-device1-float64",
               "array_api_strict-no_float64-float32", "dask-cpu-float64", "torch-cpu-float32",
               "jax-cpu:0-float64"}


#: Tests left out of the quick run as a whole (every parameter), each over ~5 s (up to 72 s) in a
#: full run on 2 cores under load (the other agents' runs beside it), the long subprocess and
#: cluster runs, and the wide numerical sweeps: ``pytest --full`` (CI) runs them.
SLOW_TESTS = {
    "test_estimator.py": {"test_matches_sklearn_optimum", "test_sklearn_estimator_checks_with_array_api"},
    "test_newton.py": {"test_more_features_than_examples_iterate_on_the_gram_matrix",
                       "test_integer_sample_weights_and_digits",
                       "test_dask_newton_iterates_are_data_not_a_growing_recipe"},
    "test_fused.py": {"test_primal_pass_matches_numpy", "test_a_new_process_loads_the_kernels_from_numbas_cache",
                      "test_fused_primal_loop_on_course_data", "test_half_gradient_matches_numpy",
                      "test_fused_dual_loop_matches_the_array_api_loop_on_course_data",
                      "test_train_uses_the_fused_pass_where_chosen", "test_primal_pass_logits_match_numpy",
                      "test_loaded_says_whether_this_process_has_loaded_the_kernels", "test_dual_steps_match_numpy",
                      "test_a_non_finite_entry_anywhere_makes_the_pass_gradient_non_finite"},
    "test_dask.py": {"test_cli_trains_out_of_core_on_a_file_three_times_its_memory_limit",
                     "test_cli_trains_on_a_cluster_like_numpy", "test_local_cluster_gives_numpys_model",
                     "test_killed_worker_is_recovered_with_the_same_weights"},
    "test_solvers_agd.py": {"test_reaches_a_stationary_point"},
    "test_mutation_rerun.py": {"test_each_mutant_is_run_with_its_name_and_judged"},
}


@pytest.hookimpl(tryfirst=True)  # before the root conftest.py leaves the slow tests out
def pytest_collection_modifyitems(config, items):
    for item in items:
        if getattr(item, "originalname", item.name) in SLOW_TESTS.get(item.path.name, ()):
            item.add_marker(pytest.mark.slow)


def _device_id(backend, device):
    text = str(device)
    for old, new in (("array_api_strict.Device('", ""), ("')", ""), ("<CUDA Device ", "cuda:"), (">", ""),
                     ("CpuDevice(id=0)", "cpu"), ("TFRT_CPU_0", "cpu")):
        text = text.replace(old, new)
    return text


def _cases():
    """pytest params of (backend, device, dtype) for every backend xlogreg knows."""
    params = []
    for name in _backends.BACKENDS:
        try:
            xp = _backends.get_namespace(name)
            lib = _backends._import(name)
            devices = _backends._devices(name, lib)
        except _backends.BackendError as exc:
            params.append(_missing(name, str(exc)))
            continue
        if name == "torch" and not any(d.type == "cuda" for d in devices):
            params.append(_missing("torch-cuda", "no CUDA GPU visible to torch", gpu=True))
        for dev in devices:
            if name == "array_api_strict" and str(dev).endswith("no_x64')"):
                continue  # same float dtypes as no_float64; int32 indexing only
            supported = xp.__array_namespace_info__().dtypes(device=dev, kind="real floating")
            for dtype_name in ("float64", "float32"):
                if dtype_name not in supported:
                    continue
                case = Case(name, xp, dev, supported[dtype_name], dtype_name)
                case_id = f"{name}-{_device_id(name, dev)}-{dtype_name}"
                gpu = _gpu_mark(name, dev)
                marks = [gpu] if gpu else [] if case_id in QUICK_CASES else [pytest.mark.slow]
                params.append(pytest.param(case, id=case_id, marks=marks))
    return params


@dataclass(frozen=True)
class Missing:
    """A backend that cannot run here; the fixture skips, or fails when it is required."""

    name: str
    reason: str
    required: bool

    def resolve(self):
        if self.required:
            pytest.fail(f"{self.name} is required by XLOGREG_REQUIRE_BACKENDS but not available: {self.reason}")
        pytest.skip(f"{self.name} not available: {self.reason}")


def _missing(name, reason, gpu=False):
    required = name in REQUIRED or (name.split("-")[0] in REQUIRED and not gpu)
    return pytest.param(Missing(name, reason, required), id=name, marks=_gpu_mark(name, None, gpu))


def _gpu_mark(name, device, gpu=False):
    """``pytest.mark.gpu`` for a case on a GPU (CuPy's devices, torch / JAX off the CPU), else none."""
    on_gpu = gpu or name == "cupy" or getattr(device, "type", None) == "cuda" or (
        name == "jax" and getattr(device, "platform", "cpu") != "cpu")
    return pytest.mark.gpu if on_gpu else ()


CASES = _cases()


def _resolve(param):
    if isinstance(param, Missing):
        param.resolve()
    return param


@pytest.fixture(params=CASES)
def case(request):
    """A :class:`Case` for each available backend x device x dtype."""
    return _resolve(request.param)


@pytest.fixture(params=[c for c in CASES if getattr(c.values[0], "dtype_name", "float64") == "float64"])
def case64(request):
    """Like ``case``, float64 only (devices without float64 are left out)."""
    return _resolve(request.param)


def import_backend(name):
    """The library of backend `name` (``"torch"``, ``"jax"``, ...); skips, or fails where it is required."""
    try:
        return _backends._import(name)
    except _backends.BackendError as exc:
        Missing(name, str(exc), name in REQUIRED).resolve()


@pytest.fixture
def numba_kernel():
    """The compiled one-pass primal iteration (xlogreg.data.compiled); skips, or fails when "numba" is required."""
    from xlogreg.data import compiled as data_compiled

    if not data_compiled.available():
        Missing("numba", "numba is not installed (pip install numba)", "numba" in REQUIRED).resolve()
    return data_compiled


@pytest.fixture(scope="session")
def course_paths():
    """Paths of the course's train and test HDF5 files."""
    train, test = DATA_DIR / "train_catvnoncat.h5", DATA_DIR / "test_catvnoncat.h5"
    missing = [str(p) for p in (train, test) if not p.is_file()]
    if missing:
        message = f"course data not found: {missing} (set XLOGREG_DATA_DIR)"
        if REQUIRE_DATA:
            pytest.fail(message + "; XLOGREG_REQUIRE_DATA=1 makes this a failure")
        pytest.skip(message)
    return train, test


@pytest.fixture(scope="session")
def course_data(course_paths):
    """The course data as the course prepares it: X (12288, m) / 255 in float64, Y (1, m)."""
    from xlogreg import flatten_images, load_dataset

    train_x, train_y, test_x, test_y, classes = load_dataset(*course_paths)
    return flatten_images(train_x), train_y, flatten_images(test_x), test_y, classes


def course_reference(X, Y, num_iterations=2000, learning_rate=0.005):
    """A plain NumPy float64 transcription of the course loop (the independent reference)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    m = X.shape[1]
    w, b, costs = np.zeros((X.shape[0], 1)), 0.0, []
    for i in range(num_iterations):
        A = 1 / (1 + np.exp(-(w.T @ X + b)))
        cost = -1 / m * np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A))
        dw = 1 / m * X @ (A - Y).T
        db = 1 / m * np.sum(A - Y)
        w = w - learning_rate * dw
        b = b - learning_rate * db
        if i % 100 == 0:
            costs.append(float(cost))
    return w, b, costs
