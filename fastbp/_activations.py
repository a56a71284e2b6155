"""Activations and their derivatives; the output layer's activation.

Each activation sits next to its derivative so the chain rule for one
layer reads on one screen. The derivatives of identity, logistic, tanh and
relu (scikit-learn's four) are written in terms of the activation's
*output* ``a = f(z)``, which is what the forward pass keeps. The others
(leaky_relu, elu, selu, gelu, gelu_tanh, silu, mish, softplus) need ``z``
itself, or a value computed on the way to ``f(z)``: their forward pass
computes ``f'(z)`` with ``f(z)``, sharing exp or erfc between the two, and
keeps it in a buffer of the workspace (``derivs``, allocated only for
networks that have such a layer, and only for training), so their backward
step is one multiplication and each transcendental function is evaluated
once per unit and training step.

Those eight live in one kernel of their own, :func:`keeping_activation_inplace`,
with a loop per activation so that each vectorizes (an if-chain inside one
loop ran 3-6x slower). Compiled with the entry point it would have added
1.5-3 s to every cold compile; it is compiled on first use instead, and the
entry point calls it through its address (:class:`fastbp._jit.LazyKernel`).
tanh and logistic have such a kernel too (:func:`smooth_activation_inplace`):
the entry point itself holds only relu and identity, what a default fit
runs, and each hidden layer's kernel address travels in the ``net`` tuple
(:func:`hidden_kernel_address`). Both kernels vectorize at the CPU's full
width (:func:`fastbp._jit.prefer_wide_vectors`: 512 bits with AVX-512,
where LLVM would take 256).

Codes are plain integers so one compiled kernel serves every activation:
a branch on a loop-invariant integer costs nothing measurable, while one
specialisation per activation would multiply compile time.

tanh, logistic and the output layer's exp are always called with a
float64 argument (they compute in float64 anyway): their one compiled,
cached version then serves float32 networks too, which saves their ~0.4 s
of compile time from the second dtype's compile on. The eight newer
activations compute in the network's dtype, float32 ones with float32's
shorter polynomials (:func:`fastbp._elementary.by_precision`): a vector of
float32 has twice the lanes of float64's, so the newer activations of a
float32 network cost ~0.4-0.6x their float64 evaluation, within a few
float32 ulp of it (tests/test_activations.py). The derivative steps of the
backward pass compute in the network's dtype.
"""

import numpy as np

from ._elementary import erfc_and_gaussian, exp, exp_and_expm1, exp_either, log1p_and_reciprocal, logistic, tanh
from ._jit import call_at, inline_kernel, lazy_kernel, prefer_wide_vectors
from ._losses import OUT_EXP_POISSON, OUT_LOGISTIC_BINARY, OUT_SOFTMAX_LOG

# hidden activations: scikit-learn's four, then those whose forward pass
# keeps f'(z) (every code from LEAKY_RELU on)
IDENTITY, LOGISTIC, TANH, RELU = 0, 1, 2, 3
LEAKY_RELU, ELU, SELU, GELU, GELU_TANH, SILU, MISH, SOFTPLUS = range(4, 12)
HIDDEN_CODES = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "elu": ELU,
    "selu": SELU,
    "gelu": GELU,
    "gelu_tanh": GELU_TANH,
    "silu": SILU,
    "mish": MISH,
    "softplus": SOFTPLUS,
}
SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")

LEAKY_SLOPE = 0.01  # PyTorch's default negative_slope
# SELU's constants (Klambauer et al. 2017, eq. 14)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2_OVER_PI = 0.7978845608028654  # GELU's tanh approximation
GELU_TANH_CUBIC = 0.044715
INV_SQRT2 = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327  # the normal density's factor
TAIL_FLUSH = 2.0**-63  # the square root of float32's smallest normal number (see flushed)


@inline_kernel
def flushed(a, d, T):
    """``(a, d)``, each 0 where it is smaller than ``TAIL_FLUSH`` in size (NaN stays).

    The activations built on exp reach values like 1e-30 in their tails.
    Products of such values with the small deltas and weights of the next
    products underflow to subnormal numbers, each of which the CPU handles
    by a microcode assist of ~100 cycles: a float32 gelu network on digits
    trained 1.46x slower than a tanh one, and as fast once its outputs
    below 1e-20 were 0. ``TAIL_FLUSH = 2^-63``: any product of two values
    above it is a normal float32; it is far below either precision's
    resolution of an activation next to its layer's others.
    """
    tiny, zero = T(TAIL_FLUSH), T(0.0)
    return (zero if abs(a) < tiny else a), (zero if abs(d) < tiny else d)


@inline_kernel
def leaky_relu_with_derivative(z, one, slope):
    """``(f(z), f'(z))``: ``z`` above 0, ``slope * z`` below, in ``z``'s dtype."""
    return (z, one) if z > 0 else (slope * z, slope if z <= 0 else z)  # (f'(NaN) is NaN)


@inline_kernel
def elu_with_derivative(x, scale, alpha, T):
    """``scale * x`` above 0, ``scale * alpha * (e^x - 1)`` below: elu, or selu with its constants.

    Like the functions below, in ``x``'s precision, every constant given in
    (or made by) ``x``'s type ``T``.
    """
    e, em1 = exp_and_expm1(x)  # (used below 0 only)
    return (scale * x, scale) if x > 0 else flushed(scale * alpha * em1, scale * alpha * e, T)


@inline_kernel
def gelu_with_derivative(x, T):
    """``x Phi(x)``, Phi the normal CDF ``erfc(-x / sqrt 2) / 2``: ``f' = Phi + x phi``."""
    c, gauss = erfc_and_gaussian(-x * T(INV_SQRT2))
    cdf = T(0.5) * c
    return flushed(x * cdf, cdf + x * T(INV_SQRT_2PI) * gauss, T)


@inline_kernel
def sigmoid_gate_with_derivative(x, w, cubic, T):
    """``x sigmoid(y)``, ``y = w (x + cubic x^3)``: ``f' = s + x s (1 - s) y'``.

    silu is ``w = 1, cubic = 0``; gelu_tanh, ``x (1 + tanh(u)) / 2`` with
    ``u = sqrt(2/pi) (x + 0.044715 x^3)``, is ``x sigmoid(2u)``. Beyond |x| = 40
    the cube only saturates ``s`` to 0 or 1 exactly; clamped there, it stays
    finite (else ``0 * inf``).
    """
    top, one = T(40.0), T(1.0)
    xc = top if x > top else (-top if x < -top else x)
    y = w * (x + cubic * xc * xc * xc)
    e = exp_either(-abs(y))
    p = one / (one + e)
    s, c = (p, e * p) if y >= 0 else (e * p, p)  # sigmoid(y), sigmoid(-y): no cancellation
    return flushed(x * s, s + x * s * c * w * (one + T(3.0) * cubic * xc * xc), T)


@inline_kernel
def mish_with_derivative(x, T):
    """``x tanh(softplus(x))``: ``f' = g + x (1 - g^2) sigmoid(x)``, ``g = tanh(softplus(x))``.

    ``g = n / (n + 2)`` with ``n = e^x (e^x + 2)``, written with ``e =
    e^-|x|`` so nothing overflows.
    """
    one, two = T(1.0), T(2.0)
    e = exp_either(-abs(x))
    num = one + two * e if x >= 0 else e * (e + two)
    rest = two * e * e if x >= 0 else two  # (n + 2) - n, scaled as num
    inv = one / (num + rest)
    g = num * inv
    p = one / (one + e)
    sig = p if x >= 0 else e * p
    return flushed(x * g, g + x * sig * (rest * inv) * (one + g), T)


@inline_kernel
def softplus_with_derivative(x, T):
    """``log(1 + e^x) = max(x, 0) + log(1 + e^-|x|)``, for any x: ``f' = sigmoid(x)``."""
    e = exp_either(-abs(x))
    log1p_e, p = log1p_and_reciprocal(e)  # p = 1 / (1 + e)
    return flushed((T(0.0) if x < 0 else x) + log1p_e, (p if x >= 0 else e * p), T)


def _keeping_args(dtype):
    matrix, vector = np.empty((0, 0), dtype), np.empty(0, dtype)
    return (matrix, vector, LEAKY_RELU, matrix, False)


@lazy_kernel("activations", _keeping_args, seconds=3)
def keeping_activation_inplace(Z, bias, code, derivs, backward):
    """The forward or backward step of a layer whose activation keeps ``f'(z)``.

    For the codes from ``LEAKY_RELU`` on. Forward: ``Z <- f(Z + bias)``,
    and ``derivs <- f'(Z + bias)`` if ``derivs`` has rows. Backward:
    ``Z <- Z * derivs``, ``Z`` holding the layer's deltas (``bias`` is not
    read).

    Compiled on first use, not with the entry point, and called through its
    address (see :class:`fastbp._jit.LazyKernel`): its loops, one per activation
    so that each vectorizes, take 2.4-2.9 s to compile (1.2-1.9 s before
    float32 got its own arithmetic), which fits that use only scikit-learn's
    four activations then never pay.
    """
    prefer_wide_vectors()
    n, m = Z.shape
    keep = derivs.shape[0] > 0
    T = Z.dtype.type  # every loop computes in Z's precision
    if backward:
        for r in range(n):
            for j in range(m):
                Z[r, j] *= derivs[r, j]
    elif code == LEAKY_RELU:
        one, slope = T(1.0), T(LEAKY_SLOPE)
        for r in range(n):
            for j in range(m):
                a, d = leaky_relu_with_derivative(Z[r, j] + bias[j], one, slope)
                Z[r, j] = a
                if keep:
                    derivs[r, j] = d
    elif code == ELU or code == SELU:
        scale, alpha = (T(SELU_SCALE), T(SELU_ALPHA)) if code == SELU else (T(1.0), T(1.0))
        for r in range(n):
            for j in range(m):
                a, d = elu_with_derivative(Z[r, j] + bias[j], scale, alpha, T)
                Z[r, j] = a
                if keep:
                    derivs[r, j] = d
    elif code == GELU:
        for r in range(n):
            for j in range(m):
                a, d = gelu_with_derivative(Z[r, j] + bias[j], T)
                Z[r, j] = a
                if keep:
                    derivs[r, j] = d
    elif code == SILU or code == GELU_TANH:
        w, cubic = (T(2.0 * SQRT_2_OVER_PI), T(GELU_TANH_CUBIC)) if code == GELU_TANH else (T(1.0), T(0.0))
        for r in range(n):
            for j in range(m):
                a, d = sigmoid_gate_with_derivative(Z[r, j] + bias[j], w, cubic, T)
                Z[r, j] = a
                if keep:
                    derivs[r, j] = d
    elif code == MISH:
        for r in range(n):
            for j in range(m):
                a, d = mish_with_derivative(Z[r, j] + bias[j], T)
                Z[r, j] = a
                if keep:
                    derivs[r, j] = d
    else:
        for r in range(n):
            for j in range(m):
                a, d = softplus_with_derivative(Z[r, j] + bias[j], T)
                Z[r, j] = a
                if keep:
                    derivs[r, j] = d
    return 0.0


@lazy_kernel("tanh and logistic", _keeping_args)
def smooth_activation_inplace(Z, bias, code, A, backward):
    """The forward or backward step of a ``TANH`` or ``LOGISTIC`` layer.

    Forward: ``Z <- f(Z + bias)`` (``A`` is not read). Backward: ``Z <- Z *
    f'(z)``, ``Z`` holding the layer's deltas and ``A`` its output, through
    which ``f'`` is written (``bias`` is not read). Compiled on first use and
    called by address: a relu network compiles none of its four loops.
    """
    prefer_wide_vectors()
    n, m = Z.shape
    one = Z.dtype.type(1.0)  # a dtype scalar keeps float32 loops in float32
    if backward and code == TANH:
        # tanh'(z) = 1 - tanh(z)^2
        for r in range(n):
            for j in range(m):
                Z[r, j] *= one - A[r, j] * A[r, j]
    elif backward:
        # sigma'(z) = sigma(z) (1 - sigma(z))
        for r in range(n):
            for j in range(m):
                Z[r, j] *= A[r, j] * (one - A[r, j])
    elif code == TANH:
        for r in range(n):
            for j in range(m):
                Z[r, j] = tanh(np.float64(Z[r, j] + bias[j]))
    else:
        for r in range(n):
            for j in range(m):
                Z[r, j] = logistic(np.float64(Z[r, j] + bias[j]))
    return 0.0


def hidden_kernel_address(code, dtype):
    """The address of the kernel of hidden activation ``code``, or 0 for relu and identity (inline)."""
    if code >= LEAKY_RELU:
        return keeping_activation_inplace.address(dtype)
    if code == TANH or code == LOGISTIC:
        return smooth_activation_inplace.address(dtype)
    return 0


@inline_kernel
def add_bias_activate_inplace(Z, bias, code, derivs, kernel):
    """``Z <- f(Z + bias)`` for a hidden layer, one pass over ``Z``.

    relu and identity are written here; the other activations are the
    kernel at address ``kernel`` (:func:`hidden_kernel_address`). Those from
    ``LEAKY_RELU`` on also write ``f'(Z + bias)`` into ``derivs`` when it
    has rows (an empty view when predicting).
    """
    if kernel:
        call_at(kernel, (Z, bias, code, derivs, False))
    else:
        n, m = Z.shape
        # identity is relu with a floor of -inf: one loop less to compile
        floor = Z.dtype.type(0.0) if code == RELU else Z.dtype.type(-np.inf)
        for r in range(n):
            for j in range(m):
                z = Z[r, j] + bias[j]
                # ``z < floor`` is False for NaN, so NaN propagates like np.maximum
                Z[r, j] = floor if z < floor else z


@inline_kernel
def activation_derivative_inplace(A, delta, code, derivs, kernel):
    """``delta <- delta * f'(z)``, with ``f'`` written through ``A = f(z)``.

    relu's is written here, identity's is 1; the others are the kernel at
    address ``kernel``: tanh's and logistic's from ``A``, those from
    ``LEAKY_RELU`` on from ``derivs``, where their forward pass left
    ``f'(z)``.
    """
    if code == RELU:
        n, m = A.shape
        zero = A.dtype.type(0.0)  # keeps float32 in float32
        # relu'(z) is 1 where the unit fired and 0 where its output is 0
        for r in range(n):
            for j in range(m):
                # a select, not a branch around a store, so the loop vectorizes
                delta[r, j] = zero if A[r, j] == zero else delta[r, j]
    elif kernel:
        # (A[0] stands in for the bias, which the backward step does not read)
        call_at(kernel, (delta, A[0], code, A if code < LEAKY_RELU else derivs, True))


@inline_kernel
def add_bias_output_activate_inplace(Z, bias, code):
    """``Z <- g(Z + bias)`` for the output layer, rows kept finite.

    Softmax subtracts the row maximum before exponentiating, so logits of
    any size give probabilities that sum to one.
    """
    n, m = Z.shape
    for r in range(n):
        for j in range(m):
            Z[r, j] += bias[j]
    if code == OUT_LOGISTIC_BINARY:
        for r in range(n):
            for j in range(m):
                Z[r, j] = logistic(np.float64(Z[r, j]))
    elif code == OUT_SOFTMAX_LOG:
        for r in range(n):
            zmax = Z[r, 0]
            for j in range(1, m):
                zmax = Z[r, j] if Z[r, j] > zmax else zmax  # max(), without its compiled helper
            total = 0.0
            for j in range(m):
                e = exp(np.float64(Z[r, j] - zmax))
                Z[r, j] = e
                total += e
            for j in range(m):
                Z[r, j] /= total
    elif code == OUT_EXP_POISSON:
        for r in range(n):
            for j in range(m):
                Z[r, j] = exp(np.float64(Z[r, j]))
