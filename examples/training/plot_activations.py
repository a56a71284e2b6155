"""
===================================
Hidden activations, one per layer
===================================

Besides scikit-learn's four (identity, logistic, tanh, relu), fastbp has
``leaky_relu``, ``elu``, ``selu``, ``gelu``, ``gelu_tanh``, ``silu``,
``mish`` and ``softplus``, and ``activation`` may name one per hidden
layer; ``parametric_activation`` mixes each unit's activation with the
identity by a trained weight. The first fit with one of them compiles
their kernel (about 3 s, once per machine and dtype).
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastbp import BackpropClassifier

# the runs end at max_iter on purpose
warnings.filterwarnings("ignore", category=ConvergenceWarning)

RANDOM_STATE = 0
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=RANDOM_STATE)

# %%
# The same two-layer network and budget with each activation, and with a
# different one in each layer.
activations = ["relu", "tanh", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", ("gelu", "tanh")]
fig, ax = plt.subplots(figsize=(8, 4.5))
for activation in activations:
    model = BackpropClassifier(
        hidden_layer_sizes=(64, 32),
        activation=activation,
        learning_rate_init=3e-3,
        max_iter=30,
        random_state=RANDOM_STATE,
    ).fit(X_train, y_train)
    label = "/".join(activation) if isinstance(activation, tuple) else activation
    ax.plot(np.arange(1, model.n_iter_ + 1), model.loss_curve_, label=label)
    print(f"{label:>10}: test accuracy {model.score(X_test, y_test):.3f}")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.legend(ncol=3)
fig.tight_layout()

# %%
# Parametric activations (RealMLP's): each hidden unit mixes its activation
# with the identity, ``z + alpha * (f(z) - z)``, by a weight ``alpha`` that
# trains with the network, starting at 1 (the plain activation). The
# trained weights are ``activation_mix_``, one array per hidden layer.
model = BackpropClassifier(
    hidden_layer_sizes=(64, 32),
    activation="selu",
    parametric_activation=True,
    learning_rate_init=3e-3,
    max_iter=30,
    random_state=RANDOM_STATE,
).fit(X_train, y_train)
print(f"parametric selu: test accuracy {model.score(X_test, y_test):.3f}")
fig, ax = plt.subplots(figsize=(8, 3))
ax.hist(np.concatenate(model.activation_mix_), bins=30)
ax.set_xlabel("trained mixing weight alpha (1: plain selu, 0: identity)")
ax.set_ylabel("hidden units")
fig.tight_layout()

# %%
# A network with activations scikit-learn's MLP lacks (here the parametric
# selu) cannot become one:
# ``to_sklearn`` refuses it rather than return a model that predicts
# differently.
try:
    model.to_sklearn()
except ValueError as error:
    print(error)
