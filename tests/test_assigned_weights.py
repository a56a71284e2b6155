"""Weights assigned by the user: ``coefs_``/``intercepts_`` lists and their items.

scikit-learn's MLP keeps its weights in plain lists that users (and its
own tests) assign, whole or item by item, on fitted and unfitted models,
for example to start training from a custom initialisation. fastbp keeps
them as views into one parameter vector; assigned arrays are copied into
it before the next prediction or training step. scikit-learn, given the
same weights, is the oracle.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropClassifier, BackpropRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RTOL, ATOL = 1e-12, 1e-14


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _custom_weights(units, seed):
    rng = np.random.RandomState(seed)
    coefs = [rng.normal(scale=0.5, size=(a, b)) for a, b in zip(units[:-1], units[1:])]
    intercepts = [rng.normal(scale=0.1, size=b) for b in units[1:]]
    return coefs, intercepts


def _assert_same_weights(ours, theirs):
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def _assign_items(est, coefs, intercepts):
    """scikit-learn's test_fit idiom: placeholder lists, then item assignment."""
    est.coefs_ = [0] * len(coefs)
    est.intercepts_ = [0] * len(intercepts)
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        est.coefs_[i] = coef.copy()
        est.intercepts_[i] = intercept.copy()


def test_unfitted_model_names_the_missing_attribute():
    with pytest.raises(AttributeError, match="coefs_"):
        BackpropClassifier().coefs_
    with pytest.raises(AttributeError, match="intercepts_"):
        BackpropRegressor().intercepts_


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_of_an_unfitted_model_starts_from_assigned_weights(iris, solver):
    X, y = iris
    coefs, intercepts = _custom_weights([4, 6, 3], seed=0)
    params = dict(solver=solver, hidden_layer_sizes=(6,), learning_rate_init=0.05, random_state=0)
    theirs = MLPClassifier(**params)
    ours = BackpropClassifier(**params)
    for est in (theirs, ours):
        _assign_items(est, coefs, intercepts)
        # the bookkeeping scikit-learn needs for a non-first partial_fit
        # (fastbp fills in what is missing itself)
        if est is theirs:
            est.n_outputs_, est.n_layers_, est.out_activation_ = 3, 3, "softmax"
            est.t_, est.n_iter_, est.best_loss_, est.loss_curve_ = 0, 0, np.inf, []
            est._no_improvement_count = 0
        for _ in range(5):
            est.partial_fit(X, y, classes=[0, 1, 2])
    _assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-10)
    # the weights are views into the parameter vector again
    for layer in ours.coefs_ + ours.intercepts_:
        assert np.shares_memory(layer, ours._network.params)


@pytest.mark.parametrize("how", ["item", "whole list"])
def test_weights_assigned_after_a_fit_are_predicted_and_trained_from(iris, how):
    X, y = iris
    params = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=1, warm_start=True)
    theirs = MLPRegressor(**params).fit(X, y)
    ours = BackpropRegressor(**params).fit(X, y)
    coefs, intercepts = _custom_weights([4, 5, 1], seed=2)
    for est in (theirs, ours):
        if how == "item":
            for i in range(2):
                est.coefs_[i] = coefs[i].copy()
                est.intercepts_[i] = intercepts[i].copy()
        else:
            est.coefs_ = [c.copy() for c in coefs]
            est.intercepts_ = [b.copy() for b in intercepts]
    # predict sees the assignment at once (it used to keep the old weights)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=RTOL, atol=ATOL)
    # warm_start continues from the assigned weights, for 20 more epochs
    for est in (theirs, ours):
        est.set_params(max_iter=20).fit(X, y)
    _assert_same_weights(ours, theirs)


def test_lbfgs_warm_start_from_assigned_weights(iris):
    X, y = iris
    params = dict(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=15, random_state=0, warm_start=True)
    theirs = MLPClassifier(**params).fit(X, y)
    ours = BackpropClassifier(**params).fit(X, y)
    coefs, intercepts = _custom_weights([4, 4, 3], seed=3)
    for est in (theirs, ours):
        est.coefs_[0] = coefs[0].copy()
        est.intercepts_[1] = intercepts[1].copy()
        est.fit(X, y)
    # L-BFGS amplifies rounding over its line searches: rounding-level agreement
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_in_place_edits_of_the_views_still_write_through(iris):
    X, y = iris
    clf = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    clf.coefs_[-1][...] = 0
    clf.intercepts_[-1][...] = [0.0, 5.0, 0.0]
    assert (clf.predict(X) == 1).all()


def test_assigned_weights_survive_pickling_before_any_prediction(iris):
    X, y = iris
    clf = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    coefs, _ = _custom_weights([4, 5, 3], seed=4)
    clf.coefs_[1] = coefs[1]
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.coefs_[1], coefs[1])
    for layer in loaded.coefs_ + loaded.intercepts_:
        assert np.shares_memory(layer, loaded._network.params)


def test_a_float32_model_stays_float32_after_assignment(iris):
    X, y = iris
    X32 = X.astype(np.float32)
    clf = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0, warm_start=True)
    clf.fit(X32, y)
    clf.coefs_[0] = np.ones((4, 5))  # float64 values into a float32 model
    assert clf.predict_proba(X32).dtype == np.float32
    assert all(a.dtype == np.float32 for a in clf.coefs_ + clf.intercepts_)
    clf.fit(X32, y)
    assert all(a.dtype == np.float32 for a in clf.coefs_ + clf.intercepts_)


def test_new_layer_sizes_are_read_off_the_shapes(iris):
    X, y = iris
    clf = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0, warm_start=True)
    clf.fit(X, y)
    coefs, intercepts = _custom_weights([4, 7, 3], seed=5)
    clf.coefs_, clf.intercepts_ = coefs, intercepts
    # predict follows the new shapes
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)
    assert clf._network.units.tolist() == [4, 7, 3]
    # training them needs hidden_layer_sizes to agree
    with pytest.raises(ValueError, match=r"same architecture.*\[4, 7, 3\].*\[4, 5, 3\]"):
        clf.fit(X, y)
    clf.set_params(hidden_layer_sizes=(7,)).fit(X, y)
    assert clf.coefs_[0].shape == (4, 7)


@pytest.mark.parametrize(
    "coefs, intercepts, match",
    [
        ([0, np.zeros((5, 3))], [np.zeros(5), np.zeros(3)], r"coefs_\[0\] must be a non-empty 2-D array"),
        ([np.zeros((4, 5)), np.zeros((4, 3))], [np.zeros(5), np.zeros(3)], "do not chain"),
        ([np.zeros((4, 5)), np.zeros((5, 3))], [np.zeros(4), np.zeros(3)], "do not chain"),
        ([np.zeros((4, 5)), np.zeros((5, 3))], [np.zeros(5)], "one array per layer"),
        ([np.full((4, 5), np.nan), np.zeros((5, 3))], [np.zeros(5), np.zeros(3)], "NaN or infinity"),
        ([np.zeros((4, 5)), np.zeros((5, 3))], [np.zeros(5), np.array(["a", "b", "c"])], "of numbers"),
        ("abc", [np.zeros(5), np.zeros(3)], "non-empty list of arrays"),
    ],
    ids=["placeholder", "coef-chain", "intercept-length", "count", "nan", "strings", "not-a-list"],
)
def test_bad_assigned_weights_raise_clearly(iris, coefs, intercepts, match):
    X, y = iris
    clf = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
    before = clf._network.params.copy()
    clf.coefs_, clf.intercepts_ = coefs, intercepts
    with pytest.raises(ValueError, match=match):
        clf.predict(X)
    with pytest.raises(ValueError, match=match):
        clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf._network.params, before)


def test_only_coefs_assigned_on_an_unfitted_model(iris):
    X, y = iris
    clf = BackpropClassifier(hidden_layer_sizes=(5,), solver="sgd")
    clf.coefs_ = [np.zeros((4, 5)), np.zeros((5, 3))]
    with pytest.raises(ValueError, match="intercepts_ is not set"):
        clf.partial_fit(X, y, classes=[0, 1, 2])


def test_a_wrong_input_width_for_assigned_weights(iris):
    X, y = iris
    clf = BackpropRegressor(hidden_layer_sizes=(5,), solver="sgd")
    coefs, intercepts = _custom_weights([3, 5, 1], seed=6)
    clf.coefs_, clf.intercepts_ = coefs, intercepts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match=r"same architecture.*\[3, 5, 1\].*\[4, 5, 1\]"):
            clf.partial_fit(X, y)
