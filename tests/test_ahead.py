"""Reading ahead: the orders file parsed while the command line starts is used only when it is the
very parse the fast reader asks for, of the file as it is."""

from __future__ import annotations

import json
import subprocess
import sys
import weakref
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import winback.importer.fast as fast
from winback.importer import ImportOptions, ahead, load, load_orders

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def orders(tmp_path, monkeypatch):
    """An orders file (a column without a role too) that counts as large here."""
    monkeypatch.setattr(ahead, "MIN_BYTES", 0)
    lines = ["order_id,customer_id,order_date,amount,note"]
    lines += [f"S{i},{i % 97},2024-{1 + i % 12:02d}-{1 + i % 28:02d},{i % 50}.{i % 10}5,x{i % 3}"
              for i in range(3000)]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    yield path
    ahead.forget()


@pytest.fixture
def parses(monkeypatch):
    """The fast reader's own parses of a file (not those made ahead)."""
    made = []
    real = fast.read_columns

    def spy(*args):
        made.append(args)
        return real(*args)

    monkeypatch.setattr(fast, "read_columns", spy)
    return made


def _load(path, **options):
    return load_orders([str(path)], ImportOptions(as_of=date(2025, 1, 1), **options))


def test_the_parse_made_ahead_is_the_one_the_fast_reader_uses(orders, parses):
    expected = _load(orders)
    assert len(parses) == 1
    ahead.start([str(orders)]).join()
    got = _load(orders)
    assert len(parses) == 1  # not parsed again
    pd.testing.assert_frame_equal(got.orders, expected.orders, check_exact=True)
    assert got.report.to_dict() == expected.report.to_dict()
    assert not ahead._started


def test_the_table_taken_is_let_go_when_the_reader_is_done_with_it(orders, monkeypatch):
    """The fast reader frees the parse's table once it has its columns (about 1 GB at ten million
    orders): a table taken from the read ahead must not be held beyond that either."""
    tables, alive = [], []
    real_take, real_finish = ahead.take, fast._finish

    def take(*args):
        got = real_take(*args)
        tables.append(weakref.ref(got[0]))
        return got

    def finish(*args, **kwargs):
        alive.append(tables[0]() is not None)
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(ahead, "take", take)
    monkeypatch.setattr(fast, "_finish", finish)
    ahead.start([str(orders)]).join()
    _load(orders)
    assert alive == [False]


def test_another_parse_is_not_taken(orders, parses):
    """--map gives the note a role: the fast reader parses a column more than was guessed."""
    expected = _load(orders, mapping={"product": "note"})
    ahead.start([str(orders)]).join()
    got = _load(orders, mapping={"product": "note"})
    assert len(parses) == 2
    pd.testing.assert_frame_equal(got.orders, expected.orders, check_exact=True)
    assert not ahead._started


def test_a_file_changed_after_the_parse_is_read_again(orders, parses):
    ahead.start([str(orders)]).join()
    with orders.open("a", encoding="utf-8") as fh:
        fh.write("S9999,5000,2024-06-01,10.00,y\n")
    got = _load(orders)
    assert len(parses) == 1
    assert len(got.orders) == 3001 and "5000" in set(got.orders["customer_id"])


def test_a_file_the_fast_reader_does_not_read_is_let_go_before_it_is_read(orders, parses,
                                                                          monkeypatch):
    held = []
    real = load._read_rows
    monkeypatch.setattr(load, "_read_rows", lambda *a: held.append(len(ahead._started)) or real(*a))
    ahead.start([str(orders)]).join()
    assert ahead._started
    _load(orders, encoding="utf-8")  # a named encoding: the thorough reader reads the file
    assert not parses and held == [0]


@pytest.mark.parametrize(("header", "row"), [
    ("customer_id,name,phone", "1,Ayşe,+905551234567"),  # a customers file: no order date
    ("customer_id,order_date,amount,currency", "1,2024-01-02,10.5,TRY"),  # the thorough reader's
])
def test_what_the_fast_reader_would_not_parse_is_passed_over(orders, tmp_path, header, row):
    path = tmp_path / "file.csv"
    path.write_text(header + "\n" + (row + "\n") * 50, encoding="utf-8")
    assert ahead.start([str(path)]) is None and not ahead._started
    ahead.start([str(path), str(orders)]).join()  # (the customers file named first, say)
    assert next(iter(ahead._started.values())).key is not None


def test_the_read_ahead_needs_no_pandas():
    """It starts before pandas is imported: importing it must not import pandas."""
    code = "import sys, winback.importer.ahead; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(SRC), "PATH": ""})
    assert done.stdout.strip() == "False"


def _started_by_the_command_line(argv: list[str]) -> int:
    """How many files ``winback <argv>`` starts reading ahead, in a fresh interpreter."""
    code = ("import json, sys; import winback.importer.ahead as a; a.MIN_BYTES = 0; "
            f"sys.argv = ['winback', *{argv!r}]; import winback.cli; "
            "print(json.dumps(len(a._started)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(SRC), "PATH": ""})
    return json.loads(done.stdout)


def test_the_command_line_reads_ahead_for_commands_that_read_orders(orders):
    assert _started_by_the_command_line(["scan", str(orders), "--quiet"]) == 1
    assert _started_by_the_command_line(["backtest", "--as-of=2025-01-01", str(orders)]) == 1
    assert _started_by_the_command_line(["scan", str(orders), "--encoding", "cp1254"]) == 0
    assert _started_by_the_command_line(["scan", "--no-header", str(orders)]) == 0
    assert _started_by_the_command_line(["mark", str(orders)]) == 0
    assert _started_by_the_command_line(["scan", "-o", str(orders)]) == 0  # a file it writes
