"""Prediction latency (1 row) and throughput (10,000 rows)."""

import numpy as np

from . import common


class Predict:
    """``predict`` on 1 row and on 10,000 rows, one BLAS thread.

    The 1-row case is dominated by input validation and call overhead; the
    10,000-row case by the chunked forward pass.
    """

    params = [list(common.WORKLOADS), common.DTYPES]
    param_names = ["workload", "dtype"]

    def setup(self, workload, dtype):
        common.pin_threads()
        X_train, X_test, y_train, _ = common.load(workload, dtype)
        self.model = common.fit_quietly(common.make_estimator(workload, "adam", max_iter=5), X_train, y_train)
        self.X_1 = np.ascontiguousarray(X_test[:1])
        self.X_10k = np.ascontiguousarray(np.resize(X_test, (10_000, X_test.shape[1])))
        self.model.predict(self.X_1)  # warm the JIT for the forward pass

    def time_predict_1_row(self, workload, dtype):
        self.model.predict(self.X_1)

    def time_predict_10000_rows(self, workload, dtype):
        self.model.predict(self.X_10k)
