"""
=====================================
Tune a digit classifier with a search
=====================================

:class:`~fastbp.BackpropClassifier` takes ``MLPClassifier``'s parameters and
drops into a :class:`~sklearn.pipeline.Pipeline`; here
:class:`~sklearn.model_selection.GridSearchCV` tries two layer layouts and two
L2 penalties on the handwritten digits, then we look at how the chosen model
trained, epoch by epoch.
"""

# %%
# Search over layer sizes and the L2 penalty
# ------------------------------------------
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropClassifier

RANDOM_STATE = 0

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=RANDOM_STATE)

pipe = make_pipeline(
    StandardScaler(), BackpropClassifier(max_iter=300, early_stopping=True, random_state=RANDOM_STATE)
)
grid = {
    "backpropclassifier__hidden_layer_sizes": [(32,), (64, 32)],
    "backpropclassifier__alpha": [1e-4, 1e-2],
}
search = GridSearchCV(pipe, grid, cv=3).fit(X_train, y_train)

print("best parameters:", search.best_params_)
print(f"cross-validated accuracy: {search.best_score_:.3f}")
print(f"test accuracy: {search.score(X_test, y_test):.3f}")
proba = search.predict_proba(X_test[:3])
print("class probabilities of three test digits (rows sum to 1):")
print(proba.round(3))

# %%
# How the best model trained
# --------------------------
# With ``early_stopping=True`` a tenth of the training rows is held out; the
# fitted model records the training loss (``loss_curve_``) and the held-out
# accuracy (``validation_scores_``) after every epoch, and keeps the weights
# of the epoch with the best held-out accuracy.
clf = search.best_estimator_[-1]
epochs = range(1, clf.n_iter_ + 1)

fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
ax_loss.plot(epochs, clf.loss_curve_)
ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log")
ax_score.plot(epochs, clf.validation_scores_)
ax_score.axhline(clf.best_validation_score_, color="gray", linestyle=":", label="best")
ax_score.set(xlabel="epoch", ylabel="held-out accuracy")
ax_score.legend()
plt.show()
