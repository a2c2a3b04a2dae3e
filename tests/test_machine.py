"""xlogreg._machine: what the tuning reads (caches, cores, BLAS threads, memory), and the decisions
that follow from it. Expected values are worked by hand from the fake files and from the constants
the code held before it read the machine (recorded machine: 32 KiB L1d, 512 KiB L2, 32 MiB L3)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from xlogreg.data import compiled as data_compiled
from xlogreg import _machine, solvers
from xlogreg.solvers import _loop
from xlogreg.data import blocks as data_blocks

RECORDED = "l1d=32K,l2=512K,l3=32M,memory=23.5G"
KiB, MiB, GiB = 2**10, 2**20, 2**30


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    """No override from the caller's environment, and no reading cached from another test."""
    monkeypatch.delenv(_machine.ENV, raising=False)
    cached = (_machine.caches, _machine._read_cores, _machine._read_memory, _machine._numpy_blas)
    for function in cached:
        function.cache_clear()
    yield
    for function in cached:
        function.cache_clear()


# --- parsing --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("32768K", 32 * MiB), ("1M", MiB), ("48K\n", 48 * KiB), ("512", 512), ("2MiB", 2 * MiB),
    ("1.5G", 3 * GiB // 2), ("300m", 300 * MiB), ("23.5G", int(23.5 * GiB)),
    ("", None), ("junk", None), ("-1", None), ("12Q", None), ("0x10", None), ("1 M B", None),
])
def test_parse_size(text, expected):
    assert _machine.parse_size(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("0", {0}), ("0-1\n", {0, 1}), ("0-3,8,10-11", {0, 1, 2, 3, 8, 10, 11}), ("0,64", {0, 64}),
    ("", None), ("a-b", None), ("3-1", None), ("0-", None),
])
def test_parse_cpu_list(text, expected):
    assert _machine.parse_cpu_list(text) == expected


def _cache_dir(root, index, level, kind, size, shared=None):
    folder = root / f"index{index}"
    folder.mkdir(parents=True)
    for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
        if value is not None:
            (folder / name).write_text(f"{value}\n")


def test_sysfs_caches_of_the_recorded_machine(tmp_path):
    _cache_dir(tmp_path, 0, 1, "Data", "32K", "0")
    _cache_dir(tmp_path, 1, 1, "Instruction", "32K", "0")
    _cache_dir(tmp_path, 2, 2, "Unified", "512K", "0")
    _cache_dir(tmp_path, 3, 3, "Unified", "32768K", "0-1")
    assert _machine.read_sysfs_caches(tmp_path) == {"l1d": (32 * KiB, "0"), "l2": (512 * KiB, "0"),
                                                    "l3": (32 * MiB, "0-1")}


def test_sysfs_caches_with_missing_and_odd_files(tmp_path):
    _cache_dir(tmp_path, 0, 1, "Instruction", "64K", "0")  # no L1 data cache listed
    _cache_dir(tmp_path, 1, 2, "Unified", "1M")  # no shared_cpu_list
    _cache_dir(tmp_path, 2, 3, "Unified", "lots", "0-7")  # unreadable size
    _cache_dir(tmp_path, 3, 3, "Unified", None, "0-7")  # no size
    _cache_dir(tmp_path, 4, 4, "Unified", "128M", "0-7")  # a level the tuning does not use
    _cache_dir(tmp_path, 5, 2, "Unified", "2M", "junk")  # a second L2: the first one stays
    (tmp_path / "index9").mkdir()  # empty
    assert _machine.read_sysfs_caches(tmp_path) == {"l2": (MiB, None)}
    assert _machine.read_sysfs_caches(tmp_path / "absent") == {}


def test_sysctl_output_of_macos():
    text = "hw.l1dcachesize: 65536\nhw.l2cachesize: 4194304\nsysctl: unknown oid 'hw.l3cachesize'\n"
    assert _machine.parse_sysctl(text) == {"l1d": 64 * KiB, "l2": 4 * MiB}
    assert _machine.parse_sysctl("") == {}


def test_caches_fall_back_to_the_recorded_machine(monkeypatch):
    monkeypatch.setattr(_machine, "_sysconf", lambda name: None)
    monkeypatch.setattr(_machine, "read_sysfs_caches", lambda root=None: {"l2": (MiB, "0,1")})
    monkeypatch.setattr(_machine.sys, "platform", "linux")
    found = _machine.caches()
    assert found["l2"] == (MiB, "0,1", "sysfs")
    assert found["l1d"] == (32 * KiB, None, "recorded machine")
    assert found["l3"] == (32 * MiB, None, "recorded machine")
    monkeypatch.setattr(_machine, "_sysconf", lambda name: 3 * MiB if name == "SC_LEVEL2_CACHE_SIZE" else None)
    _machine.caches.cache_clear()
    assert _machine.caches()["l2"] == (3 * MiB, "0,1", "sysconf")  # sysconf's size, /sys's sharing


def test_caches_on_this_machine_are_positive():
    for name, cache in _machine.caches().items():
        assert cache.bytes > 0 and cache.source in ("sysconf", "sysfs", "sysctl", "recorded machine"), name
    assert _machine.caches() is _machine.caches()  # read once per process


# --- cgroups --------------------------------------------------------------------------------------

def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_limits_take_the_tightest_ancestor(tmp_path):
    proc = tmp_path / "proc_cgroup"
    _write(proc, "0::/user.slice/app\n")
    root = tmp_path / "cg"
    _write(root / "user.slice" / "app" / "cpu.max", "max 100000\n")
    _write(root / "user.slice" / "cpu.max", "150000 100000\n")
    _write(root / "user.slice" / "app" / "memory.max", "max\n")
    _write(root / "user.slice" / "memory.max", "1073741824\n")
    assert _machine.cgroup_cpu_quota(proc, root) == 1.5
    assert _machine.cgroup_memory_limit(proc, root) == GiB


def test_cgroup_v1_limits(tmp_path):
    proc = tmp_path / "proc_cgroup"
    _write(proc, "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n")
    root = tmp_path / "cg"
    _write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "200000\n")
    _write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    _write(root / "memory" / "docker" / "abc" / "memory.limit_in_bytes", "536870912\n")
    assert _machine.cgroup_cpu_quota(proc, root) == 2.0
    assert _machine.cgroup_memory_limit(proc, root) == 512 * MiB
    # no limit, as v1 writes it: a quota of -1 and a limit of 2**63 rounded down to a page
    _write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "-1\n")
    _write(root / "memory" / "docker" / "abc" / "memory.limit_in_bytes", "9223372036854771712\n")
    assert _machine.cgroup_cpu_quota(proc, root) is None
    assert _machine.cgroup_memory_limit(proc, root) is None


def test_cgroup_files_missing_or_odd(tmp_path):
    assert _machine.cgroup_cpu_quota(tmp_path / "absent", tmp_path) is None
    assert _machine.cgroup_memory_limit(tmp_path / "absent", tmp_path) is None
    proc = tmp_path / "proc_cgroup"
    _write(proc, "0::/\n")
    _write(tmp_path / "cpu.max", "lots 100000\n")
    _write(tmp_path / "memory.max", "-5\n")
    assert _machine.cgroup_cpu_quota(proc, tmp_path) is None
    assert _machine.cgroup_memory_limit(proc, tmp_path) is None
    _write(tmp_path / "cpu.max", "50000 100000\n")  # half a core
    assert _machine.cgroup_cpu_quota(proc, tmp_path) == 0.5


def _affinity():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or hasattr(os, "process_cpu_count"),
                    reason="the affinity mask is what Python < 3.13 on Linux reads")
@pytest.mark.parametrize(("quota", "expected"), [(None, None), (0.5, 1), (1.5, 2), (1000.0, None)])
def test_usable_cores_follow_the_cgroup_quota(monkeypatch, quota, expected):
    monkeypatch.setattr(_machine, "cgroup_cpu_quota", lambda: quota)
    monkeypatch.setattr(_machine.sys, "platform", "linux")
    assert _machine.usable_cores() == min(expected or _affinity(), _affinity())


def test_memory_follows_the_cgroup_limit(monkeypatch):
    monkeypatch.setattr(_machine.sys, "platform", "linux")
    monkeypatch.setattr(_machine, "cgroup_memory_limit", lambda: 3 * MiB)
    assert _machine.memory_bytes() == 3 * MiB
    assert _machine.describe()["memory_bytes"] == {"value": 3 * MiB, "source": "cgroup memory limit"}


# --- BLAS threads ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "expected"), [
    ({"OPENBLAS_NUM_THREADS": "1"}, 1),
    ({"OMP_NUM_THREADS": "1"}, 1),
    ({"MKL_NUM_THREADS": "3"}, 3),
    ({"OPENBLAS_NUM_THREADS": "4", "OMP_NUM_THREADS": "1"}, 4),  # OpenBLAS's own variable wins
    ({"OMP_NUM_THREADS": "junk"}, None),
    ({"OMP_NUM_THREADS": "0"}, None),
])
def test_blas_threads_without_threadpoolctl(monkeypatch, env, expected):
    monkeypatch.setattr(_machine, "_numpy_blas", lambda: None)
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _machine.blas_threads() == (expected or _affinity())
    assert data_blocks._blas_threads() == (expected or _affinity())


def test_blas_threads_follow_threadpoolctl_limits():
    """threadpoolctl's controller is built once, but its thread count is asked each time."""
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl reads NumPy's BLAS")
    assert _machine.describe()["blas_threads"]["source"] == "threadpoolctl"
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert _machine.blas_threads() == 1
        assert data_blocks._blas_threads() == 1
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        expected = [c["num_threads"] for c in threadpoolctl.threadpool_info() if c["user_api"] == "blas"][0]
        assert _machine.blas_threads() == expected


def test_blas_threads_from_a_controller_that_fails(monkeypatch):
    class Broken:
        @property
        def num_threads(self):
            raise OSError("the library went away")

    monkeypatch.setattr(_machine, "_numpy_blas", lambda: Broken())
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "5")
    assert _machine.blas_threads() == 5


# --- the override ---------------------------------------------------------------------------------

def test_the_override_sets_every_reading(monkeypatch):
    monkeypatch.setenv(_machine.ENV, " l1d=48K, l2=2M ,l3=300M,cores=3,blas_threads=1,memory=1.5G ")
    assert [_machine.cache_bytes(n) for n in ("l1d", "l2", "l3")] == [48 * KiB, 2 * MiB, 300 * MiB]
    assert (_machine.usable_cores(), _machine.blas_threads(), _machine.memory_bytes()) == (3, 1, 3 * GiB // 2)
    described = _machine.describe()
    assert described["caches"]["l3"]["bytes"] == 300 * MiB and described["caches"]["l3"]["source"] == _machine.ENV
    assert described["blas_threads"] == {"value": 1, "source": _machine.ENV}
    assert described["override"].strip().startswith("l1d=48K")


def test_a_partial_override_leaves_the_other_readings(monkeypatch):
    read = _machine.cache_bytes("l2")
    monkeypatch.setenv(_machine.ENV, "l3=1M")
    assert _machine.cache_bytes("l3") == MiB and _machine.cache_bytes("l2") == read


@pytest.mark.parametrize("text", ["l4=1M", "l2", "l2=abc", "cores=0", "cores=1.5", "blas_threads=2K", "l2=1M,,"])
def test_a_bad_override_names_the_variable(monkeypatch, text):
    monkeypatch.setenv(_machine.ENV, text)
    with pytest.raises(ValueError, match=r"XLOGREG_MACHINE must be a comma-separated list of name=value .*"
                                         r"got .* Fix the value or unset XLOGREG_MACHINE"):
        _machine.cache_bytes("l2")


def test_cache_bytes_refuses_an_unknown_level():
    with pytest.raises(ValueError, match="name must be one of l1d, l2, l3; got 'l4'"):
        _machine.cache_bytes("l4")


def test_describe_without_override():
    described = _machine.describe()
    assert set(described) == {"cpu", "caches", "cores", "memory_bytes", "blas_threads", "override"}
    assert described["override"] is None
    assert described["cores"]["value"] >= 1 and described["blas_threads"]["value"] >= 1
    assert described["memory_bytes"]["value"] > 0
    line = _machine.summary()
    assert line.startswith("L1d ") and f"{described['cores']['value']} usable cores" in line


def test_cpu_name_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n")
    assert _machine.cpu_name(cpuinfo) == "AMD EPYC 7B13"
    assert _machine.cpu_name(tmp_path / "absent")  # platform's answer, never empty


# --- the decisions --------------------------------------------------------------------------------

def test_the_recorded_machine_gets_the_values_it_was_tuned_with(monkeypatch):
    """The values the code held as constants before it read the machine."""
    monkeypatch.setenv(_machine.ENV, RECORDED)
    assert data_compiled._fused_min_bytes() == 32 * 2**20
    assert data_blocks._block_elements() == 2**19
    assert data_blocks._block_min_bytes() == 64 * 2**20
    assert _loop._gram_limit_bytes() == 2 * 2**30
    # TILE_BYTES = 16 KiB, TILE_MAX_EXAMPLE_BYTES = 4096: examples per tile as before
    tiles = {(100, 4): 40, (100, 8): 20, (1, 8): 64, (512, 8): 4, (1000, 4): 4, (1000, 8): 0, (513, 8): 0}
    assert {key: data_compiled.tile_examples(*key) for key in tiles} == tiles


def test_the_recorded_machine_makes_the_decisions_it_made(monkeypatch):
    """choose_fused, choose_block, choose_fused_dual and choose_solver at the edges of the old constants.
    np.empty: the big arrays are never touched, so no memory is used."""
    monkeypatch.setenv(_machine.ENV, RECORDED + ",blas_threads=1")
    monkeypatch.setattr(data_compiled, "available", lambda: True)  # numba need not be installed to decide
    monkeypatch.setattr(data_compiled, "loaded", lambda: False)  # as in a new process: loading costs FUSED_LOAD_S
    # FUSED_MIN_BYTES was 32 MiB = 33,554,432 B: 1000 x 4194 float64 is 33,552,000 B, x 4195 is 33,560,000 B
    assert not data_compiled.choose_fused(np.empty((1000, 4194), order="F"))
    assert data_compiled.choose_fused(np.empty((1000, 4195), order="F"))
    # with iterations: 33,560,000 B per read at 20 GB/s against 1 s of loading: 596 iterations, not 595
    assert data_compiled.choose_fused(np.empty((1000, 4195), order="F"), 596)
    assert not data_compiled.choose_fused(np.empty((1000, 4195), order="F"), 595)
    # BLOCK_MIN_BYTES was 64 MiB: 256 x 32768 float64 is exactly that; BLOCK_ELEMENTS 2**19: 2048 per block
    assert data_blocks.choose_block(np.empty((256, 32768), order="F")) == 2048
    assert data_blocks.choose_block(np.empty((256, 32767), order="F")) is None
    assert data_blocks.choose_block(np.empty((256, 65536), dtype=np.float32, order="F")) == 2048
    # a block of 2**19 elements needs n_x <= 4096 for 128 examples
    assert data_blocks.choose_block(np.empty((4096, 2048), order="F")) == 128
    assert data_blocks.choose_block(np.empty((4097, 2048), order="F")) is None
    monkeypatch.setenv(_machine.ENV, RECORDED + ",blas_threads=2")
    assert data_blocks.choose_block(np.empty((256, 32768), order="F")) is None
    # the dual loop: 1e-5 s saved per iteration against 1 s of loading
    assert data_compiled.choose_fused_dual(np.ones((3, 3)), 100_000)
    assert not data_compiled.choose_fused_dual(np.ones((3, 3)), 99_999)
    # GRAM_LIMIT_BYTES was 2 GiB: a float64 Gram matrix of 16384 x 16384 is exactly that
    assert solvers.choose_solver(10**6, 16384, 10**6) == "dual"
    assert solvers.choose_solver(10**6, 16385, 10**6) == "primal"


def test_the_decisions_follow_another_machine(monkeypatch):
    """This VM's readings (Intel Xeon, 48 KiB L1d, 2 MiB L2, 300 MiB L3), then a laptop's (8 GiB)."""
    monkeypatch.setenv(_machine.ENV, "l1d=48K,l2=2M,l3=300M,memory=23.5G,blas_threads=1")
    monkeypatch.setattr(data_compiled, "available", lambda: True)
    assert data_compiled._fused_min_bytes() == 300 * MiB
    assert data_blocks._block_elements() == 2 * MiB  # L2 (2**21) is under L3 / 64 (4,915,200)
    assert data_blocks._block_min_bytes() == 600 * MiB
    assert not data_compiled.choose_fused(np.empty((1000, 39321), order="F"))  # 314,568,000 B < 300 MiB
    assert data_compiled.choose_fused(np.empty((1000, 39322), order="F"))  # 314,576,000 B
    # tiles of 24 KiB, interleaved above 6 KiB: 100 float64 features: 24576 // 800 = 30 -> 28 examples
    assert data_compiled.tile_examples(100, 8) == 28 and data_compiled.tile_examples(768, 8) == 4
    assert data_compiled.tile_examples(769, 8) == 0
    monkeypatch.setenv(_machine.ENV, "l1d=48K,l2=2M,l3=12M,memory=8G")  # L3 / 64 = 196,608 < L2
    assert data_blocks._block_elements() == 196_608
    assert _loop._gram_limit_bytes() == GiB  # an eighth of 8 GiB, under 2 GiB


def test_an_int_set_on_the_module_overrides_the_reading(monkeypatch):
    monkeypatch.setenv(_machine.ENV, RECORDED)
    monkeypatch.setattr(data_compiled, "FUSED_MIN_BYTES", 5)
    monkeypatch.setattr(data_blocks, "BLOCK_ELEMENTS", 7)
    monkeypatch.setattr(data_blocks, "BLOCK_MIN_BYTES", 11)
    monkeypatch.setattr(data_compiled, "TILE_BYTES", 4 * 8 * 8)
    monkeypatch.setattr(data_compiled, "TILE_MAX_EXAMPLE_BYTES", 64)
    assert (data_compiled._fused_min_bytes(), data_blocks._block_elements(), data_blocks._block_min_bytes()) == (5, 7, 11)
    assert data_compiled.tile_examples(8, 8) == 4 and data_compiled.tile_examples(9, 8) == 0
