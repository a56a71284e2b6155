"""The output layer's losses: error (delta) and loss of a batch in one kernel.

Each output activation is paired with its canonical loss, and one integer
code names the pair, so one compiled kernel serves every loss: a branch on
a loop-invariant integer costs nothing measurable, while one
specialisation per loss would multiply compile time.

The regressor's robust losses keep the identity output but not its
squared error. Their codes travel in the ``data`` tuple with a
``(2, n_outputs)`` array of per-output parameters (:func:`loss_parameters`);
a data tuple without one (code ``CANONICAL``) means the output
activation's own loss. With ``e = a - y`` the prediction's excess over the
target:

- Huber (PyTorch's ``HuberLoss`` convention): ``0.5 e^2`` where ``|e| <=
  d``, ``d (|e| - d / 2)`` outside, ``d = params[0]``; gradient ``e``
  clipped to ``[-d, d]``.
- Pinball: ``params[0] * e`` above the target, ``-params[1] * e`` below
  it. Absolute error has both slopes 1; quantile ``tau`` out of ``q``
  quantiles has ``(1 - tau) / q`` and ``tau / q``, so that a target's loss
  is the mean of its quantiles' pinball losses. At the kink ``e = 0`` the
  gradient is the midpoint of the subgradients, ``(params[0] - params[1])
  / 2``: 0 for absolute error, as PyTorch's ``L1Loss``, and ``(1/2 - tau)
  / q`` for a quantile, as PyTorch's autograd gives ``max(tau (y - a),
  (tau - 1) (y - a))``, which splits a tie evenly.
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

# losses of an identity output other than squared error, coded in the data
# tuple (the network's own output code stays identity's)
CANONICAL = -1  # the data tuple's code for "the output activation's own loss"
OUT_IDENTITY_HUBER = 4  # Huber loss, params[0] = delta
OUT_IDENTITY_PINBALL = 5  # absolute error weighted by side, params = slopes above, below
LOSS_CODES = {
    "absolute_error": OUT_IDENTITY_PINBALL,
    "huber": OUT_IDENTITY_HUBER,
    "quantile": OUT_IDENTITY_PINBALL,
}

FLOAT64_EPS, FLOAT32_EPS = 2.0**-52, 2.0**-23  # np.finfo(dtype).eps


def loss_parameters(loss, n_outputs, delta=1.0, quantiles=(0.5,)):
    """``(code, params)`` of a robust regression loss for the ``data`` tuple.

    ``params`` has shape ``(2, n_outputs)`` (float64). With several
    quantiles the outputs are target-major: output ``t * len(quantiles) +
    k`` is quantile ``k`` of target ``t``.
    """
    params = np.zeros((2, n_outputs))
    if loss == "huber":
        params[0] = delta
    elif loss == "absolute_error":
        params[...] = 1.0
    else:
        n_quantiles = len(quantiles)
        tau = np.tile(np.asarray(quantiles, dtype=np.float64), n_outputs // n_quantiles)
        params[0] = (1.0 - tau) / n_quantiles  # slope above the target
        params[1] = tau / n_quantiles  # slope below it
    return LOSS_CODES[loss], params


@inline_kernel
def clip_probability(a, eps):
    """``min(max(a, eps), 1 - eps)``, NaN kept as NaN.

    Written out: numba's ``min``/``max`` are functions compiled per type
    signature (~30 ms each).
    """
    a = eps if eps > a else a
    return 1 - eps if 1 - eps < a else a


@inline_kernel
def output_delta_loss_into(A, Y, sw, rows, start, code, params, delta):
    """Output-layer error and the weighted loss of one batch.

    ``A`` holds the output activations of the batch whose rows are
    ``rows[start:start + len(A)]`` of ``Y`` and ``sw``. Writes
    ``delta = sw * dLoss/dz`` and returns ``(sum_i sw_i * loss_i, sum_i
    sw_i)``. ``params`` are the per-output parameters of the robust losses
    (see the module docstring), unused by the others.

    Every output activation is paired with its canonical loss, for which
    the derivative of the loss with respect to the pre-activation ``z`` is
    the same simple expression ``g(z) - y``: sigmoid with binary
    cross-entropy, softmax with categorical cross-entropy, identity with
    half squared error, exp with half Poisson deviance. Per-sample losses
    are summed over outputs for every pair, so loss and gradient describe
    the same function (also for multi-output squared error, where
    scikit-learn averages the loss over outputs but not the gradient).
    The robust losses, whose gradient is not ``a - y`` everywhere, write
    their delta where it differs, in the loss loop.
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
        w = sw[i]
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
            elif code == OUT_EXP_POISSON:
                # y log(y / a) - y + a, with 0 log 0 = 0
                if y != 0:
                    loss_r += y * np.log(y / a)
                loss_r += a - y
            elif code == OUT_IDENTITY_HUBER:
                # inside [-d, d] loss and gradient are squared error's (the
                # delta a - y stands); outside, the gradient is +-d
                d = params[0, j]
                e = a - y
                if e > d:
                    loss_r += d * (e - 0.5 * d)
                    delta[r, j] = d * w
                elif e < -d:
                    loss_r -= d * (e + 0.5 * d)
                    delta[r, j] = -d * w
                else:
                    loss_r += 0.5 * e * e  # NaN lands here and stays NaN
            else:
                # pinball: slope params[0] above the target, params[1] below
                above, below = params[0, j], params[1, j]
                e = a - y
                loss_r += above * e if e > 0 else -below * e  # (NaN stays NaN)
                g = above if e > 0 else (-below if e < 0 else 0.5 * (above - below))
                delta[r, j] = g * w
        total += w * loss_r
    return total, sw_sum
