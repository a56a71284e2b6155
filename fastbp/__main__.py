"""``python -m fastbp``: train on scikit-learn's digits next to MLPClassifier.

Prints test accuracy and training time of both, with the same parameters
and random_state. fastbp's first fit in a new install includes compiling
its kernels (cached on disk afterwards); that time is shown separately.
"""

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from fastbp import BackpropClassifier


def _timed_fit(model, X, y):
    # both libraries get one BLAS thread (fastbp's own policy), so the
    # comparison is of the training loops, not of thread scheduling
    start = time.perf_counter()
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m fastbp",
        description=(
            "Train BackpropClassifier and scikit-learn's MLPClassifier on the digits data "
            "with the same parameters and random_state, and print test accuracy and fit "
            "time of both. The first run in a new install also compiles fastbp's kernels "
            "(cached afterwards); that time is shown separately."
        ),
        epilog="Per-epoch speed against scikit-learn and PyTorch: python -m fastbp.bench --help",
    )
    parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    params = dict(hidden_layer_sizes=(100,), max_iter=100, random_state=0)

    warmup = _timed_fit(BackpropClassifier(**{**params, "max_iter": 1}), X_train, y_train)
    ours = BackpropClassifier(**params)
    t_ours = _timed_fit(ours, X_train, y_train)
    theirs = MLPClassifier(**params)
    t_theirs = _timed_fit(theirs, X_train, y_train)

    print(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test rows, {X.shape[1]} features")
    print(f"first fit (compile or load cached kernels): {warmup:.2f} s")
    print(f"{'model':<20}{'test accuracy':>15}{'fit time (s)':>15}{'epochs':>8}")
    for name, model, seconds in (
        ("BackpropClassifier", ours, t_ours),
        ("MLPClassifier", theirs, t_theirs),
    ):
        print(f"{name:<20}{model.score(X_test, y_test):>15.4f}{seconds:>15.3f}{model.n_iter_:>8}")
    print(f"speed-up: {t_theirs / t_ours:.1f}x")


if __name__ == "__main__":
    main()
