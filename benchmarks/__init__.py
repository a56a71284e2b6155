"""asv benchmarks of fastbp (see asv.conf.json at the repository root).

Thread counts are pinned before NumPy, SciPy or Numba is imported by any
benchmark module: one BLAS thread and one Numba thread. On a small machine
an unpinned BLAS call on a small matrix inside a kernel was measured 100x
slower than with one thread, and the numbers would depend on what else the
machine runs. ``common.pin_threads`` applies the same limit again through
threadpoolctl in every ``setup``, and ``bench_threads`` records it.
"""

import os

for _var in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
