"""Segments a sales team knows, and a plain reason for each customer, from their own numbers.

Segments do not overlap and cover everyone; the first rule that matches wins:

==============  =========================================================================
segment         rule
==============  =========================================================================
new             first purchase within the last ``NEW_DAYS`` days (too early to judge)
lost            lapsed, silent for more than a year and more than 4x their usual gap
can't lose      lapsed, with repeat purchases, and annual value in the top 20% of repeat buyers
at risk         lapsed, with repeat purchases
one-time        a single purchase (lapsed or not)
hibernating     not lapsed, but past their usual gap (overdue ratio above 1)
champions       annual value in the top 20% of repeat buyers, on rhythm
loyal           three or more purchases, on rhythm
active          everyone else: repeat buyers on rhythm
==============  =========================================================================
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback._text import choose, joined, python_where, signed, whole

NEW_DAYS = 60
TOP_SHARE = 0.20
SEGMENTS = ("new", "lost", "can't lose", "at risk", "one-time", "hibernating", "champions", "loyal",
            "active")


def assign_segments(scores: pd.DataFrame) -> pd.Series:
    """One segment name per customer (see the module table)."""
    if scores.empty:
        return pd.Series(pd.Categorical([], categories=SEGMENTS), index=scores.index, name="segment")
    repeat = scores["frequency"].to_numpy() > 0
    value = scores["annual_value"].to_numpy(dtype=float)
    # The top-value cut (a partition of the repeat buyers' values, 50 ms at 3.6 million customers)
    # is worked out in a second thread while the conditions that do not need it are put together
    # here: numpy gives up the interpreter lock in both.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="winback-segments") as helper:
        cut = helper.submit(_top_value_cut, value, repeat)
        lapsed = scores["lapsed"].to_numpy(dtype=bool)
        silent = scores["days_since_last"].to_numpy(dtype=float)
        overdue = scores["overdue_ratio"].to_numpy(dtype=float)
        lapsed_repeat = lapsed & repeat
        # The first condition that holds gives the segment (np.select's rule). A customer's
        # conditions become the bits of one byte, and a table of the 256 bytes gives the first set
        # bit: eight masked writes of millions of int8 codes took about five times as long (150 ms
        # at 3.6 million).
        bits = np.zeros(len(value), dtype=np.uint8)
        shifted = np.empty(len(value), dtype=np.uint8)

        def add(bit: int, holds: np.ndarray) -> None:
            np.left_shift(holds.view(np.uint8), bit, out=shifted)
            np.bitwise_or(bits, shifted, out=bits)

        add(0, scores["age_days"].to_numpy() <= NEW_DAYS)
        add(1, lapsed & (silent > 365) & (overdue > 4))
        add(3, lapsed_repeat)
        add(4, ~repeat)
        add(5, overdue > 1)
        add(7, scores["orders"].to_numpy() >= 3)
        top = repeat & (value >= cut.result()) & (value > 0)
        add(2, lapsed_repeat & top)
        add(6, top)
    codes = _FIRST_CONDITION[bits]
    return pd.Series(pd.Categorical.from_codes(codes, categories=SEGMENTS), index=scores.index, name="segment")


def _top_value_cut(value: np.ndarray, repeat: np.ndarray) -> float:
    """The annual value above which a repeat buyer is in the top ``TOP_SHARE`` of repeat buyers."""
    at = np.flatnonzero(repeat)  # (positions, not the mask: faster; docs/performance.md)
    return np.quantile(value[at], 1.0 - TOP_SHARE) if len(at) else np.inf


def _first_condition_table(n_conditions: int, default: int) -> np.ndarray:
    """Per byte of condition bits: the position of its lowest set bit (the first condition that
    holds), or ``default`` when none does."""
    table = np.full(1 << n_conditions, default, dtype=np.int8)
    for byte in range(1, len(table)):
        table[byte] = (byte & -byte).bit_length() - 1
    return table


_FIRST_CONDITION = _first_condition_table(len(SEGMENTS) - 1, len(SEGMENTS) - 1)


def _one_decimal(values: np.ndarray) -> pa.Array:
    """Floats already rounded to one decimal as ``str(float)`` writes them (``2.5``, ``10.0``): the
    digits from the value times ten; any value that is not such a float, or of 10**15 and more,
    by Python."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        tenths = np.rint(v * 10.0)
        ok = np.isfinite(tenths) & (np.abs(tenths) < 1e16) & (tenths / 10.0 == v)
    tenths = np.where(ok, np.abs(tenths), 0).astype(np.int64)
    text = signed(joined(whole(tenths // 10), ".", whole(tenths % 10)), np.signbit(v))
    return python_where(text, ~ok, v, str)


def _thousands(values: np.ndarray) -> pa.Array:
    """Whole non-negative numbers below 10**15 with a comma between thousands (``12,345``)."""
    text = None
    highest = (len(str(int(values.max()))) - 1) // 3 if len(values) else 0
    for level in range(highest, -1, -1):  # the groups of three digits, from the highest
        unit = 1000 ** level
        group = (values // unit) % 1000
        if level == 0:
            piece = whole(group)
            piece = choose(values >= 1000, joined(",", pc.utf8_lpad(piece, 3, "0")), piece)
        else:
            top, inner = (values >= unit) & (values < unit * 1000), values >= unit * 1000
            padded = joined(",", pc.utf8_lpad(whole(group), 3, "0"))
            piece = choose(inner, padded, choose(top, whole(group), ""))
        text = piece if text is None else joined(text, piece)
    return text


def _money(values: pd.Series | np.ndarray, currency: str | None) -> pa.Array:
    """12,345 TRY style amounts (thousands separated by commas, no decimals): what
    ``"{:,.0f}".format`` writes of the value rounded half to even, made by Arrow; a value that is
    not finite, or of 10**15 and more, by Python."""
    v = np.round(np.asarray(values, dtype=np.float64), 0)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(v) & (np.abs(v) < 1e15)
    text = _thousands(np.where(ok, np.abs(v), 0).astype(np.int64))
    text = python_where(signed(text, np.signbit(v)), ~ok, v, "{:,.0f}".format)
    return joined(text, f" {currency}") if currency else text


def _span(days: np.ndarray) -> pa.Array:
    """A relationship's length: years (one decimal) from a year and a half, else whole months from
    two, else days."""
    days = np.asarray(days, dtype=np.float64)
    years = days / 365.25
    months = np.round(days / 30.44, 0).astype(int)
    in_years = joined(_one_decimal(np.round(years, 1)), " years")
    in_months = joined(whole(months), " months")
    in_days = joined(whole(days.astype(int)), " days")
    return choose(years >= 1.5, in_years, choose(months >= 2, in_months, in_days))


def reasons(rows: pd.DataFrame, *, currency: str | None, has_amount: bool,
            median_second_days: float | None) -> pd.Series:
    """One plain sentence per row, built from that customer's own numbers.

    Made a column at a time by Arrow (a ``--all`` list has millions of rows; pandas' string
    arithmetic took about 17 s for three million)."""
    if rows.empty:
        return pd.Series(dtype="str", index=rows.index, name="reason")
    silent = whole(rows["days_since_last"].to_numpy())
    gap = whole(rows["expected_gap_days"].round(0).clip(lower=1).to_numpy().astype(int))
    ratio = _one_decimal(rows["overdue_ratio"].round(1).to_numpy())
    orders = rows["orders"].to_numpy().astype(int)
    revenue = _money(rows["revenue"], currency) if has_amount else None
    repeat = joined("Usually orders every ", gap, " days; ", silent,
                     " days since the last order (", ratio, "x the usual gap); ", whole(orders),
                     " orders")
    if has_amount:
        repeat = joined(repeat, ", ", revenue, " net over ",
                         _span(rows["recency_days"].clip(lower=1).to_numpy()))
    second = (" (most returning customers here order again within "
              f"{round(median_second_days)} days)" if median_second_days else "")
    single = joined("One order ", silent, " days ago", second)
    if has_amount:
        single = joined(single, "; ", revenue, " net")
    text = choose(rows["orders"].to_numpy() > 1, joined(repeat, "."), joined(single, "."))
    if "referrals" in rows:
        n_ref = rows["referrals"].to_numpy().astype(int)
        brought = joined(text, " Brought ", whole(n_ref), " other customer(s).")
        text = choose(n_ref > 0, brought, text)
    if "refunds" in rows and has_amount:
        refunded = rows["refunds"].to_numpy() > 0
        if refunded.any():  # the amounts of the few with refunds, each at its row (null elsewhere)
            amounts = _money(rows["refunds"].to_numpy()[refunded], currency)
            at = pa.array(np.cumsum(refunded) - 1, mask=~refunded)
            with_refunds = joined(text, " Refunds: ", amounts.take(at), ".")
            text = choose(refunded, with_refunds, text)
    return pd.Series(text, index=rows.index, dtype="str", name="reason")
