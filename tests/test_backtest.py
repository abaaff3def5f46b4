"""Backtest metrics on small hand-made histories where the right answer is known."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from winback.backtest import backtest, holdout_cutoff
from winback.cli import app
from winback.errors import InputDataError

CUTOFF = date(2025, 7, 1)


def history(stoppers: int = 20, stayers: int = 20, one_timers: int = 10) -> pd.DataFrame:
    """Weekly buyers from 2025-01-01. Stoppers buy until 2025-03-15 and never again; stayers buy every week
    until 2025-10-01 (through the holdout); one-time buyers bought once on 2025-02-01 and never came back.
    Stoppers spend more per order the lower their number, stayers spend 50."""
    rows = []
    for i in range(stoppers):
        for d in pd.date_range("2025-01-01", "2025-03-15", freq="7D"):
            rows.append((f"S{i:02d}", d, 100.0 + 10 * (stoppers - i)))
    for i in range(stayers):
        for d in pd.date_range("2025-01-02", "2025-10-01", freq="7D"):
            rows.append((f"K{i:02d}", d, 50.0))
    for i in range(one_timers):
        rows.append((f"O{i:02d}", pd.Timestamp("2025-02-01"), 30.0))
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    frame["kind"] = "purchase"
    frame["line"] = np.arange(len(frame)) + 2
    return frame


def test_perfect_separation_is_found():
    result = backtest(history(), CUTOFF, 90, list_size=20, extra_k=(10, 30))
    ours = result.at("winback", 20)
    assert ours.precision == 1.0
    assert ours.value_captured == 1.0  # the 20 stoppers carry all the lost trailing value
    assert result.truly_lapsed == 30  # 20 stoppers + 10 one-time buyers
    assert result.customers == 50
    # The 90-day rule lists all 30 silent customers first too: with K = 20 it also finds only leavers.
    assert result.at("90-day rule", 20).precision == 1.0
    # Everyone who stayed bought in the holdout; the model should expect purchases from them.
    cal = result.calibration
    assert cal["actual"].sum() == 20 * 13
    assert list(cal.columns) == ["customers", "predicted", "actual", "naive"]


def test_precision_counts_only_truly_lapsed():
    orders = history(stoppers=5, stayers=20, one_timers=0)
    result = backtest(orders, CUTOFF, 90, list_size=10, extra_k=())
    # Only 5 customers left; any list of 10 contains at least 5 who came back.
    assert result.at("winback", 10).precision == pytest.approx(0.5)
    assert result.at("winback", 10).recall_valuable == 1.0


def test_refuses_short_history():
    orders = history()
    with pytest.raises(InputDataError, match="needs at least 90 days of history"):
        backtest(orders, date(2025, 2, 1), 90)
    with pytest.raises(InputDataError, match="before the end of the 180-day holdout"):
        backtest(orders, CUTOFF, 180)


def test_default_cutoff_leaves_the_holdout():
    assert holdout_cutoff(history(), 90) == date(2025, 6, 27)


def test_cli_backtest_on_sample(runner):
    from tests.conftest import SAMPLE

    result = runner.invoke(app, ["backtest", str(SAMPLE), "--holdout", "90d", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cutoff"] == "2026-08-22"
    assert data["list_size"] == 50
    for name in ("winback", "90-day rule", "revenue x (1 - P(alive))"):
        assert [m["k"] for m in data["rankings"][name]] == [10, 25, 50, 100, 200]
    assert data["verdict"].startswith("On your data, the winback list of 50 finds ")


def test_cli_backtest_refuses_with_one_line(runner, write):
    src = write("o.csv", "customer,date,amount\nA,2025-01-01,5\nA,2025-01-20,6\n")
    result = runner.invoke(app, ["backtest", src, "--holdout", "90d"])
    assert result.exit_code == 4
    assert result.stderr.startswith("Error: the orders start on 2025-01-01")
    assert result.stderr.count("\n") == 1


def test_cli_holdout_must_be_a_length(runner, write):
    src = write("o.csv", "customer,date,amount\nA,2025-01-01,5\n")
    result = runner.invoke(app, ["backtest", src, "--holdout", "soon"])
    assert result.exit_code == 2


@pytest.mark.parametrize("as_categories", [True, False])
def test_who_came_back_is_counted_as_pandas_counts_it(as_categories):
    """The holdout's distinct purchase dates per customer, counted on the ids' codes and matched by
    Arrow, are what pandas' drop_duplicates, groupby and reindex give: for ids as categories (as
    the importer gives them) or as text, customers in any order, and customers without orders."""
    from tests.conftest import SAMPLE
    from winback.backtest import _occasions
    from winback.importer import load_orders

    orders = load_orders([str(SAMPLE)]).orders
    if not as_categories:
        orders["customer_id"] = orders["customer_id"].astype("str")
    assert isinstance(orders["customer_id"].dtype, pd.CategoricalDtype) == as_categories
    dates = orders["order_date"].to_numpy(dtype="datetime64[ns]")
    rows = ((orders["kind"] == "purchase").to_numpy() & (dates > np.datetime64("2026-06-01"))
            & (dates <= np.datetime64("2026-08-30")))
    ids = pd.Series(orders["customer_id"].astype("str").unique())
    shuffled = ids.sample(frac=1, random_state=7)
    customers = pd.Index(pd.concat([shuffled, pd.Series(["nobody", "00000"])]), dtype="str")
    want = (orders[rows].drop_duplicates(["customer_id", "order_date"])
            .groupby("customer_id", observed=True).size().reindex(customers, fill_value=0))
    got = _occasions(orders["customer_id"], rows, dates.view(np.int64), customers)
    assert (want > 1).any() and (want == 0).any()
    np.testing.assert_array_equal(got, want.to_numpy())
    none_bought = np.zeros(len(orders), dtype=bool)
    nobody = _occasions(orders["customer_id"], none_bought, dates.view(np.int64), customers)
    np.testing.assert_array_equal(nobody, np.zeros(len(customers), dtype=np.int64))


def test_ties_are_broken_in_the_ids_text_order():
    from winback.backtest import _id_ranks

    ids = pd.Index(["b", "a", "Ç10", "10", "9", "Z", "ç", "aa", "00042", "042"], dtype="str")
    want = np.argsort(np.asarray(ids, dtype=str), kind="stable")
    np.testing.assert_array_equal(np.argsort(_id_ranks(ids)), want)
    np.testing.assert_array_equal(_id_ranks(ids.sort_values()), np.arange(len(ids)))
