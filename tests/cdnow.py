"""Test helper: load the public CDNOW sample and build the Fader-Hardie RFM summary.

The sample (``tests/data/CDNOW_sample.txt``) holds 6,919 order lines of 2,357 customers who first
bought at CDNOW in Q1 1997, observed until 1998-06-30. Columns: customer id, sample id, date
(yyyymmdd), quantity, amount.

Conventions (those of Fader, Hardie & Lee 2005 and of the ``lifetimes`` CDNOW summary):

* time unit is the week (days / 7);
* several orders on the same day count as one transaction (their amounts are added);
* frequency ``x`` = distinct purchase days in the calibration period minus one (repeat purchases);
* recency ``t_x`` = last purchase day - first purchase day;
* ``T`` = calibration end - first purchase day (38.86 weeks for a customer who began on 1997-01-01);
* monetary value = mean day total of the repeat purchase days (first day excluded), 0 if x = 0;
* holdout = number of distinct purchase days after the calibration end, up to ``holdout_end``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA = Path(__file__).parent / "data" / "CDNOW_sample.txt"


def load_cdnow_sample(path: Path = DATA) -> pd.DataFrame:
    """Order lines: ``customer_id`` (str), ``date`` (datetime64), ``quantity``, ``amount``."""
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["customer_id", "sample_id", "date", "quantity", "amount"],
        dtype={"customer_id": str, "sample_id": str, "date": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw[["customer_id", "date", "quantity", "amount"]]


def cdnow_rfm(
    calibration_end: str = "1997-09-30", holdout_end: str = "1998-06-30"
) -> pd.DataFrame:
    """Per-customer ``frequency``, ``recency``, ``T``, ``monetary_value`` and ``holdout`` (weeks).

    Customers whose first purchase is after ``calibration_end`` are left out.
    """
    cal_end = pd.Timestamp(calibration_end)
    hold_end = pd.Timestamp(holdout_end)
    orders = load_cdnow_sample()
    days = orders.groupby(["customer_id", "date"], as_index=False)["amount"].sum()
    first = days.groupby("customer_id")["date"].transform("min")
    days = days[first <= cal_end].assign(first=first[first <= cal_end])

    cal = days[days["date"] <= cal_end]
    grouped = cal.groupby("customer_id")
    out = pd.DataFrame(
        {
            "frequency": grouped["date"].size() - 1,
            "recency": (grouped["date"].max() - grouped["first"].min()).dt.days / 7.0,
            "T": (cal_end - grouped["first"].min()).dt.days / 7.0,
        }
    )
    repeat = cal[cal["date"] > cal["first"]]
    out["monetary_value"] = repeat.groupby("customer_id")["amount"].mean()
    out["monetary_value"] = out["monetary_value"].fillna(0.0)

    hold = days[(days["date"] > cal_end) & (days["date"] <= hold_end)]
    out["holdout"] = hold.groupby("customer_id").size()
    out["holdout"] = out["holdout"].fillna(0).astype("int64")
    out["frequency"] = out["frequency"].astype("int64")
    return out
