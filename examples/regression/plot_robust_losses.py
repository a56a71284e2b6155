"""
==========================================
Robust losses: outliers and quantile bands
==========================================

:class:`~fastbp.BackpropRegressor` with losses scikit-learn's MLPRegressor
does not have. ``loss="absolute_error"`` and ``loss="huber"`` (with its
``delta``) bound the pull of each sample, so a few wild targets no longer
drag the fit; ``loss="quantile"`` with a list of quantiles predicts one
column per quantile, here a band that widens where the noise does.
"""

# %%
# Outliers: squared error against absolute error and Huber
# ---------------------------------------------------------
# One feature, a straight line plus small noise, and 8% of the targets
# moved far up.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_regression
from sklearn.model_selection import train_test_split

from fastbp import BackpropRegressor

RANDOM_STATE = 0
rng = np.random.RandomState(RANDOM_STATE)

X, line = make_regression(n_samples=300, n_features=1, random_state=RANDOM_STATE)
X, line = X / X.std(), line / line.std()
y = line + 0.2 * rng.normal(size=300)
outliers = rng.permutation(300)[:24]
y[outliers] += 6.0

fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax = axes[0]
ax.scatter(X[:, 0], y, s=8, color="lightgray")
grid = np.linspace(X.min(), X.max(), 200).reshape(-1, 1)
for loss in ("squared_error", "absolute_error", "huber"):
    reg = BackpropRegressor(
        loss=loss, hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=300, random_state=RANDOM_STATE
    ).fit(X, y)
    error = np.abs(reg.predict(X) - line).mean()
    print(f"{loss:>14}: mean distance to the line {error:.3f}")
    ax.plot(grid[:, 0], reg.predict(grid), label=loss)
ax.set(title="8% outliers", xlabel="x", ylabel="y")
ax.legend()

# %%
# Quantile bands on noise that grows with x
# -----------------------------------------
# The 5%, 50% and 95% quantiles in one network (three output columns). On
# held-out data about 90% of the targets fall inside the outer two.
X, line = make_regression(n_samples=1500, n_features=1, random_state=RANDOM_STATE + 1)
X, line = X / X.std(), line / line.std()
y = line + (0.1 + 0.4 * np.abs(X[:, 0])) * rng.normal(size=1500)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=RANDOM_STATE)

reg = BackpropRegressor(
    loss="quantile",
    quantile=[0.05, 0.5, 0.95],
    hidden_layer_sizes=(32,),
    learning_rate_init=0.01,
    max_iter=300,
    random_state=RANDOM_STATE,
).fit(X_train, y_train)
low, median, high = reg.predict(X_test).T
inside = np.mean((low <= y_test) & (y_test <= high))
print(f"quantile: {inside:.0%} of the held-out targets inside the 5%-95% band")

order = np.argsort(X_test[:, 0])
ax = axes[1]
ax.scatter(X_test[:, 0], y_test, s=8, color="lightgray")
ax.fill_between(X_test[order, 0], low[order], high[order], alpha=0.3, label="5%-95%")
ax.plot(X_test[order, 0], median[order], label="median")
ax.set(title=f"quantiles: {inside:.0%} of test targets inside", xlabel="x")
ax.legend()
plt.show()
