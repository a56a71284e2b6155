"""Saving models without pickle (skops.io), and the saved state's format version.

A saved fastbp model holds only arrays and plain values, so the only types
skops asks the user to trust are fastbp's two estimator classes
(``fastbp.SKOPS_TRUSTED``).
"""

import json
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris

import fastbp
from fastbp import BackpropClassifier, BackpropRegressor

sio = pytest.importorskip("skops.io")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_CLF, Y_CLF = load_iris(return_X_y=True)
X_REG, Y_REG = load_diabetes(return_X_y=True)
X_REG = (X_REG - X_REG.mean(0)) / X_REG.std(0)

FITS = {
    "adam-clf": (BackpropClassifier, dict(max_iter=5), X_CLF, Y_CLF),
    "sgd-early-stopping-clf": (
        BackpropClassifier,
        dict(solver="sgd", early_stopping=True, max_iter=5),
        X_CLF,
        Y_CLF,
    ),
    "lbfgs-reg-float32": (
        BackpropRegressor,
        dict(solver="lbfgs", max_iter=5),
        X_REG.astype(np.float32),
        Y_REG,
    ),
    "adam-reg-warm": (BackpropRegressor, dict(max_iter=5, warm_start=True), X_REG, Y_REG),
    "quantiles-reg": (
        BackpropRegressor,
        dict(loss="quantile", quantile=[0.1, 0.9], max_iter=5),
        X_REG,
        Y_REG,
    ),
}


def _fit(name):
    Est, params, X, y = FITS[name]
    return Est(hidden_layer_sizes=(6,), random_state=0, **params).fit(X, y), X, y


@pytest.mark.parametrize("name", sorted(FITS))
def test_skops_round_trip_in_a_new_process(name, tmp_path):
    est, X, y = _fit(name)
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    assert sio.get_untrusted_types(file=path) == [f"fastbp._estimators.{type(est).__name__}"]
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "expected.npy", est.predict(X))
    code = f"""
import numpy as np, skops.io as sio, warnings, fastbp
warnings.simplefilter("ignore")
X, y = np.load(r"{tmp_path / "X.npy"}"), np.load(r"{tmp_path / "y.npy"}")
model = sio.load(r"{path}", trusted=fastbp.SKOPS_TRUSTED)
assert np.array_equal(model.predict(X), np.load(r"{tmp_path / "expected.npy"}"))
if model.solver != "lbfgs" and not model.early_stopping:
    model.partial_fit(X, y, **({{"classes": model.classes_}} if hasattr(model, "classes_") else {{}}))
else:  # (partial_fit refuses early stopping, as scikit-learn's)
    model.set_params(warm_start=True).fit(X, y)
print(model.n_iter_)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) >= 1  # and training went on


def test_skops_continues_training_bit_for_bit(tmp_path):
    est, X, y = _fit("adam-clf")
    loaded = sio.loads(sio.dumps(est), trusted=fastbp.SKOPS_TRUSTED)
    for model in (est, loaded):
        model.partial_fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, loaded.coefs_ + loaded.intercepts_):
        np.testing.assert_array_equal(a, b)


def _tampered(est, tmp_path, edit):
    """A skops file of ``est`` with ``edit(schema, archive_files)`` applied to it."""
    source, target = tmp_path / "model.skops", tmp_path / "tampered.skops"
    sio.dump(est, source)
    with zipfile.ZipFile(source) as zin:
        files = {name: zin.read(name) for name in zin.namelist()}
    schema = json.loads(files["schema.json"])
    edit(schema, files)
    files["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(target, "w") as zout:
        for name, data in files.items():
            zout.writestr(name, data)
    return target


def _find(node, key):
    """The schema node of attribute ``key`` anywhere below ``node``."""
    if isinstance(node, dict):
        if key in node:
            return node[key]
        for value in node.values():
            found = _find(value, key)
            if found is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _find(value, key)
            if found is not None:
                return found
    return None


def test_a_file_with_an_unexpected_type_is_refused_and_nothing_runs(tmp_path):
    est, _, _ = _fit("adam-clf")

    def swap_type(schema, files):
        state = _find(schema, "_network_state")
        state["__module__"], state["__class__"] = "os", "system"  # a call, if it were ever made

    path = _tampered(est, tmp_path, swap_type)
    assert "os.system" in sio.get_untrusted_types(file=path)
    with pytest.raises(Exception, match="[Uu]ntrusted"):
        sio.load(path, trusted=fastbp.SKOPS_TRUSTED)


def test_a_file_with_a_wrong_array_shape_is_refused_clearly(tmp_path):
    est, _, _ = _fit("adam-clf")

    def shorten_params(schema, files):
        params = _find(_find(schema, "_network_state"), "params")
        files[params["file"]] = _npy(np.zeros(3))

    path = _tampered(est, tmp_path, shorten_params)
    with pytest.raises(ValueError, match=r"damaged or was altered: float64 parameters of shape \(3,\)"):
        sio.load(path, trusted=fastbp.SKOPS_TRUSTED)


def _npy(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


# -- the format version -------------------------------------------------------------------


def test_saved_state_records_the_versions():
    est, _, _ = _fit("adam-clf")
    state = est.__getstate__()
    assert state["_fastbp_state"] == {"fastbp_version": fastbp.__version__, "format": 1}
    assert not any(type(v).__module__.startswith("fastbp") for v in state.values())  # plain values only


def test_a_newer_format_is_refused_clearly():
    est, _, _ = _fit("adam-clf")
    state = est.__getstate__()
    state["_fastbp_state"] = {"fastbp_version": "9.0", "format": 99}
    with pytest.raises(
        ValueError, match=r"saved by fastbp 9.0 in state format 99; fastbp .* reads formats up to 1"
    ):
        BackpropClassifier.__new__(BackpropClassifier).__setstate__(state)


def test_a_model_saved_before_versioning_still_loads():
    """Format 0: the network and optimizer objects themselves, no stamp."""
    est, X, _ = _fit("adam-clf")
    state = est.__getstate__()
    del state["_fastbp_state"]
    state["_network"] = fastbp._network.Network.from_state(state.pop("_network_state"))
    optimizer = fastbp._driver.OptimizerState.__new__(fastbp._driver.OptimizerState)
    optimizer.__dict__.update(state.pop("_optimizer_state"))
    state["_optimizer"] = optimizer
    old = BackpropClassifier.__new__(BackpropClassifier)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    np.testing.assert_array_equal(old.predict_proba(X), est.predict_proba(X))
    old.partial_fit(X, Y_CLF)  # and it trains on
