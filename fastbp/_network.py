"""The network's memory: flat parameter vector, views into it, workspaces.

Pure NumPy; this is where the estimators hand arrays to the compiled
kernels, so dtype and layout are fixed here and nowhere else.
"""

import numpy as np

from ._activations import HIDDEN_CODES, OUTPUT_CODES

_INDEX = np.int64


def writable(a, dtype=None):
    """``a`` itself if it is a writable C-contiguous array, else a copy that is.

    For arrays restored from a pickle: joblib's ``mmap_mode='r'`` loads
    them as read-only memory maps, which the kernels cannot update and
    which would give numba a new argument type to compile for.
    """
    a = np.asarray(a, dtype=dtype)
    if a.flags.writeable and a.flags.c_contiguous and type(a) is np.ndarray:
        return a
    return np.array(a, order="C")


def _readonly(a):
    """A read-only view, so kernels always see the same array type."""
    view = a.view()
    view.flags.writeable = False
    return view


class Network:
    """Architecture, parameters and workspaces of one multilayer perceptron.

    Parameters
    ----------
    units : list of int
        ``[n_features, *hidden_layer_sizes, n_outputs]``.
    activation : str
        Hidden activation name.
    out_activation : str
        Output activation name.
    dtype : numpy dtype
        float32 or float64; every array of the network has it.

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        All coefficients (each matrix row-major, layer by layer), then all
        intercepts: scikit-learn's packing order.
    coefs, intercepts : list of ndarray
        Views into ``params`` with scikit-learn's shapes.
    """

    def __init__(self, units, activation, out_activation, dtype):
        self.units = np.asarray(units, dtype=_INDEX)
        self.activation = activation
        self.out_activation = out_activation
        self.dtype = np.dtype(dtype)
        fan_in, fan_out = self.units[:-1], self.units[1:]
        self.coef_start = np.concatenate(([0], np.cumsum(fan_in * fan_out))).astype(_INDEX)
        n_coef = self.coef_start[-1]
        self.bias_start = (n_coef + np.concatenate(([0], np.cumsum(fan_out)))).astype(_INDEX)
        self.n_coef = int(n_coef)
        self.n_params = int(self.bias_start[-1])
        self.params = np.zeros(self.n_params, dtype=self.dtype)
        self._views()

    def _views(self):
        shapes = list(zip(self.units[:-1], self.units[1:]))
        self.coefs = [
            self.params[a:b].reshape(shape)
            for a, b, shape in zip(self.coef_start[:-1], self.coef_start[1:], shapes)
        ]
        self.intercepts = [self.params[a:b] for a, b in zip(self.bias_start[:-1], self.bias_start[1:])]

    def __setstate__(self, state):
        # rebuild the views so that, after unpickling, they share ``params``
        # again; arrays loaded read-only (joblib memory-maps them) are copied
        self.__dict__.update(state)
        for name in ("params", "units", "coef_start", "bias_start"):
            setattr(self, name, writable(getattr(self, name)))
        self._views()

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["coefs"], state["intercepts"]
        return state

    def same_architecture(self, units, activation, out_activation):
        return (
            np.array_equal(self.units, units)
            and self.activation == activation
            and self.out_activation == out_activation
        )

    def net(self):
        """The ``net`` tuple the kernels take."""
        return (
            self.params,
            self.coef_start,
            self.bias_start,
            self.units,
            HIDDEN_CODES[self.activation],
            OUTPUT_CODES[self.out_activation],
        )

    def workspace(self, batch_size, sparse_input):
        """Buffers for batches of up to ``batch_size`` rows (the ``work`` tuple)."""
        units = self.units
        block_start = np.zeros(len(units) + 1, dtype=_INDEX)
        block_start[2:] = np.cumsum(batch_size * units[1:])
        n_input = 0 if sparse_input else batch_size * units[0]
        size = int(block_start[-1])
        return (
            np.empty(n_input, dtype=self.dtype),
            np.empty(size, dtype=self.dtype),
            np.empty(size, dtype=self.dtype),
            block_start,
            np.empty(self.n_params, dtype=self.dtype),
        )


def as_kernel_data(X, Y=None, sample_weight=None, *, dtype, n_outputs):
    """The ``data`` tuple for the kernels, read-only, in ``dtype``.

    ``X`` is a C-contiguous ndarray or a CSR matrix (validated already).
    """
    empty = np.empty(0, dtype=dtype)
    n = X.shape[0]
    if hasattr(X, "indptr"):
        dense = np.empty((0, X.shape[1]), dtype=dtype)
        sp = (
            np.asarray(X.data, dtype=dtype),
            np.asarray(X.indices, dtype=_INDEX),
            np.asarray(X.indptr, dtype=_INDEX),
            True,
        )
    else:
        dense = np.ascontiguousarray(X, dtype=dtype)
        sp = (empty, np.empty(0, _INDEX), np.empty(0, _INDEX), False)
    if Y is None:
        Y = np.empty((0, n_outputs), dtype=dtype)
        sample_weight = empty
    elif sample_weight is None:
        sample_weight = np.ones(n, dtype=dtype)
    Y = np.ascontiguousarray(Y, dtype=dtype)
    sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)
    return (
        _readonly(dense),
        _readonly(sp[0]),
        _readonly(sp[1]),
        _readonly(sp[2]),
        sp[3],
        _readonly(Y),
        _readonly(sample_weight),
    )
