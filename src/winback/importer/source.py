"""Read an input file's bytes and decode them to text, refusing what we cannot read honestly.

Containers are recognised by their first bytes, not their names: gzip (``1F 8B``), zip (``PK``) with
one delimited file inside. Excel workbooks and other binaries get a message that says what the file
looks like and what to do. Text is decoded as UTF-8 (with or without BOM) or UTF-16 (with BOM) when
it is that, else with the code page a detector (charset-normalizer) finds, checked for plausibility;
a legacy code page is never a silent fallback.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import sys
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd

from winback.errors import InputDataError, InputNotFoundError

# Code pages our users' accounting programs and Excel produce, in the order we prefer them when the
# detector is unsure between several.
LEGACY_ENCODINGS = ("cp1254", "cp1251", "cp1252", "iso8859_9", "koi8_r", "cp866", "iso8859_5")

# Bytes that look like text decoded with the wrong code page (UTF-8 read as cp1252/latin-1, or a
# Turkish/Russian code page read as latin-1).
_MOJIBAKE = ("Ã", "Ä±", "Å", "Ð", "Ñ", "Þ", "þ", "ý", "ð", "â€")
#: Below this charset-normalizer confidence (1 - chaos) a detected code page is not trusted.
MIN_CONFIDENCE = 0.8


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    confidence: float  # 1.0 when the bytes prove the encoding (BOM, valid UTF-8)
    container: str  # 'plain', 'gzip' or 'zip'
    replaced_lines: list[int] = field(default_factory=list)  # lines with U+FFFD (--on-decode-error replace)


def read_bytes(path: str, stdin: io.BufferedReader | None = None) -> bytes:
    """Read a file (or ``-`` for standard input) as bytes, with typed errors."""
    if path == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return stream.read()
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"{path}: no such file. Check the path, or run 'ls' to see the files here.")
    if p.is_dir():
        raise InputNotFoundError(f"{path} is a folder, not a file. Give the order export file inside it.")
    try:
        return p.read_bytes()
    except PermissionError as exc:
        raise InputNotFoundError(f"{path}: permission denied. Check that you may read the file.") from exc
    except OSError as exc:
        raise InputNotFoundError(f"{path}: cannot be read ({exc.strerror}).") from exc


@dataclass(frozen=True)
class Grid:
    """A spreadsheet or columnar file read as strings, header row included (row 0 = line 1)."""

    frame: pd.DataFrame  # columns 0..n-1, all str ("" for empty cells)
    lines: np.ndarray  # the 1-based row number of each row in the workbook or file
    container: str  # 'xlsx' or 'parquet'
    sheet: str | None = None


def unwrap(data: bytes, name: str) -> tuple[bytes, str]:
    """Unpack gzip or single-file zip content, recognised by magic bytes."""
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data), "gzip"
        except (OSError, EOFError, zlib.error) as exc:
            raise InputDataError(f"{name}: looks like a gzip file but cannot be unpacked ({exc}). "
                                 "Download or copy the file again.") from exc
    if data[:4] == b"PK\x03\x04" and not _is_xlsx(data):
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise InputDataError(
                    f"{name}: the zip archive holds {len(names)} files; winback reads a zip with exactly "
                    "one order file inside. Unpack it and give the order file."
                )
            return zf.read(names[0]), "zip"
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
                RuntimeError, zlib.error) as exc:
            raise InputDataError(f"{name}: looks like a zip file but is damaged or encrypted. "
                                 "Unpack it yourself and give the order file.") from exc
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise InputDataError(
            f"{name}: this looks like an old Excel workbook (.xls), which winback cannot read. Open it in "
            "Excel or LibreOffice and use Save As > CSV (or .xlsx), then run winback on that file."
        )
    if data[:4] == b"%PDF":
        raise InputDataError(f"{name}: this is a PDF document, not an order export. Export the orders as CSV.")
    return data, "plain"


def _is_xlsx(data: bytes) -> bool:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False
    return any(n.startswith("xl/") for n in names)


def open_source(data: bytes, name: str, encoding: str | None = None, *, sheet: str | None = None,
                on_decode_error: str = "error") -> DecodedText | Grid:
    """Bytes to text (delimited files) or to a grid of strings (Excel .xlsx, Parquet)."""
    if data[:4] == b"PK\x03\x04" and _is_xlsx(data):
        return read_xlsx(data, name, sheet)
    if data[:4] == b"PAR1":
        return read_parquet(data, name)
    if data[:2] == b"\x1f\x8b":
        inner, _ = unwrap(data, name)
        if inner[:4] == b"PAR1" or (inner[:4] == b"PK\x03\x04" and _is_xlsx(inner)):
            return open_source(inner, name, encoding, sheet=sheet, on_decode_error=on_decode_error)
    return decode(data, name, encoding, on_decode_error=on_decode_error)


def read_xlsx(data: bytes, name: str, sheet: str | None) -> Grid:
    """The first sheet (or ``sheet``, a name or 1-based number) of an .xlsx workbook, as strings."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on damaged files
        raise InputDataError(f"{name}: looks like an Excel workbook (.xlsx) but cannot be opened "
                             f"({type(exc).__name__}). Open it in Excel and save it again, or Save As CSV.") from exc
    names = wb.sheetnames
    if sheet is None:
        title = names[0] if names else None
    elif sheet in names:
        title = sheet
    elif sheet.isdigit() and 1 <= int(sheet) <= len(names):
        title = names[int(sheet) - 1]
    else:
        raise InputDataError(f"{name}: --sheet {sheet}: no such sheet. Sheets: "
                             + ", ".join(f"'{n}'" for n in names) + ".")
    if title is None:
        raise InputDataError(f"{name}: the workbook has no sheets.")
    try:
        ws = wb[title]
        rows = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        first = ws.min_row or 1
    except Exception as exc:  # noqa: BLE001
        raise InputDataError(f"{name}: sheet '{title}' cannot be read ({type(exc).__name__}). "
                             "Open the workbook in Excel and Save As CSV.") from exc
    finally:
        wb.close()
    width = max((len(r) for r in rows), default=0)
    frame = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], columns=range(width), dtype=object)
    return Grid(frame.astype(str), np.arange(first, first + len(rows)), "xlsx", title)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def read_parquet(data: bytes, name: str) -> Grid:
    """A Parquet file as strings; the column names become row 0 (line 1)."""
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(io.BytesIO(data)).to_pandas()
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds on damaged files
        raise InputDataError(f"{name}: looks like a Parquet file but cannot be read ({type(exc).__name__}). "
                             "Export it again.") from exc
    columns = {}
    for i, col in enumerate(frame.columns):
        values = frame[col]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            text = values.dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        elif pd.api.types.is_datetime64_any_dtype(values.dtype):
            text = values.dt.strftime("%Y-%m-%d %H:%M:%S")
        elif pd.api.types.is_float_dtype(values.dtype):
            text = values.astype(str).str.replace(r"\.0$", "", regex=True)
        else:
            text = values.astype(str)
        columns[i] = pd.concat([pd.Series([str(col)]), text.where(values.notna(), "")], ignore_index=True)
    grid = pd.DataFrame(columns, dtype=object).astype(str) if columns else pd.DataFrame()
    return Grid(grid, np.arange(1, len(grid) + 1), "parquet")


def decode(data: bytes, name: str, encoding: str | None = None, *, on_decode_error: str = "error") -> DecodedText:
    """Decode bytes to text. ``encoding`` (from ``--encoding``) overrides detection.

    With ``on_decode_error='replace'`` bytes that are not valid in the file's encoding become U+FFFD
    and the lines holding them are listed in ``replaced_lines``; otherwise they are an error.
    """
    data, container = unwrap(data, name)
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise InputDataError(f"--encoding {encoding}: unknown encoding. Examples: utf-8, cp1254, cp1251.") from exc
        return _strict(data, encoding, name, container, on_decode_error, encoding,
                       ". Check the --encoding value, or leave it out to let winback detect it.")
    if data.startswith(b"\xef\xbb\xbf"):
        return _strict(data[3:], "utf-8", name, container, on_decode_error, "utf-8-sig")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strict(data, "utf-16", name, container, on_decode_error, "utf-16")
    if b"\x00" in data[:4096]:
        raise InputDataError(
            f"{name}: this is a binary file (it contains NUL bytes), not a delimited text export. "
            "Export the orders as CSV."
        )
    try:
        return DecodedText(data.decode("utf-8"), "utf-8", 1.0, container)
    except UnicodeDecodeError as exc:
        if _mostly_utf8(data, exc):
            if on_decode_error == "replace":
                return _replaced(data, "utf-8", container)
            line = data[: exc.start].count(b"\n") + 1
            raise InputDataError(
                f"{name}: line {line}: byte 0x{data[exc.start]:02X} is not valid UTF-8, but the rest of "
                "the file is UTF-8. Fix that line, or run with --on-decode-error replace to import it "
                "with the bad bytes replaced (the lines are listed)."
            ) from exc
    return _detect_legacy(data, name, container)


def _replaced(data: bytes, encoding: str, container: str) -> DecodedText:
    text = data.decode(encoding, errors="replace")
    lines = [i + 1 for i, ln in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
             if "\ufffd" in ln]
    return DecodedText(text, encoding, 1.0, container, replaced_lines=lines)


_BOM_ADVICE = " although the file starts with a byte order mark saying it is. Fix that line and export again."


def _strict(data: bytes, encoding: str, name: str, container: str, on_decode_error: str,
            label: str, advice: str = _BOM_ADVICE) -> DecodedText:
    """Decode as ``encoding`` (reported as ``label``); a bad byte is an error naming its line, unless
    ``on_decode_error='replace'``."""
    try:
        return DecodedText(data.decode(encoding), label, 1.0, container)
    except UnicodeDecodeError as exc:
        if on_decode_error == "replace":
            return _replaced(data, encoding, container)
        line = data[: exc.start].count(b"\n") + 1
        raise InputDataError(
            f"{name}: line {line}: byte 0x{data[exc.start]:02X} is not valid {encoding}{advice}"
        ) from exc


def _mostly_utf8(data: bytes, exc: UnicodeDecodeError) -> bool:
    """True when the bytes contain valid multi-byte UTF-8 sequences before the bad byte."""
    return re.search(rb"[\x80-\xff]", data[: exc.start]) is not None


def _detect_legacy(data: bytes, name: str, container: str) -> DecodedText:
    from charset_normalizer import from_bytes

    results = from_bytes(data[:200_000], cp_isolation=list(LEGACY_ENCODINGS))
    ranked = sorted(
        results,
        key=lambda m: (m.chaos, LEGACY_ENCODINGS.index(_canon(m.encoding))
                       if _canon(m.encoding) in LEGACY_ENCODINGS else 99),
    )
    for match in ranked:
        enc = _canon(match.encoding)
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        confidence = round(1.0 - float(match.chaos), 2)
        if confidence >= MIN_CONFIDENCE and _plausible(text, enc):
            return DecodedText(text, enc, confidence, container)
    raise InputDataError(
        f"{name}: cannot tell which encoding this file uses. If it came from a Turkish program try "
        "--encoding cp1254; Russian: --encoding cp1251; Western European: --encoding cp1252."
    )


def _canon(encoding: str) -> str:
    return encoding.replace("-", "_").lower().replace("windows_", "cp")


_CYRILLIC_PAGES = ("cp1251", "koi8_r", "cp866", "iso8859_5")


def _plausible(text: str, encoding: str) -> bool:
    """Decoded text should read as words: letters of the code page's script, no mojibake pairs."""
    sample = text[:50_000]
    if any(seq in sample for seq in _MOJIBAKE):
        return False
    non_ascii = [ch for ch in set(sample) if ord(ch) > 127]
    if any(ord(ch) < 0xA0 for ch in non_ascii):  # C1 control characters: wrong code page
        return False
    if not non_ascii:
        return True
    letters = [ch for ch in non_ascii if ch.isalpha()]
    if len(letters) < 0.7 * len(non_ascii):
        return False
    cyrillic = sum(1 for ch in letters if "CYRILLIC" in unicodedata.name(ch, ""))
    if encoding in _CYRILLIC_PAGES:
        return cyrillic >= 0.7 * len(letters)
    return cyrillic == 0
