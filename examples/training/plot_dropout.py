"""
======================================
Dropout against an overfitting network
======================================

A wide network trained long on a few hundred noisy rows learns them by
heart: its training loss falls towards zero while the loss on rows it
never saw turns back up after a few epochs. Dropout (``dropout``, one
rate or one per hidden layer) zeroes each hidden unit's output with that
probability while training and scales the others by ``1 / (1 - rate)``;
prediction uses the whole network. ``early_stopping=True`` holds out a
validation split and records its loss after each epoch
(``validation_loss_curve_``); ``n_iter_no_change=max_iter`` lets every run
go to ``max_iter`` so that the whole curve shows.
"""

# %%
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from fastbp import BackpropClassifier

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_classification(
    n_samples=800, n_features=40, n_informative=8, n_redundant=0, flip_y=0.05, class_sep=0.8, random_state=0
)

# %%
# The same network and budget without dropout and with two rates.
fig, ax = plt.subplots(figsize=(8, 4.5))
for rate, color in ((0.0, "C0"), (0.5, "C1"), (0.7, "C2")):
    model = BackpropClassifier(
        hidden_layer_sizes=(256, 256),
        dropout=rate,
        max_iter=80,
        early_stopping=True,
        validation_fraction=0.3,
        n_iter_no_change=80,
        random_state=0,
    ).fit(X, y)
    curve = model.validation_loss_curve_
    ax.plot(model.loss_curve_, color=color, linestyle=":")
    ax.plot(curve, color=color, label=f"dropout {rate}")
    print(f"dropout {rate}: validation loss lowest {min(curve):.3f}, after {model.n_iter_} epochs {curve[-1]:.3f}")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("loss (dotted: training, solid: validation)")
ax.legend()
fig.tight_layout()

# %%
# Dropout slows the memorising down, the more so the higher the rate. It
# combines with early stopping: each fitted model above keeps the weights of
# its best validation epoch (``early_stopping_metric='loss'`` would let the
# validation loss pick that epoch instead of the accuracy).
