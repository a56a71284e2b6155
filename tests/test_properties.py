"""Property-based tests: random small problems never break fastbp's estimators.

Hypothesis draws the *shape* of a problem (rows, features, hidden layers,
batch size, dtype, dense/CSR/CSC, solver, activation, target kind, sample
weights, labels) plus an integer seed; the data themselves come from a
``numpy.random.RandomState`` seeded with it, kept moderate (standard
normal inputs, small non-negative Poisson counts), and every fit runs only
a few epochs. The properties are the estimator contract that must hold for
*any* such problem, trained well or not:

- ``fit`` returns the estimator without raising (convergence warnings and
  the batch-size clipping warning are expected and filtered);
- ``coefs_`` / ``intercepts_`` have the network's shapes, the training
  data's dtype (float32 stays float32) and finite values, and so has
  ``loss_``;
- ``predict_proba`` (and regression ``predict``) have shape
  ``(n_samples, n_outputs)`` in the model's dtype, whatever the dtype and
  format of the data predicted on; probabilities are finite, in [0, 1],
  and rows sum to 1 for binary/multiclass targets;
- ``predict`` returns labels from ``classes_`` (a 0/1 indicator matrix for
  multilabel targets) and agrees with ``predict_proba``;
- predicting the same rows dense, as CSR or as CSC gives the same output;
- ``partial_fit`` (adam/sgd) keeps the same contract epoch by epoch, also
  when ``classes`` names a class the data lack.

Every test uses ``derandomize=True``, so CI runs the same examples each
time; shrunk failures are reproducible from the printed example.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning

from fastbp import BackpropClassifier, BackpropRegressor

SOLVERS = ("adam", "sgd", "lbfgs")
ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
DTYPES = (np.float64, np.float32)
FORMATS = ("dense", "csr", "csc")

PROPERTY_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- strategies -------------------------------------------------------------


@st.composite
def problems(draw, task):
    """One random problem: estimator parameters and the recipe for its data.

    ``task`` is 'classification' or 'regression'. Returns a dict; the
    arrays are built by :func:`make_data` from its ``seed``.
    """
    if task == "classification":
        target = draw(st.sampled_from(["binary", "multiclass", "multilabel"]))
        n_samples = draw(st.integers(2, 50))  # at least two classes must be present
    else:
        target = draw(st.sampled_from(["squared_error", "multi_output", "poisson"]))
        n_samples = draw(st.integers(1, 50))
    n_features = draw(st.integers(1, 20))
    hidden = tuple(draw(st.lists(st.integers(1, 20), min_size=0, max_size=3)))
    batch_size = draw(st.one_of(st.just("auto"), st.integers(1, n_samples + 10)))
    solver = draw(st.sampled_from(SOLVERS))
    params = dict(
        hidden_layer_sizes=hidden,
        activation=draw(st.sampled_from(ACTIVATIONS)),
        solver=solver,
        batch_size=batch_size,
        alpha=draw(st.sampled_from([0.0, 1e-4, 1e-1])),
        learning_rate_init=draw(st.sampled_from([1e-3, 1e-2])),
        max_iter=draw(st.integers(1, 4)),
        shuffle=draw(st.booleans()),
        random_state=draw(st.integers(0, 2**16)),
    )
    if solver == "sgd":
        params.update(
            learning_rate=draw(st.sampled_from(["constant", "invscaling", "adaptive"])),
            momentum=draw(st.sampled_from([0.0, 0.9])),
            nesterovs_momentum=draw(st.booleans()),
        )
    problem = dict(
        task=task,
        target=target,
        n_samples=n_samples,
        n_features=n_features,
        dtype=draw(st.sampled_from(DTYPES)),
        fmt=draw(st.sampled_from(FORMATS)),
        density=draw(st.sampled_from([1.0, 0.5, 0.1])),
        weights=draw(st.sampled_from([None, "uniform", "spread"])),
        n_test=draw(st.one_of(st.integers(1, 70), st.just(513))),
        test_dtype=draw(st.sampled_from(DTYPES)),
        seed=draw(st.integers(0, 2**32 - 1)),
        params=params,
    )
    if task == "classification":
        # binary: 2 classes; multiclass: 3-5 classes; multilabel: 2-5 labels
        # (multiclass needs 3 rows to show 3 classes; with 2 rows it is binary)
        if target == "binary":
            problem["n_classes"] = 2
        else:
            problem["n_classes"] = draw(st.integers(3 if target == "multiclass" else 2, 5))
        problem["labels"] = (
            "indicator" if target == "multilabel" else draw(st.sampled_from(["int", "str", "float"]))
        )
    elif target == "multi_output":
        problem["n_outputs"] = draw(st.integers(2, 4))
    else:
        problem["params"]["loss"] = target
        if target == "poisson":
            problem["int_targets"] = draw(st.booleans())  # counts as int64 or float64
    return problem


def random_matrix(rng, n_samples, n_features, density, dtype, fmt):
    X = rng.standard_normal((n_samples, n_features))
    if density < 1.0:
        X[rng.uniform(size=X.shape) >= density] = 0.0
    X = X.astype(dtype)
    if fmt == "dense":
        return X
    return sparse.csr_matrix(X).asformat(fmt)


def make_data(problem):
    """``X, y, sample_weight, X_test`` for ``problem``."""
    rng = np.random.RandomState(problem["seed"])
    n = problem["n_samples"]
    X = random_matrix(rng, n, problem["n_features"], problem["density"], problem["dtype"], problem["fmt"])
    target = problem["target"]
    if target in ("binary", "multiclass"):
        k = min(problem["n_classes"], n)
        codes = rng.randint(k, size=n)
        codes[:k] = rng.permutation(k)  # every class present
        alphabet = {
            "int": np.array([-3, 0, 7, 12, 40]),
            "str": np.array(["ant", "bee", "cat", "dog", "eel"]),
            "float": np.array([-1.0, 0.0, 2.0, 3.0, 1e3]),
        }[problem["labels"]]
        y = alphabet[codes]
    elif target == "multilabel":
        y = (rng.uniform(size=(n, problem["n_classes"])) < 0.5).astype(int)
        # an indicator matrix whose rows are all equal would still be
        # multilabel; make sure at least two distinct label sets appear
        if n >= 2 and (y == y[0]).all():
            y[1] = 1 - y[0]
    elif target == "squared_error":
        y = rng.standard_normal(n)
    elif target == "multi_output":
        y = rng.standard_normal((n, problem["n_outputs"]))
    else:  # poisson
        y = rng.poisson(1.0, size=n)
        if not problem["int_targets"]:
            y = y.astype(float)

    sample_weight = None
    if problem["weights"] == "uniform":
        sample_weight = rng.uniform(0.5, 1.5, size=n)
    elif problem["weights"] == "spread":
        sample_weight = np.exp(rng.uniform(-3.0, 3.0, size=n))

    X_test = rng.standard_normal((problem["n_test"], problem["n_features"])).astype(problem["test_dtype"])
    return X, y, sample_weight, X_test


def fit_quietly(estimator, X, y, sample_weight):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=r"batch_size=\d+ is larger than the number of samples")
        returned = estimator.fit(X, y, sample_weight=sample_weight)
    assert returned is estimator
    return estimator


def as_format(X, fmt):
    if fmt == "dense":
        return X.toarray() if sparse.issparse(X) else X
    return sparse.csr_matrix(X).asformat(fmt)


def tolerance(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-12)


# -- shared checks ------------------------------------------------------------


def check_parameters(est, problem, n_outputs):
    dtype = np.dtype(problem["dtype"])
    units = [problem["n_features"], *problem["params"]["hidden_layer_sizes"], n_outputs]
    assert est.n_layers_ == len(units)
    assert est.n_outputs_ == n_outputs
    assert est.n_features_in_ == problem["n_features"]
    assert len(est.coefs_) == len(est.intercepts_) == len(units) - 1
    for i, (coef, intercept) in enumerate(zip(est.coefs_, est.intercepts_)):
        assert coef.shape == (units[i], units[i + 1])
        assert intercept.shape == (units[i + 1],)
        assert coef.dtype == dtype and intercept.dtype == dtype
        assert np.isfinite(coef).all(), f"non-finite coefs_[{i}]"
        assert np.isfinite(intercept).all(), f"non-finite intercepts_[{i}]"
    assert np.isfinite(est.loss_)
    assert 0 <= est.n_iter_ <= problem["params"]["max_iter"]


def prediction_inputs(X, X_test):
    """The training rows in every layout (plus the test rows), to predict on.

    Names starting with 'train' hold the same rows, so must predict alike.
    """
    yield "train", X
    for fmt in FORMATS:
        yield f"train-{fmt}", as_format(X, fmt)
    dense = as_format(X, "dense")
    yield "train-fortran", np.asfortranarray(dense)
    if dense.dtype == np.float32:
        yield "train-float64", dense.astype(np.float64)  # same values, cast back exactly
    else:
        yield "rounded-float32", dense.astype(np.float32)  # other values: not compared
    yield "train-csr_array", sparse.csr_array(dense)
    yield "test", X_test
    yield "test-csc", sparse.csc_matrix(X_test)


def output_dtype(model_dtype, Xp):
    """scikit-learn's rule: float32 only for a float32 model given float32 X."""
    both_float32 = np.dtype(model_dtype) == np.float32 and Xp.dtype == np.float32
    return np.dtype(np.float32 if both_float32 else np.float64)


def outputs_on_every_input(predict, X, X_test, dtype):
    """``(name, Xp, predict(Xp))`` for every prediction input ``Xp``.

    Asserts on the way that the outputs for the training rows agree across
    layouts (the caller checks each output itself).
    """
    reference = None
    for name, Xp in prediction_inputs(X, X_test):
        output = predict(Xp)
        yield name, Xp, output
        if name.startswith("train"):
            if reference is None:
                reference = output
            else:  # same rows, another format: same outputs
                np.testing.assert_allclose(output, reference, **tolerance(dtype), err_msg=name)


# -- properties ----------------------------------------------------------------


@settings(PROPERTY_SETTINGS, max_examples=700)
@given(problem=problems("classification"))
def test_classifier_contract(problem):
    X, y, sample_weight, X_test = make_data(problem)
    clf = fit_quietly(BackpropClassifier(**problem["params"]), X, y, sample_weight)
    dtype = np.dtype(problem["dtype"])
    multilabel = problem["target"] == "multilabel"

    if multilabel:
        np.testing.assert_array_equal(clf.classes_, np.arange(y.shape[1]))
        n_outputs = y.shape[1]
    else:
        np.testing.assert_array_equal(clf.classes_, np.unique(y))
        n_outputs = 1 if len(clf.classes_) == 2 else len(clf.classes_)
    assert clf.out_activation_ == ("softmax" if n_outputs > 1 and not multilabel else "logistic")
    check_parameters(clf, problem, n_outputs)

    for name, Xp, proba in outputs_on_every_input(clf.predict_proba, X, X_test, dtype):
        n = Xp.shape[0]
        assert proba.shape == (n, len(clf.classes_)), name
        assert proba.dtype == output_dtype(dtype, Xp), name
        assert np.isfinite(proba).all(), f"non-finite probabilities ({name})"
        assert ((proba >= 0) & (proba <= 1)).all(), f"probabilities outside [0, 1] ({name})"
        if not multilabel:
            np.testing.assert_allclose(
                proba.sum(axis=1), 1.0, rtol=0, atol=1e-5 if dtype == np.float32 else 1e-12
            )

        pred = clf.predict(Xp)
        if multilabel:
            assert pred.shape == (n, len(clf.classes_)), name
            assert np.isin(pred, [0, 1]).all(), name
            np.testing.assert_array_equal(pred, (proba > 0.5).astype(pred.dtype))
        else:
            assert pred.shape == (n,), name
            assert pred.dtype == clf.classes_.dtype, name
            assert np.isin(pred, clf.classes_).all(), f"predicted labels not in classes_ ({name})"
            # the predicted label is a most probable one
            picked = proba[np.arange(n), np.searchsorted(clf.classes_, pred)]
            np.testing.assert_allclose(picked, proba.max(axis=1), **tolerance(dtype))


@settings(PROPERTY_SETTINGS, max_examples=500)
@given(problem=problems("regression"))
def test_regressor_contract(problem):
    X, y, sample_weight, X_test = make_data(problem)
    reg = fit_quietly(BackpropRegressor(**problem["params"]), X, y, sample_weight)
    dtype = np.dtype(problem["dtype"])
    n_outputs = 1 if y.ndim == 1 else y.shape[1]
    assert reg.out_activation_ == ("exp" if problem["target"] == "poisson" else "identity")
    check_parameters(reg, problem, n_outputs)

    for name, Xp, pred in outputs_on_every_input(reg.predict, X, X_test, dtype):
        n = Xp.shape[0]
        assert pred.shape == ((n,) if y.ndim == 1 else (n, n_outputs)), name
        assert pred.dtype == output_dtype(dtype, Xp), name
        assert np.isfinite(pred).all(), f"non-finite predictions ({name})"
        if problem["target"] == "poisson":
            assert (pred >= 0).all(), f"negative Poisson mean ({name})"


def partial_fit_epochs(est, X, y, sample_weight, refits, **kwargs):
    """``refits`` partial_fit calls; every one keeps the parameters' dtype and finiteness.

    A call may diverge (an exp output under SGD with momentum can): it must
    then raise fastbp's ValueError and keep the finite weights from before.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"batch_size=\d+ is larger than the number of samples")
        for _ in range(refits):
            try:
                assert est.partial_fit(X, y, sample_weight=sample_weight, **kwargs) is est
            except ValueError as error:
                assert "non-finite parameter weights" in str(error) and "kept the weights" in str(error)
                diverged = True
            else:
                diverged = False
            for layer in est.coefs_ + est.intercepts_:
                assert layer.dtype == X.dtype
                assert np.isfinite(layer).all()
            if diverged:
                return
    assert est.n_iter_ == 1  # as in scikit-learn: one epoch per call, not cumulated
    assert est.t_ == refits * X.shape[0]


@settings(PROPERTY_SETTINGS, max_examples=150)
@given(problem=problems("classification"), refits=st.integers(1, 3), extra_class=st.booleans())
def test_classifier_partial_fit_keeps_contract(problem, refits, extra_class):
    """Stochastic solvers, epoch by epoch; ``classes`` may name a class y lacks."""
    if problem["params"]["solver"] == "lbfgs":
        problem["params"]["solver"] = "adam"
    X, y, sample_weight, X_test = make_data(problem)
    if problem["target"] == "multilabel":
        classes = np.arange(y.shape[1])
    else:
        classes = np.unique(y)
        if extra_class:
            classes = np.append(classes, {"int": 99, "str": "zzz", "float": 99.0}[problem["labels"]])
    clf = BackpropClassifier(**problem["params"])
    partial_fit_epochs(clf, X, y, sample_weight, refits, classes=classes)
    np.testing.assert_array_equal(clf.classes_, np.sort(classes))
    proba = clf.predict_proba(X_test)
    assert proba.shape == (X_test.shape[0], len(classes))
    assert proba.dtype == output_dtype(X.dtype, X_test) and np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    if problem["target"] != "multilabel":
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        assert np.isin(clf.predict(X_test), clf.classes_).all()


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(problem=problems("regression"), refits=st.integers(1, 3))
def test_regressor_partial_fit_keeps_contract(problem, refits):
    if problem["params"]["solver"] == "lbfgs":
        problem["params"]["solver"] = "sgd"
    X, y, sample_weight, X_test = make_data(problem)
    reg = BackpropRegressor(**problem["params"])
    partial_fit_epochs(reg, X, y, sample_weight, refits)
    pred = reg.predict(X_test)
    assert pred.shape == (X_test.shape[0],) + y.shape[1:]
    assert pred.dtype == output_dtype(X.dtype, X_test) and np.isfinite(pred).all()


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_larger_than_samples_is_clipped_with_warning(solver, dtype):
    """The UserWarning the properties filter exists, and only for stochastic solvers."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((5, 3)).astype(dtype)
    y = np.array([0, 1, 0, 1, 1])
    clf = BackpropClassifier(hidden_layer_sizes=(4,), solver=solver, batch_size=6, max_iter=2, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    clipped = [w for w in caught if "is larger than the number of samples" in str(w.message)]
    assert len(clipped) == (solver != "lbfgs")
    assert clf.predict_proba(X).dtype == dtype
