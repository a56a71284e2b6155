"""The tabular presets: scikit-learn's contract, the recipe they pass on, their preprocessing.

- scikit-learn's estimator checks, with the three that do not hold marked
  and explained;
- a preset's network is exactly a BackpropClassifier/Regressor with the
  recipe's parameters trained on the preset's preprocessed columns;
- numeric NaN: median and indicator; small categories one-hot and scaled,
  large ones sparse one-hot; unknown categories; the ways to mark a column
  categorical;
- regression targets standardised and predictions clamped.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastbp import BackpropClassifier, BackpropRegressor, TabularClassifier, TabularRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(hidden_layer_sizes=(32,), max_iter=50, dtype="float64", random_state=0)
_UNWEIGHTED = (
    "the preprocessing statistics (medians, quantiles, categories) and the validation split count "
    "rows, not weights, so weights are not repeated rows"
)
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": _UNWEIGHTED,
    "check_sample_weight_equivalence_on_sparse_data": _UNWEIGHTED,
    "check_class_weight_classifiers": (
        "best-epoch selection on the class-weighted validation accuracy: with class 0 carrying all "
        "the weight, an early epoch scores ~1 and is kept, before the network predicts class 0 "
        "everywhere, which the check expects"
    ),
}


@parametrize_with_checks(
    [TabularClassifier(**SMALL), TabularRegressor(**SMALL)],
    expected_failed_checks=lambda est: {
        k: v for k, v in EXPECTED_FAILURES.items() if isinstance(est, TabularClassifier) or "class_weight" not in k
    },
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _table(n=300, seed=0):
    """Numeric (with NaN), a small categorical, a large string column and a bool column."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "small": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "large": rng.choice([f"id{i}" for i in range(25)], n),
            "flag": rng.random(n) < 0.3,
            "z": rng.exponential(size=n),
        }
    )
    df.loc[::9, "x"] = np.nan
    y = ((df["x"].fillna(0) + (df["small"] == "a") - df["flag"]) > 0).to_numpy().astype(int)
    return df, y


def test_network_is_a_backprop_estimator_on_the_preprocessed_columns():
    df, y = _table()
    model = TabularClassifier(**SMALL).fit(df, y)
    Xt = model.preprocessor_.transform(df)
    params = model.estimator_.get_params()
    for name, value in dict(
        activation="selu", beta_2=0.95, learning_rate="coslog4", dropout=0.15, label_smoothing=0.1,
        dropout_schedule="flat_cos", weight_decay_schedule="flat_cos",
        weight_decay=0.02, learning_rate_scaling="fan_in", intercept_learning_rate_factor=0.1, input_scaling=True,
        input_scale_learning_rate_factor=6.0, early_stopping=True, validation_fraction=0.2, n_iter_no_change=np.inf, alpha=0.0,
        batch_size=256,
    ).items():  # fmt: skip
        assert params[name] == value, name
    reference = BackpropClassifier(**params).fit(Xt, y)
    np.testing.assert_array_equal(model.predict_proba(df), reference.predict_proba(Xt))
    for ours, theirs in zip(model.coefs_, reference.coefs_):
        np.testing.assert_array_equal(ours, theirs)


def test_preprocessing_of_missing_small_and_large_categories():
    df, y = _table()
    before = df.copy()
    model = TabularClassifier(**SMALL).fit(df, y)
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is untouched
    np.testing.assert_array_equal(model.categorical_features_, [False, True, True, True, False])
    Xt = model.preprocessor_.transform(df)
    # dense: x, z, x's missing indicator, 3 + 2 one-hot columns; sparse: 25 ids
    assert sp.issparse(Xt) and Xt.shape == (300, 8 + 25)
    dense = Xt[:, :8].toarray()
    assert np.all(np.isfinite(dense)) and np.all(np.abs(dense) < 3.0)  # smooth clip's bound
    large = Xt[:, 8:].toarray()
    np.testing.assert_array_equal(large.sum(axis=1), 1.0)  # one id per row, unscaled
    # an unseen category and a missing value at predict time
    new = df.iloc[:2].copy()
    new["large"] = ["never-seen", "id3"]
    new.loc[new.index[0], "x"] = np.nan
    out = model.preprocessor_.transform(new)[:, 8:].toarray()
    np.testing.assert_array_equal(out.sum(axis=1), [0.0, 1.0])
    assert model.predict(new).shape == (2,)


def test_imputation_takes_the_median_of_the_training_rows():
    df, y = _table()
    model = TabularClassifier(**SMALL).fit(df, y)
    imputer = model.preprocessor_.named_transformers_["dense"][0].named_transformers_["numeric"]
    np.testing.assert_allclose(imputer.statistics_, [df["x"].median(), df["z"].median()])
    # one per input column, NaN for the categorical ones
    nan = np.nan
    np.testing.assert_allclose(model.imputation_medians_, [df["x"].median(), nan, nan, nan, df["z"].median()])


def test_the_networks_scales_and_activation_mixes_are_fitted_attributes():
    df, y = _table()
    model = TabularClassifier(**SMALL).fit(df, y)
    assert model.input_scale_ is model.estimator_.input_scale_
    assert model.input_scale_.shape == (model.estimator_.n_features_in_,)
    assert not np.all(model.input_scale_ == 1)  # trained from 1
    assert [m.shape for m in model.activation_mix_] == [(n,) for n in SMALL["hidden_layer_sizes"]]
    assert model.activation_mix_[0] is model.estimator_.activation_mix_[0]
    plain = TabularClassifier(**SMALL, input_scaling=False, parametric_activation=False).fit(df, y)
    assert not hasattr(plain, "input_scale_") and not hasattr(plain, "activation_mix_")
    with pytest.raises(NotFittedError):
        TabularClassifier().input_scale_


@pytest.mark.parametrize("how", ["names", "indices", "mask"])
def test_categorical_columns_marked_by_hand(how):
    df, y = _table()
    # integer codes in the categories' sorted order, so the one-hot columns come in the same order
    codes = df.assign(
        small=df["small"].cat.codes, large=pd.Categorical(df["large"]).codes, flag=df["flag"].astype(int)
    )
    marked = {"names": ["small", "large", "flag"], "indices": [1, 2, 3], "mask": [False, True, True, True, False]}[how]
    by_hand = TabularClassifier(categorical_features=marked, **SMALL).fit(codes, y)
    by_dtype = TabularClassifier(**SMALL).fit(df, y)
    np.testing.assert_array_equal(by_hand.categorical_features_, by_dtype.categorical_features_)
    np.testing.assert_allclose(by_hand.predict_proba(codes), by_dtype.predict_proba(df), rtol=1e-10)


@pytest.mark.parametrize(
    "marked, message",
    [(["nope"], "not a column"), ([7], "not a column index"), ([True, False], "one entry per column")],
)
def test_bad_categorical_features_are_refused(marked, message):
    df, y = _table()
    with pytest.raises(ValueError, match=message):
        TabularClassifier(categorical_features=marked, **SMALL).fit(df, y)


def test_arrays_without_categories_and_float32_by_default():
    X, y = load_wine(return_X_y=True)
    model = TabularClassifier(hidden_layer_sizes=(32,), max_iter=100, random_state=0).fit(X, y)
    assert model.coefs_[0].dtype == np.float32 and model.coefs_[0].shape == (13, 32)
    assert model.score(X, y) > 0.9


def test_regressor_standardises_targets_and_clamps_predictions():
    X, y = load_diabetes(return_X_y=True)
    model = TabularRegressor(**SMALL).fit(X, y)
    np.testing.assert_allclose([model.target_mean_[0], model.target_scale_[0]], [y.mean(), y.std()])
    raw = model.estimator_.predict(model.preprocessor_.transform(X)) * y.std() + y.mean()
    pred = model.predict(X)
    np.testing.assert_allclose(pred, np.clip(raw, y.min(), y.max()), rtol=1e-12)
    far = X * 50  # far outside the training rows: the clamp holds
    assert np.all((model.predict(far) >= y.min()) & (model.predict(far) <= y.max()))
    unclamped = clone(model).set_params(clamp_output=False).fit(X, y)
    assert unclamped.predict(far).max() > y.max() or unclamped.predict(far).min() < y.min()


def test_regressor_two_targets():
    X, y = load_diabetes(return_X_y=True)
    Y = np.column_stack([y, -2 * y])
    model = TabularRegressor(**SMALL).fit(X, Y)
    assert model.predict(X).shape == (X.shape[0], 2)
    np.testing.assert_allclose(model.target_mean_, Y.mean(axis=0))


def test_sample_weight_and_class_weight_reach_the_network():
    df, y = _table()
    weights = np.where(y == 1, 3.0, 1.0)
    weighted = TabularClassifier(**SMALL).fit(df, y, sample_weight=weights)
    balanced = TabularClassifier(class_weight={0: 1.0, 1: 3.0}, **SMALL).fit(df, y)
    np.testing.assert_allclose(weighted.predict_proba(df), balanced.predict_proba(df), rtol=1e-10)
    plain = TabularClassifier(**SMALL).fit(df, y)
    assert not np.allclose(plain.predict_proba(df), weighted.predict_proba(df))


def test_sparse_input_goes_to_the_network_as_it_is():
    X, y = load_wine(return_X_y=True)
    Xs = sp.csr_matrix(X / X.max(axis=0))
    model = TabularClassifier(**SMALL).fit(Xs, y)
    assert model.preprocessor_ is None
    reference = BackpropClassifier(**model.estimator_.get_params()).fit(Xs, y)
    np.testing.assert_array_equal(model.predict_proba(Xs), reference.predict_proba(Xs))


def test_grid_search_over_the_recipe():
    X, y = load_wine(return_X_y=True)
    search = GridSearchCV(
        TabularClassifier(hidden_layer_sizes=(16,), max_iter=10, random_state=0), {"dropout": [0.0, 0.15]}, cv=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert set(search.cv_results_["param_dropout"]) == {0.0, 0.15}


def test_fit_refuses_too_few_rows():
    with pytest.raises(ValueError, match="validation split"):
        TabularRegressor(**SMALL).fit(np.ones((1, 3)), [1.0])
    with pytest.raises(ValueError, match="NaN or infinity"):
        TabularRegressor(**SMALL).fit(np.ones((4, 3)), [1.0, np.nan, 2.0, 3.0])


@pytest.mark.parametrize("Preset", [TabularClassifier, TabularRegressor])
def test_onnx_export_is_refused_with_the_reason(Preset):
    skl2onnx = pytest.importorskip("skl2onnx")
    import fastbp.onnx  # noqa: F401  (registers the converters)

    X, y = load_wine(return_X_y=True)
    model = Preset(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    with pytest.raises(NotImplementedError, match=f"{Preset.__name__} has no ONNX converter yet"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32))


def test_saved_and_loaded_with_skops():
    sio = pytest.importorskip("skops.io")
    import fastbp

    df, y = _table()
    model = TabularClassifier(**SMALL).fit(df, y)
    loaded = sio.loads(sio.dumps(model), trusted=fastbp.SKOPS_TRUSTED)
    np.testing.assert_array_equal(loaded.predict_proba(df), model.predict_proba(df))
