"""Fits side by side in Python threads: two fits, and GridSearchCV's threading backend."""

import statistics
import threading
import warnings

from fastbp import BackpropClassifier

from ._timing import median_seconds, seconds
from ._workloads import SEED, full_data


def _two_fits(make, X, y, threaded):
    models = [make(seed) for seed in (0, 1)]
    if not threaded:
        for model in models:
            model.fit(X, y)
        return
    threads = [threading.Thread(target=model.fit, args=(X, y)) for model in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure_threads(repeats, quick):
    """Throughput of two fits in two Python threads over the same two fits in turn.

    W1's network on digits (fits of 20 and of 100 epochs) and W2's on its
    data; each fit runs a fixed number of epochs (no early stop). > 1: the
    threads ran side by side. The shorter the fit, the more its validation
    and set-up, which hold the GIL, weigh.

    Parameters
    ----------
    repeats : int
        Serial/threaded pairs per case; the median ratio is kept.
    quick : bool
        Only the W1 fits of 20 epochs.

    Returns
    -------
    dict
        ``{case: serial seconds / threaded seconds}``.
    """
    digits = full_data("W1")
    cases = {"W1 20 epochs": (digits, (100,), 200, 20)}
    if not quick:
        cases["W1 100 epochs"] = (digits, (100,), 200, 100)
        cases["W2 4 epochs"] = (full_data("W2"), (64, 64), 64, 4)
    result = {}
    for name, ((X, y), hidden, batch_size, epochs) in cases.items():

        def make(seed, hidden=hidden, batch_size=batch_size, epochs=epochs):
            return BackpropClassifier(
                hidden_layer_sizes=hidden,
                batch_size=batch_size,
                max_iter=epochs,
                n_iter_no_change=epochs + 1,
                random_state=seed,
            )

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make(0).fit(X, y)  # warm-up: loads the kernels (and caches) once
            ratios = []
            for _ in range(repeats):
                serial = seconds(lambda: _two_fits(make, X, y, False))
                threaded = seconds(lambda: _two_fits(make, X, y, True))
                ratios.append(serial / threaded)
        result[name] = statistics.median(ratios)
    return result


def measure_grid_search(repeats):
    """GridSearchCV with joblib's threading backend: seconds with n_jobs=1 and 2.

    Parameters
    ----------
    repeats : int
        Searches per ``n_jobs``; the median is kept.

    Returns
    -------
    dict
        ``n_jobs_1_s``, ``n_jobs_2_s`` and ``speedup`` (their ratio).
    """
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    X, y = full_data("W1")
    grid = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(64,), (128,)]}
    estimator = BackpropClassifier(max_iter=20, random_state=SEED)
    result = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n_jobs in (1, 2):
            search = GridSearchCV(estimator, grid, cv=3, n_jobs=n_jobs)
            with parallel_backend("threading", n_jobs=n_jobs):
                result[f"n_jobs_{n_jobs}_s"] = median_seconds(lambda: search.fit(X, y), repeats)
    result["speedup"] = result["n_jobs_1_s"] / result["n_jobs_2_s"]
    return result
