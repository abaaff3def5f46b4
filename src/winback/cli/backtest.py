"""``winback backtest``: would the list have been right? Checked on the user's own history."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from winback.backtest import BacktestResult, backtest, holdout_cutoff
from winback.cli.common import (
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
from winback.errors import OutputError
from winback.importer import load_orders
from winback.scoring import start_loading_models

if TYPE_CHECKING:
    from rich.console import Console


def _parse_days(value: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([dwm]?)\s*", value.lower())
    if not match or int(match.group(1)) == 0:
        raise typer.BadParameter(f"'{value}' is not a length of time; write e.g. 90d, 13w or 3m.",
                                 param_hint="--holdout")
    n, unit = int(match.group(1)), match.group(2) or "d"
    return n * {"d": 1, "w": 7, "m": 30}[unit]


@app.command("backtest", epilog="""Examples:

  winback backtest orders.csv --holdout 90d

  winback backtest orders.csv --cutoff 2026-06-30 --holdout 90d --top 200 --json
""")
def backtest_command(
    files: Files,
    holdout: str = typer.Option("90d", "--holdout", metavar="LENGTH",
                                help="Length of the window after the cutoff, e.g. 90d, 13w, 3m."),
    cutoff: str | None = typer.Option(None, "--cutoff", metavar="DATE",
                                      help="Pretend date (YYYY-MM-DD). Default: the last order minus the holdout."),
    top: int = typer.Option(50, "--top", min=1, help="The call list size to judge."),
    horizon: int = typer.Option(90, "--horizon", min=7, metavar="DAYS", help="As for scan."),
    plot: Path | None = typer.Option(None, "--plot", metavar="FILE",
                                     help="Also draw the calibration chart to a PNG file (needs matplotlib)."),
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
    """Check the call list against what really happened after a past date."""
    days = _parse_days(holdout)
    cutoff_date = parse_date(cutoff, "--cutoff")
    # Orders after today are implausible, as for inspect; the cutoff is in the past.
    opts = import_options(encoding, mapping, date_format, decimal, max_skipped, sheet=sheet,
                          no_header=no_header, header_row=header_row, tz=tz,
                          on_decode_error=on_decode_error, ignore_id_case=ignore_id_case,
                          skip_implausible_dates=skip_implausible_dates, as_of=date.today())
    with errors(verbose):
        # (the backtest fits the models: scipy's import starts while the import waits)
        orders = load_orders(files, opts, meanwhile=start_loading_models).orders
        cut = cutoff_date or holdout_cutoff(orders, days)
        result = backtest(orders, cut, days, list_size=top, horizon_days=horizon)
        if plot is not None:
            _plot(result, plot)
        if json_:
            typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        else:
            from rich.console import Console  # (here: a --json run does not load rich)

            _render(Console(highlight=False), result)


def _render(console: Console, r: BacktestResult) -> None:
    from rich import box
    from rich.table import Table

    console.print(r.verdict(), markup=False)
    console.print(f"Cutoff {r.cutoff}, holdout {r.holdout_days} days: {r.customers:,} customers, "
                  f"{r.truly_lapsed:,} of them did not buy in the holdout.", markup=False)
    table = Table(title="Lists of size K", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("ranking", "K", "truly lapsed", "value captured", "valuable leavers found"):
        table.add_column(col, justify="left" if col == "ranking" else "right", no_wrap=True)
    for name, rows in r.metrics.items():
        for m in rows:
            table.add_row(name, str(m.k), f"{m.precision:.0%}", f"{m.value_captured:.0%}", f"{m.recall_valuable:.0%}")
    console.print(table)
    cal = Table(title="Calibration: purchases in the holdout (# predicted, = actual)", title_justify="left",
                box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("repeat purchases before", "customers", "predicted", "actual", "naive rate", "chart"):
        cal.add_column(col, justify="left" if col == "chart" else "right", no_wrap=True)
    peak = max(float(r.calibration[["predicted", "actual"]].to_numpy().max()), 1.0)
    for group, row in r.calibration.iterrows():
        bars = "#" * round(20 * row["predicted"] / peak) + "\n" + "=" * round(20 * row["actual"] / peak)
        cal.add_row(str(group), f"{int(row['customers']):,}", f"{row['predicted']:,.0f}", f"{row['actual']:,.0f}",
                    f"{row['naive']:,.0f}", bars)
    console.print(cal)
    console.print(f"Mean absolute error per customer: model {r.mae_model:.3f}, naive rate {r.mae_naive:.3f}.",
                  markup=False)
    for note in r.notes:
        console.print(f"note: {note}", markup=False)


def _plot(r: BacktestResult, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise OutputError("--plot needs matplotlib: pip install 'winback[plot]'.") from exc
    from winback.writers import atomic_write

    fig, ax = plt.subplots(figsize=(7, 4))
    groups = list(r.calibration.index)
    xs = range(len(groups))
    ax.bar([x - 0.2 for x in xs], r.calibration["predicted"], width=0.4, label="predicted")
    ax.bar([x + 0.2 for x in xs], r.calibration["actual"], width=0.4, label="actual")
    ax.set_xticks(list(xs), groups)
    ax.set_xlabel("repeat purchases before the cutoff")
    ax.set_ylabel(f"purchases in the {r.holdout_days}-day holdout")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png"))
    plt.close(fig)
