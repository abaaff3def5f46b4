"""The state database: schema and migrations, one transaction per change, same-day replacement."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from winback.errors import ConfigError
from winback.state import MIGRATIONS, SCHEMA_VERSION, State

NOW = datetime(2025, 12, 1, 6, 30, tzinfo=UTC)


def _lapsed(st, before):
    day, ids = st.previous_lapsed(before)
    return day, ids.to_pylist()


def rows(*ids, arm="called"):
    return pd.DataFrame({"customer_id": list(ids), "arm": arm, "rank": range(1, len(ids) + 1), "compared": 1,
                         "priority": 10.0, "value_at_risk": 5.0, "segment": "at risk", "owner": "A",
                         "last_order": "2025-06-01"})


def test_new_file_gets_the_schema_and_owner_only_mode(tmp_path):
    with State(tmp_path / "s.db") as st:
        assert st.version() == SCHEMA_VERSION
    assert (tmp_path / "s.db").stat().st_mode & 0o777 == 0o600
    with State(tmp_path / "s.db") as st:  # opening again migrates nothing
        assert st.version() == SCHEMA_VERSION


def test_newer_schema_and_foreign_files_are_refused(tmp_path):
    with State(tmp_path / "s.db") as st:
        st.db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(ConfigError, match="newer winback"):
        State(tmp_path / "s.db")
    (tmp_path / "x.db").write_text("not a database at all, just text" * 100)
    with pytest.raises(ConfigError, match="not a winback state database"):
        State(tmp_path / "x.db")


def test_schema_1_lapsed_rows_become_one_snapshot_per_day(tmp_path):
    db = sqlite3.connect(tmp_path / "old.db")
    db.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
                     + MIGRATIONS[0][1])
    db.executemany("INSERT INTO lapsed VALUES (?, ?)", [("2025-12-01", "B"), ("2025-12-01", "A"),
                                                        ("2025-12-01", "10"), ("2025-12-02", "C")])
    db.commit()
    db.close()
    with State(tmp_path / "old.db") as st:
        assert st.version() == SCHEMA_VERSION == 2
        assert _lapsed(st, date(2025, 12, 2)) == (date(2025, 12, 1), ["10", "A", "B"])
        assert _lapsed(st, date(2025, 12, 3)) == (date(2025, 12, 2), ["C"])
        assert _lapsed(st, date(2025, 12, 1)) == (None, [])
        run = st.start_run(as_of=date(2025, 12, 3), started_at=NOW, fingerprint="f", files=[], config_path=None,
                           version="t")
        with st.transaction():  # a night with nobody lapsed is a snapshot too
            st.record_night(run, as_of=date(2025, 12, 3), assignments=rows(), lapsed=[], counts={}, finished_at=NOW)
        assert _lapsed(st, date(2025, 12, 4)) == (date(2025, 12, 3), [])


def test_same_day_replaces_and_failed_transaction_changes_nothing(tmp_path):
    day = date(2025, 12, 1)
    with State(tmp_path / "s.db") as st:
        for ids in (("A", "B"), ("A", "C", "D")):
            run = st.start_run(as_of=day, started_at=NOW, fingerprint="f", files=["o.csv"], config_path=None,
                               version="t")
            with st.transaction():
                st.record_night(run, as_of=day, assignments=rows(*ids), lapsed=list(ids), counts={"listed": len(ids)},
                                finished_at=NOW)
        got = st.assignments()
        assert got["customer_id"].tolist() == ["A", "C", "D"]
        run = st.start_run(as_of=date(2025, 12, 2), started_at=NOW, fingerprint="f", files=[], config_path=None,
                           version="t")
        with pytest.raises(RuntimeError), st.transaction():
            st.record_night(run, as_of=date(2025, 12, 2), assignments=rows("E"), lapsed=["E"], counts={},
                            finished_at=NOW)
            raise RuntimeError("killed")
        assert len(st.assignments()) == 3
        assert _lapsed(st, date(2025, 12, 3)) == (day, ["A", "C", "D"])
        st.fail_run(run, exit_code=4, finished_at=NOW)
        assert st.runs()["status"].tolist() == ["ok", "ok", "failed"]
        assert st.latest_listing("C", date(2025, 12, 5)) == day
        assert st.latest_listing("C", date(2025, 11, 30)) is None


def test_a_running_run_left_behind_is_marked_interrupted(tmp_path):
    with State(tmp_path / "s.db") as st:
        st.start_run(as_of=date(2025, 12, 1), started_at=NOW, fingerprint="f", files=[], config_path=None,
                     version="t")
    with State(tmp_path / "s.db") as st:
        st.start_run(as_of=date(2025, 12, 2), started_at=NOW, fingerprint="f", files=[], config_path=None,
                     version="t")
        assert st.runs()["status"].tolist() == ["interrupted", "running"]
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
