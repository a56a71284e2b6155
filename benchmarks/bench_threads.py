"""Thread counts the benchmarks ran with, recorded next to the results.

Under ``threads="pinned"`` (every benchmark but ``Epoch``'s ``"default"``
cases) one BLAS thread (threadpoolctl) and one Numba thread
(``numba.set_num_threads``); under ``"default"`` the libraries' own
counts. These track the values actually in force, so a result taken with
another configuration is visible in ``asv compare``.
"""

from . import common


class Threads:
    params = [common.THREAD_MODES]
    param_names = ["threads"]
    unit = "threads"

    def setup(self, threads):
        common.use_threads(threads)

    def track_blas_threads(self, threads):
        """Largest thread count among the loaded BLAS libraries."""
        from threadpoolctl import threadpool_info

        return max((lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"), default=0)

    def track_numba_threads(self, threads):
        """Threads Numba's parallel regions would use now."""
        import numba

        return numba.get_num_threads()
