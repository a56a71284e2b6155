"""Hostile input: bad data and parameters get a clear error, never garbage.

The first half is one table, ``TABLE``: every row is a call that must raise
``ValueError`` (scikit-learn's ``InvalidParameterError`` is one) whose
message names the problem. Rows are expanded over both estimators and over
``fit``, ``partial_fit`` (first and later calls) and prediction wherever
the row applies, so a test id reads ``<case>-<estimator>-<method>``.

The second half covers input that is legal but extreme: mini-batches of
zero total weight, networks too large for memory, predictions that
overflow, training that diverges, KeyboardInterrupt, and read-only or
memory-mapped data that must be neither modified nor copied.
"""

import _thread
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

import fastbp._backprop
import fastbp._base
from fastbp import BackpropClassifier, BackpropRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)

X_CLF, Y_CLF = make_classification(n_samples=40, n_features=5, random_state=0)
X_REG, Y_REG = make_regression(n_samples=40, n_features=5, random_state=0)

# estimator, X, y, extra arguments of a first partial_fit
KINDS = {
    "clf": (BackpropClassifier, X_CLF, Y_CLF, {"classes": [0, 1]}),
    "reg": (BackpropRegressor, X_REG, Y_REG, {}),
}
CLF, REG = ("clf",), ("reg",)
BOTH = ("clf", "reg")

# how a row's arguments reach the estimator
FIT, PARTIAL_FIT, PARTIAL_FIT_AGAIN = "fit", "partial_fit", "partial_fit_again"
PREDICT, PREDICT_PROBA = "predict", "predict_proba"
TRAIN = (FIT, PARTIAL_FIT)
PREDICTION = (PREDICT, PREDICT_PROBA)  # predict_proba: classifier only


def _poke(a, value, index=3):
    """A float copy of ``a`` with ``value`` at flat position ``index``."""
    a = np.array(a, dtype=float)
    a.flat[index] = value
    return a


def _call(kind, method, X=None, y=None, sample_weight=None, params=None, pf_kwargs=None):
    """Run ``method`` of a fresh (or freshly fitted) estimator of ``kind``.

    Arguments left at None take the kind's good data; ``params`` go to the
    constructor, ``pf_kwargs`` replace the first partial_fit's ``classes=``.
    """
    Est, X0, y0, first_pf = KINDS[kind]
    X = X0 if X is None else X
    y = y0 if y is None else y
    est = Est(**{**TINY, **(params or {})})
    if method == FIT:
        return est.fit(X, y, sample_weight=sample_weight)
    if method == PARTIAL_FIT:
        pf = first_pf if pf_kwargs is None else pf_kwargs
        return est.partial_fit(X, y, sample_weight=sample_weight, **pf)
    if method == PARTIAL_FIT_AGAIN:
        est.partial_fit(X0, y0, **first_pf)
        return est.partial_fit(X, y, sample_weight=sample_weight, **(pf_kwargs or {}))
    est.fit(X0, y0)
    return getattr(est, method)(X)


def _expand(case, kinds, methods, match, **arguments):
    """Table rows of one case: one per estimator kind and applicable method.

    ``arguments`` go to ``_call``; a callable one is applied to the kind's
    good ``(X, y)`` to make the bad argument.
    """
    rows = []
    for kind in kinds:
        _, X0, y0, _ = KINDS[kind]
        kwargs = {name: value(X0, y0) if callable(value) else value for name, value in arguments.items()}
        for method in methods:
            if method == PREDICT_PROBA and kind != "clf":
                continue
            rows.append(
                pytest.param(
                    lambda kind=kind, method=method, kwargs=kwargs: _call(kind, method, **kwargs),
                    match,
                    id=f"{case}-{kind}-{method}",
                )
            )
    return rows


def _refused_values(param, values, case=None, kinds=BOTH, **params):
    """Rows of ``(value, name)`` pairs that the parameter validation refuses for ``param``.

    ``params`` are set beside it; ``case`` (default ``param``) prefixes each name.
    """
    rows = []
    for value, name in values:
        rows += _expand(
            f"{case or param}-{name}",
            kinds,
            TRAIN,
            f"The '{param}' parameter of Backprop(Classifier|Regressor) must be",
            params={param: value, **params},
        )
    return rows


ONES = np.ones(40)

TABLE = [
    # -- non-finite values ------------------------------------------------
    *_expand("nan-in-X", BOTH, TRAIN + PREDICTION, "Input X contains NaN", X=lambda X, y: _poke(X, np.nan)),
    *_expand(
        "inf-in-X", BOTH, TRAIN + PREDICTION, "Input X contains infinity", X=lambda X, y: _poke(X, np.inf)
    ),
    *_expand(
        "nan-in-sparse-X",
        BOTH,
        TRAIN + PREDICTION,
        "Input X contains NaN",
        X=lambda X, y: sparse.csr_matrix(_poke(X, np.nan)),
    ),
    *_expand(
        "minus-inf-in-X",
        BOTH,
        TRAIN + PREDICTION,
        "Input X contains infinity",
        X=lambda X, y: _poke(X, -np.inf),
    ),
    # the classifier's first partial_fit says "Input contains NaN"
    *_expand("nan-in-y", BOTH, TRAIN + (PARTIAL_FIT_AGAIN,), "contains NaN", y=lambda X, y: _poke(y, np.nan)),
    *_expand("inf-in-y", REG, TRAIN, "Input y contains infinity", y=lambda X, y: _poke(y, np.inf)),
    *_expand(
        "nan-in-sample_weight",
        BOTH,
        TRAIN,
        "Input sample_weight contains NaN",
        sample_weight=_poke(ONES, np.nan),
    ),
    *_expand(
        "inf-in-sample_weight",
        BOTH,
        TRAIN,
        "Input sample_weight contains infinity",
        sample_weight=_poke(ONES, np.inf),
    ),
    # -- sample weights ---------------------------------------------------
    *_expand(
        "sample_weight-too-short",
        BOTH,
        TRAIN,
        r"sample_weight.shape == \(39,\), expected \(40,\)",
        sample_weight=np.ones(39),
    ),
    *_expand(
        "sample_weight-too-long",
        BOTH,
        TRAIN,
        r"sample_weight.shape == \(41,\), expected \(40,\)",
        sample_weight=np.ones(41),
    ),
    *_expand(
        "sample_weight-negative",
        BOTH,
        TRAIN + (PARTIAL_FIT_AGAIN,),
        "Negative values in data passed to `sample_weight`",
        sample_weight=_poke(ONES, -1.0),
    ),
    *_expand(
        "sample_weight-all-zero",
        BOTH,
        TRAIN + (PARTIAL_FIT_AGAIN,),
        "Sample weights must contain at least one non-zero number",
        sample_weight=np.zeros(40),
    ),
    *_expand(
        "sample_weight-all-zero-lbfgs",
        BOTH,
        (FIT,),
        "Sample weights must contain at least one non-zero number",
        sample_weight=np.zeros(40),
        params={"solver": "lbfgs"},
    ),
    # -- shape and type of X ----------------------------------------------
    *_expand(
        "wrong-n-features",
        BOTH,
        (PARTIAL_FIT_AGAIN,) + PREDICTION,
        "X has 4 features, but Backprop(Classifier|Regressor) is expecting 5 features",
        X=lambda X, y: X[:, :4],
    ),
    *_expand(
        "too-many-features",
        BOTH,
        (PARTIAL_FIT_AGAIN,) + PREDICTION,
        "X has 10 features, but Backprop(Classifier|Regressor) is expecting 5 features",
        X=lambda X, y: np.hstack([X, X]),
    ),
    *_expand("X-1d", BOTH, TRAIN + PREDICTION, "Expected 2D array, got 1D array", X=lambda X, y: X[:, 0]),
    *_expand("X-3d", BOTH, TRAIN + PREDICTION, "Found array with dim 3", X=lambda X, y: X[:, :, None]),
    *_expand(
        "X-scalar", BOTH, PREDICTION, "Expected 2D array, got scalar array", X=lambda X, y: np.float64(3)
    ),
    *_expand(
        "X-0-rows",
        BOTH,
        TRAIN + PREDICTION,
        r"Found array with 0 sample\(s\)",
        X=lambda X, y: X[:0],
        y=lambda X, y: y[:0],
    ),
    *_expand(
        "X-0-features",
        BOTH,
        TRAIN + PREDICTION,
        r"Found array with 0 feature\(s\)",
        X=lambda X, y: np.empty((len(X), 0)),
    ),
    *_expand(
        "X-object-strings",
        BOTH,
        TRAIN + PREDICTION,
        "could not convert string to float: 'a'",
        X=lambda X, y: np.full(X.shape, "a", dtype=object),
    ),
    *_expand(
        "X-a-string",
        BOTH,
        TRAIN + PREDICTION,
        "could not convert string to float: 'hello'",
        X="hello",
    ),
    *_expand(
        "X-complex",
        BOTH,
        TRAIN + PREDICTION,
        "Complex data not supported",
        X=lambda X, y: X.astype(complex),
    ),
    *_expand(
        "X-y-different-lengths",
        BOTH,
        TRAIN + (PARTIAL_FIT_AGAIN,),
        r"inconsistent numbers of samples: \[40, 30\]",
        y=lambda X, y: y[:30],
    ),
    # -- targets --------------------------------------------------------
    *_expand(
        "poisson-negative-y",
        REG,
        TRAIN,
        "loss='poisson' needs non-negative targets",
        params={"loss": "poisson"},
    ),
    *_expand(
        "poisson-negative-y-lbfgs",
        REG,
        (FIT,),
        "loss='poisson' needs non-negative targets",
        params={"loss": "poisson", "solver": "lbfgs"},
    ),
    *_expand("y-complex", REG, TRAIN, "Complex data not supported", y=lambda X, y: y.astype(complex)),
    # -- robust losses: delta > 0; quantile a float in (0, 1) or a non-empty
    # list of distinct ones, checked whatever the loss (as the constraints are)
    *[
        row
        for loss, param, value, name, bounds in [
            ("huber", "delta", -1.0, "negative", "0.0, inf"),
            ("huber", "delta", np.nan, "nan", "0.0, inf"),
            ("huber", "delta", "1", "string", "0.0, inf"),
            ("quantile", "quantile", 0.0, "zero", "0.0, 1.0"),
            ("quantile", "quantile", 1.0, "one", "0.0, 1.0"),
            ("quantile", "quantile", -0.5, "negative", "0.0, 1.0"),
            ("quantile", "quantile", np.nan, "nan", "0.0, 1.0"),
            ("quantile", "quantile", "0.5", "string", "0.0, 1.0"),
        ]
        for row in _expand(
            f"{loss}-{param}-{name}",
            REG,
            TRAIN,
            rf"The '{param}' parameter of BackpropRegressor must be a float in the range \({bounds}\)",
            params={"loss": loss, param: value},
        )
    ],
    *[
        row
        for value, name, loss in [
            ([], "empty-list", "quantile"),
            (np.array([]), "empty-array", "quantile"),
            ([0.1, 0.5, 0.1], "duplicates", "quantile"),
            ([0.5, 1.0], "list-with-one", "quantile"),
            ([0.0, 0.5], "list-with-zero", "quantile"),
            ([0.5, np.nan], "list-with-nan", "quantile"),
            (["0.5"], "list-with-string", "quantile"),
            ([True], "list-with-bool", "quantile"),
            ([[0.1, 0.9]], "nested-list", "quantile"),
            ([], "empty-list-unused", "squared_error"),
        ]
        for row in _expand(
            f"quantile-{name}",
            REG,
            TRAIN,
            "The 'quantile' parameter of BackpropRegressor must be a float in \\(0, 1\\) or a non-empty "
            "list of distinct floats in \\(0, 1\\); got",
            params={"loss": loss, "quantile": value},
        )
    ],
    *_expand(
        "quantile-lbfgs-duplicates",
        REG,
        (FIT,),
        "The 'quantile' parameter of BackpropRegressor must be",
        params={"loss": "quantile", "solver": "lbfgs", "quantile": [0.3, 0.3]},
    ),
    *_expand(
        "y-continuous-for-classifier",
        CLF,
        (FIT, PARTIAL_FIT_AGAIN),
        "Unknown label type",
        y=Y_REG,
    ),
    *_expand(
        "class_weight-negative",
        CLF,
        TRAIN,
        r"class_weight must hold finite, non-negative weights; got \{0: -1.0\}",
        params={"class_weight": {0: -1.0}},
    ),
    *_expand(
        "class_weight-unknown-class",
        CLF,
        TRAIN,
        r"class_weight names labels that are not classes: \[7\]; the classes are \[0 1\]",
        params={"class_weight": {0: 1.0, 7: 2.0}},
    ),
    *_expand(
        "class_weight-balanced-partial_fit",
        CLF,
        (PARTIAL_FIT,),
        "class_weight='balanced' is not supported by partial_fit",
        params={"class_weight": "balanced"},
    ),
    *_expand(
        "class_weight-list-for-one-column",
        CLF,
        TRAIN,
        r"class_weight must be a dict of label: weight; got \[\{0: 1.0\}\]",
        params={"class_weight": [{0: 1.0}]},
    ),
    *_expand(
        "class_weight-multilabel-list-too-short",
        CLF,
        (FIT,),
        r"For a multilabel target class_weight must be 'balanced' or a list of 2 dicts, one per label; "
        r"got \[\{0: 1.0\}\]",
        y=lambda X, y: np.column_stack([y, 1 - y]),
        params={"class_weight": [{0: 1.0}]},
    ),
    *_expand(
        "class_weight-multilabel-one-dict",
        CLF,
        (FIT,),
        "For a multilabel target class_weight must be 'balanced' or a list of 2 dicts",
        y=lambda X, y: np.column_stack([y, 1 - y]),
        params={"class_weight": {0: 1.0}},
    ),
    *_expand(
        "class_weight-multilabel-unknown-value",
        CLF,
        (FIT,),
        r"class_weight\[1\] names labels that are not classes: \[2\]; the classes are \[0 1\]",
        y=lambda X, y: np.column_stack([y, 1 - y]),
        params={"class_weight": [{0: 1.0}, {2: 3.0}]},
    ),
    *_expand(
        "label-outside-classes",
        CLF,
        (PARTIAL_FIT, PARTIAL_FIT_AGAIN),
        r"`y` has classes not in `self.classes_`. `self.classes_` has \[0 1\]. 'y' has \[0 1 7\]",
        y=_poke(Y_CLF, 7).astype(int),
    ),
    *_expand(
        "no-classes-on-first-call",
        CLF,
        (PARTIAL_FIT,),
        "classes must be passed on the first call to partial_fit",
        pf_kwargs={},
    ),
    *_expand(
        "classes-changed-on-later-call",
        CLF,
        (PARTIAL_FIT_AGAIN,),
        r"`classes=\[0, 1, 2\]` is not the same as on last call to partial_fit",
        pf_kwargs={"classes": [0, 1, 2]},
    ),
    *_expand(
        "multiclass-multioutput-y",
        CLF,
        (FIT, PARTIAL_FIT),
        "does not support multiclass-multioutput targets",
        y=np.random.RandomState(0).randint(0, 3, (40, 2)),
        pf_kwargs={"classes": [0, 1, 2]},
    ),
    # -- architecture -----------------------------------------------------
    *_expand(
        "hidden-zero",
        BOTH,
        TRAIN,
        r"hidden_layer_sizes must be > 0, got \[0\]",
        params={"hidden_layer_sizes": (0,)},
    ),
    *_expand(
        "hidden-second-layer-zero",
        BOTH,
        TRAIN,
        r"hidden_layer_sizes must be > 0, got \[4, 0\]",
        params={"hidden_layer_sizes": (4, 0)},
    ),
    *_expand(
        "hidden-negative",
        BOTH,
        TRAIN,
        r"hidden_layer_sizes must be > 0, got \[-3\]",
        params={"hidden_layer_sizes": (-3,)},
    ),
    *_expand(
        "hidden-non-integer",
        BOTH,
        TRAIN,
        r"hidden_layer_sizes must hold integers, got \[2.5\]",
        params={"hidden_layer_sizes": (2.5,)},
    ),
    *_expand(
        "activation-list-too-long",
        BOTH,
        TRAIN,
        r"activation must hold one name per hidden layer, 1 here \(hidden_layer_sizes=\(4,\)\), "
        r"or be a single name for all of them; got 2 names: \['relu', 'gelu'\]",
        params={"activation": ["relu", "gelu"]},
    ),
    *_expand(
        "activation-list-too-short",
        BOTH,
        TRAIN,
        r"activation must hold one name per hidden layer, 2 here .* got 1 names: \('gelu',\)",
        params={"activation": ("gelu",), "hidden_layer_sizes": (4, 3)},
    ),
    *_expand(
        "activation-empty-list",
        BOTH,
        TRAIN,
        "activation must hold one name per hidden layer, 1 here .* got 0 names",
        params={"activation": []},
    ),
    *_expand(
        "activation-unknown-name-in-list",
        BOTH,
        TRAIN,
        r"activation must be a name or a list of names among \['elu', 'gelu', .*got \['swish'\]",
        params={"activation": ["swish"]},
    ),
    *_expand(
        "activation-non-string-in-list",
        BOTH,
        TRAIN,
        r"activation must be a name or a list of names among .*got \[None, 'relu'\]",
        params={"activation": [None, "relu"], "hidden_layer_sizes": (4, 3)},
    ),
    *_expand(
        "activation-unhashable-in-list",
        BOTH,
        TRAIN,
        r"activation must be a name or a list of names among .*got \[\['relu'\]\]",
        params={"activation": [["relu"]]},
    ),
    *_expand(
        "activation-a-set",
        BOTH,
        TRAIN,
        "The 'activation' parameter of Backprop(Classifier|Regressor) must be a str among",
        params={"activation": {"relu"}},
    ),
    *_expand(
        "hidden-string-element",
        BOTH,
        TRAIN,
        r"hidden_layer_sizes must hold integers, got \['4'\]",
        params={"hidden_layer_sizes": ("4",)},
    ),
]
TABLE += _refused_values(
    "hidden_layer_sizes",
    [(0, "zero"), (-1, "negative"), (2.5, "non-integer"), ("abc", "string")],
    case="hidden-scalar",
)
TABLE += _refused_values(
    "batch_size", [(0, "zero"), (-5, "negative"), (2.5, "non-integer"), ("big", "string")]
)
# -- weight decay, per-step schedules, gradient clipping ----------------------
for _param, _values in {
    "warmup_fraction": [(-0.1, "negative"), (1.0, "one"), (np.nan, "nan"), ("a", "string")],
    "weight_decay": [(-1e-3, "negative"), (np.inf, "inf"), (np.nan, "nan"), ("a", "string")],
    "max_grad_norm": [(0, "zero"), (-1.0, "negative"), (np.inf, "inf"), (np.nan, "nan"), ("a", "string")],
}.items():
    TABLE += _refused_values(
        _param, _values, **({"learning_rate": "warmup_cosine"} if _param == "warmup_fraction" else {})
    )
TABLE += _refused_values(
    "label_smoothing", [(-0.1, "negative"), (1.0, "one"), (np.nan, "nan"), ("a", "string")], kinds=CLF
)
TABLE += _expand(
    "early_stopping_metric=loss-lbfgs",
    BOTH,
    (FIT,),
    r"early_stopping_metric='loss' applies to the stochastic solvers only \(early stopping needs epochs\); "
    "solver='lbfgs' has none",
    params={"early_stopping_metric": "loss", "solver": "lbfgs"},
)
for _schedule in ("cosine", "warmup_cosine", "coslog4"):
    for _solver in ("sgd", "adam"):
        TABLE += _expand(
            f"learning_rate={_schedule}-{_solver}-partial_fit",
            BOTH,
            (PARTIAL_FIT,),
            f"partial_fit does not support learning_rate='{_schedule}'",
            params={"learning_rate": _schedule, "solver": _solver},
        )
    TABLE += _expand(
        f"learning_rate={_schedule}-lbfgs",
        BOTH,
        (FIT,),
        rf"learning_rate='{_schedule}' applies to the stochastic solvers \('sgd', 'adam'\) only, not to "
        "solver='lbfgs'",
        params={"learning_rate": _schedule, "solver": "lbfgs"},
    )
for _params, _match in [
    ({"weight_decay": 0.1}, "weight_decay=0.1"),
    ({"max_grad_norm": 1.0}, "max_grad_norm=1.0"),
    # several at once: the first is named
    ({"learning_rate": "cosine", "weight_decay": 0.1, "max_grad_norm": 1.0}, "learning_rate='cosine'"),
    ({"weight_decay": 0.1, "max_grad_norm": 1.0, "early_stopping": True}, "weight_decay=0.1"),
]:
    TABLE += _expand(
        "lbfgs-" + "-".join(f"{k}={v}" for k, v in _params.items()),
        BOTH,
        (FIT,),
        _match + r" applies to the stochastic solvers \('sgd', 'adam'\) only, not to solver='lbfgs'",
        params={**_params, "solver": "lbfgs"},
    )
# a schedule with partial_fit fails whatever else is on, and before any epoch
TABLE += _expand(
    "partial_fit-coslog4-with-weight_decay-and-clipping",
    BOTH,
    (PARTIAL_FIT,),
    "partial_fit does not support learning_rate='coslog4'",
    params={"learning_rate": "coslog4", "weight_decay": 0.1, "max_grad_norm": 1.0},
)
# -- the dropout and weight-decay schedules ------------------------------------
for _param in ("dropout_schedule", "weight_decay_schedule"):
    TABLE += _refused_values(
        _param, [("cosine", "lr-schedule"), ("FLAT_COS", "upper-case"), (1, "int"), (None, "none")]
    )
    for _solver in ("sgd", "adam"):
        TABLE += _expand(
            f"{_param}=flat_cos-{_solver}-partial_fit",
            BOTH,
            (PARTIAL_FIT,),
            f"partial_fit does not support {_param}='flat_cos'",
            params={_param: "flat_cos", "solver": _solver, "dropout": 0.1, "weight_decay": 0.1},
        )
    TABLE += _expand(
        f"{_param}=flat_cos-lbfgs",
        BOTH,
        (FIT,),
        rf"{_param}='flat_cos' applies to the stochastic solvers \('sgd', 'adam'\) only, not to solver='lbfgs'",
        params={_param: "flat_cos", "solver": "lbfgs"},
    )

# -- per-layer step sizes: Adam only -----------------------------------------------
for _param, _values in (
    ("learning_rate_scaling", [("fan_out", "other"), ("FAN_IN", "upper-case"), (1, "int")]),
    ("intercept_learning_rate_factor", [(0.0, "zero"), (-1.0, "negative"), ("0.1", "str")]),
):
    TABLE += _refused_values(_param, _values)
    _set = {_param: "fan_in" if _param == "learning_rate_scaling" else 0.1}
    for _solver in ("sgd", "lbfgs"):
        TABLE += _expand(
            f"{_param}-{_solver}",
            BOTH,
            (FIT,),
            rf"{_param}=.* applies to solver='adam' only, not to solver='{_solver}'",
            params={**_set, "solver": _solver},
        )

# -- input scaling, parametric activations: any solver; their step size factors Adam only --
for _option, _factor, _value in (
    ("input_scaling", "input_scale_learning_rate_factor", 6.0),
    ("parametric_activation", "activation_learning_rate_factor", 0.1),
):
    for _param, _values in (
        (_option, [("yes", "str"), (1, "int"), (None, "none")]),
        (_factor, [(0.0, "zero"), (-6.0, "negative"), ("6", "str"), (None, "none")]),
    ):
        TABLE += _refused_values(_param, _values)
    for _solver in ("sgd", "lbfgs"):
        TABLE += _expand(
            f"{_factor}-{_solver}",
            BOTH,
            (FIT,),
            rf"{_factor}={_value} applies to solver='adam' only, not to solver='{_solver}'",
            params={_option: True, _factor: _value, "solver": _solver},
        )


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NaN labels
@pytest.mark.parametrize("call, match", TABLE)
def test_bad_input_raises_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- every constrained parameter, one clearly invalid value each -------------

INVALID_PARAMETERS = {
    "hidden_layer_sizes": "abc",
    "activation": "sine",
    "solver": "newton",
    "alpha": -1,
    "batch_size": 0,
    "learning_rate": "fast",
    "learning_rate_init": 0,
    "power_t": -1,
    "max_iter": 0,
    "shuffle": "yes",
    "random_state": "seed",
    "tol": -1,
    "verbose": "loud",
    "warm_start": "yes",
    "momentum": 1.5,
    "nesterovs_momentum": "yes",
    "early_stopping": "yes",
    "validation_fraction": 1.0,
    "beta_1": 1.0,
    "beta_2": -0.1,
    "epsilon": 0,
    "n_iter_no_change": 0,
    "max_fun": 0,
    "early_stopping_metric": "auc",
    "loss": "hinge",  # regressor only; the classifier's loss is fixed
    "class_weight": "uniform",  # classifier only
    "label_smoothing": 1.0,  # classifier only
    "dropout": 1.0,
    "warmup_fraction": 1.0,
    "weight_decay": -1,
    "max_grad_norm": 0,
    "dropout_schedule": "cosine",
    "weight_decay_schedule": "flat",
    "learning_rate_scaling": "fan_out",
    "intercept_learning_rate_factor": 0.0,
    "input_scaling": "yes",
    "input_scale_learning_rate_factor": 0.0,
    "parametric_activation": "yes",
    "activation_learning_rate_factor": 0.0,
    "init": "he",
    "delta": 0.0,  # regressor only
    "quantile": 1.5,  # regressor only
}
ONLY_FOR = {
    "loss": BackpropRegressor,
    "class_weight": BackpropClassifier,
    "label_smoothing": BackpropClassifier,
    "delta": BackpropRegressor,
    "quantile": BackpropRegressor,
}


@pytest.mark.parametrize("Est", [BackpropClassifier, BackpropRegressor], ids=lambda E: E.__name__)
def test_invalid_parameter_table_covers_every_constraint(Est):
    expected = {name for name in INVALID_PARAMETERS if ONLY_FOR.get(name, Est) is Est}
    assert set(Est._parameter_constraints) == expected


PARAMETER_SWEEP = [
    pytest.param(kind, method, name, id=f"{name}={INVALID_PARAMETERS[name]!r}-{kind}-{method}")
    for kind in BOTH
    for name in sorted(KINDS[kind][0]._parameter_constraints)
    # an unknown solver has no partial_fit at all (AttributeError, as scikit-learn)
    for method in ((FIT,) if name == "solver" else TRAIN)
]


@pytest.mark.parametrize("kind, method, name", PARAMETER_SWEEP)
def test_invalid_parameter_value_is_named(kind, method, name):
    Est = KINDS[kind][0]
    with pytest.raises(ValueError, match=rf"The '{name}' parameter of {Est.__name__} must be"):
        _call(kind, method, params={name: INVALID_PARAMETERS[name]})


BAD_DROPOUT = [
    pytest.param(
        dict(dropout=[0.1, 0.2]), ValueError, r"one rate per hidden layer \(1\), got \[0.1, 0.2\]", id="too-many"
    ),
    pytest.param(dict(dropout=[[0.1]]), ValueError, "one rate per hidden layer", id="nested"),
    pytest.param(dict(dropout=[1.0]), ValueError, r"dropout rates must be in \[0, 1\), got 1.0", id="one"),
    pytest.param(dict(dropout=[np.nan]), ValueError, r"in \[0, 1\), got nan", id="nan"),
    pytest.param(dict(dropout=["0.1"]), TypeError, "must be real numbers, got '0.1'", id="string"),
    pytest.param(dict(dropout=[True]), TypeError, "must be real numbers, got True", id="bool"),
    pytest.param(
        dict(dropout=0.1, solver="lbfgs"), ValueError, "stochastic solvers only; solver='lbfgs'", id="lbfgs"
    ),
]


@pytest.mark.parametrize("params, error, match", BAD_DROPOUT)
@pytest.mark.parametrize("kind", BOTH)
def test_bad_dropout_is_named(kind, params, error, match):
    # lbfgs has no partial_fit
    for method in (FIT,) if params.get("solver") == "lbfgs" else TRAIN:
        with pytest.raises(error, match=match):
            _call(kind, method, params=params)


# -- mini-batches whose weights sum to zero are skipped ------------------------


def _sorted_by_class():
    order = np.argsort(Y_CLF, kind="stable")
    return X_CLF[order], Y_CLF[order]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", BOTH)
def test_zero_weight_first_batch_is_skipped(kind, solver):
    Est, X, y, _ = KINDS[kind]
    sw = np.ones(len(X))
    sw[:10] = 0
    params = dict(TINY, solver=solver, shuffle=False, batch_size=10)
    est = Est(**params).fit(X, y, sample_weight=sw)
    assert all(np.isfinite(a).all() for a in est.coefs_ + est.intercepts_)
    assert np.isfinite(est.loss_curve_).all()
    # skipping the batch is training on the other rows (same initial weights)
    rest = Est(**params).fit(X[10:], y[10:])
    for a, b in zip(est.coefs_ + est.intercepts_, rest.coefs_ + rest.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_zero_weight_on_a_whole_class(solver):
    # rows sorted by class, so with batch_size=10 the first batches hold only
    # class 0, whose weights are all zero
    X, y = _sorted_by_class()
    sw = np.where(y == 0, 0.0, 1.0)
    clf = BackpropClassifier(**TINY, solver=solver, shuffle=False, batch_size=10).fit(X, y, sample_weight=sw)
    assert all(np.isfinite(a).all() for a in clf.coefs_ + clf.intercepts_)
    assert np.isfinite(clf.loss_)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_zero_weight_batch_in_partial_fit():
    X, y = _sorted_by_class()
    sw = np.where(y == 0, 0.0, 1.0)
    clf = BackpropClassifier(**TINY, shuffle=False, batch_size=10)
    for _ in range(3):
        clf.partial_fit(X, y, sample_weight=sw, classes=[0, 1])
    assert all(np.isfinite(a).all() for a in clf.coefs_ + clf.intercepts_)
    assert np.isfinite(clf.loss_curve_).all()


@pytest.mark.parametrize("kind", BOTH)
def test_lbfgs_with_some_zero_weights(kind):
    Est, X, y, _ = KINDS[kind]
    sw = np.ones(len(X))
    sw[:10] = 0
    est = Est(**dict(TINY, solver="lbfgs", max_iter=20)).fit(X, y, sample_weight=sw)
    assert all(np.isfinite(a).all() for a in est.coefs_ + est.intercepts_)
    assert np.isfinite(est.loss_)


# -- networks too large for memory --------------------------------------------


@pytest.mark.parametrize(
    "method, solver",
    [(FIT, "adam"), (FIT, "sgd"), (FIT, "lbfgs"), (PARTIAL_FIT, "adam"), (PARTIAL_FIT, "sgd")],
)
@pytest.mark.parametrize("kind", BOTH)
def test_huge_network_is_refused_before_allocating(kind, method, solver):
    if fastbp._base._available_memory() is None:
        pytest.skip("available memory unknown on this platform")
    params = {"hidden_layer_sizes": (10**6, 10**6), "solver": solver}
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"would need about [\d,.]+ GiB of memory.*hidden_layer_sizes"):
            _call(kind, method, params=params)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20  # nothing of the ~8 TB was allocated


@pytest.mark.parametrize("gradient", [True, False])
@pytest.mark.parametrize("hidden", [(), (7,), (5, 3)])
def test_workspace_size_estimate_matches_the_workspace(hidden, gradient):
    # the memory check sizes workspaces before any exists; it must agree with them
    from fastbp._network import Network, workspace_nbytes

    units = [6, *hidden, 2]
    network = Network(units, "relu", "identity", np.float32)
    work = network.workspace(11, False, gradient=gradient)
    buffers = (work[0], work[1], work[2], work[4])  # work[3] holds the offsets
    assert workspace_nbytes(units, np.float32, 11, gradient=gradient) == sum(b.nbytes for b in buffers)


@pytest.mark.parametrize("method", TRAIN)
@pytest.mark.parametrize("kind", BOTH)
def test_memory_check_uses_available_memory(kind, method, monkeypatch):
    monkeypatch.setattr(fastbp._base, "_available_memory", lambda: 1024)
    with pytest.raises(
        ValueError, match=r"would need about [\d,.]+ KiB of memory .* but only 1.0 KiB is available"
    ):
        _call(kind, method)
    monkeypatch.setattr(fastbp._base, "_available_memory", lambda: None)  # unknown: train
    est = _call(kind, method)
    assert all(np.isfinite(a).all() for a in est.coefs_)


# -- predictions that overflow -----------------------------------------------


def _overflowing_rows(est, big):
    """Finite rows that drive each first-layer unit's pre-activation past the dtype's max.

    Row k is ``big * sign(coefs_[0][:, k])``; with 20 features every column
    has ``sum |w| > 2``, so ``z_k = big * sum |w| + b_k`` overflows.
    """
    W = est.coefs_[0]
    assert (np.abs(W).sum(axis=0) > 2).all()
    return np.ascontiguousarray(big * np.sign(W).T, dtype=W.dtype)


def _wide_data(target, dtype):
    X, y = make_classification(n_samples=60, n_features=20, n_informative=4, n_classes=3, random_state=0)
    rng = np.random.RandomState(0)
    targets = {
        "binary": y == 1,
        "multiclass": y,
        "multilabel": (X[:, :3] + 0.3 * rng.randn(60, 3) > 0).astype(int),
        "squared_error": X[:, 0] + X[:, 1],
        "poisson": np.exp(0.3 * X[:, 0]),
    }
    return X.astype(dtype), targets[target]


def _fit_wide(target, dtype):
    X, y = _wide_data(target, dtype)
    if target in ("squared_error", "poisson"):
        return BackpropRegressor(loss=target, **TINY).fit(X, y), X
    return BackpropClassifier(**TINY).fit(X, y), X


BIG = {np.float64: 1e308, np.float32: 3e38}

# scikit-learn's finiteness check sums X first, which overflows here
overflow_in_check = pytest.mark.filterwarnings("ignore:(overflow|invalid value) encountered:RuntimeWarning")


# C order takes predict's fast path (no validate_data); F order the full one
@overflow_in_check
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("target", ["squared_error", "poisson", "multiclass"])
def test_overflowing_prediction_raises(target, dtype, order):
    est, _ = _fit_wide(target, dtype)
    X_big = np.asarray(_overflowing_rows(est, BIG[dtype]), order=order)
    assert np.isfinite(X_big).all()
    with pytest.raises(ValueError, match="overflowed"):
        est.predict(X_big)
    if target == "multiclass":  # softmax of infinite logits is NaN
        for method in (est.predict_proba, est.predict_log_proba):
            with pytest.raises(ValueError, match="overflowed"):
                method(X_big)


@overflow_in_check
@pytest.mark.parametrize("target", ["binary", "multilabel"])
def test_overflowing_logistic_output_is_never_nan(target):
    # an infinite logit has a well-defined probability (0 or 1); a NaN one
    # (inf - inf) must raise. Either way no NaN reaches the caller.
    est, _ = _fit_wide(target, np.float64)
    X_big = _overflowing_rows(est, 1e308)
    for rows in (X_big, -X_big, np.vstack([X_big, -X_big])):
        try:
            proba = est.predict_proba(rows)
        except ValueError as error:
            assert "overflowed" in str(error)
        else:
            assert np.isfinite(proba).all()
            assert ((proba >= 0) & (proba <= 1)).all()


def _check_proba(est, X, rtol, sums_to_one):
    proba = est.predict_proba(X)
    assert proba.dtype == est.coefs_[0].dtype
    assert np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    if sums_to_one:
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=rtol)
    log_proba = est.predict_log_proba(X)
    assert not np.isnan(log_proba).any()
    assert np.isfinite(log_proba[proba > 0]).all()
    assert (log_proba[proba == 0] == -np.inf).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_input_scaled_by_1e30_gives_probabilities(target, dtype):
    est, X = _fit_wide(target, dtype)
    X_big = (X * dtype(1e30)).astype(dtype)
    assert np.isfinite(X_big).all()
    rtol = 1e-6 if dtype == np.float64 else 1e-5
    _check_proba(est, X_big, rtol, sums_to_one=target != "multilabel")
    assert est.predict(X_big).shape[0] == len(X)


LOGITS = {
    "binary": [[1e4], [-1e4]],
    "multiclass": [[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4 + 1], [1e4, 1e4 - 1, -1e4], [-1e4, 1e4, 1e4]],
    "multilabel": [[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, 1e4]],
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_logits_of_1e4_give_probabilities(target, dtype):
    est, X = _fit_wide(target, dtype)
    rtol = 1e-6 if dtype == np.float64 else 1e-5
    for logits in LOGITS[target]:
        # the output layer ignores its input: every row's pre-activation is ``logits``
        est.coefs_[-1][...] = 0
        est.intercepts_[-1][...] = logits
        _check_proba(est, X, rtol, sums_to_one=target != "multilabel")
    # logits that vary by row, from 0 up to +-1e4: carried by the relu unit
    # whose activation varies most, scaled so its largest value gives 1e4
    hidden = np.maximum(X @ est.coefs_[0] + est.intercepts_[0], 0)
    unit = hidden.max(axis=0).argmax()
    signs = np.resize([1.0, -1.0], est.n_outputs_)
    est.coefs_[-1][...] = 0
    est.coefs_[-1][unit] = signs * 1e4 / hidden[:, unit].max()
    est.intercepts_[-1][...] = 0
    _check_proba(est, X, rtol, sums_to_one=target != "multilabel")
    assert np.abs(est.predict_proba(X) - 0.5).max() > 0.49  # some rows are saturated


# -- divergence --------------------------------------------------------------


DIVERGED = (
    r"^Solver produced non-finite parameter weights\. The input data may contain large values "
    r"and need to be preprocessed\. Training stopped in epoch \d+ and kept the weights from "
    r"before it\. The learning rate .* scale the input"
)


def _all_finite(est):
    return all(np.isfinite(a).all() for a in est.coefs_ + est.intercepts_)


def test_divergence_in_fit_raises_and_keeps_finite_weights():
    X, y = X_REG * 1000, Y_REG * 1000
    reg = BackpropRegressor(
        hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10, max_iter=50, random_state=0
    )
    with pytest.raises(ValueError, match=DIVERGED):
        reg.fit(X, y)
    assert _all_finite(reg)
    assert 0 < reg.n_iter_ < 50
    assert np.isfinite(reg.predict(X_REG)).all()


def test_divergence_in_partial_fit_raises_and_keeps_finite_weights():
    X, y = X_REG * 1000, Y_REG * 1000
    reg = BackpropRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10, random_state=0)
    with pytest.raises(ValueError, match=DIVERGED):
        for _ in range(50):
            reg.partial_fit(X, y)
    assert _all_finite(reg)
    assert np.isfinite(reg.predict(X_REG)).all()


@pytest.mark.parametrize("n_classes", [2, 3])
def test_divergence_of_a_classifier(n_classes):
    X, y = make_classification(
        n_samples=60, n_features=5, n_informative=3, n_classes=n_classes, random_state=0
    )
    clf = BackpropClassifier(
        hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10, max_iter=50, random_state=0
    )
    with pytest.raises(ValueError, match=DIVERGED):
        clf.fit(X * 1e50, y)
    assert _all_finite(clf)
    assert np.isfinite(clf.predict_proba(X)).all()
    assert clf.predict(X).shape == y.shape


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("Estimator", [BackpropRegressor, BackpropClassifier])
def test_overflowing_input_is_blamed_not_the_learning_rate(Estimator, solver):
    """scikit-learn's sentence for every solver; no step size helps X of 1e308."""
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.randint(2, size=10) if Estimator is BackpropClassifier else rng.standard_normal(10)
    est = Estimator(solver=solver, learning_rate_init=1e-12, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as error:
            est.fit(X, y)
    message = str(error.value)
    assert message.startswith(
        "Solver produced non-finite parameter weights. The input data may contain large values "
        "and need to be preprocessed."
    )
    assert "learning rate" not in message and "Scale X" in message
    if solver != "lbfgs":
        assert "epoch 1 " in message and "even at freshly initialised weights" in message
    assert _all_finite(est)


def test_divergence_with_early_stopping_stops_and_keeps_the_best_epoch():
    """scikit-learn issue 29504: no error; the NaN score is recorded as a float."""
    params = dict(
        hidden_layer_sizes=(100,),
        activation="identity",
        solver="sgd",
        learning_rate_init=1,
        max_iter=20,
        early_stopping=True,
        random_state=0,
    )
    X, y = load_iris(return_X_y=True)
    reg = BackpropRegressor(**params)
    with pytest.warns(
        ConvergenceWarning, match=r"non-finite .* stopped in epoch \d+; the weights of the best"
    ):
        reg.fit(X, y)
    scores = reg.validation_scores_
    assert isinstance(scores[-1], float) and np.isnan(scores[-1])
    assert len(scores) == len(reg.loss_curve_) == reg.n_iter_ < 20
    assert _all_finite(reg) and np.isfinite(reg.predict(X)).all()
    # the kept weights are those of the best epoch: a fit that ends there
    # (and restores its own best) has the same ones
    best_epoch = int(np.nanargmax(scores)) + 1
    shorter = BackpropRegressor(**{**params, "max_iter": best_epoch})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        shorter.fit(X, y)
    for a, b in zip(reg.coefs_ + reg.intercepts_, shorter.coefs_ + shorter.intercepts_):
        np.testing.assert_array_equal(a, b)


# -- KeyboardInterrupt ---------------------------------------------------------


def _interrupt_on_call(original, n):
    """``original``, except that call ``n`` runs it and then raises KeyboardInterrupt."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(None)
        if len(calls) == n:
            original(*args, **kwargs)
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("kind", BOTH)
def test_keyboard_interrupt_during_epochs(kind, monkeypatch):
    Est, X, y, _ = KINDS[kind]
    wrapper = _interrupt_on_call(fastbp._backprop.run_epoch, 3)
    monkeypatch.setattr(fastbp._backprop, "run_epoch", wrapper)
    est = Est(**dict(TINY, max_iter=50))
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X, y)
    assert est.n_iter_ == 2
    assert _all_finite(est)
    assert np.isfinite(est.predict(X).astype(float)).all()


@pytest.mark.parametrize("kind", BOTH)
def test_keyboard_interrupt_during_lbfgs(kind, monkeypatch):
    Est, X, y, _ = KINDS[kind]
    original = fastbp._backprop.full_loss_grad_into
    calls = []

    def interrupt_on_fifth(*args, **kwargs):
        calls.append(None)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(fastbp._backprop, "full_loss_grad_into", interrupt_on_fifth)
    est = Est(**dict(TINY, solver="lbfgs", max_iter=50))
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X, y)
    assert len(calls) == 5
    assert _all_finite(est)
    assert np.isfinite(est.loss_)
    assert est.n_iter_ < 5
    assert np.isfinite(est.predict(X).astype(float)).all()


def test_real_sigint_during_fit():
    X, y = make_classification(n_samples=5000, n_features=20, random_state=0)
    params = dict(hidden_layer_sizes=(64,), max_iter=10000, tol=0, n_iter_no_change=10**6, random_state=0)
    BackpropClassifier(**dict(params, max_iter=1)).fit(X[:50], y[:50])  # kernels loaded
    clf = BackpropClassifier(**params)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.warns(UserWarning, match="interrupted"):
            clf.fit(X, y)
    except KeyboardInterrupt:  # escaped fit: fail the test, not the session
        pytest.fail("KeyboardInterrupt escaped fit")
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 5
    assert 0 < clf.n_iter_ < 10000
    assert _all_finite(clf)
    assert clf.score(X, y) > 0.8


# -- the caller's arrays are never modified, nor copied -----------------------


def _read_only(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


READ_ONLY_FITS = {
    "sgd": dict(solver="sgd"),
    "adam": dict(solver="adam"),
    "lbfgs": dict(solver="lbfgs"),
    "early_stopping": dict(early_stopping=True),
    "warm_start": dict(warm_start=True),
}


def _memmap_read_only(a, path):
    a = np.ascontiguousarray(a)
    a.tofile(path)
    return np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)


@pytest.mark.parametrize("source", ["setflags", "memmap"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("how", [*READ_ONLY_FITS, "partial_fit"])
@pytest.mark.parametrize("kind", BOTH)
def test_read_only_inputs_train_and_stay_unchanged(kind, how, dtype, source, tmp_path):
    Est, X, y, first_pf = KINDS[kind]
    sw = np.linspace(0.5, 2.0, len(X))
    arrays = X.astype(dtype), y, sw
    if source == "memmap":
        X_ro, y_ro, sw_ro = (_memmap_read_only(a, tmp_path / f"{i}.bin") for i, a in enumerate(arrays))
        assert isinstance(X_ro, np.memmap) and X_ro.flags.c_contiguous
    else:
        X_ro, y_ro, sw_ro = (_read_only(a) for a in arrays)
    copies = np.array(X_ro), np.array(y_ro), np.array(sw_ro)
    if how == "partial_fit":
        est = Est(**TINY)
        est.partial_fit(X_ro, y_ro, sample_weight=sw_ro, **first_pf)
        est.partial_fit(X_ro, y_ro, sample_weight=sw_ro)
    else:
        est = Est(**TINY, **READ_ONLY_FITS[how])
        est.fit(X_ro, y_ro, sample_weight=sw_ro)
        est.fit(X_ro, y_ro, sample_weight=sw_ro)  # a second fit (warm with warm_start)
    assert _all_finite(est)
    est.predict(X_ro)
    for a, b in zip((X_ro, y_ro, sw_ro), copies):
        np.testing.assert_array_equal(a, b)
        assert not a.flags.writeable


@pytest.fixture(scope="module")
def memmapped(tmp_path_factory):
    X, y = make_classification(n_samples=20000, n_features=50, random_state=0)
    path = tmp_path_factory.mktemp("memmap") / "X.f8"
    X.tofile(path)
    X_map = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    assert X_map.flags.c_contiguous and not X_map.flags.writeable
    return X_map, X, y


@pytest.mark.parametrize("early_stopping", [False, True], ids=["plain", "early_stopping"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("kind", BOTH)
def test_memmap_trains_without_copying_X(memmapped, kind, solver, early_stopping):
    X_map, X, y = memmapped
    Est = KINDS[kind][0]
    target = y if kind == "clf" else X[:, 0] + X[:, 1]
    params = dict(
        hidden_layer_sizes=(8,), max_iter=1, solver=solver, early_stopping=early_stopping, random_state=0
    )
    Est(**params).fit(X_map[:200], target[:200])  # kernels loaded, outside the trace

    tracemalloc.start()
    try:
        np.array(X_map[:1000])  # numpy reports its allocations to tracemalloc
        assert tracemalloc.get_traced_memory()[1] >= X_map[:1000].nbytes
        tracemalloc.reset_peak()
        est = Est(**params).fit(X_map, target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < X_map.nbytes / 2, (
        f"fit traced {peak / 2**20:.1f} MiB for a {X_map.nbytes / 2**20:.1f} MiB X"
    )
    np.testing.assert_array_equal(X_map, X)
    assert _all_finite(est)
    assert est.predict(X_map[:10]).shape[0] == 10


# -- values that overflow only once cast to the model's dtype ----------------


@pytest.mark.parametrize("method", ["partial_fit", "warm_start"])
def test_float64_input_too_large_for_a_float32_model(method):
    est = BackpropRegressor(**TINY, warm_start=method == "warm_start")
    est.fit(X_REG.astype(np.float32), Y_REG)
    before = est.coefs_[0].copy()
    X_big = _poke(X_REG, 1e39)  # finite in float64, inf in float32
    train = est.partial_fit if method == "partial_fit" else est.fit
    with pytest.raises(ValueError, match="X has values too large for float32"):
        train(X_big, Y_REG)
    np.testing.assert_array_equal(est.coefs_[0], before)


def test_targets_too_large_for_float32_input():
    with pytest.raises(ValueError, match="y has values too large for float32"):
        BackpropRegressor(**TINY).fit(X_REG.astype(np.float32), _poke(Y_REG, 1e300))


@pytest.mark.parametrize("kind", BOTH)
def test_sample_weight_whose_sum_overflows(kind):
    with pytest.raises(ValueError, match="sum of sample_weight overflows"):
        _call(kind, FIT, sample_weight=np.full(40, 1e308))
