"""Stage 2: orders -> one row per customer, as of a date.

Purchase *occasions* are what the models count: all purchase lines of one customer on one day are
merged into one occasion (as in the BTYD literature). Refunds lower a customer's net revenue but are
never occasions; cancelled lines count for nothing.

Two engines compute the same summary (tests/test_engines.py): ``pandas`` (the default; groupby and
numpy on integer customer codes, so each id string is hashed once) and ``duckdb`` (the optional
``winback[duckdb]`` extra; SQL, out of core, for order tables larger than memory: it also takes the
path of a Parquet file of orders in the orders-frame contract).

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
recent_value        float     value in the 365 days up to the as-of date: net margin when known,
                              else net revenue (cancelled lines count for nothing), else purchase
                              occasions; what the shop loses in a year if the customer stops
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

#: The window of ``recent_value``, in days up to and including the as-of date.
LAST_YEAR_DAYS = 365
#: Engines that can build the summary; ``duckdb`` needs the ``winback[duckdb]`` extra.
ENGINES = ("pandas", "duckdb")


@dataclass
class SummaryResult:
    customers: pd.DataFrame
    orders_after_as_of: int
    customers_without_purchases: int
    has_amount: bool
    has_margin: bool


def summarize(orders: pd.DataFrame | str, as_of: date, engine: str = "pandas",
              customer_order: np.ndarray | None = None) -> SummaryResult:
    """Build the per-customer summary from the orders frame, counting only orders up to ``as_of``.

    ``orders`` is the orders frame, or (``duckdb`` engine only) the path of a Parquet file holding it.
    ``customer_order``: ``LoadedOrders.customer_order`` of these orders, if any (pandas engine: it may
    spare a sort; the summary is the same with or without it).
    """
    if engine == "pandas":
        from winback.summary.pandas_engine import summarize_pandas

        if not isinstance(orders, pd.DataFrame):
            orders = pd.read_parquet(orders)
        return summarize_pandas(orders, as_of, customer_order)
    if engine == "duckdb":
        from winback.summary.duckdb_engine import summarize_duckdb

        return summarize_duckdb(orders, as_of)
    raise ValueError(f"unknown summary engine '{engine}'; engines: {', '.join(ENGINES)}")


__all__ = ["ENGINES", "LAST_YEAR_DAYS", "SummaryResult", "summarize"]
