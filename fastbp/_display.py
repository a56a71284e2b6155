"""``TrainingHistoryDisplay``: loss curves and learning rate of a fitted model, per epoch."""

import numpy as np
from sklearn.utils.validation import check_is_fitted


def _pyplot(what):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # an extra, imported only when drawing
        raise ImportError(f"{what} needs matplotlib: pip install 'fastbp[plot]'.") from exc
    return plt


class TrainingHistoryDisplay:
    """Training and validation loss, and the learning rate, per epoch.

    Build it with :meth:`from_estimator`, which reads a fitted model's
    ``history_`` (it never fits), or from the arrays themselves; then
    :meth:`plot` draws it. All parameters are stored as attributes.

    Parameters
    ----------
    epoch : array-like of int
        Epoch numbers (with 'lbfgs': iterations).
    loss : array-like of float
        Training loss of each epoch (``loss_curve_``).
    validation_loss : array-like of float, default=None
        Validation loss of each epoch; None (or all NaN) when there was no
        validation split.
    learning_rate : array-like of float, default=None
        Step size of each epoch; None (or all NaN) with 'lbfgs'.
    best_epoch : int, default=None
        The epoch whose weights early stopping kept, marked by a vertical
        line.
    estimator_name : str, default=None
        Used in the title.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes of the losses.
    learning_rate_ax_ : matplotlib Axes or None
        The twin axes of the learning rate, when it was drawn.
    figure_ : matplotlib Figure
        The figure holding the axes.
    lines_ : dict of matplotlib Line2D
        The drawn lines: 'loss', and where drawn 'validation_loss',
        'learning_rate' and 'best_epoch'.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from fastbp import BackpropClassifier, TrainingHistoryDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = BackpropClassifier(early_stopping=True, max_iter=30, random_state=0).fit(X / 16, y)
    >>> display = TrainingHistoryDisplay.from_estimator(clf)
    >>> sorted(display.lines_)
    ['best_epoch', 'learning_rate', 'loss', 'validation_loss']
    """

    def __init__(
        self, *, epoch, loss, validation_loss=None, learning_rate=None, best_epoch=None, estimator_name=None
    ):
        self.epoch = epoch
        self.loss = loss
        self.validation_loss = validation_loss
        self.learning_rate = learning_rate
        self.best_epoch = best_epoch
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, learning_rate=True, **kwargs):
        """Draw a fitted model's ``history_``, without fitting anything.

        Parameters
        ----------
        estimator : BackpropClassifier or BackpropRegressor
            A fitted model.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure by default.
        learning_rate : bool, default=True
            Also draw the learning rate, on a twin axis.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : TrainingHistoryDisplay
        """
        _pyplot(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator, "history_")
        history = estimator.history_
        display = cls(
            epoch=np.asarray(history["epoch"]),
            loss=np.asarray(history["loss"], dtype=float),
            validation_loss=np.asarray(history["validation_loss"], dtype=float),
            learning_rate=np.asarray(history["learning_rate"], dtype=float) if learning_rate else None,
            best_epoch=_best_epoch(estimator),
            estimator_name=type(estimator).__name__,
        )
        return display.plot(ax=ax, **kwargs)

    def plot(
        self, ax=None, *, loss_kw=None, validation_loss_kw=None, learning_rate_kw=None, best_epoch_kw=None
    ):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure by default.
        loss_kw, validation_loss_kw, learning_rate_kw, best_epoch_kw : dict, default=None
            Keyword arguments for the matplotlib calls drawing each line
            (``plot`` for the curves, ``axvline`` for the best epoch).

        Returns
        -------
        display : TrainingHistoryDisplay
            ``self``, with ``ax_``, ``figure_`` and ``lines_`` set.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        if ax is None:
            _, ax = plt.subplots()
        epoch = np.asarray(self.epoch)
        self.lines_ = {}
        (self.lines_["loss"],) = ax.plot(epoch, self.loss, **{"label": "training loss", **(loss_kw or {})})
        if _drawable(self.validation_loss):
            kw = {"label": "validation loss", **(validation_loss_kw or {})}
            (self.lines_["validation_loss"],) = ax.plot(epoch, self.validation_loss, **kw)
        if self.best_epoch is not None:
            kw = {
                "color": "grey",
                "linestyle": ":",
                "label": f"kept: epoch {self.best_epoch}",
                **(best_epoch_kw or {}),
            }
            self.lines_["best_epoch"] = ax.axvline(self.best_epoch, **kw)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        self.learning_rate_ax_ = None
        if _drawable(self.learning_rate):
            self.learning_rate_ax_ = lr_ax = ax.twinx()
            kw = {
                "color": "tab:green",
                "linestyle": "--",
                "label": "learning rate",
                **(learning_rate_kw or {}),
            }
            (self.lines_["learning_rate"],) = lr_ax.plot(epoch, self.learning_rate, **kw)
            lr_ax.set_ylabel("learning rate")
        handles = [line for line in self.lines_.values()]
        ax.legend(handles, [line.get_label() for line in handles])
        if self.estimator_name:
            ax.set_title(self.estimator_name)
        self.ax_, self.figure_ = ax, ax.figure
        return self


def _drawable(values):
    return values is not None and np.isfinite(np.asarray(values, dtype=float)).any()


def _best_epoch(estimator):
    """The epoch of ``history_`` whose weights early stopping kept (in the last fit), or None."""
    if (
        not getattr(estimator, "early_stopping", False)
        or getattr(estimator, "validation_scores_", None) is None
    ):
        return None
    history = estimator.history_
    n = len(estimator.validation_scores_)  # the last fit's epochs, at the end of history_
    if n == 0 or len(history["epoch"]) < n:
        return None
    if estimator.early_stopping_metric == "loss":
        values = -np.asarray(history["validation_loss"][-n:], dtype=float)
    else:
        values = np.asarray(history["validation_score"][-n:], dtype=float)
    if not np.isfinite(values).any():
        return None
    return int(history["epoch"][-n + int(np.nanargmax(values))])
