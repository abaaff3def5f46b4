"""The orders -> customer summary stage, on frames small enough to compute by hand."""

from __future__ import annotations

from datetime import date

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
