"""Scaling out on dask: searches, Incremental, ParallelPostFit, out-of-core data, warm workers.

The recipes of ``docs/scaling.rst``, each checked against the same work
done locally: the ``scale`` extra (also in ``test``) installs dask,
distributed, dask-ml and zarr. Clusters run on this machine
(``LocalCluster``, in-process threads unless a test needs processes) and
every one is closed by the ``start_client`` fixture, also when a test fails.
"""

import contextlib
import ctypes
import os
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_info

for _module in ("dask", "distributed", "dask_ml", "zarr"):
    pytest.importorskip(_module, reason='the scale extra is not installed: pip install -e ".[scale]"')

import dask
import dask.array as da
import joblib
import zarr
from dask_ml.wrappers import Incremental, ParallelPostFit
from distributed import Client, Event, LocalCluster, WorkerPlugin, get_task_stream

import fastbp
from fastbp import BackpropClassifier, BackpropRegressor, _parallel, _threads

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

GRID = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (8,)]}


@pytest.fixture
def start_client():
    """``start_client(**LocalCluster_kwargs)``: a Client on a new cluster, closed at teardown."""
    with contextlib.ExitStack() as stack:

        def start(**kwargs):
            if kwargs.get("processes", True):
                kwargs.setdefault("host", "127.0.0.1")  # (in-process clusters need no network)
            cluster = stack.enter_context(LocalCluster(dashboard_address=None, **kwargs))
            return stack.enter_context(Client(cluster))

        yield start


@pytest.fixture
def client(start_client):
    """Two in-process workers of one thread each."""
    return start_client(processes=False, n_workers=2, threads_per_worker=1)


def _weights(model):
    return model.coefs_ + model.intercepts_


def _assert_same_weights(a, b):
    for wa, wb in zip(_weights(a), _weights(b), strict=True):
        np.testing.assert_array_equal(wa, wb)


def _assert_same_search_results(search, local):
    """Scores, parameters and ranks (not timings) of two ``cv_results_``."""
    assert search.cv_results_.keys() == local.cv_results_.keys()
    compared = [key for key in local.cv_results_ if "time" not in key]
    assert {"params", "rank_test_score", "mean_test_score", "split2_test_score"} <= set(compared)
    for key in compared:
        np.testing.assert_array_equal(np.asarray(search.cv_results_[key]), np.asarray(local.cv_results_[key]))


def _search():
    return GridSearchCV(BackpropClassifier(max_iter=15, random_state=0), GRID, cv=3)


def _search_on_the_workers(client, X, y):
    """The search on joblib's dask backend; its fits ran on every worker of ``client``."""
    with get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
        search = _search().fit(X, y)
    assert {task["worker"] for task in tasks.data} == set(client.scheduler_info()["workers"])
    return search


def test_grid_search_on_threaded_workers_equals_a_local_search(client):
    X, y = make_classification(150, 8, random_state=0)
    search = _search_on_the_workers(client, X, y)
    _assert_same_search_results(search, _search().fit(X, y))


def _ready_dtypes():
    return tuple(sorted(dtype.name for dtype in fastbp._backprop._ready))


def _worker_state():
    return _ready_dtypes(), os.environ.get("OPENBLAS_NUM_THREADS"), _threads.outer_blas_threads()


def test_process_workers_warm_up_and_search_as_locally(start_client):
    client = start_client(processes=True, n_workers=2, threads_per_worker=1)
    # fresh processes: nothing compiled or loaded yet; dask's nanny starts
    # them with OPENBLAS_NUM_THREADS=1, so a fit there runs on one thread
    assert set(client.run(_worker_state).values()) == {((), "1", 1)}
    assert set(client.run(fastbp.warm_up).values()) == {None}
    assert list(client.run(_ready_dtypes).values()) == [("float32", "float64")] * 2
    X, y = make_classification(150, 8, random_state=1)
    search = _search_on_the_workers(client, X, y)
    _assert_same_search_results(search, _search().fit(X, y))


class _WarmUp(WorkerPlugin):
    """The plugin of docs/scaling.rst (for one dtype here): warms every worker, also those that join later."""

    def setup(self, worker):
        fastbp.warm_up(["float32"])


def test_a_worker_plugin_warms_the_workers(start_client, monkeypatch):
    monkeypatch.setattr(fastbp._backprop, "_ready", set())  # (in-process workers share this process)
    client = start_client(processes=False, n_workers=1, threads_per_worker=1)
    client.register_plugin(_WarmUp())
    assert list(client.run(_ready_dtypes).values()) == [("float32",)]


# --- Incremental and ParallelPostFit -------------------------------------

ROWS_PER_BLOCK = 40


def _blocks(n_samples, seed, regression):
    if regression:
        X, y = make_regression(n_samples, 6, noise=1.0, random_state=seed)
    else:
        X, y = make_classification(n_samples, 6, n_classes=3, n_informative=4, random_state=seed)
    return X, y, da.from_array(X, chunks=(ROWS_PER_BLOCK, 6)), da.from_array(y, chunks=ROWS_PER_BLOCK)


@pytest.mark.parametrize("shuffle_blocks", [False, True])
@pytest.mark.parametrize("regression", [False, True])
def test_incremental_equals_a_partial_fit_loop_over_the_blocks(client, regression, shuffle_blocks):
    X, y, Xd, yd = _blocks(200, 0, regression)
    make = BackpropRegressor if regression else BackpropClassifier
    kwargs = {} if regression else {"classes": np.unique(y)}
    estimator = make(hidden_layer_sizes=(5,), batch_size=16, random_state=0)
    incremental = Incremental(estimator, shuffle_blocks=shuffle_blocks, random_state=0)
    incremental.fit(Xd, yd, **kwargs)

    # dask-ml shuffles the list of block indices with
    # sklearn.utils.check_random_state(random_state): for an integer seed,
    # a RandomState's permutation of range(n_blocks)
    n_blocks = Xd.numblocks[0]
    order = np.random.RandomState(0).permutation(n_blocks) if shuffle_blocks else np.arange(n_blocks)
    if shuffle_blocks:
        assert not np.array_equal(order, np.arange(n_blocks))
    manual = make(hidden_layer_sizes=(5,), batch_size=16, random_state=0)
    for block in order:
        rows = slice(block * ROWS_PER_BLOCK, (block + 1) * ROWS_PER_BLOCK)
        manual.partial_fit(X[rows], y[rows], **kwargs)
    _assert_same_weights(incremental.estimator_, manual)
    assert incremental.estimator_.t_ == manual.t_ == X.shape[0]  # every block seen once


def test_incremental_regressor_scores_with_an_explicit_scoring(client):
    # the default scoring (r2) fails on dask arrays with dask >= 2025.2
    # (dask/dask-ml#1012); docs/scaling.rst gives this workaround
    X, y, Xd, yd = _blocks(200, 1, regression=True)
    incremental = Incremental(
        BackpropRegressor(hidden_layer_sizes=(5,), random_state=0),
        scoring="neg_mean_squared_error",
        shuffle_blocks=False,
    ).fit(Xd, yd)
    score = incremental.score(Xd, yd)
    expected = -mean_squared_error(y, incremental.estimator_.predict(X))
    np.testing.assert_allclose(score, expected, rtol=1e-12)


@pytest.mark.parametrize("regression", [False, True])
def test_parallel_post_fit_predicts_as_locally(client, regression):
    X, y, Xd, _ = _blocks(200, 2, regression)
    make = BackpropRegressor if regression else BackpropClassifier
    model = ParallelPostFit(make(hidden_layer_sizes=(5,), max_iter=20, random_state=0)).fit(X, y)
    local = model.estimator  # (fitted here, on the in-memory data)
    np.testing.assert_array_equal(model.predict(Xd).compute(), local.predict(X))
    if not regression:
        np.testing.assert_array_equal(model.predict_proba(Xd).compute(), local.predict_proba(X))


# --- Out-of-core data ----------------------------------------------------

CHUNK_ROWS, N_FEATURES, N_CHUNKS = 10_000, 50, 8  # chunks of 4 MB, 32 MB in all
CHUNK_BYTES = CHUNK_ROWS * N_FEATURES * 8


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory):
    """The same data as a zarr array, an npy stack (``da.to_npy_stack``) and one .npy file."""
    folder = tmp_path_factory.mktemp("out_of_core")
    shape = (CHUNK_ROWS * N_CHUNKS, N_FEATURES)
    X = zarr.open_array(folder / "X.zarr", mode="w", shape=shape, chunks=(CHUNK_ROWS, N_FEATURES), dtype="f8")
    y = zarr.open_array(folder / "y.zarr", mode="w", shape=shape[:1], chunks=(CHUNK_ROWS,), dtype="f8")
    rng = np.random.RandomState(0)
    for i in range(N_CHUNKS):  # written a chunk at a time: this process never holds it all
        rows = slice(i * CHUNK_ROWS, (i + 1) * CHUNK_ROWS)
        X[rows] = block = rng.standard_normal((CHUNK_ROWS, N_FEATURES))
        y[rows] = block[:, 0] - 2 * block[:, 1]
    Xd, yd = da.from_zarr(X), da.from_zarr(y)
    da.to_npy_stack(folder / "X_stack", Xd)
    da.to_npy_stack(folder / "y_stack", yd)
    np.lib.format.open_memmap(folder / "X.npy", mode="w+", dtype="f8", shape=shape)[:] = Xd
    return folder


def _load(folder, loader):
    if loader == "zarr":
        return da.from_zarr(folder / "X.zarr"), da.from_zarr(folder / "y.zarr")
    return (
        da.from_npy_stack(folder / "X_stack", mmap_mode="r"),
        da.from_npy_stack(folder / "y_stack", mmap_mode="r"),
    )


def _rss(field="VmRSS"):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field + ":"))


def _reset_peak_rss():
    """Return freed memory to the OS, start the peak (VmHWM) afresh; returns the RSS now."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    return _rss()


def _peak_rss():
    return _rss("VmHWM")


def _incremental_regressor():
    return Incremental(BackpropRegressor(hidden_layer_sizes=(8,), random_state=0), shuffle_blocks=False)


@pytest.mark.skipif(
    not os.path.exists("/proc/self/clear_refs"), reason="peak RSS is reset through Linux's /proc"
)
@pytest.mark.parametrize("loader", ["zarr", "npy_stack"])
def test_out_of_core_training_holds_a_few_chunks(start_client, on_disk, loader):
    """The worker's peak memory over its own baseline stays below 3 chunks' worth.

    Measured as the process's peak resident set (Linux's VmHWM, reset
    through /proc right before the fit), which counts what tracemalloc
    would miss: memory-mapped pages of the npy stack and buffers outside
    Python's allocator. The worker runs in this process with one thread;
    a first fit over the same data does the one-time work (imports, zarr's
    and dask's threads) before the baseline is taken.
    """
    client = start_client(processes=False, n_workers=1, threads_per_worker=1)
    X, y = _load(on_disk, loader)
    assert X.numblocks == (N_CHUNKS, 1)
    _incremental_regressor().fit(X, y)
    (baseline,) = client.run(_reset_peak_rss).values()
    model = _incremental_regressor().fit(X, y)
    (peak,) = client.run(_peak_rss).values()
    assert peak - baseline < 3 * CHUNK_BYTES, f"{(peak - baseline) / CHUNK_BYTES:.2f} chunks"

    manual = BackpropRegressor(hidden_layer_sizes=(8,), random_state=0)
    for X_block, y_block in zip(X.blocks, y.blocks):
        manual.partial_fit(X_block.compute(), y_block.compute())
    _assert_same_weights(model.estimator_, manual)


def _load_npy_rows(path, start, stop):
    return np.load(path, mmap_mode="r")[start:stop]


def test_memmap_in_from_array_puts_the_whole_file_in_the_graph(client, on_disk):
    """``da.from_array(np.load(path, mmap_mode="r"))`` is not out-of-core under distributed.

    A memmap pickles as its data, so the graph the client sends holds the
    whole file; the loaders of docs/scaling.rst open the file inside each task.
    """
    path = on_disk / "X.npy"
    file_bytes = CHUNK_BYTES * N_CHUNKS
    starts = range(0, CHUNK_ROWS * N_CHUNKS, CHUNK_ROWS)
    arrays = {
        "memmap": da.from_array(np.load(path, mmap_mode="r"), chunks=(CHUNK_ROWS, N_FEATURES)),
        "npy_stack": _load(on_disk, "npy_stack")[0],
        "rows_per_task": da.concatenate(
            [
                da.from_delayed(
                    dask.delayed(_load_npy_rows)(path, a, a + CHUNK_ROWS),
                    (CHUNK_ROWS, N_FEATURES),
                    np.float64,
                )
                for a in starts
            ]
        ),
    }
    sizes = {name: len(pickle.dumps(x, protocol=5)) for name, x in arrays.items()}
    assert sizes["memmap"] > file_bytes
    assert sizes["npy_stack"] < 10_000 and sizes["rows_per_task"] < 10_000, sizes

    # distributed warns about the graphs it sends past a threshold
    expected = arrays["npy_stack"].sum().compute()
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1MB"}):
        for name, x in arrays.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                total = x.sum().compute()
            large = [str(w.message) for w in caught if "Sending large graph" in str(w.message)]
            assert bool(large) == (name == "memmap"), (name, large)
            np.testing.assert_allclose(total, expected, rtol=1e-12)


# --- fastbp's threads next to other work in a threaded worker --------------


def _blas_threads():
    """``(threads of the kernels' BLAS, {other BLAS library: threads})``."""
    kernel = {lib.filepath for lib in _threads.kernel_blas_controller().lib_controllers}
    counts = {lib["filepath"]: lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    return (
        min(n for path, n in counts.items() if path in kernel),
        {path: n for path, n in counts.items() if path not in kernel},
    )


def _fit_once_numpy_runs(estimator, X, y):
    Event("numpy-running").wait(timeout=60)
    try:
        return estimator.fit(X, y)
    finally:
        Event("fit-done").set()


def _numpy_until_the_fit_is_done(a, b):
    """NumPy products in a loop: the BLAS thread counts seen, and whether every product was the same."""
    first = a @ b
    seen, same = {_blas_threads()[0]: None}, True
    others = {tuple(sorted(_blas_threads()[1].items()))}
    Event("numpy-running").set()
    done = Event("fit-done")
    while not done.is_set():
        kernel, other = _blas_threads()
        seen[kernel] = None
        others.add(tuple(sorted(other.items())))
        same &= np.array_equal(a @ b, first)
    return list(seen), others, same, first


def test_a_fit_and_numpy_in_two_worker_threads_leave_each_other_alone(start_client):
    # NumPy's BLAS is another library than the one fastbp limits (a wheel
    # install), so NumPy's thread count stays what it was during the fit
    if not _blas_threads()[1]:
        pytest.skip("NumPy and the kernels share one BLAS library here")
    client = start_client(processes=False, n_workers=1, threads_per_worker=2)
    X, y = make_classification(1024, 64, n_informative=10, random_state=0)

    def make():
        return BackpropClassifier(hidden_layer_sizes=(256,), batch_size=256, max_iter=20, random_state=0)

    assert _parallel.n_blocks([64, 256, 1], 256) > 1  # trained in blocks, on fastbp's threads
    rng = np.random.RandomState(1)
    a, b = rng.standard_normal((300, 300)), rng.standard_normal((300, 300))
    before = _blas_threads()[1]

    fit = client.submit(_fit_once_numpy_runs, make(), X, y, pure=False)
    numpy = client.submit(_numpy_until_the_fit_is_done, a, b, pure=False)
    kernel_seen, others_seen, same, product = numpy.result(timeout=120)
    fitted = fit.result(timeout=120)

    assert 1 in kernel_seen  # sampled while the fit held its BLAS at one thread
    assert others_seen == {tuple(sorted(before.items()))}
    assert same
    np.testing.assert_array_equal(product, a @ b)
    _assert_same_weights(fitted, make().fit(X, y))
