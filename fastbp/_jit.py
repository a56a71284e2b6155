"""One place that decides how every fastbp kernel is compiled.

Every kernel is ``nogil`` (whole fits can run side by side in threads),
cached on disk by :mod:`fastbp._cache` (a second process does not
recompile; a changed kernel source never loads old code), uses NumPy's error
model (division does not carry a zero check, so update loops vectorize) and
one shared set of fastmath flags. The set leaves out ``nnan`` and ``ninf``:
with them LLVM may assume values are finite and fold ``np.isfinite`` checks
away, which would hide a diverging fit.
"""

import os
import sys
import threading

import numba

from . import _cache
from ._cache import attach

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# CPU seconds of a cold compile of one dtype's entry point, as measured
# (python -m fastbp.bench, "compile"); quoted in the compile notice
COMPILE_SECONDS = 10
_compile_guard = threading.Lock()


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


def compile_ahead(dispatcher, args, label):
    """Compile, or load from the cache, ``dispatcher`` for the types of ``args``.

    A compile takes seconds, so it is announced once on stderr (the one
    output fastbp prints by default; ``FASTBP_COMPILE_NOTICE=0`` silences
    it). Processes sharing a cache folder compile one at a time: a process
    that waited for another loads that one's result instead.
    """
    sig = tuple(dispatcher.typeof_pyval(a) for a in args)
    with _compile_guard:
        if sig in dispatcher.overloads:
            return
        with _cache.compile_lock(f"{dispatcher.py_func.__name__}-{label}"):
            if not _cache.has_entry(dispatcher, sig):
                _announce_compile(label)
            dispatcher.compile(sig)


def _announce_compile(label):
    if os.environ.get("FASTBP_COMPILE_NOTICE", "1").strip().lower() in {"0", "false", "no", "off"}:
        return
    folder = _cache.cache_dir()
    where = (
        f"once per machine, cached in {folder}" if folder else "no writable cache folder: once per process"
    )
    print(
        f"fastbp: compiling kernels for {label}, about {COMPILE_SECONDS} s ({where}; "
        "FASTBP_COMPILE_NOTICE=0 silences this)",
        file=sys.stderr,
        flush=True,
    )
