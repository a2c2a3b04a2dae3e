"""Saving under faults: a full disk, missing or read-only folders, killed writers, concurrent writers,
targets that are not regular files. The previous file always survives; errors name the path asked for.
"""

from __future__ import annotations

import concurrent.futures
import errno
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import xlogreg
from conftest import ROOT
from xlogreg import load_model, save_model
from xlogreg.io.atomic import STALE_SECONDS, atomic_path, remove_stale_temporary_files

ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _model(iterations=20, n_x=3):
    X = np.linspace(-1, 1, n_x * 8).reshape(n_x, 8)
    return xlogreg.train(X, [0, 1] * 4, num_iterations=iterations, learning_rate=0.1)


def _others(directory, keep):
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def _python(code, **kwargs):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, env=ENV, **kwargs)


# --------------------------------------------------------------------------- errors name the path asked for


def test_missing_folder_names_the_path(tmp_path):
    target = tmp_path / "missing" / "m.h5"
    for save in (lambda: save_model(_model(), target), lambda: _model().save(target)):
        with pytest.raises(FileNotFoundError) as info:
            save()
        message = str(info.value)
        assert f"cannot write {target}: its folder {tmp_path / 'missing'} does not exist; create it first" \
            in message
        assert ".tmp" not in message and info.value.errno == errno.ENOENT
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_names_the_path(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=re.escape(f"cannot write {folder / 'm.h5'}: no permission")) \
                as info:
            _model().save(folder / "m.h5")
        assert ".tmp" not in str(info.value)
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("code, kind, hint", [
    (errno.EACCES, PermissionError, "no permission to create files in its folder"),
    (errno.EROFS, OSError, "read-only file system"),
])
def test_folder_refusing_new_files_names_the_path(tmp_path, monkeypatch, code, kind, hint):
    """What a read-only folder does for a user who is not root, simulated where the tests run as root."""
    import tempfile

    def refuse(*args, dir=None, prefix="", suffix="", **kwargs):
        raise OSError(code, os.strerror(code), os.path.join(dir, prefix + "abcdefgh" + suffix))

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    target = tmp_path / "m.h5"
    with pytest.raises(kind) as info:
        save_model(_model(), target)
    assert str(info.value) == f"[Errno {code}] cannot write {target}: " + \
        {errno.EACCES: "no permission to create files in its folder; choose a folder you can write to",
         errno.EROFS: "its folder is on a read-only file system; choose another folder"}[code]
    assert hint in str(info.value) and ".tmp" not in str(info.value)


def test_disk_full_is_an_oserror_naming_the_path(tmp_path):
    """Under `ulimit -f` h5py fails in File.close with a RuntimeError; save_model says which file and why."""
    target = tmp_path / "m.h5"
    save_model(_model(iterations=7), target)
    before = target.read_bytes()
    proc = _python(f"""
        import errno, resource, sys
        import numpy as np, xlogreg
        X = np.linspace(-1, 1, 4000 * 8).reshape(4000, 8)
        model = xlogreg.train(X, [0, 1] * 4, num_iterations=3)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))  # w alone is 32000 bytes
        try:
            xlogreg.save_model(model, {str(target)!r})
        except OSError as exc:
            print(type(exc).__name__, exc.errno, exc.strerror, sep="|")
            sys.exit(3)
    """)
    assert proc.returncode == 3, proc.stderr
    name, code, message = proc.stdout.strip().split("|")
    assert (name, int(code)) == ("OSError", errno.EFBIG)
    assert message == (f"cannot write {target}: file too large (a file size limit, `ulimit -f`?); "
                       "the previous file, if any, is unchanged")
    assert target.read_bytes() == before and load_model(target).iterations == 7
    assert _others(tmp_path, {"m.h5"}) == []


def test_cli_disk_full(tmp_path):
    """`xlogreg train --save` under `ulimit -f`: one error line naming the file, no traceback, exit 1."""
    target = tmp_path / "m.h5"
    save_model(_model(iterations=7), target)
    before = target.read_bytes()
    proc = _python(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
        from xlogreg.cli import main
        sys.exit(main(["train", "-n", "5", "-q", "--save", {str(target)!r}]))
    """, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [f"xlogreg: error: cannot write {target}: file too large (a file size limit, "
                                        "`ulimit -f`?); the previous file, if any, is unchanged"]
    assert target.read_bytes() == before
    assert _others(tmp_path, {"m.h5"}) == []


# --------------------------------------------------------------------------- killed writers and stale files


def _kill_during_save(target):
    """Save in a child that SIGKILLs itself once the temporary file is written; returns the child's pid."""
    proc = _python(f"""
        import os, signal, xlogreg, numpy as np
        def fsync(fd):
            print(os.getpid(), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        os.fsync = fsync
        xlogreg.save_model(xlogreg.train(np.eye(3), [0, 1, 1], num_iterations=5), {str(target)!r})
    """)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return int(proc.stdout.strip())


def test_sigkill_leaves_the_old_file_and_the_next_save_removes_the_leftover(tmp_path):
    target = tmp_path / "m.h5"
    save_model(_model(iterations=7), target)
    before = target.read_bytes()
    pid = _kill_during_save(target)
    assert target.read_bytes() == before
    (leftover,) = _others(tmp_path, {"m.h5"})
    assert re.fullmatch(rf"\.m\.h5\.{pid}-[A-Za-z0-9_]{{8}}\.tmp", leftover)
    # Young: a writer on another machine sharing the folder could still be writing it. Kept.
    save_model(_model(iterations=8), target)
    assert _others(tmp_path, {"m.h5"}) == [leftover]
    old = time.time() - STALE_SECONDS - 5
    os.utime(tmp_path / leftover, (old, old))
    save_model(_model(iterations=9), target)
    assert _others(tmp_path, {"m.h5"}) == []
    assert load_model(target).iterations == 9


def test_only_stale_files_of_the_same_target_are_removed(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = _python("import os; print(os.getpid())").stdout.strip()  # a pid that has exited
        names = {
            f".m.h5.{dead}-abcdefgh.tmp": True,              # writer gone, old: removed
            f".m.h5.{sleeper.pid}-abcdefgh.tmp": False,      # writer alive: kept
            f".m.h5.{os.getpid()}-abcdefgh.tmp": False,      # this very process: kept
            f".other.h5.{dead}-abcdefgh.tmp": False,         # another target: kept
            f".m.h5.{dead}-abcdefgh.tmp.keep": False,        # not a name atomic_path gives
            ".m.h5.abcdefgh.tmp": False,                     # the old naming, no pid: kept
            f".m.h5.{dead}-abc.tmp": False,                  # not 8 characters
        }
        old = time.time() - STALE_SECONDS - 5
        for name in names:
            (tmp_path / name).write_bytes(b"partial")
            os.utime(tmp_path / name, (old, old))
        removed = remove_stale_temporary_files(tmp_path / "m.h5")
        assert sorted(removed) == sorted(n for n, gone in names.items() if gone)
        assert _others(tmp_path, set()) == sorted(n for n, gone in names.items() if not gone)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_concurrent_saves_keep_working(tmp_path):
    """Two processes and four threads save one path over and over: every save succeeds, the file is whole."""
    target = tmp_path / "m.h5"
    code = f"""
        import sys, xlogreg, numpy as np
        model = xlogreg.train(np.eye(3), [0, 1, 1], num_iterations=int(sys.argv[1]))
        for _ in range(15):
            xlogreg.save_model(model, {str(target)!r})
            assert xlogreg.load_model({str(target)!r}).iterations in (11, 12, 13)
        print("done")
    """
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV) for n in (11, 12)]
    model = _model(iterations=13)

    def save_many(_):
        for _ in range(10):
            save_model(model, target)
            assert load_model(target).iterations in (11, 12, 13)

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(save_many, range(4)))
    finally:
        results = [proc.communicate(timeout=300) + (proc.returncode,) for proc in procs]
    for out, err, returncode in results:
        assert returncode == 0 and out.strip() == "done", err
    assert load_model(target).iterations in (11, 12, 13)
    assert _others(tmp_path, {"m.h5"}) == []


# --------------------------------------------------------------------------- targets that are not regular files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_target_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "m.h5"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match=re.escape(f"cannot write {fifo}: it is a named pipe, not a regular file")):
        save_model(_model(), fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _others(tmp_path, {"m.h5"}) == []


def test_character_device_target_is_refused(tmp_path):
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a copy of /dev/null
    except (OSError, AttributeError) as exc:
        pytest.skip(f"cannot create a device node here: {exc}")
    with pytest.raises(OSError, match="it is a character device, not a regular file"):
        with atomic_path(device) as tmp:
            open(tmp, "w").close()
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_directory_target_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match=re.escape(f"cannot write {tmp_path}: it is a directory")):
        save_model(_model(), tmp_path)


def test_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.h5"
    save_model(_model(iterations=7), real)
    link = tmp_path / "link.h5"
    link.symlink_to(real)
    save_model(_model(iterations=8), link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert load_model(real).iterations == 8
    dangling = tmp_path / "dangling.h5"
    dangling.symlink_to(tmp_path / "created.h5")
    save_model(_model(iterations=9), dangling)
    assert dangling.is_symlink() and load_model(tmp_path / "created.h5").iterations == 9
    assert _others(tmp_path, {"real.h5", "link.h5", "dangling.h5", "created.h5"}) == []
