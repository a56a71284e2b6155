"""``fastbp.warm_up``: compile or load the kernels before the first fit needs them."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._backprop import ready_every_option
from ._estimators import BackpropRegressor


def warm_up(dtypes=("float64", "float32")):
    """Compile, or load from the on-disk cache, every fastbp kernel for each dtype.

    The first fit in a process otherwise does it: a few seconds per dtype
    on a machine that has never compiled this version of fastbp, a
    fraction of a second from the cache, and the first fit that uses an
    option (SGD, dropout, a per-step schedule, sparse input, ...) compiles
    that option's kernel. This compiles them all. Call it where that wait
    should not land on the first task: at a dask worker's start
    (``client.run(fastbp.warm_up)``), in a container image's build step (so
    the cache ships in the image), or at the start of a CI job.

    Parameters
    ----------
    dtypes : iterable of {'float64', 'float32'}, default=('float64', 'float32')
        The dtypes of the data that will be trained on or predicted.

    Returns
    -------
    None
    """
    dtypes = [np.dtype(d) for d in ([dtypes] if isinstance(dtypes, str) else dtypes)]
    unknown = [d.name for d in dtypes if d not in (np.float64, np.float32)]
    if unknown:
        raise ValueError(f"fastbp trains in float64 or float32; warm_up got dtypes {unknown}.")
    for dtype in dtypes:
        # one entry point per dtype serves every solver, predict and sparse input
        X = np.array([[0.0], [1.0]], dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            BackpropRegressor(hidden_layer_sizes=(1,), max_iter=1).fit(X, X[:, 0]).predict(X)
            # large enough to be trained in blocks: their epoch loop (fastbp._handoff)
            X = np.zeros((128, 200), dtype=dtype)
            BackpropRegressor(hidden_layer_sizes=(256,), batch_size=128, max_iter=1).fit(X, X[:, 0])
        ready_every_option(dtype)
