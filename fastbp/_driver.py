"""The training driver: the Python loop between compiled epochs.

The estimators (``_base.py``, ``_estimators.py``) own scikit-learn's
contract: parameters, validation, fitted attributes, prediction. This
module owns what happens around each compiled call: the early-stopping
split, the shuffle of each epoch, learning-rate schedules, stopping rules,
validation and the restore of the best epoch, divergence, and
KeyboardInterrupt; and the bridge from L-BFGS (scipy) to the compiled
full-batch loss and gradient. The engine (``_backprop``) runs one epoch
per call and knows nothing of this.

Every random number comes from the estimator's one ``RandomState``, in
scikit-learn's order: the early-stopping split, then one permutation per
epoch (the initial weights were drawn before, by the estimator).
"""

import time
import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from . import _backprop, _parallel, _threads
from ._network import as_kernel_data, writable
from ._optimizers import ADAM, COSINE, COSLOG4, FLAT_COS, PER_EPOCH, SGD, schedule_factor
from ._regularisers import epoch_key

LBFGS_CHUNK = 1024  # rows per chunk of the full-batch L-BFGS gradient

# fastbp's learning-rate schedules, evaluated at every step of a run of
# max_iter epochs (scikit-learn's three are set between epochs, PER_EPOCH)
STEP_SCHEDULES = {"cosine": COSINE, "warmup_cosine": COSINE, "coslog4": COSLOG4}
# the schedules of the dropout rates and the weight decay, over the same run
REGULARISER_SCHEDULES = {"constant": PER_EPOCH, "flat_cos": FLAT_COS}
# the schedule as plain Python, for the step sizes the history records
_schedule_factor = getattr(schedule_factor, "py_func", schedule_factor)

# the columns of ``history_``, one entry per epoch (L-BFGS: per iteration)
HISTORY_KEYS = (
    "epoch",
    "loss",
    "validation_loss",
    "validation_score",
    "learning_rate",
    "dropout",
    "weight_decay",
    "seconds",
)


def new_history():
    return {key: [] for key in HISTORY_KEYS}


def _record(est, **entry):
    """Append one epoch to ``est.history_``; missing columns get NaN, so all stay equal length."""
    history = est.history_
    entry["epoch"] = len(history["epoch"]) + 1
    for key in HISTORY_KEYS:
        history[key].append(entry.get(key, np.nan))


# scikit-learn's words, which users' code and tests match on
NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large "
    "values and need to be preprocessed."
)


def _fitted_copy_attributes(est):
    """Attributes that make a copy of ``est`` a model of its weights now.

    scikit-learn builds the fitted estimator it passes to callbacks with
    ``copy.copy(est)`` and these attributes; the copy gets its own network
    (and layer views into it), so it neither sees later updates nor, through
    the layers' setters, writes into the model being trained.
    """
    network = est._network.astype(est._network.dtype)
    return {"_network": network, "coefs_": list(network.coefs), "intercepts_": list(network.intercepts)}


class Callbacks:
    """scikit-learn's callback hooks (1.9+) around one fit: the fit task, one subtask per epoch.

    Without callback support (scikit-learn < 1.9) every method does nothing.
    The weights passed to callbacks are copied only when a callback asks for
    the fitted estimator.
    """

    def __init__(self, est, X, y, sample_weight, max_subtasks):
        self.est, self.X, self.y = est, X, y
        self.metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.ctx = self.task = None
        if hasattr(est, "_init_callback_context"):
            self.ctx = est._init_callback_context(max_subtasks=max_subtasks)
            self.ctx.call_on_fit_task_begin(estimator=est, X=X, y=y, metadata=self.metadata)

    def _hook(self, context, name):
        est = self.est
        return getattr(context, name)(
            estimator=est,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=lambda: _fitted_copy_attributes(est),
        )

    def begin_epoch(self, task_name="epoch"):
        if self.ctx is not None:
            self.task = self.ctx.subcontext(task_name=task_name)
            self._hook(self.task, "call_on_fit_task_begin")

    def end_epoch(self):
        """End the epoch's task; True when a callback asks to stop."""
        if self.task is None:
            return False
        task, self.task = self.task, None
        return bool(self._hook(task, "call_on_fit_task_end"))

    def abandon_epoch(self):
        """End a task that did not run to its end (interrupted), with nothing to report."""
        if self.task is not None:
            self.task.call_on_fit_task_end(estimator=self.est)
            self.task = None

    def end_fit(self):
        if self.ctx is not None:
            self.ctx.call_on_fit_task_end(
                estimator=self.est, X=self.X, y=self.y, metadata=self.metadata, reconstruction_attributes={}
            )


class OptimizerState:
    """Optimizer state that outlives one ``fit`` call (for partial_fit)."""

    def __init__(self, solver, learning_rate, n_params, dtype):
        self.solver = solver
        self.learning_rate = float(learning_rate)
        self.t = 0  # Adam's step count
        self.state_1 = np.zeros(n_params, dtype=dtype)  # SGD velocity / Adam first moment
        self.state_2 = np.zeros(n_params if solver == "adam" else 0, dtype=dtype)

    def __setstate__(self, state):  # (models saved before STATE_FORMAT 1)
        self.__dict__.update(state)
        self.state_1, self.state_2 = writable(self.state_1), writable(self.state_2)

    def to_state(self):
        """Plain values (what a saved model holds): see :meth:`from_state`."""
        return {**vars(self), "state_1": self.state_1.copy(), "state_2": self.state_2.copy()}

    @classmethod
    def from_state(cls, state, n_params):
        """Rebuild from :meth:`to_state`'s values, checked against the network's size."""
        fields = {"solver", "learning_rate", "t", "state_1", "state_2"}
        ok = isinstance(state, dict) and set(state) == fields and state["solver"] in ("sgd", "adam")
        if ok:
            state_1, state_2 = np.asarray(state["state_1"]), np.asarray(state["state_2"])
            ok = state_1.shape == (n_params,) and state_2.shape == (
                (n_params,) if state["solver"] == "adam" else (0,)
            )
        if not ok:
            raise ValueError(
                "This saved fastbp model is damaged or was altered: its optimizer state "
                "does not fit the network."
            )
        optimizer = cls.__new__(cls)
        optimizer.solver, optimizer.learning_rate, optimizer.t = (
            state["solver"],
            float(state["learning_rate"]),
            int(state["t"]),
        )
        optimizer.state_1, optimizer.state_2 = np.array(state_1), np.array(state_2)
        return optimizer


def _step_groups(est, network):
    """``optimizer_tuple``'s per-group step sizes: one group per weight matrix and per intercept vector.

    With input scaling, the scales are one more group, and with parametric
    activations, their mixing weights. Empty (one group, no factors) unless
    ``learning_rate_scaling``, ``intercept_learning_rate_factor``,
    ``input_scale_learning_rate_factor`` or
    ``activation_learning_rate_factor`` is set.
    """
    scale_factor = float(est.input_scale_learning_rate_factor) if network.input_scaling else 1.0
    mix_factor = float(est.activation_learning_rate_factor) if network.parametric_activation else 1.0
    factors = (est.intercept_learning_rate_factor, scale_factor, mix_factor)
    if est.learning_rate_scaling is None and factors == (1.0, 1.0, 1.0):
        return {}
    fan_ins = network.units[:-1].astype(np.float64)
    scaling = 1.0 / np.sqrt(fan_ins) if est.learning_rate_scaling == "fan_in" else np.ones_like(fan_ins)
    n_layers = fan_ins.shape[0]
    # each group ends where the next begins, the last where the parameters do
    # (the intercepts' last group ends at the scales, or the mixing weights)
    extra_bounds, extra_lr = [], []
    if network.input_scaling:
        extra_bounds.append(network.mix_start)
        extra_lr.append(scale_factor)
    if network.parametric_activation:
        extra_bounds.append(network.n_params)
        extra_lr.append(mix_factor)
    intercepts = np.full(n_layers, float(est.intercept_learning_rate_factor))
    return dict(
        group_bounds=np.concatenate([network.coef_start[:-1], network.bias_start, np.array(extra_bounds, np.int64)]),
        group_lr=np.concatenate([scaling, intercepts, extra_lr]),
        group_eps=np.concatenate([1.0 / scaling, np.ones(n_layers + len(extra_lr))]),
    )


class StochasticTraining:
    """One ``fit`` (or ``partial_fit`` epoch) of an 'sgd' or 'adam' estimator.

    Reads the estimator's parameters and writes its fitted attributes
    (``loss_curve_``, ``validation_scores_``, ``n_iter_``, ...) as it goes;
    the weights live in the estimator's network and are updated in place.
    """

    def __init__(self, est, X, Y, y_score, sample_weight, incremental, callbacks):
        if est.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if incremental and est.learning_rate in STEP_SCHEDULES:
            raise ValueError(
                f"partial_fit does not support learning_rate={est.learning_rate!r}: the schedule "
                "spans the max_iter epochs of one fit, and partial_fit calls have no known number. "
                "Use fit, or a schedule of scikit-learn's ('constant', 'invscaling', 'adaptive')."
            )
        for name in ("dropout_schedule", "weight_decay_schedule"):
            if incremental and getattr(est, name) != "constant":
                raise ValueError(
                    f"partial_fit does not support {name}={getattr(est, name)!r}: the schedule spans "
                    "the max_iter epochs of one fit, and partial_fit calls have no known number. "
                    "Use fit, or 'constant'."
                )
        self.est = est
        self.callbacks = callbacks
        self.incremental = incremental
        self.network = network = est._network
        if not incremental or not hasattr(est, "_optimizer"):
            est._optimizer = OptimizerState(
                est.solver, est.learning_rate_init, network.n_params, network.dtype
            )
        self.train = None  # all rows
        loss = est._kernel_loss(Y.shape[1])
        if est.early_stopping:
            if est._best_params is None:
                est._best_params = network.params.copy()
            self.train, val = self._early_stopping_split(X, Y)
            self.y_val = y_score[val]
            self.sw_val = None if sample_weight is None else sample_weight[val]
            # the validation rows' outputs (for the score) and loss, from one
            # forward pass of the compiled kernel
            self.val_data = as_kernel_data(
                X[val], Y[val], self.sw_val, dtype=network.dtype, n_outputs=Y.shape[1], loss=loss
            )
            self.val_works = []  # one per thread (made by the first validation)
            self.val_out = np.empty((len(val), Y.shape[1]), dtype=network.dtype)
            self.val_rows = np.arange(len(val))
            self.val_sw_sum = float(self.val_data[6].sum(dtype=np.float64))
        self.drop_rates = est._dropout_rates()
        # what history_ records: one rate, or one per hidden layer, as given
        self.drop_given = np.asarray(est.dropout, dtype=np.float64)
        self.drop_schedule = REGULARISER_SCHEDULES[est.dropout_schedule]
        self.decay_schedule = REGULARISER_SCHEDULES[est.weight_decay_schedule]
        self.step_groups = _step_groups(est, network)
        # dropout's seed: drawn only when it is on, after scikit-learn's draws
        self.drop_seed = est._random_state.randint(2**31 - 1) if self.drop_rates.size else 0
        self.n_samples = X.shape[0] if self.train is None else self.train.shape[0]
        if est.batch_size != "auto" and est.batch_size > self.n_samples:
            warnings.warn(
                f"batch_size={est.batch_size} is larger than the number of "
                f"samples ({self.n_samples}); it is clipped to {self.n_samples}."
            )
        self.batch_size = est._batch_rows(self.n_samples)
        # the run of a per-step schedule: every batch of max_iter epochs of the
        # training rows (early stopping or not), the first ones a warmup
        self.schedule = STEP_SCHEDULES.get(est.learning_rate, PER_EPOCH)
        self.steps_per_epoch = -(-self.n_samples // self.batch_size)
        self.n_steps = est.max_iter * self.steps_per_epoch
        self.warmup_steps = 0
        if est.learning_rate == "warmup_cosine":
            self.warmup_steps = min(round(float(est.warmup_fraction) * self.n_steps), self.n_steps - 1)
        self.data = as_kernel_data(X, Y, sample_weight, dtype=network.dtype, n_outputs=Y.shape[1], loss=loss)
        self.work = network.workspace(self.batch_size, self.data[4])
        self.n_rows = X.shape[0]

    def _early_stopping_split(self, X, Y):
        """Training and validation row indices; consumes the RNG as scikit-learn does.

        The training rows stay in ``X`` (the epochs gather them by index),
        so only the validation share is copied.
        """
        est = self.est
        stratify = None
        if hasattr(est, "classes_") and est.n_outputs_ == 1:
            # binary (and one-class) targets only, as scikit-learn; its
            # boolean (n, 1) target names the classes 'True'/'False' in
            # train_test_split's errors and orders them as 0/1
            stratify = Y[:, :1].astype(bool)
        train, val = train_test_split(
            np.arange(X.shape[0]),
            random_state=est._random_state,
            test_size=est.validation_fraction,
            stratify=stratify,
        )
        if val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        return train, val

    def run(self):
        """Train up to ``max_iter`` epochs (one for partial_fit)."""
        network = self.network
        n_blocks = _parallel.n_blocks(network.units, self.batch_size)
        with _parallel.worker_threads(n_blocks - 1) as n_workers:
            self.n_workers = n_workers  # (the validation's threads too)
            if n_blocks > 1:
                blocked = _parallel.BlockedEpochs(network, self.data[4], self.batch_size, n_blocks, n_workers)
                self._train(blocked.epoch)
            else:
                self._train(_backprop.run_epoch)

    def _train(self, run_epoch):
        """The epoch loop; ``run_epoch`` as :func:`fastbp._backprop.run_epoch`."""
        est, network = self.est, self.network
        net, opt = network.net(), est._optimizer
        solver = ADAM if opt.solver == "adam" else SGD
        sample_idx = np.arange(self.n_samples)
        last_finite = np.empty_like(network.params)
        try:
            est.n_iter_ = 0
            for _ in range(est.max_iter):
                self.callbacks.begin_epoch()
                if est.shuffle:
                    # compose a fresh permutation with the previous order,
                    # as sklearn.utils.shuffle on the index array does
                    perm = np.arange(self.n_samples)
                    est._random_state.shuffle(perm)
                    sample_idx = sample_idx[perm]
                step_0 = est.n_iter_ * self.steps_per_epoch  # this epoch's first step in the run
                optimizer = _backprop.optimizer_tuple(
                    network.dtype,
                    opt.state_1,
                    opt.state_2,
                    solver=solver,
                    lr=opt.learning_rate,
                    alpha=est.alpha,
                    momentum=est.momentum,
                    nesterov=est.nesterovs_momentum,
                    beta_1=est.beta_1,
                    beta_2=est.beta_2,
                    epsilon=est.epsilon,
                    t=opt.t,
                    drop_rates=self.drop_rates,
                    drop_key=epoch_key(self.drop_seed, est.n_iter_),
                    schedule=self.schedule,
                    step_0=step_0,
                    n_steps=self.n_steps,
                    warmup_steps=self.warmup_steps,
                    drop_schedule=self.drop_schedule,
                    decay_schedule=self.decay_schedule,
                    weight_decay=est.weight_decay,
                    max_grad_norm=0.0 if est.max_grad_norm is None else est.max_grad_norm,
                    **self.step_groups,
                )
                rows = sample_idx if self.train is None else self.train[sample_idx]
                last_finite[...] = network.params
                self.epoch_start = time.perf_counter()
                # (a per-step schedule: the values of the epoch's first step)
                learning_rate = opt.learning_rate * _schedule_factor(
                    self.schedule, step_0, self.n_steps, self.warmup_steps
                )
                settings = self._regularisers_at(step_0, learning_rate)
                _threads.hold_one_thread()
                loss_sum, opt.t = run_epoch(net, self.data, self.work, optimizer, rows, self.batch_size)
                diverged = not (np.isfinite(loss_sum) and np.isfinite(network.params).all())
                if diverged and not est.early_stopping:
                    self._diverged(last_finite, est.n_iter_ + 1)
                stop = self._end_epoch(loss_sum, diverged, settings)
                if self.callbacks.end_epoch() or stop:  # (a callback's request: weights are finite here)
                    break
        except KeyboardInterrupt:
            if not np.isfinite(network.params).all():  # interrupted before the check
                network.params[...] = last_finite
            self.callbacks.abandon_epoch()
            warnings.warn("Training interrupted by user.")
        if est.early_stopping:
            network.params[...] = est._best_params

    def _regularisers_at(self, step, learning_rate):
        """The history's step size, dropout rate(s) and weight decay of ``step`` of the run."""
        drop = self.drop_given * _schedule_factor(self.drop_schedule, step, self.n_steps, 0)
        decay = self.est.weight_decay * _schedule_factor(self.decay_schedule, step, self.n_steps, 0)
        return {
            "learning_rate": learning_rate,
            "dropout": tuple(drop.tolist()) if drop.ndim else float(drop),
            "weight_decay": float(decay),
        }

    def _end_epoch(self, loss_sum, diverged, settings):
        """Record the epoch, its ``settings`` (:meth:`_regularisers_at`); update stopping rules; True to stop."""
        est, opt = self.est, self.est._optimizer
        est.n_iter_ += 1
        est.loss_ = loss_sum / self.n_samples
        est.t_ += self.n_samples
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))

        if est.early_stopping:
            self._update_validation()
        _record(
            est,
            loss=est.loss_,
            validation_loss=est.validation_loss_curve_[-1] if est.early_stopping else np.nan,
            validation_score=est.validation_scores_[-1] if est.early_stopping else np.nan,
            **settings,
            seconds=time.perf_counter() - self.epoch_start,
        )
        if est.early_stopping:
            if diverged:
                # keep the epoch's NaN score on record, then stop and restore
                # the best epoch (scikit-learn trains on, on NaN weights, to
                # max_iter)
                del est._optimizer  # its moments may be non-finite
                warnings.warn(
                    f"{NON_FINITE} Training stopped in epoch {est.n_iter_}; the "
                    "weights of the best validation epoch are kept.",
                    ConvergenceWarning,
                )
                return True
        else:
            self._update_training_loss()

        if opt.solver == "sgd" and est.learning_rate == "invscaling":
            opt.learning_rate = est.learning_rate_init / (est.t_ + 1) ** est.power_t

        if est._no_improvement_count > est.n_iter_no_change:
            what = "Training loss"
            if est.early_stopping:
                what = "Validation loss" if est.early_stopping_metric == "loss" else "Validation score"
            msg = "%s did not improve more than tol=%f for %d consecutive epochs." % (
                what,
                est.tol,
                est.n_iter_no_change,
            )
            if self._stop_or_decay(msg):
                return True
            est._no_improvement_count = 0

        if self.incremental:
            return True
        if est.n_iter_ == est.max_iter:
            warnings.warn(
                "Stochastic Optimizer: Maximum iterations (%d) reached and "
                "the optimization hasn't converged yet." % est.max_iter,
                ConvergenceWarning,
            )
        return False

    def _diverged(self, last_finite, epoch):
        """Restore the weights from before ``epoch`` and raise, naming the likely cause."""
        est = self.est
        self.network.params[...] = last_finite
        del est._optimizer  # its moments may be non-finite too
        kept = f"Training stopped in epoch {epoch} and kept the weights from before it"
        if not self._trainable_at_initialisation():
            advice = (
                f"{kept}, but even at freshly initialised weights the loss or its gradient "
                "on X is not finite: its values are too large. Scale X (for example with "
                "sklearn.preprocessing.StandardScaler)."
            )
        else:
            advice = (
                f"{kept}. The learning rate (learning_rate_init={est.learning_rate_init}) "
                "is probably too large for this data: use a smaller one, or scale the "
                "input (for example with sklearn.preprocessing.StandardScaler)."
            )
        raise ValueError(f"{NON_FINITE} {advice}")

    def _trainable_at_initialisation(self):
        """Whether a fresh network has a finite loss and gradient on the data.

        When it has not, no step size helps: the input is too large. The
        fresh weights come from their own generator, so the estimator's
        random stream is untouched.
        """
        network = self.network
        fresh = self.est._new_network(network.units.tolist(), network.dtype, np.random.RandomState(0))
        work = fresh.workspace(min(LBFGS_CHUNK, self.n_rows), self.data[4])
        grad = np.empty(fresh.n_params, dtype=fresh.dtype)
        alpha = float(self.est.alpha)
        loss = _backprop.full_loss_grad_into(fresh.net(), self.data, work, alpha, LBFGS_CHUNK, grad)
        return bool(np.isfinite(loss) and np.isfinite(grad).all())

    def _stop_or_decay(self, msg):
        """After too many epochs without improvement: stop, or divide lr by 5."""
        est, opt = self.est, self.est._optimizer
        if opt.solver != "sgd" or est.learning_rate != "adaptive":
            if est.verbose:
                print(msg + " Stopping.")
            return True
        if opt.learning_rate <= 1e-6:
            if est.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        opt.learning_rate /= 5.0
        if est.verbose:
            print(msg + " Setting learning rate to %f" % opt.learning_rate)
        return False

    def _update_training_loss(self):
        est = self.est
        loss = est.loss_curve_[-1]
        if loss > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if loss < est.best_loss_:
            est.best_loss_ = loss

    def _validation_loss_and_score(self):
        """The validation loss and score, from one forward pass.

        The loss is defined like ``loss_curve_``: the weighted mean loss plus
        each sample's share of the L2 term.
        """
        net, n_val = self.network.net(), self.val_out.shape[0]
        chunk = min(LBFGS_CHUNK, n_val)
        if not self.val_works:
            self.val_works = [
                self.network.workspace(chunk, self.val_data[4], gradient=False) for _ in range(1 + self.n_workers)
            ]
        def validate(i, slot):
            part = self.val_rows[i * chunk : (i + 1) * chunk]
            return _backprop.validate_into(net, self.val_data, self.val_works[slot], part, self.val_out)

        # chunk by chunk on the fit's threads, summed in chunk order: the sum
        # one thread makes, whatever the thread count
        loss_sum = 0.0
        for loss in _parallel.map_chunks(validate, -(-n_val // chunk), self.n_workers):
            loss_sum += loss
        coefs = self.network.params[: self.network.n_coef]
        loss = float(loss_sum / self.val_sw_sum + 0.5 * self.est.alpha * np.dot(coefs, coefs) / self.batch_size)
        return loss, self.est._score_outputs(self.val_out, self.y_val, self.sw_val)

    def _update_validation(self):
        est = self.est
        loss, score = self._validation_loss_and_score()
        est.validation_scores_.append(score)
        est.validation_loss_curve_.append(loss)
        if est.verbose:
            print("Validation score: %f" % score)
            if est.early_stopping_metric == "loss":
                print("Validation loss: %.8f" % loss)
        if est.early_stopping_metric == "loss":
            improved, best = loss < est.best_validation_loss_ - est.tol, loss < est.best_validation_loss_
        else:  # scikit-learn's rule (a NaN score counts as improved, as there)
            improved, best = (
                not score < est.best_validation_score_ + est.tol,
                score > est.best_validation_score_,
            )
        est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
        est.best_validation_score_ = max(est.best_validation_score_, score)
        est.best_validation_loss_ = min(est.best_validation_loss_, loss)
        if best:
            est._best_params[...] = self.network.params


def train_lbfgs(est, X, Y, sample_weight, callbacks):
    """Fit with scipy's L-BFGS-B over the compiled full-batch loss and gradient.

    Each iteration is a callback task: scipy reports the end of each, so the
    next one begins there, and the one begun after the last never runs (it
    is ended empty). A callback's stop request ends the run, with the
    lowest-loss weights evaluated so far.
    """
    network = est._network
    loss = est._kernel_loss(Y.shape[1])
    data = as_kernel_data(X, Y, sample_weight, dtype=network.dtype, n_outputs=Y.shape[1], loss=loss)
    work = network.workspace(est._batch_rows(X.shape[0]), data[4])
    net = network.net()
    grad = np.empty(network.n_params, dtype=network.dtype)
    alpha = float(est.alpha)

    x0 = network.params.astype(np.float64)
    best = {"loss": np.inf, "x": x0.copy(), "iterations": 0}  # kept for KeyboardInterrupt
    since = [time.perf_counter()]  # when the current iteration started

    def loss_and_grad(x):
        network.params[...] = x
        loss = _backprop.full_loss_grad_into(net, data, work, alpha, LBFGS_CHUNK, grad)
        if loss < best["loss"] and np.isfinite(grad).all():
            best["loss"] = loss
            best["x"][...] = x
        return loss, grad.astype(np.float64)

    def end_iteration(intermediate_result):
        best["iterations"] += 1
        now = time.perf_counter()
        _record(est, loss=float(intermediate_result.fun), seconds=now - since[0])
        since[0] = now
        network.params[...] = intermediate_result.x  # what callbacks see: this iterate
        if callbacks.end_epoch():
            best["stopped"] = True
            raise StopIteration  # scipy ends the run there
        callbacks.begin_epoch("lbfgs-iter")

    callbacks.begin_epoch("lbfgs-iter")
    try:
        result = scipy.optimize.minimize(
            loss_and_grad,
            x0,
            method="L-BFGS-B",
            jac=True,
            callback=end_iteration,
            options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol},
        )
    except (KeyboardInterrupt, StopIteration) as stop:
        # keep the lowest-loss weights evaluated so far (the initial ones
        # when none was finite); scipy < 1.11 lets a callback's StopIteration out
        network.params[...] = best["x"]
        est.n_iter_ = best["iterations"]
        est.loss_ = float(best["loss"])
        callbacks.abandon_epoch()
        if isinstance(stop, KeyboardInterrupt):
            warnings.warn("Training interrupted by user.")
        return
    callbacks.abandon_epoch()  # the iteration begun after the last one
    est.n_iter_ = min(result.nit, est.max_iter)
    if result.status != 0 and not best.get("stopped"):
        warnings.warn(
            f"lbfgs failed to converge after {est.n_iter_} iteration(s) "
            f"(status={result.status}): {result.message}. Increase max_iter "
            "or max_fun, or scale the data.",
            ConvergenceWarning,
        )
    if not (np.isfinite(result.fun) and np.isfinite(result.x).all()):
        network.params[...] = x0
        raise ValueError(
            f"{NON_FINITE} The initial weights are kept. Scale X (for example "
            "with sklearn.preprocessing.StandardScaler)."
        )
    est.loss_ = float(result.fun)
    network.params[...] = result.x
