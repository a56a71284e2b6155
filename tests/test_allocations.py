"""The epoch kernel allocates nothing per batch, nor do the blocked tasks.

Numba's runtime counts its own allocations; the number made by one epoch
must not grow with the number of batches in it.
"""

import numpy as np
import pytest
from numba.core.runtime import _nrt_python, rtsys
from scipy import sparse

from fastbp._backprop import BLOCK, EPOCH, STEP, optimizer_tuple, run
from fastbp._losses import loss_parameters
from fastbp._network import Network, as_kernel_data
from fastbp._optimizers import ADAM, COSINE, COSLOG4, FLAT_COS, SGD

# the step's options (schedules, weight decay, clipping): off by default
DEFAULTS = {}


# dropout: off, and on in both hidden layers
DROPOUT = {"no-dropout": {}, "dropout": dict(drop_rates=[0.3, 0.2], drop_key=5)}


# the step's settings of every call
SETTINGS = dict(lr=1e-3, alpha=1e-4, momentum=0.9, nesterov=True, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


@pytest.fixture(autouse=True)
def nrt_stats():
    _nrt_python.memsys_enable_stats()
    yield
    _nrt_python.memsys_disable_stats()


def _network_and_data(X, Y, sw, dtype, rng, loss, activation="tanh", input_scaling=False, parametric=False):
    """A softmax network and its data, or an identity one with a robust regression ``loss``."""
    out = "softmax" if loss is None else "identity"
    network = Network([7, 5, 4, 3], activation, out, dtype, input_scaling, parametric)
    network.params[:] = rng.uniform(-0.5, 0.5, network.n_params)
    if loss is not None:
        loss = loss_parameters(loss, 3, delta=0.3, quantiles=(0.1, 0.5, 0.9))
    return network, as_kernel_data(X, Y, sw, dtype=network.dtype, n_outputs=3, loss=loss)


def _allocations_of_one_epoch(
    n_samples, batch_size, solver, sparse_input, dtype, dropout, options=DEFAULTS, loss=None,
    activation="tanh", input_scaling=False, parametric=False,
):  # fmt: skip
    rng = np.random.RandomState(0)
    X = rng.randn(n_samples, 7)
    Y = rng.rand(n_samples, 3)
    if sparse_input:
        X[X < 0.5] = 0
        X = sparse.csr_matrix(X)
    network, data = _network_and_data(
        X, Y, rng.rand(n_samples), dtype, rng, loss, activation, input_scaling, parametric
    )
    work = network.workspace(batch_size, sparse_input)
    state_1 = np.zeros(network.n_params, dtype)
    state_2 = np.zeros(network.n_params, dtype)
    rows = rng.permutation(n_samples)
    optimizer = optimizer_tuple(dtype, state_1, state_2, **SETTINGS, solver=solver, **DROPOUT[dropout], **options)
    out = np.empty((0, 0), dtype)
    args = (EPOCH, network.net(), data, work, optimizer, rows, batch_size, out)
    run(*args)  # compile
    before = rtsys.get_allocation_stats().alloc
    loss, t = run(*args)
    assert np.isfinite(loss)
    n_array_arguments = sum(
        isinstance(a, np.ndarray) for a in (*network.net(), *data, *work, *optimizer, rows, out)
    )
    return rtsys.get_allocation_stats().alloc - before, n_array_arguments


@pytest.mark.parametrize("dropout", list(DROPOUT))
@pytest.mark.parametrize("solver", [ADAM, SGD])
@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_allocations_per_epoch_do_not_grow_with_batches(solver, sparse_input, dtype, dropout):
    few, n_arrays = _allocations_of_one_epoch(40, 10, solver, sparse_input, dtype, dropout)  # 4 batches
    many, _ = _allocations_of_one_epoch(400, 10, solver, sparse_input, dtype, dropout)  # 40 batches
    assert many == few
    # the only allocations are the runtime's wrappers of the arrays passed in
    assert few == n_arrays


def _allocations_of_blocked_batch(
    n_rows, task, solver, dtype, dropout, options=DEFAULTS, loss=None, input_scaling=False, parametric=False
):
    """A batch's BLOCK (its gradient) or STEP (its update) call, as :mod:`fastbp._parallel` makes it."""
    rng = np.random.RandomState(0)
    X, Y = rng.randn(n_rows, 7), rng.rand(n_rows, 3)
    network, data = _network_and_data(
        X, Y, rng.rand(n_rows), dtype, rng, loss, input_scaling=input_scaling, parametric=parametric
    )
    work = network.workspace(n_rows, False)
    state = np.zeros(network.n_params, dtype), np.zeros(network.n_params, dtype)
    optimizer = optimizer_tuple(
        dtype, *state, **SETTINGS, solver=solver, lo=3, hi=network.n_params - 2, **DROPOUT[dropout], **options
    )
    rows = rng.permutation(n_rows)
    out = rng.rand(4, network.n_params).astype(dtype) if task == STEP else np.empty((0, 0), dtype)
    args = (task, network.net(), data, work, optimizer, rows, n_rows, out)
    run(*args)  # compile
    before = rtsys.get_allocation_stats().alloc
    run(*args)
    n_array_arguments = sum(
        isinstance(a, np.ndarray) for a in (*network.net(), *data, *work, *optimizer, rows, out)
    )
    return rtsys.get_allocation_stats().alloc - before, n_array_arguments


@pytest.mark.parametrize("dropout", list(DROPOUT))
@pytest.mark.parametrize("task", [BLOCK, STEP], ids=["block", "step"])
@pytest.mark.parametrize("solver", [ADAM, SGD])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_batches_allocate_nothing(task, solver, dtype, dropout):
    few, n_arrays = _allocations_of_blocked_batch(10, task, solver, dtype, dropout)
    many, _ = _allocations_of_blocked_batch(200, task, solver, dtype, dropout)
    assert few == many == n_arrays


# input scaling (its scaled first matrix in the workspace), the 7 scales after the 79
# weights and intercepts a step group of their own
SCALE_GROUPS = dict(group_bounds=[0, 79, 86], group_lr=[1.0, 6.0], group_eps=[1.0, 1.0])


@pytest.mark.parametrize("solver", [ADAM, SGD])
@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_input_scaling_allocates_nothing_per_batch(solver, sparse_input, dtype):
    args = (solver, sparse_input, dtype, "dropout", SCALE_GROUPS)
    few, n_arrays = _allocations_of_one_epoch(40, 10, *args, input_scaling=True)
    many, _ = _allocations_of_one_epoch(400, 10, *args, input_scaling=True)
    assert many == few == n_arrays
    for task in (BLOCK, STEP):
        few, n_arrays = _allocations_of_blocked_batch(10, task, solver, dtype, "dropout", input_scaling=True)
        many, _ = _allocations_of_blocked_batch(200, task, solver, dtype, "dropout", input_scaling=True)
        assert few == many == n_arrays


# parametric activations with input scaling: the 9 mixing weights after the 7
# scales a step group of their own
MIX_GROUPS = dict(group_bounds=[0, 79, 86, 95], group_lr=[1.0, 6.0, 0.1], group_eps=[1.0, 1.0, 1.0])


@pytest.mark.parametrize("activation", ["relu", "mish"])
@pytest.mark.parametrize("solver", [ADAM, SGD])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_parametric_activations_allocate_nothing_per_batch(solver, dtype, activation):
    args = (solver, False, dtype, "dropout", MIX_GROUPS)
    options = {"activation": activation, "input_scaling": True, "parametric": True}
    few, n_arrays = _allocations_of_one_epoch(40, 10, *args, **options)
    many, _ = _allocations_of_one_epoch(400, 10, *args, **options)
    assert many == few == n_arrays
    for task in (BLOCK, STEP):
        blocked = (task, solver, dtype, "dropout")
        few, n_arrays = _allocations_of_blocked_batch(10, *blocked, input_scaling=True, parametric=True)
        many, _ = _allocations_of_blocked_batch(200, *blocked, input_scaling=True, parametric=True)
        assert few == many == n_arrays


# every option of the optimizer step on: per-step schedules (warmup included),
# decoupled weight decay, gradient clipping (a norm small enough to clip)
OPTIONS = {
    "warmup_cosine": dict(schedule=COSINE, step_0=3, n_steps=100, warmup_steps=10, weight_decay=0.01),
    "coslog4": dict(schedule=COSLOG4, step_0=3, n_steps=100),
    "weight_decay": dict(weight_decay=0.1),
    "clipping": dict(max_grad_norm=1e-3),
    "all": dict(schedule=COSINE, step_0=7, n_steps=100, warmup_steps=20, weight_decay=0.1, max_grad_norm=1e-3),
    # the dropout rates and the weight decay scheduled (in the cosine half)
    "flat_cos": dict(drop_schedule=FLAT_COS, decay_schedule=FLAT_COS, step_0=60, n_steps=100, weight_decay=0.1),
    # per-group step sizes: two groups over whatever the network has (Adam; SGD ignores them)
    "step_groups": dict(group_bounds=[0, 7, 2**62], group_lr=[0.5, 0.1], group_eps=[2.0, 1.0], weight_decay=0.1),
}


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("solver", [ADAM, SGD])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_optimizer_options_allocate_nothing_per_batch(options, solver, dtype):
    few, n_arrays = _allocations_of_one_epoch(40, 10, solver, False, dtype, "dropout", options)
    many, _ = _allocations_of_one_epoch(400, 10, solver, False, dtype, "dropout", options)
    assert many == few == n_arrays


@pytest.mark.parametrize("loss", ["absolute_error", "huber", "quantile"])
@pytest.mark.parametrize("solver", [ADAM, SGD])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_robust_losses_allocate_nothing_per_batch(loss, solver, dtype):
    few, n_arrays = _allocations_of_one_epoch(40, 10, solver, False, dtype, "dropout", loss=loss)
    many, _ = _allocations_of_one_epoch(400, 10, solver, False, dtype, "dropout", loss=loss)
    assert many == few == n_arrays
    few, n_arrays = _allocations_of_blocked_batch(10, BLOCK, solver, dtype, "no-dropout", loss=loss)
    many, _ = _allocations_of_blocked_batch(200, BLOCK, solver, dtype, "no-dropout", loss=loss)
    assert few == many == n_arrays


# every activation that keeps f'(z), each loop of its kernel once
KEEPING = ["gelu", ("selu", "tanh"), ("relu", "mish"), ("leaky_relu", "elu"), ("gelu_tanh", "silu"), "softplus"]


@pytest.mark.parametrize("activation", KEEPING, ids=str)
@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activations_keeping_derivatives_allocate_nothing_per_batch(activation, sparse_input, dtype):
    # their kernel, called by address, takes the workspace's views as they are
    few, n_arrays = _allocations_of_one_epoch(40, 10, ADAM, sparse_input, dtype, "dropout", activation=activation)
    many, _ = _allocations_of_one_epoch(400, 10, ADAM, sparse_input, dtype, "dropout", activation=activation)
    assert many == few == n_arrays
