"""Per-layer step sizes: ``learning_rate_scaling='fan_in'`` and ``intercept_learning_rate_factor``.

- The oracle: a plain-NumPy network in the NTK parametrisation (each
  weight matrix ``V / sqrt(fan_in)`` in the forward pass, as RealMLP's)
  trained by plain Adam has, at every step, the effective weights that
  fastbp's standard network trains to with 'fan_in' (step size divided by,
  and epsilon multiplied by, ``sqrt(fan_in)``); intercepts at their own
  step size; decoupled weight decay included; float64 and float32.
- Blocked batches, their parallel step's slices and the thread count do not
  change the weights.
- Off by default: the default optimizer tuple names no kernel.
"""

import numpy as np
import pytest
from sklearn.datasets import make_regression

from fastbp import BackpropRegressor, _backprop, _parallel

try:
    from . import reference as ref
    from .test_dropout import block_every_batch
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference as ref
    from test_dropout import block_every_batch

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
RTOL = {np.float64: 1e-10, np.float32: 1e-4}

N_SAMPLES, BATCH_SIZE, N_EPOCHS = 23, 7, 4  # the last batch of each epoch short
X, Y = make_regression(n_samples=N_SAMPLES, n_features=5, noise=1.0, random_state=0)
Y = Y / 100
UNITS = [5, 6, 3, 1]
LR, EPSILON, WEIGHT_DECAY = 0.02, 1e-3, 0.5  # an epsilon large enough to matter


def _start(dtype):
    rng = np.random.RandomState(1)
    coefs = [rng.uniform(-0.5, 0.5, (a, b)).astype(dtype) for a, b in zip(UNITS[:-1], UNITS[1:])]
    intercepts = [rng.uniform(-0.5, 0.5, b).astype(dtype) for b in UNITS[1:]]
    return coefs, intercepts


def _fit(dtype, scaling, intercept_factor, **changed):
    params = dict(
        hidden_layer_sizes=tuple(UNITS[1:-1]), learning_rate_init=LR, epsilon=EPSILON, alpha=0.0,
        weight_decay=WEIGHT_DECAY, batch_size=BATCH_SIZE, max_iter=N_EPOCHS, shuffle=False, warm_start=True,
        learning_rate_scaling=scaling, intercept_learning_rate_factor=intercept_factor, random_state=0,
    )  # fmt: skip
    est = BackpropRegressor(**{**params, **changed})
    est.coefs_, est.intercepts_ = _start(dtype)
    return est.fit(X.astype(dtype), Y)


def _ntk_reference(dtype, scaling, intercept_factor):
    """The NTK-parametrised network (or, without scaling, the standard one) trained by plain Adam."""
    coefs, intercepts = _start(dtype)
    coefs = [c.astype(np.float64) for c in coefs]
    intercepts = [b.astype(np.float64) for b in intercepts]
    scale = [1.0 / np.sqrt(c.shape[0]) if scaling == "fan_in" else 1.0 for c in coefs]
    V = [c / s for c, s in zip(coefs, scale)]  # the parameters Adam sees
    adam_v = ref.Adam(V, LR, epsilon=EPSILON, weight_decay=WEIGHT_DECAY)
    adam_b = ref.Adam(intercepts, LR * intercept_factor, epsilon=EPSILON)
    Xd = X.astype(dtype).astype(np.float64)
    for _ in range(N_EPOCHS):
        for start in range(0, N_SAMPLES, BATCH_SIZE):
            batch = slice(start, start + BATCH_SIZE)
            W = [v * s for v, s in zip(V, scale)]
            _, coef_grads, intercept_grads = ref.loss_grad(
                W, intercepts, Xd[batch], Y[batch].reshape(-1, 1), np.ones(len(Xd[batch])),
                "relu", "identity", 0.0, dtype,
            )  # fmt: skip
            adam_v.step(V, [g * s for g, s in zip(coef_grads, scale)], n_decayed=len(V))  # chain rule: dW/dV = s
            adam_b.step(intercepts, intercept_grads)
    return [v * s for v, s in zip(V, scale)], intercepts


@pytest.mark.parametrize("scaling, intercept_factor", [("fan_in", 1.0), ("fan_in", 0.1), (None, 0.1)])
@DTYPES
def test_fan_in_scaling_trains_the_ntk_parametrisation(dtype, scaling, intercept_factor):
    est = _fit(dtype, scaling, intercept_factor)
    coefs, intercepts = _ntk_reference(dtype, scaling, intercept_factor)
    assert est.coefs_[0].dtype == dtype
    for a, b in zip(est.coefs_ + est.intercepts_, coefs + intercepts):
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(b).max())


def test_the_scaling_changes_the_fit():
    plain = _fit(np.float64, None, 1.0)
    scaled = _fit(np.float64, "fan_in", 1.0)
    assert not np.allclose(plain.coefs_[0], scaled.coefs_[0])


@DTYPES
def test_blocks_slices_and_threads_do_not_change_the_weights(dtype, monkeypatch):
    block_every_batch(monkeypatch)
    assert _parallel.n_blocks(UNITS, N_SAMPLES) == 2  # full batches, in blocks of 12 and 11 rows
    results = []
    for n_threads, step_slice in ((1, _parallel.STEP_SLICE), (3, _parallel.STEP_SLICE), (3, 5)):
        # slices of 5 parameters cut across the groups' bounds
        monkeypatch.setattr(_parallel, "STEP_SLICE", step_slice)
        with _parallel.num_threads(n_threads):
            results.append(_fit(dtype, "fan_in", 0.1, batch_size=N_SAMPLES).coefs_)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_off_by_default():
    empty = np.empty(0)
    optimizer = _backprop.optimizer_tuple(np.float64, empty, empty)
    assert optimizer[25] == 0 and optimizer[26].size == optimizer[27].size == optimizer[28].size == 0
    est = BackpropRegressor()
    assert est.learning_rate_scaling is None and est.intercept_learning_rate_factor == 1.0
