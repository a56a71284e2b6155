"""scikit-learn's own MLP tests, run against fastbp's estimators.

At test time the installed scikit-learn's ``neural_network/tests/test_mlp.py``
is copied to a temporary directory (it is never part of this repository), its
one import of ``MLPClassifier``/``MLPRegressor`` is pointed at fastbp's
classes, and it is run by pytest in a subprocess, with scikit-learn's conftest
as a plugin (it provides the ``global_random_seed`` fixture) and an empty
config of its own (so this repository's pytest settings do not apply). Each
test's outcome is read from a junit XML report: every failure must be listed
in EXPECTED, and every entry of EXPECTED must still fail.

Manual run on scikit-learn 1.7.x (the oldest pyproject.toml allows), from the
repository root, in a venv and compile caches of its own::

    python -m venv /tmp/venv17
    /tmp/venv17/bin/python -m pip install -e ".[test]" "scikit-learn==1.7.*"
    FASTBP_CACHE_DIR=/tmp/cache17/fastbp NUMBA_CACHE_DIR=/tmp/cache17/numba \\
        /tmp/venv17/bin/python -m pytest tests/test_sklearn_suite.py
"""

import ast
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sklearn

SKLEARN_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
FASTBP_IMPORT = "from fastbp import BackpropClassifier as MLPClassifier, BackpropRegressor as MLPRegressor"

# Tests expected to fail, keyed by function name (any parametrization):
# only tests that use a scikit-learn private method. Each maps to the fastbp
# test that checks the same public behaviour, and the reason.
EXPECTED = {
    "test_gradient": (
        "tests/test_gradcheck.py::test_gradient_matches_finite_differences",
        "calls MLPClassifier._loss_grad_lbfgs, scikit-learn's private loss/gradient method",
    ),
}

TIMEOUT = 900  # seconds; the suite takes well under a minute, plus ~30 s compiling into a fresh cache


def rewrite_import(source):
    """Point the test file's import of the MLP estimators at fastbp.

    Parameters
    ----------
    source : str
        Text of scikit-learn's ``test_mlp.py``.

    Returns
    -------
    str
        The same text with the line ``SKLEARN_IMPORT`` replaced by
        ``FASTBP_IMPORT``.

    Raises
    ------
    ValueError
        Unless the file imports from ``sklearn.neural_network`` (or imports a
        name ``MLPClassifier``/``MLPRegressor``) exactly once, on a line of
        its own that reads exactly ``SKLEARN_IMPORT``.
    """
    lines = source.splitlines(keepends=True)
    imports = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and (
            (getattr(node, "module", None) or "").startswith("sklearn.neural_network")
            or any(a.name.startswith("sklearn.neural_network") for a in node.names)
            or {a.name for a in node.names} & {"MLPClassifier", "MLPRegressor"}
        )
    ]
    found = ["".join(lines[n.lineno - 1 : n.end_lineno]).rstrip() for n in imports]
    if found != [SKLEARN_IMPORT]:
        raise ValueError(
            f"expected scikit-learn's test_mlp.py to import the MLP estimators by exactly one line "
            f"{SKLEARN_IMPORT!r} (and nothing else from sklearn.neural_network); found {found}"
        )
    i = imports[0].lineno - 1
    lines[i] = lines[i].replace(SKLEARN_IMPORT, FASTBP_IMPORT)
    return "".join(lines)


def sklearn_test_file(sklearn_dir=Path(sklearn.__file__).parent):
    """Path of the installed scikit-learn's MLP test file.

    Parameters
    ----------
    sklearn_dir : Path, default: the installed scikit-learn's package directory
        Directory of the ``sklearn`` package.

    Returns
    -------
    Path
        ``sklearn_dir / "neural_network/tests/test_mlp.py"``.

    Raises
    ------
    FileNotFoundError
        If that file does not exist.
    """
    path = sklearn_dir / "neural_network" / "tests" / "test_mlp.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"expected scikit-learn {sklearn.__version__}'s MLP tests at {path}; "
            "is scikit-learn installed without its tests?"
        )
    return path


def junit_outcomes(xml_path):
    """Outcome of each test case in a junit XML report.

    Parameters
    ----------
    xml_path : Path
        Report written by ``pytest --junitxml``.

    Returns
    -------
    list of (str, str, str)
        ``(name, outcome, text)`` for each test case, in report order:
        ``name`` as pytest reports it (``test_x[param]``), ``outcome`` one of
        ``"passed"``, ``"skipped"``, ``"failure"``, ``"error"``, and ``text``
        the message and traceback of a failure or error (else empty).
    """
    outcomes = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        results = [child for child in case if child.tag in ("failure", "error", "skipped")]
        if not results:
            outcomes.append((case.get("name"), "passed", ""))
        for result in results:
            text = f"{result.get('message', '')}\n{result.text or ''}"
            outcomes.append((case.get("name"), result.tag, text))
    return outcomes


def tail(text, n_lines=6):
    """Last ``n_lines`` non-empty lines of ``text``, indented."""
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join("      " + line for line in lines[-n_lines:])


def problems(outcomes, expected=EXPECTED):
    """Failures not in ``expected``, and entries of ``expected`` that did not fail.

    Parameters
    ----------
    outcomes : list of (str, str, str)
        As returned by :func:`junit_outcomes`.
    expected : dict
        Keyed by test function name, which matches any parametrization
        (``test_x`` matches ``test_x[a]``).

    Returns
    -------
    list of str
        One report per problem, with the tail of the failure's message; empty
        if the outcomes are as expected.
    """
    failed = [(name, kind, text) for name, kind, text in outcomes if kind in ("failure", "error")]
    failed_functions = {name.split("[")[0] for name, _, _ in failed}
    found = [
        f"{name} ({kind}):\n{tail(text)}" for name, kind, text in failed if name.split("[")[0] not in expected
    ]
    found += [f"{name}: in EXPECTED but did not fail" for name in sorted(set(expected) - failed_functions)]
    return found


def test_sklearn_mlp_suite(tmp_path):
    """scikit-learn's test_mlp.py passes with fastbp's estimators, but for EXPECTED."""
    test_file = tmp_path / "test_mlp.py"
    test_file.write_text(rewrite_import(sklearn_test_file().read_text()))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # rootdir and config: tmp_path, not this repo
    report = tmp_path / "report.xml"
    command = [
        sys.executable, "-m", "pytest", str(test_file),
        "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
        "-p", "sklearn.conftest", "-p", "no:cacheprovider",
        "-W", "error::numba.NumbaWarning",  # as in this repo's own tests
        f"--junitxml={report}", "-q",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    if not report.is_file():
        output = (result.stdout + result.stderr)[-3000:]
        pytest.fail(f"pytest wrote no report (exit {result.returncode}):\n{output}", pytrace=False)
    outcomes = junit_outcomes(report)
    if not any(kind != "skipped" for _, kind, _ in outcomes):
        pytest.fail(f"no test ran:\n{result.stdout[-3000:]}", pytrace=False)
    found = problems(outcomes)
    if found:
        header = f"scikit-learn {sklearn.__version__}'s test_mlp.py with fastbp, {len(found)} problems:"
        pytest.fail("\n".join([header, *found]), pytrace=False)


def test_problems_match_expected_by_function_name():
    expected = {"test_x": ("tests/test_y.py::test_y", "reason")}
    ok = [("test_x[a]", "failure", "boom"), ("test_x[b]", "passed", ""), ("test_z", "skipped", "")]
    assert problems(ok, expected) == []
    unexpected = problems([*ok, ("test_w[1]", "error", "message\nlast line")], expected)
    assert unexpected == ["test_w[1] (error):\n      message\n      last line"]
    assert problems([("test_x[a]", "passed", "")], expected) == ["test_x: in EXPECTED but did not fail"]
    assert problems([], expected) == ["test_x: in EXPECTED but did not fail"]


# -- the rewriting, on small fake files ---------------------------------------

HEADER = "import numpy as np\n\n"
BODY = "\n\ndef test_a():\n    assert MLPClassifier\n"


def test_rewrite_import_points_at_fastbp():
    rewritten = rewrite_import(HEADER + SKLEARN_IMPORT + BODY)
    assert rewritten == HEADER + FASTBP_IMPORT + BODY
    namespace = {}
    exec(FASTBP_IMPORT, namespace)
    assert namespace["MLPClassifier"].__name__ == "BackpropClassifier"
    assert namespace["MLPRegressor"].__name__ == "BackpropRegressor"


def test_rewrite_import_ignores_the_module_named_in_docstrings_and_comments():
    source = '"""Tests for sklearn.neural_network."""\n# from sklearn.neural_network import X\n'
    assert rewrite_import(source + SKLEARN_IMPORT + BODY) == source + FASTBP_IMPORT + BODY


@pytest.mark.parametrize(
    "source",
    [
        HEADER + BODY,  # missing
        HEADER + SKLEARN_IMPORT + "\n" + SKLEARN_IMPORT + BODY,  # twice
        HEADER + "from sklearn.neural_network import (MLPClassifier,\n    MLPRegressor)" + BODY,
        HEADER + "from sklearn.neural_network import MLPRegressor, MLPClassifier" + BODY,
        HEADER + SKLEARN_IMPORT + "\nfrom sklearn.neural_network._base import ACTIVATIONS" + BODY,
        HEADER + SKLEARN_IMPORT + "\nimport sklearn.neural_network" + BODY,
        HEADER + "from sklearn.neural_network._multilayer_perceptron import MLPClassifier" + BODY,
    ],
    ids=["missing", "twice", "parenthesized", "reordered", "other-name", "module-import", "private-module"],
)
def test_rewrite_import_rejects_an_unknown_layout(source):
    with pytest.raises(ValueError, match="expected scikit-learn's test_mlp.py to import"):
        rewrite_import(source)


def test_missing_test_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected scikit-learn .*'s MLP tests at"):
        sklearn_test_file(tmp_path)
    assert sklearn_test_file().is_file()


def test_expected_entries_name_existing_fastbp_tests():
    for fastbp_test, _ in EXPECTED.values():
        path, name = fastbp_test.split("::")
        assert f"\ndef {name}(" in (Path(__file__).parents[1] / path).read_text(), fastbp_test
