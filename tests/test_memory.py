"""How the command's process holds memory (winback._memory)."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from winback._memory import keep_freed_memory, use_one_malloc_arena


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError):
        return False


# Imports the command line, lets three threads allocate at once, and prints glibc's arena statistics
# (one "Arena N:" block per arena) on stderr.
_ARENAS = """
import ctypes, threading
import winback.cli
import numpy as np
kept, ready = [], threading.Barrier(3)
def work():
    ready.wait()
    kept.append(np.ones(20_000))
    ready.wait()
threads = [threading.Thread(target=work) for _ in range(3)]
for thread in threads: thread.start()
for thread in threads: thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(env: dict[str, str]) -> int:
    done = subprocess.run([sys.executable, "-c", _ARENAS], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


@pytest.mark.skipif(not _glibc(), reason="the arena setting is glibc's")
def test_the_command_line_serves_every_thread_from_one_arena():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX" and k != "GLIBC_TUNABLES"}
    assert _arenas(env) == 1
    # The user's own setting is kept: with it, the same threads get arenas of their own.
    assert _arenas({**env, "MALLOC_ARENA_MAX": "4"}) > 1


def test_the_users_own_arena_setting_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert use_one_malloc_arena() is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=3")
    assert use_one_malloc_arena() is False


# Imports the command line, makes and frees an array of 100 MB, and prints glibc's statistics on
# stderr: the heap's size ("system bytes") and the most bytes ever in mappings of their own.
_LARGE_ARRAY = """
import ctypes
import winback.cli
import numpy as np
array = np.ones(100_000_000 // 8)
del array
ctypes.CDLL(None).malloc_stats()
"""


def _large_array(env: dict[str, str]) -> tuple[int, int]:
    """(the heap's bytes, the most bytes in mappings of their own) after :data:`_LARGE_ARRAY`."""
    done = subprocess.run([sys.executable, "-c", _LARGE_ARRAY], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    numbers = [line.split("=") for line in done.stderr.splitlines() if "=" in line]
    heap = next(int(value) for name, value in numbers if name.strip() == "system bytes")
    mapped = next(int(value) for name, value in numbers if name.strip() == "max mmap bytes")
    return heap, mapped


@pytest.mark.skipif(not _glibc(), reason="the settings are glibc's")
def test_the_command_line_keeps_a_freed_large_array_for_reuse():
    env = {k: v for k, v in os.environ.items()
           if k not in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}
    heap, mapped = _large_array(env)
    assert heap >= 100_000_000 > mapped  # from the heap, and still held there once freed
    # The user's own setting is kept: with it, the array has a mapping of its own again.
    heap, mapped = _large_array({**env, "MALLOC_MMAP_MAX_": "65536"})
    assert mapped >= 100_000_000 > heap


def test_the_users_own_mapping_and_trimming_settings_are_left_alone(monkeypatch):
    for variable in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.setenv(variable, "65536")
        assert keep_freed_memory() is False
        monkeypatch.delenv(variable)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000")
    assert keep_freed_memory() is False


def test_lines_in_estimates_a_text_files_lines_and_is_zero_for_anything_else(tmp_path):
    from winback._memory import lines_in

    text = tmp_path / "orders.csv"
    text.write_bytes(b"customer_id,order_date,amount\n" + b"C1,2024-01-02,10.5\n" * 50_000)
    assert 50_001 * 0.95 <= lines_in(str(text)) <= 50_001 * 1.05
    zipped = tmp_path / "orders.xlsx"
    zipped.write_bytes(b"PK\x03\x04" + b"\n" * 1000)
    gzipped = tmp_path / "orders.csv.gz"
    gzipped.write_bytes(b"\x1f\x8b" + b"\n" * 1000)
    binary = tmp_path / "state.db"
    binary.write_bytes(b"SQLite format 3\x00" + b"\n" * 1000)
    for path in (zipped, gzipped, binary, tmp_path / "missing.csv", tmp_path):
        assert lines_in(str(path)) == 0


# Imports the command line with the arguments of a scan given to it, waits for the thread that
# makes memory ready, and prints whether there was one, and glibc's statistics on stderr.
_WARM = """
import ctypes, sys
sys.argv = ["winback", "scan", *sys.argv[1:]]
import winback.cli
if winback.cli._warming is not None:
    winback.cli._warming.join()
print(int(winback.cli._warming is not None))
ctypes.CDLL(None).malloc_stats()
"""


@pytest.mark.skipif(not _glibc(), reason="the settings are glibc's")
def test_memory_for_a_large_input_is_made_ready_while_the_command_starts(tmp_path):
    from winback._memory import WARM_BYTES_PER_LINE, WARM_MIN_BYTES

    lines = WARM_MIN_BYTES // WARM_BYTES_PER_LINE * 3 // 2
    large, small = tmp_path / "large.csv", tmp_path / "small.csv"
    large.write_bytes(b"1\n" * lines)
    small.write_bytes(b"1\n" * 1000)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}
    for arguments, threads in (([large, "--out", small], 1), ([f"--customers={large}"], 1),
                               ([small], 0), ([small, "--log", large, f"--state={large}"], 0)):
        done = subprocess.run([sys.executable, "-c", _WARM, *map(str, arguments)], env=env,
                              capture_output=True, text=True, timeout=120, check=True)
        assert int(done.stdout) == threads
        heap = next(int(line.split("=")[1]) for line in done.stderr.splitlines()
                    if line.split("=")[0].strip() == "system bytes")
        # The memory was written and freed into the heap, which keeps it for the arrays to come.
        assert (heap >= lines * WARM_BYTES_PER_LINE) == bool(threads)


#: The sample's status of a completed order, in Turkish (with a dotless i).
COMPLETED = "Tamamland\u0131"


def _two_nights(tmp_path, keep_orders: bool, products: bool):
    """Two nightly scans of the sample, 19 days apart (within the cooldown), the second with the
    first's assignments and lapsed customers as its history. Between the two, three of the
    customers called on the first night book a refund and three others who had lapsed buy again
    (lines added to the sample, dated the day after the first night; a refund and a purchase after
    the second night too). Without ``products`` the file has no product column."""
    from datetime import date
    from pathlib import Path

    from winback.nightly import History, NightlyOptions
    from winback.pipeline import ScanOptions, scan
    from winback.state import ASSIGNMENT_COLUMNS

    data = Path(__file__).resolve().parents[1] / "sample_data"
    first_day, second_day = date(2025, 6, 1), date(2025, 6, 20)

    def options(day: date) -> ScanOptions:
        return ScanOptions(as_of=day, top=300, customers_path=str(data / "customers.csv"),
                           nightly=NightlyOptions(), keep_orders=keep_orders)

    orders = tmp_path / "orders.csv"  # the same path in both runs: the run summaries name it
    text = (data / "orders.csv").read_text(encoding="utf-8-sig")
    if not products:  # the fourth column, "Ürün"
        text = "".join(";".join(f for i, f in enumerate(line.split(";")) if i != 3)
                       for line in text.splitlines(True))
    orders.write_text(text, encoding="utf-8")
    nobody = History(pd.DataFrame(columns=ASSIGNMENT_COLUMNS))
    first = scan([str(orders)], options(first_day), nobody)
    assert first.night is not None
    called = first.night.assignments.loc[first.night.assignments["arm"] == "called", "customer_id"]
    refunded = list(called[:3])
    buyers = [c for c in first.night.lapsed.to_pylist() if c not in set(called)][:3]
    with orders.open("a", encoding="utf-8") as fh:
        for n, cid in enumerate(refunded + buyers):
            sign, status = ("-", "İade") if cid in refunded else ("", COMPLETED)
            product = "Süt Tozu 1 kg;" if products else ""
            fh.write(f"SP-T{n};{cid};02.06.2025;{product}{sign}1;{sign}10,00;{sign}8,00;{status};"
                     "Elif Kaya;\r\n")
        # After the second night: neither night may read it.
        product = "Gelecek Ürün;" if products else ""
        fh.write(f"SP-T9;{refunded[0]};01.07.2025;{product}-1;-10,00;-8,00;İade;Elif Kaya;\r\n")
        fh.write(f"SP-T10;{refunded[0]};01.07.2025;{product}1;10,00;8,00;{COMPLETED};Elif Kaya;\r\n")
    assigned = first.night.assignments.assign(list_date=pd.Timestamp(first_day))[ASSIGNMENT_COLUMNS]
    history = History(assigned, first_day, first.night.lapsed)
    second = scan([str(orders)], options(second_day), history)
    return (first, second), refunded, buyers


@pytest.mark.parametrize("products", [True, False])
def test_a_scan_lets_go_of_the_orders_and_decides_as_if_it_had_kept_them(tmp_path, products):
    """Without keep_orders the scan keeps only the orders the call list and the nightly steps read
    (the orders' other columns and rows are freed before scoring): the lists, the last products,
    the cooldown and the nightly diff are the same as when those steps read every order
    (keep_orders)."""
    lean, refunded, buyers = _two_nights(tmp_path, False, products)
    kept = _two_nights(tmp_path, True, products)[0]
    for a, b in zip(lean, kept, strict=True):
        assert a.orders is None
        lines = sum(b.line_counts[kind] for kind in ("purchase", "refund", "cancelled"))
        assert len(b.orders) == lines > 2_000
        pd.testing.assert_frame_equal(a.call_list.rows, b.call_list.rows)
        assert a.to_dict("x") == b.to_dict("x")
        assert a.night.cooldown == b.night.cooldown and a.night.relisted == b.night.relisted
        pd.testing.assert_frame_equal(a.night.assignments, b.night.assignments)
    # The second night read the orders it kept: products to list, refunds that put customers called
    # on the first night back on the list, purchases of customers who came back.
    second = lean[1]
    assert (second.call_list.rows["last_products"] != "").all() == products
    assert set(refunded) <= set(second.night.relisted)
    assert set(buyers) <= set(second.night.diff.came_back.to_pylist())
