"""``init='data'``: RealMLP's data-dependent initialisation, checked on the reference MLP's forward pass."""

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import make_classification, make_regression

from fastbp import BackpropClassifier, BackpropRegressor, TabularRegressor, _init

try:
    from . import reference as ref
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference as ref

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ONE_STEP = dict(solver="sgd", momentum=0.0, learning_rate_init=1e-300, max_iter=1, shuffle=False)  # frozen


def _initial(est, X, y):
    """The initial weights of ``est`` (one step of 1e-300 leaves them as they were drawn)."""
    return est.set_params(**ONE_STEP).fit(X, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(
    "activation", ["relu", "tanh", "selu", "gelu", ["mish", "softplus"], ["silu", "elu"]]
)
def test_every_layers_pre_activations_start_with_variance_one_and_bend_inside_the_data(activation, dtype):
    X, y = make_classification(n_samples=300, n_features=7, n_classes=3, n_informative=5, random_state=0)
    X = X.astype(dtype)
    model = _initial(BackpropClassifier(hidden_layer_sizes=(16, 9), activation=activation, init="data"), X, y)
    Z, _ = ref.forward(model.coefs_, model.intercepts_, X, activation, model.out_activation_)
    rtol = 1e-9 if dtype == np.float64 else 1e-5
    for z, b in zip(Z, model.intercepts_):
        np.testing.assert_allclose((z - b).std(axis=0), 1.0, rtol=rtol)  # the product alone: variance 1
        # each intercept is minus a convex combination of the unit's products at 5 rows
        assert np.all(z.min(axis=0) <= 1e-6) and np.all(z.max(axis=0) >= -1e-6)


def test_the_rule_reads_the_hidden_activations_the_layers_have():
    """A layer's statistics are those of the activations before it: another activation, other weights."""
    X, y = make_regression(n_samples=200, n_features=5, random_state=1)
    fits = [_initial(BackpropRegressor(hidden_layer_sizes=(8, 8), activation=a, init="data", random_state=0), X, y)
            for a in ("relu", "tanh")]  # fmt: skip
    np.testing.assert_array_equal(fits[0].coefs_[0], fits[1].coefs_[0])  # same draws, same input
    assert not np.allclose(fits[0].coefs_[1], fits[1].coefs_[1])


def test_sparse_input_gives_the_weights_of_its_dense_form():
    X, y = make_classification(n_samples=150, n_features=6, random_state=2)
    X[X < 0.5] = 0.0
    kw = dict(hidden_layer_sizes=(10,), init="data", random_state=3)
    dense = _initial(BackpropClassifier(**kw), X, y)
    csr = _initial(BackpropClassifier(**kw), sparse.csr_matrix(X), y)
    for a, b in zip(dense.coefs_ + dense.intercepts_, csr.coefs_ + csr.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_many_rows_are_sampled_and_the_rule_is_seeded(monkeypatch):
    monkeypatch.setattr(_init, "MAX_ROWS", 50)
    X, y = make_classification(n_samples=400, n_features=6, random_state=4)
    kw = dict(hidden_layer_sizes=(12,), init="data", random_state=5)
    a, b = (_initial(BackpropClassifier(**kw), X, y) for _ in range(2))
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    # the variance is 1 on the 50 sampled rows, not on all 400
    assert not np.allclose((X @ a.coefs_[0]).std(axis=0), 1.0, rtol=1e-6)
    other = _initial(BackpropClassifier(**{**kw, "random_state": 6}), X, y)
    assert not np.allclose(a.coefs_[0], other.coefs_[0])


def test_glorot_is_the_default_and_data_is_drawn_after_it():
    X, y = make_classification(n_samples=120, n_features=5, random_state=7)
    glorot = _initial(BackpropClassifier(hidden_layer_sizes=(6,), random_state=8), X, y)
    assert BackpropClassifier().init == "glorot"
    data = _initial(BackpropClassifier(hidden_layer_sizes=(6,), random_state=8, init="data"), X, y)
    assert not np.allclose(glorot.coefs_[0], data.coefs_[0])


def test_warm_start_and_partial_fit_keep_the_weights_they_have():
    X, y = make_regression(n_samples=100, n_features=4, random_state=9)
    model = BackpropRegressor(hidden_layer_sizes=(5,), init="data", random_state=0, max_iter=2).fit(X, y)
    before = [c.copy() for c in model.coefs_]
    model.set_params(warm_start=True, learning_rate_init=1e-300, solver="sgd", momentum=0.0).fit(X, y)
    model.partial_fit(X, y)
    for a, b in zip(before, model.coefs_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-200)


def test_lbfgs_and_the_preset_take_it():
    X, y = make_regression(n_samples=120, n_features=4, noise=1.0, random_state=10)
    lbfgs = BackpropRegressor(
        hidden_layer_sizes=(6,), solver="lbfgs", init="data", max_iter=30, random_state=0
    )
    assert lbfgs.fit(X, y).score(X, y) > 0.9
    preset = TabularRegressor(hidden_layer_sizes=(16,), max_iter=30, init="data", random_state=0).fit(X, y)
    assert preset.estimator_.init == "data" and preset.score(X, y) > 0.9


def test_overflowing_pre_activations_are_refused_and_leave_no_weights():
    X, y = make_regression(n_samples=50, n_features=3, random_state=11)
    X[0, 0] = 1e306
    model = BackpropRegressor(hidden_layer_sizes=(4,), init="data", random_state=0)
    with pytest.raises(ValueError, match=r"init='data': layer 1's pre-activations overflow"):
        model.fit(X, y)
    assert not hasattr(model, "coefs_")
