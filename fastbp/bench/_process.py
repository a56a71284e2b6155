"""Running a measurement in a new Python process."""

import json
import subprocess
import sys


def run_python(script, *args, env=None):
    """Run ``python -c script *args``; returns the JSON its last stdout line holds.

    Parameters
    ----------
    script : str
        Python source that prints one JSON object last.
    *args : str
        The child's ``sys.argv[1:]``.
    env : dict or None, default=None
        The child's environment (None: this process's).

    Returns
    -------
    dict
    """
    out = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
