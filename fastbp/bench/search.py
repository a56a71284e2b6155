"""One GridSearchCV run serially, on joblib's loky and threading backends and on a 2-worker dask cluster."""

import contextlib
import statistics
import time
import warnings

import numpy as np

import fastbp
from fastbp import BackpropClassifier

from ._timing import seconds
from ._workloads import SEED, full_data

# 4 x 3 x 2 = 24 candidates; --quick keeps the first two of each list: 8
GRID = {
    "hidden_layer_sizes": [(25,), (50,), (100,), (200,)],
    "alpha": [1e-4, 1e-3, 1e-2],
    "learning_rate_init": [1e-3, 1e-2],
}
FOLDS = 3
N_JOBS = 2
N_WORKERS = 2
_EPOCHS = 10
_QUICK_EPOCHS = 2


def _quick_grid():
    return {name: values[:2] for name, values in GRID.items()}


def _same_results(a, b):
    """The score, parameter and rank columns of two ``cv_results_`` are equal."""
    return (
        list(a["params"]) == list(b["params"])
        and np.array_equal(a["mean_test_score"], b["mean_test_score"])
        and np.array_equal(a["rank_test_score"], b["rank_test_score"])
    )


def _start_cluster(stack):
    """A Client on a new 2-process ``LocalCluster`` closed by ``stack``; its start-up seconds.

    Raises ImportError without dask/distributed.
    """
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    cluster = stack.enter_context(
        LocalCluster(
            n_workers=N_WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
    )
    client = stack.enter_context(Client(cluster))
    return client, time.perf_counter() - start


def _shutdown_loky():
    # the loky workers would otherwise idle on until their timeout
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def measure_search(repeats, quick, backends=None):
    """Wall seconds of one ``GridSearchCV`` on the digits, serially and on three parallel backends.

    A search of W1-like fits (24 candidates x 3 folds, a fixed number of
    epochs each, float64) with ``n_jobs=1`` (``serial``, the baseline),
    and with ``n_jobs=2`` on joblib's ``loky`` (worker processes) and
    ``threading`` backends and on its ``dask`` backend over a
    ``distributed.LocalCluster`` of 2 worker processes of one thread each.
    Before the timed searches the cluster's workers are warmed with
    ``client.run(fastbp.warm_up, ["float64"])``, which is timed on its
    own; every backend then runs one search that is timed but not in the
    median (for loky it starts the worker processes). The timed searches
    run interleaved, one per backend in turn, ``repeats`` times.

    Without dask or distributed (the ``scale`` extra) the ``dask`` entry
    says why it was skipped. With ``quick``: 8 candidates of 2 epochs and
    no cluster.

    Parameters
    ----------
    repeats : int
        Timed searches per backend; the median is kept.
    quick : bool
    backends : iterable of {'loky', 'threading', 'dask'} or None, default=None
        The parallel backends to run next to ``serial`` (None: all three,
        without ``dask`` when ``quick``).

    Returns
    -------
    dict
        ``candidates``, ``folds``, ``n_jobs``, ``epochs``, ``repeats``, and
        per backend (``serial`` and the parallel ones): ``search_s`` (the
        median), ``times_s``, ``first_search_s``; the parallel ones also
        ``speedup`` (serial's ``search_s`` over theirs) and
        ``same_results`` (``cv_results_``'s mean test scores, params and
        ranks equal serial's). ``dask`` also has ``workers``,
        ``cluster_start_s`` and ``warm_up_s``, or only ``skipped``: the
        reason.
    """
    from joblib import parallel_config
    from sklearn.model_selection import GridSearchCV

    if backends is None:
        backends = ("loky", "threading") if quick else ("loky", "threading", "dask")
    grid = _quick_grid() if quick else GRID
    epochs = _QUICK_EPOCHS if quick else _EPOCHS
    X, y = full_data("W1")
    estimator = BackpropClassifier(
        max_iter=epochs, n_iter_no_change=epochs + 1, batch_size=200, random_state=SEED
    )
    result = {
        "candidates": int(np.prod([len(v) for v in grid.values()])),
        "folds": FOLDS,
        "n_jobs": N_JOBS,
        "epochs": epochs,
        "repeats": repeats,
    }
    entries = {name: {} for name in ("serial", *backends)}
    if quick and "dask" not in backends:
        entries["dask"] = {"skipped": "--quick"}
    with contextlib.ExitStack() as stack, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "loky" in backends:
            stack.callback(_shutdown_loky)
        if "dask" in backends:
            try:
                client, start_s = _start_cluster(stack)
            except ImportError as exc:
                entries["dask"] = {"skipped": f"dask/distributed not importable: {exc}"}
            else:
                warm_up_s = seconds(lambda: client.run(fastbp.warm_up, ["float64"]))
                entries["dask"] = {"workers": N_WORKERS, "cluster_start_s": start_s, "warm_up_s": warm_up_s}
        timed = [name for name, entry in entries.items() if "skipped" not in entry]

        def search(name):
            model = GridSearchCV(estimator, grid, cv=FOLDS, n_jobs=1 if name == "serial" else N_JOBS)
            context = contextlib.nullcontext() if name == "serial" else parallel_config(backend=name)
            with context:
                return seconds(lambda: model.fit(X, y)), model.cv_results_

        first = {name: search(name) for name in timed}
        times = {name: [] for name in timed}
        for _ in range(repeats):
            for name in timed:
                times[name].append(search(name)[0])

    serial_s = statistics.median(times["serial"])
    for name in timed:
        entry = {
            "search_s": statistics.median(times[name]),
            "times_s": times[name],
            "first_search_s": first[name][0],
        }
        if name != "serial":
            entry["speedup"] = serial_s / entry["search_s"]
            entry["same_results"] = bool(_same_results(first[name][1], first["serial"][1]))
        entries[name] = {**entry, **entries[name]}
    return {**result, **entries}
