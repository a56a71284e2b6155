"""Training: time per epoch, peak memory of a fit, and the test score.

Each class warms the JIT in ``setup`` (a first ``partial_fit``/``fit``
loads or compiles the kernels for the dtype), so compile time is never
timed here; it is measured on its own in ``bench_compile``.
"""

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
