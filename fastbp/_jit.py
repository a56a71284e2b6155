"""One place that decides how every fastbp kernel is compiled.

Every kernel is ``nogil`` (whole fits can run side by side in threads),
cached on disk by :mod:`fastbp._cache` (a second process does not
recompile; a changed kernel source never loads old code), uses NumPy's error
model (division does not carry a zero check, so update loops vectorize) and
one shared set of fastmath flags. The set leaves out ``nnan`` and ``ninf``:
with them LLVM may assume values are finite and fold ``np.isfinite`` checks
away, which would hide a diverging fit.
"""

import numba

from ._cache import attach

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}


def kernel(func):
    """Compile ``func`` with fastbp's compilation policy.

    Where no cache folder is writable (see :func:`fastbp._cache.cache_dir`)
    the kernel is compiled in memory instead of failing.
    """
    return _compile(func)


def internal_kernel(func):
    """Like :func:`kernel`, for kernels that only other kernels call.

    Numba then builds no CPython wrapper (the code that unboxes every
    argument from Python objects), which for ``net``/``data``/``work``
    tuples of a dozen arrays is a large function to optimise and emit.
    """
    return _compile(func, no_cpython_wrapper=True)


def _compile(func, **extra):
    # ``no_cfunc_wrapper``: numba otherwise also emits a C-callable wrapper
    # per function, used only when a kernel is passed around as a
    # first-class function, which fastbp never does. Together with
    # ``internal_kernel`` this cut the cold first fit on digits from
    # 10.1-10.9 to 9.4-10.0 s of CPU (three alternating pairs).
    options = dict(nogil=True, fastmath=FASTMATH, error_model="numpy", no_cfunc_wrapper=True, **extra)
    # numba's own cache=True would key the cache on this function's file only
    return attach(numba.njit(cache=False, **options)(func))


def inline_kernel(func):
    """Like :func:`kernel`, but inlined into its callers at numba's IR level.

    Every separately compiled function has its callees' machine code linked
    in and optimised again at each level of the call tree; inlining the
    small leaves (views, activations, optimizer steps) cut the cold compile
    by a sixth when measured (11.6 -> 9.6 s of CPU time). Inlining the
    large middle layers, or exp/tanh (used at several call sites), made it
    slower: each inlined call site is typed and optimised again.
    """
    return _compile(func, inline="always")
