"""Stage 5: the written files, read back with independent readers (pandas, openpyxl, LibreOffice)."""

from __future__ import annotations

import datetime as dt
import errno
import io
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from openpyxl import load_workbook

from tests.regen_golden import GOLDEN, dump_xlsx, writer_outputs, writer_rows
from winback.calllist import COLUMNS
from winback.errors import OutputError
from winback.writers import (
    COMMA,
    SEMICOLON,
    atomic_write,
    csv_bytes,
    csv_phones,
    json_bytes,
    mirror_dialect,
    neutralize,
    owner_paths,
    write_call_list,
    write_json,
    write_stream,
    xlsx_bytes,
)

HOSTILE_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("name", ["writer_comma.csv", "writer_semicolon.csv", "writer.json", "writer.xlsx.txt"])
def test_golden(name):
    """Byte for byte; after an intended change run: python -m tests.regen_golden"""
    assert writer_outputs()[name] == (GOLDEN / name).read_bytes()


def read_csv(data: bytes, sep: str = ",", decimal: str = ".") -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), sep=sep, decimal=decimal, encoding="utf-8-sig",
                       dtype={"customer_id": str, "phone": str}, keep_default_na=False, na_values=[""])


def test_csv_comma_types_ids_dates_and_hostile_cells():
    data = csv_bytes(writer_rows(), COMMA)
    assert data.startswith(b"\xef\xbb\xbfrank,customer_id,")
    assert b"\r\n" in data
    frame = read_csv(data)
    assert list(frame.columns) == COLUMNS
    assert frame["customer_id"].tolist() == ["00042", "'-7", "C-100"]
    assert frame["revenue"].tolist() == [14250.5, 99.99, -0.5]
    assert frame["rank"].dtype == "int64"
    assert pd.isna(frame.loc[1, "margin"])
    assert frame["last_order_date"].tolist() == ["2025-11-01", "2025-06-01", "2024-12-31"]
    assert frame["phone"].tolist() == ["(+90) 532 123 45 67", "0532 12", "(+7) 912 345-67-89"]
    assert frame.loc[1, "name"] == "'=HYPERLINK(\"http://x\",\"click\")"
    assert frame.loc[2, "name"] == "'+ Ölçü; \"quoted\"\nline"
    assert frame.loc[2, "reason"].startswith("'@SUM")
    assert frame.loc[2, "email"] == "'@evil"
    assert frame["last_products"].tolist() == ["Türk Kahvesi 1 kg; Çay", "'-Tea", "'\tTab"]
    for col in frame.columns:
        if frame[col].dtype == object:
            assert not frame[col].fillna("").str.startswith(HOSTILE_START).any(), col


def test_csv_semicolon_decimal_comma():
    data = csv_bytes(writer_rows(), SEMICOLON)
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("rank;customer_id;segment;")
    assert ";14250,5;" in text and ";0,123;" in text
    frame = read_csv(data, sep=";", decimal=",")
    assert frame["revenue"].tolist() == [14250.5, 99.99, -0.5]
    assert frame["customer_id"].tolist()[0] == "00042"


def test_mirror_dialect():
    assert mirror_dialect(";", "decimal comma") is SEMICOLON
    assert mirror_dialect(",", "decimal comma, thousands ' '") is SEMICOLON
    assert mirror_dialect("tab", "decimal point") is COMMA
    assert mirror_dialect(",", None) is COMMA
    assert mirror_dialect(None, None) is COMMA


def test_neutralize_only_what_could_run():
    values = pd.Series(["=1", "+1", "-1", "@a", "\tx", "\rx", "  =1", "a=b", "", "Ölçü", "1-2"])
    assert neutralize(values).tolist() == ["'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "'  =1", "a=b", "",
                                           "Ölçü", "1-2"]
    assert csv_phones(pd.Series(["+90 532 123 45 67", "+905321234567", "+1 650-253-0000", "=1", ""])).tolist() == [
        "(+90) 532 123 45 67", "'+905321234567", "(+1) 650-253-0000", "'=1", ""]


def test_neutralize_edge_cells_as_pythons_re_reads_them():
    """Arrow (RE2) matches the patterns now; these cells read as they did with Python's re: a
    no-break space before the sign, any decimal digits in a phone, a line break only at the end,
    missing cells."""
    values = pd.Series(["\u00a0=1", " \u00a0-2", "\u2003=1", "+٩٠ ٥٣٢ ١٢٣", "+90 532 123 45 67\n",
                        "+1234 5", None, float("nan"), "x\n=1", "+90 5-", "\r\n"], dtype=object)
    assert neutralize(values).tolist() == ["'\u00a0=1", "' \u00a0-2", "\u2003=1", "'+٩٠ ٥٣٢ ١٢٣",
                                           "'+90 532 123 45 67\n", "'+1234 5", "", "", "x\n=1",
                                           "'+90 5-", "'\r\n"]
    assert csv_phones(values).tolist()[3:6] == ["(+٩٠) ٥٣٢ ١٢٣", "'+90 532 123 45 67\n", "'+1234 5"]
    assert csv_phones(values).tolist()[9] == "(+90) 5-"


def test_json_rows():
    records = json.loads(json_bytes(writer_rows()))
    assert [list(r) for r in records] == [COLUMNS] * 3
    first = records[0]
    assert first["customer_id"] == "00042" and first["phone"] == "+90 532 123 45 67"
    assert first["rank"] == 1 and isinstance(first["revenue"], float)
    assert records[1]["margin"] is None
    assert records[1]["name"].startswith("=")  # JSON is data, not a spreadsheet: written as is


def test_xlsx_types_layout_and_no_formulas():
    wb = load_workbook(io.BytesIO(xlsx_bytes(writer_rows())))
    ws = wb.active
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header == COLUMNS
    assert all(c.font.bold for c in ws[1])
    col = {name: i + 1 for i, name in enumerate(header)}
    cell = ws.cell(2, col["customer_id"])
    assert (cell.value, cell.data_type) == ("00042", "s")
    cell = ws.cell(2, col["phone"])
    assert (cell.value, cell.data_type) == ("+90 532 123 45 67", "s")
    cell = ws.cell(2, col["last_order_date"])
    assert cell.is_date and cell.value == dt.datetime(2025, 11, 1) and cell.number_format == "yyyy-mm-dd"
    cell = ws.cell(2, col["revenue"])
    assert cell.data_type == "n" and cell.value == 14250.5
    assert ws.cell(2, col["rank"]).value == 1 and isinstance(ws.cell(2, col["rank"]).value, int)
    assert ws.cell(3, col["margin"]).value is None
    hostile = ws.cell(3, col["name"])
    assert hostile.data_type == "s" and hostile.value == "=HYPERLINK(\"http://x\",\"click\")"
    assert hostile.quotePrefix
    for row in ws.iter_rows(min_row=2):
        for c in row:
            assert c.data_type != "f", c.coordinate
    assert ws.column_dimensions["D"].width == 60  # reason: capped
    assert ws.column_dimensions["B"].width >= len("customer_id")


def test_xlsx_raw_xml_has_no_formula_elements():
    import zipfile

    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(writer_rows()))) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet


def test_xlsx_of_empty_list_has_the_header():
    wb = load_workbook(io.BytesIO(xlsx_bytes(writer_rows().iloc[0:0])))
    assert [c.value for c in wb.active[1]] == COLUMNS and wb.active.max_row == 1


def test_files_are_owner_only_and_atomic(tmp_path, monkeypatch):
    path = tmp_path / "calls.xlsx"
    write_call_list(writer_rows(), path, "xlsx")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = path.read_bytes()

    def boom(fh):
        fh.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="No space left"):
        atomic_write(path, boom)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["calls.xlsx"]


def test_stream_refuses_xlsx_and_writes_csv_without_bom():
    buf = io.BytesIO()
    write_stream(writer_rows(), buf, "csv", SEMICOLON)
    assert buf.getvalue().startswith(b"rank;customer_id")
    with pytest.raises(OutputError, match="--out"):
        write_stream(writer_rows(), io.BytesIO(), "xlsx")


class _Pipe(io.RawIOBase):
    """Standard output as a pipe or a disk: takes at most ``per_write`` bytes a call, and after
    ``limit`` bytes fails as ``error`` (a reader gone, a full disk)."""

    def __init__(self, per_write: int, limit: int | None = None,
                 error: OSError | None = None) -> None:
        self.data, self.per_write, self.limit, self.error = bytearray(), per_write, limit, error

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        if self.limit is not None and len(self.data) >= self.limit:
            raise self.error
        taken = bytes(b[:self.per_write])
        self.data += taken
        return len(taken)


def test_stream_writes_the_whole_list_through_partial_writes_or_says_it_could_not():
    """A pipe or a disk takes part of a write without an error (only the next write fails): the list
    goes out whole, or the command fails with OutputError, never a list cut short with success."""
    whole = io.BytesIO()
    write_stream(writer_rows(), whole, "csv", SEMICOLON)
    slow = _Pipe(per_write=7)
    write_stream(writer_rows(), slow, "csv", SEMICOLON)
    assert bytes(slow.data) == whole.getvalue()
    gone = _Pipe(per_write=7, limit=20, error=BrokenPipeError(errno.EPIPE, "Broken pipe"))
    with pytest.raises(OutputError, match=r"stopped reading.*--out FILE"):
        write_stream(writer_rows(), gone, "csv", SEMICOLON)
    full = _Pipe(per_write=7, limit=20, error=OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OutputError, match="No space left on device"):
        write_stream(writer_rows(), full, "json")


@pytest.mark.parametrize("part_rows", [1, 2, 5])
def test_a_list_made_in_parts_is_the_list_made_whole(part_rows):
    """CSV and JSON lists are made and written PART_ROWS rows at a time (``--all`` lists millions):
    joined, the parts are the bytes the whole frame gives (header and byte order mark once, JSON
    items joined as json.dumps joins them), in both CSV dialects and with an empty list."""
    from winback.writers import TEXT_COLUMNS, _csv_parts, _json_parts, csv_phones, neutralize

    rows = pd.concat([writer_rows()] * 3, ignore_index=True)
    rows["rank"] = range(1, len(rows) + 1)
    for dialect in (COMMA, SEMICOLON):
        for bom in (True, False):
            safe = rows.copy()
            for col in TEXT_COLUMNS:
                safe[col] = csv_phones(safe[col]) if col == "phone" else neutralize(safe[col])
            whole = safe.to_csv(index=False, sep=dialect.delimiter, decimal=dialect.decimal,
                                lineterminator="\r\n", float_format="%.15g")
            want = (("\ufeff" if bom else "") + whole).encode("utf-8")
            assert b"".join(_csv_parts(rows, dialect, bom=bom, part_rows=part_rows)) == want
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    want = (json.dumps(records, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode()
    assert b"".join(_json_parts(rows, part_rows=part_rows)) == want
    empty = rows.iloc[:0]
    assert b"".join(_json_parts(empty, part_rows=part_rows)) == b"[]\n"
    assert b"".join(_csv_parts(empty, COMMA, bom=True, part_rows=part_rows)) == \
        ("\ufeff" + ",".join(rows.columns) + "\r\n").encode()


def test_a_list_that_fails_while_it_is_made_leaves_the_previous_file_and_no_temporary(tmp_path):
    """The parts of a list are made while it is written: any error then (not only the disk's)
    removes the temporary file and leaves the previous list."""
    path = tmp_path / "calls.csv"
    path.write_bytes(b"previous")

    def parts():
        yield b"rank,customer_id\r\n"
        raise ValueError("a bug while formatting")

    with pytest.raises(ValueError, match="formatting"):
        atomic_write(path, lambda fh: fh.writelines(parts()))
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["calls.csv"]


def test_run_summary_goes_out_whole_through_partial_writes_or_says_it_could_not():
    data = {"as_of": "2026-11-29", "ids": pa.array([f"{i:05d}" for i in range(50)])}
    want = (json.dumps(_as_lists(data), ensure_ascii=False, indent=2) + "\n").encode()
    slow = _Pipe(per_write=7)
    write_json(data, slow, slice_rows=8)
    assert bytes(slow.data) == want
    full = _Pipe(per_write=7, limit=30, error=OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OutputError, match=r"run summary was not written whole.*No space left"):
        write_json(data, full)
    gone = _Pipe(per_write=7, limit=30, error=BrokenPipeError(errno.EPIPE, "Broken pipe"))
    with pytest.raises(BrokenPipeError):  # the command then ends quietly (tests/test_cli_scan.py)
        write_json(data, gone)


@pytest.mark.parametrize("decimal", [".", ","])
def test_numbers_are_written_as_pandas_writes_them(decimal):
    """The CSV lists' numbers are made by Arrow from their digits (pandas formats each in Python):
    the same text as ``to_csv(float_format="%.15g")``, for every kind of value a list holds and
    the awkward ones it does not."""
    from winback.writers import number_text

    rng = np.random.default_rng(8)
    awkward = [0.0, -0.0, 0.1, 0.29, 2.675, -0.5, 0.001, 0.0005, 1e-5, 264483.53, 999999999999.99,
               1e12, 123456789012.345, 1e15, 1.5e16, -7.25e20, float("inf"), float("-inf"),
               float("nan"), 1 / 3, 14250.5, 5e-324]
    values = np.concatenate([awkward, rng.gamma(1.0, 500.0, 20_000).round(2),
                             -rng.gamma(1.0, 50.0, 5_000).round(2), rng.random(5_000).round(3),
                             rng.normal(0, 1e6, 5_000)])
    frame = pd.DataFrame({"x": values})
    want = frame.to_csv(index=False, sep=";", decimal=decimal, float_format="%.15g",
                        lineterminator="\n")
    got = pd.DataFrame({"x": number_text(values, decimal)}).to_csv(index=False, sep=";",
                                                                  lineterminator="\n")
    assert got == want


def test_owner_paths():
    paths = owner_paths(Path("out/calls.csv"), ["Ayşe Yılmaz", "ayşe yılmaz", "Иванов", "a/b", ""])
    assert {k: v.name for k, v in paths.items()} == {
        "Ayşe Yılmaz": "calls-ayşe-yılmaz.csv", "ayşe yılmaz": "calls-ayşe-yılmaz-2.csv",
        "Иванов": "calls-иванов.csv", "a/b": "calls-a-b.csv", "": "calls-unassigned.csv"}
    assert all(p.parent == Path("out") for p in paths.values())


def test_golden_xlsx_dump_is_stable():
    assert dump_xlsx(xlsx_bytes(writer_rows())) == dump_xlsx(xlsx_bytes(writer_rows()))


# --- LibreOffice: the files as a real spreadsheet opens them -------------------------------------

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
needs_soffice = pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")


def convert(src: Path, fmt: str, tmp: Path, infilter: str | None = None) -> Path:
    """Convert headless with a private profile; returns the converted file."""
    out = tmp / "converted"
    cmd = [SOFFICE, "--headless", "--norestore", f"-env:UserInstallation=file://{tmp / 'lo-profile'}"]
    if infilter:
        cmd.append(f"--infilter={infilter}")
    cmd += ["--convert-to", fmt, "--outdir", str(out), str(src)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    result = out / f"{src.stem}.{fmt.split(':')[0]}"
    assert result.exists(), f"LibreOffice did not write {result}"
    return result


@pytest.mark.slow
@needs_soffice
def test_libreoffice_opens_semicolon_csv_in_turkish_locale(tmp_path):
    """Separator ;, UTF-8, Turkish locale (1055), formulas evaluated: the worst case for injection."""
    src = tmp_path / "calls.csv"
    src.write_bytes(csv_bytes(writer_rows(), SEMICOLON))
    book = load_workbook(convert(src, "xlsx", tmp_path, infilter="CSV:59,34,76,1,,1055"))
    ws = book.active
    header = [c.value for c in ws[1]]
    assert header == COLUMNS
    col = {name: i + 1 for i, name in enumerate(header)}
    for row in ws.iter_rows(min_row=2):
        for c in row:
            assert c.data_type != "f", f"{c.coordinate} became a formula: {c.value!r}"
    assert ws.cell(2, col["name"]).value == "Şahin Kafe (İstanbul)"
    assert ws.cell(3, col["name"]).value == "'=HYPERLINK(\"http://x\",\"click\")"
    assert ws.cell(2, col["phone"]).value == "(+90) 532 123 45 67"
    assert ws.cell(4, col["phone"]).value == "(+7) 912 345-67-89"
    assert ws.cell(2, col["revenue"]).value == 14250.5  # decimal comma read as a number
    assert ws.cell(2, col["p_alive"]).value == pytest.approx(0.123)
    assert ws.cell(2, col["last_order_date"]).is_date
    assert ws.cell(4, col["customer_id"]).value == "C-100"
    # A CSV cannot say "this is text": 00042 opens as the number 42 unless the column is imported as
    # Text (docs/call-list.md says so and recommends --format xlsx).
    assert ws.cell(2, col["customer_id"]).value == 42


@pytest.mark.slow
@needs_soffice
def test_libreoffice_keeps_ids_when_id_column_is_text(tmp_path):
    src = tmp_path / "calls.csv"
    src.write_bytes(csv_bytes(writer_rows(), COMMA))
    book = load_workbook(convert(src, "xlsx", tmp_path, infilter="CSV:44,34,76,1,2/2,1033"))
    ws = book.active
    assert [ws.cell(r, 2).value for r in (2, 3, 4)] == ["00042", "'-7", "C-100"]


@pytest.mark.slow
@needs_soffice
def test_libreoffice_reads_our_xlsx(tmp_path):
    src = tmp_path / "calls.xlsx"
    src.write_bytes(xlsx_bytes(writer_rows()))
    again = convert(src, "xlsx", tmp_path)  # LibreOffice loads and saves it again
    ws = load_workbook(again).active
    col = {c.value: c.column for c in ws[1]}
    assert ws.cell(2, col["customer_id"]).value == "00042"
    assert ws.cell(2, col["phone"]).value == "+90 532 123 45 67"
    assert ws.cell(3, col["name"]).value == "=HYPERLINK(\"http://x\",\"click\")"
    assert ws.cell(3, col["name"]).data_type == "s"
    assert ws.cell(2, col["revenue"]).value == 14250.5
    assert ws.cell(2, col["first_order_date"]).is_date
    # (Headless LibreOffice has no view, so it drops frozen panes of any workbook on saving; the
    # frozen header is checked with openpyxl above.)
    exported = convert(src, "csv:Text - txt - csv (StarCalc):44,34,76,1", tmp_path / "csv")
    frame = pd.read_csv(exported, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(frame.columns) == COLUMNS
    assert frame.loc[0, "customer_id"] == "00042"
    assert frame.loc[0, "phone"] == "+90 532 123 45 67"
    assert frame.loc[0, "last_order_date"] == "2025-11-01"
    assert frame.loc[1, "name"] == "=HYPERLINK(\"http://x\",\"click\")"


def _as_lists(value: object) -> object:
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return value.to_pylist()
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_lists(v) for v in value]
    return value


def _written_json(data: object, slice_rows: int) -> str:
    out = io.BytesIO()
    write_json(data, out, slice_rows=slice_rows)
    return out.getvalue().decode("utf-8")


@pytest.mark.parametrize("slice_rows", [1, 3, 65_536])
def test_write_json_writes_arrow_id_lists_as_the_json_module_writes_lists(slice_rows):
    """The nightly run summary's id lists go out through Arrow, a slice of ids at a time: the text
    must be json.dumps' own (and a line break), at any depth, with quotes, backslashes and non-ASCII
    letters in some slices and not others, control characters, empty ids and lists, chunked
    arrays, and a list with nulls handed back to Python's encoder."""
    plain = ["00042", 'say "hi"', "back\\slash", "Çelik Ltd. Şti.", "Абвгд", "", "x,", "a\u2028b",
             "p", "q", "r", ""]
    data = {
        "as_of": "2026-11-29",
        "ids_in_a_string": "not a list",
        "nightly": {"diff": {
            "came_back": {"count": len(plain), "customer_ids": pa.array(plain)},
            "newly_lapsed": {"count": 0, "customer_ids": pa.array([], pa.large_string())},
            "still_lapsed": {"count": 3, "customer_ids": pa.chunked_array([["b", "c"], [], ["d"]])},
        }},
        "deeper": [{"ids": pa.array(["tab\there", "ok"])}, {"ids": pa.array(["x", None])}],
        "last": pa.array(["z", '"', "y"], pa.large_string()),
    }
    expected = json.dumps(_as_lists(data), ensure_ascii=False, indent=2) + "\n"
    assert _written_json(data, slice_rows) == expected
    one = json.dumps({"n": 1}, ensure_ascii=False, indent=2) + "\n"
    assert _written_json({"n": 1}, slice_rows) == one


@pytest.mark.parametrize("dialect", [COMMA, SEMICOLON], ids=["comma", "semicolon"])
def test_csv_cells_are_quoted_as_the_csv_module_quotes_them(dialect):
    """Arrow makes the CSV lines; they are the bytes pandas' to_csv (Python's csv module) writes:
    cells with the delimiter, a quote or a line break quoted, quotes doubled, missing values empty,
    whole numbers and floats as before. A column of another type goes through to_csv itself."""
    from winback.writers import _csv_by_pandas, _csv_parts

    tricky = ["plain", "a,b", "a;b", 'say "hi"', '"', "line\nbreak", "cr\rhere", "crlf\r\n", "",
              None, " lead", "trail ", "Ölçü, 5 ₺", "=1", "+90 532 123 45 67", "x" * 300, "'", "\t"]
    n = len(tricky)
    rows = pd.DataFrame({
        "rank": np.arange(1, n + 1, dtype=np.int64),
        "customer_id": pd.Series(tricky, dtype="str"),
        "reason": pd.Series(tricky[::-1], dtype="str"),
        "phone": pd.Series(tricky, dtype="str"),
        "revenue": np.array([1.5, -0.0, np.nan, 1e15, 0.1 + 0.2, 3.0] * 3)[:n],
        "orders": np.array([-3, 0, 7, 2**40, 5, 6] * 3, dtype=np.int64)[:n],
        "note": pd.Series(tricky, dtype=object),
        "last_order_date": pd.Series(["2024-01-0" + str(i % 9 + 1) for i in range(n)], dtype="str"),
    })
    for part_rows in (1, 4, 100):
        got = b"".join(_csv_parts(rows, dialect, bom=False, part_rows=part_rows))
        assert got == _csv_by_pandas(rows, dialect, header=True)
    odd = rows.assign(flag=[True, False] * (n // 2))  # a type the Arrow way leaves to pandas
    assert b"".join(_csv_parts(odd, dialect, bom=False, part_rows=5)) == \
        _csv_by_pandas(odd, dialect, header=True)


def test_json_values_are_written_as_json_dumps_writes_them():
    """Arrow writes the JSON list a column at a time: the same text as json.dumps(ensure_ascii=
    False, indent=2) of the records, for awkward text (quotes, backslashes, every control
    character, non-ASCII), whole numbers and floats (12.0, -0.0, many decimals, huge, missing);
    a column of another type goes through json.dumps itself."""
    from winback.writers import _json_parts

    texts = ['say "hi"', "back\\slash", "Ölçü ₺ 😀", "", None, "\u2028", "\x7f",
             *[chr(c) + "x" for c in range(0x20)]]
    n = len(texts)
    floats = [12.0, -0.0, 0.1 + 0.2, 1e16, 2.5, float("nan"), 1e-7, 123456789012.345,
              999999999999.99]
    rows = pd.DataFrame({
        "rank": np.arange(-3, n - 3, dtype=np.int64),
        "customer_id": pd.Series(texts, dtype="str"),
        "reason": pd.Series(texts[::-1], dtype="str"),
        "revenue": np.resize(floats, n),
        "p_alive": np.linspace(0, 1, n).round(3),
    })
    for part_rows in (1, 7, 1_000):
        got = b"".join(_json_parts(rows, part_rows=part_rows))
        records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
        want = json.dumps(records, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
        assert got == want.encode()
    odd = rows.assign(flag=[True, False] * (n // 2) + [True] * (n % 2))
    records = odd.astype(object).where(odd.notna(), None).to_dict(orient="records")
    assert b"".join(_json_parts(odd, part_rows=5)) == \
        (json.dumps(records, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode()


def test_a_csv_list_of_one_column_is_written_as_the_csv_module_writes_it():
    from winback.writers import _csv_by_pandas, _csv_parts

    one = pd.DataFrame({"customer_id": pd.Series(["a", "", None, 'x"y'], dtype="str")})
    assert b"".join(_csv_parts(one, COMMA, bom=False)) == _csv_by_pandas(one, COMMA, header=True)
    assert b'\r\n""\r\n' in _csv_by_pandas(one, COMMA, header=True)
