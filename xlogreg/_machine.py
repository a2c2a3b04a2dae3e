"""What the tuning reads from the machine: cache sizes, usable cores, BLAS threads, memory.

A few choices of :mod:`xlogreg.solvers`, :mod:`xlogreg.data.blocks` and :mod:`xlogreg.data.compiled` depend on the
machine: whether X stays in cache between two products, how large a block or a
tile may be, whether BLAS runs on one thread. They were measured on one machine
(the *recorded machine* of benchmarks/README.md: an AMD EPYC Zen 3 VM, 2 vCPUs,
32 KiB of L1d and 512 KiB of L2 per core, 32 MiB of L3, 23.5 GiB). What travels
to another machine is the ratio of each measured value to the cache or the
memory it depends on; this module reads those at run time, once per process
(:func:`functools.cache`), and the tuning scales them:

=========================================  ===================================  ===================
tuning value                               rule (the ratio kept)                 recorded machine
=========================================  ===================================  ===================
``data.compiled.FUSED_MIN_BYTES``         the L3 cache                          32 MiB
``data.blocks.BLOCK_ELEMENTS``            as many elements as L2 has bytes,     2**19
                                           at most L3 / 64
``data.blocks.BLOCK_MIN_BYTES``           twice the L3 cache                    64 MiB
``solvers._loop.GRAM_LIMIT_BYTES``        2 GiB, at most memory / 8             2 GiB
``data.blocks._blas_threads()``           :func:`blas_threads`                  2 (1 with the
                                                                                 usual variables)
``data.compiled.TILE_BYTES``              half the L1d cache                    16 KiB
``data.compiled.TILE_MAX_EXAMPLE_BYTES``  an eighth of the L1d cache            4 KiB
=========================================  ===================================  ===================

The rest are measured constants, kept as they are because nothing that could
be read without timing predicts them: ``BLOCK_MIN_EXAMPLES`` (Python's cost per
block), ``FUSED_LOAD_S`` (importing numba), ``FUSED_READ_BYTES_PER_S`` (one
core's memory bandwidth), ``FUSED_DUAL_SAVES_S`` (Python's cost per NumPy call)
and ``data.compiled.DUAL_PARALLEL_MIN`` (waking numba's threads). Each says where its
value comes from where it is defined.

Where the readings come from:

* caches: ``os.sysconf("SC_LEVEL1_DCACHE_SIZE")`` (and ``SC_LEVEL2_CACHE_SIZE``,
  ``SC_LEVEL3_CACHE_SIZE``) where Python exposes them; else Linux's
  ``/sys/devices/system/cpu/cpu0/cache/index*/{level,type,size,shared_cpu_list}``;
  else macOS's ``sysctl hw.l1dcachesize hw.l2cachesize hw.l3cachesize``; a
  level none of these gives takes the recorded machine's value
  (:data:`RECORDED`). Inside a virtual machine the caches are the host's as
  the hypervisor reports them, shared with its other guests.
* usable cores: ``os.process_cpu_count()`` (Python 3.13), else
  ``os.sched_getaffinity``, else ``os.cpu_count()``; at most the cgroup's CPU
  quota (``cpu.max``, or ``cpu.cfs_quota_us / cpu.cfs_period_us``) rounded up.
* BLAS threads: NumPy's BLAS as threadpoolctl sees it now, if threadpoolctl is
  installed (``pip install "xlogreg[fast]"``); else ``OPENBLAS_NUM_THREADS``,
  ``MKL_NUM_THREADS``, ``OMP_NUM_THREADS`` (the first that is a positive
  integer); else the usable cores.
* memory: ``os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")``, at most the
  cgroup's limit (``memory.max`` or ``memory.limit_in_bytes``).

Any reading can be set with the environment variable ``XLOGREG_MACHINE``, a
comma-separated list of ``name=value`` with the names ``l1d``, ``l2``, ``l3``,
``memory`` (bytes, with an optional K, M or G suffix: powers of 1024),
``cores`` and ``blas_threads``. For example the recorded machine's decisions,
on any machine::

    XLOGREG_MACHINE=l1d=32K,l2=512K,l3=32M,memory=23.5G

:func:`describe` returns every reading and where it came from (the benchmarks
print it).

Examples
--------
>>> from xlogreg import _machine
>>> _machine.parse_size("32768K") == 32 * 2**20
True
>>> sorted(_machine.describe()["caches"])
['l1d', 'l2', 'l3']
"""

from __future__ import annotations

import functools
import math
import os
import pathlib
import re
import subprocess
import sys
import warnings
from typing import NamedTuple

__all__ = ["RECORDED", "ENV", "Cache", "parse_size", "parse_cpu_list", "caches", "cache_bytes", "usable_cores",
           "blas_threads", "memory_bytes", "cpu_name", "describe", "summary"]

#: The recorded machine of benchmarks/README.md ("Machine"), where every tuning
#: value was measured: an AMD EPYC (Zen 3) VM, 2 vCPUs, 23.5 GiB. A reading that
#: cannot be made here takes its value from this.
RECORDED = {
    "l1d": 32 * 2**10,
    "l2": 512 * 2**10,
    "l3": 32 * 2**20,
    "cores": 2,
    "memory": int(23.5 * 2**30),
}

#: The environment variable that sets readings by hand (see the module's docstring).
ENV = "XLOGREG_MACHINE"

_SIZE_NAMES = ("l1d", "l2", "l3", "memory")
_COUNT_NAMES = ("cores", "blas_threads")
_LEVELS = {"l1d": 1, "l2": 2, "l3": 3}
_LABELS = {"l1d": "L1d", "l2": "L2", "l3": "L3"}
_SYSCONF = {"l1d": "SC_LEVEL1_DCACHE_SIZE", "l2": "SC_LEVEL2_CACHE_SIZE", "l3": "SC_LEVEL3_CACHE_SIZE"}
_SYSCTL = {"l1d": "hw.l1dcachesize", "l2": "hw.l2cachesize", "l3": "hw.l3cachesize"}
_SYSFS_CACHE = "/sys/devices/system/cpu/cpu0/cache"
_BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


class Cache(NamedTuple):
    """One cache level as read: its size, the CPUs sharing it, and where that came from."""

    bytes: int
    shared_cpu_list: str | None  # as /sys writes it ("0-1"); None where it was not read
    source: str  # "sysconf", "sysfs", "sysctl" or "recorded machine"


# --- parsing -----------------------------------------------------------------------------------------

def parse_size(text):
    """Bytes in a size as /sys or a person writes it ("48K", "32768K", "1M", "1.5G", "512"), else None.

    Suffixes K, M and G (optionally followed by ``iB`` or ``B``, any case) are
    powers of 1024, as in /sys/devices/system/cpu/*/cache/*/size.

    >>> parse_size("48K"), parse_size("1M"), parse_size(" 512\\n"), parse_size("junk")
    (49152, 1048576, 512, None)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*", str(text), flags=re.IGNORECASE)
    if match is None:
        return None
    number, suffix = match.groups()
    return int(float(number) * 1024 ** " kmg".index(suffix.lower() or " "))


def parse_cpu_list(text):
    """The CPUs of a list as /sys writes it ("0-3,8,10-11"), as a set of ints, or None if it is not one.

    >>> sorted(parse_cpu_list("0-2,5"))
    [0, 1, 2, 5]
    """
    cpus = set()
    for part in str(text).strip().split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if match is None:
            return None
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            return None
        cpus.update(range(first, last + 1))
    return cpus


def _read_text(path):
    try:
        return pathlib.Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return None


# --- caches -------------------------------------------------------------------------------------------

def read_sysfs_caches(root=_SYSFS_CACHE):
    """``{"l1d": (bytes, shared_cpu_list), "l2": ..., "l3": ...}`` from a /sys cache folder (cpu0's).

    Level 1 takes the data cache (``type`` "Data"), levels 2 and 3 the unified
    (or data) one. Entries whose files are missing or unreadable are left out.
    """
    found = {}
    for index in sorted(pathlib.Path(root).glob("index*")):
        level, kind, size = (_read_text(index / name) for name in ("level", "type", "size"))
        if level is None or kind is None or not parse_size(size or ""):
            continue
        kind = kind.strip()
        if kind not in ("Data", "Unified"):
            continue
        name = {"1": "l1d", "2": "l2", "3": "l3"}.get(level.strip())
        if name is None or (name == "l1d" and kind != "Data") or name in found:
            continue
        shared = _read_text(index / "shared_cpu_list")
        shared = shared.strip() if shared is not None and parse_cpu_list(shared) is not None else None
        found[name] = (parse_size(size), shared)
    return found


def parse_sysctl(text):
    """``{"l1d": bytes, ...}`` from the output of ``sysctl hw.l1dcachesize hw.l2cachesize hw.l3cachesize``."""
    found = {}
    by_key = {key: name for name, key in _SYSCTL.items()}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        size = parse_size(value)
        if key.strip() in by_key and size:
            found[by_key[key.strip()]] = size
    return found


def _sysconf(name):
    if name not in getattr(os, "sysconf_names", {}):  # Python does not expose the cache names everywhere
        return None
    try:
        value = os.sysconf(name)
    except (OSError, ValueError):
        return None
    return value if value > 0 else None


@functools.cache
def caches():
    """``{"l1d": Cache, "l2": Cache, "l3": Cache}`` as read on this machine (once per process).

    Without :data:`ENV`; :func:`cache_bytes` applies it.
    """
    sysfs = read_sysfs_caches() if sys.platform.startswith("linux") else {}
    sysctl = {}
    if sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", *_SYSCTL.values()], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        sysctl = parse_sysctl(out)
    result = {}
    for name in _LEVELS:
        size, shared = sysfs.get(name, (None, None))
        from_sysconf = _sysconf(_SYSCONF[name])
        if from_sysconf is not None:
            result[name] = Cache(from_sysconf, shared, "sysconf")
        elif size is not None:
            result[name] = Cache(size, shared, "sysfs")
        elif name in sysctl:
            result[name] = Cache(sysctl[name], None, "sysctl")
        else:
            result[name] = Cache(RECORDED[name], None, "recorded machine")
    return result


def cache_bytes(name):
    """Bytes of the cache `name` ("l1d", "l2" or "l3"): :data:`ENV` if it sets it, else :func:`caches`."""
    if name not in _LEVELS:
        raise ValueError(f"name must be one of {', '.join(_LEVELS)}; got {name!r}")
    override = _override().get(name)
    return override if override is not None else caches()[name].bytes


# --- cores and memory -----------------------------------------------------------------------------

def _cgroup_paths(proc_cgroup, v1_controller):
    """(v2 path, v1 path) of this process's cgroup from /proc/self/cgroup's text (either may be None)."""
    v2 = v1 = None
    for line in (_read_text(proc_cgroup) or "").splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            v2 = path.strip()
        elif v1_controller in controllers.split(","):
            v1 = (controllers, path.strip())
    return v2, v1


def _ancestors(path):
    """"/a/b" -> ["a/b", "a", ""]: a limit set on any ancestor cgroup applies."""
    parts = [p for p in (path or "").split("/") if p]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def cgroup_cpu_quota(proc_cgroup="/proc/self/cgroup", root="/sys/fs/cgroup"):
    """The cgroup's CPU quota in cores (``cpu.max``, or ``cfs_quota_us / cfs_period_us``), or None if unlimited."""
    v2, v1 = _cgroup_paths(proc_cgroup, "cpu")
    quotas = []
    if v2 is not None:
        for path in _ancestors(v2):
            fields = (_read_text(pathlib.Path(root, path, "cpu.max")) or "").split()
            if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit() and int(fields[1]) > 0:
                quotas.append(int(fields[0]) / int(fields[1]))
    if v1 is not None:
        controllers, path = v1
        for mount in {controllers, "cpu"}:
            for sub in _ancestors(path):
                quota = (_read_text(pathlib.Path(root, mount, sub, "cpu.cfs_quota_us")) or "").strip()
                period = (_read_text(pathlib.Path(root, mount, sub, "cpu.cfs_period_us")) or "").strip()
                if quota.isdigit() and period.isdigit() and int(quota) > 0 and int(period) > 0:
                    quotas.append(int(quota) / int(period))
    return min(quotas) if quotas else None


def cgroup_memory_limit(proc_cgroup="/proc/self/cgroup", root="/sys/fs/cgroup"):
    """The cgroup's memory limit in bytes (``memory.max`` or ``memory.limit_in_bytes``), or None if unlimited."""
    v2, v1 = _cgroup_paths(proc_cgroup, "memory")
    limits = []
    if v2 is not None:
        limits += [_read_text(pathlib.Path(root, path, "memory.max")) for path in _ancestors(v2)]
    if v1 is not None:
        controllers, path = v1
        limits += [_read_text(pathlib.Path(root, controllers, sub, "memory.limit_in_bytes"))
                   for sub in _ancestors(path)]
    # v1 writes "no limit" as a huge number (2**63 rounded down to a page): anything past 2**60 B is none
    limits = [int(s) for s in (t.strip() for t in limits if t) if s.isdigit() and 0 < int(s) < 2**60]
    return min(limits) if limits else None


@functools.cache
def _read_cores():
    if hasattr(os, "process_cpu_count"):  # Python 3.13: the affinity mask (and PYTHON_CPU_COUNT)
        cores, source = os.process_cpu_count(), "os.process_cpu_count"
    elif hasattr(os, "sched_getaffinity"):
        cores, source = len(os.sched_getaffinity(0)), "os.sched_getaffinity"
    else:  # macOS, Windows
        cores, source = os.cpu_count(), "os.cpu_count"
    if cores is None:
        cores, source = RECORDED["cores"], "recorded machine"
    quota = cgroup_cpu_quota() if sys.platform.startswith("linux") else None
    if quota is not None and math.ceil(quota) < cores:
        cores, source = max(1, math.ceil(quota)), "cgroup CPU quota"
    return cores, source


def usable_cores():
    """Cores this process may run on: :data:`ENV` if it sets ``cores``, else as read (once per process)."""
    override = _override().get("cores")
    return override if override is not None else _read_cores()[0]


@functools.cache
def _read_memory():
    try:
        memory, source = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "sysconf"
    except (AttributeError, OSError, ValueError):  # Windows
        memory, source = RECORDED["memory"], "recorded machine"
    limit = cgroup_memory_limit() if sys.platform.startswith("linux") else None
    if limit is not None and limit < memory:
        memory, source = limit, "cgroup memory limit"
    return memory, source


def memory_bytes():
    """Bytes of memory this process may use: :data:`ENV` if it sets ``memory``, else as read (once per process)."""
    override = _override().get("memory")
    return override if override is not None else _read_memory()[0]


# --- BLAS threads ---------------------------------------------------------------------------------

@functools.cache
def _numpy_blas():
    """threadpoolctl's controller of NumPy's BLAS, or None (threadpoolctl missing, or no BLAS found).

    Built once: it inspects every loaded library (milliseconds). Its
    ``num_threads`` asks the library each time, so a ``threadpool_limits``
    block set later is seen.
    """
    try:
        import threadpoolctl
    except ImportError:
        return None
    import numpy  # its BLAS must be loaded to be found

    try:
        with warnings.catch_warnings():  # it warns about some OpenMP mixes, which are no concern here
            warnings.simplefilter("ignore")
            controllers = threadpoolctl.ThreadpoolController().lib_controllers
    except Exception:  # noqa: BLE001 - it opens every loaded library; a failure there must not stop training
        return None
    blas = [c for c in controllers if getattr(c, "user_api", None) == "blas"]
    numpy_dir = os.path.dirname(os.path.realpath(numpy.__file__))
    own = [c for c in blas if os.path.realpath(str(getattr(c, "filepath", ""))).startswith(numpy_dir)]
    return (own or blas or [None])[0]


def _blas_reading():
    """(threads, source) of NumPy's BLAS, without :data:`ENV`."""
    controller = _numpy_blas()
    if controller is not None:
        try:
            threads = int(controller.num_threads)
        except Exception:  # noqa: BLE001 - as above
            threads = 0
        if threads > 0:
            return threads, "threadpoolctl"
    for name in _BLAS_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value), name
    return usable_cores(), "usable cores"


def blas_threads():
    """Threads NumPy's BLAS runs on now.

    :data:`ENV` if it sets ``blas_threads``; else threadpoolctl's reading of
    NumPy's BLAS (it follows ``threadpool_limits``); else the first of
    ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OMP_NUM_THREADS`` that is a
    positive integer; else :func:`usable_cores`.
    """
    override = _override().get("blas_threads")
    return override if override is not None else _blas_reading()[0]


@functools.cache
def cpu_name(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name: /proc/cpuinfo's "model name", else :func:`platform.processor`, else the architecture."""
    import platform

    for line in (_read_text(cpuinfo) or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


# --- the override and the description -------------------------------------------------------------

def _override():
    """The readings :data:`ENV` sets, as ``{name: int}`` (read each call: it is a dictionary lookup)."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return {}
    names = _SIZE_NAMES + _COUNT_NAMES
    values = {}
    for item in text.split(","):
        name, equals, value = (part.strip() for part in item.partition("="))
        number = parse_size(value) if name in _SIZE_NAMES else (int(value) if value.isdigit() else None)
        if not equals or name not in names or not number:
            raise ValueError(
                f"{ENV} must be a comma-separated list of name=value with the names {', '.join(names)} "
                f"(sizes in bytes with an optional K, M or G suffix; counts as positive integers), "
                f"for example {ENV}=l2=512K,l3=32M; got {item.strip()!r} in {text!r}. "
                f"Fix the value or unset {ENV}")
        values[name] = number
    return values


def describe():
    """Every reading, its value and where it came from, as a dict (for the benchmarks' reports).

    Returns
    -------
    dict
        ``caches`` (``{"l1d": {"bytes", "shared_cpu_list", "source"}, ...}``),
        ``cores``, ``memory_bytes``, ``blas_threads`` (each ``{"value",
        "source"}``), and ``override``: :data:`ENV`'s text, or None.
    """
    override = _override()

    def reading(name, value, source):
        return {"value": override[name], "source": ENV} if name in override else {"value": value, "source": source}

    described = {}
    for name, cache in caches().items():
        entry = cache._asdict()
        if name in override:
            entry.update(bytes=override[name], source=ENV)
        described[name] = entry
    return {
        "cpu": cpu_name(),
        "caches": described,
        "cores": reading("cores", *_read_cores()),
        "memory_bytes": reading("memory", *_read_memory()),
        "blas_threads": reading("blas_threads", *_blas_reading()),
        "override": os.environ.get(ENV) or None,
    }


def _size_text(size):
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} B"


def summary(described=None):
    """:func:`describe` (or a dict it returned) in one line, as the benchmarks print it.

    >>> line = summary({"cpu": "x", "override": None,
    ...     "caches": {"l1d": {"bytes": 32768, "shared_cpu_list": "0", "source": "sysfs"},
    ...                "l3": {"bytes": 33554432, "shared_cpu_list": None, "source": "recorded machine"}},
    ...     "cores": {"value": 2, "source": "os.sched_getaffinity"},
    ...     "blas_threads": {"value": 1, "source": "OPENBLAS_NUM_THREADS"},
    ...     "memory_bytes": {"value": 25232932864, "source": "sysconf"}})
    >>> for part in line.split("; "):
    ...     print(part)
    L1d 32 KiB (CPUs 0, sysfs), L3 32 MiB (recorded machine)
    2 usable cores (os.sched_getaffinity)
    BLAS threads 1 (OPENBLAS_NUM_THREADS)
    memory 23.5 GiB (sysconf)
    """
    d = describe() if described is None else described
    caches = ", ".join(
        f"{_LABELS[name]} {_size_text(c['bytes'])} ("
        + (f"CPUs {c['shared_cpu_list']}, " if c["shared_cpu_list"] else "") + f"{c['source']})"
        for name, c in d["caches"].items())
    return (f"{caches}; {d['cores']['value']} usable cores ({d['cores']['source']}); "
            f"BLAS threads {d['blas_threads']['value']} ({d['blas_threads']['source']}); "
            f"memory {_size_text(d['memory_bytes']['value'])} ({d['memory_bytes']['source']})")
