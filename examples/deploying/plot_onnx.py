"""
=========================
Exporting a model to ONNX
=========================

A scaler and a :class:`~fastbp.BackpropClassifier` in one ``Pipeline``,
converted by skl2onnx once ``fastbp.onnx`` is imported, and run by
onnxruntime, which needs neither fastbp nor scikit-learn.
"""

# %%
# Train, convert, run
# -------------------
import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastbp.onnx  # noqa: F401  (registers fastbp's converters with skl2onnx)
from fastbp import BackpropClassifier

X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)  # ONNX's usual input type
pipe = make_pipeline(StandardScaler(), BackpropClassifier(max_iter=300, random_state=0)).fit(X, y)

# zipmap=False: probabilities as one (n, n_classes) tensor, not one dict per row
onx = to_onnx(pipe, X[:1], options={BackpropClassifier: {"zipmap": False}})
session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
print("inputs:", [(i.name, i.type, i.shape) for i in session.get_inputs()])
print("outputs:", [(o.name, o.type, o.shape) for o in session.get_outputs()])

labels, proba = session.run(None, {"X": X})
print(f"{len(onx.SerializeToString()) / 1e3:.0f} kB of ONNX")
print("labels equal to predict's:", np.mean(labels == pipe.predict(X)))
print(f"largest probability difference: {np.abs(proba - pipe.predict_proba(X)).max():.1e}")
