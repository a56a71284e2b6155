"""Every measurement after the per-epoch table, in one call."""

from .activations import ACTIVATIONS, QUICK_ACTIVATIONS, measure_activations
from .compile import measure_compile
from .concurrency import measure_grid_search, measure_threads
from .cores import measure_cores
from .memory import measure_peak_memory
from .predict import measure_predict
from .preset import measure_preset_network
from .search import measure_search


def measure_targets(dtypes, repeats, quick, log=print):
    """Prediction, activations, a lone fit on every core, the presets' network, threads, searches, compile, memory.

    Parameters
    ----------
    dtypes : list of str
        dtypes of the peak-memory fits.
    repeats : int
        Timings per case.
    quick : bool
        Smaller or fewer cases (see each measurement).
    log : callable, default=print
        Progress output.

    Returns
    -------
    dict
        One entry per measurement: ``predict``, ``activations``,
        ``cores``, ``preset_network``, ``threads``, ``grid_search``,
        ``search``, ``compile``, ``peak_memory``.
    """
    steps = {
        "predict": lambda: measure_predict(repeats),
        "activations": lambda: measure_activations(repeats, QUICK_ACTIVATIONS if quick else ACTIVATIONS),
        "cores": lambda: measure_cores(repeats, quick),
        "preset_network": lambda: measure_preset_network(repeats, quick),
        "threads": lambda: measure_threads(repeats, quick),
        "grid_search": lambda: measure_grid_search(repeats),
        "search": lambda: measure_search(repeats, quick),
        "compile": lambda: measure_compile(quick),
        "peak_memory": lambda: measure_peak_memory(dtypes, quick),
    }
    result = {}
    for name, step in steps.items():
        log(f"  {name} ...", end="", flush=True)
        result[name] = step()
        log(" done")
    return result
