"""The per-epoch table: fastbp, scikit-learn, PyTorch and the GEMM floor, interleaved.

Each engine's warm-up epoch runs before timing (it loads or compiles
fastbp's kernels); the timed epochs go round-robin over the engines so
background load hits all of them alike.
"""

import statistics
import threading
import time
import warnings

import numba
import numpy as np
from sklearn.neural_network import MLPClassifier, MLPRegressor

from fastbp import BackpropClassifier, BackpropRegressor, _parallel, _threads

from ._workloads import ALPHA, LEARNING_RATE, QUICK_MAX_SAMPLES, SEED, epoch_flops, layer_units

ENGINES = ("fastbp", "sklearn", "torch", "gemm_floor")
# pause before each timed call when libraries run on several threads (time_interleaved)
SETTLE_SECONDS = 0.3


def blas_peak_gflops(dtype, size, budget=1.0):
    """Best GFLOP/s of a ``size x size`` ``np.dot`` with preallocated output.

    Repeats for about ``budget`` seconds (at least 5 times) and keeps the
    fastest: on a busy machine the best run is the closest to the peak.

    Parameters
    ----------
    dtype : str or numpy.dtype
    size : int
        Rows and columns of both factors.
    budget : float, default=1.0
        Seconds to spend.

    Returns
    -------
    float
    """
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    out = np.empty((size, size), dtype=dtype)
    np.dot(a, b, out=out)  # warm-up
    best = np.inf
    deadline = time.perf_counter() + budget
    for trial in range(100):
        start = time.perf_counter()
        np.dot(a, b, out=out)
        best = min(best, time.perf_counter() - start)
        if trial >= 4 and time.perf_counter() > deadline:
            break
    return 2 * size**3 / best / 1e9


def _sklearn_params(workload):
    return dict(
        hidden_layer_sizes=workload.hidden,
        activation="relu",
        solver="adam",
        alpha=ALPHA,
        batch_size=workload.batch_size,
        learning_rate_init=LEARNING_RATE,
        shuffle=True,
        random_state=SEED,
    )


class Engine:
    """One trainer under test: ``epoch()`` runs one training epoch.

    ``info()`` returns what to report next to its times (e.g. the loss
    after the last epoch). Building an engine runs its warm-up epoch.

    Parameters
    ----------
    epoch : callable
        Runs ``epochs_per_call`` epochs.
    info : callable, default=dict
        Returns a dict for the report.
    epochs_per_call : int, default=1
        What one timed ``epoch()`` call is divided by.
    """

    def __init__(self, epoch, info=dict, epochs_per_call=1):
        self.epoch = epoch
        self.info = info
        self.epochs_per_call = epochs_per_call


def fit_epochs(n_samples):
    """Epochs per timed ``fit``: about 200,000 sample visits, 2 to 20 epochs."""
    return max(2, min(20, 200_000 // n_samples))


def estimator_engine(estimator, X, y):
    """fastbp or scikit-learn: a ``fit`` of a few epochs, timed per epoch.

    ``fit`` is how models are trained: input validation and set-up happen
    once per fit, as they do for users, not once per epoch (which is what
    timing ``partial_fit`` calls would charge); a fit runs ``fit_epochs``
    epochs so that its set-up (~3 ms in either library) is amortised.

    Parameters
    ----------
    estimator : estimator
        An unfitted MLP estimator; its ``max_iter`` and
        ``n_iter_no_change`` are set here.
    X, y : ndarray

    Returns
    -------
    Engine
    """
    n_epochs = fit_epochs(X.shape[0])
    estimator.set_params(max_iter=n_epochs, n_iter_no_change=n_epochs + 1)

    def epochs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached
            estimator.fit(X, y)

    epochs()  # warm-up: compiles or loads fastbp's kernels
    return Engine(epochs, lambda: {"loss": float(estimator.loss_)}, epochs_per_call=n_epochs)


def torch_engine(workload, X, y, threads):
    """A plain PyTorch CPU loop, or None when PyTorch is not importable.

    ``nn.Sequential`` of Linear/ReLU, Adam (fused when this PyTorch has
    it), the same batch size, a new ``randperm`` per epoch and batches
    gathered by indexing (no DataLoader). The L2 penalty matches
    scikit-learn's ``alpha * W / batch_size`` gradient term through the
    weights' ``weight_decay``; biases are not penalised.

    Parameters
    ----------
    workload : Workload
    X, y : ndarray
    threads : int or None
        ``torch.set_num_threads`` value; None leaves PyTorch's own count.

    Returns
    -------
    Engine or None
    """
    try:
        import torch
        from torch import nn
    except ImportError:
        return None

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    tdtype = torch.float64 if X.dtype == np.float64 else torch.float32
    units = layer_units(workload)
    layers = []
    for k, n in zip(units[:-2], units[1:-1]):
        layers += [nn.Linear(k, n), nn.ReLU()]
    layers.append(nn.Linear(units[-2], units[-1]))
    model = nn.Sequential(*layers).to(tdtype)

    Xt = torch.from_numpy(np.ascontiguousarray(X))
    if workload.task == "multiclass":
        yt = torch.from_numpy(np.searchsorted(np.unique(y), y).astype(np.int64))
        loss_fn = nn.CrossEntropyLoss()
    elif workload.task == "binary":
        yt = torch.from_numpy((y == np.unique(y)[1]).astype(X.dtype).reshape(-1, 1))
        loss_fn = nn.BCEWithLogitsLoss()
    else:
        yt = torch.from_numpy(np.ascontiguousarray(y, dtype=X.dtype).reshape(-1, 1))
        mse = nn.MSELoss()

        def loss_fn(pred, target):
            return 0.5 * mse(pred, target)

    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    groups = [
        {"params": weights, "weight_decay": ALPHA / workload.batch_size},
        {"params": biases, "weight_decay": 0.0},
    ]
    n = Xt.shape[0]
    batch_size = workload.batch_size
    generator = torch.Generator().manual_seed(SEED)
    state = {"loss": np.nan}

    def run_epoch(optimizer):
        perm = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            xb, yb = Xt[idx], yt[idx]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * idx.shape[0]
        state["loss"] = total / n

    fused = True
    try:
        optimizer = torch.optim.Adam(groups, lr=LEARNING_RATE, fused=True)
        run_epoch(optimizer)  # warm-up; an unsupported fused Adam fails here at the latest
    except (RuntimeError, TypeError, ValueError):
        fused = False
        optimizer = torch.optim.Adam(groups, lr=LEARNING_RATE)
        run_epoch(optimizer)

    def info():
        return {
            "loss": float(state["loss"]),
            "version": torch.__version__,
            "fused_adam": fused,
            "threads": torch.get_num_threads(),
        }

    return Engine(lambda: run_epoch(optimizer), info)


def gemm_floor_engine(units, X, batch_size):
    """The matrix products alone of one epoch, on the trainer's shapes.

    Per batch of ``nb`` rows: forward ``A[l] @ W[l]`` for every layer,
    weight gradient ``A[l].T @ D[l]`` for every layer, input gradient
    ``D[l] @ W[l].T`` for every layer but the first; ``np.dot`` writes into
    arrays allocated once (one set for full batches, one for the last,
    shorter batch). Batches are contiguous row slices of ``X``: the gather
    is not part of the floor.

    Parameters
    ----------
    units : list of int
        Layer widths, as from :func:`layer_units`.
    X : ndarray
        The training rows, in the dtype to time.
    batch_size : int

    Returns
    -------
    Engine
    """
    dtype = X.dtype
    rng = np.random.default_rng(SEED)
    coefs = []
    for k, n in zip(units[:-1], units[1:]):
        bound = np.sqrt(6.0 / (k + n))
        coefs.append(rng.uniform(-bound, bound, (k, n)).astype(dtype))
    n_layers = len(coefs)
    n_samples = X.shape[0]

    def buffers(nb):
        acts = [np.empty((nb, n), dtype=dtype) for n in units[1:]]  # layer outputs
        deltas = [np.empty((nb, n), dtype=dtype) for n in units[:-1]]  # gradients w.r.t. layer inputs
        for A in acts:
            A[...] = rng.uniform(-1, 1, A.shape)  # finite start values; acts[-1] also serves as output delta
        return acts, deltas, [np.empty_like(W) for W in coefs]

    full = buffers(batch_size)
    last = buffers(n_samples % batch_size) if n_samples % batch_size else full

    def epoch():
        for start in range(0, n_samples, batch_size):
            nb = min(batch_size, n_samples - start)
            acts, deltas, grads = full if nb == batch_size else last
            xb = X[start : start + nb]
            A = xb
            for layer in range(n_layers):  # forward
                np.dot(A, coefs[layer], out=acts[layer])
                A = acts[layer]
            D = acts[-1]  # output delta: its values do not matter for the time
            for layer in range(n_layers - 1, -1, -1):  # backward
                A_in = xb if layer == 0 else acts[layer - 1]
                np.dot(A_in.T, D, out=grads[layer])
                if layer > 0:
                    np.dot(D, coefs[layer].T, out=deltas[layer])
                    D = deltas[layer]

    epoch()  # warm-up
    n_batches = -(-n_samples // batch_size)
    return Engine(epoch, lambda: {"dot_calls_per_epoch": n_batches * (3 * n_layers - 1)})


@numba.njit(nogil=True, cache=False)
def _step_traffic(params, first, second, grad, lo, hi, repeats):
    # Adam's least memory traffic: read parameters, both moments and the
    # gradient, write parameters and moments, in one pass (the arithmetic
    # is a stand-in, no more than the loads and stores need)
    c = params.dtype.type(0.5)
    for _ in range(repeats):
        for i in range(np.uint64(lo), np.uint64(hi)):
            g = grad[i]
            first[i] = c * first[i] + g
            second[i] = c * second[i] + g
            params[i] -= c * first[i]


def step_traffic_ms(n_params, dtype, n_threads, repeats=200):
    """Milliseconds one optimizer step's memory traffic takes at the least, on ``n_threads``.

    An Adam step reads each parameter, its two moments and its gradient
    and writes the parameter and the moments back: 7 values of ``dtype``
    per parameter that no implementation can skip, and that no matrix
    product can hide, since every product of the next batch needs the
    stepped weights. Each thread streams over its share of the
    parameters ``repeats`` times, free of any barrier, so this is a
    lower bound; a fit's steps also find their arrays evicted from cache
    by the products between them.

    Parameters
    ----------
    n_params : int
    dtype : str
    n_threads : int
    repeats : int, default=200

    Returns
    -------
    float
    """
    arrays = [np.zeros(n_params, dtype=dtype) for _ in range(4)]
    bounds = np.linspace(0, n_params, n_threads + 1).astype(np.int64)
    _step_traffic(*arrays, 0, n_params, 1)  # compile and touch the pages
    time.sleep(SETTLE_SECONDS)  # (the BLAS threads of the timings before it go idle)
    threads = [
        threading.Thread(target=_step_traffic, args=(*arrays, bounds[k], bounds[k + 1], repeats))
        for k in range(n_threads)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 1e3 * (time.perf_counter() - start) / repeats


def time_interleaved(engines, repeats, settle=0.0):
    """Seconds per epoch of every engine, ``repeats`` timed calls each, round-robin.

    Interleaving spreads slow phases of a busy machine over all engines
    alike, so the ratios are steadier than the absolute times.

    Parameters
    ----------
    engines : dict of str to Engine
    repeats : int
    settle : float, default=0.0
        Seconds to wait before each timed call. With several threads per
        library, the previous engine's idle worker threads keep spinning
        for a while after it returns (OpenBLAS's for about 0.1 s) and take
        cores from the next engine; waiting lets them go to sleep.

    Returns
    -------
    dict of str to list of float
    """
    times = {name: [] for name in engines}
    for _ in range(repeats):
        for name, engine in engines.items():
            time.sleep(settle)
            start = time.perf_counter()
            engine.epoch()
            times[name].append((time.perf_counter() - start) / engine.epochs_per_call)
    return times


def _summary(times, flops):
    median = statistics.median(times)
    return {
        "ms_per_epoch": 1e3 * median,
        "times_ms": [1e3 * t for t in times],
        "gflops": flops / median / 1e9,
    }


def run_workload(workload, dtype, repeats, quick, threads, log=print):
    """Time every engine on one workload and dtype.

    ``peak_fraction`` is added later by :func:`add_peak_fractions`, once
    the BLAS peak is known.

    Parameters
    ----------
    workload : Workload
    dtype : str
        ``"float64"`` or ``"float32"``.
    repeats : int
        Timed calls per engine.
    quick : bool
        At most ``QUICK_MAX_SAMPLES`` rows.
    threads : int or None
        PyTorch's thread count (None: its own default).
    log : callable, default=print
        Progress output.

    Returns
    -------
    dict
        One row of the report's ``results``.
    """
    n_samples = min(workload.n_samples, QUICK_MAX_SAMPLES) if quick else workload.n_samples
    X, y = workload.make(n_samples)
    X = np.ascontiguousarray(X, dtype=dtype)
    params = _sklearn_params(workload)
    if workload.task == "regression":
        y = y.astype(dtype)
        ours, theirs = BackpropRegressor(**params), MLPRegressor(**params)
    else:
        ours, theirs = BackpropClassifier(**params), MLPClassifier(**params)
    units = layer_units(workload)
    n_samples = X.shape[0]
    flops = epoch_flops(units, n_samples)
    result = {
        "workload": workload.name,
        "description": workload.description,
        "task": workload.task,
        "dtype": dtype,
        "n_samples": n_samples,
        "n_features": workload.n_features,
        "hidden_layer_sizes": list(workload.hidden),
        "layer_units": units,
        "batch_size": workload.batch_size,
        "flops_per_epoch": flops,
    }

    log(f"  {workload.name} {dtype}: warm-up ...", end="", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engines = {
            "fastbp": estimator_engine(ours, X, y),
            "sklearn": estimator_engine(theirs, X, y),
            "torch": torch_engine(workload, X, y, threads),
            "gemm_floor": gemm_floor_engine(units, X, workload.batch_size),
        }
        engines = {name: engine for name, engine in engines.items() if engine is not None}
        log(f" {repeats} timed runs of {', '.join(engines)} ...", end="", flush=True)
        # (on one thread each, no library leaves threads spinning)
        settle = SETTLE_SECONDS if threads is None or threads > 1 else 0.0
        times = time_interleaved(engines, repeats, settle=settle)
    log(" done")

    result["torch"] = None
    for name, engine in engines.items():
        result[name] = {**_summary(times[name], flops), **engine.info()}
    fastbp_ms = result["fastbp"]["ms_per_epoch"]
    result["ratio_sklearn_to_fastbp"] = result["sklearn"]["ms_per_epoch"] / fastbp_ms
    result["ratio_torch_to_fastbp"] = result["torch"]["ms_per_epoch"] / fastbp_ms if result["torch"] else None
    result["ratio_fastbp_to_floor"] = fastbp_ms / result["gemm_floor"]["ms_per_epoch"]
    # the threads a lone fit takes: fastbp's setting, capped by the BLAS limit
    n_threads = min(_parallel.get_num_threads(), _threads.outer_blas_threads())
    n_params = sum((a + 1) * b for a, b in zip(units[:-1], units[1:]))
    n_batches = -(-n_samples // workload.batch_size)
    step_ms = n_batches * step_traffic_ms(n_params, dtype, n_threads)
    result["step_traffic"] = {"ms_per_epoch": step_ms, "threads": n_threads}
    result["ratio_fastbp_to_floor_and_step"] = fastbp_ms / (result["gemm_floor"]["ms_per_epoch"] + step_ms)
    return result


def add_peak_fractions(results, peak_gflops):
    """Set ``peak_fraction`` (GFLOP/s over the dtype's BLAS peak) on every engine of every result.

    Parameters
    ----------
    results : list of dict
        Rows from :func:`run_workload`; changed in place.
    peak_gflops : dict of str to float
        dtype -> best measured GEMM GFLOP/s.
    """
    for r in results:
        for engine in ENGINES:
            if r[engine] is not None:
                r[engine]["peak_fraction"] = r[engine]["gflops"] / peak_gflops[r["dtype"]]
