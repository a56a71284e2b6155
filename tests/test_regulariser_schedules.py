"""RealMLP's 'flat_cos' schedules of the dropout rates and the weight decay.

- The schedule's values at every step against its closed form, and at known
  fractions of the run.
- A fit with either schedule against the plain-NumPy reference
  (tests/reference.py; the masked network of tests/test_dropout.py), every
  step's rates or decay set from the closed form, in float64 and float32.
- The compiled epoch against the same epoch driven by hand, one call per
  step with that step's rates and decay as constants.
- Blocked batches and thread counts: the same weights (in
  tests/test_dropout.py, with the schedules on).
- Defaults and 'constant' change nothing; ``history_`` records the values.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from fastbp import BackpropClassifier, BackpropRegressor, _backprop, _driver, _regularisers
from fastbp._optimizers import ADAM, COSLOG4, FLAT_COS, PER_EPOCH, SGD, schedule_factor

try:
    from . import reference as ref
    from .test_dropout import (
        record_seed_and_start,
        reference_masked_loss_grad,
        reference_masks,
    )
    from .test_kernels import BATCH_SIZE, N_SAMPLES, Problem
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference as ref
    from test_dropout import (
        record_seed_and_start,
        reference_masked_loss_grad,
        reference_masks,
    )
    from test_kernels import BATCH_SIZE, N_SAMPLES, Problem

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
# float64 to rounding; float32 as the other reference tests of several epochs
RTOL = {np.float64: 1e-10, np.float32: 1e-4}


# -- the schedule's values ----------------------------------------------------------------------


@pytest.mark.parametrize("n_steps", [1, 2, 7, 40, 1280])
def test_flat_cos_values_per_step(n_steps):
    for k in range(n_steps + 1):  # (step n_steps: the end of the run)
        expected = ref.schedule("flat_cos", k, n_steps)
        for factor in (schedule_factor, _driver._schedule_factor):  # compiled, and the driver's Python
            assert factor(FLAT_COS, k, n_steps, 0) == pytest.approx(expected, rel=1e-13, abs=1e-15)


@pytest.mark.parametrize(
    "fraction, value",
    [
        (0.0, 1.0),
        (0.25, 1.0),
        (0.499, 1.0),
        (0.5, 1.0),  # continuous where the cosine starts
        (0.625, 0.5 + 0.25 * np.sqrt(2)),
        (0.75, 0.5),
        (0.875, 0.5 - 0.25 * np.sqrt(2)),
        (1.0, 0.0),
    ],
)
def test_flat_cos_at_known_fractions(fraction, value):
    n = 8000
    assert schedule_factor(FLAT_COS, round(fraction * n), n, 0) == pytest.approx(value, abs=1e-15)


# -- a fit against the NumPy reference ------------------------------------------------------------

X_REG, Y_REG = make_regression(n_samples=N_SAMPLES, n_features=3, noise=1.0, random_state=0)
Y_REG = Y_REG / 100
N_EPOCHS = 4
STEPS_PER_EPOCH = -(-N_SAMPLES // BATCH_SIZE)  # 4: the last batch short
N_STEPS = N_EPOCHS * STEPS_PER_EPOCH


class ScheduledDecay:
    """A reference optimizer whose weight decay at step ``k`` is ``base * flat_cos(k / n_steps)``."""

    def __init__(self, optimizer, base, n_steps):
        self.optimizer, self.base, self.n_steps = optimizer, base, n_steps
        self.k = 0

    def step(self, params, grads, learning_rate=None, n_decayed=0):
        self.optimizer.weight_decay = self.base * ref.schedule("flat_cos", self.k, self.n_steps)
        self.k += 1
        self.optimizer.step(params, grads, learning_rate, n_decayed)


@pytest.mark.parametrize("learning_rate", ["constant", "coslog4"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@DTYPES
def test_weight_decay_schedule_is_the_reference_run(dtype, solver, learning_rate):
    rng = np.random.RandomState(1)
    units = [3, 4, 1]
    coefs = [rng.uniform(-0.5, 0.5, (a, b)) for a, b in zip(units[:-1], units[1:])]
    intercepts = [rng.uniform(-0.5, 0.5, b) for b in units[1:]]
    X = X_REG.astype(dtype)
    est = BackpropRegressor(
        hidden_layer_sizes=(4,), solver=solver, learning_rate=learning_rate, learning_rate_init=0.02,
        alpha=0.3, batch_size=BATCH_SIZE, max_iter=N_EPOCHS, shuffle=False, warm_start=True,
        weight_decay=2.0, weight_decay_schedule="flat_cos", random_state=0,
    )  # fmt: skip
    est.coefs_ = [c.astype(dtype) for c in coefs]
    est.intercepts_ = [b.astype(dtype) for b in intercepts]
    est.fit(X, Y_REG)
    assert est.coefs_[0].dtype == dtype

    # the reference starts from the weights the fit started from (rounded to dtype)
    coefs = [c.astype(dtype).astype(np.float64) for c in coefs]
    intercepts = [b.astype(dtype).astype(np.float64) for b in intercepts]
    Reference = ref.Adam if solver == "adam" else ref.SGD
    optimizer = ScheduledDecay(Reference(coefs + intercepts, 0.02), 2.0, N_STEPS)

    def step_size(k):
        return 0.02 if learning_rate == "constant" else 0.02 * ref.schedule(learning_rate, k, N_STEPS)

    Y = Y_REG.reshape(-1, 1)
    for epoch in range(N_EPOCHS):
        ref.run_epoch(
            coefs, intercepts, X.astype(np.float64), Y, np.ones(N_SAMPLES), np.arange(N_SAMPLES), BATCH_SIZE,
            "relu", "identity", 0.3, optimizer, dtype, step_size, epoch * STEPS_PER_EPOCH,
        )  # fmt: skip
        step_0 = epoch * STEPS_PER_EPOCH
        decay = 2.0 * ref.schedule("flat_cos", step_0, N_STEPS)
        assert est.history_["weight_decay"][epoch] == pytest.approx(decay, rel=1e-13)
    assert optimizer.k == N_STEPS
    for a, b in zip(est.coefs_ + est.intercepts_, coefs + intercepts):
        atol = RTOL[dtype] * np.abs(b).max()
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=atol)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@DTYPES
def test_dropout_schedule_is_the_masked_reference_run(dtype, solver, monkeypatch):
    """Four epochs of three steps: each step's masks and scaling at the rates times flat_cos(step / 12)."""
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    X = X.astype(dtype)
    rates, units = np.array([0.2, 0.4]), [4, 7, 5, 1]
    seen = record_seed_and_start(monkeypatch)
    model = BackpropRegressor(
        hidden_layer_sizes=(7, 5), batch_size=20, max_iter=4, random_state=3, shuffle=False, solver=solver,
        learning_rate_init=1e-2, alpha=1e-3, dropout=list(rates), dropout_schedule="flat_cos",
    ).fit(X, y)  # fmt: skip

    params = seen["start"]
    n_coef = sum(a * b for a, b in zip(units[:-1], units[1:]))
    opt = ref.Adam([params], 1e-2) if solver == "adam" else ref.SGD([params], 1e-2, 0.9, True)
    X_ref, Y = X.astype(np.float64), y[:, None].astype(dtype).astype(np.float64)
    for epoch in range(4):
        key = _regularisers.epoch_key(seen["seed"], epoch)
        for b, s in enumerate(range(0, 60, 20)):
            step_rates = rates * ref.schedule("flat_cos", 3 * epoch + b, 12)
            rows = np.arange(s, s + 20)
            masks = reference_masks(key, rows, units[1:-1], step_rates)
            c, i = ref.unpack(params, units)
            _, g = reference_masked_loss_grad(
                c, i, X_ref[rows], Y[rows], np.ones(20), "relu", "identity", masks, step_rates
            )
            l2 = np.concatenate([1e-3 * params[:n_coef], np.zeros(params.size - n_coef)])
            opt.step([params], [(g + l2) / 20])
        expected = tuple(rates * ref.schedule("flat_cos", 3 * epoch, 12))
        np.testing.assert_allclose(model.history_["dropout"][epoch], expected, rtol=1e-13)
    weights = ref.pack(model.coefs_, model.intercepts_)
    np.testing.assert_allclose(weights, params, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(params).max())


# -- the compiled epoch against the same steps driven by hand --------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@DTYPES
def test_epoch_is_its_steps_with_the_rates_set_by_hand(dtype, solver):
    """Per step, not per epoch: an epoch of scheduled steps is its steps run one by one at constant rates."""
    rates, wd, n_steps = np.array([0.3, 0.2]), 0.4, 6
    runs = []
    for by_hand in (False, True):
        p = Problem((5, 4), "relu", "identity", dtype, weighted=True)
        state_1 = np.zeros(p.network.n_params, dtype=dtype)
        state_2 = np.zeros(p.network.n_params if solver == "adam" else 0, dtype=dtype)
        settings = dict(
            solver=ADAM if solver == "adam" else SGD, lr=0.01, alpha=0.1, momentum=0.9, nesterov=True,
            beta_1=0.9, beta_2=0.999, epsilon=1e-8, schedule=COSLOG4, n_steps=n_steps,
        )  # fmt: skip
        data, work = p.data(False), p.network.workspace(BATCH_SIZE, False)
        rows = np.random.RandomState(5).permutation(N_SAMPLES).astype(np.int64)
        t = 0
        # the second epoch of a run of two: steps 3 to 5, the cosine half
        for epoch, step_0 in ((0, 0), (1, 3)):
            key = _regularisers.epoch_key(11, epoch)
            epoch_rows = rows[: 3 * BATCH_SIZE]
            if not by_hand:
                optimizer = _backprop.optimizer_tuple(
                    dtype, state_1, state_2, **settings, t=t, step_0=step_0, drop_rates=rates, drop_key=key,
                    drop_schedule=FLAT_COS, decay_schedule=FLAT_COS, weight_decay=wd,
                )  # fmt: skip
                _, t = _backprop.run_epoch(p.network.net(), data, work, optimizer, epoch_rows, BATCH_SIZE)
                continue
            for b in range(3):
                f = schedule_factor(FLAT_COS, step_0 + b, n_steps, 0)
                optimizer = _backprop.optimizer_tuple(
                    dtype, state_1, state_2, **settings, t=t, step_0=step_0 + b, drop_rates=rates * f,
                    drop_key=key, weight_decay=wd * f,
                )  # fmt: skip
                batch = epoch_rows[b * BATCH_SIZE : (b + 1) * BATCH_SIZE]
                _, t = _backprop.run_epoch(p.network.net(), data, work, optimizer, batch, BATCH_SIZE)
        runs.append(p.network.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_the_default_tuple_names_no_schedule_kernel():
    empty = np.empty(0)
    fields = _backprop.optimizer_tuple(np.float64, empty, empty, drop_rates=[0.5], weight_decay=0.1)
    assert fields[23:25] == (0, 0)
    fields = _backprop.optimizer_tuple(
        np.float64, empty, empty, drop_schedule=FLAT_COS, decay_schedule=PER_EPOCH, weight_decay=0.1
    )
    assert fields[23] != 0 and fields[24] == 0


# -- defaults, the history, the run ---------------------------------------------------------------

X_CLF, Y_CLF = make_classification(n_samples=100, n_features=4, random_state=0)


def _weights(est):
    return est.coefs_ + est.intercepts_


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_constant_is_the_default_and_changes_nothing(solver):
    kw = dict(hidden_layer_sizes=(6, 3), solver=solver, batch_size=16, max_iter=6, random_state=0)
    for options in ({}, {"dropout": 0.2, "weight_decay": 0.1}):
        default = BackpropClassifier(**kw, **options).fit(X_CLF, Y_CLF)
        constant = BackpropClassifier(
            **kw, **options, dropout_schedule="constant", weight_decay_schedule="constant"
        ).fit(X_CLF, Y_CLF)
        for a, b in zip(_weights(default), _weights(constant)):
            np.testing.assert_array_equal(a, b)
        assert default.history_["dropout"] == [options.get("dropout", 0.0)] * 6
        assert default.history_["weight_decay"] == [options.get("weight_decay", 0.0)] * 6
    # with nothing to schedule, flat_cos is the default fit too
    flat = BackpropClassifier(**kw, dropout_schedule="flat_cos", weight_decay_schedule="flat_cos")
    default = BackpropClassifier(**kw).fit(X_CLF, Y_CLF)
    for a, b in zip(_weights(default), _weights(flat.fit(X_CLF, Y_CLF))):
        np.testing.assert_array_equal(a, b)
    # and each schedule changes a fit with its regulariser on
    for options in (
        {"dropout": 0.3, "dropout_schedule": "flat_cos"},
        {"weight_decay": 0.5, "weight_decay_schedule": "flat_cos"},
    ):
        base = {k: v for k, v in options.items() if not k.endswith("schedule")}
        a = BackpropClassifier(**kw, **base).fit(X_CLF, Y_CLF)
        b = BackpropClassifier(**kw, **options).fit(X_CLF, Y_CLF)
        assert not np.allclose(a.coefs_[0], b.coefs_[0], rtol=1e-6, atol=0)


def test_history_under_early_stopping_counts_training_rows():
    """80 training rows of 100 in batches of 16: 5 steps per epoch, 8 epochs, 40 steps."""
    clf = BackpropClassifier(
        hidden_layer_sizes=(3,), batch_size=16, max_iter=8, early_stopping=True, validation_fraction=0.2,
        n_iter_no_change=np.inf, dropout=0.3, weight_decay=0.05, dropout_schedule="flat_cos",
        weight_decay_schedule="flat_cos", random_state=0,
    ).fit(X_CLF, Y_CLF)  # fmt: skip
    factors = np.array([ref.schedule("flat_cos", 5 * e, 40) for e in range(8)])
    np.testing.assert_allclose(clf.history_["dropout"], 0.3 * factors, rtol=1e-13)
    np.testing.assert_allclose(clf.history_["weight_decay"], 0.05 * factors, rtol=1e-13)
    assert factors[:4].tolist() == [1.0] * 4 and factors[-1] < 0.2


def test_each_fit_restarts_the_run_and_lbfgs_records_nan():
    clf = BackpropClassifier(
        hidden_layer_sizes=(3,), batch_size=20, max_iter=5, warm_start=True, dropout=0.2,
        dropout_schedule="flat_cos", random_state=0,
    )  # fmt: skip
    clf.fit(X_CLF, Y_CLF)
    first = list(clf.history_["dropout"])
    clf.fit(X_CLF, Y_CLF)
    assert clf.history_["dropout"] == first + first
    lbfgs = BackpropClassifier(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=5, random_state=0)
    lbfgs.fit(X_CLF, Y_CLF)
    assert np.isnan(lbfgs.history_["dropout"]).all() and np.isnan(lbfgs.history_["weight_decay"]).all()


def test_to_sklearn_names_the_schedules():
    clf = BackpropClassifier(
        hidden_layer_sizes=(3,), max_iter=3, dropout=0.1, dropout_schedule="flat_cos",
        weight_decay_schedule="flat_cos", random_state=0,
    ).fit(X_CLF, Y_CLF)  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.to_sklearn()
    message = " ".join(str(w.message) for w in caught)
    assert "dropout_schedule" in message and "weight_decay_schedule" in message
