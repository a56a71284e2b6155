"""What the numbers depend on (machine, libraries, threads) and the text output."""

import os
import platform

import numpy as np
import scipy
import sklearn
from threadpoolctl import threadpool_info

import fastbp

from .activations import QUICK_ACTIVATIONS, TARGETS
from .preset import TARGET as PRESET_TARGET


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


_BLAS_KEYS = ("internal_api", "version", "num_threads", "threading_layer", "architecture", "filepath")
_POOL_KEYS = ("user_api", "internal_api", "num_threads", "filepath")


def machine_info(threads):
    """What the numbers depend on: CPU, library versions, BLAS and thread counts.

    Parameters
    ----------
    threads : int or None
        The BLAS (and torch) thread count the run imposes; None when
        every library runs at its own default (``--threads default``).

    Returns
    -------
    dict
    """
    import numba

    torch = _torch()
    blas = [{k: lib.get(k) for k in _BLAS_KEYS} for lib in threadpool_info() if lib["user_api"] == "blas"]
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "sklearn": sklearn.__version__,
        "fastbp": fastbp.__version__,
        "torch": torch.__version__ if torch else None,
        "blas_threads": threads,
        "numba_num_threads": int(numba.config.NUMBA_NUM_THREADS),
        "blas": blas,
    }


def thread_counts():
    """The thread count each library has now.

    Returns
    -------
    dict
        ``threadpools``: every pool threadpoolctl finds (BLAS and OpenMP
        libraries) with its ``num_threads``; ``torch``:
        ``torch.get_num_threads()`` (None without PyTorch); ``numba``:
        Numba's thread count.
    """
    import numba

    torch = _torch()
    return {
        "threadpools": [{k: lib.get(k) for k in _POOL_KEYS} for lib in threadpool_info()],
        "torch": torch.get_num_threads() if torch else None,
        "numba": int(numba.config.NUMBA_NUM_THREADS),
    }


def format_header(machine, threads_mode, counts):
    """The first output line: CPU and the threads the libraries run on.

    Parameters
    ----------
    machine : dict
        From :func:`machine_info`.
    threads_mode : str
        ``"pinned"`` or ``"default"``.
    counts : dict
        From :func:`thread_counts`.

    Returns
    -------
    str
    """
    if threads_mode == "pinned":
        threads = f"BLAS threads {machine['blas_threads']}"
    else:
        blas = sorted({pool["num_threads"] for pool in counts["threadpools"] if pool["user_api"] == "blas"})
        threads = "BLAS threads " + "/".join(map(str, blas or ["-"]))
        if counts["torch"] is not None:
            threads += f", torch threads {counts['torch']}"
    return f"{machine['cpu']}, {machine['cpu_count']} CPUs, threads {threads_mode}: {threads}"


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_table(report):
    """The per-epoch results as a fixed-width text table.

    Parameters
    ----------
    report : dict
        With ``results`` (from :func:`~fastbp.bench.run_workload`, peak
        fractions added) and ``blas_peak_gflops``.

    Returns
    -------
    str
    """
    peak = report["blas_peak_gflops"]
    columns = [
        ("workload", 8),
        ("dtype", 8),
        ("fastbp ms", 10),
        ("sklearn ms", 11),
        ("torch ms", 9),
        ("floor ms", 9),
        ("skl/fbp", 8),
        ("torch/fbp", 10),
        ("fbp/floor", 10),
        ("fbp/fl+st", 10),
        ("fbp GF/s", 9),
        ("fbp %pk", 8),
        ("skl %pk", 8),
        ("floor %pk", 10),
    ]
    lines = ["".join(name.rjust(width) for name, width in columns)]
    for r in report["results"]:
        torch_r = r["torch"]
        cells = [
            r["workload"],
            r["dtype"],
            _fmt(r["fastbp"]["ms_per_epoch"], ".2f"),
            _fmt(r["sklearn"]["ms_per_epoch"], ".2f"),
            _fmt(torch_r and torch_r["ms_per_epoch"], ".2f"),
            _fmt(r["gemm_floor"]["ms_per_epoch"], ".2f"),
            _fmt(r["ratio_sklearn_to_fastbp"], ".2f"),
            _fmt(r["ratio_torch_to_fastbp"], ".2f"),
            _fmt(r["ratio_fastbp_to_floor"], ".2f"),
            _fmt(r["ratio_fastbp_to_floor_and_step"], ".2f"),
            _fmt(r["fastbp"]["gflops"], ".1f"),
            _fmt(100 * r["fastbp"]["peak_fraction"], ".1f"),
            _fmt(100 * r["sklearn"]["peak_fraction"], ".1f"),
            _fmt(100 * r["gemm_floor"]["peak_fraction"], ".1f"),
        ]
        lines.append("".join(str(c).rjust(width) for c, (_, width) in zip(cells, columns)))
    notes = [
        "ms: median milliseconds per epoch;",
        "skl/fbp, torch/fbp: peer time / fastbp time (> 1: fastbp faster);",
        "fbp/floor: fastbp time / GEMM-floor time (1 = only the matrix products remain);",
        "fbp/fl+st: fastbp time / (GEMM floor + the least memory traffic of Adam's steps, on fastbp's threads);",
        "GF/s: matrix-product flops per epoch / epoch time; %pk: of the measured BLAS GEMM peak ("
        + ", ".join(f"{dt} {v:.1f} GFLOP/s" for dt, v in peak.items())
        + ").",
    ]
    return "\n".join(lines + notes)


def _format_search(search):
    """The line of :func:`~fastbp.bench.measure_search`'s result."""
    parts = [f"serial {search['serial']['search_s']:.2f} s"]
    differ = []
    for name in ("loky", "threading", "dask"):
        entry = search.get(name)
        if entry is None:
            continue
        if "skipped" in entry:
            parts.append(f"{name} skipped ({entry['skipped']})")
            continue
        if name == "dask":
            where = f"{entry['workers']} workers"
            extra = (
                f", cluster start {entry['cluster_start_s']:.1f} s, worker warm-up {entry['warm_up_s']:.1f} s"
            )
        else:
            where, extra = f"n_jobs={search['n_jobs']}", ""
        parts.append(f"{name} {where} {entry['search_s']:.2f} s ({entry['speedup']:.2f}x{extra})")
        if not entry["same_results"]:
            differ.append(name)
    same = f"cv_results_ DIFFER from serial's: {', '.join(differ)}" if differ else "same cv_results_"
    return (
        f"GridSearchCV ({search['candidates']} candidates x {search['folds']} folds, "
        f"{search['epochs']} epochs, digits), median of {search['repeats']}: "
        + ", ".join(parts)
        + f"; {same}"
    )


def format_targets(targets):
    """The measurements of :func:`~fastbp.bench.measure_targets` as text lines.

    Parameters
    ----------
    targets : dict

    Returns
    -------
    str
    """
    lines = []
    p = targets.get("predict")
    if p:
        for rows in (1, 10_000):
            ours, theirs = p[f"fastbp_{rows}_rows_us"], p[f"sklearn_{rows}_rows_us"]
            lines.append(
                f"predict_proba, {rows:,} row(s), W1 model: fastbp {ours:,.1f} us, "
                f"sklearn {theirs:,.1f} us (skl/fbp {theirs / ours:.2f})"
            )
    a = targets.get("activations")
    if a:
        for dtype in ("float64", "float32"):
            relu, tanh = a[f"relu_{dtype}_ms"], a[f"tanh_{dtype}_ms"]
            names = [key[: -len(f"_{dtype}_ms")] for key in a if key.endswith(f"_{dtype}_ms")]
            lines.append(
                f"W1 epoch by hidden activation and dropout, {dtype} (ms, x relu, x tanh): relu {relu:.2f}, "
                + ", ".join(
                    f"{name} {a[f'{name}_{dtype}_ms']:.2f} ({a[f'{name}_{dtype}_ms'] / relu:.2f}x, "
                    f"{a[f'{name}_{dtype}_ms'] / tanh:.2f}x)"
                    for name in names
                    if name != "relu"
                )
            )
        missed = []
        for dtype, (base, limit) in TARGETS.items():
            for key in a:
                name = key[: -len(f"_{dtype}_ms")]
                ratio = a[key] / a[f"{base}_{dtype}_ms"]
                if key.endswith(f"_{dtype}_ms") and name not in QUICK_ACTIVATIONS and ratio > limit:
                    missed.append(f"{name} {dtype} {ratio:.2f}x {base}")
        lines.append(
            "targets for dropout and the newer activations: "
            + ", ".join(f"<= {limit:.2f}x {base} in {dtype}" for dtype, (base, limit) in TARGETS.items())
            + f"; missed in this run: {', '.join(missed) or 'none'}"
        )
    cores = targets.get("cores")
    if cores:
        lines.append(
            f"a lone fit (float64), ms per epoch on 1 thread / on {cores['cores']}: "
            + ", ".join(
                f"{k} ({v['blocks']} blocks) {v['one_ms']:.1f} / {v['all_ms']:.1f} ({v['speedup']:.2f}x)"
                for k, v in cores.items()
                if k != "cores"
            )
        )
    preset = targets.get("preset_network")
    if preset:
        lines.append(
            f"the presets' network on W3 ({preset['rows']:,} rows, float32), ms per epoch: "
            f"{preset['preset_ms']:.1f}, a plain network of its widths {preset['plain_ms']:.1f} "
            f"({preset['ratio']:.2f}x; target <= {PRESET_TARGET:.1f}x), with the same validation "
            f"{preset['plain_validated_ms']:.1f} ({preset['ratio_validated']:.2f}x)"
        )
    t = targets.get("threads")
    if t:
        lines.append(
            "two fits in two threads, throughput over the same fits in turn: "
            + ", ".join(f"{k} {v:.2f}x" for k, v in t.items())
        )
    g = targets.get("grid_search")
    if g:
        lines.append(
            f"GridSearchCV (4 candidates x 3 folds, digits), threading backend: n_jobs=1 "
            f"{g['n_jobs_1_s']:.2f} s, n_jobs=2 {g['n_jobs_2_s']:.2f} s ({g['speedup']:.2f}x)"
        )
    s = targets.get("search")
    if s:
        lines.append(_format_search(s))
    c = targets.get("compile")
    if c:
        for state in ("cold", "cached"):
            if f"{state}_import_s" in c:
                what = "empty Numba cache" if state == "cold" else "cached kernels"
                cpu = ", ".join(f"{dt} {s:.2f} s" for dt, s in c[f"{state}_first_fit_cpu_s"].items())
                lines.append(
                    f"new process, {what}: import fastbp {c[f'{state}_import_s']:.2f} s, "
                    f"first fit on digits {c[f'{state}_first_fit_s']:.2f} s (CPU: {cpu})"
                )
    m = targets.get("peak_memory")
    if m:
        for key in sorted(k for k in m if k.startswith("fastbp_")):
            dtype = key.split("_", 1)[1]
            ours, theirs = m[key], m[f"sklearn_{dtype}"]
            lines.append(
                f"peak memory a W3 fit ({m['n_samples']:,} rows, {dtype}, data "
                f"{ours['data_mib']:.0f} MiB) adds: fastbp {ours['fit_added_mib']:.1f} MiB, "
                f"sklearn {theirs['fit_added_mib']:.1f} MiB"
            )
    return "\n".join(lines)
