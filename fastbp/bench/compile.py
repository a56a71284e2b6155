"""Import and first fit in a new process, with an empty and with a warm kernel cache."""

import os
import tempfile

from ._process import run_python

_FIRST_FIT_SCRIPT = """
import json, sys, time, warnings
t0 = time.perf_counter()
import fastbp
t1 = time.perf_counter()
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(sys.argv[1])
t2, c2 = time.perf_counter(), time.process_time()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fastbp.BackpropClassifier(max_iter=1, random_state=0).fit(X, y)
t3, c3 = time.perf_counter(), time.process_time()
print(json.dumps({"import_s": t1 - t0, "first_fit_s": t3 - t2, "first_fit_cpu_s": c3 - c2}))
"""


def _first_fit_in_new_process(cache_dir, dtype):
    # fastbp reads FASTBP_CACHE_DIR first, then NUMBA_CACHE_DIR (older
    # versions only the latter): both point at cache_dir
    env = dict(os.environ, FASTBP_CACHE_DIR=cache_dir, NUMBA_CACHE_DIR=cache_dir, FASTBP_COMPILE_NOTICE="0")
    return run_python(_FIRST_FIT_SCRIPT, dtype, env=env)


def measure_compile(quick):
    """Import and first fit on digits in new processes: empty cache, then warm.

    One dtype per process, as the compile target is defined: the CPU
    seconds of the first fit after import in a new process. With ``quick``
    only the warm case runs, and its cache is filled by a first process
    that is not reported, for float64 only.

    Parameters
    ----------
    quick : bool

    Returns
    -------
    dict
        ``cached_import_s``, ``cached_first_fit_s`` (float64, wall seconds),
        ``cached_first_fit_cpu_s`` (``{dtype: CPU seconds}``) and, unless
        ``quick``, the same for ``cold_``.
    """
    result = {}
    for dtype in ("float64",) if quick else ("float64", "float32"):
        with tempfile.TemporaryDirectory(prefix="fastbp-bench-cache-") as cache_dir:
            cold = _first_fit_in_new_process(cache_dir, dtype)
            warm = _first_fit_in_new_process(cache_dir, dtype)
        states = (("cached", warm),) if quick else (("cached", warm), ("cold", cold))
        for state, run in states:
            if dtype == "float64":
                result[f"{state}_import_s"] = run["import_s"]
                result[f"{state}_first_fit_s"] = run["first_fit_s"]
            result.setdefault(f"{state}_first_fit_cpu_s", {})[dtype] = run["first_fit_cpu_s"]
    return result
