"""Nightly runs end to end: two simulated days with new orders between them, then outcomes, marks,
the schedule; and, with real processes, two runs at once and a run killed mid-write."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from winback.cli import app

DAY1, DAY2 = "2025-12-01", "2025-12-08"


def orders_text(extra: tuple[str, ...] = ()) -> str:
    """40 customers: the even ones buy until late November, the odd ones stopped in the summer."""
    lines = ["customer_id,order_date,amount,owner"]
    for i in range(1, 41):
        gap = 7 + i % 5
        d = date(2025, 1, 1) + timedelta(days=i)
        stop = date(2025, 11, 25) if i % 2 == 0 else date(2025, 6, 1) + timedelta(days=3 * i)
        while d <= stop:
            lines.append(f"C{i:02d},{d.isoformat()},{100 + 10 * i},{'Ayşe' if i % 3 else 'Elif'}")
            d += timedelta(days=gap)
    return "\n".join([*lines, *extra]) + "\n"


@pytest.fixture(autouse=True)
def _no_home(tmp_path, monkeypatch):
    """Nothing of a test run goes to the real home folder."""
    for var in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg"))
    for var in ("WINBACK_CONFIG", "WINBACK_STATE", "WINBACK_LOG", "WINBACK_COOLDOWN_DAYS",
                "WINBACK_CONTROL_SHARE", "WINBACK_DEPARTED_OWNERS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def shop(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(orders_text(), encoding="utf-8")
    return tmp_path


def night(runner, shop, as_of, *extra):
    result = runner.invoke(app, ["scan", str(shop / "orders.csv"), "--as-of", as_of, "--state", str(shop / "st.db"),
                                 "--log", str(shop / "winback.log"), "--top", "10", "--control-share", "0.3",
                                 "--out", str(shop / f"calls-{as_of}.csv"), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def listed(path: Path) -> list[str]:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")["customer_id"].tolist()


def db_rows(shop, sql):
    with sqlite3.connect(shop / "st.db") as db:
        return db.execute(sql).fetchall()


def test_two_nights_cooldown_control_diff_and_outcomes(runner, shop):
    first = night(runner, shop, DAY1)
    day1 = listed(shop / f"calls-{DAY1}.csv")
    control1 = first["nightly"]["control_group"]["customer_ids"]
    assert len(day1) == 10 and control1, "the data are chosen so that night 1 holds someone out"
    assert not set(control1) & set(day1)
    assert first["nightly"]["diff"]["previous_as_of"] is None

    # Same day again: same list, same file, no double entries.
    before = (shop / f"calls-{DAY1}.csv").read_bytes()
    again = night(runner, shop, DAY1)
    assert (shop / f"calls-{DAY1}.csv").read_bytes() == before
    assert again["nightly"]["control_group"] == first["nightly"]["control_group"]
    assert db_rows(shop, f"SELECT COUNT(*) FROM assignments WHERE list_date = '{DAY1}'") == [(10 + len(control1),)]

    # Between the nights two called customers order again, and one control customer too.
    back = day1[:2] + control1[:1]
    (shop / "orders.csv").write_text(orders_text(tuple(f"{c},2025-12-04,500,Ayşe" for c in back)), encoding="utf-8")
    second = night(runner, shop, DAY2)
    day2 = listed(shop / f"calls-{DAY2}.csv")
    nightly = second["nightly"]
    # Cooldown: nobody from night 1 (called or held out) is listed again; their situation did not change.
    assert nightly["cooldown"]["listed_again"] == 0
    assert not set(day2) & (set(day1) | set(control1))
    assert nightly["cooldown"]["left_off"] == len(set(day1 + control1) - set(back))
    # The control group never appears in any output file.
    for control in (control1, nightly["control_group"]["customer_ids"]):
        for path in shop.glob("calls-*.csv"):
            assert not set(control) & set(listed(path)), path
    # The nightly diff, from the database's lapsed snapshot of night 1.
    diff = nightly["diff"]
    assert diff["previous_as_of"] == DAY1
    assert diff["came_back"]["customer_ids"] == sorted(back)
    assert diff["newly_lapsed"]["count"] + diff["still_lapsed"]["count"] == second["lapsed"]["customers"]
    runs = db_rows(shop, "SELECT as_of, status, exit_code, listed, came_back FROM runs ORDER BY id")
    assert runs == [(DAY1, "ok", 0, 10, 0), (DAY1, "ok", 0, 10, 0), (DAY2, "ok", 0, len(day2), 3)]
    assert "Ayşe" not in (shop / "winback.log").read_text(encoding="utf-8").split("listed:")[0]

    # Outcomes: who came back, how fast, what they brought; called against control.
    result = runner.invoke(app, ["outcomes", str(shop / "orders.csv"), "--state", str(shop / "st.db"),
                                 "--as-of", "2025-12-10", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    people = {(r["customer_id"], r["list_date"]): r for r in report["customers"]}
    for cid in back:
        r = people[(cid, DAY1)]
        assert r["came_back"] is True and r["days_to_return"] == 3 and r["revenue"] == 500
    cmp = report["comparison"]
    assert cmp["called"]["came_back"] == 2 and cmp["control"]["came_back"] == 1
    assert cmp["control"]["customers"] == len(control1) + len(nightly["control_group"]["customer_ids"])
    assert cmp["uplift"] == pytest.approx(cmp["called"]["rate"] - cmp["control"]["rate"], abs=1e-4)
    assert {r["list_date"] for r in report["by_list_date"]} == {DAY1, DAY2}
    text = runner.invoke(app, ["outcomes", str(shop / "orders.csv"), "--state", str(shop / "st.db"),
                               "--as-of", "2025-12-10"])
    assert text.exit_code == 0, text.output
    assert "not called:" in text.stdout and "Win-back rate" in text.stdout


def test_ignore_cooldown_lists_again(runner, shop):
    night(runner, shop, DAY1)
    again = night(runner, shop, DAY2, "--ignore-cooldown")
    assert again["nightly"]["cooldown"]["left_off"] == 0
    assert set(listed(shop / f"calls-{DAY2}.csv")) & set(listed(shop / f"calls-{DAY1}.csv"))


def test_mark_and_import(runner, shop):
    night(runner, shop, DAY1)
    first = listed(shop / f"calls-{DAY1}.csv")
    state = ["--state", str(shop / "st.db")]
    result = runner.invoke(app, ["mark", first[0], "--outcome", "reached", "--date", "2025-12-02", *state])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Recorded: customer {first[0]} (list of {DAY1}): reached.\n"
    bad = runner.invoke(app, ["mark", "NOPE", "--outcome", "reached", "--date", "2025-12-02", *state])
    assert bad.exit_code == 4 and bad.stderr.startswith("Error: customer NOPE is on no call list")
    frame = pd.read_csv(shop / f"calls-{DAY1}.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame["outcome"] = ["no answer", "Declined"] + [""] * (len(frame) - 2)
    frame.to_csv(shop / "marked.csv", index=False)
    result = runner.invoke(app, ["mark", "--import", str(shop / "marked.csv"), "--date", "2025-12-03", *state])
    assert result.exit_code == 0, result.output
    assert db_rows(shop, "SELECT customer_id, outcome FROM contact_results ORDER BY id") == [
        (first[0], "reached"), (first[0], "no-answer"), (first[1], "declined")]
    frame.loc[2, "outcome"] = "maybe"
    frame.to_csv(shop / "marked.csv", index=False)
    bad = runner.invoke(app, ["mark", "--import", str(shop / "marked.csv"), *state])
    assert bad.exit_code == 4
    assert bad.stderr == (f"Error: {shop / 'marked.csv'} line 4: outcome 'maybe' is not one of reached, "
                          "no-answer, wrong-number, declined. Fix the cell and import again.\n")


def test_quiet_prints_nothing_and_config_run(runner, shop):
    result = runner.invoke(app, ["init", str(shop / "orders.csv")])
    assert result.exit_code == 0, result.output
    text = (shop / "winback.toml").read_text(encoding="utf-8")
    assert 'files = ["orders.csv"]' in text and 'customer_id = "customer_id"' in text and "Ayşe" in text
    assert str(shop / "xdg") in text  # the state and log in the platform folders
    result = runner.invoke(app, ["scan", "--config", str(shop / "winback.toml"), "--as-of", DAY1, "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
    assert (shop / "calls" / f"calls-{DAY1}.csv").exists()
    assert list((shop / "xdg").rglob("*.sqlite3")) and list((shop / "xdg").rglob("winback.log"))
    again = runner.invoke(app, ["init", str(shop / "orders.csv")])
    assert again.exit_code == 2 and "--force" in again.output


def test_no_state_is_a_one_off_run(runner, shop):
    (shop / "winback.toml").write_text('[list]\ntop = 5\n', encoding="utf-8")
    result = runner.invoke(app, ["scan", "orders.csv", "--as-of", DAY1, "--no-state", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["nightly"] is None and data["call_list"]["rows"] == 5  # the config in this folder is read
    assert not list(shop.rglob("*.sqlite3"))


def test_schedule_prints_and_installs_once(runner, shop, monkeypatch):
    (shop / "winback.toml").write_text('[input]\nfiles = ["orders.csv"]\n', encoding="utf-8")
    fake = shop / "bin"
    fake.mkdir()
    store = shop / "crontab.txt"
    (fake / "crontab").write_text(
        f"#!/bin/sh\nif [ \"$1\" = \"-l\" ]; then [ -f {store} ] && cat {store} && exit 0; echo 'no crontab for me' >&2; "
        f"exit 1; fi\ncat > {store}\n")
    (fake / "crontab").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    result = runner.invoke(app, ["schedule", "--config", str(shop / "winback.toml"), "--at", "05:45"])
    assert result.exit_code == 0, result.output
    line = (f"45 5 * * * PYTHONUTF8=1 {Path(sys.executable).absolute()} -m winback scan --config "
            f"{shop / 'winback.toml'} --quiet")
    assert line in result.stdout.splitlines()
    assert "OnCalendar=*-*-* 05:45:00" in result.stdout and "[Install]" in result.stdout
    for _ in range(2):
        result = runner.invoke(app, ["schedule", "--config", str(shop / "winback.toml"), "--at", "05:45",
                                     "--install", "--yes"])
        assert result.exit_code == 0, result.output
    assert store.read_text().count("-m winback scan --config") == 1
    assert "Already in your crontab" in result.stdout


# --- real processes ----------------------------------------------------------------------------------

def start(shop: Path, as_of: str, pause: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "WINBACK_TEST_PAUSE_AT": "write" if pause else "",
           "WINBACK_TEST_PAUSE_FILE": str(pause or "")}
    return subprocess.Popen(
        [sys.executable, "-m", "winback", "scan", str(shop / "orders.csv"), "--as-of", as_of, "--state",
         str(shop / "st.db"), "--log", str(shop / "winback.log"), "--top", "10", "--out", str(shop / "calls.csv"),
         "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached the pause point"
        time.sleep(0.02)


def test_second_run_exits_at_once_with_code_6(shop):
    pause = shop / "paused"
    first = start(shop, DAY1, pause)
    try:
        wait_for(pause, first)
        second = start(shop, DAY1)
        out, err = second.communicate(timeout=30)
        assert second.returncode == 6, err
        assert out == ""
        assert err.startswith(f"Error: another winback run is in progress (lock held by PID {first.pid}, since ")
        assert err.rstrip().endswith("st.db.lock") and err.count("\n") == 1
    finally:
        pause.unlink(missing_ok=True)
        out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert "run refused: exit 6" in (shop / "winback.log").read_text(encoding="utf-8")


def test_kill_mid_write_keeps_previous_list_and_database(shop):
    done = start(shop, DAY1)
    assert done.wait(timeout=30) == 0, done.communicate()
    previous = (shop / "calls.csv").read_bytes()
    counts = db_rows(shop, "SELECT COUNT(*), MAX(list_date) FROM assignments")
    pause = shop / "paused"
    victim = start(shop, DAY2, pause)
    wait_for(pause, victim)
    assert list(shop.glob(".calls.csv.*.tmp")), "killed while the new list is half written"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert (shop / "calls.csv").read_bytes() == previous
    assert db_rows(shop, "PRAGMA integrity_check") == [("ok",)]
    assert db_rows(shop, "SELECT COUNT(*), MAX(list_date) FROM assignments") == counts
    assert db_rows(shop, "SELECT status FROM runs ORDER BY id") == [("ok",), ("running",)]
    # The next run marks the killed one, cleans its temporary file and goes on.
    after = start(shop, DAY2)
    assert after.wait(timeout=30) == 0, after.communicate()
    assert db_rows(shop, "SELECT status FROM runs ORDER BY id") == [("ok",), ("interrupted",), ("ok",)]
    assert not list(shop.glob(".calls.csv.*.tmp"))
    assert (shop / "calls.csv").read_bytes() != previous


def test_each_run_records_the_input_fingerprint(runner, shop):
    """The fingerprint is worked out beside the scan and stored with the run, ok or failed."""
    import hashlib

    night(runner, shop, "2025-12-01")
    expected = hashlib.sha256(str(shop / "orders.csv").encode() + b"\0" + (shop / "orders.csv").read_bytes())
    assert db_rows(shop, "SELECT status, input_fingerprint FROM runs") == [("ok", expected.hexdigest()[:16])]
    (shop / "orders.csv").write_text("not;an;order;file\n", encoding="utf-8")  # this run fails (exit 4)
    result = runner.invoke(app, ["scan", str(shop / "orders.csv"), "--as-of", "2025-12-02", "--state",
                                 str(shop / "st.db"), "--log", str(shop / "winback.log"), "--quiet"])
    assert result.exit_code != 0
    failed = db_rows(shop, "SELECT status, input_fingerprint FROM runs ORDER BY id")[1]
    assert failed[0] == "failed" and failed[1] == hashlib.sha256(
        str(shop / "orders.csv").encode() + b"\0" + b"not;an;order;file\n").hexdigest()[:16]


def test_a_night_out_of_memory_says_so_and_keeps_the_list_and_the_nights(runner, shop, monkeypatch):
    """numpy's and Arrow's MemoryError: exit 8 and what to do, not "a bug in winback"; the run is
    recorded as failed with that code, and the call list and the nights before are as they were."""
    import pyarrow as pa

    import winback.pipeline

    night(runner, shop, DAY1)
    calls = (shop / f"calls-{DAY1}.csv").read_bytes()
    before = db_rows(shop, "SELECT * FROM lapsed_snapshots")

    def no_memory(*args, **kwargs):
        raise pa.ArrowMemoryError("malloc of size 1073741824 failed")

    monkeypatch.setattr(winback.pipeline, "summarize", no_memory)
    result = runner.invoke(app, ["scan", str(shop / "orders.csv"), "--as-of", DAY2,
                                 "--state", str(shop / "st.db"), "--log", str(shop / "winback.log"),
                                 "--out", str(shop / f"calls-{DAY1}.csv")])
    assert result.exit_code == 8
    assert result.stderr.startswith("Error: not enough memory to finish this run;")
    assert "Run it with --low-memory, close other programs" in result.stderr
    assert "bug" not in result.stderr
    assert (shop / f"calls-{DAY1}.csv").read_bytes() == calls
    runs = db_rows(shop, "SELECT status, exit_code FROM runs ORDER BY id")
    assert runs == [("ok", 0), ("failed", 8)]
    assert db_rows(shop, "SELECT * FROM lapsed_snapshots") == before
    assert "failed: exit 8" in (shop / "winback.log").read_text(encoding="utf-8")
