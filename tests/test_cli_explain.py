"""winback explain: one customer's story, consistent with the call list."""

from __future__ import annotations

import json

import pandas as pd

from tests.conftest import SAMPLE, SAMPLE_AS_OF
from winback.cli import app


def test_explain_listed_customer_matches_call_list(runner, tmp_path):
    out = tmp_path / "c.csv"
    scan = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--out", str(out), "--quiet",
                               "--csv-dialect", "comma"])
    assert scan.exit_code == 0, scan.output
    first = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig").iloc[0]
    result = runner.invoke(app, ["explain", str(SAMPLE), first["customer_id"], "--as-of", SAMPLE_AS_OF, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["customer_id"] == first["customer_id"]
    assert data["rank"] == 1
    assert data["segment"] == first["segment"]
    assert data["reason"] == first["reason"]
    assert data["numbers"]["purchase occasions"] == first["orders"]
    assert data["numbers"]["days since last order"] == first["days_since_last_order"]
    purchases = [t for t in data["timeline"] if t["kind"] == "purchase"]
    assert len({t["order_date"] for t in purchases}) == first["orders"]


def test_explain_text_and_unknown_customer(runner):
    text = runner.invoke(app, ["explain", str(SAMPLE), "00097", "--as-of", SAMPLE_AS_OF])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("Customer 00097 as of 2026-11-23:")
    assert "Order lines" in text.stdout
    missing = runner.invoke(app, ["explain", str(SAMPLE), "97", "--as-of", SAMPLE_AS_OF])
    assert missing.exit_code == 4
    assert missing.stderr == ("Error: customer 97 is not in the file. Ids are compared exactly as written (00042 "
                              "is not 42); check the id in the call list or with 'winback inspect'.\n")


def test_explain_makes_one_row_and_keeps_one_customers_orders_yet_says_what_a_full_scan_says():
    """`winback explain` scans with explain_ids: the calling order is everyone's, but only the
    customer's row is formatted and only their orders are kept (a ten-million-order file took 38 s
    and 5.4 GB when every row was made). Its explanation must be the one a scan that formats every
    row and keeps every order gives: listed at any rank, not lapsed, or lapsed but not a target."""
    from datetime import date

    from winback.explain import explain
    from winback.pipeline import ScanOptions, scan

    as_of = date.fromisoformat(SAMPLE_AS_OF)
    full = scan([str(SAMPLE)], ScanOptions(as_of=as_of, top=None, keep_orders=True))
    rows, scores = full.call_list.rows, full.scores
    assert len(rows) > 20
    picks = list(rows["customer_id"].iloc[[0, 1, len(rows) // 2, -1]])
    picks.append(scores.index[~scores["lapsed"].to_numpy(dtype=bool)][0])
    lapsed = scores["lapsed"].to_numpy(dtype=bool)
    not_target = scores.index[lapsed & ~scores["target"].to_numpy(dtype=bool)]
    picks.append(not_target[0])
    ranks = []
    for cid in picks:
        one = scan([str(SAMPLE)], ScanOptions(as_of=as_of, top=None, explain_ids=(cid,)))
        listed = rows[rows["customer_id"] == cid]
        assert one.call_list.rows.equals(listed.reset_index(drop=True))  # its rank, not 1
        assert set(one.orders["customer_id"]) == {cid}
        a, b = explain(one, cid), explain(full, cid)
        assert a.timeline.equals(b.timeline) and len(a.timeline) > 0
        assert (a.numbers, a.segment, a.reason, a.rank, a.listed_because) == \
            (b.numbers, b.segment, b.reason, b.rank, b.listed_because)
        ranks.append(a.rank)
    assert ranks == [1, 2, len(rows) // 2 + 1, len(rows), None, None]


def test_explain_tells_a_customer_whose_orders_all_come_later_from_one_not_in_the_file(runner):
    from winback.importer import load_orders

    orders = load_orders([str(SAMPLE)]).orders
    firsts = orders.groupby("customer_id", observed=True)["order_date"].min()
    cid, first = firsts.idxmax(), firsts.max()
    before = (first - pd.Timedelta(days=1)).date().isoformat()
    later = runner.invoke(app, ["explain", str(SAMPLE), cid, "--as-of", before])
    assert later.exit_code == 4
    assert later.stderr.startswith(f"Error: customer {cid} has no purchases up to {before} (only "
                                   "refunds, cancellations or later orders)")
    day = first.date().isoformat()
    on_the_day = runner.invoke(app, ["explain", str(SAMPLE), cid, "--as-of", day, "--json"])
    assert on_the_day.exit_code == 0, on_the_day.output
    assert {t["order_date"] for t in json.loads(on_the_day.stdout)["timeline"]} == {day}


IMPORT_OPTIONS = {"--encoding", "--map", "--date-format", "--decimal", "--max-skipped", "--sheet",
                  "--no-header", "--header-row", "--tz", "--on-decode-error", "--ignore-id-case",
                  "--skip-implausible-dates"}


def test_every_command_that_reads_orders_takes_the_options_the_importer_suggests():
    """The importer's messages name these options (--no-header for a file without a header row,
    --on-decode-error replace, --sheet, ...): each command that reads order files takes them."""
    import typer.main

    commands = typer.main.get_command(app).commands
    for name in ("scan", "inspect", "explain", "backtest"):
        options = {o for param in commands[name].params for o in param.opts}
        assert not IMPORT_OPTIONS - options, name


def test_explain_and_backtest_read_a_file_without_a_header(runner):
    """The public CDNOW sample has no header row (id, id, yyyymmdd, quantity, amount): the error
    says to name the columns by number, and explain and backtest take that advice."""
    from tests.cdnow import DATA

    columns = ["--no-header", "--map", "customer_id=1", "--map", "order_date=3", "--map",
               "amount=5", "--date-format", "%Y%m%d"]
    without = runner.invoke(app, ["explain", str(DATA), "00004", "--as-of", "1998-06-30"])
    assert without.exit_code == 4 and "--no-header --map customer_id=1" in without.stderr
    text = runner.invoke(app, ["explain", str(DATA), "00004", "--as-of", "1998-06-30", *columns,
                               "--json"])
    assert text.exit_code == 0, text.output
    data = json.loads(text.stdout)
    assert data["customer_id"] == "00004" and data["numbers"]["purchase occasions"] == 4
    back = runner.invoke(app, ["backtest", str(DATA), *columns, "--cutoff", "1998-04-01", "--json"])
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["customers"] == 2357
