"""Sphinx configuration of fastbp's documentation.

Build from the repository root (warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

``-D plot_gallery=0`` renders the examples without running them (faster, no
figures). The build works offline: cross-links to other projects' docs
(intersphinx) are off unless ``FASTBP_DOCS_INTERSPHINX=1`` is set, because
fetching their inventories needs the network.
"""

import os
import re

import fastbp

project = "fastbp"
copyright = "fastbp developers"
release = fastbp.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
# generated/ and auto_examples/ are written here by the build (see .gitignore)
exclude_patterns = ["_build"]
# `single backticks` in docstrings render as code, not as an emphasised
# reference to nothing
default_role = "literal"

# --- API reference -------------------------------------------------------
# api/index.rst lists the public names; autosummary writes one page each into
# api/generated/, whose file names the estimators' notebook repr links to
# (fastbp._base.DOCS_URL + "api/generated/fastbp.BackpropClassifier.html").
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"  # the numpydoc sections already give the types
# numpydoc puts a table of the methods at the top of each class page; make it
# link into the same page instead of asking for a page per method
numpydoc_class_members_toctree = False

# --- Cross-links to other projects (needs the network) --------------------
if os.environ.get("FASTBP_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }
else:
    # offline: names such as sklearn.pipeline.Pipeline render as plain code
    intersphinx_mapping = {}

# Methods inherited from scikit-learn (score, get_params, set_fit_request, ...)
# keep their docstrings, which point into scikit-learn's user guide and
# glossary with :ref: and :term:. Those targets resolve only through
# intersphinx; offline they would be undefined-label warnings, so there the
# roles are reduced to their text.
_SKLEARN_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _fix_docstring(app, what, name, obj, options, lines):
    if intersphinx_mapping or not getattr(obj, "__module__", "").startswith("sklearn."):
        return
    for i, line in enumerate(lines):
        lines[i] = _SKLEARN_ROLE.sub(r"\1", line)


# --- Example gallery -----------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    # only examples/<topic>/plot_*.py are run (the default pattern, spelled
    # out); an example that raises fails the build
    "filename_pattern": re.escape(os.sep) + "plot_",
    "within_subsection_order": "FileNameSortKey",
    # per-object lists of the examples that use it, shown on the API pages
    # by the minigallery in _templates/class.rst and function.rst
    "doc_module": ("fastbp",),
    "backreferences_dir": os.path.join("api", "generated"),
    # link names in the examples' code to the API pages: older sphinx-gallery
    # (0.16 for one) needs this; 0.22 does it anyway and logs that the option
    # is ignored
    "reference_url": {"fastbp": None},
}

# --- HTML ----------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastbp {release}"
html_theme_options = {"show_prev_next": False}


def setup(app):
    app.connect("autodoc-process-docstring", _fix_docstring)
