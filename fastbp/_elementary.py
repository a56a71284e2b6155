"""exp, tanh and the logistic function in plain arithmetic, so loops vectorize.

numba lowers ``np.exp``/``np.tanh`` to scalar libm calls (this LLVM has no
SVML), which keeps every loop that uses them scalar: tanh networks trained
2.3x slower than relu ones. These versions use only arithmetic, int32
conversions and bit casts, all of which AVX2 vectorizes: tanh costs ~4 ns
an element instead of ~20 (tests measure accuracy, benchmarks speed). They
evaluate in float64, also for float32 data. exp is Cody-Waite range
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

Three more serve the newer hidden activations, also in plain arithmetic
(libm's erfc and log1p took ~30 ns an element here, scalar):
``erfc_and_gaussian`` (GELU's normal CDF and density) within 2.2e-15
relative of SciPy's erfc on |x| <= 6 (3e-14 beyond, where exp's accuracy
falls and erfc is below 2e-17), ``log1p_unit`` (softplus) within 3 ulp on
[0, 1], its only domain there, and ``exp_and_expm1`` (ELU), which keeps
``e^x - 1`` accurate near 0.
"""

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from ._jit import inline_kernel, internal_kernel

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


@intrinsic
def _float64_from_bits(typingctx, bits):
    """Reinterpret an int64's bits as a float64 (no conversion)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _bits_of_float64(typingctx, x):
    """The int64 whose bits are those of a float64 (no conversion)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@inline_kernel
def _pow2(k):
    """``2.0 ** k`` for integer ``-1022 <= k <= 1023``, from the exponent bits."""
    return _float64_from_bits((k + 1023) << 52)


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
    normal = _float64_from_bits(_bits_of_float64(e_r) + (np.int64(ki) << 52))
    # below e^-708 the result is subnormal: multiply by two normal powers of
    # two instead (their product, in any grouping, is exact or rounds once)
    tiny = e_r * _pow2(np.int64(ki) + 600) * _pow2(np.int64(-600))
    result = normal if x >= -708.0 else tiny
    return np.inf if x > 709.782712893384 else result  # ln(largest double)


@inline_kernel
def exp_and_expm1(x):
    """``(e^x, e^x - 1)`` in float64, the second accurate near 0 too; NaN kept.

    Below |x| = ln(2) / 2, ``e^x - 1`` is exp's Taylor polynomial without
    its constant term, so nothing cancels; beyond, ``exp(x) - 1`` loses
    nothing.
    """
    c = EXP_TAYLOR
    x2 = x * x
    x4 = x2 * x2
    x8 = x4 * x4
    q0 = (c[1] + c[2] * x) + (c[3] + c[4] * x) * x2
    q1 = (c[5] + c[6] * x) + (c[7] + c[8] * x) * x2
    q2 = (c[9] + c[10] * x) + (c[11] + c[12] * x) * x2
    near_zero = x * ((q0 + q1 * x4) + (q2 + c[13] * x4) * x8)
    e = exp(x)
    return e, (near_zero if abs(x) < 0.34657359027997264 else e - 1.0)


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


@inline_kernel
def erfc_and_gaussian(x):
    """``(erfc(x), exp(-x^2))`` in float64, for any ``x``; NaN kept.

    The Gaussian comes along because erfc is built on it: GELU's derivative
    needs the normal density next to the CDF.
    """
    gauss = exp(-(x * x))
    ax = abs(x)
    ax = 27.0 if ax > 27.0 else ax  # the fitted range; beyond, erfc(|x|) is below 5e-319
    t = 2.0 / (2.0 + ax)
    # N and D by Estrin's scheme, as in exp
    n, d = ERFC_N, ERFC_D
    t2 = t * t
    t4 = t2 * t2
    t8 = t4 * t4
    num = (
        ((n[0] + n[1] * t) + (n[2] + n[3] * t) * t2)
        + ((n[4] + n[5] * t) + (n[6] + n[7] * t) * t2) * t4
        + (n[8] + n[9] * t) * t8
    )
    den = (
        ((d[0] + d[1] * t) + (d[2] + d[3] * t) * t2)
        + ((d[4] + d[5] * t) + (d[6] + d[7] * t) * t2) * t4
        + ((d[8] + d[9] * t) + d[10] * t2) * t8
    )
    c = gauss * t * num / den  # erfc(|x|)
    return (2.0 - c if x < 0 else c), gauss


@inline_kernel
def log1p_unit(t):
    """``log(1 + t)`` in float64 for ``0 <= t <= 1``; NaN kept.

    With ``1 + t = 2^k (1 + s) / (1 - s)``, ``log(1 + t) = k ln 2 + 2
    atanh(s)``: ``k = 0, s = t / (2 + t)`` below sqrt(2) - 1, else ``k = 1,
    s = (t - 1) / (t + 3)``, so ``|s| <= 0.1716`` and ten terms of
    ``atanh(s) = s (1 + s^2/3 + s^4/5 + ...)`` leave a relative error below
    3e-17. ``1 + t`` is never rounded, so small ``t`` keeps its accuracy.
    """
    big = t > SQRT2_M1
    s = (t - 1.0 if big else t) / (t + 3.0 if big else t + 2.0)
    z = s * s
    tail = 1 / 11 + z * (1 / 13 + z * (1 / 15 + z * (1 / 17 + z / 19)))
    series = 1.0 + z * (1 / 3 + z * (1 / 5 + z * (1 / 7 + z * (1 / 9 + z * tail))))
    return (LN2 if big else 0.0) + 2.0 * s * series
