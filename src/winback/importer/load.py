"""Load order exports into the orders frame, accounting for every row.

Orders frame contract (one row per order line, in file order):

=============  ==============  ====================================================================
column         dtype           meaning
=============  ==============  ====================================================================
customer_id    str             exactly as written, trimmed (``00042`` stays ``00042``)
order_date     datetime64[ns]  the order's calendar day
amount         float64         money, negative for refunds; NaN when the file has no amount column
kind           str             ``purchase``, ``refund`` or ``cancelled``
source         str             the file the row came from
line           int64           physical line number in that file (1-based)
cost, margin   float64         when the file has them
order_id, product, status, owner, referred_by, name, phone, email, quantity:  str, when present
=============  ==============  ====================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from winback.errors import InputDataError
from winback.importer.dialect import read_table
from winback.importer.roles import amount_basis, assign_roles, normalize
from winback.importer.source import decode, read_bytes
from winback.importer.values import parse_amounts, parse_dates

TEXT_ROLES = ("order_id", "product", "status", "owner", "referred_by", "name", "phone", "email",
              "quantity", "currency")
MONEY_ROLES = ("amount", "cost", "margin")

_TOTAL_WORDS = [w.casefold() for w in (
    "total", "totals", "grand total", "sum", "toplam", "genel toplam", "ara toplam", "итого", "всего",
    "итог", "cəmi", "yekun", "ընդամենը", "հանրագումար",
)]
_CANCELLED = [normalize(w) for w in ("cancel", "cancelled", "canceled", "iptal", "отмен", "аннулир",
                                     "ləğv", "չեղարկ")]
_RETURNED = [normalize(w) for w in ("return", "returned", "refund", "iade", "возврат", "qaytar",
                                    "վերադարձ")]

#: Reasons a row can be skipped, in the order the report lists them.
SKIP_REASONS = (
    "blank line", "empty row", "repeated header", "totals row", "wrong number of fields",
    "empty customer id", "invalid date", "invalid amount", "duplicate order line",
)
_EXAMPLES = 5


@dataclass
class ImportOptions:
    encoding: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    decimal: str | None = None
    max_skipped: float = 0.05
    has_header: bool = True


@dataclass
class SourceInfo:
    path: str
    encoding: str
    encoding_confidence: float
    container: str
    delimiter: str
    header_line: int
    preamble_lines: int
    columns: dict[str, str]
    formats: dict[str, str]
    amount_basis: str | None
    currency: str | None


@dataclass
class ImportReport:
    rows_read: int = 0
    rows_used: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)
    sources: list[SourceInfo] = field(default_factory=list)
    exact_duplicates: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped_by_reason.values())

    @property
    def columns(self) -> dict[str, str]:
        return self.sources[0].columns if self.sources else {}

    @property
    def currency(self) -> str | None:
        found = {s.currency for s in self.sources if s.currency}
        return found.pop() if len(found) == 1 else None

    def to_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_used": self.rows_used,
            "rows_skipped": self.rows_skipped,
            "skipped_by_reason": dict(self.skipped_by_reason),
            "skipped_examples": {k: list(v) for k, v in self.skipped_examples.items()},
            "exact_duplicates": self.exact_duplicates,
            "columns": self.columns,
            "currency": self.currency,
            "sources": [asdict(s) for s in self.sources],
            "warnings": list(self.warnings),
        }


@dataclass
class LoadedOrders:
    orders: pd.DataFrame
    report: ImportReport


def load_orders(paths: Sequence[str], options: ImportOptions | None = None) -> LoadedOrders:
    """Read one or more order exports into one orders frame and an import report."""
    options = options or ImportOptions()
    report = ImportReport()
    frames = [_load_one(path, options, report) for path in paths]
    orders = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    currencies = {s.currency for s in report.sources if s.currency}
    if len(currencies) > 1:
        raise InputDataError(
            f"the input files are in different currencies ({', '.join(sorted(currencies))}); "
            "winback does not add different currencies together. Scan them separately."
        )
    data_rows = report.rows_read - report.skipped_by_reason.get("blank line", 0)
    bad = report.rows_skipped - report.skipped_by_reason.get("blank line", 0)
    if data_rows and bad / data_rows > options.max_skipped:
        worst = max(
            (r for r in report.skipped_by_reason if r != "blank line"),
            key=lambda r: report.skipped_by_reason[r],
        )
        where = ", ".join(report.skipped_examples.get(worst, [])[:3])
        raise InputDataError(
            f"{bad} of {data_rows} rows ({bad / data_rows:.0%}) could not be used, more than the "
            f"{options.max_skipped:.0%} allowed; most often '{worst}' (e.g. {where}). Check the file "
            "with 'winback inspect', fix the column mapping with --map, or raise --max-skipped."
        )
    return LoadedOrders(orders, report)


def _skip(report: ImportReport, reason: str, mask: np.ndarray, lines: np.ndarray, source: str) -> None:
    n = int(mask.sum())
    if not n:
        return
    report.skipped_by_reason[reason] = report.skipped_by_reason.get(reason, 0) + n
    examples = report.skipped_examples.setdefault(reason, [])
    room = _EXAMPLES - len(examples)
    if room > 0:
        examples.extend(f"{source}:{int(ln)}" for ln in lines[mask][:room])


def _load_one(path: str, options: ImportOptions, report: ImportReport) -> pd.DataFrame:
    name = "standard input" if path == "-" else path
    decoded = decode(read_bytes(path), name, options.encoding)
    if not decoded.text.strip():
        raise InputDataError(f"{name}: the file is empty. Export the orders again and check that the file has rows.")
    table = read_table(decoded.text, name, has_header=options.has_header)
    roles = assign_roles(table.headers, options.mapping, name)
    cells = table.cells
    n_rows = len(cells)
    report.rows_read += n_rows
    lines = table.lines
    alive = np.ones(n_rows, dtype=bool)

    def drop(reason: str, mask: np.ndarray) -> None:
        nonlocal alive
        mask = mask & alive
        _skip(report, reason, mask, lines, name)
        alive &= ~mask

    width = len(table.headers)
    stripped = cells.fillna("").apply(lambda c: c.str.strip())
    all_empty = (stripped == "").all(axis=1).to_numpy()
    drop("blank line", all_empty & (table.field_counts <= 1))
    drop("empty row", all_empty)
    repeated = np.ones(n_rows, dtype=bool)
    for i, header in enumerate(table.headers):
        repeated &= stripped[i].str.casefold().to_numpy() == header.strip().casefold()
    drop("repeated header", repeated)

    cid_col = roles["customer_id"]
    cid = stripped[cid_col].str.replace(r"[\s\u00a0\u202f]+", " ", regex=True)
    first_word = cid.str.casefold().str.extract(r"^([^\W\d_]+(?: [^\W\d_]+)?)", expand=False).fillna("")
    is_total = first_word.isin(_TOTAL_WORDS) & ~cid.str.contains(r"\d\d", regex=True)
    if "name" in roles:
        is_total |= stripped[roles["name"]].str.casefold().isin(_TOTAL_WORDS)
    drop("totals row", is_total.to_numpy())

    counts = table.field_counts
    trailing_ok = (counts == width + 1) & (stripped[width].eq("").to_numpy() if width in stripped else True)
    drop("wrong number of fields", (counts != width) & ~trailing_ok)

    money: dict[str, pd.Series] = {}
    formats: dict[str, str] = {}
    currency = None
    for role in MONEY_ROLES:
        if role in roles:
            # Cells of rows already skipped are parsed as "0": they must not sway the column's format.
            values, fmt, cur = parse_amounts(stripped[roles[role]].where(alive, "0"), table.headers[roles[role]],
                                             options.decimal)
            money[role], formats[role] = values, fmt.description
            currency = currency or cur
    no_id = (cid == "").to_numpy()
    if "amount" in money:
        drop("totals row", _sum_of_rows_above(money["amount"], no_id & alive))
    drop("empty customer id", no_id)

    dates, date_fmt = parse_dates(stripped[roles["order_date"]].where(alive), table.headers[roles["order_date"]],
                                  options.date_format)
    formats = {"order_date": date_fmt.description, **formats}
    drop("invalid date", dates.isna().to_numpy())
    if "amount" in money:
        drop("invalid amount", money["amount"].isna().to_numpy())

    out = pd.DataFrame({"customer_id": cid, "order_date": dates.dt.normalize(), **money})
    if "amount" not in roles:
        out["amount"] = np.nan
    for role in TEXT_ROLES:
        if role in roles:
            out[role] = stripped[roles[role]]

    status = _normalized(out["status"]) if "status" in out else pd.Series("", index=out.index)
    cancelled = status.str.contains("|".join(_CANCELLED), regex=True)
    returned = status.str.contains("|".join(_RETURNED), regex=True) | (out["amount"] < 0)
    out["kind"] = np.where(cancelled, "cancelled", np.where(returned, "refund", "purchase"))
    refund = out["kind"] == "refund"
    for role in ("amount", "cost", "margin"):
        if role in out:
            out.loc[refund, role] = -out.loc[refund, role].abs()
    out["source"] = name
    out["line"] = lines.astype("int64")
    out = out[alive].reset_index(drop=True)

    value_cols = [c for c in out.columns if c not in ("source", "line")]
    dup = out.duplicated(subset=value_cols, keep="first").to_numpy()
    report.exact_duplicates += int(dup.sum())
    if "order_id" in out and dup.any():
        _skip(report, "duplicate order line", dup, out["line"].to_numpy(), name)
        out = out[~dup].reset_index(drop=True)
    report.rows_used += len(out)

    if table.preamble_lines:
        report.warnings.append(f"{name}: skipped {table.preamble_lines} title line(s) above the header.")
    report.sources.append(SourceInfo(
        path=name,
        encoding=decoded.encoding,
        encoding_confidence=decoded.confidence,
        container=decoded.container,
        delimiter={"\t": "tab", " ": "space"}.get(table.delimiter, table.delimiter),
        header_line=table.header_line,
        preamble_lines=table.preamble_lines,
        columns={role: table.headers[idx] for role, idx in sorted(roles.items(), key=lambda kv: kv[1])},
        formats=formats,
        amount_basis=amount_basis(table.headers[roles["amount"]]) if "amount" in roles else None,
        currency=currency,
    ))
    return out


def _normalized(values: pd.Series) -> pd.Series:
    """normalize() each value, computed once per distinct value (statuses have few)."""
    uniques = pd.unique(values.fillna(""))
    return values.fillna("").map({u: normalize(u) for u in uniques})


def _sum_of_rows_above(amounts: pd.Series, no_id: np.ndarray) -> np.ndarray:
    """Rows without a customer id whose amount equals the sum of the rows above: a totals line."""
    values = amounts.fillna(0.0).to_numpy()
    above = np.cumsum(np.where(no_id, 0.0, values)) - np.where(no_id, 0.0, values)
    tolerance = np.maximum(0.011, np.abs(values) * 1e-9)
    return no_id & amounts.notna().to_numpy() & (np.abs(values - above) <= tolerance) & (values != 0)
