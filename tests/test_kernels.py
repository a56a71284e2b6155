"""The compiled kernels against the plain-NumPy reference MLP (tests/reference.py).

Every kernel is run on small random problems covering each hidden
activation x each output/loss pair, 0, 1 and 2 hidden layers, uniform and
non-uniform sample weights, dense and CSR input, float64 (tight tolerance)
and float32 (loose tolerance), with a batch size that does not divide the
number of samples. The reference always computes in float64 from the very
same (dtype-rounded) parameters and data the kernels see.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from fastbp import _backprop
from fastbp._network import Network, as_kernel_data
from fastbp._optimizers import ADAM, SGD

try:
    from . import reference as ref
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference as ref

N_SAMPLES, N_FEATURES = 23, 6
BATCH_SIZE = 7  # 23 = 3 * 7 + 2: the last batch is short
N_OUTPUTS = {"identity": 2, "logistic": 3, "softmax": 3, "exp": 2}
HIDDEN_LAYERS = {0: (), 1: (5,), 2: (5, 4)}
RTOL = {np.float64: 1e-10, np.float32: 1e-4}
ALPHA = 0.3

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
WEIGHTED = pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
SPARSE = pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])


def _architectures():
    for depth, hidden in HIDDEN_LAYERS.items():
        # without a hidden layer the hidden activation is never used
        activations = ref.HIDDEN_ACTIVATIONS if depth else ("relu",)
        for activation in activations:
            for out in ref.OUTPUT_ACTIVATIONS:
                yield pytest.param(hidden, activation, out, id=f"{depth}h-{activation}-{out}")


ARCHITECTURES = pytest.mark.parametrize("hidden, activation, out", list(_architectures()))


# -- problem set-up ---------------------------------------------------------------------


def make_targets(rng, out, n, k):
    if out == "identity":
        return rng.normal(size=(n, k))
    if out == "logistic":  # binary (k = 1) or multilabel indicators
        return rng.randint(0, 2, size=(n, k)).astype(float)
    if out == "softmax":  # one-hot classes
        return np.eye(k)[rng.randint(0, k, size=n)]
    if out == "exp":  # counts, zeros included
        return rng.poisson(1.5, size=(n, k)).astype(float)
    raise ValueError(out)


class Problem:
    """A network with random parameters and random data, kernel and reference views.

    ``X`` has about half its entries zero and one all-zero row, so its CSR
    form has empty rows and varying row lengths. ``sw`` is ones, or random
    positive weights with one zero. The ``*_ref`` arrays are the float64
    images of exactly what the kernels see.
    """

    def __init__(self, hidden, activation, out, dtype, weighted, n_outputs=None, seed=0, n=N_SAMPLES):
        rng = np.random.RandomState(seed)
        k = N_OUTPUTS[out] if n_outputs is None else n_outputs
        self.units = [N_FEATURES, *hidden, k]
        self.activation, self.out, self.dtype = activation, out, dtype

        self.network = Network(self.units, activation, out, dtype)
        self.network.params[...] = rng.uniform(-0.8, 0.8, self.network.n_params)

        X = rng.normal(size=(n, N_FEATURES))
        X[rng.uniform(size=X.shape) < 0.5] = 0.0
        X[3] = 0.0
        self.X = X.astype(dtype)
        self.Y = make_targets(rng, out, n, k).astype(dtype)
        if weighted:
            sw = rng.uniform(0.2, 3.0, size=n)
            sw[5] = 0.0
            self.sw = sw.astype(dtype)
        else:
            self.sw = None
        self.rng = rng

        self.X_ref = self.X.astype(np.float64)
        self.Y_ref = self.Y.astype(np.float64)
        self.sw_ref = np.ones(n) if self.sw is None else self.sw.astype(np.float64)

    def data(self, sparse, with_targets=True):
        X = sp.csr_matrix(self.X) if sparse else self.X
        if sparse:
            assert X.nnz < X.shape[0] * X.shape[1] and np.diff(X.indptr).min() == 0
        if not with_targets:
            return as_kernel_data(X, dtype=self.dtype, n_outputs=self.units[-1])
        return as_kernel_data(X, self.Y, self.sw, dtype=self.dtype, n_outputs=self.units[-1])

    def ref_params(self):
        """Float64 copies of the current parameters, as coefs and intercepts lists."""
        return ref.unpack(self.network.params.astype(np.float64), self.units)


def assert_close(actual, desired, dtype, what):
    """Relative comparison, with an absolute floor scaled by the largest entry.

    The floor keeps float32 entries that are sums of cancelling terms from
    failing on their rounding error alone.
    """
    rtol = RTOL[dtype]
    desired = np.asarray(desired, dtype=np.float64)
    actual = np.asarray(actual)
    assert actual.shape == desired.shape, what
    assert np.all(np.isfinite(actual)), what
    atol = rtol * max(float(np.max(np.abs(desired), initial=0.0)), 1e-300)
    np.testing.assert_allclose(actual.astype(np.float64), desired, rtol=rtol, atol=atol, err_msg=what)


# -- one batch's loss and gradient ---------------------------------------------------


def _batch_loss_grad(net, data, work, batch):
    """``(raw loss / sw sum, raw gradient, raw gradient / sw sum)`` of the rows ``batch``.

    The batch's forward and backward pass are written out in ``run``, so
    they are run through it: ``BLOCK`` over exactly these rows leaves the
    raw gradient in the workspace's ``grad`` and returns the raw loss.
    """
    dtype = net[0].dtype
    optimizer = _backprop._placeholder_optimizer(dtype, 0.0)
    empty = np.empty((0, 0), dtype=dtype)
    loss, _ = _backprop.run(_backprop.BLOCK, net, data, work, optimizer, batch, len(batch), empty)
    raw_grad = work[4].copy()
    sw_sum = data[6][batch].astype(np.float64).sum()
    return loss / sw_sum, raw_grad, raw_grad / sw_sum


@SPARSE
@WEIGHTED
@DTYPES
@ARCHITECTURES
def test_batch_loss_grad(hidden, activation, out, dtype, weighted, sparse):
    """Raw batch loss, weight sum and raw gradient (no L2, not divided)."""
    p = Problem(hidden, activation, out, dtype, weighted)
    data = p.data(sparse)
    work = p.network.workspace(BATCH_SIZE, sparse)
    params_before = p.network.params.copy()
    coefs, intercepts = p.ref_params()
    rows = p.rng.permutation(N_SAMPLES).astype(np.int64)

    n_batches = 0
    for start in range(0, N_SAMPLES, BATCH_SIZE):
        batch = rows[start : start + BATCH_SIZE]
        work[4][...] = np.nan  # every entry must be written
        loss, raw_grad, grad = _batch_loss_grad(p.network.net(), data, work, batch)

        ref_loss, ref_sw_sum, coef_grads, intercept_grads = ref.raw_loss_grad(
            coefs, intercepts, p.X_ref[batch], p.Y_ref[batch], p.sw_ref[batch], activation, out, dtype
        )
        ref_grad = ref.pack(coef_grads, intercept_grads)
        assert_close(loss, ref_loss / ref_sw_sum, dtype, f"loss of batch at {start}")
        assert_close(raw_grad, ref_grad, dtype, f"raw gradient of batch at {start}")
        # the division by the batch's weight sum
        assert_close(grad, ref_grad / ref_sw_sum, dtype, f"gradient of batch at {start}")
        n_batches += 1
    assert n_batches == 4
    np.testing.assert_array_equal(p.network.params, params_before)


# -- full_loss_grad_into --------------------------------------------------------------


@pytest.mark.parametrize("chunk", [BATCH_SIZE, 64], ids=["chunked", "one-chunk"])
@SPARSE
@WEIGHTED
@DTYPES
@ARCHITECTURES
def test_full_loss_grad_into(hidden, activation, out, dtype, weighted, sparse, chunk):
    """Finished loss (L2 included) and gradient over all rows, in chunks or in one."""
    p = Problem(hidden, activation, out, dtype, weighted)
    data = p.data(sparse)
    work = p.network.workspace(min(chunk, N_SAMPLES), sparse)
    grad = np.full(p.network.n_params, 7.0, dtype=dtype)  # must be overwritten, not accumulated into
    params_before = p.network.params.copy()

    loss = _backprop.full_loss_grad_into(p.network.net(), data, work, ALPHA, chunk, grad)

    coefs, intercepts = p.ref_params()
    ref_loss, coef_grads, intercept_grads = ref.loss_grad(
        coefs, intercepts, p.X_ref, p.Y_ref, p.sw_ref, activation, out, ALPHA, dtype
    )
    assert_close(loss, ref_loss, dtype, "loss")
    assert_close(grad, ref.pack(coef_grads, intercept_grads), dtype, "gradient")
    np.testing.assert_array_equal(p.network.params, params_before)

    # a second call gives the same answer (no state leaks between calls)
    grad_again = np.empty_like(grad)
    loss_again = _backprop.full_loss_grad_into(p.network.net(), data, work, ALPHA, chunk, grad_again)
    assert loss_again == loss
    np.testing.assert_array_equal(grad_again, grad)


# -- run_epoch ------------------------------------------------------------------------

SOLVERS = pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-momentum"])


class Optimizers:
    """The kernel's optimizer tuple and the reference optimizer, built alike."""

    def __init__(self, solver, network, coefs, intercepts, alpha=ALPHA):
        dtype = network.dtype
        self.alpha = alpha
        self.state_1 = np.zeros(network.n_params, dtype=dtype)
        if solver == "adam":
            self.code, self.lr, self.momentum, self.nesterov = ADAM, 0.01, 0.0, False
            self.beta_1, self.beta_2, self.epsilon = 0.9, 0.999, 1e-8
            self.state_2 = np.zeros(network.n_params, dtype=dtype)
            self.reference = ref.Adam(coefs + intercepts, self.lr, self.beta_1, self.beta_2, self.epsilon)
        else:
            self.code, self.lr, self.momentum = SGD, 0.05, 0.9
            self.nesterov = solver == "sgd-nesterov"
            self.beta_1, self.beta_2, self.epsilon = 0.9, 0.999, 1e-8  # unused by SGD
            self.state_2 = np.zeros(0, dtype=dtype)
            self.reference = ref.SGD(coefs + intercepts, self.lr, self.momentum, self.nesterov)
        self.t = 0

    def kernel_tuple(self):
        return _backprop.optimizer_tuple(
            self.state_1.dtype, self.state_1, self.state_2, solver=self.code, lr=self.lr, alpha=self.alpha,
            momentum=self.momentum, nesterov=self.nesterov, beta_1=self.beta_1, beta_2=self.beta_2,
            epsilon=self.epsilon, t=self.t,
        )  # fmt: skip

    def check_state(self, dtype):
        """Optimizer state of the kernel against the reference's."""

        def flat(states):  # the reference keeps one array per coefs + intercepts entry
            half = len(states) // 2
            return ref.pack(states[:half], states[half:])

        r = self.reference
        if self.code == ADAM:
            assert self.t == r.t
            assert_close(self.state_1, flat(r.ms), dtype, "adam m")
            assert_close(self.state_2, flat(r.vs), dtype, "adam v")
        else:
            assert self.t == 0
            assert_close(self.state_1, flat(r.velocities), dtype, "velocity")


@SOLVERS
@SPARSE
@WEIGHTED
@DTYPES
@ARCHITECTURES
def test_run_epoch(hidden, activation, out, dtype, weighted, sparse, solver):
    """Two epochs of mini-batch training, in given row orders, against the reference.

    The first epoch visits a permutation of the rows, the second a draw with
    repetition of another length; the optimizer state carries over.
    """
    p = Problem(hidden, activation, out, dtype, weighted)
    data = p.data(sparse)
    work = p.network.workspace(BATCH_SIZE, sparse)
    coefs, intercepts = p.ref_params()
    opt = Optimizers(solver, p.network, coefs, intercepts)
    epochs = [p.rng.permutation(N_SAMPLES), p.rng.randint(0, N_SAMPLES, size=17)]

    for epoch, rows in enumerate(epochs):
        rows = rows.astype(np.int64)
        loss_sum, opt.t = _backprop.run_epoch(
            p.network.net(), data, work, opt.kernel_tuple(), rows, BATCH_SIZE
        )
        ref_loss_sum = ref.run_epoch(
            coefs, intercepts, p.X_ref, p.Y_ref, p.sw_ref, rows, BATCH_SIZE,
            activation, out, ALPHA, opt.reference, dtype,
        )  # fmt: skip
        assert_close(loss_sum, ref_loss_sum, dtype, f"loss sum of epoch {epoch}")
        assert_close(p.network.params, ref.pack(coefs, intercepts), dtype, f"parameters after epoch {epoch}")
        opt.check_state(dtype)
    if solver == "adam":
        assert opt.t == 4 + 3


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov"])
@DTYPES
def test_run_epoch_skips_zero_weight_batch(dtype, solver):
    """A batch whose weights are all zero neither moves the weights nor counts as a step."""
    p = Problem((5,), "tanh", "logistic", dtype, weighted=True)
    p.sw[:BATCH_SIZE] = 0
    p.sw_ref[:BATCH_SIZE] = 0
    data = p.data(False)
    work = p.network.workspace(BATCH_SIZE, False)
    coefs, intercepts = p.ref_params()
    opt = Optimizers(solver, p.network, coefs, intercepts)
    rows = np.arange(N_SAMPLES, dtype=np.int64)  # first batch: the zero-weight rows

    loss_sum, opt.t = _backprop.run_epoch(p.network.net(), data, work, opt.kernel_tuple(), rows, BATCH_SIZE)
    ref_loss_sum = ref.run_epoch(
        coefs, intercepts, p.X_ref, p.Y_ref, p.sw_ref, rows, BATCH_SIZE, "tanh", "logistic", ALPHA,
        opt.reference, dtype,
    )  # fmt: skip
    assert np.isfinite(loss_sum)
    assert_close(loss_sum, ref_loss_sum, dtype, "loss sum")
    assert_close(p.network.params, ref.pack(coefs, intercepts), dtype, "parameters")
    opt.check_state(dtype)
    if solver == "adam":
        assert opt.t == 3


# -- predict_into ---------------------------------------------------------------------


@SPARSE
@DTYPES
@ARCHITECTURES
def test_predict_into(hidden, activation, out, dtype, sparse):
    """Output activations of every row, through a workspace smaller than the data."""
    p = Problem(hidden, activation, out, dtype, weighted=False)
    data = p.data(sparse, with_targets=False)
    work = p.network.workspace(BATCH_SIZE, sparse)
    pred = np.full((N_SAMPLES, p.units[-1]), np.nan, dtype=dtype)

    _backprop.predict_into(p.network.net(), data, work, pred)

    coefs, intercepts = p.ref_params()
    assert_close(pred, ref.predict(coefs, intercepts, p.X_ref, activation, out), dtype, "predictions")
    if out == "softmax":
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=RTOL[dtype])


# -- saturated outputs ----------------------------------------------------------------


@pytest.mark.parametrize("out", ["logistic", "softmax"])
@DTYPES
def test_saturated_probabilities_are_clipped(out, dtype):
    """Huge logits: probabilities of exactly 0 or 1 are clipped inside the log.

    The loss stays finite (``-log(eps)`` per wrong, saturated output) and
    matches the reference; the gradient is still ``g(z) - y``.
    """
    p = Problem((), "relu", out, dtype, weighted=True, n_outputs=3)
    p.network.params[...] *= 400.0  # logits in the hundreds
    coefs, intercepts = p.ref_params()
    data = p.data(False)
    work = p.network.workspace(N_SAMPLES, False)
    grad = np.empty(p.network.n_params, dtype=dtype)

    loss = _backprop.full_loss_grad_into(p.network.net(), data, work, 0.0, N_SAMPLES, grad)

    P = ref.predict(coefs, intercepts, p.X_ref, "relu", out)
    assert np.any(P.astype(dtype) == 0) or np.any(P.astype(dtype) == 1), "test needs saturated outputs"
    ref_loss, coef_grads, intercept_grads = ref.loss_grad(
        coefs, intercepts, p.X_ref, p.Y_ref, p.sw_ref, "relu", out, 0.0, dtype
    )
    assert np.isfinite(loss)
    assert loss > 1.0  # wrong saturated outputs cost -log(eps) each
    # the kernel computes logits in dtype: allow a little more for float32
    rtol = RTOL[dtype] if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol)
    np.testing.assert_allclose(
        grad, ref.pack(coef_grads, intercept_grads), rtol=rtol, atol=rtol * np.abs(grad).max()
    )


# -- single output column ---------------------------------------------------------------


@pytest.mark.parametrize("out", ["identity", "logistic", "exp"])
@SPARSE
@DTYPES
def test_single_output(out, dtype, sparse):
    """One output unit (binary logistic, single-target regression): loss, gradient, prediction."""
    p = Problem((5, 4), "tanh", out, dtype, weighted=True, n_outputs=1)
    work = p.network.workspace(BATCH_SIZE, sparse)
    grad = np.empty(p.network.n_params, dtype=dtype)
    loss = _backprop.full_loss_grad_into(p.network.net(), p.data(sparse), work, ALPHA, BATCH_SIZE, grad)
    pred = np.empty((N_SAMPLES, 1), dtype=dtype)
    _backprop.predict_into(p.network.net(), p.data(sparse, with_targets=False), work, pred)

    coefs, intercepts = p.ref_params()
    ref_loss, coef_grads, intercept_grads = ref.loss_grad(
        coefs, intercepts, p.X_ref, p.Y_ref, p.sw_ref, "tanh", out, ALPHA, dtype
    )
    assert_close(loss, ref_loss, dtype, "loss")
    assert_close(grad, ref.pack(coef_grads, intercept_grads), dtype, "gradient")
    assert_close(pred, ref.predict(coefs, intercepts, p.X_ref, "tanh", out), dtype, "predictions")


# -- a larger problem -------------------------------------------------------------------


@SOLVERS
@SPARSE
@DTYPES
def test_larger_problem(dtype, sparse, solver):
    """Wider layers and bigger batches than the grid above (whichever matmul path they take).

    Full loss and gradient, one epoch, then predictions, against the reference.
    """
    rng = np.random.RandomState(3)
    n, n_features, hidden, k, batch_size = 150, 30, (40, 20), 4, 64
    units = [n_features, *hidden, k]
    network = Network(units, "tanh", "softmax", dtype)
    network.params[...] = rng.uniform(-0.3, 0.3, network.n_params)
    X = rng.normal(size=(n, n_features))
    X[rng.uniform(size=X.shape) < 0.7] = 0.0
    X = X.astype(dtype)
    Y = np.eye(k)[rng.randint(0, k, size=n)].astype(dtype)
    sw = rng.uniform(0.2, 3.0, size=n).astype(dtype)
    X_in = sp.csr_matrix(X) if sparse else X
    data = as_kernel_data(X_in, Y, sw, dtype=dtype, n_outputs=k)
    work = network.workspace(batch_size, sparse)
    X_ref, Y_ref, sw_ref = (a.astype(np.float64) for a in (X, Y, sw))
    coefs, intercepts = ref.unpack(network.params.astype(np.float64), units)

    grad = np.empty(network.n_params, dtype=dtype)
    loss = _backprop.full_loss_grad_into(network.net(), data, work, ALPHA, batch_size, grad)
    ref_loss, coef_grads, intercept_grads = ref.loss_grad(
        coefs, intercepts, X_ref, Y_ref, sw_ref, "tanh", "softmax", ALPHA, dtype
    )
    assert_close(loss, ref_loss, dtype, "loss")
    assert_close(grad, ref.pack(coef_grads, intercept_grads), dtype, "gradient")

    opt = Optimizers(solver, network, coefs, intercepts)
    rows = rng.permutation(n).astype(np.int64)
    loss_sum, opt.t = _backprop.run_epoch(network.net(), data, work, opt.kernel_tuple(), rows, batch_size)
    ref_loss_sum = ref.run_epoch(
        coefs, intercepts, X_ref, Y_ref, sw_ref, rows, batch_size,
        "tanh", "softmax", ALPHA, opt.reference, dtype,
    )  # fmt: skip
    assert_close(loss_sum, ref_loss_sum, dtype, "loss sum")
    assert_close(network.params, ref.pack(coefs, intercepts), dtype, "parameters after the epoch")
    opt.check_state(dtype)

    pred = np.empty((n, k), dtype=dtype)
    _backprop.predict_into(network.net(), as_kernel_data(X_in, dtype=dtype, n_outputs=k), work, pred)
    assert_close(pred, ref.predict(coefs, intercepts, X_ref, "tanh", "softmax"), dtype, "predictions")
