"""Fitted models to and from scikit-learn's ``MLPClassifier``/``MLPRegressor``.

scikit-learn's MLP predicts from plain lists ``coefs_``/``intercepts_`` and a
handful of fitted attributes; both directions copy those arrays, never
share them. Predictions agree to rounding (fastbp's vectorised exp, tanh
and logistic are a few ulp from NumPy's), not bit for bit.

The regressor's robust losses ('absolute_error', 'huber', 'quantile', with
``delta`` and ``quantile``) are training settings in this sense: their
models are identity-output networks, which an ``MLPRegressor`` with
``loss='squared_error'`` predicts exactly, so they are carried with a
warning naming them. Several quantiles give ``n_outputs_`` columns, one per
(target, quantile) pair, which the ``MLPRegressor`` predicts alike; its
``score`` then needs the targets repeated per quantile
(``np.repeat(y, n_quantiles, axis=1)`` for one target), as fastbp's
``score`` does itself.
"""

import copy
import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._activations import SKLEARN_ACTIVATIONS
from ._driver import STEP_SCHEDULES
from ._losses import ROBUST_LOSSES
from ._network import Network

# fitted attributes both libraries have, copied as they are (lists copied)
_SHARED_ATTRIBUTES = (
    "n_iter_",
    "t_",
    "loss_",
    "best_loss_",
    "loss_curve_",
    "validation_scores_",
    "best_validation_score_",
    "n_features_in_",
    "feature_names_in_",
    "n_outputs_",
    "n_layers_",
    "out_activation_",
    "classes_",
    "_label_binarizer",
    "_no_improvement_count",
)


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


def _sklearn_only_params(est, sklearn_class):
    """fastbp parameters scikit-learn's class lacks, with the values they have."""
    known = sklearn_class().get_params()
    return {name: value for name, value in est.get_params().items() if name not in known}


def _sklearn_activation(network, sklearn_class):
    """The one activation name scikit-learn's MLP takes for ``network``'s hidden layers.

    Refused where its predictions could not equal fastbp's: scikit-learn's
    MLP has one activation for every hidden layer, among its four.
    """
    names = network.hidden_activations
    if network.parametric_activation and names:
        raise ValueError(
            f"{sklearn_class.__name__} cannot reproduce this model's parametric activations "
            "(parametric_activation=True: each hidden unit mixes its activation with the "
            "identity by a trained weight), so its predictions would differ. Keep the fastbp "
            "model (pickle, joblib and skops.io save it), or export it to ONNX."
        )
    if not names:  # no hidden layer: the activation plays no part
        return network.activation if network.activation in SKLEARN_ACTIVATIONS else "relu"
    if len(set(names)) > 1 or names[0] not in SKLEARN_ACTIVATIONS:
        raise ValueError(
            f"{sklearn_class.__name__} cannot reproduce this model's activation="
            f"{network.activation!r}: scikit-learn's MLP applies one activation to every "
            f"hidden layer, one of {list(SKLEARN_ACTIVATIONS)}, so its predictions would "
            "differ. Keep the fastbp model (pickle, joblib and skops.io save it)."
        )
    return names[0]


def to_sklearn(est, sklearn_class):
    """A fitted ``sklearn_class`` with copies of ``est``'s weights; see ``BaseBackprop.to_sklearn``."""
    check_is_fitted(est)
    network = est._synced_network()
    activation = _sklearn_activation(network, sklearn_class)
    extra = _sklearn_only_params(est, sklearn_class)
    defaults = type(est)().get_params()
    # (no default is an array: a quantile array differs, and would not compare to a float)
    changed = [
        name for name, value in extra.items() if isinstance(value, np.ndarray) or value != defaults[name]
    ]
    params = {name: value for name, value in est.get_params().items() if name not in extra}
    if params["learning_rate"] in STEP_SCHEDULES:  # a value of fastbp's own
        params["learning_rate"] = defaults["learning_rate"]
        changed.append("learning_rate")
    # (the robust losses train an identity output, as squared_error does)
    if "loss" in defaults and est.loss in ROBUST_LOSSES:
        params["loss"] = "squared_error"
        changed.append("loss")
    changed.sort()
    if changed:
        warnings.warn(
            f"{sklearn_class.__name__} cannot carry the training settings {changed}; the "
            "model predicts the same, but fitting it again would train without them.",
            UserWarning,
        )
    mlp = sklearn_class(**{**params, "activation": activation})
    mlp.coefs_ = network.folded_coefs()
    mlp.intercepts_ = [b.copy() for b in network.intercepts]
    for name in _SHARED_ATTRIBUTES:
        if hasattr(est, name):
            setattr(mlp, name, _copy(getattr(est, name)))
    return mlp


def from_sklearn(cls, mlp, sklearn_class):
    """A fastbp model of a fitted scikit-learn MLP; see ``BaseBackprop.from_sklearn``."""
    if not isinstance(mlp, sklearn_class):
        raise TypeError(
            f"{cls.__name__}.from_sklearn takes a {sklearn_class.__name__}, got {type(mlp).__name__}."
        )
    check_is_fitted(mlp)
    est = cls(**mlp.get_params())
    coefs = [np.asarray(c) for c in mlp.coefs_]
    dtype = coefs[0].dtype if coefs[0].dtype in (np.float32, np.float64) else np.float64
    units = [coefs[0].shape[0], *(c.shape[1] for c in coefs)]
    network = Network(units, mlp.activation, mlp.out_activation_, dtype)
    for view, array in zip(network.coefs + network.intercepts, coefs + list(mlp.intercepts_)):
        view[...] = array  # copies, cast to the model's dtype
    est._set_network(network)
    est._best_params = None
    for name in _SHARED_ATTRIBUTES:
        if hasattr(mlp, name):
            setattr(est, name, _copy(getattr(mlp, name)))
    est._init_bookkeeping(only_missing=True)
    if est.solver in ("sgd", "adam") and not est.history_["epoch"]:
        for loss in est.loss_curve_:  # the epochs scikit-learn recorded
            for key, values in est.history_.items():
                values.append(len(values) + 1 if key == "epoch" else loss if key == "loss" else np.nan)
    return est
