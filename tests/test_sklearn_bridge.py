"""Fitted models to and from scikit-learn's MLPClassifier/MLPRegressor."""

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_diabetes, load_digits, make_multilabel_classification
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropClassifier, BackpropRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}


def _task(name):
    if name in ("binary", "multiclass"):
        X, y = load_digits(n_class=2 if name == "binary" else 10, return_X_y=True)
        return BackpropClassifier, X / 16, y
    if name == "multilabel":
        X, Y = make_multilabel_classification(n_samples=200, n_features=8, n_classes=3, random_state=0)
        return BackpropClassifier, StandardScaler().fit_transform(X), Y
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if name == "poisson":
        return BackpropRegressor, X, np.round(np.exp((y - y.mean()) / y.std()))
    if name == "multioutput":
        return BackpropRegressor, X, np.column_stack([y, -y]) / y.std()
    return BackpropRegressor, X, (y - y.mean()) / y.std()


def _outputs(model, X):
    return model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
@pytest.mark.parametrize(
    "name", ["binary", "multiclass", "multilabel", "squared_error", "multioutput", "poisson"]
)
def test_to_sklearn_predicts_the_same(name, activation, dtype):
    Est, X, y = _task(name)
    params = dict(hidden_layer_sizes=(12, 6), activation=activation, max_iter=15, random_state=0)
    if name == "poisson":
        params["loss"] = "poisson"
    ours = Est(**params).fit(X.astype(dtype), y)
    theirs = ours.to_sklearn()
    assert isinstance(theirs, MLPClassifier if Est is BackpropClassifier else MLPRegressor)
    Xd = X.astype(dtype)
    for Xp in (Xd, sparse.csr_matrix(Xd)):
        np.testing.assert_allclose(_outputs(theirs, Xp), _outputs(ours, Xp), **TOLERANCE[dtype])
    predicted = ours.predict(Xd)
    if Est is BackpropClassifier:  # the same labels (no ties in these data)
        np.testing.assert_array_equal(theirs.predict(Xd), predicted)
    # copies: changing one model leaves the other alone
    for a, b in zip(theirs.coefs_ + theirs.intercepts_, ours.coefs_ + ours.intercepts_):
        assert not np.shares_memory(a, b)
    theirs.coefs_[0][...] = 0
    np.testing.assert_array_equal(ours.predict(Xd), predicted)


def test_to_sklearn_names_the_training_settings_it_cannot_carry():
    _, X, y = _task("multiclass")
    ours = BackpropClassifier(
        hidden_layer_sizes=(8,), max_iter=5, label_smoothing=0.1, class_weight="balanced"
    )
    with pytest.warns(
        UserWarning, match=r"cannot carry the training settings \['class_weight', 'label_smoothing'\]"
    ):
        theirs = ours.fit(X, y).to_sklearn()
    np.testing.assert_allclose(theirs.predict_proba(X), ours.predict_proba(X), rtol=1e-12, atol=1e-14)


def test_to_sklearn_names_dropout():
    _, X, y = _task("squared_error")
    ours = BackpropRegressor(hidden_layer_sizes=(8, 4), max_iter=5, dropout=[0.2, 0.0]).fit(X, y)
    with pytest.warns(UserWarning, match=r"cannot carry the training settings \['dropout'\]"):
        theirs = ours.to_sklearn()
    np.testing.assert_allclose(theirs.predict(X), ours.predict(X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["binary", "multiclass", "multilabel", "squared_error", "poisson"])
def test_from_sklearn_predicts_the_same_and_trains_on(name, dtype):
    Est, X, y = _task(name)
    Sk = MLPClassifier if Est is BackpropClassifier else MLPRegressor
    params = dict(hidden_layer_sizes=(10,), max_iter=12, random_state=0)
    if name == "poisson":
        params["loss"] = "poisson"
    theirs = Sk(**params).fit(X.astype(dtype), y)
    before = [a.copy() for a in theirs.coefs_ + theirs.intercepts_]
    ours = Est.from_sklearn(theirs)
    assert all(c.dtype == dtype for c in ours.coefs_)
    np.testing.assert_allclose(
        _outputs(ours, X.astype(dtype)), _outputs(theirs, X.astype(dtype)), **TOLERANCE[dtype]
    )
    if Est is BackpropClassifier:
        np.testing.assert_array_equal(ours.predict(X.astype(dtype)), theirs.predict(X.astype(dtype)))
    np.testing.assert_array_equal(ours.history_["loss"], theirs.loss_curve_)
    # training goes on from those weights; scikit-learn's model is untouched
    kwargs = {"classes": theirs.classes_} if Est is BackpropClassifier and name != "multilabel" else {}
    ours.partial_fit(X.astype(dtype), y, **kwargs)
    assert ours.n_iter_ == 1 and len(ours.loss_curve_) == len(theirs.loss_curve_) + 1
    for a, b in zip(theirs.coefs_ + theirs.intercepts_, before):
        np.testing.assert_array_equal(a, b)
    ours.set_params(warm_start=True, max_iter=3).fit(X.astype(dtype), y)
    assert ours.n_iter_ == 3


def test_from_sklearn_continues_a_fit_as_scikit_learn_would_with_a_fresh_optimizer():
    """A warm start from imported weights: scikit-learn's warm start from the same weights."""
    _, X, y = _task("squared_error")
    params = dict(hidden_layer_sizes=(10,), max_iter=8, random_state=0, warm_start=True, solver="sgd")
    theirs = MLPRegressor(**params).fit(X, y)
    ours = BackpropRegressor.from_sklearn(theirs)
    theirs.fit(X, y)  # scikit-learn's warm start makes a new optimizer too
    ours.fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-10)


def test_from_sklearn_refuses_the_wrong_kind_and_unfitted_models():
    with pytest.raises(
        TypeError, match="BackpropRegressor.from_sklearn takes a MLPRegressor, got MLPClassifier"
    ):
        BackpropRegressor.from_sklearn(MLPClassifier())
    with pytest.raises(NotFittedError):
        BackpropClassifier.from_sklearn(MLPClassifier())
    with pytest.raises(NotFittedError):
        BackpropClassifier().to_sklearn()
