"""The state database: what earlier nightly runs did, in SQLite (standard library).

Tables (schema version :data:`SCHEMA_VERSION`; :data:`MIGRATIONS` bring older files up to date, in
order, each in its own transaction):

=================  ===========================================================================
table              one row per
=================  ===========================================================================
schema_version     (one row) the schema version of this file
runs               run of ``winback scan`` with state: as-of date, input fingerprint, counts,
                   status (``running``, ``ok``, ``failed``, ``interrupted``) and exit code
assignments        customer put on a list (arm ``called``) or held out as control (arm
                   ``control``) on a list date: rank (would-be rank for control), priority, value at
                   risk, segment, owner, and whether the customer is in the called/control
                   comparison (``compared``). One row per (list date, customer): a rerun of the same
                   day replaces that day's rows.
lapsed_snapshots   as-of date of a run (the last few are kept): how many customers were lapsed and
                   their ids, sorted, one per line, for the nightly diff (schema 2; schema 1 had a
                   row per customer, which cost seconds per night at a million lapsed customers)
contact_results    call result recorded with ``winback mark``
=================  ===========================================================================

Only customer ids, dates, numbers, segments and account owners are stored: never names, phones or
e-mails. The database runs in WAL mode with full sync, and every change is one transaction, so a run
killed at any moment leaves the database as it was before that transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback._sorting import as_text
from winback.errors import ConfigError, OutputError

SCHEMA_VERSION = 2
KEEP_LAPSED_SNAPSHOTS = 7

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    as_of TEXT NOT NULL,
    input_fingerprint TEXT,
    input_files TEXT,
    config_path TEXT,
    winback_version TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'interrupted')),
    exit_code INTEGER,
    customers INTEGER, lapsed INTEGER, eligible INTEGER, listed INTEGER,
    control INTEGER, cooldown INTEGER,
    newly_lapsed INTEGER, came_back INTEGER, still_lapsed INTEGER
);
CREATE TABLE assignments (
    list_date TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    arm TEXT NOT NULL CHECK (arm IN ('called', 'control')),
    rank INTEGER NOT NULL,
    compared INTEGER NOT NULL,
    priority REAL, value_at_risk REAL, segment TEXT, owner TEXT, last_order TEXT,
    PRIMARY KEY (list_date, customer_id)
);
CREATE INDEX assignments_customer ON assignments (customer_id, list_date);
CREATE TABLE lapsed (
    as_of TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (as_of, customer_id)
);
CREATE TABLE contact_results (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    list_date TEXT NOT NULL,
    marked_on TEXT NOT NULL,
    outcome TEXT NOT NULL,
    source TEXT
);
"""),
    (2, """
CREATE TABLE lapsed_snapshots (
    as_of TEXT PRIMARY KEY,
    customers INTEGER NOT NULL,
    customer_ids TEXT NOT NULL
);
INSERT INTO lapsed_snapshots (as_of, customers, customer_ids)
    SELECT as_of, count(*), group_concat(customer_id, char(10))
    FROM (SELECT as_of, customer_id FROM lapsed ORDER BY as_of, customer_id) GROUP BY as_of;
DROP TABLE lapsed
"""),
]

ASSIGNMENT_COLUMNS = ["list_date", "customer_id", "arm", "rank", "compared", "priority", "value_at_risk",
                      "segment", "owner", "last_order"]
RUN_COUNTS = ("customers", "lapsed", "eligible", "listed", "control", "cooldown", "newly_lapsed",
              "came_back", "still_lapsed")


class State:
    """An open state database. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():  # customer ids and owners: readable by the owner only
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        except (OSError, sqlite3.Error) as exc:
            raise OutputError(f"cannot open the state database {self.path} ({exc}). Choose another place "
                              "with --state, or run with --no-state.") from None
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise ConfigError(f"{self.path} is not a winback state database ({exc}). Point --state at "
                              "another file.") from None

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # --- schema ----------------------------------------------------------------------------------

    def version(self) -> int:
        has = self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone()
        if not has:
            return 0
        row = self.db.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        current = self.version()
        if current > SCHEMA_VERSION:
            raise ConfigError(f"{self.path} was written by a newer winback (schema {current}, this one "
                              f"knows {SCHEMA_VERSION}). Upgrade winback.")
        for number, sql in MIGRATIONS:
            if number <= current:
                continue
            with self.transaction():
                if number == 1:
                    self.db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                    self.db.execute("INSERT INTO schema_version VALUES (0)")
                for statement in sql.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute("UPDATE schema_version SET version = ?", (number,))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All changes in the block, or none of them."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- runs ------------------------------------------------------------------------------------

    def start_run(self, *, as_of: date, started_at: datetime, fingerprint: str, files: list[str],
                  config_path: str | None, version: str) -> int:
        """Record a run as ``running``; runs still ``running`` from before were killed: ``interrupted``."""
        with self.transaction():
            self.db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
            cur = self.db.execute(
                "INSERT INTO runs (started_at, as_of, input_fingerprint, input_files, config_path, "
                "winback_version, status) VALUES (?, ?, ?, ?, ?, ?, 'running')",
                (started_at.isoformat(timespec="seconds"), as_of.isoformat(), fingerprint,
                 json.dumps(files, ensure_ascii=False), config_path, version))
        return int(cur.lastrowid or 0)

    def fail_run(self, run_id: int, *, exit_code: int, finished_at: datetime) -> None:
        with self.transaction():
            self.db.execute("UPDATE runs SET status = 'failed', exit_code = ?, finished_at = ? WHERE id = ?",
                            (exit_code, finished_at.isoformat(timespec="seconds"), run_id))

    def record_night(self, run_id: int, *, as_of: date, assignments: pd.DataFrame, lapsed: list[str] | pa.Array,
                     counts: dict[str, int], finished_at: datetime) -> None:
        """Inside a :meth:`transaction`: the night's lists, lapsed customers and counts; run ``ok``."""
        day = as_of.isoformat()
        self.db.execute("DELETE FROM assignments WHERE list_date = ?", (day,))
        rows = assignments.reindex(columns=ASSIGNMENT_COLUMNS[1:])
        self.db.executemany(
            "INSERT INTO assignments (list_date, customer_id, run_id, arm, rank, compared, priority, "
            "value_at_risk, segment, owner, last_order) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(day, str(r[0]), run_id, r[1], int(r[2]), int(r[3]), _num(r[4]), _num(r[5]), r[6], r[7], r[8])
             for r in rows.itertuples(index=False)])
        ids = as_text(lapsed)
        if len(ids) and pc.any(pc.match_substring(ids, "\n")).as_py():  # never: the importer folds whitespace
            raise ValueError("a customer id contains a line break")
        if not len(ids):
            joined = ""
        elif pc.sum(pc.binary_length(ids)).as_py() + len(ids) < 2**31 - 1:  # one Arrow join, no str per id
            one_list = pa.ListArray.from_arrays(pa.array([0, len(ids)], pa.int32()), ids.cast(pa.string()))
            joined = pc.binary_join(one_list, "\n")[0].as_py()
        else:  # pragma: no cover - over 2 GB of ids
            joined = "\n".join(ids.to_pylist())
        self.db.execute("INSERT OR REPLACE INTO lapsed_snapshots VALUES (?, ?, ?)", (day, len(ids), joined))
        self.db.execute(
            "DELETE FROM lapsed_snapshots WHERE as_of NOT IN (SELECT as_of FROM lapsed_snapshots ORDER BY as_of "
            "DESC LIMIT ?)", (KEEP_LAPSED_SNAPSHOTS,))
        sets = ", ".join(f"{k} = ?" for k in RUN_COUNTS)
        self.db.execute(
            f"UPDATE runs SET status = 'ok', exit_code = 0, finished_at = ?, {sets} WHERE id = ?",
            (finished_at.isoformat(timespec="seconds"), *(counts.get(k) for k in RUN_COUNTS), run_id))

    def runs(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM runs ORDER BY id", self.db)

    def last_ok_run(self) -> dict | None:
        cur = self.db.execute("SELECT * FROM runs WHERE status = 'ok' ORDER BY as_of DESC, id DESC LIMIT 1")
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))

    # --- what the nightly logic reads -------------------------------------------------------------

    def assignments(self, *, since: date | None = None, before: date | None = None) -> pd.DataFrame:
        """Assignments with ``since <= list_date < before`` (either bound optional), oldest first."""
        where, args = [], []
        if since is not None:
            where.append("list_date >= ?")
            args.append(since.isoformat())
        if before is not None:
            where.append("list_date < ?")
            args.append(before.isoformat())
        sql = (f"SELECT {', '.join(ASSIGNMENT_COLUMNS)} FROM assignments"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY list_date, rank")
        frame = pd.read_sql_query(sql, self.db, params=args, dtype={"customer_id": "str", "segment": "str",
                                                                    "owner": "str", "arm": "str"})
        for col in ("list_date", "last_order"):
            frame[col] = pd.to_datetime(frame[col], format="%Y-%m-%d")
        return frame

    def previous_lapsed(self, before: date) -> tuple[date | None, pa.Array]:
        """The latest lapsed snapshot dated before ``before``: its date and customer ids (Arrow text, in
        the order stored, which is sorted)."""
        row = self.db.execute("SELECT as_of, customer_ids FROM lapsed_snapshots WHERE as_of < ? ORDER BY as_of "
                              "DESC LIMIT 1", (before.isoformat(),)).fetchone()
        if not row:
            return None, pa.array([], type=pa.large_string())
        if not row[1]:
            return date.fromisoformat(row[0]), pa.array([], type=pa.large_string())
        ids = pc.split_pattern(pa.array([row[1]], type=pa.large_string()), "\n").flatten()
        return date.fromisoformat(row[0]), ids

    # --- contact results ----------------------------------------------------------------------------

    def latest_listing(self, customer_id: str, on_or_before: date) -> date | None:
        row = self.db.execute(
            "SELECT MAX(list_date) FROM assignments WHERE customer_id = ? AND arm = 'called' AND list_date <= ?",
            (customer_id, on_or_before.isoformat())).fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    def add_contact_results(self, results: list[tuple[str, date, date, str]], source: str) -> None:
        """``(customer_id, list_date, marked_on, outcome)`` rows, in one transaction."""
        with self.transaction():
            self.db.executemany(
                "INSERT INTO contact_results (customer_id, list_date, marked_on, outcome, source) "
                "VALUES (?, ?, ?, ?, ?)",
                [(c, ld.isoformat(), m.isoformat(), o, source) for c, ld, m, o in results])

    def contact_results(self) -> pd.DataFrame:
        """The latest result per (customer, list date)."""
        return pd.read_sql_query(
            "SELECT customer_id, list_date, marked_on, outcome FROM contact_results WHERE id IN "
            "(SELECT MAX(id) FROM contact_results GROUP BY customer_id, list_date) ORDER BY id",
            self.db, dtype={"customer_id": "str"})


def _num(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]
