"""Find the delimiter and the header row of an export, then cut it into a table of strings.

The delimiter is chosen over many lines, not the first: for each candidate we parse a sample and
score how consistently it splits lines into the same number of fields, weighted by that number
(so ``1001;03.01.2024;1.234,56`` is not taken for a comma-separated line). The header is the row,
among the first ones, whose cells name the most known columns; lines above it are a preamble. A
header spread over two rows, or two different tables in one file, are errors rather than guesses.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from winback.errors import InputDataError
from winback.importer.parts import CANDIDATES
from winback.importer.roles import ROLES, _score, could_name_a_role, normalize
from winback.importer.source import Grid

WHITESPACE = "whitespace"
MAX_LINE_CHARS = 1_000_000
_SAMPLE_LINES = 400
_HEADER_SEARCH_ROWS = 60
_DATA_LIKE = re.compile(r"^[-+(]?[\d\s.,/:\u00a0]+\)?-?$|^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")


@dataclass(frozen=True)
class RawRows:
    """Every record of a file as strings, before the header is known."""

    cells: pd.DataFrame  # columns 0..n-1, str; "" where a field is empty or missing
    lines: np.ndarray  # physical 1-based line number where each record starts
    field_counts: np.ndarray  # fields actually present in each record (0 for a blank line)
    delimiter: str  # ';', ',', '\t', '|', 'whitespace', or '' for workbooks


@dataclass(frozen=True)
class Table:
    """The body of an export under its header: one row per record, with its physical line number."""

    headers: list[str]
    cells: pd.DataFrame  # columns 0..n-1, all str
    lines: np.ndarray
    field_counts: np.ndarray
    delimiter: str
    header_line: int  # 0 when the file has no header (--no-header)
    preamble_lines: int  # non-blank lines above the header


def sniff_delimiter(text: str, name: str) -> str:
    lines = [ln for ln in text.split("\n", _SAMPLE_LINES * 4)[: _SAMPLE_LINES * 4]
             if ln.strip() and not ln.startswith("#")][:_SAMPLE_LINES]
    if not lines:
        raise InputDataError(f"{name}: the file is empty or has only blank lines: no header found. "
                             "Export the orders again and check that the file has rows.")
    sample = "\n".join(lines)
    best, best_score = None, 0.0
    for delim in CANDIDATES:
        try:
            counts = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delim)]
        except csv.Error:
            continue
        if not counts:
            continue
        modal, freq = Counter(counts).most_common(1)[0]
        if modal < 2:
            continue
        score = (freq / len(counts)) * (modal - 1)
        if score > best_score:
            best, best_score = delim, score
    if best is None:
        counts = [len(ln.split()) for ln in lines]
        modal, freq = Counter(counts).most_common(1)[0]
        if modal >= 2 and freq / len(counts) > 0.6:
            return WHITESPACE
        raise InputDataError(
            f"{name}: cannot find the column separator. winback reads files separated by ; , tab | "
            "or spaces. Check that this is an order export (open it in a text editor)."
        )
    return best


def split_text(text: str, name: str) -> RawRows:
    """Cut delimited text into records and fields (quotes respected), keeping physical line numbers."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    physical = pd.Series(text.split("\n"))
    lengths = physical.str.len()
    if len(lengths) and int(lengths.max()) > MAX_LINE_CHARS:
        line = int(lengths.to_numpy().argmax()) + 1
        raise InputDataError(
            f"{name}: line {line} is {int(lengths.max()):,} characters long, more than the "
            f"{MAX_LINE_CHARS:,} winback accepts: this is not an order export, or its line breaks are "
            "lost. Check the file in a text editor."
        )
    delimiter = sniff_delimiter(text, name)
    if delimiter == WHITESPACE:
        max_fields = 1 + int(physical.str.split().str.len().max())
    else:
        max_fields = 1 + int(physical.str.count(re.escape(delimiter)).max())
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            sep=r"\s+" if delimiter == WHITESPACE else delimiter,
            header=None,
            names=range(max_fields + 1),
            dtype=str,
            keep_default_na=False,
            na_values=[],
            skip_blank_lines=False,
            quoting=csv.QUOTE_MINIMAL,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        found = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if found:
            line = _record_start_line(text, delimiter, int(found.group(1)))
            raise InputDataError(
                f"{name}: line {line}: a quote (\") opens a field and is never closed, so the rest of the "
                "file would become one cell. Fix or remove that quote and export again."
            ) from exc
        raise InputDataError(f"{name}: the file cannot be read as a table. Check it in a text editor.") from exc
    except (ValueError, MemoryError) as exc:
        raise InputDataError(f"{name}: the file cannot be read as a table. Check it in a text editor.") from exc
    extra_newlines = raw.apply(lambda col: col.str.count("\n")).sum(axis=1).to_numpy()
    lines = 1 + np.arange(len(raw)) + np.concatenate(([0], np.cumsum(extra_newlines)[:-1])).astype(int)
    _refuse_runaway_quote(raw, lines, extra_newlines, delimiter, name)
    return RawRows(raw, lines, _field_counts(text, delimiter, raw), delimiter)


def _record_start_line(text: str, delimiter: str, record: int) -> int:
    """Physical line where record number ``record`` (0-based) starts; only used on the error path."""
    reader = csv.reader(io.StringIO(text), delimiter=" " if delimiter == WHITESPACE else delimiter)
    start = 1
    try:
        for i, _ in enumerate(reader):
            if i == record:
                return start
            start = reader.line_num + 1
    except csv.Error:
        pass
    return start


def _refuse_runaway_quote(raw: pd.DataFrame, lines: np.ndarray, extra_newlines: np.ndarray, delimiter: str,
                          name: str) -> None:
    """A quoted cell spanning many lines that themselves look like records: a quote closed far too late."""
    suspicious = np.flatnonzero(extra_newlines >= 20)
    if delimiter == WHITESPACE or not len(suspicious):
        return
    for pos in suspicious[:5]:
        row = raw.iloc[pos]
        if row.str.count("\n" + ".*" + re.escape(delimiter)).max() >= 10:
            raise InputDataError(
                f"{name}: line {int(lines[pos])}: a quote (\") opens a field that runs over "
                f"{int(extra_newlines[pos])} lines of what look like other orders. Fix or remove that "
                "quote and export again."
            )


def _field_counts(text: str, delimiter: str, raw: pd.DataFrame) -> np.ndarray:
    """Fields in each record (0 for a blank line), counted outside quoted text.

    pandas pads short rows silently, so the counts come from the text: quoted fields (which may hold
    delimiters and newlines) are blanked with one regular expression, then delimiters are counted per
    line. Falls back to the csv module when that does not line up with pandas' records.
    """
    n_rows = len(raw)
    d = r"\s" if delimiter == WHITESPACE else re.escape(delimiter)
    unquoted = re.sub(rf'(?:(?<=\n)|(?<={d})|\A)"(?:[^"]|"")*"(?={d}|\n|\Z)', '""', text)
    records = pd.Series(unquoted.split("\n"))
    if len(records) == n_rows + 1 and records.iloc[-1] == "":
        records = records.iloc[:-1]
    if len(records) == n_rows:
        blank = records.str.strip() == ""
        if delimiter == WHITESPACE:
            counts = records.str.split().str.len()
        else:
            counts = records.str.count(d) + 1
        return np.where(blank, 0, counts.to_numpy()).astype("int64")
    counts = []
    reader = csv.reader(io.StringIO(text), delimiter=" " if delimiter == WHITESPACE else delimiter,
                        skipinitialspace=delimiter == WHITESPACE)
    try:
        for row in reader:
            fields = [c for c in row if c] if delimiter == WHITESPACE else row
            counts.append(0 if not row or (len(row) == 1 and not row[0].strip()) else len(fields))
    except csv.Error:
        pass
    counts = (counts + [0] * n_rows)[:n_rows]
    # Where the csv module and pandas disagree on blank lines, pandas' cells decide.
    nonblank = (raw != "").any(axis=1).to_numpy()
    counts_arr = np.asarray(counts, dtype="int64")
    return np.where(nonblank & (counts_arr == 0), 1, counts_arr)


def grid_rows(grid: Grid) -> RawRows:
    """A workbook or Parquet grid as raw rows: every non-blank row has the full width."""
    cells = grid.frame
    if cells.shape[1] == 0:
        return RawRows(cells, grid.lines, np.zeros(len(cells), dtype="int64"), "")
    cells = cells.apply(lambda col: col.str.replace("\r\n", "\n"))
    nonblank = (cells.apply(lambda col: col.str.strip()) != "").to_numpy()
    # A row's field count is up to its last non-empty cell, so trailing blank columns do not count.
    last = np.where(nonblank.any(axis=1), cells.shape[1] - np.argmax(nonblank[:, ::-1], axis=1), 0)
    return RawRows(cells, grid.lines, last.astype("int64"), "")


def _role_hits(cells: list[str]) -> set[str]:
    hits = set()
    for c in cells:
        norm = normalize(c)
        if not norm or not could_name_a_role(norm):
            continue
        for role in ROLES:
            if _score(norm, role) >= 80:
                hits.add(role)
    return hits


def _data_like(cells: list[str]) -> int:
    return sum(1 for c in cells if c.strip() and _DATA_LIKE.match(c.strip()))


def frame_table(rows: RawRows, name: str, *, has_header: bool = True, header_row: int | None = None) -> Table:
    """Find the header among the raw rows and return the table under it."""
    raw, counts = rows.cells, rows.field_counts
    nonblank = np.flatnonzero(counts > 0)
    if not len(nonblank):
        raise InputDataError(f"{name}: the file is empty or has only blank lines: no header found. "
                             "Export the orders again and check that the file has rows.")
    if header_row is not None:
        at = np.flatnonzero(rows.lines == header_row)
        if not len(at) or counts[at[0]] == 0:
            raise InputDataError(f"{name}: --header-row {header_row}: that line is blank or not in the file.")
        header_pos = int(at[0])
    elif has_header:
        header_pos = _find_header(raw, counts, rows.lines, nonblank, name)
    else:
        header_pos = -1
    if header_pos >= 0:
        cells = raw.iloc[header_pos].astype(str).str.strip().tolist()[: int(counts[header_pos])]
        while cells and not cells[-1]:
            cells.pop()  # trailing delimiter on the header line
        headers = cells
    else:
        width = int(np.bincount(counts[counts > 0]).argmax())
        headers = [f"column {i + 1}" for i in range(width)]
    body_counts = counts[header_pos + 1 :]
    width = max(len(headers), int(body_counts.max(initial=len(headers))))
    cells_out = raw.iloc[header_pos + 1 :, :width].copy()
    cells_out.columns = range(cells_out.shape[1])
    for extra in range(cells_out.shape[1], width):
        cells_out[extra] = ""
    above = counts[: max(header_pos, 0)]
    return Table(
        headers=headers,
        cells=cells_out.reset_index(drop=True),
        lines=rows.lines[header_pos + 1 :],
        field_counts=body_counts,
        delimiter=rows.delimiter,
        header_line=int(rows.lines[header_pos]) if header_pos >= 0 else 0,
        preamble_lines=int((above > 0).sum()),
    )


def _find_header(raw: pd.DataFrame, counts: np.ndarray, lines: np.ndarray, nonblank: np.ndarray,
                 name: str) -> int:
    """Index of the header row: the early row whose cells name the most known columns."""
    early = nonblank[:_HEADER_SEARCH_ROWS]
    cells = raw.iloc[early].to_numpy(dtype=object)  # as _row's, one conversion for all the rows
    hits = {int(pos): _role_hits([str(c).strip() for c in cells[i, : int(counts[pos])]])
            for i, pos in enumerate(early)}
    best_pos = max(early, key=lambda p: (len(hits[int(p)]), -p))
    best_pos = int(best_pos)
    if not hits[best_pos]:
        first = int(nonblank[0])
        if _data_like(_row(raw, counts, first)):
            raise InputDataError(
                f"{name}: line {int(lines[first])} looks like data, not a header row, and no header was found. If the file has "
                "no header, say which column is which by number: --no-header --map customer_id=1 "
                "--map order_date=2 --map amount=3."
            )
        many = nonblank[counts[nonblank] > 1]
        return int(many[0]) if len(many) else first
    _refuse_second_header_row(raw, counts, lines, best_pos, hits, name)
    _refuse_second_table(raw, counts, lines, best_pos, hits[best_pos], name)
    return best_pos


def _row(raw: pd.DataFrame, counts: np.ndarray, pos: int) -> list[str]:
    return [str(c).strip() for c in raw.iloc[pos].tolist()[: int(counts[pos])]]


def _refuse_second_header_row(raw: pd.DataFrame, counts: np.ndarray, lines: np.ndarray, pos: int, hits: dict[int, set[str]],
                              name: str) -> None:
    """Merged Excel headers: the row right above or below the header is a header too."""
    header = [normalize(c) for c in _row(raw, counts, pos)]
    for other in (pos - 1, pos + 1):
        if other < 0 or other >= len(raw) or counts[other] < 2:
            continue
        cells = _row(raw, counts, other)
        other_hits = hits.get(other)
        if other_hits is None:
            other_hits = _role_hits(cells)
        if other_hits and not _data_like(cells) and [normalize(c) for c in cells] != header:
            first, second = sorted((int(lines[pos]), int(lines[other])))
            raise InputDataError(
                f"{name}: the header seems to span two rows (lines {first} and {second}), as with "
                "merged cells in Excel. Keep one header row in the file, or say which line is the header "
                f"with --header-row {second} and name the columns with --map ROLE=COLUMN."
            )


def _refuse_second_table(raw: pd.DataFrame, counts: np.ndarray, lines: np.ndarray, pos: int,
                         header_hits: set[str], name: str) -> None:
    """Another block below a blank line whose header has the required columns but differs from ours."""
    if not {"customer_id", "order_date"} <= header_hits:
        return
    after_blank = np.flatnonzero((counts[1:] > 1) & (counts[:-1] == 0)) + 1
    header = [normalize(c) for c in _row(raw, counts, pos)]
    for other in after_blank[:200]:
        other = int(other)
        if other == pos:
            continue
        cells = _row(raw, counts, other)
        other_hits = _role_hits(cells)
        norm = [normalize(c) for c in cells]
        if {"customer_id", "order_date"} <= other_hits and not _data_like(cells) and norm != header:
            first, second = sorted((int(lines[pos]), int(lines[other])))
            raise InputDataError(
                f"{name}: the file holds two tables that both look like orders (headers on lines "
                f"{first} and {second}). Split it into two files, or keep only the order table."
            )
