"""Decoupled weight decay, per-step learning-rate schedules and gradient clipping.

- The compiled epoch against the plain-NumPy reference (tests/reference.py)
  over several epochs, each option alone and all together, for Adam and SGD
  in float64 and float32.
- The same against numbers written down from PyTorch (AdamW,
  CosineAnnealingLR, SequentialLR/LambdaLR, clip_grad_norm_); PyTorch is not
  needed to run these tests.
- Clipping's norm by central differences of the loss, L2 term included.
- The schedules' values at every step against their closed forms, and how
  the estimators lay out the run: its length (training rows only under early
  stopping), its restart with every ``fit``, ``partial_fit``'s refusal.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from fastbp import BackpropClassifier, BackpropRegressor, _backprop, _driver
from fastbp._network import Network, as_kernel_data
from fastbp._optimizers import ADAM, COSINE, COSLOG4, PER_EPOCH, SGD, schedule_factor

try:
    from . import reference as ref
    from .test_gradcheck import TOLERANCE, check_gradient, make_problem
    from .test_kernels import BATCH_SIZE, N_SAMPLES, Problem, assert_close
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference as ref
    from test_gradcheck import TOLERANCE, check_gradient, make_problem
    from test_kernels import BATCH_SIZE, N_SAMPLES, Problem, assert_close

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
# float64 to rounding; float32 as the other kernel tests
RTOL = {np.float64: 1e-12, np.float32: 1e-4}
ALPHA = 0.3
SCHEDULE_CODES = {"cosine": COSINE, "warmup_cosine": COSINE, "coslog4": COSLOG4}


# -- the compiled epoch against the NumPy reference --------------------------------------

N_EPOCHS = 3
STEPS_PER_EPOCH = -(-N_SAMPLES // BATCH_SIZE)  # 4: the last batch short
N_STEPS = N_EPOCHS * STEPS_PER_EPOCH
WARMUP_STEPS = 3

# name: (learning_rate, weight_decay, max_grad_norm); the batch gradients' norms
# are 0.6-1.3 here, so 0.8 clips some steps and not others
OPTIONS = {
    "weight_decay": ("constant", 0.5, None),
    "cosine": ("cosine", 0.0, None),
    "warmup_cosine": ("warmup_cosine", 0.0, None),
    "coslog4": ("coslog4", 0.0, None),
    "clipping": ("constant", 0.0, 0.8),
    "all": ("warmup_cosine", 0.5, 0.8),
}


class Stepper:
    """The kernel's optimizer tuple and the reference optimizer, with the same options."""

    def __init__(self, solver, network, coefs, intercepts, options, epsilon=1e-8):
        schedule, self.weight_decay, self.max_grad_norm = options
        dtype = network.dtype
        self.schedule = schedule
        self.warmup_steps = WARMUP_STEPS if schedule == "warmup_cosine" else 0
        self.state_1 = np.zeros(network.n_params, dtype=dtype)
        params = coefs + intercepts
        if solver == "adam":
            self.code, self.lr, self.momentum, self.nesterov = ADAM, 0.01, 0.0, False
            self.state_2 = np.zeros(network.n_params, dtype=dtype)
            self.reference = ref.Adam(params, self.lr, 0.9, 0.999, epsilon, self.weight_decay)
        else:
            self.code, self.lr, self.momentum = SGD, 0.05, 0.9
            self.nesterov = solver == "sgd-nesterov"
            self.state_2 = np.zeros(0, dtype=dtype)
            self.reference = ref.SGD(params, self.lr, self.momentum, self.nesterov, self.weight_decay)
        self.epsilon = epsilon
        self.t = 0

    def kernel_tuple(self, step_0):
        return _backprop.optimizer_tuple(
            self.state_1.dtype, self.state_1, self.state_2, solver=self.code, lr=self.lr, alpha=ALPHA,
            momentum=self.momentum, nesterov=self.nesterov, beta_1=0.9, beta_2=0.999, epsilon=self.epsilon,
            t=self.t, schedule=SCHEDULE_CODES.get(self.schedule, PER_EPOCH), step_0=step_0, n_steps=N_STEPS,
            warmup_steps=self.warmup_steps, weight_decay=self.weight_decay,
            max_grad_norm=0.0 if self.max_grad_norm is None else self.max_grad_norm,
        )  # fmt: skip

    def reference_learning_rate(self, step):
        if self.schedule == "constant":
            return self.lr
        return self.lr * ref.schedule(self.schedule, step, N_STEPS, self.warmup_steps)


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-momentum"])
@pytest.mark.parametrize(
    "hidden, activation, out", [((5,), "tanh", "softmax"), ((5, 4), "relu", "identity")], ids=["1h", "2h"]
)
@DTYPES
def test_epochs_against_reference(dtype, hidden, activation, out, solver, options):
    """Three epochs in a row, each batch one step of a run of three epochs."""
    p = Problem(hidden, activation, out, dtype, weighted=True)
    data = p.data(False)
    work = p.network.workspace(BATCH_SIZE, False)
    coefs, intercepts = p.ref_params()
    opt = Stepper(solver, p.network, coefs, intercepts, options)
    for epoch in range(N_EPOCHS):
        rows = p.rng.permutation(N_SAMPLES).astype(np.int64)
        step_0 = epoch * STEPS_PER_EPOCH
        loss_sum, opt.t = _backprop.run_epoch(
            p.network.net(), data, work, opt.kernel_tuple(step_0), rows, BATCH_SIZE
        )
        ref_loss_sum = ref.run_epoch(
            coefs, intercepts, p.X_ref, p.Y_ref, p.sw_ref, rows, BATCH_SIZE, activation, out, ALPHA,
            opt.reference, dtype, opt.reference_learning_rate, step_0, opt.max_grad_norm,
        )  # fmt: skip
        what = f"after epoch {epoch}"
        np.testing.assert_allclose(loss_sum, ref_loss_sum, rtol=RTOL[dtype], err_msg=f"loss sum {what}")
        params = ref.pack(coefs, intercepts)
        atol = RTOL[dtype] * np.abs(params).max()
        np.testing.assert_allclose(p.network.params, params, rtol=RTOL[dtype], atol=atol, err_msg=what)
    if solver == "adam":
        assert opt.t == N_STEPS
        m = ref.pack(opt.reference.ms[: len(coefs)], opt.reference.ms[len(coefs) :])
        assert_close(opt.state_1, m, dtype, "adam m")
    else:
        velocities = opt.reference.velocities
        assert_close(opt.state_1, ref.pack(velocities[: len(coefs)], velocities[len(coefs) :]), dtype, "v")


@pytest.mark.parametrize("options", ["weight_decay", "cosine", "clipping"])
@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov"])
def test_options_change_the_trajectory(solver, options):
    """Each option has an effect well above the tolerance of the reference test."""
    runs = []
    for name in ("constant", options):
        p = Problem((5,), "tanh", "softmax", np.float64, weighted=True)
        coefs, intercepts = p.ref_params()
        opt = Stepper(solver, p.network, coefs, intercepts, OPTIONS.get(name, ("constant", 0.0, None)))
        rows = np.arange(N_SAMPLES, dtype=np.int64)
        _backprop.run_epoch(p.network.net(), p.data(False), p.network.workspace(BATCH_SIZE, False),
                            opt.kernel_tuple(0), rows, BATCH_SIZE)  # fmt: skip
        runs.append(p.network.params.copy())
    assert np.abs(runs[1] - runs[0]).max() > 1e-5


# -- PyTorch's numbers ---------------------------------------------------------------------
#
# Written down from one run of a script with torch 2.13.0+cpu (float64
# default dtype, CPU). Schedules: a torch.optim.SGD over one zero parameter,
# lr=0.1, recording param_groups[0]["lr"] before each of 12 steps, stepping
# the scheduler after each: CosineAnnealingLR(T_max=12); SequentialLR of
# LambdaLR(lambda k: k / 3) and CosineAnnealingLR(T_max=9), milestones=[3]
# (warmup over 3 steps, then cosine); LambdaLR with pytabkit's coslog4
# formula 0.5 * (1 - cos(2 pi log2(1 + 15 k / 12))). Training: plain tensors
# W (3x2) and b (2,) of a linear model with the data below, the batch loss
# (0.5 * sum((X W + b - Y)^2) + 0.5 * 0.3 * sum(W^2)) / rows, batches of 4
# rows (4, 4, 2) in the two row orders below, AdamW([{W, weight_decay: 0.05},
# {b, weight_decay: 0}], lr=0.05, betas=(0.9, 0.999), eps=0), the scheduler
# stepped after every optimizer step over the 6 steps; with
# clip_grad_norm_([W, b], 2.5) after backward (the norms were 2.26, 2.74,
# 2.79, 2.72, 2.01, 0.57: steps 2-4 clipped). W and b were printed after each
# epoch. eps=0 because PyTorch adds eps to sqrt(v_hat) and scikit-learn (and
# so fastbp) to sqrt(v), which differ only for eps > 0.

TORCH_SCHEDULES = {  # N = 12 steps, lr0 = 0.1, warmup 3 steps
    "cosine": [
        0.1, 0.09829629131445342, 0.09330127018922195, 0.08535533905932738, 0.07500000000000001,
        0.06294095225512605, 0.05000000000000001, 0.03705904774487397, 0.025000000000000015,
        0.01464466094067263, 0.006698729810778066, 0.0017037086855465904,
    ],
    "warmup_cosine": [
        0.0, 0.03333333333333333, 0.06666666666666667, 0.1, 0.09698463103929543, 0.08830222215594889,
        0.075, 0.058682408883346526, 0.041317591116653486, 0.025000000000000012, 0.011697777844051105,
        0.0030153689607045845,
    ],
    "coslog4": [
        0.0, 0.025891671877460432, 0.03236890042288717, 0.049348927546479744, 0.09304309704312058,
        0.018620080012567698, 0.007361893418585597, 0.06103044471301952, 0.09838444269228754,
        0.08756577310807728, 0.048464787233913974, 0.012988214820511346,
    ],
}  # fmt: skip

TORCH_X = [
    [1.764052345967664, 0.4001572083672233, 0.9787379841057392],
    [2.240893199201458, 1.8675579901499675, -0.977277879876411],
    [0.9500884175255894, -0.1513572082976979, -0.10321885179355784],
    [0.41059850193837233, 0.144043571160878, 1.454273506962975],
    [0.7610377251469934, 0.12167501649282841, 0.44386323274542566],
    [0.33367432737426683, 1.4940790731576061, -0.20515826376580087],
    [0.31306770165090136, -0.8540957393017248, -2.5529898158340787],
    [0.6536185954403606, 0.8644361988595057, -0.7421650204064419],
    [2.2697546239876076, -1.4543656745987648, 0.04575851730144607],
    [-0.1871838500258336, 1.5327792143584575, 1.469358769900285],
]
TORCH_Y = [
    [0.1549474256969163, 0.37816251960217356], [-0.8877857476301128, -1.980796468223927],
    [-0.3479121493261526, 0.15634896910398005], [1.2302906807277207, 1.2023798487844113],
    [-0.3873268174079523, -0.30230275057533557], [-1.0485529650670926, -1.4200179371789752],
    [-1.7062701906250126, 1.9507753952317897], [-0.5096521817516535, -0.4380743016111864],
    [-1.2527953600499262, 0.7774903558319101], [-1.6138978475579515, -0.2127402802139687],
]  # fmt: skip
TORCH_W0 = [
    [-0.3410304163544803, -0.38962485883569487],
    [0.15632958946527342, -0.3618170486513862],
    [-0.3034176383199465, -0.1312748293390359],
]
TORCH_B0 = [0.3209932298479351, -0.40289872420693873]
TORCH_ORDERS = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [6, 1, 8, 7, 3, 5, 0, 9, 4, 2]]
# (schedule, max_grad_norm): W and b after each of the two epochs
TORCH_ADAMW = {
    ("cosine", 2.5): [
        (
            [[-0.46827315746238213, -0.26590360434328], [0.027575643976473004, -0.35594292719409754],
             [-0.1941772317931527, -0.07573480628441386]],
            [0.31200742183969926, -0.2747606639376878],
        ),
        (
            [[-0.4973427275864793, -0.22985364180321916], [0.003530693183964372, -0.38243998397554496],
             [-0.172666323578609, -0.0773884532267595]],
            [0.278972315145189, -0.23634767646104443],
        ),
    ],
    ("coslog4", None): [
        (
            [[-0.3993226373477389, -0.3330676457901856], [0.09848168677442909, -0.39836775631654064],
             [-0.27231402687701733, -0.12171651444031188]],
            [0.2736387730093741, -0.34258810701592746],
        ),
        (
            [[-0.4372075697862591, -0.26304481857284884], [0.04250853004016575, -0.4270154420699114],
             [-0.2337230414737454, -0.1076579027612576]],
            [0.21526379824044245, -0.2685188169421231],
        ),
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", TORCH_SCHEDULES)
def test_schedules_match_pytorch(name):
    warmup = 3 if name == "warmup_cosine" else 0
    for factor in (schedule_factor, _driver._schedule_factor):  # compiled, and the driver's Python
        ours = [0.1 * factor(SCHEDULE_CODES[name], k, 12, warmup) for k in range(12)]
        np.testing.assert_allclose(ours, TORCH_SCHEDULES[name], rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("case", TORCH_ADAMW, ids=[f"{s}-clip{c}" for s, c in TORCH_ADAMW])
@DTYPES
def test_adamw_matches_pytorch(dtype, case):
    """fastbp's epochs on PyTorch's linear model: AdamW, a per-step schedule, clipping."""
    schedule, max_norm = case
    network = Network([3, 2], "relu", "identity", dtype)  # no hidden layer: X W + b
    network.params[...] = ref.pack([np.array(TORCH_W0)], [np.array(TORCH_B0)])
    data = as_kernel_data(np.array(TORCH_X), np.array(TORCH_Y), None, dtype=dtype, n_outputs=2)
    work = network.workspace(4, False)
    m, v = np.zeros(network.n_params, dtype), np.zeros(network.n_params, dtype)
    t = 0
    for epoch, (order, (W, b)) in enumerate(zip(TORCH_ORDERS, TORCH_ADAMW[case])):
        optimizer = _backprop.optimizer_tuple(
            dtype, m, v, solver=ADAM, lr=0.05, alpha=0.3, beta_1=0.9, beta_2=0.999, t=t,
            schedule=SCHEDULE_CODES[schedule], step_0=3 * epoch, n_steps=6, weight_decay=0.05,
            max_grad_norm=0.0 if max_norm is None else max_norm,
        )  # fmt: skip
        _, t = _backprop.run_epoch(network.net(), data, work, optimizer, np.array(order), 4)
        rtol = RTOL[dtype] if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(network.params, ref.pack([np.array(W)], [np.array(b)]), rtol=rtol)


# -- clipping uses the finished gradient's norm: central differences ------------------------


@DTYPES
def test_clipping_norm_by_finite_differences(dtype):
    """One SGD step (no momentum, lr 1) is minus the clipped gradient of the loss.

    The loss's central differences give the finished gradient, L2 term
    included; alpha is large enough that leaving the term out of the norm
    would change it by a fifth.
    """
    alpha = 10.0
    network, data = make_problem((5,), "tanh", "identity", 2, dtype)
    rel_error, fd, _ = check_gradient(network, data, dtype, alpha)
    assert rel_error < TOLERANCE[dtype]
    params, n_coef = network.params, network.n_coef
    norm = np.linalg.norm(fd)
    without_l2 = fd.copy()
    without_l2[:n_coef] -= alpha * params[:n_coef] / data[6].astype(np.float64).sum()
    assert abs(np.linalg.norm(without_l2) / norm - 1) > 0.2

    max_norm = norm / 3
    before = params.astype(np.float64)
    velocity = np.zeros_like(params)
    optimizer = _backprop.optimizer_tuple(
        dtype, velocity, velocity[:0], solver=SGD, lr=1.0, alpha=alpha, max_grad_norm=max_norm
    )
    n = data[5].shape[0]  # one batch of every row
    _backprop.run_epoch(network.net(), data, network.workspace(n, False), optimizer, np.arange(n), n)
    step = before - params
    scale = max_norm / (norm + 1e-6)
    assert np.linalg.norm(step - scale * fd) / np.linalg.norm(step) < TOLERANCE[dtype]
    np.testing.assert_allclose(np.linalg.norm(step), max_norm, rtol=10 * TOLERANCE[dtype])


# -- the schedules' values ---------------------------------------------------------------------


@pytest.mark.parametrize("n_steps, warmup", [(1, 0), (7, 0), (7, 2), (40, 10), (40, 39)])
@pytest.mark.parametrize("name", ["cosine", "warmup_cosine", "coslog4"])
def test_schedule_values_per_step(name, n_steps, warmup):
    warmup = warmup if name == "warmup_cosine" else 0
    code = SCHEDULE_CODES[name]
    for k in range(n_steps):
        expected = ref.schedule(name, k, n_steps, warmup)
        for factor in (schedule_factor, _driver._schedule_factor):  # compiled, and the driver's Python
            assert factor(code, k, n_steps, warmup) == pytest.approx(expected, rel=1e-13, abs=1e-15)
    assert schedule_factor(PER_EPOCH, 3, n_steps, warmup) == 1.0


def test_coslog4_cycles():
    """RealMLP's four cycles: zero at 1/15, 3/15, 7/15 of the run, peaks between."""
    n = 15 * 4096
    for c in range(4):
        zero, peak = (2**c - 1) * 4096, round((2 ** (c + 0.5) - 1) * 4096)
        assert schedule_factor(COSLOG4, zero, n, 0) == pytest.approx(0.0, abs=1e-15)
        assert schedule_factor(COSLOG4, peak, n, 0) == pytest.approx(1.0, abs=1e-6)


# -- the run, as the estimators lay it out ----------------------------------------------------------

X_REG, Y_REG = make_regression(n_samples=23, n_features=3, noise=1.0, random_state=0)
Y_REG = Y_REG / 100


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_fit_is_the_reference_run(solver, options):
    """A fit from given weights, rows in order, is the reference's run of max_iter epochs."""
    schedule, weight_decay, max_grad_norm = options
    rng = np.random.RandomState(1)
    units = [3, 4, 1]
    coefs = [rng.uniform(-0.5, 0.5, (a, b)) for a, b in zip(units[:-1], units[1:])]
    intercepts = [rng.uniform(-0.5, 0.5, b) for b in units[1:]]
    est = BackpropRegressor(
        hidden_layer_sizes=(4,), solver=solver, learning_rate=schedule, learning_rate_init=0.02,
        alpha=ALPHA, batch_size=BATCH_SIZE, max_iter=N_EPOCHS, shuffle=False, warm_start=True,
        warmup_fraction=0.25, weight_decay=weight_decay, max_grad_norm=max_grad_norm, random_state=0,
    )  # fmt: skip
    est.coefs_, est.intercepts_ = [c.copy() for c in coefs], [b.copy() for b in intercepts]
    est.fit(X_REG, Y_REG)

    if solver == "adam":
        optimizer = ref.Adam(coefs + intercepts, 0.02, weight_decay=weight_decay)
    else:
        optimizer = ref.SGD(coefs + intercepts, 0.02, weight_decay=weight_decay)
    warmup = round(0.25 * N_STEPS) if schedule == "warmup_cosine" else 0

    def learning_rate(k):
        return 0.02 if schedule == "constant" else 0.02 * ref.schedule(schedule, k, N_STEPS, warmup)

    Y = Y_REG.reshape(-1, 1)
    for epoch in range(N_EPOCHS):
        ref.run_epoch(
            coefs, intercepts, X_REG, Y, np.ones(N_SAMPLES), np.arange(N_SAMPLES), BATCH_SIZE, "relu",
            "identity", ALPHA, optimizer, np.float64, learning_rate, epoch * STEPS_PER_EPOCH, max_grad_norm,
        )  # fmt: skip
        assert est.history_["learning_rate"][epoch] == pytest.approx(learning_rate(epoch * STEPS_PER_EPOCH))
    assert est.n_iter_ == N_EPOCHS
    for a, b in zip(est.coefs_ + est.intercepts_, coefs + intercepts):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("schedule", ["cosine", "warmup_cosine", "coslog4"])
def test_run_under_early_stopping_counts_training_rows(schedule):
    """80 training rows of 100 in batches of 16: 5 steps per epoch, 8 epochs, 40 steps."""
    X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    clf = BackpropClassifier(
        hidden_layer_sizes=(3,), learning_rate=schedule, learning_rate_init=0.01, batch_size=16,
        max_iter=8, early_stopping=True, validation_fraction=0.2, n_iter_no_change=np.inf,
        warmup_fraction=0.25, random_state=0,
    ).fit(X, y)  # fmt: skip
    assert clf.n_iter_ == 8
    warmup = 10 if schedule == "warmup_cosine" else 0
    expected = [0.01 * ref.schedule(schedule, 5 * e, 40, warmup) for e in range(8)]
    np.testing.assert_allclose(clf.history_["learning_rate"], expected, rtol=1e-13, atol=1e-16)


def test_each_fit_restarts_the_run():
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    clf = BackpropClassifier(
        hidden_layer_sizes=(3,), learning_rate="warmup_cosine", batch_size=20, max_iter=5,
        warm_start=True, random_state=0,
    )  # fmt: skip
    clf.fit(X, y)
    first = list(clf.history_["learning_rate"])
    clf.fit(X, y)  # warm_start: the history goes on, the schedule starts again
    assert clf.history_["learning_rate"] == first + first
    # 3 steps per epoch, 15 in the run, round(0.1 * 15) = 2 of warmup
    expected = [0.001 * ref.schedule("warmup_cosine", 3 * e, 15, 2) for e in range(5)]
    np.testing.assert_allclose(first, expected, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_warmup_cosine_without_warmup_is_cosine(solver):
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    params = dict(hidden_layer_sizes=(3,), solver=solver, batch_size=16, max_iter=4, random_state=0)
    a = BackpropClassifier(learning_rate="cosine", **params).fit(X, y)
    b = BackpropClassifier(learning_rate="warmup_cosine", warmup_fraction=0.0, **params).fit(X, y)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(p, q)


def test_to_sklearn_names_the_training_options():
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    clf = BackpropClassifier(
        hidden_layer_sizes=(3,), learning_rate="coslog4", weight_decay=0.01, max_grad_norm=1.0,
        max_iter=3, random_state=0,
    ).fit(X, y)  # fmt: skip
    with pytest.warns(UserWarning, match=r"\['learning_rate', 'max_grad_norm', 'weight_decay'\]"):
        mlp = clf.to_sklearn()
    assert mlp.learning_rate == "constant"
    np.testing.assert_array_equal(mlp.predict(X), clf.predict(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.set_params(max_iter=1).fit(X, y)  # a valid scikit-learn model


def test_saved_model_keeps_the_options():
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    params = dict(learning_rate="warmup_cosine", warmup_fraction=0.3, weight_decay=0.01, max_grad_norm=1.0)
    clf = BackpropClassifier(hidden_layer_sizes=(3,), max_iter=3, random_state=0, **params).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    assert {k: loaded.get_params()[k] for k in params} == params
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    refit = pickle.loads(pickle.dumps(clf)).fit(X, y)
    for p, q in zip(refit.coefs_ + refit.intercepts_, clf.coefs_ + clf.intercepts_):
        np.testing.assert_array_equal(p, q)
