"""What each hidden activation costs: W1 epochs by hidden activation."""

import warnings

from fastbp import BackpropClassifier

from ._timing import median_seconds
from ._workloads import SEED, full_data

# scikit-learn's (relu the baseline, tanh and logistic built on exp) and fastbp's others
ACTIVATIONS = (
    "relu", "tanh", "logistic",
    "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "mish", "softplus",
)  # fmt: skip
QUICK_ACTIVATIONS = ("relu", "tanh", "logistic")


def measure_activations(repeats, activations=ACTIVATIONS):
    """Milliseconds per epoch of W1's network with each hidden activation, float64 and float32.

    A fit of 20 epochs per timing, divided by 20; the ratio to relu is
    what the activation costs (issue 10's targets: at most 1.3x relu in
    float64, no slower than tanh in float32). The untimed warm-up fit
    compiles or loads the kernel of the activations beyond scikit-learn's
    four.

    Parameters
    ----------
    repeats : int
        Timed fits per case; the median is kept.
    activations : tuple of str, default=ACTIVATIONS
        The hidden activations to time (``--quick`` times scikit-learn's).

    Returns
    -------
    dict
        ``{"<activation>_<dtype>_ms": milliseconds per epoch}``.
    """
    X, y = full_data("W1")
    result = {}
    for dtype in ("float64", "float32"):
        Xd = X.astype(dtype)
        for activation in activations:
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
