"""
================================================
Same parameters, same training as MLPClassifier
================================================

:class:`~fastbp.BackpropClassifier` is meant to replace
:class:`~sklearn.neural_network.MLPClassifier` by changing one import. Given
the same parameters and the same integer ``random_state``, both start from
the same weights, see the samples in the same order and take the same steps,
so their loss curves lie on top of each other; fastbp just takes less time per
epoch.
"""

# %%
# Train both for 40 epochs
# ------------------------
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropClassifier, warm_up

RANDOM_STATE = 0

# The first fit in a new process compiles fastbp's kernels, or loads them
# from the on-disk cache; do that first so that the timings below are of
# training only.
warm_up(dtypes=("float64",))

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
params = {"hidden_layer_sizes": (64,), "max_iter": 40, "random_state": RANDOM_STATE}

models = {}
for estimator in (MLPClassifier(**params), BackpropClassifier(**params)):
    with warnings.catch_warnings():
        # 40 epochs is short on purpose: both warn that they did not converge
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
    name = type(estimator).__name__
    models[name] = estimator
    print(f"{name:>18}: {seconds:.2f} s, final loss {estimator.loss_:.6f}")

sk, fb = models["MLPClassifier"], models["BackpropClassifier"]
gap = max(np.abs(a - b).max() for a, b in zip(sk.coefs_, fb.coefs_))
print(f"largest difference between the two models' weights: {gap:.1e}")
print("same predictions:", bool((sk.predict(X) == fb.predict(X)).all()))

# %%
# Two loss curves, one line
# -------------------------
epochs = np.arange(1, params["max_iter"] + 1)
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(epochs, sk.loss_curve_, linewidth=4, alpha=0.4, label="MLPClassifier")
ax.plot(epochs, fb.loss_curve_, color="black", linestyle="--", label="BackpropClassifier")
ax.set(xlabel="epoch", ylabel="training loss", yscale="log")
ax.legend()
plt.show()
