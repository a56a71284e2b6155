"""In-place optimizer steps over the flat parameter vector.

The parameter vector holds every coefficient matrix first and every
intercept after them (scikit-learn's packing order), so the L2 penalty,
which applies to coefficients only, is the range ``[0, n_coef)``.

Each step is one fused loop: it finishes the gradient (adds the penalty's
gradient ``alpha * w`` and divides by the batch's weight sum, exactly as
scikit-learn orders those operations), updates the optimizer state and
the parameters, and returns ``||coefs||^2`` of the updated parameters,
which the next batch's loss needs, so no extra pass is spent on it.

One step, per parameter, in optax's names for the stages: the raw
gradient, plus the coupled L2 term (coefficients only), divided by the
weight sum -> ``clip_by_global_norm`` -> ``scale_by_adam`` (or SGD's
momentum) -> ``add_decayed_weights`` (coefficients only) -> times ``-lr``.

- Clipping needs the finished gradient's norm before any update, so it
  costs one pass of its own (:func:`clipped_divisor`), made only when it
  is on; its scale is folded into the division by the weight sum.
- Decoupled weight decay (PyTorch's AdamW) multiplies each coefficient by
  ``decay = 1 - lr * weight_decay`` in the step loop itself, ``lr`` being
  the step's scheduled step size before Adam's bias correction. Off, the
  factor is exactly 1.0 and the step is the one it was without it.
- The step size of each step comes from :func:`schedule_factor`, which the
  epoch evaluates at every step of the run; so do the dropout rates and the
  weight decay under a ``FLAT_COS`` schedule (RealMLP's 'flat_cos').

- Per-layer step sizes (:func:`grouped_adam_step_inplace`): Adam's step
  with a step size and epsilon per weight matrix and intercept vector,
  which with ``lr / sqrt(fan_in)`` and ``epsilon * sqrt(fan_in)`` is the
  NTK parametrisation's training (RealMLP's) in a standard network.

SGD's step, the schedules, clipping and the per-layer step sizes are
:class:`fastbp._jit.LazyKernel` kernels, compiled on first use: a default
fit (Adam at a constant step size) compiles none of them.

A step updates the slice ``params[lo:hi]`` (all of it within an epoch);
threads stepping disjoint slices of one batch (:mod:`fastbp._parallel`)
give the same parameters as one step over all of them, since each
parameter's update reads only its own entries (clipping, which reads the
whole gradient, steps one slice: all of it).
"""

import math

import numpy as np

from ._jit import inline_kernel, lazy_kernel

SGD, ADAM = 0, 1

# learning-rate schedules evaluated at every step inside the epoch; PER_EPOCH
# is scikit-learn's three, whose step size the driver sets between epochs;
# FLAT_COS schedules the dropout rates and the weight decay
PER_EPOCH, COSINE, COSLOG4, FLAT_COS = 0, 1, 2, 3
CLIP_EPSILON = 1e-6  # added to the gradient norm, as PyTorch's clip_grad_norm_


@inline_kernel
def schedule_factor(schedule, step, n_steps, warmup_steps):
    """The multiple of ``learning_rate_init`` that step ``step`` (from 0) of ``n_steps`` takes.

    ``COSINE``: a linear warmup ``step / warmup_steps`` over the first
    ``warmup_steps`` steps, then half a cosine period from 1 to 0 over the
    rest, ``0.5 * (1 + cos(pi * p))`` with ``p = (step - warmup_steps) /
    (n_steps - warmup_steps)``; without warmup PyTorch's
    ``CosineAnnealingLR(T_max=n_steps)`` (and ``eta_min=0``) stepped once per
    batch. ``COSLOG4``: RealMLP's schedule (Holzmueller et al., "Better by
    default: strong pre-tuned MLPs and boosted trees on tabular data",
    NeurIPS 2024; ``CoslogFunc(4)`` in pytabkit's
    ``models/training/scheduling.py``), ``0.5 * (1 - cos(2 pi log2(1 + 15
    p)))`` with ``p = step / n_steps``: four cycles from 0 up to 1 and back,
    each twice as long as the one before. ``FLAT_COS``: RealMLP's schedule
    of its dropout rate and weight decay (``'flat_cos'`` in pytabkit's
    ``get_schedule``, same module: a constant 1 over the first half, then
    a cosine from 1 down to 0), 1 for ``p < 1/2`` and ``0.5 * (1 - cos(2
    pi p))`` from there, with ``p = step / n_steps``. pytabkit evaluates
    its schedules before every batch at ``t`` = the training samples seen
    so far over ``max_epochs`` times the epoch's samples, which is ``p``
    when the batches are equal. The caller keeps ``warmup_steps <
    n_steps``.
    """
    if schedule == PER_EPOCH:
        return 1.0
    if step < warmup_steps:
        return step / warmup_steps
    progress = (step - warmup_steps) / (n_steps - warmup_steps)
    if schedule == FLAT_COS:
        return 1.0 if progress < 0.5 else 0.5 * (1.0 - math.cos(2.0 * math.pi * progress))
    if schedule == COSLOG4:
        return 0.5 * (1.0 - math.cos(2.0 * math.pi * math.log2(1.0 + 15.0 * progress)))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _int_args(dtype):
    return (0, 0, 0)


@lazy_kernel("cosine schedule", _int_args)
def cosine_factor(step, n_steps, warmup_steps):
    """:func:`schedule_factor` of ``COSINE``, called by address."""
    return schedule_factor(COSINE, step, n_steps, warmup_steps)


@lazy_kernel("coslog4 schedule", _int_args)
def coslog4_factor(step, n_steps, warmup_steps):
    """:func:`schedule_factor` of ``COSLOG4``, called by address."""
    return schedule_factor(COSLOG4, step, n_steps, warmup_steps)


@lazy_kernel("flat_cos schedule", _int_args)
def flat_cos_factor(step, n_steps, warmup_steps):
    """:func:`schedule_factor` of ``FLAT_COS``, called by address."""
    return schedule_factor(FLAT_COS, step, n_steps, warmup_steps)


SCHEDULE_KERNELS = {COSINE: cosine_factor, COSLOG4: coslog4_factor, FLAT_COS: flat_cos_factor}


def _vector(dtype):
    return np.empty(0, dtype=dtype)


def _clip_args(dtype):
    return (_vector(dtype), _vector(dtype), 0, 0.0, 0.0, 0.0)


@lazy_kernel("gradient clipping", _clip_args)
def clipped_divisor(params, grad, n_coef, alpha, sw_sum, max_norm):
    """What to divide the raw gradient by to finish it and clip it to global norm ``max_norm``.

    The finished gradient is ``(grad + alpha * w) / sw_sum`` (the L2 term on
    the coefficients only). When its L2 norm ``||g||`` makes ``scale =
    max_norm / (||g|| + 1e-6)`` less than 1 it is scaled by ``scale``
    (PyTorch's ``clip_grad_norm_``), which the step loops do by dividing by
    ``sw_sum / scale`` instead of ``sw_sum``.
    """
    sumsq = 0.0
    for j in range(params.shape[0]):
        l2 = alpha if j < n_coef else 0.0
        g = grad[j] + l2 * params[j]
        sumsq += g * g
    scale = max_norm / (math.sqrt(sumsq) / sw_sum + CLIP_EPSILON)
    return sw_sum / scale if scale < 1.0 else sw_sum


@inline_kernel
def adam_step_inplace(params, grad, m, v, lo, n_coef, hi, alpha, sw_sum, lr, decay, beta_1, beta_2, epsilon):
    """One Adam step of ``params[lo:hi]`` with a bias-corrected step size ``lr``.

    ``lr`` is the step's scheduled step size times ``sqrt(1 - beta_2^t) /
    (1 - beta_1^t)``, computed by the caller; epsilon is added to
    ``sqrt(v)`` (scikit-learn's form of Adam). The coefficients are first
    multiplied by ``decay`` (decoupled weight decay, see the module
    docstring); ``sw_sum`` is the divisor that finishes the gradient.
    """
    # scalars in the parameters' dtype keep float32 loops in float32
    dt = params.dtype.type
    one_m_b1, one_m_b2 = dt(1.0 - beta_1), dt(1.0 - beta_2)
    alpha, sw_sum, lr, decay = dt(alpha), dt(sw_sum), dt(lr), dt(decay)
    beta_1, beta_2, epsilon = dt(beta_1), dt(beta_2), dt(epsilon)
    coef_stop = n_coef if n_coef < hi else hi
    sumsq = 0.0
    # unsigned indices: numba wraps a negative signed index around, a select
    # per access that keeps LLVM from vectorizing these loops (from a
    # run-time ``lo``, a W3-sized step took 4.2x as long in float32, 2.5x in
    # float64)
    for j in range(np.uint64(lo), np.uint64(coef_stop)):
        g = (grad[j] + alpha * params[j]) / sw_sum
        m[j] = beta_1 * m[j] + one_m_b1 * g
        v[j] = beta_2 * v[j] + one_m_b2 * (g * g)
        w = decay * params[j] - lr * m[j] / (np.sqrt(v[j]) + epsilon)
        params[j] = w
        sumsq += w * w
    for j in range(np.uint64(coef_stop if coef_stop > lo else lo), np.uint64(hi)):
        g = grad[j] / sw_sum
        m[j] = beta_1 * m[j] + one_m_b1 * g
        v[j] = beta_2 * v[j] + one_m_b2 * (g * g)
        params[j] -= lr * m[j] / (np.sqrt(v[j]) + epsilon)
    return sumsq


def _grouped_args(dtype):
    v = _vector(dtype)
    return (v, v, v, v, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.empty(0, np.int64), np.empty(0), np.empty(0))


@lazy_kernel("per-layer step sizes", _grouped_args)
def grouped_adam_step_inplace(
    params, grad, m, v, lo, n_coef, hi, alpha, sw_sum, lr, decay, beta_1, beta_2, epsilon, bounds, lr_factors, eps_factors
):
    """:func:`adam_step_inplace` with a step size and an epsilon of its own for each group of parameters.

    Group ``s`` is ``params[bounds[s]:bounds[s + 1]]`` (each weight matrix,
    then each intercept vector); its step size is ``lr * lr_factors[s]`` and
    its epsilon ``epsilon * eps_factors[s]``. The decay stays ``decay``
    (PyTorch's parameter groups scale the decay with the group's step
    size; under the NTK parametrisation this option reproduces, the
    effective weights decay by the base rate). Returns ``||coefs[lo:hi]||^2``
    of the updated coefficients.
    """
    sumsq = 0.0
    for s in range(lr_factors.shape[0]):
        start = bounds[s] if bounds[s] > lo else lo
        stop = bounds[s + 1] if bounds[s + 1] < hi else hi
        if start < stop:
            sumsq += adam_step_inplace(
                params, grad, m, v, start, n_coef, stop, alpha, sw_sum,
                lr * lr_factors[s], decay, beta_1, beta_2, epsilon * eps_factors[s],
            )  # fmt: skip
    return sumsq


def _sgd_args(dtype):
    return (_vector(dtype), _vector(dtype), _vector(dtype), 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, False)


@lazy_kernel("SGD", _sgd_args)
def sgd_step_inplace(params, grad, velocity, lo, n_coef, hi, alpha, sw_sum, lr, decay, momentum, nesterov):
    """One SGD step of ``params[lo:hi]`` with (optionally Nesterov) momentum.

    ``velocity <- momentum * velocity - lr * g``; the step is the velocity,
    or with Nesterov's momentum ``momentum * velocity - lr * g`` evaluated
    with the new velocity. The coefficients are first multiplied by
    ``decay``, as in :func:`adam_step_inplace`.
    """
    dt = params.dtype.type
    alpha, sw_sum, lr, decay, momentum = dt(alpha), dt(sw_sum), dt(lr), dt(decay), dt(momentum)
    # with Nesterov the step is momentum * velocity - lr * g, else velocity
    step_momentum, step_lr = (momentum, lr) if nesterov else (dt(1.0), dt(0.0))
    coef_stop = n_coef if n_coef < hi else hi
    sumsq = 0.0
    for j in range(np.uint64(lo), np.uint64(coef_stop)):  # (unsigned: see adam_step_inplace)
        g = (grad[j] + alpha * params[j]) / sw_sum
        vel = momentum * velocity[j] - lr * g
        velocity[j] = vel
        w = decay * params[j] + (step_momentum * vel - step_lr * g)
        params[j] = w
        sumsq += w * w
    for j in range(np.uint64(coef_stop if coef_stop > lo else lo), np.uint64(hi)):
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
