"""fastbp: multilayer perceptrons trained by Numba-compiled backpropagation.

Drop-in replacements for scikit-learn's ``MLPClassifier`` and
``MLPRegressor``: :class:`BackpropClassifier`, :class:`BackpropRegressor`.
"""

# Numba's BLAS is scipy's OpenBLAS, loaded on first use; loading it now
# lets threadpoolctl see (and limit) it before the first fit.
import scipy.linalg  # noqa: F401

from ._cache import cache_dir
from ._display import TrainingHistoryDisplay
from ._estimators import BackpropClassifier, BackpropRegressor
from ._warm_up import warm_up

__all__ = ["BackpropClassifier", "BackpropRegressor", "TrainingHistoryDisplay", "cache_dir", "warm_up"]
__version__ = "0.1.0"
