"""Find the delimiter and the header row of a delimited text export, then read it into a table.

The delimiter is chosen over many lines, not the first: for each candidate we parse a sample and
score how consistently it splits lines into the same number of fields, weighted by that number
(so ``1001;03.01.2024;1.234,56`` is not taken for a comma-separated line). The header is the row,
among the first ones, whose cells name the most known columns; lines above it are a preamble.
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
from winback.importer.roles import ROLES, _NORMALIZED, _score, normalize

CANDIDATES = (";", ",", "\t", "|")
WHITESPACE = "whitespace"
_SAMPLE_LINES = 400


@dataclass(frozen=True)
class Table:
    """A delimited file read as strings: one row per record, with its physical line number."""

    headers: list[str]
    cells: pd.DataFrame  # columns 0..n-1, all str, NaN where a row had fewer fields
    lines: np.ndarray  # physical 1-based line number of each row's first line
    field_counts: np.ndarray  # fields actually present in each row
    delimiter: str
    header_line: int
    preamble_lines: int


def sniff_delimiter(text: str, name: str) -> str:
    lines = [ln for ln in text.splitlines()[: _SAMPLE_LINES * 2] if ln.strip()][:_SAMPLE_LINES]
    if not lines:
        raise InputDataError(f"{name}: the file is empty or has only blank lines: no header found.")
    sample = "\n".join(lines)
    best, best_score = None, 0.0
    for delim in CANDIDATES:
        counts = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delim)]
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
        if modal >= 2 and freq / len(counts) > 0.8:
            return WHITESPACE
        raise InputDataError(
            f"{name}: cannot find the column separator. winback reads files separated by ; , tab | "
            "or spaces. Check that this is an order export (open it in a text editor)."
        )
    return best


def read_table(text: str, name: str, *, has_header: bool = True) -> Table:
    delimiter = sniff_delimiter(text, name)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sep = r"\s+" if delimiter == WHITESPACE else delimiter
    if delimiter == WHITESPACE:
        max_fields = 1 + int(pd.Series(text.split("\n")).str.split().str.len().max())
    else:
        max_fields = 1 + int(pd.Series(text.split("\n")).str.count(re.escape(delimiter)).max())
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=None,
            names=range(max_fields + 1),
            dtype=str,
            keep_default_na=False,
            na_values=[],
            skip_blank_lines=False,
            quoting=csv.QUOTE_MINIMAL,
            engine="c" if delimiter != WHITESPACE else "python",
        )
    except pd.errors.ParserError as exc:
        raise InputDataError(f"{name}: the file cannot be read as a table ({exc}).") from exc
    field_counts = _field_counts(text, delimiter, len(raw))
    extra_newlines = raw.fillna("").apply(lambda col: col.str.count("\n")).sum(axis=1).to_numpy()
    lines = 1 + np.arange(len(raw)) + np.concatenate(([0], np.cumsum(extra_newlines)[:-1]))
    header_pos = _find_header(raw, field_counts) if has_header else -1
    if has_header:
        header_cells = raw.iloc[header_pos].fillna("").astype(str).str.strip().tolist()
        n = int(field_counts[header_pos])
        headers = header_cells[:n]
    else:
        n = int(np.bincount(field_counts[field_counts > 0]).argmax())
        headers = [f"column {i + 1}" for i in range(n)]
    body = raw.iloc[header_pos + 1 :]
    width = max(n, int(field_counts[header_pos + 1 :].max(initial=n)))
    cells = body.iloc[:, :width].copy()
    cells.columns = range(width)
    return Table(
        headers=headers,
        cells=cells.reset_index(drop=True),
        lines=lines[header_pos + 1 :],
        field_counts=field_counts[header_pos + 1 :],
        delimiter=delimiter,
        header_line=int(lines[header_pos]) if has_header else 0,
        preamble_lines=max(header_pos, 0),
    )


def _find_header(raw: pd.DataFrame, field_counts: np.ndarray) -> int:
    """Index of the header row: the early row whose cells name the most known columns."""
    top = raw.head(60).fillna("")
    best_pos, best_hits = -1, 0
    for pos in range(len(top)):
        cells = [normalize(c) for c in top.iloc[pos].tolist() if str(c).strip()]
        hits = sum(1 for c in cells if max(_score(c, _NORMALIZED[r]) for r in ROLES) >= 80)
        if hits > best_hits:
            best_pos, best_hits = pos, hits
    if best_pos >= 0:
        return best_pos
    nonblank = np.flatnonzero(field_counts > 1)
    if len(nonblank) == 0:
        raise InputDataError("the file has no rows with more than one column: no header found.")
    return int(nonblank[0])


def _field_counts(text: str, delimiter: str, n_rows: int) -> np.ndarray:
    """Fields in each record (0 for a blank line), counted outside quoted text.

    pandas pads short rows silently, so the counts come from the text: quoted sections (which may hold
    delimiters and newlines) are blanked with one regular expression, then delimiters are counted per
    line. Falls back to the csv module when that does not line up with pandas' records.
    """
    unquoted = re.sub(r'"[^"]*"', '""', text)
    records = pd.Series(unquoted.split("\n"))
    if len(records) == n_rows + 1 and records.iloc[-1] == "":
        records = records.iloc[:-1]
    if len(records) == n_rows:
        blank = records.str.strip() == ""
        if delimiter == WHITESPACE:
            counts = records.str.split().str.len()
        else:
            counts = records.str.count(re.escape(delimiter)) + 1
        return np.where(blank, 0, counts.to_numpy()).astype("int64")
    counts = []
    for row in csv.reader(io.StringIO(text), delimiter="\t" if delimiter == WHITESPACE else delimiter):
        counts.append(len(row) if any(c.strip() for c in row) or len(row) > 1 else 0)
    counts = (counts + [0] * n_rows)[:n_rows]
    return np.asarray(counts, dtype="int64")
