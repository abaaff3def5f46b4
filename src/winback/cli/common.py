"""What every command shares: the app, exit codes, error mapping, and the importer's options."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import typer

from winback import __version__
from winback.errors import (
    ConfigError,
    InputDataError,
    InputNotFoundError,
    ModelFitError,
    OutputError,
    RunLockedError,
    WinbackError,
)
from winback.importer import ImportOptions, parse_mapping

#: Exit codes (documented in README.md). 2 is the usage error of typer/click.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_MEMORY = 8
EXIT_CODES: dict[type[WinbackError], int] = {
    InputNotFoundError: 3,
    InputDataError: 4,
    ModelFitError: 4,
    OutputError: 5,
    RunLockedError: 6,
    ConfigError: 7,
}

app = typer.Typer(
    name="winback",
    help=("Find the customers who stopped buying, and tell the sales team whom to call first and why.\n\n"
          "Start with:  winback scan orders.csv   (then: winback inspect, winback explain, winback backtest)"),
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


#: What the user reads when memory ran out (numpy's, Arrow's and Python's MemoryError).
OUT_OF_MEMORY = (
    "not enough memory to finish this run; no call list was written (a previous one is "
    "unchanged). A scan of a CSV order file needs up to about 250 MB plus 4 times the file's size "
    "(a 500 MB file: about 2.2 GB); with --low-memory, which reads the orders a part at a time, "
    "about 250 MB plus 300 bytes per customer. Run it with --low-memory, close other programs and "
    "run it again, or run it on a machine with more memory.")


def exit_code_of(exc: BaseException) -> int:
    """The exit code of an error that ends a command (README.md lists them)."""
    if isinstance(exc, WinbackError):
        return next((c for cls, c in EXIT_CODES.items() if isinstance(exc, cls)), EXIT_INTERNAL)
    return EXIT_MEMORY if isinstance(exc, MemoryError) else EXIT_INTERNAL


def fail(exc: BaseException, verbose: bool) -> typer.Exit:
    """The one place where errors become a message on stderr and an exit code."""
    if verbose:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    code = exit_code_of(exc)
    if isinstance(exc, WinbackError):
        message = str(exc)
    elif code == EXIT_MEMORY:
        message = OUT_OF_MEMORY
    else:
        # Never the exception's text: it could hold a customer's data.
        message = (f"internal error ({type(exc).__name__}). This is a bug in winback; run again with "
                   "--verbose to see where it happened, and report it.")
    sys.stderr.write(f"Error: {message}\n")
    return typer.Exit(code)


@contextmanager
def errors(verbose: bool) -> Iterator[None]:
    """Run a command body; any error leaves through :func:`fail`."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except BrokenPipeError:  # the reader of standard output stopped reading (winback ... | head)
        raise typer.Exit(0) from None
    except Exception as exc:  # noqa: BLE001 - mapped to an exit code right here
        raise fail(exc, verbose) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"winback {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Find the customers who stopped buying, and tell the sales team whom to call first and why.

    Start with:  winback scan orders.csv
    """


def parse_date(value: str | None, option: str = "--as-of") -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date; write it as YYYY-MM-DD, e.g. 2026-11-23.",
                                 param_hint=option) from None


# Options shared by every command that reads order files.
Files = Annotated[list[str], typer.Argument(help="Order export(s): CSV or other delimited text (also .gz, .zip), "
                                                 ".xlsx or .parquet; - reads stdin.",
                                            show_default=False)]
AsOf = Annotated[str | None, typer.Option("--as-of", metavar="DATE",
                                          help="Analysis date (YYYY-MM-DD); later orders are ignored. "
                                               "Default: today.")]
Encoding = Annotated[str | None, typer.Option("--encoding", help="Input encoding, e.g. cp1254; default: detected.")]
Mapping = Annotated[list[str] | None, typer.Option("--map", metavar="ROLE=COLUMN",
                                                   help="Say which column is which, e.g. --map customer_id='Cari Kod'. "
                                                        "Repeatable.")]
DateFormat = Annotated[str | None, typer.Option("--date-format", metavar="FORMAT",
                                                help="Date format of the order date, e.g. %d/%m/%Y.")]
Decimal = Annotated[str | None, typer.Option("--decimal", metavar="SEP",
                                             help="Decimal separator of amounts: ',' or '.'. Default: decided "
                                                  "from the data.")]
MaxSkipped = Annotated[float, typer.Option("--max-skipped", metavar="SHARE", min=0.0, max=1.0,
                                           help="Fail if more than this share of rows is unusable.")]
Sheet = Annotated[str | None, typer.Option("--sheet", metavar="NAME",
                                           help="Sheet of an .xlsx workbook: its name or number. Default: the "
                                                "first.")]
NoHeader = Annotated[bool, typer.Option("--no-header",
                                        help="The file has no header row; name columns by number with --map, "
                                             "e.g. --map customer_id=1 --map order_date=2.")]
HeaderRow = Annotated[int | None, typer.Option("--header-row", metavar="LINE", min=1,
                                               help="Line number of the header row, when winback cannot find "
                                                    "it.")]
Tz = Annotated[str | None, typer.Option("--tz", metavar="ZONE",
                                        help="The shop's time zone, e.g. Europe/Istanbul: timestamps with a zone "
                                             "are converted to it. Default: UTC.")]
OnDecodeError = Annotated[str, typer.Option("--on-decode-error", metavar="error|replace",
                                            help="Bytes not valid in the file's encoding: stop (error), or "
                                                 "replace them and list the lines (replace).")]
IgnoreIdCase = Annotated[bool, typer.Option("--ignore-id-case",
                                            help="Treat customer ids that differ only in case (C-001, c-001) "
                                                 "as one customer.")]
SkipImplausibleDates = Annotated[bool, typer.Option("--skip-implausible-dates",
                                                    help="Skip orders dated before 2000 or after the as-of "
                                                         "date, instead of only warning.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show a traceback on errors.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]


def import_options(encoding: str | None, mapping: list[str] | None, date_format: str | None,
                   decimal: str | None, max_skipped: float, *, sheet: str | None = None,
                   no_header: bool = False, header_row: int | None = None, tz: str | None = None,
                   on_decode_error: str = "error", ignore_id_case: bool = False,
                   skip_implausible_dates: bool = False, as_of: date | None = None) -> ImportOptions:
    if decimal not in (None, ",", "."):
        raise typer.BadParameter("use ',' or '.'", param_hint="--decimal")
    if on_decode_error not in ("error", "replace"):
        raise typer.BadParameter("use error or replace", param_hint="--on-decode-error")
    if no_header and not mapping:
        raise typer.BadParameter("say which column is which, e.g. --map customer_id=1 --map order_date=2",
                                 param_hint="--no-header")
    if tz is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise typer.BadParameter(f"'{tz}' is not a time zone; e.g. Europe/Istanbul, Asia/Baku, "
                                     "Asia/Yerevan, Europe/Moscow.", param_hint="--tz") from None
    try:
        parsed_mapping = parse_mapping(mapping)
    except InputDataError as exc:  # raised before a command's error handler runs
        raise typer.BadParameter(str(exc).removeprefix("--map").lstrip(": "), param_hint="--map") from None
    return ImportOptions(encoding=encoding, mapping=parsed_mapping, date_format=date_format,
                         decimal=decimal, max_skipped=max_skipped, sheet=sheet, has_header=not no_header,
                         header_row=header_row, tz=tz, on_decode_error=on_decode_error,
                         ignore_id_case=ignore_id_case, skip_implausible_dates=skip_implausible_dates,
                         as_of=as_of)
