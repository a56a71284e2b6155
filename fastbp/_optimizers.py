"""In-place optimizer steps over the flat parameter vector.

The parameter vector holds every coefficient matrix first and every
intercept after them (scikit-learn's packing order), so the L2 penalty,
which applies to coefficients only, is the range ``[0, n_coef)``.

Each step is one fused loop: it finishes the gradient (adds the penalty's
gradient ``alpha * w`` and divides by the batch's weight sum, exactly as
scikit-learn orders those operations), updates the optimizer state and
the parameters, and returns ``||coefs||^2`` of the updated parameters,
which the next batch's loss needs, so no extra pass is spent on it.

A step updates the slice ``params[lo:hi]`` (all of it within an epoch);
threads stepping disjoint slices of one batch (:mod:`fastbp._parallel`)
give the same parameters as one step over all of them, since each
parameter's update reads only its own entries.
"""

import numpy as np

from ._jit import inline_kernel

SGD, ADAM = 0, 1


@inline_kernel
def adam_step_inplace(params, grad, m, v, lo, n_coef, hi, alpha, sw_sum, lr, beta_1, beta_2, epsilon):
    """One Adam step of ``params[lo:hi]`` with a bias-corrected step size ``lr``.

    ``lr`` is ``learning_rate_init * sqrt(1 - beta_2^t) / (1 - beta_1^t)``,
    computed by the caller; epsilon is added to ``sqrt(v)`` (scikit-learn's
    form of Adam).
    """
    # scalars in the parameters' dtype keep float32 loops in float32
    dt = params.dtype.type
    one_m_b1, one_m_b2 = dt(1.0 - beta_1), dt(1.0 - beta_2)
    alpha, sw_sum, lr = dt(alpha), dt(sw_sum), dt(lr)
    beta_1, beta_2, epsilon = dt(beta_1), dt(beta_2), dt(epsilon)
    coef_stop = n_coef if n_coef < hi else hi
    sumsq = 0.0
    for j in range(lo, coef_stop):
        g = (grad[j] + alpha * params[j]) / sw_sum
        m[j] = beta_1 * m[j] + one_m_b1 * g
        v[j] = beta_2 * v[j] + one_m_b2 * (g * g)
        w = params[j] - lr * m[j] / (np.sqrt(v[j]) + epsilon)
        params[j] = w
        sumsq += w * w
    for j in range(coef_stop if coef_stop > lo else lo, hi):
        g = grad[j] / sw_sum
        m[j] = beta_1 * m[j] + one_m_b1 * g
        v[j] = beta_2 * v[j] + one_m_b2 * (g * g)
        params[j] -= lr * m[j] / (np.sqrt(v[j]) + epsilon)
    return sumsq


@inline_kernel
def sgd_step_inplace(params, grad, velocity, lo, n_coef, hi, alpha, sw_sum, lr, momentum, nesterov):
    """One SGD step of ``params[lo:hi]`` with (optionally Nesterov) momentum.

    ``velocity <- momentum * velocity - lr * g``; the step is the velocity,
    or with Nesterov's momentum ``momentum * velocity - lr * g`` evaluated
    with the new velocity.
    """
    dt = params.dtype.type
    alpha, sw_sum, lr, momentum = dt(alpha), dt(sw_sum), dt(lr), dt(momentum)
    # with Nesterov the step is momentum * velocity - lr * g, else velocity
    step_momentum, step_lr = (momentum, lr) if nesterov else (dt(1.0), dt(0.0))
    coef_stop = n_coef if n_coef < hi else hi
    sumsq = 0.0
    for j in range(lo, coef_stop):
        g = (grad[j] + alpha * params[j]) / sw_sum
        vel = momentum * velocity[j] - lr * g
        velocity[j] = vel
        w = params[j] + (step_momentum * vel - step_lr * g)
        params[j] = w
        sumsq += w * w
    for j in range(coef_stop if coef_stop > lo else lo, hi):
        g = grad[j] / sw_sum
        vel = momentum * velocity[j] - lr * g
        velocity[j] = vel
        params[j] += step_momentum * vel - step_lr * g
    return sumsq


@inline_kernel
def sum_of_squares(x, stop):
    """``sum(x[:stop] ** 2)`` accumulated in float64."""
    total = 0.0
    for j in range(stop):
        total += x[j] * x[j]
    return total
