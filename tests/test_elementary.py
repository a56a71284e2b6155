"""The vectorizable exp, tanh and logistic against NumPy/SciPy, in ulp."""

import numba
import numpy as np
import pytest
from scipy.special import expit

from fastbp import _elementary
from fastbp._jit import FASTMATH


# compiled like the kernels (same fastmath flags, which affect accuracy),
# but not cached: a cached test kernel would not notice a changed
# _elementary.py and would keep testing the old code
@numba.njit(fastmath=FASTMATH, error_model="numpy")
def _apply(code, x, out):
    for i in range(x.shape[0]):
        if code == 0:
            out[i] = _elementary.exp(x[i])
        elif code == 1:
            out[i] = _elementary.tanh(x[i])
        else:
            out[i] = _elementary.logistic(x[i])


FUNCTIONS = {"exp": (0, np.exp), "tanh": (1, np.tanh), "logistic": (2, expit)}


def _ulp_error(name, x):
    code, reference = FUNCTIONS[name]
    out = np.empty_like(x)
    _apply(code, x, out)
    expected = reference(x)
    return np.abs(out - expected) / np.spacing(np.abs(expected))


@pytest.mark.parametrize(
    "name,low,high,max_ulp",
    [
        ("exp", -20, 20, 8),
        ("exp", -1e-3, 1e-3, 2),
        ("tanh", -25, 25, 2),
        ("tanh", -0.7, 0.7, 2),
        ("tanh", -1e-6, 1e-6, 1),
        ("logistic", -25, 25, 10),
    ],
)
def test_accuracy_in_ulp(name, low, high, max_ulp):
    x = np.random.RandomState(0).uniform(low, high, 100_000)
    assert _ulp_error(name, x).max() <= max_ulp


def test_exp_relative_error_over_its_whole_range():
    x = np.random.RandomState(1).uniform(-708, 709.7, 100_000)
    code, _ = FUNCTIONS["exp"]
    out = np.empty_like(x)
    _apply(code, x, out)
    np.testing.assert_allclose(out, np.exp(x), rtol=5e-14)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_special_values(name):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 710.0, -746.0, 5e-324])
    code, reference = FUNCTIONS[name]
    out = np.empty_like(x)
    _apply(code, x, out)
    with np.errstate(over="ignore"):
        expected = reference(x)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    finite = ~np.isnan(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-15, atol=0)
