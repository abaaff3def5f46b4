"""Stage 2: orders -> one row per customer, as of a date.

Purchase *occasions* are what the models count: all purchase lines of one customer on one day are
merged into one occasion (as in the BTYD literature). Refunds lower a customer's net revenue but are
never occasions; cancelled lines count for nothing. Everything here is vectorised groupby work.

Customer summary contract (index ``customer_id``, str):

==================  ========  ==================================================================
column              dtype     meaning
==================  ========  ==================================================================
first_order         datetime  first purchase day
last_order          datetime  last purchase day on or before the as-of date
orders              int       purchase occasions (distinct purchase days)
frequency           int       repeat occasions = orders - 1
recency_days        int       days from first to last purchase (t_x)
age_days            int       days from first purchase to the as-of date (T)
days_since_last     int       days from last purchase to the as-of date
gap_median_days     float     median days between consecutive occasions (NaN with one order)
gap_spread_days     float     standard deviation of those gaps (NaN with fewer than three orders)
first_gap_days      float     days from first to second occasion (NaN with one order)
gross_revenue       float     sum of purchase lines
refunds             float     sum of refund lines, as a positive number
revenue             float     gross_revenue - refunds (net)
margin              float     net margin (from a margin column, or amount - cost); NaN if unknown
avg_order_value     float     gross_revenue / orders
repeat_avg_value    float     mean value of the repeat occasions (NaN with one order)
referred_by         str       the customer who referred this one ("" if none)
referrals           int       customers whose referred-by points at this customer
owner               str       account owner on the latest order line that names one ("" if none)
==================  ========  ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd


@dataclass
class SummaryResult:
    customers: pd.DataFrame
    orders_after_as_of: int
    customers_without_purchases: int
    has_amount: bool
    has_margin: bool


def summarize(orders: pd.DataFrame, as_of: date) -> SummaryResult:
    """Build the per-customer summary from the orders frame, counting only orders up to ``as_of``."""
    cutoff = pd.Timestamp(as_of)
    in_window = orders["order_date"] <= cutoff
    after = int((~in_window).sum())
    orders = orders.loc[in_window]
    has_amount = bool(orders["amount"].notna().any())
    has_margin = "margin" in orders or "cost" in orders
    amount = orders["amount"].fillna(0.0) if has_amount else pd.Series(0.0, index=orders.index)
    if "margin" in orders:
        margin = orders["margin"].fillna(0.0)
    elif "cost" in orders:
        margin = amount - orders["cost"].fillna(0.0)
    else:
        margin = pd.Series(np.nan, index=orders.index)

    kind = orders["kind"]
    purchase = kind == "purchase"
    lines = pd.DataFrame({
        "customer_id": orders["customer_id"],
        "order_date": orders["order_date"],
        "gross": amount.where(purchase, 0.0),
        "refund": (-amount).where(kind == "refund", 0.0),
        "margin": margin.where(kind != "cancelled", 0.0),
        "purchase": purchase,
    })

    occasions = (
        lines[purchase]
        .groupby(["customer_id", "order_date"], sort=True, observed=True)["gross"]
        .sum()
        .reset_index()
    )
    grouped = occasions.groupby("customer_id", sort=True)
    gaps = grouped["order_date"].diff().dt.days
    occasions["gap"] = gaps
    occasions["occasion_no"] = grouped.cumcount()
    per = occasions.groupby("customer_id", sort=True)
    cust = pd.DataFrame({
        "first_order": per["order_date"].min(),
        "last_order": per["order_date"].max(),
        "orders": per.size().astype("int64"),
        "gap_median_days": per["gap"].median(),
        "gap_spread_days": per["gap"].std(),
        "gross_revenue": per["gross"].sum(),
    })
    second = occasions[occasions["occasion_no"] == 1].set_index("customer_id")["gap"]
    cust["first_gap_days"] = second.reindex(cust.index)
    repeats = occasions[occasions["occasion_no"] >= 1]
    cust["repeat_avg_value"] = repeats.groupby("customer_id")["gross"].mean().reindex(cust.index)

    money = lines.groupby("customer_id", sort=True)[["refund", "margin"]].sum(min_count=1)
    cust["refunds"] = money["refund"].reindex(cust.index).fillna(0.0)
    cust["revenue"] = cust["gross_revenue"] - cust["refunds"]
    cust["margin"] = money["margin"].reindex(cust.index) if has_margin else np.nan
    cust["frequency"] = cust["orders"] - 1
    cust["recency_days"] = (cust["last_order"] - cust["first_order"]).dt.days.astype("int64")
    cust["age_days"] = (cutoff - cust["first_order"]).dt.days.astype("int64")
    cust["days_since_last"] = (cutoff - cust["last_order"]).dt.days.astype("int64")
    cust["avg_order_value"] = cust["gross_revenue"] / cust["orders"]
    if not has_amount:
        cust[["gross_revenue", "refunds", "revenue", "avg_order_value", "repeat_avg_value"]] = np.nan

    cust["referred_by"] = _latest_text(orders, "referred_by", cust.index)
    cust["referrals"] = _referrals(cust["referred_by"], cust.index)
    cust["owner"] = _latest_text(orders, "owner", cust.index)
    cust.index.name = "customer_id"
    all_customers = orders["customer_id"].nunique()
    return SummaryResult(
        customers=cust,
        orders_after_as_of=after,
        customers_without_purchases=int(all_customers - len(cust)),
        has_amount=has_amount,
        has_margin=has_margin,
    )


def _referrals(referred_by: pd.Series, index: pd.Index) -> pd.Series:
    """How many customers name each customer as their referrer (self-references ignored)."""
    ref = referred_by[(referred_by != "") & (referred_by != referred_by.index)]
    return ref.groupby(ref).size().reindex(index, fill_value=0).astype("int64")


def _latest_text(orders: pd.DataFrame, column: str, index: pd.Index) -> pd.Series:
    if column not in orders:
        return pd.Series("", index=index, dtype="str")
    named = orders.loc[orders[column].fillna("") != "", ["customer_id", "order_date", column]]
    latest = named.sort_values("order_date", kind="stable").drop_duplicates("customer_id", keep="last")
    return latest.set_index("customer_id")[column].reindex(index).fillna("")
