"""Stage 5: write the call list. Files are written whole or not at all, readable by their owner only.

Every file goes to a temporary file in the target folder first, is flushed to disk, gets mode 0600
(call lists hold customer data) and only then replaces the target with an atomic rename. A failure at
any point leaves the previous file as it was.

Formats (docs/call-list.md has the user's view):

- **CSV**: UTF-8 with a byte order mark, ``\\r\\n`` line ends, ISO 8601 dates, empty cells for
  unknown values, the columns of :data:`winback.calllist.COLUMNS` in that order. Two dialects: comma
  separated with a decimal point (``comma``), or semicolon separated with a decimal comma
  (``semicolon``, what Excel expects in Turkish, Azerbaijani and Russian locales). By default the
  dialect mirrors the order file's (:func:`mirror_dialect`).
- **XLSX**: one sheet, header row frozen and bold, column widths set, dates as dates, numbers as
  numbers, ids, phones and every other text as text cells.
- **JSON**: an array of row objects with the same keys; null for unknown values.

No cell can run as a formula. In CSV, a text cell whose first character (after spaces) is one of
``= + - @`` or a tab or carriage return gets a leading apostrophe (the OWASP advice); a phone number in
international format is written ``(+90) 532 123 45 67`` instead, so it reads as written and no
spreadsheet takes it for a formula or a number. In XLSX, text cells are stored as text, never as
formulas, and those starting with such a character carry Excel's "quote prefix" style.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import io
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback._text import TEXT, joined, python_where, signed, whole
from winback.errors import OutputError

FILE_MODE = 0o600
FORMATS = ("csv", "xlsx", "json")

TEXT_COLUMNS = ("customer_id", "segment", "reason", "name", "phone", "email", "owner", "last_products",
                "note")
DATE_COLUMNS = ("last_order_date", "first_order_date")
_NUMBER_FORMATS = {
    "rank": "0", "days_since_last_order": "0", "orders": "0", "usual_gap_days": "0", "referrals": "0",
    "revenue": "#,##0.00", "margin": "#,##0.00", "average_order_value": "#,##0.00",
    "value_at_risk": "#,##0.00", "priority": "#,##0.00", "p_alive": "0.000",
}
_DATE_FORMAT = "yyyy-mm-dd"
#: CSV and JSON lists are made and written this many rows at a time (--all lists millions).
PART_ROWS = 100_000
_MAX_WIDTH = 60

# Patterns in the syntax both Python's re and Arrow's (RE2) read the same way: the characters
# themselves, no \u escape. Arrow matches each part of a list's column at once (pandas, given a
# compiled pattern, calls Python's re per cell: about 14 s for the text columns of a three-million-
# row list). \p{Nd} is any decimal digit, as Python's \d.
_FORMULA_START_TEXT = "^[ \u00a0]*[=+\\-@\t\r]"
_FORMULA_START = re.compile(_FORMULA_START_TEXT)
_INTL_PHONE_TEXT = r"^\+(\p{Nd}{1,3}) (\p{Nd}[\p{Nd} \-]*)$"
# Characters XML 1.0 cannot hold (openpyxl refuses them).
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class CsvDialect:
    name: str
    delimiter: str
    decimal: str


COMMA = CsvDialect("comma", ",", ".")
SEMICOLON = CsvDialect("semicolon", ";", ",")
DIALECTS = {d.name: d for d in (COMMA, SEMICOLON)}


def mirror_dialect(delimiter: str | None, amount_format: str | None) -> CsvDialect:
    """The dialect of the order file: semicolons when it used them or wrote amounts with a decimal comma."""
    if delimiter == ";" or "decimal comma" in (amount_format or ""):
        return SEMICOLON
    return COMMA


def create_private(path: str | Path) -> None:
    """Make an empty file (or empty one) that only its owner may read, for a writer that opens it
    by its path: temporary files of customer data."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE))


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Write a file through ``write(binary_handle)`` atomically, with owner-only permissions."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise OutputError(f"cannot write {path}: the folder {folder} does not exist. Create it or choose "
                          "another place with --out.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write in {folder} ({exc.strerror}). Choose another place with --out.") from exc
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if path.is_dir():
            raise OutputError(f"cannot write {path}: it is a folder. Give a file name with --out.")
        os.replace(tmp, path)
    except OutputError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {path} ({exc.strerror}). Check the disk space and permissions, "
                          "or choose another place with --out.") from exc
    except BaseException:  # a list made while it is written (render_parts): no temporary file left
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def neutralize(values: pd.Series) -> pd.Series:
    """Text cells that a spreadsheet could run as a formula, with a leading apostrophe."""
    text = _arrow_text(values)
    return pd.Series(_neutralized(text), index=values.index, dtype="str")


def csv_phones(values: pd.Series) -> pd.Series:
    """International numbers as ``(+90) 532 123 45 67``; other text neutralised like any text."""
    text = _arrow_text(values)
    intl = pc.match_substring_regex(text, _INTL_PHONE_TEXT)
    spaced = pc.replace_substring_regex(text, _INTL_PHONE_TEXT, r"(+\1) \2")
    return pd.Series(pc.if_else(intl, spaced, _neutralized(text)), index=values.index, dtype="str")


def _arrow_text(values: pd.Series) -> pa.Array:
    """A column's cells as Arrow text, missing ones empty."""
    return pa.array(values.fillna("").astype("str"), type=TEXT)


def _neutralized(text: pa.Array) -> pa.Array:
    formula = pc.match_substring_regex(text, _FORMULA_START_TEXT)
    quoted = joined("'", text)
    return pc.if_else(formula, quoted, text)


def csv_bytes(rows: pd.DataFrame, dialect: CsvDialect = COMMA, *, bom: bool = True) -> bytes:
    """The call list as CSV bytes (see the module conventions)."""
    return b"".join(_csv_parts(rows, dialect, bom=bom))


def number_text(values: np.ndarray, decimal: str = ".") -> np.ndarray:
    """Floats as ``"%.15g"`` writes them, with ``decimal`` for the point, and None for NaN (an
    empty cell): what pandas' ``to_csv(float_format="%.15g", decimal=...)`` writes, which formats
    each number in Python (about 38 s for the three million rows of a ten-million-order ``--all``
    list). Values of at most three decimals (every number a call list shows) are written by Arrow
    from their digits: such a value is the double nearest its decimal, which "%.15g" then prints
    exactly. Any other value, or one of 10**12 and more, is formatted by Python."""
    return _number_cells(values, decimal).to_numpy(zero_copy_only=False)


def _number_cells(values: np.ndarray, decimal: str) -> pa.Array:
    """:func:`number_text`'s cells as Arrow text, null for NaN."""
    v = np.asarray(values, dtype=np.float64)
    text, exact = _digits(v, decimal)
    nan = np.isnan(v)
    text = python_where(text, ~exact & ~nan, v, lambda x: f"{x:.15g}".replace(".", decimal))
    return pc.if_else(pa.array(nan), pa.scalar(None, text.type), text)


def _digits(v: np.ndarray, decimal: str) -> tuple[pa.Array, np.ndarray]:
    """(each value of at most three decimals written from its digits, trailing zeros and an empty
    fraction dropped: ``12``, ``-0.5``, ``3.125``; whether it was such a value, below 10**12)."""
    with np.errstate(invalid="ignore", over="ignore"):
        k = np.rint(v * 1000.0)
        exact = np.isfinite(k) & (np.abs(k) < 1e15) & (k / 1000.0 == v)
    thousandths = np.where(exact, np.abs(k), 0).astype(np.int64)
    units = whole(thousandths // 1000)
    part = pc.utf8_rtrim(pc.utf8_lpad(whole(thousandths % 1000), 3, "0"), "0")  # .5, .125, none
    text = pc.if_else(pc.greater(pc.utf8_length(part), 0), joined(units, decimal, part), units)
    return signed(text, np.signbit(v)), exact


def _csv_parts(rows: pd.DataFrame, dialect: CsvDialect, *, bom: bool,
               part_rows: int = PART_ROWS) -> Iterator[bytes]:
    """:func:`csv_bytes` a part of ``part_rows`` rows at a time (the header with the first).

    Each part's cells are made text, quoted where the csv module would quote them (a delimiter,
    quote or line break inside: QUOTE_MINIMAL), and joined into lines by Arrow: the same bytes as
    pandas' ``to_csv``, which writes each row through Python's csv module (about 19 s for the three
    million rows of a ten-million-order ``--all`` list). A column of any other type than text,
    whole numbers and floats sends its part to ``to_csv``, as does a list of one column."""
    for start in range(0, max(len(rows), 1), part_rows):
        part = rows.iloc[start:start + part_rows]
        header = list(part.columns) if start == 0 else None
        # (One column: the csv module writes a row of one empty cell as "", so pandas does that.)
        cells = [_csv_cells(part[col], col, dialect) for col in part.columns] \
            if part.shape[1] > 1 else [None]
        text = _csv_lines(cells, header, dialect) if all(c is not None for c in cells) else \
            _csv_by_pandas(part, dialect, header=header is not None)
        yield (b"\xef\xbb\xbf" if bom and start == 0 else b"") + text


def _csv_cells(values: pd.Series, col: str, dialect: CsvDialect) -> pa.Array | None:
    """A column's cells as CSV text (formulas neutralised, numbers as :func:`number_text`), or None
    for a type :func:`_csv_parts` leaves to pandas."""
    if col in TEXT_COLUMNS:
        return _arrow_text(csv_phones(values) if col == "phone" else neutralize(values))
    if values.dtype == np.float64:
        return _number_cells(values.to_numpy(), dialect.decimal).fill_null("")
    if values.dtype == np.int64:
        return whole(values.to_numpy())
    if isinstance(values.dtype, pd.StringDtype):
        return _arrow_text(values)
    return None


def _csv_lines(cells: list[pa.Array], header: list[str] | None, dialect: CsvDialect) -> bytes:
    """The lines of a part (after the header line, if given) from its columns' cells."""
    special = dialect.delimiter + '"\r\n'  # what makes the csv module quote a cell
    pattern = "[" + special + "]"
    marks = np.frombuffer(special.encode("ascii"), dtype=np.uint8)

    def quoted(text: pa.Array) -> pa.Array:
        # Per cell only in a column that has such a character at all (in a call list: the reasons
        # and some names and notes; a look over the column's bytes tells).
        held = _utf8(text)
        if not np.isin(held, marks).any():
            return text
        doubled = pc.replace_substring(text, '"', '""') if (held == ord('"')).any() else text
        return pc.if_else(pc.match_substring_regex(text, pattern), joined('"', doubled, '"'), text)

    out = b""
    if header is not None:
        names = quoted(pa.array(header, type=TEXT)).to_pylist()
        out = (dialect.delimiter.join(names) + "\r\n").encode("utf-8")
    if not cells or not len(cells[0]):
        return out
    cells = [quoted(c) for c in cells]
    row = pc.binary_join_element_wise(*cells, pa.scalar(dialect.delimiter, TEXT))
    lines = joined(row, "\r\n")
    return out + _utf8(lines).tobytes()


def _utf8(text: pa.Array) -> np.ndarray:
    """The cells of a large text array one after the other, as UTF-8 bytes (a view of its data)."""
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    if text.type != TEXT:
        text = text.cast(TEXT)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64, count=len(text) + 1,
                            offset=8 * text.offset)
    data = text.buffers()[2]
    if data is None or offsets[-1] == offsets[0]:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)[int(offsets[0]):int(offsets[-1])]


def _csv_by_pandas(part: pd.DataFrame, dialect: CsvDialect, *, header: bool) -> bytes:
    safe = part.copy()
    for col in TEXT_COLUMNS:
        if col in safe:
            safe[col] = csv_phones(safe[col]) if col == "phone" else neutralize(safe[col])
    for col in safe.columns[[dtype == np.float64 for dtype in safe.dtypes]]:
        safe[col] = number_text(safe[col].to_numpy(), dialect.decimal)
    buf = io.StringIO()
    safe.to_csv(buf, index=False, header=header, sep=dialect.delimiter, decimal=dialect.decimal,
                lineterminator="\r\n", float_format="%.15g")
    return buf.getvalue().encode("utf-8")


def write_json(data: object, stream: IO[bytes], slice_rows: int = 65_536) -> None:
    """Write ``json.dumps(data, ensure_ascii=False, indent=2)`` and a line break to ``stream`` as
    UTF-8, where ``data`` may hold Arrow text arrays in place of lists of strings: the text is the
    same as for those arrays as lists, but Arrow escapes and joins them, ``slice_rows`` ids at a
    time, and the joined text goes out as it is made. (A nightly run summary lists millions of
    customer ids: as Python strings, through the encoder that ``indent`` makes run in Python, three
    million took about 2 s and 250 MB more; joined whole and held as one text, 230 MB more.)"""
    try:
        for piece in _json_pieces(data, slice_rows):
            _write_all(stream, piece.encode("utf-8") if isinstance(piece, str) else piece)
        _write_all(stream, b"\n")
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError("the run summary was not written whole to standard output "
                          f"({exc.strerror}).") from None


def _write_all(stream: IO[bytes], data: bytes | pa.Buffer) -> None:
    """All of ``data`` to ``stream``: a pipe whose reader has gone, or a full disk, takes part of a
    write without an error, and only the next write fails."""
    rest = memoryview(data)
    while len(rest):
        written = stream.write(rest)
        if not written:
            raise OSError(errno.EIO, "it took no more")
        rest = rest[written:]


def _json_pieces(data: object, slice_rows: int = 65_536) -> Iterator[str | pa.Buffer]:
    """The text of ``json.dumps(data, ensure_ascii=False, indent=2)`` in pieces: text, and for the
    Arrow arrays in ``data``, UTF-8 buffers of at most ``slice_rows`` ids each."""
    token = secrets.token_hex(8)
    arrays: list[pa.Array | pa.ChunkedArray] = []

    def swap(value: object) -> object:
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            arrays.append(value)
            return f"{token}-{len(arrays) - 1}"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(data), ensure_ascii=False, indent=2)
    at = 0
    for k, ids in enumerate(arrays):
        mark = f'"{token}-{k}"'
        where = text.index(mark, at)
        line = text[text.rfind("\n", 0, where) + 1:where]
        yield text[at:where]
        yield from _json_list(ids, len(line) - len(line.lstrip(" ")), slice_rows)
        at = where + len(mark)
    yield text[at:]


def _json_list(ids: pa.Array | pa.ChunkedArray, indent: int,
               slice_rows: int) -> Iterator[str | pa.Buffer]:
    """Text ``ids`` as ``json.dumps(ids.to_pylist(), ensure_ascii=False, indent=2)`` writes them in
    a line indented by ``indent`` spaces, in pieces."""
    if not len(ids):
        yield "[]"
        return
    if ids.null_count:  # (ids are never missing) Python's encoder, indented
        as_python = json.dumps(ids.to_pylist(), ensure_ascii=False, indent=2)
        yield as_python.replace("\n", "\n" + " " * indent)
        return
    pad = " " * (indent + 2)
    between = f'",\n{pad}"'
    yield f'[\n{pad}"'
    chunks = ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
    first = True
    for chunk in chunks:
        for start in range(0, len(chunk), slice_rows):
            part = chunk.slice(start, slice_rows)
            part = _json_escaped(part.cast(TEXT))
            one_list = pa.ListArray.from_arrays(pa.array([0, len(part)], pa.int32()), part)
            if not first:
                yield between
            first = False
            yield pc.binary_join(one_list, pa.scalar(between, part.type))[0].as_buffer()
    yield f'"\n{" " * indent}]'


def json_bytes(rows: pd.DataFrame) -> bytes:
    """The call list as a JSON array of row objects; null for unknown values."""
    return b"".join(_json_parts(rows))


def _json_parts(rows: pd.DataFrame, part_rows: int = PART_ROWS) -> Iterator[bytes]:
    """:func:`json_bytes` a part of ``part_rows`` rows at a time: each part's array without its
    brackets, joined as ``json.dumps`` joins the items of one array.

    Each value is written as ``json.dumps(..., ensure_ascii=False, indent=2, allow_nan=False)``
    writes it, by Arrow a column at a time (the encoder that ``indent`` makes run in Python took
    about 60 s for the three million rows of a ten-million-order ``--all`` list). A column of
    another type than text, whole numbers and floats sends its part to ``json.dumps``."""
    if rows.empty:
        yield b"[]\n"
        return
    yield b"["
    keys = [json.dumps(str(col), ensure_ascii=False) + ": " for col in rows.columns]
    for start in range(0, len(rows), part_rows):
        part = rows.iloc[start:start + part_rows]
        cells = [_json_cells(part[col]) for col in part.columns]
        if cells and all(c is not None for c in cells):  # (no columns: "{}" per row, by json.dumps)
            text = _json_records(keys, cells)
        else:
            records = part.astype(object).where(part.notna(), None).to_dict(orient="records")
            whole = json.dumps(records, ensure_ascii=False, indent=2, allow_nan=False)
            text = whole[1:-2].encode("utf-8")
        yield (b"," if start else b"") + text  # "\n  {...},\n  {...}"
    yield b"\n]\n"


def _json_records(keys: list[str], cells: list[pa.Array]) -> bytes:
    """Each row as an object laid out as ``json.dumps(indent=2)`` lays out an array's items (one
    key and value per line), the rows joined by commas."""
    pieces = [joined(key, cell) for key, cell in zip(keys, cells, strict=True)]
    body = pc.binary_join_element_wise(*pieces, pa.scalar(",\n    ", TEXT))
    records = joined("\n  {\n    ", body, "\n  },")
    return _utf8(records).tobytes()[:-1]  # (no comma after the last)


#: What json.dumps writes for the characters it escapes (ensure_ascii=False); other control
#: characters as \u00XX.
_JSON_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                 "\t": "\\t"}


def _json_escaped(text: pa.Array) -> pa.Array:
    """Text cells escaped as JSON strings (without their quotes); each character to escape is
    replaced only in a column whose bytes hold it, the backslash first."""
    held = np.bincount(_utf8(text), minlength=256)
    for byte in [0x5C, *(b for b in range(0x20) if b != 0x5C), 0x22]:
        if held[byte]:
            char = chr(byte)
            text = pc.replace_substring(text, char, _JSON_ESCAPES.get(char, f"\\u{byte:04x}"))
    return text


def _json_cells(values: pd.Series) -> pa.Array | None:
    """A column's values as JSON text (``null`` for missing ones), or None for a type
    :func:`_json_parts` leaves to ``json.dumps``."""
    null = pa.scalar("null", TEXT)
    if values.dtype == np.int64:
        return whole(values.to_numpy())
    if values.dtype == np.float64:
        v = values.to_numpy()
        digits, exact = _digits(v, ".")
        plain = pc.equal(pc.find_substring(digits, "."), -1)  # Python writes 12.0, not 12
        cells = pc.if_else(plain, joined(digits, ".0"), digits)
        nan = np.isnan(v)
        cells = python_where(cells, ~exact & ~nan, v, lambda x: json.dumps(x, allow_nan=False))
        return pc.if_else(pa.array(nan), null, cells)
    if isinstance(values.dtype, pd.StringDtype):
        raw = pa.array(values, type=TEXT)
        quoted = joined('"', _json_escaped(raw.fill_null("")), '"')
        return pc.if_else(pc.is_null(raw), null, quoted)
    return None


def xlsx_bytes(rows: pd.DataFrame, *, sheet: str = "Call list",
               created: dt.datetime | None = None) -> bytes:
    """The call list as an Excel workbook (see the module conventions)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    if created is not None:
        wb.properties.created = created
    ws = wb.create_sheet(sheet)
    ws.freeze_panes = "A2"
    columns = list(rows.columns)
    for i, col in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = _width(rows, col)
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
    bold = Font(bold=True)
    header = []
    for col in columns:
        cell = WriteOnlyCell(ws, value=col)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    dates = {c: pd.to_datetime(rows[c], format="%Y-%m-%d", errors="coerce") for c in DATE_COLUMNS if c in rows}
    for pos in range(len(rows)):
        record = rows.iloc[pos]
        cells = []
        for col in columns:
            cells.append(_xlsx_cell(ws, WriteOnlyCell, col, record[col],
                                    dates[col].iloc[pos] if col in dates else None))
        ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _xlsx_cell(ws, cell_type, col: str, value, date_value):  # type: ignore[no-untyped-def]
    if col in DATE_COLUMNS:
        if date_value is None or pd.isna(date_value):
            return cell_type(ws, value=None)
        cell = cell_type(ws, value=date_value.date())
        cell.number_format = _DATE_FORMAT
        return cell
    if col in TEXT_COLUMNS or col not in _NUMBER_FORMATS:
        text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
        text = _ILLEGAL_XML.sub("", text)
        cell = cell_type(ws, value=text if text else None)
        if text:
            cell.data_type = "s"  # never a formula, whatever the text starts with
            if _FORMULA_START.match(text):
                cell.quotePrefix = True
        return cell
    if value is None or pd.isna(value):
        return cell_type(ws, value=None)
    number = int(value) if _NUMBER_FORMATS[col] == "0" else float(value)
    cell = cell_type(ws, value=number)
    cell.number_format = _NUMBER_FORMATS[col]
    return cell


def _width(rows: pd.DataFrame, col: str) -> float:
    if col in DATE_COLUMNS:
        longest = 10
    elif rows.empty:
        longest = 0
    elif col in _NUMBER_FORMATS and col not in TEXT_COLUMNS:
        longest = int(rows[col].abs().fillna(0).map("{:,.2f}".format).str.len().max())
    else:
        longest = int(rows[col].fillna("").astype("str").str.len().max())
    return float(min(max(longest, len(col)) + 2, _MAX_WIDTH))


def render(rows: pd.DataFrame, fmt: str, dialect: CsvDialect = COMMA, *, bom: bool = True) -> bytes:
    return b"".join(render_parts(rows, fmt, dialect, bom=bom))


def render_parts(rows: pd.DataFrame, fmt: str, dialect: CsvDialect = COMMA, *,
                 bom: bool = True) -> Iterator[bytes]:
    """The call list's bytes in parts of :data:`PART_ROWS` rows (one for XLSX), made as they are
    asked for: a list of millions of rows (``--all``) is never held whole as text."""
    if fmt == "csv":
        return _csv_parts(rows, dialect, bom=bom)
    if fmt == "json":
        return _json_parts(rows)
    if fmt == "xlsx":
        return iter([xlsx_bytes(rows)])
    raise ValueError(f"unknown format {fmt!r}")


def write_call_list(rows: pd.DataFrame, path: Path, fmt: str = "csv", dialect: CsvDialect = COMMA) -> Path:
    parts = render_parts(rows, fmt, dialect)
    return atomic_write(path, lambda fh: fh.writelines(parts))


def write_csv(rows: pd.DataFrame, path: Path, dialect: CsvDialect = COMMA) -> Path:
    return write_call_list(rows, path, "csv", dialect)


def write_stream(rows: pd.DataFrame, stream: IO[bytes], fmt: str = "csv", dialect: CsvDialect = COMMA) -> None:
    """CSV or JSON to an already open binary stream (``--out -``, standard output); CSV without
    the byte order mark. The whole list, or :class:`OutputError`: a pipe whose reader has gone, or a
    full disk, takes part of a write without an error, and only the next write fails."""
    if fmt == "xlsx":
        raise OutputError("an Excel workbook cannot go to standard output. Give a file name with --out.")
    try:
        for part in render_parts(rows, fmt, dialect, bom=False):
            _write_all(stream, part)
        stream.flush()
    except BrokenPipeError:
        raise OutputError("the call list was not written whole to standard output: the program "
                          "reading it stopped reading (as head does). To keep the whole list, "
                          "write it to a file with --out FILE.") from None
    except OSError as exc:
        raise OutputError("the call list was not written whole to standard output "
                          f"({exc.strerror}). Write it to a file with --out FILE.") from None


def owner_paths(path: Path, owners: list[str]) -> dict[str, Path]:
    """One file name per owner next to ``path``: ``calls-2026-11-23-ayse-yilmaz.csv``.

    The owner "" (no owner, or the owner has left) gets ``-unassigned``. Names are lower-cased, with
    letters of any alphabet kept and everything else turned into ``-``; clashes get a number.
    """
    out: dict[str, Path] = {}
    used: set[str] = set()
    for owner in owners:
        slug = re.sub(r"[^\w]+", "-", owner.casefold(), flags=re.UNICODE).strip("-_") or "unassigned"
        base, n = slug, 2
        while slug in used:
            slug, n = f"{base}-{n}", n + 1
        used.add(slug)
        out[owner] = path.with_name(f"{path.stem}-{slug}{path.suffix}")
    return out
