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
from fastbp._version import FORMAT_1_PARAMETERS, STATE_FORMAT

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


@pytest.mark.parametrize("params", [{}, dict(hidden_layer_sizes=(4, 3), activation=["gelu", "tanh"])])
@pytest.mark.parametrize("newer", [STATE_FORMAT + 1, 99])
def test_a_newer_format_is_refused_clearly(params, newer):
    est = BackpropClassifier(random_state=0, max_iter=5, **{"hidden_layer_sizes": (6,), **params})
    state = est.fit(X_CLF, Y_CLF).__getstate__()
    state["_fastbp_state"] = {"fastbp_version": "9.0", "format": newer}
    with pytest.raises(
        ValueError,
        match=rf"saved by fastbp 9.0 in state format {newer}; fastbp .* reads formats up to {STATE_FORMAT}\b",
    ):
        BackpropClassifier.__new__(BackpropClassifier).__setstate__(state)


# Settings a format-1 fastbp (commit ffd8342) reads as saved, and settings
# it gets wrong: run against that commit, it refused gelu as "damaged or
# was altered", failed on a list of activations with a TypeError, and
# loaded the others but trained on without them.
FORMAT_1_SETTINGS = {
    "defaults-clf": (BackpropClassifier, {}),
    "defaults-reg": (BackpropRegressor, {}),
    "sgd-invscaling": (BackpropClassifier, dict(solver="sgd", learning_rate="invscaling")),
    "lbfgs-reg": (BackpropRegressor, dict(solver="lbfgs")),
    "format-1-options": (
        BackpropClassifier,
        dict(activation="tanh", class_weight="balanced", label_smoothing=0.1, early_stopping=True),
    ),
    "poisson": (BackpropRegressor, dict(loss="poisson", early_stopping_metric="loss")),
}
FORMAT_2_SETTINGS = {
    "gelu": (BackpropClassifier, dict(activation="gelu")),
    "per-layer": (BackpropClassifier, dict(hidden_layer_sizes=(6, 5), activation=["relu", "elu"])),
    "per-layer-relu": (BackpropClassifier, dict(hidden_layer_sizes=(6, 5), activation=("relu", "relu"))),
    "dropout": (BackpropClassifier, dict(dropout=0.2)),
    "dropout-per-layer": (BackpropClassifier, dict(dropout=[0.0])),
    "weight_decay": (BackpropClassifier, dict(weight_decay=0.01)),
    "max_grad_norm": (BackpropClassifier, dict(max_grad_norm=1.0)),
    "cosine": (BackpropClassifier, dict(learning_rate="cosine")),
    "warmup_fraction": (BackpropClassifier, dict(learning_rate="warmup_cosine", warmup_fraction=0.2)),
    "huber": (BackpropRegressor, dict(loss="huber", delta=0.5)),
    "absolute_error": (BackpropRegressor, dict(loss="absolute_error")),
    "quantile": (BackpropRegressor, dict(loss="quantile", quantile=0.9)),
    "quantiles": (BackpropRegressor, dict(loss="quantile", quantile=[0.1, 0.9])),
}


def _fit_setting(Est, params):
    X, y = (X_CLF, Y_CLF) if Est is BackpropClassifier else (X_REG, Y_REG - Y_REG.min())
    est = Est(**{"hidden_layer_sizes": (6,), "random_state": 0, "max_iter": 5, **params})
    return est.fit(X, y), X, y


@pytest.mark.parametrize("name", sorted(FORMAT_1_SETTINGS) + sorted(FORMAT_2_SETTINGS))
def test_a_model_is_stamped_with_the_oldest_format_that_holds_it(name):
    est, X, _ = _fit_setting(*{**FORMAT_1_SETTINGS, **FORMAT_2_SETTINGS}[name])
    state = est.__getstate__()
    expected = 1 if name in FORMAT_1_SETTINGS else STATE_FORMAT
    assert state["_fastbp_state"] == {"fastbp_version": fastbp.__version__, "format": expected}
    loaded = pickle.loads(pickle.dumps(est))  # this fastbp reads both
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_a_network_a_format_1_reader_does_not_know_needs_format_2():
    # the activation parameter set back after fitting: the network is still gelu's
    est, _, _ = _fit_setting(BackpropClassifier, dict(activation="gelu"))
    est.set_params(activation="relu")
    assert est.__getstate__()["_fastbp_state"]["format"] == STATE_FORMAT


@pytest.mark.parametrize("name", sorted(FORMAT_1_SETTINGS))
def test_a_format_1_model_loads_and_trains_on(name):
    """A file a format-1 fastbp wrote: this state without the parameters added since.

    Its saved state had exactly the keys this fastbp writes for these
    settings, less those parameters (checked against commit ffd8342).
    """
    Est, params = FORMAT_1_SETTINGS[name]
    est, X, y = _fit_setting(Est, params)
    state = est.__getstate__()
    added = set(est.get_params()) - FORMAT_1_PARAMETERS
    assert added >= {"dropout", "weight_decay", "max_grad_norm", "warmup_fraction"}
    for parameter in added:
        del state[parameter]
    state["_fastbp_state"] = {"fastbp_version": "0.1.0", "format": 1}
    old = Est.__new__(Est)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    np.testing.assert_array_equal(old.predict(X), est.predict(X))
    assert old.get_params() == est.get_params()  # the parameters added since at their defaults
    if est.solver == "lbfgs" or est.early_stopping:  # (partial_fit refuses early stopping)
        est.set_params(warm_start=True, max_iter=2)
        old.set_params(warm_start=True, max_iter=2)
    for model in (est, old):  # trains on exactly as the model it was
        (model.partial_fit if not model.warm_start else model.fit)(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, old.coefs_ + old.intercepts_):
        np.testing.assert_array_equal(a, b)


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
