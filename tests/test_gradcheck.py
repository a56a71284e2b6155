"""Finite-difference check of ``full_loss_grad_into``: its gradient is the loss's.

Central differences of the loss the kernel returns are compared with the
gradient it writes, for every hidden activation x every output/loss pair,
with L2 penalty and non-uniform sample weights. This needs no reference
implementation: it shows the kernel's loss and gradient describe the same
function (which, for multi-output squared error, is not the case in
scikit-learn, whose reported loss averages over outputs).

The kink at 0 of relu (and of leaky_relu and selu, whose derivative jumps
there) would spoil the differences, so with these only samples whose
hidden pre-activations all stay at least ``KINK_MARGIN`` away from 0 are
kept; a step of ``h`` moves a pre-activation by far less than that.
"""

import numpy as np
import pytest

from fastbp import _backprop
from fastbp._network import Network, as_kernel_data

try:
    from . import reference as ref
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference as ref

N_FEATURES, N_CANDIDATES, N_SAMPLES = 4, 200, 20
ALPHA = 0.05
KINK_MARGIN = 0.1
KINKED = ("relu", "leaky_relu", "selu")
# central-difference step and bound on ||fd - grad|| / ||grad||
STEP = {np.float64: 1e-6, np.float32: 3e-3}
TOLERANCE = {np.float64: 1e-7, np.float32: 1e-3}

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])


def make_problem(hidden, activation, out, n_outputs, dtype, seed=0):
    """A network with random parameters and data kept away from relu's kink."""
    rng = np.random.RandomState(seed)
    units = [N_FEATURES, *hidden, n_outputs]
    network = Network(units, activation, out, dtype)
    network.params[...] = rng.uniform(-0.8, 0.8, network.n_params)

    X = rng.normal(size=(N_CANDIDATES, N_FEATURES))
    coefs, intercepts = ref.unpack(network.params.astype(np.float64), units)
    Z, _ = ref.forward(coefs, intercepts, X.astype(dtype), activation, out)
    hidden_z = np.hstack([np.ones((N_CANDIDATES, 1))] + [np.abs(z) for z in Z[:-1]])
    kinked = any(name in KINKED for name in ([activation] if isinstance(activation, str) else activation))
    away = hidden_z.min(axis=1) >= KINK_MARGIN if kinked else np.ones(N_CANDIDATES, bool)
    keep = np.flatnonzero(away)[:N_SAMPLES]
    assert len(keep) == N_SAMPLES, "not enough samples away from the kink; change the seed"
    X = X[keep]

    if out == "identity":
        Y = rng.normal(size=(N_SAMPLES, n_outputs))
    elif out == "logistic":
        Y = rng.randint(0, 2, size=(N_SAMPLES, n_outputs)).astype(float)
    elif out == "softmax":
        Y = np.eye(n_outputs)[rng.randint(0, n_outputs, size=N_SAMPLES)]
    else:
        Y = rng.poisson(1.5, size=(N_SAMPLES, n_outputs)).astype(float)
    sw = rng.uniform(0.2, 3.0, size=N_SAMPLES)
    data = as_kernel_data(X, Y, sw, dtype=dtype, n_outputs=n_outputs)
    return network, data


def central_differences(loss, params, h):
    """The gradient of ``loss()`` by central differences in each entry of ``params`` (restored after).

    Each quotient divides by the step actually taken, after rounding to
    ``params``' dtype.
    """
    fd = np.empty(params.size)
    for j in range(params.size):
        original = params[j]
        params[j] = original + h
        up, plus = loss(), float(params[j])
        params[j] = original - h
        down, minus = loss(), float(params[j])
        params[j] = original
        fd[j] = (up - down) / (plus - minus)
    return fd


def check_gradient(network, data, dtype, alpha=ALPHA):
    """Relative error of the kernel's gradient against central differences."""
    net = network.net()
    chunk = 7  # several chunks, the last one short
    work = network.workspace(chunk, False)
    params = network.params
    grad = np.empty(network.n_params, dtype=dtype)
    scratch = np.empty_like(grad)

    def loss_at():
        return _backprop.full_loss_grad_into(net, data, work, alpha, chunk, scratch)

    loss = _backprop.full_loss_grad_into(net, data, work, alpha, chunk, grad)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))

    fd = central_differences(loss_at, params, STEP[dtype])
    assert loss_at() == loss  # parameters restored

    grad = grad.astype(np.float64)
    return np.linalg.norm(fd - grad) / np.linalg.norm(grad), fd, grad


N_OUTPUTS = {"identity": 1, "logistic": 3, "softmax": 3, "exp": 1}


@DTYPES
@pytest.mark.parametrize("hidden", [(5,), (5, 3)], ids=["1h", "2h"])
@pytest.mark.parametrize("out", ref.OUTPUT_ACTIVATIONS)
@pytest.mark.parametrize("activation", ref.HIDDEN_ACTIVATIONS)
def test_gradient_matches_finite_differences(activation, out, hidden, dtype):
    network, data = make_problem(hidden, activation, out, N_OUTPUTS[out], dtype)
    rel_error, fd, grad = check_gradient(network, data, dtype)
    assert rel_error < TOLERANCE[dtype], f"relative error {rel_error:.2e}"


@DTYPES
def test_multi_output_squared_error_loss_and_gradient_agree(dtype):
    """Squared error summed over 3 outputs: the loss whose gradient is followed.

    The loss is the reference's (summed over outputs, not averaged as
    scikit-learn reports it) and its central differences match the gradient.
    """
    n_outputs = 3
    network, data = make_problem((5,), "tanh", "identity", n_outputs, dtype, seed=1)
    rel_error, fd, grad = check_gradient(network, data, dtype)
    assert rel_error < TOLERANCE[dtype], f"relative error {rel_error:.2e}"

    X, Y, sw = (np.asarray(a, dtype=np.float64) for a in (data[0], data[5], data[6]))
    coefs, intercepts = ref.unpack(network.params.astype(np.float64), network.units)
    ref_loss, _, _ = ref.loss_grad(coefs, intercepts, X, Y, sw, "tanh", "identity", ALPHA, dtype)
    work = network.workspace(len(X), False)
    grad = np.empty_like(network.params)
    loss = _backprop.full_loss_grad_into(network.net(), data, work, ALPHA, len(X), grad)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10 if dtype == np.float64 else 1e-5)

    # averaging the data term over outputs would give a different number
    penalty = 0.5 * ALPHA * ref.l2_sum(coefs) / sw.sum()
    averaged = (ref_loss - penalty) / n_outputs + penalty
    assert abs(loss - averaged) > 0.1 * abs(loss)
