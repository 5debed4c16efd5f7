"""Sphinx configuration of the hbiview API reference (built from the numpydoc docstrings).

Build: ``python -m sphinx -W --keep-going -b html docs/api build/api`` (warnings are errors in CI).
"""

from __future__ import annotations

import hbiview

project = "hbiview"
author = "The hbiview developers"
copyright = "the hbiview developers, BSD-3-Clause"
release = hbiview.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # numpydoc-style sections (Parameters, Returns, Raises, Examples)
    "sphinx.ext.viewcode",
]
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
    # a package documents what it defines; what it re-exports is documented once, where it is defined
    "ignore-module-all": True,
}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
nitpicky = False
exclude_patterns = ["_build", "generated/*.cli.*"]
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"hbiview {release} API reference"
suppress_warnings = ["autosummary.import_cycle"]
