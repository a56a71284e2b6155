"""asv benchmarks of fastbp (see asv.conf.json at the repository root).

Thread counts are set in each benchmark's ``setup``, not at import, so a
benchmark can also run at the libraries' own counts:
``common.pin_threads`` limits every BLAS to one thread (threadpoolctl)
and Numba to one thread (``numba.set_num_threads``); ``Epoch`` takes a
``threads`` parameter, ``"pinned"`` or ``"default"`` (left alone).
Pinned is what every other benchmark uses: on a small machine an
unpinned BLAS call on a small matrix inside a kernel was measured 100x
slower than with one thread, and the numbers would depend on what else
the machine runs. ``bench_threads`` records the counts in force.
"""
