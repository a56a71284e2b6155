"""``history_``: one row per epoch, appended by warm starts and partial_fit."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropClassifier, BackpropRegressor
from fastbp._driver import HISTORY_KEYS

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def _table(est):
    table = pd.DataFrame(est.history_)
    assert list(table.columns) == list(HISTORY_KEYS)
    return table


def test_history_of_a_plain_fit(diabetes):
    X, y = diabetes
    reg = BackpropRegressor(hidden_layer_sizes=(8,), max_iter=12, random_state=0).fit(X, y)
    table = _table(reg)
    assert len(table) == reg.n_iter_ == 12
    np.testing.assert_array_equal(table["epoch"], np.arange(1, 13))
    np.testing.assert_array_equal(table["loss"], reg.loss_curve_)
    assert table["validation_loss"].isna().all() and table["validation_score"].isna().all()
    assert (table["learning_rate"] == 0.001).all()
    assert (table["seconds"] > 0).all()


def test_history_with_early_stopping_and_a_schedule(diabetes):
    X, y = diabetes
    reg = BackpropRegressor(
        hidden_layer_sizes=(8,), solver="sgd", learning_rate="invscaling", learning_rate_init=0.05,
        power_t=0.5, max_iter=10, early_stopping=True, n_iter_no_change=np.inf, random_state=0,
    ).fit(X, y)  # fmt: skip
    table = _table(reg)
    np.testing.assert_array_equal(table["validation_score"], reg.validation_scores_)
    np.testing.assert_array_equal(table["validation_loss"], reg.validation_loss_curve_)
    # invscaling: learning_rate_init / (t + 1) ** power_t, t the samples seen before the epoch
    n_train = reg.t_ // reg.n_iter_
    expected = [0.05] + [0.05 / (n_train * k + 1) ** 0.5 for k in range(1, 10)]
    np.testing.assert_allclose(table["learning_rate"], expected, rtol=1e-12)


def test_warm_start_and_partial_fit_append_and_a_fresh_fit_resets(diabetes):
    X, y = diabetes
    reg = BackpropRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0, warm_start=True).fit(X, y)
    reg.set_params(max_iter=3).fit(X, y)
    table = _table(reg)
    np.testing.assert_array_equal(table["epoch"], np.arange(1, 9))
    np.testing.assert_array_equal(table["loss"][5:], reg.loss_curve_[-3:])
    for _ in range(2):
        reg.partial_fit(X, y)
    assert len(reg.history_["epoch"]) == 10
    reg.set_params(warm_start=False, max_iter=4).fit(X, y)
    np.testing.assert_array_equal(_table(reg)["epoch"], np.arange(1, 5))


def test_partial_fit_history_counts_calls():
    X, y = load_iris(return_X_y=True)
    clf = BackpropClassifier(hidden_layer_sizes=(4,), random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_array_equal(_table(clf)["epoch"], [1, 2, 3])
    np.testing.assert_array_equal(clf.history_["loss"], clf.loss_curve_)


def test_lbfgs_history_has_one_row_per_iteration(diabetes):
    X, y = diabetes
    reg = BackpropRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=15, random_state=0).fit(X, y)
    table = _table(reg)
    assert len(table) == reg.n_iter_ == 15
    assert np.isfinite(table["loss"]).all() and table["learning_rate"].isna().all()
    assert table["loss"].iloc[-1] == pytest.approx(reg.loss_, rel=1e-12)
    assert table["loss"].iloc[-1] < table["loss"].iloc[0]


def test_history_survives_pickling(diabetes):
    X, y = diabetes
    reg = BackpropRegressor(hidden_layer_sizes=(8,), max_iter=4, random_state=0, warm_start=True).fit(X, y)
    loaded = pickle.loads(pickle.dumps(reg))
    pd.testing.assert_frame_equal(_table(loaded), _table(reg))  # (NaN == NaN there)
    loaded.fit(X, y)  # a warm start after loading keeps appending
    assert len(loaded.history_["epoch"]) == 8


# -- the display --------------------------------------------------------------------------


@pytest.fixture
def pyplot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


@pytest.mark.parametrize("metric", ["score", "loss"])
def test_display_draws_the_history_and_marks_the_kept_epoch(diabetes, pyplot, metric, monkeypatch):
    from fastbp import TrainingHistoryDisplay

    X, y = diabetes
    reg = BackpropRegressor(
        hidden_layer_sizes=(8,), early_stopping=True, early_stopping_metric=metric, n_iter_no_change=np.inf,
        learning_rate_init=0.01, max_iter=25, random_state=0,
    ).fit(X, y)  # fmt: skip
    with monkeypatch.context() as patch:  # it reads history_, never refits
        patch.setattr(BackpropRegressor, "fit", lambda *args, **kwargs: pytest.fail("refitted"))
        display = TrainingHistoryDisplay.from_estimator(reg)
    assert sorted(display.lines_) == ["best_epoch", "learning_rate", "loss", "validation_loss"]
    np.testing.assert_array_equal(display.lines_["loss"].get_ydata(), reg.loss_curve_)
    np.testing.assert_array_equal(display.lines_["validation_loss"].get_ydata(), reg.validation_loss_curve_)
    np.testing.assert_array_equal(display.lines_["learning_rate"].get_xdata(), np.arange(1, 26))
    # the kept epoch: a fit that ends there has the model's weights
    best = display.lines_["best_epoch"].get_xdata()[0]
    shorter = BackpropRegressor(**{**reg.get_params(), "max_iter": int(best)}).fit(X, y)
    np.testing.assert_array_equal(shorter.predict(X), reg.predict(X))
    assert display.figure_ is display.ax_.figure and display.learning_rate_ax_ is not None


def test_display_on_given_axes_without_validation(diabetes, pyplot):
    from fastbp import TrainingHistoryDisplay

    X, y = diabetes
    reg = BackpropRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=10, random_state=0).fit(X, y)
    _, ax = pyplot.subplots()
    display = TrainingHistoryDisplay.from_estimator(reg, ax=ax, loss_kw={"color": "red"})
    assert display.ax_ is ax and sorted(display.lines_) == ["loss"]  # no validation, no learning rate
    assert display.lines_["loss"].get_color() == "red"
    with pytest.raises(Exception, match="not fitted"):
        TrainingHistoryDisplay.from_estimator(BackpropRegressor())
