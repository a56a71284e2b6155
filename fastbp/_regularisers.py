"""Dropout: masks from a counter-based generator, applied in place.

Whether unit ``j`` of hidden layer ``l`` is dropped for training row ``i``
in an epoch is a pure function of the epoch's key and of the counter
``i * n_hidden_units + first_unit(l) + j``: the bits of SplitMix64's
finaliser (Steele, Lea and Flood, "Fast splittable pseudorandom number
generators", 2014) applied to ``key + counter * 0x9E3779B97F4A7C15``. A
unit is kept when the top 53 bits, as a fraction of 2^53, are at least
the layer's rate. Masks therefore need no state and no buffer, and they
are the same whichever thread computes a row and however a batch is cut
into blocks. ``i`` is the row's index in the training data, so a row keeps
its mask for an epoch whatever batch the shuffle puts it in.

The epoch's key is :func:`epoch_key` of a seed the estimator draws from its
random state when dropout is on, and of the epoch's number.
"""

import numpy as np

from ._jit import inline_kernel, lazy_kernel, prefer_wide_vectors

_GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / golden ratio: SplitMix64's increment
_MIX_1, _MIX_2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_MASK64 = (1 << 64) - 1
_FRACTION_BITS = 53


def _mix_python(z):
    """SplitMix64's finaliser on a Python int (the key of an epoch)."""
    z = ((z ^ (z >> 30)) * _MIX_1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX_2) & _MASK64
    return z ^ (z >> 31)


def epoch_key(seed, epoch):
    """The key of the masks of epoch ``epoch`` (counted from 0) of a fit with ``seed``.

    Returns
    -------
    numpy.uint64
    """
    return np.uint64(_mix_python((int(seed) * _GOLDEN + int(epoch)) & _MASK64))


@inline_kernel
def _kept(key, counter, threshold):
    # uint64 constants and operands throughout: numba turns mixed signed and
    # unsigned integer arithmetic into float64
    z = key + counter * np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX_1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX_2)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(64 - _FRACTION_BITS)) >= threshold


def _dropout_args(dtype):
    matrix = np.empty((0, 0), dtype=dtype)
    return (matrix, np.empty(0, dtype=np.int64), 0, np.uint64(0), 0, 0, 0.0, matrix)


@lazy_kernel("dropout", _dropout_args)
def dropout_inplace(A, rows, start, key, first_unit, n_units, rate, delta):
    """Inverted dropout of one hidden layer's block ``A`` (rows ``rows[start:]``).

    Forward (``delta`` empty): ``A <- A * mask / (1 - rate)``. Backward
    (``delta`` the layer's deltas ``dLoss/dA`` of the dropped output):
    ``delta <- delta * mask / (1 - rate)``, and ``A`` back to the layer's
    output before dropout where it was kept (to rounding), for the
    activation's derivative, which is written through the output.

    Compiled on first use and called by address (see
    :class:`fastbp._jit.LazyKernel`).
    """
    prefer_wide_vectors()  # (AVX-512 multiplies 64-bit integers in vectors; AVX2 emulates it)
    threshold = np.uint64(rate * 2.0**_FRACTION_BITS)
    keep = 1.0 - rate
    scale, zero = A.dtype.type(1.0 / keep), A.dtype.type(0.0)
    backward = delta.shape[0] > 0
    for r in range(A.shape[0]):
        base = np.uint64(rows[start + r]) * np.uint64(n_units) + np.uint64(first_unit)
        for j in range(A.shape[1]):
            kept = _kept(key, base + np.uint64(j), threshold)
            if backward:
                delta[r, j] = delta[r, j] * scale if kept else zero
                A[r, j] = A[r, j] * A.dtype.type(keep) if kept else zero
            else:
                A[r, j] = A[r, j] * scale if kept else zero
    return 0.0
