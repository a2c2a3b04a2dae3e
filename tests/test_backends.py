"""The backend selector: names, devices, availability, conversions."""

import numpy as np
import pytest
from array_api_compat import array_namespace, device as get_device

import xlogreg
from conftest import REQUIRED, Missing, import_backend
from xlogreg import _backends


def test_available_backends_reports_every_name():
    report = xlogreg.available_backends()
    assert list(report) == list(xlogreg.BACKENDS)
    assert report["numpy"].available and report["numpy"].devices == ["cpu"]
    for info in report.values():
        assert info.available == (info.reason == "")
        assert bool(info.devices) == info.available
        if not info.available:
            assert info.name in info.reason  # the reason names the backend


def test_array_api_strict_devices_are_listed():
    import_backend("array_api_strict")
    devices = xlogreg.available_backends()["array_api_strict"].devices
    assert {"CPU_DEVICE", "device1", "no_float64"} <= set(devices)


def _native_array(backend, device):
    """An array made by the backend library itself, without xlogreg."""
    if backend == "numpy":
        return np.zeros(2)
    if backend == "torch":
        import torch

        return torch.zeros(2, device=device)
    if backend == "jax":
        import jax

        return jax.device_put(jax.numpy.zeros(2), device)
    if backend == "dask":
        import dask.array

        return dask.array.zeros(2)
    if backend == "cupy":
        import cupy

        with cupy.cuda.Device(device.id):
            return cupy.zeros(2)
    import array_api_strict

    return array_api_strict.zeros(2, device=device)


def test_namespace_round_trip(case):
    """get_namespace(name) is the namespace array_api_compat finds on that library's own arrays."""
    native = _native_array(case.backend, case.device)
    assert _backends.get_namespace(case.backend) is array_namespace(native)
    assert _backends.backend_name(array_namespace(native)) == case.backend


def test_resolve_keeps_the_namespace_and_device_of_X(case):
    x = case.asarray([[1.0, 2.0]])
    xp, dev = _backends.resolve(None, None, like=x)
    assert xp is case.xp and str(dev) == str(case.device)


def test_resolve_by_device_name(case):
    xp, dev = _backends.resolve(case.backend, _backends.device_name(case.device))
    assert xp is case.xp and str(dev) == str(case.device)


def test_asarray_and_to_numpy_round_trip(case):
    data = np.array([[1.5, -2.0], [0.25, 4.0]])
    x = _backends.asarray(data, case.xp, case.device, case.dtype)
    assert array_namespace(x) is case.xp and str(get_device(x)) == str(case.device) and x.dtype == case.dtype
    back = _backends.to_numpy(x)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, data)


def test_synchronize_waits_for_the_work_and_changes_nothing(case):
    x = case.asarray([[1.5, -2.0], [0.25, 4.0]])
    y = x * 2
    ran = []
    if case.backend == "dask":  # the one backend whose work on the CPU is deferred: it must run now
        from dask.callbacks import Callback

        with Callback(finish=lambda dsk, state, errored: ran.append(errored)):
            assert _backends.synchronize(y) is None
        assert ran == [False]
    elif case.backend == "jax":
        assert _backends.synchronize(y) is None
        assert y.is_ready()
    else:
        assert _backends.synchronize(y) is None
    np.testing.assert_array_equal(case.to_numpy(y), [[3.0, -4.0], [0.5, 8.0]])


def test_lists_and_scalars_resolve_to_numpy():
    xp, dev = _backends.resolve(None, None, like=[1.0, 2.0])
    assert _backends.backend_name(xp) == "numpy" and dev == "cpu"


def test_device_index_and_unknown_device():
    xp, dev = _backends.resolve("numpy", 0)
    assert dev == "cpu"
    with pytest.raises(ValueError,
                       match=r"device 'tpu' is not a device of backend 'numpy'; its devices here are \['cpu'\]"):
        _backends.resolve("numpy", "tpu")


def test_cupy_without_gpu_is_a_clear_error():
    info = xlogreg.available_backends()["cupy"]
    if info.available:
        pytest.skip("a GPU is visible: CuPy is usable here")
    with pytest.raises(xlogreg.BackendError, match="cupy") as err:
        _backends.get_namespace("cupy")
    assert "install" in str(err.value) or "GPU" in str(err.value)


@pytest.mark.gpu
def test_cupy_on_gpu_matches_numpy():
    """Runs wherever CuPy has a GPU; elsewhere it says why it cannot."""
    info = xlogreg.available_backends()["cupy"]
    if not info.available:
        Missing("cupy", f"no CuPy GPU here: {info.reason}", "cupy" in REQUIRED).resolve()
    X = np.random.default_rng(0).normal(size=(50, 30))
    Y = (X[0] > 0).astype(float)[None, :]
    gpu = xlogreg.train(X, Y, backend="cupy", num_iterations=300, learning_rate=0.1)
    cpu = xlogreg.train(X, Y, num_iterations=300, learning_rate=0.1)
    assert gpu.backend == "cupy" and gpu.device == "cuda:0"
    np.testing.assert_allclose(gpu.costs, cpu.costs, rtol=1e-9)
    np.testing.assert_allclose(_backends.to_numpy(gpu.w), cpu.w, rtol=1e-9, atol=1e-12)
