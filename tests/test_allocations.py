"""The epoch kernel allocates nothing per batch.

Numba's runtime counts its own allocations; the number made by one epoch
must not grow with the number of batches in it.
"""

import numpy as np
import pytest
from numba.core.runtime import _nrt_python, rtsys
from scipy import sparse

from fastbp._backprop import EPOCH, run
from fastbp._network import Network, as_kernel_data
from fastbp._optimizers import ADAM, SGD


@pytest.fixture(autouse=True)
def nrt_stats():
    _nrt_python.memsys_enable_stats()
    yield
    _nrt_python.memsys_disable_stats()


def _allocations_of_one_epoch(n_samples, batch_size, solver, sparse_input, dtype, activation="tanh"):
    rng = np.random.RandomState(0)
    X = rng.randn(n_samples, 7)
    Y = rng.rand(n_samples, 3)
    if sparse_input:
        X[X < 0.5] = 0
        X = sparse.csr_matrix(X)
    network = Network([7, 5, 4, 3], activation, "softmax", dtype)
    network.params[:] = rng.uniform(-0.5, 0.5, network.n_params)
    data = as_kernel_data(X, Y, rng.rand(n_samples), dtype=network.dtype, n_outputs=3)
    work = network.workspace(batch_size, sparse_input)
    state_1 = np.zeros(network.n_params, dtype)
    state_2 = np.zeros(network.n_params, dtype)
    rows = rng.permutation(n_samples)
    optimizer = (solver, 1e-3, 1e-4, 0.9, True, 0.9, 0.999, 1e-8, state_1, state_2, 0)
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


@pytest.mark.parametrize("solver", [ADAM, SGD])
@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_allocations_per_epoch_do_not_grow_with_batches(solver, sparse_input, dtype):
    few, n_arrays = _allocations_of_one_epoch(40, 10, solver, sparse_input, dtype)  # 4 batches
    many, _ = _allocations_of_one_epoch(400, 10, solver, sparse_input, dtype)  # 40 batches
    assert many == few
    # the only allocations are the runtime's wrappers of the arrays passed in
    assert few == n_arrays


@pytest.mark.parametrize("activation", ["gelu", ("selu", "tanh"), ("relu", "mish")], ids=str)
@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activations_keeping_derivatives_allocate_nothing_per_batch(activation, sparse_input, dtype):
    # their kernel, called by address, takes the workspace's views as they are
    few, n_arrays = _allocations_of_one_epoch(40, 10, ADAM, sparse_input, dtype, activation)
    many, _ = _allocations_of_one_epoch(400, 10, ADAM, sparse_input, dtype, activation)
    assert many == few == n_arrays
