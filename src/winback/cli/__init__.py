"""The winback command line: a thin shell over the library.

Each command lives in its own module and registers itself on :data:`app`; options shared between
commands and the one place that maps core errors to exit codes are in :mod:`winback.cli.common`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import NoReturn

from winback._memory import (
    keep_freed_memory,
    named_files,
    too_large_to_read_whole,
    use_one_malloc_arena,
    warm_heap_for,
)
from winback._startup import one_blas_thread, quick_imports

use_one_malloc_arena()  # before numpy and Arrow start their threads (winback._memory says why)
_WRITTEN = ("-o", "--out", "--log", "--state", "--plot")  # options that name a file written
#: The orders are read a part at a time (--low-memory, or a scan whose files would not fit in
#: memory read whole: winback.cli.scan decides the same): nothing is made ready for whole files.
_IN_PARTS = "--low-memory" in sys.argv[2:] or (
    sys.argv[1:2] == ["scan"] and "--no-low-memory" not in sys.argv[2:]
    and too_large_to_read_whole(named_files(sys.argv[2:], _WRITTEN)) is not None)
# Freed memory kept for reuse, before numpy and Arrow allocate; then memory made ready for the input
# files in a thread (or None) beside the imports below (winback._memory says why).
# Not when the orders are read in parts: freed memory then goes back to the system, and the memory
# in use stays what one part and the customers need.
_warming = warm_heap_for(sys.argv[1:], _WRITTEN) if not _IN_PARTS and keep_freed_memory() else None
one_blas_thread()  # before numpy loads its BLAS (winback._startup says why)
_READ_ORDERS = ("scan", "backtest", "explain", "inspect", "init", "outcomes")  # commands that do
_NOT_FAST = ("--encoding", "--no-header", "--header-row")  # the thorough reader reads then

with quick_imports():  # no cycle collector, no numpy build tools (winback._startup says why)
    # The orders file parsed beside the rest of the imports (winback.importer.ahead says why), by a
    # command that reads orders, unless an option keeps the fast reader from reading them.
    from winback.importer import ahead

    if sys.argv[1:2] and sys.argv[1] in _READ_ORDERS and not _IN_PARTS and not any(
            argument.partition("=")[0] in _NOT_FAST for argument in sys.argv[2:]):
        ahead.start(sys.argv[2:], _WRITTEN)
    from winback.cli import backtest as _backtest  # noqa: F401  (each import registers a command)
    from winback.cli import explain as _explain  # noqa: F401
    from winback.cli import inspect as _inspect  # noqa: F401
    from winback.cli import nightly as _nightly  # noqa: F401
    from winback.cli import scan as _scan  # noqa: F401
    from winback.cli.common import EXIT_CODES, app

__all__ = ["EXIT_CODES", "app", "main"]


def main() -> NoReturn:
    """The ``winback`` command. Once the command is done and the interpreter's exit handlers have run
    (log files are flushed and closed there), the process ends with ``os._exit``: tearing the
    interpreter down would free every array and module one by one (about 0.25 s after a
    ten-million-order scan) and writes nothing. Every file a command writes is complete and closed before
    it returns (``writers.atomic_write``, the state database's ``with`` block)."""
    try:
        app(prog_name="winback")
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # as sys.exit("message") would: the message on stderr, status 1
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (winback ... | head)
            stream.flush()
    os._exit(code)
