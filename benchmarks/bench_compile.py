"""Compile time: the wait before a new process's first fit, cold and cached.

Measured in a fresh Python process (``sys.executable -c ...``) because
Numba compiles once per process:

- ``cold``: ``FASTBP_CACHE_DIR`` and ``NUMBA_CACHE_DIR`` (fastbp reads the
  first, else the second; older versions only the second) point at a new,
  empty directory, so every kernel the first fit needs is compiled (what
  a user sees once after installing or upgrading fastbp).
- ``cached``: the kernels are already on disk in the usual cache location
  (``setup`` fills it), so they are only loaded (what a user sees at every
  later process start).

Each benchmark returns seconds of the first ``fit`` on digits (1797 x 64,
hidden (100,), max_iter=1), import excluded: wall seconds
(``track_first_fit``) and the process's CPU seconds
(``track_first_fit_cpu``, what the compile budget is defined on);
``ImportTime`` returns the
seconds of ``import fastbp`` itself. The child process gets one BLAS and
one Numba thread.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from . import common

_FIRST_FIT = """
import json, time, warnings
t0 = time.perf_counter()
import fastbp
t1 = time.perf_counter()
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype({dtype!r})
model = fastbp.BackpropClassifier(max_iter=1, random_state=0)
t2, c2 = time.perf_counter(), time.process_time()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model.fit(X, y)
t3, c3 = time.perf_counter(), time.process_time()
print(json.dumps({{"import": t1 - t0, "first_fit": t3 - t2, "first_fit_cpu": c3 - c2}}))
"""


def first_fit_seconds(dtype="float64", cache_dir=None, timeout=600):
    """Run a first fit in a new process; returns ``{"import": s, "first_fit": s, "first_fit_cpu": s}``.

    ``cache_dir`` sets ``FASTBP_CACHE_DIR`` and ``NUMBA_CACHE_DIR`` for the
    child (None: inherit this process's settings, by default fastbp's usual
    cache location).
    """
    env = dict(os.environ)
    env.update(
        NUMBA_NUM_THREADS=str(common.NUMBA_THREADS),
        OPENBLAS_NUM_THREADS=str(common.BLAS_THREADS),
        OMP_NUM_THREADS=str(common.BLAS_THREADS),
        MKL_NUM_THREADS=str(common.BLAS_THREADS),
    )
    if cache_dir is not None:
        env.update(FASTBP_CACHE_DIR=str(cache_dir), NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_FIT.format(dtype=dtype)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


class CompileTime:
    """Seconds of the first fit in a new process (JIT compile or cache load)."""

    params = [["cold", "cached"], common.DTYPES]
    param_names = ["cache", "dtype"]
    unit = "seconds"
    timeout = 600

    def setup(self, cache, dtype):
        self.cache_dir = None
        if cache == "cold":
            self.cache_dir = tempfile.mkdtemp(prefix="fastbp-numba-cache-")
        else:
            first_fit_seconds(dtype)  # make sure the default cache holds the kernels

    def teardown(self, cache, dtype):
        if self.cache_dir is not None:
            shutil.rmtree(self.cache_dir, ignore_errors=True)

    def track_first_fit(self, cache, dtype):
        return first_fit_seconds(dtype, self.cache_dir)["first_fit"]

    def track_first_fit_cpu(self, cache, dtype):
        return first_fit_seconds(dtype, self.cache_dir)["first_fit_cpu"]


class ImportTime:
    """Seconds of ``import fastbp`` in a new process (scikit-learn, Numba, SciPy included)."""

    unit = "seconds"
    timeout = 600

    def setup(self):
        first_fit_seconds("float64")  # warm the default cache and the OS file cache

    def track_import(self):
        return first_fit_seconds("float64")["import"]
