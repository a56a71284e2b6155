"""The documentation builds without a warning, offline, and has the pages that are linked to."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

for _module in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme", "matplotlib"):
    pytest.importorskip(_module, reason='the docs extra is not installed: pip install -e ".[docs]"')

import fastbp

ROOT = Path(__file__).resolve().parent.parent
# what the build writes into its source folders (docs/.gitignore); a copy
# made after an in-place build leaves them out, so the build starts clean
_GENERATED = shutil.ignore_patterns("_build", "generated", "auto_examples", "sg_execution_times.rst")


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    """Build the site from a copy of docs/ and examples/, so nothing is written into the repository."""
    tmp = tmp_path_factory.mktemp("docs")
    for folder in ("docs", "examples"):
        shutil.copytree(ROOT / folder, tmp / "src" / folder, ignore=_GENERATED)
    env = {key: value for key, value in os.environ.items() if key != "FASTBP_DOCS_INTERSPHINX"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "-b",
            "html",
            "-d",
            str(tmp / "doctrees"),
            str(tmp / "src" / "docs"),
            str(tmp / "html"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    return tmp / "html"


@pytest.mark.parametrize("name", ["BackpropClassifier", "BackpropRegressor"])
def test_estimator_pages_are_where_the_notebook_repr_links(html, name):
    estimator = getattr(fastbp, name)()
    url = estimator._doc_link_template.format(
        estimator_module=estimator._doc_link_module, estimator_name=name
    )
    assert url.startswith(fastbp._base.DOCS_URL)
    page = html / url[len(fastbp._base.DOCS_URL) :]
    assert page.name == f"fastbp.{name}.html"
    text = page.read_text()
    # the numpydoc parameter and attribute tables, and the methods
    for word in ("hidden_layer_sizes", "learning_rate_init", "coefs_", "loss_curve_", "partial_fit"):
        assert word in text, word


def test_transformer_page_is_where_the_notebook_repr_links(html):
    url = fastbp.RobustSmoothClipScaler()._get_doc_link()
    assert url.startswith(fastbp._base.DOCS_URL)
    text = (html / url[len(fastbp._base.DOCS_URL) :]).read_text()
    for word in ("clip_bound", "center_", "scale_", "get_feature_names_out", "set_output"):
        assert word in text, word


@pytest.mark.parametrize("name", ["cache_dir", "warm_up"])
def test_function_pages_exist(html, name):
    assert "Returns" in (html / "api" / "generated" / f"fastbp.{name}.html").read_text()


def test_every_example_is_a_gallery_page_with_its_output(html):
    examples = sorted((ROOT / "examples").glob("*/plot_*.py"))
    assert examples
    for example in examples:
        page = html / "auto_examples" / example.parent.name / f"{example.stem}.html"
        text = page.read_text()
        assert "sphx-glr-script-out" in text, f"{page} shows no output: the example did not run"
    assert (html / "auto_examples" / "index.html").exists()


def test_user_guide_pages_exist(html):
    for page in ("index", "quickstart", "migrating", "differences", "robustness", "performance", "cache"):
        assert (html / f"{page}.html").exists(), page
