"""Backend names -> (namespace, device), availability and conversions.

This is the only module that imports optional array libraries, and it imports
them only when a backend is asked for by name. Everything else asks the
arrays themselves (``array_api_compat.array_namespace``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
from dataclasses import dataclass, field

import array_api_compat
import numpy as np
from array_api_compat import device as get_device

from ._namespace import array_namespace

__all__ = [
    "BACKENDS",
    "BackendError",
    "BackendInfo",
    "available_backends",
    "backend_name",
    "floating_dtype",
    "get_namespace",
    "resolve",
    "to_numpy",
]

#: Every backend name xlogreg knows, in the order they are reported.
BACKENDS = ("numpy", "cupy", "torch", "jax", "dask", "array_api_strict")

_INSTALL_HINT = {
    "numpy": "pip install numpy",
    # The packages themselves: xlogreg is installed from its checkout, so "xlogreg[cupy]" would fail
    # outside it (in the checkout, pip install ".[cupy]" installs the same).
    "cupy": "pip install cupy-cuda12x (needs an NVIDIA GPU and driver)",
    "torch": "pip install torch (the CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu)",
    "jax": "pip install jax",
    "dask": 'pip install "dask[array]" distributed',
    "array_api_strict": "pip install array-api-strict",
}


class BackendError(RuntimeError):
    """A backend was asked for that cannot be used here (missing, or no device)."""


@dataclass(frozen=True)
class BackendInfo:
    """What is known about one backend on this machine.

    Attributes
    ----------
    name : str
        Backend name, one of :data:`BACKENDS`.
    available : bool
        True when the library imports and has at least one usable device.
    devices : list of str
        Printable names of the usable devices (empty when not available).
    reason : str
        Why it is not available ("" when it is).
    version : str
        The library's version, or "" when it does not import.
    """

    name: str
    available: bool
    devices: list = field(default_factory=list)
    reason: str = ""
    version: str = ""


def _import(name):
    module = {"array_api_strict": "array_api_strict", "dask": "dask.array"}.get(name, name)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(
            f"backend {name!r} is not installed ({exc}); install it with: {_INSTALL_HINT[name]}"
        ) from None
    except Exception as exc:  # a broken install (missing CUDA libraries, ...)
        raise BackendError(
            f"backend {name!r} failed to import: {type(exc).__name__}: {exc}; "
            f"reinstall it with: {_INSTALL_HINT[name]}"
        ) from None


def _devices(name, lib):
    """The usable devices of backend `name` (library `lib`), default first."""
    if name in ("numpy", "dask"):
        return ["cpu"]
    if name == "array_api_strict":
        return list(lib.__array_namespace_info__().devices())
    if name == "cupy":
        try:
            count = lib.cuda.runtime.getDeviceCount()
        except Exception as exc:  # no driver, no GPU, broken CUDA runtime
            raise BackendError(
                f"backend 'cupy' has no usable GPU: {type(exc).__name__}: {exc}. "
                "CuPy needs an NVIDIA GPU with a working driver; use backend='numpy' "
                "on machines without one"
            ) from None
        if count == 0:
            raise BackendError(
                "backend 'cupy' has no usable GPU (CUDA reports 0 devices); "
                "use backend='numpy' on machines without one"
            )
        return [lib.cuda.Device(i) for i in range(count)]
    if name == "torch":
        devices = [lib.device("cpu")]
        if lib.cuda.is_available():
            devices += [lib.device("cuda", i) for i in range(lib.cuda.device_count())]
        return devices
    if name == "jax":
        return list(lib.devices())
    raise AssertionError(name)  # pragma: no cover


def _check_name(backend):
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(
            f"backend must be one of {', '.join(BACKENDS)} (or None to keep the "
            f"namespace of X); got {backend!r}"
        )


def available_backends():
    """Report which backends can be used here and on which devices.

    Returns
    -------
    dict of str -> BackendInfo
        One entry per name in :data:`BACKENDS`.

    Examples
    --------
    >>> import xlogreg
    >>> xlogreg.available_backends()["numpy"].available
    True
    """
    report = {}
    for name in BACKENDS:
        try:
            lib = _import(name)
            version = getattr(lib, "__version__", "") or getattr(
                importlib.import_module(name.split(".")[0]), "__version__", ""
            )
            devices = [device_name(d) for d in _devices(name, lib)]
            report[name] = BackendInfo(name, True, devices, "", version)
        except BackendError as exc:
            report[name] = BackendInfo(name, False, [], str(exc), "")
    return report


def get_namespace(backend):
    """The Array API namespace of a backend name.

    Raises
    ------
    ValueError
        For an unknown name.
    BackendError
        When the backend is not installed or has no usable device.
    """
    _check_name(backend)
    lib = _import(backend)
    _devices(backend, lib)  # raises when there is no usable device (CuPy without GPU)
    if backend == "numpy":
        import array_api_compat.numpy as xp
    elif backend == "cupy":
        import array_api_compat.cupy as xp
    elif backend == "torch":
        import array_api_compat.torch as xp
    elif backend == "dask":
        import array_api_compat.dask.array as xp
    elif backend == "jax":
        import jax.numpy as xp
    else:  # array_api_strict is an Array API namespace itself
        xp = lib
    return xp


def backend_name(xp):
    """The backend name of namespace `xp` (the inverse of :func:`get_namespace`)."""
    if array_api_compat.is_numpy_namespace(xp):
        return "numpy"
    if array_api_compat.is_cupy_namespace(xp):
        return "cupy"
    if array_api_compat.is_torch_namespace(xp):
        return "torch"
    if array_api_compat.is_jax_namespace(xp):
        return "jax"
    if array_api_compat.is_dask_namespace(xp):
        return "dask"
    if array_api_compat.is_array_api_strict_namespace(xp):
        return "array_api_strict"
    return getattr(xp, "__name__", repr(xp))


def _match_device(backend, lib, device):
    """Turn a user's device (object, name, or index) into one of the backend's devices."""
    devices = _devices(backend, lib)
    if device is None:
        return devices[0] if backend != "jax" else None
    for d in devices:
        if d == device or str(d) == str(device) or device_name(d) == str(device):
            return d
    if isinstance(device, int) and 0 <= device < len(devices):
        return devices[device]
    if backend == "torch":
        try:
            wanted = lib.device(device)
        except (RuntimeError, TypeError):
            wanted = None
        if wanted is not None and wanted.type == "cuda" and wanted.index is None:
            wanted = lib.device("cuda", 0)
        if wanted in devices:
            return wanted
    if backend == "cupy" and isinstance(device, str) and device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if index < len(devices):
            return devices[index]
    if backend == "torch" and wanted is not None and wanted.type == "cuda" and not lib.cuda.is_available():
        build = "a CPU-only build" if lib.version.cuda is None else f"built for CUDA {lib.version.cuda}"
        raise BackendError(
            f"device {device!r}: no CUDA GPU is visible to torch (torch {lib.__version__}, {build}); use "
            "device='cpu', or a CUDA build of torch on a machine with an NVIDIA GPU and its driver"
        )
    raise ValueError(
        f"device {device!r} is not a device of backend {backend!r}; "
        f"its devices here are {[device_name(d) for d in devices]}"
    )


def device_name(device):
    """A short printable name for a device: ``cpu``, ``cuda:0``, ``device1``, ..."""
    text = str(device)
    if text.startswith("array_api_strict.Device("):
        return text[len("array_api_strict.Device('"):-2]
    if text.startswith("<CUDA Device "):
        return "cuda:" + text[len("<CUDA Device "):-1]
    if type(device).__name__ == "CpuDevice" or text.startswith("TFRT_CPU"):
        return f"cpu:{getattr(device, 'id', 0)}"
    if type(device).__name__ in ("CudaDevice", "GpuDevice"):
        return f"cuda:{getattr(device, 'id', 0)}"
    return text


def floating_dtype(xp, device, dtype=None, *, like=None):
    """Resolve the floating dtype to compute in.

    Parameters
    ----------
    xp : namespace
    device : device object of `xp`
    dtype : None, str or dtype
        ``"float32"``, ``"float64"``, a dtype of `xp`, or None: keep the float
        dtype of `like` (float16, bfloat16 and other narrower floats: float32),
        or use the device's default floating dtype.
    like : array, optional
        The data (of any backend) whose float dtype is kept when `dtype` is None.

    Raises
    ------
    ValueError
        For a dtype that is not a real floating dtype, or that the device
        does not support (float64 on array_api_strict's ``no_float64`` device,
        on JAX without x64, ...): never a silent downgrade.
    """
    info = xp.__array_namespace_info__()
    supported = info.dtypes(device=device, kind="real floating")
    where = f"backend {backend_name(xp)!r} on " + (
        f"device {device_name(device)}" if device is not None else "its default device"
    )
    if dtype is None:
        dtype = float_dtype_name(like) if like is not None else None
        if dtype is None:
            return info.default_dtypes(device=device)["real floating"]
        if dtype not in ("float32", "float64"):
            # float16, bfloat16, ...: too few digits to sum gradients over many examples;
            # such data is computed in float32 (documented in train), never refused.
            dtype = "float32"
    if isinstance(dtype, str):
        if dtype not in ("float32", "float64"):
            raise ValueError(
                f"dtype must be 'float32', 'float64' or None; got {dtype!r}. Half precision is too "
                "coarse for gradient descent: pass dtype='float32' (or None, which trains float16 "
                "data in float32)"
            )
        if dtype not in supported:
            if backend_name(xp) == "jax":
                hint = (
                    "; pass dtype='float32' (for example xlogreg.train(X, Y, backend='jax', "
                    "dtype='float32')), or enable float64 with "
                    "jax.config.update('jax_enable_x64', True) before creating arrays"
                )
            else:
                hint = "; pass dtype='float32' instead (or X in float32) to compute in float32"
            raise ValueError(
                f"dtype {dtype!r} is not supported by {where} "
                f"(it supports {sorted(supported)}){hint}"
            )
        return supported[dtype]
    if dtype in supported.values():
        return dtype
    raise ValueError(
        f"dtype must be a real floating dtype supported by {where} "
        f"({sorted(supported)}); got {dtype!r}"
    )


def float_dtype_name(x):
    """``"float32"`` or ``"float64"`` for a real floating array of any backend, else None."""
    xp = array_namespace(x)
    if not xp.isdtype(x.dtype, "real floating"):
        return None
    return f"float{xp.finfo(x.dtype).bits}"


def resolve(backend=None, device=None, *, like=None):
    """Pick the namespace and device to compute on.

    Parameters
    ----------
    backend : str or None
        A name from :data:`BACKENDS`, or None to keep the namespace of `like`
        (NumPy when `like` is a list or scalar).
    device : optional
        A device of that backend (object, its printed name, or an index);
        None keeps the device of `like`, or picks the backend's default.
    like : array, optional

    Returns
    -------
    xp, device
    """
    if backend is None:
        if like is not None and _is_array(like):
            xp = array_namespace(like)
            dev = get_device(like)
            if device is not None and str(device) != str(dev):
                name = backend_name(xp)
                lib = _import(name) if name in BACKENDS else None
                dev = _match_device(name, lib, device) if lib is not None else device
            return xp, dev
        backend = "numpy"
    xp = get_namespace(backend)
    lib = _import(backend)
    return xp, _match_device(backend, lib, device)


def _is_array(x):
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, (int, float, bool))


def asarray(x, xp, device, dtype=None):
    """Move `x` (host data or an array of any backend) to `xp` on `device`.

    Used only at public entry points where the user asked for a backend: the
    one deliberate copy before training. Arrays already in `xp` on `device`
    are returned as they are (no copy).
    """
    if _is_array(x) and array_namespace(x) is xp and str(get_device(x)) == str(device):
        return x if dtype is None or x.dtype == dtype else xp.astype(x, dtype)
    if _is_array(x) and not array_api_compat.is_numpy_array(x):
        x = to_numpy(x)
    host = np.asarray(x)
    if backend_name(xp) == "dask":
        out = _dask_from_host(host, _dask_chunks(host.shape))
        return out if dtype is None or out.dtype == dtype else xp.astype(out, dtype)
    if backend_name(xp) == "jax" and device is None:
        return xp.asarray(host, dtype=dtype)
    return xp.asarray(host, dtype=dtype, device=device)


def _dask_chunks(shape, target_bytes=64 * 2**20, itemsize=8):
    """Chunk 2-D data along its last axis (the examples), whole along the first."""
    if len(shape) != 2:
        return "auto"
    rows, cols = shape
    per_col = max(1, rows * itemsize)
    width = max(1, min(cols, target_bytes // per_col))
    return (rows, width)


def to_numpy(x):
    """Copy any backend's array to a NumPy array on the host (the one sync point)."""
    if array_api_compat.is_numpy_array(x):
        return np.asarray(x)
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_dask_array(x):
        return np.asarray(x.compute())
    if array_api_compat.is_jax_array(x):
        return np.asarray(x)
    if array_api_compat.is_array_api_obj(x):
        return np.from_dlpack(x)
    return np.asarray(x)


def synchronize(x):
    """Block until the work producing `x` has finished (for honest timings)."""
    if array_api_compat.is_cupy_array(x):
        import cupy

        cupy.cuda.get_current_stream().synchronize()
    elif array_api_compat.is_torch_array(x) and x.device.type == "cuda":
        import torch

        torch.cuda.synchronize(x.device)
    elif array_api_compat.is_jax_array(x):
        x.block_until_ready()
    elif array_api_compat.is_dask_array(x):
        x.compute()


def is_masked_array(x):
    """True for a NumPy masked array (never imports anything to ask)."""
    ma = sys.modules.get("numpy.ma")
    return ma is not None and isinstance(x, ma.MaskedArray)


def from_host(x):
    """NumPy array for host data (lists, tuples, Python scalars); refuses non-numbers."""
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind in "USVM m":
        raise TypeError(f"expected real numbers, got dtype {arr.dtype}")
    return arr


# --- Dask: where the work runs ------------------------------------------------------------------

#: Environment variable with the address of a dask.distributed scheduler (as ``--scheduler``).
SCHEDULER_ENV = "XLOGREG_DASK_SCHEDULER"


@contextlib.contextmanager
def dask_scheduler(address=None, *, timeout=10.0):
    """Run the Dask work inside the block on a ``dask.distributed`` cluster, or on local threads.

    Parameters
    ----------
    address : str or None
        The scheduler's address (``"tcp://host:8786"``). None reads
        :data:`SCHEDULER_ENV`; when that is unset or empty too, Dask's local
        threaded scheduler is used (no cluster, no ``distributed`` needed).
    timeout : float
        Seconds to wait for the scheduler to answer.

    Yields
    ------
    client : distributed.Client or None
        The connected client (closed at the end of the block), or None for
        the threaded scheduler.

    Raises
    ------
    BackendError
        When Dask (or, with an address, ``distributed``) is not installed, or
        the scheduler cannot be reached.

    Examples
    --------
    >>> with dask_scheduler("tcp://10.0.0.5:8786") as client:  # doctest: +SKIP
    ...     model = xlogreg.train(X, Y, backend="dask")
    """
    _import("dask")
    import dask

    if address is None:
        address = os.environ.get(SCHEDULER_ENV, "").strip() or None
    if address is None:
        with dask.config.set(scheduler="threads"):
            yield None
        return
    try:
        import distributed
    except ImportError as exc:
        raise BackendError(
            f"a Dask scheduler address was given ({address!r}) but dask.distributed is not installed "
            f"({exc}); install it with: {_INSTALL_HINT['dask']}"
        ) from None
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=True)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise BackendError(
            f"cannot connect to the Dask scheduler at {address!r} (from --scheduler or {SCHEDULER_ENV}) "
            f"within {timeout:g} s: {type(exc).__name__}: {exc}"
        ) from None
    try:
        yield client
    finally:
        client.close()


def dask_client():
    """The ``dask.distributed`` client that Dask computes on now, or None (local schedulers)."""
    if "distributed" not in sys.modules:  # never import it just to ask
        return None
    import distributed
    from dask.base import get_scheduler

    client = getattr(get_scheduler(), "__self__", None)
    return client if isinstance(client, distributed.Client) else None


def _dask_from_host(host, chunks):
    """A dask array of the NumPy array `host`, chunked as asked.

    With a ``dask.distributed`` client, the chunks are sent to the workers
    once (scattered) so the graph of each iteration refers to them instead of
    carrying the whole array again. Scattered data has no recipe to rebuild
    it: if a worker holding chunks dies, the run fails (dask's
    "lost dependencies"); data read from a file (:func:`xlogreg.io.open_lazy`)
    is re-read instead.
    """
    da = _import("dask")
    out = da.from_array(host, chunks=chunks)
    client = dask_client()
    if client is None or host.size == 0:
        return out
    slices = da.core.slices_from_chunks(out.chunks)
    futures = client.scatter([np.ascontiguousarray(host[s]) for s in slices])
    blocks = [da.from_delayed(f, shape=host[s].shape, dtype=host.dtype) for f, s in zip(futures, slices)]
    grid = np.empty(out.numblocks, dtype=object)
    for index, block in zip(np.ndindex(*out.numblocks), blocks):
        grid[index] = block
    return da.block(grid.tolist())


def explain_dask_failure(exc):
    """A clearer error for a ``dask.distributed`` failure during training, or None to keep `exc`.

    A worker that dies holding the only copy of data sent from memory
    (scattered chunks of X) leaves Dask with nothing to rebuild it from; Dask
    cancels the computation ("cancelled for reason: lost dependencies", or
    "already forgotten"). Say what most likely happened and what survives it.
    """
    if "distributed" not in sys.modules:
        return None
    import distributed

    if isinstance(exc, distributed.client.FutureCancelledError):
        return BackendError(
            f"the Dask cluster cancelled the training computation ({exc}). That happens when a worker "
            "dies or restarts holding the only copy of data sent from memory, which cannot be rebuilt. "
            "Train from an HDF5 file on a path every worker can read (xlogreg.io.open_lazy, or "
            "xlogreg train --backend dask --train FILE): lost chunks are then read again"
        )
    return None


def dask_task_threads():
    """Context for computing Dask work: BLAS on one thread under the local threaded scheduler.

    Dask's threaded scheduler runs one task per core at once, and each task's
    matrix products would start a BLAS thread per core too: twice as many
    threads as cores, which made an iteration half again as slow (measured on
    2 cores, OpenBLAS). ``dask.distributed`` workers already start with one
    BLAS thread each; the single-threaded scheduler keeps them all. Needs
    ``threadpoolctl`` (installed with scikit-learn); without it, nothing changes.
    """
    import dask

    scheduler = dask.config.get("scheduler", None)
    if dask_client() is not None or scheduler in ("sync", "synchronous", "single-threaded"):
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def floating_point_errors_ignored(xp):
    """A context in which NumPy-based backends do not warn on overflow / invalid values.

    For loops that check finiteness themselves (and raise a clear error):
    NumPy's errstate is thread-local, so this affects nothing else. Other
    backends do not warn, and get a no-op context.
    """
    if backend_name(xp) in ("numpy", "array_api_strict", "dask"):
        return np.errstate(over="ignore", invalid="ignore")
    return contextlib.nullcontext()


def compiled(function, xp):
    """`function` compiled for namespace `xp` where that pays on every call: ``jax.jit`` on JAX.

    An iteration of the loops in :mod:`xlogreg.solvers` is a handful of array
    operations. Eager JAX dispatches each on its own, at tens of microseconds
    apiece; under ``jax.jit`` they run as one XLA program (fused where XLA
    can), traced once per shape and dtype and cached for the process. Every
    other backend gets `function` back: NumPy, CuPy, PyTorch and
    array-api-strict run it eagerly, Dask builds its graph. `function` takes
    and returns arrays only, and finds its namespace from them.
    """
    return _jax_jit(function) if backend_name(xp) == "jax" else function


@functools.cache
def _jax_jit(function):
    import jax

    return jax.jit(function)
