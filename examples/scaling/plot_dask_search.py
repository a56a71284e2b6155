"""
=============================
A grid search on dask workers
=============================

joblib's dask backend sends the fits of
:class:`~sklearn.model_selection.GridSearchCV` to a dask cluster's workers.
Here the cluster is two worker threads in this process
(``LocalCluster(processes=False)``), started and closed by the ``with``
block; on a real cluster only the ``Client`` line changes. The search's
scores and ranks are the same as those of the same search run locally.
"""

# %%
# Search on the cluster, then locally
# -----------------------------------
import warnings

import joblib
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastbp
from fastbp import BackpropClassifier

RANDOM_STATE = 0
# 40 epochs are enough to compare the two searches
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
pipe = make_pipeline(StandardScaler(), BackpropClassifier(max_iter=40, random_state=RANDOM_STATE))
grid = {
    "backpropclassifier__hidden_layer_sizes": [(16,), (32,)],
    "backpropclassifier__alpha": [1e-4, 1e-1],
}


def search():
    return GridSearchCV(pipe, grid, cv=3)


cluster = LocalCluster(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None)
with cluster, Client(cluster) as client:
    client.run(fastbp.warm_up, ["float64"])  # compile or load the kernels before the first task
    with joblib.parallel_config(backend="dask"):
        on_dask = search().fit(X, y)

local = search().fit(X, y)

# %%
# The same results
# ----------------
# Every column of ``cv_results_`` but the timings agrees.
for params, score, rank in zip(
    on_dask.cv_results_["params"],
    on_dask.cv_results_["mean_test_score"],
    on_dask.cv_results_["rank_test_score"],
):
    layers, alpha = params["backpropclassifier__hidden_layer_sizes"], params["backpropclassifier__alpha"]
    print(f"hidden {layers!s:6} alpha {alpha:<6} accuracy {score:.4f}  rank {rank}")

same = all(
    np.array_equal(np.asarray(on_dask.cv_results_[key]), np.asarray(local.cv_results_[key]))
    for key in local.cv_results_
    if "time" not in key
)
print("same scores, parameters and ranks as the local search:", same)
