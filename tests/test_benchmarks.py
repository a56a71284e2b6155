"""The benchmarks stay runnable: asv suite and ``python -m fastbp.bench``.

Cheap on purpose (well under a minute with the kernels cached): a broken
benchmark fails CI here instead of in the next person's ``asv run``.

- ``asv check -E existing`` imports the suite and checks every benchmark's
  signature against its params (offline, ~1 s); asv is in the ``test``
  extra for this.
- A smoke run executes every asv benchmark in a fresh process (asv runs
  each in its own process too), with each parameter value used at least
  once, so errors in ``setup`` or in a benchmark body show up without asv.
- ``python -m fastbp.bench --quick`` on two small workloads writes JSON
  with the expected keys and positive timings.

Run as a script (``python tests/test_benchmarks.py smoke``) to execute the
smoke run alone.
"""

import importlib
import inspect
import json
import math
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK_PREFIXES = ("time_", "timeraw_", "mem_", "peakmem_", "track_")


def test_asv_check_passes():
    result = subprocess.run(
        [sys.executable, "-m", "asv", "check", "-E", "existing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "No problems found" in output, output


def test_every_asv_benchmark_runs_once():
    result = subprocess.run(
        [sys.executable, str(Path(__file__)), "smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ran = json.loads(result.stdout.strip().splitlines()[-1])
    classes = {name.split(".")[1] for name in ran}
    assert {"Epoch", "FitMemory", "Quality", "Predict", "CompileTime", "ImportTime", "Threads"} <= classes
    # one BLAS thread and one Numba thread, as the suite promises
    assert ran["bench_threads.Threads.track_blas_threads()"] == 1
    assert ran["bench_threads.Threads.track_numba_threads()"] == 1


def test_peer_comparison_quick_run(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastbp.bench",
            "--quick",
            "--workloads",
            "W1,W5",
            "--repeats",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "fbp/floor" in result.stdout  # the table was printed

    report = json.loads(out.read_text())
    assert {"machine", "config", "blas_peak_gflops", "results"} <= report.keys()
    assert report["machine"]["blas_threads"] == 1
    assert all(v > 0 for v in report["blas_peak_gflops"].values())
    assert [(r["workload"], r["dtype"]) for r in report["results"]] == [
        ("W1", "float64"),
        ("W1", "float32"),
        ("W5", "float64"),
        ("W5", "float32"),
    ]
    for r in report["results"]:
        assert r["flops_per_epoch"] > 0
        engines = ["fastbp", "sklearn", "gemm_floor"] + (["torch"] if r["torch"] is not None else [])
        for engine in engines:
            timing = r[engine]
            assert timing["ms_per_epoch"] > 0 and len(timing["times_ms"]) == 1
            assert timing["gflops"] > 0 and timing["peak_fraction"] > 0
        for engine in ("fastbp", "sklearn"):
            assert math.isfinite(r[engine]["loss"])
        assert r["ratio_sklearn_to_fastbp"] > 0 and r["ratio_fastbp_to_floor"] > 0

    # the measurements after the table; --quick skips only the cold compile
    targets = report["targets"]
    assert "two fits in two threads" in result.stdout and "GridSearchCV" in result.stdout
    assert all(v > 0 for v in targets["predict"].values()) and len(targets["predict"]) == 4
    assert targets["threads"]["W1 20 epochs"] > 0
    assert len(targets["activations"]) == 6 and all(v > 0 for v in targets["activations"].values())
    assert targets["grid_search"]["speedup"] > 0
    assert set(targets["compile"]) == {"cached_import_s", "cached_first_fit_s"}
    memory = targets["peak_memory"]
    if memory is not None:  # None where /proc/self/clear_refs is not writable
        for key in ("fastbp_float64", "sklearn_float64", "fastbp_float32", "sklearn_float32"):
            assert memory[key]["data_mib"] > 0 and memory[key]["fit_added_mib"] >= 0


# -- the smoke run (executed in a subprocess by the test above) -------------


def _one_at_a_time(params):
    """Parameter combinations that use every value at least once.

    The first combination takes each parameter's first value; each further
    one changes a single parameter.
    """
    if not params:
        return [()]
    first = [values[0] for values in params]
    combos = [tuple(first)]
    for i, values in enumerate(params):
        for value in values[1:]:
            combos.append(tuple(first[:i] + [value] + first[i + 1 :]))
    return combos


def _benchmark_classes():
    import benchmarks

    for info in pkgutil.iter_modules(benchmarks.__path__):
        module = importlib.import_module(f"benchmarks.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            methods = sorted(n for n in vars(cls) if n.startswith(BENCHMARK_PREFIXES))
            if cls.__module__ == module.__name__ and methods:
                yield info.name, cls, methods


def smoke_run():
    """Run every benchmark once per combination of ``_one_at_a_time``.

    Cold compilation (``CompileTime`` with ``cache="cold"``) is left out:
    it recompiles every kernel (~15 s per dtype); it shares its code path
    with the cached case, which runs. Prints a JSON object
    ``{benchmark(params): value}`` as the last line.
    """
    ran = {}
    for module_name, cls, methods in _benchmark_classes():
        params = getattr(cls, "params", [])
        if params and not isinstance(params[0], (list, tuple)):
            params = [params]  # asv accepts a flat list for a single parameter
        names = getattr(cls, "param_names", [])
        assert len(names) == len(params), f"{cls.__name__}: param_names do not match params"
        for combo in _one_at_a_time(params):
            if "cold" in combo:
                continue
            for method in methods:
                bench = cls()
                if hasattr(bench, "setup"):
                    bench.setup(*combo)
                try:
                    value = getattr(bench, method)(*combo)
                finally:
                    if hasattr(bench, "teardown"):
                        bench.teardown(*combo)
                if method.startswith("track_"):
                    assert isinstance(value, (int, float)) and math.isfinite(value), (method, combo, value)
                key = f"{module_name}.{cls.__name__}.{method}({', '.join(map(str, combo))})"
                ran[key] = value if method.startswith("track_") else None
    print(json.dumps(ran))


if __name__ == "__main__":
    if sys.argv[1:] != ["smoke"]:
        sys.exit("usage: python tests/test_benchmarks.py smoke")
    sys.path.insert(0, str(ROOT))
    smoke_run()
