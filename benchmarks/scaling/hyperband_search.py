"""Manual run: dask-ml's HyperbandSearchCV and IncrementalSearchCV over fastbp.

Not run by the test suite: these searches fail with dask/distributed >=
2025.3 (dask/dask-ml#1016, "Attempting to use an asynchronous Client in a
synchronous context"), and the ``scale`` extra installs the newest dask.
Run it in a venv pinned to the last release they work with (README.md
beside this file)::

    python benchmarks/scaling/hyperband_search.py

It searches on a 2-worker in-process ``LocalCluster`` and prints the
versions, each search's best parameters and score, and how many
``partial_fit`` calls the best model got; it exits with 1 if a search
fails (with the newest dask: the upstream error, printed).
"""

import sys
import time

import dask
import dask.array as da
import dask_ml
import distributed
import numpy as np
from dask_ml.model_selection import HyperbandSearchCV, IncrementalSearchCV
from distributed import Client, LocalCluster
from sklearn.datasets import make_classification

import fastbp
from fastbp import BackpropClassifier

PARAMS = {
    "hidden_layer_sizes": [(8,), (16,), (32,)],
    "alpha": [1e-5, 1e-4, 1e-3, 1e-2],
    "learning_rate_init": [1e-3, 3e-3, 1e-2],
}
ROWS_PER_BLOCK = 500


def searches(estimator):
    """The two searches, by name."""
    return {
        "HyperbandSearchCV": HyperbandSearchCV(estimator, PARAMS, max_iter=9, random_state=0),
        "IncrementalSearchCV": IncrementalSearchCV(
            estimator, PARAMS, n_initial_parameters=8, max_iter=6, decay_rate=None, random_state=0
        ),
    }


def main():
    print(f"dask {dask.__version__}, distributed {distributed.__version__}, dask-ml {dask_ml.__version__}")
    X, y = make_classification(4000, 20, n_informative=10, random_state=0)
    Xd = da.from_array(X, chunks=(ROWS_PER_BLOCK, 20))
    yd = da.from_array(y, chunks=ROWS_PER_BLOCK)
    failed = False
    cluster = LocalCluster(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None)
    with cluster, Client(cluster) as client:
        client.run(fastbp.warm_up, ["float64"])
        for name, search in searches(BackpropClassifier(batch_size=64, random_state=0)).items():
            start = time.perf_counter()
            try:
                search.fit(Xd, yd, classes=np.unique(y))
            except RuntimeError as error:  # dask/dask-ml#1016, reported instead of a traceback
                print(f"{name}: FAILED: {type(error).__name__}: {error}")
                failed = True
                continue
            seconds = time.perf_counter() - start
            calls = search.cv_results_["partial_fit_calls"][search.best_index_]
            print(f"{name}: {len(search.cv_results_['params'])} candidates in {seconds:.1f} s")
            print(f"  best {search.best_params_}, score {search.best_score_:.4f}, {calls} partial_fit calls")
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
