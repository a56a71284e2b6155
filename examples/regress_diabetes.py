"""Regression on the diabetes data: squared error with L-BFGS and Adam,
and a Poisson model of count-like targets, in float32.
"""

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropRegressor

X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
scale = y_train.std()

for solver in ("lbfgs", "adam"):
    # 331 training rows: a small network and a strong L2 penalty
    reg = BackpropRegressor(
        hidden_layer_sizes=(8,),
        solver=solver,
        alpha=30.0,
        learning_rate_init=0.01,
        max_iter=300,
        random_state=0,
    ).fit(X_train, y_train / scale)
    print(f"{solver:>6}: test R^2 = {reg.score(X_test, y_test / scale):.3f} after {reg.n_iter_} iterations")

# Poisson loss (exp output) for non-negative targets, trained in float32
counts = np.round(y / 25.0)
X32 = X.astype(np.float32)
reg = BackpropRegressor(
    loss="poisson", hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=300, random_state=0
)
reg.fit(X32[:300], counts[:300])
pred = reg.predict(X32[300:])
print(
    f"poisson: dtype {pred.dtype}, mean predicted count {pred.mean():.2f} vs observed {counts[300:].mean():.2f}"
)
