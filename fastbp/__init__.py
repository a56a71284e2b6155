"""fastbp: multilayer perceptrons trained by Numba-compiled backpropagation.

Drop-in replacements for scikit-learn's ``MLPClassifier`` and
``MLPRegressor``: :class:`BackpropClassifier`, :class:`BackpropRegressor`;
RealMLP's numeric preprocessing: :class:`RobustSmoothClipScaler`; its
recipe as presets for tables: :class:`TabularClassifier`,
:class:`TabularRegressor`.
"""

# Numba's BLAS is scipy's OpenBLAS, loaded on first use; loading it now
# lets threadpoolctl see (and limit) it before the first fit.
import scipy.linalg  # noqa: F401

from ._cache import cache_dir
from ._display import TrainingHistoryDisplay
from ._estimators import BackpropClassifier, BackpropRegressor
from ._parallel import get_num_threads, num_threads, set_num_threads
from ._version import __version__
from ._warm_up import warm_up
from .preprocessing import RobustSmoothClipScaler
from .tabular import TabularClassifier, TabularRegressor

# the only types skops.io.load must be told to trust in a fastbp model:
# skops.io.load(path, trusted=fastbp.SKOPS_TRUSTED) (numpy.dtype: the dtype
# scikit-learn's SimpleImputer keeps, in the presets' preprocessing)
SKOPS_TRUSTED = [
    "fastbp._estimators.BackpropClassifier",
    "fastbp._estimators.BackpropRegressor",
    "fastbp.preprocessing.RobustSmoothClipScaler",
    "fastbp.tabular.TabularClassifier",
    "fastbp.tabular.TabularRegressor",
    "numpy.dtype",
]

__all__ = [
    "SKOPS_TRUSTED",
    "BackpropClassifier",
    "BackpropRegressor",
    "RobustSmoothClipScaler",
    "TabularClassifier",
    "TabularRegressor",
    "TrainingHistoryDisplay",
    "__version__",
    "cache_dir",
    "get_num_threads",
    "num_threads",
    "set_num_threads",
    "warm_up",
]
