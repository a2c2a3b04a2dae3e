"""Sphinx configuration of the xlogreg documentation site.

Built by the README's docs command (``<!-- ci: docs command -->``) with ``-W``: any warning (a
broken docstring, a dead cross-reference, a gallery example that raises) fails the build.
Nothing is fetched from the network (no intersphinx), so the build runs where CI runs.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # this checkout's xlogreg, also when it is not installed

import xlogreg  # noqa: E402

# The gallery's course examples read the course files from XLOGREG_DATA_DIR, as the tests do;
# the default is CI's layout, the checkout beside shared/datasets.
os.environ.setdefault("XLOGREG_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "xlogreg"
author = "the xlogreg authors"
copyright = "the xlogreg authors, BSD-3-Clause"
version = release = xlogreg.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_design",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "sg_execution_times.rst", "**/README.md"]
templates_path = ["_templates"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

# One page per public name, generated from its numpydoc docstring (api/index.rst lists them).
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False  # the class template lists the methods itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,  # an example that raises fails the build
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib",),
}

html_theme = "pydata_sphinx_theme"
html_title = f"xlogreg {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
    "secondary_sidebar_items": ["page-toc"],
}
# Said explicitly: left empty, the theme's script logs "invalid theme mode" as an error in the
# reader's console (docs/test_site.py fails on console errors).
html_context = {"default_mode": "auto"}
html_sidebars = {"index": []}
html_show_sourcelink = False


def _skip_metadata_requests(app, what, name, obj, skip, options):
    # scikit-learn adds set_fit_request, set_score_request, ... to every estimator class (metadata
    # routing); their docstrings point into scikit-learn's own documentation, not this site.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
