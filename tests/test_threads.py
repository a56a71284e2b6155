"""BLAS thread policy and fits in parallel threads."""

import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_info, threadpool_limits

from fastbp import BackpropClassifier, _backprop, _driver, _parallel, _threads


def _blas_threads():
    """``(kernel BLAS threads, other BLAS threads)``, each ``{filepath: count}``."""
    kernel = {lib.filepath for lib in _threads.kernel_blas_controller().lib_controllers}
    counts = {lib["filepath"]: lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    return (
        {path: n for path, n in counts.items() if path in kernel},
        {path: n for path, n in counts.items() if path not in kernel},
    )


def test_kernel_blas_is_scipys_bundled_copy_only():
    blas = sorted(info["filepath"] for info in threadpool_info() if info["user_api"] == "blas")
    bundled = [path for path in blas if _threads._scipy_bundled(path)]
    kernel = sorted(lib.filepath for lib in _threads.kernel_blas_controller().lib_controllers)
    assert kernel == (bundled or blas)  # no bundled copy: every BLAS (the fallback)
    numpy_libs = Path(np.__file__).resolve().parent.with_name("numpy.libs")
    if numpy_libs.exists():  # wheels: NumPy's own copy, a different file, is never limited
        assert bundled and not any(numpy_libs in Path(path).resolve().parents for path in kernel)


def test_only_the_kernels_blas_is_limited_and_everything_restored():
    with threadpool_limits(limits=2, user_api="blas"):
        kernel_before, others_before = _blas_threads()
        assert set(kernel_before.values()) == {2}
        with _threads.single_threaded_blas():
            assert _blas_threads() == ({p: 1 for p in kernel_before}, others_before)
            with _threads.single_threaded_blas():  # a second fit overlapping the first
                assert _blas_threads() == ({p: 1 for p in kernel_before}, others_before)
            assert set(_blas_threads()[0].values()) == {1}  # still held for the first
        assert _blas_threads() == (kernel_before, others_before)


def test_fallback_without_a_bundled_copy_limits_every_blas(monkeypatch):
    """SciPy built against a shared BLAS (conda, system, MKL): no way to tell them apart."""
    monkeypatch.setattr(_threads, "_scipy_bundled", lambda filepath: False)
    monkeypatch.setattr(_threads, "_controller", None)
    everything = {info["filepath"] for info in threadpool_info() if info["user_api"] == "blas"}
    assert {lib.filepath for lib in _threads.kernel_blas_controller().lib_controllers} == everything
    with threadpool_limits(limits=2, user_api="blas"):
        with _threads.single_threaded_blas():
            counts = {info["filepath"]: info["num_threads"] for info in threadpool_info()}
            assert {counts[path] for path in everything} == {1}
    monkeypatch.setattr(_threads, "_controller", None)  # the next user selects again


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_limits_only_its_blas_and_restores_it(monkeypatch):
    seen = []
    original = _backprop.run_epoch

    def spy(*args):
        seen.append(_blas_threads())
        return original(*args)

    monkeypatch.setattr(_backprop, "run_epoch", spy)
    X, y = make_classification(n_samples=60, random_state=0)
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        BackpropClassifier(hidden_layer_sizes=(4,), max_iter=3).fit(X, y)
        after = _blas_threads()
    assert len(seen) == 3
    for kernel, others in seen:
        assert set(kernel.values()) == {1}
        assert others == before[1]  # other threads' NumPy keeps its setting
    assert after == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_two_fits_in_threads_match_serial_fits():
    X, y = make_classification(n_samples=400, n_features=10, random_state=0)
    params = [dict(hidden_layer_sizes=(16,), random_state=seed, max_iter=20) for seed in (0, 1)]
    serial = [BackpropClassifier(**p).fit(X, y) for p in params]
    parallel = [BackpropClassifier(**p) for p in params]
    threads = [threading.Thread(target=m.fit, args=(X, y)) for m in parallel]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(serial, parallel):
        for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
            np.testing.assert_array_equal(ca, cb)


def _set_kernel_blas_from_another_thread(n):
    """What another library in another thread may do: set SciPy's OpenBLAS count directly."""

    def set_count():
        for lib in _threads.kernel_blas_controller().lib_controllers:
            getattr(lib, "_real_set_num_threads", lib.set_num_threads)(n)

    thread = threading.Thread(target=set_count)
    thread.start()
    thread.join()
    return set(_blas_threads()[0].values())


@pytest.mark.parametrize("blocked", [True, False], ids=["blocked", "serial"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_another_thread_changing_the_blas_count_between_epochs_changes_nothing(monkeypatch, dtype, blocked):
    # an inner dimension of 600: OpenBLAS rounds such products differently on two threads (both dtypes)
    X, y = make_classification(n_samples=256, n_features=600, n_informative=20, random_state=0)
    X = X.astype(dtype)
    kw = dict(hidden_layer_sizes=(64,), batch_size=128, max_iter=4, random_state=0)
    assert _parallel.n_blocks([600, 64, 1], 128) > 1
    if not blocked:
        monkeypatch.setattr(_parallel, "MIN_BLOCK_FLOPS", np.inf)
    with threadpool_limits(limits=2, user_api="blas"):
        undisturbed = BackpropClassifier(**kw).fit(X, y)
        seen = []
        original = _driver.StochasticTraining._end_epoch

        def disturbed_after(*args):
            seen.append(_set_kernel_blas_from_another_thread(2))  # e.g. its threadpool_limits ends
            return original(*args)

        monkeypatch.setattr(_driver.StochasticTraining, "_end_epoch", disturbed_after)
        disturbed = BackpropClassifier(**kw).fit(X, y)
        after = _blas_threads()[0]
    assert seen == [{2}] * 4  # the change took effect each time
    assert set(after.values()) == {2}
    for a, b in zip(undisturbed.coefs_ + undisturbed.intercepts_, disturbed.coefs_ + disturbed.intercepts_):
        np.testing.assert_array_equal(a, b)
