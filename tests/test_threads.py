"""BLAS thread policy and fits in parallel threads."""

import threading

import numpy as np
import pytest
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_info, threadpool_limits

from fastbp import BackpropClassifier, _backprop
from fastbp._threads import single_threaded_blas


def _blas_threads():
    return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_blas_held_at_one_thread_and_restored_after_nested_users():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with single_threaded_blas():
            assert set(_blas_threads().values()) == {1}
            with single_threaded_blas():  # a second fit overlapping the first
                assert set(_blas_threads().values()) == {1}
            assert set(_blas_threads().values()) == {1}  # still held for the first
        assert _blas_threads() == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_runs_with_one_blas_thread(monkeypatch):
    seen = []
    original = _backprop.run_epoch

    def spy(*args):
        seen.append(set(_blas_threads().values()))
        return original(*args)

    monkeypatch.setattr(_backprop, "run_epoch", spy)
    X, y = make_classification(n_samples=60, random_state=0)
    BackpropClassifier(hidden_layer_sizes=(4,), max_iter=3).fit(X, y)
    assert seen and all(s == {1} for s in seen)


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
