"""ONNX export of fitted fastbp models, through skl2onnx.

Importing this module registers converters for :class:`~fastbp.BackpropClassifier`
and :class:`~fastbp.BackpropRegressor` with skl2onnx (:func:`register` does it
again, explicitly), after which ``skl2onnx.to_onnx(model, X[:1])`` converts a
fastbp model, bare or as a step of a ``Pipeline``. ``import fastbp`` alone
never imports skl2onnx: this module is the only one that does.

The graph is fastbp's own, written with standard ONNX operators (opset 13 or
newer, the ``target_opset`` given to skl2onnx): one ``Gemm`` per layer, the
hidden activations from :data:`HIDDEN_ACTIVATIONS`, the output activation
from :data:`OUTPUT_ACTIVATIONS`, and for classifiers an ``ArgMax`` and a
``Gather`` of the class labels. Each activation is one row of its table: a
function that adds the activation's nodes to the graph.

The graph computes in the float type of its input: ``tensor(float)`` (the
weights cast to float32) or ``tensor(double)`` (float64 weights). Where an
operator has no double kernel in onnxruntime (``Elu``, ``Selu``,
``LeakyRelu``, ``Softplus``, ``Mish`` from opset 22, ``Erf``) or carries its
constants as 32-bit attributes (``Selu``, ``LeakyRelu``, ``Gelu``'s tanh
form), a double graph composes the activation from ``Exp``, ``Log``,
``Tanh``, ``Sigmoid``, ``Where`` and arithmetic with double constants. Only
the exact ``gelu`` has no such form: its double graph uses ``Erf``, valid
ONNX that onnxruntime (1.32) cannot run in double.

Classifier options are skl2onnx's (``options={id(model): {...}}`` or
``{BackpropClassifier: {...}}`` in ``to_onnx``):

- ``zipmap`` (default True): probabilities as a list of ``{label:
  probability}`` dicts; False gives an ``(n, n_classes)`` tensor;
  ``"columns"`` one tensor per class.
- ``nocl``: the graph holds no class labels: the label output is the
  class's index in ``classes_`` (int64), and so are ZipMap's keys.
- ``output_class_labels`` (with ``zipmap=False``): a third output with
  the class labels.

Outputs: the label (int64 or string; an ``(n, n_labels)`` int64 indicator
for multilabel targets) and the probabilities, as ``predict`` and
``predict_proba``; a regressor's one output has shape ``(n, n_outputs_)``
(``(n, 1)`` for one target).
"""

import numpy as np
from onnx import TensorProto, helper
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)
from skl2onnx.common.utils import check_input_and_output_numbers
from skl2onnx.common.utils_classifier import get_label_classes
from sklearn.utils.validation import check_is_fitted

from ._estimators import BackpropClassifier, BackpropRegressor
from .tabular import TabularClassifier, TabularRegressor

__all__ = ["HIDDEN_ACTIVATIONS", "MIN_OPSET", "OUTPUT_ACTIVATIONS", "GraphBuilder", "register"]

# Softmax takes its axis as meant per row from 13 on, and every operator
# used here exists in 13
MIN_OPSET = 13

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_LEAKY_SLOPE = 0.01
_SQRT_HALF = 0.70710678118654752440  # 1 / sqrt(2)
_SQRT_2_OVER_PI = 0.79788456080286535588
_GELU_TANH_CUBIC = 0.044715


class GraphBuilder:
    """Adds ONNX nodes and constants to one graph whose floats are ``dtype``.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64: the graph's float type.
    opset : int
        The target opset of the default domain.
    new_name : callable
        ``new_name(prefix) -> str``, a name not used yet in the graph.
    add_node : callable
        ``add_node(op_type, inputs, output, **attributes)``.
    add_initializer : callable
        ``add_initializer(name, onnx_type, shape, values)``, the signature of
        ``onnx.helper.make_tensor`` and of skl2onnx's container.
    """

    def __init__(self, dtype, opset, new_name, add_node, add_initializer):
        self.dtype = np.dtype(dtype)
        self.double = self.dtype == np.float64
        self.proto = TensorProto.DOUBLE if self.double else TensorProto.FLOAT
        self.opset = opset
        self._new_name = new_name
        self._add_node = add_node
        self._add_initializer = add_initializer

    def op(self, op_type, *inputs, output=None, **attributes):
        """The output name of a new ``op_type`` node on ``inputs``."""
        output = output or self._new_name(op_type.lower())
        self._add_node(op_type, list(inputs), output, **attributes)
        return output

    def const(self, value):
        """The name of a new constant: floats in the graph's type, ints as int64, str as string."""
        array = np.asarray(value)
        name = self._new_name("const")
        if array.dtype.kind in "US":
            values, onnx_type = [str(s).encode("utf-8") for s in array.ravel()], TensorProto.STRING
        elif array.dtype.kind in "iub":
            values, onnx_type = array.astype(np.int64).ravel(), TensorProto.INT64
        else:
            values, onnx_type = array.astype(self.dtype).ravel(), self.proto
        self._add_initializer(name, onnx_type, list(array.shape), values)
        return name

    # small compositions the activation rows share
    def where_positive(self, x, negative):
        """``x`` where ``x > 0``, else ``negative``."""
        return self.op("Where", self.op("Greater", x, self.const(0.0)), x, negative)

    def exp_minus_one(self, x):
        return self.op("Sub", self.op("Exp", x), self.const(1.0))

    def softplus(self, x):
        """``log(1 + e^x)``: ``Softplus`` in float, a stable form ``max(x, 0) + log(1 + e^-|x|)`` in double."""
        if not self.double:
            return self.op("Softplus", x)
        tail = self.op("Exp", self.op("Neg", self.op("Abs", x)))
        return self.op("Add", self.op("Relu", x), self.op("Log", self.op("Add", self.const(1.0), tail)))


# -- activations: one row each, name -> function adding its nodes ----------


def _leaky_relu(g, x):
    if not g.double:
        return g.op("LeakyRelu", x, alpha=_LEAKY_SLOPE)
    return g.where_positive(x, g.op("Mul", x, g.const(_LEAKY_SLOPE)))


def _elu(g, x):
    # alpha = 1
    if not g.double:
        return g.op("Elu", x, alpha=1.0)
    return g.where_positive(x, g.exp_minus_one(x))


def _selu(g, x):
    if not g.double:
        return g.op("Selu", x, alpha=_SELU_ALPHA, gamma=_SELU_SCALE)
    negative = g.op("Mul", g.const(_SELU_ALPHA), g.exp_minus_one(x))
    return g.op("Mul", g.const(_SELU_SCALE), g.where_positive(x, negative))


def _gelu(g, x):
    # x Phi(x) = x (1 + erf(x / sqrt 2)) / 2
    if g.opset >= 20 and not g.double:
        return g.op("Gelu", x)
    erf = g.op("Erf", g.op("Mul", x, g.const(_SQRT_HALF)))
    return g.op("Mul", g.op("Mul", x, g.const(0.5)), g.op("Add", g.const(1.0), erf))


def _gelu_tanh(g, x):
    # x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2; Gelu's own form keeps
    # its constants in float32 even in double graphs
    if g.opset >= 20 and not g.double:
        return g.op("Gelu", x, approximate="tanh")
    cube = g.op("Mul", g.op("Mul", x, x), x)
    inner = g.op("Add", x, g.op("Mul", cube, g.const(_GELU_TANH_CUBIC)))
    tanh = g.op("Tanh", g.op("Mul", inner, g.const(_SQRT_2_OVER_PI)))
    return g.op("Mul", g.op("Mul", x, g.const(0.5)), g.op("Add", g.const(1.0), tanh))


def _silu(g, x):
    # x sigma(x) (ONNX's Swish arrives only in opset 24)
    return g.op("Mul", x, g.op("Sigmoid", x))


def _mish(g, x):
    # x tanh(softplus(x))
    if g.opset >= 18 and not g.double:
        return g.op("Mish", x)
    return g.op("Mul", x, g.op("Tanh", g.softplus(x)))


HIDDEN_ACTIVATIONS = {
    "identity": lambda g, x: x,
    "logistic": lambda g, x: g.op("Sigmoid", x),
    "tanh": lambda g, x: g.op("Tanh", x),
    "relu": lambda g, x: g.op("Relu", x),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "selu": _selu,
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "silu": _silu,
    "mish": _mish,
    "softplus": lambda g, x: g.softplus(x),  # beta = 1
}
"""Hidden activation name -> ``row(graph_builder, x) -> y``, the nodes of ``y = f(x)``."""

OUTPUT_ACTIVATIONS = {
    "identity": lambda g, x: x,
    "logistic": lambda g, x: g.op("Sigmoid", x),
    "softmax": lambda g, x: g.op("Softmax", x, axis=1),
    "exp": lambda g, x: g.op("Exp", x),
}
"""Output activation name (``out_activation_``) -> the same kind of row."""


def _hidden_activations(network):
    """The name of each hidden layer's activation in a fitted ``network``.

    The converters read the activations only here: ``network.activation`` is
    one name for every hidden layer, or one name per hidden layer.
    """
    names = network.activation
    return [names] * (len(network.units) - 2) if isinstance(names, str) else list(names)


def _row(table, name, kind):
    try:
        return table[name]
    except KeyError:
        raise ValueError(
            f"fastbp.onnx cannot convert the {kind} activation {name!r}; it converts {sorted(table)}."
        ) from None


def _network_into(g, model, x):
    """Add the network's layers on input ``x``; the name of its output activations."""
    network = model._synced_network()
    activations = _hidden_activations(network) + [network.out_activation]
    # (input scales folded into the first matrix: dense(x * s) = x @ (s[:, None] * W) + b)
    for i, (coef, intercept) in enumerate(zip(network.folded_coefs(), network.intercepts)):
        z = g.op("Gemm", x, g.const(coef), g.const(intercept))
        x = z
        if i < len(network.coefs) - 1:
            x = _row(HIDDEN_ACTIVATIONS, activations[i], "hidden")(g, z)
            if network.parametric_activation:  # z + alpha * (f(z) - z)
                x = g.op("Add", z, g.op("Mul", g.const(network.activation_mix[i]), g.op("Sub", x, z)))
    return _row(OUTPUT_ACTIVATIONS, activations[-1], "output")(g, x)


# -- skl2onnx's side: input types, shape calculators, converters --------------


def _float_type(input_type):
    """The graph's tensor type: double for double input, float otherwise (ints, bools, floats)."""
    return DoubleTensorType if isinstance(input_type, DoubleTensorType) else FloatTensorType


def _builder_and_input(scope, operator, container):
    opset = container.target_opset
    if opset is not None and opset < MIN_OPSET:
        raise ValueError(f"fastbp's ONNX converters need target_opset >= {MIN_OPSET}, got {opset}.")
    input_type = operator.inputs[0].type
    dtype = np.float64 if _float_type(input_type) is DoubleTensorType else np.float32

    def add_node(op_type, inputs, output, **attributes):
        container.add_node(op_type, inputs, output, name=scope.get_unique_operator_name(op_type), **attributes)

    g = GraphBuilder(
        dtype, opset or MIN_OPSET, scope.get_unique_variable_name, add_node, container.add_initializer
    )
    x = operator.inputs[0].full_name
    if not isinstance(input_type, _float_type(input_type)):
        x = g.op("Cast", x, to=g.proto)
    return g, x


def _is_multilabel(model):
    return model._label_binarizer.y_type_.startswith("multilabel")


def _graph_labels(scope, model):
    """The labels the graph outputs: ``classes_``, or their indices under ``nocl``, as int64 or str."""
    labels = np.asarray(get_label_classes(scope, model))
    if labels.dtype.kind in "iubf":  # a classifier's float labels are whole numbers
        return labels.astype(np.int64)
    if labels.dtype.kind in "US" or (labels.dtype.kind == "O" and all(isinstance(c, str) for c in labels)):
        return labels.astype(str)
    raise ValueError(
        f"ONNX labels are int64 or strings; this model's classes_ {model.classes_!r} are neither. "
        "Convert with options={id(model): {'nocl': True}} to output class indices."
    )


def _classifier_shapes(operator):
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    model = operator.raw_operator
    check_is_fitted(model)  # skl2onnx calls the shape calculators first
    n = operator.inputs[0].get_first_dimension()
    n_classes = len(model.classes_)
    if _is_multilabel(model):
        label_type = Int64TensorType([n, n_classes])
    elif _graph_labels(operator.scope_inst, model).dtype.kind == "U":
        label_type = StringTensorType([n])
    else:
        label_type = Int64TensorType([n])
    operator.outputs[0].type = label_type
    operator.outputs[1].type = _float_type(operator.inputs[0].type)([n, n_classes])


def _regressor_shapes(operator):
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_is_fitted(operator.raw_operator)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _float_type(operator.inputs[0].type)([n, operator.raw_operator.n_outputs_])


def _convert_classifier(scope, operator, container):
    model = operator.raw_operator
    g, x = _builder_and_input(scope, operator, container)
    options = container.get_options(model, dict(zipmap=True, nocl=False, output_class_labels=False))
    if g.double and options["zipmap"] is True:
        raise ValueError(
            "ONNX's ZipMap takes float probabilities only: convert double input with "
            "options={id(model): {'zipmap': False}} (or 'columns'), or convert float32 input."
        )
    if options["nocl"] and options["output_class_labels"]:
        raise ValueError(
            "Options nocl=True and output_class_labels=True contradict each other: nocl keeps "
            "the class labels out of the graph, so there are none to output."
        )
    label, proba = (v.full_name for v in operator.outputs)
    out = _network_into(g, model, x)
    if _is_multilabel(model):
        # one logistic output per label; predict thresholds each at 0.5
        g.op("Identity", out, output=proba)
        g.op("Cast", g.op("Greater", out, g.const(0.5)), output=label, to=TensorProto.INT64)
        return
    if len(model.classes_) == 1:
        # the one class, with certainty, as predict_proba says
        ones = helper.make_tensor("one", g.proto, [1], [1.0])
        g.op("ConstantOfShape", g.op("Shape", out), output=proba, value=ones)
    elif model.n_outputs_ == 1:
        # binary: the logistic output is the second class's probability
        g.op("Concat", g.op("Sub", g.const(1.0), out), out, output=proba, axis=1)
    else:
        g.op("Identity", out, output=proba)
    # ArgMax takes the first of tied maxima, as predict does (p > 0.5 for binary)
    index = g.op("ArgMax", proba, axis=1, keepdims=0)
    if options["nocl"]:
        g.op("Identity", index, output=label)
    else:
        g.op("Gather", g.const(_graph_labels(scope, model)), index, output=label, axis=0)


def _convert_regressor(scope, operator, container):
    g, x = _builder_and_input(scope, operator, container)
    g.op("Identity", _network_into(g, operator.raw_operator, x), output=operator.outputs[0].full_name)


def _refuse(operator):
    name = type(operator.raw_operator).__name__
    raise NotImplementedError(
        f"{name} has no ONNX converter yet: its preprocessing (RobustSmoothClipScaler) and, for the "
        "regressor, its target scaling and clamping are not written as ONNX graphs. Save it with "
        "skops.io or joblib instead (see the saving guide)."
    )


def _refuse_conversion(scope, operator, container):
    _refuse(operator)


def register():
    """Register fastbp's ONNX converters with skl2onnx (importing :mod:`fastbp.onnx` already did).

    Calling it again is harmless. Afterwards ``skl2onnx.to_onnx`` and
    ``convert_sklearn`` convert :class:`~fastbp.BackpropClassifier` and
    :class:`~fastbp.BackpropRegressor`, also inside pipelines, and refuse
    :class:`~fastbp.TabularClassifier` and :class:`~fastbp.TabularRegressor`
    with a ``NotImplementedError`` that says why.
    """
    update_registered_converter(
        BackpropClassifier,
        "FastbpBackpropClassifier",
        _classifier_shapes,
        _convert_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False], "output_class_labels": [False, True]},
    )
    update_registered_converter(
        BackpropRegressor, "FastbpBackpropRegressor", _regressor_shapes, _convert_regressor
    )
    for preset in (TabularClassifier, TabularRegressor):
        update_registered_converter(preset, f"Fastbp{preset.__name__}", _refuse, _refuse_conversion)


register()
