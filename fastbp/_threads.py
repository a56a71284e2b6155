"""BLAS thread policy: one BLAS thread while fastbp computes.

fastbp's kernels call BLAS on per-batch products (tens to hundreds of rows),
where BLAS threads cost more in start-up and synchronisation than they
save, and where several fits running in threads (the kernels release the
GIL) would oversubscribe the cores. So every fit, and every prediction of
more than a few rows, holds BLAS at one thread; parallelism comes from
whole fits side by side (threads or processes, e.g.
``GridSearchCV(n_jobs=...)``).

The limit is reference-counted: with fits running in several threads, the
first to start sets it and the last to finish restores the user's setting,
so one thread finishing does not lift the limit under the others.
"""

import threading
from contextlib import contextmanager

import threadpoolctl
from threadpoolctl import ThreadpoolController

_lock = threading.Lock()
_users = 0
_controller = None
_limiter = None


def _release_openblas():
    """Let the calling thread set OpenBLAS's process-wide thread count.

    threadpoolctl 3.8 ignores OpenBLAS limits set from any Python thread
    but the one that set one first (its "controlling thread", released
    only by a ``with`` block that ends in the same thread). Fits in
    threads enter and leave this module's limit from different threads,
    and ``_lock`` with the user count already decides who changes it, so
    the control is released around each change.
    """
    openblas = getattr(threadpoolctl, "OpenBLASController", None)
    release = getattr(openblas, "clear_controlling_thread", None)
    if release is not None:
        release(force=True)


@contextmanager
def single_threaded_blas():
    """Context in which BLAS runs on one thread (see the module docstring)."""
    global _users, _controller, _limiter
    with _lock:
        if _users == 0:
            if _controller is None:
                _controller = ThreadpoolController()
            _release_openblas()
            _limiter = _controller.limit(limits=1, user_api="blas")
            _release_openblas()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _release_openblas()
                _limiter.restore_original_limits()
                _release_openblas()
                _limiter = None
