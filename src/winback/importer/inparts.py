"""Read a large plain order file a part at a time, with memory for one part (``--low-memory``).

Each part of the file (about :data:`PART_BYTES`, cut at a line break outside quotes) is written to a
private temporary file under the file's own header line and read by the importer as a file of its
own, with every check and skip reason of the whole-file import and the line numbers of the whole
file. Its orders go to the caller (``each`` of :func:`read_in_parts`), and to disk split by
customer into *buckets*: a hash of the customer id says which, so that every order of a customer
is in one bucket, in file order. The summary is then made one bucket at a time by the usual
summary code (:meth:`InParts.buckets`): memory holds a part's or a bucket's orders (the file's
orders divided by the number of buckets) and the customers, whatever the file's length, and the
summary is the one of the whole file to the last bit.

What the whole-file import decides from every row, the parts decide one at a time:

- a decimal separator proven by one part's amounts holds for the parts after it (a part whose
  amounts prove nothing reads them the same either way); amounts that prove the other separator
  in a later part are an error, as in one file; a part whose amounts all look like ``1.234``
  (thousands or decimals?) with nothing before it to decide is an error, where one file may be
  decided by later rows;
- lines repeated exactly are found within each part by the importer, and across parts in the
  buckets, where all of a customer's lines are (:meth:`InParts.buckets`);
- a totals line is recognised by its words, and by its amount against the rows above it in its own
  part (a totals line under several parts is counted as 'empty customer id' instead);
- warnings, and the notes that count rows (Excel serial dates, two-digit years), are each part's: a
  file whose parts each have orders in the future says so once per part.

Files the fast reader cannot take (other encodings, workbooks, a header not on line 1, standard
input) are not read in parts: :func:`read_in_parts` returns None and the caller reads them whole.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from winback._memory import release_memory
from winback.errors import InputDataError
from winback.importer import load as _load
from winback.importer.parts import after_last_line_break, read_on
from winback.importer.values import NO_DATES
from winback.writers import create_private

#: Bytes of the file in each part: about 650,000 lines of a typical export. The buckets are as
#: many as the file has parts' worth of bytes.
PART_BYTES = 32 << 20
#: The skip reason of repeated order lines, which the buckets add to.
_REPEAT = "duplicate order line"


@dataclass
class InParts:
    """A file read in parts: the import report so far, and its orders on disk by customer bucket."""

    report: _load.ImportReport
    options: _load.ImportOptions
    name: str
    bucket_files: list[str]
    has_order_id: bool
    #: Order lines repeating a line of an earlier part, found by :meth:`buckets` (line, kind,
    #: order_date), bucket by bucket
    repeated: list[pd.DataFrame] = field(default_factory=list)

    def buckets(self) -> Iterator[pd.DataFrame]:
        """Each bucket's orders as an orders frame (the importer's contract; its customers' orders
        of the whole file in file order), with the lines that repeat a line of an earlier part
        exactly left out when the file has an order id (else kept, as the importer keeps them).
        Call :meth:`finish` after the last. Buckets without orders are left out."""
        for path in self.bucket_files:
            table = pa.ipc.open_file(pa.memory_map(path)).read_all()  # (pages read as used)
            os.remove(path)
            if not table.num_rows:
                continue
            frame = _frame(table, self.name)
            del table
            yield self._without_repeats(frame)

    def _without_repeats(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = [c for c in frame.columns if c not in ("source", "line", "_part")]
        # Only lines of one customer on one day can repeat each other: few, and checked in full.
        maybe = frame.duplicated(["customer_id", "order_date"], keep=False).to_numpy()
        repeat = np.zeros(len(frame), dtype=bool)
        if maybe.any():
            some = frame[maybe]
            # A repeat of an earlier line, and the first of its kind in its part: its earlier twin
            # is in an earlier part (repeats within a part were handled by the importer).
            repeat[maybe] = (
                some.duplicated(values) & ~some.duplicated([*values, "_part"])
            ).to_numpy()
        if repeat.any():
            self.repeated.append(
                pd.DataFrame(
                    {
                        "line": frame["line"].to_numpy()[repeat],
                        "kind": frame["kind"].to_numpy()[repeat],
                        "order_date": frame["order_date"].to_numpy()[repeat],
                    }
                )
            )
            if self.has_order_id:
                frame = frame[~repeat].reset_index(drop=True)
        return frame.drop(columns=[c for c in ("_part", "order_id") if c in frame])

    def finish(self) -> pd.DataFrame:
        """Account for the repeats across parts in the report and check the whole import, once
        every bucket is read; the repeats left out (line, kind, order_date)."""
        found = (
            pd.concat(self.repeated, ignore_index=True)
            if self.repeated
            else pd.DataFrame({"line": np.zeros(0, np.int64), "kind": [], "order_date": []})
        )
        found = found.sort_values("line", ignore_index=True)
        report, n = self.report, len(found)
        lines = found["line"].to_numpy()
        report.exact_duplicates += n
        if n and self.has_order_id:
            report.skipped_by_reason[_REPEAT] = report.skipped_by_reason.get(_REPEAT, 0) + n
            report.rows_used -= n
            report.sources[0].rows_used -= n
        elif n:
            where = ", ".join(str(int(x)) for x in lines[:5])
            report.warnings.append(
                f"{self.name}: {n} row(s) repeat a row of an earlier part of the file exactly "
                f"(lines {where}); they are kept as separate orders because the file has no order "
                "id column. Add one (--map order_id=COLUMN) to remove them."
            )
            found = found.iloc[:0]
        # The examples of repeats: the first of them in the file, within parts or across them.
        examples = report.skipped_examples.get(_REPEAT)
        if examples is not None or len(found):
            at = [int(e.rsplit(":", 1)[1]) for e in examples or []]
            at = sorted([*at, *(int(x) for x in found["line"])])
            limit = self.options.examples
            report.skipped_examples[_REPEAT] = [f"{self.name}:{x}" for x in at[:limit]]
        _load.check_import(report, self.options)
        return found


def read_in_parts(
    path: str, options: _load.ImportOptions, workdir: str, each: Callable[[pd.DataFrame], None]
) -> InParts | None:
    """Read the order file at ``path`` a part at a time into ``workdir`` (a private directory the
    caller removes); ``each`` gets every part's orders frame (with the order id, when the file has
    one) before it is let go of. None when the file cannot be read in parts."""
    from winback.importer.fast import plain_layout  # (the fast reader imports pandas' string work)

    if path == "-" or options.encoding or not options.has_header or options.header_row is not None:
        return None
    if plain_layout(path, path) is None:
        return None
    report = _load.ImportReport()
    n_buckets = max(1, math.ceil(os.path.getsize(path) / PART_BYTES))
    buckets = _Buckets(workdir, n_buckets)
    decimal = options.decimal
    formats: dict[str, str] = {}
    n_parts = 0
    try:
        with open(path, "rb") as fh:
            header = fh.readline()
            lines_before = 1  # the file's lines above the part (the header, at first)
            for body, breaks in _parts(fh):
                part_file = os.path.join(workdir, "part.csv")
                _write_private(part_file, (header, body))
                opts = replace(
                    options, line_offset=lines_before - 1, keep_order_id=True, decimal=decimal
                )
                part_report = _load.ImportReport()
                try:
                    frame, _ = _load._load_one(part_file, opts, part_report, [], name=path)
                except InputDataError as exc:
                    if not n_parts:  # the file's start: as a whole read would say
                        raise
                    lines = f"lines {lines_before + 1}-{lines_before + breaks}"
                    raise InputDataError(
                        f"{path}, {lines}: read on their own (--low-memory reads a file a part at "
                        f"a time), these lines gave an error: {exc} Check them with 'winback "
                        "inspect', or read the file whole with --no-low-memory.") from None
                os.remove(part_file)
                decimal = _carry_decimal(part_report.sources[-1], formats, decimal, path)
                _merge(report, part_report, options.examples)
                lines_before += breaks
                each(frame)
                buckets.add(frame, n_parts)
                del frame
                release_memory()  # the part's Arrow buffers, before the next part's
                n_parts += 1
    finally:
        buckets.close()
    if not n_parts:  # no line under the header: read as a whole file (the same report)
        return None
    # Too many rows unusable: said now, not after the summary (repeats across parts, counted
    # later, only make the share larger).
    _load.check_import(report, options)
    return InParts(report, options, path, buckets.files, "order_id" in buckets.schema.names)


def _parts(fh: BinaryIO) -> Iterator[tuple[memoryview, int]]:
    """The file's bytes after the header, in parts of about :data:`PART_BYTES`, each ending with a
    line break outside quotes (an even number of quote characters before it: a quoted line break
    stays within its part), with its number of line breaks. Each part starts outside quotes, as the
    file does. One buffer is read into and reused: a part is valid until the next is asked for."""
    view = memoryview(bytearray(PART_BYTES))
    held = 0  # bytes at the buffer's start carried over from the last part
    while True:
        total = held + read_on(lambda part, done: fh.readinto(part), view[held:])
        at_end = total < len(view)
        end, breaks = _cut(view[:total], at_end)
        if not end and not at_end:  # no line ends outside quotes in the whole buffer: a larger one
            larger = memoryview(bytearray(2 * len(view)))
            larger[:total] = view[:total]
            view, held = larger, total
            continue
        if end:
            yield view[:end], breaks
        if at_end:
            return
        held = total - end
        view[:held] = view[end:total].tobytes()


def _cut(data: memoryview, at_end: bool) -> tuple[int, int]:
    """(where the part ends: after the last line break with an even number of quote characters
    before it, or the end of the file; its line breaks). (0, 0): no such line break."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if at_end:
        return len(raw), int(np.count_nonzero(raw == 10))
    end = after_last_line_break(data, len(raw))
    if end and np.count_nonzero(raw[:end] == 34) % 2 == 0:  # the usual case: two counts
        return end, int(np.count_nonzero(raw[:end] == 10))
    # A quoted cell spans the last line break: the quotes before each line break.
    breaks = np.flatnonzero(raw == 10)
    before = np.searchsorted(np.flatnonzero(raw == 34), breaks)
    outside = np.flatnonzero(before % 2 == 0)
    return (int(breaks[outside[-1]]) + 1, int(outside[-1]) + 1) if len(outside) else (0, 0)


def _write_private(path: str, pieces: tuple[bytes | memoryview, ...]) -> None:
    """Write a file only its owner may read (it holds customer data)."""
    create_private(path)
    with open(path, "wb") as out:
        for piece in pieces:
            out.write(piece)


def _carry_decimal(
    info: _load.SourceInfo, seen: dict[str, str], decimal: str | None, name: str
) -> str | None:
    """The decimal separator the next parts are read with: a decimal comma, once a part's values
    proved it (a part whose values decide nothing reads the same with either). A part whose values
    prove the other separator than an earlier part's (``seen``: the first proof of each money
    column) is an error, as such a column is in one file."""
    for role, proven in info.decimal_proven.items():
        if seen.setdefault(role, proven) != proven:
            raise InputDataError(
                f"{name}: some amounts use a decimal comma and others a decimal point, in "
                "different parts of the file. Fix the export, or say which with --decimal , or "
                "--decimal ."
            )
    if decimal is None and "," in info.decimal_proven.values():
        return ","
    return decimal


def _merge(total: _load.ImportReport, part: _load.ImportReport, limit: int | None) -> None:
    """Add a part's report to the file's: counts added, examples up to ``limit`` per reason, one
    source (the first part's layout and formats; rows, dates and notes of every part)."""
    total.rows_read += part.rows_read
    total.rows_used += part.rows_used
    total.exact_duplicates += part.exact_duplicates
    for reason, n in part.skipped_by_reason.items():
        total.skipped_by_reason[reason] = total.skipped_by_reason.get(reason, 0) + n
    for reason, found in part.skipped_examples.items():
        kept = total.skipped_examples.setdefault(reason, [])
        room = None if limit is None or reason == _REPEAT else max(0, limit - len(kept))
        kept.extend(found[:room])  # (the repeats' examples: every part's, InParts.finish picks)
    total.warnings.extend(part.warnings)
    info = part.sources[-1]
    if not total.sources:
        total.sources.append(info)
        return
    whole = total.sources[0]
    if (info.delimiter, info.columns) != (whole.delimiter, whole.columns):  # (never seen)
        raise InputDataError(
            f"{whole.path}: a part of the file reads differently from its start (separator "
            f"'{info.delimiter}' instead of '{whole.delimiter}', or other columns). Check the "
            "file with 'winback inspect', or read it whole with --no-low-memory.")
    whole.rows_read += info.rows_read
    whole.rows_used += info.rows_used
    dates = [d for d in (whole.first_date, info.first_date) if d]
    whole.first_date = min(dates) if dates else None
    dates = [d for d in (whole.last_date, info.last_date) if d]
    whole.last_date = max(dates) if dates else None
    whole.currency = whole.currency or info.currency
    if info.currency and whole.currency != info.currency:
        raise InputDataError(
            f"{whole.path}: the amounts are in different currencies ({whole.currency}, "
            f"{info.currency}) in different parts of the file; winback does not add different "
            "currencies together."
        )
    for role, proven in info.decimal_proven.items():  # the first part whose values decide
        if role not in whole.decimal_proven:
            whole.decimal_proven[role] = proven
            whole.formats[role] = info.formats[role]
    if info.formats.get("order_date") != whole.formats.get("order_date"):
        # The date shapes of every part; a part without dates (a totals line alone) adds nothing.
        described = (whole.formats.get("order_date", ""), info.formats.get("order_date", ""))
        shapes = [f for d in described for f in d.split(", ") if f]
        found = [f for f in dict.fromkeys(shapes) if f != NO_DATES]
        whole.formats["order_date"] = ", ".join(found or [NO_DATES])
    whole.notes.extend(
        n for n in info.notes if n not in whole.notes and n != "no order rows under the header"
    )


class _Buckets:
    """Bucket files (Arrow IPC, private) that the parts' orders are split into by customer."""

    def __init__(self, workdir: str, n: int) -> None:
        self.files = [os.path.join(workdir, f"bucket-{i}.arrow") for i in range(n)]
        self.writers: list[pa.ipc.RecordBatchFileWriter] = []
        self.schema: pa.Schema | None = None

    def add(self, frame: pd.DataFrame, part: int) -> None:
        table, bucket = _table(frame, part, len(self.files))
        if self.schema is None:
            self.schema = table.schema
            for path in self.files:
                create_private(path)
                self.writers.append(pa.ipc.new_file(path, self.schema))
        order = np.argsort(bucket, kind="stable")  # each bucket's rows together, in file order
        bounds = np.searchsorted(bucket[order], np.arange(len(self.files) + 1))
        table = table.cast(self.schema).take(order)  # (one gather; each bucket's rows a slice)
        for i, writer in enumerate(self.writers):
            if bounds[i + 1] > bounds[i]:
                writer.write_table(table.slice(bounds[i], bounds[i + 1] - bounds[i]))

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def _table(frame: pd.DataFrame, part: int, n_buckets: int) -> tuple[pa.Table, np.ndarray]:
    """A part's orders as an Arrow table for the bucket files (ids and texts as text, kinds as
    codes, the file name left out), and each row's bucket."""
    # (the importer's frame: ids and kinds are categoricals, the kinds in KINDS' order)
    codes = frame["customer_id"].cat.codes.to_numpy()
    distinct = pa.array(frame["customer_id"].cat.categories).cast(pa.large_string())
    columns = {"customer_id": distinct.take(pa.array(codes))}
    for name in frame.columns:
        if name in ("customer_id", "source"):
            continue
        values = frame[name]
        if name == "kind":
            columns[name] = pa.array(values.cat.codes.to_numpy().astype(np.int8))
        elif pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
            columns[name] = pa.array(values.astype("str")).cast(pa.large_string())
        else:
            columns[name] = pa.array(values.to_numpy())
    columns["_part"] = pa.array(np.full(len(frame), part, dtype=np.int32))
    bucket = _bucket(distinct, n_buckets)[codes]  # (a hash per distinct id, then per row)
    return pa.table(columns), bucket


def _bucket(ids: pa.Array, n: int) -> np.ndarray:
    """A bucket (0 to n - 1) for each id from a hash of its bytes (the same id, the same bucket, in
    any part): a polynomial hash of each id's bytes, worked out for all bytes at once."""
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    ids = ids.cast(pa.large_string())  # (64-bit offsets, read below)
    # The offsets of the array's own slice (its buffer may be longer, and padded).
    end = ids.offset + len(ids) + 1
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int64, count=end)[ids.offset :]
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    lengths = np.diff(offsets)
    # Byte j of an id of length L weighs P ** (L - 1 - j): from its distance to its id's end.
    to_end = np.repeat(offsets[1:], lengths) - np.arange(len(data)) - 1
    powers = np.cumprod(
        np.full(int(lengths.max()) if len(lengths) else 1, 1099511628211, dtype=np.uint64)
    )
    powers = np.concatenate(([np.uint64(1)], powers[:-1]))
    with np.errstate(over="ignore"):
        weighted = data.astype(np.uint64) * powers[to_end]
        sums = (
            np.add.reduceat(weighted, offsets[:-1]) if len(data) else np.zeros(len(ids), np.uint64)
        )
        sums[lengths == 0] = 0
        mixed = sums * np.uint64(0x9E3779B97F4A7C15)
    return ((mixed >> np.uint64(32)) % np.uint64(n)).astype(np.int64)


def _frame(table: pa.Table, name: str) -> pd.DataFrame:
    """A bucket's table as an orders frame (the importer's contract), with ``_part``."""
    ids = table.column("customer_id").combine_chunks().dictionary_encode()
    out: dict[str, object] = {
        "customer_id": _load.id_categorical(
            ids.indices.to_numpy(zero_copy_only=False), ids.dictionary, all_used=True
        )
    }
    for col in table.column_names:
        if col == "customer_id":
            continue
        values = table.column(col)
        if col == "kind":
            out[col] = pd.Categorical.from_codes(values.to_numpy(), categories=_load.KINDS)
        elif pa.types.is_large_string(values.type) or pa.types.is_string(values.type):
            out[col] = pd.Series(values.to_pandas(), dtype="str")
        else:
            out[col] = values.to_numpy()
    out["source"] = pd.Categorical.from_codes(
        np.zeros(table.num_rows, dtype=np.int8), categories=[name]
    )
    return pd.DataFrame(out)


__all__ = ["PART_BYTES", "InParts", "read_in_parts"]
