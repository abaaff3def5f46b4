"""Why is this customer (not) on the list? One customer's timeline, numbers, scores and rank."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from winback._sorting import member_mask
from winback.errors import InputDataError
from winback.pipeline import ScanResult
from winback.segments import reasons


@dataclass
class Explanation:
    customer_id: str
    timeline: pd.DataFrame  # order lines: date, kind, amount, product (when present), source line
    numbers: dict[str, object]  # summary and scores, rounded for people
    segment: str
    reason: str
    rank: int | None  # position on the full call list, None when not listed
    listed_because: str

    def to_dict(self) -> dict:
        timeline = self.timeline.copy()
        timeline["order_date"] = timeline["order_date"].dt.strftime("%Y-%m-%d")
        return {
            "customer_id": self.customer_id,
            "segment": self.segment,
            "reason": self.reason,
            "rank": self.rank,
            "listed_because": self.listed_because,
            "numbers": self.numbers,
            "timeline": timeline.to_dict(orient="records"),
        }


_NUMBERS = (
    ("first_order", "first order"), ("last_order", "last order"), ("orders", "purchase occasions"),
    ("days_since_last", "days since last order"), ("gap_median_days", "median gap (days)"),
    ("expected_gap_days", "usual gap used (days)"), ("overdue_ratio", "times the usual gap"),
    ("revenue", "net revenue"), ("refunds", "refunds"), ("margin", "net margin"),
    ("avg_order_value", "average order value"), ("referrals", "customers referred"), ("owner", "owner"),
    ("p_alive", "P(still active)"), ("p_no_purchase", "P(no purchase in horizon)"),
    ("annual_value", "yearly value while active"), ("expected_value", "expected value next year"),
    ("value_at_risk", "value at risk"), ("priority", "priority"),
)


def explain(result: ScanResult, customer_id: str) -> Explanation:
    """Explain one customer of a scan made with ``top=None`` (the full ranking) and either
    ``explain_ids`` naming the customer (their orders and call-list row alone: what ``winback
    explain`` runs) or ``keep_orders=True`` (every order and row)."""
    if result.orders is None:
        raise ValueError("explain() needs a scan made with ScanOptions(explain_ids=(customer_id,)) "
                         "or ScanOptions(keep_orders=True)")
    cid = customer_id.strip()
    scores = result.scores
    # Found by Arrow: pandas' lookups would build a hash table of every id (about 0.3 s and 200 MB
    # for the 3.6 million customers of ten million orders) to find one.
    at = np.flatnonzero(member_mask(scores.index, [cid]))
    if not len(at):
        if (result.orders["customer_id"] == cid).any():
            raise InputDataError(
                f"customer {cid} has no purchases up to {result.as_of} (only refunds, cancellations or later "
                "orders), so there is nothing to score."
            )
        raise InputDataError(
            f"customer {cid} is not in the file. Ids are compared exactly as written (00042 is not 42); "
            "check the id in the call list or with 'winback inspect'."
        )
    row = scores.iloc[at[0]]
    numbers: dict[str, object] = {}
    for key, label in _NUMBERS:
        value = row.get(key)
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            continue
        if isinstance(value, pd.Timestamp):
            value = value.date().isoformat()
        elif isinstance(value, float):
            value = round(value, 3 if key.startswith("p_") else 2)
        elif hasattr(value, "item"):
            value = value.item()
        numbers[label] = value
    mine = result.orders[(result.orders["customer_id"] == cid)
                         & (result.orders["order_date"] <= pd.Timestamp(result.as_of))]
    cols = [c for c in ("order_date", "kind", "amount", "product", "source", "line") if c in mine]
    timeline = mine[cols].sort_values(["order_date", "line"], kind="stable").reset_index(drop=True)
    ranked = result.call_list.rows
    hit = ranked.index[ranked["customer_id"] == cid]
    rank = int(ranked.loc[hit[0], "rank"]) if len(hit) else None
    if rank is not None:
        because = f"listed at rank {rank}: lapsed and worth calling"
    elif not row["lapsed"]:
        because = "not listed: has not lapsed (still within their rhythm, or likely to buy on their own)"
    else:
        because = "not listed: lapsed, but costs more than they bring (net revenue or margin not above zero)"
    text = reasons(scores.iloc[at[:1]], currency=result.currency, has_amount=result.has_amount,
                   median_second_days=result.model.second_purchase.get("median_days_to_second_purchase"))
    return Explanation(cid, timeline, numbers, str(row["segment"]), str(text.iloc[0]), rank, because)
