"""
===============================================
Per-step schedules, weight decay and clipping
===============================================

Beyond scikit-learn's per-epoch schedules, ``learning_rate`` takes three
that set the step size of every mini-batch step of the run (the ``max_iter``
epochs of one ``fit``), for ``solver="adam"`` as well as ``"sgd"``:
``"cosine"``, ``"warmup_cosine"`` (a linear warmup over ``warmup_fraction``
of the steps first) and RealMLP's ``"coslog4"``. ``weight_decay`` is
decoupled weight decay (PyTorch's ``AdamW``), and ``max_grad_norm`` clips
each batch's gradient to a global norm.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropClassifier

# the runs end at max_iter on purpose
warnings.filterwarnings("ignore", category=ConvergenceWarning)

RANDOM_STATE = 0
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=RANDOM_STATE)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
params = dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=40, random_state=RANDOM_STATE)

# %%
# The schedules
# -------------
# ``history_["learning_rate"]`` records the step size of each epoch's first
# step; within an epoch the schedule moves on at every batch (here 7 per
# epoch: 1,347 training rows in batches of 200, so 280 steps in the run).
fig, (ax_lr, ax_loss) = plt.subplots(1, 2, figsize=(12, 4))
for schedule in ["constant", "cosine", "warmup_cosine", "coslog4"]:
    clf = BackpropClassifier(learning_rate=schedule, warmup_fraction=0.1, **params).fit(X_train, y_train)
    ax_lr.plot(clf.history_["epoch"], clf.history_["learning_rate"], label=schedule)
    ax_loss.plot(clf.history_["epoch"], clf.loss_curve_, label=schedule)
    print(f"{schedule:>14}: final loss {clf.loss_:.4f}, test accuracy {clf.score(X_test, y_test):.3f}")
ax_lr.set(xlabel="epoch", ylabel="step size of the epoch's first step", title="learning_rate")
ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss_curve_")
ax_lr.legend()
fig.tight_layout()

# %%
# Decoupled weight decay and clipping
# -----------------------------------
# Weight decay shrinks the coefficients by ``lr * weight_decay`` of
# themselves at every step, outside the gradient: with Adam this differs
# from ``alpha``'s L2 penalty, which Adam's moments rescale. Clipping bounds
# each step's gradient norm, here with the cosine schedule.
decays = [0.0, 0.3, 1.0, 3.0]
norms, scores = [], []
for weight_decay in decays:
    clf = BackpropClassifier(learning_rate="cosine", weight_decay=weight_decay, max_grad_norm=1.0, **params)
    clf.fit(X_train, y_train)
    norms.append(np.sqrt(sum(np.sum(c**2) for c in clf.coefs_)))
    scores.append(clf.score(X_test, y_test))
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(decays, norms, "o-")
ax.set(xlabel="weight_decay", ylabel="||coefs_||", xlim=(-0.2, 4), title="size of the weights after training")
for d, n, s in zip(decays, norms, scores):
    ax.annotate(f"accuracy {s:.3f}", (d, n), textcoords="offset points", xytext=(5, 5))
fig.tight_layout()
