"""Classify handwritten digits, and tune the network with GridSearchCV.

fastbp's BackpropClassifier takes MLPClassifier's parameters and drops into
a Pipeline; here a small grid over layer sizes and the L2 penalty.
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastbp import BackpropClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

pipe = make_pipeline(StandardScaler(), BackpropClassifier(max_iter=300, early_stopping=True, random_state=0))
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
