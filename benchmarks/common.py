"""Workloads and helpers shared by the benchmark modules.

The benchmarks use only fastbp's public API, so the same suite runs
against older commits. Workloads are small on purpose: the whole suite
must run in a few minutes with ``asv run -E existing --quick``; the peer
comparison on larger problems is ``python -m fastbp.bench``.
"""

import functools
import warnings

import numpy as np

BLAS_THREADS = 1
NUMBA_THREADS = 1

DTYPES = ["float64", "float32"]

# the ``threads`` parameter: "pinned" = BLAS_THREADS and NUMBA_THREADS,
# "default" = every library's own thread count (see ``use_threads``)
THREAD_MODES = ["pinned", "default"]

# name -> (task, hidden_layer_sizes, batch_size); data in ``load``
WORKLOADS = {
    "digits": ("multiclass", (100,), 200),  # load_digits, 1797 x 64, 10 classes
    "binary": ("binary", (64, 64), 64),  # make_classification, 4000 x 20
    "regression": ("regression", (128, 64), 256),  # make_regression, 4000 x 50
}

_limiter = None  # the threadpoolctl limit while pinned


def pin_threads():
    """One BLAS thread (numpy's and scipy's, which Numba uses) and one Numba thread.

    fastbp's own threads follow the BLAS limit (``fastbp.get_num_threads``
    is capped by it), so a pinned fastbp fit runs on one thread too.
    """
    global _limiter
    import numba
    import scipy.linalg  # noqa: F401  (Numba's BLAS; fastbp imports it too)
    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(limits=BLAS_THREADS)
    if _limiter is None:
        _limiter = limiter  # the first limit remembers the libraries' own counts
    numba.set_num_threads(NUMBA_THREADS)


def use_threads(mode):
    """Apply a ``threads`` parameter value: ``"pinned"`` or ``"default"``.

    ``"default"`` leaves every library at its own thread count: in a fresh
    benchmark process (asv runs each in its own) it changes nothing; after
    :func:`pin_threads` in the same process it undoes the pin.
    """
    global _limiter
    if mode == "pinned":
        pin_threads()
        return
    if mode != "default":
        raise ValueError(f"unknown threads mode {mode!r}")
    if _limiter is not None:
        import numba

        _limiter.restore_original_limits()
        _limiter = None
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@functools.lru_cache(maxsize=None)
def load(name, dtype):
    """``(X_train, X_test, y_train, y_test)`` of a workload, in ``dtype``, fixed seeds."""
    from sklearn.datasets import load_digits, make_classification, make_regression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
    elif name == "binary":
        X, y = make_classification(n_samples=4000, n_features=20, n_informative=10, random_state=0)
    elif name == "regression":
        X, y = make_regression(n_samples=4000, n_features=50, n_informative=20, noise=10.0, random_state=0)
        y = (y - y.mean()) / y.std()
    else:
        raise ValueError(f"unknown workload {name!r}")
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    if name != "digits":
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    X_train = np.ascontiguousarray(X_train, dtype=dtype)
    X_test = np.ascontiguousarray(X_test, dtype=dtype)
    if WORKLOADS[name][0] == "regression":
        y_train, y_test = y_train.astype(dtype), y_test.astype(dtype)
    return X_train, X_test, y_train, y_test


def load_wide(dtype):
    """``(X, y)``: 20,000 x 256 binary classification for the memory benchmark.

    Drawn directly in ``dtype`` (no float64 intermediate that would raise
    the process's peak memory before the fit starts); fixed seed.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 256), dtype=dtype)
    y = (X[:, :16].sum(axis=1) > 0).astype(np.int64)
    return X, y


def make_estimator(name, solver, **params):
    """A fastbp estimator for workload ``name`` (random_state=0)."""
    from fastbp import BackpropClassifier, BackpropRegressor

    task, hidden, batch_size = WORKLOADS[name]
    cls = BackpropRegressor if task == "regression" else BackpropClassifier
    return cls(hidden_layer_sizes=hidden, solver=solver, batch_size=batch_size, random_state=0, **params)


def fit_quietly(estimator, X, y):
    """``fit`` with ConvergenceWarning (expected with small max_iter) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, y)


def classes_of(name, y):
    """The ``classes`` argument of ``partial_fit`` (None for regression)."""
    return None if WORKLOADS[name][0] == "regression" else np.unique(y)


def partial_fit_epoch(estimator, X, y, classes):
    """One epoch through ``partial_fit``."""
    if classes is None:
        return estimator.partial_fit(X, y)
    return estimator.partial_fit(X, y, classes=classes)
