"""Nightly commands: ``init``, ``outcomes``, ``mark``, ``schedule``; and what ``scan`` shares with them
(the config, state and log options, the log file, the test-only pause hook)."""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from winback.cli.common import (
    AsOf,
    Encoding,
    Json,
    Mapping,
    Quiet,
    Verbose,
    app,
    errors,
    import_options,
    parse_date,
)
from winback.config import (
    CONFIG_NAME,
    DEFAULT_OUTCOME_DAYS,
    Config,
    Sample,
    default_log_path,
    default_state_path,
    find_config,
    load_config,
    render_config,
)
from winback.contacts import default_country
from winback.errors import InputDataError, InputNotFoundError, OutputError
from winback.importer import load_orders
from winback.nightly import CONTACT_OUTCOMES, contact_outcome, outcomes
from winback.state import State
from winback.writers import atomic_write

ConfigOpt = Annotated[str | None, typer.Option("--config", metavar="PATH", envvar="WINBACK_CONFIG",
                                               help=f"Config file. Default: ./{CONFIG_NAME} when there is one.")]
StateOpt = Annotated[str | None, typer.Option("--state", metavar="PATH", envvar="WINBACK_STATE",
                                              help="State database (remembers lists, cooldown, control group). "
                                                   "Default with a config: nightly.state, else a per-user "
                                                   "folder.")]
NoStateOpt = Annotated[bool, typer.Option("--no-state", help="A one-off run: no state database, no lock, no "
                                                             "cooldown or control group.")]
LogOpt = Annotated[str | None, typer.Option("--log", metavar="PATH", envvar="WINBACK_LOG",
                                            help="Log file of runs with state (counts, dates, customer ids). "
                                                 "Default: nightly.log of the config, else a per-user folder.")]


@dataclass
class Settings:
    config: Config
    state: Path | None  # None: a one-off run
    log: Path | None


def load_settings(config: str | None, state: str | None, no_state: bool, log: str | None) -> Settings:
    """Find and read the config; decide the state database and the log file (flags > env > config)."""
    path = find_config(config, Path.cwd())
    cfg = load_config(path) if path else Config()
    if no_state:
        state_path = None
    elif state:
        state_path = Path(state).expanduser().absolute()
    elif cfg.path is not None:
        state_path = Path(cfg.state) if cfg.state else default_state_path()
    else:
        state_path = None
    log_path = None
    if state_path is not None:
        log_path = Path(log).expanduser().absolute() if log else Path(cfg.log) if cfg.log else default_log_path()
    return Settings(cfg, state_path, log_path)


@contextlib.contextmanager
def open_log(path: Path | None) -> Iterator[logging.Logger]:
    """The run log: a rotating file (1 MB x 5), owner-only. Only counts, dates and customer ids go in."""
    logger = logging.getLogger("winback.run")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if path is None:
        yield logger
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write the log file {path} ({exc.strerror}). Choose another place with --log "
                          "or nightly.log.") from None
    handler.setFormatter(logging.Formatter("%(asctime)s pid=%(process)d %(levelname)s %(message)s"))
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_pause(point: str) -> None:
    """Test-only hook (tests/test_cli_nightly.py): with ``WINBACK_TEST_PAUSE_AT=<point>`` and
    ``WINBACK_TEST_PAUSE_FILE=<path>``, create the file and wait (60 s at most) until the test deletes it,
    so a test can race or kill a run at a known moment. Does nothing otherwise."""
    flag = os.environ.get("WINBACK_TEST_PAUSE_FILE")
    if os.environ.get("WINBACK_TEST_PAUSE_AT") != point or not flag:
        return
    Path(flag).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while Path(flag).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def _need_state(settings: Settings) -> Path:
    if settings.state is None:
        raise typer.BadParameter("this needs the state database of the nightly runs: give --config (with "
                                 "nightly.state) or --state PATH.", param_hint="--state")
    if not settings.state.exists():
        raise typer.BadParameter(f"no state database at {settings.state} yet: run 'winback scan' with the same "
                                 "config or --state first.", param_hint="--state")
    return settings.state


def _config_import_options(cfg: Config, encoding: str | None, mapping: list[str] | None, as_of: date):  # type: ignore[no-untyped-def]
    merged = dict(cfg.columns)
    for item in mapping or []:
        role, _, column = item.partition("=")
        merged[role.strip()] = column
    return import_options(encoding or cfg.encoding, [f"{k}={v}" for k, v in merged.items()] or None,
                          cfg.date_format, cfg.decimal, cfg.max_skipped if cfg.max_skipped is not None else 0.05,
                          sheet=cfg.sheet, header_row=cfg.header_row, tz=cfg.timezone,
                          ignore_id_case=bool(cfg.ignore_id_case), as_of=as_of)


# --- winback init --------------------------------------------------------------------------------------

@app.command("init", epilog="""Examples:

  winback init orders.csv

  winback init exports/orders.csv --customers exports/customers.csv --out /srv/shop/winback.toml
""")
def init_command(
    files: Annotated[list[str], typer.Argument(help="A sample of the order export(s) the nightly run will read.",
                                               show_default=False)],
    customers: Annotated[str | None, typer.Option("--customers", metavar="FILE",
                                                  help="The customers file to name in the config.")] = None,
    out: Annotated[str, typer.Option("--out", "-o", metavar="PATH", help="Where to write the config.")] = CONFIG_NAME,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config.")] = False,
    encoding: Encoding = None,
    mapping: Mapping = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Inspect a sample of the orders and write a commented winback.toml for nightly runs."""
    target = Path(out).expanduser().absolute()
    if target.exists() and not force:
        raise typer.BadParameter(f"{target} exists already; edit it, or overwrite it with --force.",
                                 param_hint="--force")
    opts = import_options(encoding, mapping, None, None, 1.0)
    with errors(verbose):
        loaded = load_orders(files, opts)
        text = render_config(_sample(loaded, files, customers, target.parent),
                             state=str(default_state_path().with_name(_slug(target.parent.name) + ".sqlite3")),
                             log=str(default_log_path()))
        (target.parent / "calls").mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda fh: fh.write(text.encode("utf-8")))
    if not quiet:
        typer.echo(f"Wrote {target}. Check it, then try:  winback scan --config {shlex.quote(str(target))}")
        typer.echo(f"Nightly:  winback schedule --config {shlex.quote(str(target))}")


def _slug(name: str) -> str:
    return re.sub(r"[^\w]+", "-", name.casefold()).strip("-_") or "winback"


def _relative(path: str, base: Path) -> str:
    p = Path(path).expanduser().absolute()
    try:
        return str(p.relative_to(base))
    except ValueError:
        return str(p)


def _sample(loaded, files: list[str], customers: str | None, base: Path) -> Sample:  # type: ignore[no-untyped-def]
    rep = loaded.report
    src = rep.sources[0]
    orders = loaded.orders
    purchases = orders[orders["kind"] == "purchase"]
    owners: dict[str, int] = {}
    if "owner" in orders:
        latest = purchases.sort_values("order_date").drop_duplicates("customer_id", keep="last")
        counts = latest["owner"].fillna("").replace("", pd.NA).dropna().value_counts()
        owners = {str(k): int(v) for k, v in sorted(counts.items())}
    amount_format = src.formats.get("amount", "")
    return Sample(
        files=[_relative(f, base) for f in files if f != "-"],
        encoding=src.encoding,
        columns=dict(src.columns),
        decimal="," if "decimal comma" in amount_format else "." if "decimal point" in amount_format else None,
        date_format=None,
        date_seen=src.formats.get("order_date"),
        country=default_country(rep.currency),
        currency=rep.currency,
        owners=owners,
        customers=_relative(customers, base) if customers else None,
        customers_count=int(purchases["customer_id"].nunique()),
        first_order=None if purchases.empty else purchases["order_date"].min().date().isoformat(),
        last_order=None if purchases.empty else purchases["order_date"].max().date().isoformat(),
    )


# --- winback outcomes ----------------------------------------------------------------------------------

@app.command("outcomes", epilog="""Examples:

  winback outcomes --config winback.toml

  winback outcomes orders.csv --state ~/.local/state/winback/shop.sqlite3 --json
""")
def outcomes_command(
    files: Annotated[list[str] | None, typer.Argument(
        help="The latest order export(s). Default: input.files of the config, else the files of the last run.",
        show_default=False)] = None,
    as_of: AsOf = None,
    outcome_days: Annotated[int | None, typer.Option(
        "--outcome-days", min=1, metavar="DAYS",
        help=f"A first order within DAYS of a list counts as 'came back'. Default: {DEFAULT_OUTCOME_DAYS}.")] = None,
    config: ConfigOpt = None,
    state: StateOpt = None,
    encoding: Encoding = None,
    mapping: Mapping = None,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """Report who came back after being put on a list, how fast, and the revenue recovered, against the
    control group."""
    as_of_date = parse_date(as_of) or date.today()
    with errors(verbose):
        settings = load_settings(config, state, False, None)
    db_path = _need_state(settings)
    cfg = settings.config
    opts = _config_import_options(cfg, encoding, mapping, as_of_date)
    window = outcome_days or cfg.outcome_days or DEFAULT_OUTCOME_DAYS
    with errors(verbose):
        with State(db_path) as db:
            paths = list(files or cfg.files or [])
            if not paths:
                last = db.last_ok_run()
                paths = json.loads(last["input_files"]) if last else []
            if not paths:
                raise InputDataError("no order file: give the latest export, e.g. winback outcomes orders.csv.")
            history = db.assignments()
            contact = db.contact_results()
        loaded = load_orders(paths, opts)
        result = outcomes(history, loaded.orders, as_of_date, window_days=window, contact=contact)
        if json_:
            typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        else:
            from winback.cli.render import make_console, render_outcomes

            render_outcomes(make_console(sys.stdout), result)


# --- winback mark --------------------------------------------------------------------------------------

@app.command("mark", epilog="""Examples:

  winback mark 00042 --outcome reached --config winback.toml

  winback mark --import calls-2026-11-23.csv --config winback.toml   (a call list with an 'outcome' column)
""")
def mark_command(
    customer_id: Annotated[str | None, typer.Argument(help="The customer called.", show_default=False)] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", metavar="RESULT",
                                                help="reached, no-answer, wrong-number or declined.")] = None,
    import_: Annotated[str | None, typer.Option("--import", metavar="FILE",
                                                help="A call list (CSV, XLSX or JSON) with an 'outcome' column "
                                                     "filled in by the callers.")] = None,
    on: Annotated[str | None, typer.Option("--date", metavar="DATE",
                                           help="When the call was made (YYYY-MM-DD). Default: today.")] = None,
    config: ConfigOpt = None,
    state: StateOpt = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Record the result of a call, for the outcomes report."""
    when = parse_date(on, "--date") or date.today()
    if (customer_id is None) == (import_ is None):
        raise typer.BadParameter("give a CUSTOMER_ID with --outcome, or --import FILE.", param_hint="CUSTOMER_ID")
    if customer_id is not None and (outcome is None or contact_outcome(outcome) is None):
        raise typer.BadParameter(f"say how the call went: {', '.join(CONTACT_OUTCOMES)}.",
                                 param_hint="--outcome")
    with errors(verbose):
        settings = load_settings(config, state, False, None)
    db_path = _need_state(settings)
    with errors(verbose):
        with State(db_path) as db:
            if customer_id is not None:
                listed = db.latest_listing(customer_id, when)
                if listed is None:
                    raise InputDataError(f"customer {customer_id} is on no call list up to {when} in {db_path}. "
                                         "Check the id (exactly as on the list) and --date.")
                db.add_contact_results([(customer_id, listed, when, contact_outcome(outcome or "") or "")], "mark")
                if not quiet:
                    typer.echo(f"Recorded: customer {customer_id} (list of {listed}): {contact_outcome(outcome or '')}.")
                return
            marks = _read_marks(Path(import_ or ""))
            rows, unknown = [], 0
            for cid, result in marks:
                listed = db.latest_listing(cid, when)
                if listed is None:
                    unknown += 1
                    continue
                rows.append((cid, listed, when, result))
            db.add_contact_results(rows, f"import:{Path(import_ or '').name}")
        if not quiet:
            typer.echo(f"Recorded {len(rows)} call results from {import_}"
                       + (f"; {unknown} customers are on no list and were skipped." if unknown else "."))


_OUTCOME_HEADERS = ("outcome", "result", "call result", "call_result")


def _read_marks(path: Path) -> list[tuple[str, str]]:
    """``(customer_id, outcome)`` from a marked-up call list; rows without an outcome are skipped."""
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no such file. Check the path.")
    try:
        if path.suffix.lower() == ".xlsx":
            frame = pd.read_excel(path, dtype=str).fillna("")
            first_line = 2
        elif path.suffix.lower() == ".json":
            frame = pd.DataFrame(json.loads(path.read_text(encoding="utf-8"))).astype(str).replace("None", "")
            first_line = 1
        else:
            text = path.read_bytes().decode("utf-8-sig")
            header = text.splitlines()[0] if text else ""
            sep = ";" if header.count(";") > header.count(",") else ","
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            first_line = 2
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{path}: cannot read it as a call list ({type(exc).__name__}). Save it as CSV "
                             "(UTF-8), XLSX or JSON.") from None
    columns = {str(c).strip().casefold(): c for c in frame.columns}
    id_col = columns.get("customer_id")
    out_col = next((columns[h] for h in _OUTCOME_HEADERS if h in columns), None)
    if id_col is None or out_col is None:
        raise InputDataError(f"{path}: needs a customer_id column and an outcome column (values "
                             f"{', '.join(CONTACT_OUTCOMES)}). Add the outcome column to the call list.")
    marks = []
    for i, (cid, text) in enumerate(zip(frame[id_col], frame[out_col], strict=True)):
        cid = str(cid).strip().lstrip("'")
        if not str(text).strip() or not cid:
            continue
        result = contact_outcome(text)
        if result is None:
            raise InputDataError(f"{path} line {i + first_line}: outcome '{text}' is not one of "
                                 f"{', '.join(CONTACT_OUTCOMES)}. Fix the cell and import again.")
        marks.append((cid, result))
    return marks


# --- winback schedule ----------------------------------------------------------------------------------

@app.command("schedule", epilog="""Examples:

  winback schedule --config /srv/shop/winback.toml

  winback schedule --config /srv/shop/winback.toml --at 05:45 --install
""")
def schedule_command(
    config: ConfigOpt = None,
    at: Annotated[str, typer.Option("--at", metavar="HH:MM", help="Time of the nightly run.")] = "06:30",
    install: Annotated[bool, typer.Option("--install", help="Add the crontab line for the current user "
                                                            "(never twice).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --install: do not ask.")] = False,
    verbose: Verbose = False,
) -> None:
    """Print a crontab line and a systemd service and timer for the nightly run; --install adds the line."""
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", at.strip())
    if not m:
        raise typer.BadParameter(f"'{at}' is not a time; write it as HH:MM, e.g. 06:30.", param_hint="--at")
    path = find_config(config, Path.cwd())
    if path is None:
        raise typer.BadParameter("the nightly run needs a config: write one with 'winback init ORDERS_FILE', "
                                 "then give --config PATH.", param_hint="--config")
    with errors(verbose):
        cfg = load_config(path)
    assert cfg.path is not None
    hour, minute = int(m.group(1)), int(m.group(2))
    command = scan_command_line(cfg.path)
    line = f"{minute} {hour} * * * {command}"
    typer.echo("# crontab line (crontab -e), runs every night; cron mails you only when it fails:")
    typer.echo(CRON_MARK)
    typer.echo(line)
    typer.echo("")
    typer.echo("# or systemd: ~/.config/systemd/user/winback.service")
    typer.echo(systemd_service(command))
    typer.echo("# ~/.config/systemd/user/winback.timer")
    typer.echo(systemd_timer(hour, minute))
    typer.echo("# then: systemctl --user daemon-reload && systemctl --user enable --now winback.timer")
    if install:
        with errors(verbose):
            _install(line, cfg.path, yes)


CRON_MARK = "# winback nightly call list (winback schedule)"


def scan_command_line(config: Path) -> str:
    """The nightly command: absolute paths, UTF-8 whatever the locale, nothing printed on success."""
    python = shlex.quote(str(Path(sys.executable).absolute()))
    return f"PYTHONUTF8=1 {python} -m winback scan --config {shlex.quote(str(config))} --quiet"


def systemd_service(command: str) -> str:
    env, _, rest = command.partition(" ")
    return ("[Unit]\nDescription=winback nightly call list\n\n[Service]\nType=oneshot\n"
            f"Environment={env}\nExecStart={rest}\n")


def systemd_timer(hour: int, minute: int) -> str:
    return ("[Unit]\nDescription=Run winback every night\n\n[Timer]\n"
            f"OnCalendar=*-*-* {hour:02d}:{minute:02d}:00\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n")


def _install(line: str, config: Path, yes: bool) -> None:
    crontab = shutil.which("crontab")
    if crontab is None:
        raise OutputError("crontab is not installed here; install cron, or use the systemd units above.")
    current = subprocess.run([crontab, "-l"], capture_output=True, text=True, check=False)
    if current.returncode != 0 and "no crontab" not in current.stderr.lower():
        raise OutputError(f"crontab -l failed: {current.stderr.strip()}")
    existing = current.stdout if current.returncode == 0 else ""
    needle = f"-m winback scan --config {shlex.quote(str(config))}"
    found = [x for x in existing.splitlines() if needle in x and not x.lstrip().startswith("#")]
    if found:
        typer.echo(f"Already in your crontab, not added again: {found[0]}")
        return
    if not yes and not typer.confirm("Add the crontab line above for this user?"):
        typer.echo("Not added.")
        return
    new = existing + ("" if not existing or existing.endswith("\n") else "\n") + CRON_MARK + "\n" + line + "\n"
    done = subprocess.run([crontab, "-"], input=new, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OutputError(f"crontab could not be written: {done.stderr.strip()}")
    typer.echo("Added to your crontab (see it with crontab -l).")
