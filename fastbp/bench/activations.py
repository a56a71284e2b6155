"""What tanh's and logistic's exp cost: W1 epochs by hidden activation."""

import warnings

from fastbp import BackpropClassifier

from ._timing import median_seconds
from ._workloads import SEED, full_data


def measure_activations(repeats):
    """Milliseconds per epoch of W1's network with each hidden activation, float64 and float32.

    A fit of 20 epochs per timing, divided by 20; the ratio to relu is
    what tanh's and logistic's exp costs.

    Parameters
    ----------
    repeats : int
        Timed fits per case; the median is kept.

    Returns
    -------
    dict
        ``{"<activation>_<dtype>_ms": milliseconds per epoch}``.
    """
    X, y = full_data("W1")
    result = {}
    for dtype in ("float64", "float32"):
        Xd = X.astype(dtype)
        for activation in ("relu", "tanh", "logistic"):
            model = BackpropClassifier(
                hidden_layer_sizes=(100,),
                activation=activation,
                max_iter=20,
                n_iter_no_change=21,
                random_state=SEED,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seconds = median_seconds(lambda: model.fit(Xd, y), repeats)
            result[f"{activation}_{dtype}_ms"] = 1e3 * seconds / 20
    return result
