"""Training options scikit-learn's MLP does not have, each against an oracle.

- ``class_weight``: the same fit as with ``sample_weight`` multiplied by
  ``sklearn.utils.class_weight.compute_sample_weight`` (scikit-learn's own
  definition of the weights), and so the same trajectory as
  ``MLPClassifier`` given those sample weights.
"""

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_multilabel_classification
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from fastbp import BackpropClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = np.array(["setosa", "versicolor", "virginica"])[y]
    keep = np.r_[0:50, 50:70, 100:150]  # unbalanced: 50 / 20 / 50
    return X[keep], y[keep]


def _same_weights(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


CLASS_WEIGHTS = ["balanced", {"setosa": 2.0, "virginica": 0.5}]


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("class_weight", CLASS_WEIGHTS, ids=["balanced", "dict"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_class_weight_multiplies_sample_weight(iris, solver, class_weight, weighted, early_stopping):
    X, y = iris
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y)) if weighted else None
    params = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=15, random_state=0)
    if solver != "lbfgs":
        params["early_stopping"] = early_stopping
    ours = BackpropClassifier(**params, class_weight=class_weight).fit(X, y, sample_weight=sw)
    product = compute_sample_weight(class_weight, y) * (1.0 if sw is None else sw)
    by_hand = BackpropClassifier(**params).fit(X, y, sample_weight=product)
    assert _same_weights(ours, by_hand)
    if early_stopping and solver != "lbfgs":  # the validation score is class-weighted too
        assert ours.validation_scores_ == by_hand.validation_scores_
    # and scikit-learn, given those sample weights, follows the same trajectory
    theirs = MLPClassifier(**params).fit(X, y, sample_weight=product)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-10)


def test_class_weight_changes_the_fit(iris):
    X, y = iris
    plain = BackpropClassifier(hidden_layer_sizes=(6,), max_iter=15, random_state=0).fit(X, y)
    weighted = BackpropClassifier(
        hidden_layer_sizes=(6,), max_iter=15, random_state=0, class_weight="balanced"
    )
    assert not np.allclose(weighted.fit(X, y).coefs_[0], plain.coefs_[0])


def test_class_weight_dict_in_partial_fit(iris):
    X, y = iris
    class_weight = {"versicolor": 3.0}
    classes = np.unique(y)
    ours = BackpropClassifier(
        hidden_layer_sizes=(6,), solver="sgd", random_state=0, class_weight=class_weight
    )
    by_hand = BackpropClassifier(hidden_layer_sizes=(6,), solver="sgd", random_state=0)
    for start in range(0, len(y), 40):  # batches with and without versicolor
        rows = slice(start, start + 40)
        ours.partial_fit(X[rows], y[rows], classes=classes)
        by_hand_weights = np.array([class_weight.get(label, 1.0) for label in y[rows]])
        by_hand.partial_fit(X[rows], y[rows], classes=classes, sample_weight=by_hand_weights)
    assert _same_weights(ours, by_hand)


def test_class_weight_of_a_multilabel_target():
    X, Y = make_multilabel_classification(n_samples=120, n_features=6, n_classes=3, random_state=0)
    for class_weight in ("balanced", [{0: 1.0, 1: 2.0}, {1: 0.5}, {0: 3.0}]):
        ours = BackpropClassifier(
            hidden_layer_sizes=(5,), max_iter=10, random_state=0, class_weight=class_weight
        )
        by_hand = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=10, random_state=0)
        by_hand.fit(X, Y, sample_weight=compute_sample_weight(class_weight, Y))
        assert _same_weights(ours.fit(X, Y), by_hand)
    with pytest.raises(
        ValueError, match="multilabel target class_weight must be 'balanced' or a list of 3 dicts"
    ):
        BackpropClassifier(class_weight={0: 2.0}).fit(X, Y)
    with pytest.raises(ValueError, match=r"class_weight\[1\] names labels that are not classes: \[2\]"):
        BackpropClassifier(class_weight=[{}, {2: 1.0}, {}]).fit(X, Y)
