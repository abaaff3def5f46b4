"""Terminal rendering of a scan (CLI side).

In a terminal: a summary panel, the top of the call list as a table that fits the width, and a
spinner while the files are read. In a pipe or under cron: the same facts as plain lines, the table
in ASCII, no colour and no animation. Rich decides what a terminal is (``TTY_COMPATIBLE=1`` or
``FORCE_COLOR`` make it treat a pipe as one, ``NO_COLOR`` turns colour off).

rich is imported by the functions that draw, not with the module: a run that prints nothing
(``--quiet``, ``--json``, the nightly cron job) does not load it (25-30 ms of start-up).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING

import pandas as pd

from winback.nightly import Outcomes
from winback.pipeline import ScanResult

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

TABLE_ROWS = 15


def make_console(file: IO[str]) -> Console:
    """The console for one stream; tests replace this to pretend to be a terminal."""
    from rich.console import Console

    return Console(file=file, highlight=False)


@contextlib.contextmanager
def progress(stream: IO[str], *, enabled: bool,
             console_for: Callable[[IO[str]], Console] = make_console) -> Iterator[None]:
    """A spinner on ``stream`` while the files are read and scored: in a terminal only, gone
    afterwards. Off (``enabled`` False), no console is made."""
    if not enabled:
        yield
        return
    console = console_for(stream)
    if not (console.is_terminal and not console.is_dumb_terminal):
        yield
        return
    with console.status("Reading orders and scoring customers...", spinner="dots"):
        yield


def _n(value: float) -> str:
    return f"{value:,.0f}"


def input_lines(result: ScanResult) -> list[str]:
    rep = result.report
    lines = []
    for src in rep.sources:
        delim = {"tab": "tab", "whitespace": "spaces"}.get(src.delimiter, f"'{src.delimiter}'")
        header = f"header on line {src.header_line}" if src.header_line else "no header row"
        lines.append(
            f"Read {src.path}: encoding {src.encoding}, separated by {delim}, {header}"
            + (f", {src.preamble_lines} title line(s) skipped" if src.preamble_lines else "") + "."
        )
    lines.append(f"Rows: {_n(rep.rows_read)} read, {_n(rep.rows_used)} used, {_n(rep.rows_skipped)} skipped.")
    for reason, count in rep.skipped_by_reason.items():
        where = ", ".join(rep.skipped_examples.get(reason, [])[:3])
        lines.append(f"  skipped {_n(count)} x {reason}" + (f" (e.g. {where})" if where else ""))
    data = result.to_dict(None)["input"]
    lines.append(
        f"Orders: {_n(data['orders'])} purchase lines, {_n(data['refunds'])} refunds, "
        f"{_n(data['cancelled'])} cancelled; {_n(data['customers'])} customers; "
        f"{data['first_order']} to {data['last_order']}."
    )
    if result.orders_after_as_of:
        lines.append(f"  {_n(result.orders_after_as_of)} order lines after {result.as_of} ignored (--as-of).")
    cf = result.customers_file
    if cf is not None:
        lines.append(f"Customers file {cf.path}: {_n(cf.customers)} customers"
                     + (f", {_n(cf.duplicate_ids)} ids on several rows (merged)" if cf.duplicate_ids else "")
                     + ".")
    for warning in rep.warnings:
        lines.append(f"  note: {warning}")
    return lines


def list_lines(result: ScanResult, out_label: str | None) -> list[str]:
    cl = result.call_list
    unit = f" {result.currency}" if result.currency else ("" if result.has_amount else " orders")
    lines = [
        f"As of {result.as_of}: {_n(cl.lapsed)} customers have lapsed; "
        f"{_n(cl.value_at_risk)}{unit} of yearly value at risk."
    ]
    if cl.not_targets:
        lines.append(f"  {_n(cl.not_targets)} lapsed customers left off: they cost more than they bring.")
    if cl.do_not_contact:
        lines.append(f"  {_n(cl.do_not_contact)} left off: do not contact.")
    if cl.filtered_out:
        lines.append(f"  {_n(cl.filtered_out)} left off by --min-value or --segment.")
    if cl.over_owner_cap:
        lines.append(f"  {_n(cl.over_owner_cap)} left off by --per-owner.")
    if out_label:
        lines.append(f"Call list: {_n(len(cl.rows))} of {_n(cl.eligible)} customers written to {out_label}")
    if cl.orphaned:
        lines.append(f"  {_n(cl.orphaned)} orphaned (their owner has left) at the top: reassign them.")
    if not result.has_contacts and len(cl.rows):
        lines.append("  No phone numbers or e-mails known: add the customer cards with --customers FILE.")
    elif cl.no_contact:
        lines.append(f"  {_n(cl.no_contact)} listed customers have no phone or e-mail (note: no contact details).")
    if cl.invalid_phones:
        lines.append(f"  {_n(cl.invalid_phones)} phone numbers are not valid for {result.country}: kept as "
                     "written (note: invalid phone).")
    if len(cl.rows):
        lines.append("  per segment: " + ", ".join(f"{k} {v}" for k, v in cl.per_segment().items()))
        lines.append("  per owner: " + ", ".join(f"{k or '(to reassign)'} {v}" for k, v in cl.per_owner().items()))
    return lines


def nightly_lines(result: ScanResult, state_label: str | None) -> list[str]:
    """Cooldown, control group and the change since the last run (runs with state only)."""
    night = result.night
    if night is None:
        return []
    lines = []
    if night.cooldown:
        lines.append(f"  {_n(len(night.cooldown))} left off: listed in the last {night.options.cooldown_days} "
                     "days (cooldown).")
    if night.relisted:
        lines.append(f"  {_n(len(night.relisted))} listed again within the cooldown: their situation changed.")
    if len(night.control):
        lines.append(f"  {_n(len(night.control))} held out at random as the control group (not called; see "
                     "winback outcomes).")
    diff = night.diff
    if diff.previous_as_of is None:
        lines.append("Since the last run: this is the first run with this state.")
    else:
        lines.append(f"Since the last run ({diff.previous_as_of}): {_n(len(diff.newly_lapsed))} newly lapsed, "
                     f"{_n(len(diff.came_back))} came back, {_n(len(diff.still_lapsed))} still lapsed.")
        if len(diff.came_back):
            shown = ", ".join(diff.came_back[:10].to_pylist())
            lines.append(f"  came back: {shown}" + (f" and {len(diff.came_back) - 10} more" if len(diff.came_back) > 10
                                                     else ""))
    if state_label:
        lines.append(f"State: {state_label}")
    return lines


def summary_lines(result: ScanResult, out_label: str | None, state_label: str | None = None) -> list[str]:
    return input_lines(result) + list_lines(result, out_label) + nightly_lines(result, state_label)


def render_scan(console: Console, result: ScanResult, out_label: str | None, *, show_table: bool,
                owner_files: dict[str, str] | None = None, state_label: str | None = None) -> None:
    lines = summary_lines(result, out_label, state_label)
    for owner, path in (owner_files or {}).items():
        lines.append(f"  {owner or '(to reassign)'}: {path}")
    if console.is_terminal:
        from rich import box
        from rich.panel import Panel
        from rich.text import Text

        console.print(Panel(Text("\n".join(lines)), title="winback scan", title_align="left",
                            box=box.ROUNDED, expand=False))
    else:
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    rows = result.call_list.rows
    if not show_table:
        return
    if rows.empty:
        console.print("Nobody has lapsed: no calls to make today.", markup=False, highlight=False)
        return
    console.print(_table(rows.head(TABLE_ROWS), terminal=console.is_terminal, width=console.width))
    if len(rows) > TABLE_ROWS:
        console.print(f"... and {len(rows) - TABLE_ROWS} more in the call list file.", markup=False,
                      highlight=False)


_GAP = 3  # padding and separator between two columns
_MIN_REASON = 24


def _fixed(widths: dict[str, int]) -> int:
    """Width of these columns with the gaps around them, and the gap before the reason."""
    return sum(widths.values()) + _GAP * len(widths)


def _table(rows, *, terminal: bool, width: int) -> Table:  # type: ignore[no-untyped-def]
    """The top rows in a table as wide as the console: fixed columns first, the reason gets the rest."""
    cells = {
        "#": rows["rank"].astype(str),
        "customer": rows["customer_id"].astype(str),
        "name": rows["name"].astype(str),
        "phone": rows["phone"].astype(str),
        "owner": rows["owner"].astype(str) + rows["note"].str.contains("orphaned").map({True: " (left)",
                                                                                      False: ""}),
        "segment": rows["segment"].astype(str),
        "days": rows["days_since_last_order"].astype(str),
        "value at risk": rows["value_at_risk"].map(_n),
        "reason": rows["reason"].astype(str),
    }
    caps = {"name": 24, "owner": 18, "customer": 14}
    widths = {k: min(max(len(k), int(v.str.len().max())), caps.get(k, 1000)) for k, v in cells.items()}
    natural_reason = widths.pop("reason")
    # On a narrow console drop the least needed columns until the reason has room.
    for optional in ("segment", "owner", "name", "phone"):
        if _fixed(widths) + _MIN_REASON <= width:
            break
        widths.pop(optional)
    widths["reason"] = max(8, min(natural_reason, width - _fixed(widths)))
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD if terminal else box.ASCII2, show_edge=False, pad_edge=False,
                  header_style="bold" if terminal else "", collapse_padding=False)
    right = {"#", "days", "value at risk"}
    for name, w in widths.items():
        table.add_column(name, justify="right" if name in right else "left", no_wrap=True,
                         overflow="ellipsis", width=w)
    for i in range(len(rows)):
        table.add_row(*(cells[name].iloc[i] for name in widths))
    return table


def _pct(rate: float | None) -> str:
    return "-" if rate is None or pd.isna(rate) else f"{rate:.1%}"


def render_outcomes(console: Console, result: Outcomes) -> None:
    """The outcomes report: called vs. control first, then per list date, segment and owner."""
    data = result.to_dict()
    say = lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    unit = "" if result.has_amount else " orders"
    say(f"Outcomes as of {result.as_of}: {_n(data['assignments'])} customers on past lists or held out; a first "
        f"order within {result.window_days} days of the list counts as 'came back'"
        + (f" ({_n(data['still_open'])} still within that window)." if data["still_open"] else "."))
    if not data["assignments"]:
        say("No lists yet: run winback scan with this state first.")
        return
    cmp = data["comparison"]
    say("Called vs. not called (the control group), among customers who would have been listed either way:")
    for arm, label in (("called", "called"), ("control", "not called")):
        a = cmp[arm]
        say(f"  {label}: {_n(a['customers'])} customers, {_n(a['came_back'])} came back ({_pct(a['rate'])}), "
            f"revenue {_n(a['revenue'])}{unit}")
    if cmp["uplift"] is None:
        say("  No comparison yet: it needs both called and control customers (nightly.control_share).")
    else:
        say(f"  Win-back rate {cmp['uplift'] * 100:+.1f} points with a call; incremental revenue "
            f"{_n(cmp['incremental_revenue'])}{unit}.")
        if cmp["control"]["customers"] < 30:
            say("  (Fewer than 30 in the control group so far: the difference may be chance.)")
    for by, title in (("list_date", "list date"), ("segment", "segment"), ("owner", "owner")):
        console.print(_outcome_table(result.table(by), by, title, console.is_terminal))
    contact = result.contact_table()
    if not contact.empty:
        say("Contact results: " + ", ".join(f"{r.outcome} {r.customers} ({r.came_back} came back)"
                                            for r in contact.itertuples()))


def _outcome_table(frame, by: str, title: str, terminal: bool) -> Table:  # type: ignore[no-untyped-def]
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD if terminal else box.ASCII2, show_edge=False, pad_edge=False,
                  header_style="bold" if terminal else "")
    # called: customers listed; back: came back; days: median days to the first order; control: held out
    for name in (title, "called", "back", "rate", "days", "revenue", "control", "back", "rate"):
        table.add_column(name, justify="left" if name == title else "right", no_wrap=True, min_width=len(name))
    wide = frame.pivot_table(index=by, columns="arm", values=["customers", "came_back", "rate", "median_days",
                                                             "revenue"], aggfunc="first")
    def num(v) -> str:  # type: ignore[no-untyped-def]
        return "-" if v is None or pd.isna(v) else _n(float(v))

    for key in wide.index:
        row = {col: wide.loc[key, col] for col in wide.columns}
        get = lambda col, arm, row=row: row.get((col, arm))  # noqa: E731
        table.add_row(str(key) or "(no owner)", num(get("customers", "called")), num(get("came_back", "called")),
                      _pct(get("rate", "called")), num(get("median_days", "called")), num(get("revenue", "called")),
                      num(get("customers", "control")), num(get("came_back", "control")), _pct(get("rate", "control")))
    return table
