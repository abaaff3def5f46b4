"""Nightly runs: cooldown, the control group, the nightly diff and the outcomes of past lists.

Pure functions over frames; the state database (:mod:`winback.state`) supplies the history and
stores the results, the CLI resolves the dates. Definitions (docs/nightly.md has the user's view):

- **Cooldown.** A customer put on a list, or held out as control, in the ``cooldown_days`` before the
  as-of date is not a candidate tonight. A *called* customer comes back early when their situation
  changed materially since that list (:func:`changed_materially`). Control customers always sit out
  the whole cooldown, so the control group stays uncalled.
- **Control group.** Of the customers who would be on tonight's list (after cooldown, filters, the
  per-owner cap and ``--top``), each is held out with probability ``control_share``, decided by a hash
  of the as-of date and the customer id: the same day gives the same draw, so reruns are idempotent.
  The list is then filled up from the next in line. Held-out customers are recorded with their
  would-be rank and appear in no file. The called customers who would have been listed anyway and the
  control customers form the comparison (``compared``): the two differ only by the coin toss.
- **Came back.** A first purchase after the list date, within ``outcome_days`` of it and before the
  customer's next list; revenue recovered is the net revenue (purchases minus refunds) in that window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback._sorting import all_digits, as_text, digit_keys, member_mask, strings_in_order

#: Priority at least this many times the priority when last listed is a material change.
PRIORITY_RISE = 1.5
#: How far gone a segment is; moving to a higher number is a material change.
SEGMENT_SEVERITY = {"one-time": 1, "hibernating": 1, "at risk": 2, "can't lose": 3, "lost": 4}
CONTACT_OUTCOMES = ("reached", "no-answer", "wrong-number", "declined")


@dataclass
class NightlyOptions:
    cooldown_days: int = 30
    control_share: float = 0.10
    ignore_cooldown: bool = False


@dataclass
class History:
    """What the state knows before tonight: recent assignments and the last lapsed snapshot."""

    assignments: pd.DataFrame  # winback.state.ASSIGNMENT_COLUMNS, list dates before the as-of date
    previous_as_of: date | None = None
    previous_lapsed: Sequence[str] | pa.Array = field(default_factory=list)  # the ids, any order


@dataclass
class NightlyDiff:
    """Customer ids in code point order, as Arrow text: a million lapsed customers as Python strings
    would cost hundreds of megabytes."""

    previous_as_of: date | None
    newly_lapsed: pa.Array
    came_back: pa.Array
    still_lapsed: pa.Array

    def to_dict(self, arrow_ids: bool = False) -> dict:
        """``arrow_ids``: the id lists as the Arrow arrays they are, for
        :func:`winback.writers.write_json` (millions of ids as Python strings cost hundreds of
        MB)."""
        return {
            "previous_as_of": None if self.previous_as_of is None else self.previous_as_of.isoformat(),
            **{name: {"count": len(ids), "customer_ids": ids if arrow_ids else ids.to_pylist()}
               for name, ids in
               (("newly_lapsed", self.newly_lapsed), ("came_back", self.came_back),
                ("still_lapsed", self.still_lapsed))},
        }


@dataclass
class Night:
    """Tonight's nightly decisions, ready to be stored."""

    options: NightlyOptions
    cooldown: list[str]  # candidates left off: listed or held out within the cooldown
    relisted: list[str]  # in the cooldown window, but listed again: their situation changed
    control: pd.DataFrame  # held out: customer_id, rank (would-be), priority, value_at_risk, segment, owner
    assignments: pd.DataFrame  # called and control rows for the state (winback.state.ASSIGNMENT_COLUMNS)
    diff: NightlyDiff
    lapsed: pa.Array  # everyone lapsed tonight, in code point order (for tomorrow's diff)

    def to_dict(self, arrow_ids: bool = False) -> dict:
        return {
            "cooldown": {"days": 0 if self.options.ignore_cooldown else self.options.cooldown_days,
                         "left_off": len(self.cooldown), "listed_again": len(self.relisted),
                         "listed_again_ids": self.relisted},
            "control_group": {"share": self.options.control_share, "held_out": len(self.control),
                              "customer_ids": self.control["customer_id"].tolist()},
            "diff": self.diff.to_dict(arrow_ids),
        }


# --- cooldown ----------------------------------------------------------------------------------------

def recent(assignments: pd.DataFrame, as_of: date, days: int) -> pd.DataFrame:
    """Each customer's latest assignment within ``days`` before ``as_of`` (the as-of day excluded)."""
    start = pd.Timestamp(as_of - timedelta(days=days))
    window = assignments[(assignments["list_date"] >= start) & (assignments["list_date"] < pd.Timestamp(as_of))]
    return window.sort_values(["customer_id", "list_date"]).drop_duplicates("customer_id", keep="last") \
        .set_index("customer_id")


def changed_materially(now: pd.DataFrame, then: pd.DataFrame, orders: pd.DataFrame) -> pd.Series:
    """Per customer of ``then`` (indexed by id): priority rose by half or more, the segment moved to a
    more severe one (:data:`SEGMENT_SEVERITY`), or a refund was booked after the list date."""
    cur = now.reindex(then.index)
    rose = cur["priority"].to_numpy(dtype=float) >= PRIORITY_RISE * then["priority"].fillna(np.inf).to_numpy()
    sev_now = cur["segment"].map(SEGMENT_SEVERITY).fillna(0).to_numpy()
    sev_then = then["segment"].map(SEGMENT_SEVERITY).fillna(0).to_numpy()
    refund_lines = orders.loc[(orders["kind"] == "refund").to_numpy(dtype=bool), ["customer_id", "order_date"]]
    refunds = refund_lines[member_mask(refund_lines["customer_id"], then.index)]
    latest_refund = refunds["order_date"].groupby(refunds["customer_id"].astype("str").to_numpy()).max() \
        .reindex(then.index)
    refunded = (latest_refund > then["list_date"]).to_numpy(dtype=bool)
    return pd.Series(rose | (sev_now > sev_then) | refunded, index=then.index)


def cooldown(candidates: pd.DataFrame, history: pd.DataFrame, orders: pd.DataFrame, as_of: date,
             options: NightlyOptions) -> tuple[list[str], list[str]]:
    """Candidates (indexed by id, with priority and segment) to leave off, and those listed again."""
    if options.ignore_cooldown or options.cooldown_days <= 0 or history.empty:
        return [], []
    last = recent(history, as_of, options.cooldown_days)
    # Candidates can be a million: pick the few with a recent assignment without a pandas hash of them.
    now = candidates[member_mask(candidates.index, last.index)]
    last = last.reindex(now.index)
    changed = changed_materially(now, last, orders) & (last["arm"] == "called")
    return sorted(last.index[~changed.to_numpy()]), sorted(last.index[changed.to_numpy()])


# --- control group -----------------------------------------------------------------------------------

def draw(ids: Sequence[str], as_of: date, share: float) -> np.ndarray:
    """True for the customers held out tonight: a uniform number from SHA-256(as-of date, id) < share."""
    if share <= 0:
        return np.zeros(len(ids), dtype=bool)
    day = as_of.isoformat()
    u = np.array([int.from_bytes(hashlib.sha256(f"{day}|{cid}".encode()).digest()[:8], "big") / 2**64
                  for cid in ids], dtype=float)
    return u < share


def assignment_rows(rows: pd.DataFrame, arm: str, compared: np.ndarray) -> pd.DataFrame:
    """Call-list rows as assignment rows for the state (without the list date)."""
    return pd.DataFrame({
        "customer_id": rows["customer_id"].astype("str").to_numpy(),
        "arm": arm,
        "rank": rows["rank"].to_numpy(dtype="int64"),
        "compared": compared.astype("int64"),
        "priority": rows["priority"].to_numpy(dtype=float),
        "value_at_risk": rows["value_at_risk"].to_numpy(dtype=float),
        "segment": rows["segment"].astype("str").to_numpy(),
        "owner": rows["owner"].astype("str").to_numpy(),
        "last_order": rows["last_order_date"].astype("str").to_numpy(),
    })


# --- nightly diff ------------------------------------------------------------------------------------

def nightly_diff(lapsed: Sequence[str] | pa.Array, history: History, orders: pd.DataFrame,
                 as_of: date) -> NightlyDiff:
    """Against the last run before tonight: who lapsed since, who bought again, who is still lapsed."""
    if history.previous_as_of is None:
        none = pa.array([], type=pa.large_string())
        return NightlyDiff(None, none, none, none)
    before, now = _sorted_text(history.previous_lapsed), _sorted_text(lapsed)
    bought = orders[(orders["kind"] == "purchase") & (orders["order_date"] > pd.Timestamp(history.previous_as_of))
                    & (orders["order_date"] <= pd.Timestamp(as_of))]
    in_before, still_lapsed = _found_in(now, before)
    came_back = member_mask(before, bought["customer_id"])
    still = still_lapsed & ~came_back
    return NightlyDiff(history.previous_as_of, now.filter(pa.array(~in_before)),
                       before.filter(pa.array(came_back)), before.filter(pa.array(still)))


def _found_in(now: pa.Array, before: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(a flag per id of ``now``: it is in ``before``; a flag per id of ``before``: it is in ``now``),
    both sorted distinct ids. Digit ids (most shops' numbering) become integer keys that order as the
    text does, and a binary search finds them: several times faster than hashing three million strings.
    Other ids: one Arrow hash of last night's ids, where each of tonight's is among them."""
    before_flags = np.zeros(len(before), dtype=bool)
    if not len(now) or not len(before):
        return np.zeros(len(now), dtype=bool), before_flags
    if all_digits(now) and all_digits(before):
        longest = max(pc.max(pc.binary_length(now)).as_py(), pc.max(pc.binary_length(before)).as_py())
        keys_now, keys_before = digit_keys(now, longest), digit_keys(before, longest)
        if bool((keys_before[1:] > keys_before[:-1]).all()):  # sorted and distinct, as the text is
            at = np.searchsorted(keys_before, keys_now)
            np.minimum(at, len(keys_before) - 1, out=at)
            found = keys_before[at] == keys_now
            before_flags[at[found]] = True
            return found, before_flags
    at = pc.index_in(now, value_set=before)
    before_flags[at.filter(at.is_valid()).to_numpy(zero_copy_only=False)] = True
    return at.is_valid().to_numpy(zero_copy_only=False), before_flags


def _sorted_text(ids: Sequence[str] | pa.Array) -> pa.Array:
    """Distinct ids in code point order, as Arrow text."""
    text = as_text(ids)
    if not strings_in_order(text):
        text = pc.unique(text)
        text = text.take(pc.sort_indices(text))
    elif len(text) > 1 and not pc.all(pc.not_equal(text.slice(0, len(text) - 1), text.slice(1))).as_py():
        text = pc.unique(text)  # in order with repeats: unique keeps the order
    return text


# --- outcomes ----------------------------------------------------------------------------------------

@dataclass
class Outcomes:
    as_of: date
    window_days: int
    detail: pd.DataFrame  # one row per assignment: + came_back, first_order, days_to_return, revenue, open
    has_amount: bool
    contact: pd.DataFrame  # latest contact result per (customer, list date)

    def table(self, by: str) -> pd.DataFrame:
        """Per ``by`` value (list_date, segment or owner) and arm: customers, came back, rate, days, revenue."""
        d = self.detail.copy()
        if by == "list_date":
            d[by] = d[by].dt.strftime("%Y-%m-%d")
        g = d.groupby([by, "arm"], sort=True)
        out = pd.DataFrame({
            "customers": g.size(),
            "came_back": g["came_back"].sum().astype("int64"),
            "median_days": g["days_to_return"].median(),
            "revenue": g["revenue"].sum(),
        })
        out["rate"] = out["came_back"] / out["customers"]
        return out.reset_index()

    def comparison(self) -> dict:
        """Called vs. control, among the compared customers (the two differ only by the coin toss)."""
        d = self.detail[self.detail["compared"] == 1]
        arms: dict[str, dict[str, float | int | None]] = {}
        for arm in ("called", "control"):
            part = d[d["arm"] == arm]
            n = len(part)
            arms[arm] = {
                "customers": n,
                "came_back": int(part["came_back"].sum()),
                "rate": None if n == 0 else round(float(part["came_back"].mean()), 4),
                "revenue": round(float(part["revenue"].sum()), 2),
                "revenue_per_customer": None if n == 0 else round(float(part["revenue"].mean()), 2),
            }
        called, control = arms["called"], arms["control"]
        uplift = incremental = None
        if called["customers"] and control["customers"]:
            n_called = int(called["customers"])  # type: ignore[call-overload]
            rates = [float(called["rate"]), float(control["rate"])]  # type: ignore[arg-type]
            per = [float(called["revenue_per_customer"]), float(control["revenue_per_customer"])]  # type: ignore[arg-type]
            uplift = round(rates[0] - rates[1], 4)
            incremental = round((per[0] - per[1]) * n_called, 2)
        return {**arms, "uplift": uplift, "incremental_revenue": incremental}

    def contact_table(self) -> pd.DataFrame:
        """Per recorded contact result: customers and how many came back."""
        if self.contact.empty:
            return pd.DataFrame(columns=["outcome", "customers", "came_back"])
        c = self.contact.copy()
        c["list_date"] = pd.to_datetime(c["list_date"], format="%Y-%m-%d")
        m = c.merge(self.detail[["customer_id", "list_date", "came_back"]], on=["customer_id", "list_date"],
                    how="left")
        m["came_back"] = m["came_back"].fillna(False).astype(bool)
        g = m.groupby("outcome")
        out = pd.DataFrame({"customers": g.size(), "came_back": g["came_back"].sum().astype("int64")})
        return out.reindex([o for o in CONTACT_OUTCOMES if o in out.index]).reset_index()

    def to_dict(self) -> dict:
        d = self.detail
        return {
            "as_of": self.as_of.isoformat(),
            "outcome_days": self.window_days,
            "assignments": len(d),
            "still_open": int(d["open"].sum()),
            "comparison": self.comparison(),
            "by_list_date": _records(self.table("list_date")),
            "by_segment": _records(self.table("segment")),
            "by_owner": _records(self.table("owner")),
            "contact_results": _records(self.contact_table()),
            "customers": _records(d.assign(list_date=d["list_date"].dt.strftime("%Y-%m-%d"),
                                           first_order=d["first_order"].dt.strftime("%Y-%m-%d"))[
                ["list_date", "customer_id", "arm", "rank", "segment", "owner", "came_back", "first_order",
                 "days_to_return", "revenue"]]),
        }


def _records(frame: pd.DataFrame) -> list[dict]:
    clean = frame.astype(object).where(frame.notna(), None)
    out = clean.to_dict(orient="records")
    for rec in out:
        for k, v in rec.items():
            if isinstance(v, float):
                rec[k] = round(v, 4)
            elif isinstance(v, np.integer | np.bool_):
                rec[k] = v.item()
    return out


def outcomes(assignments: pd.DataFrame, orders: pd.DataFrame, as_of: date, *, window_days: int,
             contact: pd.DataFrame | None = None) -> Outcomes:
    """What became of everyone put on (or held out from) a list up to ``as_of``."""
    a = assignments[assignments["list_date"] < pd.Timestamp(as_of)].sort_values(["customer_id", "list_date"])
    a = a.reset_index(drop=True)
    nxt = a.groupby("customer_id")["list_date"].shift(-1)
    end = np.minimum(a["list_date"] + pd.Timedelta(days=window_days), pd.Timestamp(as_of))
    a["end"] = end.where(nxt.isna() | (nxt > end), nxt - pd.Timedelta(days=1))
    a["open"] = (a["list_date"] + pd.Timedelta(days=window_days)) > pd.Timestamp(as_of)
    has_amount = bool(orders["amount"].notna().any()) if "amount" in orders else False
    mine = orders.loc[orders["customer_id"].isin(a["customer_id"]) & orders["kind"].isin(["purchase", "refund"])
                      & (orders["order_date"] <= pd.Timestamp(as_of)), ["customer_id", "order_date", "kind", "amount"]]
    a["key"] = np.arange(len(a))
    m = a[["key", "customer_id", "list_date", "end"]].merge(mine, on="customer_id")
    m = m[(m["order_date"] > m["list_date"]) & (m["order_date"] <= m["end"])]
    purchases = m[m["kind"] == "purchase"]
    first = purchases.groupby("key")["order_date"].min()
    a["first_order"] = first.reindex(a["key"]).to_numpy()
    a["came_back"] = a["first_order"].notna()
    a["days_to_return"] = (a["first_order"] - a["list_date"]).dt.days.astype("Float64")
    revenue = m.groupby("key")["amount"].sum() if has_amount else purchases.groupby("key").size().astype(float)
    a["revenue"] = revenue.reindex(a["key"]).fillna(0.0).to_numpy(dtype=float)
    detail = a.drop(columns=["key", "end"]).sort_values(["list_date", "arm", "rank"]).reset_index(drop=True)
    return Outcomes(as_of, window_days, detail, has_amount,
                    contact if contact is not None else pd.DataFrame(columns=["customer_id", "list_date",
                                                                              "marked_on", "outcome"]))


# --- other helpers -----------------------------------------------------------------------------------

def fingerprint(paths: Sequence[str]) -> str:
    """SHA-256 over the input files' bytes (``-`` for standard input is named, not read)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.encode() + b"\0")
        if p == "-":
            continue
        try:
            with Path(p).open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        except OSError:
            continue  # the importer reports a missing file properly
    return h.hexdigest()[:16]


def contact_outcome(text: str) -> str | None:
    """``reached``, ``no-answer``, ``wrong-number`` or ``declined`` from what a caller wrote; else None."""
    key = "".join(ch for ch in str(text).casefold() if ch.isalnum())
    aliases = {"reached": "reached", "noanswer": "no-answer", "wrongnumber": "wrong-number",
               "declined": "declined"}
    return aliases.get(key)
