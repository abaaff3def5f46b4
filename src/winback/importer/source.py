"""Read an input file's bytes and decode them to text, refusing what we cannot read honestly.

Containers are recognised by their first bytes, not their names: gzip (``1F 8B``), zip (``PK``) with
one delimited file inside. Excel workbooks and other binaries get a message that says what the file
looks like and what to do. Text is decoded as UTF-8 (with or without BOM) or UTF-16 (with BOM) when
it is that, else with the code page a detector (charset-normalizer) finds, checked for plausibility;
a legacy code page is never a silent fallback.
"""

from __future__ import annotations

import gzip
import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from winback.errors import InputDataError, InputNotFoundError

# Code pages our users' accounting programs and Excel produce, in the order we prefer them when the
# detector is unsure between several.
LEGACY_ENCODINGS = ("cp1254", "cp1251", "cp1252", "iso8859_9", "koi8_r", "cp866", "iso8859_5")

# Bytes that look like text decoded with the wrong code page (UTF-8 read as cp1252/latin-1, or a
# Turkish/Russian code page read as latin-1).
_MOJIBAKE = ("Ã", "Ä±", "Å", "Ð", "Ñ", "Þ", "ý", "ð", "â€")


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    confidence: float  # 1.0 when the bytes prove the encoding (BOM, valid UTF-8)
    container: str  # 'plain', 'gzip' or 'zip'


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


def unwrap(data: bytes, name: str) -> tuple[bytes, str]:
    """Unpack gzip or single-file zip content, recognised by magic bytes."""
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data), "gzip"
        except (OSError, EOFError) as exc:
            raise InputDataError(f"{name}: looks like a gzip file but cannot be unpacked ({exc}).") from exc
    if data[:4] == b"PK\x03\x04":
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise InputDataError(f"{name}: looks like a zip file but is damaged.") from exc
        names = [n for n in zf.namelist() if not n.endswith("/")]
        if any(n.startswith("xl/") for n in names) or "[Content_Types].xml" in names:
            raise InputDataError(
                f"{name}: this is an Excel workbook (.xlsx), not a CSV file. Open it in Excel or "
                "LibreOffice and use Save As > CSV, then run winback on the CSV."
            )
        if len(names) != 1:
            raise InputDataError(
                f"{name}: the zip archive holds {len(names)} files; winback reads a zip with exactly one "
                "order file inside. Unpack it and give the order file."
            )
        return zf.read(names[0]), "zip"
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise InputDataError(
            f"{name}: this is an old Excel workbook (.xls), not a CSV file. Open it in Excel or "
            "LibreOffice and use Save As > CSV, then run winback on the CSV."
        )
    if data[:4] == b"%PDF":
        raise InputDataError(f"{name}: this is a PDF document, not an order export. Export the orders as CSV.")
    return data, "plain"


def decode(data: bytes, name: str, encoding: str | None = None) -> DecodedText:
    """Decode bytes to text. ``encoding`` (from ``--encoding``) overrides detection."""
    data, container = unwrap(data, name)
    if encoding:
        try:
            return DecodedText(data.decode(encoding), encoding, 1.0, container)
        except LookupError as exc:
            raise InputDataError(f"--encoding {encoding}: unknown encoding. Examples: utf-8, cp1254, cp1251.") from exc
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise InputDataError(
                f"{name}: line {line}: byte 0x{data[exc.start]:02X} is not valid {encoding}. "
                "Check the --encoding value, or leave it out to let winback detect it."
            ) from exc
    if data.startswith(b"\xef\xbb\xbf"):
        return DecodedText(_strict(data[3:], "utf-8", name), "utf-8-sig", 1.0, container)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return DecodedText(_strict(data, "utf-16", name), "utf-16", 1.0, container)
    if b"\x00" in data[:4096]:
        raise InputDataError(
            f"{name}: this is a binary file, not a delimited text export. Export the orders as CSV."
        )
    try:
        return DecodedText(data.decode("utf-8"), "utf-8", 1.0, container)
    except UnicodeDecodeError as exc:
        if _mostly_utf8(data, exc):
            line = data[: exc.start].count(b"\n") + 1
            raise InputDataError(
                f"{name}: line {line}: byte 0x{data[exc.start]:02X} is not valid UTF-8, but the rest of "
                "the file is UTF-8. Fix that line, or run with --encoding and the right code page."
            ) from exc
    return _detect_legacy(data, name, container)


def _strict(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputDataError(
            f"{name}: line {line}: byte 0x{data[exc.start]:02X} is not valid {encoding} although the file "
            "starts with a byte order mark saying it is. Fix that line and export again."
        ) from exc


def _mostly_utf8(data: bytes, exc: UnicodeDecodeError) -> bool:
    """True when the bytes contain valid multi-byte UTF-8 sequences before the bad byte."""
    return any(b >= 0xC2 for b in data[: exc.start])


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
        if _plausible(text):
            return DecodedText(text, enc, round(1.0 - float(match.chaos), 2), container)
    raise InputDataError(
        f"{name}: cannot tell which encoding this file uses. If it came from a Turkish program try "
        "--encoding cp1254; Russian: --encoding cp1251; Western European: --encoding cp1252."
    )


def _canon(encoding: str) -> str:
    return encoding.replace("-", "_").lower().replace("windows_", "cp")


def _plausible(text: str) -> bool:
    sample = text[:20_000]
    return not any(seq in sample for seq in _MOJIBAKE)
