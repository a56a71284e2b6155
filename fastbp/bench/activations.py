"""What each hidden activation and dropout cost: W1 epochs by hidden activation and dropout rate."""

import statistics
import warnings

from fastbp import BackpropClassifier

from ._timing import seconds
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

    A fit of 20 epochs per timing, divided by 20, the cases interleaved
    round by round; the ratio to relu is
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
        fits = {
            name: BackpropClassifier(
                hidden_layer_sizes=(100,), max_iter=20, n_iter_no_change=21, random_state=SEED, **params
            )
            for name, params in cases
        }
        times = {name: [] for name in fits}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for model in fits.values():
                model.fit(Xd, y)  # (compiles or loads the option's kernels)
            # interleaved: each round times every case once, so drift of the
            # machine's speed reaches every ratio alike
            for _ in range(repeats):
                for name, model in fits.items():
                    times[name].append(seconds(lambda: model.fit(Xd, y)))
        for name, values in times.items():
            result[f"{name}_{dtype}_ms"] = 1e3 * statistics.median(values) / 20
    return result
