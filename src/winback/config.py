"""The configuration file, ``winback.toml``: read it (with errors that name the key and the line) and
write a commented one from what the importer found in a sample of the orders.

Precedence, resolved by the CLI: command-line flags > environment variables > this file > defaults.
Every field of :class:`Config` is ``None`` when the file does not set it, so the CLI can tell "not
set" from "set to the default". Relative paths in the file are relative to the file's folder, never
to the working directory (a cron job starts somewhere else).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winback.errors import ConfigError

CONFIG_NAME = "winback.toml"

#: Defaults used when neither a flag, an environment variable nor the file says otherwise.
DEFAULT_TOP = 50
DEFAULT_HORIZON_DAYS = 90
DEFAULT_COOLDOWN_DAYS = 30
DEFAULT_CONTROL_SHARE = 0.10
DEFAULT_OUTCOME_DAYS = 90
FORMATS = ("csv", "xlsx", "json")
CSV_DIALECTS = ("auto", "comma", "semicolon")


@dataclass
class Config:
    """Settings read from a file; ``None`` = the file does not set it."""

    path: Path | None = None
    files: list[str] | None = None
    customers: str | None = None
    suppress: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    header_row: int | None = None
    max_skipped: float | None = None
    ignore_id_case: bool | None = None
    low_memory: bool | None = None
    columns: dict[str, str] = field(default_factory=dict)
    customers_columns: dict[str, str] = field(default_factory=dict)
    country: str | None = None
    decimal: str | None = None
    date_format: str | None = None
    timezone: str | None = None
    horizon_days: int | None = None
    top: int | None = None
    all: bool | None = None  # top = "all"
    per_owner: int | None = None
    min_value: float | None = None
    segments: list[str] | None = None
    out_dir: str | None = None
    format: str | None = None
    csv_dialect: str | None = None
    split_by_owner: bool | None = None
    departed_owners: list[str] | None = None
    cooldown_days: int | None = None
    control_share: float | None = None
    outcome_days: int | None = None
    state: str | None = None
    log: str | None = None
    lines: dict[str, int] = field(default_factory=dict)  # "section.key" -> line in the file

    def error(self, section: str, key: str, message: str) -> ConfigError:
        """A :class:`ConfigError` about one key, naming the file and the line."""
        return ConfigError(f"{self.path} line {self.lines.get(f'{section}.{key}', '?')}: {section}.{key} "
                           f"{message}")


# --- value checks: each returns the value to keep or raises ValueError("how to write it") --------

def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("must be text in quotes")
    return v


def _texts(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError('must be a list of texts, e.g. ["a", "b"]')
    return list(v)


def _int(low: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"must be a whole number of at least {low}")
        return v
    return check


def _share(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1:
        raise ValueError("must be a number from 0 to below 1, e.g. 0.1 for 10%")
    return float(v)


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise ValueError("must be a number of at least 0")
    return float(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


def _choice(*options: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v.strip().lower() not in options:
            raise ValueError("must be one of " + ", ".join(f'"{o}"' for o in options))
        return v.strip().lower()
    return check


def _top(v: Any) -> int | str:
    if isinstance(v, str) and v.strip().lower() == "all":
        return "all"
    return _int(1)(v)


def _decimal(v: Any) -> str:
    if v not in (",", "."):
        raise ValueError('must be "," or "."')
    return str(v)


def _mapping(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise ValueError('must be a table of role = "column header" lines')
    return dict(v)


#: (section, key) -> (Config field, check). The only keys a file may hold.
KEYS: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("input", "files"): ("files", _texts),
    ("input", "customers"): ("customers", _text),
    ("input", "suppress"): ("suppress", _text),
    ("input", "encoding"): ("encoding", _text),
    ("input", "sheet"): ("sheet", lambda v: str(_int(1)(v)) if isinstance(v, int) else _text(v)),
    ("input", "header_row"): ("header_row", _int(1)),
    ("input", "max_skipped"): ("max_skipped", _share),
    ("input", "ignore_id_case"): ("ignore_id_case", _bool),
    ("input", "low_memory"): ("low_memory", _bool),
    ("input", "columns"): ("columns", _mapping),
    ("input", "customers_columns"): ("customers_columns", _mapping),
    ("locale", "country"): ("country", _text),
    ("locale", "decimal"): ("decimal", _decimal),
    ("locale", "date_format"): ("date_format", _text),
    ("locale", "timezone"): ("timezone", _text),
    ("list", "horizon_days"): ("horizon_days", _int(7)),
    ("list", "top"): ("top", _top),
    ("list", "per_owner"): ("per_owner", _int(1)),
    ("list", "min_value"): ("min_value", _number),
    ("list", "segments"): ("segments", _texts),
    ("output", "folder"): ("out_dir", _text),
    ("output", "format"): ("format", _choice(*FORMATS)),
    ("output", "csv_dialect"): ("csv_dialect", _choice(*CSV_DIALECTS)),
    ("output", "split_by_owner"): ("split_by_owner", _bool),
    ("owners", "departed"): ("departed_owners", _texts),
    ("nightly", "cooldown_days"): ("cooldown_days", _int(0)),
    ("nightly", "control_share"): ("control_share", _share),
    ("nightly", "outcome_days"): ("outcome_days", _int(1)),
    ("nightly", "state"): ("state", _text),
    ("nightly", "log"): ("log", _text),
}
_PATH_FIELDS = ("customers", "suppress", "out_dir", "state", "log")
_SECTIONS = sorted({s for s, _ in KEYS})

_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\- ]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*=""")


def key_lines(text: str) -> dict[str, int]:
    """``{"section.key": line}`` for every key and ``{"section": line}`` for every table header."""
    found: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if m := _TABLE.match(line):
            table = m.group(1).strip()
            found.setdefault(table, number)
        elif m := _KEY.match(line):
            key = m.group(1).strip("\"'")
            found.setdefault(f"{table}.{key}" if table else key, number)
    return found


def load_config(path: str | Path) -> Config:
    """Read and check a config file; raise :class:`ConfigError` naming the key and the line."""
    path = Path(path).expanduser()
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file. Write one with 'winback init ORDERS_FILE', or "
                          "point --config / WINBACK_CONFIG at yours.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc}). Save it as UTF-8 text.") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}. Write settings as key = value, texts in \"quotes\".") from None
    lines = key_lines(text)
    where = lambda dotted: f"{path} line {lines.get(dotted, '?')}"  # noqa: E731
    config = Config(path=path.resolve(), lines=lines)
    base = path.resolve().parent
    for section, values in data.items():
        if section not in _SECTIONS or not isinstance(values, dict):
            hint = difflib.get_close_matches(section, _SECTIONS, n=1)
            raise ConfigError(f"{where(section)}: unknown section [{section}]; "
                              + (f"did you mean [{hint[0]}]?" if hint else
                                 "sections are " + ", ".join(f"[{s}]" for s in _SECTIONS) + "."))
        for key, value in values.items():
            dotted = f"{section}.{key}"
            if (section, key) not in KEYS:
                known = [k for s, k in KEYS if s == section]
                hint = difflib.get_close_matches(key, known, n=1)
                raise ConfigError(f"{where(dotted)}: unknown key {dotted}; "
                                  + (f"did you mean {section}.{hint[0]}?" if hint else
                                     f"[{section}] takes " + ", ".join(known) + "."))
            name, check = KEYS[(section, key)]
            try:
                checked = check(value)
            except ValueError as exc:
                raise ConfigError(f"{where(dotted)}: {dotted} {exc}, not {value!r}.") from None
            if name == "top" and checked == "all":
                config.all = True
                continue
            if name == "files":
                checked = [str(_resolve(base, f)) for f in checked]
            elif name in _PATH_FIELDS and checked != "":
                checked = str(_resolve(base, checked))
            elif checked == "":
                checked = None
            setattr(config, name, checked)
    return config


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def find_config(flag: str | None, cwd: Path) -> Path | None:
    """The config to use: ``--config`` / ``WINBACK_CONFIG`` (given as ``flag``), else ``winback.toml`` in
    the current folder when there is one, else none."""
    if flag:
        return Path(flag).expanduser()
    here = cwd / CONFIG_NAME
    return here if here.is_file() else None


# --- writing a commented config (winback init) -----------------------------------------------------

@dataclass
class Sample:
    """What ``winback init`` learned from a sample of the orders (plain values, no customer data)."""

    files: list[str]
    encoding: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    decimal: str | None = None
    date_format: str | None = None
    date_seen: str | None = None  # the date format the importer found, e.g. dd.mm.yyyy
    country: str = "TR"
    currency: str | None = None
    owners: dict[str, int] = field(default_factory=dict)  # owner -> customers
    customers: str | None = None
    customers_count: int = 0
    first_order: str | None = None
    last_order: str | None = None


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(sample: Sample, *, state: str, log: str, out_dir: str = "calls") -> str:
    """The text of a commented ``winback.toml``."""
    files = ", ".join(_q(f) for f in sample.files)
    lines = [
        "# winback configuration, written by 'winback init'. Edit freely: lines starting with # are comments.",
        "# Precedence: command-line flags > environment variables > this file > built-in defaults.",
        "# Relative paths are relative to the folder of this file.",
        "",
        "[input]",
        f"# The order export(s) to read each night. Seen in the sample: {sample.customers_count:,} customers, "
        f"orders from {sample.first_order} to {sample.last_order}.",
        f"files = [{files}]",
        "# A customer card export with names, phones, e-mails, owners and do-not-contact flags.",
        (f"customers = {_q(sample.customers)}" if sample.customers else '# customers = "customers.csv"'),
        "# Customer ids, phones or e-mails never to call, one per line.",
        '# suppress = "do-not-call.txt"',
        "# Text encoding of the order file (detected).",
        (f"encoding = {_q(sample.encoding)}" if sample.encoding else '# encoding = "utf-8"'),
        "# Read the orders a part at a time, for order files larger than this computer's memory (a",
        "# file that would not fit is read so anyway).",
        "# low_memory = true",
        "",
        "[input.columns]",
        "# Which column is which (role = \"header in the file\"), as winback found them in the sample.",
    ]
    lines += [f"{role} = {_q(header)}" for role, header in sample.columns.items()]
    lines += [
        "",
        "[locale]",
        f"# Country of phone numbers written without a country code{' (from the currency ' + sample.currency + ')' if sample.currency else ''}.",
        f"country = {_q(sample.country)}",
        "# Decimal separator of amounts, and the order date format, as found in the sample.",
        (f"decimal = {_q(sample.decimal)}" if sample.decimal else '# decimal = ","'),
        (f"date_format = {_q(sample.date_format)}" if sample.date_format else
         f"# date_format = \"%d.%m.%Y\"   (detected each run{'; the sample has ' + sample.date_seen if sample.date_seen else ''})"),
        "# The shop's time zone, for timestamps that carry one.",
        '# timezone = "Europe/Istanbul"',
        "",
        "[list]",
        "# Window in days for 'will they buy again on their own'.",
        f"horizon_days = {DEFAULT_HORIZON_DAYS}",
        '# How many customers to put on each night\'s list, or "all".',
        f"top = {DEFAULT_TOP}",
        "# At most this many per account owner.",
        "# per_owner = 20",
        "# Only customers with at least this much value at risk; only these segments.",
        "# min_value = 1000",
        '# segments = ["can\'t lose", "at risk"]',
        "",
        "[output]",
        "# Where the call lists go (calls-<date>.<format> inside it). The folder must exist.",
        f"folder = {_q(out_dir)}",
        '# "csv", "xlsx" or "json"; CSV dialect "auto" (like the order file), "comma" or "semicolon".',
        'format = "csv"',
        'csv_dialect = "auto"',
        "# Also write one file per account owner.",
        "split_by_owner = false",
        "",
        "[owners]",
    ]
    if sample.owners:
        lines.append("# Account owners found in the sample (customers): "
                     + ", ".join(f"{o} ({n})" for o, n in sample.owners.items()) + ".")
    lines += [
        "# Owners who have left: their customers go to the top of the list, marked 'orphaned'.",
        "departed = []",
        "",
        "[nightly]",
        "# A customer listed in the last N days is not listed again unless their situation changed",
        "# materially (docs/nightly.md); 0 turns the cooldown off.",
        f"cooldown_days = {DEFAULT_COOLDOWN_DAYS}",
        "# Share of the customers who would be listed that is held out at random each night, never",
        "# called, so 'winback outcomes' can compare called with not-called customers. 0 turns it off.",
        f"control_share = {DEFAULT_CONTROL_SHARE}",
        "# Days after a list in which a first order counts as 'came back'.",
        f"outcome_days = {DEFAULT_OUTCOME_DAYS}",
        "# The state database (one per shop) and the log file.",
        f"state = {_q(state)}",
        f"log = {_q(log)}",
        "",
    ]
    return "\n".join(lines)


# --- platform locations ------------------------------------------------------------------------------

def default_state_path() -> Path:
    """The state database when neither ``--state``, ``WINBACK_STATE`` nor the config says where."""
    import platformdirs

    return Path(platformdirs.user_state_dir("winback", appauthor=False)) / "winback.sqlite3"


def default_work_folder() -> Path:
    """Where a scan in parts (``--low-memory``) keeps its temporary files, a little larger than the
    order file (1.25 times at 10.8 million orders): ``TMPDIR`` when set, else the per-user cache
    folder (on disk, where ``/tmp`` may be memory); made if missing, readable by its owner only."""
    import platformdirs

    cache = platformdirs.user_cache_dir("winback", appauthor=False)
    folder = Path(os.environ.get("TMPDIR") or cache)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def default_log_path() -> Path:
    """The log file when neither ``--log``, ``WINBACK_LOG`` nor the config says where."""
    import platformdirs

    return Path(platformdirs.user_log_dir("winback", appauthor=False)) / "winback.log"
