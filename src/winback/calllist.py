"""Stage 4: scores -> the call list: lapsed customers worth calling, best first, with a reason.

Call list contract (one row per customer to call, in calling order). The first eight columns are
fixed and stable; the rest follow in this order:

=======================  ====================================================================
column                   meaning
=======================  ====================================================================
rank                     1 = call first
customer_id              exactly as in the input
segment                  see :mod:`winback.segments`
reason                   one plain sentence from the customer's own numbers
last_order_date          ISO date of the last purchase
days_since_last_order    days from the last purchase to the as-of date
orders                   purchase occasions (same-day orders merged)
revenue                  net revenue (purchases minus refunds); empty without an amount column
name                     name or company, from the customers file or the orders file
phone                    international format (+90 532 123 45 67); as written when not a valid number
email                    e-mail as written
owner                    account owner ("" if unknown); the customers file wins over the orders
margin                   net margin; empty when the file has no cost or margin column
average_order_value      gross revenue per purchase occasion
first_order_date         ISO date of the first purchase
usual_gap_days           the customer's usual days between orders (shrunk towards the population)
p_alive                  probability the customer is still active (0-1)
value_at_risk            yearly value lost if they do not come back
priority                 the ranking score (value at risk x tenure weight)
last_products            up to three products of the latest purchases, when the file has products
referrals                customers they brought
note                     flags, "; "-separated: ``orphaned`` (the owner has left: reassign),
                         ``invalid phone`` (kept as written), ``no contact details``
=======================  ====================================================================

Who is listed: lapsed customers who are targets (net revenue, or margin where known, above zero),
minus everyone marked do-not-contact or named in the suppression file, then the filters
(``min_value``, ``segments``), the per-owner cap and ``top``. Every customer left off is counted in
:class:`CallList` under its reason.

Order: customers whose owner has left (``orphaned``) first, so a manager reassigns them; then by
priority, highest first. Ties in priority are broken by customer id, so the list is the same on
every run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback._sorting import argsort_descending, blocks, member_mask, positions_in, strings_in_order
from winback.contacts import (
    DNC,
    Suppression,
    contact_column,
    empty_contacts,
    format_phones,
    suppressed_at,
)
from winback.segments import SEGMENTS, reasons

FIXED_COLUMNS = ["rank", "customer_id", "segment", "reason", "last_order_date", "days_since_last_order",
                 "orders", "revenue"]
MORE_COLUMNS = ["name", "phone", "email", "owner", "margin", "average_order_value", "first_order_date",
                "usual_gap_days", "p_alive", "value_at_risk", "priority", "last_products", "referrals", "note"]
COLUMNS = FIXED_COLUMNS + MORE_COLUMNS
DEFAULT_TOP = 50
UNASSIGNED = ""  # owner key of customers without an owner, or whose owner has left
_REASON_ROWS = 100_000  # the reasons are written this many rows at a time
#: The score columns the rows and their reasons are made from.
_ROW_COLUMNS = ("segment", "last_order", "first_order", "days_since_last", "orders", "revenue",
                "margin", "avg_order_value", "expected_gap_days", "overdue_ratio", "recency_days",
                "p_alive", "value_at_risk", "priority", "referrals", "refunds")

NOTE_ORPHANED = "orphaned"
NOTE_INVALID_PHONE = "invalid phone"
NOTE_NO_CONTACT = "no contact details"


@dataclass
class SelectOptions:
    top: int | None = DEFAULT_TOP  # None = everyone eligible
    min_value: float | None = None  # least value at risk to be listed
    segments: tuple[str, ...] = ()  # only these segments (empty = all)
    per_owner: int | None = None  # at most this many rows per owner (orphaned and unowned count as one)
    departed_owners: tuple[str, ...] = ()  # owners who have left: their customers are orphaned
    country: str = "TR"  # for phone numbers written without a country code
    suppression: Suppression | None = None
    # Make only these customers' rows, at their ranks among everyone listed (winback explain): the
    # whole calling order is worked out, but millions of rows need not be formatted for one.
    only: tuple[str, ...] = ()


@dataclass
class CallList:
    rows: pd.DataFrame  # COLUMNS, in calling order
    lapsed: int  # lapsed customers, whether listed or not
    eligible: int  # lapsed customers who are targets
    not_targets: int  # lapsed customers left off because they cost more than they bring
    value_at_risk: float  # summed over all lapsed targets
    do_not_contact: int = 0  # eligible customers left off: do-not-contact flag or suppression file
    filtered_out: int = 0  # left off by --min-value or --segment
    over_owner_cap: int = 0  # left off by --per-owner
    assignee: pd.Series = field(default_factory=lambda: pd.Series(dtype="str"))  # per row: owner, or ""

    @property
    def orphaned(self) -> int:
        return int(self.rows["note"].str.contains(NOTE_ORPHANED, regex=False).sum())

    @property
    def no_contact(self) -> int:
        return int(self.rows["note"].str.contains(NOTE_NO_CONTACT, regex=False).sum())

    @property
    def invalid_phones(self) -> int:
        return int(self.rows["note"].str.contains(NOTE_INVALID_PHONE, regex=False).sum())

    def per_segment(self) -> dict[str, int]:
        counts = self.rows["segment"].value_counts()
        return {name: int(counts[name]) for name in SEGMENTS if name in counts}

    def per_owner(self) -> dict[str, int]:
        """Listed rows per assignee ("" = to reassign: no owner, or the owner has left)."""
        counts = self.assignee.value_counts(sort=False)
        return {str(k): int(counts[k]) for k in sorted(counts.index, key=lambda k: (k == "", k))}

    def by_owner(self) -> dict[str, pd.DataFrame]:
        """The list split per assignee; the parts keep the calling order and add up to the list."""
        return {owner: self.rows[self.assignee.to_numpy() == owner] for owner in self.per_owner()}


def segment_name(text: str) -> str | None:
    """The segment a user means (``cant-lose``, ``At Risk``), or None when there is none such."""
    key = re.sub(r"[\W_]+", "", text.casefold())
    return next((s for s in SEGMENTS if re.sub(r"[\W_]+", "", s) == key), None)


@dataclass
class Ranking:
    """Everyone who would be called, in calling order, as positions in the scores (no row formatted)."""

    order: np.ndarray  # positions in the scores, calling order, after the per-owner cap (before --top)
    contact_at: np.ndarray  # per entry of ``order``: its row in the contacts, or -1
    orphaned: np.ndarray  # per entry of ``order``: the owner has left
    lapsed: int
    eligible: int
    not_targets: int
    value_at_risk: float
    do_not_contact: int
    filtered_out: int
    over_owner_cap: int


def rank(scores: pd.DataFrame, options: SelectOptions, contacts: pd.DataFrame | None = None,
         leave_out: np.ndarray | None = None, *, first: int | None = None) -> Ranking:
    """The calling order of everyone :func:`select` would list, before ``--top``. Works on positions in
    ``scores`` (numpy arrays over the lapsed targets); the contacts (a row per customer with any contact
    detail or flag) are matched to the scores once. ``leave_out``: a flag per scores row for customers
    not to list tonight (the nightly cooldown and control group); they still count as lapsed/eligible.
    ``first``: only the first this many of the order are needed; the order may then stop soon after
    them (the counts are always everyone's)."""
    ids = scores.index
    lapsed_mask = scores["lapsed"].to_numpy(dtype=bool)
    eligible = np.flatnonzero(lapsed_mask & scores["target"].to_numpy(dtype=bool))
    contacts = contacts if contacts is not None else empty_contacts()
    at = _contact_rows(contacts, ids, eligible)  # each eligible customer's contacts row, or -1
    known = at >= 0
    dnc = np.zeros(len(eligible), dtype=bool)
    dnc[known] = contacts[DNC].to_numpy(dtype=bool)[at[known]]
    if options.suppression is not None:
        dnc |= suppressed_at(ids[eligible], contacts, at, options.suppression, options.country)
    # No copies of millions of positions when nothing is left out (the usual case): same values.
    callable_, callable_at = (eligible, at) if not dnc.any() else (eligible[~dnc], at[~dnc])
    value = scores["value_at_risk"].to_numpy(dtype=float)
    keep = np.ones(len(callable_), dtype=bool)
    if options.min_value is not None:
        keep &= value[callable_] >= options.min_value
    if options.segments:
        keep &= np.isin(scores["segment"].to_numpy(dtype=object)[callable_], list(options.segments))
    filtered_out = int((~keep).sum())
    if leave_out is not None:
        keep &= ~leave_out[callable_]
    chosen, chosen_at = ((callable_, callable_at) if keep.all()
                         else (callable_[keep], callable_at[keep]))

    departed = {_owner_key(o) for o in options.departed_owners if o.strip()}
    # Owners matter for every chosen customer only with departed owners or a per-owner cap.
    need_owners = bool(departed) or options.per_owner is not None
    owner = _owners(scores, contacts, chosen, chosen_at) if need_owners else None
    orphaned = np.zeros(len(chosen), dtype=bool)
    if departed and owner is not None:
        # Owners are few: normalise each distinct name once, not once per customer.
        keys = owner.map({name: _owner_key(name) for name in pd.unique(owner)})
        orphaned = (keys.isin(departed) & (owner != "")).to_numpy(dtype=bool)

    # Calling order: orphaned first, then priority (highest first), ties by customer id.
    priority = scores["priority"].to_numpy(dtype=float)[chosen]
    if strings_in_order(ids):  # the usual case: positions are in id order already
        plain = first is not None and not orphaned.any() and options.per_owner is None
        order = argsort_descending(priority, first if plain else None)
    else:
        by_id = np.argsort(np.asarray(ids[chosen], dtype=object), kind="stable")
        order = by_id[argsort_descending(priority[by_id])]
    del priority
    if orphaned.any():
        order = order[np.argsort(~orphaned[order], kind="stable")]
    over_cap = 0
    if options.per_owner is not None and owner is not None:
        assignee_all = owner.to_numpy(dtype=object)[order]
        assignee_all[orphaned[order]] = UNASSIGNED
        within = pd.Series(assignee_all).groupby(assignee_all).cumcount().to_numpy() < options.per_owner
        over_cap = int((~within).sum())
        order = order[within]
    return Ranking(
        order=chosen[order], contact_at=chosen_at[order], orphaned=orphaned[order],
        lapsed=int(lapsed_mask.sum()), eligible=len(eligible), not_targets=int(lapsed_mask.sum()) - len(eligible),
        value_at_risk=float(value[eligible].sum()), do_not_contact=int(dnc.sum()), filtered_out=filtered_out,
        over_owner_cap=over_cap,
    )


def select(scores: pd.DataFrame, orders: pd.DataFrame, options: SelectOptions, *, currency: str | None,
           has_amount: bool, has_margin: bool, median_second_days: float | None,
           contacts: pd.DataFrame | None = None, leave_out: np.ndarray | None = None) -> CallList:
    """Choose and order the customers to call (:func:`rank`); only the listed rows become strings."""
    contacts = contacts if contacts is not None else empty_contacts()
    ranking = rank(scores, options, contacts, leave_out, first=options.top)
    top = len(ranking.order) if options.top is None else options.top
    listed, listed_at = ranking.order[:top], ranking.contact_at[:top]
    orphaned = ranking.orphaned[:top]
    ids = scores.index
    ranks = np.arange(1, len(listed) + 1, dtype="int64")
    if options.only:
        at = np.flatnonzero(np.isin(listed, np.flatnonzero(member_mask(ids, list(options.only)))))
        listed, listed_at, orphaned, ranks = listed[at], listed_at[at], orphaned[at], ranks[at]
    listed_owner = _owners(scores, contacts, listed, listed_at)
    listed_orphaned = pd.Series(orphaned, index=listed_owner.index)
    assignee = listed_owner.where(~listed_orphaned, UNASSIGNED)
    shown = scores[[c for c in _ROW_COLUMNS if c in scores]]  # not a copy of every score column
    rows = _rows(shown.iloc[listed], orders, _people(contacts, listed_at, ids[listed]),
                 listed_owner, listed_orphaned, options, ranks, currency=currency,
                 has_amount=has_amount, has_margin=has_margin,
                 median_second_days=median_second_days)
    return CallList(
        rows=rows,
        lapsed=ranking.lapsed,
        eligible=ranking.eligible,
        not_targets=ranking.not_targets,
        value_at_risk=ranking.value_at_risk,
        do_not_contact=ranking.do_not_contact,
        filtered_out=ranking.filtered_out,
        over_owner_cap=ranking.over_owner_cap,
        assignee=pd.Series(assignee.to_numpy(), dtype="str"),
    )


def _contact_rows(contacts: pd.DataFrame, ids: pd.Index, where: np.ndarray) -> np.ndarray:
    """For each customer of ``ids`` at the positions ``where``, the position of their row in
    ``contacts`` (-1 when none). Without contacts (orders with no names, phones or e-mails), no
    -1 for every customer first (29 MB at 3.6 million: 5-75 ms, as the memory is fresh or not)."""
    if not len(contacts):
        return np.full(len(where), -1, dtype=np.int64)
    return positions_in(ids, contacts.index)[where]


def _people(contacts: pd.DataFrame, at: np.ndarray, index: pd.Index,
            columns: tuple[str, ...] = ("name", "phone", "email", "owner")) -> pd.DataFrame:
    """Name, phone, e-mail and owner (or ``columns`` of these) from the contacts rows ``at`` (""
    where -1), indexed by ``index``."""
    out = pd.DataFrame(index=index)
    for col in columns:  # the rows' values alone (every contact's as text: 1 s per column at 3.6M)
        out[col] = pd.Series(contact_column(contacts, col, at).to_numpy(), index=index, dtype="str")
    return out


def _owners(scores: pd.DataFrame, contacts: pd.DataFrame, where: np.ndarray, at: np.ndarray) -> pd.Series:
    """Each customer's owner: the customers file's, else the latest one named in the orders."""
    # The listed rows' owners, then as text (not every customer's owner as a Python string first).
    owners = scores["owner"].iloc[where].to_numpy(dtype=object)
    from_orders = pd.Series(owners, index=scores.index[where], dtype="str")
    from_contacts = _people(contacts, at, from_orders.index, ("owner",))["owner"]
    return from_contacts.where(from_contacts != "", from_orders.fillna("")).astype("str")


def _rows(ranked: pd.DataFrame, orders: pd.DataFrame, people: pd.DataFrame, owner: pd.Series,
          orphaned: pd.Series, options: SelectOptions, ranks: np.ndarray, *, currency: str | None,
          has_amount: bool, has_margin: bool, median_second_days: float | None) -> pd.DataFrame:
    """Format the listed customers as call-list rows (the only per-row work)."""
    rows = pd.DataFrame(index=ranked.index)
    rows["rank"] = ranks
    rows["customer_id"] = ranked.index.astype("str")
    rows["segment"] = ranked["segment"].astype("str")
    # A block of rows at a time: the sentences are built from columns of text, and for every listed
    # customer at once (--all: three million) those took 1.5 GB more at the peak.
    said = [reasons(ranked.iloc[part], currency=currency, has_amount=has_amount,
                    median_second_days=median_second_days)
            for part in blocks(max(len(ranked), 1), _REASON_ROWS)]
    rows["reason"] = pd.concat(said).astype("str")
    rows["last_order_date"] = _iso_dates(ranked["last_order"])
    rows["days_since_last_order"] = ranked["days_since_last"].astype("int64")
    rows["orders"] = ranked["orders"].astype("int64")
    rows["revenue"] = ranked["revenue"].round(2) if has_amount else float("nan")
    phone, valid = format_phones(people["phone"], options.country)
    rows["name"] = people["name"]
    rows["phone"] = phone
    rows["email"] = people["email"]
    rows["owner"] = owner
    rows["margin"] = ranked["margin"].round(2) if has_margin else float("nan")
    rows["average_order_value"] = ranked["avg_order_value"].round(2)
    rows["first_order_date"] = _iso_dates(ranked["first_order"])
    rows["usual_gap_days"] = ranked["expected_gap_days"].round(0).astype("int64")
    rows["p_alive"] = ranked["p_alive"].round(3)
    rows["value_at_risk"] = ranked["value_at_risk"].round(2)
    rows["priority"] = ranked["priority"].round(2)
    rows["last_products"] = _last_products(orders, ranked.index).astype("str")
    rows["referrals"] = ranked["referrals"].astype("int64")
    no_contact = (phone == "") & (people["email"] == "")
    notes = pd.DataFrame({
        NOTE_ORPHANED: orphaned.to_numpy(dtype=bool),
        NOTE_INVALID_PHONE: ((phone != "") & ~valid).to_numpy(dtype=bool),
        NOTE_NO_CONTACT: no_contact.to_numpy(dtype=bool),
    }, index=ranked.index)
    rows["note"] = _join_flags(notes)
    for col in ("revenue", "margin"):
        rows[col] = rows[col].astype("float64")
    return rows.reset_index(drop=True)[COLUMNS]


def _join_flags(flags: pd.DataFrame) -> pd.Series:
    """The names of the flags each row has, joined by "; ": one text per combination of flags,
    looked up by Arrow (a --all list has millions of rows)."""
    names = list(flags.columns)
    combination = np.zeros(len(flags), dtype=np.int64)
    for bit, name in enumerate(names):
        combination |= flags[name].to_numpy(dtype=bool).astype(np.int64) << bit
    texts = ["; ".join(name for bit, name in enumerate(names) if code >> bit & 1)
             for code in range(1 << len(names))]
    joined = pa.array(texts, pa.large_string()).take(pa.array(combination))
    return pd.Series(joined, index=flags.index, dtype="str")


def _iso_dates(dates: pd.Series) -> pd.Series:
    """Dates as YYYY-MM-DD text (missing for a missing date), written by Arrow (the summary's are
    naive; dates with a zone, from a frame made by hand, are written in their zone by pandas)."""
    if getattr(dates.dtype, "tz", None) is not None:
        return dates.dt.strftime("%Y-%m-%d").astype("str")
    text = pc.strftime(pa.array(dates.to_numpy(dtype="datetime64[ns]")), format="%Y-%m-%d")
    return pd.Series(text, index=dates.index, dtype="str")


def _owner_key(name: str) -> str:
    return " ".join(str(name).split()).casefold()


#: Distinct products shown from each listed customer's latest purchases.
LAST_PRODUCTS = 3


def _last_products(orders: pd.DataFrame, ids: pd.Index, n: int = LAST_PRODUCTS) -> pd.Series:
    """Up to ``n`` distinct products from each listed customer's latest purchases."""
    if "product" not in orders or len(ids) == 0:
        return pd.Series("", index=ids)
    mine = orders.loc[orders["customer_id"].isin(ids) & (orders["kind"] == "purchase"),
                      ["customer_id", "order_date", "product", "line"]]
    mine = mine[mine["product"].fillna("") != ""]
    mine = mine.sort_values(["customer_id", "order_date", "line"], ascending=[True, False, False])
    mine = mine.drop_duplicates(["customer_id", "product"])
    mine = mine[mine.groupby("customer_id").cumcount() < n]
    joined = mine.groupby("customer_id")["product"].agg("; ".join)
    return joined.reindex(ids).fillna("")
