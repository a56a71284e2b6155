"""fastbp's compiled-code cache: keyed on the kernel sources, kept out of the package.

The end-to-end tests train in new processes on a copy of the package, so
they can edit a kernel source and see what the next process loads. Cold
compiles are the cost (~10 s of CPU each), so the file has three: the
first fit, the fit after the edit, and the fit with no writable folder.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastbp
from fastbp import _cache, _jit

PACKAGE = Path(fastbp.__file__).parent

# prints what the tests compare: the weights, where the cache went, and
# whether numba loaded the kernels from it (hits) or compiled them (misses)
FIT = """
import json, sys, warnings
from numba.core.registry import CPUDispatcher
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
import fastbp
from fastbp import _cache

X, y = make_classification(n_samples=40, n_features=5, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf = fastbp.BackpropClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
dispatchers = [
    obj for name, module in list(sys.modules.items()) if name.startswith("fastbp.")
    for obj in vars(module).values() if isinstance(obj, CPUDispatcher)
]
print(json.dumps({
    "package": fastbp.__file__,
    "cache_dir": None if _cache.cache_dir() is None else str(_cache.cache_dir()),
    "folder": None if _cache._FOLDER is None else str(_cache._FOLDER),
    "coefs": [c.ravel().tolist() for c in clf.coefs_],
    "hits": sum(sum(d.stats.cache_hits.values()) for d in dispatchers),
    "misses": sum(sum(d.stats.cache_misses.values()) for d in dispatchers),
}))
"""

# a callee of the entry point ``_backprop.run``, inlined into it from another module
CALLEE = "_activations.py"
RELU_DERIVATIVE = "delta[r, j] = zero if A[r, j] == zero else delta[r, j]\n"
EDITED_DERIVATIVE = "delta[r, j] = zero if A[r, j] == zero else delta[r, j] * 0.5\n"


def run_python(code, source_root, **env_vars):
    """Run ``code`` in a new process that imports fastbp from ``source_root``."""
    env = {k: v for k, v in os.environ.items() if k not in {"FASTBP_CACHE_DIR", "NUMBA_CACHE_DIR"}}
    env.update(PYTHONPATH=str(source_root), **env_vars)
    # run in source_root: ``-c`` puts the working directory first on sys.path
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=source_root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out


def fit(source_root, **env_vars):
    out = run_python(FIT, source_root, **env_vars)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(result["package"]).is_relative_to(source_root), "the copy was not the package imported"
    return result | {"stderr": out.stderr}


def same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a["coefs"], b["coefs"], strict=True))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Fits in new processes on one cache folder: fresh, again, edited, reverted."""
    root = tmp_path_factory.mktemp("cache-test")
    shutil.copytree(PACKAGE, root / "src" / "fastbp", ignore=shutil.ignore_patterns("__pycache__"))
    callee = root / "src" / "fastbp" / CALLEE
    original = callee.read_text()
    assert original.count(RELU_DERIVATIVE) == 1, f"update the edit this test makes to {CALLEE}"
    cache = root / "cache"
    result = {"root": root, "cache": cache}
    result["first"] = fit(root / "src", FASTBP_CACHE_DIR=str(cache))
    result["second"] = fit(root / "src", FASTBP_CACHE_DIR=str(cache))
    callee.write_text(original.replace(RELU_DERIVATIVE, EDITED_DERIVATIVE))
    result["edited"] = fit(root / "src", FASTBP_CACHE_DIR=str(cache))
    callee.write_text(original)
    result["reverted"] = fit(root / "src", FASTBP_CACHE_DIR=str(cache))
    return result


def test_edited_callee_is_compiled_again(runs):
    # the bug this cache exists for: an edit to a module other than the
    # entry point's loaded the old machine code, so the weights did not change
    assert not same_weights(runs["edited"], runs["first"])
    assert runs["edited"]["misses"] > 0


def test_second_process_loads_from_cache(runs):
    first, second = runs["first"], runs["second"]
    assert first["misses"] > 0 and first["hits"] == 0
    assert second["hits"] > 0 and second["misses"] == 0
    assert same_weights(second, first)
    assert list(Path(first["folder"]).glob("*.nbi"))


def test_each_source_version_has_its_own_folder(runs):
    folders = {name: Path(runs[name]["folder"]) for name in ("first", "edited", "reverted")}
    assert all(folder.parent == runs["cache"] for folder in folders.values())
    assert folders["edited"] != folders["first"] == folders["reverted"]
    # the edited version neither invalidated nor replaced the first version's files
    assert runs["reverted"]["hits"] > 0 and runs["reverted"]["misses"] == 0
    assert same_weights(runs["reverted"], runs["first"])


def test_nothing_is_written_into_the_package(runs):
    assert runs["first"]["cache_dir"] == str(runs["cache"])
    written = [p for p in (runs["root"] / "src").rglob("*") if p.suffix in {".nbi", ".nbc"}]
    assert written == []


def test_unwritable_cache_dir_compiles_in_memory(runs, tmp_path):
    blocker = tmp_path / "a-file"  # a folder below a file cannot be created, even by root
    blocker.write_text("")
    result = fit(runs["root"] / "src", FASTBP_CACHE_DIR=str(blocker / "cache"), FASTBP_COMPILE_NOTICE="0")
    assert result["cache_dir"] is None and result["hits"] == 0
    assert "cannot write its compiled-code cache" in result["stderr"]
    assert "Traceback" not in result["stderr"]
    assert "fastbp: compiling" not in result["stderr"]  # the notice, silenced
    assert same_weights(result, runs["first"])


def test_a_compile_is_announced_once_and_a_load_is_not(runs):
    notice = (
        f"fastbp: compiling kernels for float64, about {_jit.COMPILE_SECONDS} s (once per machine, cached in"
    )
    assert runs["first"]["stderr"].count(notice) == 1
    assert "fastbp: compiling" not in runs["second"]["stderr"]


WARM_UP = """
import json, sys
import fastbp
from fastbp import _backprop, _jit
fastbp.warm_up("float32")
stats = _backprop.run.stats
lazy = [k.dispatcher.stats for k in _jit.LAZY_KERNELS]
print(json.dumps({
    "hits": sum(stats.cache_hits.values()),
    "misses": sum(stats.cache_misses.values()),
    "lazy_misses": sum(sum(s.cache_misses.values()) for s in lazy),
}))
"""


def test_concurrent_cold_processes_compile_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(FASTBP_CACHE_DIR=str(tmp_path / "cache"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WARM_UP],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    notices = sum(err.count("fastbp: compiling kernels for float32, about") for _, err in outputs)
    assert notices == 1
    counts = sorted((json.loads(out.strip().splitlines()[-1]) for out, _ in outputs), key=lambda c: c["hits"])
    # one compiled the entry point, the other waited and loaded it
    assert counts[0]["misses"] == 1 and counts[0]["hits"] == 0
    assert counts[1]["hits"] == 1 and counts[1]["misses"] == 0
    # and each kernel compiled on first use, too, was compiled by one of them only
    assert counts[0]["lazy_misses"] + counts[1]["lazy_misses"] == len(_jit.LAZY_KERNELS)


def test_warm_up_readies_the_entry_point_and_checks_dtypes():
    from fastbp import _backprop

    fastbp.warm_up(["float32"])
    assert np.dtype(np.float32) in _backprop._ready
    # every option's kernel too
    assert all("float32" in kernel._addresses for kernel in _jit.LAZY_KERNELS)
    with pytest.raises(ValueError, match=r"float64 or float32; warm_up got dtypes \['int64'\]"):
        fastbp.warm_up(("float64", "int64"))


@pytest.mark.parametrize(
    "environ,platform,expected",
    [
        ({"FASTBP_CACHE_DIR": "/f", "NUMBA_CACHE_DIR": "/n", "HOME": "/h"}, "linux", ("/f", True)),
        ({"FASTBP_CACHE_DIR": "", "NUMBA_CACHE_DIR": "/n", "HOME": "/h"}, "linux", ("/n/fastbp", True)),
        ({"HOME": "/h"}, "linux", ("/h/.cache/fastbp", False)),
        ({"HOME": "/h", "XDG_CACHE_HOME": "/x"}, "linux", ("/x/fastbp", False)),
        ({"HOME": "/h", "XDG_CACHE_HOME": "relative"}, "linux", ("/h/.cache/fastbp", False)),
        ({"HOME": "/h"}, "darwin", ("/h/Library/Caches/fastbp", False)),
        ({"LOCALAPPDATA": "/l"}, "win32", ("/l/fastbp/Cache", False)),
        ({}, "win32", (None, False)),
    ],
)
def test_cache_dir_priority(environ, platform, expected):
    base, explicit = _cache.default_cache_base(environ, platform)
    assert (None if base is None else str(base), explicit) == expected


def test_cache_dir_from_environment_in_new_process(tmp_path):
    code = "from fastbp import _cache; print(_cache.cache_dir())"
    numba_dir = run_python(code, PACKAGE.parent, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    assert numba_dir.stdout.strip() == str(tmp_path / "numba" / "fastbp")
    default = run_python(code, PACKAGE.parent, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert default.stdout.strip() == str(tmp_path / "xdg" / "fastbp")


def _add_one(x):
    return x + 1.0


@pytest.mark.parametrize("damaged", ["*.nbi", "*.nbc"])
def test_unreadable_entry_is_compiled_again(tmp_path, monkeypatch, damaged):
    monkeypatch.setattr(_cache, "_FOLDER", tmp_path)
    assert _jit.kernel(_add_one)(1.0) == 2.0
    for path in tmp_path.glob(damaged):
        path.write_bytes(b"not a cache entry")
    with pytest.warns(UserWarning, match="unreadable compiled-code cache entry"):
        assert _jit.kernel(_add_one)(1.0) == 2.0
    again = _jit.kernel(_add_one)  # the entry was replaced
    assert again(1.0) == 2.0 and sum(again.stats.cache_hits.values()) == 1


def test_folder_lost_after_import_compiles_in_memory(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(_cache, "_FOLDER", tmp_path / "a-file" / "cache")
    with pytest.warns(UserWarning, match="cannot write its compiled-code cache"):
        assert _jit.kernel(_add_one)(1.0) == 2.0


def test_source_hash_follows_relative_imports(tmp_path):
    files = {
        "_jit.py": "",
        "kernels.py": "from ._jit import kernel\nfrom . import (consts,  # a comment\n    helpers as h)\n",
        "consts.py": "from .deep import X  # reached through consts\n",
        "deep.py": "",
        "helpers.py": "",
        "estimators.py": "from .kernels import run\n",  # uses kernels, defines none
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    sources = _cache.kernel_sources(tmp_path)
    assert list(sources) == ["_jit", "consts", "deep", "helpers", "kernels"]
    before = _cache.source_hash(sources)
    (tmp_path / "deep.py").write_text("X = 1\n")
    assert _cache.source_hash(_cache.kernel_sources(tmp_path)) != before
    (tmp_path / "_jit.py").unlink()
    assert _cache.kernel_sources(tmp_path) == {}  # no sources shipped: nothing to key on


def test_cache_dir_and_warm_up_are_public():
    assert fastbp.cache_dir is _cache.cache_dir
    assert {"cache_dir", "warm_up"} <= set(fastbp.__all__)
