"""Fitted models shared by threads, reproduced across processes, pickled and memory-mapped."""

import hashlib
import inspect
import io
import os
import pickle
import pickletools
import subprocess
import sys
import threading
import types

import joblib
import numba
import numpy as np
import pytest
from scipy import sparse

import fastbp
from fastbp import BackpropClassifier, BackpropRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_THREADS = 8
# 1 row: no BLAS limit; 50: still under the 64-row threshold; 700: BLAS limit
# and two 512-row chunks
SIZES = (1, 50, 700)


def _make_data():
    """Training data of every test here (also run, as source, in the fresh process).

    Features of small magnitude are zeroed so that the CSR form is sparse.
    """
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=800, n_features=12, n_informative=6, n_classes=3, random_state=0)
    X[np.abs(X) < 0.8] = 0.0
    target = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * y
    return X, y, target


# name -> (estimator, params, dtype, CSR training data, binary target)
CASES = {
    "clf64": ("BackpropClassifier", {}, "float64", False, False),
    "clf32": ("BackpropClassifier", {}, "float32", False, False),
    "clf32_binary": ("BackpropClassifier", {}, "float32", False, True),
    "clf64_csr": ("BackpropClassifier", {}, "float64", True, False),
    "reg64": ("BackpropRegressor", {}, "float64", False, False),
    "reg32": ("BackpropRegressor", {}, "float32", False, False),
    "reg32_csr": ("BackpropRegressor", {}, "float32", True, False),
    "reg64_quantiles": (
        "BackpropRegressor",
        {"loss": "quantile", "quantile": [0.1, 0.9]},
        "float64",
        False,
        False,
    ),
}
BASE_PARAMS = dict(hidden_layer_sizes=(8,), max_iter=5, learning_rate_init=0.01, random_state=0)

# fits that must be bit-identical within this process and in a fresh one
DETERMINISM = {
    f"{solver}_{dtype}": (
        "BackpropClassifier",
        dict(BASE_PARAMS, solver=solver, hidden_layer_sizes=(16,)),
        dtype,
        False,
        False,
    )
    for solver in ("adam", "sgd", "lbfgs")
    for dtype in ("float64", "float32")
}
DETERMINISM["sgd_invscaling_float64_csr"] = (
    "BackpropClassifier",
    dict(BASE_PARAMS, solver="sgd", learning_rate="invscaling", learning_rate_init=0.1),
    "float64",
    True,
    False,
)
DETERMINISM["reg_adam_float32"] = ("BackpropRegressor", dict(BASE_PARAMS), "float32", False, False)
DETERMINISM["reg_lbfgs_float64_csr"] = (
    "BackpropRegressor",
    dict(BASE_PARAMS, solver="lbfgs"),
    "float64",
    True,
    False,
)


def _fit_case(estimator, params, dtype, csr, binary):
    X, y, target = _make_data()
    X = X.astype(dtype)
    if csr:
        X = sparse.csr_matrix(X)
    if estimator == "BackpropClassifier":
        return BackpropClassifier(**params).fit(X, y == 1 if binary else y)
    return BackpropRegressor(**params).fit(X, target)


def _flat_params(est):
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


def _methods(est):
    return ("predict", "predict_proba") if isinstance(est, BackpropClassifier) else ("predict",)


def _prediction_inputs(dtype, csr):
    """Inputs of 1, 50 and 700 rows; CSR ones for models trained on CSR."""
    X = _make_data()[0]
    inputs = {}
    for n in SIZES:
        rows = np.ascontiguousarray(X[:n], dtype=dtype)
        inputs[f"dense{n}"] = rows
        if csr:
            inputs[f"csr{n}"] = sparse.csr_matrix(rows)
    # the other dtype takes the full validation path, then the model's dtype
    other = np.float32 if dtype == "float64" else np.float64
    inputs["other_dtype700"] = np.ascontiguousarray(X[:700], dtype=other)
    return inputs


def _predictions(est, inputs):
    return {(name, method): getattr(est, method)(X) for name, X in inputs.items() for method in _methods(est)}


def _assert_same_predictions(expected, observed):
    assert expected.keys() == observed.keys()
    for key in expected:
        assert observed[key].dtype == expected[key].dtype, key
        np.testing.assert_array_equal(observed[key], expected[key], err_msg=str(key))


def _assert_same_fit(a, b):
    assert len(a.coefs_) == len(b.coefs_)
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert ca.dtype == cb.dtype
        np.testing.assert_array_equal(ca, cb)
    assert a.n_iter_ == b.n_iter_
    assert a.t_ == b.t_
    if hasattr(a, "loss_curve_"):
        np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fitted():
    return {name: _fit_case(*spec) for name, spec in CASES.items()}


@pytest.fixture(scope="module")
def expected(fitted):
    """Serial predictions of every fitted model, with its inputs."""
    out = {}
    for name, est in fitted.items():
        _, _, dtype, csr, _ = CASES[name]
        inputs = _prediction_inputs(dtype, csr)
        out[name] = (inputs, _predictions(est, inputs))
    return out


# -- 1. one model predicting in many threads at once -------------------------


def _blas_threads():
    """Thread counts of the BLAS libraries fastbp limits (SciPy's copy, which numba calls)."""
    from fastbp._threads import kernel_blas_controller

    return {lib["filepath"]: lib["num_threads"] for lib in kernel_blas_controller().info()}


@pytest.mark.parametrize("name", list(CASES))
def test_predict_from_many_threads_matches_serial(fitted, expected, name):
    est = fitted[name]
    inputs, serial = expected[name]
    keys = list(serial)
    barrier = threading.Barrier(N_THREADS)
    results = [[] for _ in range(N_THREADS)]
    errors = []

    def work(i):
        try:
            barrier.wait(timeout=30)
            for rep in range(3):
                shift = (i + rep) % len(keys)  # threads call different sizes at once
                for key in keys[shift:] + keys[:shift]:
                    input_name, method = key
                    results[i].append((key, getattr(est, method)(inputs[input_name])))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    blas_before = _blas_threads()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(len(r) == 3 * len(keys) for r in results)
    for per_thread in results:
        for key, value in per_thread:
            assert value.dtype == serial[key].dtype
            np.testing.assert_array_equal(value, serial[key], err_msg=str(key))
    # the reference-counted BLAS limit is lifted once the last thread is done
    assert _blas_threads() == blas_before
    # and the model was not changed by being shared
    _assert_same_predictions(serial, _predictions(est, inputs))


def test_blas_limit_holds_in_every_thread():
    # each thread enters the limit while another, still alive, has already
    # set and restored it (the pattern of fits and predicts in a thread pool)
    from fastbp._threads import single_threaded_blas

    seen = {}
    first_done, second_done = threading.Event(), threading.Event()

    def first():
        with single_threaded_blas():
            seen["first"] = set(_blas_threads().values())
        first_done.set()
        second_done.wait(timeout=30)  # stays alive while the second runs

    def second():
        first_done.wait(timeout=30)
        with single_threaded_blas():
            seen["second"] = set(_blas_threads().values())
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"first": {1}, "second": {1}}


# -- 2 and 3. a fresh process: same fits, same predictions of loaded models --

FRESH_SCRIPT = """
import pickle, sys, warnings
from pathlib import Path

import joblib
import numpy as np
from scipy import sparse

from fastbp import BackpropClassifier, BackpropRegressor

warnings.simplefilter("ignore")
ESTIMATORS = {"BackpropClassifier": BackpropClassifier, "BackpropRegressor": BackpropRegressor}

MAKE_DATA

workdir = Path(sys.argv[1])
job = pickle.loads((workdir / "job.pkl").read_bytes())
results = {}
for name, (estimator, params, dtype, csr, binary) in job["fits"].items():
    X, y, target = _make_data()
    X = X.astype(dtype)
    if csr:
        X = sparse.csr_matrix(X)
    est = ESTIMATORS[estimator](**params)
    est.fit(X, (y == 1 if binary else y) if estimator == "BackpropClassifier" else target)
    results["fit:" + name] = np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])
for name, fmt, path in job["models"]:
    if fmt == "joblib":
        est = joblib.load(path)
    else:
        with open(path, "rb") as f:
            est = pickle.load(f)
    for input_name, X in job["inputs"][name].items():
        for method in job["methods"][name]:
            results[f"pred:{name}:{fmt}:{input_name}:{method}"] = getattr(est, method)(X)
np.savez(workdir / "fresh.npz", **results)
"""


@pytest.fixture(scope="module")
def fresh_process(tmp_path_factory, fitted, expected):
    """One subprocess that refits DETERMINISM and predicts with dumped CASES models."""
    workdir = tmp_path_factory.mktemp("fresh")
    models = []
    for name, est in fitted.items():
        joblib.dump(est, workdir / f"{name}.joblib")
        models.append((name, "joblib", str(workdir / f"{name}.joblib")))
        with open(workdir / f"{name}.pkl", "wb") as f:
            pickle.dump(est, f)
        models.append((name, "pickle", str(workdir / f"{name}.pkl")))
    job = {
        "fits": DETERMINISM,
        "models": models,
        "inputs": {name: expected[name][0] for name in fitted},
        "methods": {name: _methods(est) for name, est in fitted.items()},
    }
    (workdir / "job.pkl").write_bytes(pickle.dumps(job))
    script = FRESH_SCRIPT.replace("MAKE_DATA", inspect.getsource(_make_data))
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, "-c", script, str(workdir)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    with np.load(workdir / "fresh.npz") as npz:
        return {key: npz[key] for key in npz.files}


@pytest.mark.parametrize("name", list(DETERMINISM))
def test_same_random_state_gives_identical_fits_here_and_in_a_fresh_process(fresh_process, name):
    first = _fit_case(*DETERMINISM[name])
    second = _fit_case(*DETERMINISM[name])
    _assert_same_fit(first, second)
    here = _flat_params(first)
    there = fresh_process["fit:" + name]
    assert there.dtype == here.dtype == np.dtype(DETERMINISM[name][2])
    np.testing.assert_array_equal(there, here)


@pytest.mark.parametrize("fmt", ["joblib", "pickle"])
@pytest.mark.parametrize("name", list(CASES))
def test_dumped_model_predicts_identically_in_a_fresh_process(fresh_process, expected, name, fmt):
    _, serial = expected[name]
    there = {
        (input_name, method): fresh_process[f"pred:{name}:{fmt}:{input_name}:{method}"]
        for input_name, method in serial
    }
    _assert_same_predictions(serial, there)


# -- 3. round trips in this process ------------------------------------------


def _round_trip(est, fmt, tmp_path):
    if fmt == "pickle":
        return pickle.loads(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL))
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    return joblib.load(path)


@pytest.mark.parametrize("fmt", ["pickle", "joblib"])
@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_keeps_predictions_bit_identical(fitted, expected, tmp_path, name, fmt):
    est = fitted[name]
    inputs, serial = expected[name]
    loaded = _round_trip(est, fmt, tmp_path)
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    _assert_same_fit(est, loaded)
    _assert_same_predictions(serial, _predictions(loaded, inputs))
    # the loaded copy is independent of the original
    assert not np.shares_memory(loaded.coefs_[0], est.coefs_[0])


# -- 4. what a pickle references ---------------------------------------------

# (protocol 2 names builtins by its Python 2 name, __builtin__)
ALLOWED_MODULES = {
    "builtins",
    "__builtin__",
    "copyreg",
    "_codecs",
    "fastbp._estimators",  # the estimator class; its state is plain arrays and values
}
# a fitted classifier keeps its LabelBinarizer, as MLPClassifier does
ALLOWED_GLOBALS = {("sklearn.preprocessing._label", "LabelBinarizer")}


class _RecordingUnpickler(pickle.Unpickler):
    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.globals = []

    def find_class(self, module, name):
        self.globals.append((module, name))
        return super().find_class(module, name)


def _pickle_globals(obj):
    """Every (module, name) a pickle of ``obj`` imports, under old and new protocols."""
    found = set()
    for protocol in (2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
        data = pickle.dumps(obj, protocol=protocol)
        unpickler = _RecordingUnpickler(data)
        unpickler.load()
        # each GLOBAL / STACK_GLOBAL opcode is one find_class call: none missed
        n_globals = sum(op.name in ("GLOBAL", "STACK_GLOBAL") for op, _, _ in pickletools.genops(data))
        assert len(unpickler.globals) == n_globals > 0
        assert b"numba" not in data
        found.update(unpickler.globals)
    return found


def _more_fitted_models():
    X, y, target = _make_data()
    yield BackpropClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    yield BackpropRegressor(hidden_layer_sizes=(8,), solver="sgd", random_state=0).partial_fit(X, target)
    yield BackpropClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5, random_state=0).fit(X, y)
    yield BackpropClassifier(
        hidden_layer_sizes=(8,), max_iter=5, early_stopping=True, random_state=np.random.RandomState(0)
    ).fit(X, y)


def _numba_values(est):
    """Attribute values (and their attributes / items, one level down) from numba."""
    found = []

    def check(where, value):
        if type(value).__module__.split(".")[0] == "numba":
            found.append((where, type(value)))

    for key, value in vars(est).items():
        check(key, value)
        children = {}
        if hasattr(value, "__dict__") and not isinstance(value, (type, types.ModuleType)):
            children = vars(value)
        elif isinstance(value, dict):
            children = value
        elif isinstance(value, (list, tuple)):
            children = dict(enumerate(value))
        for child_key, child in children.items():
            check(f"{key}.{child_key}", child)
    return found


def test_pickle_references_no_compiled_objects(fitted):
    # the checks below do see numba objects
    holder = types.SimpleNamespace(network=types.SimpleNamespace(kernel=fastbp._backprop.run))
    assert _numba_values(holder)
    with pytest.raises(AssertionError):  # b"numba" in the pickled dispatcher
        _pickle_globals(holder)
    recorder = _RecordingUnpickler(pickle.dumps(holder))
    recorder.load()
    assert any(module.startswith("numba") for module, _ in recorder.globals)
    models = list(fitted.values()) + list(_more_fitted_models())
    for est in models:
        found = _pickle_globals(est)
        modules = {module for module, _ in found}
        assert not [m for m in modules if m.split(".")[0] == "numba"], found
        unexpected = {
            (module, name)
            for module, name in found
            if module.split(".")[0] != "numpy" and module not in ALLOWED_MODULES
        } - ALLOWED_GLOBALS
        assert not unexpected, f"{type(est).__name__} pickle references {sorted(unexpected)}"
        assert (type(est).__module__, type(est).__name__) in found
        assert not _numba_values(est)


# -- 5. pickled before fit ---------------------------------------------------


def _same_params(a, b):
    pa, pb = a.get_params(), b.get_params()
    assert pa.keys() == pb.keys()
    for key in pa:
        if isinstance(pa[key], np.random.RandomState):
            state_a, state_b = pa[key].get_state(), pb[key].get_state()
            assert state_a[0] == state_b[0]
            np.testing.assert_array_equal(state_a[1], state_b[1])
            assert state_a[2:] == state_b[2:]
        else:
            assert pa[key] == pb[key], key


@pytest.mark.parametrize("seed", ["int", "RandomState"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_unfitted_pickle_fits_like_the_original(Estimator, solver, seed):
    X, y, target = _make_data()
    random_state = 0 if seed == "int" else np.random.RandomState(0)
    est = Estimator(hidden_layer_sizes=(8,), solver=solver, max_iter=5, alpha=0.01, random_state=random_state)
    loaded = pickle.loads(pickle.dumps(est))
    _same_params(est, loaded)
    yy = y if Estimator is BackpropClassifier else target
    est.fit(X, yy)
    loaded.fit(X, yy)
    _assert_same_fit(est, loaded)


# -- 6. pickled in the middle of training ------------------------------------

SOLVER_PARAMS = {
    "adam": dict(solver="adam", learning_rate_init=0.01),
    "sgd": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.01, power_t=0.25),
}


def _warm_starting(Estimator, solver, early_stopping):
    """A small warm-starting estimator that continues where it stopped."""
    return Estimator(
        hidden_layer_sizes=(8,),
        max_iter=3,
        warm_start=True,
        early_stopping=early_stopping,
        random_state=0,
        **SOLVER_PARAMS[solver],
    )


@pytest.mark.parametrize("fmt", ["pickle", "joblib"])
@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("solver", list(SOLVER_PARAMS))
@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_warm_start_continues_identically_after_a_round_trip(
    Estimator, solver, early_stopping, fmt, tmp_path
):
    X, y, target = _make_data()
    yy = y if Estimator is BackpropClassifier else target
    est = _warm_starting(Estimator, solver, early_stopping).fit(X, yy)
    loaded = _round_trip(est, fmt, tmp_path)
    est.fit(X, yy)
    loaded.fit(X, yy)
    _assert_same_fit(est, loaded)
    assert len(est.loss_curve_) == 6
    if early_stopping:
        np.testing.assert_array_equal(est.validation_scores_, loaded.validation_scores_)


def _partial_fit_steps(est, X, yy, steps, classes):
    for start in steps:
        rows = slice(start, start + 200)
        if classes is not None:
            est.partial_fit(X[rows], yy[rows], classes=classes)
        else:
            est.partial_fit(X[rows], yy[rows])
    return est


@pytest.mark.parametrize("fmt", ["pickle", "joblib"])
@pytest.mark.parametrize("csr", [False, True])
@pytest.mark.parametrize("solver", list(SOLVER_PARAMS))
@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_partial_fit_continues_identically_after_a_round_trip(Estimator, solver, csr, fmt, tmp_path):
    X, y, target = _make_data()
    if csr:
        X = sparse.csr_matrix(X.astype(np.float32))
    classes = np.unique(y) if Estimator is BackpropClassifier else None
    yy = y if Estimator is BackpropClassifier else target
    est = Estimator(hidden_layer_sizes=(8,), batch_size=32, random_state=0, **SOLVER_PARAMS[solver])
    _partial_fit_steps(est, X, yy, (0, 200, 400), classes)
    loaded = _round_trip(est, fmt, tmp_path)
    _assert_same_fit(est, loaded)
    _partial_fit_steps(est, X, yy, (600, 100, 300), classes)
    _partial_fit_steps(loaded, X, yy, (600, 100, 300), classes)
    _assert_same_fit(est, loaded)
    assert est.t_ == 6 * 200
    # the optimizer state and the random stream were carried over, not restarted
    restarted = _partial_fit_steps(
        Estimator(hidden_layer_sizes=(8,), batch_size=32, random_state=0, **SOLVER_PARAMS[solver]),
        X,
        yy,
        (600, 100, 300),
        classes,
    )
    assert not np.array_equal(_flat_params(restarted), _flat_params(est))


# -- 7. memory-mapped loading ------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_mmap_loaded_model_predicts_identically(fitted, expected, tmp_path, name):
    path = tmp_path / "model.joblib"
    joblib.dump(fitted[name], path)
    digest = _sha256(path)
    # joblib memory-maps every array of the pickle (read-only), though the
    # model may copy some of them as it is rebuilt
    loaded = joblib.load(path, mmap_mode="r")
    inputs, serial = expected[name]
    _assert_same_predictions(serial, _predictions(loaded, inputs))
    assert _sha256(path) == digest


@pytest.mark.parametrize("how", ["partial_fit", "warm_start_fit", "warm_start_fit_early_stopping"])
@pytest.mark.parametrize("solver", list(SOLVER_PARAMS))
@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_mmap_loaded_model_continues_training(Estimator, solver, how, tmp_path):
    X, y, target = _make_data()
    classes = np.unique(y) if Estimator is BackpropClassifier else None
    yy = y if Estimator is BackpropClassifier else target
    early_stopping = how == "warm_start_fit_early_stopping"
    est = _warm_starting(Estimator, solver, early_stopping)
    if early_stopping:  # partial_fit refuses early stopping
        est.fit(X, yy)
    else:
        _partial_fit_steps(est, X, yy, (0, 200), classes)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    digest, mtime = _sha256(path), path.stat().st_mtime_ns
    in_memory = joblib.load(path)
    mapped = joblib.load(path, mmap_mode="r")
    for model in (in_memory, mapped):
        if how == "partial_fit":
            _partial_fit_steps(model, X, yy, (400, 600), None)
        else:
            model.fit(X, yy)
    _assert_same_fit(in_memory, mapped)
    np.testing.assert_array_equal(mapped.predict(X), in_memory.predict(X))
    assert _sha256(path) == digest
    assert path.stat().st_mtime_ns == mtime
    # continuing did not write through to the file: a fresh load is the dumped model
    _assert_same_fit(joblib.load(path, mmap_mode="r"), est)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mmap_loaded_model_reuses_the_compiled_kernels(tmp_path, dtype):
    # the kernels are compiled per argument type, and numba types a read-only
    # array apart from a writable one: a memory-mapped model must hand the
    # kernels the same types as an in-memory one, or its first predict
    # compiles a second set of kernels (~10 s cold)
    X, y, _ = _make_data()
    est = BackpropClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X.astype(dtype), y)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    mapped = joblib.load(path, mmap_mode="r")
    assert numba.typeof(mapped._network.net()) == numba.typeof(est._network.net())
