"""``winback explain``: one customer's history, numbers, scores and rank."""

from __future__ import annotations

import json
from datetime import date

import typer

from winback.cli.common import (
    AsOf,
    DateFormat,
    Decimal,
    Encoding,
    HeaderRow,
    IgnoreIdCase,
    Json,
    Mapping,
    MaxSkipped,
    NoHeader,
    OnDecodeError,
    Sheet,
    SkipImplausibleDates,
    Tz,
    Verbose,
    app,
    errors,
    import_options,
    parse_date,
)
from winback.explain import explain
from winback.pipeline import ScanOptions, scan


@app.command("explain", epilog="""Examples:

  winback explain orders.csv 00042

  winback explain orders.csv 00042 --as-of 2026-06-30 --json
""")
def explain_command(
    file: str = typer.Argument(..., help="The order export.", show_default=False),
    customer_id: str = typer.Argument(..., help="The customer's id, exactly as in the file.", show_default=False),
    as_of: AsOf = None,
    horizon: int = typer.Option(90, "--horizon", min=7, metavar="DAYS",
                                help="Window for 'will they buy again on their own'."),
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
    verbose: Verbose = False,
) -> None:
    """Show why a customer is (or is not) on the call list."""
    as_of_date = parse_date(as_of) or date.today()
    opts = import_options(encoding, mapping, date_format, decimal, max_skipped, sheet=sheet,
                          no_header=no_header, header_row=header_row, tz=tz,
                          on_decode_error=on_decode_error, ignore_id_case=ignore_id_case,
                          skip_implausible_dates=skip_implausible_dates, as_of=as_of_date)
    with errors(verbose):
        options = ScanOptions(as_of=as_of_date, horizon_days=horizon, top=None, import_options=opts,
                              explain_ids=(customer_id.strip(),))
        result = scan([file], options)
        ex = explain(result, customer_id)
        if json_:
            typer.echo(json.dumps(ex.to_dict(), ensure_ascii=False, indent=2, default=str))
            return
        from rich.console import Console  # (here: a --json run does not load rich)
        from rich.table import Table

        console = Console(highlight=False)
        console.print(f"Customer {ex.customer_id} as of {as_of_date}: {ex.segment}; {ex.listed_because}.",
                      markup=False)
        console.print(ex.reason, markup=False)
        numbers = Table(show_header=False, box=None, pad_edge=False)
        numbers.add_column(justify="left")
        numbers.add_column(justify="right")
        for label, value in ex.numbers.items():
            numbers.add_row(label, f"{value:,}" if isinstance(value, int | float) else str(value))
        console.print(numbers)
        timeline = Table(title="Order lines", title_justify="left", box=None, pad_edge=False)
        for col in ex.timeline.columns:
            timeline.add_column(col.replace("_", " "))
        for rec in ex.timeline.itertuples(index=False):
            timeline.add_row(*[v.date().isoformat() if hasattr(v, "date") else str(v) for v in rec])
        console.print(timeline)
