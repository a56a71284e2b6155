"""Peer comparison on your machine: ``python -m fastbp.bench``.

Trains the same network with the same parameters in fastbp, in
scikit-learn's ``MLPClassifier``/``MLPRegressor`` and, when PyTorch is
importable, in a plain PyTorch CPU loop, and reports per workload and
dtype:

- the median milliseconds per training epoch over ``--repeats`` epochs,
  after one warm-up epoch (which loads or compiles fastbp's kernels); the
  engines' epochs are interleaved round-robin, so background load on the
  machine hits all of them alike;
- the ratio of each peer's time to fastbp's (> 1: fastbp is faster);
- GFLOP/s: matrix-product flops of one epoch (``2*m*k*n`` per product;
  forward, weight gradients and input gradients of every layer but the
  first, i.e. 3x the forward flops minus the first layer's input
  gradient) divided by the epoch time;
- the fraction of this machine's BLAS GEMM peak, measured once per dtype
  with one large ``np.dot``;
- a "GEMM floor": the time of only the matrix products a per-batch trainer
  must do in one epoch, on the same shapes, with ``np.dot(out=...)`` into
  preallocated arrays. No per-batch trainer built on the same BLAS does
  fewer flops; fastbp's time over the floor is what the rest of an epoch
  costs (gather, activations, loss, optimizer, Python). For tiny layers
  the floor also holds NumPy's call overhead (~1 us per product), which a
  compiled loop does not pay, so fastbp can beat it there.

Epochs of fastbp and scikit-learn are both timed as a ``fit`` of a few
epochs (``fit_epochs``) divided by its epoch count: validation and set-up
are paid once per fit, as in real use. The training loss after the fit is
reported as a sanity check; with the same ``random_state`` the two
libraries follow the same trajectory, so it matches. BLAS runs on
``--blas-threads`` threads (default 1) for every engine, set with
threadpoolctl and ``torch.set_num_threads``.

After the table (unless ``--no-targets``) it measures the rest of what
fastbp promises: ``predict_proba`` of 1 and of 10,000 rows next to
scikit-learn; W1 epochs with tanh and logistic against relu; two fits in
two Python threads against the same fits in turn; ``GridSearchCV`` with
joblib's threading backend at ``n_jobs=1`` and ``2``; import and first fit
in new processes with an empty and a warm Numba cache (``--quick``: warm
only); and the peak memory a one-epoch W3 fit adds, fastbp against
scikit-learn, each in a new process.

Examples
--------
::

    python -m fastbp.bench                                # all workloads, both dtypes
    python -m fastbp.bench --workloads W1,W5 --dtypes float32 --repeats 7
    python -m fastbp.bench --quick --json bench.json      # smaller data, a smoke run
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg  # noqa: F401  (Numba's BLAS; loaded before threadpoolctl limits it)
import sklearn
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_info, threadpool_limits

import fastbp
from fastbp import BackpropClassifier, BackpropRegressor

ALPHA = 1e-4
LEARNING_RATE = 1e-3
SEED = 0
QUICK_MAX_SAMPLES = 2000  # rows per workload with --quick


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    task: str  # "multiclass", "binary" or "regression"
    n_samples: int
    n_features: int
    hidden: tuple
    batch_size: int

    def make(self, n_samples):
        """``(X, y)`` in float64 with a fixed seed; ``n_samples`` rows (digits: all)."""
        from sklearn.datasets import load_digits, make_classification, make_regression

        if self.name == "W1":
            X, y = load_digits(return_X_y=True)
            return X / 16.0, y
        if self.name == "W2":
            return make_classification(
                n_samples=n_samples, n_features=20, n_informative=10, n_classes=2, random_state=SEED
            )
        if self.name == "W3":
            return make_classification(
                n_samples=n_samples,
                n_features=784,
                n_informative=50,
                n_redundant=0,
                n_classes=10,
                random_state=SEED,
            )
        if self.name == "W4":
            X, y = make_regression(
                n_samples=n_samples, n_features=50, n_informative=25, noise=10.0, random_state=SEED
            )
            return X, (y - y.mean()) / y.std()  # standardised targets: a sane loss scale
        if self.name == "W5":
            return make_classification(
                n_samples=n_samples, n_features=32, n_informative=16, n_classes=2, random_state=SEED
            )
        raise ValueError(self.name)


WORKLOADS = {
    w.name: w
    for w in (
        Workload("W1", "load_digits, 10 classes", "multiclass", 1797, 64, (100,), 200),
        Workload("W2", "make_classification, 2 classes", "binary", 20000, 20, (64, 64), 64),
        Workload("W3", "make_classification, 10 classes", "multiclass", 60000, 784, (256, 128), 128),
        Workload("W4", "make_regression", "regression", 50000, 50, (128, 64), 256),
        Workload("W5", "make_classification, 2 classes", "binary", 10000, 32, (32,), 16),
    )
}


# -- flop counts ---------------------------------------------------------


def layer_units(workload):
    """``[n_features, *hidden, n_outputs]`` as scikit-learn builds the network."""
    n_outputs = {"multiclass": 10, "binary": 1, "regression": 1}[workload.task]
    return [workload.n_features, *workload.hidden, n_outputs]


def epoch_flops(units, n_samples):
    """Matrix-product flops of one training epoch over ``n_samples`` rows.

    Per row and layer ``(k, n)``: forward ``2*k*n``, weight gradient
    ``2*k*n``, input gradient ``2*k*n`` except for the first layer, whose
    input needs no gradient. Summed over batches this is independent of
    the batch size.
    """
    forward = sum(2 * k * n for k, n in zip(units[:-1], units[1:]))
    return n_samples * (3 * forward - 2 * units[0] * units[1])


def blas_peak_gflops(dtype, size, budget=1.0):
    """Best GFLOP/s of a ``size x size`` ``np.dot`` with preallocated output.

    Repeats for about ``budget`` seconds (at least 5 times) and keeps the
    fastest: on a busy machine the best run is the closest to the peak.
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


# -- engines ---------------------------------------------------------------


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
    """
    try:
        import torch
        from torch import nn
    except ImportError:
        return None

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


def time_interleaved(engines, repeats):
    """Seconds per epoch of every engine, ``repeats`` timed calls each, round-robin.

    Interleaving spreads slow phases of a busy machine over all engines
    alike, so the ratios are steadier than the absolute times.
    """
    times = {name: [] for name in engines}
    for _ in range(repeats):
        for name, engine in engines.items():
            start = time.perf_counter()
            engine.epoch()
            times[name].append((time.perf_counter() - start) / engine.epochs_per_call)
    return times


# -- the comparison --------------------------------------------------------


def _summary(times, flops):
    median = statistics.median(times)
    return {
        "ms_per_epoch": 1e3 * median,
        "times_ms": [1e3 * t for t in times],
        "gflops": flops / median / 1e9,
    }


def run_workload(workload, dtype, repeats, quick, threads, log=print):
    """Time every engine on one workload and dtype; returns the result dict.

    ``peak_fraction`` is added later by ``main``, once the BLAS peak is known.
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
        times = time_interleaved(engines, repeats)
    log(" done")

    result["torch"] = None
    for name, engine in engines.items():
        result[name] = {**_summary(times[name], flops), **engine.info()}
    fastbp_ms = result["fastbp"]["ms_per_epoch"]
    result["ratio_sklearn_to_fastbp"] = result["sklearn"]["ms_per_epoch"] / fastbp_ms
    result["ratio_torch_to_fastbp"] = result["torch"]["ms_per_epoch"] / fastbp_ms if result["torch"] else None
    result["ratio_fastbp_to_floor"] = fastbp_ms / result["gemm_floor"]["ms_per_epoch"]
    return result


# -- the other targets: prediction, threads, compile, memory ----------------


def _seconds(func, calls=1):
    """Mean seconds of ``calls`` calls of ``func``."""
    start = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - start) / calls


def _median_seconds(func, repeats, calls=1):
    """Median over ``repeats`` of :func:`_seconds`, after one warm-up call."""
    func()
    return statistics.median(_seconds(func, calls) for _ in range(repeats))


def _full_data(name):
    """``(X, y)`` of workload ``name`` at its full size."""
    workload = WORKLOADS[name]
    return workload.make(workload.n_samples)


def measure_predict(repeats):
    """``predict_proba`` of 1 and of 10,000 rows, fastbp and scikit-learn (W1 models)."""
    X, y = _full_data("W1")
    X_10k = np.ascontiguousarray(np.resize(X, (10_000, X.shape[1])))
    params = dict(hidden_layer_sizes=(100,), max_iter=20, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {"fastbp": BackpropClassifier(**params).fit(X, y), "sklearn": MLPClassifier(**params).fit(X, y)}
    result = {}
    for rows, X_rows, calls in ((1, X[:1].copy(), 2000), (10_000, X_10k, 5)):
        for name, model in models.items():
            result[f"{name}_{rows}_rows_us"] = 1e6 * _median_seconds(
                lambda: model.predict_proba(X_rows), repeats, calls
            )
    return result


def _two_fits(make, X, y, threaded):
    models = [make(seed) for seed in (0, 1)]
    if not threaded:
        for model in models:
            model.fit(X, y)
        return
    threads = [threading.Thread(target=model.fit, args=(X, y)) for model in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure_threads(repeats, quick):
    """Throughput of two fits in two Python threads over the same two fits in turn.

    W1's network on digits (fits of 20 and of 100 epochs) and W2's on its
    data; each fit runs a fixed number of epochs (no early stop). > 1: the
    threads ran side by side. The shorter the fit, the more its validation
    and set-up, which hold the GIL, weigh.
    """
    digits = _full_data("W1")
    cases = {"W1 20 epochs": (digits, (100,), 200, 20)}
    if not quick:
        cases["W1 100 epochs"] = (digits, (100,), 200, 100)
        cases["W2 4 epochs"] = (_full_data("W2"), (64, 64), 64, 4)
    result = {}
    for name, ((X, y), hidden, batch_size, epochs) in cases.items():

        def make(seed, hidden=hidden, batch_size=batch_size, epochs=epochs):
            return BackpropClassifier(
                hidden_layer_sizes=hidden,
                batch_size=batch_size,
                max_iter=epochs,
                n_iter_no_change=epochs + 1,
                random_state=seed,
            )

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make(0).fit(X, y)  # warm-up: loads the kernels (and caches) once
            ratios = []
            for _ in range(repeats):
                serial = _seconds(lambda: _two_fits(make, X, y, False))
                threaded = _seconds(lambda: _two_fits(make, X, y, True))
                ratios.append(serial / threaded)
        result[name] = statistics.median(ratios)
    return result


def measure_activations(repeats):
    """Seconds per epoch of W1's network with each hidden activation, float64 and float32.

    A fit of 20 epochs per timing, divided by 20; the ratio to relu is
    what tanh's and logistic's exp costs.
    """
    X, y = _full_data("W1")
    result = {}
    for dtype in ("float64", "float32"):
        Xd = X.astype(dtype)
        for activation in ("relu", "tanh", "logistic"):
            model = BackpropClassifier(
                hidden_layer_sizes=(100,), activation=activation, max_iter=20, n_iter_no_change=21, random_state=SEED
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seconds = _median_seconds(lambda: model.fit(Xd, y), repeats)
            result[f"{activation}_{dtype}_ms"] = 1e3 * seconds / 20
    return result


def measure_grid_search(repeats):
    """GridSearchCV with joblib's threading backend: seconds with n_jobs=1 and 2."""
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    X, y = _full_data("W1")
    grid = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(64,), (128,)]}
    estimator = BackpropClassifier(max_iter=20, random_state=SEED)
    result = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n_jobs in (1, 2):
            search = GridSearchCV(estimator, grid, cv=3, n_jobs=n_jobs)
            with parallel_backend("threading", n_jobs=n_jobs):
                result[f"n_jobs_{n_jobs}_s"] = _median_seconds(lambda: search.fit(X, y), repeats)
    result["speedup"] = result["n_jobs_1_s"] / result["n_jobs_2_s"]
    return result


_FIRST_FIT_SCRIPT = """
import json, time, warnings
t0 = time.perf_counter()
import fastbp
t1 = time.perf_counter()
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
t2 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fastbp.BackpropClassifier(max_iter=1, random_state=0).fit(X / 16.0, y)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_fit_s": t3 - t2}))
"""


def _first_fit_in_new_process(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_FIT_SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_compile(quick):
    """Import and first fit on digits in new processes: empty cache, then warm.

    With ``quick`` only the warm case runs, and its cache is filled by a
    first process that is not reported.
    """
    with tempfile.TemporaryDirectory(prefix="fastbp-bench-cache-") as cache_dir:
        cold = _first_fit_in_new_process(cache_dir)
        warm = _first_fit_in_new_process(cache_dir)
    result = {f"cached_{k}": v for k, v in warm.items()}
    if not quick:
        result.update({f"cold_{k}": v for k, v in cold.items()})
    return result


_PEAK_MEMORY_SCRIPT = """
import json, sys, warnings
import numpy as np
engine, X_path, y_path = sys.argv[1:4]

def status_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

X, y = np.load(X_path), np.load(y_path)
if engine == "fastbp":
    from fastbp import BackpropClassifier as Estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Estimator(hidden_layer_sizes=(4,), max_iter=1).fit(X[:300], y[:300])  # load the kernels
else:
    from sklearn.neural_network import MLPClassifier as Estimator
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # peak RSS := current RSS
before = status_kib("VmRSS")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    Estimator(hidden_layer_sizes=(256, 128), batch_size=128, max_iter=1, random_state=0).fit(X, y)
peak = status_kib("VmHWM")
print(json.dumps({"data_mib": X.nbytes / 2**20, "fit_added_mib": (peak - before) / 1024}))
"""


def measure_peak_memory(dtypes, quick):
    """Memory a one-epoch W3 fit adds to its process's peak, per engine and dtype.

    Each fit runs in a new process that loads the data from ``.npy`` files,
    resets the kernel's peak-RSS counter (Linux: ``/proc/self/clear_refs``)
    and reports the peak RSS after the fit minus the RSS before it. None
    where ``/proc`` does not offer that.
    """
    if not os.access("/proc/self/clear_refs", os.W_OK):
        return None
    n_samples = QUICK_MAX_SAMPLES if quick else WORKLOADS["W3"].n_samples
    X, y = WORKLOADS["W3"].make(n_samples)
    result = {"n_samples": n_samples}
    with tempfile.TemporaryDirectory(prefix="fastbp-bench-data-") as tmp:
        y_path = os.path.join(tmp, "y.npy")
        np.save(y_path, y)
        for dtype in dtypes:
            X_path = os.path.join(tmp, "X.npy")
            np.save(X_path, np.ascontiguousarray(X, dtype=dtype))
            for engine in ("fastbp", "sklearn"):
                out = subprocess.run(
                    [sys.executable, "-c", _PEAK_MEMORY_SCRIPT, engine, X_path, y_path],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                result[f"{engine}_{dtype}"] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure_targets(dtypes, repeats, quick, log=print):
    """Every measurement outside the per-epoch table (see the module docstring)."""
    steps = {
        "predict": lambda: measure_predict(repeats),
        "activations": lambda: measure_activations(repeats),
        "threads": lambda: measure_threads(repeats, quick),
        "grid_search": lambda: measure_grid_search(repeats),
        "compile": lambda: measure_compile(quick),
        "peak_memory": lambda: measure_peak_memory(dtypes, quick),
    }
    result = {}
    for name, step in steps.items():
        log(f"  {name} ...", end="", flush=True)
        result[name] = step()
        log(" done")
    return result


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_BLAS_KEYS = ("internal_api", "version", "num_threads", "threading_layer", "architecture", "filepath")


def machine_info(threads):
    """What the numbers depend on: CPU, library versions, BLAS and thread counts."""
    import numba

    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    blas = [{k: lib.get(k) for k in _BLAS_KEYS} for lib in threadpool_info() if lib["user_api"] == "blas"]
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "sklearn": sklearn.__version__,
        "fastbp": fastbp.__version__,
        "torch": torch_version,
        "blas_threads": threads,
        "numba_num_threads": int(numba.config.NUMBA_NUM_THREADS),
        "blas": blas,
    }


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_table(report):
    """The results as a fixed-width text table."""
    peak = report["blas_peak_gflops"]
    columns = [
        ("workload", 8),
        ("dtype", 8),
        ("fastbp ms", 10),
        ("sklearn ms", 11),
        ("torch ms", 9),
        ("floor ms", 9),
        ("skl/fbp", 8),
        ("torch/fbp", 10),
        ("fbp/floor", 10),
        ("fbp GF/s", 9),
        ("fbp %pk", 8),
        ("skl %pk", 8),
        ("floor %pk", 10),
    ]
    lines = ["".join(name.rjust(width) for name, width in columns)]
    for r in report["results"]:
        torch_r = r["torch"]
        cells = [
            r["workload"],
            r["dtype"],
            _fmt(r["fastbp"]["ms_per_epoch"], ".2f"),
            _fmt(r["sklearn"]["ms_per_epoch"], ".2f"),
            _fmt(torch_r and torch_r["ms_per_epoch"], ".2f"),
            _fmt(r["gemm_floor"]["ms_per_epoch"], ".2f"),
            _fmt(r["ratio_sklearn_to_fastbp"], ".2f"),
            _fmt(r["ratio_torch_to_fastbp"], ".2f"),
            _fmt(r["ratio_fastbp_to_floor"], ".2f"),
            _fmt(r["fastbp"]["gflops"], ".1f"),
            _fmt(100 * r["fastbp"]["peak_fraction"], ".1f"),
            _fmt(100 * r["sklearn"]["peak_fraction"], ".1f"),
            _fmt(100 * r["gemm_floor"]["peak_fraction"], ".1f"),
        ]
        lines.append("".join(str(c).rjust(width) for c, (_, width) in zip(cells, columns)))
    notes = [
        "ms: median milliseconds per epoch;",
        "skl/fbp, torch/fbp: peer time / fastbp time (> 1: fastbp faster);",
        "fbp/floor: fastbp time / GEMM-floor time (1 = only the matrix products remain);",
        "GF/s: matrix-product flops per epoch / epoch time; %pk: of the measured BLAS GEMM peak ("
        + ", ".join(f"{dt} {v:.1f} GFLOP/s" for dt, v in peak.items())
        + ").",
    ]
    return "\n".join(lines + notes)


def format_targets(targets):
    """The measurements of :func:`measure_targets` as text lines."""
    lines = []
    p = targets.get("predict")
    if p:
        for rows in (1, 10_000):
            ours, theirs = p[f"fastbp_{rows}_rows_us"], p[f"sklearn_{rows}_rows_us"]
            lines.append(
                f"predict_proba, {rows:,} row(s), W1 model: fastbp {ours:,.1f} us, "
                f"sklearn {theirs:,.1f} us (skl/fbp {theirs / ours:.2f})"
            )
    a = targets.get("activations")
    if a:
        for dtype in ("float64", "float32"):
            relu = a[f"relu_{dtype}_ms"]
            lines.append(
                f"W1 epoch by hidden activation, {dtype}: relu {relu:.2f} ms, "
                + ", ".join(
                    f"{name} {a[f'{name}_{dtype}_ms']:.2f} ms ({a[f'{name}_{dtype}_ms'] / relu:.2f}x)"
                    for name in ("tanh", "logistic")
                )
            )
    t = targets.get("threads")
    if t:
        lines.append(
            "two fits in two threads, throughput over the same fits in turn: "
            + ", ".join(f"{k} {v:.2f}x" for k, v in t.items())
        )
    g = targets.get("grid_search")
    if g:
        lines.append(
            f"GridSearchCV (4 candidates x 3 folds, digits), threading backend: n_jobs=1 "
            f"{g['n_jobs_1_s']:.2f} s, n_jobs=2 {g['n_jobs_2_s']:.2f} s ({g['speedup']:.2f}x)"
        )
    c = targets.get("compile")
    if c:
        for state in ("cold", "cached"):
            if f"{state}_import_s" in c:
                what = "empty Numba cache" if state == "cold" else "cached kernels"
                lines.append(
                    f"new process, {what}: import fastbp {c[f'{state}_import_s']:.2f} s, "
                    f"first fit on digits {c[f'{state}_first_fit_s']:.2f} s"
                )
    m = targets.get("peak_memory")
    if m:
        for key in sorted(k for k in m if k.startswith("fastbp_")):
            dtype = key.split("_", 1)[1]
            ours, theirs = m[key], m[f"sklearn_{dtype}"]
            lines.append(
                f"peak memory a W3 fit ({m['n_samples']:,} rows, {dtype}, data "
                f"{ours['data_mib']:.0f} MiB) adds: fastbp {ours['fit_added_mib']:.1f} MiB, "
                f"sklearn {theirs['fit_added_mib']:.1f} MiB"
            )
    return "\n".join(lines)


def _parse_list(text, allowed, what):
    items = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in items if s not in allowed]
    if unknown or not items:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; choose from {', '.join(allowed)}")
    return items


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fastbp.bench",
        description="Time fastbp next to scikit-learn's MLP (and PyTorch, if installed) on this machine.",
    )
    parser.add_argument(
        "--workloads",
        type=lambda s: _parse_list(s, list(WORKLOADS), "workloads"),
        default=list(WORKLOADS),
        help="comma-separated subset of "
        + ", ".join(f"{w.name} ({w.description})" for w in WORKLOADS.values()),
    )
    parser.add_argument(
        "--dtypes",
        type=lambda s: _parse_list(s, ["float64", "float32"], "dtypes"),
        default=["float64", "float32"],
        help="comma-separated: float64,float32 (default both)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed epochs per engine (default 5, 3 with --quick)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the full results as JSON")
    parser.add_argument(
        "--quick", action="store_true", help=f"at most {QUICK_MAX_SAMPLES} rows per workload: a smoke run"
    )
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS (and torch) threads (default 1)")
    parser.add_argument(
        "--no-targets",
        action="store_true",
        help="skip the measurements after the table (prediction, threads, compile, memory)",
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 5)
    if repeats < 1:
        raise SystemExit("--repeats must be >= 1")

    with threadpool_limits(limits=args.blas_threads):
        report = {
            "machine": machine_info(args.blas_threads),
            "config": {
                "workloads": args.workloads,
                "dtypes": args.dtypes,
                "repeats": repeats,
                "quick": args.quick,
                "solver": "adam",
                "activation": "relu",
                "alpha": ALPHA,
                "learning_rate_init": LEARNING_RATE,
                "shuffle": True,
                "random_state": SEED,
                "epoch_timing": "fit of fit_epochs(n_samples) epochs, per epoch; median of repeats after a warm-up fit; engines interleaved",
            },
        }
        machine = report["machine"]
        print(f"{machine['cpu']}, {machine['cpu_count']} CPUs, BLAS threads {args.blas_threads}")
        peak_size = 1024 if args.quick else 2048
        peak_budget = 0.3 if args.quick else 1.5
        peaks = {dt: [blas_peak_gflops(dt, peak_size, peak_budget)] for dt in args.dtypes}
        report["results"] = []
        for name in args.workloads:
            for dtype in args.dtypes:
                result = run_workload(WORKLOADS[name], dtype, repeats, args.quick, args.blas_threads)
                report["results"].append(result)
        # measure the peak again at the end and keep the better: a busy
        # machine otherwise understates it and overstates every fraction
        for dt in args.dtypes:
            peaks[dt].append(blas_peak_gflops(dt, peak_size, peak_budget))
        if not args.no_targets:
            print("other targets:")
            report["targets"] = measure_targets(args.dtypes, repeats, args.quick)
        report["blas_peak_gflops"] = {dt: max(v) for dt, v in peaks.items()}
        report["blas_peak_measurements"] = {"matrix_size": peak_size, "gflops": peaks}
        for r in report["results"]:
            for engine in ("fastbp", "sklearn", "torch", "gemm_floor"):
                if r[engine] is not None:
                    r[engine]["peak_fraction"] = r[engine]["gflops"] / report["blas_peak_gflops"][r["dtype"]]

    print()
    print(format_table(report))
    if "targets" in report:
        print()
        print(format_targets(report["targets"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
