"""The output layer's losses: error (delta) and loss of a batch in one kernel.

Each output activation is paired with its canonical loss, and one integer
code names the pair, so one compiled kernel serves every loss: a branch on
a loop-invariant integer costs nothing measurable, while one
specialisation per loss would multiply compile time.
"""

import numpy as np

from ._jit import inline_kernel

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
