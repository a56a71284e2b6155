"""
=========================
Learning-rate schedules
=========================

``solver="sgd"`` follows scikit-learn's three schedules: a constant step,
``invscaling`` (``learning_rate_init / (t + 1) ** power_t``, ``t`` the samples
seen) and ``adaptive`` (divided by 5 whenever the loss stalls for
``n_iter_no_change`` epochs). ``history_`` records the step every epoch
used, so the schedule and its effect on the loss can be drawn side by side.
"""

# %%
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropClassifier, TrainingHistoryDisplay

# the runs end at max_iter on purpose
warnings.filterwarnings("ignore", category=ConvergenceWarning)

RANDOM_STATE = 0
X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)

schedules = {
    "constant": dict(learning_rate="constant"),
    "invscaling": dict(learning_rate="invscaling", learning_rate_init=0.5, power_t=0.25),
    "adaptive": dict(learning_rate="adaptive", tol=1e-3, n_iter_no_change=3),
}
fig, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True)
for ax, (name, schedule) in zip(axes, schedules.items()):
    params = dict(solver="sgd", learning_rate_init=0.1, max_iter=60, random_state=RANDOM_STATE)
    clf = BackpropClassifier(hidden_layer_sizes=(32,), **{**params, **schedule}).fit(X, y)
    TrainingHistoryDisplay.from_estimator(clf, ax=ax)
    ax.set_title(f"{name}: final loss {clf.loss_:.3f}")
    last_step = clf.history_["learning_rate"][-1]
    print(f"{name:>10}: {clf.n_iter_} epochs, loss {clf.loss_:.4f}, last step {last_step:.4g}")
    ax.set_yscale("log")
fig.tight_layout()
