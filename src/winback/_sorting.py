"""Sorting and finding millions of keys and ids without a Python object per element.

``np.argsort`` followed by a gather is the slow way: numpy's vectorised (SIMD) sort of plain values is
several times faster than its argsort. When a key and its position fit in one 63-bit integer together,
sorting the packed values sorts the keys and, for equal keys, keeps the original order (a stable sort).

numpy sorts on one core. ``sort_in_place`` splits a large array at its median (an O(n) partition) and
sorts the two halves on two cores: numpy releases the interpreter lock while it sorts.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def sort_with_positions(key: np.ndarray, *, overwrite: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(the keys sorted, each sorted key's position in ``key``), ties in their original order.
    The positions are int32 when the packed sort is used and they fit, else int64.

    ``key`` holds integers. When they are non-negative and small enough to share 63 bits with a
    position, one value sort of ``key << bits | position`` does it; otherwise a stable argsort.
    ``overwrite``: ``key`` (int64) is the caller's scratch: it is packed and sorted in place (no copy
    of ten million keys) and becomes the first result.
    """
    key = np.asarray(key)
    n = len(key)
    if n == 0:
        return key.astype(np.int64), np.zeros(0, dtype=np.int64)
    bits = max(int(n - 1).bit_length(), 1)
    if int(key.min()) >= 0 and int(key.max()).bit_length() + bits <= 63:
        in_place = overwrite and key.dtype == np.int64 and key.flags.writeable and key.flags.c_contiguous
        packed = key if in_place else key.astype(np.int64)  # else a copy: the caller's keys are left alone
        packed <<= bits
        _or_positions(packed)
        sort_in_place(packed)
        # int32 where they fit: half the fresh memory of int64, and numpy indexes with either.
        positions = np.empty(n, dtype=np.int32 if n < 2**31 else np.int64)
        np.bitwise_and(packed, (1 << bits) - 1, out=positions, casting="unsafe")
        packed >>= bits
        return packed, positions
    positions = np.argsort(key, kind="stable")
    return key[positions], positions


def _or_positions(packed: np.ndarray, step: int = 1 << 20) -> None:
    """``packed |= arange(len(packed))``, a million at a time: one reused 8 MB block instead of a new
    array as long as ``packed`` (arrays over 32 MB are fresh pages every time, which costs on a VM)."""
    run = np.arange(min(step, len(packed)), dtype=np.int64)
    for lo in range(0, len(packed), step):  # a dozen blocks for ten million values, not a loop per value
        block = packed[lo:lo + step]
        np.bitwise_or(block, run[:len(block)], out=block)
        run += step


# Below this many values one core sorts faster than two plus the partition and the thread.
_PARALLEL_SORT_MIN = 1_000_000


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def sort_in_place(values: np.ndarray) -> None:
    """Sort a one-dimensional numeric array in place, on two cores when it is large and there are two.

    The array is partitioned around its median element (``np.partition``: every value before it is
    smaller or equal, every value after it larger or equal), then each half is sorted in its own thread.
    The result is exactly ``values.sort()``'s.
    """
    n = len(values)
    if n < _PARALLEL_SORT_MIN or _cores() < 2:
        values.sort()
        return
    middle = n // 2
    values.partition(middle)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="winback-sort") as helper:
        upper = helper.submit(values[middle:].sort)
        values[:middle].sort()
        upper.result()  # its failure, if any, is raised here


def count_codes(codes: np.ndarray, n_codes: int, step: int = 1 << 20) -> np.ndarray:
    """``np.bincount(codes, minlength=n_codes)`` for a few distinct codes (dates, amounts) in ten million
    rows, a million at a time: np.bincount first copies int32 codes to intp, which at ten million
    rows is 80 MB of fresh memory; a block's copy is 8 MB and reused."""
    counts = np.zeros(n_codes, dtype=np.int64)
    for lo in range(0, len(codes), step):  # a dozen blocks, not a loop per row
        counts += np.bincount(codes[lo:lo + step], minlength=n_codes)
    return counts


def strings_in_order(ids: pd.Index | pa.Array) -> bool:
    """Whether the ids (text) are in ascending code point order, checked in Arrow: pandas would build a
    Python string per id for ``is_monotonic_increasing``."""
    if len(ids) < 2:
        return True
    text = as_text(ids)
    return bool(pc.all(pc.less_equal(text.slice(0, len(text) - 1), text.slice(1))).as_py())


def as_text(ids: pd.Index | pd.Series | list[str] | pa.Array) -> pa.Array:
    """Ids as Arrow large_string text, without a Python string per id where they are Arrow-backed already."""
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        return ids.cast(pa.large_string())
    values = ids.array if isinstance(ids, (pd.Index, pd.Series)) and ids.dtype != object else np.asarray(ids, dtype=object)
    return pa.array(values, type=pa.large_string()) if len(values) else pa.array([], type=pa.large_string())


def member_mask(ids: pd.Index | pd.Series | list[str] | pa.Array,
                wanted: pd.Index | pd.Series | list[str] | pa.Array) -> np.ndarray:
    """A flag per id of ``ids``: it is one of ``wanted`` (an Arrow hash of ``wanted``, usually the few)."""
    if not len(ids) or not len(wanted):
        return np.zeros(len(ids), dtype=bool)
    return pc.is_in(as_text(ids), value_set=as_text(wanted)).to_numpy(zero_copy_only=False)


__all__ = ["as_text", "count_codes", "member_mask", "sort_in_place", "sort_with_positions", "strings_in_order"]
