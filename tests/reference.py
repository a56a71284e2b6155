"""A plain-NumPy reference multilayer perceptron, written the textbook way.

This module is the oracle the compiled kernels are tested against, so it
favours readability over speed and shares no code with ``fastbp``: no
numba, no scikit-learn, no in-place tricks. Everything is computed in
float64, whatever the dtype of the inputs; the ``dtype`` arguments only
choose the epsilon that clips probabilities inside the logarithms, which is
``np.finfo(dtype).eps`` as in the kernels.

``activation`` is one hidden activation name, or a list of one name per
hidden layer.

Parameters are lists in scikit-learn's layout: ``coefs[i]`` of shape
``(fan_in, fan_out)`` and ``intercepts[i]`` of shape ``(fan_out,)``.
:func:`pack` and :func:`unpack` convert to and from the flat parameter
vector (every coefficient matrix row-major, then every intercept).

Loss of a data set (or a batch) with sample weights ``sw``::

    L = sum_i sw_i * loss_i / sum(sw) + 0.5 * alpha * sum_k ||W_k||^2 / sum(sw)

where ``loss_i`` is summed over the outputs of sample ``i``. Intercepts are
not penalised.

The regressor's robust losses (:func:`robust_loss`) pair an identity output
with another loss than squared error; the functions below take them as
``loss``, a dict of :func:`robust_loss`'s keyword arguments, with ``Y``
holding the targets, one column per target (not per output).
"""

import math

import numpy as np

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")  # scikit-learn's
NEW_HIDDEN_ACTIVATIONS = ("leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "mish", "softplus")
ALL_HIDDEN_ACTIVATIONS = HIDDEN_ACTIVATIONS + NEW_HIDDEN_ACTIVATIONS
OUTPUT_ACTIVATIONS = ("identity", "logistic", "softmax", "exp")
ROBUST_LOSSES = ("absolute_error", "huber", "quantile")

LEAKY_SLOPE = 0.01  # PyTorch's default negative_slope
# Klambauer et al. (2017), "Self-Normalizing Neural Networks", eq. (14)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# -- activations -------------------------------------------------------------


def logistic(z):
    """Sigmoid ``1 / (1 + exp(-z))``, evaluated without overflow."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def softmax(z):
    """Row-wise softmax; the row maximum is subtracted first."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def normal_cdf(z):
    """The standard normal CDF, by erfc: accurate in both tails."""
    return 0.5 * _erfc(-z / math.sqrt(2.0))


def gelu_tanh_gate(z):
    """``(1 + tanh(u)) / 2 = sigmoid(2u)``, ``u = sqrt(2/pi) (z + 0.044715 z^3)``, and ``du/dz``."""
    c = math.sqrt(2.0 / math.pi)
    return logistic(2.0 * c * (z + 0.044715 * z**3)), c * (1.0 + 3 * 0.044715 * z**2)


def softplus(z):
    """``log(1 + exp(z))``, evaluated without overflow."""
    return np.logaddexp(0.0, z)


def hidden_activation(name, z):
    if name == "identity":
        return z.copy()
    if name == "logistic":
        return logistic(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_SLOPE * z)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(z))
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(z))
    if name == "gelu":
        return z * normal_cdf(z)
    if name == "gelu_tanh":
        return z * gelu_tanh_gate(z)[0]
    if name == "silu":
        return z * logistic(z)
    if name == "mish":
        return z * np.tanh(softplus(z))
    if name == "softplus":
        return softplus(z)
    raise ValueError(name)


def hidden_derivative(name, z):
    """``f'(z)``, written in terms of the pre-activation ``z``."""
    if name == "identity":
        return np.ones_like(z)
    if name == "logistic":
        s = logistic(z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, LEAKY_SLOPE)
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(z))
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(z))
    if name == "gelu":
        # Phi(z) + z phi(z)
        return normal_cdf(z) + z * np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
    if name == "gelu_tanh":
        # d/dz z s(u) = s + z 2 s (1 - s) du/dz, with 1 - s = s(-u)
        s, du = gelu_tanh_gate(z)
        return s + z * 2.0 * s * gelu_tanh_gate(-z)[0] * du
    if name == "silu":
        s = logistic(z)
        return s * (1.0 + z * (1.0 - s))
    if name == "mish":
        t = np.tanh(softplus(z))
        return t + z * (1.0 - t**2) * logistic(z)
    if name == "softplus":
        return logistic(z)
    raise ValueError(name)


def layer_activation(activation, k):
    """The activation name of hidden layer ``k`` (0-based)."""
    return activation if isinstance(activation, str) else activation[k]


def output_activation(name, z):
    if name == "identity":
        return z.copy()
    if name == "logistic":
        return logistic(z)
    if name == "softmax":
        return softmax(z)
    if name == "exp":
        return np.exp(z)
    raise ValueError(name)


# -- losses --------------------------------------------------------------------


def sample_losses(name, P, Y, dtype=np.float64):
    """Loss of every sample (summed over outputs), shape ``(n_samples,)``.

    ``name`` is the output activation; each is paired with its canonical
    loss. Probabilities are clipped to ``[eps, 1 - eps]`` before the log.
    """
    eps = np.finfo(dtype).eps
    if name == "identity":
        # half squared error
        return 0.5 * ((P - Y) ** 2).sum(axis=1)
    if name == "logistic":
        # binary cross-entropy of every column
        p = np.clip(P, eps, 1 - eps)
        return -(Y * np.log(p) + (1 - Y) * np.log(1 - p)).sum(axis=1)
    if name == "softmax":
        # categorical cross-entropy
        p = np.clip(P, eps, 1 - eps)
        return -(Y * np.log(p)).sum(axis=1)
    if name == "exp":
        # half Poisson deviance y log(y / p) - y + p, with 0 log 0 = 0
        positive = Y > 0
        y_log_y_over_p = np.where(positive, Y * np.log(np.where(positive, Y, 1.0) / P), 0.0)
        return (y_log_y_over_p - Y + P).sum(axis=1)
    raise ValueError(name)


def robust_loss(name, P, Y, delta=1.0, quantiles=(0.5,)):
    """Loss of every sample and its gradient ``dloss/dP``, for an identity output.

    ``Y`` holds one column per target. For 'quantile' ``P`` has one column
    per (target, quantile): target ``t``'s quantile ``k`` in column
    ``t * len(quantiles) + k``, and a sample's loss is, per target, the mean
    over its quantiles. The residual is ``r = y - p``. At the kinks the
    gradient is the middle of the subgradients.
    """
    P = np.asarray(P, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if name == "absolute_error":
        r = Y - P
        return np.abs(r).sum(axis=1), -np.sign(r)
    if name == "huber":
        r = Y - P
        small = np.abs(r) <= delta
        losses = np.where(small, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
        return losses.sum(axis=1), np.where(small, -r, -delta * np.sign(r))
    if name == "quantile":
        q = len(quantiles)
        tau = np.tile(np.asarray(quantiles, dtype=np.float64), Y.shape[1])
        r = np.repeat(Y, q, axis=1) - P
        # pinball: tau * r under-predicting (r > 0), (tau - 1) * r over-predicting
        losses = np.where(r > 0, tau * r, (tau - 1) * r)
        grad = np.where(r > 0, -tau, np.where(r < 0, 1 - tau, 0.5 - tau))
        return losses.sum(axis=1) / q, grad / q
    raise ValueError(name)


# -- forward and backward passes ---------------------------------------------------


def forward(coefs, intercepts, X, activation, out_activation, mixes=None):
    """Pre-activations and activations of every layer.

    Returns ``(Z, A)``: ``A[0]`` is ``X``, ``A[k]`` the output of layer
    ``k``, ``Z[k - 1]`` its pre-activation ``A[k - 1] @ W + b``. The last
    ``A`` is the network's output. ``mixes``: parametric activations, one
    weight per hidden unit and layer: hidden layer ``k`` outputs ``z +
    mixes[k] * (f(z) - z)``.
    """
    A = [np.asarray(X, dtype=np.float64)]
    Z = []
    n_layers = len(coefs)
    for k, (W, b) in enumerate(zip(coefs, intercepts)):
        z = A[-1] @ np.asarray(W, dtype=np.float64) + np.asarray(b, dtype=np.float64)
        Z.append(z)
        if k < n_layers - 1:
            f = hidden_activation(layer_activation(activation, k), z)
            A.append(f if mixes is None else z + np.asarray(mixes[k], dtype=np.float64) * (f - z))
        else:
            A.append(output_activation(out_activation, z))
    return Z, A


def predict(coefs, intercepts, X, activation, out_activation):
    """Output activations, shape ``(n_samples, n_outputs)``."""
    return forward(coefs, intercepts, X, activation, out_activation)[1][-1]


def raw_loss_grad(coefs, intercepts, X, Y, sw, activation, out_activation, dtype=np.float64, loss=None):
    """Weighted loss sum, weight sum and raw gradient of a batch.

    Returns ``(sum_i sw_i * loss_i, sum_i sw_i, coef_grads, intercept_grads)``
    where the gradients are ``sum_i sw_i * dloss_i / dparams``: no L2 term,
    not divided by the weight sum. This is what the kernel
    ``batch_loss_grad_into`` computes. ``loss``: a robust loss (see the
    module docstring) instead of the output activation's own.
    """
    return mixed_raw_loss_grad(coefs, intercepts, None, X, Y, sw, activation, out_activation, dtype, loss)[:4]


def mixed_raw_loss_grad(coefs, intercepts, mixes, X, Y, sw, activation, out_activation, dtype=np.float64, loss=None):
    """:func:`raw_loss_grad` of a network with parametric activations (see :func:`forward`).

    Returns ``raw_loss_grad``'s four values and the mixing weights' raw
    gradients, one array per hidden layer (None for ``mixes=None``): with
    ``a = z + m (f(z) - z)``, ``da/dm = f(z) - z`` and ``da/dz = 1 + m
    (f'(z) - 1)``.
    """
    Y = np.asarray(Y, dtype=np.float64)
    sw = np.asarray(sw, dtype=np.float64)
    Z, A = forward(coefs, intercepts, X, activation, out_activation, mixes)
    if loss is None:
        loss_sum = np.sum(sw * sample_losses(out_activation, A[-1], Y, dtype))
        # canonical pairs: dloss/dz of the output layer is g(z) - y
        delta = sw[:, None] * (A[-1] - Y)
    else:
        assert out_activation == "identity"
        losses, grad = robust_loss(P=A[-1], Y=Y, **loss)
        loss_sum = np.sum(sw * losses)
        delta = sw[:, None] * grad  # identity output: dloss/dz = dloss/dP
    coef_grads = [None] * len(coefs)
    intercept_grads = [None] * len(coefs)
    mix_grads = None if mixes is None else [None] * (len(coefs) - 1)
    for k in range(len(coefs) - 1, -1, -1):
        coef_grads[k] = A[k].T @ delta
        intercept_grads[k] = delta.sum(axis=0)
        if k > 0:
            # chain rule down to the pre-activation of the layer below
            W = np.asarray(coefs[k], dtype=np.float64)
            name, z = layer_activation(activation, k - 1), Z[k - 1]
            delta = delta @ W.T
            derivative = hidden_derivative(name, z)
            if mixes is not None:
                m = np.asarray(mixes[k - 1], dtype=np.float64)
                mix_grads[k - 1] = (delta * (hidden_activation(name, z) - z)).sum(axis=0)
                derivative = 1.0 + m * (derivative - 1.0)
            delta = delta * derivative
    return loss_sum, sw.sum(), coef_grads, intercept_grads, mix_grads


def l2_sum(coefs):
    """``sum_k ||W_k||^2`` over the coefficient matrices."""
    return sum(np.sum(np.asarray(W, dtype=np.float64) ** 2) for W in coefs)


def loss_grad(coefs, intercepts, X, Y, sw, activation, out_activation, alpha, dtype=np.float64, loss=None):
    """Loss (L2 term included) and its gradient, the finished form.

    ``dW = (A_prev.T @ delta + alpha * W) / sum(sw)`` and
    ``db = sum(delta) / sum(sw)``.
    """
    loss_sum, sw_sum, coef_grads, intercept_grads = raw_loss_grad(
        coefs, intercepts, X, Y, sw, activation, out_activation, dtype, loss
    )
    loss = (loss_sum + 0.5 * alpha * l2_sum(coefs)) / sw_sum
    coef_grads = [(g + alpha * np.asarray(W, dtype=np.float64)) / sw_sum for g, W in zip(coef_grads, coefs)]
    intercept_grads = [g / sw_sum for g in intercept_grads]
    return loss, coef_grads, intercept_grads


# -- optimizers (scikit-learn's formulas) ----------------------------------------------


class Adam:
    """Adam as in scikit-learn's ``AdamOptimizer``, with AdamW's decoupled weight decay.

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``; ``w -= lr_t m / (sqrt(v) + eps)``.
    With ``weight_decay``, the decayed arrays are first multiplied by
    ``1 - lr * weight_decay`` (``lr`` without the bias correction).
    """

    def __init__(self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0):
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self.t = 0
        self.ms = [np.zeros_like(p, dtype=np.float64) for p in params]
        self.vs = [np.zeros_like(p, dtype=np.float64) for p in params]

    def step(self, params, grads, learning_rate=None, n_decayed=0):
        """Update the float64 arrays ``params`` in place.

        ``learning_rate`` is this step's step size (default: the constant
        one); the first ``n_decayed`` arrays (the coefficients) decay.
        """
        lr = self.learning_rate if learning_rate is None else learning_rate
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        lr_t = lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for i, (p, g, m, v) in enumerate(zip(params, grads, self.ms, self.vs)):
            m[...] = b1 * m + (1 - b1) * g
            v[...] = b2 * v + (1 - b2) * g**2
            if i < n_decayed:
                p *= 1 - lr * self.weight_decay
            p -= lr_t * m / (np.sqrt(v) + self.epsilon)


class SGD:
    """SGD with momentum as in scikit-learn's ``SGDOptimizer``, with decoupled weight decay.

    ``velocity = mu velocity - lr g``; the update is ``mu velocity - lr g``
    (with the new velocity) under Nesterov's momentum, else ``velocity``.
    With ``weight_decay``, the decayed arrays are first multiplied by
    ``1 - lr * weight_decay``.
    """

    def __init__(self, params, learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=0.0):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.velocities = [np.zeros_like(p, dtype=np.float64) for p in params]

    def step(self, params, grads, learning_rate=None, n_decayed=0):
        """Update the float64 arrays ``params`` in place (arguments as :meth:`Adam.step`)."""
        mu = self.momentum
        lr = self.learning_rate if learning_rate is None else learning_rate
        for i, (p, g, vel) in enumerate(zip(params, grads, self.velocities)):
            vel[...] = mu * vel - lr * g
            update = mu * vel - lr * g if self.nesterov else vel
            if i < n_decayed:
                p *= 1 - lr * self.weight_decay
            p += update


def schedule(name, step, n_steps, warmup_steps=0):
    """The multiple of the initial step size taken by ``step`` (from 0) of a run of ``n_steps``.

    The closed forms, with ``p = step / n_steps``: 'cosine' ``(1 + cos(pi
    p)) / 2``; 'warmup_cosine' ``step / warmup_steps`` during the warmup,
    then the cosine over the remaining steps; 'coslog4' RealMLP's ``(1 -
    cos(2 pi log2(1 + 15 p))) / 2``; 'flat_cos' RealMLP's schedule of its
    dropout and weight decay, 1 for ``p < 1/2``, then ``(1 + cos(pi (2 p -
    1))) / 2`` (a half cosine from 1 to 0 over the second half).
    """
    p = step / n_steps
    if name == "cosine":
        return (1 + np.cos(np.pi * p)) / 2
    if name == "warmup_cosine":
        if step < warmup_steps:
            return step / warmup_steps
        return schedule("cosine", step - warmup_steps, n_steps - warmup_steps)
    if name == "coslog4":
        return (1 - np.cos(2 * np.pi * np.log2(1 + 15 * p))) / 2
    if name == "flat_cos":
        return 1.0 if p < 0.5 else (1 + np.cos(np.pi * (2 * p - 1))) / 2
    raise ValueError(name)


def clip_by_global_norm(grads, max_norm):
    """``grads`` scaled by ``max_norm / (||grads|| + 1e-6)`` when that is below 1."""
    norm = np.sqrt(sum(np.sum(g**2) for g in grads))
    scale = max_norm / (norm + 1e-6)
    return [g * scale for g in grads] if scale < 1 else grads


def run_epoch(
    coefs, intercepts, X, Y, sw, rows, batch_size, activation, out_activation, alpha, optimizer,
    dtype=np.float64, learning_rate=None, first_step=0, max_grad_norm=None, loss=None,
):  # fmt: skip
    """One epoch of mini-batch training over ``rows``, in that order.

    ``coefs`` and ``intercepts`` must be float64 arrays; they are updated in
    place by ``optimizer`` (an :class:`Adam` or :class:`SGD` built on
    ``coefs + intercepts``; its weight decay applies to ``coefs``). Returns
    the sum over batches of the batch loss (L2 term included, with the
    weights before the step) times the batch's row count. A batch whose
    weights sum to zero is skipped: it has no defined loss and carries no
    gradient.

    Batch ``b`` is step ``first_step + b`` of the run, whose step size is
    ``learning_rate(step)`` (default: the optimizer's constant one). With
    ``max_grad_norm`` each batch's finished gradient is clipped to that
    global norm first.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    sw = np.asarray(sw, dtype=np.float64)
    loss_sum = 0.0
    for b, start in enumerate(range(0, len(rows), batch_size)):
        batch = rows[start : start + batch_size]
        if not sw[batch].sum() > 0:
            continue
        batch_loss, coef_grads, intercept_grads = loss_grad(
            coefs, intercepts, X[batch], Y[batch], sw[batch], activation, out_activation, alpha, dtype, loss
        )
        loss_sum += len(batch) * batch_loss
        grads = coef_grads + intercept_grads
        if max_grad_norm is not None:
            grads = clip_by_global_norm(grads, max_grad_norm)
        lr = None if learning_rate is None else learning_rate(first_step + b)
        optimizer.step(coefs + intercepts, grads, lr, n_decayed=len(coefs))
    return loss_sum


# -- flat parameter vector -----------------------------------------------------------


def pack(coefs, intercepts):
    """The flat parameter vector: coefficients row-major, then intercepts."""
    return np.concatenate([np.ravel(W) for W in coefs] + [np.ravel(b) for b in intercepts])


def unpack(flat, units):
    """Inverse of :func:`pack` for layer sizes ``units``; returns copies."""
    flat = np.asarray(flat)
    coefs, intercepts = [], []
    pos = 0
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        coefs.append(flat[pos : pos + fan_in * fan_out].reshape(fan_in, fan_out).copy())
        pos += fan_in * fan_out
    for fan_out in units[1:]:
        intercepts.append(flat[pos : pos + fan_out].copy())
        pos += fan_out
    assert pos == flat.shape[0]
    return coefs, intercepts
