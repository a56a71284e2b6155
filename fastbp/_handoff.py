"""The compiled side of blocked epochs: each thread's batch loop, and the barrier between its phases.

A blocked batch has two phases, the blocks (task ``BLOCK`` of
:func:`fastbp._backprop.run`) and the step's slices (task ``STEP``), and
every thread must finish one before any starts the next. Handing each
phase to the threads from Python cost 70-100 us per hand-off on a 2-vCPU
virtual machine: a waiting thread sleeps in the kernel, and a woken helper
then waits for the GIL, which the calling thread holds, to run its
Python. That is a third of W4's batch (two blocks of 0.25 ms on two
threads). Here every thread runs the whole epoch in one compiled call,
without the GIL: it calls ``run``'s machine code by address for its
blocks and slices, and meets the others at a barrier that spins on a
shared counter, which another thread's arrival changes within a
microsecond. The threads only spin between the phases of a batch, never
between epochs (Python starts each epoch's calls).
"""

from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from ._backprop import BLOCK, STEP, run, view
from ._jit import call_codegen, compile_ahead, kernel

_RUN_RESULT = types.Tuple((types.float64, types.int64))  # ``run``'s ``(loss_sum, t)``


def _check_flags(name, flags):
    if not (isinstance(flags, types.Array) and flags.dtype == types.int64 and flags.layout == "C"):
        raise TypingError(f"{name}() needs a C-contiguous int64 array, got {flags}")


def _pointer(context, builder, array_type, array, index):
    data = cgutils.create_struct_proxy(array_type)(context, builder, value=array).data
    return builder.gep(data, [index])


@intrinsic
def _load_acquire(typingctx, flags, i):
    """``flags[i]``, an atomic load: read again each time, never hoisted out of a loop."""
    _check_flags("_load_acquire", flags)

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_pointer(context, builder, signature.args[0], *args), "acquire", 8)

    return types.int64(flags, types.intp), codegen


@intrinsic
def _fetch_add(typingctx, flags, i, value):
    """``flags[i] += value`` atomically; the value before."""
    _check_flags("_fetch_add", flags)

    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.atomic_rmw("add", pointer, args[2], "acq_rel")

    return types.int64(flags, types.intp, types.int64), codegen


@intrinsic
def _call_run(typingctx, address, args):
    """``run(*args)`` at ``address`` (its machine code for these argument types); its ``(float, int)`` result."""
    if not (isinstance(address, types.Integer) and isinstance(args, types.BaseTuple)):
        raise TypingError(f"_call_run() takes an integer address and a tuple, got {address}, {args}")
    return _RUN_RESULT(address, args), call_codegen(_RUN_RESULT, args)


@kernel
def blocked_epoch(
    run_address, thread, n_threads, sync, net, data, stacks, block_start, optimizer, rows, batch_size, block_rows,
    slices, losses, sumsqs, sumsq,
):  # fmt: skip
    """Thread ``thread``'s share of one blocked epoch; returns ``(loss_sum, t)`` as ``run``'s ``EPOCH``.

    Batch by batch, the thread runs blocks ``thread, thread + n_threads,
    ...`` (``block_rows`` rows each) into their rows of ``stacks = (xbuf,
    acts, deltas, grads, derivs, scaled_coef)``, a 2-D array per buffer of
    the ``work`` tuple with one row per block, and their losses into
    ``losses``; then, when every thread has finished its blocks, the
    parameter slices ``slices[i] = (lo, hi)`` of the same pattern, summing
    the blocks' gradients, stepping and writing ``||coefs[lo:hi]||^2`` to
    ``sumsqs[i]``. ``sync`` is the barrier's ``[count, generation,
    abort]`` (see :func:`_barrier`).
    Thread 0's ``loss_sum`` is the epoch's (the others' is 0). ``sumsq``
    is ``||coefs||^2`` at the start of the epoch.
    """
    xbufs, acts, deltas, grads, derivs, scaled = stacks
    sw = data[6]
    # fields of fastbp._backprop.optimizer_tuple, by position (numba slices
    # a tuple by literal bounds only): sgd_kernel, alpha, t, lo, hi, step_0
    # are fields 0, 2, 10, 11, 12 and 17
    sgd_kernel, alpha, t, step_0 = optimizer[0], optimizer[2], optimizer[10], optimizer[17]
    n = rows.shape[0]
    no_out = view(grads, 0, (0, 0))
    loss_sum = 0.0
    for start in range(0, n, batch_size):
        b = start // batch_size
        nb = n - start if n - start < batch_size else batch_size
        n_blk = (nb + block_rows - 1) // block_rows
        sw_sum = 0.0
        for r in range(nb):
            sw_sum += sw[rows[start + r]]
        # one call site of ``run`` for both phases: the blocks, then the slices
        for phase in range(2):
            n_items = n_blk if phase == 0 else slices.shape[0]
            for i in range(thread, n_items, n_threads):
                j = i if phase == 0 else 0  # (the step reads no buffer of its own: block 0's stand in)
                work = (
                    view(xbufs, j * xbufs.shape[1], (xbufs.shape[1],)),
                    view(acts, j * acts.shape[1], (acts.shape[1],)),
                    view(deltas, j * deltas.shape[1], (deltas.shape[1],)),
                    block_start,
                    view(grads, j * grads.shape[1], (grads.shape[1],)),
                    view(derivs, j * derivs.shape[1], (derivs.shape[1],)),
                    view(scaled, j * scaled.shape[1], (scaled.shape[1],)),
                )
                if phase == 0:
                    first = start + i * block_rows
                    size = block_rows if nb - i * block_rows > block_rows else nb - i * block_rows
                    task, lo, hi, rows_arg, out = BLOCK, optimizer[11], optimizer[12], size, no_out
                else:
                    first, size = start, nb
                    block_grads = view(grads, 0, (n_blk, grads.shape[1]))
                    task, lo, hi, rows_arg, out = STEP, slices[i, 0], slices[i, 1], nb, block_grads
                # batch b is step step_0 + b (its schedules' and its blocks' dropout's)
                opt = optimizer[:10] + (t, lo, hi) + optimizer[13:17] + (step_0 + b,) + optimizer[18:]
                part = view(rows, first, (size,))
                value = _call_run(run_address, (task, net, data, work, opt, part, rows_arg, out))[0]
                if phase == 0:
                    losses[i] = value
                else:
                    sumsqs[i] = value
            if not _barrier(sync, n_threads):
                return loss_sum, t
            if not sw_sum > 0:
                break  # a batch of zero total weight carries no gradient (every thread skips its step)
            if phase == 0 and thread == 0:
                batch_loss = 0.0
                for j in range(n_blk):
                    batch_loss += losses[j]
                loss_sum += nb * (batch_loss + 0.5 * alpha * sumsq) / sw_sum
        if sw_sum > 0:
            if sgd_kernel == 0:
                t += 1  # (every thread counts Adam's steps, whether it stepped a slice or not)
            sumsq = 0.0
            for i in range(slices.shape[0]):
                sumsq += sumsqs[i]
    return loss_sum, t


@kernel
def _barrier(sync, n_threads):
    """Wait until ``n_threads`` threads have called this; False if ``sync[2]`` is set instead.

    ``sync = [count, generation, abort]``, zeros at first. A thread whose
    Python side failed before it could arrive sets ``abort``, so that the
    others do not wait for it for ever.
    """
    if n_threads == 1:
        return True
    generation = _load_acquire(sync, 1)
    if _fetch_add(sync, 0, 1) == n_threads - 1:
        _fetch_add(sync, 0, -n_threads)
        _fetch_add(sync, 1, 1)
        return True
    while _load_acquire(sync, 1) == generation:
        if _load_acquire(sync, 2) != 0:
            return False
    return True


def run_address(args):
    """The address of ``run``'s machine code for the types of ``args`` (compiled or loaded first)."""
    sig = compile_ahead(run, args, args[1][0].dtype.name)
    result = run.overloads[sig]
    if result.signature.return_type != _RUN_RESULT:  # (what _call_run reads)
        returned = result.signature.return_type
        raise RuntimeError(f"fastbp: the entry point returns {returned}, not {_RUN_RESULT}")
    return result.library.get_pointer_to_function(result.fndesc.llvm_func_name)


def ready(args):
    """Compile, or load, :func:`blocked_epoch` for the types of ``args`` (a thread's arguments).

    The first blocked fit of a dtype pays it once per machine: 1.8-1.9 s of
    CPU on a 2-vCPU Xeon, with the entry point already cached.
    """
    compile_ahead(blocked_epoch, args, f"{args[4][0].dtype.name} blocked epochs", seconds=2)
