"""The in-memory summary engine: pandas groupby and numpy on integer customer codes.

Customer ids are turned into integer codes once, in their sorted order (the summary's index order),
and every groupby after that runs on those codes and on dates as day numbers: no string is hashed
or compared again, and nothing per order is copied into a new frame of strings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback._sorting import (
    _cores,
    blocks,
    day_numbers,
    finite_or_zero,
    sort_in_place,
    sort_with_positions,
    strings_in_order,
)
from winback.importer.load import KINDS
from winback.summary import LAST_YEAR_DAYS, SummaryResult

_DAY = np.timedelta64(1, "D")


def customer_codes(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """(code per row, distinct ids): codes number the ids in sorted (code point) order.

    The importer's ids are a categorical in that order already: its codes are used as they are, so
    no id string is hashed again. Other frames (built by hand, or sliced from another) are factorized.
    """
    if isinstance(ids.dtype, pd.CategoricalDtype) and strings_in_order(ids.cat.categories):
        codes = ids.cat.codes.to_numpy()
        if not len(codes) or codes.min() >= 0:
            return codes, pd.Index(ids.cat.categories, dtype="str", name="customer_id")
    codes, uniques = pd.factorize(ids, sort=False)
    distinct = pa.array(np.asarray(uniques, dtype=object), type=pa.large_string())
    order = pc.array_sort_indices(distinct).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    index = pd.Index(distinct.take(pa.array(order)).to_pandas(), dtype="str", name="customer_id")
    return rank[codes], index


def summarize_pandas(orders: pd.DataFrame, as_of: date, customer_order: np.ndarray | None = None) -> SummaryResult:
    """The summary; ``customer_order``: the importer's rows grouped by customer, if it has them
    (``LoadedOrders.customer_order``), which spares a sort when the file is in date order."""
    cutoff = pd.Timestamp(as_of)
    dates = orders["order_date"].to_numpy(dtype="datetime64[ns]")
    in_window = dates <= cutoff.to_datetime64()
    after = int((~in_window).sum())
    everything = after == 0
    codes, ids = customer_codes(orders["customer_id"])
    if not everything:
        codes = codes[in_window]
    day = day_numbers((dates if everything else dates[in_window]).view(np.int64))
    del dates
    kind = _kind_codes(orders["kind"])
    if not everything:
        kind = kind[in_window]
    purchase, refund_line, cancelled = kind == 0, kind == 1, kind == 2
    amount_all = orders["amount"].to_numpy(dtype="float64")
    amount_all = amount_all if everything else amount_all[in_window]
    finite = np.isfinite(amount_all)
    has_amount = bool(finite.any())
    has_margin = "margin" in orders or "cost" in orders
    if not has_amount:
        amount = np.zeros(len(day))
    else:  # read only from here on: no copy when every amount is a number (the usual case)
        amount = amount_all if finite.all() else finite_or_zero(amount_all)
    del finite
    del amount_all
    # Ten-million-row temporaries below are int32 where they fit and freed as soon as they are used.

    cutoff_day = int((cutoff.to_datetime64() - np.datetime64("1970-01-01", "ns")) // _DAY)
    # Refunds, margin and last year's value: per customer code over all lines, before the occasions.
    # They are worked out in a second thread while the purchase lines are put in order (numpy gives up
    # the interpreter lock in the gathers and the sort).
    first_day_all = int(day.min()) if len(day) else 0
    span = int(day.max()) - first_day_all + 1 if len(day) else 1
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="winback-summary") as helper:
        lines = helper.submit(_per_customer_lines, orders, codes, day, amount, purchase, refund_line,
                              cancelled, None if everything else in_window, has_margin, has_amount,
                              cutoff_day, ids)
        # Occasions: purchase lines of one customer on one day, from the purchase lines in (customer,
        # day) order; everything after that is sums and medians over runs.
        stats = None
        usable = everything and customer_order is not None and len(customer_order) == len(codes)
        if usable and len(codes) >= _PARALLEL_MIN:
            stats = _occasions_in_customer_order(codes, day, purchase, customer_order, amount, span,
                                                 first_day_all, cutoff_day, has_amount, len(ids))
        if stats is None:
            key, order = _by_customer_and_day(codes, day, purchase, first_day_all, span, len(ids),
                                              customer_order if everything else None)
        per_line = lines.result()
    del lines
    if stats is None:
        stats = _occasions_in_parts(key, order, amount, span, first_day_all, cutoff_day, has_amount,
                                    len(ids))
        del key, order
    del customer_order
    buyers, first_day, last_day, n_orders = stats["buyers"], stats["first_day"], stats["last_day"], stats["orders"]
    n_buyers = len(buyers)
    # The helper found the same buyers (the codes with a purchase line) and took their per-line sums
    # and ids while the occasions were worked out here (0.1-0.15 s at ten million orders, on one
    # core when done here).
    refunds, margin, index = per_line["refunds"], per_line["margin"], per_line["index"]
    seen = per_line["seen"]
    last_year = per_line["last_year"] if has_amount else stats["last_year"]
    gross, repeat_avg = stats["gross"], stats["repeat_avg"]
    gap_median, gap_spread, first_gap = stats["gap_median"], stats["gap_spread"], stats["first_gap"]
    del stats
    del per_line
    texts = "referred_by" in orders or "owner" in orders
    del amount, kind, purchase, refund_line, cancelled
    if not texts:
        del codes, day
    cust = pd.DataFrame({
        "first_order": _as_dates(first_day, orders["order_date"].dtype),
        "last_order": _as_dates(last_day, orders["order_date"].dtype),
        "orders": n_orders,
        "gap_median_days": gap_median,
        "gap_spread_days": gap_spread,
        "gross_revenue": gross,
        "first_gap_days": first_gap,
        "repeat_avg_value": repeat_avg,
        "refunds": refunds,  # (no -0.0: _per_customer_lines adds 0.0)
        "revenue": gross - refunds,
        "margin": margin,
        "frequency": n_orders - 1,
        "recency_days": np.subtract(last_day, first_day, dtype=np.int64),  # no int32 temporaries
        "age_days": np.subtract(cutoff_day, first_day, dtype=np.int64),
        "days_since_last": np.subtract(cutoff_day, last_day, dtype=np.int64),
        "avg_order_value": gross / n_orders,  # (every buyer has at least one occasion)
        "recent_value": last_year,
    }, index=index, copy=False)  # no copy into one 2-D block: ~300 MB less at 3.6M customers
    if not has_amount:
        cust[["gross_revenue", "refunds", "revenue", "avg_order_value", "repeat_avg_value"]] = np.nan

    for column in ("referred_by", "owner"):
        if texts:
            cust[column] = _latest_text(orders.loc[in_window], codes, day, column, buyers, cust.index)
        else:
            cust[column] = _latest_text(None, np.zeros(0, np.int32), np.zeros(0, np.int32), column, buyers, cust.index)
        if column == "referred_by":
            # A Series over the array: pandas copies an array assigned as it is.
            cust["referrals"] = pd.Series(_referrals(cust["referred_by"], cust.index), index=cust.index, copy=False)
    cust.index.name = "customer_id"
    return SummaryResult(
        customers=cust,
        orders_after_as_of=after,
        customers_without_purchases=seen - n_buyers,
        has_amount=has_amount,
        has_margin=has_margin,
    )


def _per_customer_lines(orders: pd.DataFrame, codes: np.ndarray, day: np.ndarray, amount: np.ndarray,
                        purchase: np.ndarray, refund_line: np.ndarray, cancelled: np.ndarray,
                        in_window: np.ndarray | None, has_margin: bool, has_amount: bool,
                        cutoff_day: int, ids: pd.Index) -> dict[str, object]:
    """Refunds, margin and last year's value over all lines (of the window: ``in_window``, None for
    all) of each buyer (a customer with a purchase line, in code order), the buyers' ids
    (``index``), and how many customers have any line (``seen``)."""
    n_ids = len(ids)
    # The refund lines (a few percent, anywhere) by their positions, not a mask: numpy branches on
    # every value of a mask. (Mostly one run, as the last year's lines in a file in date order, a
    # mask is as fast, and smaller.)
    refund_at = np.flatnonzero(refund_line)
    sums: dict[str, object] = {
        "refunds": -np.bincount(codes[refund_at], weights=amount[refund_at], minlength=n_ids) + 0.0,
        "seen": _count_distinct(codes, n_ids),
    }
    recent = day > cutoff_day - LAST_YEAR_DAYS
    if has_margin:
        if "margin" in orders:
            margin_line = orders["margin"].to_numpy(dtype="float64")
        else:
            margin_line = (finite_or_zero(orders["amount"].to_numpy(dtype="float64"))
                           - finite_or_zero(orders["cost"].to_numpy(dtype="float64")))
        margin_line = finite_or_zero(margin_line if in_window is None else margin_line[in_window])
        take = ~cancelled
        sums["margin"] = np.bincount(codes[take], weights=margin_line[take], minlength=n_ids)
        if has_amount:
            take &= recent
            sums["last_year"] = np.bincount(codes[take], weights=margin_line[take], minlength=n_ids)
    else:
        sums["margin"] = np.full(n_ids, np.nan)
        if has_amount:
            take = ~cancelled & recent
            sums["last_year"] = np.bincount(codes[take], weights=amount[take], minlength=n_ids)
    bought = np.zeros(n_ids, dtype=bool)
    for part in blocks(len(codes)):  # no copy of ten million codes
        bought[codes[part][purchase[part]]] = True
    buyers = np.flatnonzero(bought)
    everyone = len(buyers) == n_ids  # every customer bought (the usual case): nothing to pick out
    for name in ("refunds", "margin", "last_year"):
        if name in sums and not everyone:
            sums[name] = sums[name][buyers]
    sums["index"] = ids if everyone else ids[buyers]
    return sums



def _by_customer_and_day(codes: np.ndarray, day: np.ndarray, purchase: np.ndarray, first_day: int, span: int,
                         n_ids: int, customer_order: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(key, row) of every purchase line in (customer, day) order, ties in file order: key = customer
    code * span + day - first_day (int64), row its position in the orders.

    ``customer_order`` (rows grouped by customer, file order within a customer) already is that order
    when every customer's lines are in date order, as in most exports: checked in one pass, used
    without sorting. Otherwise one value sort of the keys: other lines get a key past every customer,
    so they sort last and are cut off (no filtered copies of the ids, days and amounts).
    """
    if customer_order is not None and len(customer_order) == len(codes):
        key = np.multiply(codes[customer_order], span, dtype=np.int64)
        key += day[customer_order]
        key -= first_day
        if not len(key) or bool((key[1:] >= key[:-1]).all()):
            keep = purchase[customer_order]
            if keep.all():
                return key, customer_order
            return key[keep], customer_order[keep]
        del key
    key = np.multiply(codes, span, dtype=np.int64)
    np.add(key, day, out=key)
    key -= first_day
    key[~purchase] = n_ids * span
    n_purchase = int(np.count_nonzero(purchase))
    key, order = sort_with_positions(key, overwrite=True)
    return key[:n_purchase], order[:n_purchase]


#: Purchase lines from which the occasions are worked out in parts, on two cores.
_PARALLEL_MIN = 2_000_000
#: Purchase lines in one part, at most (unless one customer has more). Every temporary of a part
#: stays under glibc's 32 MB mapping threshold (4 MB for an int64 array), so each part reuses the
#: heap memory the part before it freed instead of fresh pages, which on this VM cost up to 2 ms per
#: MB (docs/performance.md). Two halves of ten million lines took 1.23 s, parts of this size 0.85 s.
_PART_LINES = 500_000


def _occasions_in_parts(key: np.ndarray, order: np.ndarray, amount: np.ndarray, span: int,
                        first_day_all: int, cutoff_day: int, has_amount: bool,
                        n_ids: int) -> dict[str, np.ndarray]:
    """:func:`_occasions` of the sorted purchase lines, in parts when there are many: the lines are
    cut at a customer's first line about every ``_PART_LINES`` lines, and the parts are worked out
    two at a time (numpy releases the interpreter lock in nearly all of it) into per-buyer results
    (:func:`_end_to_end`)."""
    n = len(key)
    if n < _PARALLEL_MIN:
        return _occasions(key, order, amount, span, first_day_all, cutoff_day, has_amount)
    n_parts = -(-n // _PART_LINES)
    near = key[np.arange(1, n_parts, dtype=np.int64) * n // n_parts]
    cuts = np.searchsorted(key, near - near % span)  # the first line of the customer there
    bounds = np.unique(np.r_[0, cuts, n])  # a customer longer than a part: its cuts fall together

    def part(start: int, end: int) -> dict[str, np.ndarray]:
        return _occasions(key[start:end], order[start:end], amount, span, first_day_all, cutoff_day,
                          has_amount)

    return _end_to_end(part, bounds.tolist(), n_ids)


def _end_to_end(part: Callable[[int, int], dict[str, np.ndarray] | None], bounds: list[int],
                n_ids: int) -> dict[str, np.ndarray] | None:
    """The per-buyer results of ``part(start, end)`` (:func:`_occasions` of each stretch between
    successive ``bounds``; the stretches follow each other in customer code order), worked out two
    at a time and put end to end in the stretches' order. None if a part gave up (returned None), or
    if no part had a purchase (all returned ``{}``).

    Each part writes its results straight into arrays of ``n_ids`` values (no more buyers than
    that), after the buyers of the parts before it, as soon as it knows how many those are, and
    lets go of its own. Putting the parts' results together afterwards held them twice (about 250
    MB more at the summary's peak, at ten million orders) and touched all that new memory in one
    thread.
    """
    out: dict[str, np.ndarray] = {}
    made = threading.Lock()
    n_parts = len(bounds) - 1
    ends = [0] * (n_parts + 1)  # ends[i + 1]: the buyers of parts 0..i
    counted = [threading.Event() for _ in range(n_parts)]
    gave_up = threading.Event()

    def run(i: int) -> None:
        done = None
        try:
            done = part(bounds[i], bounds[i + 1])
        finally:  # the next part waits for this one's count, whatever happened here
            if i:
                counted[i - 1].wait()
            if done is None:  # it gave up, or failed (pool.map raises the failure)
                gave_up.set()
            ends[i + 1] = ends[i] + (len(done["buyers"]) if done else 0)
            counted[i].set()
        if not done or gave_up.is_set():
            return
        with made:
            for name, values in done.items():
                if name not in out:
                    out[name] = np.empty(n_ids, dtype=values.dtype)
        for name, values in done.items():
            out[name][ends[i]:ends[i + 1]] = values

    workers = min(2, _cores())
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="winback-summary") as pool:
        list(pool.map(run, range(n_parts)))
    if gave_up.is_set() or not out:
        return None
    return {name: values[:ends[-1]] for name, values in out.items()}


def _occasions_in_customer_order(codes: np.ndarray, day: np.ndarray, purchase: np.ndarray,
                                 customer_order: np.ndarray, amount: np.ndarray, span: int,
                                 first_day_all: int, cutoff_day: int, has_amount: bool,
                                 n_ids: int) -> dict[str, np.ndarray] | None:
    """:func:`_occasions_in_parts` straight from the importer's rows grouped by customer: each part
    (about ``_PART_LINES`` rows, cut where a customer starts) makes its own (customer, day) keys
    and drops its lines that are not purchases, so no array as long as the orders is made. Making
    the keys of ten million rows at once (:func:`_by_customer_and_day`) took 0.5-0.7 s and 240 MB
    of fresh memory. None when some customer's lines are not in date order, or the customers not
    in code order, or there is no purchase at all: then :func:`_by_customer_and_day` sorts."""
    n = len(customer_order)
    n_parts = -(-n // _PART_LINES)
    cuts = {_customer_start(codes, customer_order, i * n // n_parts) for i in range(1, n_parts)}
    bounds = sorted(cuts | {0, n})
    if any(codes[customer_order[b - 1]] >= codes[customer_order[b]] for b in bounds[1:-1]):
        return None  # the parts would not follow each other in code order

    out_of_order = threading.Event()  # once a part finds it, the others stop: the keys get sorted

    def part(start: int, end: int) -> dict[str, np.ndarray] | None:
        if out_of_order.is_set():
            return None
        rows = customer_order[start:end]
        key = np.multiply(codes[rows], span, dtype=np.int64)
        key += day[rows]
        key -= first_day_all
        if not bool((key[1:] >= key[:-1]).all()):
            out_of_order.set()
            return None
        keep = purchase[rows]
        if not keep.all():
            key, rows = key[keep], rows[keep]
        if not len(key):
            return {}
        return _occasions(key, rows, amount, span, first_day_all, cutoff_day, has_amount)

    return _end_to_end(part, bounds, n_ids)


def _customer_start(codes: np.ndarray, rows: np.ndarray, at: int) -> int:
    """The first position from ``at`` (at least 1) where ``codes[rows]`` changes, or ``len(rows)``:
    looked for in a growing window (a customer has a few lines; nothing as long as the rows)."""
    n, step = len(rows), 64
    while at < n:
        window = codes[rows[at - 1:min(n, at - 1 + step)]]
        change = np.flatnonzero(window[1:] != window[:-1])
        if len(change):
            return at + int(change[0])
        at += len(window) - 1
        step *= 2
    return n


def _occasions(key: np.ndarray, order: np.ndarray, amount: np.ndarray, span: int, first_day_all: int,
               cutoff_day: int, has_amount: bool) -> dict[str, np.ndarray]:
    """Per buyer, from their purchase lines in (customer, day) order (``key`` and ``order`` from
    :func:`_by_customer_and_day`; ``key`` is used as scratch): occasions (lines of one customer on one
    day), first and last day, gaps between occasions (median, spread, the first), gross value and the
    average value of a repeat occasion. Everything is reduceat (sums) or a sort (medians) on runs."""
    starts_occ = np.flatnonzero(_run_starts(key))
    occ_key = key[starts_occ]
    # Arrays over 32 MB are fresh memory each time (glibc maps them), which costs on a VM: results go
    # into buffers that are no longer needed, or straight into int32, rather than into new temporaries.
    in_order = key.view(np.float64)  # the sorted keys' buffer, free from here on
    del key
    np.take(amount, order, out=in_order, mode="clip")  # positions are valid; "raise" would buffer
    del order
    gross_occ = np.add.reduceat(in_order, starts_occ) if len(in_order) else np.zeros(0)
    del in_order, starts_occ
    n_occ = len(occ_key)
    occ_code = np.empty(n_occ, dtype=np.int32)
    np.floor_divide(occ_key, span, out=occ_code, casting="unsafe")
    occ_day = np.empty(n_occ, dtype=np.int32)
    np.remainder(occ_key, span, out=occ_day, casting="unsafe")
    occ_day += first_day_all
    del occ_key
    new_customer = _run_starts(occ_code)
    starts = np.flatnonzero(new_customer)
    n_orders = np.diff(np.r_[starts, n_occ]).astype(np.int64)
    buyers = occ_code[starts]
    first_day = occ_day[starts]
    last_day = occ_day[np.r_[starts[1:] - 1, n_occ - 1]] if n_occ else np.zeros(0, np.int64)
    n_buyers = len(buyers)
    # Per-buyer sums are np.add.reduceat over each buyer's run (it gives up the interpreter lock, so
    # the parts of _occasions_in_parts really run side by side; np.bincount does not, and needs a
    # buyer number per occasion).
    gross = np.add.reduceat(gross_occ, starts) if n_occ else np.zeros(0)

    # Gaps between consecutive occasions of one customer (every occasion but a customer's first is a
    # repeat purchase): a buyer's gaps are a run too, starting at starts - (buyers before it).
    # The gaps' positions, not a mask: numpy's mask indexing branches on every value, several times
    # slower where first and repeat occasions alternate.
    gap_at = np.flatnonzero(~new_customer)  # (never 0: the first occasion is a new customer's)
    del new_customer
    whole_gap = occ_day[gap_at] - occ_day[gap_at - 1]  # days, int32
    n_gaps = n_orders - 1
    returned = np.flatnonzero(n_gaps > 0)  # buyers with a second occasion, right after their first
    gap_start = starts[returned] - returned
    gap_median = _group_median(whole_gap, n_gaps)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap_mean = (last_day - first_day) / n_gaps  # the gaps add up to the days from first to last
        deviation = np.repeat(gap_mean[returned], n_gaps[returned])
        np.subtract(whole_gap, deviation, out=deviation)
        del whole_gap
        np.square(deviation, out=deviation)
        squares = np.zeros(n_buyers)
        if len(returned):
            squares[returned] = np.add.reduceat(deviation, gap_start)
        del deviation
        gap_spread = np.where(n_gaps >= 2, np.sqrt(squares / (n_gaps - 1)), np.nan)
    first_gap = np.full(n_buyers, np.nan)
    first_gap[returned] = (occ_day[starts[returned] + 1] - occ_day[starts[returned]]).astype(np.float64)
    repeat_avg = np.full(n_buyers, np.nan)
    if len(returned):
        repeat_avg[returned] = np.add.reduceat(gross_occ[gap_at], gap_start) / n_gaps[returned]
    out = {"buyers": buyers, "first_day": first_day, "last_day": last_day, "orders": n_orders,
           "gap_median": gap_median, "gap_spread": gap_spread, "first_gap": first_gap, "gross": gross,
           "repeat_avg": repeat_avg}
    if not has_amount:  # last year's value: purchase occasions in the last year
        recent = (occ_day > cutoff_day - LAST_YEAR_DAYS).astype(np.float64)
        out["last_year"] = np.add.reduceat(recent, starts) if n_occ else np.zeros(0)
    return out


def _run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """A flag per value: it differs from the one before (the first value always does)."""
    starts = np.empty(len(sorted_values), dtype=bool)
    if len(starts):
        starts[0] = True
        np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    return starts


def _count_distinct(codes: np.ndarray, n_codes: int) -> int:
    """How many of the codes 0..n_codes-1 occur (a flag per code: no count per code, and no intp copy
    of ten million int32 codes as np.bincount would make)."""
    occurs = np.zeros(n_codes, dtype=bool)
    occurs[codes] = True
    return int(np.count_nonzero(occurs))


def _kind_codes(kind: pd.Series) -> np.ndarray:
    """0 purchase, 1 refund, 2 cancelled (anything else: -1), from the importer's categorical or text."""
    if isinstance(kind.dtype, pd.CategoricalDtype):
        if list(kind.cat.categories) == list(KINDS):  # the importer's: its codes are these already
            return kind.cat.codes.to_numpy()  # (a gather of ten million int8 codes took 28 ms)
        lookup = np.array([KINDS.index(k) if k in KINDS else -1 for k in kind.cat.categories] + [-1], dtype=np.int8)
        return lookup[kind.cat.codes.to_numpy()]
    return np.select([(kind == k).to_numpy() for k in KINDS], [0, 1, 2], default=-1).astype(np.int8)


def _group_median(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of ``values`` (whole, non-negative) per group: group g is the next ``counts[g]`` values
    (NaN for empty groups)."""
    out = np.full(len(counts), np.nan)
    if not len(values):
        return out
    begin = np.cumsum(counts)
    begin -= counts
    # One or two values: the value, or the mean of the two. Most customers have a few orders only.
    for size in (1, 2):
        at = np.flatnonzero(counts == size)
        first = begin[at]
        out[at] = (values[first].astype(np.int64) + values[first + size - 1]) / 2.0
    # Three or more: sorted by (group, value) with one key (values are whole days: they fit beside
    # the group), only these groups' values.
    many = np.flatnonzero(counts >= 3)
    if len(many):
        size = counts[many]
        top = int(values.max()) + 1
        ordered = np.repeat(np.multiply(many, top, dtype=np.int64), size)
        ordered += values[np.flatnonzero(np.repeat(counts >= 3, counts))]  # (positions: faster)
        sort_in_place(ordered)
        first = np.cumsum(size)
        first -= size
        low = ordered[first + (size - 1) // 2] % top
        high = ordered[first + size // 2] % top
        out[many] = (low + high) / 2.0
    return out


def _as_dates(days: np.ndarray, like: np.dtype) -> np.ndarray:
    """Day numbers as dates in the input's datetime unit (the importer gives ns)."""
    unit = np.datetime_data(like)[0] if np.dtype(like).kind == "M" else "ns"
    if unit not in ("D", "s", "ms", "us", "ns"):
        dates = np.datetime64("1970-01-01", "D") + days.astype("timedelta64[D]")
        return dates.astype(f"datetime64[{unit}]")
    # One new array: the day numbers times the unit's ticks per day (no timedelta and date copies).
    ticks = days.astype(np.int64)
    ticks *= np.timedelta64(1, "D") // np.timedelta64(1, unit)
    return ticks.view(f"datetime64[{unit}]")


def _referrals(referred_by: pd.Series, index: pd.Index) -> np.ndarray:
    """How many customers name each customer as their referrer (self-references ignored)."""
    if not (referred_by != "").any():
        return np.zeros(len(index), dtype="int64")
    ref = referred_by[(referred_by != "") & (referred_by != referred_by.index)]
    return ref.groupby(ref).size().reindex(index, fill_value=0).astype("int64").to_numpy()


def _latest_text(window: pd.DataFrame | None, codes: np.ndarray, day: np.ndarray, column: str,
                 buyers: np.ndarray, index: pd.Index) -> pd.Series:
    """Per buyer, the value on their latest order line (by date, then file order) that has one."""
    if window is None or column not in window:
        # Every text empty: all offsets 0. calloc'ed zeros are not written, so no page is touched.
        offsets = pa.py_buffer(np.zeros(len(buyers) + 1, dtype=np.int64))
        empty = pa.LargeStringArray.from_buffers(len(buyers), offsets, pa.py_buffer(b""))
        return pd.Series(empty, index=index, dtype="str")
    values = window[column].fillna("")
    named = (values != "").to_numpy()
    latest = pd.DataFrame({"code": codes[named], "day": day[named], "value": values[named].to_numpy()})
    latest = latest.sort_values("day", kind="stable").drop_duplicates("code", keep="last")
    return pd.Series(latest.set_index("code")["value"].reindex(buyers).fillna("").to_numpy(), index=index, dtype="str")
