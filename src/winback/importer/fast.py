"""The fast reader: plain UTF-8 delimited files with one header line and no irregular rows.

Large exports are nearly always like this. :func:`read_fast` reads only the columns that have a
role with Arrow's multi-threaded CSV parser (the order id only for the few rows whose other values
repeat, from their lines: :class:`_OrderIds`), then does every check and conversion of the thorough
reader (:func:`winback.importer.load._load_one`) in a way that costs per *distinct* value or runs in
Arrow/numpy kernels: dates, statuses, currencies and (in general) customer ids repeat a lot, so the
same pandas string functions run once per distinct value and are mapped back to the rows by code.

It returns None, before touching the report, whenever the file is not such a file or any row might
need a skip reason that depends on columns it did not load (empty customer id, a totals or repeated
header line, wrong field counts, blank lines, quoted line breaks...): the thorough reader then reads
the whole file, so reports, skip reasons, line numbers and errors are the same as before.
Only the skips that need nothing but loaded columns (invalid date, implausible date, invalid
amount, duplicate order line) happen here, with the same rules and in the same order.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from winback._memory import release_memory
from winback._sorting import (
    BLOCK,
    all_digits,
    blocks,
    count_codes,
    day_numbers,
    digit_keys,
    digit_texts,
    sort_in_place,
    sort_with_positions,
)
from winback.errors import InputDataError
from winback.importer import ahead
from winback.importer import load as _load
from winback.importer.dialect import frame_table, split_text
from winback.importer.parts import (
    CANDIDATES,
    LineIndex,
    convert_options,
    parse_options,
    read_columns,
    wanted_columns,
)
from winback.importer.roles import assign_roles
from winback.importer.values import clean_amounts, parse_dates

#: Bytes read to find the delimiter and the header (the thorough reader looks at the first 1,600 lines):
#: a small head first, the large one only when the small one holds too few lines.
HEAD_BYTES = (256 << 10, 4 << 20)
#: Lines a partial head must hold.
HEAD_LINES = 2_000
#: Money cells that need no cleaning: digits, an optional decimal point, an optional leading minus.
_PLAIN_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"


def read_fast(path: str, name: str, options: _load.ImportOptions, report: _load.ImportReport,
              meanwhile: list[Callable[[], object]] | None = None
              ) -> tuple[pd.DataFrame, np.ndarray | None] | None:
    """The orders of one file and, when the id numbering gives it, the frame's row positions grouped
    by customer (file order within a customer; see ``LoadedOrders.customer_order``); or None when the
    thorough reader must read the file. ``meanwhile``: work the calling thread takes from this list
    and does once money and dates are converted, while the ids are still being numbered."""
    if path == "-" or options.encoding or not options.has_header or options.header_row is not None:
        return None
    if not os.path.isfile(path):  # a pipe (``<(zcat orders.csv.gz)``) can be read once: by the thorough reader
        return None
    layout = _layout(path, name)
    if layout is None:
        return None
    headers, delimiter, n_fields, encoding = layout
    try:
        roles = assign_roles(headers, options.mapping, name)
    except InputDataError:
        return None
    if "currency" in roles:
        return None
    wanted, coded, lazy_order_id = wanted_columns(len(headers), n_fields, roles)
    if lazy_order_id and options.keep_order_id:  # the frame keeps it: parse it with the rest
        wanted, lazy_order_id = sorted([*wanted, roles["order_id"]]), False
    # Parsed while the command started, when it guessed this very call (winback.importer.ahead).
    # (No name for the tuple: it would keep the table's columns alive after they are let go.)
    table, plain, lines, line_index = (ahead.take(path, delimiter, n_fields, wanted, coded)
                                       or read_columns(path, delimiter, n_fields, wanted, coded))
    if table is None:
        return None
    n_rows = table.num_rows
    if not plain or lines != n_rows + 1:
        return None
    col = {i: _text(table.column(f"c{i}")) for i in wanted}
    del table
    for extra in range(len(headers), n_fields):  # trailing delimiters: the extra fields must be empty
        if n_rows and pc.any(pc.not_equal(pc.utf8_trim_whitespace(col.pop(extra)), "")).as_py():
            return None
    # The ids (a sort of every row) are numbered in a second thread while this one converts money and
    # dates: numpy and Arrow release the interpreter lock, so both cores work. Nothing is reported
    # before the ids are known to need no thorough reading.
    cid_col = roles["customer_id"]
    with ThreadPoolExecutor(1) as pool:
        ids_job = pool.submit(_customer_ids, col[cid_col], headers[cid_col],
                              col.get(roles["name"]) if "name" in roles else None)
        try:
            converted, failure = _convert(col, roles, headers, delimiter, encoding, name, options), None
        except InputDataError as exc:
            converted, failure = None, exc
        # At ten million rows the numbering takes 0.2-0.3 s longer than the conversion, with one
        # core mostly free: the caller's work for such a wait runs in it (the pipeline starts
        # scipy's import for the models there, 0.2 s before the first fit; docs/performance.md).
        while meanwhile and failure is None:
            meanwhile.pop()()
        ids = ids_job.result()
    if ids is None:
        return None
    if failure is not None:
        raise failure
    cid_code, distinct_ids, in_order, by_customer = ids
    if list(roles.values()).count(cid_col) == 1:
        del col[cid_col]  # the ids are codes now: free the column's text (~120 MB at 10M rows)
        release_memory()
    held = [converted]  # handed over, so that _finish can free the columns as it goes
    del converted
    order_ids = col.get(roles["order_id"]) if "order_id" in roles else None
    if lazy_order_id:
        order_ids = _OrderIds(path, line_index, delimiter, roles["order_id"], n_fields)
    orders, by_customer = _finish(col, roles, headers, held, cid_code, distinct_ids, in_order, by_customer,
                                  n_rows, name, options, report, order_ids)
    del col, distinct_ids
    release_memory()  # the CSV's Arrow buffers: about 1 GB at ten million rows
    return orders, by_customer


def plain_layout(path: str, name: str) -> tuple[list[str], str, int, str] | None:
    """For other tables than orders (the customers file): headers, delimiter, raw header field
    count and encoding of a file :func:`read_text` may read, or None (standard input, a pipe, or a
    file the thorough reader must read)."""
    if path == "-" or not os.path.isfile(path):
        return None
    return _layout(path, name)


def read_text(path: str, delimiter: str, n_fields: int,
              wanted: list[int]) -> tuple[dict[int, pa.ChunkedArray], int] | None:
    """The ``wanted`` columns of a file :func:`plain_layout` accepted, as Arrow text, and its
    number of records; None when the thorough reader must read it (not UTF-8, blank or irregular
    lines, line breaks in quotes: then it reports them as it always has)."""
    table, plain, lines, _ = read_columns(path, delimiter, n_fields, sorted(set(wanted)), set())
    if table is None or not plain or lines != table.num_rows + 1:
        return None
    return {i: _text(table.column(f"c{i}")) for i in set(wanted)}, table.num_rows


def _layout(path: str, name: str) -> tuple[list[str], str, int, str] | None:
    """Headers, delimiter, raw header field count and encoding, from the head of a plain UTF-8 file."""
    for size in HEAD_BYTES:
        try:
            with open(path, "rb") as fh:
                head = fh.read(size + 1)
        except OSError:
            return None
        if len(head) <= size or head[:size].count(b"\n") >= HEAD_LINES + 1:
            break
    if not head or head[:2] in (b"\x1f\x8b", b"\xff\xfe", b"\xfe\xff") or head[:4] in (
            b"PK\x03\x04", b"PAR1", b"\xd0\xcf\x11\xe0", b"%PDF") or b"\x00" in head[:4096]:
        return None
    encoding = "utf-8-sig" if head.startswith(b"\xef\xbb\xbf") else "utf-8"
    if encoding == "utf-8-sig":
        head = head[3:]
        size -= 3
    if len(head) > size:  # a part of the file: whole lines only, enough of them, and no more
        breaks = np.flatnonzero(np.frombuffer(head, dtype=np.uint8) == 10)
        if len(breaks) < HEAD_LINES:
            return None
        # The header and HEAD_LINES lines at most: the rest of the head would be split into rows
        # to no end (a 256 KB head of short lines holds three times as many; 0.05 s at every start).
        head = head[: breaks[min(HEAD_LINES, len(breaks) - 1)] + 1]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        rows = split_text(text, name)
        table = frame_table(rows, name)
    except InputDataError:
        return None
    if table.header_line != 1 or table.preamble_lines or rows.delimiter not in CANDIDATES:
        return None
    return table.headers, rows.delimiter, int(rows.field_counts[0]), encoding


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column :func:`read_columns` read as bytes, as text (a view: nothing is copied or checked; the
    caller knows the file is valid UTF-8)."""
    as_text = pa.dictionary(pa.int32(), pa.string()) if pa.types.is_dictionary(column.type) else pa.string()
    return pa.chunked_array([chunk.view(as_text) for chunk in column.chunks], type=as_text)


def _distinct(values: pa.ChunkedArray) -> tuple[np.ndarray, pd.Series]:
    """(code per row, stripped distinct values in order of first appearance)."""
    codes, distinct = _dictionary(values)
    return codes, pd.Series(distinct.to_pandas(), dtype="str").str.strip()


def _dictionary(values: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """(int32 code per row, distinct values in order of first appearance) of a text column, or of one
    Arrow dictionary-encoded while parsing (its blocks' dictionaries unified)."""
    if pa.types.is_dictionary(values.type):
        encoded = values.unify_dictionaries().combine_chunks() if values.num_chunks else \
            pa.array([], type=values.type)
    else:
        encoded = pc.dictionary_encode(values.combine_chunks() if values.num_chunks != 1 else values.chunk(0))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary


def _customer_ids(values: pa.ChunkedArray, header: str, names: pa.ChunkedArray | None
                  ) -> tuple[np.ndarray, pa.Array, bool, np.ndarray | None] | None:
    """(code per row, distinct ids by code, whether those are in sorted order, the rows grouped by
    code or None): equal codes = equal ids; None when some row may be an empty, totals or
    repeated-header line (``names``: the customer name column, if any). No string per row is made."""
    if names is not None and _distinct(names)[1].str.casefold().isin(_load._TOTAL_WORDS).any():
        return None
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64), pa.array([], type=pa.large_string()), True, None
    if all_digits(values):
        if header.strip().casefold().isdigit() and pc.any(pc.equal(values, header.strip())).as_py():
            return None
        return _digit_ids(values)
    codes, uniques = _distinct(values)
    cleaned = uniques.str.replace(r"\s+", " ", regex=True)
    first_word = cleaned.str.casefold().str.extract(r"^([^\W\d_]+(?: [^\W\d_]+)?)", expand=False).fillna("")
    is_total = first_word.isin(_load._TOTAL_WORDS) & ~cleaned.str.contains(r"\d\d", regex=True)
    if (cleaned == "").any() or is_total.any() or (cleaned.str.casefold() == header.strip().casefold()).any():
        return None
    merged, distinct_ids = pd.factorize(cleaned)
    return (merged[codes].astype(np.int64), pa.array(np.asarray(distinct_ids, dtype=object), type=pa.large_string()),
            False, None)


def _digit_ids(values: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array, bool, np.ndarray]:
    """Codes and distinct ids of an id column of 1-17 ASCII digits, numbered in sorted (code point)
    order by one integer sort: the digits left-aligned to the longest id, then the length, order digit
    strings as text does ("1" < "10" < "9") and tell "0042" from "042". The sort's positions (the rows
    grouped by code, in file order within a code) come back too: the summary can use them."""
    key = digit_keys(values)
    ordered, order = sort_with_positions(key, overwrite=True)
    del key
    n = len(ordered)
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    # The distinct ids are written from their keys (digit_texts), not gathered from the rows' texts.
    distinct_keys = ordered[np.flatnonzero(new)]  # (positions, not the mask: faster)
    # Each sorted id's code, written into the first half of the sorted keys' memory (no longer
    # needed): two fresh arrays of ten million less (the cumulative sum and the code less one).
    code_type = np.int32 if n < 2**31 else np.int64
    in_order = ordered.view(code_type)[:n]
    del ordered

    # The distinct ids are made in a second thread (numpy without the interpreter lock) while each
    # row's code is written here: at ten million rows the money and dates are converted by then.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="winback-ids") as helper:
        distinct = helper.submit(digit_texts, distinct_keys)
        del distinct_keys
        np.cumsum(new, dtype=code_type, out=in_order)
        in_order -= 1
        codes = np.empty(n, dtype=code_type)
        codes[order] = in_order
        del in_order
        return codes, distinct.result(), True, order


def _money(col: dict[int, pa.ChunkedArray], roles: dict[str, int], headers: list[str],
           options: _load.ImportOptions, name: str,
           info: _load.SourceInfo) -> tuple[dict[str, np.ndarray], str | None]:
    """The money columns per row: plain numbers are cast in Arrow, the rest cleaned per distinct value."""
    cleaned: dict[str, tuple[pd.Series, pd.Series]] = {}
    plain: dict[str, tuple[np.ndarray | None, pa.Array | pa.ChunkedArray]] = {}
    codes: dict[str, np.ndarray] = {}
    currency = None
    for role in _load.MONEY_ROLES:
        if role not in roles:
            continue
        values = col[roles[role]]
        # A dictionary-encoded column is checked per distinct value (every one occurs in some row).
        row_codes, texts = _dictionary(values) if pa.types.is_dictionary(values.type) else (None, values)
        if len(values) and pc.all(pc.match_substring_regex(texts, _PLAIN_NUMBER)).as_py():
            # What clean_amounts() and decide_decimal() make of such a column, without the per-value work.
            plain[role] = (row_codes, texts)
            # Cell shapes -?D+(.D+)? (ASCII): where the point is and how many digits follow it.
            point = pc.find_substring(texts, ".").to_numpy()
            decimals = np.where(point >= 0, pc.binary_length(texts).to_numpy() - point - 1, 0)
            whole = point - pc.starts_with(texts, "-").to_numpy(zero_copy_only=False)
            proves_point = bool(((decimals == 1) | (decimals == 2) | (decimals >= 4)).any())
            ambiguous = (decimals == 3) & (whole >= 1) & (whole <= 3)
            first = -1  # the value of the first ambiguous *row*, as the thorough reader reports it
            if not proves_point and ambiguous.any():
                at = np.flatnonzero(ambiguous if row_codes is None else ambiguous[row_codes])[0]
                first = int(at if row_codes is None else row_codes[at])
            # A stand-in with the same decision and the same first ambiguous value.
            sample = "1.5" if proves_point else (texts[first].as_py().lstrip("-") if first >= 0 else "1")
            cleaned[role] = (pd.Series([sample], dtype="str"), pd.Series([False]))
        else:
            codes[role], uniques = _distinct(values)
            text, negative, cur = clean_amounts(uniques, f"{name}: column '{headers[roles[role]]}'")
            cleaned[role] = (text, negative)
            currency = currency or cur
    decided = _load.decide_money(cleaned, roles, headers, options, name, info)
    money = {}
    for role, numbers in decided.items():
        if role in plain:
            row_codes, texts = plain[role]
            if info.formats[role].startswith("decimal comma"):  # --decimal , on plain numbers: the point is a thousands separator
                texts = pc.replace_substring(texts, ".", "")
            numbers = pc.cast(texts, pa.float64()).to_numpy().astype("float64", copy=False)
            money[role] = numbers if row_codes is None else numbers[row_codes]
        else:
            money[role] = numbers.to_numpy(dtype="float64")[codes[role]]
    return money, currency


class _Converted(NamedTuple):
    """Money, dates and kinds of every row, converted before anything is reported (and while the ids
    are numbered in another thread: none of it needs them)."""

    info: _load.SourceInfo
    money: dict[str, np.ndarray]  # refunds negative
    currency: str | None
    dates: pd.Series
    #: No date is missing or implausible: checked per distinct date (each occurs in some row), so
    #: the rows need no check of their own.
    dates_fine: bool
    kind_code: np.ndarray  # int8: 0 purchase, 1 refund, 2 cancelled
    amount: np.ndarray  # the amounts (NaN for every row without an amount column)


def _convert(col: dict[int, pa.ChunkedArray], roles: dict[str, int], headers: list[str], delimiter: str,
             encoding: str, name: str, options: _load.ImportOptions) -> _Converted:
    info = _load.SourceInfo(
        path=name, encoding=encoding, encoding_confidence=1.0, container="plain",
        delimiter={"\t": "tab"}.get(delimiter, delimiter), header_line=1, preamble_lines=0, columns={},
        formats={}, amount_basis=None, currency=None, headers=list(headers), sheet=None, notes=[])
    money, currency = _money(col, roles, headers, options, name, info)
    for role in _load.MONEY_ROLES:  # converted: free the text (unless another role reads the column)
        if role in roles and list(roles.values()).count(roles[role]) == 1:
            col.pop(roles[role], None)
    date_col = roles["order_date"]
    codes, uniques = _distinct(col[date_col] if list(roles.values()).count(date_col) > 1 else col.pop(date_col))
    parsed, date_fmt = parse_dates(uniques, f"{name}: column '{headers[date_col]}'", options.date_format,
                                   options.tz, weights=count_codes(codes, len(uniques)))
    info.formats = {"order_date": date_fmt.description, **info.formats}
    info.notes.extend(f"column '{headers[date_col]}': {n}" for n in date_fmt.notes)
    distinct = pd.Series(parsed.to_numpy(), dtype="datetime64[ns]", copy=False)
    dates = pd.Series(distinct.to_numpy()[codes], dtype="datetime64[ns]", copy=False)
    amount, kind_code = _kinds(col, roles, money, len(dates))
    return _Converted(info, money, currency, dates, _dates_fine(distinct, options), kind_code,
                      amount)


def _kinds(col: dict[int, pa.ChunkedArray], roles: dict[str, int], money: dict[str, np.ndarray],
           n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(the amounts, each row's kind code), with the refunds' money made negative in ``money``."""
    amount = money["amount"] if "amount" in money else np.full(n_rows, np.nan)
    if "status" in roles:
        status_codes, statuses = _distinct(col[roles["status"]])
        norm = _load._normalized(statuses)
        cancelled = norm.str.contains("|".join(_load._CANCELLED), regex=True).to_numpy()
        cancelled = cancelled[status_codes]
        returned = norm.str.contains("|".join(_load._RETURNED), regex=True).to_numpy()[status_codes]
        returned |= amount < 0
    else:
        cancelled = None
        returned = amount < 0
    kind_code = returned.view(np.int8).copy()  # 0 purchase, 1 refund, 2 cancelled
    if cancelled is not None:
        kind_code[cancelled] = 2
    del cancelled, returned
    refund = np.flatnonzero(kind_code == 1)  # (positions, not the mask: faster)
    if len(refund):
        for role, values in money.items():
            if not values.flags.writeable:
                values = money[role] = values.copy()
            values[refund] = -np.abs(values[refund])
    return amount, kind_code


def _dates_fine(dates: pd.Series, options: _load.ImportOptions) -> bool:
    """None of ``dates`` is missing, and none is one that :func:`_load._flag_dates` flags."""
    return not dates.isna().any() and not any(
        flags.any() for flags, _ in _load.implausible_dates(dates, options))


def _finish(col: dict[int, pa.ChunkedArray], roles: dict[str, int], headers: list[str], held: list[_Converted],
            cid_code: np.ndarray, distinct_ids: pa.Array, in_order: bool, by_customer: np.ndarray | None,
            n_rows: int, name: str, options: _load.ImportOptions, report: _load.ImportReport,
            order_id: pa.ChunkedArray | _OrderIds | None) -> tuple[pd.DataFrame, np.ndarray | None]:
    info, money, currency, dates, dates_fine, kind_code, amount = held.pop()
    skipped_before = report.rows_skipped
    report.rows_read += n_rows
    lines = np.arange(2 + options.line_offset, n_rows + 2 + options.line_offset, dtype=np.int64)
    alive = np.ones(n_rows, dtype=bool)

    def drop(reason: str, mask: np.ndarray, detail: np.ndarray | None = None) -> None:
        nonlocal alive
        mask = np.asarray(mask, dtype=bool) & alive
        _load._skip(report, reason, mask, lines, name, options.examples, detail)
        alive &= ~mask

    if not dates_fine:  # (else every row's check would find nothing: ten million rows, 0.1 s)
        drop("invalid date", dates.isna().to_numpy())
        _load._flag_dates(dates, alive, lines, name, options, report, drop)
    if "amount" in money:
        drop("invalid amount", np.isnan(money["amount"]))

    ids = pd.Series(distinct_ids.to_pandas(), dtype="str")
    # An Excel exponent (1,23457E+15)? Not in ids numbered as digits (in_order); two plain substring
    # searches are twice as fast as one that ignores case.
    if not in_order and any(pc.any(pc.match_substring(distinct_ids, e)).as_py() for e in "eE"):
        _load._flag_excel_ids(_load.excel_mangled(ids)[cid_code], alive, lines, name, report)
    if options.ignore_id_case:
        folded, distinct = pd.factorize(ids.str.casefold())
        cid_code, distinct_ids = folded[cid_code], pa.array(np.asarray(distinct, dtype=object), type=pa.large_string())
        in_order, by_customer = False, None
        info.notes.append("customer ids compared ignoring upper/lower case (--ignore-id-case)")

    # One frame from finished columns, without copies (setting columns one by one copies each).
    frame: dict[str, object] = {
        "customer_id": pd.Categorical.from_codes(np.zeros(n_rows, dtype=np.int8), categories=[""]),
        "order_date": dates,
        **{role: pd.Series(v, dtype="float64", copy=False) for role, v in money.items()}}
    if "amount" not in roles:
        frame["amount"] = amount
    for role in _load.TEXT_ROLES:
        if role in roles and (role != "order_id" or options.keep_order_id):
            frame[role] = pd.Series(col[roles[role]].to_pandas(), dtype="str").str.strip()
    frame["kind"] = pd.Categorical.from_codes(kind_code, categories=_load.KINDS)
    frame["source"] = pd.Categorical.from_codes(np.zeros(n_rows, dtype=np.int8), categories=[name])
    frame["line"] = lines
    out = pd.DataFrame(frame, copy=False)
    del frame, dates, money, amount
    rows = None  # each row's position in the file, where rows were dropped
    if not alive.all():
        out = out[alive].reset_index(drop=True)
        cid_code, kind_code, rows = cid_code[alive], kind_code[alive], np.flatnonzero(alive)
        by_customer = _kept(by_customer, alive)

    dup = _duplicated(out, cid_code, kind_code, order_id, rows, _shares_customer_and_day(out, cid_code, by_customer))
    n_dup = int(dup.sum())
    report.exact_duplicates += n_dup
    if order_id is not None and n_dup:
        _load._skip(report, "duplicate order line", dup, out["line"].to_numpy(), name, options.examples)
        out = out[~dup].reset_index(drop=True)
        cid_code = cid_code[~dup]
        by_customer = _kept(by_customer, ~dup)
    elif n_dup:
        where = ", ".join(str(n) for n in out["line"].to_numpy()[dup][:5])
        report.warnings.append(
            f"{name}: {n_dup} row(s) repeat an earlier row exactly (lines {where}); they are kept as separate "
            "orders because the file has no order id column. Add one (--map order_id=COLUMN) to remove them."
        )
    # Every distinct id comes from a row: all are still used unless rows were dropped.
    all_used = rows is None and (n_dup == 0 or order_id is None)
    out["customer_id"] = _load.id_categorical(cid_code, distinct_ids, in_order, all_used=all_used)
    _load._finish_source(out, report, info, headers, roles, currency, n_rows, skipped_before, 0, 1, name)
    return out, by_customer


class _OrderIds:
    """The order id column of a file the fast reader did not parse it from, read from the lines of
    the rows asked for (:meth:`take`, as ``pa.ChunkedArray.take``): the line scan's count of line
    feeds per megabyte says which block each line starts in; only those blocks are read again, and
    only those lines parsed by Arrow."""

    def __init__(self, path: str, index: LineIndex, delimiter: str, column: int,
                 n_fields: int) -> None:
        self.path, self.index, self.delimiter = path, index, delimiter
        self.names = [f"c{i}" for i in range(n_fields)]
        self.convert = convert_options(self.names, [column], set())

    def take(self, rows: pa.Array) -> pa.Array:
        """The order ids (text) of the file's records at ``rows`` (0-based)."""
        asked = rows.to_numpy(zero_copy_only=False).astype(np.int64)
        order = np.argsort(asked, kind="stable")
        line = asked[order] + 1  # line 0: the header; line L starts after the file's L-th line feed
        start, feeds_to, size = self.index
        block = np.searchsorted(feeds_to, line)  # the block that line feed is in (in block order)
        blocks, first = np.unique(block, return_index=True)
        first = np.append(first, len(line))  # block i's lines: line[first[i]:first[i + 1]]
        feeds_before = np.concatenate([[0], feeds_to[:-1]])
        picked = []
        with open(self.path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size != size:
                raise self._changed()
            for i, b in enumerate(blocks):  # one read of about a megabyte per block with rows
                wanted = line[first[i]:first[i + 1]] - feeds_before[b]  # their feeds, in the block
                block_end = int(start[b + 1]) if b + 1 < len(start) else size
                window = block_end - int(start[b]) + (64 << 10)
                while True:  # the block, and on to the line feed that ends its last line asked for
                    fh.seek(int(start[b]))
                    data = np.frombuffer(fh.read(window), dtype=np.uint8)
                    feeds = np.flatnonzero(data == 10)
                    if len(feeds) > wanted.max() or int(start[b]) + len(data) >= size:
                        break
                    window *= 2
                in_block = int(np.searchsorted(feeds, block_end - int(start[b])))
                if in_block != feeds_to[b] - feeds_before[b] or wanted.max() > len(feeds):
                    raise self._changed()
                begins = feeds[wanted - 1] + 1
                ends = np.append(feeds + 1, len(data))[wanted]  # (the last line may have no feed)
                picked.append(_gather(data, begins, ends))
        ids = pa.array([], type=pa.binary())
        if picked:
            table = pacsv.read_csv(
                pa.BufferReader(b"".join(picked)), parse_options=parse_options(self.delimiter),
                convert_options=self.convert,
                read_options=pacsv.ReadOptions(column_names=self.names, block_size=16 << 20))
            ids = table.column(0).combine_chunks()
        if len(ids) != len(asked):
            raise self._changed()
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return ids.view(pa.string()).take(pa.array(back))

    def _changed(self) -> InputDataError:
        return InputDataError(f"{self.path}: the file changed while it was being read. Run again "
                              "once it is complete.")


def _gather(data: np.ndarray, begins: np.ndarray, ends: np.ndarray) -> bytes:
    """The bytes ``data[begins[i]:ends[i]]`` for every i, end to end, without a loop over them: each
    range's first position, then steps of one through it."""
    lengths = ends - begins
    step = np.ones(int(lengths.sum()), dtype=np.int64)
    firsts = np.cumsum(lengths) - lengths
    step[firsts[1:]] = begins[1:] - ends[:-1] + 1
    step[0] = begins[0]
    return data[np.cumsum(step)].tobytes()


def _kept(positions: np.ndarray | None, keep: np.ndarray) -> np.ndarray | None:
    """Row positions, in their order, of the rows ``keep`` leaves, renumbered among those rows."""
    if positions is None:
        return None
    renumbered = np.cumsum(keep, dtype=positions.dtype)
    renumbered -= 1
    return renumbered[positions[keep[positions]]]


def _shares_customer_and_day(out: pd.DataFrame, cid_code: np.ndarray,
                             by_customer: np.ndarray | None,
                             step: int = BLOCK) -> np.ndarray | None:
    """A flag per row: another row has the same customer and day. Only such rows can repeat another
    exactly, and they are few (2.5% of the 10M benchmark file). From the rows grouped by customer
    (``by_customer``), when each customer's rows are in date order there; else None (check them all)."""
    n = len(out)
    if by_customer is None or len(by_customer) != n or n < 2:
        return None
    all_days = day_numbers(out["order_date"].to_numpy(dtype="datetime64[ns]").view(np.int64))
    shares = np.zeros(n, dtype=bool)
    out_of_order = threading.Event()

    # A block of the grouped rows at a time, with the next block's first row to compare across the
    # cut: the gathered codes and days are a block's, not 80 MB of fresh memory at ten million rows.
    # The gathers are most of the time (0.14 s of 0.2 s at ten million rows): the two halves of the
    # rows run in two threads (numpy gives up the interpreter lock in them; where two blocks meet,
    # both may flag the same row, with the same value).
    def flag(parts: list[slice]) -> None:
        for part in parts:
            if out_of_order.is_set():
                return
            rows = by_customer[part.start:part.stop + 1]
            code, day = cid_code[rows], all_days[rows]
            same_customer = code[1:] == code[:-1]
            del code
            if not ((day[1:] >= day[:-1]) | ~same_customer).all():
                out_of_order.set()
                return
            same_customer &= day[1:] == day[:-1]  # now: same customer, same day as the row before
            at = np.flatnonzero(same_customer)  # (positions, not the mask: faster)
            shares[rows[at + 1]] = True
            shares[rows[at]] = True

    parts = list(blocks(n - 1, step))
    half = (len(parts) + 1) // 2
    if len(parts) > 1:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="winback-import") as helper:
            later = helper.submit(flag, parts[half:])
            flag(parts[:half])
            later.result()
    else:
        flag(parts)
    if out_of_order.is_set():
        return None
    return shares


def _duplicated(out: pd.DataFrame, cid_code: np.ndarray, kind_code: np.ndarray,
                order_id: pa.ChunkedArray | _OrderIds | None,
                rows: np.ndarray | None, among: np.ndarray | None = None) -> np.ndarray:
    """The thorough reader's ``duplicated(value columns)``, checked exactly only on rows whose numeric
    fingerprint repeats (``rows``: each row's position in the file, for the order id column; None when
    no row was dropped). ``among``: a flag on every row that can repeat another (the others cannot), or
    None for all rows. Two buffers as long as the rows looked at, updated in place."""
    if not len(out):
        return np.zeros(0, dtype=bool)
    at = None if among is None else np.flatnonzero(among)

    def looked_at(values: np.ndarray) -> np.ndarray:
        return values if at is None else values[at]

    h = looked_at(cid_code).astype(np.uint64)
    h *= np.uint64(0x9E3779B97F4A7C15)
    part = looked_at(out["order_date"].to_numpy().view(np.int64)).astype(np.uint64)
    part *= np.uint64(0xC2B2AE3D27D4EB4F)
    h ^= part
    amount = part.view(np.float64)
    np.add(looked_at(out["amount"].to_numpy()), 0.0, out=amount)  # -0.0 == 0.0 for duplicated()
    amount[np.isnan(amount)] = 0.0
    part *= np.uint64(0x165667B19E3779F9)
    h ^= part
    np.bitwise_xor(h, looked_at(kind_code).view(np.uint8), out=h)
    ordered = part
    ordered[:] = h
    sort_in_place(ordered)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    del ordered, part, amount
    suspects = pd.Series(h).isin(repeated).to_numpy() if len(repeated) else np.zeros(len(h), dtype=bool)
    if at is not None:  # back to a flag per row
        suspects, looked = np.zeros(len(out), dtype=bool), suspects
        suspects[at[looked]] = True
    dup = np.zeros(len(out), dtype=bool)
    if suspects.any():
        value_cols = [c for c in out.columns if c not in ("customer_id", "source", "line")]
        same = out.loc[suspects, value_cols].assign(customer=cid_code[suspects])
        if order_id is not None:
            ids = order_id.take(pa.array(np.flatnonzero(suspects) if rows is None else rows[suspects]))
            same["order_id"] = pd.Series(ids.to_pandas(), dtype="str").str.strip().to_numpy()
        dup[suspects] = same.duplicated(keep="first").to_numpy()
    return dup


__all__ = ["read_fast"]
