"""``parametric_activation``: each hidden unit mixes its activation with the identity by a trained weight.

- Loss and gradient of ``z + alpha * (f(z) - z)`` against the NumPy
  reference and by central differences, float64 and float32: every
  activation family (relu and identity written in the entry point, tanh
  and logistic through their output, the newer ones through the kept
  ``f'``), per-layer activations, dense and CSR input, with input scaling.
- A fit against the reference trajectory: Adam, its step size times
  ``activation_learning_rate_factor`` on the mixing weights, which take
  neither the L2 term nor the decoupled weight decay; dropout after the mix.
- Blocked batches and the thread count do not change the weights; L-BFGS
  and SGD train the mixing weights too.
- Saving and loading, ONNX, ``to_sklearn`` refusing, ``warm_start``,
  assigned weights; off by default.
"""

import pickle
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import make_classification, make_regression

from fastbp import BackpropClassifier, BackpropRegressor, _backprop, _parallel
from fastbp._network import Network, as_kernel_data

try:
    from . import reference as ref
    from .test_dropout import assert_same_weights_on_threads_and_slices, block_every_batch
    from .test_gradcheck import STEP, TOLERANCE, check_gradient
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference as ref
    from test_dropout import assert_same_weights_on_threads_and_slices, block_every_batch
    from test_gradcheck import STEP, TOLERANCE, check_gradient

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
RTOL = {np.float64: 1e-10, np.float32: 1e-4}
ALPHA = 0.05
UNITS = [5, 4, 3, 3]
# one of each family: written in the entry point, through the output, through the kept f'
ACTIVATIONS = ["relu", "identity", "tanh", "logistic", "selu", "gelu", ("mish", "relu")]


def _split_mixes(flat, widths):
    return np.split(flat, np.cumsum(widths)[:-1])


def _mixed_reference(network, X, Y, sw, alpha):
    """Loss and finished gradient (the kernel's layout) of the network with mixing weights."""
    units = network.units.tolist()
    coefs = [c.astype(np.float64) for c in network.coefs]
    intercepts = [b.astype(np.float64) for b in network.intercepts]
    mixes = [m.astype(np.float64) for m in network.activation_mix]
    folded = coefs
    if network.input_scaling:
        folded = [network.input_scale.astype(np.float64)[:, None] * coefs[0], *coefs[1:]]
    loss_sum, sw_sum, coef_grads, intercept_grads, mix_grads = ref.mixed_raw_loss_grad(
        folded, intercepts, mixes, X, Y, sw, network.activation, network.out_activation
    )
    parts = []
    if network.input_scaling:
        parts.append((coefs[0] * coef_grads[0]).sum(axis=1) / sw_sum)
        coef_grads[0] = network.input_scale.astype(np.float64)[:, None] * coef_grads[0]
    loss = (loss_sum + 0.5 * alpha * ref.l2_sum(coefs)) / sw_sum
    coef_grads = [(g + alpha * W) / sw_sum for g, W in zip(coef_grads, coefs)]
    intercept_grads = [g / sw_sum for g in intercept_grads]
    parts += [g / sw_sum for g in mix_grads]
    assert len(units) - 2 == len(mix_grads)
    return loss, np.concatenate([ref.pack(coef_grads, intercept_grads), *parts])


def _problem(dtype, activation, sparse_input=False, input_scaling=False, seed=0):
    rng = np.random.RandomState(seed)
    network = Network(UNITS, activation, "softmax", dtype, input_scaling, parametric_activation=True)
    network.params[...] = rng.uniform(-0.8, 0.8, network.n_params)
    for mix in network.activation_mix:
        mix[...] = rng.uniform(0.3, 1.7, mix.shape)  # (not 1: the mix is not the plain activation)
    if input_scaling:
        network.input_scale[...] = rng.uniform(0.5, 1.5, UNITS[0])
    X = rng.normal(size=(20, UNITS[0]))
    X[rng.rand(*X.shape) < 0.3] = 0
    Y = np.eye(UNITS[-1])[rng.randint(0, UNITS[-1], 20)]
    sw = rng.uniform(0.2, 3.0, 20)
    given = sparse.csr_matrix(X) if sparse_input else X
    data = as_kernel_data(given, Y, sw, dtype=dtype, n_outputs=UNITS[-1])
    return network, data, X.astype(dtype).astype(np.float64), Y, sw.astype(dtype).astype(np.float64)


@DTYPES
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
def test_loss_and_gradient_match_the_reference(activation, dtype):
    network, data, X, Y, sw = _problem(dtype, activation)
    work = network.workspace(7, False)  # several chunks, the last one short
    grad = np.empty(network.n_params, dtype=dtype)
    loss = _backprop.full_loss_grad_into(network.net(), data, work, ALPHA, 7, grad)
    ref_loss, expected = _mixed_reference(network, X, Y, sw, ALPHA)
    np.testing.assert_allclose(loss, ref_loss, rtol=RTOL[dtype])
    np.testing.assert_allclose(grad, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(expected).max())
    # the outputs too: prediction runs the mix (in its own workspace)
    out = np.empty((X.shape[0], UNITS[-1]), dtype=dtype)
    _backprop.predict_into(
        network.net(),
        as_kernel_data(X, dtype=dtype, n_outputs=3),
        network.workspace(8, False, gradient=False),
        out,
    )
    mixes = [m.astype(np.float64) for m in network.activation_mix]
    expected_out = ref.forward(network.coefs, network.intercepts, X, network.activation, "softmax", mixes)[1][
        -1
    ]
    np.testing.assert_allclose(out, expected_out, rtol=RTOL[dtype], atol=RTOL[dtype])


@DTYPES
@pytest.mark.parametrize(
    "activation, sparse_input, input_scaling",
    [("logistic", False, False), ("tanh", True, False), ("elu", False, True), (("gelu", "silu"), True, True)],
    ids=["logistic", "tanh-csr", "elu-scaled", "per-layer-csr-scaled"],  # (smooth: no kink within the step)
)
def test_gradient_matches_finite_differences(activation, sparse_input, input_scaling, dtype):
    network, data, X, Y, sw = _problem(dtype, activation, sparse_input, input_scaling, seed=1)
    if sparse_input or input_scaling:  # (the reference covers these too)
        work = network.workspace(7, sparse_input)
        grad = np.empty(network.n_params, dtype=dtype)
        loss = _backprop.full_loss_grad_into(network.net(), data, work, ALPHA, 7, grad)
        ref_loss, expected = _mixed_reference(network, X, Y, sw, ALPHA)
        np.testing.assert_allclose(loss, ref_loss, rtol=RTOL[dtype])
        np.testing.assert_allclose(
            grad, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(expected).max()
        )
    if sparse_input:
        return  # (check_gradient runs dense data)
    rel_error, fd, grad = check_gradient(network, data, dtype, alpha=ALPHA)
    assert rel_error < TOLERANCE[dtype], f"relative error {rel_error:.2e} (step {STEP[dtype]})"
    mixes = slice(network.mix_start, None)
    assert np.abs(grad[mixes]).min() > 0  # every unit's weight has a gradient of its own
    np.testing.assert_allclose(fd[mixes], grad[mixes], rtol=10 * TOLERANCE[dtype], atol=TOLERANCE[dtype])


N_SAMPLES, BATCH_SIZE, N_EPOCHS = 23, 7, 4  # the last batch of each epoch short
X_REG, Y_REG = make_regression(n_samples=N_SAMPLES, n_features=5, noise=1.0, random_state=0)
Y_REG = Y_REG / 100
LR, FACTOR, WEIGHT_DECAY = 0.02, 3.0, 0.5
HIDDEN = (4, 3)


def _start(dtype):
    rng = np.random.RandomState(1)
    units = [UNITS[0], *HIDDEN, 1]
    coefs = [rng.uniform(-0.5, 0.5, (a, b)).astype(dtype) for a, b in zip(units[:-1], units[1:])]
    intercepts = [rng.uniform(-0.5, 0.5, b).astype(dtype) for b in units[1:]]
    return coefs, intercepts


def _fit(dtype, X=X_REG, **changed):
    params = dict(
        hidden_layer_sizes=HIDDEN, activation="tanh", learning_rate_init=LR, alpha=ALPHA,
        weight_decay=WEIGHT_DECAY, batch_size=BATCH_SIZE, max_iter=N_EPOCHS, shuffle=False, warm_start=True,
        parametric_activation=True, activation_learning_rate_factor=FACTOR, random_state=0,
    )  # fmt: skip
    est = BackpropRegressor(**{**params, **changed})
    est.coefs_, est.intercepts_ = _start(dtype)  # (assigned before fit: the mixing weights start at 1)
    return est.fit(X.astype(dtype) if hasattr(X, "astype") else X, Y_REG)


def _reference_fit(dtype):
    coefs, intercepts = ([a.astype(np.float64) for a in part] for part in _start(dtype))
    mixes = [np.ones(n) for n in HIDDEN]
    adam = ref.Adam(coefs + intercepts, LR, weight_decay=WEIGHT_DECAY)
    adam_m = ref.Adam(mixes, LR * FACTOR)  # no decay
    Xd = X_REG.astype(dtype).astype(np.float64)
    for _ in range(N_EPOCHS):
        for start in range(0, N_SAMPLES, BATCH_SIZE):
            batch = slice(start, start + BATCH_SIZE)
            Yb, sw = Y_REG[batch].reshape(-1, 1), np.ones(len(Xd[batch]))
            loss_sum, sw_sum, coef_grads, intercept_grads, mix_grads = ref.mixed_raw_loss_grad(
                coefs, intercepts, mixes, Xd[batch], Yb, sw, "tanh", "identity"
            )
            coef_grads = [(g + ALPHA * W) / sw_sum for g, W in zip(coef_grads, coefs)]
            grads = coef_grads + [g / sw_sum for g in intercept_grads]
            adam.step(coefs + intercepts, grads, n_decayed=len(coefs))
            adam_m.step(mixes, [g / sw_sum for g in mix_grads])
    return coefs, intercepts, mixes


@DTYPES
def test_a_fit_follows_the_reference_trajectory(dtype):
    est = _fit(dtype)
    coefs, intercepts, mixes = _reference_fit(dtype)
    assert [m.dtype for m in est.activation_mix_] == [dtype] * 2
    assert [m.shape for m in est.activation_mix_] == [(4,), (3,)]
    assert not np.allclose(mixes[0], 1.0)  # the mixing weights moved
    for a, b in zip(est.coefs_ + est.intercepts_ + est.activation_mix_, coefs + intercepts + mixes):
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(b).max())


@DTYPES
def test_blocks_and_threads_do_not_change_the_weights_with_dropout(dtype, monkeypatch):
    block_every_batch(monkeypatch)
    assert _parallel.n_blocks([UNITS[0], *HIDDEN, 1], N_SAMPLES) == 2
    def fit():
        est = _fit(dtype, batch_size=N_SAMPLES, dropout=0.3, activation="selu", max_iter=6)
        return est.coefs_ + est.activation_mix_

    first = assert_same_weights_on_threads_and_slices(monkeypatch, fit)
    assert not np.allclose(first[-1], 1.0)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_every_solver_trains_the_mixing_weights(solver):
    est = _fit(np.float64, solver=solver, activation_learning_rate_factor=1.0, weight_decay=0.0, max_iter=20)
    assert all(np.isfinite(m).all() for m in est.activation_mix_)
    assert not np.allclose(est.activation_mix_[0], 1.0)
    expected = ref.forward(est.coefs_, est.intercepts_, X_REG, "tanh", "identity", est.activation_mix_)[1][-1]
    np.testing.assert_allclose(est.predict(X_REG), expected.ravel(), rtol=1e-10)


def test_the_mix_changes_the_fit_and_the_factor_matters():
    plain = _fit(np.float64, parametric_activation=False, activation_learning_rate_factor=1.0)
    mixed = _fit(np.float64, activation_learning_rate_factor=1.0)
    faster = _fit(np.float64)
    assert not hasattr(plain, "activation_mix_")
    assert not np.allclose(plain.coefs_[0], mixed.coefs_[0])
    assert np.abs(faster.activation_mix_[0] - 1).max() > np.abs(mixed.activation_mix_[0] - 1).max()
    with pytest.raises(ValueError, match="activation_learning_rate_factor=3.0 applies to solver='adam' only"):
        _fit(np.float64, solver="sgd")


X_CLF, Y_CLF = make_classification(n_samples=60, n_features=6, n_informative=4, n_classes=3, random_state=0)


def _classifier(**changed):
    params = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0, parametric_activation=True)
    return BackpropClassifier(**{**params, **changed}).fit(X_CLF, Y_CLF)


def test_pickle_round_trip_and_training_goes_on_bit_for_bit():
    est = _classifier(activation_learning_rate_factor=0.1, input_scaling=True)
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded._network.parametric_activation
    assert loaded.activation_mix_[0].base is loaded._network.params
    np.testing.assert_array_equal(loaded.predict_proba(X_CLF), est.predict_proba(X_CLF))
    for model in (est, loaded):
        model.partial_fit(X_CLF, Y_CLF)
    for a, b in zip(est.coefs_ + est.activation_mix_, loaded.coefs_ + loaded.activation_mix_):
        np.testing.assert_array_equal(a, b)
    assert est.__getstate__()["_fastbp_state"]["format"] == 2
    state = est.__getstate__()
    for damage in ({"parametric_activation": "yes"}, {"parametric_activation": False}):
        with pytest.raises(ValueError, match="damaged or was altered"):
            BackpropClassifier().__setstate__(
                {**state, "_network_state": {**state["_network_state"], **damage}}
            )


def test_to_sklearn_refuses_and_onnx_converts():
    est = _classifier()
    with pytest.raises(ValueError, match="cannot reproduce this model's parametric activations"):
        est.to_sklearn()
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("fastbp.onnx")
    reg = BackpropRegressor(
        hidden_layer_sizes=(5, 4),
        activation=("selu", "tanh"),
        max_iter=5,
        random_state=0,
        parametric_activation=True,
    )
    X, y = X_CLF.astype(np.float32), Y_CLF.astype(float)
    reg.fit(X, y)
    assert not np.allclose(reg.activation_mix_[1], 1.0)
    onx = skl2onnx.to_onnx(reg, X[:1])
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: X})[0]
    np.testing.assert_allclose(out.ravel(), reg.predict(X), rtol=1e-5, atol=1e-5)


def test_warm_start_continues_and_assigned_weights_are_used():
    est = _classifier(warm_start=True, max_iter=3)
    first = est.activation_mix_[0].copy()
    est.fit(X_CLF, Y_CLF)
    assert not np.array_equal(est.activation_mix_[0], first)
    with pytest.raises(ValueError, match="parametric_activation=True; got parametric_activation=False"):
        est.set_params(parametric_activation=False).fit(X_CLF, Y_CLF)
    est.set_params(parametric_activation=True)
    mix = [np.linspace(0.0, 2.0, 5)]
    est.activation_mix_ = mix  # assigned: copied into the network, then views again
    expected = ref.forward(est.coefs_, est.intercepts_, X_CLF, "relu", "softmax", mix)[1][-1]
    np.testing.assert_allclose(est.predict_proba(X_CLF), expected, rtol=1e-10)
    assert est.activation_mix_[0].base is est._network.params
    est.activation_mix_ = [np.ones(4)]
    with pytest.raises(
        ValueError, match=r"activation_mix_ must be a list of one array per hidden layer, of sizes \[5\]"
    ):
        est.predict(X_CLF)
    est.activation_mix_ = [np.full(5, np.nan)]
    with pytest.raises(ValueError, match="activation_mix_ must hold finite numbers"):
        est.predict(X_CLF)
    # a fresh fit without the option leaves no activation_mix_ behind
    est.set_params(warm_start=False, parametric_activation=False).fit(X_CLF, Y_CLF)
    assert not hasattr(est, "activation_mix_")


def test_off_by_default():
    network = Network([3, 2, 1], "relu", "identity", np.float64)
    assert network.net()[8] == 0 and network.activation_mix is None
    assert network.workspace(4, False)[5].size == 0  # no f' kept, no second buffer
    est = BackpropRegressor()
    assert est.parametric_activation is False and est.activation_learning_rate_factor == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.set_params(max_iter=2).fit(X_REG, Y_REG)
    assert not hasattr(est, "activation_mix_")
