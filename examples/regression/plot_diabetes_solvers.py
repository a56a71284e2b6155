"""
=====================================
Regression with L-BFGS, Adam, Poisson
=====================================

:class:`~fastbp.BackpropRegressor` on the diabetes data: a squared-error
network trained by L-BFGS and by Adam, then a Poisson model of count-like
targets trained in float32.
"""

# %%
# Squared error: L-BFGS against Adam
# ----------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropRegressor

RANDOM_STATE = 0

X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=RANDOM_STATE)
scale = y_train.std()

fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True, layout="constrained")
for solver, ax in zip(("lbfgs", "adam"), axes):
    # 331 training rows: a small network and a strong L2 penalty
    reg = BackpropRegressor(
        hidden_layer_sizes=(8,),
        solver=solver,
        alpha=30.0,
        learning_rate_init=0.01,
        max_iter=300,
        random_state=RANDOM_STATE,
    ).fit(X_train, y_train / scale)
    r2 = reg.score(X_test, y_test / scale)
    print(f"{solver:>6}: test R^2 = {r2:.3f} after {reg.n_iter_} iterations")

    ax.scatter(y_test, reg.predict(X_test) * scale, s=12)
    ax.axline((100, 100), slope=1, color="gray", linestyle=":")
    ax.set(title=f"{solver}, test $R^2$ = {r2:.2f}", xlabel="measured")
axes[0].set_ylabel("predicted")
plt.show()

# %%
# Poisson loss in float32
# -----------------------
# ``loss="poisson"`` puts an exponential on the output, so predictions are
# positive. float32 data trains and predicts in float32.
counts = np.round(y / 25.0)
X32 = X.astype(np.float32)
reg = BackpropRegressor(
    loss="poisson",
    hidden_layer_sizes=(16,),
    learning_rate_init=0.01,
    max_iter=1000,
    random_state=RANDOM_STATE,
)
reg.fit(X32[:300], counts[:300])
pred = reg.predict(X32[300:])
observed = counts[300:].mean()
print(f"poisson: dtype {pred.dtype}, mean predicted count {pred.mean():.2f} vs observed {observed:.2f}")
