"""Shared estimator logic: parameters, validation, initialisation, fitted attributes, prediction.

This is the scikit-learn side of the boundary; it imports no numba, and
the loop between epochs is the training driver's (``_driver.py``). Every
random number is drawn from one ``RandomState`` in scikit-learn's order
(initial weights layer by layer here, then the early-stopping split and
one permutation per epoch in the driver), so a given integer
``random_state`` reproduces ``MLPClassifier``/``MLPRegressor``'s
trajectory.
"""

import inspect
import os
from abc import ABCMeta, abstractmethod
from contextlib import nullcontext
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

try:  # scikit-learn >= 1.9: fit and partial_fit report to sklearn.callback callbacks
    from sklearn.callback import CallbackSupportMixin
except ImportError:

    class CallbackSupportMixin:
        """Stands in for scikit-learn's mixin where it has none: no set_callbacks."""


from . import _backprop, _parallel
from ._driver import (
    LBFGS_CHUNK,
    REGULARISER_SCHEDULES,
    STEP_SCHEDULES,
    Callbacks,
    OptimizerState,
    StochasticTraining,
    new_history,
    train_lbfgs,
)
from ._init import data_dependent_init
from ._network import (
    HIDDEN_CODES,
    Network,
    as_kernel_data,
    keeps_derivatives,
    n_parameters,
    workspace_nbytes,
    writable,
)
from ._sklearn_bridge import from_sklearn, to_sklearn
from ._threads import single_threaded_blas
from ._version import FORMAT_1_PARAMETERS, FORMAT_1_VALUES, STATE_FORMAT, __version__

# where the documentation is published (also ``[project.urls]`` in
# pyproject.toml); the notebook repr links each estimator's API page there
DOCS_URL = "https://fastbp.readthedocs.io/en/latest/"

_STOCHASTIC_SOLVERS = ("sgd", "adam")
_PREDICT_CHUNK = 512  # rows per chunk of the forward pass in predict
# predictions of at least this many chunks run on the free cores, chunk by chunk
_PARALLEL_PREDICT_CHUNKS = 4
_SMALL_PREDICT = 64  # up to this many rows BLAS stays single-threaded by itself


def _available_memory():
    """Bytes of memory this process can still get, or None when unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _check_fits_in_memory(units, dtype, solver, batch_rows, activation):
    """Refuse, before allocating anything, a network that cannot fit in memory."""
    units = [int(u) for u in units]
    n_params = n_parameters(units)
    itemsize = np.dtype(dtype).itemsize
    if solver == "lbfgs":
        # parameters, best/initial copies, gradient; scipy keeps ~2 x 10
        # correction pairs and a few more float64 vectors
        n_bytes = n_params * (3 * itemsize + 25 * 8)
    else:
        # parameters, best copy, restore copy, gradient, 1-2 moment vectors
        n_bytes = n_params * (6 if solver == "adam" else 5) * itemsize
    # activations and deltas of a training batch or a prediction chunk
    n_bytes += workspace_nbytes(units, dtype, max(batch_rows, _PREDICT_CHUNK), gradient=False)
    if keeps_derivatives(activation):
        # f'(z) of the hidden layers, which some activations keep for training
        n_bytes += batch_rows * sum(units[1:-1]) * itemsize
    available = _available_memory()
    if available is not None and n_bytes > available:
        raise ValueError(
            f"A network with layer sizes {units} ({n_params:,} parameters) would need "
            f"about {_format_bytes(n_bytes)} of memory to train with solver={solver!r}, "
            f"but only {_format_bytes(available)} is available. Use smaller "
            "hidden_layer_sizes."
        )


def _check_representable(dtype, **arrays):
    """Refuse arrays whose values overflow when cast to the model's dtype."""
    largest = np.finfo(dtype).max
    for name, a in arrays.items():
        values = a.data if hasattr(a, "tocsr") else a
        narrowing = values.dtype.kind == "f" and values.dtype.itemsize > np.dtype(dtype).itemsize
        if narrowing and values.size and np.abs(values).max() > largest:
            raise ValueError(
                f"{name} has values too large for {np.dtype(dtype).name}, the dtype of "
                f"this model (largest finite value {largest:.3g}); scale it."
            )


def _format_bytes(n_bytes):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:,.0f} {unit}" if unit == "bytes" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1024


def _are_views_of(arrays, views):
    """Whether the list ``arrays`` holds exactly the arrays ``views``."""
    return (
        isinstance(arrays, list) and len(arrays) == len(views) and all(a is v for a, v in zip(arrays, views))
    )


def _format_1_holds(name, value, default):
    """Whether a format-1 reader knows parameter ``name`` at ``value``."""
    if name in FORMAT_1_VALUES:
        return isinstance(value, str) and value in FORMAT_1_VALUES[name]
    if name in FORMAT_1_PARAMETERS:
        return True
    scalar = (str, Real, type(None))  # (a list or an array is never a default)
    return isinstance(value, scalar) and isinstance(default, scalar) and value == default


def _check_assigned_scale(scale, n_features):
    """``input_scale_`` assigned by a user, as a float array of one scale per input feature."""
    a = np.asarray(scale)
    if a.shape != (n_features,) or a.dtype.kind not in "fiu":
        raise ValueError(
            f"input_scale_ must be an array of {n_features} numbers, one per input feature; got {scale!r}."
        )
    if not np.isfinite(a).all():
        raise ValueError("input_scale_ contains NaN or infinity.")
    return a


def _check_assigned_mix(mix, widths):
    """``activation_mix_`` assigned by a user, as float arrays of one weight per hidden unit."""
    arrays = [np.asarray(a) for a in mix] if isinstance(mix, (list, tuple)) else None
    if arrays is None or [a.shape for a in arrays] != [(int(w),) for w in widths]:
        raise ValueError(
            f"activation_mix_ must be a list of one array per hidden layer, of sizes "
            f"{[int(w) for w in widths]}; got {mix!r}."
        )
    if not all(a.dtype.kind in "fiu" and np.isfinite(a).all() for a in arrays):
        raise ValueError("activation_mix_ must hold finite numbers.")
    return arrays


def _check_assigned_layers(coefs, intercepts):
    """``coefs_``/``intercepts_`` assigned by a user, as float arrays that chain.

    Layer sizes are read off the shapes: ``coefs[i]`` is (fan_in, fan_out)
    and ``intercepts[i]`` (fan_out,), each fan_out the next fan_in.
    """
    for name, layers in (("coefs_", coefs), ("intercepts_", intercepts)):
        if layers is None:
            raise ValueError(
                f"{name} is not set: assign both coefs_ and intercepts_ (lists of "
                "arrays, one per layer) before training from custom weights."
            )
        if not isinstance(layers, (list, tuple)) or len(layers) == 0:
            raise ValueError(f"{name} must be a non-empty list of arrays, one per layer; got {layers!r}.")
    if len(coefs) != len(intercepts):
        raise ValueError(
            f"coefs_ and intercepts_ must have one array per layer each; got {len(coefs)} "
            f"and {len(intercepts)}."
        )
    arrays = {}
    for name, layers, ndim in (("coefs_", coefs, 2), ("intercepts_", intercepts, 1)):
        arrays[name] = []
        for i, layer in enumerate(layers):
            a = np.asarray(layer)
            if a.ndim != ndim or a.dtype.kind not in "fiu" or a.size == 0:
                raise ValueError(f"{name}[{i}] must be a non-empty {ndim}-D array of numbers; got {layer!r}.")
            if not np.isfinite(a).all():
                raise ValueError(f"{name}[{i}] contains NaN or infinity.")
            arrays[name].append(a)
    coefs, intercepts = arrays["coefs_"], arrays["intercepts_"]
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        if intercept.shape != (coef.shape[1],) or (i and coef.shape[0] != coefs[i - 1].shape[1]):
            raise ValueError(
                "coefs_ and intercepts_ do not chain into a network: coefs_[i] must have shape "
                "(fan_in, fan_out) with fan_in the previous fan_out, and intercepts_[i] shape "
                f"(fan_out,); got coefs_ shapes {[c.shape for c in coefs]} and intercepts_ "
                f"shapes {[b.shape for b in intercepts]}."
            )
    return coefs, intercepts


class BaseBackprop(CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of fastbp's estimators; use a subclass."""

    # the "?" link of the notebook/HTML repr (scikit-learn fills in
    # estimator_module, "fastbp", and estimator_name)
    _doc_link_module = "fastbp"
    _doc_link_template = DOCS_URL + "api/generated/{estimator_module}.{estimator_name}.html"

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        # a list or tuple holds one name per hidden layer (checked in fit)
        "activation": [StrOptions(set(HIDDEN_CODES)), list, tuple],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive", *STEP_SCHEDULES})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "early_stopping_metric": [StrOptions({"score", "loss"})],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "warmup_fraction": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "dropout_schedule": [StrOptions(set(REGULARISER_SCHEDULES))],
        "weight_decay_schedule": [StrOptions(set(REGULARISER_SCHEDULES))],
        "learning_rate_scaling": [StrOptions({"fan_in"}), None],
        "intercept_learning_rate_factor": [Interval(Real, 0, None, closed="neither")],
        "input_scaling": ["boolean"],
        "input_scale_learning_rate_factor": [Interval(Real, 0, None, closed="neither")],
        "parametric_activation": ["boolean"],
        "activation_learning_rate_factor": [Interval(Real, 0, None, closed="neither")],
        "init": [StrOptions({"glorot", "data"})],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        loss,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        early_stopping_metric,
        dropout,
        warmup_fraction,
        weight_decay,
        max_grad_norm,
        dropout_schedule,
        weight_decay_schedule,
        learning_rate_scaling,
        intercept_learning_rate_factor,
        input_scaling,
        input_scale_learning_rate_factor,
        parametric_activation,
        activation_learning_rate_factor,
        init,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.early_stopping_metric = early_stopping_metric
        self.dropout = dropout
        self.warmup_fraction = warmup_fraction
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.dropout_schedule = dropout_schedule
        self.weight_decay_schedule = weight_decay_schedule
        self.learning_rate_scaling = learning_rate_scaling
        self.intercept_learning_rate_factor = intercept_learning_rate_factor
        self.input_scaling = input_scaling
        self.input_scale_learning_rate_factor = input_scale_learning_rate_factor
        self.parametric_activation = parametric_activation
        self.activation_learning_rate_factor = activation_learning_rate_factor
        self.init = init

    def _dropout_rates(self, n_hidden=None):
        """One dropout rate per hidden layer as a float64 array; empty without dropout."""
        if n_hidden is None:
            n_hidden = self._network.units.shape[0] - 2
        rates = np.asarray(self.dropout, dtype=object)
        if rates.ndim > 1 or (rates.ndim == 1 and len(rates) != n_hidden):
            raise ValueError(
                f"dropout must be a float or a list of one rate per hidden layer ({n_hidden}), "
                f"got {self.dropout!r}."
            )
        entries = np.broadcast_to(rates, (n_hidden,))
        for rate in entries:
            if isinstance(rate, bool) or not isinstance(rate, (Real, np.floating, np.integer)):
                raise TypeError(f"dropout rates must be real numbers, got {rate!r}.")
            if not 0 <= rate < 1:
                raise ValueError(f"dropout rates must be in [0, 1), got {rate!r}.")
        rates = entries.astype(np.float64)
        if not rates.any():
            return _backprop.NO_DROPOUT
        if self.solver == "lbfgs":
            raise ValueError(
                f"dropout={self.dropout!r} applies to the stochastic solvers only; "
                "solver='lbfgs' trains on the full batch."
            )
        return rates

    # -- subclass hooks -------------------------------------------------

    @abstractmethod
    def _validate_input(self, X, y, incremental, reset):
        """Return ``X``, the float target matrix ``Y`` and ``y`` for scoring."""

    @abstractmethod
    def _output_activation(self):
        """Name of the output activation for the fitted targets."""

    @abstractmethod
    def _score_outputs(self, y_pred, y, sample_weight):
        """Validation score for early stopping of the output activations ``y_pred``."""

    def _weigh_samples(self, y, sample_weight, incremental):
        """The sample weights training uses (the classifier folds in class_weight)."""
        return sample_weight

    def _kernel_loss(self, n_outputs):
        """The kernels' ``loss`` for ``as_kernel_data``; None: the output activation's own."""
        return None

    # -- fitted parameters: views into the flat parameter vector ---------
    #
    # ``coefs_`` and ``intercepts_`` are plain lists of views into the
    # network's one parameter vector. A user may assign whole lists or
    # single items (scikit-learn's tests and custom initialisations do, on
    # fitted and unfitted models); such arrays are not views, and
    # ``_synced_network`` copies them into a network before the next
    # training step or prediction. ``input_scale_`` (with input scaling) is
    # a view too, and an array assigned in its place is copied in likewise;
    # so is ``activation_mix_`` (with parametric activations), a list of views.

    def _set_network(self, network):
        self._network = network
        self.coefs_ = list(network.coefs)
        self.intercepts_ = list(network.intercepts)
        if network.input_scaling:
            self.input_scale_ = network.input_scale
        else:
            self.__dict__.pop("input_scale_", None)
        if network.parametric_activation:
            self.activation_mix_ = list(network.activation_mix)
        else:
            self.__dict__.pop("activation_mix_", None)

    def _synced_network(self):
        """The network holding ``coefs_``/``intercepts_``/``input_scale_``/``activation_mix_``, rebuilt if assigned."""
        network = getattr(self, "_network", None)
        coefs = getattr(self, "coefs_", None)
        intercepts = getattr(self, "intercepts_", None)
        scale = getattr(self, "input_scale_", None)
        mix = getattr(self, "activation_mix_", None)
        if (
            network is not None
            and _are_views_of(coefs, network.coefs)
            and _are_views_of(intercepts, network.intercepts)
            and (not network.input_scaling or scale is network.input_scale)
            and (not network.parametric_activation or _are_views_of(mix, network.activation_mix))
        ):
            return network
        coefs, intercepts = _check_assigned_layers(coefs, intercepts)
        if network is not None:
            dtype = network.dtype
        else:
            all_float32 = all(a.dtype == np.float32 for a in coefs + intercepts)
            dtype = np.float32 if all_float32 else np.float64
        units = [coefs[0].shape[0], *(c.shape[1] for c in coefs)]
        out_activation = getattr(self, "out_activation_", None) or self._output_activation()
        # (weights assigned before a fit take the input_scaling and
        # parametric_activation parameters, scales and mixing weights 1)
        input_scaling = network.input_scaling if network is not None else bool(self.input_scaling)
        parametric = network.parametric_activation if network is not None else bool(self.parametric_activation)
        activation = self._hidden_activation(len(units) - 2)
        rebuilt = Network(units, activation, out_activation, dtype, input_scaling, parametric)
        for view, array in zip(rebuilt.coefs + rebuilt.intercepts, coefs + intercepts):
            view[...] = array
        if input_scaling and scale is not None:
            rebuilt.input_scale[...] = _check_assigned_scale(scale, units[0])
        if parametric and mix is not None:
            for view, array in zip(rebuilt.activation_mix, _check_assigned_mix(mix, units[1:-1])):
                view[...] = array
        if network is None or network.n_params != rebuilt.n_params:
            # optimizer moments and the early-stopping copy no longer fit
            self.__dict__.pop("_optimizer", None)
            self._best_params = None
        self._set_network(rebuilt)
        return rebuilt

    def __getstate__(self):
        # what pickle, joblib and skops save: plain arrays and values only
        # (the network and optimizer as dicts), stamped with the format
        state = dict(super().__getstate__())  # (Python 3.11+ returns __dict__ itself)
        network = state.pop("_network", None)
        if network is not None:
            # the layer views are rebuilt on loading; user-assigned arrays stay
            if _are_views_of(state.get("coefs_"), network.coefs):
                del state["coefs_"]
            if _are_views_of(state.get("intercepts_"), network.intercepts):
                del state["intercepts_"]
            if network.input_scaling and state.get("input_scale_") is network.input_scale:
                del state["input_scale_"]
            if network.parametric_activation and _are_views_of(state.get("activation_mix_"), network.activation_mix):
                del state["activation_mix_"]
            state["_network_state"] = network.to_state()
        if "_optimizer" in state:
            state["_optimizer_state"] = state.pop("_optimizer").to_state()
        state["_fastbp_state"] = {"fastbp_version": __version__, "format": self._state_format(network)}
        return state

    @classmethod
    def _parameter_defaults(cls):
        signature = inspect.signature(cls.__init__)
        return {name: p.default for name, p in signature.parameters.items() if name != "self"}

    def _state_format(self, network):
        """The oldest state format that holds this model (see ``_version.STATE_FORMAT``)."""
        defaults = self._parameter_defaults()
        known = all(_format_1_holds(name, getattr(self, name), defaults[name]) for name in defaults)
        if network is not None:  # (its activation may differ from a parameter set since)
            known = known and _format_1_holds("activation", network.activation, None)
        return 1 if known else STATE_FORMAT

    def __setstate__(self, state):
        state = dict(state)
        stamp = state.pop("_fastbp_state", {"fastbp_version": "0.1.0 or older", "format": 0})
        if not isinstance(stamp, dict) or not isinstance(stamp.get("format"), int):
            raise ValueError(
                "This saved fastbp model is damaged or was altered: its format stamp is unreadable."
            )
        if stamp["format"] > STATE_FORMAT:
            raise ValueError(
                f"This model was saved by fastbp {stamp.get('fastbp_version')} in state format "
                f"{stamp['format']}; fastbp {__version__} reads formats up to {STATE_FORMAT}. "
                "Upgrade fastbp to load it."
            )
        network_state = state.pop("_network_state", None)
        optimizer_state = state.pop("_optimizer_state", None)
        super().__setstate__(state)
        # a parameter added after the file was written takes its default,
        # which is how the model was trained (every newer option is off by default)
        for name, default in self._parameter_defaults().items():
            self.__dict__.setdefault(name, default)
        if network_state is not None:
            self._network = Network.from_state(network_state)
        network = getattr(self, "_network", None)
        if optimizer_state is not None:
            self._optimizer = OptimizerState.from_state(optimizer_state, network.n_params)
        if network is not None:
            self.__dict__.setdefault("coefs_", list(network.coefs))
            self.__dict__.setdefault("intercepts_", list(network.intercepts))
            if network.input_scaling:
                self.__dict__.setdefault("input_scale_", network.input_scale)
            if network.parametric_activation:
                self.__dict__.setdefault("activation_mix_", list(network.activation_mix))
        if getattr(self, "_best_params", None) is not None:
            self._best_params = writable(self._best_params)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_network")

    # -- fitting ---------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. float32 input trains in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets (class labels in classification, real numbers in
            regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if not all(isinstance(s, Integral) and not isinstance(s, bool) for s in sizes):
            raise ValueError(f"hidden_layer_sizes must hold integers, got {sizes}.")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _hidden_activation(self, n_hidden):
        """``activation`` as the network takes it: one name, or a tuple of one per hidden layer."""
        activation = self.activation
        if isinstance(activation, str):
            return activation
        names = tuple(activation)
        if not all(isinstance(name, str) and name in HIDDEN_CODES for name in names):
            raise ValueError(
                f"activation must be a name or a list of names among {sorted(HIDDEN_CODES)}, "
                f"got {activation!r}."
            )
        if len(names) != n_hidden:
            raise ValueError(
                f"activation must hold one name per hidden layer, {n_hidden} here "
                f"(hidden_layer_sizes={self.hidden_layer_sizes!r}), or be a single name for "
                f"all of them; got {len(names)} names: {activation!r}."
            )
        return names

    def _fit(self, X, y, sample_weight, incremental):
        hidden = self._hidden_sizes()
        activation = self._hidden_activation(len(hidden))
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        # (weights assigned to an unfitted model come without n_features_in_)
        reset = first_pass or not hasattr(self, "n_features_in_")
        X, Y, y_score = self._validate_input(X, y, incremental, reset=reset)
        if hasattr(X, "tocsr"):
            X = X.tocsr()
        units = [X.shape[1], *hidden, Y.shape[1]]
        if not first_pass:
            # continue from the current weights, which a user may have assigned
            network = self._synced_network()
            if not network.same_architecture(units, activation, self._output_activation()):
                raise ValueError(
                    "warm_start and partial_fit need the same architecture as the fitted "
                    f"model: layer sizes {network.units.tolist()} with activation "
                    f"{network.activation!r}, got {units} with {self.activation!r}."
                )
            for option in ("input_scaling", "parametric_activation"):
                if getattr(network, option) != bool(getattr(self, option)):
                    raise ValueError(
                        "warm_start and partial_fit need the same architecture as the fitted "
                        f"model, which has {option}={getattr(network, option)}; got "
                        f"{option}={getattr(self, option)!r}."
                    )
        dtype = X.dtype if first_pass else network.dtype
        sample_weight = self._weigh_samples(y_score, sample_weight, incremental)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=dtype, ensure_non_negative=True)
            with np.errstate(over="ignore"):
                weight_sum = np.sum(sample_weight, dtype=np.float64)
            if not np.isfinite(weight_sum):
                raise ValueError(
                    "The sum of sample_weight overflows; scale the weights down (only their ratios matter)."
                )
            if weight_sum == 0:  # (scikit-learn >= 1.8 says so itself, in these words)
                raise ValueError("Sample weights must contain at least one non-zero number.")
        _check_representable(dtype, X=X, y=Y)
        Y = np.ascontiguousarray(Y, dtype=dtype)  # (lets an integer one-hot Y go at once)

        # one RNG stream per fit; partial_fit keeps drawing from it
        if not incremental or not hasattr(self, "_random_state"):
            self._random_state = check_random_state(self.random_state)

        self._dropout_rates(len(units) - 2)  # (checked before anything is built)
        if self.solver == "lbfgs" and self.early_stopping_metric != "score":
            raise ValueError(
                f"early_stopping_metric={self.early_stopping_metric!r} applies to the stochastic "
                "solvers only (early stopping needs epochs); solver='lbfgs' has none."
            )
        if self.solver == "lbfgs":
            for name, is_set in (
                ("learning_rate", self.learning_rate in STEP_SCHEDULES),
                ("weight_decay", self.weight_decay != 0),
                ("max_grad_norm", self.max_grad_norm is not None),
                ("dropout_schedule", self.dropout_schedule != "constant"),
                ("weight_decay_schedule", self.weight_decay_schedule != "constant"),
            ):
                if is_set:
                    raise ValueError(
                        f"{name}={getattr(self, name)!r} applies to the stochastic solvers "
                        "('sgd', 'adam') only, not to solver='lbfgs'."
                    )
        for name, is_set in (
            ("learning_rate_scaling", self.learning_rate_scaling is not None),
            ("intercept_learning_rate_factor", self.intercept_learning_rate_factor != 1.0),
            ("input_scale_learning_rate_factor", self.input_scale_learning_rate_factor != 1.0),
            ("activation_learning_rate_factor", self.activation_learning_rate_factor != 1.0),
        ):
            if is_set and self.solver != "adam":
                raise ValueError(
                    f"{name}={getattr(self, name)!r} applies to solver='adam' only, not to "
                    f"solver={self.solver!r}."
                )
        if first_pass:
            _check_fits_in_memory(units, dtype, self.solver, self._batch_rows(X.shape[0]), activation)
            self._initialize(units, dtype, X)
        else:
            self._init_bookkeeping(only_missing=True)  # weights assigned to an unfitted model

        stochastic = self.solver in _STOCHASTIC_SOLVERS
        # one task per epoch (per L-BFGS iteration, plus the one begun after the last)
        max_tasks = (1 if incremental else self.max_iter) if stochastic else self.max_iter + 1
        callbacks = Callbacks(self, X, y_score, sample_weight, max_tasks)
        with single_threaded_blas():
            if stochastic:
                StochasticTraining(self, X, Y, y_score, sample_weight, incremental, callbacks).run()
            else:
                train_lbfgs(self, X, Y, sample_weight, callbacks)
        callbacks.end_fit()
        return self

    def _batch_rows(self, n_samples):
        """Rows per mini-batch (or per L-BFGS gradient chunk)."""
        if self.solver == "lbfgs":
            return min(LBFGS_CHUNK, n_samples)
        return min(200 if self.batch_size == "auto" else self.batch_size, n_samples)

    def _new_network(self, units, dtype, rng):
        activation = self._hidden_activation(len(units) - 2)
        network = Network(
            units, activation, self._output_activation(), dtype, self.input_scaling, self.parametric_activation
        )
        # Glorot-uniform initialisation, drawn layer by layer (coefficients,
        # then intercepts) in float64 and cast, like scikit-learn's. Each
        # matrix takes the factor of the activation after it, the output
        # layer that of the last hidden one: with one activation, all take
        # scikit-learn's factor
        after = network.hidden_activations
        after = after + after[-1:] if after else [activation]
        for coef, intercept, name in zip(network.coefs, network.intercepts, after):
            factor = 2.0 if name == "logistic" else 6.0
            bound = np.sqrt(factor / (coef.shape[0] + coef.shape[1]))
            coef[...] = rng.uniform(-bound, bound, coef.shape)
            intercept[...] = rng.uniform(-bound, bound, intercept.shape)
        return network

    def _initialize(self, units, dtype, X):
        network = self._new_network(units, dtype, self._random_state)
        if self.init == "data":  # (drawn after scikit-learn's initial draws)
            data_dependent_init(network.coefs, network.intercepts, network.hidden_activations, X, self._random_state)
        self._set_network(network)
        self._best_params = None  # the best weights of early stopping
        self._init_bookkeeping(only_missing=False)

    def _init_bookkeeping(self, only_missing):
        """Fitted attributes of a fresh fit; ``only_missing`` keeps those already set."""
        network = self._network
        self.n_outputs_ = int(network.units[-1])
        self.n_layers_ = len(network.units)
        self.out_activation_ = network.out_activation
        initial = {"n_iter_": 0, "t_": 0, "history_": new_history()}
        if self.solver in _STOCHASTIC_SOLVERS:
            initial.update(loss_curve_=[], _no_improvement_count=0)
            if self.early_stopping:
                initial.update(
                    validation_scores_=[],
                    best_validation_score_=-np.inf,
                    validation_loss_curve_=[],
                    best_validation_loss_=np.inf,
                    best_loss_=None,
                )
            else:
                initial.update(
                    best_loss_=np.inf,
                    validation_scores_=None,
                    best_validation_score_=None,
                    validation_loss_curve_=None,
                    best_validation_loss_=None,
                )
        for name, value in initial.items():
            if not (only_missing and hasattr(self, name)):
                setattr(self, name, value)
        if not hasattr(self, "_best_params"):
            self._best_params = None

    # -- prediction ------------------------------------------------------

    def _forward(self, X, check_input=True):
        """Output activations of ``X``, shape (n_samples, n_outputs_)."""
        if check_input and not self._is_well_formed(X):
            check_is_fitted(self)
            X = validate_data(
                self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32)
            )
        out = self._outputs(self._synced_network(), X)
        if check_input and not np.isfinite(out).all():
            raise ValueError(
                "The network's output overflowed (inf or NaN) for some rows of X: "
                "their values are too large for this model. Scale X the way the "
                "training data was scaled."
            )
        return out

    def _outputs(self, network, X):
        """Output activations of ``network`` on validated ``X``."""
        if hasattr(X, "tocsr"):
            X = X.tocsr()
        if X.dtype != network.dtype and network.dtype == np.float32:
            # scikit-learn's rule: float32 X keeps a float32 model in float32;
            # float64 X meets its weights upcast to float64
            network = network.astype(np.float64)
        n_rows, n_outputs = X.shape[0], int(network.units[-1])
        data = as_kernel_data(X, dtype=network.dtype, n_outputs=n_outputs)
        out = np.empty((n_rows, n_outputs), dtype=network.dtype)
        chunk = max(1, min(_PREDICT_CHUNK, n_rows))
        n_chunks = -(-n_rows // chunk)
        if n_chunks < _PARALLEL_PREDICT_CHUNKS:
            work = network.workspace(chunk, data[4], gradient=False)
            small = n_rows <= _SMALL_PREDICT  # skip the ~20 us of setting thread limits
            with nullcontext() if small else single_threaded_blas():
                _backprop.predict_into(network.net(), data, work, out)
            return out
        # chunk by chunk on the free cores: each row's outputs are those of the
        # same chunk on one thread
        net, rows = network.net(), np.arange(n_rows)
        with single_threaded_blas(), _parallel.worker_threads(n_chunks - 1) as n_workers:
            works = [network.workspace(chunk, data[4], gradient=False) for _ in range(1 + n_workers)]

            def predict(i, slot):
                _backprop.predict_into(net, data, works[slot], out, rows[i * chunk : (i + 1) * chunk])

            _parallel.map_chunks(predict, n_chunks, n_workers)
        return out

    def _is_well_formed(self, X):
        """Whether ``X`` passes ``validate_data`` unchanged; checked cheaply.

        ``validate_data`` costs ~80 us, far more than predicting a few rows.
        A fitted model given a finite, C-contiguous float ndarray of the
        right width (and no feature names to compare) needs none of its
        conversions, so prediction skips it; anything else takes the full
        path and gets its errors and warnings.
        """
        return (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in (np.float64, np.float32)
            and X.flags.c_contiguous
            and X.shape[0] > 0
            and hasattr(self, "_network")
            and X.shape[1] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
            and np.isfinite(X).all()
        )

    # -- to and from scikit-learn's MLP -----------------------------------

    def to_sklearn(self):
        """This fitted model as scikit-learn's ``MLPClassifier``/``MLPRegressor``.

        The weights and fitted attributes are copies: the two models never
        share arrays. Its predictions equal this model's to rounding
        (fastbp's vectorised exp, tanh and logistic are a few ulp from
        NumPy's): within rtol 1e-12 in float64 and 1e-5 in float32. The
        optimizer state (Adam's moments, SGD's velocity) is not carried, so
        a ``partial_fit`` of the returned model starts it afresh. Training
        options scikit-learn's MLP lacks (``class_weight``,
        ``label_smoothing``, ``early_stopping_metric``, ``dropout``,
        ``weight_decay``, ``max_grad_norm``, ``warmup_fraction``,
        ``dropout_schedule``, ``weight_decay_schedule``,
        ``learning_rate_scaling``, ``intercept_learning_rate_factor``,
        ``input_scale_learning_rate_factor``, ``init``, the
        ``learning_rate`` schedules 'cosine', 'warmup_cosine' and 'coslog4',
        which the returned model replaces by 'constant', and the regressor's
        losses 'absolute_error', 'huber' and 'quantile', whose models are
        identity-output networks) change only how a model is trained: the
        model is returned with a warning naming them. With
        ``input_scaling`` the scales are folded into the first weight
        matrix (``input_scale_[:, None] * coefs_[0]``), which predicts the
        same to rounding, and the warning names it too (the returned model
        trains without scales).

        Returns
        -------
        mlp : MLPClassifier or MLPRegressor
            A fitted scikit-learn model.
        """
        return to_sklearn(self, self._sklearn_class)

    @classmethod
    def from_sklearn(cls, mlp):
        """A fastbp model of a fitted scikit-learn ``MLPClassifier``/``MLPRegressor``.

        Its weights are copies of ``mlp``'s, in the dtype of its ``coefs_``;
        ``mlp`` is neither changed nor shared. Training continues with
        ``partial_fit`` or ``warm_start`` from those weights; scikit-learn's
        optimizer state (Adam's moments, SGD's velocity) is not carried, so
        that continuation starts the optimizer afresh.

        Parameters
        ----------
        mlp : MLPClassifier or MLPRegressor
            A fitted scikit-learn model of the matching kind.

        Returns
        -------
        model : BackpropClassifier or BackpropRegressor
            A fitted fastbp model predicting as ``mlp`` does, to rounding.
        """
        return from_sklearn(cls, mlp, cls._sklearn_class)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
