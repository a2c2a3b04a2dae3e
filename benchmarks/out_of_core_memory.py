"""Peak resident memory of out-of-core training: the command line on a file bigger than its memory limit.

    python benchmarks/out_of_core_memory.py                  # 1 GiB file, 320 MiB limit: about a minute
    python benchmarks/out_of_core_memory.py --json benchmarks/results/out_of_core_memory.json

A synthetic course-format file of 87,382 images of 64x64x3 uint8 (1.0 GiB;
``scripts/make_dataset.py``) is written to a temporary directory; then
``xlogreg train --backend dask --train FILE -n 1 --dtype float32`` runs in a
child process whose data segment is limited (``RLIMIT_DATA``, 320 MiB by
default: the file is 3.2 times that; X in float32 would be 4 GiB). Reported:
the child's peak resident memory, the kernel's ``VmHWM`` of that process image
(``ru_maxrss`` would carry over the parent's from before the exec), and whether
training finished. ``tests/test_dask.py`` runs the same measurement and checks
the peak stays under the limit. Nothing is timed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]

MEMORY_LIMIT = 320 * 2**20
EXAMPLES = 87382  # 64x64x3 uint8: 1.0 GiB of pixels

CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_DATA, ({limit}, {limit}))
from xlogreg.cli import main
status = main(sys.argv[1:])
with open("/proc/self/status") as f:
    peak_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print("PEAK_RSS_BYTES", peak_kib * 1024)
sys.exit(status)
"""

#: The child's environment: small chunks, one BLAS thread and two malloc arenas, since
#: reserved-but-unused address space also counts against RLIMIT_DATA.
CHILD_ENV = {"DASK_ARRAY__CHUNK_SIZE": "16MiB", "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


def write_data(path, examples=EXAMPLES):
    """The synthetic file (seed 0); returns its size in bytes."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_dataset

    make_dataset.write(path, examples, (64, 64, 3), seed=0)
    return path.stat().st_size


def train_limited(path, summary_path, limit=MEMORY_LIMIT, timeout=240):
    """Run the out-of-core training command under `limit`; returns (completed process, peak RSS bytes or None)."""
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    run = subprocess.run(
        [sys.executable, "-c", CHILD.format(limit=limit), "train", "--backend", "dask", "--train", str(path),
         "-n", "1", "--dtype", "float32", "-q", "--json", str(summary_path)],
        capture_output=True, text=True, env=env, timeout=timeout,
    )
    peak = int(run.stdout.split("PEAK_RSS_BYTES")[1].split()[0]) if "PEAK_RSS_BYTES" in run.stdout else None
    return run, peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=EXAMPLES, help=f"images of 64x64x3 (default {EXAMPLES})")
    parser.add_argument("--limit-mib", type=int, default=MEMORY_LIMIT // 2**20, help="RLIMIT_DATA of the child")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="xlogreg-memory-") as directory:
        path = pathlib.Path(directory) / "big.h5"
        size = write_data(path, args.examples)
        run, peak = train_limited(path, pathlib.Path(directory) / "run.json", args.limit_mib * 2**20)
        summary = json.loads((pathlib.Path(directory) / "run.json").read_text()) if run.returncode == 0 else None
    if run.returncode != 0 or peak is None:
        sys.exit(f"out_of_core_memory: the training command failed (exit {run.returncode}):\n"
                 f"{run.stdout}{run.stderr}")
    print(f"file: {args.examples} images of 64x64x3, {size / 2**30:.2f} GiB; limit {args.limit_mib} MiB; "
          f"peak resident memory {peak / 2**20:.0f} MiB ({peak / 1e6:.0f} MB)")
    if args.json:
        command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])
        import dask
        import numpy

        info = {
            "what": "peak resident memory (VmHWM) of `xlogreg train --backend dask --train FILE -n 1 --dtype "
                    "float32` on a file bigger than the child's RLIMIT_DATA",
            "command": command, "date": datetime.date.today().isoformat(),
            "versions": {"python": platform.python_version(), "numpy": numpy.__version__, "dask": dask.__version__},
            "platform": platform.platform(), "child_env": CHILD_ENV,
            "file_bytes": size, "examples": args.examples, "limit_bytes": args.limit_mib * 2**20,
            "peak_rss_bytes": peak, "train_accuracy": summary["runs"][0]["train_accuracy"],
        }
        pathlib.Path(args.json).write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
