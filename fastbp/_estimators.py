"""BackpropClassifier and BackpropRegressor."""

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from ._base import BaseBackprop
from ._losses import ROBUST_LOSSES, loss_parameters

_PARAMETERS_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Number of units of each hidden layer.
    activation : str or list of str, default='relu'
        Activation of the hidden layers, or one per hidden layer (a list or
        tuple as long as ``hidden_layer_sizes``). scikit-learn's four:
        'identity', 'logistic', 'tanh', 'relu'. Beyond them (PyTorch's
        definitions and defaults): 'leaky_relu' (slope 0.01 below 0),
        'elu' (alpha 1), 'selu' (Klambauer et al.'s constants), 'gelu'
        (``z Phi(z)``, Phi the normal CDF), 'gelu_tanh' (GELU's tanh
        approximation), 'silu' (``z sigmoid(z)``), 'mish'
        (``z tanh(softplus(z))``) and 'softplus' (``log(1 + e^z)``). Each
        weight matrix is initialised with scikit-learn's Glorot rule for the
        activation after it (factor 2 for 'logistic', 6 for the others),
        the output layer for the last hidden one; 'selu' gets no LeCun
        initialisation. The kernel of the activations beyond scikit-learn's
        four is compiled the first time one is used (about 3 s, once per
        machine and dtype). ``to_sklearn`` refuses them, and different
        activations per layer.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        Weight optimizer: L-BFGS on the full batch (scipy), mini-batch SGD
        with momentum, or mini-batch Adam.
    alpha : float, default=0.0001
        Strength of the L2 penalty ``0.5 * alpha * ||W||^2``, divided by
        the batch's sample count (or weight sum). Intercepts are not
        penalised.
    batch_size : int or 'auto', default='auto'
        Mini-batch size of the stochastic solvers; 'auto' is
        ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine', \
            'warmup_cosine', 'coslog4'}, default='constant'
        Step-size schedule. scikit-learn's three apply to 'sgd' only ('adam'
        keeps ``learning_rate_init``, as scikit-learn's does): constant;
        ``learning_rate_init / (t + 1) ** power_t`` with ``t`` the number of
        samples seen; or divided by 5 each time ``n_iter_no_change`` epochs
        fail to improve by ``tol``.

        The other three apply to 'sgd' and 'adam' and set the step size of
        every mini-batch step ``k`` of the run: the ``n = max_iter *
        ceil(n_train / batch_size)`` steps of one ``fit``, ``n_train`` being
        the rows trained on (without the early-stopping validation share). The
        run has this length under early stopping too, and each ``fit`` starts
        it anew, ``warm_start`` included; ``partial_fit`` refuses these
        schedules (its calls have no known number). With ``p = k / n``:
        'cosine' is ``learning_rate_init * 0.5 * (1 + cos(pi p))``, from
        ``learning_rate_init`` to zero (PyTorch's ``CosineAnnealingLR`` with
        ``T_max=n``, stepped every batch); 'warmup_cosine' rises linearly,
        ``learning_rate_init * k / w``, over the first ``w`` steps (see
        ``warmup_fraction``), then falls as 'cosine' does over the other ``n -
        w``; 'coslog4' is RealMLP's schedule (Holzmüller et al., NeurIPS
        2024), ``learning_rate_init * 0.5 * (1 - cos(2 pi log2(1 + 15 p)))``:
        four cycles from zero up to ``learning_rate_init`` and back, each
        twice as long as the one before. ``history_['learning_rate']``
        records each epoch's first step.
    learning_rate_init : float, default=0.001
        Initial step size of 'sgd' and 'adam'.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations (lbfgs).
    shuffle : bool, default=True
        Whether to reshuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the early-stopping split and the
        shuffles. The same integer gives the same draws as scikit-learn's
        MLP.
    tol : float, default=1e-4
        Improvement below which an epoch counts as no improvement.
    verbose : bool, default=False
        Print the loss (and validation score) after each epoch.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1].
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum ('sgd' with momentum > 0).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its score
        (or loss, see ``early_stopping_metric``) has not improved by ``tol``
        for ``n_iter_no_change`` epochs; the weights of the best validation
        epoch are kept. With ``n_iter_no_change=np.inf`` the whole run of
        ``max_iter`` epochs is trained and its best epoch kept (RealMLP's
        recipe).
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    beta_1 : float, default=0.9
        Decay rate of Adam's first moment estimate, in [0, 1).
    beta_2 : float, default=0.999
        Decay rate of Adam's second moment estimate, in [0, 1).
    epsilon : float, default=1e-8
        Added to the square root of Adam's second moment.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping (stochastic solvers).
    max_fun : int, default=15000
        Maximum number of loss evaluations of 'lbfgs'.
    early_stopping_metric : {'score', 'loss'}, default='score'
        What early stopping watches and which epoch it keeps: the validation
        score (accuracy, R^2; scikit-learn's choice), or the validation loss
        (``validation_loss_curve_``; lower is better). Stochastic solvers
        only. scikit-learn's MLP has no such parameter.
    dropout : float or list of float, default=0.0
        Inverted dropout of hidden units while training: each hidden unit's
        output is zeroed with this probability and the others are scaled
        by ``1 / (1 - dropout)``; one rate for every hidden layer, or a list
        with one per hidden layer, each in [0, 1). Prediction, scores and
        the validation loss use the whole network. The masks are a
        function of a seed drawn from ``random_state`` (only when dropout
        is on), the epoch, the training row and the unit, so they do not
        depend on the batch a row falls in or on the thread count.
        ``loss_curve_`` is the loss of the dropped-out networks, as in
        PyTorch. Stochastic solvers only. scikit-learn's MLP has no such
        parameter (skorch: ``torch.nn.Dropout`` layers in the module).
    warmup_fraction : float in [0, 1), default=0.1
        Share of the run's ``n`` steps over which ``learning_rate='warmup_cosine'``
        warms up: ``w = round(warmup_fraction * n)`` steps (at most ``n - 1``).
        The other schedules ignore it. scikit-learn's MLP has no such
        parameter.
    weight_decay : float >= 0, default=0.0
        Decoupled weight decay, with PyTorch's ``AdamW`` semantics: every
        step first multiplies each coefficient (not the intercepts) by ``1 -
        lr * weight_decay``, ``lr`` being the step's scheduled step size
        (for 'adam' before the bias correction scikit-learn folds into its
        step size), then takes the optimizer's step; 'sgd' decays the same
        way. Unlike ``alpha``'s L2 penalty it is not part of the loss, the
        gradient or Adam's moments. Adam's step itself stays scikit-learn's,
        which adds ``epsilon`` to the square root of the uncorrected second
        moment, where PyTorch adds it to the bias-corrected one: the same
        step as PyTorch's with ``eps = epsilon / sqrt(1 - beta_2 ** t)``,
        indistinguishable once ``epsilon`` is small next to the moments.
        Stochastic solvers only. scikit-learn's MLP has no such parameter.
    max_grad_norm : float > 0 or None, default=None
        Clip each mini-batch's gradient (its mean over the batch, L2 term
        included) to this global L2 norm before the optimizer uses it: a
        gradient of norm ``g`` is scaled by ``max_grad_norm / (g + 1e-6)``
        when that is below 1 (PyTorch's ``clip_grad_norm_``). None: no
        clipping. Stochastic solvers only. scikit-learn's MLP has no such
        parameter.
    dropout_schedule : {'constant', 'flat_cos'}, default='constant'
        How the ``dropout`` rates change over the run (the ``n`` steps of
        ``learning_rate``'s per-step schedules; ``partial_fit`` refuses
        'flat_cos'). 'constant': the rates as given at every step.
        'flat_cos': RealMLP's schedule (Holzmüller et al., NeurIPS 2024;
        ``p_drop_sched='flat_cos'`` in pytabkit's RealMLP-TD defaults), the
        rates times ``f(p)`` at step ``k``, ``p = k / n``, with ``f(p) = 1``
        over the first half of the run and ``0.5 * (1 - cos(2 pi p))`` over
        the second, falling to zero at its end. Evaluated at every step, as
        RealMLP does; ``history_['dropout']`` records each epoch's first
        step. Stochastic solvers only. scikit-learn's MLP has no such
        parameter.
    weight_decay_schedule : {'constant', 'flat_cos'}, default='constant'
        How ``weight_decay`` changes over the run, as ``dropout_schedule``
        for the dropout rates: 'flat_cos' multiplies the decay of step
        ``k`` by ``f(k / n)`` (RealMLP-TD's ``wd_sched='flat_cos'``), so the
        step's decay factor is ``1 - lr * weight_decay * f(k / n)``, ``lr``
        the step's scheduled step size. ``history_['weight_decay']``
        records each epoch's first step. Stochastic solvers only.
        scikit-learn's MLP has no such parameter.
    learning_rate_scaling : {'fan_in'} or None, default=None
        'fan_in': Adam's step size for each weight matrix is divided by the
        square root of its fan-in (the units feeding it), and its epsilon
        multiplied by it. With Adam this is exactly the training of the NTK
        parametrisation (each matrix scaled by ``fan_in ** -0.5`` in the
        forward pass, as RealMLP's ``weight_param='ntk'``), with
        ``coefs_`` the effective weights; the decoupled weight decay is
        not scaled (under that parametrisation, the effective weights
        decay by the base rate). Adam only. scikit-learn's MLP has no such
        parameter (PyTorch: one parameter group per layer).
    intercept_learning_rate_factor : float > 0, default=1.0
        Multiplies Adam's step size for the intercepts (RealMLP-TD's
        ``bias_lr_factor=0.1``). Adam only. scikit-learn's MLP has no such
        parameter.
    input_scaling : bool, default=False
        Multiply each input feature by a trainable scale (RealMLP's front
        scaling layer, ``add_front_scale``), initialised to 1, before the
        first layer: the network computes ``dense(X * input_scale_)``. The
        scales take neither the L2 penalty ``alpha`` nor the decoupled
        weight decay (RealMLP-TD decays them; see the user guide's options
        page). Every solver. scikit-learn's MLP has no such parameter.
    input_scale_learning_rate_factor : float > 0, default=1.0
        Multiplies Adam's step size for the input scales (RealMLP-TD's
        ``scale_lr_factor=6.0``). Adam only. scikit-learn's MLP has no such
        parameter.
    parametric_activation : bool, default=False
        Give each hidden unit a trainable weight ``alpha`` that mixes its
        activation with the identity, ``z + alpha * (f(z) - z)``
        (RealMLP's parametric activations, ``use_parametric_act``),
        initialised to 1, the plain activation; fitted as
        ``activation_mix_``. The weights take neither the L2 penalty
        ``alpha`` nor the decoupled weight decay. Every solver. Not
        exportable to scikit-learn or ONNX. scikit-learn's MLP has no such
        parameter (PyTorch: a module of one's own).
    activation_learning_rate_factor : float > 0, default=1.0
        Multiplies Adam's step size for the mixing weights of
        ``parametric_activation`` (RealMLP-TD's ``act_lr_factor=0.1``).
        Adam only. scikit-learn's MLP has no such parameter.
    init : {'glorot', 'data'}, default='glorot'
        How the weights start. 'glorot': scikit-learn's Glorot-uniform
        draws. 'data': RealMLP's data-dependent rule (pytabkit's
        ``weight_init_mode='std'``, ``bias_init_mode='he+5'``), applied
        after those draws, layer by layer on the training rows (a sample of
        at most 16,384): each unit's weights are a standard-normal draw
        scaled so that its pre-activations have variance 1 over the rows,
        and its intercept is minus its pre-activation at a random convex
        combination of 5 rows. Every solver; ``warm_start`` and
        ``partial_fit`` after the first call keep the weights they have.
        scikit-learn's MLP has no such parameter.
"""

_ATTRIBUTES_DOC = """
    loss_ : float
        Loss after the last epoch (or at the L-BFGS solution).
    best_loss_ : float or None
        Lowest training loss seen; None with early stopping.
    loss_curve_ : list of float
        Loss after each epoch (stochastic solvers).
    validation_scores_ : list of float or None
        Validation score after each epoch, with early stopping.
    validation_loss_curve_ : list of float or None
        Validation loss after each epoch, with early stopping: the weighted
        mean loss of the validation rows plus the L2 term each training
        sample carries in ``loss_curve_`` (``0.5 * alpha * ||W||^2`` divided
        by the batch size), so the two curves compare.
    best_validation_loss_ : float or None
        Lowest validation loss, with early stopping.
    history_ : dict of list
        One entry per epoch (per iteration with 'lbfgs') in every list, so
        ``pandas.DataFrame(history_)`` is a table: 'epoch' (counted over
        ``warm_start`` fits and ``partial_fit`` calls, which append; a fresh
        ``fit`` starts anew), 'loss' (as ``loss_curve_``), 'validation_loss'
        and 'validation_score' (with early stopping, else NaN), 'learning_rate'
        (the step size the epoch used, its first step's with the per-step
        schedules; NaN with 'lbfgs'), 'dropout' and 'weight_decay' (the
        dropout rate, a tuple of one per hidden layer when ``dropout`` is a
        list, and the weight decay of the epoch's first step, as
        ``dropout_schedule`` and ``weight_decay_schedule`` set them; NaN
        with 'lbfgs') and 'seconds' (wall time of the epoch).
    best_validation_score_ : float or None
        Best validation score, with early stopping.
    t_ : int
        Number of training samples seen.
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape ``(fan_in, fan_out)`` holds layer i's weights:
        a view into one flat parameter vector, in the dtype of the
        training data.
    intercepts_ : list of ndarray
        ``intercepts_[i]`` holds layer i's biases, also a view.
    input_scale_ : ndarray of shape (n_features,)
        The trained input scales, with ``input_scaling`` only (a view too):
        the first layer multiplies ``X * input_scale_`` by ``coefs_[0]``.
    activation_mix_ : list of ndarray
        With ``parametric_activation`` only: ``activation_mix_[i]`` holds
        hidden layer i's mixing weights, one per unit (views too); the
        layer outputs ``z + activation_mix_[i] * (f(z) - z)``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names seen during fit, when X had string column names.
    n_iter_ : int
        Number of epochs (or L-BFGS iterations) run by the last fit.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output units.
    out_activation_ : str
        Output activation: 'softmax', 'logistic', 'identity' or 'exp'.
"""


def _solver_is_stochastic(estimator):
    if estimator.solver not in ("sgd", "adam"):
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers; solver={estimator.solver!r}."
        )
    return True


class BackpropClassifier(ClassifierMixin, BaseBackprop):
    __doc__ = (
        """Multilayer perceptron classifier trained by compiled backpropagation.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`
    with the same parameters, defaults and fitted attributes; the same
    ``random_state`` gives the same initial weights and training trajectory.
    It minimises the log-loss: softmax output for multiclass targets,
    logistic output for binary and multilabel targets.

    Parameters
    ----------"""
        + _PARAMETERS_DOC
        + """
    class_weight : dict, list of dict or 'balanced', default=None
        Weights of the classes, multiplying ``sample_weight``: ``{label:
        weight}`` (labels not named weigh 1), or 'balanced', which weighs
        each class by ``n_samples / (n_classes * count)`` counted on ``y``
        (``sklearn.utils.class_weight.compute_sample_weight``). A multilabel
        target takes one dict per label, or 'balanced' (the product over
        labels). The early-stopping validation score is weighted too.
        ``partial_fit`` takes a dict but not 'balanced', since one batch's
        class counts are not the data's. scikit-learn's MLPClassifier has no
        such parameter.
    label_smoothing : float in [0, 1), default=0.0
        Trains on targets ``y * (1 - label_smoothing) + label_smoothing / K``
        instead of 0/1 indicators, with ``K`` the number of classes of a
        multiclass target and 2 for a binary target and for each label of
        a multilabel one (PyTorch's ``CrossEntropyLoss(label_smoothing=...)``
        for the multiclass case). ``loss_curve_`` and the validation loss are
        the smoothed loss; predictions and scores are unchanged in meaning.
        scikit-learn's MLPClassifier has no such parameter.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels."""
        + _ATTRIBUTES_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastbp import BackpropClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = BackpropClassifier(max_iter=50, random_state=0).fit(X / 16, y)
    >>> clf.score(X / 16, y) > 0.95
    True
    """
    )

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        early_stopping_metric="score",
        dropout=0.0,
        warmup_fraction=0.1,
        weight_decay=0.0,
        max_grad_norm=None,
        dropout_schedule="constant",
        weight_decay_schedule="constant",
        learning_rate_scaling=None,
        intercept_learning_rate_factor=1.0,
        input_scaling=False,
        input_scale_learning_rate_factor=1.0,
        parametric_activation=False,
        activation_learning_rate_factor=1.0,
        init="glorot",
        class_weight=None,
        label_smoothing=0.0,
    ):
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss="log_loss",
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            early_stopping_metric=early_stopping_metric,
            dropout=dropout,
            warmup_fraction=warmup_fraction,
            weight_decay=weight_decay,
            max_grad_norm=max_grad_norm,
            dropout_schedule=dropout_schedule,
            weight_decay_schedule=weight_decay_schedule,
            learning_rate_scaling=learning_rate_scaling,
            intercept_learning_rate_factor=intercept_learning_rate_factor,
            input_scaling=input_scaling,
            input_scale_learning_rate_factor=input_scale_learning_rate_factor,
            parametric_activation=parametric_activation,
            activation_learning_rate_factor=activation_learning_rate_factor,
            init=init,
        )

    _sklearn_class = MLPClassifier
    _parameter_constraints: dict = {
        **BaseBackprop._parameter_constraints,
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def _weigh_samples(self, y, sample_weight, incremental):
        class_weight = self.class_weight
        if class_weight is None:
            return sample_weight
        if isinstance(class_weight, str):  # 'balanced': counted on this y
            if incremental:
                raise ValueError(
                    "class_weight='balanced' is not supported by partial_fit: one batch's class "
                    "counts are not those of the data. Compute the weights once, e.g. with "
                    "sklearn.utils.class_weight.compute_class_weight('balanced', classes=classes, "
                    "y=y) on the whole target (or a large sample of it), and pass them as a dict."
                )
            weights = compute_sample_weight(class_weight, y)
        elif y.ndim == 1:
            weights = self._label_weights(class_weight, self.classes_, "class_weight")[
                np.searchsorted(self.classes_, y)
            ]
        else:  # multilabel: one dict per label, for its values 0 and 1
            if not isinstance(class_weight, list) or len(class_weight) != y.shape[1]:
                raise ValueError(
                    f"For a multilabel target class_weight must be 'balanced' or a list of "
                    f"{y.shape[1]} dicts, one per label; got {class_weight!r}."
                )
            weights = np.ones(y.shape[0])
            for k, label_weight in enumerate(class_weight):
                weights *= self._label_weights(label_weight, np.array([0, 1]), f"class_weight[{k}]")[
                    (y[:, k] != 0).astype(np.intp)
                ]
        return weights if sample_weight is None else np.asarray(sample_weight) * weights

    @staticmethod
    def _label_weights(weights, labels, name):
        """Weights of ``labels`` from the dict ``weights`` (labels it does not name: 1)."""
        if not isinstance(weights, dict):
            raise ValueError(f"{name} must be a dict of label: weight; got {weights!r}.")
        unknown = [key for key in weights if key not in set(labels.tolist())]
        if unknown:
            raise ValueError(
                f"{name} names labels that are not classes: {unknown}; the classes are {labels}."
            )
        values = np.array([weights.get(label, 1.0) for label in labels.tolist()], dtype=np.float64)
        if not (np.isfinite(values).all() and (values >= 0).all()):
            raise ValueError(f"{name} must hold finite, non-negative weights; got {weights}.")
        return values

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 2 and type_of_target(y) == "multiclass-multioutput":
            raise ValueError(
                f"{type(self).__name__} does not support multiclass-multioutput targets "
                "(2-D y with more than two classes in a column); train one classifier "
                "per column, e.g. with sklearn.multioutput.MultiOutputClassifier."
            )
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            # scikit-learn's messages, which users' code and tests match on
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        # a target with one class trains (towards an all-zero column) and
        # predicts that class, as scikit-learn's does
        Y = self._one_hot(y, X.dtype)
        if self.label_smoothing:
            # each target mixed with the uniform one over its K classes: K is
            # the class count of a softmax output, 2 for each logistic unit
            n_classes = Y.shape[1] if self._output_activation() == "softmax" else 2
            Y = np.asarray(Y, dtype=X.dtype) * (1 - self.label_smoothing) + self.label_smoothing / n_classes
        return X, Y, y

    def _one_hot(self, y, dtype):
        """Target matrix of ``y`` (labels already checked against ``classes_``).

        LabelBinarizer's encoding, built directly in ``dtype``: one column
        per class for multiclass targets, one (the second class) for binary
        ones. ``LabelBinarizer.transform`` re-derives the target type, ~3 ms
        per call on 2,000 labels, which fits in threads pay under the GIL.
        """
        y_type = self._label_binarizer.y_type_
        if y_type not in ("binary", "multiclass") or y.ndim != 1:
            return self._label_binarizer.transform(y)
        codes = np.searchsorted(self.classes_, y)
        if y_type == "binary":
            return (codes == 1).astype(dtype).reshape(-1, 1)
        Y = np.zeros((y.shape[0], len(self.classes_)), dtype=dtype)
        Y[np.arange(y.shape[0]), codes] = 1
        return Y

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _score_outputs(self, y_pred, y, sample_weight):
        """Accuracy of the output activations ``y_pred`` (the validation score); NaN if some are not finite."""
        if not np.isfinite(y_pred).all():
            return np.nan
        return accuracy_score(y, self._decode(y_pred), sample_weight=sample_weight)

    def _decode(self, y_pred):
        """Labels from output activations (LabelBinarizer's rules, faster)."""
        y_type = self._label_binarizer.y_type_
        if y_type == "multiclass":
            return self.classes_.take(y_pred.argmax(axis=1))
        if len(self.classes_) == 1:
            return np.repeat(self.classes_, y_pred.shape[0])
        if y_type == "binary" and len(self.classes_) == 2:
            return self.classes_.take((y_pred[:, 0] > 0.5).astype(np.intp))
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Predicted classes (an indicator matrix for multilabel targets).
        """
        return self._decode(self._forward(X))

    @available_if(_solver_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train for one epoch on the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Target labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        classes : array-like of shape (n_classes,), default=None
            Every class that any call will see; required on the first call.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``, in the
            dtype of the training data.
        """
        proba = self._forward(X)
        if len(self.classes_) == 1:
            # one column per class: the one class, with certainty
            # (scikit-learn returns two columns for its one label)
            return np.ones_like(proba)
        if self.n_outputs_ == 1:
            return np.hstack([1 - proba, proba])
        return proba

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class BackpropRegressor(RegressorMixin, BaseBackprop):
    __doc__ = (
        """Multilayer perceptron regressor trained by compiled backpropagation.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`
    with the same parameters, defaults and fitted attributes. It minimises
    half the squared error (identity output) or half the Poisson deviance
    (exp output), summed over outputs, or one of the robust losses of an
    identity output: absolute error, Huber loss, quantile (pinball) loss.

    Parameters
    ----------
    loss : {'squared_error', 'poisson', 'absolute_error', 'huber', 'quantile'}, default='squared_error'
        Loss to minimise, per sample summed over outputs, so that the
        reported loss is the function whose gradient is followed
        (scikit-learn reports the mean of the squared error over outputs
        while following the gradient of the sum). With ``e`` the prediction
        minus the target: 'squared_error' ``e^2 / 2``; 'poisson' half the
        Poisson deviance, with an exponential output (non-negative targets
        only); 'absolute_error' ``|e|``; 'huber' ``e^2 / 2`` where ``|e| <=
        delta`` and ``delta * (|e| - delta / 2)`` outside (PyTorch's
        ``HuberLoss``); 'quantile' the pinball loss of each quantile ``tau``
        in ``quantile``, ``(1 - tau) * e`` above the target and ``-tau * e``
        below it, averaged over the quantiles. At the kinks the gradient
        is the midpoint of the subgradients: 0 for 'absolute_error' where
        ``e = 0``, ``(1/2 - tau) / n_quantiles`` for 'quantile'.
        scikit-learn's MLPRegressor has only 'squared_error' and 'poisson'."""
        + _PARAMETERS_DOC
        + """
    delta : float > 0, default=1.0
        Where the Huber loss turns from quadratic to linear, in the units of
        the target. Used by ``loss='huber'`` only, ignored otherwise.
        scikit-learn's MLPRegressor has no such parameter.
    quantile : float in (0, 1) or list of such floats, default=0.5
        The quantile(s) ``loss='quantile'`` predicts; ignored by the other
        losses. Several distinct quantiles give one output per (target,
        quantile) pair, target-major: output ``t * n_quantiles + k`` is
        quantile ``quantile[k]`` of target ``t``, so ``predict(X)`` has
        shape ``(n_samples, n_quantiles)`` for one target (reshape to
        ``(n_samples, n_targets, n_quantiles)`` for several), and one
        quantile of one target predicts a 1-D array as the other losses.
        :meth:`score` is then the mean R^2 over the outputs, each against
        its target. scikit-learn's MLPRegressor has no such parameter.

    Attributes
    ----------"""
        + _ATTRIBUTES_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import StandardScaler
    >>> from fastbp import BackpropRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> reg = BackpropRegressor(solver="lbfgs", alpha=1.0, random_state=0).fit(X, y / 100)
    >>> reg.score(X, y / 100) > 0.5
    True
    """
    )

    _sklearn_class = MLPRegressor
    _parameter_constraints: dict = {
        **BaseBackprop._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson", "absolute_error", "huber", "quantile"})],
        "delta": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither"), "array-like"],  # a list: see _quantiles
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        early_stopping_metric="score",
        dropout=0.0,
        warmup_fraction=0.1,
        weight_decay=0.0,
        max_grad_norm=None,
        dropout_schedule="constant",
        weight_decay_schedule="constant",
        learning_rate_scaling=None,
        intercept_learning_rate_factor=1.0,
        input_scaling=False,
        input_scale_learning_rate_factor=1.0,
        parametric_activation=False,
        activation_learning_rate_factor=1.0,
        init="glorot",
        delta=1.0,
        quantile=0.5,
    ):
        self.delta = delta
        self.quantile = quantile
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            early_stopping_metric=early_stopping_metric,
            dropout=dropout,
            warmup_fraction=warmup_fraction,
            weight_decay=weight_decay,
            max_grad_norm=max_grad_norm,
            dropout_schedule=dropout_schedule,
            weight_decay_schedule=weight_decay_schedule,
            learning_rate_scaling=learning_rate_scaling,
            intercept_learning_rate_factor=intercept_learning_rate_factor,
            input_scaling=input_scaling,
            input_scale_learning_rate_factor=input_scale_learning_rate_factor,
            parametric_activation=parametric_activation,
            activation_learning_rate_factor=activation_learning_rate_factor,
            init=init,
        )

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs non-negative targets; y has negative values.")
        n_quantiles = len(self._quantiles())  # (checked whatever the loss, as the constraints are)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if self.loss == "quantile" and n_quantiles > 1:
            Y = np.repeat(Y, n_quantiles, axis=1)  # one column per (target, quantile), target-major
        return X, Y, y

    def _quantiles(self):
        """``quantile`` as a tuple of floats; a list's entries are checked here."""
        quantile = self.quantile
        if isinstance(quantile, Real):
            return (float(quantile),)  # checked by the constraints
        values = list(np.ravel(quantile)) if np.ndim(quantile) == 1 else []
        if not (
            values
            and all(isinstance(v, Real) and 0 < v < 1 for v in values)
            and len(set(values)) == len(values)
        ):
            raise InvalidParameterError(
                f"The 'quantile' parameter of {type(self).__name__} must be a float in (0, 1) "
                f"or a non-empty list of distinct floats in (0, 1); got {quantile!r}."
            )
        return tuple(float(v) for v in values)

    def _kernel_loss(self, n_outputs):
        if self.loss not in ROBUST_LOSSES:
            return None
        return loss_parameters(self.loss, n_outputs, float(self.delta), self._quantiles())

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _targets_of_outputs(self, y, y_pred):
        """``y`` with each target repeated for its quantiles' outputs (else ``y`` itself)."""
        y = np.asarray(y)
        n_targets = 1 if y.ndim == 1 else y.shape[1]
        n_outputs = 1 if y_pred.ndim == 1 else y_pred.shape[1]
        if self.loss != "quantile" or n_outputs == n_targets or n_outputs % n_targets:
            return y
        return np.repeat(y.reshape(len(y), n_targets), n_outputs // n_targets, axis=1)

    def _score_outputs(self, y_pred, y, sample_weight):
        """R^2 of the output activations ``y_pred`` (the validation score); NaN if some are not finite."""
        if not np.isfinite(y_pred).all():
            return np.nan
        y_pred = y_pred.ravel() if y_pred.shape[1] == 1 else y_pred
        return r2_score(self._targets_of_outputs(y, y_pred), y_pred, sample_weight=sample_weight)

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of the predictions.

        scikit-learn's ``RegressorMixin.score``; with several quantiles of
        ``loss='quantile'`` it is the mean R^2 over the outputs, each output
        scored against its target (``y`` repeated per quantile).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            True values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R^2 of ``self.predict(X)`` against ``y``.
        """
        y_pred = self.predict(X)
        return r2_score(self._targets_of_outputs(y, y_pred), y_pred, sample_weight=sample_weight)

    def predict(self, X):
        """Predict targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values, in the dtype of the training data; with
            several quantiles one column per (target, quantile) pair (see
            ``quantile``).
        """
        y_pred = self._forward(X)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    @available_if(_solver_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags
