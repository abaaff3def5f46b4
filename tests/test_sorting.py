"""The array helpers behind the ten-million-row paths: packed sorts, Arrow lookups of ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from winback import _sorting
from winback._sorting import (
    DIGIT_ID_MAX,
    count_codes,
    digit_keys,
    digit_texts,
    member_mask,
    sort_in_place,
    sort_with_positions,
    strings_in_order,
)


@pytest.mark.parametrize("high", [50, 2**40, 2**62])  # packed into 63 bits, and too wide to pack (argsort)
def test_sort_with_positions_is_a_stable_sort(high):
    key = np.random.default_rng(3).integers(0, high, 5_000)
    key[::7] = key[0]  # ties keep their order
    ordered, positions = sort_with_positions(key)
    expected = np.argsort(key, kind="stable")
    assert np.array_equal(positions, expected)
    assert np.array_equal(ordered, key[expected])


@pytest.mark.parametrize("step", [1, 7, 1_000, 1 << 20])
def test_positions_are_or_ed_in_blocks(step):
    packed = np.random.default_rng(step).integers(0, 2**20, 1_000, dtype=np.int64) << 10
    expected = packed | np.arange(len(packed))
    _sorting._or_positions(packed, step=step)
    assert np.array_equal(packed, expected)


def test_sort_with_positions_in_place_and_left_alone():
    key = np.array([5, 1, 5, 0], dtype=np.int64)
    kept = key.copy()
    sort_with_positions(key)
    assert np.array_equal(key, kept)  # the caller's keys are not touched by default
    ordered, positions = sort_with_positions(key, overwrite=True)
    assert ordered.tolist() == [0, 1, 5, 5] and positions.tolist() == [3, 1, 0, 2]
    assert np.shares_memory(ordered, key)
    negative = np.array([3, -1, 2])
    assert sort_with_positions(negative)[1].tolist() == [1, 2, 0]
    assert [len(a) for a in sort_with_positions(np.zeros(0, dtype=np.int64))] == [0, 0]


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1_001, 4_096])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint64", "float64"])
def test_sort_in_place_on_two_cores_equals_numpys_sort(monkeypatch, n, dtype):
    monkeypatch.setattr(_sorting, "_PARALLEL_SORT_MIN", 2)  # the two-thread path, even for a few values
    monkeypatch.setattr(_sorting, "_cores", lambda: 2)
    values = np.random.default_rng(n).integers(0, 40, n).astype(dtype)  # many ties around the median
    expected = np.sort(values)
    sort_in_place(values)
    assert np.array_equal(values, expected)


def test_sort_in_place_on_one_core_and_above_the_threshold(monkeypatch):
    values = np.random.default_rng(1).integers(-2**62, 2**62, _sorting._PARALLEL_SORT_MIN + 3)
    expected = np.sort(values)
    sort_in_place(values)  # as many cores as the machine has
    assert np.array_equal(values, expected)
    monkeypatch.setattr(_sorting, "_cores", lambda: 1)
    values = values[::-1].copy()
    sort_in_place(values)
    assert np.array_equal(values, expected)


def test_strings_in_order_is_code_point_order():
    assert strings_in_order(pd.Index(["1", "10", "9", "A", "a", "ç"], dtype="str"))
    assert not strings_in_order(pd.Index(["9", "10"], dtype="str"))
    assert strings_in_order(pd.Index(["b", "b"], dtype=object)) and strings_in_order(pd.Index([], dtype="str"))
    assert not strings_in_order(pa.array(["b", "a"]))


def test_member_mask_on_text_categoricals_and_arrow():
    ids = pd.Index(["00042", "042", "A-1", "ç"], dtype="str")
    assert member_mask(ids, ["042", "ç", "zz"]).tolist() == [False, True, False, True]
    cats = pd.Series(pd.Categorical(["b", "a", "b"]))
    assert member_mask(cats, pd.Index(["b"])).tolist() == [True, False, True]
    assert member_mask(pa.array(["x", "y"]), pa.array(["y"])).tolist() == [False, True]
    assert member_mask(ids, []).tolist() == [False] * 4


@pytest.mark.parametrize("step", [1, 3, 1 << 20])
def test_count_codes_equals_bincount(step):
    codes = np.random.default_rng(step).integers(0, 9, 1_000).astype(np.int32)
    assert count_codes(codes, 12, step=step).tolist() == np.bincount(codes, minlength=12).tolist()
    assert count_codes(codes[:0], 3).tolist() == [0, 0, 0]


@pytest.mark.parametrize("seed", range(6))
def test_argsort_descending_equals_numpys_stable_argsort(seed):
    from winback._sorting import argsort_descending

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 3_000))
    values = np.round(rng.gamma(0.5, 20.0, n), int(rng.integers(0, 3)))  # many ties after rounding
    values[rng.random(n) < 0.2] = 0.0
    values[rng.random(n) < 0.05] = -0.0  # equal to 0.0
    if seed % 2:
        values[rng.random(n) < 0.05] = np.nan
        values[rng.random(n) < 0.01] = np.inf
    expected = np.argsort(-values, kind="stable")
    assert np.array_equal(argsort_descending(values), expected)


def test_argsort_descending_of_distinct_values_and_of_few():
    from winback._sorting import argsort_descending

    values = np.random.default_rng(9).random(5_000)
    assert np.array_equal(argsort_descending(values), np.argsort(-values, kind="stable"))
    for few in ([], [1.5], [2.0, 2.0], [np.nan, 1.0]):
        assert np.array_equal(argsort_descending(np.array(few)), np.argsort(-np.array(few), kind="stable"))


@pytest.mark.parametrize("seed", range(4))
def test_argsort_descending_of_the_first_few_of_many_is_the_full_orders_start(seed):
    from winback._sorting import _kth_largest, argsort_descending

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1 << 16, 1 << 18))
    values = np.round(rng.gamma(0.5, 20.0, n), int(rng.integers(0, 3)))  # many ties after rounding
    values[rng.random(n) < 0.2] = 0.0
    values[rng.random(n) < 0.05] = -0.0
    if seed % 2:
        values[rng.random(n) < 0.001] = np.inf
        values[: n // 3] = np.sort(values[: n // 3])  # ascending: one block holds many of the top
    full = np.argsort(-values, kind="stable")
    for first in (1, 7, 50, 200):
        assert _kth_largest(values, first) == np.partition(values, n - first)[n - first]
        got = argsort_descending(values, first)
        assert np.array_equal(got, full[:first])


def test_the_first_few_of_a_long_run_of_ties_are_its_earliest_positions():
    """Every priority 0 (an old file scanned as of today), or the cut inside a long run of equal
    values: the earliest positions of the run, after the values above it."""
    from winback._sorting import argsort_descending

    values = np.zeros(300_000)
    values[[5, 77, 123_456]] = -0.0
    assert np.array_equal(argsort_descending(values, 50), np.arange(50))
    values[[200_000, 7]] = [3.0, 1.0]
    assert np.array_equal(argsort_descending(values, 4), [200_000, 7, 0, 1])
    assert np.array_equal(argsort_descending(values, 4), np.argsort(-values, kind="stable")[:4])


@pytest.mark.parametrize("seed", range(6))
def test_digit_texts_gives_back_the_ids_digit_keys_were_made_of(seed):
    """Distinct ids of digits, of one length or of several (leading zeros, 1 and 17 digits), come
    back as the same texts, in key order, from their keys alone."""
    rng = np.random.default_rng(seed)
    n = 500
    lengths = np.full(n, 8) if seed % 2 else rng.integers(1, DIGIT_ID_MAX + 1, n)
    ids = ["".join(map(str, rng.integers(0, 10, size))) for size in lengths]
    ids += [] if seed % 2 else ["0", "00", "7", "9" * DIGIT_ID_MAX, "0" * DIGIT_ID_MAX]
    keys = digit_keys(pa.array(ids))
    text_of = dict(zip(keys.tolist(), ids, strict=True))
    distinct = np.unique(keys)
    got = digit_texts(distinct)
    got.validate(full=True)
    assert got.type == pa.large_string()
    assert got.to_pylist() == [text_of[k] for k in distinct.tolist()]
    assert len(digit_texts(np.zeros(0, dtype=np.int64))) == 0


def test_finite_or_zero_is_nan_to_num_to_the_last_bit():
    """NaN 0, the infinities the largest finite values, everything else as it is (-0.0 too), as
    np.nan_to_num(nan=0.0) gives them; a new array, or in place."""
    from winback._sorting import finite_or_zero

    rng = np.random.default_rng(5)
    values = rng.normal(0, 1e300, 100_000)
    values[rng.random(100_000) < 0.4] = np.nan
    values[:6] = [np.inf, -np.inf, -0.0, 0.0, 5e-324, -np.finfo(float).max]
    expected = np.nan_to_num(values, nan=0.0)
    got = finite_or_zero(values)
    assert got is not values and np.isnan(values).any()
    np.testing.assert_array_equal(got.view(np.int64), expected.view(np.int64))
    in_place = values.copy()
    assert finite_or_zero(in_place, out=in_place) is in_place
    np.testing.assert_array_equal(in_place.view(np.int64), expected.view(np.int64))
