"""scikit-learn's own estimator checks, with nothing marked as expected to fail."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from fastbp import BackpropClassifier, BackpropRegressor


@parametrize_with_checks(
    [
        BackpropClassifier(max_iter=200, random_state=0),
        BackpropRegressor(max_iter=200, random_state=0),
        BackpropClassifier(hidden_layer_sizes=(6, 4), solver="lbfgs", max_iter=50, random_state=0),
        BackpropRegressor(solver="sgd", max_iter=200, random_state=0),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
