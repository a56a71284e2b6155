"""
==========================================
Imbalanced classes and label smoothing
==========================================

``class_weight`` (a dict, or ``'balanced'``) multiplies each row's
``sample_weight`` by its class's weight, as in scikit-learn's linear
models; ``'balanced'`` weighs classes by ``n_samples / (n_classes *
count)``, so a rare class counts as much as a common one.
``label_smoothing=eps`` trains on the targets ``y (1 - eps) + eps / K``:
the network is kept from pushing its probabilities to 0 and 1.
scikit-learn's ``MLPClassifier`` has neither.
"""

# %%
import warnings

from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score, log_loss, recall_score
from sklearn.model_selection import train_test_split

from fastbp import BackpropClassifier

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# one row in twenty is of class 1
X, y = make_classification(n_samples=4000, n_features=20, weights=[0.95], flip_y=0.02, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

# %%
# Without weights the network favours the common class; balanced weights
# trade some of its accuracy for the rare class's recall.
for class_weight in (None, "balanced"):
    model = BackpropClassifier(class_weight=class_weight, max_iter=60, random_state=0).fit(X_train, y_train)
    predicted = model.predict(X_test)
    print(
        f"class_weight={class_weight!s:>8}: recall of the rare class {recall_score(y_test, predicted):.2f}, "
        f"balanced accuracy {balanced_accuracy_score(y_test, predicted):.3f}"
    )

# %%
# A long run overfits, and its probabilities grow overconfident: the test
# log-loss rises. Smoothed labels keep them moderate.
for eps in (0.0, 0.1):
    model = BackpropClassifier(
        hidden_layer_sizes=(256,), label_smoothing=eps, max_iter=150, random_state=0
    ).fit(X_train, y_train)
    proba = model.predict_proba(X_test)
    print(f"label_smoothing={eps}: test log-loss {log_loss(y_test, proba):.3f}, largest probability {proba.max():.4f}")
