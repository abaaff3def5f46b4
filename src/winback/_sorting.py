"""Sorting and finding millions of keys and ids without a Python object per element.

``np.argsort`` followed by a gather is the slow way: numpy's vectorised (SIMD) sort of plain values is
several times faster than its argsort. When a key and its position fit in one 63-bit integer together,
sorting the packed values sorts the keys and, for equal keys, keeps the original order (a stable sort).

numpy sorts on one core. ``sort_in_place`` splits a large array at its median (an O(n) partition) and
sorts the two halves on two cores: numpy releases the interpreter lock while it sorts.

Work over every row that needs a temporary goes ``blocks`` at a time (``count_codes``, day numbers
written straight into int32).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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


def argsort_descending(values: np.ndarray, first: int | None = None) -> np.ndarray:
    """``np.argsort(-values, kind="stable")`` for floats: largest first, equal values (0.0 and -0.0
    alike, NaNs last) in their original order; exactly the same positions, faster.

    numpy's stable argsort of floats is a merge sort; its default argsort is a vectorised (SIMD) sort
    several times faster, but it leaves equal values in any order. Those are put back in position order
    with one value sort of ``run number * n + position`` (run: a stretch of equal sorted values).

    ``first``: only that many leading positions are needed (a call list's top of millions). Then only
    the values above the ``first``-highest are sorted, and the rest of the ``first`` are the earliest
    positions holding that value (equal values keep their order): the full order's first ``first``
    entries (all of them when there are fewer values). So a cut inside a long run of ties (every
    priority 0 in an old file scanned as of today) takes no sort of the run.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if first is not None and first < n and not np.isnan(values).any():  # NaN: last here, last in a partition
        if first <= 0:
            return np.zeros(0, dtype=np.intp)
        threshold = _kth_largest(values, first)
        above = np.flatnonzero(values > threshold)  # fewer than ``first``
        ties = np.flatnonzero(values == threshold)[:first - len(above)]  # ascending positions
        return np.concatenate([above[argsort_descending(values[above])], ties])
    if n < 2:
        return np.argsort(-values, kind="stable")
    negated = -values
    order = np.argsort(negated)
    # The same values as negated[order] (equal values are equal wherever they come from), without the
    # gather: a value sort is cheaper than fetching a million values from random places.
    negated.sort()
    ordered = negated
    del negated
    new_run = np.empty(n, dtype=bool)
    new_run[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new_run[1:])
    nan = np.isnan(ordered)
    if nan.any():  # NaN != NaN: all the NaNs (sorted last) are one run
        new_run[1:] &= ~(nan[1:] & nan[:-1])
    del ordered, nan
    if new_run.all():
        return order
    key = np.cumsum(new_run, dtype=np.int64)
    key -= 1
    key *= n
    key += order
    sort_in_place(key)
    np.remainder(key, n, out=key)
    return key


def _kth_largest(values: np.ndarray, k: int) -> float:
    """The ``k``-th highest of ``values`` (no NaN; 1 <= k <= len(values)), as ``np.partition`` finds
    it. For a few of millions, the partition runs on the values at or above the ``k``-th highest of
    the maxima of blocks of 256: each of the ``k`` blocks with the highest maxima holds a value at
    least that high, so the ``k`` highest values are all among them. A partition of millions of
    values took 50 ms at the end of a ten-million-order scan; the maxima and the few, about 5."""
    n = len(values)
    block = 256
    if n >= 1 << 16 and k * block * 4 <= n:
        whole = n - n % block
        maxima = values[:whole].reshape(-1, block).max(axis=1)
        if whole < n:
            maxima = np.append(maxima, values[whole:].max())
        bound = np.partition(maxima, len(maxima) - k)[len(maxima) - k]
        values = values[values >= bound]
        n = len(values)
    return np.partition(values, n - k)[n - k]


#: Rows per block where ten-million-row work goes a million at a time: a temporary of a block (8 MB)
#: is reused by glibc, one as long as the rows (over 32 MB) is fresh pages every time, which costs on
#: a VM whose host takes freed memory back (docs/performance.md).
BLOCK = 1 << 20


def blocks(n: int, step: int = BLOCK) -> Iterator[slice]:
    """Slices of ``range(n)``, ``step`` at a time: a dozen blocks for ten million rows, not a loop per row."""
    return (slice(lo, lo + step) for lo in range(0, n, step))


def day_numbers(nanoseconds: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 (int32) of int64 nanosecond times, written straight into int32 (no int64
    temporary as long as the rows)."""
    days = np.empty(len(nanoseconds), dtype=np.int32)
    np.floor_divide(nanoseconds, 86_400 * 10**9, out=days, casting="unsafe")
    return days


_LARGEST = float(np.finfo(np.float64).max)


def finite_or_zero(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.nan_to_num(values, nan=0.0)`` of float64 values, the same to the last bit (NaN 0, the
    infinities the largest finite values), in about 40% of its time at millions of values:
    np.nan_to_num makes three masks and three masked copies; this clips, then writes 0 at the NaNs'
    positions (numpy branches on every value of a mask, and NaNs, one-time buyers' repeat averages
    for one, come and go irregularly). A new array, or ``out`` (which may be ``values``)."""
    out = np.clip(values, -_LARGEST, _LARGEST, out=out)
    out[np.flatnonzero(np.isnan(out))] = 0.0
    return out


def _or_positions(packed: np.ndarray, step: int = BLOCK) -> None:
    """``packed |= arange(len(packed))`` block by block: one reused arange of a block."""
    run = np.arange(min(step, len(packed)), dtype=np.int64)
    for part in blocks(len(packed), step):
        block = packed[part]
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


def count_codes(codes: np.ndarray, n_codes: int, step: int = BLOCK) -> np.ndarray:
    """``np.bincount(codes, minlength=n_codes)`` for a few distinct codes (dates, amounts) in ten million
    rows, block by block: np.bincount first copies int32 codes to intp, which for all rows at once is
    80 MB of fresh memory."""
    counts = np.zeros(n_codes, dtype=np.int64)
    for part in blocks(len(codes), step):
        counts += np.bincount(codes[part], minlength=n_codes)
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


#: Longest id that numbers as digits: 17 digits, left-aligned, times 32, fit in 63 bits.
DIGIT_ID_MAX = 17


def all_digits(values: pa.Array | pa.ChunkedArray) -> bool:
    """Every value is 1-17 ASCII digits (no sign, space, letter or Excel exponent): ``ascii_is_decimal``
    is false for "" and for non-ASCII digits, and ten times faster than a regular expression."""
    if not len(values):
        return True
    return bool(pc.all(pc.ascii_is_decimal(values)).as_py()) and pc.max(pc.binary_length(values)).as_py() <= DIGIT_ID_MAX


def digit_keys(values: pa.Array | pa.ChunkedArray, longest: int | None = None) -> np.ndarray:
    """int64 keys of ids that are all digits (:func:`all_digits`), equal and ordered as the texts are:
    the digits left-aligned to ``longest`` places (the longest id by default; give the same to compare
    two sets of ids), times 32, plus the length. So "1" < "10" < "9" as in text, and "0042" != "042"."""
    length = pc.binary_length(values).to_numpy()
    if longest is None:
        longest = int(length.max()) if len(length) else 1
    # The numbers, block by block, into one writable array (Arrow's own concatenation is read-only and
    # would have to be copied again to be packed and sorted in place). Each block is cast and copied
    # before the next (Arrow's parse blocks of 16 MB, not rows): the next block's cast reuses the
    # memory the last one let go of. Casting them all first took 80 MB more of fresh memory at ten
    # million ids, and 0.08-0.12 s (docs/performance.md).
    key = np.empty(len(values), dtype=np.int64)
    at = 0
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        numbers = pc.cast(chunk, pa.int64()).to_numpy(zero_copy_only=False)
        key[at:at + len(numbers)] = numbers
        at += len(numbers)
        del numbers
    if len(length) and int(length.min()) != longest:
        scale = 10 ** (longest - np.arange(longest + 1, dtype=np.int64))
        for part in blocks(len(key)):  # no ten-million-row temporary
            key[part] *= scale[length[part]]
    key *= 32
    key += length
    return key


#: Four ASCII digits per value 0-9999, as the four bytes of one uint32 (``digit_texts``).
_FOUR_DIGITS = np.frombuffer(b"".join(b"%04d" % i for i in range(10_000)), dtype=np.uint32)


def digit_texts(keys: np.ndarray) -> pa.Array:
    """The ids (large_string) that :func:`digit_keys` made ``keys`` of, from the keys alone (ids
    left-aligned to the longest of ``keys``' lengths, as ``digit_keys`` does by default).

    The digits are written four at a time from a table into a fixed-width block of bytes; each id is
    then its first ``length`` bytes. At 3.6 million distinct ids of ten million rows, gathering the
    ids' texts from the rows (a take across the column and a cast) took about 0.3 s."""
    keys = np.asarray(keys, dtype=np.int64)
    n = len(keys)
    if n == 0:
        return pa.array([], type=pa.large_string())
    length = (keys & 31).astype(np.int64)
    longest = int(length.max())
    groups = -(-longest // 4)
    four = np.empty((n, groups), dtype=np.uint32)
    rest = keys >> 5  # the digits, left-aligned to ``longest`` places
    for group in range(groups - 1, -1, -1):  # at most five groups of four digits (not over ids)
        rest, low = np.divmod(rest, 10_000)
        four[:, group] = _FOUR_DIGITS[low]
    wide = four.view(np.uint8).reshape(n, 4 * groups)[:, 4 * groups - longest:]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    data = np.ascontiguousarray(wide).reshape(-1) if int(length.min()) == longest else \
        wide[np.arange(longest) < length[:, None]]  # each row's first ``length`` bytes, in order
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.large_string(), n, buffers)


def member_mask(ids: pd.Index | pd.Series | list[str] | pa.Array,
                wanted: pd.Index | pd.Series | list[str] | pa.Array) -> np.ndarray:
    """A flag per id of ``ids``: it is one of ``wanted`` (an Arrow hash of ``wanted``, usually the few)."""
    if not len(ids) or not len(wanted):
        return np.zeros(len(ids), dtype=bool)
    return pc.is_in(as_text(ids), value_set=as_text(wanted)).to_numpy(zero_copy_only=False)


def positions_in(ids: pd.Index | pd.Series | list[str] | pa.Array,
                 values: pd.Index | pd.Series | list[str] | pa.Array) -> np.ndarray:
    """For each id of ``ids``, its position among ``values`` (distinct), or -1: Arrow's hash of
    ``values`` (pandas' lookups build theirs from a Python string per id: 3.3 s for 3.6 million)."""
    if not len(ids) or not len(values):
        return np.full(len(ids), -1, dtype=np.int64)
    found = pc.index_in(as_text(ids), value_set=as_text(values))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


__all__ = ["BLOCK", "DIGIT_ID_MAX", "all_digits", "as_text", "blocks", "count_codes", "day_numbers",
           "digit_keys", "digit_texts", "finite_or_zero", "member_mask", "positions_in",
           "sort_in_place", "sort_with_positions", "strings_in_order"]
