"""Dropout: the kernel's masked gradient against a NumPy reference, and its contract."""

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_classification, make_regression

import reference as ref
import test_gradcheck as gradcheck
from fastbp import BackpropClassifier, BackpropRegressor, _backprop, _driver, _parallel, _regularisers
from fastbp._network import Network, as_kernel_data

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def reference_masks(key, rows, widths, rates):
    """The documented masks, written out in NumPy: one (len(rows), width) 0/1 array per hidden layer."""
    n_units = sum(widths)
    masks, first = [], 0
    with np.errstate(over="ignore"):
        for width, rate in zip(widths, rates):
            counter = (rows.astype(np.uint64)[:, None] * np.uint64(n_units)) + np.uint64(first)
            counter = counter + np.arange(width, dtype=np.uint64)[None, :]
            z = np.uint64(key) + counter * np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            fraction = (z >> np.uint64(11)).astype(np.float64) / 2.0**53
            masks.append((fraction >= rate).astype(np.float64))
            first += width
    return masks


def reference_masked_loss_grad(coefs, intercepts, X, Y, sw, activation, out_activation, masks, rates):
    """Raw ``sum_i sw_i loss_i`` and its gradient for a network whose hidden outputs are masked."""
    a = [np.asarray(X, dtype=np.float64)]
    zs = []
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        z = a[-1] @ W + b
        zs.append(z)
        if i < len(coefs) - 1:
            a.append(ref.hidden_activation(activation, z) * masks[i] / (1 - rates[i]))
        else:
            a.append(ref.output_activation(out_activation, z))
    loss = float(sw @ ref.sample_losses(out_activation, a[-1], Y))
    delta = (a[-1] - Y) * sw[:, None]
    g_coefs, g_intercepts = [None] * len(coefs), [None] * len(coefs)
    for i in range(len(coefs) - 1, -1, -1):
        g_coefs[i] = a[i].T @ delta
        g_intercepts[i] = delta.sum(axis=0)
        if i > 0:
            delta = (delta @ coefs[i].T) * masks[i - 1] / (1 - rates[i - 1])
            delta = delta * ref.hidden_derivative(activation, zs[i - 1])
    return loss, ref.pack(g_coefs, g_intercepts)


def record_seed_and_start(monkeypatch):
    """A dict that the next fit fills with its dropout seed and its initial parameters (float64)."""
    seen = {}
    original_train, original_key = _driver.StochasticTraining._train, _driver.epoch_key

    def train(self, run_epoch):
        seen.setdefault("start", self.network.params.astype(np.float64))
        return original_train(self, run_epoch)

    def key(seed, epoch):
        seen.setdefault("seed", seed)
        return original_key(seed, epoch)

    monkeypatch.setattr(_driver.StochasticTraining, "_train", train)
    monkeypatch.setattr(_driver, "epoch_key", key)
    return seen


def block_every_batch(monkeypatch):
    """Cut even small batches into blocks of 8 rows, on up to 3 threads."""
    monkeypatch.setattr(_parallel, "MIN_BLOCK_ROWS", 8)
    monkeypatch.setattr(_parallel, "MIN_BLOCK_FLOPS", 1.0)
    monkeypatch.setattr(_parallel, "_cores", lambda: 3)
    monkeypatch.setattr(_parallel, "_pool", None)
    monkeypatch.setattr(_parallel._threads, "outer_blas_threads", lambda: 3)


def assert_same_weights_on_threads_and_slices(monkeypatch, fit):
    """``fit()``'s arrays (a list) are the same on 1 and 3 threads, and with step slices of 5 parameters.

    Slices of 5 cut across every step group. Call after
    :func:`block_every_batch`. Returns the first fit's arrays.
    """
    results = []
    for n_threads, step_slice in ((1, _parallel.STEP_SLICE), (3, _parallel.STEP_SLICE), (3, 5)):
        monkeypatch.setattr(_parallel, "STEP_SLICE", step_slice)
        with _parallel.num_threads(n_threads):
            results.append(fit())
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    return results[0]


def _block_with_dropout(network, data, rows, rates, key):
    """The kernel's BLOCK task with dropout: ``(raw loss, raw gradient)``."""
    empty = np.empty(0, dtype=network.dtype)
    optimizer = _backprop.optimizer_tuple(network.dtype, empty, empty, drop_rates=rates, drop_key=key)
    work = network.workspace(len(rows), data[4])
    empty = np.empty((0, 0), dtype=network.dtype)
    loss, _ = _backprop._run(_backprop.BLOCK, network.net(), data, work, optimizer, rows, len(rows), empty)
    return loss, work[4].copy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_masked_gradient_matches_the_reference(dtype, activation):
    rng = np.random.RandomState(0)
    units = [6, 9, 7, 3]
    network = Network(units, activation, "softmax", dtype)
    network.params[:] = rng.uniform(-0.6, 0.6, network.n_params)
    X = rng.randn(40, 6)
    Y = np.eye(3)[rng.randint(0, 3, 40)]
    sw = rng.uniform(0.5, 2.0, 40)
    data = as_kernel_data(X, Y, sw, dtype=network.dtype, n_outputs=3)
    rows = rng.permutation(40)[:25]
    rates, key = [0.3, 0.5], _regularisers.epoch_key(1234, 5)
    loss, grad = _block_with_dropout(network, data, rows, rates, key)

    masks = reference_masks(key, rows, units[1:-1], rates)
    assert 0.15 < 1 - masks[0].mean() < 0.45 and 0.35 < 1 - masks[1].mean() < 0.65
    coefs, intercepts = ref.unpack(network.params.astype(np.float64), units)
    X32 = data[0].astype(np.float64)  # the data as the kernel sees it (float32 rounded)
    want_loss, want_grad = reference_masked_loss_grad(
        coefs, intercepts, X32[rows], Y[rows], data[6][rows].astype(np.float64), activation, "softmax", masks, rates
    )
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(loss, want_loss, rtol=rtol)
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=rtol * np.abs(want_grad).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masked_gradient_matches_finite_differences(dtype):
    """With the masks fixed (one key), the loss is a smooth function of the weights."""
    rng = np.random.RandomState(1)
    units = [5, 8, 6, 2]
    network = Network(units, "tanh", "logistic", dtype)
    network.params[:] = rng.uniform(-0.5, 0.5, network.n_params)
    X, Y = rng.randn(30, 5), rng.randint(0, 2, (30, 2)).astype(float)
    data = as_kernel_data(X, Y, None, dtype=network.dtype, n_outputs=2)
    rows = np.arange(30)
    rates, key = [0.4, 0.25], _regularisers.epoch_key(7, 0)
    _, grad = _block_with_dropout(network, data, rows, rates, key)
    numeric = gradcheck.central_differences(
        lambda: _block_with_dropout(network, data, rows, rates, key)[0], network.params, gradcheck.STEP[dtype]
    )
    grad = grad.astype(np.float64)
    assert np.linalg.norm(numeric - grad) / np.linalg.norm(grad) < gradcheck.TOLERANCE[dtype]


def test_the_prediction_task_ignores_the_rates():
    rng = np.random.RandomState(2)
    network = Network([4, 6, 2], "relu", "identity", np.float64)
    network.params[:] = rng.uniform(-0.5, 0.5, network.n_params)
    data = as_kernel_data(rng.randn(20, 4), rng.randn(20, 2), None, dtype=network.dtype, n_outputs=2)
    work = network.workspace(20, False)
    rows = np.arange(20)
    results = []
    empty = np.empty(0)
    for rates in (_backprop.NO_DROPOUT, np.array([0.5])):
        optimizer = _backprop.optimizer_tuple(np.float64, empty, empty, drop_rates=rates, drop_key=99)
        out = np.empty((20, 2))
        _backprop._run(_backprop.PREDICT, network.net(), data, work, optimizer, rows, 20, out)
        results.append(out)
    np.testing.assert_array_equal(*results)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_an_epoch_trains_on_the_masked_gradient(solver, monkeypatch):
    """A fit's first epoch: the reference's masked steps, batch by batch, from the same start."""
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    rates, units = [0.2, 0.4], [4, 7, 5, 1]
    kw = dict(hidden_layer_sizes=(7, 5), batch_size=20, max_iter=1, random_state=3, shuffle=False, solver=solver)
    kw.update(learning_rate_init=1e-2, alpha=1e-3)
    seen = record_seed_and_start(monkeypatch)
    model = BackpropRegressor(**kw, dropout=rates).fit(X, y)
    # without a shuffle or an early-stopping split, the seed is the first draw after the weights
    no_dropout = BackpropRegressor(**kw).fit(X, y)
    assert seen["seed"] == no_dropout._random_state.randint(2**31 - 1)

    key = _regularisers.epoch_key(seen["seed"], 0)
    params = seen["start"]
    n_coef = sum(a * b for a, b in zip(units[:-1], units[1:]))
    opt = ref.Adam([params], 1e-2) if solver == "adam" else ref.SGD([params], 1e-2, 0.9, True)
    Y = y[:, None].astype(float)
    for s in range(0, 60, 20):
        rows = np.arange(s, s + 20)
        masks = reference_masks(key, rows, units[1:-1], rates)
        c, b = ref.unpack(params, units)
        _, g = reference_masked_loss_grad(c, b, X[rows], Y[rows], np.ones(20), "relu", "identity", masks, rates)
        l2 = np.concatenate([1e-3 * params[:n_coef], np.zeros(params.size - n_coef)])
        opt.step([params], [(g + l2) / 20])
    np.testing.assert_allclose(ref.pack(model.coefs_, model.intercepts_), params, rtol=1e-10, atol=1e-12)


def test_rate_zero_is_no_dropout_and_draws_nothing():
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16
    kw = dict(hidden_layer_sizes=(20, 10), max_iter=5, random_state=0)
    plain = BackpropClassifier(**kw).fit(X, y[:300])
    for dropout in (0.0, [0.0, 0.0], (0, 0)):
        same = BackpropClassifier(**kw, dropout=dropout).fit(X, y[:300])
        for a, b in zip(plain.coefs_ + plain.intercepts_, same.coefs_ + same.intercepts_):
            np.testing.assert_array_equal(a, b)
    dropped = BackpropClassifier(**kw, dropout=[0.0, 0.3]).fit(X, y[:300])
    assert not np.array_equal(dropped.coefs_[0], plain.coefs_[0])


def test_prediction_uses_the_whole_network():
    X, y = make_classification(n_samples=200, n_features=8, random_state=0)
    model = BackpropClassifier(hidden_layer_sizes=(16,), dropout=0.5, max_iter=10, random_state=0).fit(X, y)
    coefs = [c.astype(float) for c in model.coefs_]
    intercepts = [b.astype(float) for b in model.intercepts_]
    want = ref.predict(coefs, intercepts, X, "relu", "logistic")[:, 0]
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], want, rtol=1e-12)


# the run's second half scheduled: each block of a batch must take that batch's rates
FLAT_COS = {"weight_decay": 0.5, "dropout_schedule": "flat_cos", "weight_decay_schedule": "flat_cos"}


@pytest.mark.parametrize("schedules", [{}, FLAT_COS], ids=["constant", "flat_cos"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masks_do_not_depend_on_blocks_or_threads(dtype, schedules, monkeypatch):
    block_every_batch(monkeypatch)
    X, y = make_regression(n_samples=240, n_features=6, random_state=0)
    kw = dict(hidden_layer_sizes=(12, 6), dropout=[0.3, 0.2], batch_size=48, max_iter=4, random_state=0)
    kw.update(schedules)
    fits = []
    for n in (1, 3):
        with _parallel.num_threads(n):
            fits.append(BackpropRegressor(**kw).fit(X.astype(dtype), y))
    for a, b in zip(fits[0].coefs_ + fits[0].intercepts_, fits[1].coefs_ + fits[1].intercepts_):
        np.testing.assert_array_equal(a, b)
    # the same masks as unblocked, so the same weights to rounding
    monkeypatch.setattr(_parallel, "MIN_BLOCK_FLOPS", np.inf)
    serial = BackpropRegressor(**kw).fit(X.astype(dtype), y)
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    for a, b in zip(fits[0].coefs_, serial.coefs_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
