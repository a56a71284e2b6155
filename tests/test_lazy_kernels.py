"""The kernels compiled on first use: a default fit compiles none of them, each option its own.

Run in a new process, where nothing is compiled yet (the cache only
shortens the compiles; which kernels get compiled does not depend on it).
"""

import json
import subprocess
import sys

import numba
import numpy as np
import pytest

from fastbp import _activations, _backprop, _regularisers
from fastbp._jit import LAZY_KERNELS, call_at
from fastbp._optimizers import COSINE, COSLOG4, SCHEDULE_KERNELS, SGD, schedule_factor

SCRIPT = """
import json, sys, warnings
import numpy as np
import scipy.sparse as sp
import fastbp
from fastbp._jit import LAZY_KERNELS

def compiled():
    return sorted(k.label for k in LAZY_KERNELS if k.dispatcher.overloads)

X, y = np.random.RandomState(0).normal(size=(30, 3)), np.arange(30) % 2
warnings.simplefilter("ignore")
seen = {}
fastbp.BackpropClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X, y).predict(X)
fastbp.BackpropRegressor(hidden_layer_sizes=(4,), max_iter=2).fit(X, y).predict(X)
seen["default"] = compiled()
for name, kwargs in json.loads(sys.argv[1]):
    before = set(compiled())
    model = fastbp.BackpropRegressor if "loss" in kwargs else fastbp.BackpropClassifier
    data = sp.csr_matrix(X) if kwargs.pop("sparse", False) else X
    model(hidden_layer_sizes=(4,), max_iter=2, **kwargs).fit(data, y)
    seen[name] = sorted(set(compiled()) - before)
print(json.dumps(seen))
"""

# option -> the labels of the kernels its first fit compiles
OPTIONS = {
    "sgd": ({"solver": "sgd"}, ["SGD"]),
    "tanh": ({"activation": "tanh"}, ["tanh and logistic"]),
    "mish": ({"activation": "mish"}, ["activations"]),
    "dropout": ({"dropout": 0.1}, ["dropout"]),
    "cosine": ({"learning_rate": "cosine"}, ["cosine schedule"]),
    "coslog4": ({"learning_rate": "coslog4"}, ["coslog4 schedule"]),
    "clipping": ({"max_grad_norm": 1.0}, ["gradient clipping"]),
    "flat_cos": ({"weight_decay": 0.1, "weight_decay_schedule": "flat_cos"}, ["flat_cos schedule"]),
    "fan_in": ({"learning_rate_scaling": "fan_in"}, ["per-layer step sizes"]),
    "input_scaling": ({"input_scaling": True}, ["input scaling"]),
    "parametric": ({"parametric_activation": True}, ["parametric activations"]),
    "huber": ({"loss": "huber"}, ["robust losses"]),
    "sparse": ({"sparse": True}, ["sparse input"]),
}


def test_a_default_fit_compiles_none_and_each_option_its_own():
    cases = [(name, kwargs) for name, (kwargs, _) in OPTIONS.items()]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(cases)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen.pop("default") == []
    assert seen == {name: sorted(labels) for name, (_, labels) in OPTIONS.items()}
    assert {label for _, labels in OPTIONS.values() for label in labels} == {k.label for k in LAZY_KERNELS}


@numba.njit
def _call(address, args):
    return call_at(address, args)


@pytest.mark.parametrize("schedule", [COSINE, COSLOG4])
def test_call_at_returns_the_kernels_result(schedule):
    address = SCHEDULE_KERNELS[schedule].address(np.float64)
    assert address and SCHEDULE_KERNELS[schedule].address(np.float64) == address
    for step in (0, 3, 17, 39):
        expected = schedule_factor.py_func(schedule, step, 40, 5)
        assert _call(address, (step, 40, 5)) == expected


def test_optimizer_tuple_has_each_options_kernel_only_when_it_is_on():
    empty = np.empty(0)
    off = _backprop.optimizer_tuple(np.float64, empty, empty)
    on = _backprop.optimizer_tuple(
        np.float64, empty, empty, solver=SGD, drop_rates=[0.5], schedule=COSINE, max_grad_norm=1.0
    )
    kernels = (0, 13, 16, 21)  # sgd, dropout, schedule, clipping
    assert all(off[i] == 0 for i in kernels)
    assert all(on[i] != 0 for i in kernels)


@pytest.mark.parametrize(
    "module, kernel",
    [
        (_activations, "keeping_activation_inplace"),
        (_activations, "smooth_activation_inplace"),
        (_backprop, "activation_mix_into"),
        (_regularisers, "dropout_inplace"),
    ],
)
def test_elementwise_kernels_are_vectorized_at_the_full_width(module, kernel):
    from llvmlite import binding

    lazy = getattr(module, kernel)
    # compiled anew, uncached: code loaded from the cache keeps no LLVM IR
    options = {k: v for k, v in lazy.dispatcher.targetoptions.items() if k != "nopython"}
    fresh = numba.njit(**options)(lazy.dispatcher.py_func)
    fresh.compile(tuple(numba.typeof(a) for a in lazy.example_args(np.dtype(np.float64))))
    (result,) = fresh.overloads.values()
    assert '"prefer-vector-width"="512"' in result.library.get_llvm_str()
    if "+avx512f" in binding.get_host_cpu_features().flatten():
        assert "zmm" in result.library.get_asm_str()
