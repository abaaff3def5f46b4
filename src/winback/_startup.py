"""Start-up: the command line's imports with less work that is not needed.

Importing pandas and pyarrow takes about half a second, and every command pays it (scipy, another
0.3 s, is imported by scoring when it fits the models: winback.scoring). Two costs in the imports
are not winback's to need:

- **The cycle collector.** Imports make hundreds of thousands of objects, so the collector runs
  about 250 times while they load and walks every object so far in each full pass: about 0.1 s in
  all, to free a few megabytes of cycles the imports leave behind. :func:`quick_imports` switches it
  off while the commands are imported, then freezes what the imports made (``gc.freeze``: modules,
  functions and classes live as long as the process; later collections skip them) and switches it
  back on.
- **numpy's build tools.** scipy's array-API layer runs ``from numpy import *``, which in numpy 2
  imports every lazily loaded submodule named in ``numpy.__all__``: among them ``numpy.f2py`` (the
  Fortran wrapper generator) and ``numpy.testing``, about 70 ms that nothing in winback uses.
  :func:`quick_imports` registers those two as lazily loaded modules (``importlib.util.LazyLoader``,
  the standard library's way), so they load in full on first use, as before, but not for the star
  import. Modules already imported are left as they are.

One setting is made before numpy loads, by :func:`one_blas_thread`:

- **One BLAS thread.** numpy's BLAS (OpenBLAS in the wheels) starts a thread per core and, after
  each product, keeps those threads spinning on a core for a while in case another comes. winback's
  only products are the model fits' small ones (a few hundred thousand values, 20-40 per fit), too
  small to gain from threads, and its own threads (the summary's and scoring's helpers, Arrow's
  parse) need both cores: the spinning threads took a core from them. With one BLAS thread, the
  3M-order scan took 2.04 s against 2.27 s and the 10M-order scan 4.54 s against 5.02 s (medians of
  five alternated runs; user time 0.8-1.1 s less), with the same lists.

docs/performance.md has the measurements.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: The thread-count settings of the BLAS libraries numpy and scipy are built with (OpenBLAS, as in
#: their wheels; MKL, as in some distributions).
BLAS_THREAD_SETTINGS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: numpy submodules that ``from numpy import *`` would import and winback never uses.
UNUSED_NUMPY_MODULES = ("numpy.f2py", "numpy.testing")


@contextmanager
def quick_imports() -> Iterator[None]:
    """Import the code under ``with quick_imports():`` without the cycle collector and without
    numpy's unused submodules (see the module's description)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for name in UNUSED_NUMPY_MODULES:
            _load_lazily(name)
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def one_blas_thread() -> bool:
    """Ask numpy's BLAS for one thread (see the module's description); True if it was set here.

    A setting the user made is kept, and nothing is set once numpy is loaded (the library reads it
    when it loads): call it before numpy is imported. OMP_NUM_THREADS is not touched: Arrow sizes
    its own thread pool from it."""
    if "numpy" in sys.modules:
        return False
    unset = [name for name in BLAS_THREAD_SETTINGS if name not in os.environ]
    for name in unset:
        os.environ[name] = "1"
    return bool(unset)


def _load_lazily(name: str) -> None:
    """Register module ``name`` (a submodule of an importable package) so that it loads in full
    when one of its attributes is first used; nothing happens if it is loaded already or cannot be
    found."""
    if name in sys.modules:
        return
    parent_name, _, child = name.rpartition(".")
    try:
        parent = importlib.import_module(parent_name)
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    # As the import system does for a submodule: the package's attribute, so that numpy's own
    # ``__getattr__`` (which would import the module in full) is not asked.
    setattr(parent, child, module)
