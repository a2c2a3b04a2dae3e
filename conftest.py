"""Collection settings shared by tests/ and the doctests of xlogreg/ (``--doctest-modules``)."""

import importlib.util

# xlogreg/data/_kernels.py is the optional numba module (the "fast" extra): where numba is not
# installed there is nothing in it to import or test (tests/test_data_compiled.py skips, or fails
# where XLOGREG_REQUIRE_BACKENDS names numba).
collect_ignore = [] if importlib.util.find_spec("numba") is not None else ["xlogreg/data/_kernels.py"]
