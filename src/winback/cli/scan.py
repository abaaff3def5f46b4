"""``winback scan``: orders in, call list out."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from winback.calllist import segment_name
from winback.cli.common import (
    AsOf,
    DateFormat,
    Decimal,
    Encoding,
    Files,
    HeaderRow,
    IgnoreIdCase,
    Json,
    Mapping,
    MaxSkipped,
    NoHeader,
    OnDecodeError,
    Quiet,
    Sheet,
    SkipImplausibleDates,
    Tz,
    Verbose,
    app,
    errors,
    import_options,
    parse_date,
)
from winback.cli.render import make_console, progress, render_scan
from winback.pipeline import ScanOptions, ScanResult, input_dialect, scan
from winback.segments import SEGMENTS
from winback.writers import DIALECTS, FORMATS, owner_paths, write_call_list, write_stream


@app.command("scan", epilog="""Examples:

  winback scan orders.csv

  winback scan orders.csv --as-of 2026-06-30 --top 100 --out calls.csv

  winback scan orders.csv --out - > calls.csv

  winback scan orders.csv --json --quiet

  winback scan orders.csv --customers customers.csv --format xlsx --out calls.xlsx

  winback scan orders.csv --customers customers.csv --suppress do-not-call.txt --per-owner 20 \
      --split-by-owner --departed-owners "Ayşe Yılmaz"
""")
def scan_command(
    files: Files,
    as_of: AsOf = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many customers to put on the call list.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="List every lapsed customer worth calling.")] = False,
    horizon: Annotated[int, typer.Option("--horizon", min=7, metavar="DAYS",
                                         help="Window for 'will they buy again on their own'.")] = 90,
    out: Annotated[str | None, typer.Option("--out", "-o", metavar="PATH",
                                            help="Where to write the call list CSV; - for stdout. "
                                                 "Default: calls-<as-of>.csv here.")] = None,
    format_: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT",
                                         help="csv, xlsx (an Excel workbook) or json.")] = "csv",
    csv_dialect: Annotated[str, typer.Option("--csv-dialect", metavar="DIALECT",
                                             help="auto (like the order file), comma (, and decimal point) "
                                                  "or semicolon (; and decimal comma, for Excel in Turkish, "
                                                  "Azerbaijani or Russian).")] = "auto",
    customers: Annotated[str | None, typer.Option("--customers", metavar="FILE",
                                                  help="Customers file with name, phone, e-mail, owner and "
                                                       "do-not-contact columns, joined by customer id.")] = None,
    customers_map: Annotated[list[str] | None, typer.Option(
        "--customers-map", metavar="ROLE=COLUMN",
        help="Say which column of the customers file is which, like --map; roles customer_id, name, "
             "phone, email, owner, do_not_contact.")] = None,
    suppress: Annotated[str | None, typer.Option("--suppress", metavar="FILE",
                                                 help="Customer ids, phones or e-mails never to call "
                                                      "(any list or CSV).")] = None,
    country: Annotated[str | None, typer.Option("--country", metavar="CC",
                                                help="Country of phone numbers written without a country "
                                                     "code, e.g. TR, AZ, RU. Default: from the currency, "
                                                     "else TR.")] = None,
    min_value: Annotated[float | None, typer.Option("--min-value", min=0.0, metavar="AMOUNT",
                                                    help="List only customers with at least this much "
                                                         "value at risk.")] = None,
    segment: Annotated[list[str] | None, typer.Option("--segment", metavar="SEGMENT",
                                                      help="List only this segment (repeatable), e.g. "
                                                           "'at risk', cant-lose.")] = None,
    per_owner: Annotated[int | None, typer.Option("--per-owner", min=1, metavar="N",
                                                  help="At most N customers per account owner.")] = None,
    split_by_owner: Annotated[bool, typer.Option("--split-by-owner",
                                                 help="Also write one file per account owner next to the "
                                                      "list.")] = False,
    departed_owners: Annotated[str | None, typer.Option(
        "--departed-owners", metavar="NAMES", envvar="WINBACK_DEPARTED_OWNERS",
        help="Comma-separated owners who have left; their customers go to the top as 'orphaned'.")] = None,
    json_: Json = False,
    encoding: Encoding = None,
    mapping: Mapping = None,
    date_format: DateFormat = None,
    decimal: Decimal = None,
    max_skipped: MaxSkipped = 0.05,
    sheet: Sheet = None,
    no_header: NoHeader = False,
    header_row: HeaderRow = None,
    tz: Tz = None,
    on_decode_error: OnDecodeError = "error",
    ignore_id_case: IgnoreIdCase = False,
    skip_implausible_dates: SkipImplausibleDates = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Find lapsed customers in an order export and write a prioritized call list."""
    if json_ and out == "-":
        raise typer.BadParameter("--json and --out - both write to stdout; choose one.", param_hint="--json")
    as_of_date = parse_date(as_of) or date.today()
    opts = import_options(encoding, mapping, date_format, decimal, max_skipped, sheet=sheet, no_header=no_header,
                          header_row=header_row, tz=tz, on_decode_error=on_decode_error,
                          ignore_id_case=ignore_id_case, skip_implausible_dates=skip_implausible_dates,
                          as_of=as_of_date)
    fmt, dialect_name, segments = _check_output_options(format_, csv_dialect, segment, out, split_by_owner)
    departed = tuple(n.strip() for n in (departed_owners or "").split(",") if n.strip())
    options = ScanOptions(
        as_of=as_of_date, horizon_days=horizon, top=None if all_ else top, import_options=opts,
        customers_path=customers, customers_mapping=list(customers_map or []), suppress_path=suppress,
        country=country, min_value=min_value, segments=segments, per_owner=per_owner,
        departed_owners=departed,
    )
    with errors(verbose):
        with progress(make_console(sys.stderr), enabled=not (quiet or json_)):
            result = scan(files, options)
        out_label, extra = _write(result, out, fmt, dialect_name, split_by_owner)
        if json_:
            data = result.to_dict(out_label)
            data["call_list"]["format"] = fmt
            data["call_list"]["owner_files"] = extra
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        elif not quiet:
            console = make_console(sys.stderr if out == "-" else sys.stdout)
            render_scan(console, result, out_label, show_table=out != "-", owner_files=extra)


def _check_output_options(fmt: str, dialect: str, segment: list[str] | None, out: str | None,
                          split: bool) -> tuple[str, str, tuple[str, ...]]:
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"'{fmt}' is not a format; use one of {', '.join(FORMATS)}.",
                                 param_hint="--format")
    dialect = dialect.strip().lower()
    if dialect != "auto" and dialect not in DIALECTS:
        raise typer.BadParameter(f"'{dialect}' is not a CSV dialect; use auto, comma or semicolon.",
                                 param_hint="--csv-dialect")
    if out == "-" and fmt == "xlsx":
        raise typer.BadParameter("an Excel workbook cannot go to standard output; give a file name.",
                                 param_hint="--out")
    if out == "-" and split:
        raise typer.BadParameter("--split-by-owner writes files; give a file name with --out.",
                                 param_hint="--split-by-owner")
    names = []
    for text in segment or []:
        name = segment_name(text)
        if name is None:
            raise typer.BadParameter(f"'{text}' is not a segment; segments: {', '.join(SEGMENTS)}.",
                                     param_hint="--segment")
        names.append(name)
    return fmt, dialect, tuple(names)


def _write(result: ScanResult, out: str | None, fmt: str, dialect_name: str,
           split: bool) -> tuple[str, dict[str, str]]:
    """Write the list (and the per-owner files); return where it went and {owner: file}."""
    rows = result.call_list.rows
    dialect = input_dialect(result) if dialect_name == "auto" else DIALECTS[dialect_name]
    if out == "-":
        write_stream(rows, sys.stdout.buffer, fmt, dialect)
        return "standard output", {}
    path = Path(out) if out else Path(f"calls-{result.as_of.isoformat()}.{fmt}")
    owner_files: dict[str, str] = {}
    if split:
        parts = result.call_list.by_owner()
        for owner, file in owner_paths(path, list(parts)).items():
            write_call_list(parts[owner], file, fmt, dialect)
            owner_files[owner] = str(file)
    write_call_list(rows, path, fmt, dialect)
    return str(path), owner_files
