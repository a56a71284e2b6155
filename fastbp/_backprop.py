"""Compiled forward pass, backpropagation, epochs and prediction.

Arguments travel in tuples, so the entry point has one signature per
dtype and is compiled once for it:

``net = (params, coef_start, bias_start, units, hidden_codes, hidden_kernels, out_code, scale_kernel, mix_kernel)``
    ``params`` is the flat parameter vector. Coefficient matrix ``i`` is
    ``params[coef_start[i]:coef_start[i + 1]]`` viewed as
    ``(units[i], units[i + 1])``; intercept ``i`` is
    ``params[bias_start[i]:bias_start[i + 1]]``. ``hidden_codes[i]`` is
    the activation code of hidden layer ``i + 1``, ``hidden_kernels[i]``
    the address of its activation's kernel, or 0 for relu and identity
    (see :mod:`fastbp._activations`). ``scale_kernel`` is 0, or the
    address of :func:`input_scale_into` when the input features are scaled
    by the ``units[0]`` parameters that follow the intercepts.
    ``mix_kernel`` is 0, or the address of :func:`activation_mix_into`
    when the hidden activations are parametric, their mixing weights (one
    per hidden unit, layer by layer) the last parameters.

``data = (X, sp_data, sp_indices, sp_indptr, csr_kernel, Y, sw, loss_kernel, loss_params)``
    Dense ``X`` (C-contiguous) and ``csr_kernel`` 0, or an empty ``X``, the
    three arrays of a CSR matrix and the address of
    :func:`csr_product_into`. ``Y`` holds the targets as floats of the
    same dtype, one column per output unit; ``sw`` the sample weights (ones
    when the user gave none). ``loss_kernel`` is 0 for the output
    activation's own loss, or the address of the robust losses' kernel,
    whose per-output parameters are ``loss_params`` (see
    :mod:`fastbp._losses`).

``work = (xbuf, acts, deltas, block_start, grad, derivs, scaled_coef)``
    Buffers allocated once per fit. ``xbuf`` receives the gathered rows of
    a dense batch. Layer ``k``'s activations for a batch of ``nb`` rows are
    ``acts[block_start[k]:block_start[k] + nb * units[k]]`` viewed as
    ``(nb, units[k])``, and its deltas (the loss gradient with respect to
    the pre-activation) the same range of ``deltas``. ``grad`` has the
    layout of ``params``. ``derivs`` holds, in the same range, ``f'(z)`` of
    the hidden layers whose activation keeps it (see ``_activations``); it
    is empty when no layer's does; with parametric activations it is
    twice that size, every hidden layer keeping ``f'`` of its mix, and its
    second half, from ``block_start[-2]`` on, holds ``f(z) - z`` in each
    hidden layer's range (see :func:`activation_mix_into`). ``scaled_coef``
    receives the first matrix with its rows scaled by the input scales
    (empty without them).

Code that a default fit does not run (sparse input, the robust losses,
SGD, dropout, the per-step schedules, clipping, input scaling, the hidden
activations other than relu and identity) lives in kernels compiled on
first use, whose addresses stand where the option's switch would be, 0
meaning off (see :class:`fastbp._jit.LazyKernel`).

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
    IDENTITY,
    LOGISTIC,
    RELU,
    TANH,
    activation_derivative_inplace,
    add_bias_activate_inplace,
    add_bias_output_activate_inplace,
)
from ._jit import LAZY_KERNELS, call_at, compile_ahead, inline_kernel, kernel, lazy_kernel, prefer_wide_vectors
from ._losses import output_delta_loss_into
from ._optimizers import (
    ADAM,
    PER_EPOCH,
    SCHEDULE_KERNELS,
    adam_step_inplace,
    clipped_divisor,
    grouped_adam_step_inplace,
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


def _csr_args(dtype):
    readonly = [np.empty(0, dtype=d) for d in (dtype, np.int64, np.int64)]
    for a in readonly:
        a.flags.writeable = False
    matrix = np.empty((0, 0), dtype=dtype)
    return (*readonly, np.empty(0, dtype=np.int64), 0, matrix, False, matrix)


@lazy_kernel("sparse input", _csr_args)
def csr_product_into(sp_data, sp_indices, sp_indptr, rows, start, M, transpose, out):
    """``out = Xb @ M``, or ``out = Xb.T @ M`` if ``transpose``, for the CSR rows ``Xb = X[rows[start:]]``.

    ``Xb`` has ``len(out)`` rows (``len(M)`` with ``transpose``). Compiled
    on first use and called by address (see :class:`fastbp._jit.LazyKernel`).
    """
    flat = view(out, 0, (out.size,))
    for j in range(flat.shape[0]):
        flat[j] = 0
    n_rows = M.shape[0] if transpose else out.shape[0]
    for r in range(n_rows):
        i = rows[start + r]
        for p in range(sp_indptr[i], sp_indptr[i + 1]):
            x = sp_data[p]
            if transpose:
                orow = out[sp_indices[p]]
                for j in range(M.shape[1]):
                    orow[j] += x * M[r, j]
            else:
                mrow = M[sp_indices[p]]
                for j in range(M.shape[1]):
                    out[r, j] += x * mrow[j]
    return 0.0


def _scale_args(dtype):
    vector = np.empty(0, dtype=dtype)
    return (vector, vector, vector, 0, 0, False)


@lazy_kernel("input scaling", _scale_args)
def input_scale_into(params, grad, scaled_coef, scale_start, n_out, backward):
    """The first layer of a network whose input features are scaled: ``dense(X * s)``.

    The first matrix ``W`` is ``params[:n_in * n_out]`` (row-major) and
    ``s = params[scale_start:scale_start + n_in]``. Forward (``backward``
    False): ``scaled_coef = s[:, None] * W``, the matrix the unscaled input
    is multiplied by. Backward: ``grad``'s first matrix holds ``G = Xb.T @
    D``, the gradient with respect to that product's matrix; since
    ``d(s_j W_jk) / dW_jk = s_j`` and ``/ ds_j = W_jk``, the scales'
    gradient is ``sum_k W_jk G_jk`` and ``W``'s ``s_j G_jk``, written in
    place. Flat arrays, so that ``run`` makes no views for it. Compiled on
    first use and called by address (see :class:`fastbp._jit.LazyKernel`).
    """
    n_in = scaled_coef.shape[0] // n_out  # (parametric activations' weights may follow the scales)
    for j in range(n_in):
        s = params[scale_start + j]
        # (unsigned: see fastbp._optimizers.adam_step_inplace)
        row, stop = np.uint64(j * n_out), np.uint64((j + 1) * n_out)
        if backward:
            acc = 0.0
            for k in range(row, stop):
                acc += params[k] * grad[k]
                grad[k] *= s
            grad[scale_start + j] = acc
        else:
            for k in range(row, stop):
                scaled_coef[k] = s * params[k]
    return 0.0


# the phases of activation_mix_into
MIX_PREDICT, MIX_TRAIN, MIX_BACKWARD = 0, 1, 2


def _mix_args(dtype):
    vector = np.empty(0, dtype=dtype)
    return (np.empty((0, 0), dtype=dtype), vector, vector, vector, 0, 0, 0, 0, RELU, 0, MIX_TRAIN)


@lazy_kernel("parametric activations", _mix_args)
def activation_mix_into(Z, derivs, params, grad, block, mixed, bias_at, at, code, kernel, phase):
    """A hidden layer with parametric activations: ``a = z + alpha * (f(z) - z)``, one ``alpha`` per unit.

    RealMLP's parametric activation (Holzmüller et al. 2024): each unit
    ``j`` mixes its activation ``f`` (code ``code``, kernel ``kernel``) with
    the identity by a trainable ``alpha_j = params[at + j]``, 1 at
    initialisation (the plain activation). The mix's derivative is ``1 +
    alpha (f'(z) - 1)``, and ``f(z) - z`` its derivative with respect to
    ``alpha``. The layer's range of ``derivs`` (from ``block``) keeps the
    former, as the activations that keep ``f'`` do, and the same range of
    its second half (from ``mixed + block``) the latter.

    - ``MIX_PREDICT``, ``MIX_TRAIN`` (forward; ``Z`` holds the product,
      the intercepts are ``params[bias_at:]``): ``Z <- z + alpha (f(z) -
      z)``, ``z`` the product plus the intercepts; when training, also the
      two kept values. ``f'`` comes from the activation's forward pass for
      the codes that keep it and is written through ``f(z)`` for the others.
    - ``MIX_BACKWARD`` (``Z`` holds the deltas ``dLoss/da``): the alphas'
      gradient ``grad[at + j] = sum_r Z[r, j] (f(z) - z)[r, j]``, then ``Z
      <- Z * (1 + alpha (f'(z) - 1))``.

    The entry point calls this instead of the layer's activation, one call
    site per pass; compiled on first use and called by address (see
    :class:`fastbp._jit.LazyKernel`).
    """
    prefer_wide_vectors()
    n, m = Z.shape
    one, zero = Z.dtype.type(1.0), Z.dtype.type(0.0)
    kept = view(derivs, block, (0 if phase == MIX_PREDICT else n, m))
    pre = view(derivs, mixed + block, (n, m))
    if phase == MIX_BACKWARD:
        for j in range(m):
            grad[at + j] = zero
        for r in range(n):
            for j in range(m):
                grad[at + j] += Z[r, j] * pre[r, j]
                Z[r, j] *= kept[r, j]
        return 0.0
    bias = view(params, bias_at, (m,))
    for r in range(n):
        for j in range(m):
            pre[r, j] = Z[r, j] + bias[j]  # z, until f(z) - z replaces it
    add_bias_activate_inplace(Z, bias, code, kept, kernel)  # Z <- f(z)
    if phase == MIX_TRAIN:  # f'(z) of the mix, while Z holds f(z)
        for r in range(n):
            for j in range(m):
                f = Z[r, j]
                if code == RELU:
                    d = one if f > zero else zero
                elif code == TANH:
                    d = one - f * f
                elif code == LOGISTIC:
                    d = f * (one - f)
                elif code == IDENTITY:
                    d = one
                else:
                    d = kept[r, j]
                kept[r, j] = one + params[at + j] * (d - one)
    for r in range(n):
        for j in range(m):
            f_minus_z = Z[r, j] - pre[r, j]
            Z[r, j] = pre[r, j] + params[at + j] * f_minus_z
            pre[r, j] = f_minus_z
    return 0.0


@inline_kernel
def column_sums_into(D, out):
    """``out = D.sum(axis=0)``."""
    for j in range(D.shape[1]):
        out[j] = 0
    for r in range(D.shape[0]):
        for j in range(D.shape[1]):
            out[j] += D[r, j]


EPOCH, PREDICT, BLOCK, STEP, VALIDATE = 0, 1, 2, 3, 4


@kernel
def run(task, net, data, work, optimizer, rows, batch_size, out):
    """The one compiled entry point: an epoch, a prediction, or a batch's blocks or step.

    One entry point per dtype means one compilation serves training,
    L-BFGS (:func:`full_loss_grad_into`), prediction and training in threads.

    ``optimizer`` is made by :func:`optimizer_tuple`, whose parameters name
    its fields: ``(sgd_kernel, lr, alpha, momentum, nesterov, beta_1,
    beta_2, epsilon, state_1, state_2, t, lo, hi, drop_kernel, drop_rates,
    drop_key, schedule_kernel, step_0, n_steps, warmup_steps,
    weight_decay, clip_kernel, max_grad_norm, drop_schedule_kernel,
    decay_schedule_kernel, groups_kernel, group_bounds, group_lr,
    group_eps)``, each ``*_kernel`` the address of an option's kernel or 0.
    ``sgd_kernel`` 0 means Adam.

    - ``EPOCH``: train on ``rows`` in batches of ``batch_size``; returns
      ``(loss_sum, t)``, ``loss_sum`` being the sum over batches of the
      batch loss (L2 term included) times the batch's row count.
    - ``PREDICT``: output activations of ``rows`` into ``out``
      (``(n_samples, n_outputs)``), ``batch_size`` rows at a time; returns
      ``(0.0, t)``.
    - ``BLOCK``: one block of a batch (``rows``, at most ``batch_size``
      of them): its raw gradient ``sum_i sw_i * dloss_i/dparams`` into
      ``grad``, without the L2 term; returns ``(sum_i sw_i * loss_i, t)``.
    - ``STEP``: the optimizer step of the batch ``rows`` (at most
      ``batch_size``) whose blocks' raw gradients are the rows of ``out``:
      sums them in block order into ``out[0]``, within ``[lo, hi)``, and
      steps ``params[lo:hi]``; returns ``(||coefs[lo:hi]||^2, t)`` of the
      updated coefficients. See :mod:`fastbp._parallel`.
    - ``VALIDATE``: ``PREDICT`` and the loss: the output activations of
      ``rows`` into ``out`` and ``(sum_i sw_i * loss_i, t)`` as ``BLOCK``
      returns it, without the backward pass.

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
    params, coef_start, bias_start, units, hidden_codes, hidden_kernels, out_code, scale_kernel, mix_kernel = net
    X, sp_data, sp_indices, sp_indptr, csr_kernel, Y, sw, loss_kernel, loss_params = data
    xbuf, acts, deltas, block_start, grad, derivs, scaled_coef = work
    sgd_kernel, lr, alpha, momentum, nesterov, beta_1, beta_2, epsilon, state_1, state_2, t, lo, hi = optimizer[:13]
    drop_kernel, drop_rates, drop_key, schedule_kernel, step_0, n_steps, warmup_steps = optimizer[13:20]
    weight_decay, clip_kernel, max_grad_norm, drop_schedule_kernel, decay_schedule_kernel = optimizer[20:25]
    groups_kernel, group_bounds, group_lr, group_eps = optimizer[25:]
    n_layers = units.shape[0] - 1  # number of weight matrices
    dropout = drop_kernel != 0 and (task == EPOCH or task == BLOCK)
    forward_only = task == PREDICT or task == VALIDATE  # (no f' kept)
    n_hidden_units = 0
    for k in range(1, n_layers):
        n_hidden_units += units[k]
    no_deltas = view(deltas, 0, (0, 0))  # dropout_inplace forward
    mix_start = params.shape[0] - n_hidden_units  # (parametric activations' weights, when on)
    n_coef = bias_start[0]
    n = rows.shape[0]
    grad_out = view(out, 0, (out.size,))  # STEP: the sum of the blocks' gradients
    # ||coefs||^2 of the current weights; each step returns it for the new ones
    sumsq = sum_of_squares(params, n_coef) if task == EPOCH else 0.0
    loss_sum = 0.0
    for start in range(0, n, batch_size):
        nb = n - start if n - start < batch_size else batch_size  # min(), without its helper
        if task == STEP:
            # the batch's raw gradient: its blocks' summed in block order
            # (whichever threads computed them), into the first block's
            for b in range(1, out.shape[0]):
                for j in range(np.uint64(lo), np.uint64(hi)):  # (unsigned: see adam_step_inplace)
                    grad_out[j] += out[b, j]
            g = grad_out
            loss = 0.0
            sw_sum = 0.0
            for r in range(nb):
                sw_sum += sw[rows[start + r]]
        else:
            # this step's multiple of the dropout rates (both passes use it)
            drop_factor = 1.0
            if dropout and drop_schedule_kernel:
                drop_factor = call_at(drop_schedule_kernel, (step_0 + start // batch_size, n_steps, 0))
            # forward pass of rows[start:start + nb]: every layer's activations
            xb = view(xbuf, 0, (0 if csr_kernel else nb, units[0]))
            first_unit = 0  # of layer k among the hidden units (dropout's counter)
            for k in range(1, n_layers + 1):
                W = view(params, coef_start[k - 1], (units[k - 1], units[k]))
                Z = view(acts, block_start[k], (nb, units[k]))
                if k == 1 and scale_kernel:  # input scaling: the first product's matrix is s[:, None] * W
                    call_at(scale_kernel, (params, grad, scaled_coef, bias_start[n_layers], units[1], False))
                    W = view(scaled_coef, 0, (units[0], units[1]))
                if k > 1:
                    matmul_into(view(acts, block_start[k - 1], (nb, units[k - 1])), False, W, False, Z)
                elif csr_kernel:
                    call_at(csr_kernel, (sp_data, sp_indices, sp_indptr, rows, start, W, False, Z))
                else:
                    gather_rows_into(X, rows, start, xb)
                    matmul_into(xb, False, W, False, Z)
                bias = view(params, bias_start[k - 1], (units[k],))
                if k < n_layers:
                    # f'(z), where the activation keeps it, only when training
                    if mix_kernel:  # (parametric activations)
                        phase = MIX_PREDICT if forward_only else MIX_TRAIN
                        call_at(
                            mix_kernel,
                            (Z, derivs, params, grad, block_start[k], block_start[n_layers],
                             bias_start[k - 1], mix_start + first_unit, hidden_codes[k - 1],
                             hidden_kernels[k - 1], phase),
                        )  # fmt: skip
                    else:
                        kept = view(derivs, block_start[k], (0 if forward_only else nb, units[k]))
                        add_bias_activate_inplace(Z, bias, hidden_codes[k - 1], kept, hidden_kernels[k - 1])
                    if dropout and drop_rates[k - 1] * drop_factor > 0:
                        rate = drop_rates[k - 1] * drop_factor
                        call_at(drop_kernel, (Z, rows, start, drop_key, first_unit, n_hidden_units, rate, no_deltas))
                    first_unit += units[k]
                else:
                    add_bias_output_activate_inplace(Z, bias, out_code)
            A = view(acts, block_start[n_layers], (nb, units[n_layers]))
            if forward_only:
                for r in range(nb):
                    for j in range(A.shape[1]):
                        out[rows[start + r], j] = A[r, j]
                if task == PREDICT:
                    continue

            # backward pass: grad = sum_i sw_i * dloss_i/dparams, without the L2
            # term and before division by the weight sum. Output layer:
            # delta = sw * (g(z) - y) for the canonical loss/link pairs (the
            # robust losses' own gradient where it differs)
            D = view(deltas, block_start[n_layers], (nb, units[n_layers]))
            loss, sw_sum = output_delta_loss_into(A, Y, sw, rows, start, out_code, loss_kernel, loss_params, D)
            if task == VALIDATE:
                loss_sum += loss
                continue
            # layer by layer: gradient of layer k-1's weights from its input and
            # delta, then the delta of the layer below by the chain rule
            for k in range(n_layers, 0, -1):
                D = view(deltas, block_start[k], (nb, units[k]))
                column_sums_into(D, view(grad, bias_start[k - 1], (units[k],)))
                gW = view(grad, coef_start[k - 1], (units[k - 1], units[k]))
                if k == 1:
                    if csr_kernel:
                        call_at(csr_kernel, (sp_data, sp_indices, sp_indptr, rows, start, D, True, gW))
                    else:
                        matmul_into(xb, True, D, False, gW)
                    if scale_kernel:  # gW holds Xb.T @ D: the scales' gradient, then W's
                        call_at(scale_kernel, (params, grad, scaled_coef, bias_start[n_layers], units[1], True))
                else:
                    A_below = view(acts, block_start[k - 1], (nb, units[k - 1]))
                    matmul_into(A_below, True, D, False, gW)
                    D_below = view(deltas, block_start[k - 1], (nb, units[k - 1]))
                    W = view(params, coef_start[k - 1], (units[k - 1], units[k]))
                    matmul_into(D, False, W, True, D_below)
                    first_unit -= units[k - 1]  # now layer k-1's
                    if dropout and drop_rates[k - 2] * drop_factor > 0:
                        rate = drop_rates[k - 2] * drop_factor
                        call_at(drop_kernel, (A_below, rows, start, drop_key, first_unit, n_hidden_units, rate, D_below))
                    if mix_kernel:
                        call_at(
                            mix_kernel,
                            (D_below, derivs, params, grad, block_start[k - 1], block_start[n_layers], 0,
                             mix_start + first_unit, hidden_codes[k - 2], 0, MIX_BACKWARD),
                        )  # fmt: skip
                    else:
                        kept = view(derivs, block_start[k - 1], (nb, units[k - 1]))
                        activation_derivative_inplace(
                            A_below, D_below, hidden_codes[k - 2], kept, hidden_kernels[k - 2]
                        )
            g = grad

        if task == BLOCK:
            loss_sum += loss
            continue
        # EPOCH, STEP: the optimizer step finishes the gradient and updates params
        if not sw_sum > 0:
            continue  # a batch of zero total weight carries no gradient
        loss_sum += nb * (loss + 0.5 * alpha * sumsq) / sw_sum
        # this step's scheduled step size, decoupled decay, and the divisor
        # that finishes (and, when on, clips) the gradient
        lr_step = lr
        if schedule_kernel:
            lr_step *= call_at(schedule_kernel, (step_0 + start // batch_size, n_steps, warmup_steps))
        wd_step = weight_decay
        if decay_schedule_kernel:
            wd_step *= call_at(decay_schedule_kernel, (step_0 + start // batch_size, n_steps, 0))
        decay = 1.0 - lr_step * wd_step
        divisor = sw_sum
        if clip_kernel:
            divisor = call_at(clip_kernel, (params, g, n_coef, alpha, sw_sum, max_grad_norm))
        if sgd_kernel == 0:
            t += 1
            # float powers: libm's pow, as Python's float ** int (scikit-learn's)
            lr_t = lr_step * np.sqrt(1.0 - beta_2 ** float(t)) / (1.0 - beta_1 ** float(t))
            if groups_kernel:
                sumsq = call_at(
                    groups_kernel,
                    (params, g, state_1, state_2, lo, n_coef, hi, alpha, divisor, lr_t, decay, beta_1, beta_2,
                     epsilon, group_bounds, group_lr, group_eps),
                )  # fmt: skip
            else:
                sumsq = adam_step_inplace(
                    params, g, state_1, state_2, lo, n_coef, hi, alpha, divisor, lr_t, decay, beta_1, beta_2, epsilon
                )
        else:
            sgd_args = (params, g, state_1, lo, n_coef, hi, alpha, divisor, lr_step, decay, momentum, nesterov)
            sumsq = call_at(sgd_kernel, sgd_args)

    if task == STEP:
        return sumsq, t
    return loss_sum, t


# Python-side conveniences around ``run`` (the estimators call these)

NO_DROPOUT = np.empty(0)  # the ``drop_rates`` of a fit without dropout

# the ``optimizer`` tuple's field that the blocked epochs read (fastbp._parallel);
# fastbp._handoff changes fields 10-12 and 17 (t, lo, hi, step_0) in compiled
# code, where a tuple is sliced by literal bounds only
MAX_GRAD_NORM = 22


def _schedule_address(schedule, dtype):
    return SCHEDULE_KERNELS[schedule].address(dtype) if schedule != PER_EPOCH else 0


def optimizer_tuple(
    dtype,
    state_1,
    state_2,
    *,
    solver=ADAM,
    lr=0.0,
    alpha=0.0,
    momentum=0.0,
    nesterov=False,
    beta_1=0.0,
    beta_2=0.0,
    epsilon=0.0,
    t=0,
    lo=0,
    hi=None,
    drop_rates=NO_DROPOUT,
    drop_key=0,
    schedule=PER_EPOCH,
    step_0=0,
    n_steps=0,
    warmup_steps=0,
    drop_schedule=PER_EPOCH,
    decay_schedule=PER_EPOCH,
    weight_decay=0.0,
    max_grad_norm=0.0,
    group_bounds=None,
    group_lr=None,
    group_eps=None,
):
    """The ``optimizer`` tuple of :func:`run`, with the kernels its options need.

    ``solver`` is ``ADAM`` or ``SGD`` (velocity in ``state_1``; Adam's
    moments in ``state_1``/``state_2``, its step count ``t``). A step updates
    ``params[lo:hi]`` (default: all of them). ``drop_rates`` holds one
    dropout rate per hidden layer (empty: no dropout), applied in the
    training tasks ``EPOCH`` and ``BLOCK`` only, with the epoch's masks
    keyed by ``drop_key`` (see :mod:`fastbp._regularisers`). Batch ``b`` of
    the epoch is step ``step_0 + b`` of a run of ``n_steps``, whose step
    size is ``lr`` times the ``schedule``'s factor there (see
    :func:`fastbp._optimizers.schedule_factor`); ``weight_decay`` is the
    decoupled decay. ``drop_schedule`` and ``decay_schedule`` (``PER_EPOCH``:
    constant, or ``FLAT_COS``) scale the dropout rates and the weight decay
    of each step by their schedule's factor there. ``max_grad_norm`` is the
    clipping norm (0: off; a clipped ``STEP`` must step every parameter,
    since the norm is global).
    ``group_bounds`` (``n_groups + 1`` offsets into the parameters),
    ``group_lr`` and ``group_eps`` give Adam's step size and epsilon a
    factor per group (:func:`fastbp._optimizers.grouped_adam_step_inplace`;
    None: one group). Every option's kernel is compiled, or loaded, here on
    its first use.
    """
    drop_rates = np.asarray(drop_rates, dtype=np.float64)
    grouped = group_lr is not None
    return (
        0 if solver == ADAM else sgd_step_inplace.address(dtype),
        float(lr),
        float(alpha),
        float(momentum),
        bool(nesterov),
        float(beta_1),
        float(beta_2),
        float(epsilon),
        state_1,
        state_2,
        int(t),
        int(lo),
        int(state_1.shape[0] if hi is None else hi),
        dropout_inplace.address(dtype) if drop_rates.size else 0,
        drop_rates,
        np.uint64(drop_key),
        _schedule_address(schedule, dtype),
        int(step_0),
        int(n_steps),
        int(warmup_steps),
        float(weight_decay),
        clipped_divisor.address(dtype) if max_grad_norm else 0,
        float(max_grad_norm),
        _schedule_address(drop_schedule, dtype),
        _schedule_address(decay_schedule, dtype),
        grouped_adam_step_inplace.address(dtype) if grouped else 0,
        np.asarray(group_bounds if grouped else (), dtype=np.int64),
        np.asarray(group_lr if grouped else (), dtype=np.float64),
        np.asarray(group_eps if grouped else (), dtype=np.float64),
    )


_ready = set()  # dtypes whose entry point is compiled or loaded in this process


def _run(task, net, data, work, optimizer, rows, batch_size, out):
    dtype = net[0].dtype
    if dtype not in _ready:  # (a set lookup: one-row predictions stay cheap)
        compile_ahead(run, (task, net, data, work, optimizer, rows, batch_size, out), dtype.name)
        _ready.add(dtype)
    return run(task, net, data, work, optimizer, rows, batch_size, out)


def ready_every_option(dtype):
    """Compile, or load from the cache, the kernel of every option for ``dtype``.

    (Here, in a kernel module, so that its caller need not import
    :mod:`fastbp._jit`, which would make it part of the kernels' source hash.)
    """
    for lazy in LAZY_KERNELS:
        lazy.address(dtype)


def _placeholder_optimizer(dtype, alpha=0.0):
    """An ``optimizer`` tuple of the training types for the tasks that do not step."""
    empty = np.empty(0, dtype=dtype)
    return optimizer_tuple(dtype, empty, empty, alpha=alpha)


def run_epoch(net, data, work, optimizer, rows, batch_size):
    """Train one epoch; returns ``(loss_sum, t)`` (see :func:`run`)."""
    out = np.empty((0, 0), dtype=net[0].dtype)
    return _run(EPOCH, net, data, work, optimizer, rows, batch_size, out)


def full_loss_grad_into(net, data, work, alpha, chunk, grad_out):
    """Full-batch loss; the finished gradient goes into ``grad_out``.

    The raw gradients of the chunks of ``chunk`` rows (task ``BLOCK``) are
    summed in order, then the L2 term is added and the sum divided by the
    total weight, in float64 and rounded once, as the step loops do.
    ``work``'s gradient buffer is left holding the last chunk's.
    """
    params, n_coef, sw = net[0], net[2][0], data[6]
    rows = np.arange(sw.shape[0])
    optimizer = _placeholder_optimizer(params.dtype)
    out = np.empty((0, 0), dtype=params.dtype)
    grad_out[...] = 0
    loss = 0.0
    for start in range(0, rows.shape[0], chunk):
        loss += _run(BLOCK, net, data, work, optimizer, rows[start : start + chunk], chunk, out)[0]
        grad_out += work[4]
    sw_total = float(sw.sum(dtype=np.float64))
    total = grad_out.astype(np.float64)
    coefs = params[:n_coef].astype(np.float64)
    total[:n_coef] += alpha * coefs
    grad_out[...] = total / sw_total
    # (not a BLAS dot, whose summation order could follow NumPy's thread count)
    return (loss + 0.5 * alpha * float(np.square(coefs).sum())) / sw_total


def validate_into(net, data, work, rows, out):
    """Output activations of ``rows`` into their rows of ``out``; returns their weighted loss sum.

    One forward pass gives both, in chunks of the workspace's rows: the
    loss is ``sum_i sw_i * loss_i`` (no L2 term, not divided by the weight
    sum), summed in the order :func:`full_loss_grad_into` sums it.
    """
    units, block_start = net[3], work[3]
    chunk = (block_start[2] - block_start[1]) // units[1]  # rows per workspace block
    return _run(VALIDATE, net, data, work, _placeholder_optimizer(net[0].dtype), rows, chunk, out)[0]


def predict_into(net, data, work, out, rows=None):
    """Output activations of ``rows`` (default: every row) of ``data`` into their rows of ``out``."""
    units, block_start = net[3], work[3]
    chunk = (block_start[2] - block_start[1]) // units[1]  # rows per workspace block
    rows = np.arange(out.shape[0]) if rows is None else rows
    _run(PREDICT, net, data, work, _placeholder_optimizer(net[0].dtype), rows, chunk, out)
