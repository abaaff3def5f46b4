"""The orders -> customer summary stage, on frames small enough to compute by hand."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from winback.summary import summarize


def orders(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount", "kind", "cost"])
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    frame["line"] = range(2, len(frame) + 2)
    return frame


ROWS = [
    # A: three occasions (two lines on 01-01 merge into one), one refund, one cancelled line.
    ("A", "2025-01-01", 100.0, "purchase", 60.0),
    ("A", "2025-01-01", 50.0, "purchase", 30.0),
    ("A", "2025-01-11", 80.0, "purchase", 50.0),
    ("A", "2025-01-15", -30.0, "refund", -20.0),
    ("A", "2025-01-31", 70.0, "purchase", 40.0),
    ("A", "2025-02-05", 999.0, "cancelled", 500.0),
    # B: one purchase.
    ("B", "2025-01-20", 40.0, "purchase", 10.0),
    # C: refund only: not a customer with purchases.
    ("C", "2025-01-05", -10.0, "refund", -5.0),
    # A order after the as-of date.
    ("A", "2025-03-01", 500.0, "purchase", 100.0),
]


def test_hand_computed_summary():
    result = summarize(orders(ROWS), date(2025, 2, 10))
    cust = result.customers
    assert result.orders_after_as_of == 1
    assert result.customers_without_purchases == 1
    assert list(cust.index) == ["A", "B"]
    a = cust.loc["A"]
    assert a["orders"] == 3 and a["frequency"] == 2
    assert a["first_order"] == pd.Timestamp("2025-01-01")
    assert a["last_order"] == pd.Timestamp("2025-01-31")
    assert a["recency_days"] == 30 and a["age_days"] == 40 and a["days_since_last"] == 10
    assert a["gap_median_days"] == 15.0  # gaps 10 and 20
    assert a["gap_spread_days"] == pytest.approx(np.std([10, 20], ddof=1))
    assert a["first_gap_days"] == 10
    assert a["gross_revenue"] == 300.0
    assert a["refunds"] == 30.0
    assert a["revenue"] == 270.0
    # margin: purchases (300 - 180) + refund (-30 - -20) = 120 - 10; cancelled lines count nothing
    assert a["margin"] == pytest.approx(110.0)
    assert a["avg_order_value"] == 100.0
    assert a["repeat_avg_value"] == 75.0  # (80 + 70) / 2
    b = cust.loc["B"]
    assert b["orders"] == 1 and b["frequency"] == 0
    assert np.isnan(b["gap_median_days"]) and np.isnan(b["repeat_avg_value"])
    assert b["days_since_last"] == 21 and b["revenue"] == 40.0 and b["margin"] == 30.0


def test_summary_ignores_row_order():
    frame = orders(ROWS)
    a = summarize(frame, date(2025, 2, 10)).customers
    b = summarize(frame.sample(frac=1.0, random_state=3), date(2025, 2, 10)).customers
    pd.testing.assert_frame_equal(a, b.loc[a.index], check_like=True)


def test_referrals_and_owner():
    frame = pd.DataFrame({
        "customer_id": ["A", "B", "B", "C", "D"],
        "order_date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-09", "2025-01-03", "2025-01-04"]),
        "amount": [10.0, 20.0, 20.0, 30.0, 5.0],
        "kind": ["purchase"] * 5,
        "referred_by": ["", "A", "A", "A", "D"],
        "owner": ["Elif", "", "Murat", "Ayşe", ""],
        "line": range(5),
    })
    cust = summarize(frame, date(2025, 2, 1)).customers
    assert cust.loc["A", "referrals"] == 2  # B (counted once) and C; D's self-reference ignored
    assert cust.loc["D", "referrals"] == 0
    assert cust.loc["B", "owner"] == "Murat"
    assert cust.loc["D", "owner"] == ""
    assert np.isnan(cust.loc["A", "margin"])


def test_no_amount_column():
    frame = pd.DataFrame({
        "customer_id": ["A", "A"],
        "order_date": pd.to_datetime(["2025-01-01", "2025-01-05"]),
        "amount": [np.nan, np.nan],
        "kind": ["purchase", "purchase"],
        "line": [2, 3],
    })
    result = summarize(frame, date(2025, 2, 1))
    assert not result.has_amount
    assert result.customers.loc["A", "orders"] == 2
    assert np.isnan(result.customers.loc["A", "revenue"])


def _export(tmp_path, rows, name="orders.csv"):
    """An order export with digit ids, as the fast reader takes it (and numbers its ids by a sort)."""
    path = tmp_path / name
    path.write_text("order_id,customer_id,order_date,amount,status\n"
                    + "".join(f"{i},{c},{d},{a},{s}\n" for i, (c, d, a, s) in enumerate(rows, 1)), encoding="utf-8")
    return str(path)


EXPORT = [  # in date order, as most exports: several lines a day, refunds, a cancelled line
    ("0042", "2025-01-01", 100.0, "paid"), ("7", "2025-01-01", 40.0, "paid"), ("0042", "2025-01-01", 50.0, "paid"),
    ("42", "2025-01-03", 10.0, "paid"), ("7", "2025-01-09", 25.0, "cancelled"), ("0042", "2025-01-11", 80.0, "paid"),
    ("42", "2025-01-12", -10.0, "refund"), ("7", "2025-01-20", 30.0, "paid"), ("0042", "2025-02-01", 70.0, "paid"),
]


def test_the_importers_customer_order_spares_the_sort_and_gives_the_same_summary(tmp_path, monkeypatch):
    from winback.importer import ImportOptions, load_orders
    from winback.summary import pandas_engine

    loaded = load_orders([_export(tmp_path, EXPORT)], ImportOptions(as_of=date(2025, 3, 1)))
    codes = loaded.orders["customer_id"].cat.codes.to_numpy()
    assert loaded.customer_order.tolist() == np.argsort(codes, kind="stable").tolist()
    plain = summarize(loaded.orders, date(2025, 3, 1)).customers
    with monkeypatch.context() as m:  # in date order: no sort at all
        m.setattr(pandas_engine, "sort_with_positions", lambda *a, **k: pytest.fail("sorted again"))
        hinted = summarize(loaded.orders, date(2025, 3, 1), customer_order=loaded.customer_order).customers
    pd.testing.assert_frame_equal(hinted, plain, check_exact=True)
    assert plain.loc["0042", "orders"] == 3 and plain.loc["0042", "gross_revenue"] == 300.0
    earlier = date(2025, 1, 15)  # orders after the as-of date: the grouping is not used, the result the same
    pd.testing.assert_frame_equal(summarize(loaded.orders, earlier, customer_order=loaded.customer_order).customers,
                                  summarize(loaded.orders, earlier).customers, check_exact=True)


def test_a_customer_order_out_of_date_order_falls_back_to_the_sort(tmp_path):
    from winback.importer import ImportOptions, load_orders

    shuffled = EXPORT[::-1]  # every customer's lines newest first
    loaded = load_orders([_export(tmp_path, shuffled)], ImportOptions(as_of=date(2025, 3, 1)))
    assert loaded.customer_order is not None
    plain = summarize(loaded.orders, date(2025, 3, 1)).customers
    hinted = summarize(loaded.orders, date(2025, 3, 1), customer_order=loaded.customer_order).customers
    pd.testing.assert_frame_equal(hinted, plain, check_exact=True)
    in_date_order = summarize(load_orders([_export(tmp_path, EXPORT, "b.csv")]).orders, date(2025, 3, 1)).customers
    pd.testing.assert_frame_equal(plain, in_date_order, check_exact=True)


def test_the_customer_order_follows_dropped_rows(tmp_path):
    from winback.importer import ImportOptions, load_orders

    path = _export(tmp_path, [*EXPORT, ("7", "not a date", 5.0, "paid")])
    text = open(path, encoding="utf-8").read()
    with open(path, "a", encoding="utf-8") as fh:  # an exact repeat of order 2's line: dropped as a duplicate
        fh.write(text.splitlines()[2] + "\n")
    loaded = load_orders([path], ImportOptions(as_of=date(2025, 3, 1), max_skipped=0.5))
    assert loaded.report.skipped_by_reason == {"invalid date": 1, "duplicate order line": 1} and len(loaded.orders) == len(EXPORT)
    codes = loaded.orders["customer_id"].cat.codes.to_numpy()
    assert loaded.customer_order.tolist() == np.argsort(codes, kind="stable").tolist()
    hinted = summarize(loaded.orders, date(2025, 3, 1), customer_order=loaded.customer_order).customers
    pd.testing.assert_frame_equal(hinted, summarize(loaded.orders, date(2025, 3, 1)).customers, check_exact=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_group_medians_equal_pandas(seed):
    from winback.summary.pandas_engine import _group_median

    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 7, 500)  # empty groups, one value, two, and more
    group = np.repeat(np.arange(500, dtype=np.int32), counts)  # each group's values are a run
    values = rng.integers(0, 400, counts.sum()).astype(np.int32)
    expected = pd.Series(values).groupby(group).median().reindex(range(500)).to_numpy()
    assert np.array_equal(_group_median(values, counts.astype(np.int64)), expected, equal_nan=True)


def _random_orders(seed, n_customers, n_lines):
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["purchase", "refund", "cancelled"], n_lines, p=[0.85, 0.1, 0.05])
    return pd.DataFrame({
        "customer_id": pd.Series(rng.integers(0, n_customers, n_lines)).map("c{:04d}".format),
        "order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, n_lines), unit="D"),
        "amount": np.round(rng.gamma(2.0, 40.0, n_lines), 2) * np.where(kinds == "refund", -1, 1),
        "kind": kinds,
        "line": range(2, n_lines + 2),
    })


@pytest.mark.parametrize(("seed", "n_customers", "part_lines", "some_bought_nothing"),
                         [(1, 300, 250, False), (1, 300, 1_000, False), (2, 40, 400, False),
                          (3, 1, 250, False), (4, 300, 250, True)])
def test_the_occasions_worked_out_in_parts_equal_one_part(seed, n_customers, part_lines,
                                                          some_bought_nothing, monkeypatch):
    """Large files are cut at customers' first lines into parts of about ``_PART_LINES`` lines,
    worked out two at a time: the same summary, to the last bit. A customer longer than a part is
    never cut (one customer: one part). With ``some_bought_nothing`` every seventh customer has
    refunds only, so each part's buyers have gaps between them."""
    from winback.summary import pandas_engine

    frame = _random_orders(seed, n_customers, 3_000)
    if some_bought_nothing:
        nothing = frame["customer_id"].str[1:].astype(int) % 7 == 3
        frame.loc[nothing, "kind"] = "refund"
        frame.loc[nothing, "amount"] = -frame.loc[nothing, "amount"].abs()
    as_of = date(2025, 1, 15)
    one_part = summarize(frame, as_of).customers
    assert len(one_part) == n_customers - (43 if some_bought_nothing else 0)
    parts, lines = [], []
    real = pandas_engine._occasions
    monkeypatch.setattr(pandas_engine, "_PARALLEL_MIN", 2)
    monkeypatch.setattr(pandas_engine, "_PART_LINES", part_lines)

    def occasions(key, *args):
        lines.append(len(key))
        parts.append(real(key, *args))
        return parts[-1]

    monkeypatch.setattr(pandas_engine, "_occasions", occasions)
    in_parts = summarize(frame, as_of).customers
    purchases = (frame["kind"] == "purchase") & (frame["order_date"] <= pd.Timestamp(as_of))
    assert sum(lines) == int(purchases.sum())
    assert len(parts) == (1 if n_customers == 1 else -(-int(purchases.sum()) // part_lines))
    # No customer is cut: each part's buyers come after the part before it's (parts end in any
    # order).
    parts.sort(key=lambda part: part["buyers"][0])
    assert all(before["buyers"][-1] < after["buyers"][0] for before, after in pairwise(parts))
    pd.testing.assert_frame_equal(in_parts, one_part, check_exact=True)


def _in_customer_order(seed, n_customers, bought_nothing=""):
    """Random orders in date order with the ids as the importer gives them (a categorical in sorted
    order), and the rows grouped by customer, file order within a customer (its customer_order).
    ``bought_nothing``: "the first 120" or "every seventh" customer has cancelled lines only."""
    frame = _random_orders(seed, n_customers, 3_000).sort_values("order_date", kind="stable")
    frame = frame.reset_index(drop=True)
    frame["customer_id"] = frame["customer_id"].astype("category")
    codes = frame["customer_id"].cat.codes.to_numpy()
    if bought_nothing:
        nothing = codes < 120 if bought_nothing == "the first 120" else codes % 7 == 3
        frame.loc[nothing, "kind"] = "cancelled"
    return frame, np.argsort(codes, kind="stable")


@pytest.mark.parametrize(("seed", "n_customers", "part_lines", "bought_nothing"),
                         [(1, 300, 250, ""), (2, 40, 400, ""), (3, 1, 250, ""),
                          (4, 300, 250, "the first 120"), (5, 300, 250, "every seventh")])
def test_the_occasions_from_the_importers_customer_order_in_parts_equal_the_sorted_ones(
        seed, n_customers, part_lines, bought_nothing, monkeypatch):
    """With the importer's customer order, each part makes its own keys from its rows (no sort, and
    no array as long as the orders): the same summary, to the last bit. With ``bought_nothing``
    some customers bought nothing: the first ones (so the first parts have no purchase at all), or
    every seventh (each part's buyers have gaps between them)."""
    from winback.summary import pandas_engine

    frame, customer_order = _in_customer_order(seed, n_customers, bought_nothing)
    as_of = date(2025, 6, 1)  # after every line: the customer order can be used
    plain = summarize(frame, as_of).customers
    bought = n_customers - {"": 0, "the first 120": 120, "every seventh": 43}[bought_nothing]
    assert len(plain) == bought
    monkeypatch.setattr(pandas_engine, "_PARALLEL_MIN", 2)
    monkeypatch.setattr(pandas_engine, "_PART_LINES", part_lines)
    monkeypatch.setattr(pandas_engine, "sort_with_positions", lambda *a, **k: pytest.fail("sorted"))
    lines = []
    real = pandas_engine._occasions

    def occasions(key, *args):
        lines.append(len(key))
        return real(key, *args)

    monkeypatch.setattr(pandas_engine, "_occasions", occasions)
    hinted = summarize(frame, as_of, customer_order=customer_order).customers
    assert sum(lines) == int((frame["kind"] == "purchase").sum())
    assert (len(lines) == 1) if n_customers == 1 else (len(lines) > 1)  # a customer is never cut
    pd.testing.assert_frame_equal(hinted, plain, check_exact=True)


@pytest.mark.parametrize("disorder", ["newest first", "customers in reverse"])
def test_a_customer_order_the_parts_cannot_use_falls_back_to_the_sort(disorder, monkeypatch):
    """Parts are used only when each customer's lines are in date order and the customers in code
    order; otherwise the keys are sorted, with the same result."""
    from winback.summary import pandas_engine

    frame, customer_order = _in_customer_order(1, 300)
    if disorder == "newest first":
        frame = frame.iloc[::-1].reset_index(drop=True)
        customer_order = np.argsort(frame["customer_id"].cat.codes.to_numpy(), kind="stable")
    else:
        customer_order = np.argsort(-frame["customer_id"].cat.codes.to_numpy(), kind="stable")
    as_of = date(2025, 6, 1)
    plain = summarize(frame, as_of).customers
    monkeypatch.setattr(pandas_engine, "_PARALLEL_MIN", 2)
    monkeypatch.setattr(pandas_engine, "_PART_LINES", 250)
    sorts = []
    real_sort = pandas_engine.sort_with_positions

    def sort(*args, **kwargs):
        sorts.append(1)
        return real_sort(*args, **kwargs)

    monkeypatch.setattr(pandas_engine, "sort_with_positions", sort)
    hinted = summarize(frame, as_of, customer_order=customer_order).customers
    assert sorts
    pd.testing.assert_frame_equal(hinted, plain, check_exact=True)


def test_a_part_starts_where_a_customer_starts():
    from winback.summary.pandas_engine import _customer_start

    codes = np.repeat(np.arange(5, dtype=np.int32), [3, 200, 1, 1, 2])  # one customer of 200 lines
    rows = np.arange(len(codes))
    assert [_customer_start(codes, rows, at) for at in (1, 3, 4, 150, 203, 204, 205, 206)] == \
        [3, 3, 203, 203, 203, 204, 205, 207]
