"""Thread counts the benchmarks ran with, recorded next to the results.

Every benchmark pins one BLAS thread (threadpoolctl, in ``setup``) and one
Numba thread (``NUMBA_NUM_THREADS``, set in ``benchmarks/__init__.py``).
These track the values actually in force, so a result taken with another
configuration is visible in ``asv compare``.
"""

from . import common


class Threads:
    unit = "threads"

    def setup(self):
        common.pin_threads()

    def track_blas_threads(self):
        """Largest thread count among the loaded BLAS libraries."""
        from threadpoolctl import threadpool_info

        return max((lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"), default=0)

    def track_numba_threads(self):
        import numba

        return int(numba.config.NUMBA_NUM_THREADS)
