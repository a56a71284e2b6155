"""Import and first fit in a new process, with an empty and with a warm kernel cache."""

import os
import tempfile

from ._process import run_python

_FIRST_FIT_SCRIPT = """
import json, time, warnings
t0 = time.perf_counter()
import fastbp
t1 = time.perf_counter()
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
t2 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fastbp.BackpropClassifier(max_iter=1, random_state=0).fit(X / 16.0, y)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_fit_s": t3 - t2}))
"""


def _first_fit_in_new_process(cache_dir):
    # fastbp reads FASTBP_CACHE_DIR first, then NUMBA_CACHE_DIR (older
    # versions only the latter): both point at cache_dir
    env = dict(os.environ, FASTBP_CACHE_DIR=cache_dir, NUMBA_CACHE_DIR=cache_dir)
    return run_python(_FIRST_FIT_SCRIPT, env=env)


def measure_compile(quick):
    """Import and first fit on digits in new processes: empty cache, then warm.

    With ``quick`` only the warm case runs, and its cache is filled by a
    first process that is not reported.

    Parameters
    ----------
    quick : bool

    Returns
    -------
    dict
        ``cached_import_s``, ``cached_first_fit_s`` and, unless ``quick``,
        ``cold_import_s``, ``cold_first_fit_s``.
    """
    with tempfile.TemporaryDirectory(prefix="fastbp-bench-cache-") as cache_dir:
        cold = _first_fit_in_new_process(cache_dir)
        warm = _first_fit_in_new_process(cache_dir)
    result = {f"cached_{k}": v for k, v in warm.items()}
    if not quick:
        result.update({f"cold_{k}": v for k, v in cold.items()})
    return result
