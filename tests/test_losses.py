"""The regressor's robust losses: 'absolute_error', 'huber', 'quantile'.

- PyTorch's numbers, element by element (loss and gradient) and as a
  weighted mean, from a one-off run (see ``TORCH``).
- The compiled loss and gradient against the plain-NumPy reference MLP
  (tests/reference.py), and two epochs of adam and sgd against its
  trajectory, in float64 and float32.
- Central differences away from the kinks, in both dtypes.
- Batches in row blocks on threads: one result whatever the thread count.
- The estimator: output layout and prediction shapes, score, validation
  loss and early stopping, L-BFGS despite the kinks, quantile coverage on
  held-out heteroscedastic data, robustness to outliers, ignored
  parameters, and ``to_sklearn``.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_regression
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropRegressor, _backprop, _parallel
from fastbp._losses import loss_parameters
from fastbp._network import Network, as_kernel_data

try:
    from . import reference as ref
    from .test_gradcheck import check_gradient
    from .test_kernels import Optimizers, assert_close
    from .test_options import _validation_rows
    from .test_parallel import blas_allows_all, small_blocks  # noqa: F401 (fixtures)
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference as ref
    from test_gradcheck import check_gradient
    from test_kernels import Optimizers, assert_close
    from test_options import _validation_rows
    from test_parallel import blas_allows_all, small_blocks  # noqa: F401 (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])

# (name, reference keyword arguments, estimator parameters): each loss, with
# several targets and several quantiles where the loss has them
LOSSES = {
    "absolute_error": ({}, {}),
    "huber": ({"delta": 0.7}, {"delta": 0.7}),
    "quantile": ({"quantiles": (0.8,)}, {"quantile": 0.8}),
    "quantiles": ({"quantiles": (0.1, 0.5, 0.9)}, {"quantile": [0.1, 0.5, 0.9]}),
}
LOSS_CASES = pytest.mark.parametrize("case", sorted(LOSSES))


def _loss_name(case):
    return "quantile" if case.startswith("quantile") else case


def _reference_loss(case):
    return dict(name=_loss_name(case), **LOSSES[case][0])


def _kernel_loss(case, n_targets):
    """``(loss for as_kernel_data, number of outputs)`` of ``case``."""
    kwargs = _reference_loss(case)
    n_outputs = n_targets * len(kwargs.get("quantiles", (0,)))
    loss = loss_parameters(kwargs["name"], n_outputs, kwargs.get("delta", 1.0), kwargs.get("quantiles"))
    return loss, n_outputs


# -- PyTorch's numbers ------------------------------------------------------------------

# Reference numbers from PyTorch 2.13.0 (CPU, float64), one-off run, not a
# test dependency. With P, Y, W below as float64 tensors, p = P.requires_grad_():
#   torch.nn.HuberLoss(reduction="none", delta=d)(p, Y)   for d in 1.0, 0.5, 2.0
#   torch.nn.L1Loss(reduction="none")(p, Y)
#   torch.maximum(tau * (Y - p), (tau - 1) * (Y - p))     for tau in 0.1, 0.5, 0.9
# (PyTorch has no pinball loss; this is its formula), then the elementwise
# losses, p.grad after l.sum().backward(), and (l * W).sum() / W.sum().
# The residuals include 0 (the kinks) and +-1 (Huber's joint at delta=1):
# L1Loss's gradient at 0 is 0, and autograd splits max()'s tie evenly.
P = np.array([-2.5, -1.0, -0.3, 0.0, 0.4, 1.0, 1.7, 3.2])
Y = np.array([0.5, -1.0, 0.2, 0.0, -0.6, 2.0, 1.7, -0.8])
W = np.array([1.0, 2.0, 0.5, 1.5, 1.0, 3.0, 0.25, 1.0])
TORCH = {
    ("huber", 1.0): (
        [2.5, 0.0, 0.125, 0.0, 0.5, 0.5, 0.0, 3.5],
        [-1.0, 0.0, -0.5, 0.0, 1.0, -1.0, 0.0, 1.0],
        0.7865853658536586,
    ),
    ("huber", 0.5): (
        [1.375, 0.0, 0.125, 0.0, 0.375, 0.375, 0.0, 1.875],
        [-0.5, 0.0, -0.5, 0.0, 0.5, -0.5, 0.0, 0.5],
        0.4695121951219512,
    ),
    ("huber", 2.0): (
        [4.0, 0.0, 0.125, 0.0, 0.5, 0.5, 0.0, 6.0],
        [-2.0, 0.0, -0.5, 0.0, 1.0, -1.0, 0.0, 2.0],
        1.1768292682926829,
    ),
    ("absolute_error", None): (
        [3.0, 0.0, 0.5, 0.0, 1.0, 1.0, 0.0, 4.0],
        [-1.0, 0.0, -1.0, 0.0, 1.0, -1.0, 0.0, 1.0],
        1.0975609756097562,
    ),
    ("quantile", 0.1): (
        [0.30000000000000004, 0.0, 0.05, 0.0, 0.9, 0.1, 0.0, 3.6],
        [-0.1, 0.4, -0.1, 0.4, 0.9, -0.1, 0.4, 0.9],
        0.5,
    ),
    ("quantile", 0.5): (
        [1.5, 0.0, 0.25, 0.0, 0.5, 0.5, 0.0, 2.0],
        [-0.5, 0.0, -0.5, 0.0, 0.5, -0.5, 0.0, 0.5],
        0.5487804878048781,
    ),
    ("quantile", 0.9): (
        [2.7, 0.0, 0.45, 0.0, 0.09999999999999998, 0.9, 0.0, 0.3999999999999999],
        [-0.9, -0.4, -0.9, -0.4, 0.09999999999999998, -0.9, -0.4, 0.09999999999999998],
        0.5975609756097561,
    ),
}
TORCH_CASES = pytest.mark.parametrize("name, value", sorted(TORCH, key=str), ids=lambda x: str(x))


def _torch_loss_parameters(name, value):
    if name == "huber":
        return loss_parameters(name, 1, delta=value)
    if name == "quantile":
        return loss_parameters(name, 1, quantiles=(value,))
    return loss_parameters(name, 1)


def _identity_network(dtype):
    """One input, one output, weight 1 and bias 0: the output is the input."""
    network = Network([1, 1], "relu", "identity", dtype)
    network.params[...] = [1.0, 0.0]
    return network


@DTYPES
@TORCH_CASES
def test_loss_and_gradient_are_pytorchs_element_by_element(name, value, dtype):
    """Each element alone: the loss is PyTorch's, and so is the bias gradient dloss/dp."""
    losses, grads, _ = TORCH[name, value]
    network = _identity_network(dtype)
    work = network.workspace(1, False)
    grad = np.empty(2, dtype=dtype)
    rtol = 1e-15 if dtype == np.float64 else 1e-6
    for p, y, torch_loss, torch_grad in zip(P, Y, losses, grads):
        data = as_kernel_data(
            np.array([[p]]), np.array([[y]]), None, dtype=dtype, n_outputs=1,
            loss=_torch_loss_parameters(name, value),
        )  # fmt: skip
        loss = _backprop.full_loss_grad_into(network.net(), data, work, 0.0, 1, grad)
        np.testing.assert_allclose(loss, torch_loss, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(grad[1], torch_grad, rtol=rtol, atol=rtol)


@TORCH_CASES
def test_weighted_mean_loss_is_pytorchs(name, value):
    """Through the estimator: an identity network's first-epoch loss, with sample weights."""
    params = {"delta": value} if name == "huber" else {"quantile": value} if name == "quantile" else {}
    reg = BackpropRegressor(
        loss=name, hidden_layer_sizes=(1,), activation="identity", solver="sgd", momentum=0.0,
        learning_rate_init=1e-300, batch_size=len(P), alpha=0.0, shuffle=False, **params,
    )  # fmt: skip
    reg.coefs_, reg.intercepts_ = [np.ones((1, 1)), np.ones((1, 1))], [np.zeros(1), np.zeros(1)]
    reg.partial_fit(P.reshape(-1, 1), Y, sample_weight=W)
    np.testing.assert_allclose(reg.loss_curve_[0], TORCH[name, value][2], rtol=1e-14)


# -- the kernels against the reference MLP -----------------------------------------------------


class RobustProblem:
    """A tanh network with robust-loss data, for the kernels and the reference alike."""

    def __init__(self, case, dtype, n_targets=2, n=23, hidden=(5, 4), seed=0, weighted=True):
        rng = np.random.RandomState(seed)
        self.loss, n_outputs = _kernel_loss(case, n_targets)
        self.ref_loss = _reference_loss(case)
        self.units = [6, *hidden, n_outputs]
        self.dtype = dtype
        self.network = Network(self.units, "tanh", "identity", dtype)
        self.network.params[...] = rng.uniform(-0.8, 0.8, self.network.n_params)
        self.X = rng.normal(size=(n, 6)).astype(dtype)
        self.Y = (2 * rng.normal(size=(n, n_targets))).astype(dtype)  # residuals beyond delta too
        self.sw = rng.uniform(0.2, 3.0, size=n).astype(dtype) if weighted else np.ones(n, dtype)
        self.rng = rng
        # the kernels' targets: one column per output (repeated per quantile)
        self.Y_outputs = np.repeat(self.Y, n_outputs // n_targets, axis=1)
        self.X_ref, self.Y_ref, self.sw_ref = (a.astype(np.float64) for a in (self.X, self.Y, self.sw))

    def data(self, sparse=False):
        X = sp.csr_matrix(self.X) if sparse else self.X
        return as_kernel_data(
            X, self.Y_outputs, self.sw, dtype=self.dtype, n_outputs=self.units[-1], loss=self.loss
        )

    def ref_params(self):
        return ref.unpack(self.network.params.astype(np.float64), self.units)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("chunk", [7, 64], ids=["chunked", "one-chunk"])
@DTYPES
@LOSS_CASES
def test_full_loss_grad_matches_the_reference(case, dtype, chunk, sparse):
    p = RobustProblem(case, dtype)
    work = p.network.workspace(min(chunk, len(p.X)), sparse)
    grad = np.empty(p.network.n_params, dtype=dtype)
    loss = _backprop.full_loss_grad_into(p.network.net(), p.data(sparse), work, 0.3, chunk, grad)
    coefs, intercepts = p.ref_params()
    ref_loss, coef_grads, intercept_grads = ref.loss_grad(
        coefs, intercepts, p.X_ref, p.Y_ref, p.sw_ref, "tanh", "identity", 0.3, dtype, p.ref_loss
    )
    assert_close(loss, ref_loss, dtype, "loss")
    assert_close(grad, ref.pack(coef_grads, intercept_grads), dtype, "gradient")


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov"])
@DTYPES
@LOSS_CASES
def test_two_epochs_follow_the_reference_trajectory(case, dtype, solver):
    p = RobustProblem(case, dtype)
    data, work = p.data(), p.network.workspace(7, False)
    coefs, intercepts = p.ref_params()
    opt = Optimizers(solver, p.network, coefs, intercepts)
    for epoch, rows in enumerate([p.rng.permutation(23), p.rng.randint(0, 23, size=17)]):
        rows = rows.astype(np.int64)
        loss_sum, opt.t = _backprop.run_epoch(p.network.net(), data, work, opt.kernel_tuple(), rows, 7)
        ref_loss_sum = ref.run_epoch(
            coefs, intercepts, p.X_ref, p.Y_ref, p.sw_ref, rows, 7, "tanh", "identity", opt.alpha,
            opt.reference, dtype, loss=p.ref_loss,
        )  # fmt: skip
        assert_close(loss_sum, ref_loss_sum, dtype, f"loss sum of epoch {epoch}")
        assert_close(p.network.params, ref.pack(coefs, intercepts), dtype, f"parameters after epoch {epoch}")
        opt.check_state(dtype)


@DTYPES
@LOSS_CASES
def test_gradient_matches_finite_differences_away_from_the_kinks(case, dtype):
    """Samples whose residuals keep ``KINK_MARGIN`` from 0 (and Huber's from +-delta)."""
    p = RobustProblem(case, dtype, n=200, hidden=(5,), seed=1)
    coefs, intercepts = p.ref_params()
    P_ref = ref.predict(coefs, intercepts, p.X_ref, "tanh", "identity")
    e = np.abs(P_ref - p.Y_outputs)
    away = np.abs(e - LOSSES[case][0].get("delta", 0.0)).min(axis=1) >= 0.1
    keep = np.flatnonzero(away & (e.min(axis=1) >= 0.1))[:20]
    assert len(keep) == 20
    data = as_kernel_data(
        p.X[keep], p.Y_outputs[keep], p.sw[keep], dtype=dtype, n_outputs=p.units[-1], loss=p.loss
    )
    rel_error, _, _ = check_gradient(p.network, data, dtype)
    assert rel_error < {np.float64: 1e-7, np.float32: 1e-3}[dtype], f"relative error {rel_error:.2e}"


@pytest.mark.usefixtures("blas_allows_all")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@LOSS_CASES
def test_blocked_training_is_the_same_on_any_number_of_threads(case, dtype, monkeypatch):
    """Batches in row blocks (fastbp._parallel): one result on 1-3 threads, the serial one to rounding."""
    X, y = make_regression(n_samples=300, n_features=8, n_targets=2, random_state=0)
    X, y = X.astype(dtype), y / y.std(axis=0)
    kw = dict(loss=_loss_name(case), **LOSSES[case][1], hidden_layer_sizes=(16, 8), batch_size=64, max_iter=6)
    fits = []
    for n_threads in (1, 2, 3):
        with _parallel.num_threads(n_threads):
            fits.append(BackpropRegressor(**kw, random_state=0).fit(X, y))
    monkeypatch.setattr(_parallel, "MIN_BLOCK_FLOPS", np.inf)  # not blocked
    serial = BackpropRegressor(**kw, random_state=0).fit(X, y)
    rtol = 1e-6 if dtype == np.float64 else 1e-3
    for fit in fits:
        for a, b, c in zip(
            fit.coefs_ + fit.intercepts_,
            fits[0].coefs_ + fits[0].intercepts_,
            serial.coefs_ + serial.intercepts_,
        ):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_allclose(a, c, rtol=rtol, atol=rtol * np.abs(c).max())
    # (blocked, a batch's gradient is summed in another order)
    assert not all(np.array_equal(a, c) for a, c in zip(fits[0].coefs_, serial.coefs_))


# -- the estimator -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heteroscedastic():
    """A smooth function of 4 features plus noise whose scale grows with |x_0|."""
    X, f = make_regression(n_samples=3000, n_features=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    scale = 0.2 + 0.5 * np.abs(X[:, 0])
    y = f / f.std() + scale * np.random.RandomState(0).normal(size=len(f))
    return X, y, scale


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_quantiles_cover_a_held_out_set(heteroscedastic, solver):
    """The fitted 0.1 and 0.9 quantiles enclose about 80% of 2,000 unseen samples.

    On 2,000 samples the empirical coverage of a true 80% band has a
    standard deviation of 0.9 points; the bound of +-10 points leaves the
    rest to the fit (L-BFGS, unregularised, overfits the 1,000 training
    rows somewhat: 74% here). The band is wider where the noise is.
    """
    X, y, scale = heteroscedastic
    reg = BackpropRegressor(
        loss="quantile", quantile=[0.1, 0.9], hidden_layer_sizes=(32,), solver=solver, max_iter=300,
        learning_rate_init=0.01, random_state=0,
    ).fit(X[:1000], y[:1000])  # fmt: skip
    low, high = reg.predict(X[1000:]).T
    inside = (low <= y[1000:]) & (y[1000:] <= high)
    assert 0.7 <= inside.mean() <= 0.9
    assert 0.03 <= (y[1000:] < low).mean() <= 0.17
    assert np.corrcoef(high - low, scale[1000:])[0, 1] > 0.8


@pytest.mark.parametrize("loss", ["absolute_error", "huber", "quantile"])
def test_lbfgs_converges_despite_the_kinks(loss):
    """Full-batch L-BFGS reaches the loss that long full-batch Adam reaches."""
    X, f = make_regression(n_samples=200, n_features=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = f / f.std() + np.random.RandomState(0).standard_t(2, size=200) * 0.3  # heavy tails
    params = dict(loss=loss, hidden_layer_sizes=(8,), random_state=0)
    frozen = BackpropRegressor(**params, solver="sgd", learning_rate_init=1e-300, max_iter=1)
    initial = frozen.fit(X, y).loss_
    lbfgs = BackpropRegressor(**params, solver="lbfgs", max_iter=1000).fit(X, y)
    adam = BackpropRegressor(
        **params, learning_rate_init=0.01, batch_size=200, max_iter=2000, tol=0.0, n_iter_no_change=np.inf
    ).fit(X, y)
    assert lbfgs.loss_ < 0.3 * initial
    assert lbfgs.loss_ < 1.15 * adam.loss_
    assert lbfgs.n_iter_ > 50


def test_robust_losses_resist_outliers():
    """10% of the targets moved far off: squared error follows them, the robust losses much less."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(400, 1))
    f = np.sin(2 * X[:, 0])
    y = f + 0.1 * rng.normal(size=400)
    y[rng.permutation(400)[:40]] += 8.0
    errors = {}
    for loss in ("squared_error", "absolute_error", "huber", "quantile"):
        reg = BackpropRegressor(
            loss=loss, hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=500, random_state=0
        ).fit(X, y)
        errors[loss] = np.abs(reg.predict(X) - f).mean()
    for loss in ("absolute_error", "huber", "quantile"):  # (quantile=0.5: the median)
        assert errors[loss] < 0.25 * errors["squared_error"], errors


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_quantile_outputs_are_target_major(dtype):
    """Two targets 5 apart, three quantiles: column t * 3 + k is target t's quantile k.

    L-BFGS minimises the training loss closely, so the share of training
    targets below each fitted quantile is that quantile (it is, at a
    minimum of the pinball loss of a flexible enough model).
    """
    X, y = make_regression(n_samples=300, n_features=4, n_targets=2, noise=10.0, random_state=0)
    X = StandardScaler().fit_transform(X).astype(dtype)
    y = np.column_stack([y[:, 0] / y[:, 0].std(), 5 + y[:, 1] / y[:, 1].std()])
    quantiles = [0.9, 0.1, 0.5]  # kept in the order given
    reg = BackpropRegressor(loss="quantile", quantile=quantiles, hidden_layer_sizes=(16,), solver="lbfgs")
    reg.set_params(max_iter=500, random_state=0).fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (300, 6) and pred.dtype == dtype and reg.n_outputs_ == 6
    by_target = pred.reshape(300, 2, 3)
    assert np.abs(by_target[:, 0].mean()) < 0.5 and np.abs(by_target[:, 1].mean() - 5) < 0.5
    for t in range(2):
        below = (y[:, t, None] < by_target[:, t]).mean(axis=0)
        np.testing.assert_allclose(below, quantiles, atol=0.03)
    # score: R^2 of each output against its target, averaged (scikit-learn's uniform average)
    assert reg.score(X, y) == pytest.approx(r2_score(np.repeat(y, 3, axis=1), pred))


def test_one_quantile_predicts_1d_and_several_a_column_each():
    X, y = make_regression(n_samples=60, n_features=3, random_state=0)
    y = y / y.std()
    one = BackpropRegressor(loss="quantile", quantile=0.3, max_iter=5, random_state=0).fit(X, y)
    assert one.predict(X).shape == (60,) and one.n_outputs_ == 1
    in_a_list = BackpropRegressor(loss="quantile", quantile=[0.3], max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(in_a_list.predict(X), one.predict(X))
    several = BackpropRegressor(loss="quantile", quantile=(0.2, 0.8), max_iter=5, random_state=0)
    pred = several.fit(X, y).predict(X)
    assert pred.shape == (60, 2)
    assert several.score(X, y) == pytest.approx(r2_score(np.column_stack([y, y]), pred))


@pytest.mark.parametrize("weighted", [False, True])
@LOSS_CASES
def test_validation_loss_is_the_reference_loss_of_the_validation_rows(case, weighted):
    """Frozen weights: every epoch's validation loss and score are the initial model's."""
    rng = np.random.RandomState(0)
    X = StandardScaler().fit_transform(rng.normal(size=(120, 5)))
    y = X @ rng.normal(size=(5, 2))
    sw = rng.uniform(0.5, 2.0, 120) if weighted else None
    model = BackpropRegressor(
        loss=_loss_name(case), **LOSSES[case][1], hidden_layer_sizes=(4,), solver="sgd", momentum=0.0,
        learning_rate_init=1e-300, max_iter=3, shuffle=False, alpha=0.1, batch_size=25,
        early_stopping=True, early_stopping_metric="loss", random_state=7,
    ).fit(X, y, sample_weight=sw)  # fmt: skip
    val = _validation_rows(model, 7, len(y), None)
    P = model._forward(X[val], check_input=False)
    w = np.ones(len(val)) if sw is None else sw[val]
    losses, _ = ref.robust_loss(P=P, Y=y[val], **_reference_loss(case))
    l2 = 0.5 * 0.1 * sum((c**2).sum() for c in model.coefs_) / 25
    np.testing.assert_allclose(model.validation_loss_curve_, np.average(losses, weights=w) + l2, rtol=1e-10)
    n_quantiles = P.shape[1] // 2
    score = r2_score(np.repeat(y[val], n_quantiles, axis=1), P, sample_weight=w)
    np.testing.assert_allclose(model.validation_scores_, score, rtol=1e-12)


@pytest.mark.parametrize("loss", ["absolute_error", "huber", "quantile"])
def test_early_stopping_on_the_robust_loss(loss):
    X, f = make_regression(n_samples=300, n_features=4, random_state=0)
    X, y = StandardScaler().fit_transform(X), f / f.std()
    model = BackpropRegressor(
        loss=loss, quantile=[0.25, 0.75], early_stopping=True, early_stopping_metric="loss",
        learning_rate_init=0.05, n_iter_no_change=3, tol=0.0, max_iter=300, random_state=0,
    ).fit(X, y)  # fmt: skip
    curve = np.array(model.validation_loss_curve_)
    assert model.n_iter_ < 300 and model.best_validation_loss_ == curve.min()
    assert curve[-4:].min() >= curve[:-4].min()


def test_new_losses_take_negative_targets_poisson_still_does_not():
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    assert (y < 0).any()
    for loss in ("absolute_error", "huber", "quantile"):
        assert np.isfinite(BackpropRegressor(loss=loss, max_iter=3).fit(X, y).predict(X)).all()
    with pytest.raises(ValueError, match="loss='poisson' needs non-negative targets"):
        BackpropRegressor(loss="poisson", max_iter=3).fit(X, y)


def test_unused_loss_parameters_are_ignored():
    """delta outside 'huber' and quantile outside 'quantile' change nothing (scikit-learn's way)."""
    X, y = make_regression(n_samples=80, n_features=3, random_state=0)
    y = y / y.std()

    def weights(**params):
        reg = BackpropRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0, **params).fit(X, y)
        return np.concatenate([a.ravel() for a in reg.coefs_ + reg.intercepts_])

    np.testing.assert_array_equal(weights(delta=3.0, quantile=[0.1, 0.9]), weights())
    np.testing.assert_array_equal(weights(loss="huber", quantile=0.3), weights(loss="huber"))
    np.testing.assert_array_equal(weights(loss="quantile", delta=0.1), weights(loss="quantile"))
    np.testing.assert_array_equal(weights(loss="absolute_error", delta=0.1), weights(loss="absolute_error"))
    # Huber with a delta beyond every residual is squared error
    np.testing.assert_array_equal(weights(loss="huber", delta=1e6), weights())


def test_changing_the_number_of_quantiles_needs_a_new_fit():
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    reg = BackpropRegressor(loss="quantile", quantile=[0.1, 0.9], max_iter=3, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start and partial_fit need the same architecture"):
        reg.set_params(quantile=[0.1, 0.5, 0.9]).fit(X, y)
    reg.set_params(warm_start=False).fit(X, y)
    assert reg.n_outputs_ == 3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "params, named",
    [
        ({"loss": "absolute_error"}, r"\['loss'\]"),
        ({"loss": "huber", "delta": 0.5}, r"\['delta', 'loss'\]"),
        ({"loss": "quantile"}, r"\['loss'\]"),
        ({"loss": "quantile", "quantile": [0.1, 0.5, 0.9]}, r"\['loss', 'quantile'\]"),
        ({"loss": "quantile", "quantile": np.array([0.2, 0.8])}, r"\['loss', 'quantile'\]"),
    ],
    ids=["absolute_error", "huber", "quantile", "quantiles", "quantile-array"],
)
def test_to_sklearn_carries_the_identity_network_with_a_warning(params, named, dtype):
    """The predictions are an identity-output MLP's: MLPRegressor predicts the same, n_outputs_ columns."""
    X, y = make_regression(n_samples=100, n_features=4, random_state=0)
    X = StandardScaler().fit_transform(X).astype(dtype)
    ours = BackpropRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0, **params)
    ours.fit(X, y / y.std())
    with pytest.warns(UserWarning, match=f"cannot carry the training settings {named}"):
        theirs = ours.to_sklearn()
    assert isinstance(theirs, MLPRegressor) and theirs.loss == "squared_error"
    assert theirs.n_outputs_ == ours.n_outputs_ and theirs.out_activation_ == "identity"
    tolerance = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(theirs.predict(X), ours.predict(X), **tolerance)
    assert theirs.predict(X).shape == ours.predict(X).shape
