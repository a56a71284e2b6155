"""The workloads W1-W5: their data, network shapes and flops per epoch."""

from dataclasses import dataclass

ALPHA = 1e-4
LEARNING_RATE = 1e-3
SEED = 0
QUICK_MAX_SAMPLES = 2000  # rows per workload with --quick


@dataclass(frozen=True)
class Workload:
    """One training problem: its data set, hidden layers and batch size.

    Parameters
    ----------
    name : str
        ``"W1"`` to ``"W5"``; selects the data in :meth:`make`.
    description : str
        The data set, for the help text and the JSON.
    task : str
        ``"multiclass"``, ``"binary"`` or ``"regression"``.
    n_samples : int
        Rows of a full-size run.
    n_features : int
        Columns of ``X``.
    hidden : tuple of int
        ``hidden_layer_sizes``.
    batch_size : int
        Mini-batch rows.
    """

    name: str
    description: str
    task: str
    n_samples: int
    n_features: int
    hidden: tuple
    batch_size: int

    def make(self, n_samples):
        """``(X, y)`` in float64 with a fixed seed; ``n_samples`` rows (digits: all)."""
        from sklearn.datasets import load_digits, make_classification, make_regression

        if self.name == "W1":
            X, y = load_digits(return_X_y=True)
            return X / 16.0, y
        if self.name == "W2":
            return make_classification(
                n_samples=n_samples, n_features=20, n_informative=10, n_classes=2, random_state=SEED
            )
        if self.name == "W3":
            return make_classification(
                n_samples=n_samples,
                n_features=784,
                n_informative=50,
                n_redundant=0,
                n_classes=10,
                random_state=SEED,
            )
        if self.name == "W4":
            X, y = make_regression(
                n_samples=n_samples, n_features=50, n_informative=25, noise=10.0, random_state=SEED
            )
            return X, (y - y.mean()) / y.std()  # standardised targets: a sane loss scale
        if self.name == "W5":
            return make_classification(
                n_samples=n_samples, n_features=32, n_informative=16, n_classes=2, random_state=SEED
            )
        raise ValueError(self.name)


WORKLOADS = {
    w.name: w
    for w in (
        Workload("W1", "load_digits, 10 classes", "multiclass", 1797, 64, (100,), 200),
        Workload("W2", "make_classification, 2 classes", "binary", 20000, 20, (64, 64), 64),
        Workload("W3", "make_classification, 10 classes", "multiclass", 60000, 784, (256, 128), 128),
        Workload("W4", "make_regression", "regression", 50000, 50, (128, 64), 256),
        Workload("W5", "make_classification, 2 classes", "binary", 10000, 32, (32,), 16),
    )
}


def full_data(name):
    """``(X, y)`` of workload ``name`` at its full size."""
    workload = WORKLOADS[name]
    return workload.make(workload.n_samples)


def layer_units(workload):
    """``[n_features, *hidden, n_outputs]`` as scikit-learn builds the network.

    Parameters
    ----------
    workload : Workload

    Returns
    -------
    list of int
    """
    n_outputs = {"multiclass": 10, "binary": 1, "regression": 1}[workload.task]
    return [workload.n_features, *workload.hidden, n_outputs]


def epoch_flops(units, n_samples):
    """Matrix-product flops of one training epoch over ``n_samples`` rows.

    Per row and layer ``(k, n)``: forward ``2*k*n``, weight gradient
    ``2*k*n``, input gradient ``2*k*n`` except for the first layer, whose
    input needs no gradient. Summed over batches this is independent of
    the batch size.

    Parameters
    ----------
    units : list of int
        Layer widths, as from :func:`layer_units`.
    n_samples : int
        Rows in the epoch.

    Returns
    -------
    int
    """
    forward = sum(2 * k * n for k, n in zip(units[:-1], units[1:]))
    return n_samples * (3 * forward - 2 * units[0] * units[1])
