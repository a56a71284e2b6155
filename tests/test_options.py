"""Training options scikit-learn's MLP does not have, each against an oracle.

- ``class_weight``: the same fit as with ``sample_weight`` multiplied by
  ``sklearn.utils.class_weight.compute_sample_weight`` (scikit-learn's own
  definition of the weights), and so the same trajectory as
  ``MLPClassifier`` given those sample weights.
- ``validation_loss_curve_``: the plain-NumPy reference loss of the
  validation rows (tests/reference.py) plus the L2 share of a training
  sample; ``early_stopping_metric='loss'`` keeps the lowest-loss epoch.
"""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris, make_multilabel_classification
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from fastbp import BackpropClassifier, BackpropRegressor, _backprop
from fastbp._network import Network, as_kernel_data

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = np.array(["setosa", "versicolor", "virginica"])[y]
    keep = np.r_[0:50, 50:70, 100:150]  # unbalanced: 50 / 20 / 50
    return X[keep], y[keep]


def _same_weights(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


CLASS_WEIGHTS = ["balanced", {"setosa": 2.0, "virginica": 0.5}]


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("class_weight", CLASS_WEIGHTS, ids=["balanced", "dict"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_class_weight_multiplies_sample_weight(iris, solver, class_weight, weighted, early_stopping):
    X, y = iris
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y)) if weighted else None
    params = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=15, random_state=0)
    if solver != "lbfgs":
        params["early_stopping"] = early_stopping
    ours = BackpropClassifier(**params, class_weight=class_weight).fit(X, y, sample_weight=sw)
    product = compute_sample_weight(class_weight, y) * (1.0 if sw is None else sw)
    by_hand = BackpropClassifier(**params).fit(X, y, sample_weight=product)
    assert _same_weights(ours, by_hand)
    if early_stopping and solver != "lbfgs":  # the validation score is class-weighted too
        assert ours.validation_scores_ == by_hand.validation_scores_
    # and scikit-learn, given those sample weights, follows the same trajectory
    # (on the labels' codes: scikit-learn < 1.9 cannot early-stop on strings)
    codes = np.unique(y, return_inverse=True)[1]
    theirs = MLPClassifier(**params).fit(X, codes, sample_weight=product)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-10)


def test_class_weight_changes_the_fit(iris):
    X, y = iris
    plain = BackpropClassifier(hidden_layer_sizes=(6,), max_iter=15, random_state=0).fit(X, y)
    weighted = BackpropClassifier(
        hidden_layer_sizes=(6,), max_iter=15, random_state=0, class_weight="balanced"
    )
    assert not np.allclose(weighted.fit(X, y).coefs_[0], plain.coefs_[0])


def test_class_weight_dict_in_partial_fit(iris):
    X, y = iris
    class_weight = {"versicolor": 3.0}
    classes = np.unique(y)
    ours = BackpropClassifier(
        hidden_layer_sizes=(6,), solver="sgd", random_state=0, class_weight=class_weight
    )
    by_hand = BackpropClassifier(hidden_layer_sizes=(6,), solver="sgd", random_state=0)
    for start in range(0, len(y), 40):  # batches with and without versicolor
        rows = slice(start, start + 40)
        ours.partial_fit(X[rows], y[rows], classes=classes)
        by_hand_weights = np.array([class_weight.get(label, 1.0) for label in y[rows]])
        by_hand.partial_fit(X[rows], y[rows], classes=classes, sample_weight=by_hand_weights)
    assert _same_weights(ours, by_hand)


def test_class_weight_of_a_multilabel_target():
    X, Y = make_multilabel_classification(n_samples=120, n_features=6, n_classes=3, random_state=0)
    for class_weight in ("balanced", [{0: 1.0, 1: 2.0}, {1: 0.5}, {0: 3.0}]):
        ours = BackpropClassifier(
            hidden_layer_sizes=(5,), max_iter=10, random_state=0, class_weight=class_weight
        )
        by_hand = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=10, random_state=0)
        by_hand.fit(X, Y, sample_weight=compute_sample_weight(class_weight, Y))
        assert _same_weights(ours.fit(X, Y), by_hand)
    with pytest.raises(
        ValueError, match="multilabel target class_weight must be 'balanced' or a list of 3 dicts"
    ):
        BackpropClassifier(class_weight={0: 2.0}).fit(X, Y)
    with pytest.raises(ValueError, match=r"class_weight\[1\] names labels that are not classes: \[2\]"):
        BackpropClassifier(class_weight=[{}, {2: 1.0}, {}]).fit(X, Y)


# -- validation loss and the early-stopping metric ----------------------------------------

try:
    from . import reference as ref
    from . import test_gradcheck as gradcheck
except ImportError:  # tests/ collected as a plain directory (rootdir on sys.path)
    import reference as ref
    import test_gradcheck as gradcheck


def _validation_rows(est, seed, n_samples, stratify):
    """The validation rows of ``est``'s split: drawn after the initial weights."""
    rng = np.random.RandomState(seed)
    for coef, intercept in zip(est.coefs_, est.intercepts_):
        rng.uniform(size=coef.shape), rng.uniform(size=intercept.shape)  # the Glorot draws
    return train_test_split(
        np.arange(n_samples), test_size=est.validation_fraction, random_state=rng, stratify=stratify
    )[1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["squared_error", "poisson", "multiclass", "multiclass_smoothed"])
def test_validation_loss_is_the_reference_loss_of_the_validation_rows(name, weighted, dtype):
    """Frozen weights (a step of 1e-300): every epoch's validation loss is the initial model's.

    With label smoothing, of the smoothed targets, as ``loss_curve_``.
    """
    rng = np.random.RandomState(0)
    X = StandardScaler().fit_transform(rng.normal(size=(120, 5))).astype(dtype)
    if name.startswith("multiclass"):
        y = rng.randint(0, 3, 120)
        est = BackpropClassifier
    else:
        y = rng.poisson(2.0, 120).astype(float) if name == "poisson" else X @ rng.normal(size=5)
        est = BackpropRegressor
    sw = rng.uniform(0.5, 2.0, 120) if weighted else None
    params = dict(
        hidden_layer_sizes=(4,), solver="sgd", momentum=0.0, learning_rate_init=1e-300, max_iter=3,
        shuffle=False, alpha=0.1, batch_size=25, early_stopping=True, random_state=7,
    )  # fmt: skip
    if est is BackpropRegressor:
        params["loss"] = name
    eps = 0.2 if name == "multiclass_smoothed" else 0.0
    if eps:
        params["label_smoothing"] = eps
    model = est(**params).fit(X, y, sample_weight=sw)
    val = _validation_rows(model, 7, len(y), None)
    P = model._forward(X[val], check_input=False).astype(np.float64)
    Y = model._one_hot(y[val], np.float64) if est is BackpropClassifier else y[val].reshape(-1, 1)
    w = np.ones(len(val)) if sw is None else sw[val]
    losses = ref.sample_losses(model.out_activation_, P, _smoothed(Y, eps, 3))
    l2 = 0.5 * 0.1 * sum((c.astype(np.float64) ** 2).sum() for c in model.coefs_) / 25
    expected = np.average(losses, weights=w) + l2
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(model.validation_loss_curve_, expected, rtol=rtol)
    if eps:  # (the smoothing is seen: the unsmoothed targets' loss is another)
        unsmoothed = np.average(ref.sample_losses(model.out_activation_, P, Y), weights=w)
        assert not np.isclose(model.validation_loss_curve_[0], unsmoothed + l2, rtol=1e-4)
    assert model.best_validation_loss_ == min(model.validation_loss_curve_)
    assert len(model.validation_loss_curve_) == len(model.validation_scores_) == model.n_iter_


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("activation, parametric", [("relu", False), ("mish", False), ("selu", True)])
def test_the_validation_pass_is_prediction_and_the_loss_of_the_gradient_pass(activation, parametric, dtype):
    """One forward pass (task VALIDATE) gives ``predict_into``'s outputs and ``full_loss_grad_into``'s loss.

    Bit for bit, but for the loss of float32's newer activations, which
    compute ``f`` alone (as prediction does) a little differently from ``f``
    with ``f'`` (as training does).
    """
    rng = np.random.RandomState(3)
    network = Network([5, 6, 4, 3], activation, "softmax", dtype, parametric_activation=parametric)
    network.params[...] = rng.uniform(-1, 1, network.n_params)
    X, sw = rng.normal(size=(50, 5)), rng.uniform(0.5, 2.0, 50)
    Y = np.eye(3)[rng.randint(0, 3, 50)]
    data = as_kernel_data(X, Y, sw, dtype=dtype, n_outputs=3)
    out = np.empty((50, 3), dtype=dtype)
    work = network.workspace(16, False, gradient=False)
    loss_sum = _backprop.validate_into(network.net(), data, work, np.arange(50), out)
    grad = np.empty(network.n_params, dtype=dtype)
    loss = _backprop.full_loss_grad_into(network.net(), data, network.workspace(16, False), 0.0, 16, grad)
    rtol = 1e-6 if dtype == np.float32 and activation == "mish" else 0
    np.testing.assert_allclose(loss_sum / float(data[6].sum(dtype=np.float64)), loss, rtol=rtol)
    expected = np.empty_like(out)
    _backprop.predict_into(network.net(), data, network.workspace(16, False, gradient=False), expected)
    np.testing.assert_array_equal(out, expected)


def test_early_stopping_on_the_loss_keeps_the_lowest_loss_epoch():
    X, y = load_diabetes(return_X_y=True)
    X, y = StandardScaler().fit_transform(X), (y - y.mean()) / y.std()
    params = dict(hidden_layer_sizes=(16,), early_stopping=True, learning_rate_init=0.01, random_state=0)
    # the whole run (RealMLP's recipe: never stop early), keeping the best epoch
    full = BackpropRegressor(
        **params, max_iter=40, n_iter_no_change=np.inf, early_stopping_metric="loss"
    ).fit(X, y)
    assert full.n_iter_ == 40
    best_epoch = int(np.argmin(full.validation_loss_curve_)) + 1
    assert full.best_validation_loss_ == full.validation_loss_curve_[best_epoch - 1]
    # the kept weights are that epoch's: a run that ends there keeps the same
    shorter = BackpropRegressor(
        **params, max_iter=best_epoch, n_iter_no_change=np.inf, early_stopping_metric="loss"
    )
    assert _same_weights(full, shorter.fit(X, y))
    # the default metric keeps the best score's epoch instead, as scikit-learn
    by_score = BackpropRegressor(**params, max_iter=40, n_iter_no_change=np.inf).fit(X, y)
    assert by_score.best_validation_score_ == max(by_score.validation_scores_)
    assert by_score.validation_loss_curve_ == full.validation_loss_curve_  # same run, same curves


def test_early_stopping_on_the_loss_stops_when_it_stops_improving():
    X, y = load_diabetes(return_X_y=True)
    X, y = StandardScaler().fit_transform(X), (y - y.mean()) / y.std()
    model = BackpropRegressor(
        hidden_layer_sizes=(32,), early_stopping=True, early_stopping_metric="loss", learning_rate_init=0.05,
        n_iter_no_change=3, tol=0.0, max_iter=300, random_state=0,
    ).fit(X, y)  # fmt: skip
    curve = np.array(model.validation_loss_curve_)
    assert model.n_iter_ < 300
    # the last n_iter_no_change + 1 epochs never beat the best before them
    assert curve[-4:].min() >= curve[:-4].min()


def test_early_stopping_metric_with_lbfgs_is_refused():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(
        ValueError, match="early_stopping_metric='loss' applies to the stochastic solvers only"
    ):
        BackpropRegressor(solver="lbfgs", early_stopping_metric="loss").fit(X, y)


# -- label smoothing ----------------------------------------------------------------------


def _smoothed(Y, eps, n_classes):
    return Y * (1 - eps) + eps / n_classes


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_label_smoothing_trains_on_the_smoothed_loss(target, dtype):
    """Frozen weights, one batch of all rows: loss_curve_[0] is the initial model's smoothed loss."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4)).astype(dtype)
    if target == "multilabel":
        y = rng.randint(0, 2, size=(60, 3))
    else:
        y = rng.randint(0, 2 if target == "binary" else 4, size=60)
    eps = 0.2
    params = dict(
        hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, learning_rate_init=1e-300, max_iter=1,
        shuffle=False, alpha=0.0, batch_size=60, random_state=0, label_smoothing=eps,
    )  # fmt: skip
    model = BackpropClassifier(**params).fit(X, y)
    P = model._forward(X, check_input=False).astype(np.float64)
    Y = model._one_hot(y, np.float64).astype(np.float64)
    n_classes = Y.shape[1] if target == "multiclass" else 2
    expected = ref.sample_losses(model.out_activation_, P, _smoothed(Y, eps, n_classes)).mean()
    np.testing.assert_allclose(model.loss_curve_[0], expected, rtol=1e-12 if dtype == np.float64 else 1e-5)
    unsmoothed = BackpropClassifier(**{**params, "label_smoothing": 0.0}).fit(X, y)
    assert not np.isclose(unsmoothed.loss_curve_[0], model.loss_curve_[0], rtol=1e-6)
    np.testing.assert_array_equal(unsmoothed.predict_proba(X), model.predict_proba(X))  # same frozen model


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_smoothed_loss_gradient_matches_finite_differences(target, dtype):
    from fastbp import _backprop
    from fastbp._network import as_kernel_data

    rng = np.random.RandomState(1)
    X = rng.normal(size=(30, 4)).astype(dtype)
    if target == "multilabel":
        y = rng.randint(0, 2, size=(30, 3))
    else:
        y = rng.randint(0, 2 if target == "binary" else 3, size=30)
    model = BackpropClassifier(hidden_layer_sizes=(5,), activation="tanh", max_iter=3, label_smoothing=0.3)
    model.set_params(random_state=0).fit(X, y)
    _, Y, _ = model._validate_input(X, y, incremental=False, reset=False)
    smoothed = [0.1, 0.8] if target == "multiclass" else [0.15, 0.85]  # eps / K, 1 - eps + eps / K
    np.testing.assert_allclose(np.unique(Y), smoothed, rtol=1e-6)
    network = model._network
    data = as_kernel_data(X, Y, None, dtype=dtype, n_outputs=Y.shape[1])
    work = network.workspace(30, False)
    grad = np.empty(network.n_params, dtype=dtype)
    params = network.params

    def loss():
        return _backprop.full_loss_grad_into(network.net(), data, work, 0.01, 30, grad)

    loss()
    analytic = grad.astype(np.float64)
    numeric = gradcheck.central_differences(loss, params, gradcheck.STEP[dtype])
    assert np.linalg.norm(numeric - analytic) / np.linalg.norm(analytic) < gradcheck.TOLERANCE[dtype]


# Reference numbers from PyTorch 2.13.0 (CPU, float64), one-off run, not a
# test dependency:
#   torch.nn.CrossEntropyLoss(label_smoothing=eps)(LOGITS, TARGET)
# and, weighted, (CrossEntropyLoss(label_smoothing=0.1, reduction="none")(...)
# * W).sum() / W.sum()
LOGITS = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, -0.3], [-2.0, 1.5, 3.0], [0.0, 0.0, 1.0]])
TARGET = np.array([0, 2, 1, 2])
W = np.array([1.0, 2.0, 0.5, 1.5])
TORCH_CROSS_ENTROPY = {0.0: 0.9801226499539701, 0.1: 1.0434559832873036, 0.25: 1.1384559832873034}
TORCH_WEIGHTED_CROSS_ENTROPY = 0.9973840957663584  # label_smoothing=0.1, weights W


@pytest.mark.parametrize("eps", sorted(TORCH_CROSS_ENTROPY))
def test_label_smoothing_is_pytorchs(eps):
    """A network whose logits are its input (identity layers): its loss is PyTorch's number."""

    def loss_of(sample_weight):
        clf = BackpropClassifier(
            hidden_layer_sizes=(3,), activation="identity", solver="sgd", momentum=0.0,
            learning_rate_init=1e-300, batch_size=4, alpha=0.0, shuffle=False, label_smoothing=eps,
        )  # fmt: skip
        clf.coefs_, clf.intercepts_ = [np.eye(3), np.eye(3)], [np.zeros(3), np.zeros(3)]
        clf.out_activation_ = "softmax"
        clf.partial_fit(LOGITS, TARGET, classes=[0, 1, 2], sample_weight=sample_weight)
        return clf.loss_curve_[0]

    np.testing.assert_allclose(loss_of(None), TORCH_CROSS_ENTROPY[eps], rtol=1e-12)
    if eps == 0.1:
        np.testing.assert_allclose(loss_of(W), TORCH_WEIGHTED_CROSS_ENTROPY, rtol=1e-12)
