"""``winback scan``: orders in, call list out; with a config or a state database, a nightly run.

Settings come from flags > environment variables > the config file (``--config``, ``WINBACK_CONFIG``,
or ``winback.toml`` in the current folder) > defaults. With a config file or ``--state``, the run
remembers: it takes the run lock, applies the cooldown and the control group, records the night in
the state database and logs counts to the log file (docs/nightly.md). Without either, it is the
one-off run it always was.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from winback import __version__
from winback._memory import too_large_to_read_whole
from winback.calllist import segment_name
from winback.cli.common import (
    AsOf,
    DateFormat,
    Decimal,
    Encoding,
    HeaderRow,
    IgnoreIdCase,
    Json,
    Mapping,
    NoHeader,
    OnDecodeError,
    Quiet,
    Sheet,
    SkipImplausibleDates,
    Tz,
    Verbose,
    app,
    errors,
    exit_code_of,
    import_options,
    parse_date,
)
from winback.cli.nightly import (
    ConfigOpt,
    LogOpt,
    NoStateOpt,
    StateOpt,
    load_settings,
    open_log,
    test_pause,
)
from winback.cli.render import make_console, progress, render_scan
from winback.config import (
    DEFAULT_CONTROL_SHARE,
    DEFAULT_COOLDOWN_DAYS,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_TOP,
    Config,
    default_work_folder,
)
from winback.contacts import check_country
from winback.errors import InputDataError, RunLockedError
from winback.lock import lock_path, run_lock
from winback.nightly import History, NightlyOptions, fingerprint
from winback.pipeline import ScanOptions, ScanResult, input_dialect, scan
from winback.segments import SEGMENTS
from winback.state import State
from winback.writers import (
    DIALECTS,
    FORMATS,
    atomic_write,
    owner_paths,
    render_parts,
    write_call_list,
    write_json,
    write_stream,
)


@app.command("scan", epilog="""Examples:

  winback scan orders.csv

  winback scan orders.csv --as-of 2026-06-30 --top 100 --out calls.csv

  winback scan orders.csv --out - > calls.csv

  winback scan orders.csv --json --quiet

  winback scan orders.csv --customers customers.csv --format xlsx --out calls.xlsx

  winback scan orders.csv --customers customers.csv --suppress do-not-call.txt --per-owner 20 \
      --split-by-owner --departed-owners "Ayşe Yılmaz"

  winback scan --config /srv/shop/winback.toml --quiet        (the nightly run; see winback schedule)
""")
def scan_command(
    files: Annotated[list[str] | None, typer.Argument(
        help="Order export(s): CSV or other delimited text (also .gz, .zip), .xlsx or .parquet; - reads "
             "stdin. Default: input.files of the config.", show_default=False)] = None,
    as_of: AsOf = None,
    top: Annotated[int | None, typer.Option("--top", min=1, help=f"How many customers to put on the call "
                                            f"list. Default: {DEFAULT_TOP}.", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="List every lapsed customer worth calling.")] = False,
    horizon: Annotated[int | None, typer.Option("--horizon", min=7, metavar="DAYS",
                                                help="Window for 'will they buy again on their own'. "
                                                     f"Default: {DEFAULT_HORIZON_DAYS}.")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", metavar="PATH",
                                            help="Where to write the call list CSV; - for stdout. "
                                                 "Default: calls-<as-of>.csv here, or in output.folder "
                                                 "of the config.")] = None,
    format_: Annotated[str | None, typer.Option("--format", "-f", metavar="FORMAT",
                                                help="csv (default), xlsx (an Excel workbook) or "
                                                     "json.")] = None,
    csv_dialect: Annotated[str | None, typer.Option("--csv-dialect", metavar="DIALECT",
                                                    help="auto (default: like the order file), comma (, and "
                                                         "decimal point) or semicolon (; and decimal comma, "
                                                         "for Excel in Turkish, Azerbaijani or "
                                                         "Russian).")] = None,
    customers: Annotated[str | None, typer.Option("--customers", metavar="FILE",
                                                  help="Customers file with name, phone, e-mail, owner and "
                                                       "do-not-contact columns, joined by customer id.")] = None,
    customers_map: Annotated[list[str] | None, typer.Option(
        "--customers-map", metavar="ROLE=COLUMN",
        help="Say which column of the customers file is which, like --map; roles customer_id, name, "
             "phone, email, owner, do_not_contact.")] = None,
    suppress: Annotated[str | None, typer.Option("--suppress", metavar="FILE",
                                                 help="Customer ids, phones or e-mails never to call "
                                                      "(any list or CSV).")] = None,
    country: Annotated[str | None, typer.Option("--country", metavar="CC",
                                                help="Country of phone numbers written without a country "
                                                     "code, e.g. TR, AZ, RU. Default: from the currency, "
                                                     "else TR.")] = None,
    min_value: Annotated[float | None, typer.Option("--min-value", min=0.0, metavar="AMOUNT",
                                                    help="List only customers with at least this much "
                                                         "value at risk.")] = None,
    segment: Annotated[list[str] | None, typer.Option("--segment", metavar="SEGMENT",
                                                      help="List only this segment (repeatable), e.g. "
                                                           "'at risk', cant-lose.")] = None,
    per_owner: Annotated[int | None, typer.Option("--per-owner", min=1, metavar="N",
                                                  help="At most N customers per account owner.")] = None,
    split_by_owner: Annotated[bool | None, typer.Option("--split-by-owner/--no-split-by-owner",
                                                        help="Also write one file per account owner next "
                                                             "to the list.", show_default=False)] = None,
    departed_owners: Annotated[str | None, typer.Option(
        "--departed-owners", metavar="NAMES", envvar="WINBACK_DEPARTED_OWNERS",
        help="Comma-separated owners who have left; their customers go to the top as 'orphaned'.")] = None,
    json_: Json = False,
    encoding: Encoding = None,
    mapping: Mapping = None,
    date_format: DateFormat = None,
    decimal: Decimal = None,
    max_skipped: Annotated[float | None, typer.Option("--max-skipped", metavar="SHARE", min=0.0, max=1.0,
                                                      help="Fail if more than this share of rows is "
                                                           "unusable. Default: 0.05.")] = None,
    sheet: Sheet = None,
    no_header: NoHeader = False,
    header_row: HeaderRow = None,
    tz: Tz = None,
    on_decode_error: OnDecodeError = "error",
    ignore_id_case: IgnoreIdCase = False,
    skip_implausible_dates: SkipImplausibleDates = False,
    config: ConfigOpt = None,
    state: StateOpt = None,
    no_state: NoStateOpt = False,
    log: LogOpt = None,
    cooldown_days: Annotated[int | None, typer.Option(
        "--cooldown-days", min=0, metavar="DAYS", envvar="WINBACK_COOLDOWN_DAYS",
        help=f"With state: do not list again a customer listed in the last DAYS days, unless their "
             f"situation changed. Default: {DEFAULT_COOLDOWN_DAYS}.")] = None,
    control_share: Annotated[float | None, typer.Option(
        "--control-share", min=0.0, max=0.99, metavar="SHARE", envvar="WINBACK_CONTROL_SHARE",
        help=f"With state: share of the would-be list held out at random as a control group. "
             f"Default: {DEFAULT_CONTROL_SHARE}.")] = None,
    ignore_cooldown: Annotated[bool, typer.Option("--ignore-cooldown",
                                                  help="With state: list customers even if they were "
                                                       "listed recently.")] = False,
    low_memory: Annotated[bool | None, typer.Option(
        "--low-memory/--no-low-memory",
        help="Read the orders a part at a time, for order files larger than this computer's "
             "memory: the same call list, more slowly. Default: when reading them whole would not "
             "fit in the memory available.", show_default=False)] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Find lapsed customers in an order export and write a prioritized call list."""
    if json_ and out == "-":
        raise typer.BadParameter("--json and --out - both write to stdout; choose one.", param_hint="--json")
    started = datetime.now(UTC)
    as_of_date = parse_date(as_of) or date.today()
    with errors(verbose):
        settings = load_settings(config, state, no_state, log)
    cfg = settings.config
    paths = list(files or cfg.files or [])
    if not paths:
        raise typer.BadParameter("give the order file(s), e.g. winback scan orders.csv, or a config with "
                                 "input.files (winback init writes one).", param_hint="FILES")
    mapping_items = _merge_mapping(cfg.columns, mapping)
    opts = import_options(encoding or cfg.encoding, mapping_items, date_format or cfg.date_format,
                          decimal or cfg.decimal, _pick(max_skipped, cfg.max_skipped, 0.05),
                          sheet=sheet or cfg.sheet, no_header=no_header,
                          header_row=_pick(header_row, cfg.header_row, None), tz=tz or cfg.timezone,
                          on_decode_error=on_decode_error,
                          ignore_id_case=ignore_id_case or bool(cfg.ignore_id_case),
                          skip_implausible_dates=skip_implausible_dates, as_of=as_of_date)
    fmt, dialect_name, segments = _check_output_options(
        _pick(format_, cfg.format, "csv"), _pick(csv_dialect, cfg.csv_dialect, "auto"), segment, out,
        _pick(split_by_owner, cfg.split_by_owner, False))
    split = bool(_pick(split_by_owner, cfg.split_by_owner, False))
    with errors(verbose):
        segments = segments or _config_segments(cfg)
        departed = tuple(n.strip() for n in (departed_owners or "").split(",") if n.strip()) \
            if departed_owners is not None else tuple(cfg.departed_owners or ())
        the_country = country
        if country is None and cfg.country is not None:
            try:
                the_country = check_country(cfg.country)
            except InputDataError:
                raise cfg.error("locale", "country", f"'{cfg.country}' is not a country code phone numbers "
                                "know; use two letters, e.g. TR, AZ, RU, AM.") from None
    if all_:
        the_top = None
    elif top is not None:
        the_top = top
    else:
        the_top = None if cfg.all else _pick(None, cfg.top, DEFAULT_TOP)
    nightly = NightlyOptions(cooldown_days=int(_pick(cooldown_days, cfg.cooldown_days, DEFAULT_COOLDOWN_DAYS)),
                             control_share=float(_pick(control_share, cfg.control_share, DEFAULT_CONTROL_SHARE)),
                             ignore_cooldown=ignore_cooldown)
    options = ScanOptions(
        as_of=as_of_date, horizon_days=_pick(horizon, cfg.horizon_days, DEFAULT_HORIZON_DAYS), top=the_top,
        import_options=opts, customers_path=customers or cfg.customers,
        customers_mapping=_merge_mapping(cfg.customers_columns, customers_map) or [],
        suppress_path=suppress or cfg.suppress, country=the_country, min_value=_pick(min_value, cfg.min_value, None),
        segments=segments, per_owner=_pick(per_owner, cfg.per_owner, None), departed_owners=departed,
        nightly=nightly if settings.state else None,
    )
    asked = _pick(low_memory, cfg.low_memory, None)
    options.low_memory, options.low_memory_note = _in_parts(paths, asked)
    if options.low_memory:
        with errors(verbose):
            options.work_folder = str(default_work_folder())
    target = Target(out, Path(cfg.out_dir) if cfg.out_dir and not out else None, fmt, dialect_name, split)
    with errors(verbose):
        if settings.state is None:
            with progress(sys.stderr, enabled=not (quiet or json_), console_for=make_console):
                result = scan(paths, options)
            out_label, extra = _write(result, target)
            run_info: dict = {}
        else:
            result, out_label, extra, run_info = _nightly_run(paths, options, target, settings, started,
                                                              show_progress=not (quiet or json_))
        if json_:
            data = result.to_dict(out_label, arrow_ids=True)
            data["call_list"]["format"] = fmt
            data["call_list"]["owner_files"] = extra
            if data["nightly"] is not None:
                data["nightly"].update(run_info)
            write_json(data, typer.get_binary_stream("stdout"))
        elif not quiet:
            console = make_console(sys.stderr if out == "-" else sys.stdout)
            render_scan(console, result, out_label, show_table=out != "-", owner_files=extra,
                        state_label=run_info.get("state"))


def _in_parts(paths: list[str], asked: bool | None) -> tuple[bool, str | None]:
    """Whether to read the orders a part at a time: as asked (--low-memory, --no-low-memory, the
    config), else when reading them whole would need more memory than there is (as winback.cli
    decided while starting); and what to say when it was not asked for."""
    if asked is not None:
        return asked, None
    too_large = too_large_to_read_whole(paths)
    if too_large is None:
        return False, None
    need, available = (f"{n / 1e9:.1f} GB" for n in too_large)
    return True, (f"read a part at a time (as --low-memory does): read whole, the orders would "
                  f"need about {need} of memory and {available} is available. The list is the "
                  "same; it takes longer.")


@dataclass
class Target:
    """Where the call list goes."""

    out: str | None  # --out: a path, or - for stdout
    folder: Path | None  # output.folder of the config, when --out is not given
    fmt: str
    dialect: str
    split: bool


def _pick(flag, configured, default):  # type: ignore[no-untyped-def]
    """Flags (and their environment variables) > the config file > the default."""
    if flag is not None:
        return flag
    return configured if configured is not None else default


def _merge_mapping(configured: dict[str, str], flags: list[str] | None) -> list[str] | None:
    """ROLE=COLUMN items: the config's, with --map flags winning per role."""
    merged = dict(configured)
    for item in flags or []:
        role, _, column = item.partition("=")
        merged.pop(role.strip(), None)
        merged[role.strip()] = column
    items = [f"{role}={column}" for role, column in merged.items()]
    return items or None


def _config_segments(cfg: Config) -> tuple[str, ...]:
    names = []
    for text in cfg.segments or []:
        name = segment_name(text)
        if name is None:
            raise cfg.error("list", "segments", f"'{text}' is not a segment; segments: {', '.join(SEGMENTS)}.")
        names.append(name)
    return tuple(names)


def _nightly_run(paths: list[str], options: ScanOptions, target: Target, settings, started: datetime,  # type: ignore[no-untyped-def]
                 *, show_progress: bool) -> tuple[ScanResult, str, dict[str, str], dict]:
    """A run with memory: lock, history, scan, then the files and the state in one go."""
    state_path: Path = settings.state
    nightly = options.nightly or NightlyOptions()
    with open_log(settings.log) as logger:
        try:
            with run_lock(lock_path(state_path), started_at=started), State(state_path) as db:
                run_id = db.start_run(as_of=options.as_of, started_at=started, fingerprint=fingerprint(paths),
                                      files=paths, config_path=str(settings.config.path or "") or None,
                                      version=__version__)
                logger.info("run %s started: as_of=%s files=%s", run_id, options.as_of, len(paths))
                try:
                    result, out_label, extra = _remembered_scan(db, run_id, paths, options, nightly, target,
                                                                show_progress=show_progress)
                except Exception as exc:
                    db.fail_run(run_id, exit_code=exit_code_of(exc), finished_at=datetime.now(UTC))
                    logger.error("run %s failed: exit %s (%s), as_of=%s", run_id, exit_code_of(exc),
                                 type(exc).__name__, options.as_of)
                    raise
        except RunLockedError as exc:
            logger.warning("run refused: exit %s (another run holds the lock), as_of=%s", exit_code_of(exc),
                           options.as_of)
            raise
        night = result.night
        assert night is not None
        logger.info("run %s ok: as_of=%s %s", run_id, options.as_of,
                    " ".join(f"{k}={v}" for k, v in _counts(result).items()))
        called = night.assignments.loc[night.assignments["arm"] == "called", "customer_id"]
        logger.info("run %s listed: %s", run_id, " ".join(called))
        logger.info("run %s control: %s", run_id, " ".join(night.control["customer_id"]))
    return result, out_label, extra, {"state": str(state_path), "run_id": run_id}


def _remembered_scan(db: State, run_id: int, paths: list[str], options: ScanOptions, nightly: NightlyOptions,
                     target: Target, *, show_progress: bool) -> tuple[ScanResult, str, dict[str, str]]:
    since = date.fromordinal(options.as_of.toordinal() - max(nightly.cooldown_days, 0))
    prev_date, prev_lapsed = db.previous_lapsed(options.as_of)
    history = History(db.assignments(since=since, before=options.as_of), prev_date, prev_lapsed)
    with progress(sys.stderr, enabled=show_progress, console_for=make_console):
        result = scan(paths, options, history)
    night = result.night
    assert night is not None
    # One transaction: the night is recorded only if the files were written, and a kill -9 at any
    # point leaves the previous files and the previous database.
    with db.transaction():
        db.record_night(run_id, as_of=options.as_of, assignments=night.assignments, lapsed=night.lapsed,
                        counts=_counts(result), finished_at=datetime.now(UTC))
        out_label, extra = _write(result, target, clean_leftovers=True)
    return result, out_label, extra


def _counts(result: ScanResult) -> dict[str, int]:
    night = result.night
    assert night is not None
    cl = result.call_list
    return {"rows_read": result.report.rows_read, "customers": len(result.scores), "lapsed": cl.lapsed,
            "eligible": cl.eligible, "listed": len(cl.rows), "control": len(night.control),
            "cooldown": len(night.cooldown), "newly_lapsed": len(night.diff.newly_lapsed),
            "came_back": len(night.diff.came_back), "still_lapsed": len(night.diff.still_lapsed)}


def _check_output_options(fmt: str, dialect: str, segment: list[str] | None, out: str | None,
                          split: bool) -> tuple[str, str, tuple[str, ...]]:
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"'{fmt}' is not a format; use one of {', '.join(FORMATS)}.",
                                 param_hint="--format")
    dialect = dialect.strip().lower()
    if dialect != "auto" and dialect not in DIALECTS:
        raise typer.BadParameter(f"'{dialect}' is not a CSV dialect; use auto, comma or semicolon.",
                                 param_hint="--csv-dialect")
    if out == "-" and fmt == "xlsx":
        raise typer.BadParameter("an Excel workbook cannot go to standard output; give a file name.",
                                 param_hint="--out")
    if out == "-" and split:
        raise typer.BadParameter("--split-by-owner writes files; give a file name with --out.",
                                 param_hint="--split-by-owner")
    names = []
    for text in segment or []:
        name = segment_name(text)
        if name is None:
            raise typer.BadParameter(f"'{text}' is not a segment; segments: {', '.join(SEGMENTS)}.",
                                     param_hint="--segment")
        names.append(name)
    return fmt, dialect, tuple(names)


def _write(result: ScanResult, target: Target, *, clean_leftovers: bool = False) -> tuple[str, dict[str, str]]:
    """Write the list (and the per-owner files); return where it went and {owner: file}."""
    rows = result.call_list.rows
    dialect = input_dialect(result) if target.dialect == "auto" else DIALECTS[target.dialect]
    if target.out == "-":
        write_stream(rows, sys.stdout.buffer, target.fmt, dialect)
        return "standard output", {}
    name = f"calls-{result.as_of.isoformat()}.{target.fmt}"
    path = Path(target.out) if target.out else (target.folder / name if target.folder else Path(name))
    owner_files: dict[str, str] = {}
    parts = result.call_list.by_owner() if target.split else {}
    files = owner_paths(path, list(parts)) if target.split else {}
    if clean_leftovers:  # temporary files of a run killed mid-write (we hold the run lock)
        for p in [path, *files.values()]:
            for tmp in p.parent.glob(f".{p.name}.*.tmp"):
                tmp.unlink(missing_ok=True)
    for owner, file in files.items():
        write_call_list(parts[owner], file, target.fmt, dialect)
        owner_files[owner] = str(file)
    parts = render_parts(rows, target.fmt, dialect)

    def write(fh) -> None:  # type: ignore[no-untyped-def]
        first = next(parts)
        half = len(first) // 2
        fh.write(first[:half])
        fh.flush()
        test_pause("write")
        fh.write(first[half:])
        fh.writelines(parts)

    atomic_write(path, write)
    return str(path), owner_files
