"""The network's memory: flat parameter vector, views into it, workspaces.

Pure NumPy; this is where the estimators hand arrays to the compiled
kernels, so dtype and layout are fixed here and nowhere else.
"""

import functools

import numpy as np

from ._activations import HIDDEN_CODES, LEAKY_RELU, hidden_kernel_address
from ._backprop import activation_mix_into, csr_product_into, input_scale_into
from ._losses import OUTPUT_CODES, robust_loss_into

_INDEX = np.int64


def writable(a):
    """``a`` itself if it is a writable C-contiguous array, else a copy that is.

    For arrays restored from a pickle: joblib's ``mmap_mode='r'`` loads
    them as read-only memory maps, which the kernels cannot update and
    which would give numba a new argument type to compile for.
    """
    a = np.asarray(a)
    if a.flags.writeable and a.flags.c_contiguous and type(a) is np.ndarray:
        return a
    return np.array(a, order="C")


def n_parameters(units):
    """Weights and biases of a network with layer sizes ``units``."""
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(units[:-1], units[1:]))


def _block_offsets(units, batch_size):
    """Where each layer's block starts in the activation and delta buffers.

    Layer k's block (``batch_size * units[k]`` values) follows those of
    layers 1..k-1; the input layer has its own buffer. Python ints: this
    runs for every prediction.
    """
    offsets = [0, 0]
    for width in units[1:]:
        offsets.append(offsets[-1] + batch_size * width)
    return offsets


def workspace_nbytes(units, dtype, batch_size, gradient=True):
    """Bytes of :meth:`Network.workspace` for dense input, before building it."""
    units = [int(u) for u in units]
    n_values = batch_size * units[0] + 2 * _block_offsets(units, batch_size)[-1]
    if gradient:
        n_values += n_parameters(units)
    return n_values * np.dtype(dtype).itemsize


def hidden_activations(activation, n_hidden):
    """One activation name per hidden layer, from one name or a list of them."""
    return [activation] * n_hidden if isinstance(activation, str) else list(activation)


def keeps_derivatives(activation):
    """Whether some hidden activation's forward pass keeps ``f'(z)`` for training."""
    names = [activation] if isinstance(activation, str) else activation
    return any(HIDDEN_CODES[name] >= LEAKY_RELU for name in names)


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
    activation : str or tuple of str
        Hidden activation name, or one name per hidden layer.
    out_activation : str
        Output activation name.
    dtype : numpy dtype
        float32 or float64; every array of the network has it.
    input_scaling : bool, default=False
        Whether the input features are multiplied by trainable scales
        before the first layer (the forward pass is ``dense(X * s)``).
    parametric_activation : bool, default=False
        Whether each hidden unit mixes its activation with the identity by
        a trainable weight, ``z + alpha * (f(z) - z)``
        (:func:`fastbp._backprop.activation_mix_into`).

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        All coefficients (each matrix row-major, layer by layer), then all
        intercepts: scikit-learn's packing order; then, with
        ``input_scaling``, the ``units[0]`` input scales (1 when built);
        then, with ``parametric_activation``, one mixing weight per hidden
        unit, layer by layer (1 when built).
    coefs, intercepts : list of ndarray
        Views into ``params`` with scikit-learn's shapes.
    input_scale : ndarray of shape (units[0],) or None
        The input scales, a view into ``params``; None without them.
    activation_mix : list of ndarray or None
        The mixing weights of each hidden layer, views into ``params``;
        None without parametric activations.
    """

    def __init__(self, units, activation, out_activation, dtype, input_scaling=False, parametric_activation=False):
        self.units = np.asarray(units, dtype=_INDEX)
        self.activation = activation if isinstance(activation, str) else tuple(activation)
        self.out_activation = out_activation
        self.dtype = np.dtype(dtype)
        self.input_scaling = bool(input_scaling)
        self.parametric_activation = bool(parametric_activation)
        fan_in, fan_out = self.units[:-1], self.units[1:]
        self.coef_start = np.concatenate(([0], np.cumsum(fan_in * fan_out))).astype(_INDEX)
        n_coef = self.coef_start[-1]
        self.bias_start = (n_coef + np.concatenate(([0], np.cumsum(fan_out)))).astype(_INDEX)
        self.n_coef = int(n_coef)
        # (the scales and mixing weights after the intercepts: L2 and weight
        # decay, which stop at n_coef, and the coefs/intercepts views do not
        # see them)
        self.scale_start = int(self.bias_start[-1])
        self.mix_start = self.scale_start + (int(self.units[0]) if self.input_scaling else 0)
        n_mix = int(self.units[1:-1].sum()) if self.parametric_activation else 0
        self.n_params = self.mix_start + n_mix
        self.params = np.zeros(self.n_params, dtype=self.dtype)
        self.params[self.bias_start[-1] :] = 1
        self._views()
        self._codes()

    @property
    def hidden_activations(self):
        """One activation name per hidden layer."""
        return hidden_activations(self.activation, len(self.units) - 2)

    def _views(self):
        shapes = list(zip(self.units[:-1], self.units[1:]))
        self.coefs = [
            self.params[a:b].reshape(shape)
            for a, b, shape in zip(self.coef_start[:-1], self.coef_start[1:], shapes)
        ]
        self.intercepts = [self.params[a:b] for a, b in zip(self.bias_start[:-1], self.bias_start[1:])]
        self.input_scale = self.params[self.scale_start : self.mix_start] if self.input_scaling else None
        self.activation_mix = None
        if self.parametric_activation:
            ends = self.mix_start + np.cumsum(self.units[1:-1])
            self.activation_mix = [self.params[b - n : b] for n, b in zip(self.units[1:-1], ends)]

    def __setstate__(self, state):
        # rebuild the views so that, after unpickling, they share ``params``
        # again; arrays loaded read-only (joblib memory-maps them) are copied
        self.__dict__.update(state)
        self.__dict__.setdefault("input_scaling", False)  # (pickled before the option)
        self.__dict__.setdefault("parametric_activation", False)
        self.__dict__.setdefault("scale_start", int(self.bias_start[-1]))
        self.__dict__.setdefault("mix_start", self.n_params)
        for name in ("params", "units", "coef_start", "bias_start"):
            setattr(self, name, writable(getattr(self, name)))
        self._views()
        self._codes()

    def _codes(self):
        """The hidden layers' activation codes, as the kernels take them."""
        names = self.hidden_activations
        if len(names) != len(self.units) - 2:
            raise ValueError(f"{len(names)} activations for {len(self.units) - 2} hidden layers")
        self.hidden_codes = np.array([HIDDEN_CODES[name] for name in names], dtype=_INDEX)
        self._hidden_kernels = None  # their kernels' addresses, found by the first net()

    def __getstate__(self):
        state = self.__dict__.copy()
        # (addresses are this process's only)
        del state["coefs"], state["intercepts"], state["input_scale"], state["activation_mix"]
        del state["hidden_codes"], state["_hidden_kernels"]
        return state

    def to_state(self):
        """The network as plain values (what a saved model holds): see :meth:`from_state`."""
        state = {
            "units": self.units.copy(),
            # one name, or a list of one per hidden layer
            "activation": self.activation if isinstance(self.activation, str) else list(self.activation),
            "out_activation": self.out_activation,
            "dtype": self.dtype.name,
            "params": self.params.copy(),
        }
        # (absent when off: a network without them saves as before the options)
        if self.input_scaling:
            state["input_scaling"] = True
        if self.parametric_activation:
            state["parametric_activation"] = True
        return state

    @classmethod
    def from_state(cls, state):
        """Rebuild a network from :meth:`to_state`'s values, checking each one.

        A saved model is data from outside: every value is checked before
        anything is built, so a damaged or altered file gives a ValueError
        naming what is wrong.
        """

        def refuse(what):
            raise ValueError(f"This saved fastbp model is damaged or was altered: {what}.")

        fields = {"units", "activation", "out_activation", "dtype", "params"}
        options = {"input_scaling", "parametric_activation"}
        if not isinstance(state, dict) or set(state) - options != fields:
            refuse("its network state does not have the expected fields")
        for option in options:
            if option in state and state[option] is not True:
                refuse(f"{option} {state[option]!r}")
        input_scaling = state.get("input_scaling", False)
        parametric = state.get("parametric_activation", False)
        units = np.asarray(state["units"])
        if units.ndim != 1 or units.size < 2 or units.dtype.kind not in "iu" or (units < 1).any():
            refuse(f"layer sizes {state['units']!r}")
        activation = state["activation"]
        if isinstance(activation, list) and all(isinstance(name, str) for name in activation):
            activation = tuple(activation)
            known = len(activation) == units.size - 2 and all(name in HIDDEN_CODES for name in activation)
        else:
            known = isinstance(activation, str) and activation in HIDDEN_CODES
        if not known or state["out_activation"] not in OUTPUT_CODES:
            refuse(f"activations {state['activation']!r}, {state['out_activation']!r}")
        if state["dtype"] not in ("float32", "float64"):
            refuse(f"dtype {state['dtype']!r}")
        params = np.asarray(state["params"])
        expected = n_parameters(units.tolist()) + (int(units[0]) if input_scaling else 0)
        expected += int(units[1:-1].sum()) if parametric else 0
        if params.shape != (expected,) or params.dtype != np.dtype(state["dtype"]):
            refuse(
                f"{params.dtype} parameters of shape {params.shape} for layer sizes "
                f"{units.tolist()} ({expected:,} {state['dtype']} expected)"
            )
        if not np.isfinite(params).all():
            refuse("non-finite parameters")
        network = cls(units.tolist(), activation, state["out_activation"], state["dtype"], input_scaling, parametric)
        network.params[...] = params
        return network

    def astype(self, dtype):
        """A copy of this network with its parameters cast to ``dtype``."""
        network = Network(
            self.units, self.activation, self.out_activation, dtype, self.input_scaling, self.parametric_activation
        )
        network.params[...] = self.params
        return network

    def same_architecture(self, units, activation, out_activation):
        return (
            np.array_equal(self.units, units)
            and self.hidden_activations == hidden_activations(activation, len(units) - 2)
            and self.out_activation == out_activation
        )

    def folded_coefs(self):
        """Copies of the weight matrices, the input scales folded into the first (``s[:, None] * W``).

        A network without input scales predicts from these as this one does
        (scikit-learn's MLP, ONNX), to rounding.
        """
        coefs = [c.copy() for c in self.coefs]
        if self.input_scaling:
            coefs[0] *= self.input_scale[:, None]
        return coefs

    def net(self):
        """The ``net`` tuple the kernels take.

        The kernels of its hidden activations other than relu and identity
        are compiled (or loaded from the cache) here on first use, and
        ``net`` holds their addresses, one per hidden layer.
        """
        if self._hidden_kernels is None:
            addresses = [hidden_kernel_address(code, self.dtype) for code in self.hidden_codes]
            self._hidden_kernels = np.array(addresses, dtype=_INDEX)
        return (
            self.params,
            self.coef_start,
            self.bias_start,
            self.units,
            self.hidden_codes,
            self._hidden_kernels,
            OUTPUT_CODES[self.out_activation],
            input_scale_into.address(self.dtype) if self.input_scaling else 0,
            activation_mix_into.address(self.dtype) if self.parametric_activation else 0,
        )

    def workspace(self, batch_size, sparse_input, gradient=True, grad=None):
        """Buffers for batches of up to ``batch_size`` rows (the ``work`` tuple).

        ``gradient=False`` (prediction) leaves the gradient buffer empty, and
        ``derivs`` too: only training reads the ``f'(z)`` that some
        activations keep, in a buffer spanning the hidden layers' blocks
        that is allocated only when some hidden layer's activation keeps it.
        Parametric activations keep ``f'`` in every hidden layer, and a
        second buffer of that size, which prediction uses too.
        ``grad``, if given, is the gradient buffer (a view the caller owns).
        With input scaling, ``scaled_coef`` has room for the first matrix.
        """
        offsets = _block_offsets(self.units.tolist(), batch_size)
        n_input = 0 if sparse_input else batch_size * int(self.units[0])
        keeps = bool((self.hidden_codes >= LEAKY_RELU).any())
        n_derivs = offsets[-2] if gradient and keeps else 0
        if self.parametric_activation:
            n_derivs = 2 * offsets[-2]
        if grad is None:
            grad = np.empty(self.n_params if gradient else 0, dtype=self.dtype)
        return (
            np.empty(n_input, dtype=self.dtype),
            np.empty(offsets[-1], dtype=self.dtype),
            np.empty(offsets[-1], dtype=self.dtype),
            np.array(offsets, dtype=_INDEX),
            grad,
            np.empty(n_derivs, dtype=self.dtype),
            np.empty(self.units[0] * self.units[1] if self.input_scaling else 0, dtype=self.dtype),
        )


@functools.lru_cache(maxsize=None)
def _placeholder(dtype, shape):
    """A read-only empty array for an unused slot of the ``data`` tuple.

    Immutable, so one per dtype and shape serves every call and thread
    (this saves ~5 us of a ~20 us one-row prediction).
    """
    return _readonly(np.empty(shape, dtype=dtype))


def as_kernel_data(X, Y=None, sample_weight=None, *, dtype, n_outputs, loss=None):
    """The ``data`` tuple for the kernels, read-only, in ``dtype``.

    ``X`` is a C-contiguous ndarray or a CSR matrix (validated already).
    Without ``Y`` (prediction) the targets and weights are empty. ``loss``
    is the parameter table of a robust regression loss
    (:func:`fastbp._losses.loss_parameters`); without it the kernels use
    the output activation's own loss. The kernels of sparse input and of
    the robust losses are compiled, or loaded, here on first use.
    """
    dtype = np.dtype(dtype)
    if hasattr(X, "indptr"):
        dense = _placeholder(dtype, (0, X.shape[1]))
        sp = (
            _readonly(np.asarray(X.data, dtype=dtype)),
            _readonly(np.asarray(X.indices, dtype=_INDEX)),
            _readonly(np.asarray(X.indptr, dtype=_INDEX)),
            csr_product_into.address(dtype),
        )
    else:
        dense = _readonly(np.ascontiguousarray(X, dtype=dtype))
        empty_index = _placeholder(np.dtype(_INDEX), (0,))
        sp = (_placeholder(dtype, (0,)), empty_index, empty_index, 0)
    if Y is None:
        Y = _placeholder(dtype, (0, n_outputs))
        sample_weight = _placeholder(dtype, (0,))
    else:
        if sample_weight is None:
            sample_weight = np.ones(X.shape[0], dtype=dtype)
        Y = _readonly(np.ascontiguousarray(Y, dtype=dtype))
        sample_weight = _readonly(np.ascontiguousarray(sample_weight, dtype=dtype))
    if loss is None:
        loss = (0, _placeholder(dtype, (0, n_outputs)))
    else:
        loss = (robust_loss_into.address(dtype), _readonly(np.ascontiguousarray(loss, dtype=dtype)))
    return (dense, *sp, Y, sample_weight, *loss)
