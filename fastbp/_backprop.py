"""Compiled forward pass, backpropagation, epochs and prediction.

Arguments travel in tuples, so the entry point has one signature per
dtype and is compiled once for it:

``net = (params, coef_start, bias_start, units, hidden_codes, out_code, keeping_kernel)``
    ``params`` is the flat parameter vector. Coefficient matrix ``i`` is
    ``params[coef_start[i]:coef_start[i + 1]]`` viewed as
    ``(units[i], units[i + 1])``; intercept ``i`` is
    ``params[bias_start[i]:bias_start[i + 1]]``. ``hidden_codes[i]`` is
    the activation code of hidden layer ``i + 1``; ``keeping_kernel`` the
    address of the kernel of the activations that keep ``f'(z)`` (see
    ``_activations``), or 0 when no layer has one.

``data = (X, sp_data, sp_indices, sp_indptr, is_sparse, Y, sw, loss_code, loss_params)``
    Dense ``X`` (C-contiguous), or an empty ``X`` and the three arrays of a
    CSR matrix when ``is_sparse``. ``Y`` holds the targets as floats of the
    same dtype, one column per output unit; ``sw`` the sample weights (ones
    when the user gave none). ``loss_code`` and ``loss_params`` name a
    robust loss of an identity output and its per-output parameters, or
    are ``CANONICAL`` and unused for the output activation's own loss (see
    :mod:`fastbp._losses`).

``work = (xbuf, acts, deltas, block_start, grad, derivs)``
    Buffers allocated once per fit. ``xbuf`` receives the gathered rows of
    a dense batch. Layer ``k``'s activations for a batch of ``nb`` rows are
    ``acts[block_start[k]:block_start[k] + nb * units[k]]`` viewed as
    ``(nb, units[k])``, and its deltas (the loss gradient with respect to
    the pre-activation) the same range of ``deltas``. ``grad`` has the
    layout of ``params``. ``derivs`` holds, in the same range, ``f'(z)`` of
    the hidden layers whose activation keeps it (see ``_activations``); it
    is empty when no layer's does.

Views into the flat buffers are made by :func:`view` and matrix products
go to BLAS gemm through :func:`matmul_into`, both written as numba
intrinsics: nothing is copied and nothing is allocated per batch, and the
compiled code is a fraction of what numba's slicing, ``reshape`` and
``np.dot`` generate (see :func:`run` for the measured compile times).
"""

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array
from numba.np.linalg import ensure_blas

from ._activations import (
    activation_derivative_inplace,
    add_bias_activate_inplace,
    add_bias_output_activate_inplace,
)
from ._jit import compile_ahead, inline_kernel, kernel
from ._losses import CANONICAL, output_delta_loss_into
from ._optimizers import (
    ADAM,
    adam_step_inplace,
    clipped_divisor,
    schedule_factor,
    sgd_step_inplace,
    sum_of_squares,
)
from ._regularisers import dropout_inplace


@intrinsic
def view(typingctx, buf, start, shape):
    """``buf.flat[start:start + prod(shape)]`` as a C-contiguous array of ``shape``.

    The views of layer blocks, coefficient matrices and intercepts into the
    flat buffers. Unchecked (the caller's offsets are right by
    construction): numba's own ``buf[a:b].reshape(shape)`` compiles a slice,
    a call into numba's reshape helper and its error paths at every one of
    the ~20 places a view is made, which was a sixth of the entry point's
    unoptimised LLVM IR.
    """
    if not (isinstance(buf, types.Array) and buf.layout == "C"):
        raise TypingError(f"view() needs a C-contiguous array, got {buf}")
    if not (isinstance(shape, types.UniTuple) and isinstance(shape.dtype, types.Integer)):
        raise TypingError(f"view() needs a tuple of integers as shape, got {shape}")
    result = buf.copy(ndim=shape.count, layout="C")
    sig = result(buf, types.intp, types.UniTuple(types.intp, shape.count))

    def codegen(context, builder, signature, args):
        source = make_array(signature.args[0])(context, builder, args[0])
        dims = cgutils.unpack_tuple(builder, args[2], shape.count)
        itemsize = source.itemsize
        strides = [itemsize]
        for dim in dims[:0:-1]:
            strides.insert(0, builder.mul(strides[0], dim))
        out = make_array(result)(context, builder)
        populate_array(
            out,
            data=builder.gep(source.data, [args[1]]),
            shape=dims,
            strides=strides,
            itemsize=itemsize,
            meminfo=source.meminfo,
            parent=source.parent,
        )
        return impl_ret_borrowed(context, builder, result, out._getvalue())

    return sig, codegen


_BLAS_KIND = {types.float64: "d", types.float32: "s"}


@intrinsic
def matmul_into(typingctx, a, trans_a, b, trans_b, out):
    """``out = op(a) @ op(b)`` through BLAS gemm, ``op(x)`` being ``x.T`` if ``trans_x``.

    ``a``, ``b`` and ``out`` are C-contiguous matrices (views from
    :func:`view`) of one dtype. The call goes to the same BLAS, through the
    same entry point of numba's helper library, as numba's ``np.dot(a, b,
    out)``, but without the code ``np.dot`` generates around it: a
    specialisation per layout (C @ C, C.T @ C, C @ C.T were three compiled
    functions), shape checks and their error paths, and a choice of
    gemv/dot for vector-shaped operands. gemm handles every shape; the
    shapes are not checked (the caller's are right by construction).
    Epochs got no slower (digits, W3-like), and faster where batches are
    small: 16-row batches of a one-output network by a fifth.
    """
    ensure_blas()  # numba's check: scipy's BLAS is there and takes 32-bit ints
    arrays = (a, b, out)
    if not all(isinstance(t, types.Array) and t.ndim == 2 and t.layout == "C" for t in arrays):
        raise TypingError(f"matmul_into() needs C-contiguous matrices, got {arrays}")
    if not (a.dtype == b.dtype == out.dtype and out.dtype in _BLAS_KIND):
        raise TypingError(f"matmul_into() needs float32 or float64 matrices of one dtype, got {arrays}")
    kind = _BLAS_KIND[out.dtype]
    sig = types.none(a, types.boolean, b, types.boolean, out)

    def codegen(context, builder, signature, args):
        a_arr, b_arr, out_arr = (
            make_array(t)(context, builder, v) for t, v in zip(arrays, (args[0], args[2], args[4]))
        )
        ta, tb = args[1], args[3]
        a_rows, a_cols = cgutils.unpack_tuple(builder, a_arr.shape, 2)
        _, b_cols = cgutils.unpack_tuple(builder, b_arr.shape, 2)
        m, n = cgutils.unpack_tuple(builder, out_arr.shape, 2)
        k = builder.select(ta, a_rows, a_cols)
        # BLAS is column-major and sees every row-major matrix transposed, so
        # it computes out.T = op(b).T @ op(a).T; a row-major matrix's leading
        # dimension is its row length (BLAS wants at least 1)
        one = context.get_constant(types.intp, 1)

        def leading(cols):
            return builder.select(builder.icmp_signed(">", cols, one), cols, one)

        char = ir.IntType(8)

        def trans(flag):
            return builder.select(flag, ir.Constant(char, ord("t")), ir.Constant(char, ord("n")))

        void_p = cgutils.voidptr_t
        intp = context.get_value_type(types.intp)
        fnty = ir.FunctionType(
            ir.IntType(32),
            [char, char, char, intp, intp, intp, void_p, void_p, intp, void_p, intp, void_p, void_p, intp],
        )
        # numba's wrapper of scipy's BLAS (declared as numba.np.linalg does)
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        dtype = out.dtype
        alpha = cgutils.alloca_once_value(builder, context.get_constant(dtype, 1.0))
        beta = cgutils.alloca_once_value(builder, context.get_constant(dtype, 0.0))
        status = builder.call(
            fn,
            (
                ir.Constant(char, ord(kind)),
                trans(tb),
                trans(ta),
                n,
                m,
                k,
                builder.bitcast(alpha, void_p),
                builder.bitcast(b_arr.data, void_p),
                leading(b_cols),
                builder.bitcast(a_arr.data, void_p),
                leading(a_cols),
                builder.bitcast(beta, void_p),
                builder.bitcast(out_arr.data, void_p),
                leading(n),
            ),
        )
        # as numba's np.dot: the wrapper fails only without a loadable BLAS
        with builder.if_then(cgutils.is_not_null(builder, status), likely=False):
            pyapi = context.get_python_api(builder)
            pyapi.gil_ensure()
            pyapi.fatal_error("BLAS wrapper returned with an error")
        return context.get_dummy_value()

    return sig, codegen


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
def csr_rows_dot_into(sp_data, sp_indices, sp_indptr, rows, start, W, out):
    """``out = X[rows[start:start + len(out)]] @ W`` for CSR ``X``."""
    for r in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[r, j] = 0
        i = rows[start + r]
        for p in range(sp_indptr[i], sp_indptr[i + 1]):
            x = sp_data[p]
            wrow = W[sp_indices[p]]
            for j in range(out.shape[1]):
                out[r, j] += x * wrow[j]


@inline_kernel
def csr_rows_transpose_dot_into(sp_data, sp_indices, sp_indptr, rows, start, D, out):
    """``out = X[rows[start:start + len(D)]].T @ D`` for CSR ``X``."""
    flat = view(out, 0, (out.size,))
    for j in range(flat.shape[0]):
        flat[j] = 0
    for r in range(D.shape[0]):
        i = rows[start + r]
        for p in range(sp_indptr[i], sp_indptr[i + 1]):
            x = sp_data[p]
            orow = out[sp_indices[p]]
            for j in range(D.shape[1]):
                orow[j] += x * D[r, j]


@inline_kernel
def column_sums_into(D, out):
    """``out = D.sum(axis=0)``."""
    for j in range(D.shape[1]):
        out[j] = 0
    for r in range(D.shape[0]):
        for j in range(D.shape[1]):
            out[j] += D[r, j]


EPOCH, LOSS_GRAD, PREDICT, BLOCK, STEP = 0, 1, 2, 3, 4


@kernel
def run(task, net, data, work, optimizer, rows, batch_size, out):
    """The one compiled entry point: an epoch, a full gradient, a prediction, or a batch in blocks.

    One entry point per dtype means one compilation serves training,
    L-BFGS, prediction and training in threads.

    ``optimizer = (solver, lr, alpha, momentum, nesterov, beta_1, beta_2,
    epsilon, state_1, state_2, t, lo, hi, drop_rates, drop_key, schedule,
    step_0, n_steps, warmup_steps, weight_decay, max_grad_norm)``: SGD
    keeps its velocity in ``state_1``; Adam its moments in
    ``state_1``/``state_2`` and its step count in ``t``. A step updates
    ``params[lo:hi]`` (an epoch: all of them). ``drop_rates`` holds one
    dropout rate per hidden layer (empty: no dropout), applied in the
    training tasks ``EPOCH`` and ``BLOCK`` only, with the epoch's masks
    keyed by ``drop_key`` (see :mod:`fastbp._regularisers`). Batch ``b`` of
    the epoch is step ``step_0 + b`` of a run of ``n_steps``, whose step
    size is ``lr`` times the ``schedule``'s factor there (see
    :func:`fastbp._optimizers.schedule_factor`); ``weight_decay`` is the
    decoupled decay, ``max_grad_norm`` the clipping norm (0: off; a
    clipped ``STEP`` must step every parameter, since the norm is global).

    - ``EPOCH``: train on ``rows`` in batches of ``batch_size``; returns
      ``(loss_sum, t)``, ``loss_sum`` being the sum over batches of the
      batch loss (L2 term included) times the batch's row count.
    - ``LOSS_GRAD``: full-batch loss over ``rows``, ``batch_size`` rows at
      a time, with the finished gradient in ``out`` (flat, like
      ``params``); returns ``(loss, t)``. ``grad`` is left holding the raw
      gradient of the last chunk (see the batch loop).
    - ``PREDICT``: output activations of ``rows`` into ``out``
      (``(n_samples, n_outputs)``), ``batch_size`` rows at a time; returns
      ``(0.0, t)``.
    - ``BLOCK``: one block of a batch (``rows``, at most ``batch_size``
      of them): its raw gradient ``sum_i sw_i * dloss_i/dparams`` into
      ``grad``; returns ``(sum_i sw_i * loss_i, t)``.
    - ``STEP``: the optimizer step of the batch ``rows`` (at most
      ``batch_size``) whose blocks' raw gradients are the rows of ``out``:
      sums them in block order into ``out[0]``, within ``[lo, hi)``, and
      steps ``params[lo:hi]``; returns ``(||coefs[lo:hi]||^2, t)`` of the
      updated coefficients. See :mod:`fastbp._parallel`.

    The tasks share one batch loop, and forward and backward pass
    are written out in it rather than in functions of their own, so that
    each piece of code is compiled once. Measured on the cold first fit on
    digits (CPU seconds, float64, medians of 5-8 runs alternating with the
    other variants on a 2-core machine shared with other jobs):

    - The batch gradient and the forward pass as separately compiled
      functions (the layout before): 8.9-10.9 s. Every function's LLVM
      module is optimised again, callees linked in, at each level of the
      call tree (LLVM 4.4 s), and machine code is emitted for each.
    - The same functions inlined (``inline="always"``): no faster (10.3 vs
      10.5 s), since numba's inliner copies the callee's IR block by block,
      each copy with the callee's whole variable scope: 2.3 s in the
      inlining pass (see :func:`fastbp._jit.inline_kernel`).
    - Views by :func:`view`, products by :func:`matmul_into`, instead of
      slicing + ``reshape`` and ``np.dot``: 37,500 -> 23,000 lines of
      unoptimised LLVM IR. With separately compiled forward and backward
      pass 5.2-5.5 s; written out here 4.9-5.0 s; with fewer loops and
      without numba's ``min``/``max``/``np.finfo`` helpers 4.7-5.1 s (on a
      quiet host; 4.1-4.4 s at best).
    """
    params, coef_start, bias_start, units, hidden_codes, out_code, keeping_kernel = net
    X, sp_data, sp_indices, sp_indptr, is_sparse, Y, sw, loss_code, loss_params = data
    loss_code = out_code if loss_code == CANONICAL else loss_code
    xbuf, acts, deltas, block_start, grad, derivs = work
    solver, lr, alpha, momentum, nesterov, beta_1, beta_2, epsilon, state_1, state_2, t, lo, hi = optimizer[:13]
    drop_rates, drop_key = optimizer[13:15]
    schedule, step_0, n_steps, warmup_steps, weight_decay, max_grad_norm = optimizer[15:]
    n_layers = units.shape[0] - 1  # number of weight matrices
    dropout = drop_rates.shape[0] > 0 and (task == EPOCH or task == BLOCK)
    n_hidden_units = 0
    for k in range(1, n_layers):
        n_hidden_units += units[k]
    no_deltas = view(deltas, 0, (0, 0))  # dropout_inplace forward
    n_coef = bias_start[0]
    n = rows.shape[0]
    grad_out = view(out, 0, (out.size,))  # LOSS_GRAD: the finished gradient; STEP: the sum of blocks
    if task == LOSS_GRAD:
        for j in range(grad_out.shape[0]):
            grad_out[j] = 0
    # ||coefs||^2 of the current weights; each step returns it for the new ones
    sumsq = sum_of_squares(params, n_coef) if task == EPOCH or task == LOSS_GRAD else 0.0
    loss_sum = 0.0
    sw_total = 0.0
    for start in range(0, n, batch_size):
        nb = n - start if n - start < batch_size else batch_size  # min(), without its helper
        if task == STEP:
            # the batch's raw gradient: its blocks' summed in block order
            # (whichever threads computed them), into the first block's
            for b in range(1, out.shape[0]):
                for j in range(lo, hi):
                    grad_out[j] += out[b, j]
            g = grad_out
            loss = 0.0
            sw_sum = 0.0
            for r in range(nb):
                sw_sum += sw[rows[start + r]]
        else:
            # forward pass of rows[start:start + nb]: every layer's activations
            xb = view(xbuf, 0, (0 if is_sparse else nb, units[0]))
            first_unit = 0  # of layer k among the hidden units (dropout's counter)
            for k in range(1, n_layers + 1):
                W = view(params, coef_start[k - 1], (units[k - 1], units[k]))
                Z = view(acts, block_start[k], (nb, units[k]))
                if k > 1:
                    matmul_into(view(acts, block_start[k - 1], (nb, units[k - 1])), False, W, False, Z)
                elif is_sparse:
                    csr_rows_dot_into(sp_data, sp_indices, sp_indptr, rows, start, W, Z)
                else:
                    gather_rows_into(X, rows, start, xb)
                    matmul_into(xb, False, W, False, Z)
                bias = view(params, bias_start[k - 1], (units[k],))
                if k < n_layers:
                    # f'(z), where the activation keeps it, only when training
                    kept = view(derivs, block_start[k], (0 if task == PREDICT else nb, units[k]))
                    add_bias_activate_inplace(Z, bias, hidden_codes[k - 1], kept, keeping_kernel)
                    if dropout and drop_rates[k - 1] > 0:
                        dropout_inplace(
                            Z, rows, start, drop_key, first_unit, n_hidden_units, drop_rates[k - 1], no_deltas
                        )
                    first_unit += units[k]
                else:
                    add_bias_output_activate_inplace(Z, bias, out_code)
            A = view(acts, block_start[n_layers], (nb, units[n_layers]))
            if task == PREDICT:
                for r in range(nb):
                    for j in range(A.shape[1]):
                        out[rows[start + r], j] = A[r, j]
                continue

            # backward pass: grad = sum_i sw_i * dloss_i/dparams, without the L2
            # term and before division by the weight sum. Output layer:
            # delta = sw * (g(z) - y) for the canonical loss/link pairs (the
            # robust losses' own gradient where it differs)
            D = view(deltas, block_start[n_layers], (nb, units[n_layers]))
            loss, sw_sum = output_delta_loss_into(A, Y, sw, rows, start, loss_code, loss_params, D)
            # layer by layer: gradient of layer k-1's weights from its input and
            # delta, then the delta of the layer below by the chain rule
            for k in range(n_layers, 0, -1):
                D = view(deltas, block_start[k], (nb, units[k]))
                column_sums_into(D, view(grad, bias_start[k - 1], (units[k],)))
                gW = view(grad, coef_start[k - 1], (units[k - 1], units[k]))
                if k == 1:
                    if is_sparse:
                        csr_rows_transpose_dot_into(sp_data, sp_indices, sp_indptr, rows, start, D, gW)
                    else:
                        matmul_into(xb, True, D, False, gW)
                else:
                    A_below = view(acts, block_start[k - 1], (nb, units[k - 1]))
                    matmul_into(A_below, True, D, False, gW)
                    D_below = view(deltas, block_start[k - 1], (nb, units[k - 1]))
                    W = view(params, coef_start[k - 1], (units[k - 1], units[k]))
                    matmul_into(D, False, W, True, D_below)
                    first_unit -= units[k - 1]  # now layer k-1's
                    if dropout and drop_rates[k - 2] > 0:
                        dropout_inplace(
                            A_below, rows, start, drop_key, first_unit, n_hidden_units, drop_rates[k - 2], D_below
                        )
                    kept = view(derivs, block_start[k - 1], (nb, units[k - 1]))
                    activation_derivative_inplace(A_below, D_below, hidden_codes[k - 2], kept, keeping_kernel)
            g = grad

        if task == LOSS_GRAD:
            loss_sum += loss
            sw_total += sw_sum
            for j in range(grad.shape[0]):
                grad_out[j] += grad[j]
            continue
        if task == BLOCK:
            loss_sum += loss
            continue
        # EPOCH, STEP: the optimizer step finishes the gradient and updates params
        if not sw_sum > 0:
            continue  # a batch of zero total weight carries no gradient
        loss_sum += nb * (loss + 0.5 * alpha * sumsq) / sw_sum
        # this step's scheduled step size, decoupled decay, and the divisor
        # that finishes (and, when on, clips) the gradient
        lr_step = lr * schedule_factor(schedule, step_0 + start // batch_size, n_steps, warmup_steps)
        decay = 1.0 - lr_step * weight_decay
        divisor = sw_sum
        if max_grad_norm > 0:
            divisor = clipped_divisor(params, g, n_coef, alpha, sw_sum, max_grad_norm)
        if solver == ADAM:
            t += 1
            # float powers: libm's pow, as Python's float ** int (scikit-learn's)
            lr_t = lr_step * np.sqrt(1.0 - beta_2 ** float(t)) / (1.0 - beta_1 ** float(t))
            sumsq = adam_step_inplace(
                params, g, state_1, state_2, lo, n_coef, hi, alpha, divisor, lr_t, decay, beta_1, beta_2, epsilon
            )
        else:
            sumsq = sgd_step_inplace(
                params, g, state_1, lo, n_coef, hi, alpha, divisor, lr_step, decay, momentum, nesterov
            )

    if task == LOSS_GRAD:
        # finish the gradient: the L2 term, then division by the total weight
        for j in range(grad_out.shape[0]):
            l2 = alpha * params[j] if j < n_coef else 0.0
            grad_out[j] = (grad_out[j] + l2) / sw_total
        return (loss_sum + 0.5 * alpha * sumsq) / sw_total, t
    if task == STEP:
        return sumsq, t
    return loss_sum, t


# Python-side conveniences around ``run`` (the estimators call these)

NO_DROPOUT = np.empty(0)  # the ``drop_rates`` of a fit without dropout
# the last six fields of a tuple without schedule, weight decay or clipping
NO_SCHEDULE = (0, 0, 0, 0, 0.0, 0.0)

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
    return (0, 0.0, float(alpha), 0.0, False, 0.0, 0.0, 0.0, empty, empty, 0, 0, 0, NO_DROPOUT, np.uint64(0)) + NO_SCHEDULE


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
