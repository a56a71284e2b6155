"""BLAS thread policy: the BLAS fastbp's kernels call runs on one thread while they compute.

fastbp's kernels call BLAS on per-batch products (tens to hundreds of rows),
where BLAS threads cost more in start-up and synchronisation than they
save, and where several fits running in threads (the kernels release the
GIL) would oversubscribe the cores. So every fit, and every prediction of
more than a few rows, holds BLAS at one thread; parallelism comes from
whole fits side by side (threads or processes, e.g.
``GridSearchCV(n_jobs=...)``).

Only the BLAS library the kernels call is limited. Numba's kernels call
SciPy's BLAS (``scipy.linalg.cython_blas``); SciPy's and NumPy's wheels
each bundle their own OpenBLAS copy (both named ``libscipy_openblas*``),
so SciPy's copy is picked by its file path, inside SciPy's installation,
and NumPy's, which other threads' NumPy work uses, is never touched.
Where SciPy's BLAS is not a bundled copy (conda, system or MKL builds
link a shared library that NumPy may use too) fastbp cannot tell the
libraries apart and limits every BLAS library while it computes.

The limit is reference-counted: with fits running in several threads, the
first to start sets it and the last to finish restores the previous
setting, so one thread finishing does not lift the limit under the others.
"""

import threading
from contextlib import contextmanager
from pathlib import Path

import scipy
import threadpoolctl
from threadpoolctl import ThreadpoolController

_lock = threading.Lock()
_users = 0
_controller = None
_limiter = None
_outer = None  # the kernels' BLAS thread count when the first of the running fits started


def _scipy_bundled(filepath):
    """Whether a library file ships inside SciPy's installation (its wheel's own copy)."""
    scipy_dir = Path(scipy.__file__).resolve().parent
    # Linux and Windows wheels: site-packages/scipy.libs; macOS: scipy/.dylibs
    folders = (scipy_dir, scipy_dir.with_name("scipy.libs"))
    path = Path(filepath).resolve()
    return any(folder in path.parents for folder in folders)


def kernel_blas_controller(controller=None):
    """The threadpoolctl controller of the BLAS libraries fastbp limits.

    Parameters
    ----------
    controller : threadpoolctl.ThreadpoolController, default=None
        The libraries to choose from; by default those loaded now.

    Returns
    -------
    threadpoolctl.ThreadpoolController
        SciPy's bundled BLAS copy when there is one; otherwise (SciPy built
        against a shared BLAS) every BLAS library.
    """
    controller = ThreadpoolController() if controller is None else controller
    blas = controller.select(user_api="blas")
    bundled = [lib.filepath for lib in blas.lib_controllers if _scipy_bundled(lib.filepath)]
    return blas.select(filepath=bundled) if bundled else blas


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
    """Context in which the kernels' BLAS runs on one thread (see the module docstring)."""
    global _users, _limiter, _outer
    with _lock:
        if _users == 0:
            _outer = _blas_threads(_kernel_controller())
            _release_openblas()
            _limiter = _controller.limit(limits=1)
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
_outer = None  # the kernels' BLAS thread count when the first of the running fits started


def _kernel_controller():
    """:func:`kernel_blas_controller`, selected once (call with ``_lock`` held)."""
    global _controller
    if _controller is None:
        _controller = kernel_blas_controller()
    return _controller


def _blas_threads(controller):
    return min((lib.num_threads for lib in controller.lib_controllers), default=1)


def outer_blas_threads():
    """The thread count of the kernels' BLAS as set outside fastbp.

    What ``threadpoolctl.threadpool_limits(n, user_api="blas")``, or the
    ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` variables of a joblib
    worker, set it to; read while no fit holds it at one thread, or as it
    was when the running fits began.

    Returns
    -------
    int
    """
    with _lock:
        return _outer if _users else _blas_threads(_kernel_controller())


def hold_one_thread():
    """Put the kernels' BLAS back at one thread if another thread changed it during a fit.

    OpenBLAS's thread count is one process-wide setting, and another
    thread may set it at any time (for example by leaving its own
    ``threadpool_limits`` block), after which products with an inner
    dimension above a few hundred round differently. The training loops
    call this before every epoch, so a change lasts at most until then;
    its cost is one call into the library (~2 us).
    """
    if _users:  # (read without the lock: at worst one needless call)
        for lib in _controller.lib_controllers:
            if lib.num_threads != 1:
                # threadpoolctl's public setter ignores calls from threads
                # other than the one that last set OpenBLAS's count
                getattr(lib, "_real_set_num_threads", lib.set_num_threads)(1)
