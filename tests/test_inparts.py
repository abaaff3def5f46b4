"""``winback scan --low-memory``: a file read a part at a time and summarised a bucket of customers
at a time gives what the whole-file read gives (winback.importer.inparts), with parts made small
here so that the test files have many."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tests.conftest import SAMPLE, SAMPLE_AS_OF
from winback import _memory
from winback.cli import app
from winback.errors import InputDataError
from winback.importer import inparts, load_orders
from winback.importer import load as _load
from winback.pipeline import ScanOptions, scan
from winback.summary import summarize
from winback.summary.pieces import SummaryPieces


@pytest.fixture(autouse=True)
def _cache_here(tmp_path, monkeypatch):
    """The command's temporary files go to the per-user cache folder: here, not the real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TMPDIR", raising=False)


@pytest.fixture
def small_parts(monkeypatch):
    """Parts (and so buckets) of a few kilobytes: the sample file has about 300 of each."""
    monkeypatch.setattr(inparts, "PART_BYTES", 12 << 10)


def both(runner, path: str, tmp_path: Path, *extra: str) -> tuple[dict, dict, bytes, bytes]:
    """The --json summaries and call lists (every lapsed customer) of a scan with and without
    --low-memory."""
    out = []
    for mode in ((), ("--low-memory",)):
        target = tmp_path / f"calls{len(mode)}.csv"
        result = runner.invoke(
            app, ["scan", path, "--all", "--json", "--out", str(target), *extra, *mode]
        )
        assert result.exit_code == 0, result.output
        out.append((json.loads(result.stdout), target.read_bytes()))
    (whole, whole_list), (parts, parts_list) = out
    for summary in (whole, parts):
        summary["call_list"].pop("path", None)
    return whole, parts, whole_list, parts_list


@pytest.mark.parametrize("extra", [(), ("--customers", str(SAMPLE.with_name("customers.csv")))])
def test_low_memory_scan_gives_the_same_call_list_and_summary(runner, tmp_path, small_parts, extra):
    whole, parts, whole_list, parts_list = both(
        runner, str(SAMPLE), tmp_path, "--as-of", SAMPLE_AS_OF, *extra
    )
    assert parts_list == whole_list
    assert parts == whole
    assert whole["lapsed"]["eligible"] > 1000  # (a real list, not two empty ones)


def test_the_summary_is_the_whole_files_to_the_last_bit(small_parts):
    options = [ScanOptions(as_of=date(2026, 11, 23), low_memory=low) for low in (False, True)]
    whole, parts = (scan([str(SAMPLE)], o) for o in options)
    pd.testing.assert_frame_equal(parts.scores, whole.scores, check_exact=True)
    assert parts.model.to_dict() == whole.model.to_dict()


def test_summary_pieces_put_together_are_the_whole_summary(tmp_path):
    """Pieces split by customer (one of them empty), each summarised alone, kept on disk and put
    together: the whole file's summary, referrals across pieces counted."""
    orders = load_orders([str(SAMPLE)]).orders
    as_of = date(2026, 11, 23)
    whole = summarize(orders, as_of)
    codes = orders["customer_id"].cat.codes.to_numpy().astype(np.int64)
    pieces = SummaryPieces(str(tmp_path))
    for i in range(4):  # (no customer in the fourth)
        piece = orders[codes * 7919 % 3 == i].reset_index(drop=True)
        piece["customer_id"] = piece["customer_id"].cat.remove_unused_categories()
        pieces.add(summarize(piece, as_of))
    got = pieces.whole()
    pd.testing.assert_frame_equal(got.customers, whole.customers, check_exact=True)
    for name in ("orders_after_as_of", "customers_without_purchases", "has_amount", "has_margin"):
        assert getattr(got, name) == getattr(whole, name)
    assert whole.customers["referrals"].sum() > 10
    assert {stat.S_IMODE(os.stat(tmp_path / f).st_mode) for f in os.listdir(tmp_path)} == {0o600}


def orders_csv(rows: int, *, order_id: bool = True, extra: dict[int, str] | None = None) -> str:
    """``rows`` orders of 37 customers (a few lines each day), with lines replaced by ``extra``."""
    head = ("order_id," if order_id else "") + "customer_id,order_date,amount,name,phone,product"
    lines = [head]
    for i in range(rows):
        day = date(2024, 1, 1).toordinal() + i // 3
        cid = f"C{(i * 7) % 37:03d}"
        day_text = date.fromordinal(day).isoformat()
        line = (f"SP-{i}," if order_id else "") + f"{cid},{day_text},{10 + i % 90}.50,"
        line += f"Name {cid} {i // 400},+90532{i % 37:07d},P{i % 5}"
        lines.append(extra.get(i, line) if extra else line)
    return "\n".join(lines) + "\n"


def reports(path: str, as_of: date = date(2025, 6, 1), **import_options) -> tuple[dict, dict]:
    out = []
    for low in (False, True):
        result = scan(
            [path],
            ScanOptions(
                as_of=as_of,
                low_memory=low,
                import_options=_load.ImportOptions(as_of=as_of, **import_options),
            ),
        )
        out.append((result.report.to_dict(), result.line_counts, result.call_list.rows))
    (whole, whole_lines, whole_rows), (parts, parts_lines, parts_rows) = out
    assert parts_lines == whole_lines
    pd.testing.assert_frame_equal(parts_rows, whole_rows)
    return whole, parts


def test_skips_and_repeats_across_parts_are_counted_as_in_one_file(write, monkeypatch):
    monkeypatch.setattr(inparts, "PART_BYTES", 4 << 10)  # about 60 lines a part
    text = orders_csv(1500)
    lines = text.splitlines()
    lines[700] = lines[700].replace("2024-", "2024-13-")  # an invalid date in a later part
    lines[900] = lines[900].replace(".50,", ".5x,")  # and an invalid amount
    lines += [lines[5], lines[5], lines[1200], lines[30]]  # repeats of lines of earlier parts
    path = write("orders.csv", "\n".join(lines) + "\n")
    whole, parts = reports(path)
    assert whole["skipped_by_reason"] == {
        "invalid date": 1,
        "invalid amount": 1,
        "duplicate order line": 4,
    }
    assert parts == whole
    assert whole["skipped_examples"]["duplicate order line"] == [
        f"{path}:{n}" for n in (1502, 1503, 1504, 1505)
    ]


def test_repeats_without_an_order_id_are_kept_and_counted(write, monkeypatch):
    monkeypatch.setattr(inparts, "PART_BYTES", 4 << 10)
    lines = orders_csv(1200, order_id=False).splitlines()
    lines += [lines[3], lines[1000], lines[1000], lines[1100]]
    lines.insert(600, lines[600])  # a repeat within its part as well
    path = write("orders.csv", "\n".join(lines) + "\n")
    whole, parts = reports(path)
    assert whole["exact_duplicates"] == parts["exact_duplicates"] == 5
    assert parts["rows_used"] == whole["rows_used"] == 1205
    assert any("repeat a row of an earlier part" in w for w in parts["warnings"])


def test_a_quoted_line_break_is_never_cut(write, monkeypatch):
    monkeypatch.setattr(inparts, "PART_BYTES", 2 << 10)
    rows = orders_csv(400).splitlines()
    for i in range(
        20, 400, 9
    ):  # product names over two lines: those parts go to the thorough reader
        rows[i] = rows[i].rsplit(",", 1)[0] + ',"two\nlines"'
    path = write("orders.csv", "\n".join(rows) + "\n")
    whole, parts = reports(path)
    assert whole["rows_used"] == 400
    assert parts == whole


def test_cut_is_after_the_last_line_break_outside_quotes():
    data = b'a,b\n1,"x\n2,y\n'  # the last break is inside the quotes opened on line 2
    assert inparts._cut(memoryview(data), at_end=False) == (4, 1)
    assert inparts._cut(memoryview(b'1,"x\ny"\n2,z\n'), at_end=False) == (12, 3)
    assert inparts._cut(memoryview(b'1,"open\n'), at_end=False) == (0, 0)
    assert inparts._cut(memoryview(b"no break"), at_end=True) == (8, 0)


def test_a_decimal_comma_proven_early_holds_for_later_parts(write, monkeypatch):
    monkeypatch.setattr(inparts, "PART_BYTES", 4 << 10)
    text = orders_csv(1000).replace(".50,", ",50;").replace(",", ";").replace(";50;", ",50;")
    lines = text.splitlines()
    for i in range(600, 1000, 50):  # later parts: amounts that would be thousands with a comma
        cells = lines[i].split(";")
        cells[3] = "1.234"
        lines[i] = ";".join(cells)
    path = write("orders.csv", "\n".join(lines) + "\n")
    whole, parts = reports(path)
    assert whole["sources"][0]["formats"]["amount"].startswith("decimal comma")
    assert parts == whole


def test_amounts_with_a_point_in_one_part_and_a_comma_in_another_are_an_error(write, monkeypatch):
    monkeypatch.setattr(inparts, "PART_BYTES", 4 << 10)
    lines = orders_csv(1000).splitlines()
    for i in range(
        900, 1001
    ):  # the last part: amounts with a decimal comma, after parts with a point
        cells = lines[i].split(",")
        lines[i] = ",".join([*cells[:3], '"12,75"', *cells[4:]])
    path = write("orders.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputDataError, match="decimal comma and others a decimal point"):
        scan([path], ScanOptions(as_of=date(2025, 6, 1), low_memory=True))
    with pytest.raises(InputDataError, match="decimal comma and others a decimal point"):
        scan([path], ScanOptions(as_of=date(2025, 6, 1)))  # (as one file)


def test_a_file_not_read_in_parts_is_read_whole_and_says_so(write, small_parts):
    text = orders_csv(300).replace("Name", "Müşteri")
    path = write("orders.csv", text.encode("cp1254"))
    whole = scan([path], ScanOptions(as_of=date(2025, 6, 1)))
    parts = scan([path], ScanOptions(as_of=date(2025, 6, 1), low_memory=True))
    assert parts.report.warnings == [*whole.report.warnings, parts.report.warnings[-1]]
    assert "read whole, not in parts" in parts.report.warnings[-1]
    pd.testing.assert_frame_equal(parts.call_list.rows, whole.call_list.rows)


def test_nightly_runs_in_parts_decide_as_whole_runs(runner, tmp_path, small_parts, monkeypatch):
    """Cooldown, control group and the nightly diff read refunds and recent purchases: two nights
    of each kind, on the sample file and then with a week's new orders."""
    for var in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg"))
    runs = {}
    for mode in ((), ("--low-memory",)):
        state = tmp_path / f"state{len(mode)}.db"
        nights = []
        for as_of in ("2026-10-01", "2026-10-15"):
            out = tmp_path / f"calls{len(mode)}-{as_of}.csv"
            result = runner.invoke(
                app,
                [
                    "scan",
                    str(SAMPLE),
                    "--as-of",
                    as_of,
                    "--state",
                    str(state),
                    "--top",
                    "40",
                    "--out",
                    str(out),
                    "--json",
                    *mode,
                ],
            )
            assert result.exit_code == 0, result.output
            summary = json.loads(result.stdout)
            nights.append(
                (
                    out.read_bytes(),
                    summary["lapsed"],
                    summary["nightly"]["cooldown"],
                    summary["nightly"]["control_group"],
                    summary["nightly"]["diff"],
                )
            )
        runs[len(mode)] = nights
    assert runs[1] == runs[0]
    assert runs[0][1][2]["left_off"] > 0  # the second night had a cooldown to apply
    assert runs[0][1][4]["came_back"]["count"] > 0  # and customers who bought since the first


def test_bucket_is_the_same_for_an_id_wherever_it_is():
    names = ["Ayşe Yılmaz", "x"]  # noqa: RUF001 - a Turkish name
    ids = pa.array([f"{i:07d}" for i in range(20_000)] + names, type=pa.large_string())
    buckets = inparts._bucket(ids, 7)
    assert set(buckets) == set(range(7))
    assert np.bincount(buckets).min() > 20_000 / 7 * 0.8  # spread evenly
    sliced = inparts._bucket(ids.slice(15_000), 7)
    np.testing.assert_array_equal(sliced, buckets[15_000:])
    np.testing.assert_array_equal(
        inparts._bucket(ids.take(pa.array([20_000, 3, 20_001])), 7), buckets[[20_000, 3, 20_001]]
    )
    np.testing.assert_array_equal(inparts._bucket(ids.cast(pa.string()), 7), buckets)


def test_part_and_bucket_files_are_private_and_removed(write, small_parts, monkeypatch):
    seen = []
    load_one = _load._load_one

    def looking(path, *args, **kwargs):
        folder = os.path.dirname(path)
        seen.append(
            (
                stat.S_IMODE(os.stat(path).st_mode),
                stat.S_IMODE(os.stat(folder).st_mode),
                sorted(
                    stat.S_IMODE(os.stat(os.path.join(folder, f)).st_mode)
                    for f in os.listdir(folder)
                ),
                folder,
            )
        )
        return load_one(path, *args, **kwargs)

    monkeypatch.setattr(_load, "_load_one", looking)
    scan([str(SAMPLE)], ScanOptions(as_of=date(2026, 11, 23), low_memory=True))
    assert len(seen) > 100
    assert {(part, folder) for part, folder, _, _ in seen} == {(0o600, 0o700)}
    assert {mode for _, _, files, _ in seen for mode in files} == {0o600}
    assert max(len(files) for _, _, files, _ in seen) > 100  # the buckets, beside the part
    assert not os.path.exists(seen[0][3])  # all removed


def test_the_command_line_reads_nothing_ahead_for_a_file_read_in_parts(tmp_path):
    """--low-memory: the whole file is not parsed ahead while the command starts (winback.cli);
    without it, it is, for a file this large."""
    big = tmp_path / "orders.csv"
    head, *rows = SAMPLE.read_bytes().splitlines(keepends=True)
    big.write_bytes(head + b"".join(rows) * 12)  # over ahead.MIN_BYTES
    code = (
        "import sys; sys.argv = ['winback', 'scan', sys.argv[1], '--low-memory']\n"
        "import winback.cli as cli\nfrom winback.importer import ahead\n"
        "print(cli._IN_PARTS, len(ahead._started))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(big)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "0"]
    code = code.replace(", '--low-memory'", "")
    out = subprocess.run(
        [sys.executable, "-c", code, str(big)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "1"]


def test_a_file_that_would_not_fit_in_memory_is_read_in_parts_by_itself(
        runner, tmp_path, monkeypatch, small_parts):
    read = []
    real = inparts.read_in_parts
    monkeypatch.setattr(inparts, "read_in_parts", lambda *a: read.append(a[0]) or real(*a))
    out = {}
    for free in (64 << 30, 100 << 20):  # plenty; less than the sample's 22,000 lines would take
        monkeypatch.setattr(_memory, "available_memory", lambda free=free: free)
        target = tmp_path / f"calls-{free}.csv"
        result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--json",
                                     "--out", str(target)])
        assert result.exit_code == 0, result.output
        out[free] = (json.loads(result.stdout)["input"]["warnings"], target.read_bytes())
    assert read == [str(SAMPLE)]  # only the second run
    assert out[100 << 20][0][0].startswith("read a part at a time (as --low-memory does): read "
                                           "whole, the orders would need about 0.3 GB of memory "
                                           "and 0.1 GB is available.")
    assert out[100 << 20][0][1:] == out[64 << 30][0]
    assert out[100 << 20][1] == out[64 << 30][1]


def test_the_config_can_ask_for_a_read_in_parts(runner, tmp_path, monkeypatch, small_parts):
    read = []
    real = inparts.read_in_parts
    monkeypatch.setattr(inparts, "read_in_parts", lambda *a: read.append(a[0]) or real(*a))
    config = tmp_path / "winback.toml"
    config.write_text(f'[input]\nfiles = ["{SAMPLE.as_posix()}"]\nlow_memory = true\n',
                      encoding="utf-8")
    result = runner.invoke(app, ["scan", "--config", str(config), "--as-of", SAMPLE_AS_OF,
                                 "--no-state", "--quiet", "--out", str(tmp_path / "calls.csv")])
    assert result.exit_code == 0, result.output
    assert read == [str(SAMPLE)]


def test_what_reading_whole_would_need_against_what_is_available(tmp_path, monkeypatch):
    lines = tmp_path / "orders.csv"
    lines.write_bytes(b"id,date\n" + b"C1,2024-01-01\n" * 100_000)
    assert abs(_memory.lines_in(str(lines)) - 100_001) < 100  # (estimated from the file's head)
    need = _memory.WHOLE_BASE_BYTES + _memory.lines_in(str(lines)) * _memory.WHOLE_BYTES_PER_LINE
    monkeypatch.setattr(_memory, "available_memory", lambda: need + 1)
    assert _memory.too_large_to_read_whole([str(lines)]) is None
    monkeypatch.setattr(_memory, "available_memory", lambda: need - 1)
    both = [str(lines), str(tmp_path / "missing.csv")]  # (a missing file has no lines)
    assert _memory.too_large_to_read_whole(both) == (need, need - 1)
    monkeypatch.setattr(_memory, "available_memory", lambda: None)  # not known: read whole
    assert _memory.too_large_to_read_whole([str(lines)]) is None


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="Linux reports available memory")
def test_available_memory_is_read_once():
    first = _memory.available_memory()
    assert first is not None and first > 0
    kept = bytearray(64 << 20)  # (taken since: the answer stays)
    assert _memory.available_memory() == first
    del kept


def test_the_command_keeps_its_temporary_files_in_the_cache_folder(runner, tmp_path, monkeypatch,
                                                                   small_parts):
    """Not /tmp, which may be memory: the per-user cache folder (or TMPDIR), private, emptied."""
    folders = []
    load_one = _load._load_one
    monkeypatch.setattr(_load, "_load_one", lambda path, *a, **k: folders.append(
        os.path.dirname(path)) or load_one(path, *a, **k))
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--low-memory",
                                 "--quiet", "--out", str(tmp_path / "calls.csv")])
    assert result.exit_code == 0, result.output
    cache = tmp_path / "cache" / "winback"
    assert {Path(f).parent for f in folders} == {cache}
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700 and not list(cache.iterdir())
    monkeypatch.setenv("TMPDIR", str(tmp_path / "scratch"))
    folders.clear()
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--low-memory",
                                 "--quiet", "--out", str(tmp_path / "calls.csv")])
    assert result.exit_code == 0, result.output
    assert {Path(f).parent for f in folders} == {tmp_path / "scratch"}


def test_a_part_that_cannot_be_read_on_its_own_says_which_lines_and_what_to_do(write, monkeypatch):
    """Lines separated otherwise than the header, all in a part of their own: read whole, they are
    skipped as a footer; read on their own they have no header to go by."""
    monkeypatch.setattr(inparts, "PART_BYTES", 8 << 10)
    lines = orders_csv(600, order_id=False).splitlines()
    lines += [line.replace(",", ";") for line in lines[1:601]]
    path = write("orders.csv", "\n".join(lines) + "\n")
    whole = scan([path], ScanOptions(as_of=date(2025, 6, 1), import_options=_load.ImportOptions(
        max_skipped=0.6)))
    assert whole.report.skipped_by_reason == {"footer line": 600}
    with pytest.raises(InputDataError, match=r"orders.csv, lines \d+-\d+: read on their own "
                                             r"\(--low-memory .* --no-low-memory\.$"):
        scan([path], ScanOptions(as_of=date(2025, 6, 1), low_memory=True))


@pytest.mark.parametrize("error", [
    OSError(28, "No space left on device"),
    OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device"),
])  # (the second as Arrow says it, without an errno)
def test_a_full_disk_stops_the_run_with_what_to_do(runner, tmp_path, monkeypatch, error):
    def full(*args):
        raise error

    monkeypatch.setattr(inparts, "_write_private", full)
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--low-memory",
                                 "--quiet", "--out", str(tmp_path / "calls.csv")])
    assert result.exit_code == 5
    assert result.stderr.startswith(f"Error: no room left on the disk of {tmp_path / 'cache'}")
    assert "set TMPDIR to a folder on a disk with room" in result.stderr
    assert "bug" not in result.stderr
    assert not list((tmp_path / "cache" / "winback").iterdir())  # (the temporary folder removed)
    assert not (tmp_path / "calls.csv").exists()


IMPORT_CASES = sorted((Path(__file__).parent / "fixtures" / "import").iterdir())


@pytest.mark.parametrize("path", IMPORT_CASES, ids=[p.name for p in IMPORT_CASES])
@pytest.mark.parametrize("part", [300, 64])
def test_every_import_case_reads_the_same_in_small_parts(path, part, monkeypatch):
    """The catalogue of real-world exports (shared/import-cases.md), each in parts of a few lines
    where it can be read in parts: the same error, or the same rows, skips, line counts and list.
    Warnings and the notes that count rows are each part's (docs/input.md)."""
    monkeypatch.setattr(inparts, "PART_BYTES", part)
    out = []
    for low in (False, True):
        try:
            result = scan([str(path)], ScanOptions(as_of=date(2026, 11, 23), low_memory=low))
        except InputDataError as exc:
            out.append(("error", str(exc)))
            continue
        report = result.report.to_dict()
        for source in report["sources"]:
            source.pop("notes")
        out.append((report.pop("warnings"), report, result.line_counts, result.call_list.rows))
    (whole, *whole_rest), (parts, *parts_rest) = out
    if whole == "error":
        assert parts == "error" and parts_rest == whole_rest
        return
    assert parts_rest[:2] == whole_rest[:2]
    pd.testing.assert_frame_equal(parts_rest[2], whole_rest[2])
    if "read whole, not in parts" in (parts[-1] if parts else ""):
        assert parts[:-1] == whole
