"""The scan pipeline: load -> summarize -> score -> segment -> select, with plain data between stages.

This is the library entry point the CLI calls. It never prints, never reads today's date and never
writes files: the caller resolves the as-of date and decides where the call list goes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback import __version__
from winback._memory import release_memory
from winback._sorting import as_text, member_mask, strings_in_order
from winback.calllist import LAST_PRODUCTS, CallList, Ranking, SelectOptions, rank, select
from winback.contacts import (
    CustomersFileInfo,
    Suppression,
    check_country,
    contacts_from_orders,
    default_country,
    distinct_ids,
    empty_contacts,
    merge_contacts,
    read_customers,
    read_suppression,
)
from winback.errors import OutputError
from winback.importer import ImportOptions, ImportReport, load_orders
from winback.nightly import (
    History,
    Night,
    NightlyOptions,
    assignment_rows,
    cooldown,
    draw,
    nightly_diff,
)
from winback.scoring import ModelInfo, ScoreParams, ScoreResult, score, start_loading_models
from winback.segments import SEGMENTS, assign_segments
from winback.summary import SummaryResult, summarize
from winback.writers import CsvDialect, mirror_dialect


@dataclass
class ScanOptions:
    as_of: date
    horizon_days: int = 90
    top: int | None = 50
    import_options: ImportOptions = field(default_factory=ImportOptions)
    customers_path: str | None = None  # --customers: contact details and do-not-contact flags
    customers_encoding: str | None = None
    customers_mapping: list[str] = field(default_factory=list)  # ROLE=COLUMN items, like --map
    suppress_path: str | None = None  # --suppress: ids, phones or e-mails never to call
    country: str | None = None  # phone country; None = from the currency, else TR
    min_value: float | None = None
    segments: tuple[str, ...] = ()
    per_owner: int | None = None
    departed_owners: tuple[str, ...] = ()
    nightly: NightlyOptions | None = None  # cooldown and control group; None = a one-off run
    keep_orders: bool = False  # every order kept, in ScanResult.orders
    # The orders read a part at a time, for files larger than memory (winback.importer.inparts),
    # and why, for the report, when it was not asked for
    low_memory: bool = False
    low_memory_note: str | None = None
    # Where a scan in parts keeps its temporary files (a little more than the order file); None: the
    # system's temporary folder
    work_folder: str | None = None
    # winback explain: only these customers' call-list rows are made (at their ranks in the whole
    # calling order, with top=None), and ScanResult.orders holds their orders alone (of any date).
    explain_ids: tuple[str, ...] = ()


@dataclass
class ScanResult:
    as_of: date
    report: ImportReport
    # Every order up to the as-of date with ScanOptions.keep_orders; with ScanOptions.explain_ids,
    # those customers' orders of any date; else None: a scan lets go of the orders once they are
    # summarised (docs/performance.md, "What memory grows with").
    orders: pd.DataFrame | None
    scores: pd.DataFrame  # one row per customer: summary + scores + segment
    model: ModelInfo
    call_list: CallList
    orders_after_as_of: int
    customers_without_purchases: int
    has_amount: bool
    country: str = "TR"
    customers_file: CustomersFileInfo | None = None
    suppression: Suppression | None = None
    has_contacts: bool = False  # any phone or e-mail known, from either file
    night: Night | None = None  # nightly decisions, when run with a history (state)
    # Purchase, refund and cancelled lines up to the as-of date, and the first and last purchase.
    line_counts: dict = field(default_factory=dict)

    @property
    def currency(self) -> str | None:
        return self.report.currency

    def segment_counts(self) -> dict[str, int]:
        counts = self.scores["segment"].value_counts()
        return {name: int(counts.get(name, 0)) for name in SEGMENTS}

    def to_dict(self, call_list_path: str | None, arrow_ids: bool = False) -> dict:
        """The ``--json`` run summary (a documented, stable contract: docs/json-summary.md).
        ``arrow_ids``: the nightly diff's id lists as Arrow arrays (written by
        :func:`winback.writers.write_json`)."""
        rep = self.report
        lines = self.line_counts
        return {
            "winback_version": __version__,
            "as_of": self.as_of.isoformat(),
            "input": {
                "files": [s.path for s in rep.sources],
                "rows_read": rep.rows_read,
                "rows_used": rep.rows_used,
                "rows_skipped": rep.rows_skipped,
                "skipped_by_reason": dict(rep.skipped_by_reason),
                "skipped_examples": {k: list(v) for k, v in rep.skipped_examples.items()},
                "orders_after_as_of": self.orders_after_as_of,
                "orders": lines["purchase"],
                "refunds": lines["refund"],
                "cancelled": lines["cancelled"],
                "customers": len(self.scores),
                "customers_without_purchases": self.customers_without_purchases,
                "first_order": lines["first"],
                "last_order": lines["last"],
                "columns": rep.columns,
                "currency": rep.currency,
                "warnings": list(rep.warnings),
            },
            "model": self.model.to_dict(),
            "lapsed": {
                "customers": self.call_list.lapsed,
                "eligible": self.call_list.eligible,
                "not_targets": self.call_list.not_targets,
                "value_at_risk": round(self.call_list.value_at_risk, 2),
                "do_not_contact": self.call_list.do_not_contact,
                "filtered_out": self.call_list.filtered_out,
                "over_owner_cap": self.call_list.over_owner_cap,
            },
            "call_list": {
                "rows": len(self.call_list.rows),
                "path": call_list_path,
                "orphaned": self.call_list.orphaned,
                "no_contact": self.call_list.no_contact,
                "invalid_phones": self.call_list.invalid_phones,
                "per_segment": self.call_list.per_segment(),
                "per_owner": self.call_list.per_owner(),
            },
            "contacts": {
                "customers_file": None if self.customers_file is None else {
                    "path": self.customers_file.path,
                    "rows": self.customers_file.rows,
                    "customers": self.customers_file.customers,
                    "duplicate_ids": self.customers_file.duplicate_ids,
                    "columns": self.customers_file.columns,
                },
                "suppression_file": None if self.suppression is None else self.suppression.path,
                "phone_country": self.country,
            },
            "segments": self.segment_counts(),
            "nightly": None if self.night is None else self.night.to_dict(arrow_ids),
        }


@dataclass
class Analysis:
    summary: SummaryResult
    scored: ScoreResult  # scores include the segment
    last_year: pd.Series  # each customer's value in the 12 months up to the as-of date


def _window_and_line_counts(orders: pd.DataFrame, as_of: date
                            ) -> tuple[np.ndarray, np.ndarray, dict]:
    """(a flag per order up to ``as_of``, a flag per purchase line, :func:`_line_counts`)."""
    in_window = (orders["order_date"] <= pd.Timestamp(as_of)).to_numpy()
    purchase = (orders["kind"] == "purchase").to_numpy(dtype=bool)
    return in_window, purchase, _line_counts(orders, in_window, purchase)


def _line_counts(orders: pd.DataFrame, in_window: np.ndarray, purchase: np.ndarray) -> dict:
    """Purchase, refund and cancelled lines up to the as-of date (``in_window``), and the first and
    last purchase date (ISO, or None), from the kind and date columns alone (``purchase``: a flag
    per purchase line): filtering the ten-million-row frame to its purchases copied every column
    (about 2 s and 200 MB at 10M orders) for a count and two dates."""
    out = _kind_counts(orders["kind"], in_window)
    dates = orders["order_date"].to_numpy(dtype="datetime64[ns]")
    purchase = purchase & ~np.isnat(dates) & in_window
    if purchase.any():
        days = dates.view(np.int64)
        first = np.min(days, where=purchase, initial=np.iinfo(np.int64).max)
        last = np.max(days, where=purchase, initial=np.iinfo(np.int64).min)
        out["first"], out["last"] = (pd.Timestamp(int(v)).date().isoformat() for v in (first, last))
    else:
        out["first"] = out["last"] = None
    return out


def _kind_counts(kinds: pd.Series, in_window: np.ndarray) -> dict[str, int]:
    """Purchase, refund and cancelled lines among those in the window. For the importers'
    categorical, a comparison of the one-byte codes per kind: counting the values of the lines in
    the window first copied them (0.12 s at ten million lines, against 0.03 s)."""
    names = ("purchase", "refund", "cancelled")
    if not isinstance(kinds.dtype, pd.CategoricalDtype):
        counts = kinds[in_window].value_counts()
        return {kind: int(counts.get(kind, 0)) for kind in names}
    codes = kinds.cat.codes.to_numpy()
    categories = list(kinds.cat.categories)
    window = None if in_window.all() else in_window
    out = dict.fromkeys(names, 0)
    for kind in names:
        if kind in categories:
            of_kind = codes == categories.index(kind)
            out[kind] = int(np.count_nonzero(of_kind if window is None else of_kind & window))
    return out


def analyze(orders: pd.DataFrame, as_of: date, horizon_days: int,
            customer_order: np.ndarray | None = None) -> Analysis:
    """Stages 2-3 on loaded orders: summary, scores and segments as of a date (backtest; :func:`scan`
    runs the two itself, to let go of the orders in between). ``customer_order``: the loaded orders'
    ``customer_order``, which may spare the summary a sort."""
    summary = summarize(orders, as_of, customer_order=customer_order)
    del customer_order  # one int per order: not kept through scoring
    release_memory()
    return _score(summary, horizon_days)


def _score(summary: SummaryResult, horizon_days: int) -> Analysis:
    """Stage 3 on a summary: scores and segments."""
    flags = {"has_amount": summary.has_amount, "has_margin": summary.has_margin}
    last_year = summary.customers["recent_value"]
    scored = score(summary.customers, ScoreParams(horizon_days=horizon_days), recent_value=last_year.to_numpy(),
                   **flags)
    scored.scores["segment"] = assign_segments(scored.scores)
    release_memory()
    return Analysis(summary, scored, last_year)


def scan(paths: Sequence[str], options: ScanOptions, history: History | None = None) -> ScanResult:
    """Run stages 1-4. With ``options.nightly`` and a ``history``, apply the cooldown and the control
    group (winback.nightly) and work out the nightly diff; the caller stores ``result.night``."""
    # The small files first, so a wrong path fails before the long import.
    customers_file = (read_customers(options.customers_path, encoding=options.customers_encoding,
                                     mapping=options.customers_mapping) if options.customers_path else None)
    reads = _read_in_parts if options.low_memory else _read_whole
    report, summary, line_counts, from_orders, order_ids, orders, kept = reads(
        paths, options, history, customers_file is not None)
    release_memory()
    analysis = _score(summary, options.horizon_days)
    scored = analysis.scored
    scores = scored.scores
    country = check_country(options.country) if options.country else \
        default_country(report.currency)
    contacts = merge_contacts(from_orders, customers_file.contacts if customers_file else None,
                              order_ids=order_ids)
    # The cards are in the contacts now: their own frame is let go of (about 300 MB at 3.6
    # million cards), their summary kept.
    customers_info = customers_file.info if customers_file else None
    del from_orders, order_ids, customers_file
    suppression = read_suppression(options.suppress_path, country=country) if options.suppress_path else None
    select_options = SelectOptions(
        top=options.top, min_value=options.min_value, segments=options.segments,
        per_owner=options.per_owner, departed_owners=options.departed_owners, country=country,
        suppression=suppression, only=options.explain_ids,
    )

    def choose(opts: SelectOptions, leave_out: np.ndarray | None = None) -> CallList:
        return select(
            scores, orders, opts, currency=report.currency,
            has_amount=summary.has_amount, has_margin=summary.has_margin,
            median_second_days=scored.model.second_purchase.get("median_days_to_second_purchase"),
            contacts=contacts, leave_out=leave_out,
        )

    night = None
    if options.nightly is None or history is None:
        call_list = choose(select_options)
    else:
        def ranking(opts: SelectOptions, leave_out: np.ndarray) -> Ranking:
            return rank(scores, opts, contacts, leave_out)

        call_list, night = _nightly_select(choose, ranking, scores, orders, select_options, options,
                                           history)
    return ScanResult(
        as_of=options.as_of,
        report=report,
        orders=kept,
        scores=scores,
        model=scored.model,
        call_list=call_list,
        orders_after_as_of=summary.orders_after_as_of,
        customers_without_purchases=summary.customers_without_purchases,
        has_amount=summary.has_amount,
        country=country,
        customers_file=customers_info,
        suppression=suppression,
        has_contacts=bool(((contacts["phone"] != "") | (contacts["email"] != "")).any()),
        night=night,
        line_counts=line_counts,
    )


class _Read(NamedTuple):
    """What :func:`scan` keeps of the orders once they are summarised."""

    report: ImportReport
    summary: SummaryResult
    line_counts: dict
    from_orders: pd.DataFrame  # contact details named on the orders
    order_ids: pd.Index | None  # the customers with orders up to the as-of date (with --customers)
    orders: pd.DataFrame  # the orders the steps after scoring read (_orders_for_later)
    kept: pd.DataFrame | None  # ScanResult.orders


def _read_whole(paths: Sequence[str], options: ScanOptions, history: History | None,
                want_ids: bool) -> _Read:
    """The orders read into memory, summarised, and let go of but for what the later steps read."""
    loaded = load_orders(paths, options.import_options, meanwhile=start_loading_models)
    report, every_order = loaded.report, loaded.orders
    release_memory()
    # What the later steps read of the orders is taken now, and the orders let go of: scoring then
    # runs in memory that depends on the customers alone (about 30 bytes an order less at the peak).
    # The window and the line counts are worked out in a second thread beside the summary, which
    # has stretches on one core (0.1 s at ten million orders, on one core after it before).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="winback-lines") as helper:
        counted = helper.submit(_window_and_line_counts, every_order, options.as_of)
        summary = summarize(every_order, options.as_of, customer_order=loaded.take_customer_order())
        del loaded
        in_window, purchase, line_counts = counted.result()
    named = [c for c in ("name", "phone", "email") if c in every_order]
    from_orders = empty_contacts()
    if named:
        from_orders = contacts_from_orders(
            _in_window(every_order, in_window, ["customer_id", "order_date", "line", *named]))
    order_ids = distinct_ids(_in_window(every_order, in_window, ["customer_id"])["customer_id"]) \
        if want_ids else None
    kept = None
    if options.keep_orders:  # every order up to the as-of date, for the later steps too
        orders = kept = every_order if in_window.all() else every_order[in_window]
    elif options.explain_ids:  # the orders of the customers explained (of any date: explain()
        # tells a customer whose orders all come later from one not in the file)
        kept = every_order[_orders_of(every_order["customer_id"], options.explain_ids)]
        kept = kept.reset_index(drop=True)
        if isinstance(kept["customer_id"].dtype, pd.CategoricalDtype):  # their ids, not millions
            kept["customer_id"] = kept["customer_id"].cat.remove_unused_categories()
        orders = kept[(kept["order_date"] <= pd.Timestamp(options.as_of)).to_numpy()]
    else:
        is_nightly = options.nightly is not None and history is not None
        orders = _orders_for_later(every_order, in_window, purchase, nightly=is_nightly,
                                   nightly_since=history.previous_as_of if is_nightly else None)
    del every_order, in_window, purchase
    return _Read(report, summary, line_counts, from_orders, order_ids, orders, kept)


def _read_in_parts(paths: Sequence[str], options: ScanOptions, history: History | None,
                   want_ids: bool) -> _Read:
    """The orders read a part at a time and summarised a bucket of customers at a time
    (``--low-memory``, :mod:`winback.importer.inparts`): memory holds one part's or one bucket's
    orders, the customers, and what the later steps read of the orders, reduced part by part to
    what they can use. The same summary and call list as :func:`_read_whole`. A file that cannot be
    read in parts (not plain UTF-8 text, or several files) is read whole, as the report says."""
    if options.keep_orders or options.explain_ids:
        raise ValueError("a scan in parts keeps no orders")
    from winback.importer.inparts import read_in_parts
    from winback.summary.pieces import SummaryPieces

    nightly = options.nightly is not None and history is not None
    since = history.previous_as_of if nightly else None
    gather = _PartsGatherer(options.as_of, nightly=nightly, nightly_since=since, want_ids=want_ids)
    folder = options.work_folder or tempfile.gettempdir()
    with _room_for(folder, paths), \
            tempfile.TemporaryDirectory(prefix="winback-", dir=folder) as workdir:
        parts = None
        if len(paths) == 1:
            parts = read_in_parts(paths[0], options.import_options, workdir, gather)
        if parts is None:
            read = _read_whole(paths, options, history, want_ids)
            read.report.warnings.append(
                "read whole, not in parts (--low-memory): only one plain UTF-8 delimited file "
                "with its header on the first line can be read in parts.")
            return read
        start_loading_models()
        pieces = SummaryPieces(workdir)
        for orders in parts.buckets():
            pieces.add(summarize(orders, options.as_of))
            del orders
            release_memory()
        repeated = parts.finish()
        summary = pieces.whole()
    if options.low_memory_note:
        parts.report.warnings.insert(0, options.low_memory_note)
    return _Read(parts.report, summary, gather.line_counts(repeated), gather.contacts(),
                 gather.order_ids(), gather.later_orders(), None)


@contextlib.contextmanager
def _room_for(folder: str, paths: Sequence[str]) -> Iterator[None]:
    """A full disk while the temporary files of a read in parts are written is said as such
    (exit 5), not as a bug."""
    try:
        yield
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc)
        if not full:
            raise
        size = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
        raise OutputError(
            f"no room left on the disk of {folder} for the temporary files of a "
            f"read in parts (about {1.3 * size / 1e9:.1f} GB, a little more than the order file). "
            "Free space "
            "there, or set TMPDIR to a folder on a disk with room.") from None


class _PartsGatherer:
    """What the steps after the summary read of the orders, gathered from each part's orders
    (called with each) and reduced as it goes to what they can use: the line counts, each
    customer's latest name, phone and e-mail (:func:`contacts_from_orders` reads the latest
    non-empty one of each), their latest distinct products (the call list shows a few), and for a
    nightly run the refunds and the purchases since the last run (the nightly rules read those)."""

    def __init__(self, as_of: date, *, nightly: bool, nightly_since: date | None,
                 want_ids: bool) -> None:
        self.as_of, self.nightly, self.nightly_since = as_of, nightly, nightly_since
        self.want_ids = want_ids
        self.counts: dict = {"purchase": 0, "refund": 0, "cancelled": 0, "first": None,
                             "last": None}
        self.named: pd.DataFrame | None = None
        self.later: pd.DataFrame | None = None
        self.ids: pd.Index | None = None

    def __call__(self, frame: pd.DataFrame) -> None:
        in_window, purchase, counts = _window_and_line_counts(frame, self.as_of)
        for kind in ("purchase", "refund", "cancelled"):
            self.counts[kind] += counts[kind]
        for end, pick in (("first", min), ("last", max)):
            found = [d for d in (self.counts[end], counts[end]) if d]
            self.counts[end] = pick(found) if found else None
        named = [c for c in ("name", "phone", "email") if c in frame]
        if named:
            rows = _in_window(frame, in_window, ["customer_id", "order_date", "line", *named])
            rows = _latest_named(rows, named)
            self.named = _latest_named(_as_text_ids(rows, self.named), named)
        if self.want_ids:
            ids = distinct_ids(_in_window(frame, in_window, ["customer_id"])["customer_id"])
            self.ids = ids if self.ids is None else self.ids.union(ids)
        later = _orders_for_later(frame, in_window, purchase, nightly=self.nightly,
                                  nightly_since=self.nightly_since)
        self.later = self._reduce(_as_text_ids(self._reduce(later), self.later))

    def _reduce(self, later: pd.DataFrame) -> pd.DataFrame:
        """The rows of the later steps' orders they can use: the nightly rules' rows, and of the
        purchases naming a product only each customer's latest distinct products."""
        if "product" not in later or not len(later):
            return later
        whole = np.zeros(len(later), dtype=bool)
        if self.nightly:
            whole = (later["kind"] == "refund").to_numpy(dtype=bool)
            if self.nightly_since is not None:
                since = later["order_date"] > pd.Timestamp(self.nightly_since)
                whole = whole | since.to_numpy(dtype=bool)
        products = later[~whole].sort_values(["customer_id", "order_date", "line"],
                                             ascending=[True, False, False])
        products = products.drop_duplicates(["customer_id", "product"])
        first = products.groupby("customer_id", observed=True).cumcount() < LAST_PRODUCTS
        products = products[first.to_numpy()]
        return pd.concat([later[whole], products], ignore_index=True)

    def line_counts(self, repeats: pd.DataFrame) -> dict:
        """The line counts, less the repeats of earlier parts' lines left out."""
        counts = dict(self.counts)
        if len(repeats):
            kinds = np.asarray(repeats["kind"], dtype=object)
            dates = pd.to_datetime(repeats["order_date"])
            in_window = (dates <= pd.Timestamp(self.as_of)).to_numpy()
            for kind in ("purchase", "refund", "cancelled"):
                counts[kind] -= int(np.count_nonzero((kinds == kind) & in_window))
        return counts

    def contacts(self) -> pd.DataFrame:
        return empty_contacts() if self.named is None else contacts_from_orders(self.named)

    def order_ids(self) -> pd.Index | None:
        if not self.want_ids:
            return None
        return self.ids if self.ids is not None else pd.Index([], dtype="str", name="customer_id")

    def later_orders(self) -> pd.DataFrame:
        return self.later.reset_index(drop=True)


def _as_text_ids(rows: pd.DataFrame, before: pd.DataFrame | None) -> pd.DataFrame:
    """A part's rows with their customer ids as text, after the rows gathered ``before``."""
    rows = rows.assign(customer_id=rows["customer_id"].astype("str"))
    return rows if before is None else pd.concat([before, rows], ignore_index=True)


def _latest_named(rows: pd.DataFrame, named: list[str]) -> pd.DataFrame:
    """Of the rows, those with a customer's latest non-empty value of one of ``named`` (in
    (date, line) order): :func:`contacts_from_orders` makes the same contacts of these as of all."""
    rows = rows.sort_values(["order_date", "line"], kind="stable")
    keep = np.zeros(len(rows), dtype=bool)
    for col in named:
        filled = np.flatnonzero((rows[col].fillna("").astype("str").str.strip() != "").to_numpy())
        keep[filled[~rows["customer_id"].iloc[filled].duplicated(keep="last").to_numpy()]] = True
    return rows[keep].reset_index(drop=True)


def _in_window(orders: pd.DataFrame, in_window: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """Those of ``columns`` the orders have, of the orders up to the as-of date: a copy of these
    columns at most, never of the whole frame."""
    part = orders[[c for c in columns if c in orders]]
    return part if in_window.all() else part[in_window]


def _orders_of(ids: pd.Series, wanted: Sequence[str]) -> np.ndarray:
    """A flag per order: its customer is one of ``wanted`` (found by category code: no text per
    order, and no hash table of millions of ids as pandas' lookups build)."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        codes = np.flatnonzero(member_mask(ids.cat.categories, list(wanted)))
        return np.isin(ids.cat.codes.to_numpy(), codes)
    return member_mask(ids, list(wanted))


def _orders_for_later(orders: pd.DataFrame, in_window: np.ndarray, purchase: np.ndarray, *,
                      nightly_since: date | None, nightly: bool) -> pd.DataFrame:
    """The orders up to the as-of date that the steps after scoring read, with the columns they
    read: purchases (``purchase``: a flag per purchase line) naming a product (the call list's last
    products), and for a nightly run the refunds (the cooldown) and the purchases since the last
    run (the nightly diff). A few rows of most files."""
    columns = ["customer_id", "order_date", "kind"]
    needed = np.zeros(len(orders), dtype=bool)
    if "product" in orders:
        columns += ["product", "line"]
        named = (orders["product"].fillna("") != "").to_numpy(dtype=bool)
        needed |= purchase & named
    if nightly:
        needed |= (orders["kind"] == "refund").to_numpy(dtype=bool)
        if nightly_since is not None:
            since = (orders["order_date"] > pd.Timestamp(nightly_since)).to_numpy(dtype=bool)
            needed |= purchase & since
    needed &= in_window
    return orders.loc[needed, columns].reset_index(drop=True)


def _nightly_select(choose, ranking, scores: pd.DataFrame, orders: pd.DataFrame,  # type: ignore[no-untyped-def]
                    select_options: SelectOptions, options: ScanOptions,
                    history: History) -> tuple[CallList, Night]:
    """Select with the cooldown and the control group (the rules are in winback.nightly).

    Everyone callable is counted, and the cooldown's candidates ranked, on positions (no row
    formatted); then the list without the cooldown's customers (who would be called), and that list
    without the control group, filled up from the next in line.
    """
    nightly = options.nightly or NightlyOptions()
    ids = scores.index
    # Only customers assigned in the cooldown's window can be cooled down, so only they are ranked
    # (the others left out: the counts stay everyone's, and their order among themselves is the one
    # among everyone). Ranking and making rows for everyone callable (three million at ten million
    # orders) took about 1.3 s of a night's run.
    assigned_before = np.zeros(len(ids), dtype=bool)
    if len(history.assignments):
        assigned_before = member_mask(ids, history.assignments["customer_id"])
    everyone = ranking(replace(select_options, top=None, per_owner=None), ~assigned_before)
    assigned = everyone.order
    candidates = pd.DataFrame({  # as the call-list rows show them, which the state stores
        "priority": scores["priority"].to_numpy(dtype=float)[assigned].round(2),
        "segment": _segment_names(scores["segment"], assigned),
    }, index=ids[assigned])
    cooled, relisted = cooldown(candidates, history.assignments, orders, options.as_of, nightly)
    del candidates
    leave_out = member_mask(ids, cooled)
    would = choose(select_options, leave_out)
    held = draw(would.rows["customer_id"].tolist(), options.as_of, nightly.control_share)
    control_rows = would.rows[held]
    if held.any():
        leave_out |= member_mask(ids, control_rows["customer_id"])
        called = choose(select_options, leave_out)
    else:
        called = would
    call_list = replace(called, lapsed=everyone.lapsed, eligible=everyone.eligible,
                        not_targets=everyone.not_targets, value_at_risk=everyone.value_at_risk,
                        do_not_contact=everyone.do_not_contact, filtered_out=everyone.filtered_out)
    would_ids = set(would.rows["customer_id"])
    assignments = pd.concat([
        assignment_rows(called.rows, "called", called.rows["customer_id"].isin(would_ids).to_numpy()),
        assignment_rows(control_rows, "control", np.ones(len(control_rows), dtype=bool)),
    ], ignore_index=True)
    lapsed = as_text(ids).filter(pa.array(scores["lapsed"].to_numpy(dtype=bool)))
    if not strings_in_order(lapsed):
        lapsed = lapsed.take(pc.sort_indices(lapsed))
    night = Night(
        options=nightly, cooldown=cooled, relisted=relisted,
        control=control_rows[["customer_id", "rank", "priority", "value_at_risk", "segment", "owner"]]
        .reset_index(drop=True),
        assignments=assignments, diff=nightly_diff(lapsed, history, orders, options.as_of), lapsed=lapsed,
    )
    return call_list, night


def _segment_names(segment: pd.Series, order: np.ndarray) -> np.ndarray:
    """The segment names of the rows at ``order``, as text (objects): looked up by category code. pandas'
    categorical-to-text conversion makes a string per row, about 1 s for the million rows of a
    ten-million-order nightly run."""
    if isinstance(segment.dtype, pd.CategoricalDtype):
        codes = segment.cat.codes.to_numpy()[order]
        if not len(codes) or codes.min() >= 0:
            return np.asarray(segment.cat.categories.astype(str), dtype=object)[codes]
    return segment.take(order).astype("str").to_numpy()


def input_dialect(result: ScanResult) -> CsvDialect:
    """The CSV dialect of the (first) order file, for a call list that opens like the input did."""
    src = result.report.sources[0] if result.report.sources else None
    return mirror_dialect(src.delimiter if src else None, src.formats.get("amount") if src else None)
