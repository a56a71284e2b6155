"""scikit-learn's callback API (``sklearn.callback``, scikit-learn >= 1.9).

A recording callback checks the protocol: one fit task, one subtask per
epoch (per L-BFGS iteration), begin and end paired, stop requests obeyed,
and fitted estimators that hold copies of the weights at that moment.
"""

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.fixes import parse_version

from fastbp import BackpropClassifier, BackpropRegressor

HAS_CALLBACKS = parse_version(sklearn.__version__) >= parse_version("1.9")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


class Recorder:
    """Records every hook call; asks to stop at the end of epoch ``stop_at``."""

    def __init__(self, stop_at=None):
        self.stop_at = stop_at
        self.calls = []
        self.snapshots = []

    def setup(self, estimator, context):
        self.calls.append(("setup", None))

    def teardown(self, estimator, context):
        self.calls.append(("teardown", None))

    def on_fit_task_begin(self, estimator, context, *, fitted_estimator=None):
        self.calls.append(("begin", context.task_name))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None, metadata=None):
        self.calls.append(("end", context.task_name))
        if fitted_estimator is not None and context.task_name != "fit":
            self.snapshots.append((fitted_estimator, [c.copy() for c in fitted_estimator.coefs_]))
        epochs = sum(1 for call in self.calls if call == ("end", context.task_name))
        return self.stop_at is not None and context.task_name != "fit" and epochs >= self.stop_at


def test_without_callback_support_there_is_no_set_callbacks():
    # scikit-learn < 1.9 has no sklearn.callback: everything else works
    assert hasattr(BackpropClassifier(), "set_callbacks") == HAS_CALLBACKS


needs_callbacks = pytest.mark.skipif(not HAS_CALLBACKS, reason="sklearn.callback arrived in scikit-learn 1.9")


@needs_callbacks
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_one_task_per_epoch_begin_and_end_paired(diabetes, solver):
    X, y = diabetes
    recorder = Recorder()
    reg = BackpropRegressor(hidden_layer_sizes=(6,), solver=solver, max_iter=7, random_state=0)
    reg.set_callbacks(recorder).fit(X, y)
    calls = recorder.calls
    assert calls[0] == ("setup", None) and calls[-1] == ("teardown", None)
    assert calls[1] == ("begin", "fit") and calls[-2] == ("end", "fit")
    epoch = "epoch" if solver != "lbfgs" else "lbfgs-iter"
    inner = calls[2:-2]
    assert inner == [("begin", epoch), ("end", epoch)] * (len(inner) // 2)
    # every epoch (L-BFGS: every iteration, and the one begun after the last)
    assert len(inner) // 2 == reg.n_iter_ + (solver == "lbfgs")


@needs_callbacks
@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_a_stop_request_ends_training_with_finite_weights(diabetes, solver, early_stopping):
    X, y = diabetes
    params = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=50, random_state=0)
    if solver != "lbfgs":
        params.update(early_stopping=early_stopping, n_iter_no_change=np.inf)
    reg = BackpropRegressor(**params).set_callbacks(Recorder(stop_at=3)).fit(X, y)
    assert reg.n_iter_ == 3
    assert all(np.isfinite(c).all() for c in reg.coefs_ + reg.intercepts_)
    if solver != "lbfgs":  # the same weights as a fit of 3 epochs
        short = BackpropRegressor(**{**params, "max_iter": 3}).fit(X, y)
        for a, b in zip(reg.coefs_, short.coefs_):
            np.testing.assert_array_equal(a, b)


@needs_callbacks
def test_fitted_estimators_hold_copies_of_that_epochs_weights(diabetes):
    X, y = diabetes
    recorder = Recorder()
    reg = BackpropRegressor(hidden_layer_sizes=(6,), max_iter=4, random_state=0).set_callbacks(recorder)
    reg.fit(X, y)
    assert len(recorder.snapshots) == 4
    for epoch, (fitted, coefs_then) in enumerate(recorder.snapshots, start=1):
        # unchanged by the epochs after it, and independent of the live model
        for a, b in zip(fitted.coefs_, coefs_then):
            np.testing.assert_array_equal(a, b)
        assert not np.shares_memory(fitted.coefs_[0], reg._network.params)
        again = BackpropRegressor(hidden_layer_sizes=(6,), max_iter=epoch, random_state=0).fit(X, y)
        np.testing.assert_array_equal(fitted.predict(X), again.predict(X))
    # writing into a fitted copy's layers does not touch the model
    before = reg.predict(X)
    recorder.snapshots[0][0].coefs_[0][...] = 0
    np.testing.assert_array_equal(reg.predict(X), before)


@needs_callbacks
def test_partial_fit_reports_one_epoch():
    X, y = load_iris(return_X_y=True)
    recorder = Recorder()
    clf = BackpropClassifier(hidden_layer_sizes=(4,), random_state=0).set_callbacks(recorder)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    assert [c for c in recorder.calls if c[0] == "begin"] == [("begin", "fit"), ("begin", "epoch")]


@needs_callbacks
def test_scoring_monitor_scores_each_epochs_model(diabetes):
    from sklearn.callback import ScoringMonitor

    X, y = diabetes
    monitor = ScoringMonitor(scoring="r2")
    BackpropRegressor(hidden_layer_sizes=(6,), max_iter=4, random_state=0).set_callbacks(monitor).fit(X, y)
    epochs = [row["r2"] for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    # each epoch's score is that of a fit that ends there
    expected = [
        BackpropRegressor(hidden_layer_sizes=(6,), max_iter=k, random_state=0).fit(X, y).score(X, y)
        for k in range(1, 5)
    ]
    np.testing.assert_allclose(epochs, expected, rtol=1e-12)


@needs_callbacks
def test_callbacks_reach_fastbp_inside_pipeline_and_grid_search(diabetes, capsys):
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar, ScoringMonitor

    X, y = diabetes
    # a ScoringMonitor set on the inner estimator: clone keeps it, so every fit of the search reports
    monitor = ScoringMonitor(scoring="r2")
    inner = BackpropRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).set_callbacks(monitor)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), inner), {"backpropregressor__alpha": [1e-4, 1e-2]}, cv=2
    )
    # fastbp sits at depth 2 (GridSearchCV -> Pipeline -> BackpropRegressor)
    search.set_callbacks(ProgressBar(max_propagation_depth=None))
    search.fit(X, y)
    (log,) = monitor.get_logs(select="all")  # one run: the search's fit
    epochs = [row for row in log.data if row["task_name"] == "epoch"]
    assert len(epochs) == (2 * 2 + 1) * 3  # 2 candidates x 2 folds and the refit, 3 epochs each
    output = capsys.readouterr()
    assert "BackpropRegressor" in output.out + output.err  # the epoch bars were drawn
