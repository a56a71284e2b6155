"""What each hidden activation and dropout cost: W1 epochs by hidden activation and dropout rate."""

import warnings

from fastbp import BackpropClassifier

from ._timing import median_seconds
from ._workloads import SEED, full_data

# scikit-learn's (relu the baseline, tanh and logistic built on exp) and fastbp's others
ACTIVATIONS = (
    "relu", "tanh", "logistic",
    "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "mish", "softplus",
)  # fmt: skip
QUICK_ACTIVATIONS = ("relu", "tanh", "logistic")  # scikit-learn's
# issue 10's targets for dropout and the activations beyond scikit-learn's:
# an epoch at most ``limit`` times the ``baseline``'s, by dtype
TARGETS = {"float64": ("relu", 1.3), "float32": ("tanh", 1.0)}
DROPOUTS = (0.2, 0.5)  # rates of a relu network's hidden layer (cheap enough for --quick too)


def measure_activations(repeats, activations=ACTIVATIONS, dropouts=DROPOUTS):
    """Milliseconds per epoch of W1's network by hidden activation and dropout, float64 and float32.

    A fit of 20 epochs per timing, divided by 20; the ratio to relu is
    what the activation or dropout costs (issue 10's targets: at most
    1.3x relu in float64, no slower than tanh in float32). The untimed
    warm-up fit compiles or loads the kernels of the activations beyond
    scikit-learn's four and of dropout.

    Parameters
    ----------
    repeats : int
        Timed fits per case; the median is kept.
    activations : tuple of str, default=ACTIVATIONS
        The hidden activations to time (``--quick`` times scikit-learn's).
    dropouts : tuple of float, default=DROPOUTS
        Dropout rates to time with relu.

    Returns
    -------
    dict
        ``{"<activation>_<dtype>_ms": milliseconds per epoch}``, and
        ``"relu_dropout<rate>_<dtype>_ms"`` for each rate.
    """
    X, y = full_data("W1")
    cases = [(activation, {"activation": activation}) for activation in activations]
    cases += [(f"relu_dropout{rate}", {"activation": "relu", "dropout": rate}) for rate in dropouts]
    result = {}
    for dtype in ("float64", "float32"):
        Xd = X.astype(dtype)
        for name, params in cases:
            model = BackpropClassifier(
                hidden_layer_sizes=(100,),
                max_iter=20,
                n_iter_no_change=21,
                random_state=SEED,
                **params,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seconds = median_seconds(lambda: model.fit(Xd, y), repeats)
            result[f"{name}_{dtype}_ms"] = 1e3 * seconds / 20
    return result
