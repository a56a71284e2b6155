"""exp, tanh and the logistic function in plain arithmetic, so loops vectorize.

numba lowers ``np.exp``/``np.tanh`` to scalar libm calls (this LLVM has no
SVML), which keeps every loop that uses them scalar: tanh networks trained
2.3x slower than relu ones. These versions use only arithmetic, int32
conversions and bit casts, all of which AVX2 vectorizes: tanh costs ~4 ns
an element instead of ~20 (tests measure accuracy, benchmarks speed).
exp, tanh and logistic evaluate in float64, also for float32 data. exp is Cody-Waite range
reduction, a Taylor polynomial and an exponent-bit shift; tanh near 0 is
Cephes' rational fit (S. L. Moshier).

Accuracy against NumPy, measured by tests/test_elementary.py: tanh within 2
ulp, the logistic function within 10 ulp on |x| <= 25; exp within 8 ulp on
|x| <= 20 and 5e-14 relative anywhere. exp loses accuracy for large
arguments because the kernels' fastmath flags allow reassociation, which
folds the two-part ln 2 of the range reduction into one rounded constant
(an error of k * 1e-16 for x = k ln 2 + r); where fastbp calls it with
large arguments the result is either tiny next to other terms (softmax,
logistic tails) or saturated (tanh).

The newer hidden activations use four more, in plain arithmetic too
(libm's erfc and log1p took ~30 ns an element here, scalar), each in the
precision of its argument (:func:`by_precision`), so that float32 networks
compute in float32, twice as many lanes per vector:
``erfc_and_gaussian`` (GELU's normal CDF and density; float64 within 4e-15
relative of SciPy's erfc on |x| <= 9), ``log1p_and_reciprocal`` (softplus
and its derivative from one division; within 4 ulp on [0, 1], its only
domain there), ``exp_and_expm1`` (ELU), which keeps ``e^x - 1`` accurate
near 0, and ``exp_either``. In float32 each is within a few float32 ulp
(tests/test_elementary.py), except where exp's argument is large: exp(-x^2)
turns the rounding of x^2 into a relative error of about x^2 float32 ulp,
which only ever concerns values that are negligible next to their
layer's others.
"""

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

from ._jit import FASTMATH, inline_kernel, internal_kernel

LOG2E = 1.4426950408889634073599
# ln 2 split in two so that k * LN2_HI is exact for |k| < 2**11
LN2_HI = 6.93145751953125e-1
LN2_LO = 1.42860682030941723212e-6

# exp(r) on |r| <= ln(2) / 2 by its Taylor polynomial of degree 13: the
# remainder is below r^14 / 14! < 5e-18, under half an ulp, and a
# polynomial needs no division (divisions dominated the cost)
EXP_TAYLOR = tuple(1.0 / float(np.prod(np.arange(1, n + 1))) for n in range(14))

# tanh(x) = x + x z P(z) / Q(z), z = x^2, on |x| < 0.625
TANH_P0, TANH_P1, TANH_P2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
TANH_Q0, TANH_Q1, TANH_Q2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3

# erfc(x) = exp(-x^2) t N(t) / D(t) with t = 2 / (2 + x), for 0 <= x <= 27
# (erfc(27) is 5e-319): a rational fit of degree (9, 10) to erfcx(x) (2 + x) / 2,
# smooth on t in [2/29, 1], made for fastbp by least squares in relative
# error with the weights 1 / |D| iterated (Sanathanan-Koerner), the target
# computed by mpmath at 50 digits; coefficients of t^0, t^1, ..., relative
# error below 7e-16 when evaluated in float64. N(0) = 1 / (2 sqrt(pi)) is
# erfc's asymptote erfc(x) ~ exp(-x^2) / (x sqrt(pi)).
ERFC_N = (
    0.2820947917729143, 0.15075358002434497, 1.187562567689036, 0.8437103754274023,
    1.8712978023599391, 1.4378629911554475, 1.4777028834603734, 0.9632697859155249,
    0.535318397973739, 0.19045103995860718,
)  # fmt: skip
ERFC_D = (
    1.0, -0.4655924733735369, 3.8003921760896477, -1.0271235749532712, 4.3294819316619035,
    -0.5550878713553914, 1.7129715658528795, -0.059818886817911254, 0.19994229344397932,
    0.001757199157987355, 0.003101856031042733,
)  # fmt: skip

LN2 = 0.6931471805599453
SQRT2_M1 = 0.41421356237309503  # sqrt(2) - 1


# the float type of each integer width's bits, and back
_FLOAT_OF_BITS = {types.int64: (types.float64, ir.DoubleType()), types.int32: (types.float32, ir.FloatType())}
_BITS_OF_FLOAT = {flt: (bits, ir.IntType(bits.bitwidth)) for bits, (flt, _) in _FLOAT_OF_BITS.items()}


@intrinsic
def _from_bits(typingctx, bits):
    """Reinterpret an int64's bits as a float64, an int32's as a float32 (no conversion)."""
    result, lltype = _FLOAT_OF_BITS[bits]
    return result(bits), lambda context, builder, signature, args: builder.bitcast(args[0], lltype)


@intrinsic
def _bits_of(typingctx, x):
    """The int64 whose bits are those of a float64, the int32 of a float32 (no conversion)."""
    result, lltype = _BITS_OF_FLOAT[x]
    return result(x), lambda context, builder, signature, args: builder.bitcast(args[0], lltype)


@inline_kernel
def _pow2(k):
    """``2.0 ** k`` for integer ``-1022 <= k <= 1023``, from the exponent bits."""
    return _from_bits((k + 1023) << 52)


@internal_kernel
def exp(x):
    """``e ** x`` in float64; overflows to inf, underflows to 0, keeps NaN."""
    # clamp so that k stays a small integer; written so NaN passes
    x = -800.0 if x < -800.0 else x
    x = 800.0 if x > 800.0 else x
    # x = k ln 2 + r with |r| <= ln(2) / 2; k = floor(x / ln 2 + 1/2), taken
    # by truncation to int32 (np.floor is a library call, and int64 <->
    # float64 conversions have no AVX2 instruction: either stops vectorization)
    t = x * LOG2E + 0.5
    ki = np.int32(t) if t == t else np.int32(0)
    k = np.float64(ki)
    below = t < k  # truncation rounded a negative t up
    ki = ki - np.int32(1) if below else ki
    k = k - 1.0 if below else k
    r = x - k * LN2_HI - k * LN2_LO
    # Estrin's scheme: the same polynomial as Horner's rule with a dependency
    # chain of 5 multiply-adds instead of 13, so vector lanes do not wait
    c = EXP_TAYLOR
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    q0 = (c[0] + c[1] * r) + (c[2] + c[3] * r) * r2
    q1 = (c[4] + c[5] * r) + (c[6] + c[7] * r) * r2
    q2 = (c[8] + c[9] * r) + (c[10] + c[11] * r) * r2
    q3 = c[12] + c[13] * r
    e_r = (q0 + q1 * r4) + (q2 + q3 * r4) * r8
    # scale by 2^k. Where the result is a normal number, add k to the
    # exponent bits: exact, and immune to the reassociation fastmath allows
    # (a product of two powers of two could be regrouped and overflow).
    normal = _from_bits(_bits_of(e_r) + (np.int64(ki) << 52))
    # below e^-708 the result is subnormal: multiply by two normal powers of
    # two instead (their product, in any grouping, is exact or rounds once)
    tiny = e_r * _pow2(np.int64(ki) + 600) * _pow2(np.int64(-600))
    result = normal if x >= -708.0 else tiny
    return np.inf if x > 709.782712893384 else result  # ln(largest double)


@internal_kernel
def tanh(x):
    """Hyperbolic tangent in float64, saturating to +-1, keeping NaN."""
    ax = abs(x)
    # near 0 a rational fit x + x z P(z) / Q(z); away from 0
    # (e - 1) / (e + 1) with e = exp(2|x|); one division serves both
    z = x * x
    num_small = x * z * ((TANH_P0 * z + TANH_P1) * z + TANH_P2)
    den_small = ((z + TANH_Q0) * z + TANH_Q1) * z + TANH_Q2
    e = exp(2.0 * (40.0 if ax > 40.0 else ax))  # tanh(40) is 1 in float64; keeps e finite
    num_big = e - 1.0 if x >= 0 else 1.0 - e
    small = ax < 0.625
    ratio = (num_small if small else num_big) / (den_small if small else e + 1.0)
    return x + ratio if small else ratio


@internal_kernel
def logistic(x):
    """``1 / (1 + e^-x)`` in float64 without overflow: exp is taken of -|x|."""
    e = exp(-abs(x))
    if x >= 0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


# -- either precision -----------------------------------------------------------------
#
# The newer hidden activations evaluate in the network's own dtype: a float32
# network's in float32, whose vectors hold twice as many lanes as float64's,
# with polynomials as short as float32's accuracy allows. Each function below
# is written once per float type T by a factory ``_..._in(T)`` (its constants
# typed T), and kernels call it by one name: :func:`by_precision` picks the
# version for the argument's type when the kernel compiles.


def by_precision(double, single):
    """One function of one argument for kernels: ``double`` for a float64 argument, ``single`` for float32.

    The choice is made by type when the calling kernel compiles (a numba
    overload, inlined into the caller), so each precision's code is its own
    and costs the other nothing.
    """

    def either(x):
        raise TypeError("only callable from fastbp's kernels")

    implementations = {types.float64: double, types.float32: single}
    jit_options = {"fastmath": FASTMATH, "error_model": "numpy"}
    overload(either, inline="always", jit_options=jit_options)(lambda x: implementations.get(x))
    return either


@inline_kernel
def _horner(c, x):
    """``c[0] + c[1] x + ... + c[-1] x^(n-1)`` (a fixed-length tuple: the loop is unrolled)."""
    result = c[len(c) - 1]
    for i in range(len(c) - 2, -1, -1):
        result = result * x + c[i]
    return result


# float32's exp: ln 2 split so that k * LN2_HI_SINGLE is exact for |k| < 2**15
LN2_HI_SINGLE = np.float32(0.693359375)
LN2_LO_SINGLE = np.float32(LN2 - 0.693359375)
# Taylor to degree 7 on |r| <= ln(2) / 2: the remainder r^8 / 8! < 6e-9, a tenth of an ulp
EXP_TAYLOR_SINGLE = tuple(np.float32(c) for c in EXP_TAYLOR[:8])


@internal_kernel
def _exp_single(x):
    """``e ** x`` for a float32 ``x``, in float32: exp's algorithm with float32's polynomial.

    Below float32's smallest normal number (e^-87.3) the result is 0, not
    subnormal: a subnormal result costs the CPU a microcode assist of ~100
    cycles, and the activations built on exp meet such arguments for every
    large pre-activation (gelu's exp(-z^2 / 2) from |z| > 13, gelu_tanh's
    from |z| > 5), which made a float32 gelu_tanh network train 4x slower
    than a tanh one; values that small are nothing next to their layer's.
    """
    f = np.float32
    x = f(-88.0) if x < f(-88.0) else x
    x = f(89.0) if x > f(89.0) else x
    t = x * f(LOG2E) + f(0.5)
    ki = np.int32(t) if t == t else np.int32(0)
    k = f(ki)
    below = t < k
    ki = ki - 1 if below else ki  # (numba's integer arithmetic is int64: cast back below)
    k = k - f(1.0) if below else k
    r = x - k * LN2_HI_SINGLE - k * LN2_LO_SINGLE
    c = EXP_TAYLOR_SINGLE
    r2 = r * r
    e_r = ((c[0] + c[1] * r) + (c[2] + c[3] * r) * r2) + ((c[4] + c[5] * r) + (c[6] + c[7] * r) * r2) * (r2 * r2)
    # (below e^-87.3 the exponent bits would leave the normal range: 0 there)
    normal = _from_bits(np.int32(_bits_of(e_r) + (ki << 23)))
    result = f(0.0) if x < f(-87.33654) else normal  # ln(smallest normal float32); NaN stays
    return f(np.inf) if x > f(88.72283) else result  # ln(largest float32)


exp_either = by_precision(lambda x: exp(x), lambda x: _exp_single(x))
exp_either.__doc__ = "``e ** x`` in ``x``'s precision (float64: :func:`exp`)."


def _exp_and_expm1_in(T):
    # e^x - 1 = x (1 + x/2! + x^2/3! + ...) to degree 13 (float64) or 7 (float32)
    c = tuple(T(v) for v in EXP_TAYLOR[1 : 14 if T is np.float64 else 8])
    half_ln2, one = T(LN2 / 2), T(1.0)

    def exp_and_expm1(x):
        e = exp_either(x)
        return e, (x * _horner(c, x) if abs(x) < half_ln2 else e - one)

    return exp_and_expm1


exp_and_expm1 = by_precision(_exp_and_expm1_in(np.float64), _exp_and_expm1_in(np.float32))
exp_and_expm1.__doc__ = """``(e^x, e^x - 1)`` in ``x``'s precision, the second accurate near 0 too; NaN kept.

Below |x| = ln(2) / 2, ``e^x - 1`` is exp's Taylor polynomial without its
constant term, so nothing cancels; beyond, ``exp(x) - 1`` loses nothing.
"""


# The same rational in s = 2 + |x| = 2 / t: t N(t) / D(t) = 2 PN(s) / PD(s)
# with PN(s) = s^9 N(2 / s) and PD(s) = s^10 D(2 / s), one division instead
# of two. Their coefficients (of s^0, s^1, ...) are N's and D's times powers
# of two, exactly.
ERFC_PN = tuple(ERFC_N[9 - j] * 2.0 ** (9 - j) for j in range(10))
ERFC_PD = tuple(ERFC_D[10 - j] * 2.0 ** (10 - j) for j in range(11))


def _erfc_and_gaussian_in(T):
    pn, pd = tuple(T(v) for v in ERFC_PN), tuple(T(v) for v in ERFC_PD)
    two, top = T(2.0), T(27.0)  # the fitted range; beyond, erfc(|x|) is below 5e-319

    def erfc_and_gaussian(x):
        gauss = exp_either(-(x * x))
        s = two + (top if abs(x) > top else abs(x))
        c = two * gauss * _horner(pn, s) / _horner(pd, s)  # erfc(|x|)
        return (two - c if x < 0 else c), gauss

    return erfc_and_gaussian


erfc_and_gaussian = by_precision(_erfc_and_gaussian_in(np.float64), _erfc_and_gaussian_in(np.float32))
erfc_and_gaussian.__doc__ = """``(erfc(x), exp(-x^2))`` in ``x``'s precision, for any ``x``; NaN kept.

The Gaussian comes along because erfc is built on it: GELU's derivative
needs the normal density next to the CDF.
"""


def _log1p_and_reciprocal_in(T):
    # atanh(s) / s = 1 + s^2/3 + s^4/5 + ...: ten terms for float64, five for float32
    c = tuple(T(1.0 / (2 * k + 1)) for k in range(10 if T is np.float64 else 5))
    one, two, three, ln2, sqrt2_m1 = T(1.0), T(2.0), T(3.0), T(LN2), T(SQRT2_M1)

    def log1p_and_reciprocal(x):
        big = x > sqrt2_m1
        den = x + three if big else x + two
        inv = one / ((one + x) * den)  # the one division, shared
        s = (x - one if big else x) * (one + x) * inv
        return (ln2 if big else T(0.0)) + two * s * _horner(c, s * s), den * inv

    return log1p_and_reciprocal


log1p_and_reciprocal = by_precision(_log1p_and_reciprocal_in(np.float64), _log1p_and_reciprocal_in(np.float32))
log1p_and_reciprocal.__doc__ = """``(log(1 + x), 1 / (1 + x))`` in ``x``'s precision for ``0 <= x <= 1``; NaN kept.

With ``1 + x = 2^k (1 + s) / (1 - s)``, ``log(1 + x) = k ln 2 + 2 atanh(s)``:
``k = 0, s = x / (2 + x)`` below sqrt(2) - 1, else ``k = 1, s = (x - 1) / (x +
3)``, so ``|s| <= 0.1716`` and ten terms of ``atanh(s) = s (1 + s^2/3 + s^4/5 +
...)`` leave a relative error below 3e-17 (five terms: 2e-9, for float32).
``s`` is ``x``'s multiple, so small ``x`` keeps its relative accuracy. softplus needs the reciprocal as well (its derivative): one
division gives both.
"""
