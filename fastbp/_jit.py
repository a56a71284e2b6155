"""One place that decides how every fastbp kernel is compiled.

Every kernel is ``nogil`` (whole fits can run side by side in threads),
cached on disk by :mod:`fastbp._cache` (a second process does not
recompile; a changed kernel source never loads old code), uses NumPy's error
model (division does not carry a zero check, so update loops vectorize) and
one shared set of fastmath flags. The set leaves out ``nnan`` and ``ninf``:
with them LLVM may assume values are finite and fold ``np.isfinite`` checks
away, which would hide a diverging fit.

Compile time is a user-facing cost (the first fit of each dtype on a
machine pays it). Where it goes, measured on the cold first fit on digits
(float64, CPU seconds; numba 0.68, 2 cores shared with other jobs):

- Before: 8.9-10.9 s, the entry point ``run`` calling a separately
  compiled batch gradient, which called a separately compiled forward
  pass. Of it, LLVM 4.4 s (every level of the call tree optimises its
  callees' linked-in code again), numba's typing/inlining/lowering the
  rest, and 37,500 lines of unoptimised LLVM IR for ``run`` alone, much of
  it from ``reshape``/slicing views (19 sites) and ``np.dot``.
- Now: 4.7-5.1 s on a quiet host (0.50-0.61 of the time before in five
  alternating series; float32 alike), one ``run`` with the forward and
  backward pass written out in its batch loop, views and gemm as
  intrinsics, 22,000 lines of IR; see :func:`fastbp._backprop.run` for the
  steps. Of it (pass timers): LLVM ~1.5, numba's lowering ~0.7, typing
  ~0.7 (of which exp/tanh/logistic ~0.3), inlining ~0.6, SSA and other IR
  passes ~0.7, the CPython wrapper unboxing ``run``'s tuples ~0.2. Loading
  from the cache: ~0.2 s, as before.
- Then grown again by the training options (blocked tasks, dropout,
  schedules, weight decay, clipping, robust losses, per-layer activation
  codes): 8.9 s of CPU for float64 and 9.0 s for float32 (medians of
  three, alternating with the state below on a quiet host).
- Now: every option, sparse input, SGD and the hidden activations other
  than relu and identity are :class:`LazyKernel` kernels, compiled on
  first use and called by address, so that a default fit compiles only
  the code it runs: 4.8 s for float64 and 4.8 s for float32 in the same
  series (``run``: 2,330 -> 1,406 numba IR variables, 10,000 -> 6,500
  lines of optimised LLVM IR). A lazy kernel costs its first user
  0.05-0.5 s (the newer activations' 2.4-2.9 s), and nothing to anyone
  else.

What costs, as rules of thumb measured here: each ``for`` loop ~30 ms (a
two-level loop ~60 ms, whatever its body); each separately compiled
function ~0.1-0.2 s plus its code optimised again in every caller; each
numba overload used for the first time (``min``/``max`` ~30 ms,
``np.finfo`` 0.28 s, ``np.dot`` 0.15-0.25 s per layout); inlining grows
with the square of the callee's size (below). The compile costs the
same for float32 after float64 in one process: numba's one-time start is
small, and only exp/tanh/logistic (float64 whatever the data) are
shared between the two.
"""

import os
import sys
import threading

import numba
import numpy as np
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from . import _cache
from ._cache import attach

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# CPU seconds of a cold compile of one dtype's entry point, as measured
# (python -m fastbp.bench, "compile"); quoted in the compile notice
COMPILE_SECONDS = 5
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

    Every separately compiled function has its callees' code linked in and
    optimised again at each level of the call tree, and is also compiled to
    machine code of its own that the caller does not use; inlining the
    small leaves (activations, loss, optimizer steps) cut the cold compile
    by a sixth when measured (11.6 -> 9.6 s of CPU time).

    Inline only functions of a few dozen lines: numba's inliner deep-copies
    the callee's IR block by block, and each block's copy takes the
    callee's whole variable scope along, so the cost grows with blocks x
    variables. Inlining the forward and backward pass (after their own
    helpers were inlined into them) took 2.3 s in the inlining pass alone;
    their code now sits in ``run`` itself. Each inlined call site is also
    translated, typed and optimised again, so exp/tanh/logistic, used at
    several sites, stay separate functions (:func:`internal_kernel`).
    """
    return _compile(func, inline="always")


def compile_ahead(dispatcher, args, label, seconds=COMPILE_SECONDS):
    """Compile, or load from the cache, ``dispatcher`` for the types of ``args``.

    A compile takes seconds (about ``seconds``), so it is announced once on
    stderr (the one output fastbp prints by default;
    ``FASTBP_COMPILE_NOTICE=0`` silences it). Processes sharing a cache
    folder compile one at a time: a process that waited for another loads
    that one's result instead. Returns the signature.
    """
    sig = tuple(dispatcher.typeof_pyval(a) for a in args)
    with _compile_guard:
        if sig in dispatcher.overloads:
            return sig
        with _cache.compile_lock(f"{dispatcher.py_func.__name__}-{label}"):
            if not _cache.has_entry(dispatcher, sig):
                _announce_compile(label, seconds)
            dispatcher.compile(sig)
    return sig


class LazyKernel:
    """A kernel compiled for a dtype when first needed, and called by address.

    Code that most fits never run (an option, sparse input, SGD) lives in
    kernels of this kind rather than in the entry point, so a default fit
    compiles only what it runs. The entry point takes the kernel's address
    where the option's switch would be (0: off) and calls it with
    :func:`call_at`. ``example_args(dtype)`` returns arguments of exactly the
    types the entry point passes; the kernel must return a float.

    Every such kernel is listed in ``LAZY_KERNELS``, so
    :func:`fastbp.warm_up` can compile them all ahead of time.
    """

    def __init__(self, func, example_args, label, seconds):
        self.dispatcher = _compile(func, no_cpython_wrapper=True)
        self.example_args = example_args
        self.label = label
        self.seconds = seconds  # a cold compile's CPU seconds, as measured
        self._addresses = {}  # dtype name -> address
        LAZY_KERNELS.append(self)

    def address(self, dtype):
        """The address of the machine code for ``dtype``; compiled (or loaded) on first use."""
        name = np.dtype(dtype).name
        try:
            return self._addresses[name]
        except KeyError:
            pass
        d = self.dispatcher
        sig = compile_ahead(d, self.example_args(np.dtype(dtype)), f"{name} {self.label}", self.seconds)
        result = d.overloads[sig]
        address = result.library.get_pointer_to_function(result.fndesc.llvm_func_name)
        self._addresses[name] = address
        return address


LAZY_KERNELS = []


def lazy_kernel(label, example_args, seconds=0):
    """Compile the decorated function as a :class:`LazyKernel`."""
    return lambda func: LazyKernel(func, example_args, label, seconds)


def call_codegen(restype, args):
    """The code of a call of the kernel at an address with the tuple ``args``, returning ``restype``.

    The call follows numba's calling convention for the argument types,
    which must be the kernel's signature; the kernel's status (whether it
    raised) is not read.
    """

    def codegen(context, builder, signature, llargs):
        argtys = list(args)
        call_conv = context.call_conv
        fnty = call_conv.get_function_type(restype, argtys)
        fn = builder.inttoptr(llargs[0], fnty.as_pointer())
        retptr = cgutils.alloca_once(builder, call_conv.get_return_type(restype).pointee)
        excinfo = cgutils.alloca_once(builder, fnty.args[1].pointee)
        values = cgutils.unpack_tuple(builder, llargs[1], len(argtys))
        packed = call_conv._get_arg_packer(argtys).as_arguments(builder, values)
        builder.call(fn, [retptr, excinfo, *packed])
        return context.get_returned_value(builder, restype, builder.load(retptr))

    return codegen


@intrinsic
def call_at(typingctx, address, args):
    """Call the kernel whose machine code is at ``address`` with the tuple ``args``; its float result.

    The kernel is a :class:`LazyKernel`, compiled only when first needed,
    not with its caller (see :func:`call_codegen`); it returns a float64
    and raises nothing.
    """
    if not (isinstance(address, types.Integer) and isinstance(args, types.BaseTuple)):
        raise TypingError(f"call_at() takes an integer address and a tuple, got {address}, {args}")
    return types.float64(address, args), call_codegen(types.float64, args)


def _announce_compile(label, seconds):
    if seconds < 1 or os.environ.get("FASTBP_COMPILE_NOTICE", "1").strip().lower() in {"0", "false", "no", "off"}:
        return
    folder = _cache.cache_dir()
    where = (
        f"once per machine, cached in {folder}" if folder else "no writable cache folder: once per process"
    )
    print(
        f"fastbp: compiling kernels for {label}, about {seconds} s ({where}; "
        "FASTBP_COMPILE_NOTICE=0 silences this)",
        file=sys.stderr,
        flush=True,
    )


@intrinsic
def prefer_wide_vectors(typingctx):
    """Let LLVM vectorize the calling kernel's loops at the CPU's full vector width.

    On CPUs with AVX-512, LLVM vectorizes at 256 bits by default (its
    ``prefer-256-bit`` tuning), half the lanes the hardware has. The
    function attribute ``"prefer-vector-width"="512"``, which this call
    puts on the kernel it is lowered into (clang's
    ``-mprefer-vector-width=512``, for one function), lifts that: the
    activations' polynomial loops then run on 8 float64 or 16 float32
    lanes. Measured on this machine's Emerald Rapids, an element of gelu
    with its derivative took 4.8 instead of 6.0 ns in float64 and 1.7
    instead of 3.2 ns in float32. On a CPU without AVX-512 the attribute
    changes nothing. Only for kernels of elementwise loops: results are the
    same element by element, whatever the width.

    llvmlite accepts only the attributes it knows by name; its attribute
    set is a plain ``set`` rendered into the IR as it is, so the string
    attribute goes in with ``set.add`` (tests/test_activations.py checks
    that it reaches the machine code).
    """

    def codegen(context, builder, signature, args):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen
