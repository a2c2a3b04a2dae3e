"""Atomic writes: every file xlogreg writes appears whole or not at all, and never replaces an input.

:func:`atomic_path` yields a temporary path beside the target and renames it
over the target once written and flushed; :func:`write_error` turns an
``OSError`` into a message that names the target and says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import time

from .hdf5 import _file_kind

__all__ = ["atomic_path", "write_error", "remove_stale_temporary_files", "STALE_SECONDS"]


#: A temporary file older than this whose writer is no longer running is removed by the next save.
STALE_SECONDS = 600


@contextlib.contextmanager
def atomic_path(path):
    """Write a file atomically: yield a temporary path to write to, then move it over `path`.

    The temporary file, ``.NAME.PID-XXXXXXXX.tmp``, lives in the directory of
    `path` (so the final ``os.replace`` is an atomic rename on the same file
    system). After the body has written and closed it, the file is fsync'ed,
    given the permissions a new file would get (or those of the file it
    replaces) and renamed over `path`; the directory is then fsync'ed so the
    rename itself survives a power cut. On any exception, ``KeyboardInterrupt``
    included, the temporary file is removed and `path` is left as it was.

    `path` must be a regular file or not exist yet. A symbolic link is written
    through: its target is replaced, the link stays. A directory, a device, a
    named pipe or a socket is refused (renaming over it would replace it).

    A process killed outright (SIGKILL, power cut) cannot remove its
    temporary file. The next successful write of the same `path` removes
    such leftovers: temporary files of that target whose writer process no
    longer runs on this machine and that have not changed for
    :data:`STALE_SECONDS`. Writers still running, here or (for a shared file
    system) on another machine, keep theirs.

    Raises
    ------
    OSError
        Naming `path` (never the temporary file) and what to do: a missing
        folder, no permission, a full disk, a target that is not a regular file.

    Examples
    --------
    >>> import os, tempfile
    >>> from xlogreg.io.atomic import atomic_path
    >>> target = os.path.join(tempfile.mkdtemp(), "summary.json")
    >>> with atomic_path(target) as tmp:
    ...     with open(tmp, "w") as f:
    ...         _ = f.write("{}")
    >>> with open(target) as f:
    ...     f.read()
    '{}'
    """
    path = os.fspath(path)
    target = _write_target(path)
    directory = os.path.dirname(os.path.abspath(target))
    name = os.path.basename(target)
    try:
        tmp = tempfile.NamedTemporaryFile(dir=directory, prefix=f".{name}.{os.getpid()}-", suffix=".tmp",
                                          delete=False)
    except OSError as exc:
        raise write_error(path, exc) from None
    tmp.close()
    try:
        yield tmp.name
        _fsync_file(tmp.name)
        os.chmod(tmp.name, _new_file_mode(target))
        os.replace(tmp.name, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise
    _fsync_dir(directory)
    remove_stale_temporary_files(target)


def _write_target(path):
    """The file to replace for `path`: itself, or a symbolic link's target; refuse what is not a regular file."""
    try:
        mode = os.stat(path).st_mode  # through links: what would really be replaced
    except FileNotFoundError:
        mode = None  # a new file, or a dangling link whose target will be created
    except OSError as exc:
        raise write_error(path, exc) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, f"cannot write {path}: it is a directory; give a file name")
    if mode is not None and not stat.S_ISREG(mode):
        kind = _file_kind(mode)
        raise OSError(errno.EINVAL,
                      f"cannot write {path}: it is {kind}, not a regular file, and xlogreg writes by renaming "
                      f"a complete new file over the old one, which would replace the {kind.split()[-1]}; "
                      "give the path of a regular file")
    return os.path.realpath(path) if os.path.islink(path) else path


_HINTS = {
    errno.ENOENT: "its folder does not exist; create it first",
    errno.ENOTDIR: "a component of the path is not a folder",
    errno.EACCES: "no permission to create files in its folder; choose a folder you can write to",
    errno.EPERM: "no permission to create files in its folder; choose a folder you can write to",
    errno.EROFS: "its folder is on a read-only file system; choose another folder",
    errno.ENOSPC: "no space left on the device; free some space (the previous file, if any, is unchanged)",
    errno.EDQUOT: "disk quota exceeded; free some space (the previous file, if any, is unchanged)",
    errno.EFBIG: "file too large (a file size limit, `ulimit -f`?); the previous file, if any, is unchanged",
}


def write_error(path, exc):
    """An OSError of the same kind (errno) as `exc`, saying what happened to `path`, never to a temporary file.

    h5py reports some write failures as ``RuntimeError`` (a full disk shows up
    at ``File.close``); their errno is recovered from the message.
    """
    if isinstance(exc, OSError) and str(exc.strerror).startswith(f"cannot write {path}"):
        return exc  # already says it
    code = exc.errno if isinstance(exc, OSError) else None
    text = str(exc)
    if code is None:
        code = next((c for c in _HINTS if os.strerror(c) in text), None)
    reason = _HINTS.get(code) or (exc.strerror if isinstance(exc, OSError) and exc.strerror else text)
    if code is None:
        return OSError(f"cannot write {path}: {reason}")
    if code == errno.ENOENT:
        reason = f"its folder {os.path.dirname(os.path.abspath(path))} does not exist; create it first"
    return OSError(code, f"cannot write {path}: {reason}")


def _pid_running(pid):
    """Whether process `pid` runs on this machine (True when it cannot be known)."""
    if pid == os.getpid() or os.name != "posix":
        return True  # on Windows os.kill(pid, 0) would terminate the process: never ask there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, OSError):
        return True  # someone else's process, or an unknowable pid: assume it runs
    return True


def remove_stale_temporary_files(path, *, older_than=None):
    """Remove the temporary files of `path` left by writers that were killed; return their names.

    Only ``.NAME.PID-XXXXXXXX.tmp`` files beside `path` (the names
    :func:`atomic_path` gives) whose process PID is not running on this
    machine and which have not been modified for `older_than` seconds
    (default :data:`STALE_SECONDS`). Errors are ignored: another writer may
    remove the same file at the same time.
    """
    older_than = STALE_SECONDS if older_than is None else older_than
    directory = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(re.escape(f".{os.path.basename(path)}.") + r"(\d+)-[A-Za-z0-9_]{8}\.tmp")
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for entry in names:
        match = pattern.fullmatch(entry)
        if match is None or _pid_running(int(match.group(1))):
            continue
        full = os.path.join(directory, entry)
        with contextlib.suppress(OSError):
            info = os.lstat(full)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime >= older_than:
                os.unlink(full)
                removed.append(entry)
    return removed


def _write_error(exc, path, directory):
    """The OSError of a failed write, naming the user's `path` (not the temporary file) and the fix."""
    if not os.path.isdir(directory):
        why = f"folder {directory} does not exist; create it first (os.makedirs) or choose another path"
    elif os.path.isdir(path):
        why = "it is a folder; give a file name such as model.h5"
    elif not os.access(directory, os.W_OK):
        why = f"no permission to create files in folder {directory}; choose a folder you can write to"
    else:
        why = f"{exc.strerror or exc}"
    # OSError(errno, ...) builds the matching subclass (FileNotFoundError, PermissionError, ...).
    return OSError(exc.errno, f"cannot write {path}: {why}", path)


def _fsync_file(path):
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory):
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _new_file_mode(path):
    """Mode of the file being replaced, or what ``open()`` would create (0o666 minus the umask).

    NamedTemporaryFile creates files readable by their owner only; a saved
    model should have the usual permissions instead.
    """
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
