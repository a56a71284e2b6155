"""Manual run: GridSearchCV over fastbp on ray's joblib backend.

Not run by the test suite: ray is a large install (about 240 MB) that
fastbp's extras leave out. Run it in a venv of its own (README.md beside
this file)::

    python benchmarks/scaling/ray_grid_search.py

It starts a local ray instance of 2 CPUs, runs the same search twice on
ray's backend and once locally, checks that the scores, parameters and
ranks of ``cv_results_`` equal the local run's and that the fits ran in
ray's worker processes, and prints the wall time of each search: ray
starts its worker processes anew for every ``Parallel`` call, so the
second search on ray costs about as much as the first.

``n_jobs=-1`` matters: with ``n_jobs=None`` (GridSearchCV's default)
ray's backend runs everything in this process, one fit after another.
"""

import os
import sys
import time

import joblib
import numpy as np
import ray
from ray.util.joblib import register_ray
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

from fastbp import BackpropClassifier

GRID = {"alpha": [1e-4, 1e-2, 1e-1], "hidden_layer_sizes": [(8,), (16,)]}


def search():
    return GridSearchCV(BackpropClassifier(max_iter=30, random_state=0), GRID, cv=3)


def worker_pids():
    """The processes a ``Parallel`` call under the active backend runs in."""
    return set(joblib.Parallel()(joblib.delayed(os.getpid)() for _ in range(4)))


def same_results(a, b):
    keys = [key for key in b.cv_results_ if "time" not in key]
    return all(np.array_equal(np.asarray(a.cv_results_[key]), np.asarray(b.cv_results_[key])) for key in keys)


def main():
    print(f"ray {ray.__version__}")
    X, y = make_classification(600, 20, n_informative=8, random_state=0)
    start = time.perf_counter()
    local = search().fit(X, y)
    print(f"local (sequential): {time.perf_counter() - start:.1f} s")
    ray.init(num_cpus=2, include_dashboard=False)
    register_ray()
    equal = []
    try:
        with joblib.parallel_config(backend="ray", n_jobs=-1):
            elsewhere = os.getpid() not in worker_pids()
            for attempt in (1, 2):
                start = time.perf_counter()
                remote = search().fit(X, y)
                print(f"ray search {attempt}: {time.perf_counter() - start:.1f} s")
                equal.append(same_results(remote, local))
    finally:
        ray.shutdown()
    print(f"ran in ray's worker processes: {elsewhere}")
    print(f"cv_results_ (scores, params, ranks) equal to the local run's: {all(equal)}")
    return 0 if all(equal) and elsewhere else 1


if __name__ == "__main__":
    sys.exit(main())
