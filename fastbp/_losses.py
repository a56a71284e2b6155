"""The output layer's losses: error (delta) and loss of a batch in one kernel.

Each output activation is paired with its canonical loss, and one integer
code names the pair, so one compiled kernel serves every loss: a branch on
a loop-invariant integer costs nothing measurable, while one
specialisation per loss would multiply compile time.

The regressor's robust losses (absolute error, Huber, quantiles) keep the
identity output but not its squared error. They are one kernel,
:func:`robust_loss_into`, compiled on first use; the ``data`` tuple
carries its address (0: the output activation's own loss) and a ``(4,
n_outputs)`` table of per-output parameters ``(t, lo, hi, h)``
(:func:`loss_parameters`). With ``e = a - y`` the prediction's excess
over the target, the gradient and the loss are::

    g = hi if e > t, lo if e < -t, else e + (lo + hi) / 2
    loss = g * (e - h * g / 2)

- Huber, PyTorch's ``HuberLoss`` convention (``t = delta``, ``lo =
  -delta``, ``hi = delta``, ``h = 1``): ``g`` is ``e`` clipped to
  ``[-delta, delta]`` and the loss ``e^2 / 2`` inside, ``delta (|e| -
  delta / 2)`` outside.
- Pinball (``t = 0``, ``h = 0``): ``g`` is the slope ``hi`` above the
  target and ``lo`` below it, and the loss ``g e``. Absolute error has
  slopes 1 and -1; quantile ``tau`` out of ``q`` quantiles ``(1 - tau) /
  q`` and ``-tau / q``, so that a target's loss is the mean of its
  quantiles' pinball losses. At the kink ``e = 0`` the gradient is the
  midpoint of the subgradients, ``(lo + hi) / 2``: 0 for absolute error,
  as PyTorch's ``L1Loss``, and ``(1/2 - tau) / q`` for a quantile, as
  PyTorch's autograd gives for ``max(tau (y - a), (tau - 1) (y - a))``
  (it splits a tie evenly).

The three share one loop, so they cost the compile one loop version, not
three.
"""

import numpy as np

from ._jit import call_at, inline_kernel, lazy_kernel

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

# robust losses of an identity output (the network's own output code stays identity's)
ROBUST_LOSSES = ("absolute_error", "huber", "quantile")

FLOAT64_EPS, FLOAT32_EPS = 2.0**-52, 2.0**-23  # np.finfo(dtype).eps


def loss_parameters(loss, n_outputs, delta=1.0, quantiles=(0.5,)):
    """The parameters of a robust regression loss for the ``data`` tuple.

    Returns the ``(4, n_outputs)`` table ``(t, lo, hi, h)`` of the
    module docstring, in float64. With several quantiles the outputs are
    target-major: output ``i * len(quantiles) + k`` is quantile ``k`` of
    target ``i``.
    """
    t, lo, hi, h = params = np.zeros((4, n_outputs))
    if loss == "huber":
        t[:], lo[:], hi[:], h[:] = delta, -delta, delta, 1.0
    elif loss == "absolute_error":
        lo[:], hi[:] = -1.0, 1.0
    else:
        n_quantiles = len(quantiles)
        tau = np.tile(np.asarray(quantiles, dtype=np.float64), n_outputs // n_quantiles)
        lo[:], hi[:] = -tau / n_quantiles, (1.0 - tau) / n_quantiles
    return params


@inline_kernel
def clip_probability(a, eps):
    """``min(max(a, eps), 1 - eps)``, NaN kept as NaN.

    Written out: numba's ``min``/``max`` are functions compiled per type
    signature (~30 ms each).
    """
    a = eps if eps > a else a
    return 1 - eps if 1 - eps < a else a


@inline_kernel
def output_delta_loss_into(A, Y, sw, rows, start, code, robust_kernel, params, delta):
    """Output-layer error and the weighted loss of one batch.

    ``A`` holds the output activations of the batch whose rows are
    ``rows[start:start + len(A)]`` of ``Y`` and ``sw``. Writes
    ``delta = sw * dLoss/dz`` and returns ``(sum_i sw_i * loss_i, sum_i
    sw_i)``. ``robust_kernel`` is the address of :func:`robust_loss_into`
    for a robust loss, whose per-output parameters are ``params`` (see the
    module docstring), and 0 for the output activation's own loss.

    Every output activation is paired with its canonical loss, for which
    the derivative of the loss with respect to the pre-activation ``z`` is
    the same simple expression ``g(z) - y``: sigmoid with binary
    cross-entropy, softmax with categorical cross-entropy, identity with
    half squared error, exp with half Poisson deviance. Per-sample losses
    are summed over outputs for every pair, so loss and gradient describe
    the same function (also for multi-output squared error, where
    scikit-learn averages the loss over outputs but not the gradient).
    The robust losses, whose gradient is not ``a - y`` everywhere, write
    their own delta.
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
    if robust_kernel != 0:
        return call_at(robust_kernel, (A, Y, sw, rows, start, params, delta)), sw_sum
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
            else:
                # y log(y / a) - y + a, with 0 log 0 = 0
                if y != 0:
                    loss_r += y * np.log(y / a)
                loss_r += a - y
        total += w * loss_r
    return total, sw_sum


def _robust_args(dtype):
    matrix = np.empty((0, 0), dtype=dtype)
    readonly = [np.empty(shape, dtype=dtype) for shape in ((0, 0), (0,), (4, 0))]
    for a in readonly:
        a.flags.writeable = False
    Y, sw, params = readonly
    return (matrix, Y, sw, np.empty(0, dtype=np.int64), 0, params, matrix)


@lazy_kernel("robust losses", _robust_args)
def robust_loss_into(A, Y, sw, rows, start, params, delta):
    """Delta and weighted loss of a batch under absolute error, Huber or quantiles.

    As :func:`output_delta_loss_into` (``delta = sw * dLoss/dz``; returns
    ``sum_i sw_i * loss_i``), for the losses of the module docstring.
    Compiled on first use and called by address (see
    :class:`fastbp._jit.LazyKernel`).
    """
    n, m = A.shape
    total = 0.0
    for r in range(n):
        i = rows[start + r]
        w = sw[i]
        loss_r = 0.0
        for j in range(m):
            t, lo, hi, h = params[0, j], params[1, j], params[2, j], params[3, j]
            e = A[r, j] - Y[i, j]
            g = hi if e > t else (lo if e < -t else e + 0.5 * (lo + hi))  # (NaN stays NaN)
            loss_r += g * (e - 0.5 * h * g)
            delta[r, j] = g * w
        total += w * loss_r
    return total
