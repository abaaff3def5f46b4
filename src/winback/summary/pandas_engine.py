"""The in-memory summary engine: pandas groupby and numpy on integer customer codes.

Customer ids are turned into integer codes once, in their sorted order (the summary's index order),
and every groupby after that runs on those codes and on dates as day numbers: no string is hashed
or compared again, and nothing per order is copied into a new frame of strings.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback.summary import SummaryResult

_DAY = np.timedelta64(1, "D")


def customer_codes(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """(code per row, distinct ids): codes number the ids in sorted (code point) order."""
    codes, uniques = pd.factorize(ids, sort=False)
    distinct = pa.array(np.asarray(uniques, dtype=object), type=pa.large_string())
    order = pc.array_sort_indices(distinct).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    index = pd.Index(distinct.take(pa.array(order)).to_pandas(), dtype="str", name="customer_id")
    return rank[codes], index


def summarize_pandas(orders: pd.DataFrame, as_of: date) -> SummaryResult:
    cutoff = pd.Timestamp(as_of)
    dates = orders["order_date"].to_numpy(dtype="datetime64[ns]")
    in_window = dates <= cutoff.to_datetime64()
    after = int((~in_window).sum())
    codes, ids = customer_codes(orders["customer_id"][in_window])
    day = ((dates[in_window] - np.datetime64("1970-01-01", "ns")) // _DAY).astype(np.int64)
    kind = orders["kind"][in_window]
    purchase = (kind == "purchase").to_numpy()
    refund_line = (kind == "refund").to_numpy()
    cancelled = (kind == "cancelled").to_numpy()
    amount_all = orders["amount"].to_numpy(dtype="float64")[in_window]
    has_amount = bool(np.isfinite(amount_all).any()) if len(amount_all) else False
    has_margin = "margin" in orders or "cost" in orders
    amount = np.nan_to_num(amount_all, nan=0.0) if has_amount else np.zeros(len(day))
    if "margin" in orders:
        margin = np.nan_to_num(orders["margin"].to_numpy(dtype="float64")[in_window], nan=0.0)
    elif "cost" in orders:
        margin = amount - np.nan_to_num(orders["cost"].to_numpy(dtype="float64")[in_window], nan=0.0)
    else:
        margin = np.full(len(day), np.nan)

    # Occasions: purchase lines of one customer on one day, in (customer, day) order.
    # One int64 key per (customer, day): a single-key groupby, sorted by customer, then day.
    first_day_all = int(day.min()) if len(day) else 0
    span = int(day.max()) - first_day_all + 1 if len(day) else 1
    key = codes[purchase] * span + (day[purchase] - first_day_all)
    gross = pd.Series(amount[purchase]).groupby(key, sort=True).sum()
    occ_key = gross.index.to_numpy()
    occ_code, occ_day = occ_key // span, occ_key % span + first_day_all
    occ = pd.DataFrame({"code": occ_code, "day": occ_day, "gross": gross.to_numpy()})
    new_customer = np.r_[True, occ_code[1:] != occ_code[:-1]] if len(occ) else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(new_customer)
    occasion_no = np.arange(len(occ)) - np.repeat(starts, np.diff(np.r_[starts, len(occ)]))
    gap = np.where(new_customer, np.nan, np.r_[np.nan, np.diff(occ_day).astype(float)])
    occ["gap"] = gap
    per = occ.groupby("code", sort=True)
    buyers = occ_code[starts]
    first_day = occ_day[starts]
    last_day = occ_day[np.r_[starts[1:] - 1, len(occ) - 1]] if len(occ) else np.zeros(0, np.int64)
    n_orders = np.diff(np.r_[starts, len(occ)]).astype(np.int64)
    index = ids[buyers] if len(buyers) else pd.Index([], dtype="str", name="customer_id")
    cust = pd.DataFrame({
        "first_order": _as_dates(first_day, orders["order_date"].dtype),
        "last_order": _as_dates(last_day, orders["order_date"].dtype),
        "orders": n_orders,
        "gap_median_days": per["gap"].median().to_numpy(),
        "gap_spread_days": per["gap"].std().to_numpy(),
        "gross_revenue": per["gross"].sum().to_numpy(),
    }, index=index)
    second = occasion_no == 1
    first_gap = np.full(len(buyers), np.nan)
    first_gap[np.searchsorted(buyers, occ_code[second])] = gap[second]
    cust["first_gap_days"] = first_gap
    repeat = occasion_no >= 1
    repeat_mean = occ[repeat].groupby("code", sort=True)["gross"].mean()
    cust["repeat_avg_value"] = repeat_mean.reindex(buyers).to_numpy()

    lines = pd.DataFrame({"code": codes, "refund": np.where(refund_line, -amount, 0.0),
                          "margin": np.where(cancelled, 0.0, margin)})
    money = lines.groupby("code", sort=True)[["refund", "margin"]].sum(min_count=1).reindex(buyers)
    cust["refunds"] = money["refund"].fillna(0.0).to_numpy()
    cust["revenue"] = cust["gross_revenue"] - cust["refunds"]
    cust["margin"] = money["margin"].to_numpy() if has_margin else np.nan
    cust["frequency"] = cust["orders"] - 1
    cust["recency_days"] = (last_day - first_day).astype("int64")
    cutoff_day = int((cutoff.to_datetime64() - np.datetime64("1970-01-01", "ns")) // _DAY)
    cust["age_days"] = (cutoff_day - first_day).astype("int64")
    cust["days_since_last"] = (cutoff_day - last_day).astype("int64")
    cust["avg_order_value"] = cust["gross_revenue"] / cust["orders"]
    if not has_amount:
        cust[["gross_revenue", "refunds", "revenue", "avg_order_value", "repeat_avg_value"]] = np.nan

    window = orders.loc[in_window] if ("referred_by" in orders or "owner" in orders) else None
    cust["referred_by"] = pd.Series(_latest_text(window, codes, day, "referred_by", buyers), index=cust.index,
                                    dtype="str")
    cust["referrals"] = _referrals(cust["referred_by"], cust.index)
    cust["owner"] = pd.Series(_latest_text(window, codes, day, "owner", buyers), index=cust.index, dtype="str")
    cust.index.name = "customer_id"
    return SummaryResult(
        customers=cust,
        orders_after_as_of=after,
        customers_without_purchases=int(len(ids) - len(cust)),
        has_amount=has_amount,
        has_margin=has_margin,
    )


def _as_dates(days: np.ndarray, like: np.dtype) -> np.ndarray:
    """Day numbers as dates in the input's datetime unit (the importer gives ns)."""
    unit = np.datetime_data(like)[0] if np.dtype(like).kind == "M" else "ns"
    return (np.datetime64("1970-01-01", "D") + days.astype("timedelta64[D]")).astype(f"datetime64[{unit}]")


def _referrals(referred_by: pd.Series, index: pd.Index) -> pd.Series:
    """How many customers name each customer as their referrer (self-references ignored)."""
    ref = referred_by[(referred_by != "") & (referred_by != referred_by.index)]
    return ref.groupby(ref).size().reindex(index, fill_value=0).astype("int64").to_numpy()


def _latest_text(window: pd.DataFrame | None, codes: np.ndarray, day: np.ndarray, column: str,
                 buyers: np.ndarray) -> np.ndarray:
    """Per buyer, the value on their latest order line (by date, then file order) that has one."""
    if window is None or column not in window:
        return np.full(len(buyers), "", dtype=object)
    values = window[column].fillna("")
    named = (values != "").to_numpy()
    latest = pd.DataFrame({"code": codes[named], "day": day[named], "value": values[named].to_numpy()})
    latest = latest.sort_values("day", kind="stable").drop_duplicates("code", keep="last")
    return latest.set_index("code")["value"].reindex(buyers).fillna("").to_numpy()
