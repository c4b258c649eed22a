"""Sphinx configuration for kraken_trio (``nox -s docs``; warnings are errors)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import kraken_trio  # noqa: E402

project = "kraken_trio"
author = "kraken_trio developers"
copyright = "kraken_trio developers"
release = kraken_trio.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"kraken_trio {release}"

# Google-style docstrings throughout the package.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_preserve_defaults = True

# No intersphinx: the build must work offline (the project's machines have no internet).
nitpicky = False

# benchmarks.md and reliability.md are written by the benchmark and reliability work; the
# index links them as soon as they exist, so a partial checkout still builds without warnings.
RESULT_PAGES = ("benchmarks", "reliability")


def _results_toctree(app: Any, docname: str, source: list[str]) -> None:
    if docname != "index":
        return
    present = [name for name in RESULT_PAGES if (HERE / f"{name}.md").exists()]
    missing = [name for name in RESULT_PAGES if name not in present]
    lines = "\n".join(present)
    note = "".join(f"\n- `{name}.md`: not written yet in this checkout\n" for name in missing)
    source[0] = source[0].replace("%%RESULT_PAGES%%", lines).replace("%%RESULT_NOTES%%", note)


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", _results_toctree)
    return {"parallel_read_safe": True}
