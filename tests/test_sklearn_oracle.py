"""fastbp against scikit-learn's MLPClassifier/MLPRegressor as the oracle.

fastbp promises the same parameters and, for the same integer
``random_state``, the same random draws in the same order as scikit-learn:
initial weights layer by layer (coefficients, then intercepts), then the
early-stopping split (``train_test_split``), then one permutation per epoch.
Both libraries then do the same float64 arithmetic up to summation order, so
whole training trajectories must agree to a relative 1e-6.

Every test fits the two libraries side by side on small, scaled data sets
(subsets of load_digits, load_breast_cancer, load_wine, load_diabetes, and
make_classification / make_regression), with small hidden layers.

The deliberate differences are tested too, each in its own section at the
end, with the reason:

(a) multi-output squared error: fastbp reports the loss summed over outputs,
    whose gradient is the one both libraries follow; scikit-learn reports
    the mean over outputs (scikit-learn issue #8349).
(b) partial_fit with an integer random_state: scikit-learn re-seeds on every
    call, so every call after the first repeats the same shuffle; fastbp
    keeps drawing from one stream.
(c) a target with one class: both fit it and predict that class;
    fastbp's predict_proba has one column (ones), matching classes_,
    where scikit-learn's has two.

One more difference is a scikit-learn defect rather than a choice; see
test_warm_start_early_stopping: a warm-started fit with early stopping that
never beats the earlier best score returns the earlier best weights in
fastbp and the last epoch's in scikit-learn.
"""

import functools

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse
import sklearn.neural_network._multilayer_perceptron as sk_mlp
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropClassifier, BackpropRegressor

# Most fits here stop at max_iter on purpose; the warning itself is tested
# in test_convergence_warning (pytest.warns records it despite this filter).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RTOL = 1e-6  # float64 trajectories: relative tolerance ...
ATOL = 1e-10  # ... and a tiny absolute one for weights that pass near zero

ESTIMATORS = {
    "clf": (BackpropClassifier, MLPClassifier),
    "reg": (BackpropRegressor, MLPRegressor),
}


# -- data -----------------------------------------------------------------------


def _scale(X):
    return StandardScaler().fit_transform(X)


@functools.lru_cache(maxsize=None)
def task(name):
    """``(kind, X, y, X_test, extra_params)`` of a small learning task.

    The arrays are cached and shared between tests, so they are read-only.
    """
    kind, *arrays, extra = _make_task(name)
    for a in arrays:
        a.setflags(write=False)
    return kind, *arrays, extra


def _make_task(name):
    if name == "binary":
        X, y = load_breast_cancer(return_X_y=True)
        X = _scale(X)
        return "clf", X[:300].copy(), y[:300].copy(), X[300:400].copy(), {}
    if name == "binary_synthetic":
        X, y = make_classification(
            n_samples=240, n_features=12, n_informative=6, weights=[0.7], random_state=3
        )
        return "clf", X[:200], y[:200], X[200:], {}
    if name in ("multiclass", "multilabel"):
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        if name == "multilabel":
            y = np.column_stack([y % 2 == 0, y >= 5, np.isin(y, [0, 6, 8, 9])]).astype(int)
        return "clf", X[:300], y[:300], X[300:400], {}
    if name == "wine":
        X, y = load_wine(return_X_y=True)
        X = _scale(X)
        return "clf", X, y, X[:20].copy(), {}
    if name == "squared_error":
        X, y = load_diabetes(return_X_y=True)
        X = _scale(X)
        y = (y - y.mean()) / y.std()
        return "reg", X[:300], y[:300], X[300:], {"loss": "squared_error"}
    if name == "poisson":
        X, _ = make_regression(n_samples=360, n_features=8, random_state=0)
        X = _scale(X)
        rng = np.random.RandomState(0)
        w = rng.normal(scale=0.3, size=X.shape[1])
        y = rng.poisson(np.exp(0.5 + X @ w)).astype(np.float64)
        return "reg", X[:300], y[:300], X[300:], {"loss": "poisson"}
    if name == "multioutput":
        X, y = make_regression(
            n_samples=260, n_features=10, n_informative=6, n_targets=3, noise=5.0, random_state=1
        )
        X = _scale(X)
        y = y / y.std(axis=0)
        return "reg", X[:200], y[:200], X[200:], {"loss": "squared_error"}
    raise ValueError(name)


def sample_weights(n, seed=0):
    """Non-uniform positive weights, a few of them zero."""
    rng = np.random.RandomState(seed)
    sw = rng.uniform(0.2, 3.0, size=n)
    sw[rng.choice(n, size=n // 20, replace=False)] = 0.0
    return sw


# -- helpers ----------------------------------------------------------------------


def make_pair(kind, **params):
    """The fastbp estimator and its scikit-learn counterpart, same parameters."""
    fb_cls, sk_cls = ESTIMATORS[kind]
    return fb_cls(**params), sk_cls(**params)


def fit_pair(kind, X, y, sample_weight=None, **params):
    fb, sk = make_pair(kind, **params)
    fb.fit(X, y, sample_weight=sample_weight)
    sk.fit(X, y, sample_weight=sample_weight)
    return fb, sk


def n_output_units(kind, y):
    """Output units: one per column of y, per class (multiclass), or one (binary)."""
    if y.ndim == 2:
        return y.shape[1]
    n_classes = len(np.unique(y))
    return n_classes if kind == "clf" and n_classes > 2 else 1


def glorot_draws(seed, units, activation):
    """The initial weights both libraries must draw, and the RNG after them.

    Glorot-uniform, drawn layer by layer from one ``RandomState``: the
    coefficient matrix, then the intercept vector.
    """
    rng = np.random.RandomState(seed)
    factor = 2.0 if activation == "logistic" else 6.0
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return coefs, intercepts, rng


def assert_same_parameters(fb, sk, rtol=RTOL, atol=ATOL):
    assert len(fb.coefs_) == len(sk.coefs_)
    for i, (a, b) in enumerate(zip(fb.coefs_, sk.coefs_)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"coefs_[{i}]")
    for i, (a, b) in enumerate(zip(fb.intercepts_, sk.intercepts_)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"intercepts_[{i}]")


def assert_same_fit(fb, sk, rtol=RTOL, atol=ATOL):
    """Fitted attributes of a stochastic-solver fit agree."""
    assert fb.n_iter_ == sk.n_iter_
    assert fb.t_ == sk.t_
    assert fb.n_layers_ == sk.n_layers_
    assert fb.n_outputs_ == sk.n_outputs_
    assert fb.out_activation_ == sk.out_activation_
    if hasattr(sk, "classes_"):
        np.testing.assert_array_equal(fb.classes_, sk.classes_)
    assert_same_parameters(fb, sk, rtol, atol)
    np.testing.assert_allclose(fb.loss_curve_, sk.loss_curve_, rtol=rtol, atol=0, err_msg="loss_curve_")
    np.testing.assert_allclose(fb.loss_, sk.loss_, rtol=rtol)
    if sk.best_loss_ is None:
        assert fb.best_loss_ is None
    else:
        np.testing.assert_allclose(fb.best_loss_, sk.best_loss_, rtol=rtol)
    if sk.validation_scores_ is None:
        assert fb.validation_scores_ is None
        assert fb.best_validation_score_ is None
    else:
        np.testing.assert_allclose(fb.validation_scores_, sk.validation_scores_, rtol=rtol, atol=atol)
        np.testing.assert_allclose(fb.best_validation_score_, sk.best_validation_score_, rtol=rtol)


def assert_same_predictions(fb, sk, X, rtol=RTOL, atol=ATOL):
    if isinstance(sk, MLPClassifier):
        np.testing.assert_array_equal(fb.predict(X), sk.predict(X))
        np.testing.assert_allclose(fb.predict_proba(X), sk.predict_proba(X), rtol=rtol, atol=atol)
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(fb.predict_log_proba(X), sk.predict_log_proba(X), rtol=rtol, atol=atol)
    else:
        np.testing.assert_allclose(fb.predict(X), sk.predict(X), rtol=rtol, atol=atol)


def stochastic_params(solver, **overrides):
    """Small network; fixed epoch count (no early stop on training loss)."""
    params = dict(
        hidden_layer_sizes=(16,),
        solver=solver,
        learning_rate_init=0.02 if solver == "sgd" else 0.01,
        batch_size=32,
        max_iter=20,
        n_iter_no_change=1000,
        random_state=0,
    )
    params.update(overrides)
    return params


# -- initial weights --------------------------------------------------------------

# How the initial weights are compared exactly, through public attributes
# only: one epoch of plain SGD (momentum=0) with learning_rate_init=1e-300
# cannot move any weight. Each update is ``-1e-300 * g`` with |g| at most of
# order 1e2 here, while the weights are of order 1e-3..1, so the update is
# hundreds of orders of magnitude below half an ulp of the weight and
# ``w + update`` rounds back to ``w`` bit for bit, in both libraries (in
# float32 the step size itself rounds to 0). The fitted ``coefs_``/``intercepts_``
# are therefore exactly the initial draws. They are compared with each other
# and with the draws reconstructed from an explicit RandomState, which pins
# the draw order (layer by layer, coefficients then intercepts, float64 draws
# cast to the data's dtype).
FROZEN = dict(solver="sgd", momentum=0.0, learning_rate_init=1e-300, max_iter=1, shuffle=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", [(7,), (9, 5)])
@pytest.mark.parametrize("activation", ["logistic", "relu", "tanh"])
@pytest.mark.parametrize("name", ["binary", "multiclass", "multilabel", "squared_error", "poisson"])
def test_initial_weights_are_sklearns_draws(name, activation, hidden, dtype):
    kind, X, y, _, extra = task(name)
    X = X.astype(dtype)
    seed = 42
    params = dict(FROZEN, hidden_layer_sizes=hidden, activation=activation, random_state=seed)
    fb, sk = fit_pair(kind, X, y, **params, **extra)

    units = [X.shape[1], *hidden, n_output_units(kind, y)]
    coefs, intercepts, _ = glorot_draws(seed, units, activation)
    # the frozen-SGD argument needs every weight far from zero
    assert min(np.abs(c).min() for c in coefs + intercepts) > 1e-200

    for i in range(len(units) - 1):
        assert fb.coefs_[i].dtype == dtype and fb.intercepts_[i].dtype == dtype
        np.testing.assert_array_equal(fb.coefs_[i], sk.coefs_[i])
        np.testing.assert_array_equal(fb.intercepts_[i], sk.intercepts_[i])
        np.testing.assert_array_equal(fb.coefs_[i], coefs[i].astype(dtype))
        np.testing.assert_array_equal(fb.intercepts_[i], intercepts[i].astype(dtype))


# -- stochastic solvers: whole trajectories -----------------------------------------


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("name", ["binary", "multiclass", "multilabel", "squared_error", "poisson"])
def test_trajectory_matches(name, solver, shuffle):
    kind, X, y, X_test, extra = task(name)
    fb, sk = fit_pair(kind, X, y, **stochastic_params(solver, shuffle=shuffle), **extra)
    assert sk.n_iter_ == 20
    assert_same_fit(fb, sk)
    assert_same_predictions(fb, sk, X_test)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("name", ["multiclass", "binary_synthetic", "squared_error"])
def test_hidden_activations(name, activation, solver):
    kind, X, y, X_test, extra = task(name)
    params = stochastic_params(solver, hidden_layer_sizes=(12, 8), activation=activation)
    fb, sk = fit_pair(kind, X, y, **params, **extra)
    assert_same_fit(fb, sk)
    assert_same_predictions(fb, sk, X_test)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("name", ["binary", "multiclass", "multilabel", "squared_error", "poisson"])
def test_sample_weight(name, solver):
    kind, X, y, X_test, extra = task(name)
    sw = sample_weights(X.shape[0])
    fb, sk = fit_pair(kind, X, y, sample_weight=sw, **stochastic_params(solver, alpha=1e-2), **extra)
    assert_same_fit(fb, sk)
    assert_same_predictions(fb, sk, X_test)
    # and the weights matter: an unweighted fit ends elsewhere
    unweighted = make_pair(kind, **stochastic_params(solver, alpha=1e-2), **extra)[0].fit(X, y)
    assert not np.allclose(unweighted.coefs_[0], fb.coefs_[0], rtol=1e-3)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("name", ["binary", "multiclass", "multilabel", "squared_error"])
def test_early_stopping(name, solver, weighted):
    kind, X, y, X_test, extra = task(name)
    sw = sample_weights(X.shape[0], seed=1) if weighted else None
    seed = 3
    params = stochastic_params(
        solver,
        random_state=seed,
        learning_rate_init=0.05 if solver == "sgd" else 0.02,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=4,
        tol=1e-3,
        max_iter=200,
    )
    fb, sk = fit_pair(kind, X, y, sample_weight=sw, **params, **extra)
    assert_same_fit(fb, sk)
    assert_same_predictions(fb, sk, X_test)
    assert fb.n_iter_ < params["max_iter"]  # early stopping did stop the fit
    assert len(fb.validation_scores_) == fb.n_iter_
    assert fb.best_validation_score_ == max(fb.validation_scores_)

    # The restored weights are those of the best epoch: recompute the split
    # from the documented draw order (initial weights, then train_test_split;
    # binary targets stratified) and score the restored model on it.
    _, _, rng = glorot_draws(seed, [X.shape[1], 16, n_output_units(kind, y)], "relu")
    stratify = y if name == "binary" else None
    _, val = train_test_split(np.arange(X.shape[0]), test_size=0.2, random_state=rng, stratify=stratify)
    score = fb.score(X[val], y[val], sample_weight=None if sw is None else sw[val])
    np.testing.assert_allclose(score, fb.best_validation_score_, rtol=1e-12)


@pytest.mark.parametrize(
    "schedule, lr, extra",
    [
        ("constant", 0.05, {}),
        ("invscaling", 0.5, {"power_t": 0.5}),
        ("invscaling", 0.2, {"power_t": 0.25}),
        # tol large enough that the learning rate is divided by 5 several times
        ("adaptive", 0.1, {"tol": 2e-2, "n_iter_no_change": 2}),
    ],
)
@pytest.mark.parametrize("momentum, nesterov", [(0.9, True), (0.9, False), (0.0, False)])
@pytest.mark.parametrize("name", ["multiclass", "squared_error"])
def test_sgd_schedules_and_momentum(name, schedule, lr, extra, momentum, nesterov):
    kind, X, y, X_test, task_extra = task(name)
    params = stochastic_params(
        "sgd",
        learning_rate=schedule,
        learning_rate_init=lr if name == "multiclass" else lr / 5,
        momentum=momentum,
        nesterovs_momentum=nesterov,
        max_iter=30,
    )
    params.update(extra)
    fb, sk = fit_pair(kind, X, y, **params, **task_extra)
    assert fb.n_iter_ >= 20
    assert_same_fit(fb, sk)
    assert_same_predictions(fb, sk, X_test)
    if schedule == "adaptive":
        # the decays really happened (a 30-epoch constant-rate fit differs)
        constant = make_pair(kind, **{**params, "learning_rate": "constant"}, **task_extra)[0].fit(X, y)
        assert not np.allclose(constant.coefs_[0], fb.coefs_[0], rtol=1e-3)


@pytest.mark.parametrize(
    "name, solver, schedule",
    [
        ("multiclass", "adam", "constant"),
        ("multiclass", "sgd", "invscaling"),
        ("squared_error", "adam", "constant"),
        ("squared_error", "sgd", "invscaling"),
    ],
)
def test_warm_start(name, solver, schedule):
    kind, X, y, X_test, extra = task(name)
    params = stochastic_params(solver, warm_start=True, max_iter=10, learning_rate=schedule)
    if schedule == "invscaling":
        params["learning_rate_init"] = 0.2
    fb, sk = fit_pair(kind, X, y, **params, **extra)
    assert_same_fit(fb, sk)
    for _ in range(2):
        for est in (fb, sk):
            est.set_params(max_iter=8)
            est.fit(X, y)
        assert_same_fit(fb, sk)
        assert_same_predictions(fb, sk, X_test)
    assert len(fb.loss_curve_) == 10 + 8 + 8
    assert fb.t_ == (10 + 8 + 8) * X.shape[0]


@pytest.mark.parametrize(
    "name, solver, first_max_iter, improves",
    [
        ("squared_error", "adam", 2, True),
        ("squared_error", "sgd", 10, True),
        ("binary", "sgd", 2, True),
        ("binary", "adam", 10, False),
        ("binary", "sgd", 10, False),
    ],
)
def test_warm_start_early_stopping(name, solver, first_max_iter, improves):
    """Warm-started fits with early stopping keep the best weights seen.

    The trajectories (losses, validation scores, n_iter_) agree with
    scikit-learn's in every case. The final weights agree when the warm
    fit beats the earlier best validation score. When it never does, fastbp
    restores the earlier best weights, while scikit-learn 1.9 returns the
    last epoch's: its restore makes ``coefs_`` *the same arrays* as
    ``_best_coefs``, so the next fit's in-place updates overwrite the saved
    best weights. fastbp's result is the documented one ("the weights with
    the best validation score are kept").
    """
    kind, X, y, X_test, extra = task(name)
    params = stochastic_params(
        solver,
        warm_start=True,
        early_stopping=True,
        validation_fraction=0.2,
        max_iter=first_max_iter,
        learning_rate_init=0.01 if solver == "sgd" else 0.005,
    )
    fb, sk = fit_pair(kind, X, y, **params, **extra)
    assert_same_fit(fb, sk)
    best_weights = [a.copy() for a in fb.coefs_ + fb.intercepts_]
    best_score = fb.best_validation_score_

    for est in (fb, sk):
        est.set_params(max_iter=8)
        est.fit(X, y)
    assert (max(fb.validation_scores_[first_max_iter:]) > best_score) == improves
    assert fb.n_iter_ == sk.n_iter_ == 8
    np.testing.assert_allclose(fb.loss_curve_, sk.loss_curve_, rtol=RTOL, atol=0)
    np.testing.assert_allclose(fb.validation_scores_, sk.validation_scores_, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(fb.best_validation_score_, sk.best_validation_score_, rtol=RTOL)
    if improves:
        assert_same_fit(fb, sk)
        assert_same_predictions(fb, sk, X_test)
    else:
        assert fb.best_validation_score_ == best_score
        for a, b in zip(fb.coefs_ + fb.intercepts_, best_weights):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind_name", ["multiclass", "squared_error"])
def test_partial_fit_without_shuffle_matches(kind_name):
    # without shuffling no draw happens after the initial weights, so the
    # RNG handling of (b) plays no part and every call must agree
    kind, X, y, X_test, extra = task(kind_name)
    fb, sk = make_pair(kind, **stochastic_params("adam", shuffle=False), **extra)
    pf_kwargs = {"classes": np.unique(y)} if kind == "clf" else {}
    for part in np.array_split(np.arange(X.shape[0]), 3) * 2:
        fb.partial_fit(X[part], y[part], **pf_kwargs)
        sk.partial_fit(X[part], y[part], **pf_kwargs)
        assert_same_fit(fb, sk)
    assert_same_predictions(fb, sk, X_test)


@pytest.mark.parametrize("kind_name", ["multiclass", "squared_error"])
def test_random_state_instance_matches(kind_name):
    # A RandomState instance is used as it is by both libraries (no
    # re-seeding): fit twice from the same instance continues its stream.
    kind, X, y, X_test, extra = task(kind_name)
    params = stochastic_params("sgd", max_iter=5)
    fb_rng, sk_rng = np.random.RandomState(7), np.random.RandomState(7)
    fb, sk = make_pair(kind, **{**params, "random_state": fb_rng}, **extra)
    sk.set_params(random_state=sk_rng)
    for _ in range(2):
        fb.fit(X, y)
        sk.fit(X, y)
        assert_same_fit(fb, sk)
    assert_same_predictions(fb, sk, X_test)
    np.testing.assert_array_equal(fb_rng.randint(1 << 30, size=4), sk_rng.randint(1 << 30, size=4))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_sparse_input(fmt, solver):
    kind, X, y, X_test, extra = task("multiclass")
    Xs = scipy.sparse.csr_matrix(X) if fmt == "csr" else scipy.sparse.csc_matrix(X)
    if solver == "lbfgs":
        params = dict(solver="lbfgs", hidden_layer_sizes=(10,), max_iter=10, random_state=0)
    else:
        params = stochastic_params(solver)
    fb, sk = fit_pair(kind, Xs, y, **params)
    if solver == "lbfgs":
        assert fb.n_iter_ == sk.n_iter_
        np.testing.assert_allclose(fb.loss_, sk.loss_, rtol=1e-6)
    else:
        assert_same_fit(fb, sk)
    X_test = scipy.sparse.csr_matrix(X_test)
    assert_same_predictions(fb, sk, X_test, rtol=1e-5 if solver == "lbfgs" else RTOL)


@pytest.mark.parametrize("name", ["multilabel", "poisson"])
def test_partial_fit_sample_weight_without_shuffle_matches(name):
    kind, X, y, X_test, extra = task(name)
    fb, sk = make_pair(kind, **stochastic_params("sgd", shuffle=False), **extra)
    pf_kwargs = {"classes": np.arange(y.shape[1])} if kind == "clf" else {}
    sw = sample_weights(X.shape[0], seed=4)
    for part in np.array_split(np.arange(X.shape[0]), 4):
        fb.partial_fit(X[part], y[part], sample_weight=sw[part], **pf_kwargs)
        sk.partial_fit(X[part], y[part], sample_weight=sw[part], **pf_kwargs)
        assert_same_fit(fb, sk)
    assert_same_predictions(fb, sk, X_test)


def test_non_finite_weights_raise():
    # a diverging SGD fit: scikit-learn refuses to return non-finite weights
    kind, X, y, _, extra = task("squared_error")
    params = dict(solver="sgd", hidden_layer_sizes=(16,), momentum=0.99, random_state=0)
    params.update(learning_rate_init=10.0, max_iter=20)
    for est in make_pair(kind, **params, **extra):
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            est.fit(X, y)


@pytest.mark.parametrize("kind_name", ["binary", "squared_error"])
def test_same_errors(kind_name):
    kind, X, y, _, extra = task(kind_name)
    # validation set below two samples (a stratified split refuses it first)
    match = "test_size = 1 should be greater" if kind == "clf" else "validation set is too small"
    params = dict(solver="adam", early_stopping=True, validation_fraction=0.002, random_state=0)
    for est in make_pair(kind, **params, **extra):
        with pytest.raises(ValueError, match=match):
            est.fit(X, y)
    # partial_fit cannot stop early
    pf_kwargs = {"classes": np.unique(y)} if kind == "clf" else {}
    for est in make_pair(kind, solver="adam", early_stopping=True, random_state=0, **extra):
        with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
            est.partial_fit(X, y, **pf_kwargs)
    # lbfgs has no partial_fit
    for est in make_pair(kind, solver="lbfgs", **extra):
        if kind == "clf":  # MLPRegressor's availability check is always true
            assert not hasattr(est, "partial_fit")


# -- L-BFGS -------------------------------------------------------------------------


@pytest.mark.parametrize("max_iter", [5, 20])
@pytest.mark.parametrize("activation", ["tanh", "relu", "logistic"])
@pytest.mark.parametrize("name", ["binary", "multiclass", "squared_error", "poisson"])
def test_lbfgs(name, activation, max_iter):
    kind, X, y, X_test, extra = task(name)
    fb, sk = fit_pair(
        kind,
        X,
        y,
        solver="lbfgs",
        hidden_layer_sizes=(10,),
        activation=activation,
        max_iter=max_iter,
        alpha=1e-3,
        random_state=0,
        **extra,
    )
    assert fb.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(fb.loss_, sk.loss_, rtol=1e-6)
    assert_same_predictions(fb, sk, X_test, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["binary", "squared_error"])
def test_lbfgs_sample_weight(name):
    kind, X, y, X_test, extra = task(name)
    sw = sample_weights(X.shape[0], seed=2)
    fb, sk = fit_pair(
        kind,
        X,
        y,
        sample_weight=sw,
        solver="lbfgs",
        hidden_layer_sizes=(10,),
        max_iter=10,
        random_state=0,
        **extra,
    )
    assert fb.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(fb.loss_, sk.loss_, rtol=1e-6)


@pytest.mark.parametrize("max_fun, tol", [(5, 1e-4), (12, 0.0), (15000, 1e-2), (15000, 1e-3)])
def test_lbfgs_stopping_criteria(max_fun, tol):
    kind, X, y, _, extra = task("multiclass")
    params = dict(
        solver="lbfgs", hidden_layer_sizes=(8,), max_iter=60, max_fun=max_fun, tol=tol, random_state=0
    )
    fb, sk = fit_pair(kind, X, y, **params)
    assert fb.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(fb.loss_, sk.loss_, rtol=1e-6)


def test_lbfgs_more_rows_than_one_chunk():
    # all of load_digits (1797 rows): fastbp's full-batch gradient runs in
    # chunks of rows, and predict in chunks too
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    sw = sample_weights(len(y), seed=5)
    params = dict(solver="lbfgs", hidden_layer_sizes=(10, 6), activation="tanh", max_iter=6, random_state=0)
    fb, sk = fit_pair("clf", X, y, sample_weight=sw, **params)
    assert fb.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(fb.loss_, sk.loss_, rtol=1e-6)
    assert_same_predictions(fb, sk, X, rtol=1e-5, atol=1e-8)


# -- float32 ------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("name", ["binary", "multiclass", "multilabel", "squared_error", "poisson"])
def test_float32(name, solver):
    kind, X, y, X_test, extra = task(name)
    X, X_test = X.astype(np.float32), X_test.astype(np.float32)
    fb, sk = fit_pair(kind, X, y, **stochastic_params(solver, max_iter=5), **extra)
    for a in fb.coefs_ + fb.intercepts_:
        assert a.dtype == np.float32
    if kind == "clf":
        assert fb.predict_proba(X_test).dtype == np.float32
        assert fb.predict_log_proba(X_test).dtype == np.float32
        np.testing.assert_allclose(fb.predict_proba(X_test), sk.predict_proba(X_test), rtol=1e-3, atol=1e-4)
    else:
        assert fb.predict(X_test).dtype == np.float32
        np.testing.assert_allclose(fb.predict(X_test), sk.predict(X_test), rtol=1e-3, atol=1e-4)
    assert fb.n_iter_ == sk.n_iter_
    assert_same_parameters(fb, sk, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(fb.loss_curve_, sk.loss_curve_, rtol=1e-3)


@pytest.mark.parametrize("name", ["binary", "squared_error"])
def test_float32_lbfgs(name):
    kind, X, y, X_test, extra = task(name)
    X = X.astype(np.float32)
    params = dict(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    fb, sk = fit_pair(kind, X, y, **params, **extra)
    for a in fb.coefs_ + fb.intercepts_:
        assert a.dtype == np.float32
    assert fb.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(fb.loss_, sk.loss_, rtol=1e-3)


# -- warnings and verbose output ----------------------------------------------------------


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("name", ["multiclass", "squared_error"])
def test_convergence_warning(name, solver):
    kind, X, y, _, extra = task(name)
    params = dict(solver=solver, hidden_layer_sizes=(8,), max_iter=3, random_state=0, **extra)
    for est in make_pair(kind, **params):
        with pytest.warns(ConvergenceWarning):
            est.fit(X, y)
        assert est.n_iter_ == 3


@pytest.mark.parametrize(
    "name, params, expected",
    [
        ("multiclass", dict(solver="adam", max_iter=4), "Iteration 4, loss = "),
        ("squared_error", dict(solver="sgd", max_iter=4, momentum=0.5), "Iteration 4, loss = "),
        # adaptive learning rate, divided by 5 twice
        (
            "multiclass",
            dict(solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=2, max_iter=9),
            "for 2 consecutive epochs. Setting learning rate to 0.000040",
        ),
        # ... until it is too small
        (
            "squared_error",
            dict(
                solver="sgd", learning_rate="adaptive", learning_rate_init=1e-5, tol=10.0, n_iter_no_change=1
            ),
            "Learning rate too small. Stopping.",
        ),
        # early stopping: validation scores and the stopping message
        (
            "binary",
            dict(solver="adam", early_stopping=True, n_iter_no_change=2, tol=0.5, max_iter=20),
            "Validation score did not improve more than tol=0.500000 for 2 consecutive epochs. Stopping.",
        ),
        ("squared_error", dict(solver="sgd", early_stopping=True, max_iter=6), "Validation score: "),
        # training loss stops improving
        (
            "squared_error",
            dict(solver="adam", tol=10.0, n_iter_no_change=2, max_iter=20),
            "Training loss did not improve more than tol=10.000000 for 2 consecutive epochs. Stopping.",
        ),
    ],
)
def test_verbose_output_identical(name, params, expected, capsys):
    kind, X, y, _, extra = task(name)
    fb, sk = make_pair(kind, hidden_layer_sizes=(8,), random_state=0, verbose=True, **params, **extra)
    capsys.readouterr()
    fb.fit(X, y)
    fb_out = capsys.readouterr().out
    sk.fit(X, y)
    sk_out = capsys.readouterr().out
    assert fb_out.splitlines() == sk_out.splitlines()
    assert expected in fb_out
    assert fb_out.count("Iteration") == fb.n_iter_ >= 4


# -- (a) multi-output squared error: summed loss ---------------------------------------


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_multioutput_squared_error_loss_is_summed(solver):
    """fastbp reports the summed loss; the trajectory is still sklearn's.

    scikit-learn's squared loss is the mean over outputs while its gradient
    is that of the sum over outputs (scikit-learn issue #8349). Both follow
    the same gradient, so the weights agree; with alpha=0 fastbp's loss is
    exactly n_outputs times scikit-learn's, epoch by epoch.
    """
    kind, X, y, X_test, extra = task("multioutput")
    n_outputs = y.shape[1]
    fb, sk = fit_pair(kind, X, y, **stochastic_params(solver, alpha=0.0), **extra)
    assert fb.n_outputs_ == n_outputs == 3
    assert fb.n_iter_ == sk.n_iter_
    assert_same_parameters(fb, sk)
    assert_same_predictions(fb, sk, X_test)
    np.testing.assert_allclose(fb.loss_curve_, n_outputs * np.asarray(sk.loss_curve_), rtol=RTOL)
    np.testing.assert_allclose(fb.loss_, n_outputs * sk.loss_, rtol=RTOL)


def _capture_lbfgs_objectives(monkeypatch, fit):
    """Run ``fit`` and return every ``(fun, x0, args)`` given to scipy's minimize.

    Both libraries call ``scipy.optimize.minimize`` through the module
    attribute, so a spy on it sees their L-BFGS objectives.
    """
    captured = []
    minimize = scipy.optimize.minimize

    def spy(fun, x0, args=(), **kwargs):
        captured.append((fun, np.array(x0, dtype=np.float64), args))
        return minimize(fun, x0, args=args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    fit()
    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    assert len(captured) == 1
    fun, x0, args = captured[0]
    return (lambda x: fun(np.array(x), *args)), x0


def _directional_fd(f, x, d, h=1e-6):
    return (f(x + h * d)[0] - f(x - h * d)[0]) / (2 * h)


@pytest.mark.parametrize("alpha", [0.0, 1e-1])
def test_multioutput_lbfgs_objective_is_consistent(alpha, monkeypatch):
    """fastbp's L-BFGS (loss, grad) pair is a function and its gradient.

    Finite differences of fastbp's loss match its gradient; scikit-learn's
    gradient is n_outputs times the finite differences of its own loss
    (its loss is the mean over outputs, its gradient that of the sum).
    """
    kind, X, y, _, extra = task("multioutput")
    n_outputs = y.shape[1]
    params = dict(
        solver="lbfgs", hidden_layer_sizes=(6,), activation="tanh", alpha=alpha, max_iter=1, random_state=0
    )
    fb, sk = make_pair(kind, **params, **extra)
    f_fb, x0 = _capture_lbfgs_objectives(monkeypatch, lambda: fb.fit(X, y))
    f_sk, x0_sk = _capture_lbfgs_objectives(monkeypatch, lambda: sk.fit(X, y))
    np.testing.assert_array_equal(x0, x0_sk)  # same initial weights

    rng = np.random.RandomState(0)
    for x in (x0, x0 + 0.1 * rng.standard_normal(x0.shape)):
        loss_fb, grad_fb = f_fb(x)
        loss_sk, grad_sk = f_sk(x)
        # same gradient (that of the summed loss) ...
        np.testing.assert_allclose(grad_fb, grad_sk, rtol=1e-9, atol=1e-12)
        if alpha == 0:
            # ... but sklearn reports the mean over outputs
            np.testing.assert_allclose(loss_fb, n_outputs * loss_sk, rtol=1e-12)
        for _ in range(3):
            d = rng.standard_normal(x.shape)
            d /= np.linalg.norm(d)
            np.testing.assert_allclose(_directional_fd(f_fb, x, d), grad_fb @ d, rtol=1e-5, atol=1e-8)
            if alpha == 0:
                np.testing.assert_allclose(
                    n_outputs * _directional_fd(f_sk, x, d), grad_sk @ d, rtol=1e-5, atol=1e-8
                )


@pytest.mark.parametrize("name", ["binary", "squared_error"])
def test_single_output_lbfgs_objective_matches(name, monkeypatch):
    # with one output there is no difference: same (loss, grad) everywhere
    kind, X, y, _, extra = task(name)
    params = dict(
        solver="lbfgs", hidden_layer_sizes=(6,), activation="tanh", alpha=1e-2, max_iter=1, random_state=0
    )
    fb, sk = make_pair(kind, **params, **extra)
    f_fb, x0 = _capture_lbfgs_objectives(monkeypatch, lambda: fb.fit(X, y))
    f_sk, _ = _capture_lbfgs_objectives(monkeypatch, lambda: sk.fit(X, y))
    rng = np.random.RandomState(1)
    for x in (x0, x0 + 0.1 * rng.standard_normal(x0.shape)):
        loss_fb, grad_fb = f_fb(x)
        loss_sk, grad_sk = f_sk(x)
        np.testing.assert_allclose(loss_fb, loss_sk, rtol=1e-12)
        np.testing.assert_allclose(grad_fb, grad_sk, rtol=1e-9, atol=1e-12)


# -- (b) partial_fit keeps one RNG stream -----------------------------------------------


@pytest.mark.parametrize("kind_name", ["multiclass", "squared_error"])
def test_partial_fit_keeps_one_rng_stream(kind_name, monkeypatch):
    """partial_fit with an integer seed: fastbp draws a new permutation per call.

    scikit-learn re-seeds ``check_random_state(int)`` on every call, so each
    call after the first repeats the same permutation (the first call's
    differs only because the initial weights were drawn before it). fastbp
    creates its RandomState once and keeps drawing from it, which is what
    scikit-learn does when given a RandomState *instance*: fastbp with
    ``random_state=0`` follows scikit-learn with
    ``random_state=np.random.RandomState(0)`` exactly.
    """
    kind, X, y, _, extra = task(kind_name)
    params = stochastic_params("sgd", shuffle=True)
    pf_kwargs = {"classes": np.unique(y)} if kind == "clf" else {}

    # record the permutations scikit-learn draws
    perms = []
    shuffle = sk_mlp.shuffle

    def recording_shuffle(*arrays, **kwargs):
        out = shuffle(*arrays, **kwargs)
        perms.append(np.array(out))
        return out

    monkeypatch.setattr(sk_mlp, "shuffle", recording_shuffle)

    fb = ESTIMATORS[kind][0](**params, **extra)
    sk_int = ESTIMATORS[kind][1](**params, **extra)
    sk_stream = ESTIMATORS[kind][1](**{**params, "random_state": np.random.RandomState(0)}, **extra)
    fb_stream = ESTIMATORS[kind][0](**{**params, "random_state": np.random.RandomState(0)}, **extra)

    n_calls = 3
    for call in range(n_calls):
        fb.partial_fit(X, y, **pf_kwargs)
        fb_stream.partial_fit(X, y, **pf_kwargs)
        sk_stream.partial_fit(X, y, **pf_kwargs)
        assert_same_fit(fb, sk_stream)
        assert_same_fit(fb, fb_stream, rtol=0, atol=0)
    stream_perms, perms[:] = perms[:], []
    for call in range(n_calls):
        sk_int.partial_fit(X, y, **pf_kwargs)
    int_perms = perms[:]

    # scikit-learn with an int: after the first call, the same permutation
    # every call: the first permutation of a fresh RandomState(0)
    first_of_fresh_stream = np.arange(X.shape[0])
    np.random.RandomState(0).shuffle(first_of_fresh_stream)
    assert not np.array_equal(int_perms[0], int_perms[1])
    for p in int_perms[1:]:
        np.testing.assert_array_equal(p, first_of_fresh_stream)
    # one stream (what fastbp follows): a new permutation every call
    assert np.array_equal(stream_perms[0], int_perms[0])  # same draws up to then
    for i in range(n_calls):
        for j in range(i):
            assert not np.array_equal(stream_perms[i], stream_perms[j])
    # so from the second call on, fastbp and sklearn-with-an-int part ways
    assert not np.allclose(fb.coefs_[0], sk_int.coefs_[0], rtol=1e-6)


# -- (c) one class ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "solver, early_stopping",
    [("sgd", False), ("sgd", True), ("adam", False), ("adam", True), ("lbfgs", False)],
)
def test_one_class_fits_and_predicts_that_class(solver, early_stopping):
    """A cross-validation fold with one class must not stop a search."""
    kind, X, _, X_test, _ = task("binary")
    # (scikit-learn < 1.9 cannot early-stop with string labels: its issue 33760)
    label = 7 if early_stopping else "only"
    y = np.full(X.shape[0], label)
    if solver == "lbfgs":
        fb, sk = fit_pair(kind, X, y, solver="lbfgs", hidden_layer_sizes=(8,), max_iter=30, random_state=0)
        assert_same_parameters(fb, sk, RTOL, ATOL)
    else:
        params = stochastic_params(solver, hidden_layer_sizes=(8,), early_stopping=early_stopping)
        fb, sk = fit_pair(kind, X, y, **params)
        assert_same_fit(fb, sk)
    np.testing.assert_array_equal(fb.classes_, [label])
    np.testing.assert_array_equal(fb.predict(X_test), sk.predict(X_test))
    np.testing.assert_array_equal(fb.predict(X_test), np.full(X_test.shape[0], label))
    proba = fb.predict_proba(X_test)
    np.testing.assert_array_equal(proba, np.ones((X_test.shape[0], 1)))
    assert sk.predict_proba(X_test).shape == (X_test.shape[0], 2)  # the difference


# -- early-stopping split: scikit-learn's --------------------------------------------------


@pytest.mark.parametrize("seed", [0, 5])
def test_binary_early_stopping_split_is_sklearns(seed):
    # binary targets: both libraries stratify, so the split (and the frozen
    # loss on it) is the same
    kind, X, y, _, _ = task("binary")
    params = dict(FROZEN, hidden_layer_sizes=(8,), alpha=0.0, early_stopping=True, random_state=seed)
    fb, sk = fit_pair(kind, X, y, **params)
    np.testing.assert_allclose(fb.loss_curve_, sk.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(fb.validation_scores_, sk.validation_scores_, rtol=1e-10)


# -- error messages users match on --------------------------------------------------------


def _message(call):
    with pytest.raises(ValueError) as error:
        call()
    return str(error.value)


@pytest.mark.parametrize("y_other", [[0] * 75 + [1] * 75, [0] * 50 + [1] * 50 + [3] * 50])
def test_warm_start_with_other_classes_has_sklearns_message(y_other):
    _, X, y, _, _ = task("wine")
    X, y = X[:150], np.r_[y[:150]]
    y_other = np.asarray(y_other)

    def refit(Estimator):
        est = Estimator(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=5, warm_start=True, random_state=0)
        est.fit(X, y)
        return lambda: est.fit(X, y_other)

    assert _message(refit(BackpropClassifier)) == _message(refit(MLPClassifier))


def test_partial_fit_with_unknown_labels_has_sklearns_message():
    _, X, y, _, _ = task("binary")

    def second_call(Estimator):
        est = Estimator(hidden_layer_sizes=(3,), random_state=0).partial_fit(X, y, classes=[0, 1])
        return lambda: est.partial_fit(X, np.where(np.arange(len(y)) == 0, 7, y))

    assert _message(second_call(BackpropClassifier)) == _message(second_call(MLPClassifier))


# (lbfgs: scikit-learn returns the initial weights with loss_ NaN here, where
# fastbp raises the same sentence; tests/test_hostile_input.py checks it)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_non_finite_weights_start_with_sklearns_message(solver):
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(10)

    def fit(Estimator):
        return lambda: Estimator(solver=solver, random_state=0).fit(X, y)

    with np.errstate(all="ignore"):
        theirs = _message(fit(MLPRegressor))
        ours = _message(fit(BackpropRegressor))
    assert ours.startswith(theirs + " ")
