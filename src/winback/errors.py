"""Typed errors raised by the winback core.

The core never prints and never exits. It raises one of these; the CLI maps each class to an exit
code and a one-line message in exactly one place (``winback.cli``). Messages say what happened, where
(file, line, column) and how to fix it. They never contain customer names, phones or e-mails.
"""

from __future__ import annotations


class WinbackError(Exception):
    """Base class for every error the core raises on purpose."""


class InputNotFoundError(WinbackError):
    """An input file does not exist or cannot be opened for reading."""


class InputDataError(WinbackError):
    """The input was read but cannot be used: wrong format, missing column, too many bad rows."""


class OutputError(WinbackError):
    """An output file or folder cannot be written."""


class ModelFitError(WinbackError):
    """A model could not be fitted to the data (did not converge, degenerate data)."""


class ConfigError(WinbackError):
    """A configuration file or value is invalid."""


class RunLockedError(WinbackError):
    """Another winback run holds the lock for the same state."""
