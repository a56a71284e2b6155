"""RealMLP's data-dependent initialisation of a network's weights (``init='data'``).

Holzmüller et al. (2024) initialise each dense layer from the data that
reaches it (pytabkit's ``weight_init_mode='std'`` and
``bias_init_mode='he+5'``), the output layer included:

- the weights: each unit's column is drawn from a standard normal, then
  divided by the standard deviation, over the rows, of the pre-activation
  it gives, so that every unit starts with pre-activations of variance 1;
- the intercepts: each unit's intercept is minus its pre-activation at a
  random point of the data's convex hull, a convex combination of 5 random
  rows with weights drawn uniformly from the simplex, so that every
  unit's activation bends somewhere inside the data.

The statistics are computed layer by layer in float64 NumPy on the rows
given (at most ``MAX_ROWS`` of them, sampled), with the activation
functions written below, and they describe the network as it starts: input
scales and activation mixes at 1, no dropout. ``coefs_`` and
``intercepts_`` are the effective weights, so the rule applies to them
directly, whatever the step sizes of the NTK parametrisation.
"""

import numpy as np
from scipy import special

from ._activations import GELU_TANH_CUBIC, LEAKY_SLOPE, SELU_ALPHA, SELU_SCALE, SQRT_2_OVER_PI

MAX_ROWS = 16384  # rows (a random sample of them) whose statistics set the weights
N_SIMPLEX = 5  # rows per intercept's convex combination ('he+5')


def _softplus(z):
    return np.logaddexp(0.0, z)


_FORWARD = {
    "identity": lambda z: z,
    "logistic": special.expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "selu": lambda z: SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0))),
    "gelu": lambda z: 0.5 * z * special.erfc(-z / np.sqrt(2.0)),
    "gelu_tanh": lambda z: 0.5 * z * (1.0 + np.tanh(SQRT_2_OVER_PI * (z + GELU_TANH_CUBIC * z**3))),
    "silu": lambda z: z * special.expit(z),
    "mish": lambda z: z * np.tanh(_softplus(z)),
    "softplus": _softplus,
}


def data_dependent_init(coefs, intercepts, hidden_activations, X, random_state):
    """Set ``coefs`` and ``intercepts`` (the network's views, in place) from the rows of ``X``.

    Parameters
    ----------
    coefs, intercepts : list of ndarray
        The layers' weight matrices and intercept vectors, written in place.
    hidden_activations : list of str
        One activation name per hidden layer.
    X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
        The training rows.
    random_state : numpy.random.RandomState
        The fit's random stream (the rows' sample, the weights' normal
        draws, the intercepts' rows and simplex weights, in that order).
    """
    n = X.shape[0]
    if n > MAX_ROWS:
        X = X[np.sort(random_state.choice(n, MAX_ROWS, replace=False))]
        n = MAX_ROWS
    A = X.astype(np.float64)
    for layer, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        G = random_state.standard_normal(coef.shape)
        with np.errstate(over="ignore", invalid="ignore"):
            Z = np.asarray(A @ G)
            std = Z.std(axis=0)
        if not (np.isfinite(Z).all() and np.isfinite(std).all()):
            raise ValueError(
                f"init='data': layer {layer + 1}'s pre-activations overflow on these rows; "
                "scale the input (e.g. with StandardScaler), or use init='glorot'."
            )
        std[~(std > 0)] = 1.0  # a unit whose input is constant over the rows keeps its draw
        Z /= std
        m = Z.shape[1]
        picks = random_state.randint(0, n, size=(m, N_SIMPLEX))
        weights = random_state.standard_exponential((m, N_SIMPLEX))  # normalised: uniform on the simplex
        weights /= weights.sum(axis=1, keepdims=True)
        b = -(Z[picks, np.arange(m)[:, None]] * weights).sum(axis=1)
        coef[...] = G / std
        intercept[...] = b
        if layer < len(hidden_activations):
            A = _FORWARD[hidden_activations[layer]](Z + b)
