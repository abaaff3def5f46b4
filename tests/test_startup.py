"""The command line's start-up (winback._startup): the imports without the cycle collector and
without numpy's unused build tools, and nothing else changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Imports the command line in a fresh interpreter and prints what start-up left behind as JSON.
_AFTER_IMPORT = """
import gc, json, sys
{before}
import winback.cli
state = {{
    "collector_on": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
    "scipy_loaded": "scipy" in sys.modules,
}}
import winback.models  # scipy, as scoring imports it: its ``from numpy import *`` comes now
# numpy.f2py's and numpy.testing's own imports: present only once they are loaded in full.
state["f2py_loaded"] = "numpy.f2py.crackfortran" in sys.modules
state["testing_loaded"] = "numpy.testing._private.utils" in sys.modules
import numpy
import numpy.testing
numpy.testing.assert_array_equal([1, 2], [1, 2])  # first use: loaded in full, and it works
state["testing_works"] = "numpy.testing._private.utils" in sys.modules
state["f2py_works"] = callable(numpy.f2py.run_main)
print(json.dumps(state))
"""


def _state_after_import(before: str = "") -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _AFTER_IMPORT.format(before=before)],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_the_command_line_imports_without_numpys_build_tools_and_keeps_them_usable():
    state = _state_after_import()
    assert state["f2py_loaded"] is False
    assert state["testing_loaded"] is False
    assert state["testing_works"] is True
    assert state["f2py_works"] is True


def test_the_cycle_collector_is_back_on_after_start_up_with_the_imports_frozen():
    state = _state_after_import()
    assert state["collector_on"] is True
    assert state["frozen"] > 10_000  # the imports' objects: skipped by later collections


def test_a_collector_switched_off_before_start_up_stays_off():
    assert _state_after_import("gc.disable()")["collector_on"] is False


def test_modules_imported_before_start_up_are_left_as_they_are():
    state = _state_after_import("import numpy.testing")
    assert state["testing_loaded"] is True
    assert state["testing_works"] is True


def test_the_command_line_starts_without_scipy():
    """scipy (about 0.3 s to import) is loaded when a model is fitted, not by every command."""
    assert _state_after_import()["scipy_loaded"] is False


# Imports the command line in a fresh interpreter and prints, as JSON, the BLAS settings it left
# and the thread counts numpy's BLAS libraries then report (threadpoolctl asks the libraries).
_BLAS_THREADS = """
import json, os
import winback.cli
import numpy as np
from threadpoolctl import threadpool_info
from winback._startup import BLAS_THREAD_SETTINGS
np.ones((300, 300)) @ np.ones(300)  # the BLAS in use
print(json.dumps({
    "settings": {name: os.environ.get(name) for name in BLAS_THREAD_SETTINGS},
    "threads": [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"],
}))
"""


def _blas_threads(**settings: str) -> dict[str, object]:
    from winback._startup import BLAS_THREAD_SETTINGS

    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_SETTINGS}
    done = subprocess.run([sys.executable, "-c", _BLAS_THREADS], env={**env, **settings},
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_the_command_line_asks_numpys_blas_for_one_thread():
    state = _blas_threads()
    assert state["settings"] == {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if not state["threads"]:
        pytest.skip("numpy here has no BLAS that threadpoolctl knows")
    assert state["threads"] == [1] * len(state["threads"])


def test_the_users_own_blas_thread_setting_is_kept():
    state = _blas_threads(OPENBLAS_NUM_THREADS="2")
    assert state["settings"] == {"OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "1"}


def test_nothing_is_set_once_numpy_is_loaded(monkeypatch):
    import numpy  # noqa: F401  (loaded in this test process already; named for the reader)

    from winback._startup import BLAS_THREAD_SETTINGS, one_blas_thread

    for name in BLAS_THREAD_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert one_blas_thread() is False
    assert not any(name in os.environ for name in BLAS_THREAD_SETTINGS)


# Runs one command in a fresh interpreter; its last line on stderr says whether rich was loaded.
_RICH_LOADED = """
import sys
from winback.cli import app
try:
    app(prog_name="winback", args=sys.argv[1:], standalone_mode=False)
finally:
    sys.stderr.write(f"\\nrich loaded: {'rich' in sys.modules}\\n")
"""


@pytest.mark.parametrize(("extra", "loaded"), [(["--quiet"], False), (["--json"], False),
                                               ([], True)])
def test_a_scan_that_prints_nothing_does_not_load_rich(tmp_path, extra, loaded):
    """rich draws the panel and the table; a quiet run (the nightly cron job) or a JSON one
    does not need it, and its import is about 25 ms of start-up."""
    from tests.conftest import SAMPLE, SAMPLE_AS_OF

    done = subprocess.run([sys.executable, "-c", _RICH_LOADED, "scan", str(SAMPLE), "--as-of",
                           SAMPLE_AS_OF, "--out", str(tmp_path / "calls.csv"), *extra],
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stderr.splitlines()[-1] == f"rich loaded: {loaded}"
    assert (tmp_path / "calls.csv").stat().st_size > 0
