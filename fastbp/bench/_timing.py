"""Wall-clock helpers shared by the measurements after the table."""

import statistics
import time


def seconds(func, calls=1):
    """Mean seconds of ``calls`` calls of ``func``."""
    start = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - start) / calls


def median_seconds(func, repeats, calls=1):
    """Median over ``repeats`` of :func:`seconds`, after one warm-up call."""
    func()
    return statistics.median(seconds(func, calls) for _ in range(repeats))
