"""The winback command line: a thin shell over the library.

Each command lives in its own module and registers itself on :data:`app`; options shared between
commands and the one place that maps core errors to exit codes are in :mod:`winback.cli.common`.
"""

from __future__ import annotations

from winback.cli import backtest as _backtest  # noqa: F401  (each import registers a command)
from winback.cli import explain as _explain  # noqa: F401
from winback.cli import inspect as _inspect  # noqa: F401
from winback.cli import nightly as _nightly  # noqa: F401
from winback.cli import scan as _scan  # noqa: F401
from winback.cli.common import EXIT_CODES, app

__all__ = ["EXIT_CODES", "app", "main"]


def main() -> None:
    app(prog_name="winback")
