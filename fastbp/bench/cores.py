"""A lone fit on one thread and on every core: epochs of W3 and W4, and W3 by batch size."""

import statistics
import warnings

import fastbp
from fastbp import BackpropClassifier, BackpropRegressor, _parallel

from ._timing import seconds
from ._workloads import SEED, WORKLOADS, full_data, layer_units

_EPOCHS = 2


def _epoch_seconds(workload, X, y, batch_size, n_threads):
    estimator = BackpropRegressor if workload.task == "regression" else BackpropClassifier
    model = estimator(
        hidden_layer_sizes=workload.hidden,
        batch_size=batch_size,
        max_iter=_EPOCHS,
        n_iter_no_change=_EPOCHS + 1,
        random_state=SEED,
    )
    with fastbp.num_threads(n_threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return seconds(lambda: model.fit(X, y)) / _EPOCHS


def measure_cores(repeats, quick):
    """Milliseconds per epoch (float64) of a lone fit on one thread and on every core, side by side.

    Each repeat times the one-thread and the all-core fit back to back
    (one warm-up fit first); the medians are kept. ``W3`` and ``W4`` at
    their batch sizes, then W3 with batches of 32-1024 rows, the data for
    the scaling model in the docs (how much of a batch stays serial).
    With ``quick`` only W3 and W4 at their batch sizes, on 6000 rows.

    Parameters
    ----------
    repeats : int
    quick : bool

    Returns
    -------
    dict
        ``{"cores": n, "<case>": {"blocks": b, "one_ms": ..., "all_ms": ..., "speedup": ...}}``.
    """
    n_all = _parallel.get_num_threads()
    result = {"cores": n_all}
    cases = [("W3", 128), ("W4", 256)]
    batch_sizes = () if quick else (32, 64, 256, 512, 1024)
    cases += [("W3", b) for b in batch_sizes]
    data = {}
    for name, batch_size in cases:
        workload = WORKLOADS[name]
        if name not in data:
            X, y = full_data(name)
            if quick:
                X, y = X[:6000], y[:6000]
            data[name] = X, y
        X, y = data[name]
        timings = {1: [], n_all: []}
        _epoch_seconds(workload, X, y, batch_size, n_all)  # warm-up (and compile)
        for _ in range(repeats):
            for n in timings:
                timings[n].append(_epoch_seconds(workload, X, y, batch_size, n))
        one, every = (1e3 * statistics.median(timings[n]) for n in (1, n_all))
        result[f"{name} b{batch_size}"] = {
            "blocks": _parallel.n_blocks(layer_units(workload), batch_size),
            "one_ms": one,
            "all_ms": every,
            "speedup": one / every,
        }
    return result
