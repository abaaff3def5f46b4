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
