"""``winback inspect``: show what the importer decided about each file, and why."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

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
    Sheet,
    SkipImplausibleDates,
    Tz,
    Verbose,
    app,
    errors,
    import_options,
    parse_date,
)
from winback.importer import LoadedOrders, load_orders
from winback.importer.load import LAYOUT_REASONS, SKIP_EXPLANATIONS
from winback.importer.roles import ROLES

_ROLE_LABELS = {role: role.replace("_", " ") for role in ROLES}
_DELIMITERS = {";": "semicolons (;)", ",": "commas (,)", "tab": "tabs", "|": "pipes (|)",
               "whitespace": "runs of spaces"}


@app.command("inspect", epilog="""Examples:

  winback inspect orders.csv

  winback inspect jan.csv feb.csv --json

  winback inspect export.xlsx --sheet 2 --map customer_id='Cari Kod'
""")
def inspect_command(
    files: Files,
    as_of: AsOf = None,
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
    all_lines: Annotated[bool, typer.Option("--all-lines/--some-lines",
                                            help="List every skipped line (default), or the first few.")] = True,
    verbose: Verbose = False,
) -> None:
    """Show how winback reads order files: encoding, separator, header, columns, skipped rows, warnings."""
    as_of_date = parse_date(as_of) or date.today()
    opts = import_options(encoding, mapping, date_format, decimal, 1.0, sheet=sheet, no_header=no_header,
                          header_row=header_row, tz=tz, on_decode_error=on_decode_error,
                          ignore_id_case=ignore_id_case, skip_implausible_dates=skip_implausible_dates,
                          as_of=as_of_date)
    opts.examples = None if all_lines else 5
    with errors(verbose):
        loaded = load_orders(files, opts)
        data = inspection(loaded, max_skipped)
        if json_:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            typer.echo("\n".join(inspection_lines(data)))


def inspection(loaded: LoadedOrders, max_skipped: float) -> dict:
    """Everything the importer decided, as plain data (the --json output)."""
    rep, orders = loaded.report, loaded.orders
    kinds = orders["kind"].value_counts() if len(orders) else {}
    layout = sum(rep.skipped_by_reason.get(r, 0) for r in LAYOUT_REASONS)
    data_rows = rep.rows_read - layout
    bad = rep.rows_skipped - layout
    share = bad / data_rows if data_rows else 0.0
    ok = share <= max_skipped
    purchases = orders[orders["kind"] == "purchase"] if len(orders) else orders
    return {
        "files": [_source(s.__dict__) for s in rep.sources],
        "rows_read": rep.rows_read,
        "rows_used": rep.rows_used,
        "rows_skipped": rep.rows_skipped,
        "skipped": {
            reason: {"count": count, "meaning": SKIP_EXPLANATIONS.get(reason, ""),
                     "counts_towards_limit": reason not in LAYOUT_REASONS,
                     "lines": list(rep.skipped_examples.get(reason, []))}
            for reason, count in rep.skipped_by_reason.items()
        },
        "orders": {
            "purchases": int(kinds.get("purchase", 0)),
            "refunds": int(kinds.get("refund", 0)),
            "cancelled": int(kinds.get("cancelled", 0)),
            "customers": int(orders["customer_id"].nunique()) if len(orders) else 0,
            "first_order": None if purchases.empty else purchases["order_date"].min().date().isoformat(),
            "last_order": None if purchases.empty else purchases["order_date"].max().date().isoformat(),
            "exact_duplicates": rep.exact_duplicates,
        },
        "currency": rep.currency,
        "warnings": list(rep.warnings),
        "verdict": {
            "ok": ok,
            "unusable_share": round(share, 4),
            "max_skipped": max_skipped,
            "message": (f"{bad} of {data_rows} order rows ({share:.1%}) cannot be used; "
                        + (f"within the {max_skipped:.0%} limit: winback scan will run."
                           if ok else f"more than the {max_skipped:.0%} limit: winback scan will stop. "
                                      "Fix the lines above, or raise --max-skipped.")),
        },
    }


def _source(src: dict) -> dict:
    columns = []
    by_header = {h: r for r, h in src["columns"].items()}
    for i, header in enumerate(src["headers"]):
        role = by_header.get(header)
        if role is not None and src["headers"].index(header) != i:
            role = None  # duplicate header names: only the first was mapped by name
        fmt = src["formats"].get(role or "", "")
        if role == "amount" and src["amount_basis"] and src["amount_basis"] != "unknown":
            fmt += f", {src['amount_basis']} of tax"
        elif role == "amount":
            fmt += ", tax included or not: not said in the header"
        columns.append({"number": i + 1, "header": header, "role": role, "format": fmt or None})
    return {**{k: v for k, v in src.items() if k not in ("columns", "formats")}, "columns": columns}


def inspection_lines(data: dict) -> list[str]:
    out: list[str] = []
    for src in data["files"]:
        out.append(src["path"])
        if src["container"] in ("xlsx", "parquet"):
            kind = "Excel workbook, sheet '" + str(src["sheet"]) + "'" if src["container"] == "xlsx" else "Parquet file"
            out.append(f"  read as:  {kind}")
        else:
            packed = {"gzip": " inside a gzip archive", "zip": " inside a zip archive"}.get(src["container"], "")
            how = "detected" if src["encoding_confidence"] < 1.0 else "certain"
            conf = f", confidence {src['encoding_confidence']:.2f}" if src["encoding_confidence"] < 1.0 else ""
            out.append(f"  read as:  text{packed}, encoding {src['encoding']} ({how}{conf}), "
                       f"columns separated by {_DELIMITERS.get(src['delimiter'], src['delimiter'])}")
        if src["header_line"]:
            above = (f"; {src['preamble_lines']} line(s) above it skipped (title, report period or another "
                     "block)") if src["preamble_lines"] else ""
            out.append(f"  header:   line {src['header_line']}{above}")
        else:
            out.append("  header:   none (--no-header); columns named by number")
        out.append("  columns:")
        width = max((len(c["header"]) for c in src["columns"]), default=0)
        for col in src["columns"]:
            role = _ROLE_LABELS.get(col["role"] or "", "(not used)")
            fmt = f": {col['format']}" if col["format"] else ""
            out.append(f"    {col['number']:>2}. {col['header'] or '(blank)':<{width}}  {role}{fmt}")
        out.append(f"  rows:     {src['rows_read']:,} read, {src['rows_used']:,} used")
        if src["first_date"]:
            out.append(f"  orders:   {src['first_date']} to {src['last_date']}")
        out.extend(f"  note:     {note}" for note in src["notes"])
        out.append("")
    o = data["orders"]
    out.append(f"Rows: {data['rows_read']:,} read, {data['rows_used']:,} used, {data['rows_skipped']:,} skipped.")
    out.append(f"Orders: {o['purchases']:,} purchases, {o['refunds']:,} refunds, {o['cancelled']:,} cancelled; "
               f"{o['customers']:,} customers"
               + (f"; {o['first_order']} to {o['last_order']}" if o["first_order"] else "") + ".")
    if data["currency"]:
        out.append(f"Currency: {data['currency']}.")
    if data["skipped"]:
        out.append("Skipped rows:")
        for reason, info in data["skipped"].items():
            out.append(f"  {reason} ({info['count']:,}): {info['meaning']}")
            out.append("    lines: " + ", ".join(_line_refs(info["lines"])))
    if data["warnings"]:
        out.append("Warnings:")
        out.extend(f"  - {w}" for w in data["warnings"])
    out.append(("OK: " if data["verdict"]["ok"] else "NOT OK: ") + data["verdict"]["message"])
    return out


def _line_refs(refs: list[str]) -> list[str]:
    """Skipped-line references for the text output; past 200, the rest are counted (--json has all)."""
    if len(refs) <= 200:
        return refs
    return [*refs[:200], f"... and {len(refs) - 200} more (--json lists them all)"]
