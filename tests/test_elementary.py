"""The vectorizable exp, tanh and logistic against NumPy/SciPy, in ulp; the newer activations' functions in both precisions."""

import numba
import numpy as np
import pytest
from scipy.special import erfc, expit

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


# -- in either precision: float32 computes in float32 ----------------------------------


@numba.njit(fastmath=FASTMATH, error_model="numpy")
def _apply_either(code, x, first, second):
    for i in range(x.shape[0]):
        if code == 0:
            a, b = _elementary.exp_either(x[i]), x[i]
        elif code == 1:
            a, b = _elementary.exp_and_expm1(x[i])
        elif code == 2:
            a, b = _elementary.erfc_and_gaussian(x[i])
        else:
            a, b = _elementary.log1p_and_reciprocal(x[i])
        first[i], second[i] = a, b


EITHER = {"exp_either": 0, "exp_and_expm1": 1, "erfc_and_gaussian": 2, "log1p_and_reciprocal": 3}


def _either(name, x):
    first, second = np.empty_like(x), np.empty_like(x)
    _apply_either(EITHER[name], x, first, second)
    assert first.dtype == second.dtype == x.dtype
    return first.astype(np.float64), second.astype(np.float64)


def _ulps(got, expected, dtype):
    """|got - expected| in ulp of ``dtype`` at ``expected`` (computed in float64)."""
    return np.abs(got - expected) / np.spacing(np.abs(expected).astype(dtype)).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_functions_in_either_precision_within_a_few_ulp(dtype):
    rng = np.random.RandomState(2)
    # exp's error grows with |x| (fastmath folds the two parts of ln 2, see
    # _elementary): measured in float32, 1.4 ulp on |x| <= 20, 4.5 up to 88
    for high, max_ulp in ((20, 8 if dtype == np.float64 else 2), (88, 64 if dtype == np.float64 else 6)):
        x = rng.uniform(-high, high, 100_000).astype(dtype)
        e, _ = _either("exp_either", x)
        normal = np.exp(x.astype(np.float64)) > np.finfo(dtype).tiny
        assert _ulps(e, np.exp(x.astype(np.float64)), dtype)[normal].max() <= max_ulp
    x = rng.uniform(-3, 3, 100_000).astype(dtype)
    e, em1 = _either("exp_and_expm1", x)
    assert _ulps(e, np.exp(x.astype(np.float64)), dtype).max() <= 2
    assert _ulps(em1, np.expm1(x.astype(np.float64)), dtype).max() <= 5
    t = np.concatenate([rng.uniform(0, 1, 100_000), np.geomspace(1e-30, 1, 1000)]).astype(dtype)
    log1p, reciprocal = _either("log1p_and_reciprocal", t)
    assert _ulps(log1p, np.log1p(t.astype(np.float64)), dtype).max() <= 4
    assert _ulps(reciprocal, 1 / (1 + t.astype(np.float64)), dtype).max() <= 3


def test_erfc_in_float64_and_float32():
    """float64 to 4e-15 relative; float32's exp(-x^2) grows the rounding of x^2 by x^2."""
    x = np.random.RandomState(3).uniform(-9, 9, 100_000)
    for dtype, rtol in ((np.float64, 4e-15 + 0 * x), (np.float32, 2**-21 * (1 + x * x))):
        xd = x.astype(dtype)
        expected_erfc, expected_gauss = erfc(xd.astype(np.float64)), np.exp(-(xd.astype(np.float64) ** 2))
        got_erfc, got_gauss = _either("erfc_and_gaussian", xd)
        assert np.all(np.abs(got_erfc - expected_erfc) <= rtol * expected_erfc + 1e-300)
        assert np.all(np.abs(got_gauss - expected_gauss) <= rtol * expected_gauss + 1e-300)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_exp_in_either_precision_at_special_values(dtype):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 89.0, -88.0, -95.0, -103.0], dtype)
    got, _ = _either("exp_either", x)
    with np.errstate(over="ignore", under="ignore"):
        expected = np.exp(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = ~np.isnan(expected)
    # float32's exp gives 0 below its smallest normal number (no subnormal results)
    atol = np.finfo(dtype).tiny if dtype == np.float32 else np.finfo(dtype).smallest_subnormal
    np.testing.assert_allclose(got[finite], expected[finite], rtol=2**-21, atol=atol)
    if dtype == np.float32:
        assert np.all(np.isnan(got) | (got == 0) | (np.abs(got) >= np.finfo(dtype).tiny))
