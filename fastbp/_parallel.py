"""Training on several cores: each batch in fixed row blocks, one thread per block.

A batch whose products are large enough is cut into blocks of a fixed
number of rows. Threads compute the blocks' raw gradients, one buffer per
block (task ``BLOCK`` of :func:`fastbp._backprop.run`); then the threads
step disjoint slices of the parameters (task ``STEP``), each summing the
blocks' gradients over its slice in block order. How many blocks a batch
has depends on the network's shapes and the batch size only, never on the
number of threads, and every block and every slice is computed by the
same code whichever thread runs it: the weights are the same on one
thread as on many, bit for bit (in both dtypes).

The blocks change the order in which a batch's gradient is summed, so a
blocked fit agrees with scikit-learn's to rounding (as the oracle tests
measure it), not bit for bit. Networks too small to gain from threads are
not blocked and keep scikit-learn's summation order.

Why this design (measured on a 2-core machine, W3: 60000 x 784, (256,
128), batch 128, float64; see the "threads" measurement of ``python -m
fastbp.bench``):

- BLAS threads inside each product gave 1.55x on 2 threads, but results
  depend on the thread count (OpenBLAS sums products with an inner
  dimension of more than 384 in another order when threaded) and OpenBLAS's
  thread count is one process-wide setting, which another thread may
  change at any time.
- A compiled parallel loop (numba's ``prange``) over blocks added 3.5 s to
  the cold compile, and the cold compile is a budget of 5 s per dtype.
- Python threads around the one compiled entry point, which releases the
  GIL, add no code to it. Handing each phase of each batch to them from
  Python cost 70-100 us per hand-off on a 2-vCPU virtual machine, so that
  W4 (two blocks of 0.25 ms) trained no faster on 2 threads than on 1.
  Each thread now runs the whole epoch in one compiled call
  (:func:`fastbp._handoff.blocked_epoch`), calling the entry point's
  machine code by address and meeting the others at a spinning barrier:
  W4's epoch on 2 threads went from 117-145 ms to 73-91 ms (medians of
  three alternating runs each, a noisy host), where one thread took
  99-116 ms. That loop costs the first blocked fit of a dtype 1.8-1.9 s
  of compile, once per machine.

How many threads a fit uses: :func:`get_num_threads`, at most the number
of blocks. Concurrent fits share them: a fit takes worker threads only
while others are free, so fits in parallel threads (``GridSearchCV`` with
the threading backend, dask's threaded workers) do not oversubscribe the
cores; which fit got how many does not change any fit's weights.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager

import numpy as np

from . import _backprop, _handoff, _threads

# a batch is cut into blocks of at least this many rows and of at least
# this many multiply-adds each (forward and backward pass), at most this many.
# Each block writes a whole gradient that the step reads again, memory
# traffic that fewer rows per block amortise less well: on a 2-core Xeon,
# W3 (batches of 128) trained 1.1-1.2x faster on 2 threads in blocks of 64
# rows than in 4 blocks of 32, and its 16 blocks of 32 at batches of 512
# took twice as long on one thread as 4 blocks of 128
MIN_BLOCK_ROWS = 64
MIN_BLOCK_FLOPS = 8e6
MAX_BLOCKS = 16
# parameters per slice of the parallel optimizer step
STEP_SLICE = 1 << 15

_setting_lock = threading.Lock()
_num_threads = None  # set_num_threads(); None: FASTBP_NUM_THREADS or every core
_pool = None
_pool_lock = threading.Lock()
_workers_in_use = 0
_fits_running = 0


def n_blocks(units, batch_size):
    """Blocks per full batch for a network of layer sizes ``units``: shapes only.

    1 means the batch is not blocked (the serial epoch of
    :func:`fastbp._backprop.run_epoch`).
    """
    weights = sum(int(a) * int(b) for a, b in zip(units[:-1], units[1:]))
    flops = 6.0 * batch_size * weights  # forward, and two products per layer backward
    return int(max(1, min(MAX_BLOCKS, batch_size // MIN_BLOCK_ROWS, flops // MIN_BLOCK_FLOPS)))


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (macOS, Windows)
        return os.cpu_count() or 1


def _from_environment():
    value = os.environ.get("FASTBP_NUM_THREADS", "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"FASTBP_NUM_THREADS must be a positive integer, got {value!r}") from None
    if n < 1:
        raise ValueError(f"FASTBP_NUM_THREADS must be a positive integer, got {value!r}")
    return n


def set_num_threads(n):
    """Set how many threads a fit may use; ``None`` restores the default.

    The default is every core the process may run on, or the
    ``FASTBP_NUM_THREADS`` environment variable. Either way a fit uses no
    more threads than the BLAS library fastbp's kernels call allows when
    the fit starts (``threadpoolctl.threadpool_limits(n, user_api="blas")``
    and the ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` variables that
    joblib's process workers get), and no more than its batches have
    blocks. The weights a fit ends with do not depend on this setting.

    Parameters
    ----------
    n : int >= 1 or None
    """
    global _num_threads
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"the number of threads must be a positive integer or None, got {n!r}")
    with _setting_lock:
        _num_threads = None if n is None else int(n)


def get_num_threads():
    """The number of threads a fit may use (see :func:`set_num_threads`).

    Returns
    -------
    int
    """
    n = _num_threads if _num_threads is not None else _from_environment()
    return _cores() if n is None else n


@contextmanager
def num_threads(n):
    """Context in which fits use at most ``n`` threads (see :func:`set_num_threads`).

    Parameters
    ----------
    n : int >= 1 or None
    """
    previous = _num_threads
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(previous)


def _executor():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, _cores() - 1), thread_name_prefix="fastbp")
        return _pool


@contextmanager
def worker_threads(wanted):
    """Up to ``wanted`` worker threads for one fit, as many as are free."""
    global _workers_in_use, _fits_running
    with _pool_lock:
        budget = min(get_num_threads(), _threads.outer_blas_threads(), _cores())
        _fits_running += 1
        granted = max(0, min(wanted, budget - _fits_running - _workers_in_use))
        _workers_in_use += granted
    try:
        yield granted
    finally:
        with _pool_lock:
            _workers_in_use -= granted
            _fits_running -= 1


def map_chunks(func, n_chunks, n_workers):
    """``[func(i, slot) for i in range(n_chunks)]``, on the calling thread and ``n_workers`` pool threads.

    Thread ``slot`` (0 the caller's) runs chunks ``slot, slot + n_threads,
    ...``; ``slot`` names the buffers it may write. The results come back
    in chunk order whichever thread computed them, so a sum of them in that
    order does not depend on the thread count. ``func`` must release the
    GIL to gain anything (the compiled kernels do).
    """
    n_threads = min(1 + n_workers, n_chunks)
    if n_threads < 2:
        return [func(i, 0) for i in range(n_chunks)]
    results = [None] * n_chunks

    def share(slot):
        for i in range(slot, n_chunks, n_threads):
            results[i] = func(i, slot)

    futures = [_executor().submit(share, slot) for slot in range(1, n_threads)]
    try:
        share(0)
    finally:  # (no thread may still be writing when the caller goes on)
        wait(futures)
    for future in futures:
        future.result()  # (raises a helper's exception)
    return results


class BlockedEpochs:
    """The buffers and threads of a fit whose batches are trained in blocks.

    Parameters
    ----------
    network : fastbp._network.Network
    sparse_input : bool
    batch_size : int
    n_blocks : int
        Blocks per full batch (:func:`n_blocks`).
    n_workers : int
        Worker threads besides the calling one.
    """

    def __init__(self, network, sparse_input, batch_size, n_blocks, n_workers):
        self.block_rows = -(-batch_size // n_blocks)
        works = [network.workspace(self.block_rows, sparse_input) for _ in range(n_blocks)]
        # each buffer of the blocks' ``work`` tuples, one row per block
        self.stacks = tuple(np.stack([w[i] for w in works]) for i in (0, 1, 2, 4, 5, 6))
        self.block_start = works[0][3]
        self.n_params = network.n_params
        self.n_coef = int(network.bias_start[0])
        self.slices = np.array(
            [(lo, min(lo + STEP_SLICE, self.n_params)) for lo in range(0, self.n_params, STEP_SLICE)], dtype=np.int64
        )
        self.losses = np.zeros(n_blocks)
        self.sumsqs = np.zeros(len(self.slices))
        self.n_threads = 1 + n_workers
        self.pool = _executor() if n_workers else None
        self._address = None
        self._loop_ready = False

    def _run_address(self, net, data, optimizer, rows):
        """``run``'s machine code for a block's arguments (compiled or loaded on first use)."""
        if self._address is None:
            xbufs, acts, deltas, grads, derivs, scaled = self.stacks
            work = (xbufs[0], acts[0], deltas[0], self.block_start, grads[0], derivs[0], scaled[0])
            args = (_backprop.BLOCK, net, data, work, optimizer, rows[:1], self.block_rows, grads[:0, :0])
            self._address = _handoff.run_address(args)
        return self._address

    def epoch(self, net, data, work, optimizer, rows, batch_size):
        """One epoch over ``rows``; returns ``(loss_sum, t)`` as :func:`fastbp._backprop.run_epoch`.

        Every thread runs :func:`fastbp._handoff.blocked_epoch` for the
        whole epoch. ``work`` (the serial epoch's buffers) is not used.
        """
        params, max_grad_norm = net[0], optimizer[_backprop.MAX_GRAD_NORM]
        # clipping scales by the norm of the whole gradient: one slice, all of it
        slices = np.array([(0, self.n_params)], dtype=np.int64) if max_grad_norm > 0 else self.slices
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        address = self._run_address(net, data, optimizer, rows)
        # (not a BLAS dot, whose summation order could follow NumPy's thread count)
        sumsq = float(np.square(params[: self.n_coef], dtype=np.float64).sum())
        sync = np.zeros(3, dtype=np.int64)  # the barrier's count, generation and abort flag

        def share_args(k):
            return (address, k, self.n_threads, sync, net, data, self.stacks, self.block_start, optimizer, rows,
                    batch_size, self.block_rows, slices, self.losses, self.sumsqs, sumsq)  # fmt: skip

        def share(k):
            try:
                return _handoff.blocked_epoch(*share_args(k))
            except BaseException:
                sync[2] = 1  # (the other threads stop waiting for this one)
                raise

        _threads.hold_one_thread()
        if not self._loop_ready:  # (compiled before the threads call it; the types stay the fit's)
            _handoff.ready(share_args(0))
            self._loop_ready = True
        futures = [self.pool.submit(share, k) for k in range(1, self.n_threads)]
        try:
            loss_sum, t = share(0)
        finally:  # (also on KeyboardInterrupt: no thread may still be writing when the caller goes on)
            wait(futures)
        for future in futures:
            future.result()  # (raises a helper's exception)
        return loss_sum, t
