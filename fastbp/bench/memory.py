"""Peak memory a one-epoch W3 fit adds, fastbp and scikit-learn, each in a new process."""

import os
import tempfile

import numpy as np

from ._process import run_python
from ._workloads import QUICK_MAX_SAMPLES, WORKLOADS

_PEAK_MEMORY_SCRIPT = """
import json, sys, warnings
import numpy as np
engine, X_path, y_path = sys.argv[1:4]

def status_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

X, y = np.load(X_path), np.load(y_path)
if engine == "fastbp":
    from fastbp import BackpropClassifier as Estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Estimator(hidden_layer_sizes=(4,), max_iter=1).fit(X[:300], y[:300])  # load the kernels
else:
    from sklearn.neural_network import MLPClassifier as Estimator
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # peak RSS := current RSS
before = status_kib("VmRSS")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    Estimator(hidden_layer_sizes=(256, 128), batch_size=128, max_iter=1, random_state=0).fit(X, y)
peak = status_kib("VmHWM")
print(json.dumps({"data_mib": X.nbytes / 2**20, "fit_added_mib": (peak - before) / 1024}))
"""


def measure_peak_memory(dtypes, quick):
    """Memory a one-epoch W3 fit adds to its process's peak, per engine and dtype.

    Each fit runs in a new process that loads the data from ``.npy`` files,
    resets the kernel's peak-RSS counter (Linux: ``/proc/self/clear_refs``)
    and reports the peak RSS after the fit minus the RSS before it.

    Parameters
    ----------
    dtypes : list of str
    quick : bool
        ``QUICK_MAX_SAMPLES`` rows instead of W3's full size.

    Returns
    -------
    dict or None
        ``n_samples`` and ``{"<engine>_<dtype>": {"data_mib", "fit_added_mib"}}``;
        None where ``/proc`` does not offer the peak reset.
    """
    if not os.access("/proc/self/clear_refs", os.W_OK):
        return None
    n_samples = QUICK_MAX_SAMPLES if quick else WORKLOADS["W3"].n_samples
    X, y = WORKLOADS["W3"].make(n_samples)
    result = {"n_samples": n_samples}
    with tempfile.TemporaryDirectory(prefix="fastbp-bench-data-") as tmp:
        y_path = os.path.join(tmp, "y.npy")
        np.save(y_path, y)
        for dtype in dtypes:
            X_path = os.path.join(tmp, "X.npy")
            np.save(X_path, np.ascontiguousarray(X, dtype=dtype))
            for engine in ("fastbp", "sklearn"):
                result[f"{engine}_{dtype}"] = run_python(_PEAK_MEMORY_SCRIPT, engine, X_path, y_path)
    return result
