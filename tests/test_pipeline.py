"""The scan's own bookkeeping between the stages (winback.pipeline)."""

import numpy as np
import pandas as pd
import pytest

from winback.pipeline import _kind_counts


@pytest.mark.parametrize("window", ["all", "some", "none"])
@pytest.mark.parametrize("categories",
                         [("purchase", "refund", "cancelled"), ("refund", "purchase")])
def test_kind_counts_count_the_lines_of_each_kind_in_the_window(window, categories):
    rng = np.random.default_rng(7)
    text = pd.Series(rng.choice(categories, size=1_000), dtype="str")
    in_window = {"all": np.ones(1_000, bool), "none": np.zeros(1_000, bool),
                 "some": rng.random(1_000) < 0.6}[window]
    expected = {kind: int(((text == kind).to_numpy() & in_window).sum())
                for kind in ("purchase", "refund", "cancelled")}
    as_category = text.astype(pd.CategoricalDtype(list(categories)))
    assert _kind_counts(as_category, in_window) == expected
    assert _kind_counts(text, in_window) == expected
    assert sum(expected.values()) == in_window.sum()
