"""Peer comparison on your machine: ``python -m fastbp.bench``.

Trains the same network with the same parameters in fastbp, in
scikit-learn's ``MLPClassifier``/``MLPRegressor`` and, when PyTorch is
importable, in a plain PyTorch CPU loop, and reports per workload and
dtype (:mod:`.epochs`):

- the median milliseconds per training epoch over ``--repeats`` epochs,
  after one warm-up epoch; fastbp's and scikit-learn's epochs are a
  ``fit`` of a few epochs divided by its epoch count, so validation and
  set-up are paid once per fit, as in real use;
- the ratio of each peer's time to fastbp's (> 1: fastbp is faster) and
  the training loss (the same ``random_state`` gives both libraries the
  same trajectory);
- GFLOP/s of the epoch's matrix products and their fraction of this
  machine's BLAS GEMM peak (one large ``np.dot`` per dtype);
- a "GEMM floor": only the matrix products of one epoch, on the same
  shapes, with ``np.dot(out=...)``. fastbp's time over the floor is what
  the rest of an epoch costs; for tiny layers the floor also holds
  NumPy's per-call overhead, so fastbp can beat it there.

``--threads pinned`` (the default) runs every library on
``--blas-threads`` threads (default 1), set with threadpoolctl and
``torch.set_num_threads``; ``--threads default`` leaves every library at
its own thread count, as users run it.

After the table (unless ``--no-targets``) it measures the rest of what
fastbp promises: prediction (:mod:`.predict`), epochs by hidden activation
(:mod:`.activations`), fits in threads and ``GridSearchCV`` on joblib's
threading backend (:mod:`.concurrency`), a 24-candidate search run
serially, on joblib's loky and threading backends and on a 2-worker dask
``LocalCluster`` (:mod:`.search`), import and first fit in a new process
(:mod:`.compile`) and the peak memory of a fit (:mod:`.memory`).

Examples
--------
::

    python -m fastbp.bench                                # all workloads, both dtypes
    python -m fastbp.bench --workloads W1,W5 --dtypes float32 --repeats 7
    python -m fastbp.bench --quick --json bench.json      # smaller data, a smoke run
    python -m fastbp.bench --threads default              # every library at its own thread count
"""

from ._workloads import (
    ALPHA,
    LEARNING_RATE,
    QUICK_MAX_SAMPLES,
    SEED,
    WORKLOADS,
    Workload,
    epoch_flops,
    layer_units,
)
from .activations import measure_activations
from .compile import measure_compile
from .concurrency import measure_grid_search, measure_threads
from .epochs import (
    Engine,
    add_peak_fractions,
    blas_peak_gflops,
    estimator_engine,
    fit_epochs,
    gemm_floor_engine,
    run_workload,
    time_interleaved,
    torch_engine,
)
from .memory import measure_peak_memory
from .predict import measure_predict
from .report import format_header, format_table, format_targets, machine_info, thread_counts
from .search import measure_search
from .targets import measure_targets

__all__ = [
    "ALPHA",
    "LEARNING_RATE",
    "QUICK_MAX_SAMPLES",
    "SEED",
    "WORKLOADS",
    "Engine",
    "Workload",
    "add_peak_fractions",
    "blas_peak_gflops",
    "epoch_flops",
    "estimator_engine",
    "fit_epochs",
    "format_header",
    "format_table",
    "format_targets",
    "gemm_floor_engine",
    "layer_units",
    "machine_info",
    "measure_activations",
    "measure_compile",
    "measure_grid_search",
    "measure_peak_memory",
    "measure_predict",
    "measure_search",
    "measure_targets",
    "measure_threads",
    "run_workload",
    "thread_counts",
    "time_interleaved",
    "torch_engine",
]
