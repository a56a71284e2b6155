"""fastbp's version, and the version of the state its models save."""

__version__ = "0.1.0"

# Version of what a model saves (pickle, joblib, skops): plain arrays and
# values, no private classes. Models saved before versioning (format 0)
# held the objects themselves and still load. A file of a newer format
# than this fastbp reads is refused with a clear error.
#   1: the network and optimizer as dicts of arrays.
#   2: as 1, holding what a format-1 reader does not know: per-layer or
#      newer hidden activations, a parameter added since (dropout,
#      weight_decay, ...) away from its default, or a newer value of an
#      old one (a learning_rate schedule, a robust regression loss).
# A model is stamped with the oldest format that holds it. A format-1
# reader gets every format-2 model wrong: it calls a newer activation
# damage, fails on a list of them, and loads the other settings but
# trains on without them (its get_params does not know them). Models of
# format-1 settings it loads and trains on exactly, so stamping every
# model 2 would lock older installs out of files they read correctly.
STATE_FORMAT = 2

# what a format-1 reader knows: its estimators' parameters (any other one
# must be at its default) and the values of those that took newer ones
FORMAT_1_PARAMETERS = frozenset(
    {
        "activation", "alpha", "batch_size", "beta_1", "beta_2", "class_weight",
        "early_stopping", "early_stopping_metric", "epsilon", "hidden_layer_sizes",
        "label_smoothing", "learning_rate", "learning_rate_init", "loss", "max_fun",
        "max_iter", "momentum", "n_iter_no_change", "nesterovs_momentum", "power_t",
        "random_state", "shuffle", "solver", "tol", "validation_fraction", "verbose",
        "warm_start",
    }
)  # fmt: skip
FORMAT_1_VALUES = {
    "activation": ("identity", "logistic", "tanh", "relu"),
    "learning_rate": ("constant", "invscaling", "adaptive"),
    "loss": ("squared_error", "poisson"),
}
