"""Training in fixed row blocks on several threads: same weights on any number of threads."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from fastbp import BackpropClassifier, BackpropRegressor, _backprop, _handoff, _parallel, _threads
from fastbp._network import Network, as_kernel_data
from fastbp._optimizers import ADAM, SGD

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture
def small_blocks(monkeypatch):
    """Block the small networks of these tests as W3-sized ones are blocked, on four cores."""
    monkeypatch.setattr(_parallel, "MIN_BLOCK_ROWS", 8)
    monkeypatch.setattr(_parallel, "MIN_BLOCK_FLOPS", 1.0)
    monkeypatch.setattr(_parallel, "STEP_SLICE", 64)  # several slices of the parameters
    # (CI may have fewer cores; the threads then take turns, with the same results)
    monkeypatch.setattr(_parallel, "_cores", lambda: 4)
    monkeypatch.setattr(_parallel, "_pool", None)


@pytest.fixture
def blas_allows_all(monkeypatch, small_blocks):
    monkeypatch.setattr(_threads, "outer_blas_threads", lambda: 4)


def _weights(model):
    return model.coefs_ + model.intercepts_


def _fit(model, X, y, n_threads, sample_weight=None):
    with _parallel.num_threads(n_threads):
        return model.fit(X, y, sample_weight=sample_weight)


def test_blocks_depend_on_shapes_only():
    # the workloads of python -m fastbp.bench: only the two large networks are cut into blocks
    assert _parallel.n_blocks([64, 100, 10], 200) == 1  # W1
    assert _parallel.n_blocks([20, 64, 64, 1], 64) == 1  # W2
    assert _parallel.n_blocks([784, 256, 128, 10], 128) == 2  # W3
    assert _parallel.n_blocks([50, 128, 64, 1], 256) == 2  # W4
    assert _parallel.n_blocks([32, 32, 1], 16) == 1  # W5
    assert _parallel.n_blocks([784, 4096, 4096, 10], 4096) == _parallel.MAX_BLOCKS


CASES = [
    pytest.param(dict(solver="adam"), np.float64, False, id="adam-f64"),
    pytest.param(dict(solver="adam"), np.float32, False, id="adam-f32"),
    pytest.param(dict(solver="sgd", momentum=0.9), np.float64, True, id="sgd-f64-sparse"),
    pytest.param(dict(solver="sgd", nesterovs_momentum=False), np.float32, True, id="sgd-f32-sparse"),
    pytest.param(dict(solver="adam", early_stopping=True), np.float64, False, id="adam-early-stopping"),
    pytest.param(
        dict(solver="adam", learning_rate="warmup_cosine", weight_decay=0.01, max_grad_norm=0.5, dropout=0.2),
        np.float32,
        False,
        id="adam-all-options",
    ),
]


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam", learning_rate="warmup_cosine", weight_decay=0.05),
        dict(solver="sgd", learning_rate="coslog4", max_grad_norm=0.3),
        dict(solver="adam", max_grad_norm=0.3, dropout=[0.3, 0.1]),
        dict(solver="adam", activation=["gelu", "tanh"], dropout=[0.2, 0.0]),
        dict(solver="sgd", activation="mish", loss="huber", delta=2.0),
    ],
    ids=["schedule-decay", "coslog4-clipping", "clipping-dropout", "gelu-tanh-dropout", "mish-huber"],
)
@pytest.mark.usefixtures("blas_allows_all")
def test_blocked_steps_match_serial_steps_with_every_option(params, monkeypatch):
    """Each batch's step number, decay and clipping norm are the serial epoch's."""
    X, y = make_regression(n_samples=300, n_features=9, random_state=0)
    kw = dict(hidden_layer_sizes=(16, 8), batch_size=50, max_iter=6, random_state=0, **params)
    with _parallel.num_threads(2):
        blocked = BackpropRegressor(**kw).fit(X, y)
    monkeypatch.setattr(_parallel, "MIN_BLOCK_FLOPS", np.inf)
    serial = BackpropRegressor(**kw).fit(X, y)
    for a, b in zip(_weights(blocked), _weights(serial)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(blocked.loss_curve_, serial.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("params, dtype, sparse_input", CASES)
@pytest.mark.usefixtures("blas_allows_all")
def test_same_weights_on_any_number_of_threads(params, dtype, sparse_input):
    X, y = make_classification(n_samples=300, n_features=12, n_classes=3, n_informative=6, random_state=0)
    X = X.astype(dtype)
    if sparse_input:
        X[np.abs(X) < 0.7] = 0
        X = sparse.csr_matrix(X)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, X.shape[0])
    kw = dict(hidden_layer_sizes=(16, 8), batch_size=50, max_iter=8, random_state=0, **params)
    fits = [_fit(BackpropClassifier(**kw), X, y, n, sw) for n in (1, 2, 3)]
    for other in fits[1:]:
        for a, b in zip(_weights(fits[0]), _weights(other)):
            np.testing.assert_array_equal(a, b)
        assert other.loss_curve_ == fits[0].loss_curve_


def _record_slots(monkeypatch):
    """The thread slots ``_parallel.map_chunks`` hands its chunks to, from now on.

    Slots, not thread names: a pool thread that finishes its share early may
    take the next slot's task too, so names undercount the slots.
    """
    slots = set()
    original = _parallel.map_chunks

    def spy(func, n_chunks, n_workers):
        def recorded(i, slot):
            slots.add(slot)
            return func(i, slot)

        return original(recorded, n_chunks, n_workers)

    monkeypatch.setattr(_parallel, "map_chunks", spy)
    return slots


@pytest.mark.usefixtures("blas_allows_all")
def test_validation_runs_on_the_fits_threads_with_the_same_curves(monkeypatch):
    from fastbp import _driver

    monkeypatch.setattr(_driver, "LBFGS_CHUNK", 7)  # validation chunks of 7 rows: several per thread
    slots = _record_slots(monkeypatch)
    X, y = make_classification(n_samples=300, n_features=12, n_classes=3, n_informative=6, random_state=0)
    kw = dict(hidden_layer_sizes=(16, 8), batch_size=50, max_iter=6, early_stopping=True, random_state=0)
    fits = []
    for n_threads in (1, 3):
        slots.clear()
        fits.append(_fit(BackpropClassifier(**kw, activation="selu", parametric_activation=True), X, y, n_threads))
        assert len(slots) == n_threads
    for a, b in zip(_weights(fits[0]), _weights(fits[1])):
        np.testing.assert_array_equal(a, b)
    assert fits[0].validation_loss_curve_ == fits[1].validation_loss_curve_
    assert fits[0].validation_scores_ == fits[1].validation_scores_


@pytest.mark.usefixtures("blas_allows_all")
def test_a_large_prediction_runs_on_the_free_cores_with_the_same_outputs(monkeypatch):
    from fastbp import _base

    X, y = make_classification(n_samples=2100, n_features=12, n_classes=3, n_informative=6, random_state=0)
    model = BackpropClassifier(hidden_layer_sizes=(16, 8), max_iter=3, activation="mish").fit(X, y)
    slots = _record_slots(monkeypatch)
    with _parallel.num_threads(3):
        parallel = model.predict_proba(X)  # 5 chunks of 512 rows
    assert slots == {0, 1, 2}
    monkeypatch.setattr(_base, "_PARALLEL_PREDICT_CHUNKS", 10**9)
    slots.clear()
    np.testing.assert_array_equal(model.predict_proba(X), parallel)
    assert not slots  # (one chunk loop on the calling thread, no map_chunks)


@pytest.mark.usefixtures("blas_allows_all")
def test_threads_are_used(monkeypatch):
    seen = []
    original = _parallel.BlockedEpochs.epoch

    def spy(self, *args):
        seen.append((self.n_threads, threading.current_thread()))
        return original(self, *args)

    monkeypatch.setattr(_parallel.BlockedEpochs, "epoch", spy)
    X, y = make_regression(n_samples=200, n_features=10, random_state=0)
    with _parallel.num_threads(3):
        BackpropRegressor(hidden_layer_sizes=(16,), batch_size=60, max_iter=2).fit(X, y)
    assert [n for n, _ in seen] == [3, 3]  # 60-row batches: 8 blocks, 3 threads


@pytest.mark.usefixtures("blas_allows_all")
def test_blocked_fit_matches_the_serial_fit_and_scikit_learn_to_rounding(monkeypatch):
    X, y = make_classification(n_samples=400, n_features=10, n_classes=3, n_informative=5, random_state=0)
    kw = dict(hidden_layer_sizes=(12,), batch_size=64, max_iter=25, random_state=0, tol=0)
    blocked = _fit(BackpropClassifier(**kw), X, y, 2)
    monkeypatch.setattr(_parallel, "MIN_BLOCK_FLOPS", np.inf)  # not blocked
    serial = _fit(BackpropClassifier(**kw), X, y, 2)
    sk = MLPClassifier(**kw).fit(X, y)
    for a, b, c in zip(_weights(blocked), _weights(serial), _weights(sk)):
        np.testing.assert_allclose(b, c, rtol=1e-12, atol=1e-15)  # unblocked: scikit-learn's order
        np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-9)  # blocked: to rounding
    # (blocked, a batch's gradient is summed in another order)
    assert not all(np.array_equal(a, c) for a, c in zip(_weights(blocked), _weights(sk)))
    np.testing.assert_allclose(blocked.loss_curve_, sk.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", [ADAM, SGD])
def test_block_and_step_tasks_equal_a_serial_epoch_step(dtype, solver):
    """One batch through BLOCK + STEP: the serial step's weights, to rounding."""
    rng = np.random.RandomState(0)
    X, Y = rng.randn(30, 6), rng.rand(30, 2)
    network = Network([6, 5, 2], "tanh", "logistic", dtype)
    network.params[:] = rng.uniform(-0.5, 0.5, network.n_params)
    data = as_kernel_data(X, Y, rng.rand(30), dtype=network.dtype, n_outputs=2)
    rows = rng.permutation(30)

    def state():
        return np.zeros(network.n_params, dtype), np.zeros(network.n_params, dtype)

    def optimizer(s1, s2, lo, hi):
        return _backprop.optimizer_tuple(
            dtype, s1, s2, solver=solver, lr=1e-2, alpha=1e-3, momentum=0.9, nesterov=True, beta_1=0.9,
            beta_2=0.999, epsilon=1e-8, lo=lo, hi=hi,
        )

    start = network.params.copy()
    s1, s2 = state()
    work = network.workspace(30, False)
    loss_sum, t = _backprop.run_epoch(network.net(), data, work, optimizer(s1, s2, 0, network.n_params), rows, 30)
    serial = network.params.copy()

    network.params[:] = start
    blocked = _parallel.BlockedEpochs(network, False, 30, 3, 0)
    s1, s2 = state()
    loss_blocked, t_blocked = blocked.epoch(
        network.net(), data, None, optimizer(s1, s2, 0, network.n_params), rows, 30
    )
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(network.params, serial, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(loss_blocked, loss_sum, rtol=rtol)
    assert t_blocked == t == (1 if solver == ADAM else 0)


def test_setting_is_validated_and_scoped(monkeypatch):
    monkeypatch.delenv("FASTBP_NUM_THREADS", raising=False)
    default = _parallel.get_num_threads()
    assert default == _parallel._cores()
    with _parallel.num_threads(1):
        assert _parallel.get_num_threads() == 1
        with _parallel.num_threads(3):
            assert _parallel.get_num_threads() == 3
        assert _parallel.get_num_threads() == 1
    assert _parallel.get_num_threads() == default
    monkeypatch.setenv("FASTBP_NUM_THREADS", "2")
    assert _parallel.get_num_threads() == 2
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="positive integer"):
            _parallel.set_num_threads(bad)
    monkeypatch.setenv("FASTBP_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="FASTBP_NUM_THREADS"):
        _parallel.get_num_threads()


def _threads_of_one_fit(monkeypatch, **fit_kw):
    seen = []
    original = _parallel.BlockedEpochs.__init__

    def spy(self, *args):
        original(self, *args)
        seen.append(self.n_threads)

    monkeypatch.setattr(_parallel.BlockedEpochs, "__init__", spy)
    X, y = make_regression(n_samples=120, n_features=5, random_state=0)
    BackpropRegressor(hidden_layer_sizes=(8,), batch_size=40, max_iter=1).fit(X, y)
    return seen[0]


@pytest.mark.usefixtures("small_blocks")
def test_blas_limits_govern_fastbps_threads(monkeypatch):
    with threadpool_limits(limits=1, user_api="blas"):
        assert _threads_of_one_fit(monkeypatch) == 1
    with threadpool_limits(limits=2, user_api="blas"):
        assert _threads_of_one_fit(monkeypatch) == 2
        with _parallel.num_threads(1):
            assert _threads_of_one_fit(monkeypatch) == 1


def test_joblib_workers_thread_limit_is_honoured():
    """loky gives each worker OPENBLAS_NUM_THREADS/OMP_NUM_THREADS; a fit in one uses that many."""
    script = (
        "from fastbp import _threads, _parallel;"
        "print(min(_threads.outer_blas_threads(), _parallel.get_num_threads()))"
    )
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("FASTBP_NUM_THREADS", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


@pytest.mark.usefixtures("blas_allows_all")
def test_concurrent_fits_share_the_cores():
    """Fits in threads take worker threads only while some are free; weights unchanged."""
    X, y = make_classification(n_samples=300, n_features=10, random_state=0)
    kw = dict(hidden_layer_sizes=(16,), batch_size=64, max_iter=5)
    with _parallel.num_threads(2):  # a budget of two threads
        alone = [BackpropClassifier(random_state=s, **kw).fit(X, y) for s in range(3)]
        models = [BackpropClassifier(random_state=s, **kw) for s in range(3)]
        barrier = threading.Barrier(3)

        def fit(model):
            barrier.wait()
            model.fit(X, y)

        threads = [threading.Thread(target=fit, args=(m,)) for m in models]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert _parallel._workers_in_use == 0 and _parallel._fits_running == 0
    for a, b in zip(alone, models):
        for wa, wb in zip(_weights(a), _weights(b)):
            np.testing.assert_array_equal(wa, wb)


def test_worker_budget():
    with _parallel.num_threads(3):
        budget = min(3, _threads.outer_blas_threads(), _parallel._cores())
        with _parallel.worker_threads(8) as first:
            assert first == budget - 1
            with _parallel.worker_threads(8) as second:
                assert second == 0  # the first fit holds every free core
        assert _parallel._workers_in_use == 0 and _parallel._fits_running == 0


@pytest.mark.usefixtures("blas_allows_all")
def test_a_failing_thread_stops_the_others_waiting(monkeypatch):
    """A helper whose epoch call fails before it reaches the barrier: the fit raises its error, nothing hangs."""
    X, y = make_regression(n_samples=120, n_features=6, random_state=0)
    kw = dict(hidden_layer_sizes=(16,), batch_size=60, max_iter=2, random_state=0)
    with _parallel.num_threads(2):
        BackpropRegressor(**kw).fit(X, y)  # (compiles the epoch loop before it is replaced)
        real = _handoff.blocked_epoch

        def failing(*args):
            if args[1] == 1:  # thread 1
                raise RuntimeError("helper failed")
            return real(*args)

        monkeypatch.setattr(_handoff, "blocked_epoch", failing)
        monkeypatch.setattr(_handoff, "ready", lambda args: None)
        with pytest.raises(RuntimeError, match="helper failed"):
            BackpropRegressor(**kw).fit(X, y)
    assert _parallel._workers_in_use == 0 and _parallel._fits_running == 0


def test_barrier_waits_for_every_thread():
    """Four threads, each adding to a shared count between barriers, see every other's addition."""
    sync = np.zeros(3, dtype=np.int64)
    counts = np.zeros(4, dtype=np.int64)
    seen = []

    def worker(k):
        for round_ in range(1, 201):
            counts[k] = round_
            assert _handoff._barrier(sync, 4)
            seen.append(counts.min() >= round_)
            assert _handoff._barrier(sync, 4)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 800 and all(seen)
    sync[2] = 1  # aborted: a lone arrival does not wait
    assert not _handoff._barrier(sync, 2)
