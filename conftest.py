"""Collection settings shared by tests/ and the doctests of xlogreg/ (``--doctest-modules``).

The default run is the quick one a newcomer starts (README, "Run the tests"): tests marked
``slow`` (the exhaustive cases: every backend x device x dtype beyond a representative few,
cases derived from mutation testing, long subprocess runs) are left out of it, with a line
saying how many. ``python -m pytest --full`` runs everything, as CI does; a marker expression
of one's own (``-m slow``, ``-m gpu``) also selects from every test.
"""

import importlib.util

import pytest

# xlogreg/data/_kernels.py is the optional numba module (the "fast" extra): where numba is not
# installed there is nothing in it to import or test (tests/test_data_compiled.py skips, or fails
# where XLOGREG_REQUIRE_BACKENDS names numba).
collect_ignore = [] if importlib.util.find_spec("numba") is not None else ["xlogreg/data/_kernels.py"]


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="xlogreg: also run the tests marked slow (the exhaustive run CI makes)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--full") or config.getoption("markexpr"):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
        config._xlogreg_slow_left_out = len(slow)


def pytest_terminal_summary(terminalreporter, config):
    left_out = getattr(config, "_xlogreg_slow_left_out", 0)
    if left_out:
        terminalreporter.write_line(f"xlogreg: {left_out} exhaustive tests (marked slow) were left out of this "
                                    "quick run; `python -m pytest --full` runs them too (CI does)")
