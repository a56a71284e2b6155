"""Activations and their derivatives; the output layer's activation.

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
from ._losses import OUT_EXP_POISSON, OUT_LOGISTIC_BINARY, OUT_SOFTMAX_LOG

# hidden activations
IDENTITY, LOGISTIC, TANH, RELU = 0, 1, 2, 3
HIDDEN_CODES = {"identity": IDENTITY, "logistic": LOGISTIC, "tanh": TANH, "relu": RELU}


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
