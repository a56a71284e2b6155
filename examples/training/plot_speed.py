"""
===================================
Time per epoch next to scikit-learn
===================================

One run of ``python -m fastbp.bench --workloads W1,W2,W4,W5 --no-targets
--repeats 3 --json examples/data/bench.json``, read back and drawn: the
median milliseconds per training epoch of fastbp and of scikit-learn's MLP
on the same network, data and ``random_state``, each engine's epochs
interleaved with the others', and the "GEMM floor", the time of only the
matrix products an epoch needs. Run the command on your machine to redraw
it with your numbers.
"""

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs the file without __file__ in some versions
    HERE = Path.cwd()
report = json.loads((HERE.parent / "data" / "bench.json").read_text())
machine = report["machine"]
versions = f"scikit-learn {machine['sklearn']}, numba {machine['numba']}"
print(f"{machine['cpu']}, {machine['cpu_count']} CPUs; {versions}")

rows = report["results"]
labels = [f"{r['workload']}\n{r['dtype']}" for r in rows]
x = np.arange(len(rows))
fig, ax = plt.subplots(figsize=(10, 4))
for offset, engine, name in (
    (-0.27, "sklearn", "scikit-learn"),
    (0, "fastbp", "fastbp"),
    (0.27, "gemm_floor", "GEMM floor"),
):
    ax.bar(x + offset, [r[engine]["ms_per_epoch"] for r in rows], width=0.27, label=name)
for i, r in enumerate(rows):
    ax.annotate(
        f"{r['ratio_sklearn_to_fastbp']:.1f}x", (i, r["fastbp"]["ms_per_epoch"]), ha="center", va="bottom"
    )
ax.set_xticks(x, labels)
ax.set_yscale("log")
ax.set_ylabel("ms per epoch (median)")
ax.set_title("time per training epoch, one BLAS thread (label: scikit-learn's time / fastbp's)")
ax.legend()
fig.tight_layout()
