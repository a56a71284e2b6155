"""Activations, their derivatives, and the output layer's loss.

Each activation sits next to its derivative so the chain rule for one
layer reads on one screen. Derivatives are written in terms of the
activation's *output* ``a = f(z)``, which is what the forward pass keeps.

Codes are plain integers so one compiled kernel serves every activation:
a branch on a loop-invariant integer costs nothing measurable, while one
specialisation per activation would multiply compile time.

exp, tanh and the logistic function are always called with a float64
argument (they compute in float64 anyway): their one compiled, cached
version then serves float32 networks too, which saves their ~0.4 s of
compile time from the second dtype's compile on.
"""

import numpy as np

from ._elementary import exp, logistic, tanh
from ._jit import inline_kernel

# hidden activations
IDENTITY, LOGISTIC, TANH, RELU = 0, 1, 2, 3
HIDDEN_CODES = {"identity": IDENTITY, "logistic": LOGISTIC, "tanh": TANH, "relu": RELU}

# output activation and the loss it is paired with (always a canonical pair)
OUT_IDENTITY_SQUARED = 0  # identity output, squared error
OUT_LOGISTIC_BINARY = 1  # logistic output, binary cross-entropy per column
OUT_SOFTMAX_LOG = 2  # softmax output, categorical cross-entropy
OUT_EXP_POISSON = 3  # exp output, half Poisson deviance
OUTPUT_CODES = {
    "identity": OUT_IDENTITY_SQUARED,
    "logistic": OUT_LOGISTIC_BINARY,
    "softmax": OUT_SOFTMAX_LOG,
    "exp": OUT_EXP_POISSON,
}

FLOAT64_EPS, FLOAT32_EPS = 2.0**-52, 2.0**-23  # np.finfo(dtype).eps


@inline_kernel
def add_bias_activate_inplace(Z, bias, code):
    """``Z <- f(Z + bias)`` for a hidden layer, one pass over ``Z``."""
    n, m = Z.shape
    zero = Z.dtype.type(0.0)  # a dtype scalar keeps float32 loops in float32
    if code == RELU or code == IDENTITY:
        # identity is relu with a floor of -inf: one loop less to compile
        floor = zero if code == RELU else Z.dtype.type(-np.inf)
        for r in range(n):
            for j in range(m):
                z = Z[r, j] + bias[j]
                # ``z < floor`` is False for NaN, so NaN propagates like np.maximum
                Z[r, j] = floor if z < floor else z
    elif code == TANH:
        for r in range(n):
            for j in range(m):
                Z[r, j] = tanh(np.float64(Z[r, j] + bias[j]))
    elif code == LOGISTIC:
        for r in range(n):
            for j in range(m):
                Z[r, j] = logistic(np.float64(Z[r, j] + bias[j]))


@inline_kernel
def activation_derivative_inplace(A, delta, code):
    """``delta <- delta * f'(z)``, with ``f'`` written through ``A = f(z)``."""
    n, m = A.shape
    zero, one = A.dtype.type(0.0), A.dtype.type(1.0)  # keep float32 in float32
    if code == RELU:
        # relu'(z) is 1 where the unit fired and 0 where its output is 0
        for r in range(n):
            for j in range(m):
                # a select, not a branch around a store, so the loop vectorizes
                delta[r, j] = zero if A[r, j] == zero else delta[r, j]
    elif code == TANH:
        # tanh'(z) = 1 - tanh(z)^2
        for r in range(n):
            for j in range(m):
                delta[r, j] *= one - A[r, j] * A[r, j]
    elif code == LOGISTIC:
        # sigma'(z) = sigma(z) (1 - sigma(z))
        for r in range(n):
            for j in range(m):
                delta[r, j] *= A[r, j] * (one - A[r, j])


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


@inline_kernel
def clip_probability(a, eps):
    """``min(max(a, eps), 1 - eps)``, NaN kept as NaN.

    Written out: numba's ``min``/``max`` are functions compiled per type
    signature (~30 ms each).
    """
    a = eps if eps > a else a
    return 1 - eps if 1 - eps < a else a


@inline_kernel
def output_delta_loss_into(A, Y, sw, rows, start, code, delta):
    """Output-layer error and the weighted loss of one batch.

    ``A`` holds the output activations of the batch whose rows are
    ``rows[start:start + len(A)]`` of ``Y`` and ``sw``. Writes
    ``delta = sw * dLoss/dz`` and returns ``(sum_i sw_i * loss_i, sum_i
    sw_i)``.

    Every output activation is paired with its canonical loss, for which
    the derivative of the loss with respect to the pre-activation ``z`` is
    the same simple expression ``g(z) - y``: sigmoid with binary
    cross-entropy, softmax with categorical cross-entropy, identity with
    half squared error, exp with half Poisson deviance. Per-sample losses
    are summed over outputs for every pair, so loss and gradient describe
    the same function (also for multi-output squared error, where
    scikit-learn averages the loss over outputs but not the gradient).
    """
    n, m = A.shape
    sw_sum = 0.0
    for r in range(n):
        i = rows[start + r]
        w = sw[i]
        sw_sum += w
        for j in range(m):
            delta[r, j] = (A[r, j] - Y[i, j]) * w
    # clip probabilities inside the log to [eps, 1 - eps], as scikit-learn
    # does (np.finfo(A.dtype).eps: as a constant, since numba's np.finfo
    # compiled two helper functions, 0.28 s of CPU per dtype)
    eps = A.dtype.type(FLOAT64_EPS if A.itemsize == 8 else FLOAT32_EPS)
    # the loss in a loop of its own: fused with the one above, the error
    # loop no longer vectorized and a digits batch took 11 us instead of 4
    total = 0.0
    for r in range(n):
        i = rows[start + r]
        loss_r = 0.0
        for j in range(m):
            a = A[r, j]
            y = Y[i, j]
            if code == OUT_IDENTITY_SQUARED:
                loss_r += 0.5 * (a - y) * (a - y)
            elif code == OUT_LOGISTIC_BINARY:
                p = clip_probability(a, eps)
                if y != 0:
                    loss_r -= y * np.log(p)
                if y != 1:
                    loss_r -= (1 - y) * np.log(1 - p)
            elif code == OUT_SOFTMAX_LOG:
                if y != 0:
                    loss_r -= y * np.log(clip_probability(a, eps))
            else:
                # y log(y / a) - y + a, with 0 log 0 = 0
                if y != 0:
                    loss_r += y * np.log(y / a)
                loss_r += a - y
        total += sw[i] * loss_r
    return total, sw_sum
