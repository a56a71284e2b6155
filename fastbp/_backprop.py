"""Compiled forward pass, backpropagation, epochs and prediction.

Arguments travel in three tuples so every kernel has the same shape of
signature, and each is compiled once per dtype:

``net = (params, coef_start, bias_start, units, hidden_code, out_code)``
    ``params`` is the flat parameter vector. Coefficient matrix ``i`` is
    ``params[coef_start[i]:coef_start[i + 1]]`` viewed as
    ``(units[i], units[i + 1])``; intercept ``i`` is
    ``params[bias_start[i]:bias_start[i + 1]]``.

``data = (X, sp_data, sp_indices, sp_indptr, is_sparse, Y, sw)``
    Dense ``X`` (C-contiguous), or an empty ``X`` and the three arrays of a
    CSR matrix when ``is_sparse``. ``Y`` holds the targets as floats of the
    same dtype, one column per output unit; ``sw`` the sample weights (ones
    when the user gave none).

``work = (xbuf, acts, deltas, block_start, grad)``
    Buffers allocated once per fit. ``xbuf`` receives the gathered rows of
    a dense batch. Layer ``k``'s activations for a batch of ``nb`` rows are
    ``acts[block_start[k]:block_start[k] + nb * units[k]]`` viewed as
    ``(nb, units[k])``, and its deltas (the loss gradient with respect to
    the pre-activation) the same range of ``deltas``. ``grad`` has the
    layout of ``params``.

Matrix products go to BLAS through ``np.dot(a, b, out)``; transposes are
views, so nothing is copied and nothing is allocated per batch.
"""

import numpy as np

from ._activations import (
    activation_derivative_inplace,
    add_bias_activate_inplace,
    add_bias_output_activate_inplace,
    output_delta_loss_into,
)
from ._jit import compile_ahead, inline_kernel, internal_kernel, kernel
from ._optimizers import ADAM, adam_step_inplace, sgd_step_inplace, sum_of_squares


@inline_kernel
def coef_view(net, i):
    params, coef_start, _, units, _, _ = net
    return params[coef_start[i] : coef_start[i + 1]].reshape((units[i], units[i + 1]))


@inline_kernel
def bias_view(net, i):
    params, _, bias_start, _, _, _ = net
    return params[bias_start[i] : bias_start[i + 1]]


@inline_kernel
def layer_block(buf, block_start, units, k, nb):
    return buf[block_start[k] : block_start[k] + nb * units[k]].reshape((nb, units[k]))


@inline_kernel
def csr_rows_dot_into(sp_data, sp_indices, sp_indptr, rows, start, W, out):
    """``out = X[rows[start:start + len(out)]] @ W`` for CSR ``X``."""
    fill_zero(out.reshape(out.size))
    for r in range(out.shape[0]):
        i = rows[start + r]
        for p in range(sp_indptr[i], sp_indptr[i + 1]):
            x = sp_data[p]
            wrow = W[sp_indices[p]]
            for j in range(out.shape[1]):
                out[r, j] += x * wrow[j]


@inline_kernel
def csr_rows_transpose_dot_into(sp_data, sp_indices, sp_indptr, rows, start, D, out):
    """``out = X[rows[start:start + len(D)]].T @ D`` for CSR ``X``."""
    fill_zero(out.reshape(out.size))
    for r in range(D.shape[0]):
        i = rows[start + r]
        for p in range(sp_indptr[i], sp_indptr[i + 1]):
            x = sp_data[p]
            orow = out[sp_indices[p]]
            for j in range(D.shape[1]):
                orow[j] += x * D[r, j]


@internal_kernel
def matmul_into(a, b, out):
    """``out = a @ b`` through BLAS.

    One compiled function per layout pair (C @ C, C.T @ C, C @ C.T) serves
    every call site: numba's ``np.dot`` expands to a lot of code, and
    expanding it per call site doubled the compile time. Plain loops for
    tiny products (batch 16 x 32 units, one-unit outputs) were measured no
    faster than BLAS here, so every product goes to BLAS.
    """
    np.dot(a, b, out)


@inline_kernel
def gather_rows_into(X, rows, start, out):
    """``out = X[rows[start:start + len(out)]]``.

    Explicit loops: whole-row slice assignment compiles numba's general
    broadcasting machinery, which took seconds of compile time.
    """
    for r in range(out.shape[0]):
        i = rows[start + r]
        for j in range(out.shape[1]):
            out[r, j] = X[i, j]


@inline_kernel
def fill_zero(a):
    for j in range(a.shape[0]):
        a[j] = 0


@internal_kernel
def forward_batch_into(net, data, work, rows, start, nb):
    """Forward pass of rows ``rows[start:start + nb]``; returns the input block.

    Fills every layer's activation block; the last one holds the output
    activations.
    """
    _, _, _, units, hidden_code, out_code = net
    X, sp_data, sp_indices, sp_indptr, is_sparse, _, _ = data
    xbuf, acts, _, block_start, _ = work
    n_layers = units.shape[0] - 1  # number of weight matrices

    xb = layer_block(xbuf, block_start, units, 0, nb if not is_sparse else 0)
    Z = layer_block(acts, block_start, units, 1, nb)
    if is_sparse:
        csr_rows_dot_into(sp_data, sp_indices, sp_indptr, rows, start, coef_view(net, 0), Z)
    else:
        gather_rows_into(X, rows, start, xb)
        matmul_into(xb, coef_view(net, 0), Z)
    for k in range(1, n_layers + 1):
        Z = layer_block(acts, block_start, units, k, nb)
        if k > 1:
            matmul_into(layer_block(acts, block_start, units, k - 1, nb), coef_view(net, k - 1), Z)
        if k < n_layers:
            add_bias_activate_inplace(Z, bias_view(net, k - 1), hidden_code)
        else:
            add_bias_output_activate_inplace(Z, bias_view(net, k - 1), out_code)
    return xb


@internal_kernel
def batch_loss_grad_into(net, data, work, rows, start, nb):
    """Raw loss and gradient of one batch; returns ``(weighted loss sum, sw sum)``.

    ``grad`` receives ``sum_i sw_i * dloss_i/dparams`` without the L2 term
    and before division by the weight sum; the optimizer step finishes it.
    """
    params, _, _, units, hidden_code, out_code = net
    X, sp_data, sp_indices, sp_indptr, is_sparse, Y, sw = data
    xbuf, acts, deltas, block_start, grad = work
    n_layers = units.shape[0] - 1
    gnet = (grad, net[1], net[2], units, hidden_code, out_code)

    xb = forward_batch_into(net, data, work, rows, start, nb)

    sw_sum = 0.0
    for r in range(nb):
        sw_sum += sw[rows[start + r]]

    # output layer: delta = sw * (g(z) - y) for the canonical loss/link pairs
    D = layer_block(deltas, block_start, units, n_layers, nb)
    A = layer_block(acts, block_start, units, n_layers, nb)
    loss = output_delta_loss_into(A, Y, sw, rows, start, out_code, D)

    # backpropagate delta layer by layer: gradient of layer k-1's weights
    # from its input and delta, then delta of the layer below via the chain rule
    for k in range(n_layers, 0, -1):
        D = layer_block(deltas, block_start, units, k, nb)
        gW = coef_view(gnet, k - 1)
        if k > 1:
            matmul_into(layer_block(acts, block_start, units, k - 1, nb).T, D, gW)
        elif is_sparse:
            csr_rows_transpose_dot_into(sp_data, sp_indices, sp_indptr, rows, start, D, gW)
        else:
            matmul_into(xb.T, D, gW)
        gb = bias_view(gnet, k - 1)
        fill_zero(gb)
        for r in range(nb):
            for j in range(D.shape[1]):
                gb[j] += D[r, j]
        if k > 1:
            D_below = layer_block(deltas, block_start, units, k - 1, nb)
            matmul_into(D, coef_view(net, k - 1).T, D_below)
            activation_derivative_inplace(
                layer_block(acts, block_start, units, k - 1, nb), D_below, hidden_code
            )
    return loss, sw_sum


@inline_kernel
def epoch_inplace(net, data, work, optimizer, rows, batch_size):
    """Train one epoch over ``rows`` in batches; returns ``(loss_sum, t)``."""
    params = net[0]
    solver, lr, alpha, momentum, nesterov, beta_1, beta_2, epsilon, state_1, state_2, t = optimizer
    grad = work[4]
    n_coef = net[2][0]
    n = rows.shape[0]
    # ||coefs||^2 of the current weights; each step returns it for the new ones
    sumsq = sum_of_squares(params, n_coef)
    loss_sum = 0.0
    for start in range(0, n, batch_size):
        nb = min(batch_size, n - start)
        loss, sw_sum = batch_loss_grad_into(net, data, work, rows, start, nb)
        if not sw_sum > 0:
            continue  # a batch of zero total weight carries no gradient
        loss_sum += nb * (loss + 0.5 * alpha * sumsq) / sw_sum
        if solver == ADAM:
            t += 1
            lr_t = lr * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
            sumsq = adam_step_inplace(
                params, grad, state_1, state_2, n_coef, alpha, sw_sum, lr_t, beta_1, beta_2, epsilon
            )
        else:
            sumsq = sgd_step_inplace(params, grad, state_1, n_coef, alpha, sw_sum, lr, momentum, nesterov)
    return loss_sum, t


@inline_kernel
def full_loss_grad_inplace(net, data, work, alpha, rows, chunk, grad_out):
    """Loss and gradient over ``rows`` (all of them), for L-BFGS.

    Rows are processed in chunks through the batch workspace and their raw
    gradients summed into ``grad_out``, which ends with the L2 term added
    and divided by the total sample weight. Returns the loss.
    """
    params = net[0]
    grad = work[4]
    n_coef = net[2][0]
    n = rows.shape[0]
    fill_zero(grad_out)
    loss = 0.0
    sw_total = 0.0
    for start in range(0, n, chunk):
        nb = min(chunk, n - start)
        chunk_loss, sw_sum = batch_loss_grad_into(net, data, work, rows, start, nb)
        loss += chunk_loss
        sw_total += sw_sum
        for j in range(grad.shape[0]):
            grad_out[j] += grad[j]
    for j in range(n_coef):
        grad_out[j] += alpha * params[j]
    for j in range(grad_out.shape[0]):
        grad_out[j] /= sw_total
    return (loss + 0.5 * alpha * sum_of_squares(params, n_coef)) / sw_total


@inline_kernel
def predict_inplace(net, data, work, rows, chunk, out):
    """Output activations of ``rows`` into ``out``, ``chunk`` rows at a time."""
    units = net[3]
    n_layers = units.shape[0] - 1
    acts, block_start = work[1], work[3]
    n = rows.shape[0]
    for start in range(0, n, chunk):
        nb = min(chunk, n - start)
        forward_batch_into(net, data, work, rows, start, nb)
        A = layer_block(acts, block_start, units, n_layers, nb)
        for r in range(nb):
            for j in range(A.shape[1]):
                out[rows[start + r], j] = A[r, j]


EPOCH, LOSS_GRAD, PREDICT = 0, 1, 2


@kernel
def run(task, net, data, work, optimizer, rows, batch_size, out):
    """The one compiled entry point: an epoch, a full gradient, or a prediction.

    One entry point per dtype means one compilation serves training,
    L-BFGS and prediction.

    ``optimizer = (solver, lr, alpha, momentum, nesterov, beta_1, beta_2,
    epsilon, state_1, state_2, t)``: SGD keeps its velocity in ``state_1``;
    Adam its moments in ``state_1``/``state_2`` and its step count in ``t``.

    - ``EPOCH``: train on ``rows`` in batches of ``batch_size``; returns
      ``(loss_sum, t)``, ``loss_sum`` being the sum over batches of the
      batch loss (L2 term included) times the batch's row count.
    - ``LOSS_GRAD``: full-batch loss over ``rows`` with the finished
      gradient in ``out`` (flat, like ``params``); returns ``(loss, t)``.
    - ``PREDICT``: output activations of ``rows`` into ``out``
      (``(n_samples, n_outputs)``); returns ``(0.0, t)``.
    """
    if task == EPOCH:
        return epoch_inplace(net, data, work, optimizer, rows, batch_size)
    if task == LOSS_GRAD:
        alpha = optimizer[2]
        grad_out = out.reshape(out.size)
        return full_loss_grad_inplace(net, data, work, alpha, rows, batch_size, grad_out), optimizer[10]
    predict_inplace(net, data, work, rows, batch_size, out)
    return 0.0, optimizer[10]


# Python-side conveniences around ``run`` (the estimators call these)

_ready = set()  # dtypes whose entry point is compiled or loaded in this process


def _run(task, net, data, work, optimizer, rows, batch_size, out):
    dtype = net[0].dtype
    if dtype not in _ready:  # (a set lookup: one-row predictions stay cheap)
        compile_ahead(run, (task, net, data, work, optimizer, rows, batch_size, out), dtype.name)
        _ready.add(dtype)
    return run(task, net, data, work, optimizer, rows, batch_size, out)


def _placeholder_optimizer(dtype, alpha=0.0):
    """An ``optimizer`` tuple of the training types for the tasks that do not step."""
    empty = np.empty(0, dtype=dtype)
    return (0, 0.0, float(alpha), 0.0, False, 0.0, 0.0, 0.0, empty, empty, 0)


def run_epoch(net, data, work, optimizer, rows, batch_size):
    """Train one epoch; returns ``(loss_sum, t)`` (see :func:`run`)."""
    out = np.empty((0, 0), dtype=net[0].dtype)
    return _run(EPOCH, net, data, work, optimizer, rows, batch_size, out)


def full_loss_grad_into(net, data, work, alpha, chunk, grad_out):
    """Full-batch loss; the finished gradient goes into ``grad_out``."""
    rows = np.arange(data[5].shape[0])
    optimizer = _placeholder_optimizer(net[0].dtype, alpha)
    loss, _ = _run(LOSS_GRAD, net, data, work, optimizer, rows, chunk, grad_out.reshape(1, -1))
    return loss


def predict_into(net, data, work, out):
    """Output activations of every row of ``data`` into ``out``."""
    units, block_start = net[3], work[3]
    chunk = (block_start[2] - block_start[1]) // units[1]  # rows per workspace block
    rows = np.arange(out.shape[0])
    _run(PREDICT, net, data, work, _placeholder_optimizer(net[0].dtype), rows, chunk, out)
