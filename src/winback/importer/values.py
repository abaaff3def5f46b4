"""Turn text cells into dates and numbers, deciding the format per column over all its values.

Both parsers work on whole columns: values are bucketed by shape with vectorised regular
expressions, and each bucket is parsed with one explicit format. ISO dates are always year first;
``dd.mm.yyyy`` is always day first; ``01/02/2024`` is read day- or month-first only when the column
proves which (a value over 12 in one position) or the caller says so, otherwise it is an error that
names ``--date-format``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from winback.errors import InputDataError


@dataclass
class ColumnFormat:
    """What a parser decided for one column, for the report."""

    description: str
    notes: list[str] = field(default_factory=list)


# (shape regex, strptime format, description). Order matters only for readability: shapes are
# disjoint.
_DATE_SHAPES = [
    (r"^\d{4}-\d{1,2}-\d{1,2}$", "%Y-%m-%d", "ISO yyyy-mm-dd"),
    (r"^\d{1,2}\.\d{1,2}\.\d{4}$", "%d.%m.%Y", "dd.mm.yyyy"),
    (r"^\d{1,2}\.\d{1,2}\.\d{2}$", "%d.%m.%y", "dd.mm.yy"),
    (r"^\d{1,2}-\d{1,2}-\d{4}$", "%d-%m-%Y", "dd-mm-yyyy"),
    (r"^\d{4}/\d{1,2}/\d{1,2}$", "%Y/%m/%d", "yyyy/mm/dd"),
    (r"^\d{4}\.\d{1,2}\.\d{1,2}$", "%Y.%m.%d", "yyyy.mm.dd"),
    (r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$", "%Y%m%d", "yyyymmdd"),
]
_SLASH = r"^\d{1,2}/\d{1,2}/\d{4}$"
_TIME_SUFFIX = r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*$"


def parse_dates(values: pd.Series, column: str, date_format: str | None = None) -> tuple[pd.Series, ColumnFormat]:
    """Parse a column of date strings. Unparseable values become NaT (the caller counts them)."""
    text = values.fillna("").astype(str).str.strip().str.replace(_TIME_SUFFIX, "", regex=True)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if date_format:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce")
        return parsed.astype("datetime64[ns]"), ColumnFormat(f"{date_format} (from --date-format)")
    used: list[str] = []
    for shape, fmt, desc in _DATE_SHAPES:
        mask = text.str.match(shape)
        if mask.any():
            out[mask] = pd.to_datetime(text[mask], format=fmt, errors="coerce")
            used.append(desc)
    slash = text.str.match(_SLASH)
    if slash.any():
        parts = text[slash].str.split("/", expand=True).astype(int)
        first_over_12 = bool((parts[0] > 12).any())
        second_over_12 = bool((parts[1] > 12).any())
        if first_over_12 and second_over_12:
            raise InputDataError(
                f"column '{column}': dates with / mix day-first and month-first values. "
                "Fix the export, or give the format with --date-format (e.g. --date-format %d/%m/%Y)."
            )
        if not first_over_12 and not second_over_12:
            raise InputDataError(
                f"column '{column}': dates like {text[slash].iloc[0]} could be day/month or month/day "
                "and no value decides it. Say which with --date-format %d/%m/%Y (day first) or "
                "--date-format %m/%d/%Y (month first)."
            )
        fmt = "%d/%m/%Y" if first_over_12 else "%m/%d/%Y"
        out[slash] = pd.to_datetime(text[slash], format=fmt, errors="coerce")
        used.append("dd/mm/yyyy" if first_over_12 else "mm/dd/yyyy")
    return out, ColumnFormat(", ".join(used) if used else "no recognisable dates")


_CURRENCIES = {
    "TRY": ["₺", "TL", "TRY", "YTL"],
    "AZN": ["₼", "AZN", "manat", "man."],
    "AMD": ["֏", "AMD", "դր.", "դր"],
    "RUB": ["₽", "RUB", "руб.", "руб", "р."],
    "USD": ["$", "USD"],
    "EUR": ["€", "EUR"],
}
_CURRENCY_RE = "|".join(
    sorted(
        (re.escape(tok) for toks in _CURRENCIES.values() for tok in toks),
        key=len,
        reverse=True,
    )
)


def parse_amounts(values: pd.Series, column: str, decimal: str | None = None) -> tuple[pd.Series, ColumnFormat, str | None]:
    """Parse a column of money amounts. Returns (floats with NaN for bad values, format, currency).

    Handles decimal comma or point (decided over the whole column), thousands separators of any
    kind (dot, comma, space, NBSP, narrow NBSP, apostrophe), currency symbols and codes before or
    after the number, and negatives written ``-250``, ``(250)``, ``250-`` or with a Unicode minus.
    """
    text = values.fillna("").astype(str).str.strip()
    currency_found = text.str.extract(f"({_CURRENCY_RE})", expand=False).dropna()
    currencies = sorted({_currency_code(tok) for tok in currency_found.unique()})
    if len(currencies) > 1:
        raise InputDataError(
            f"column '{column}': amounts in several currencies ({', '.join(currencies)}). winback does "
            "not add different currencies together: export one currency per file."
        )
    text = text.str.replace(_CURRENCY_RE, "", regex=True)
    text = text.str.replace(r"[\s\u00a0\u202f\u2009']", "", regex=True)
    text = text.str.replace("\u2212", "-", regex=False)
    negative = text.str.match(r"^\(.*\)$") | text.str.endswith("-") | text.str.startswith("-")
    text = text.str.replace(r"^\((.*)\)$", r"\1", regex=True).str.strip("-+")
    if decimal is None:
        decimal = _decide_decimal(text, column)
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        text = text.str.replace(",", "", regex=False)
    valid = text.str.match(r"^\d+(\.\d+)?$")
    numbers = pd.to_numeric(text.where(valid), errors="coerce")
    numbers = numbers.where(~negative, -numbers)
    desc = "decimal comma" if decimal == "," else "decimal point"
    return numbers.astype("float64"), ColumnFormat(desc), (currencies[0] if currencies else None)


def _currency_code(token: str) -> str:
    for code, toks in _CURRENCIES.items():
        if token in toks:
            return code
    return token


def _decide_decimal(text: pd.Series, column: str) -> str:
    comma_dec = text.str.contains(r",\d{1,2}$|,\d{4,}$|\.\d{3},", regex=True).sum()
    point_dec = text.str.contains(r"\.\d{1,2}$|\.\d{4,}$|,\d{3}\.", regex=True).sum()
    if comma_dec and point_dec:
        raise InputDataError(
            f"column '{column}': some amounts use a decimal comma and others a decimal point. "
            "Fix the export, or say which with --decimal , or --decimal ."
        )
    if comma_dec:
        return ","
    if point_dec:
        return "."
    # Only integers, or ambiguous values such as 1.234 / 1,234: a thousands separator is likelier
    # when every such value has exactly three digits after it.
    has_dot3 = text.str.contains(r"^\d{1,3}(?:\.\d{3})+$", regex=True).sum()
    has_comma3 = text.str.contains(r"^\d{1,3}(?:,\d{3})+$", regex=True).sum()
    if has_dot3 and not has_comma3:
        return ","  # dots are thousands separators
    return "."
