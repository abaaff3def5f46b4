"""The importer on the everyday shapes of real exports (the full case list is tests/test_import_cases.py)."""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path

import pandas as pd
import pytest

from winback.errors import InputDataError, InputNotFoundError
from winback.importer import ImportOptions, load_orders

TURKISH = (
    "Müşteri No;Sipariş Tarihi;Tutar\r\n"
    "00042;03.01.2024;1.234,56\r\n"
    "00042;13.01.2024;99,90\r\n"
    "İ-7;01.02.2024;-250,00\r\n"
)


def load(path, **kw):
    return load_orders([path], ImportOptions(**kw))


def test_turkish_excel_cp1254(write):
    got = load(write("tr.csv", TURKISH, encoding="cp1254"))
    src = got.report.sources[0]
    assert src.encoding == "cp1254"
    assert src.delimiter == ";"
    assert got.report.columns == {"customer_id": "Müşteri No", "order_date": "Sipariş Tarihi", "amount": "Tutar"}
    o = got.orders
    assert o["customer_id"].tolist() == ["00042", "00042", "İ-7"]
    assert o["order_date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-03", "2024-01-13", "2024-02-01"]
    assert o["amount"].tolist() == [1234.56, 99.9, -250.0]
    assert o["kind"].tolist() == ["purchase", "purchase", "refund"]


def test_same_data_utf8_bom_and_cp1254_load_identically(write):
    a = load(write("a.csv", TURKISH, encoding="utf-8-sig")).orders
    b = load(write("b.csv", TURKISH, encoding="cp1254")).orders
    cols = ["customer_id", "order_date", "amount", "kind"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_russian_cp1251_headers(write):
    text = "Клиент;Дата;Сумма\n1001;03.01.2024;1 234,50 руб.\n1002;04.01.2024;99,00 руб.\n"
    got = load(write("ru.csv", text, encoding="cp1251"))
    assert got.report.sources[0].encoding == "cp1251"
    assert got.orders["amount"].tolist() == [1234.5, 99.0]
    assert got.report.currency == "RUB"


def test_gzip_detected_by_content(write):
    path = write("orders.bin", gzip.compress("customer,date,amount\nA,2024-01-02,5\n".encode()))
    assert load(path).orders["customer_id"].tolist() == ["A"]


def test_skips_are_counted_with_lines(write):
    text = (
        "Sipariş Raporu;01.01.2024 - 31.01.2024\n"
        "\n"
        "Müşteri No;Sipariş Tarihi;Tutar\n"
        "1;03.01.2024;10,00\n"
        ";04.01.2024;5,00\n"
        "2;31.02.2024;5,00\n"
        "\n"
        "Müşteri No;Sipariş Tarihi;Tutar\n"
        "3;05.01.2024;7,50\n"
        "Toplam;;22,50\n"
    )
    got = load(write("x.csv", text), max_skipped=1.0)
    rep = got.report
    assert got.orders["customer_id"].tolist() == ["1", "3"]
    assert rep.skipped_by_reason == {
        "blank line": 1, "repeated header": 1, "totals row": 1, "empty customer id": 1, "invalid date": 1,
    }
    assert rep.rows_read == rep.rows_used + rep.rows_skipped
    assert "x.csv:6" in rep.skipped_examples["invalid date"][0]
    assert any("title line" in w for w in rep.warnings)


def test_too_many_bad_rows_fail(write):
    text = "customer,date,amount\n" + "".join(f"{i},not a date,1\n" for i in range(10)) + "A,2024-01-01,1\n"
    with pytest.raises(InputDataError, match="more than the 5% allowed; most often 'invalid date'"):
        load(write("bad.csv", text))


def test_missing_required_column_lists_headers_and_map(write):
    with pytest.raises(InputDataError) as err:
        load(write("m.csv", "Cari;Tarih;Tutar\nA;01.01.2024;5\n"))
    msg = str(err.value)
    assert "no customer id column found" in msg
    assert "'Cari', 'Tarih', 'Tutar'" in msg
    assert "--map customer_id=COLUMN" in msg


def test_map_overrides(write):
    got = load(write("m.csv", "Cari;Tarih;Tutar\nA;01.01.2024;5\n"), mapping={"customer_id": "Cari"})
    assert got.orders["customer_id"].tolist() == ["A"]
    got = load(write("m2.csv", "Cari;Tarih;Tutar\nA;01.01.2024;5\n"), mapping={"customer_id": "1"})
    assert got.orders["customer_id"].tolist() == ["A"]


def test_duplicate_amount_columns_are_an_error(write):
    with pytest.raises(InputDataError, match="could both be the amount.*--map amount="):
        load(write("d.csv", "customer;date;Tutar;Tutar\nA;2024-01-01;5;6\n"))


def test_ambiguous_slash_dates_name_the_option(write):
    with pytest.raises(InputDataError, match="--date-format"):
        load(write("d.csv", "customer,date,amount\nA,01/02/2024,5\nB,03/04/2024,6\n"))
    got = load(write("e.csv", "customer,date,amount\nA,01/02/2024,5\nB,13/04/2024,6\n"))
    assert got.orders["order_date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-02-01", "2024-04-13"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\n\n   \n", "empty"),
        (b"PK\x03\x04" + b"\x00" * 40, "zip"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 40, "Excel"),
    ],
)
def test_unusable_files_are_clear_errors(write, content, message):
    with pytest.raises(InputDataError, match=message):
        load(write("f.csv", content))


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFoundError, match="no such file"):
        load(str(tmp_path / "nope.csv"))


def test_xlsx_rows_with_empty_last_cells_are_complete(tmp_path):
    """Excel stores no cell for an empty trailing column: such rows are not ragged."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Müşteri No", "Sipariş Tarihi", "Tutar", "Referans Müşteri"])
    ws.append(["00042", "03.01.2024", 10.5, None])
    ws.append(["00043", "04.01.2024", 20, "00042"])
    ws.append(["00044", "05.01.2024", 30, None])
    path = tmp_path / "orders.xlsx"
    wb.save(path)
    got = load(str(path))
    assert got.report.rows_skipped == 0
    assert got.orders["customer_id"].tolist() == ["00042", "00043", "00044"]
    assert got.orders["referred_by"].tolist() == ["", "00042", ""]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_a_pipe_is_read_whole(tmp_path):
    """`winback scan <(zcat orders.csv.gz)` hands over a pipe, which can be read only once: every row
    is read from it, as from the same bytes in a file (the fast reader opens a file twice: once for
    its layout, once to parse it)."""
    sample = Path(__file__).resolve().parents[1] / "sample_data" / "orders.csv"
    fifo = tmp_path / "orders.pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(sample.read_bytes()), daemon=True)
    got: list = []

    def read() -> None:
        try:
            got.append(load(str(fifo)))
        except Exception as exc:  # noqa: BLE001 (shown by the assertion below)
            got.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    writer.start()
    reader.start()
    reader.join(timeout=60)
    if reader.is_alive():  # waiting for a second writer that never comes: let it finish, then fail
        fifo.write_bytes(b"")
        reader.join(timeout=10)
    assert got, "still reading after 60 s: the pipe was opened a second time, after its writer had gone"
    piped = got[0]
    assert not isinstance(piped, Exception), piped
    whole = load(str(sample))
    assert piped.report.rows_read == whole.report.rows_read > 20_000
    pd.testing.assert_frame_equal(piped.orders.drop(columns="source"), whole.orders.drop(columns="source"),
                                  check_categorical=False)


def test_work_meanwhile_runs_once_on_the_calling_thread_beside_the_fast_reader(write):
    """The caller's work for the wait on the fast reader's id thread (the pipeline starts the
    models' import there) runs once, on the calling thread, however many files are read, and
    changes nothing read; the thorough reader has no such wait and does not run it."""
    sample = str(Path(__file__).resolve().parents[1] / "sample_data" / "orders.csv")
    calls: list[threading.Thread] = []
    both = load_orders([sample, sample], ImportOptions(),
                       meanwhile=lambda: calls.append(threading.current_thread()))
    assert calls == [threading.current_thread()]
    plain = load_orders([sample, sample], ImportOptions())
    pd.testing.assert_frame_equal(both.orders, plain.orders)
    assert both.report.rows_used == plain.report.rows_used > 20_000

    calls.clear()
    load_orders([write("tr.csv", TURKISH, encoding="cp1254")], ImportOptions(),
                meanwhile=lambda: calls.append(threading.current_thread()))
    assert calls == []
