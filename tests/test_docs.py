"""The documentation's API reference has an entry for every public name (no Sphinx needed).

``docs/api/index.rst`` lists the names in ``autosummary`` tables, one generated page each; this
reads those tables and compares them with ``xlogreg.__all__`` (the estimators included, whether
or not scikit-learn is installed here) and with the file-format functions of ``xlogreg.io`` that
the guide documents.
"""

import importlib
import re

import xlogreg
from conftest import ROOT

API_INDEX = ROOT / "docs" / "api" / "index.rst"
# Public names outside xlogreg.__all__ that the user guide documents: xlogreg.io's file formats.
MODULE_NAMES = {"io.load_images", "io.data_to_X", "io.open_lazy", "io.load_h5", "io.write_pictures"}


def documented_names():
    """The names in the autosummary tables of docs/api/index.rst (relative to ``xlogreg``)."""
    names, in_table = [], False
    for line in API_INDEX.read_text(encoding="utf-8").splitlines():
        if line.startswith(".. autosummary::"):
            in_table = True
        elif in_table and re.fullmatch(r"   [A-Za-z_][\w.]*", line):
            names.append(line.strip())
        elif in_table and line.strip() and not line.startswith("   "):
            in_table = False
    return names


def test_every_public_name_has_a_reference_page():
    names = documented_names()
    assert len(names) == len(set(names)), "a name is listed twice"
    public = set(xlogreg.__all__) | set(xlogreg._ESTIMATORS)
    assert public - set(names) == set(), "public names without an API reference entry"
    assert set(names) - public - MODULE_NAMES == set(), "reference entries that are not public names"


def test_documented_names_resolve():
    for name in MODULE_NAMES:
        module, attribute = name.split(".")
        assert callable(getattr(importlib.import_module(f"xlogreg.{module}"), attribute)), name
        assert attribute in importlib.import_module(f"xlogreg.{module}").__all__, name


def test_the_reader_of_the_index_reads_tables_only():
    assert {"train", "Model", "LogisticRegression", "io.open_lazy"} <= set(documented_names())
    assert "generated/" not in documented_names() and ":toctree:" not in "".join(documented_names())
