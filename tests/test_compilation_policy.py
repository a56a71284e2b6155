"""Every kernel follows the one compilation policy in fastbp/_jit.py."""

import ast
import importlib
import inspect
import sys
from pathlib import Path

import pytest
from numba.core.registry import CPUDispatcher

import fastbp
from fastbp import (
    _activations,
    _backprop,
    _cache,
    _elementary,
    _handoff,
    _jit,
    _losses,
    _optimizers,
    _regularisers,
)

PACKAGE = Path(fastbp.__file__).parent
KERNEL_MODULES = [_activations, _backprop, _elementary, _handoff, _losses, _optimizers, _regularisers]


def test_fastmath_flags_leave_isfinite_working():
    assert isinstance(_jit.FASTMATH, set)
    assert not {"nnan", "ninf", "fast"} & _jit.FASTMATH


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_bare_njit_or_fastmath_outside_jit_module(path):
    if path.name == "_jit.py":
        return
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "fastmath":
            pytest.fail(f"{path.name}:{node.lineno} sets fastmath itself")
        if isinstance(node, ast.Attribute) and node.attr in {"njit", "jit", "vectorize", "guvectorize"}:
            pytest.fail(f"{path.name}:{node.lineno} compiles with numba.{node.attr} directly")
        if isinstance(node, ast.ImportFrom) and node.module == "numba":
            pytest.fail(f"{path.name}:{node.lineno} imports from numba directly")


def _dispatchers():
    for module in KERNEL_MODULES:
        for name, obj in inspect.getmembers(module):
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", obj


@pytest.mark.parametrize(
    "name,dispatcher", list(_dispatchers()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_kernel_options(name, dispatcher):
    options = dispatcher.targetoptions
    assert options["nogil"] is True
    assert options["fastmath"] == _jit.FASTMATH
    assert options["error_model"] == "numpy"
    assert options["no_cfunc_wrapper"] is True
    assert type(dispatcher._cache) is _cache.KernelCache, name


def test_source_hash_covers_every_module_with_kernels():
    # a kernel module left out of the hash would load stale machine code
    for path in PACKAGE.glob("*.py"):
        if path.stem != "__main__":
            importlib.import_module(f"fastbp.{path.stem}")
    with_kernels = {
        name.rpartition(".")[2]
        for name, module in list(sys.modules.items())
        if name.startswith("fastbp.")
        for obj in vars(module).values()
        if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == name
    }
    assert with_kernels == {module.__name__.rpartition(".")[2] for module in KERNEL_MODULES}
    assert set(_cache.KERNEL_MODULES) == with_kernels | {"_jit", "_cache"}


def test_estimator_layer_imports_no_numba():
    for name in ("_base.py", "_estimators.py", "_network.py"):
        tree = ast.parse((PACKAGE / name).read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert "numba" not in imported, name


def test_kernel_modules_import_no_sklearn():
    for module in KERNEL_MODULES + [_jit]:
        source = inspect.getsource(module)
        assert "sklearn" not in source, module.__name__
