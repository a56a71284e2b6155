"""Estimator behaviour that scikit-learn users rely on."""

import pickle
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_digits, load_wine, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropClassifier, BackpropRegressor

try:
    from . import reference
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_float32_stays_float32(wine, solver):
    X, y = wine
    X32 = X.astype(np.float32)
    clf = BackpropClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=20, random_state=0).fit(X32, y)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X32).dtype == np.float32
    reg = BackpropRegressor(hidden_layer_sizes=(8,), solver=solver, max_iter=20, random_state=0)
    assert reg.fit(X32, X[:, 0]).predict(X32).dtype == np.float32
    # float64 (or integer) X meets the float32 weights upcast, as in scikit-learn
    coefs64 = [c.astype(np.float64) for c in reg.coefs_]
    intercepts64 = [b.astype(np.float64) for b in reg.intercepts_]
    for X_other in (X, np.rint(X * 10).astype(np.int64)):
        proba = clf.predict_proba(X_other)
        assert proba.dtype == np.float64
        expected = reference.predict(
            [c.astype(np.float64) for c in clf.coefs_],
            [b.astype(np.float64) for b in clf.intercepts_],
            X_other.astype(np.float64),
            "relu",
            "softmax",
        )
        np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=1e-14)
        pred = reg.predict(X_other)
        assert pred.dtype == np.float64
        expected = reference.predict(coefs64, intercepts64, X_other.astype(np.float64), "relu", "identity")
        np.testing.assert_allclose(pred, expected.ravel(), rtol=1e-12, atol=1e-14)
    # the float64 twin agrees with the float32 model to float32 precision
    clf64 = BackpropClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=20, random_state=0).fit(X, y)
    assert clf64.coefs_[0].dtype == np.float64
    np.testing.assert_allclose(clf.predict_proba(X32), clf64.predict_proba(X), atol=2e-3)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_input_matches_dense(fmt, solver):
    X, y = make_classification(n_samples=120, n_features=30, n_informative=5, random_state=0)
    X[np.abs(X) < 1.0] = 0
    Xs = sparse.csr_matrix(X).asformat(fmt)
    params = dict(hidden_layer_sizes=(7,), solver=solver, max_iter=15, random_state=0)
    dense = BackpropClassifier(**params).fit(X, y)
    sp = BackpropClassifier(**params).fit(Xs, y)
    for a, b in zip(dense.coefs_ + dense.intercepts_, sp.coefs_ + sp.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dense.predict_proba(X), sp.predict_proba(Xs), rtol=1e-9)


def test_coefs_are_views_into_one_parameter_vector(wine):
    X, y = wine
    clf = BackpropClassifier(hidden_layer_sizes=(5, 4), max_iter=3, random_state=0).fit(X, y)
    params = clf._network.params
    for layer in clf.coefs_ + clf.intercepts_:
        assert np.shares_memory(layer, params)
    assert sum(layer.size for layer in clf.coefs_ + clf.intercepts_) == params.size
    assert [c.shape for c in clf.coefs_] == [(13, 5), (5, 4), (4, 3)]
    # assigned weights are copied into the parameter vector used by predict
    # (tests/test_assigned_weights.py has the rest)
    zeros = [np.zeros_like(c) for c in clf.coefs_]
    clf.coefs_ = zeros
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, np.broadcast_to(proba[0], proba.shape))
    assert not clf._network.params[: clf._network.n_coef].any()


def test_pipeline_cross_val_and_grid_search():
    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    pipe = make_pipeline(
        StandardScaler(),
        BackpropClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=30, random_state=0),
    )
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.8
    search = GridSearchCV(pipe, {"backpropclassifier__alpha": [1e-4, 1e-1]}, cv=2).fit(X, y)
    assert search.best_score_ > 0.8


def test_partial_fit_classifier_needs_classes_first():
    X, y = make_classification(n_samples=60, n_classes=3, n_informative=4, random_state=0)
    clf = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:30], y[:30], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and clf.t_ == 30
    clf.partial_fit(X[30:], y[30:])
    assert clf.t_ == 60
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y + 5)


def test_partial_fit_not_offered_for_lbfgs():
    assert not hasattr(BackpropClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(BackpropRegressor(solver="lbfgs"), "partial_fit")
    assert hasattr(BackpropRegressor(solver="sgd"), "partial_fit")


def test_partial_fit_rejects_early_stopping():
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    with pytest.raises(ValueError, match="early_stopping"):
        BackpropRegressor(early_stopping=True).partial_fit(X, y)


def test_warm_start_continues_from_previous_solution(wine):
    X, y = wine
    clf = BackpropClassifier(hidden_layer_sizes=(6,), max_iter=5, warm_start=True, random_state=0).fit(X, y)
    first = [c.copy() for c in clf.coefs_]
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 10
    cold = BackpropClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(cold.coefs_[0], first[0])
    assert not np.allclose(clf.coefs_[0], first[0])
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 2], y[y < 2])


def test_multilabel_and_multioutput():
    X, Y = make_classification(n_samples=80, n_features=6, random_state=0), None
    X = X[0]
    rng = np.random.RandomState(0)
    Y = (X[:, :3] + 0.3 * rng.randn(80, 3) > 0).astype(int)
    clf = BackpropClassifier(hidden_layer_sizes=(10,), max_iter=200, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    assert clf.predict(X).shape == (80, 3)
    assert clf.predict_proba(X).shape == (80, 3)
    assert clf.score(X, Y) > 0.6
    reg = BackpropRegressor(hidden_layer_sizes=(10,), max_iter=50, random_state=0).fit(X, X[:, :2])
    assert reg.predict(X).shape == (80, 2)


def test_predict_proba_binary_and_log_proba(wine):
    X, y = wine
    clf = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0).fit(X, y == 1)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_keyboard_interrupt_between_epochs_leaves_a_fitted_model(wine, monkeypatch):
    X, y = wine
    clf = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0, verbose=True)
    printed = []

    def interrupt_on_third_epoch(*args, **kwargs):
        printed.append(args)
        if len(printed) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr("builtins.print", interrupt_on_third_epoch)
    with pytest.warns(UserWarning, match="interrupted"):
        clf.fit(X, y)
    monkeypatch.undo()
    assert clf.n_iter_ == 3
    assert np.isfinite(clf.coefs_[0]).all()
    assert clf.predict(X).shape == (len(X),)


def test_convergence_warning_when_max_iter_reached(wine):
    X, y = wine
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="Maximum iterations"):
            BackpropClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)


@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_pickle_round_trip_keeps_predictions_and_views(wine, Estimator):
    X, y = wine
    est = Estimator(hidden_layer_sizes=(6,), max_iter=10, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.predict(X), clone.predict(X))
    assert np.shares_memory(clone.coefs_[0], clone._network.params)
    unfitted = pickle.loads(pickle.dumps(Estimator(alpha=0.5)))
    assert unfitted.alpha == 0.5


def test_predict_fast_path_agrees_with_full_validation(wine):
    X, y = wine
    clf = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=10, random_state=0).fit(X, y)
    expected = clf.predict_proba(np.asfortranarray(X))  # takes the full validation path
    np.testing.assert_array_equal(clf.predict_proba(np.ascontiguousarray(X)), expected)
    np.testing.assert_array_equal(clf.predict_proba(X.tolist()), expected)
    bad = X[:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(bad)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :5].copy())


def test_predict_decodes_labels_like_label_binarizer(wine):
    X, y = wine
    labels = np.array(["red", "rose", "white"])[y]
    clf = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=10, random_state=0).fit(X, labels)
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.predict(X), clf._label_binarizer.inverse_transform(proba))
    binary = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=10, random_state=0).fit(X, labels == "rose")
    p = binary.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(binary.predict(X), binary._label_binarizer.inverse_transform(p))


@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_html_repr_links_the_api_page_and_describes_every_parameter(Estimator):
    from urllib.parse import quote

    import sklearn
    from sklearn.utils.fixes import parse_version

    from fastbp._base import DOCS_URL

    if parse_version(sklearn.__version__) < parse_version("1.9"):
        pytest.skip("parameter descriptions in the HTML repr arrived in scikit-learn 1.9")
    link = f"{DOCS_URL}api/generated/fastbp.{Estimator.__name__}.html"
    assert Estimator()._get_doc_link() == link
    html = Estimator(alpha=0.5)._repr_html_()
    assert f'href="{link}"' in html  # the "?" link
    for name in Estimator().get_params():
        # a link into the parameter's entry, and its description as a tooltip
        assert f"{link}#:~:text={quote(name)},-" in html, name
        assert f"{name}: " in html, name
