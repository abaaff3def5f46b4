"""Turn text cells into dates and numbers, deciding the format per column over all its values.

Both parsers work on whole columns: values are bucketed by shape with vectorised regular
expressions, and each bucket is parsed with one explicit format. ISO dates are always year first;
``dd.mm.yyyy`` is always day first; ``01/02/2024`` is read day- or month-first only when the column
proves which (a value over 12 in one position) or the caller says so, otherwise it is an error that
names ``--date-format``. Per-value Python runs only over the distinct month names of a column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from winback.errors import InputDataError
from winback.importer.months import month_number

#: What a date column with no date in it is said to hold.
NO_DATES = "no recognisable dates"
#: Two-digit years up to this value are 20xx, later ones 19xx (03.01.24 is 2024, 03.01.85 is 1985).
TWO_DIGIT_PIVOT = 69
#: Excel serial day numbers accepted as dates: 36526 = 2000-01-01 ... 73051 = 2099-12-31.
SERIAL_RANGE = (36526, 73051)


@dataclass
class ColumnFormat:
    """What a parser decided for one column, for the report."""

    description: str
    notes: list[str] = field(default_factory=list)


# (shape regex, strptime format, description). Shapes are disjoint.
_DATE_SHAPES = [
    (r"^\d{4}-\d{1,2}-\d{1,2}$", "%Y-%m-%d", "ISO yyyy-mm-dd"),
    (r"^\d{1,2}\.\d{1,2}\.\d{4}$", "%d.%m.%Y", "dd.mm.yyyy"),
    (r"^\d{1,2}-\d{1,2}-\d{4}$", "%d-%m-%Y", "dd-mm-yyyy"),
    (r"^\d{4}/\d{1,2}/\d{1,2}$", "%Y/%m/%d", "yyyy/mm/dd"),
    (r"^\d{4}\.\d{1,2}\.\d{1,2}$", "%Y.%m.%d", "yyyy.mm.dd"),
    (r"^(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])$", "%Y%m%d", "yyyymmdd"),
]
_TWO_DIGIT = r"^(\d{1,2})\.(\d{1,2})\.(\d{2})$"
_SLASH = r"^\d{1,2}/\d{1,2}/\d{4}$"
_SERIAL = r"^\d{5}(?:\.\d+)?$"
_AWARE = r"^\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_TIME_SUFFIX = r"[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*$"
_DAY_MONTH_YEAR = r"^(\d{1,2})[\s.\-]+([^\W\d_]+)\.?[\s.\-,]+(\d{4})(?:\s*(?:г|г\.|yıl|il|թ|թ\.))?$"
_MONTH_DAY_YEAR = r"^([^\W\d_]+)\.?\s+(\d{1,2}),?\s+(\d{4})$"


def parse_dates(values: pd.Series, column: str, date_format: str | None = None,
                tz: str | None = None, weights: np.ndarray | None = None) -> tuple[pd.Series, ColumnFormat]:
    """Parse a column of date strings into calendar days. Unparseable values become NaT.

    ``column`` names the column in error messages, e.g. ``orders.csv: column 'Tarih'``.
    ``weights`` (how many rows each value stands for) lets a caller parse the distinct values of a
    column in order of first appearance and still get the notes' row counts right.

    Timestamps with a zone (``Z``, ``+03:00``) are converted to ``tz`` (default UTC) before the day
    is taken; timestamps without a zone are taken as written (the shop's local time).
    """
    text = values.fillna("").astype(str).str.strip()
    w = pd.Series(1 if weights is None else weights, index=values.index)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    notes: list[str] = []
    if date_format:
        try:
            parsed = pd.to_datetime(text, format=date_format, errors="coerce")
        except ValueError as exc:
            raise InputDataError(f"--date-format {date_format}: not a usable format ({exc}). Example: "
                                 "--date-format %d/%m/%Y") from None
        return _ns(parsed).dt.normalize(), ColumnFormat(f"{date_format} (from --date-format)")
    used: list[str] = []

    aware = text.str.match(_AWARE)
    if aware.any():
        stamps = pd.to_datetime(text[aware], utc=True, format="ISO8601", errors="coerce")
        zone = tz or "UTC"
        out[aware] = _ns(stamps.dt.tz_convert(zone).dt.tz_localize(None))
        used.append("timestamps with time zone")
        notes.append(f"{int(w[aware].sum())} timestamps with a time zone taken as the day in {zone}"
                     + ("" if tz else " (give --tz, e.g. --tz Europe/Istanbul, for the shop's zone)"))
    text = text.where(aware, text.str.replace(_TIME_SUFFIX, "", regex=True))

    for shape, fmt, desc in _DATE_SHAPES:
        mask = text.str.match(shape) & ~aware
        if mask.any():
            out[mask] = _ns(pd.to_datetime(text[mask], format=fmt, errors="coerce"))
            used.append(desc)

    two = text.str.extract(_TWO_DIGIT).dropna()
    if len(two):
        yy = two[2].astype(int)
        year = np.where(yy <= TWO_DIGIT_PIVOT, 2000 + yy, 1900 + yy)
        iso = pd.Series(year.astype(str), index=two.index) + "-" + two[1] + "-" + two[0]
        out[two.index] = _ns(pd.to_datetime(iso, format="%Y-%m-%d", errors="coerce"))
        used.append("dd.mm.yy")
        notes.append(f"{int(w[two.index].sum())} dates with two-digit years: 00-{TWO_DIGIT_PIVOT} read as 20xx, "
                     f"{TWO_DIGIT_PIVOT + 1}-99 as 19xx")

    serial = text.str.match(_SERIAL)
    if serial.any():
        days = pd.to_numeric(text[serial], errors="coerce")
        ok = days.between(*SERIAL_RANGE)
        out[days[ok].index] = _ns(pd.to_datetime(days[ok].astype(int), unit="D", origin="1899-12-30"))
        used.append("Excel serial numbers")
        notes.append(f"converted {int(w[ok[ok].index].sum())} Excel serial dates (45292 = 2024-01-01)")

    named = _month_names(text)
    if named is not None and len(named):
        out[named.index] = _ns(named)
        used.append("day month-name year")

    slash = text.str.match(_SLASH)
    if slash.any():
        parts = text[slash].str.split("/", expand=True).astype(int)
        first_over_12 = bool((parts[0] > 12).any())
        second_over_12 = bool((parts[1] > 12).any())
        if first_over_12 and second_over_12:
            raise InputDataError(
                f"{column}: dates with / mix day-first and month-first values. "
                "Fix the export, or give the format with --date-format (e.g. --date-format %d/%m/%Y)."
            )
        if not first_over_12 and not second_over_12:
            raise InputDataError(
                f"{column}: ambiguous dates (dd/mm vs mm/dd): values like {text[slash].iloc[0]} "
                "could be day/month or month/day and no value decides it. Say which with "
                "--date-format %d/%m/%Y (day first) or --date-format %m/%d/%Y (month first)."
            )
        fmt = "%d/%m/%Y" if first_over_12 else "%m/%d/%Y"
        out[slash] = _ns(pd.to_datetime(text[slash], format=fmt, errors="coerce"))
        used.append("dd/mm/yyyy" if first_over_12 else "mm/dd/yyyy")
        notes.append("day/month order decided by values over 12 in the "
                     + ("first" if first_over_12 else "second") + " position")
    return out.dt.normalize(), ColumnFormat(", ".join(used) if used else NO_DATES, notes)


_EARLIEST, _LATEST = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-12-31")


def _ns(parsed: pd.Series) -> pd.Series:
    """Dates as datetime64[ns]; years outside 1900-2200 (typos, 2424) become NaT, never an overflow."""
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    parsed = parsed.where((parsed >= _EARLIEST) & (parsed <= _LATEST))
    return parsed.astype("datetime64[ns]")


def _month_names(text: pd.Series) -> pd.Series | None:
    """Dates written with a month name (``3 Oca 2024``, ``03 янв. 2024``, ``Jan 3, 2024``)."""
    if not text.str.contains(r"[^\W\d_]{3}", regex=True).any():
        return None
    dmy = text.str.extract(_DAY_MONTH_YEAR).dropna()
    mdy = text.str.extract(_MONTH_DAY_YEAR).dropna()
    parts = pd.concat([dmy, mdy[[1, 0, 2]].set_axis([0, 1, 2], axis=1)])
    if parts.empty:
        return None
    months = {tok: month_number(tok) for tok in pd.unique(parts[1])}
    month = parts[1].map(months)
    parts = parts[month.notna()]
    iso = parts[2] + "-" + month[month.notna()].astype(int).astype(str) + "-" + parts[0]
    return pd.to_datetime(iso, format="%Y-%m-%d", errors="coerce")


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


def currency_code(token: str) -> str:
    """ISO code for a currency symbol or word (``₺``, ``TL`` -> ``TRY``); unknown tokens upper-cased."""
    token = token.strip()
    for code, toks in _CURRENCIES.items():
        if token in toks or token.upper() in toks:
            return code
    return token.upper()


def clean_amounts(values: pd.Series, column: str, *, allow_mixed: bool = False) -> tuple[pd.Series, pd.Series, str | None]:
    """Strip currency, spaces and sign marks. Returns (unsigned digits text, negative mask, currency)."""
    codes, uniques = pd.factorize(values.fillna("").astype(str))
    text, negative, currency = _clean_distinct(pd.Series(uniques, dtype=object).astype(str), column, allow_mixed)
    return (pd.Series(text.to_numpy()[codes], index=values.index, dtype=text.dtype),
            pd.Series(negative.to_numpy()[codes], index=values.index, dtype=bool), currency)


def _clean_distinct(values: pd.Series, column: str, allow_mixed: bool) -> tuple[pd.Series, pd.Series, str | None]:
    text = values.str.strip()
    has_letters_or_symbols = text.str.contains(r"[^\d\s.,()+\-\u2212'\u00a0\u202f\u2009]", regex=True)
    currency_found = text[has_letters_or_symbols].str.extract(f"({_CURRENCY_RE})", expand=False).dropna()
    currencies = sorted({currency_code(tok) for tok in pd.unique(currency_found)})
    if len(currencies) > 1 and not allow_mixed:
        raise InputDataError(
            f"{column}: amounts in several currencies ({', '.join(currencies)}). winback does "
            "not add different currencies together: export one currency per file, or add a currency column."
        )
    text = text.where(~has_letters_or_symbols, text.str.replace(_CURRENCY_RE, "", regex=True))
    text = text.str.replace(r"[\s\u00a0\u202f\u2009']", "", regex=True)
    text = text.str.replace("\u2212", "-", regex=False)
    negative = text.str.match(r"^\(.*\)$") | text.str.endswith("-") | text.str.startswith("-")
    text = text.str.replace(r"^\((.*)\)$", r"\1", regex=True).str.strip("-+")
    return text, negative, (currencies[0] if len(currencies) == 1 else None)


def decide_decimal(text: pd.Series) -> str | None:
    """',' or '.' when the column proves which is the decimal separator; None when it cannot tell."""
    comma_dec = text.str.contains(r",\d{1,2}$|,\d{4,}$|\.\d{3},", regex=True).sum()
    point_dec = text.str.contains(r"\.\d{1,2}$|\.\d{4,}$|,\d{3}\.", regex=True).sum()
    # 1.234.567 proves '.' is a thousands separator (so ',' is the decimal one), and vice versa.
    dots_thousands = text.str.contains(r"^\d{1,3}(?:\.\d{3}){2,}$", regex=True).sum()
    commas_thousands = text.str.contains(r"^\d{1,3}(?:,\d{3}){2,}$", regex=True).sum()
    comma_dec += dots_thousands
    point_dec += commas_thousands
    if comma_dec and point_dec:
        return "mixed"
    if comma_dec:
        return ","
    if point_dec:
        return "."
    return None


def has_ambiguous_separator(text: pd.Series) -> bool:
    """True when some value is like 1.234 or 1,234 (thousands separator or decimal with 3 places)."""
    return bool(text.str.contains(r"^\d{1,3}[.,]\d{3}$", regex=True).any())


def to_numbers(text: pd.Series, negative: pd.Series, decimal: str) -> pd.Series:
    """Floats from cleaned amount text; NaN for anything that is not a number."""
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        text = text.str.replace(",", "", regex=False)
    valid = text.str.match(r"^\d+(?:\.\d+)?$")
    numbers = pd.to_numeric(text.where(valid), errors="coerce")
    return numbers.where(~negative, -numbers).astype("float64")
