"""The out-of-core summary engine: the same summary in DuckDB SQL (the ``winback[duckdb]`` extra).

DuckDB streams the orders and spills to disk, so the order table may be larger than memory: give
it the path of a Parquet file in the orders-frame contract, or an orders frame. Only the customer
summary (one row per customer) comes back into memory.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from winback.errors import ConfigError
from winback.summary import LAST_YEAR_DAYS, SummaryResult

_SQL = """
WITH lines AS (
    SELECT customer_id, CAST(order_date AS DATE) AS day, kind, _row,
           {amount} AS amount, {margin} AS margin, {referred_by} AS referred_by, {owner} AS owner
    FROM orders WHERE order_date <= $cutoff
), occasions AS (
    SELECT customer_id, day, sum(amount) AS gross FROM lines WHERE kind = 'purchase' GROUP BY ALL
), numbered AS (
    SELECT *, day - lag(day) OVER w AS gap, row_number() OVER w - 1 AS occasion_no
    FROM occasions WINDOW w AS (PARTITION BY customer_id ORDER BY day)
), per AS (
    SELECT customer_id, min(day) AS first_order, max(day) AS last_order, count(*) AS orders,
           median(gap) AS gap_median_days, stddev_samp(gap) AS gap_spread_days,
           sum(gross) AS gross_revenue,
           max(gap) FILTER (WHERE occasion_no = 1) AS first_gap_days,
           avg(gross) FILTER (WHERE occasion_no >= 1) AS repeat_avg_value,
           count(*) FILTER (WHERE day > $last_year_start) AS last_year_occasions
    FROM numbered GROUP BY customer_id
), money AS (
    SELECT customer_id,
           sum(CASE WHEN kind = 'refund' THEN -amount ELSE 0 END) AS refunds,
           sum(CASE WHEN kind = 'cancelled' THEN 0 ELSE margin END) AS margin,
           sum(CASE WHEN kind <> 'cancelled' AND day > $last_year_start THEN {value} ELSE 0 END) AS recent_value,
           arg_max(referred_by, (day, _row)) FILTER (WHERE referred_by <> '') AS referred_by,
           arg_max(owner, (day, _row)) FILTER (WHERE owner <> '') AS owner
    FROM lines GROUP BY customer_id
)
SELECT per.*, money.refunds, money.margin, money.recent_value, coalesce(money.referred_by, '') AS referred_by,
       coalesce(money.owner, '') AS owner
FROM per JOIN money USING (customer_id) ORDER BY customer_id
"""


def summarize_duckdb(orders: pd.DataFrame | str, as_of: date) -> SummaryResult:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("the duckdb summary engine needs the duckdb extra: pip install 'winback[duckdb]'") \
            from exc
    con = duckdb.connect()
    if isinstance(orders, pd.DataFrame):
        columns = list(orders.columns)
        frame = orders.assign(_row=np.arange(len(orders)))  # noqa: F841 - read by DuckDB by name
        con.execute("CREATE VIEW orders AS SELECT * FROM frame")
    else:
        path = str(orders).replace("'", "''")  # (a view takes no parameters: DuckDB 2 refuses them)
        con.execute("CREATE VIEW orders AS SELECT *, file_row_number AS _row "
                    f"FROM read_parquet('{path}', file_row_number = true)")
        columns = [row[0] for row in con.execute("DESCRIBE orders").fetchall()]
    cutoff = pd.Timestamp(as_of).to_pydatetime()
    has_amount = bool(con.execute("SELECT count(amount) FILTER (WHERE NOT isnan(amount)) > 0 FROM orders "
                                  "WHERE order_date <= $cutoff", {"cutoff": cutoff}).fetchone()[0])
    has_margin = "margin" in columns or "cost" in columns
    amount = "coalesce(nullif(amount, 'NaN'::DOUBLE), 0)" if has_amount else "0.0"
    if "margin" in columns:
        margin = "coalesce(nullif(margin, 'NaN'::DOUBLE), 0)"
    elif "cost" in columns:
        margin = f"{amount} - coalesce(nullif(cost, 'NaN'::DOUBLE), 0)"
    else:
        margin = "CAST(NULL AS DOUBLE)"
    text = {c: (f"coalesce({c}, '')" if c in columns else "''") for c in ("referred_by", "owner")}
    sql = _SQL.format(amount=amount, margin=margin, value="margin" if has_margin else "amount", **text)
    start = (pd.Timestamp(as_of) - pd.Timedelta(days=LAST_YEAR_DAYS)).date()
    cust = con.execute(sql, {"cutoff": cutoff, "last_year_start": start}).df()
    after, customers = con.execute(
        "SELECT count(*) FILTER (WHERE order_date > $cutoff), "
        "count(DISTINCT customer_id) FILTER (WHERE order_date <= $cutoff) FROM orders", {"cutoff": cutoff}
    ).fetchone()
    con.close()
    return SummaryResult(
        customers=_shape(cust, has_amount, has_margin, pd.Timestamp(as_of)),
        orders_after_as_of=int(after),
        customers_without_purchases=int(customers - len(cust)),
        has_amount=has_amount,
        has_margin=has_margin,
    )


def _shape(raw: pd.DataFrame, has_amount: bool, has_margin: bool, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The SQL result in the summary contract's columns, dtypes and order."""
    first = pd.to_datetime(raw["first_order"]).astype("datetime64[ns]").to_numpy()
    last = pd.to_datetime(raw["last_order"]).astype("datetime64[ns]").to_numpy()
    orders = raw["orders"].to_numpy(dtype="int64")
    gross = raw["gross_revenue"].to_numpy(dtype="float64")
    refunds = raw["refunds"].to_numpy(dtype="float64")
    day = np.timedelta64(1, "D")
    cust = pd.DataFrame({
        "first_order": first,
        "last_order": last,
        "orders": orders,
        "gap_median_days": raw["gap_median_days"].to_numpy(dtype="float64"),
        "gap_spread_days": raw["gap_spread_days"].to_numpy(dtype="float64"),
        "gross_revenue": gross,
        "first_gap_days": raw["first_gap_days"].to_numpy(dtype="float64"),
        "repeat_avg_value": raw["repeat_avg_value"].to_numpy(dtype="float64"),
        "refunds": refunds,
        "revenue": gross - refunds,
        "margin": raw["margin"].to_numpy(dtype="float64") if has_margin else np.nan,
        "frequency": orders - 1,
        "recency_days": ((last - first) // day).astype("int64"),
        "age_days": ((cutoff.to_datetime64() - first) // day).astype("int64"),
        "days_since_last": ((cutoff.to_datetime64() - last) // day).astype("int64"),
        "avg_order_value": gross / orders,
        "recent_value": raw["recent_value" if has_amount else "last_year_occasions"].to_numpy(dtype="float64"),
    }, index=pd.Index(raw["customer_id"].to_numpy(dtype=object), dtype="str", name="customer_id"))
    if not has_amount:
        cust[["gross_revenue", "refunds", "revenue", "avg_order_value", "repeat_avg_value"]] = np.nan
    cust["referred_by"] = pd.Series(raw["referred_by"].to_numpy(dtype=object), index=cust.index, dtype="str")
    ref = cust["referred_by"][(cust["referred_by"] != "") & (cust["referred_by"] != cust.index)]
    cust["referrals"] = ref.groupby(ref).size().reindex(cust.index, fill_value=0).astype("int64").to_numpy()
    cust["owner"] = pd.Series(raw["owner"].to_numpy(dtype=object), index=cust.index, dtype="str")
    return cust
