"""The segment rules (winback.segments): the first rule that holds, as np.select gives it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.segments import NEW_DAYS, SEGMENTS, TOP_SHARE, assign_segments


def test_each_customer_gets_the_first_segment_whose_rule_holds():
    rng = np.random.default_rng(8)
    n = 20_000
    scores = pd.DataFrame({
        "frequency": rng.integers(0, 6, n),
        "annual_value": rng.gamma(1.5, 200.0, n) * (rng.random(n) < 0.9),
        "lapsed": rng.random(n) < 0.5,
        "days_since_last": rng.integers(0, 900, n),
        "overdue_ratio": rng.gamma(1.0, 2.0, n),
        "age_days": rng.integers(0, 1_500, n),
        "orders": rng.integers(1, 9, n),
    })
    repeat = scores["frequency"].to_numpy() > 0
    value = scores["annual_value"].to_numpy()
    top = repeat & (value >= np.quantile(value[repeat], 1.0 - TOP_SHARE)) & (value > 0)
    lapsed, silent = scores["lapsed"].to_numpy(), scores["days_since_last"].to_numpy()
    overdue = scores["overdue_ratio"].to_numpy()
    rules = [scores["age_days"].to_numpy() <= NEW_DAYS, lapsed & (silent > 365) & (overdue > 4),
             lapsed & repeat & top, lapsed & repeat, ~repeat, overdue > 1, top,
             scores["orders"].to_numpy() >= 3]
    expected = np.select(rules, list(SEGMENTS[:-1]), default=SEGMENTS[-1])
    got = assign_segments(scores)
    assert set(got) == set(SEGMENTS)  # every rule is the first to hold for someone
    assert got.astype(str).tolist() == expected.tolist()


def _sentence(r: dict, currency: str | None, has_amount: bool, median_second: float | None) -> str:
    """The reason, one row at a time, written out with Python's own formatting (the reference)."""
    def money_text(v: float) -> str:  # the amount rounded half to even first, as pandas rounds
        return f"{float(np.round(v, 0)):,.0f}" + (f" {currency}" if currency else "")

    silent = str(int(r["days_since_last"]))
    if r["orders"] > 1:
        gap = str(int(max(np.round(r["expected_gap_days"], 0), 1)))
        ratio = str(float(np.round(r["overdue_ratio"], 1)))
        text = (f"Usually orders every {gap} days; {silent} days since the last order "
                f"({ratio}x the usual gap); {int(r['orders'])} orders")
        if has_amount:
            days = max(r["recency_days"], 1)
            years, months = days / 365.25, int(np.round(days / 30.44, 0))
            span = (f"{float(np.round(years, 1))} years" if years >= 1.5 else
                    f"{months} months" if months >= 2 else f"{int(days)} days")
            text += f", {money_text(r['revenue'])} net over {span}"
    else:
        second = (f" (most returning customers here order again within {round(median_second)} days)"
                  if median_second else "")
        text = f"One order {silent} days ago{second}"
        if has_amount:
            text += f"; {money_text(r['revenue'])} net"
    text += "."
    if r["referrals"] > 0:
        text += f" Brought {int(r['referrals'])} other customer(s)."
    if has_amount and r["refunds"] > 0:
        text += f" Refunds: {money_text(r['refunds'])}."
    return text


def test_reasons_read_as_python_formats_each_number():
    """The reasons are made a column at a time by Arrow: each is the sentence Python's own
    formatting gives, for ordinary and awkward numbers (halves, thousands, millions, negative,
    missing and huge amounts; spans in days, months and years)."""
    from winback.segments import reasons

    rng = np.random.default_rng(11)
    n = 4_000
    revenue = rng.gamma(1.0, 3_000.0, n).round(2)
    revenue[:12] = [0.5, 1.5, 2.5, -0.4, -1_234.5, 999.5, 1_000_000.49, 1e15, float("nan"),
                    123_456_789.5, -0.0, 9_999_999_999.5]
    rows = pd.DataFrame({
        "days_since_last": rng.integers(0, 3_000, n),
        "expected_gap_days": np.r_[[0.2, 0.5, 1.5, 2.5, 1e6], rng.gamma(2.0, 40.0, n - 5)],
        "overdue_ratio": np.r_[[0.05, 0.25, 2.25, 1e5, 10.0], rng.gamma(2.0, 1.5, n - 5)],
        "orders": rng.integers(1, 40, n),
        "revenue": revenue,
        "recency_days": np.r_[[0, 1, 45, 46, 60, 61, 547, 548, 3_650],
                              rng.integers(0, 4_000, n - 9)],
        "referrals": rng.integers(0, 3, n) * (rng.random(n) < 0.2),
        "refunds": np.where(rng.random(n) < 0.1, rng.gamma(1.0, 200.0, n).round(2), 0.0),
    }, index=pd.Index([f"C{i}" for i in range(n)], name="customer_id"))
    for currency, has_amount, median_second in ((None, True, 31.6), ("TRY", True, None),
                                                (None, False, 45.0)):
        got = reasons(rows, currency=currency, has_amount=has_amount,
                      median_second_days=median_second)
        want = [_sentence(r, currency, has_amount, median_second) for r in rows.to_dict("records")]
        assert got.tolist() == want
        assert got.dtype == "str" and got.name == "reason" and (got.index == rows.index).all()
