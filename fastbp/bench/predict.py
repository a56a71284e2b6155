"""Prediction latency and throughput next to scikit-learn."""

import warnings

import numpy as np
from sklearn.neural_network import MLPClassifier

from fastbp import BackpropClassifier

from ._timing import median_seconds
from ._workloads import SEED, full_data


def measure_predict(repeats):
    """``predict_proba`` of 1 and of 10,000 rows, fastbp and scikit-learn (W1 models).

    Parameters
    ----------
    repeats : int
        Timings per case; the median is kept.

    Returns
    -------
    dict
        ``{"<engine>_<rows>_rows_us": microseconds per call}``, engines
        ``fastbp`` and ``sklearn``, rows 1 and 10000.
    """
    X, y = full_data("W1")
    X_10k = np.ascontiguousarray(np.resize(X, (10_000, X.shape[1])))
    params = dict(hidden_layer_sizes=(100,), max_iter=20, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "fastbp": BackpropClassifier(**params).fit(X, y),
            "sklearn": MLPClassifier(**params).fit(X, y),
        }
    result = {}
    for rows, X_rows, calls in ((1, X[:1].copy(), 2000), (10_000, X_10k, 5)):
        for name, model in models.items():
            result[f"{name}_{rows}_rows_us"] = 1e6 * median_seconds(
                lambda: model.predict_proba(X_rows), repeats, calls
            )
    return result
