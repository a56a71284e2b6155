"""The README's quickstart and CI agree, and the examples run."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastbp

ROOT = Path(__file__).resolve().parent.parent


def _quickstart_commands():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\n(.+?)\n```", quickstart)


def test_quickstart_has_two_commands_and_ci_runs_the_test_one():
    commands = _quickstart_commands()
    assert len(commands) == 2
    assert commands[0].endswith("python -m fastbp")
    assert "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(
    "script", sorted(str(p.relative_to(ROOT / "examples")) for p in (ROOT / "examples").glob("**/*.py"))
)
def test_example_runs(script):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},  # plt.show() never waits for a window
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_main_job_runs():
    result = subprocess.run([sys.executable, "-m", "fastbp"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "BackpropClassifier" in result.stdout and "MLPClassifier" in result.stdout


def _pyproject():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_main_job_help_prints_usage_and_trains_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "fastbp", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m fastbp")
    assert "speed-up" not in result.stdout  # the comparison did not run


def test_license_metadata():
    pyproject = _pyproject()
    project = pyproject["project"]
    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License")
    requires = pyproject["build-system"]["requires"]
    assert requires == ["setuptools>=77"]  # the first to read SPDX license expressions


def test_changelog_names_this_version():
    assert f"## {fastbp.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_documentation_url_is_defined_once_and_agrees_with_pyproject():
    urls = _pyproject()["project"]["urls"]
    assert urls["Documentation"] == fastbp._base.DOCS_URL
    assert fastbp._base.DOCS_URL.startswith("https://") and fastbp._base.DOCS_URL.endswith("/")


def test_scale_extra_is_in_the_test_extra():
    """CI installs ``.[test]``: the dask tests (tests/test_scale.py) run there instead of skipping."""
    extras = _pyproject()["project"]["optional-dependencies"]
    assert extras["scale"] and set(extras["scale"]) <= set(extras["test"])
