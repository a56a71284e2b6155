"""The command line: ``python -m fastbp.bench --help``."""

import argparse
import contextlib
import json

import scipy.linalg  # noqa: F401  (Numba's BLAS; loaded before threadpoolctl limits it)
from threadpoolctl import threadpool_limits

from ._workloads import ALPHA, LEARNING_RATE, QUICK_MAX_SAMPLES, SEED, WORKLOADS
from .epochs import add_peak_fractions, blas_peak_gflops, run_workload
from .report import format_header, format_table, format_targets, machine_info, thread_counts
from .targets import measure_targets

THREAD_MODES = ("pinned", "default")


def _parse_list(text, allowed, what):
    items = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in items if s not in allowed]
    if unknown or not items:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; choose from {', '.join(allowed)}")
    return items


def build_parser():
    """The argument parser of ``python -m fastbp.bench``.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="python -m fastbp.bench",
        description="Time fastbp next to scikit-learn's MLP (and PyTorch, if installed) on this machine.",
    )
    parser.add_argument(
        "--workloads",
        type=lambda s: _parse_list(s, list(WORKLOADS), "workloads"),
        default=list(WORKLOADS),
        help="comma-separated subset of "
        + ", ".join(f"{w.name} ({w.description})" for w in WORKLOADS.values()),
    )
    parser.add_argument(
        "--dtypes",
        type=lambda s: _parse_list(s, ["float64", "float32"], "dtypes"),
        default=["float64", "float32"],
        help="comma-separated: float64,float32 (default both)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed epochs per engine (default 5, 3 with --quick)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the full results as JSON")
    parser.add_argument(
        "--quick", action="store_true", help=f"at most {QUICK_MAX_SAMPLES} rows per workload: a smoke run"
    )
    parser.add_argument(
        "--threads",
        choices=THREAD_MODES,
        default="pinned",
        help="pinned: every library on --blas-threads threads (the default); "
        "default: every library at its own default thread count",
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="BLAS (and torch) threads with --threads pinned (default 1)",
    )
    parser.add_argument(
        "--no-targets",
        action="store_true",
        help="skip the measurements after the table (prediction, threads, compile, memory)",
    )
    return parser


def parse_args(argv=None):
    """Parsed arguments; ``blas_threads`` is None with ``--threads default``.

    Parameters
    ----------
    argv : list of str or None, default=None
        None: ``sys.argv[1:]``.

    Returns
    -------
    argparse.Namespace
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads == "default" and args.blas_threads is not None:
        parser.error(
            "--blas-threads applies to --threads pinned only; "
            "--threads default runs every library at its own thread count"
        )
    if args.threads == "pinned" and args.blas_threads is None:
        args.blas_threads = 1
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.repeats < 1:
        raise SystemExit("--repeats must be >= 1")
    return args


def main(argv=None):
    """Run the comparison, print the table (and the other targets); returns the report.

    Parameters
    ----------
    argv : list of str or None, default=None
        Command-line arguments (None: ``sys.argv[1:]``).

    Returns
    -------
    dict
        What ``--json`` writes.
    """
    args = parse_args(argv)
    repeats = args.repeats
    pinned = args.threads == "pinned"

    limits = threadpool_limits(limits=args.blas_threads) if pinned else contextlib.nullcontext()
    with limits:
        report = {
            "machine": machine_info(args.blas_threads),
            "config": {
                "workloads": args.workloads,
                "dtypes": args.dtypes,
                "repeats": repeats,
                "quick": args.quick,
                "threads_mode": args.threads,
                "solver": "adam",
                "activation": "relu",
                "alpha": ALPHA,
                "learning_rate_init": LEARNING_RATE,
                "shuffle": True,
                "random_state": SEED,
                "epoch_timing": (
                    "fit of fit_epochs(n_samples) epochs, per epoch; "
                    "median of repeats after a warm-up fit; engines interleaved"
                ),
            },
        }
        print(format_header(report["machine"], args.threads, thread_counts()))
        peak_size = 1024 if args.quick else 2048
        peak_budget = 0.3 if args.quick else 1.5
        peaks = {dt: [blas_peak_gflops(dt, peak_size, peak_budget)] for dt in args.dtypes}
        report["results"] = []
        for name in args.workloads:
            for dtype in args.dtypes:
                result = run_workload(WORKLOADS[name], dtype, repeats, args.quick, args.blas_threads)
                report["results"].append(result)
        # every library has been loaded and set by now: the counts the table ran with
        report["machine"]["thread_counts"] = thread_counts()
        # measure the peak again at the end and keep the better: a busy
        # machine otherwise understates it and overstates every fraction
        for dt in args.dtypes:
            peaks[dt].append(blas_peak_gflops(dt, peak_size, peak_budget))
        if not args.no_targets:
            print("other targets:")
            report["targets"] = measure_targets(args.dtypes, repeats, args.quick)
        report["blas_peak_gflops"] = {dt: max(v) for dt, v in peaks.items()}
        report["blas_peak_measurements"] = {"matrix_size": peak_size, "gflops": peaks}
        add_peak_fractions(report["results"], report["blas_peak_gflops"])

    print()
    print(format_table(report))
    if "targets" in report:
        print()
        print(format_targets(report["targets"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
