"""
=====================================
Early stopping and the epoch it keeps
=====================================

With ``early_stopping=True`` a share of the training data is held out and
scored after every epoch; the weights of the best epoch are kept. fastbp can
watch the validation *loss* instead of the score
(``early_stopping_metric="loss"``) and, with ``n_iter_no_change=np.inf``,
train the whole run and still keep its best epoch.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropRegressor, TrainingHistoryDisplay

# the runs end at max_iter on purpose
warnings.filterwarnings("ignore", category=ConvergenceWarning)

RANDOM_STATE = 0
X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)
y = (y - y.mean()) / y.std()

# %%
# Stop when the validation score stalls (scikit-learn's rule) ...
by_score = BackpropRegressor(
    hidden_layer_sizes=(64,),
    learning_rate_init=0.01,
    early_stopping=True,
    max_iter=300,
    random_state=RANDOM_STATE,
).fit(X, y)

# %%
# ... or train 150 epochs and keep the one with the lowest validation loss.
whole_run = BackpropRegressor(
    hidden_layer_sizes=(64,),
    learning_rate_init=0.01,
    early_stopping=True,
    early_stopping_metric="loss",
    n_iter_no_change=np.inf,
    max_iter=150,
    random_state=RANDOM_STATE,
).fit(X, y)

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
TrainingHistoryDisplay.from_estimator(by_score, ax=left, learning_rate=False)
left.set_title(f"stops at epoch {by_score.n_iter_} (score)")
TrainingHistoryDisplay.from_estimator(whole_run, ax=right, learning_rate=False)
right.set_title("whole run, lowest validation loss kept")
fig.tight_layout()
print(f"kept validation loss: {whole_run.best_validation_loss_:.4f} after {whole_run.n_iter_} epochs")
