"""Run pytest against named mutmut mutants one after another, in one process: killed or survived.

    cd CLONE/mutants     # a mutmut 3 tree (``mutmut run`` has generated the mutants)
    python /path/to/scripts/mutation_rerun.py NAMES OUT [--limit S] [--first A,B] [--clear M:f,g] -- PYTEST_ARGS

NAMES is a file of mutant names (``xlogreg.solvers.x_run__mutmut_51``, one a
line); each is activated through ``MUTANT_UNDER_TEST`` (mutmut's trampoline
reads it on every call), then ``pytest -x -q PYTEST_ARGS`` runs, and one line
goes to OUT: ``NAME: killed|survived|rc=N SECONDS [first failure or summary]``.
The unmutated tree runs first, as ``clean``: it must survive, or no verdict
below it means anything.

Why not ``mutmut run NAME...``: mutmut forks a process per mutant and runs
every test it mapped to the function; a rerun of a few dozen survivors
against new tests, or against tests mutmut cannot map (see
docs/mutation-testing.md), is much faster in one process with the tests
that matter first. ``--first`` runs the tests whose node id contains one of
those words first (stable otherwise), so most mutants die in seconds.
``--clear module:f,g`` empties the ``functools.cache`` of those functions
before each mutant: a cached function would otherwise keep handing out what
the first mutant (or the clean tree) built. ``--limit`` stops a mutant after
that many seconds (reported as ``rc=alarm``: a hang, not a verdict).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import time


def pytest_collection_modifyitems(session, config, items):
    """pytest hook (this file is also loaded as a plugin): the tests named in $MUTATION_RERUN_FIRST first."""
    first = [s for s in os.environ.get("MUTATION_RERUN_FIRST", "").split(",") if s]

    def rank(item):
        return next((i for i, s in enumerate(first) if s in item.nodeid), len(first))

    items.sort(key=rank)


class _Report:
    """pytest plugin: the first test that failed or errored, and how many passed."""

    def __init__(self):
        self.passed, self.first = 0, None

    def pytest_runtest_logreport(self, report):
        if report.failed and self.first is None:
            self.first = f"{'FAILED' if report.when == 'call' else 'ERROR'} {report.nodeid}"
        elif report.passed and report.when == "call":
            self.passed += 1

    def summary(self):
        return self.first or f"{self.passed} passed"


def _alarm(*_):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", help="file of mutant names, one a line")
    parser.add_argument("out", help="file to write the verdicts to (overwritten)")
    parser.add_argument("--limit", type=int, default=600, help="seconds per mutant (default 600)")
    parser.add_argument("--first", default="", help="comma-separated words: tests whose id has one run first")
    parser.add_argument("--clear", action="append", default=[], metavar="MODULE:F,G",
                        help="functools.cache functions to empty before each mutant")
    argv = sys.argv[1:] if argv is None else list(argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    args, pytest_args = parser.parse_args(argv[:cut]), argv[cut + 1:]  # after --: pytest's arguments
    with open(args.names) as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        parser.error(f"{args.names} names no mutant")
    import pytest

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.environ["MUTATION_RERUN_FIRST"] = args.first
    signal.signal(signal.SIGALRM, _alarm)
    with open(args.out, "w") as out:
        for name in ["clean", *names]:
            os.environ["MUTANT_UNDER_TEST"] = "" if name == "clean" else name
            for spec in args.clear:
                module, functions = spec.split(":")
                for function in functions.split(","):
                    getattr(importlib.import_module(module), function).cache_clear()
            report = _Report()
            start = time.time()
            signal.alarm(args.limit)
            try:  # pytest's output goes to this script's own (a StringIO in its place breaks tests using fileno)
                rc = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-p", "mutation_rerun", *pytest_args],
                                 plugins=[report])
            except KeyboardInterrupt:
                rc = "alarm"
            finally:
                signal.alarm(0)
            verdict = {1: "killed", 0: "survived"}.get(rc, f"rc={rc}")
            out.write(f"{name}: {verdict} {time.time() - start:.1f}s {report.summary()}\n")
            out.flush()


if __name__ == "__main__":
    main()
