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

from threadpoolctl import ThreadpoolController

_lock = threading.Lock()
_users = 0
_controller = None
_limiter = None


@contextmanager
def single_threaded_blas():
    """Context in which BLAS runs on one thread (see the module docstring)."""
    global _users, _controller, _limiter
    with _lock:
        if _users == 0:
            if _controller is None:
                _controller = ThreadpoolController()
            _limiter = _controller.limit(limits=1, user_api="blas")
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _limiter.restore_original_limits()
                _limiter = None
