"""The models' fits on distinct histories (winback.models._optim.collapse): the distinct rows in
lexicographic order and their summed weights, the same whichever way the rows are sorted."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from winback.models._optim import _lexicographic_key, collapse


def _by_lexsort(columns, weights):
    """What collapse gave with np.lexsort alone: the reference."""
    stacked = np.column_stack(columns)
    n = stacked.shape[0]
    w = np.ones(n) if weights is None else np.broadcast_to(np.asarray(weights, dtype=float), (n,))
    order = np.lexsort(columns[::-1])
    ordered = stacked[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    summed = np.bincount(np.cumsum(new) - 1, weights=w[order]).astype(float, copy=False)
    keep = summed > 0
    return ordered[new][keep], summed[keep]


# Few distinct values per column, so that rows repeat; negative values, -0.0 and 0.0 among them.
_VALUES = st.sampled_from([-3.5, -1.0, -0.0, 0.0, 0.25, 1.0, 2.0, 7.0 / 3.0, 1e300, -1e-300])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3).flatmap(lambda k: st.lists(st.tuples(*[_VALUES] * k), min_size=1,
                                                    max_size=60)),
       st.booleans())
def test_distinct_rows_and_weights_are_those_of_a_lexicographic_sort(rows, weighted):
    columns = tuple(np.array(column, dtype=float) for column in zip(*rows, strict=True))
    weights = np.arange(len(rows), dtype=float) % 3 if weighted else None  # zero weights dropped
    got_rows, got_weights = collapse(columns, weights)
    want_rows, want_weights = _by_lexsort(columns, weights)
    np.testing.assert_array_equal(got_rows, want_rows)
    np.testing.assert_array_equal(got_weights, want_weights)


def test_minus_zero_and_zero_are_one_history():
    rows, weights = collapse((np.array([0.0, -0.0, 1.0]), np.array([2.0, 2.0, 2.0])), None)
    assert rows.tolist() == [[0.0, 2.0], [1.0, 2.0]]
    assert weights.tolist() == [2.0, 1.0]


def test_columns_with_too_many_distinct_values_for_one_key_are_sorted_by_lexsort():
    rng = np.random.default_rng(7)
    # 4,096 rows leave 51 bits for the key; five columns of 4,096 distinct values need 60.
    columns = tuple(rng.permutation(4096).astype(float) / 7.0 for _ in range(5))
    assert _lexicographic_key(columns) is None
    doubled = tuple(np.r_[c, c] for c in columns)
    got_rows, got_weights = collapse(doubled, None)
    want_rows, want_weights = _by_lexsort(doubled, None)
    np.testing.assert_array_equal(got_rows, want_rows)
    np.testing.assert_array_equal(got_weights, want_weights)
    assert (got_weights == 2.0).all()
