"""Untrusted HDF5 files: how every file xlogreg reads is opened, checked and read.

A file is checked before it is opened (:func:`check_file`: a regular file, not
a device or a pipe), opened read-only (:func:`open_h5`), and each dataset is
resolved without following external links, with a bounded number of soft
links (:func:`get_dataset`); declared sizes beyond the memory this process may
use (:func:`_memory_limit`: the cgroup limit, else the machine's) are refused
before anything is read. Every fault is a :class:`DataError` that names the
file and the problem.
"""

from __future__ import annotations

import math
import os
import re
import stat

__all__ = ["DataError", "check_file", "open_h5", "find_keys", "get_dataset"]


class DataError(ValueError):
    """A data file is missing, unreadable, or not in the expected format."""


#: Where cgroup file systems are mounted (a module constant so tests can point it elsewhere).
CGROUP_ROOT = "/sys/fs/cgroup"


def _proc_status_bytes(field):
    """A ``kB`` field of /proc/self/status (VmSize, VmData) in bytes, or 0 where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _read_int(path):
    """The integer in a cgroup file, None for "max", a missing file or anything else."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read(64).strip()
        return int(text)
    except (OSError, ValueError):
        return None


def _cgroup_limits(root):
    """(headroom, description) of every cgroup memory limit that applies to this process.

    cgroup v2 (``memory.max`` minus ``memory.current``, in this process's group
    and every ancestor) and v1 (``memory.limit_in_bytes`` minus
    ``memory.usage_in_bytes``); the group is read from /proc/self/cgroup, and
    the mount's top directory is tried as well, since a container sees its own
    group there.
    """
    groups = {"v2": "/", "v1": "/"}
    try:
        with open("/proc/self/cgroup", encoding="utf-8", errors="replace") as f:
            for line in f:
                hierarchy, controllers, group = line.rstrip("\n").split(":", 2)
                if hierarchy == "0" and controllers == "":
                    groups["v2"] = group
                elif "memory" in controllers.split(","):
                    groups["v1"] = group
    except (OSError, ValueError):
        pass
    found = []
    for version, base, limit_name, usage_name in (
            ("v2", root, "memory.max", "memory.current"),
            ("v1", os.path.join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes")):
        parts = [p for p in groups[version].split("/") if p and p not in (".", "..")]
        directories = {os.path.join(base, *parts[:i]) for i in range(len(parts) + 1)}
        for directory in sorted(directories):
            limit = _read_int(os.path.join(directory, limit_name))
            if limit is None or limit >= 2**60:  # "max", or v1's "no limit" (about 2**63)
                continue
            usage = _read_int(os.path.join(directory, usage_name)) or 0
            found.append((max(0, limit - usage), f"left under the cgroup memory limit of {limit / 2**30:.1f} GiB "
                                                 f"({os.path.join(directory, limit_name)})"))
    return found


def _memory_limit():
    """(bytes this process may still allocate, a description of the tightest limit).

    The smallest of: physical memory; what is left under the soft
    ``RLIMIT_AS`` (``ulimit -v``, against the address space in use) and
    ``RLIMIT_DATA`` (``ulimit -d``, against the data segment in use); what is
    left under a cgroup's memory limit (containers, ``systemd-run -p
    MemoryMax=``). A declared dataset larger than this is refused before any
    allocation, instead of ending in a ``MemoryError`` or the OOM killer.
    """
    limits = []
    try:
        limits.append((os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "of memory here"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        limits.append((2**40, "assumed as memory here"))
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        resource = None
    if resource is not None:
        for name, field, option in (("RLIMIT_AS", "VmSize", "ulimit -v"), ("RLIMIT_DATA", "VmData", "ulimit -d")):
            try:
                soft, _ = resource.getrlimit(getattr(resource, name))
            except (AttributeError, ValueError, OSError):  # pragma: no cover - platforms without it
                continue
            if soft == resource.RLIM_INFINITY or soft < 0:
                continue
            left = max(0, soft - _proc_status_bytes(field))
            limits.append((left, f"left under this process's {name} limit of {soft / 2**30:.1f} GiB ({option})"))
    limits.extend(_cgroup_limits(CGROUP_ROOT))
    return min(limits, key=lambda item: item[0])


def _memory_bytes():
    """Bytes this process may still allocate (see :func:`_memory_limit`)."""
    return _memory_limit()[0]


def _file_kind(mode):
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_file(path, what):
    """The path as a str, if it names an existing regular file; else a DataError saying why.

    Named pipes, devices and sockets are refused without being opened: opening
    a pipe with no writer would block forever, and a device can hand out
    endless or changing bytes. A symbolic link to a regular file is fine.
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(f"{path}: is a directory, expected {what}")
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: is {_file_kind(info.st_mode)}, expected {what} in a regular file "
                        "(xlogreg reads only regular files; copy the data into one)")
    return path


def open_h5(path):
    """Open an HDF5 file for reading, turning every fault into a DataError."""
    import h5py

    path = check_file(path, "an HDF5 file")
    try:
        if not h5py.is_hdf5(path):
            raise DataError(f"{path}: not an HDF5 file")
        return h5py.File(path, "r")
    except DataError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as HDF5 (truncated or corrupt?): {exc}") from None


def find_keys(f, x_key=None, y_key=None, classes_key=None):
    """Find the data keys of a course-format file: ``*_set_x``, ``*_set_y``, ``list_classes``.

    Keys given explicitly are checked to exist (through links that stay in
    the file, see :func:`get_dataset`); missing ones are looked up by pattern among the
    names at the top of the file. Returns ``(x_key, y_key, classes_key or None)``.
    """
    keys = sorted(f.keys())
    path = f.filename

    def pick(given, pattern, what, required=True):
        if given is not None:
            _resolve(f, given, what)  # exists, through links that stay in this file
            return given
        found = [k for k in keys if re.fullmatch(pattern, k, re.IGNORECASE)]  # X / y too
        if len(found) == 1:
            return found[0]
        if not required and not found:
            return None
        option = {"the images": "x", "the labels": "y", "the class names": "classes"}[what]
        raise DataError(
            f"{path}: expected exactly one key matching {pattern!r} ({what}); found {found or 'none'} "
            f"among keys {keys}; name it explicitly: --{option}-key KEY on the command line, "
            f"{option}_key='KEY' in Python"
        )

    return (pick(x_key, r".*_set_x|x", "the images"), pick(y_key, r".*_set_y|y", "the labels"),
            pick(classes_key, r"list_classes|classes", "the class names", required=False))


#: Soft links followed at most while resolving one key (HDF5's own default limit).
MAX_SOFT_LINKS = 16


def _split(name):
    return [part for part in name.split("/") if part and part != "."]


def _resolve(f, key, what):
    """The path of `key` inside `f` through hard links only, checking every link on the way.

    The file is untrusted: each component of the key is looked at as a link
    (never followed blindly). Soft links are resolved here, by name, inside
    the file; external links are refused before HDF5 would open the file they
    name; a soft link to nothing is reported as a broken link.
    """
    import h5py

    path = f.filename
    if not isinstance(key, str):
        raise TypeError(f"the key of {what} must be a str; got {key!r}")
    pending, resolved, hops, via = _split(key), [], 0, None
    while pending:
        part = pending.pop(0)
        name = "/" + "/".join([*resolved, part])
        try:
            link = f.get(name, getlink=True)
        except (KeyError, ValueError, TypeError, RuntimeError, OSError):
            link = None
        if link is None:
            if via is not None:
                raise DataError(f"{path}: {key!r} ({what}) leads through the soft link to {via!r} to {name!r}, "
                                "which does not exist in the file (a broken link)")
            raise DataError(f"{path}: has no key {key!r} ({what}); its keys are {sorted(f.keys())}")
        if isinstance(link, h5py.ExternalLink):
            raise DataError(
                f"{path}: {key!r} ({what}) is an external link to {link.path!r} in the file "
                f"{link.filename!r}; xlogreg reads only the file it was given and never follows links "
                "to other files: copy the data into this file"
            )
        if isinstance(link, h5py.SoftLink):
            hops += 1
            if hops > MAX_SOFT_LINKS:
                raise DataError(f"{path}: {key!r} ({what}) goes through more than {MAX_SOFT_LINKS} soft links "
                                "(a loop?)")
            via = link.path
            if via.startswith("/"):
                resolved = []
            pending = _split(via) + pending
            continue
        if not isinstance(link, h5py.HardLink):  # pragma: no cover - user-defined link classes
            raise DataError(f"{path}: {key!r} ({what}) is a link of an unknown kind ({type(link).__name__})")
        resolved.append(part)
    return "/" + "/".join(resolved)


def get_dataset(f, key, what):
    """``f[key]`` as an h5py Dataset whose data lives in `f` itself, or a DataError naming file and key.

    Refused: external links and broken soft links (see :func:`_resolve`),
    groups, virtual datasets (their data comes from other files, or is a fill
    value when those are missing), datasets with external raw storage (their
    bytes come from any file on the machine) and null dataspaces
    (``h5py.Empty``). Nothing is read yet.
    """
    import h5py

    path = f.filename
    name = _resolve(f, key, what)
    try:
        ds = f[name]
    except (KeyError, ValueError, RuntimeError, OSError) as exc:
        raise DataError(f"{path}: {key!r} ({what}) cannot be opened (corrupt?): {exc}") from None
    if not isinstance(ds, h5py.Dataset):
        raise DataError(f"{path}: {key!r} is a group, expected a dataset of {what}")
    try:
        virtual, external = ds.is_virtual, ds.external
        sources = sorted({s.file_name for s in ds.virtual_sources()}) if virtual else []
    except (ValueError, RuntimeError, OSError) as exc:
        raise DataError(f"{path}: {key!r} ({what}) cannot be opened (corrupt?): {exc}") from None
    if virtual:
        raise DataError(
            f"{path}: {key!r} ({what}) is a virtual dataset mapping data from {sources}; xlogreg reads "
            "only data stored in the file it was given: copy the data into a plain dataset"
        )
    if external:
        files = sorted({os.fsdecode(entry[0]) for entry in external})
        raise DataError(
            f"{path}: {key!r} ({what}) keeps its bytes in the external raw file(s) {files}; xlogreg reads "
            "only data stored in the file it was given: copy the data into a plain dataset"
        )
    if ds.shape is None:
        raise DataError(f"{path}: {key!r} is empty (a null dataspace, h5py.Empty): it holds no {what}")
    return ds


def _check_numbers(ds, key, what):
    if ds.dtype.kind not in "uifb":
        raise DataError(f"{ds.file.filename}: {key!r} has dtype {ds.dtype}, expected numbers ({what})")


def _check_size(path, key, shape, itemsize, what="data"):
    """Refuse a declared size larger than what this process may allocate, before allocating it."""
    nbytes = math.prod(shape) * itemsize
    limit, where = _memory_limit()
    if nbytes > limit:
        raise DataError(
            f"{path}: {key!r} ({what}) declares shape {tuple(shape)} ({nbytes / 2**30:.1f} GiB), more than the "
            f"{limit / 2**30:.1f} GiB {where}; use backend='dask' (--backend dask) to train out of core"
        )


def _read_all(ds, key, what):
    path = ds.file.filename
    try:
        return ds[()]
    except MemoryError:
        raise DataError(f"{path}: {key!r} ({what}) of shape {ds.shape} does not fit in the memory left; "
                        "use backend='dask' (--backend dask) to train out of core") from None
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: {key!r} cannot be read (truncated or corrupt?): {exc}") from None


def _read(f, key, what, max_bytes=None):
    """A numeric dataset of `f` read whole, after every check of :func:`get_dataset` and the memory guard."""
    ds = get_dataset(f, key, what)
    _check_numbers(ds, key, what)
    _check_size(f.filename, key, ds.shape, ds.dtype.itemsize, what)
    return _read_all(ds, key, what)
