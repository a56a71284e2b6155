"""``input_scaling``: a trainable scale per input feature in front of the network.

- Loss and gradient of the scaled network (``dense(X * s)``) against the
  NumPy reference, whose first matrix is ``s[:, None] * W``, and by central
  differences; float64 and float32, dense and CSR input.
- A fit against the reference trajectory: Adam on the weights and
  intercepts, its step size times the factor on the scales, which take
  neither the L2 term nor the decoupled weight decay.
- Blocked batches, their parallel step's slices and the thread count do not
  change the weights; L-BFGS and SGD train the scales too.
- Saving and loading, ``to_sklearn`` and ONNX (the scales folded into the
  first matrix), ``warm_start``, ``partial_fit``, weights and scales
  assigned by a user.
- Off by default: the default ``net`` names no kernel, a default model has
  no ``input_scale_`` and saves as before.
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
SPARSE = pytest.mark.parametrize("sparse_input", [False, True], ids=["dense", "csr"])
RTOL = {np.float64: 1e-10, np.float32: 1e-4}
ALPHA = 0.05
UNITS = [5, 4, 3, 3]


def _scaled_reference(params, units, X, Y, sw, activation, out, alpha):
    """Loss and finished gradient ``(coef_grads, intercept_grads, scale_grad)`` of ``dense(X * s)``.

    The reference network's first matrix is ``W_eff = s[:, None] * W``; by
    the chain rule ``dL/dW = s[:, None] * dL/dW_eff`` and ``dL/ds_j =
    sum_k W_jk dL/dW_eff_jk``. The L2 term is on ``W``, not ``W_eff``.
    """
    n = sum(a * b + b for a, b in zip(units[:-1], units[1:]))  # weights and intercepts
    coefs, intercepts = ref.unpack(params[:n], units)
    s = params[n:]
    folded = [s[:, None] * coefs[0], *coefs[1:]]
    loss_sum, sw_sum, coef_grads, intercept_grads = ref.raw_loss_grad(
        folded, intercepts, X, Y, sw, activation, out
    )
    scale_grad = (coefs[0] * coef_grads[0]).sum(axis=1) / sw_sum
    coef_grads[0] = s[:, None] * coef_grads[0]
    loss = (loss_sum + 0.5 * alpha * ref.l2_sum(coefs)) / sw_sum
    coef_grads = [(g + alpha * W) / sw_sum for g, W in zip(coef_grads, coefs)]
    return loss, coef_grads, [g / sw_sum for g in intercept_grads], scale_grad


def _problem(dtype, sparse_input, seed=0):
    rng = np.random.RandomState(seed)
    network = Network(UNITS, "tanh", "softmax", dtype, input_scaling=True)
    network.params[...] = rng.uniform(-0.8, 0.8, network.n_params)
    network.input_scale[...] = rng.uniform(0.5, 1.5, UNITS[0])
    X = rng.normal(size=(20, UNITS[0]))
    X[rng.rand(*X.shape) < 0.4] = 0  # (zeros, which CSR leaves out)
    Y = np.eye(UNITS[-1])[rng.randint(0, UNITS[-1], 20)]
    sw = rng.uniform(0.2, 3.0, 20)
    given = sparse.csr_matrix(X) if sparse_input else X
    data = as_kernel_data(given, Y, sw, dtype=dtype, n_outputs=UNITS[-1])
    return network, data, X.astype(dtype).astype(np.float64), Y, sw.astype(dtype).astype(np.float64)


@SPARSE
@DTYPES
def test_loss_and_gradient_match_the_reference(dtype, sparse_input):
    network, data, X, Y, sw = _problem(dtype, sparse_input)
    work = network.workspace(7, sparse_input)  # several chunks, the last one short
    grad = np.empty(network.n_params, dtype=dtype)
    loss = _backprop.full_loss_grad_into(network.net(), data, work, ALPHA, 7, grad)
    params = network.params.astype(np.float64)
    ref_loss, coef_grads, intercept_grads, scale_grad = _scaled_reference(
        params, UNITS, X, Y, sw, "tanh", "softmax", ALPHA
    )
    expected = np.concatenate([ref.pack(coef_grads, intercept_grads), scale_grad])
    np.testing.assert_allclose(loss, ref_loss, rtol=RTOL[dtype])
    np.testing.assert_allclose(grad, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(expected).max())
    # the coefs_/intercepts_ views and the L2 term's range do not include the scales
    assert network.n_coef == network.bias_start[0] and network.input_scale.base is network.params


@SPARSE
@DTYPES
def test_gradient_matches_finite_differences(dtype, sparse_input):
    network, data, *_ = _problem(dtype, sparse_input, seed=1)
    rel_error, fd, grad = check_gradient(network, data, dtype, alpha=ALPHA)
    assert rel_error < TOLERANCE[dtype], f"relative error {rel_error:.2e} (step {STEP[dtype]})"
    scales = slice(network.bias_start[-1], None)
    assert np.abs(grad[scales]).min() > 0  # every scale has a gradient of its own
    np.testing.assert_allclose(fd[scales], grad[scales], rtol=10 * TOLERANCE[dtype], atol=TOLERANCE[dtype])


N_SAMPLES, BATCH_SIZE, N_EPOCHS = 23, 7, 4  # the last batch of each epoch short
X_REG, Y_REG = make_regression(n_samples=N_SAMPLES, n_features=5, noise=1.0, random_state=0)
Y_REG = Y_REG / 100
LR, FACTOR, WEIGHT_DECAY = 0.02, 6.0, 0.5


def _start(dtype):
    rng = np.random.RandomState(1)
    coefs = [rng.uniform(-0.5, 0.5, (a, b)).astype(dtype) for a, b in zip(UNITS[:-1], UNITS[1:-1] + [1])]
    intercepts = [rng.uniform(-0.5, 0.5, b).astype(dtype) for b in UNITS[1:-1] + [1]]
    return coefs, intercepts


def _fit(dtype, X=X_REG, **changed):
    params = dict(
        hidden_layer_sizes=tuple(UNITS[1:-1]), learning_rate_init=LR, alpha=ALPHA, weight_decay=WEIGHT_DECAY,
        batch_size=BATCH_SIZE, max_iter=N_EPOCHS, shuffle=False, warm_start=True, input_scaling=True,
        input_scale_learning_rate_factor=FACTOR, random_state=0,
    )  # fmt: skip
    est = BackpropRegressor(**{**params, **changed})
    est.coefs_, est.intercepts_ = _start(dtype)  # (assigned before fit: the scales start at 1)
    return est.fit(X.astype(dtype) if hasattr(X, "astype") else X, Y_REG)


def _reference_fit(dtype):
    coefs, intercepts = ([a.astype(np.float64) for a in part] for part in _start(dtype))
    units = [UNITS[0], *UNITS[1:-1], 1]
    scale = [np.ones(UNITS[0])]
    adam = ref.Adam(coefs + intercepts, LR, weight_decay=WEIGHT_DECAY)
    adam_s = ref.Adam(scale, LR * FACTOR)  # no decay
    Xd = X_REG.astype(dtype).astype(np.float64)
    for _ in range(N_EPOCHS):
        for start in range(0, N_SAMPLES, BATCH_SIZE):
            batch = slice(start, start + BATCH_SIZE)
            params = np.concatenate([ref.pack(coefs, intercepts), scale[0]])
            _, coef_grads, intercept_grads, scale_grad = _scaled_reference(
                params, units, Xd[batch], Y_REG[batch].reshape(-1, 1), np.ones(len(Xd[batch])),
                "relu", "identity", ALPHA,
            )  # fmt: skip
            adam.step(coefs + intercepts, coef_grads + intercept_grads, n_decayed=len(coefs))
            adam_s.step(scale, [scale_grad])
    return coefs, intercepts, scale[0]


@DTYPES
def test_a_fit_follows_the_reference_trajectory(dtype):
    est = _fit(dtype)
    coefs, intercepts, scale = _reference_fit(dtype)
    assert est.input_scale_.dtype == dtype and est.input_scale_.shape == (UNITS[0],)
    assert not np.allclose(scale, 1.0)  # the scales moved
    for a, b in zip(est.coefs_ + est.intercepts_ + [est.input_scale_], coefs + intercepts + [scale]):
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(b).max())


def test_sparse_input_trains_as_dense():
    X = X_REG.copy()
    X[np.abs(X) < 0.5] = 0
    dense = _fit(np.float64, X=X)
    csr = _fit(np.float64, X=sparse.csr_matrix(X))
    for a, b in zip(dense.coefs_ + [dense.input_scale_], csr.coefs_ + [csr.input_scale_]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@DTYPES
def test_blocks_slices_and_threads_do_not_change_the_weights(dtype, monkeypatch):
    block_every_batch(monkeypatch)
    units = [UNITS[0], *UNITS[1:-1], 1]
    assert _parallel.n_blocks(units, N_SAMPLES) == 2
    def fit():
        est = _fit(dtype, batch_size=N_SAMPLES)
        return est.coefs_ + [est.input_scale_]

    first = assert_same_weights_on_threads_and_slices(monkeypatch, fit)
    assert not np.allclose(first[-1], 1.0)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_every_solver_trains_the_scales(solver):
    est = _fit(np.float64, solver=solver, input_scale_learning_rate_factor=1.0, weight_decay=0.0, max_iter=20)
    assert np.isfinite(est.input_scale_).all() and not np.allclose(est.input_scale_, 1.0)
    coefs, intercepts = est.coefs_, est.intercepts_
    folded = [est.input_scale_[:, None] * coefs[0], *coefs[1:]]
    expected = ref.predict(folded, intercepts, X_REG, "relu", "identity").ravel()
    np.testing.assert_allclose(est.predict(X_REG), expected, rtol=1e-10)


def test_the_scales_change_the_fit_and_the_factor_matters():
    plain = _fit(np.float64, input_scaling=False, input_scale_learning_rate_factor=1.0)
    scaled = _fit(np.float64, input_scale_learning_rate_factor=1.0)
    faster = _fit(np.float64)
    assert not hasattr(plain, "input_scale_")
    assert not np.allclose(plain.coefs_[0], scaled.coefs_[0])
    assert np.abs(faster.input_scale_ - 1).max() > np.abs(scaled.input_scale_ - 1).max()


X_CLF, Y_CLF = make_classification(n_samples=60, n_features=6, n_informative=4, n_classes=3, random_state=0)


def _classifier(**changed):
    params = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0, input_scaling=True)
    return BackpropClassifier(**{**params, **changed}).fit(X_CLF, Y_CLF)


def test_pickle_round_trip_and_training_goes_on_bit_for_bit():
    est = _classifier(input_scale_learning_rate_factor=6.0)
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded._network.input_scaling and loaded.input_scale_ is loaded._network.input_scale
    np.testing.assert_array_equal(loaded.predict_proba(X_CLF), est.predict_proba(X_CLF))
    for model in (est, loaded):
        model.partial_fit(X_CLF, Y_CLF)
    for a, b in zip(est.coefs_ + [est.input_scale_], loaded.coefs_ + [loaded.input_scale_]):
        np.testing.assert_array_equal(a, b)
    assert est.__getstate__()["_fastbp_state"]["format"] == 2  # (a format-1 reader would drop the scales)


def test_skops_round_trip():
    sio = pytest.importorskip("skops.io")
    import fastbp

    est = _classifier()
    loaded = sio.loads(sio.dumps(est), trusted=fastbp.SKOPS_TRUSTED)
    np.testing.assert_array_equal(loaded.input_scale_, est.input_scale_)
    np.testing.assert_array_equal(loaded.predict_proba(X_CLF), est.predict_proba(X_CLF))


def test_a_model_without_scales_saves_as_before():
    est = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X_CLF, Y_CLF)
    state = est.__getstate__()
    assert set(state["_network_state"]) == {"units", "activation", "out_activation", "dtype", "params"}
    assert state["_fastbp_state"]["format"] == 1 and "input_scale_" not in state


def test_a_damaged_scaling_field_is_refused():
    est = _classifier()
    state = est.__getstate__()
    for damage in ({"input_scaling": "yes"}, {"input_scaling": False}):
        network_state = {**state["_network_state"], **damage}
        with pytest.raises(ValueError, match="damaged or was altered"):
            BackpropClassifier().__setstate__({**state, "_network_state": network_state})


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_to_sklearn_folds_the_scales_into_the_first_matrix(dtype):
    est = _classifier(input_scale_learning_rate_factor=6.0)
    X = X_CLF.astype(dtype)
    est.fit(X, Y_CLF)
    with pytest.warns(UserWarning, match=r"input_scale_learning_rate_factor', 'input_scaling'"):
        mlp = est.to_sklearn()
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(mlp.predict_proba(X), est.predict_proba(X), rtol=rtol)
    np.testing.assert_array_equal(mlp.coefs_[1], est.coefs_[1])
    assert not np.shares_memory(mlp.coefs_[0], est.coefs_[0])
    np.testing.assert_array_equal(est.coefs_[0], est._network.coefs[0])  # (unchanged by the folding)


def test_onnx_folds_the_scales_into_the_first_matrix():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("fastbp.onnx")
    est = BackpropRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0, input_scaling=True)
    X, y = X_CLF.astype(np.float32), Y_CLF.astype(float)
    est.fit(X, y)
    onx = skl2onnx.to_onnx(est, X[:1])
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: X})[0]
    np.testing.assert_allclose(out.ravel(), est.predict(X), rtol=1e-5, atol=1e-5)


def test_warm_start_and_partial_fit_continue_the_scales():
    est = _classifier(warm_start=True, max_iter=3)
    first = est.input_scale_.copy()
    est.fit(X_CLF, Y_CLF)
    assert not np.array_equal(est.input_scale_, first)
    moved = est.input_scale_.copy()
    est.partial_fit(X_CLF, Y_CLF)
    assert not np.array_equal(est.input_scale_, moved)
    with pytest.raises(ValueError, match="input_scaling=True; got input_scaling=False"):
        est.set_params(input_scaling=False).fit(X_CLF, Y_CLF)
    # a fresh fit without scaling leaves no input_scale_ behind
    est.set_params(warm_start=False).fit(X_CLF, Y_CLF)
    assert not hasattr(est, "input_scale_")


def test_assigned_weights_start_with_unit_scales_and_assigned_scales_are_used():
    est = BackpropRegressor(hidden_layer_sizes=(4,), max_iter=1, input_scaling=True, warm_start=True)
    coefs, intercepts = _start(np.float64)
    est.coefs_, est.intercepts_ = [coefs[0], np.ones((4, 1))], [intercepts[0], np.zeros(1)]
    assert est._synced_network().input_scaling
    np.testing.assert_array_equal(est.input_scale_, np.ones(UNITS[0]))
    est.fit(X_REG, Y_REG)
    scale = np.linspace(0.5, 2.0, UNITS[0])
    est.input_scale_ = scale  # assigned: copied into the network, then a view again
    folded = [scale[:, None] * est.coefs_[0], est.coefs_[1]]
    expected = ref.predict(folded, est.intercepts_, X_REG, "relu", "identity").ravel()
    np.testing.assert_allclose(est.predict(X_REG), expected, rtol=1e-12)
    assert est.input_scale_ is est._network.input_scale
    est.input_scale_ = np.ones(UNITS[0] + 1)
    with pytest.raises(ValueError, match="input_scale_ must be an array of 5 numbers"):
        est.predict(X_REG)


def test_off_by_default():
    network = Network([3, 2, 1], "relu", "identity", np.float64)
    assert network.net()[7] == 0 and network.workspace(4, False)[6].size == 0
    assert network.n_params == 3 * 2 + 2 + 2 + 1 and network.input_scale is None
    est = BackpropRegressor()
    assert est.input_scaling is False and est.input_scale_learning_rate_factor == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.set_params(max_iter=2).fit(X_REG, Y_REG)
    assert not hasattr(est, "input_scale_")
