"""Training: time per epoch, peak memory of a fit, and the test score.

Each class warms the JIT in ``setup`` (a first ``partial_fit``/``fit``
loads or compiles the kernels for the dtype), so compile time is never
timed here; it is measured on its own in ``bench_compile``.
"""

import warnings

from . import common

SOLVERS = ["adam", "sgd", "lbfgs"]
PARAMS = [list(common.WORKLOADS), common.DTYPES, SOLVERS]
PARAM_NAMES = ["workload", "dtype", "solver"]


class Epoch:
    """Time of one training epoch, pinned or at the libraries' own thread counts.

    adam/sgd: one ``partial_fit`` over the training rows (one epoch,
    mini-batches, shuffled). lbfgs: ``fit(max_iter=1)`` on the full batch
    (one L-BFGS iteration, a few loss/gradient evaluations, including
    weight initialisation). ``threads``: ``"pinned"``, one BLAS thread and
    one Numba thread; ``"default"``, thread counts left alone.
    """

    params = PARAMS + [common.THREAD_MODES]
    param_names = PARAM_NAMES + ["threads"]

    def setup(self, workload, dtype, solver, threads):
        common.use_threads(threads)
        self.X, _, self.y, _ = common.load(workload, dtype)
        self.classes = common.classes_of(workload, self.y)
        if solver == "lbfgs":
            self.model = common.make_estimator(workload, solver, max_iter=1)
            common.fit_quietly(self.model, self.X, self.y)  # warm the JIT
        else:
            self.model = common.make_estimator(workload, solver)
            common.partial_fit_epoch(self.model, self.X, self.y, self.classes)  # warm the JIT

    def time_epoch(self, workload, dtype, solver, threads):
        if solver == "lbfgs":
            common.fit_quietly(self.model, self.X, self.y)
        else:
            common.partial_fit_epoch(self.model, self.X, self.y, self.classes)


class FitMemory:
    """Peak resident memory of the process through a 2-epoch fit on 20,000 x 256.

    asv's peakmem is the whole process (Python, NumPy, scikit-learn, Numba
    and LLVM: ~270 MB here), so the training data is made large enough
    (41 MB in float64) that a copy of X made by ``fit`` shows as a step.
    """

    params = [common.DTYPES, SOLVERS]
    param_names = ["dtype", "solver"]

    def setup(self, dtype, solver):
        common.pin_threads()
        self.X, self.y = common.load_wide(dtype)
        model = common.make_estimator("binary", solver, max_iter=1)
        common.fit_quietly(model, self.X[:100], self.y[:100])  # warm the JIT on a slice

    def peakmem_fit(self, dtype, solver):
        common.fit_quietly(common.make_estimator("binary", solver, max_iter=2), self.X, self.y)


class Quality:
    """Test-set score (accuracy or R^2) after a fixed budget, random_state=0.

    Tracked next to the timings so a change that buys speed with accuracy
    shows up. Budget: 30 epochs (adam/sgd), 100 iterations (lbfgs).
    """

    params = PARAMS
    param_names = PARAM_NAMES
    unit = "score"

    def setup(self, workload, dtype, solver):
        common.pin_threads()
        self.data = common.load(workload, dtype)

    def track_test_score(self, workload, dtype, solver):
        X_train, X_test, y_train, y_test = self.data
        max_iter = 100 if solver == "lbfgs" else 30
        model = common.make_estimator(workload, solver, max_iter=max_iter)
        common.fit_quietly(model, X_train, y_train)
        return float(model.score(X_test, y_test))


ACTIVATIONS = [
    "relu", "tanh", "logistic",
    "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "mish", "softplus",
]  # fmt: skip


class ActivationEpoch:
    """Time of one adam epoch on digits by hidden activation, pinned threads (dropout: DropoutEpoch).

    The ratio to relu is what an activation costs. Versions without an
    activation skip it.
    """

    params = [ACTIVATIONS, common.DTYPES]
    param_names = ["activation", "dtype"]

    def setup(self, activation, dtype):
        common.pin_threads()
        self.X, _, self.y, _ = common.load("digits", dtype)
        self.classes = common.classes_of("digits", self.y)
        self.model = common.make_estimator("digits", "adam", activation=activation)
        try:  # warms the JIT (and compiles or loads the newer activations' kernel)
            common.partial_fit_epoch(self.model, self.X, self.y, self.classes)
        except ValueError as error:
            raise NotImplementedError(f"no activation {activation!r} in this version") from error

    def time_epoch(self, activation, dtype):
        common.partial_fit_epoch(self.model, self.X, self.y, self.classes)


class DropoutEpoch:
    """Time of one adam epoch on digits (relu) by dropout rate.

    The ratio to ``dropout=0.0`` (no dropout, the default kernel) is what
    dropout costs; the masks are drawn inside the compiled epoch.
    ``threads`` as in :class:`Epoch`. Versions without dropout skip it.
    """

    params = [[0.0, 0.2, 0.5], common.DTYPES, common.THREAD_MODES]
    param_names = ["dropout", "dtype", "threads"]

    def setup(self, dropout, dtype, threads):
        common.use_threads(threads)
        self.X, _, self.y, _ = common.load("digits", dtype)
        self.classes = common.classes_of("digits", self.y)
        try:
            self.model = common.make_estimator("digits", "adam", dropout=dropout)
        except TypeError as error:
            raise NotImplementedError("no dropout in this version") from error
        common.partial_fit_epoch(self.model, self.X, self.y, self.classes)  # warms the JIT

    def time_epoch(self, dropout, dtype, threads):
        common.partial_fit_epoch(self.model, self.X, self.y, self.classes)


class PresetNetworkFit:
    """A 2-epoch fit on W3's shapes (6,000 x 784, float32): the presets' network, or a plain one of its widths.

    ``preset``: the network :class:`fastbp.TabularClassifier` trains (every
    training option of its recipe, the best epoch on a 20% validation
    split), on the data as it is; ``plain``: BackpropClassifier's defaults
    with the same hidden layers and batch size, on the same 80% of the
    rows; ``plain_validated``: that network on all the rows, scoring the
    same validation split after every epoch. Issue 14's target: preset / plain at most 1.3 (``python -m
    fastbp.bench`` times the full 60,000 rows). ``threads`` as in
    :class:`Epoch`. Versions without the presets skip it.
    """

    params = [["plain", "plain_validated", "preset"], common.THREAD_MODES]
    param_names = ["network", "threads"]

    def setup(self, network, threads):
        common.use_threads(threads)
        try:
            from fastbp.bench.preset import QUICK_ROWS, preset_and_plain_fits
        except ImportError as error:
            raise NotImplementedError("no presets' network benchmark in this version") from error
        from sklearn.datasets import make_classification

        X, y = make_classification(
            n_samples=QUICK_ROWS, n_features=784, n_informative=50, n_redundant=0, n_classes=10, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fit = preset_and_plain_fits(X.astype("float32"), y)[network]
            self.fit()  # warms the JIT

    def time_fit(self, network, threads):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fit()
