"""The hidden activations beyond scikit-learn's four, and one activation per hidden layer.

- Each activation's ``f(z)`` and ``f'(z)`` as the kernels compute them,
  against the plain formulas of the reference MLP (``tests/reference.py``)
  and against numbers PyTorch computed, in float64 and float32; NaN in,
  NaN out; finite extremes give the limits.
- Whole networks: gradients by central differences, and loss, gradient,
  training epochs and predictions against the reference MLP, for every
  activation and for mixed per-layer activations.
- Estimators: a fit's trajectory against the reference from the same
  initial draws; Glorot factors per layer; ``to_sklearn``; saving and
  loading; the kernel of these activations compiled only when used.
"""

import pickle

import joblib
import numba
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

import fastbp
from fastbp import BackpropClassifier, BackpropRegressor, _activations
from fastbp._jit import FASTMATH
from fastbp._network import Network, as_kernel_data

try:
    from . import reference as ref
    from . import test_gradcheck as gradcheck
    from . import test_kernels as kernels
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference as ref
    import test_gradcheck as gradcheck
    import test_kernels as kernels

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

NEW = ref.NEW_HIDDEN_ACTIVATIONS
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
# mixed per-layer activations for two hidden layers: new with new, new with
# scikit-learn's, kinked with smooth
PER_LAYER = [("gelu", "tanh"), ("relu", "selu"), ("mish", "leaky_relu"), ("softplus", "silu")]


# -- element by element ------------------------------------------------------------


# compiled like the kernels, not cached (a cached test kernel would not
# notice a changed kernel source); the activations other than relu and
# identity run in their own kernel, called at ``address``
@numba.njit(fastmath=FASTMATH, error_model="numpy")
def _apply(Z, code, derivs, delta, address):
    bias = np.zeros(Z.shape[1], Z.dtype)
    _activations.add_bias_activate_inplace(Z, bias, code, derivs, address)
    _activations.activation_derivative_inplace(Z, delta, code, derivs, address)


def kernel_values(name, z, dtype=np.float64):
    """``(f(z), f'(z))`` of the kernels for a 1-D ``z``, computed in ``dtype``."""
    Z = np.array(z, dtype=dtype).reshape(1, -1)
    derivs, delta = np.empty_like(Z), np.ones_like(Z)
    code = _activations.HIDDEN_CODES[name]
    _apply(Z, code, derivs, delta, _activations.hidden_kernel_address(code, dtype))
    return Z[0], delta[0]


Z_GRID = np.concatenate(
    [
        np.linspace(-40, 40, 4001),
        -np.geomspace(1e-12, 1, 100),
        np.geomspace(1e-12, 1, 100),
        [0.0, -0.0],
    ]
)


@pytest.mark.parametrize("name", ref.ALL_HIDDEN_ACTIVATIONS)
def test_forward_and_derivative_match_the_formulas_in_float64(name):
    a, d = kernel_values(name, Z_GRID)
    with np.errstate(over="ignore"):
        expected_a = ref.hidden_activation(name, Z_GRID)
        expected_d = ref.hidden_derivative(name, Z_GRID)
    # rtol: a few ulp of the kernels' exp/erfc/log1p (measured: 5e-15 or
    # less where |f| > 1e-15); atol: rounding near the zeros of silu', mish'
    # and gelu' (z around -1) and of tanh' written through the output
    np.testing.assert_allclose(a, expected_a, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(d, expected_d, rtol=1e-13, atol=1e-15)


# computed in float64 and rounded once for float32 networks (or, leaky_relu,
# one float32 product); the others compute in float32 (see _elementary)
ROUNDED_IN_FLOAT32 = ("identity", "logistic", "tanh", "relu", "leaky_relu")


def _float32_values(name):
    z = Z_GRID.astype(np.float32)
    a, d = kernel_values(name, z, np.float32)
    assert a.dtype == d.dtype == np.float32
    z64 = z.astype(np.float64)
    with np.errstate(over="ignore"):
        return z64, a, d, ref.hidden_activation(name, z64), ref.hidden_derivative(name, z64)


@pytest.mark.parametrize("name", ROUNDED_IN_FLOAT32)
def test_forward_and_derivative_in_float32_are_the_float64_values_rounded(name):
    _, a, d, expected_a, expected_d = _float32_values(name)
    # one rounding to float32 (half an ulp, 2^-24 relative) of a value
    # computed in float64, or, for leaky_relu, one float32 product; the
    # derivatives written through the output (tanh, logistic) add a float32
    # rounding of their own
    rtol = 2**-22 if name in ("tanh", "logistic") else 2**-23
    np.testing.assert_allclose(a, expected_a, rtol=rtol, atol=1e-37)
    np.testing.assert_allclose(
        d, expected_d, rtol=rtol, atol=2**-24 if name in ("tanh", "logistic") else 1e-37
    )


def float32_rtol(z):
    """The relative error allowed in float32 at ``z`` (see the test below)."""
    return 2**-21 * (1.0 + z * z)


@pytest.mark.parametrize("name", sorted(set(NEW) - set(ROUNDED_IN_FLOAT32)))
def test_forward_and_derivative_computed_in_float32_are_within_float32_rounding(name):
    """Four float32 ulp, grown by exp's condition number where its argument grows like z^2.

    exp(-z^2 / 2) (gelu), exp(-|y|) with y ~ z^3 (gelu_tanh) and their kin
    turn the rounding of their argument u into a relative error of u
    rounding errors: the (1 + z^2) factor. Measured: at most 0.72 of this
    bound (gelu). The derivatives cross zero (silu', mish', gelu' near z =
    -1), where the error is an absolute one of values of order 1: the atol.
    """
    z64, a, d, expected_a, expected_d = _float32_values(name)
    rtol = float32_rtol(z64)
    # (values below TAIL_FLUSH, 1e-19, are 0: see _activations.flushed)
    assert np.all(np.abs(a - expected_a) <= rtol * np.abs(expected_a) + _activations.TAIL_FLUSH)
    assert np.all(np.abs(d - expected_d) <= rtol * np.abs(expected_d) + 2**-22)


# f(z) and f'(z) by PyTorch 2.13.0 (CPU wheel), float64: torch.nn.functional
# leaky_relu, elu, selu, gelu, gelu(approximate="tanh"), silu, mish and
# softplus at TORCH_Z, derivatives by torch.autograd.grad(f(x).sum(), x);
# computed once, torch not installed for the tests
TORCH_Z = (-30.0, -8.0, -3.0, -1.0, -0.25, -1e-3, 0.0, 1e-3, 0.5, 2.0, 6.0, 25.0)
TORCH = {
    "leaky_relu": (
        (-0.3, -0.08, -0.03, -0.01, -0.0025, -1e-05, 0.0, 0.001, 0.5, 2.0, 6.0, 25.0),
        (0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 1.0, 1.0, 1.0, 1.0, 1.0),
    ),
    "elu": (
        (-0.9999999999999064, -0.9996645373720975, -0.950212931632136, -0.6321205588285577,
         -0.22119921692859512, -0.0009995001666250085, 0.0, 0.001, 0.5, 2.0, 6.0, 25.0),
        (9.357622968840175e-14, 0.00033546262790251185, 0.049787068367863944, 0.36787944117144233,
         0.7788007830714049, 0.999000499833375, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    ),
    "selu": (
        (-1.758099340847212, -1.7575095642223824, -1.6705687287671118, -1.1113307378125625,
         -0.388890197478119, -0.0017572205841202705, 0.0, 0.0010507009873554805, 0.5253504936777402,
         2.101401974710961, 6.304205924132883, 26.26752468388701),
        (1.6451630773416182e-13, 0.0005897766249943349, 0.08753061208026487, 0.646768603034814,
         1.3692091433692577, 1.7563421202632563, 1.7580993408473766, 1.0507009873554805,
         1.0507009873554805, 1.0507009873554805, 1.0507009873554805, 1.0507009873554805),
    ),
    "gelu": (
        (-0.0, -4.884981308350689e-15, -0.00404969409489031, -0.15865525393145702, -0.10032341857926907,
         -0.000499601057786089, 0.0, 0.000500398942213911, 0.34573123063700656, 1.9544997361036416,
         5.999999994080474, 25.0),
        (-4.420938404635643e-195, -3.9807546004751306e-14, -0.01194564720418392, -0.08331547058768635,
         0.304626645116364, 0.4992021157051586, 0.5, 0.5007978842948414, 0.8674951246561629,
         1.085231801078197, 1.0000000354687093, 1.0),
    ),
    "gelu_tanh": (
        (-0.0, -0.0, -0.0036373920817729943, -0.15880800939172324, -0.100324649298315,
         -0.000499601057786418, 0.0, 0.000500398942213582, 0.34571400982514394, 1.954597694087775,
         5.9999999999156035, 25.0),
        (0.0, 0.0, -0.011584166630969648, -0.08296408384578252, 0.30464590484893955, 0.499202115706475,
         0.5, 0.500797884293525, 0.8673699035346424, 1.0860992566236183, 1.0000000007709977, 1.0),
    ),
    "silu": (
        (-2.8072868906517896e-12, -0.002682801043731825, -0.14227761953270035, -0.2689414213699951,
         -0.10945587477855048, -0.0004997500000208334, 0.0, 0.0005002499999791667, 0.3112296656009273,
         1.7615941559557646, 5.985164261060192, 24.9999999996528),
        (-2.713710660963134e-12, -0.0023465512355853157, -0.08810410601516962, 0.07232948812851325,
         0.37628997842980233, 0.4995000000833333, 0.5, 0.5004999999166666, 0.7399611873026519,
         1.0907842487848955, 1.0123264325915249, 1.000000000333312),
    ),
    "mish": (
        (-2.807286890651921e-12, -0.002683250882546538, -0.1456474612756246, -0.30340146137410895,
         -0.129926963679141, -0.0005996799840458665, 0.0, 0.000600319983954133, 0.3752452113048951,
         1.9439589595339946, 5.999926634065252, 25.0),
        (-2.713710660963392e-12, -0.0023473943816052943, -0.09339311453232084, 0.059216755877395014,
         0.43981560172180506, 0.5993599521834649, 0.6, 0.6006399518165315, 0.8864243753577272,
         1.0693179342794896, 1.00013414050621, 1.0),
    ),
    "softplus": (
        (9.357622968839737e-14, 0.00033540637289576885, 0.04858735157374206, 0.31326168751822286,
         0.5759394198788436, 0.6926473055599401, 0.6931471805599453, 0.6936473055599401,
         0.9740769841801067, 2.1269280110429727, 6.00247568513773, 25.0),
        (9.3576229688393e-14, 0.00033535013046647816, 0.04742587317756679, 0.2689414213699951,
         0.4378234991142019, 0.49975000002083336, 0.5, 0.5002499999791666, 0.6224593312018546,
         0.8807970779778824, 0.9975273768433652, 1.0),
    ),
}  # fmt: skip


@DTYPES
@pytest.mark.parametrize("name", NEW)
def test_forward_and_derivative_match_pytorch(name, dtype):
    """PyTorch's conventions: the slope taken at 0 (leaky_relu 0.01, selu lambda alpha), selu's constants.

    rtol 1e-10 in float64 leaves room for PyTorch's own shortcuts: softplus
    returns z beyond z = 20 (25 + 1.4e-11 here), and gelu's 1 + erf(z)
    loses digits for z << 0 (at -8, 2%: the atol). In float32, the bounds of
    the two tests above.
    """
    a, d = kernel_values(name, TORCH_Z, dtype)
    expected_a, expected_d = TORCH[name]
    if dtype == np.float32 and name not in ROUNDED_IN_FLOAT32:
        rtol = float32_rtol(np.asarray(TORCH_Z))
        assert np.all(np.abs(a - expected_a) <= rtol * np.abs(expected_a) + 1e-15)
        assert np.all(np.abs(d - expected_d) <= rtol * np.abs(expected_d) + 2**-22)
    else:
        rtol = 1e-10 if dtype == np.float64 else 2**-23
        np.testing.assert_allclose(a, expected_a, rtol=rtol, atol=1e-15)
        np.testing.assert_allclose(d, expected_d, rtol=rtol, atol=1e-15)


@DTYPES
@pytest.mark.parametrize("name", NEW)
def test_nan_stays_nan_in_the_activation_and_its_derivative(name, dtype):
    a, d = kernel_values(name, [np.nan, 1.0], dtype)
    assert np.isnan(a[0]) and np.isnan(d[0])
    assert np.isfinite(a[1]) and np.isfinite(d[1])


# f and f' towards -inf and +inf: (f(-big), f'(-big), f(big) / big, f'(big))
LIMITS = {
    "leaky_relu": (None, 0.01, 1.0, 1.0),
    "elu": (-1.0, 0.0, 1.0, 1.0),
    "selu": (-ref.SELU_SCALE * ref.SELU_ALPHA, 0.0, ref.SELU_SCALE, ref.SELU_SCALE),
    "gelu": (0.0, 0.0, 1.0, 1.0),
    "gelu_tanh": (0.0, 0.0, 1.0, 1.0),
    "silu": (0.0, 0.0, 1.0, 1.0),
    "mish": (0.0, 0.0, 1.0, 1.0),
    "softplus": (0.0, 0.0, 1.0, 1.0),
}


@DTYPES
@pytest.mark.parametrize("name", NEW)
def test_extreme_inputs_give_the_limits(name, dtype):
    big = 1e300 if dtype == np.float64 else 1e30
    for z in (big, 1e3, 800.0):
        (a_low, a_high), (d_low, d_high) = kernel_values(name, [-z, z], dtype)
        f_low, fprime_low, slope_high, fprime_high = LIMITS[name]
        expected_low = -LIMITS["leaky_relu"][1] * z if f_low is None else f_low
        np.testing.assert_allclose([a_low, d_low], [expected_low, fprime_low], rtol=1e-6, atol=1e-300)
        np.testing.assert_allclose([a_high / z, d_high], [slope_high, fprime_high], rtol=1e-6)


# -- whole networks ----------------------------------------------------------------

OUTS = pytest.mark.parametrize("out", ["identity", "softmax"])


@DTYPES
@OUTS
@pytest.mark.parametrize("activation", [*NEW, *PER_LAYER], ids=str)
def test_network_gradient_matches_finite_differences(activation, out, dtype):
    """Central differences of the loss, as in test_gradcheck, at its tolerances.

    float32 (its 1e-3): the loss is rounded to float32 (2^-24 relative), so
    a step of 3e-3 leaves a difference error near 1e-5 of the gradient, and
    the float32 forward pass adds its own rounding.
    """
    hidden = (5, 3) if isinstance(activation, tuple) else (5,)
    network, data = gradcheck.make_problem(hidden, activation, out, gradcheck.N_OUTPUTS[out], dtype)
    rel_error, _, _ = gradcheck.check_gradient(network, data, dtype)
    assert rel_error < gradcheck.TOLERANCE[dtype], f"relative error {rel_error:.2e}"


REFERENCE_CASES = pytest.mark.parametrize(
    "hidden, activation",
    [((5,), name) for name in NEW] + [((5, 4), names) for names in PER_LAYER],
    ids=str,
)


@kernels.SPARSE
@DTYPES
@OUTS
@REFERENCE_CASES
def test_loss_gradient_epochs_and_predictions_match_the_reference(hidden, activation, out, dtype, sparse):
    # the kernel tests' own bodies, for these activations
    kernels.test_batch_loss_grad(hidden, activation, out, dtype, True, sparse)
    kernels.test_full_loss_grad_into(hidden, activation, out, dtype, True, sparse, 7)
    kernels.test_run_epoch(hidden, activation, out, dtype, True, sparse, "adam")
    kernels.test_predict_into(hidden, activation, out, dtype, sparse)


@DTYPES
@pytest.mark.parametrize("activation", ["gelu", ("silu", "tanh")], ids=str)
def test_nan_weights_give_nan_loss_gradient_and_predictions(activation, dtype):
    units = [4, 3, 3, 2] if isinstance(activation, tuple) else [4, 3, 2]
    network = Network(units, activation, "identity", dtype)
    network.params[...] = np.random.RandomState(0).uniform(-0.5, 0.5, network.n_params)
    network.coefs[0][1, 2] = np.nan
    X, Y = np.random.RandomState(1).normal(size=(6, 4)), np.zeros((6, 2))
    data = as_kernel_data(X, Y, dtype=dtype, n_outputs=2)
    grad = np.empty(network.n_params, dtype=dtype)
    loss = fastbp._backprop.full_loss_grad_into(
        network.net(), data, network.workspace(6, False), 0.0, 6, grad
    )
    assert np.isnan(loss) and np.isnan(grad).any()
    out = np.empty((6, 2), dtype=dtype)
    work = network.workspace(6, False, gradient=False)
    fastbp._backprop.predict_into(network.net(), as_kernel_data(X, dtype=dtype, n_outputs=2), work, out)
    assert np.isnan(out).all()


# -- estimators --------------------------------------------------------------------

X_REG, Y_REG = make_regression(n_samples=60, n_features=5, noise=0.5, random_state=0)
Y_REG = Y_REG / Y_REG.std()
X_CLF, Y_CLF = make_classification(n_samples=60, n_features=5, n_informative=3, n_classes=3, random_state=0)


def glorot_draws(units, factors, seed):
    """scikit-learn's Glorot-uniform draws, layer by layer, with the given factors."""
    rng = np.random.RandomState(seed)
    coefs, intercepts = [], []
    for fan_in, fan_out, factor in zip(units[:-1], units[1:], factors):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return coefs, intercepts


@DTYPES
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_fit_follows_the_reference_trajectory(solver, dtype):
    """Three epochs of a per-layer-activation fit against the reference MLP from the same draws."""
    activation = ("gelu", "mish")
    est = BackpropRegressor(
        hidden_layer_sizes=(6, 4), activation=activation, solver=solver, batch_size=16, shuffle=False,
        learning_rate_init=0.01, alpha=1e-3, max_iter=3, tol=0, random_state=0,
    )  # fmt: skip
    X = X_REG.astype(dtype)
    est.fit(X, Y_REG)

    units = [5, 6, 4, 1]
    coefs, intercepts = glorot_draws(units, [6.0, 6.0, 6.0], seed=0)
    # the reference starts from the draws rounded to the model's dtype
    coefs = [c.astype(dtype).astype(np.float64) for c in coefs]
    intercepts = [b.astype(dtype).astype(np.float64) for b in intercepts]
    params = coefs + intercepts
    optimizer = ref.Adam(params, 0.01) if solver == "adam" else ref.SGD(params, 0.01)
    rows = np.arange(len(X))
    Y = Y_REG.astype(dtype).astype(np.float64)[:, None]
    losses = []
    for _ in range(3):
        loss_sum = ref.run_epoch(
            coefs, intercepts, X.astype(np.float64), Y, np.ones(len(X)), rows, 16,
            list(activation), "identity", 1e-3, optimizer, dtype,
        )  # fmt: skip
        losses.append(loss_sum / len(X))
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(est.loss_curve_, losses, rtol=rtol)
    for got, expected in zip(est.coefs_ + est.intercepts_, coefs + intercepts):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize(
    "activation, factors",
    [
        ("logistic", [2.0, 2.0, 2.0]),
        ("gelu", [6.0, 6.0, 6.0]),
        (("logistic", "relu"), [2.0, 6.0, 6.0]),
        (("relu", "logistic"), [6.0, 2.0, 2.0]),
        (["selu", "logistic"], [6.0, 2.0, 2.0]),
    ],
    ids=str,
)
def test_glorot_factor_of_each_matrix_is_the_activation_after_it(activation, factors):
    est = BackpropRegressor(hidden_layer_sizes=(7, 5), activation=activation)
    network = est._new_network([4, 7, 5, 3], np.float64, np.random.RandomState(3))
    coefs, intercepts = glorot_draws([4, 7, 5, 3], factors, seed=3)
    for got, expected in zip(network.coefs + network.intercepts, coefs + intercepts):
        np.testing.assert_array_equal(got, expected)


def test_one_activation_in_a_list_trains_as_the_name_alone():
    # the name alone follows scikit-learn's trajectory (test_sklearn_oracle)
    fits = [
        BackpropClassifier(hidden_layer_sizes=(6, 3), activation=a, max_iter=3, random_state=0).fit(
            X_CLF, Y_CLF
        )
        for a in ("logistic", ["logistic", "logistic"])
    ]
    for a, b in zip(fits[0].coefs_ + fits[0].intercepts_, fits[1].coefs_ + fits[1].intercepts_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("Est, X, y", [(BackpropClassifier, X_CLF, Y_CLF), (BackpropRegressor, X_REG, Y_REG)])
def test_float32_stays_float32(Est, X, y):
    est = Est(hidden_layer_sizes=(6, 4), activation=("silu", "elu"), max_iter=3, random_state=0)
    est.fit(X.astype(np.float32), y)
    assert all(a.dtype == np.float32 for a in est.coefs_ + est.intercepts_)
    out = (
        est.predict_proba(X.astype(np.float32))
        if Est is BackpropClassifier
        else est.predict(X.astype(np.float32))
    )
    assert out.dtype == np.float32 and np.isfinite(out).all()


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_warm_start_takes_the_same_activations_in_either_form(solver):
    est = BackpropClassifier(hidden_layer_sizes=(6, 4), activation="gelu", solver=solver, max_iter=2)
    est.fit(X_CLF, Y_CLF)
    est.set_params(warm_start=True, activation=["gelu", "gelu"]).fit(X_CLF, Y_CLF)
    with pytest.raises(ValueError, match="same architecture"):
        est.set_params(activation=["gelu", "tanh"]).fit(X_CLF, Y_CLF)


@pytest.mark.parametrize("activation", ["gelu", ("relu", "tanh"), ("tanh", "selu")], ids=str)
def test_to_sklearn_refuses_activations_scikit_learn_lacks(activation):
    est = BackpropClassifier(hidden_layer_sizes=(6, 4), activation=activation, max_iter=2).fit(X_CLF, Y_CLF)
    with pytest.raises(ValueError, match="MLPClassifier cannot reproduce this model's activation="):
        est.to_sklearn()


def test_to_sklearn_takes_one_of_its_activations_given_per_layer():
    est = BackpropClassifier(
        hidden_layer_sizes=(6, 4), activation=["tanh", "tanh"], max_iter=5, random_state=0
    )
    est.fit(X_CLF, Y_CLF)
    mlp = est.to_sklearn()
    assert mlp.activation == "tanh"
    np.testing.assert_allclose(mlp.predict_proba(X_CLF), est.predict_proba(X_CLF), rtol=1e-12)


def _round_trip(est, how, tmp_path):
    if how == "pickle":
        return pickle.loads(pickle.dumps(est))
    if how == "joblib-mmap":
        joblib.dump(est, tmp_path / "model.joblib")
        return joblib.load(tmp_path / "model.joblib", mmap_mode="r")
    sio = pytest.importorskip("skops.io")
    return sio.loads(sio.dumps(est), trusted=fastbp.SKOPS_TRUSTED)


@pytest.mark.parametrize("how", ["pickle", "joblib-mmap", "skops"])
@pytest.mark.parametrize("activation", ["softplus", ("elu", "logistic")], ids=str)
def test_saved_model_keeps_its_activations_and_continues_training(activation, how, tmp_path):
    est = BackpropClassifier(hidden_layer_sizes=(6, 4), activation=activation, max_iter=3, random_state=0)
    est.fit(X_CLF, Y_CLF)
    loaded = _round_trip(est, how, tmp_path)
    assert loaded._network.activation == est._network.activation
    np.testing.assert_array_equal(loaded.predict_proba(X_CLF), est.predict_proba(X_CLF))
    for model in (est, loaded):
        model.partial_fit(X_CLF, Y_CLF)
    for a, b in zip(est.coefs_ + est.intercepts_, loaded.coefs_ + loaded.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_network_state_holds_a_name_or_a_list_of_names():
    one = Network([3, 4, 2], "gelu", "identity", np.float64)
    per_layer = Network([3, 4, 4, 2], ("gelu", "relu"), "identity", np.float64)
    assert one.to_state()["activation"] == "gelu"  # as saved before per-layer activations
    assert per_layer.to_state()["activation"] == ["gelu", "relu"]
    for network in (one, per_layer):
        again = Network.from_state(network.to_state())
        assert again.activation == network.activation
        np.testing.assert_array_equal(again.hidden_codes, network.hidden_codes)
        unpickled = pickle.loads(pickle.dumps(network))
        assert numba.typeof(unpickled.net()) == numba.typeof(network.net())


@pytest.mark.parametrize(
    "activation",
    [["gelu"], ["gelu", "relu", "tanh"], ["gelu", "swish"], ["gelu", 3], ("gelu", "relu"), 7, None],
    ids=str,
)
def test_altered_network_state_is_refused(activation):
    state = Network([3, 4, 4, 2], ("gelu", "relu"), "identity", np.float64).to_state()
    state["activation"] = activation
    with pytest.raises(ValueError, match="damaged or was altered: activations"):
        Network.from_state(state)
