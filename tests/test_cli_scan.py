"""The scan command, driven the way a user drives it."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, SAMPLE, SAMPLE_AS_OF
from tests.regen_golden import (
    CLI_ARGS,
    CLI_GOLDEN,
    CUSTOMERS_SMALL,
    GOLDEN,
    ORDERS_SMALL,
    cli_outputs,
)
from winback import __version__
from winback.calllist import COLUMNS, FIXED_COLUMNS
from winback.cli import app

SIMPLE = """customer_id,order_date,amount
007,2025-01-01,100
007,2025-01-15,120
007,2025-02-01,110
007,2025-02-15,100
8,2025-06-01,50
"""


def test_scan_sample_writes_call_list(runner, tmp_path):
    out = tmp_path / "calls.csv"
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "customers have lapsed" in result.stdout
    assert "Call list: 50 of" in result.stdout
    assert result.stderr == ""
    # The sample is a Turkish export (; and decimal comma): the call list mirrors it.
    frame = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(frame.columns) == COLUMNS
    assert list(frame.columns[:8]) == FIXED_COLUMNS
    assert len(frame) == 50
    assert frame["rank"].tolist() == [str(i) for i in range(1, 51)]
    priority = frame["priority"].str.replace(",", ".").astype(float)
    assert (priority.diff().dropna() <= 0).all()
    assert frame["customer_id"].str.fullmatch(r"\d{5}").all()  # leading zeros kept
    assert frame["reason"].str.len().gt(20).all()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_default_output_name_is_the_as_of_date(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", "2026-06-30", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert (tmp_path / "calls-2026-06-30.csv").exists()


def test_out_dash_writes_only_csv_to_stdout(runner, tmp_path):
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--out", "-", "--top", "7"])
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout), sep=";", dtype=str, keep_default_na=False)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 7
    assert "customers have lapsed" in result.stderr


def test_json_summary_contract(runner, tmp_path):
    out = tmp_path / "c.csv"
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["winback_version"] == __version__
    assert data["as_of"] == SAMPLE_AS_OF
    inp = data["input"]
    for key in ("rows_read", "rows_used", "rows_skipped", "skipped_by_reason", "orders", "customers",
                "first_order", "last_order", "columns"):
        assert key in inp
    assert inp["rows_read"] == inp["rows_used"] + inp["rows_skipped"]
    assert inp["customers"] + inp["customers_without_purchases"] == 1800  # 10 only ever cancelled
    assert inp["columns"]["customer_id"] == "Müşteri No"
    assert data["model"]["time_unit"] == "weeks"
    assert set(data["model"]["bgnbd"]) >= {"r", "alpha", "a", "b", "log_likelihood", "converged"}
    assert data["lapsed"]["customers"] > 0 and data["lapsed"]["value_at_risk"] > 0
    assert data["call_list"]["rows"] == 50 and data["call_list"]["path"] == str(out)
    assert data["call_list"]["format"] == "csv"
    assert sum(data["call_list"]["per_owner"].values()) == 50
    assert sum(data["call_list"]["per_segment"].values()) == 50
    assert data["lapsed"]["do_not_contact"] == 0
    assert data["contacts"] == {"customers_file": None, "suppression_file": None, "phone_country": "TR"}
    assert sum(data["segments"].values()) == inp["customers"]


def test_all_lists_every_eligible_customer(runner, tmp_path):
    out = tmp_path / "c.csv"
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--all", "--json", "--out", str(out)])
    data = json.loads(result.stdout)
    assert data["call_list"]["rows"] == data["lapsed"]["eligible"] > 50


def test_missing_file_is_one_line_exit_3(runner):
    result = runner.invoke(app, ["scan", "missing.csv"])
    assert result.exit_code == 3
    assert result.stderr == ("Error: missing.csv: no such file. Check the path, or run 'ls' to see the "
                             "files here.\n")
    assert result.stdout == ""


def test_not_an_order_file_is_one_line_exit_4(runner, tmp_path):
    readme = Path(__file__).resolve().parent.parent / "README.md"
    result = runner.invoke(app, ["scan", str(readme), "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 4, result.output
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "c.csv").exists()


def test_verbose_shows_traceback(runner):
    quiet = runner.invoke(app, ["scan", "missing.csv"])
    loud = runner.invoke(app, ["scan", "missing.csv", "--verbose"])
    assert "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr
    assert loud.exit_code == 3


def test_bad_as_of_is_usage_error(runner):
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", "23.11.2026"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_unwritable_output_exit_5_keeps_nothing(runner, tmp_path, write):
    src = write("o.csv", SIMPLE)
    result = runner.invoke(app, ["scan", src, "--as-of", "2025-12-01", "--out", str(tmp_path / "no" / "c.csv")])
    assert result.exit_code == 5
    assert result.stderr.startswith("Error: cannot write")


def test_failed_write_leaves_previous_file(runner, tmp_path, write, monkeypatch):
    src = write("o.csv", SIMPLE)
    out = tmp_path / "c.csv"
    out.write_text("previous list\n")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    result = runner.invoke(app, ["scan", src, "--as-of", "2025-12-01", "--out", str(out)])
    assert result.exit_code == 5
    assert out.read_text() == "previous list\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_run_says_where_the_header_is_or_that_there_is_none(runner, tmp_path, write):
    with_header = runner.invoke(app, ["scan", write("o.csv", SIMPLE), "--as-of", "2025-12-01",
                                      "--out", str(tmp_path / "a.csv")])
    assert with_header.exit_code == 0, with_header.output
    assert "separated by ',', header on line 1." in with_header.stdout
    rows = SIMPLE.split("\n", 1)[1]
    without = runner.invoke(app, ["scan", write("n.csv", rows), "--no-header", "--map", "customer_id=1",
                                  "--map", "order_date=2", "--map", "amount=3", "--as-of", "2025-12-01",
                                  "--out", str(tmp_path / "b.csv")])
    assert without.exit_code == 0, without.output
    assert "separated by ',', no header row." in without.stdout
    assert "line 0" not in without.stdout


def test_ids_are_written_exactly_and_after_as_of_ignored(runner, tmp_path, write):
    src = write("o.csv", SIMPLE + "007,2026-01-10,90\n")
    out = tmp_path / "c.csv"
    result = runner.invoke(app, ["scan", src, "--as-of", "2025-12-01", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["input"]["orders_after_as_of"] == 1
    assert data["input"]["last_order"] == "2025-06-01"
    frame = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert "007" in frame["customer_id"].tolist()


def test_nothing_lapsed_is_success(runner, tmp_path, write):
    src = write("o.csv", "customer_id,order_date,amount\nA,2025-11-28,10\nB,2025-11-30,20\n")
    out = tmp_path / "c.csv"
    result = runner.invoke(app, ["scan", src, "--as-of", "2025-12-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Nobody has lapsed" in result.stdout
    frame = pd.read_csv(out, encoding="utf-8-sig")
    assert list(frame.columns) == COLUMNS and frame.empty


def test_version_and_python_m():
    proc = subprocess.run([sys.executable, "-m", "winback", "--version"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"winback {__version__}"


@pytest.mark.parametrize("command", [["--help"], ["scan", "--help"]])
def test_help_has_examples(runner, command):
    result = runner.invoke(app, command)
    assert result.exit_code == 0
    assert "winback scan" in result.stdout


# --- contacts, formats, owners (issue 5) ----------------------------------------------------------

SAMPLE_CUSTOMERS = ROOT / "sample_data" / "customers.csv"
ANSI = "\x1b["


def scan_small(runner, tmp_path, *extra, fmt="csv"):
    out = tmp_path / f"calls.{fmt}"
    result = runner.invoke(app, ["scan", str(ORDERS_SMALL), "--as-of", "2026-01-15", "--all",
                                 "--customers", str(CUSTOMERS_SMALL), "--format", fmt, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return result, out


@pytest.mark.parametrize("name", list(CLI_GOLDEN.values()))
def test_cli_golden(tmp_path, name):
    """Byte for byte; after an intended change run: python -m tests.regen_golden"""
    golden = GOLDEN / name
    assert golden.exists(), f"{golden} is missing: run python -m tests.regen_golden and review it"
    assert cli_outputs(tmp_path)[name] == golden.read_bytes()


def test_the_command_itself_writes_and_prints_everything_before_it_exits(tmp_path):
    """`winback` ends with os._exit (no interpreter teardown): the call list, the JSON on stdout and the
    exit codes must all be there, as through the test runner."""
    out = tmp_path / "calls.csv"
    args = [sys.executable, "-m", "winback", "scan", str(ORDERS_SMALL), *CLI_ARGS, "--out", str(out)]
    proc = subprocess.run([*args, "--json"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (GOLDEN / CLI_GOLDEN["csv"]).read_bytes()
    assert json.loads(proc.stdout)["call_list"]["rows"] == 6  # the whole JSON, flushed
    missing = subprocess.run([sys.executable, "-m", "winback", "scan", str(tmp_path / "nope.csv")],
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 3 and missing.stderr.startswith("Error: ")
    bad_option = subprocess.run([sys.executable, "-m", "winback", "scan", "--no-such-option"],
                                capture_output=True, text=True, check=False)
    assert bad_option.returncode == 2


def _with_reader_gone(args: list[str]) -> tuple[int, str]:
    """Run the command with standard output a pipe whose reader has gone before the first byte."""
    proc = subprocess.Popen([sys.executable, "-m", "winback", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    return proc.wait(), stderr


def test_a_reader_that_stops_reading_the_run_summary_ends_the_command_quietly(tmp_path):
    """`winback scan ... --json | head`: the summary comes after the files are written; when the
    program reading it has gone, the command stops writing and ends with 0, not "internal error"."""
    out = tmp_path / "calls.csv"
    code, stderr = _with_reader_gone(["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--json",
                                      "--out", str(out)])
    assert code == 0, stderr
    assert "Error" not in stderr and "Traceback" not in stderr
    assert out.read_bytes().count(b"\r\n") > 1


def test_a_call_list_to_standard_output_that_nobody_reads_is_an_output_error(tmp_path):
    """`--out -`: the list is what was asked for, so a reader gone before its end is exit 5 with a
    message, and a nightly run records no night (its customers were not listed to anybody)."""
    args = ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--out", "-"]
    code, stderr = _with_reader_gone(args)
    assert code == 5, stderr
    assert stderr.startswith("Error: the call list was not written whole to standard output")
    assert "Traceback" not in stderr
    state = tmp_path / "state.db"
    code, stderr = _with_reader_gone([*args, "--state", str(state)])
    assert code == 5, stderr
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM lapsed_snapshots").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM assignments").fetchone() == (0,)
        assert db.execute("SELECT exit_code FROM runs").fetchall() == [(5,)]


def test_sample_with_customers_file(runner, tmp_path):
    out = tmp_path / "calls.csv"
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--customers",
                                 str(SAMPLE_CUSTOMERS), "--out", str(out), "--csv-dialect", "comma"])
    assert result.exit_code == 0, result.output
    assert "Customers file" in result.stdout and "1,800 customers" in result.stdout
    frame = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert frame["customer_id"].str.fullmatch(r"\d{5}").all()
    assert (frame["name"] != "").all()
    with_phone = frame[frame["phone"] != ""]
    assert with_phone["phone"].str.fullmatch(r"\(\+90\) 5\d\d \d\d\d \d\d \d\d").all()
    assert (frame["owner"] != "").all()
    assert float(frame.loc[0, "revenue"]) > 0  # decimal point: --csv-dialect comma


def test_xlsx_from_the_cli_opens_with_openpyxl(runner, tmp_path, monkeypatch):
    from openpyxl import load_workbook

    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--customers",
                                 str(SAMPLE_CUSTOMERS), "--format", "xlsx", "--top", "10", "--quiet"])
    assert result.exit_code == 0, result.output
    path = tmp_path / f"calls-{SAMPLE_AS_OF}.xlsx"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    ws = load_workbook(path).active
    assert [c.value for c in ws[1]] == COLUMNS and ws.max_row == 11 and ws.freeze_panes == "A2"
    ids = [ws.cell(r, 2) for r in range(2, 12)]
    assert all(c.data_type == "s" and len(c.value) == 5 for c in ids)
    assert all(ws.cell(r, 5).is_date for r in range(2, 12))
    assert all(ws.cell(r, 8).data_type == "n" for r in range(2, 12))
    phones = [ws.cell(r, 10).value for r in range(2, 12) if ws.cell(r, 10).value]
    assert phones and all(p.startswith("+90 5") for p in phones)


def test_json_format_to_stdout(runner):
    result = runner.invoke(app, ["scan", str(ORDERS_SMALL), "--as-of", "2026-01-15", "--format", "json",
                                 "--out", "-", "--all"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert records and list(records[0]) == COLUMNS
    assert "customers have lapsed" in result.stderr


def test_do_not_contact_appears_in_no_output(runner, tmp_path):
    supp = tmp_path / "dnc.txt"
    supp.write_text("x@ornek.az\n", encoding="utf-8")
    outputs = []
    for fmt in ("csv", "xlsx", "json"):
        folder = tmp_path / fmt
        folder.mkdir()
        result, _ = scan_small(runner, folder, "--suppress", str(supp), "--split-by-owner", "--json", fmt=fmt)
        data = json.loads(result.stdout)
        assert data["lapsed"]["do_not_contact"] == 2  # R1 (Aranmasın: evet) and X9 (suppressed e-mail)
        outputs += list(folder.iterdir())
    assert len(outputs) > 3
    for path in outputs:
        raw = path.read_bytes()
        if path.suffix == ".xlsx":
            from openpyxl import load_workbook

            raw = "\n".join(str(c.value) for row in load_workbook(path).active.iter_rows() for c in row).encode()
        text = raw.decode("utf-8-sig")
        for marker in ("R1", "Reşat", "X9", "Xavier", "ornek.az"):
            assert marker not in text, (path.name, marker)


def test_split_by_owner_adds_up_and_orphans_first(runner, tmp_path):
    result, out = scan_small(runner, tmp_path, "--split-by-owner", "--json", "--departed-owners", "Elif",
                             "--csv-dialect", "comma")
    data = json.loads(result.stdout)
    full = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    files = data["call_list"]["owner_files"]
    assert set(files) == set(data["call_list"]["per_owner"])
    parts = [pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig") for p in files.values()]
    together = pd.concat(parts).sort_values("rank", key=lambda s: s.astype(int)).reset_index(drop=True)
    pd.testing.assert_frame_equal(together, full)
    orphaned = full["note"].str.contains("orphaned")
    assert orphaned.any() and orphaned.iloc[: orphaned.sum()].all()
    assert set(full.loc[orphaned, "owner"]) == {"Elif"}
    unassigned = pd.read_csv(files[""], dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert orphaned.sum() <= len(unassigned)


def test_departed_owners_from_environment(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("WINBACK_DEPARTED_OWNERS", "Elif, Mehmet")
    result, _ = scan_small(runner, tmp_path, "--json")
    data = json.loads(result.stdout)
    assert data["call_list"]["orphaned"] >= 1


def test_per_owner_cap_and_filters(runner, tmp_path):
    result, _ = scan_small(runner, tmp_path, "--per-owner", "1", "--json")
    data = json.loads(result.stdout)
    assert all(n <= 1 for n in data["call_list"]["per_owner"].values())
    result, _ = scan_small(runner, tmp_path, "--min-value", "1e12", "--json")
    data = json.loads(result.stdout)
    assert data["call_list"]["rows"] == 0 and data["lapsed"]["filtered_out"] > 0


def test_hostile_and_invalid_cells_in_csv(runner, tmp_path):
    _, out = scan_small(runner, tmp_path, "--csv-dialect", "semicolon")
    text = out.read_bytes().decode("utf-8-sig")
    assert text.startswith("rank;customer_id;")
    frame = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for col in frame.columns:
        assert not frame[col].str.startswith(("=", "+", "-", "@")).any(), col
    by_id = frame.set_index("customer_id")
    assert by_id.loc["00042", "phone"] == "(+90) 532 123 45 67"
    if "B2" in by_id.index:
        assert by_id.loc["B2", "phone"] == "0532 12" and "invalid phone" in by_id.loc["B2", "note"]


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "pdf"], "'pdf' is not a format"),
    (["--csv-dialect", "tab"], "'tab' is not a CSV dialect"),
    (["--segment", "vip"], "'vip' is not a segment"),
    (["--format", "xlsx", "--out", "-"], "cannot go to standard output"),
])
def test_output_options_usage_errors(runner, args, message):
    result = runner.invoke(app, ["scan", str(ORDERS_SMALL), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_missing_customers_file_exit_3(runner, tmp_path):
    result = runner.invoke(app, ["scan", str(ORDERS_SMALL), "--customers", "nope.csv", "--out",
                                 str(tmp_path / "c.csv")])
    assert result.exit_code == 3
    assert result.stderr == ("Error: nope.csv: no such file. Check the path, or run 'ls' to see the "
                             "files here.\n")


def test_pipe_output_is_plain(runner, tmp_path):
    result, _ = scan_small(runner, tmp_path)
    assert ANSI not in result.stdout
    assert "per owner:" in result.stdout and "per segment:" in result.stdout
    assert "╭" not in result.stdout and "Reading orders" not in result.stdout + result.stderr


def test_terminal_output_has_panel_and_fits_width(runner, tmp_path, monkeypatch):
    from rich.console import Console

    import winback.cli.scan as scan_module

    monkeypatch.setattr(scan_module, "make_console",
                        lambda file: Console(file=file, force_terminal=True, width=90, highlight=False))
    result, _ = scan_small(runner, tmp_path)
    assert "╭" in result.stdout and "winback scan" in result.stdout
    assert ANSI in result.stdout  # colour and styles: only because this console is a terminal
    assert max(len(line) for line in _strip_ansi(result.stdout).splitlines()) <= 90


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
