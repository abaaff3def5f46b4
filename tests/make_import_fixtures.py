"""Write the importer's case fixtures (tests/fixtures/import/) deterministically.

One or more small files per case of ../shared/import-cases.md, named ``caseNN_what.ext``. Run it
after changing a fixture and review the diff:

    python tests/make_import_fixtures.py
"""

from __future__ import annotations

import gzip
import io
import random
import re
import zipfile
from datetime import datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent / "fixtures" / "import"
FIXED_TIME = (2024, 1, 1, 0, 0, 0)

TR_HEADER = "Müşteri No;Sipariş Tarihi;Tutar"
TR_ROWS = [
    "00042;03.01.2024;1.234,56",
    "00042;13.01.2024;99,90",
    "İ-7;01.02.2024;-250,00",
]


def lines(*rows: str, end: str = "\n") -> str:
    return "".join(r + end for r in rows)


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=FIXED_TIME), data)
    return buf.getvalue()


def xlsx_bytes() -> bytes:
    """A two-sheet workbook: a notes sheet first would be wrong, so orders first, returns second."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Siparişler"
    ws.append(["Müşteri No", "Sipariş Tarihi", "Tutar"])
    ws.append(["00042", datetime(2024, 1, 3), 1234.56])
    ws.append([1001, datetime(2024, 1, 13, 14, 30), 99.9])
    ws.append(["İ-7", "01.02.2024", -250])
    other = wb.create_sheet("İadeler")
    other.append(["Müşteri No", "Sipariş Tarihi", "Tutar"])
    other.append(["00042", datetime(2024, 3, 1), -20])
    wb.properties.created = wb.properties.modified = datetime(2024, 1, 1)
    buf = io.BytesIO()
    wb.save(buf)
    # Re-pack with fixed entry times so the bytes do not depend on when this script runs.
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    members = {name: src.read(name) for name in src.namelist()}
    members["docProps/core.xml"] = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2024-01-01T00:00:00Z",
                                          members["docProps/core.xml"])
    return zip_bytes(members)


def parquet_bytes() -> bytes:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.DataFrame({
        "customer_id": ["007", "8", "007"],
        "order_date": pd.to_datetime(["2024-01-03", "2024-02-10", "2024-03-01"]),
        "amount": [100.5, 20.0, -5.25],
    })
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf)
    return buf.getvalue()


def fixtures() -> dict[str, bytes]:
    f: dict[str, str | bytes] = {}
    # Bytes, encoding, container
    f["case01_empty.csv"] = b""
    f["case02_blank_lines.csv"] = b"\n   \n\t\n\n"
    f["case03_header_only.csv"] = "customer_id,order_date,amount\n"
    f["case04_utf8_bom.csv"] = b"\xef\xbb\xbf" + lines(TR_HEADER, *TR_ROWS, end="\r\n").encode()
    cp1254 = lines(
        "Müşteri;Sipariş Tarihi;Tutar;Ürün",
        "1001;03.01.2024;150,00;Şeker küp 5 kg",
        "1002;04.01.2024;89,90;Çay Rize ğ",
        "1003;05.01.2024;1.200,00;Işıklı İğne seti",
        "1001;06.01.2024;45,50;Süt tozu",
        end="\r\n",
    )
    f["case05_cp1254.csv"] = cp1254.encode("cp1254")
    f["case05_undecidable.csv"] = b"customer;date;amount;note\n1001;2024-01-03;1;\x80\x99\xa9\xae\xb0\xb6\xbb\xab\n"
    f["case06_cp1251.csv"] = lines(
        "Клиент;Дата;Сумма;Товар",
        "1001;03.01.2024;1 234,50;Сахар рафинад",
        "1002;04.01.2024;99,00;Чай чёрный",
        "1003;05.01.2024;10,00;Кофе молотый",
        end="\r\n",
    ).encode("cp1251")
    f["case07_utf16.txt"] = b"\xff\xfe" + lines(
        "Müşteri No\tSipariş Tarihi\tTutar", "1001\t03.01.2024\t10,50", "1002\t04.01.2024\t20,00", end="\r\n",
    ).encode("utf-16-le")
    f["case08_bad_byte.csv"] = (
        lines(TR_HEADER, "1001;03.01.2024;10,00").encode()
        + b"1002;04.01.2024;5,00;\xfe\n"
        + lines("1003;05.01.2024;7,00").encode()
    )
    plain = lines("customer_id,order_date,amount", "A1,2024-01-02,5.00", "A2,2024-01-03,7.50").encode()
    f["case09_orders.csv.gz"] = gzip_bytes(plain)
    f["case09_gzip_without_extension.csv"] = gzip_bytes(plain)
    f["case09_one_csv.zip"] = zip_bytes({"orders.csv": plain})
    f["case09_two_files.zip"] = zip_bytes({"a.csv": plain, "b.csv": plain})
    f["case10_workbook_named.csv"] = xlsx_bytes()
    f["case10_orders.xlsx"] = xlsx_bytes()
    f["case10_old_excel.csv"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    f["case10_binary.csv"] = b"customer_id,order_date\x00\x00\x01\x02\x00amount\n" + bytes(range(256))
    f["case10_orders.parquet"] = parquet_bytes()

    # Dialect and structure
    f["case11_semicolon_decimal_comma.csv"] = lines(
        "customer;date;amount", "1001;03.01.2024;1.234,56", "1002;04.01.2024;5,00", "1003;05.01.2024;12.000,00",
    )
    f["case12_tab.txt"] = lines("customer\tdate\tamount", "1001\t2024-01-03\t10.5", "1002\t2024-01-04\t3")
    f["case12_whitespace.txt"] = lines(
        "customer   date         amount", "1001       2024-01-03   10.5", "1002       2024-01-04   3",
    )
    f["case12_pipe.txt"] = lines("customer|date|amount", "1001|2024-01-03|10.5", "1002|2024-01-04|3")
    f["case13_preamble.csv"] = lines(
        "Sipariş Raporu;01.01.2024 - 31.01.2024", "", TR_HEADER, *TR_ROWS,
    )
    body = lines(TR_HEADER, "1001;03.01.2024;10.000,00", "1002;04.01.2024;20.250,00")
    f["case14_totals_tr.csv"] = body + "Toplam;;30.250,00\n"
    f["case14_totals_ru.csv"] = lines("Клиент;Дата;Сумма", "1001;03.01.2024;10,00", "1002;04.01.2024;20,00",
                                      "Итого;;30,00")
    f["case14_totals_az.csv"] = lines("Müştəri;Tarix;Məbləğ", "1001;03.01.2024;10,00", "1002;04.01.2024;20,00",
                                      "Cəmi:;;30,00")
    f["case14_totals_hy.csv"] = lines("Հաճախորդ;Ամսաթիվ;Գումար", "1001;03.01.2024;10,00",
                                      "1002;04.01.2024;20,00", "Ընդամենը;;30,00")
    f["case14_totals_en.csv"] = lines("customer,date,amount", "1001,2024-01-03,10", "1002,2024-01-04,20",
                                      "Grand Total,,30")
    f["case14_sum_without_label.csv"] = body + ";;30.250,00\n"
    f["case14_1c_footer.csv"] = body + "\nОтчет сформирован 1С:Предприятие 8.3\n"
    f["case15_repeated_header.csv"] = lines(TR_HEADER, *TR_ROWS[:2], TR_HEADER, TR_ROWS[2])
    f["case16_summary_block.csv"] = lines(
        "Özet;", "Toplam Sipariş;3", "Toplam Tutar;1.084,46", "", TR_HEADER, *TR_ROWS,
    )
    f["case16_two_order_tables.csv"] = lines(
        TR_HEADER, *TR_ROWS, "", "Cari Kod;Müşteri;Tarih;Tutar", "C1;1001;03.01.2024;5,00",
    )
    f["case17_trailing_delimiter.csv"] = lines(TR_HEADER + ";", *(r + ";" for r in TR_ROWS))
    f["case17_trailing_on_data_only.csv"] = lines(TR_HEADER, *(r + ";" for r in TR_ROWS))
    f["case18_ragged.csv"] = lines(
        "customer;date;amount;product;status;owner",
        "1001;2024-01-03;10,00;Çay;ok;Ali",
        "1002;2024-01-04;20,00;Şeker;ok",
        "1003;2024-01-05;30,00;Süt; 1 kg;ok;Ayşe",
        "1004;2024-01-06;40,00;Un;ok;Ali",
    )
    f["case19_quoted_newlines.csv"] = lines(
        "customer,date,amount,note",
        '1001,2024-01-03,10.00,"first line',
        'second line"',
        '1002,2024-01-04,,"a, b"',
        "1003,2024-01-05,x,plain",
    )
    f["case20_inch_quote.csv"] = lines(
        "customer;date;amount;product",
        '1001;2024-01-03;10,00;15" monitor',
        '1002;2024-01-04;20,00;"15" monitor"',
        '1003;2024-01-05;30,00;27" monitor; stand',
    )
    f["case21_unclosed_quote.csv"] = lines(
        "customer,date,amount,product",
        "1001,2024-01-03,10.00,tea",
        '1002,2024-01-04,20.00,"sugar',
        "1003,2024-01-05,30.00,milk",
        "1004,2024-01-06,40.00,flour",
    )
    f["case22_line_endings.csv"] = b"customer,date,amount\r1001,2024-01-03,1\r\n1002,2024-01-04,2\n1003,2024-01-05,3\r"
    f["case23_blank_and_empty_rows.csv"] = lines(
        "customer;date;amount", "1001;2024-01-03;1", "", "1002;2024-01-04;2", ";;", "1003;2024-01-05;3", "", "",
    )

    # Header and column mapping
    f["case24_tr_upper.csv"] = lines("MÜŞTERİ NO;SİPARİŞ TARİHİ;TUTAR", "1001;03.01.2024;10,00")
    f["case24_ru.csv"] = lines("Клиент;Дата заказа;Сумма", "1001;03.01.2024;10,00")
    f["case24_az.csv"] = lines("Müştəri;Tarix;Məbləğ", "1001;03.01.2024;10,00")
    f["case24_hy.csv"] = lines("Հաճախորդ;Ամսաթիվ;Գումար", "1001;03.01.2024;10,00")
    f["case25_no_customer_column.csv"] = lines("Cari;Tarih;Tutar", "A;03.01.2024;5,00")
    f["case26_duplicate_columns.csv"] = lines("Müşteri No;Tarih;Tutar;Tutar", "1001;03.01.2024;10,00;11,80")
    f["case27_blank_header_cell.csv"] = lines("customer;date;;amount", "1001;2024-01-03;x;10,00")
    f["case27_no_header.csv"] = lines("1001;03.01.2024;10,00", "1002;04.01.2024;20,00")
    f["case28_two_header_rows.csv"] = lines(
        "Müşteri;Sipariş;", ";Tarih;Tutar", "1001;03.01.2024;10,00", "1002;04.01.2024;20,00",
    )

    # Customer ids
    f["case29_blank_id.csv"] = lines("customer,date,amount", "1001,2024-01-03,1", " ,2024-01-04,2",
                                     *(f"{1002 + i},2024-01-05,3" for i in range(20)))
    f["case30_numeric_ids.csv"] = lines(
        "customer;date;amount", "007;2024-01-03;1", "12345678901234567890;2024-01-04;2",
        "+905321234567;2024-01-05;3", "1,23457E+15;2024-01-06;4",
    )
    f["case31_id_variants.csv"] = lines(
        "customer;date;amount", "  C-001 ;2024-01-03;1", "C-001\u00a0;2024-01-04;2", "c-001;2024-01-05;3",
        "C\u00a0 002;2024-01-06;4",
    )

    # Dates
    f["case32_ddmmyyyy.csv"] = lines("customer;date;amount", "1;03.01.2024;1", "2;13.01.2024;1")
    f["case33_ambiguous_slash.csv"] = lines("customer,date,amount", "1,01/02/2024,1", "2,03/04/2024,1")
    f["case33_decided_slash.csv"] = lines("customer,date,amount", "1,01/02/2024,1", "2,03/14/2024,1")
    f["case34_mixed_formats.csv"] = lines("customer;date;amount", "1;03.01.2024;1", "2;2024-01-05;1",
                                          "3;20240107;1")
    f["case35_excel_serials.csv"] = lines("customer;date;amount", "1;45292;1", "2;03.01.2024;1", "3;12345;1",
                                          *(f"{4 + i};45300;1" for i in range(30)))
    f["case36_two_digit_years.csv"] = lines("customer;date;amount", "1;03.01.24;1", "2;31.12.99;1")
    f["case37_timezones.csv"] = lines(
        "customer,date,amount", "1,2024-01-03T10:00:00+03:00,1", "2,2024-01-03T22:30:00Z,1",
        "3,2024-01-04 09:15:00,1", "4,2024-01-05T01:00:00+03:00,1",
    )
    f["case38_month_names.csv"] = lines(
        "customer;date;amount", "1;3 Oca 2024;1", "2;03 янв. 2024;1", "3;3 հունվարի 2024;1",
        "4;15 Şubat 2024;1", "5;1 мая 2024 г.;1", "6;7 avqust 2024;1", "7;Mar 5, 2024;1", "8;3 Blorp 2024;1",
        *(f"{9 + i};10 Ekim 2024;1" for i in range(20)),
    )
    f["case39_invalid_dates.csv"] = lines(
        "customer;date;amount", "1;31.02.2024;1", "2;00.00.0000;1", "3;1900-01-00;1",
        *(f"{4 + i};03.01.2024;1" for i in range(60)),
    )
    f["case40_future_old.csv"] = lines(
        "customer,date,amount", "1,2024-01-03,1", "2,2031-05-01,1", "3,1998-07-01,1", "4,2024-01-04,1",
    )

    # Amounts
    f["case41_decimal_comma.csv"] = lines("customer;date;amount", "1;2024-01-03;1.234,56", "2;2024-01-04;1.234")
    f["case41_decimal_point.csv"] = lines("customer,date,amount", '1,2024-01-03,"1,234.56"', '2,2024-01-04,"1,234"')
    f["case41_ambiguous.csv"] = lines("customer;date;amount", "1;2024-01-03;1.234", "2;2024-01-04;5")
    f["case42_space_thousands.csv"] = lines(
        "customer;date;amount", "1;2024-01-03;1 234,56", "2;2024-01-04;1\u00a0234,56", "3;2024-01-05;1\u202f234,56",
    )
    f["case43_currencies.csv"] = lines(
        "customer;date;amount", "1;2024-01-03;₺1.234,56", "2;2024-01-04;99,90 TL", "3;2024-01-05;TRY 5,00",
    )
    f["case43_currency_symbols_az_am_ru.csv"] = lines(
        "customer;date;amount", "1;2024-01-03;12,50 ₼", "2;2024-01-04;7,00 AZN",
    )
    f["case43_mixed_currencies.csv"] = lines("customer;date;amount", "1;2024-01-03;10,00 ₺", "2;2024-01-04;5,00 $")
    f["case43_currency_column.csv"] = lines(
        "customer;date;amount;currency", "1;2024-01-03;10,00 ₺;TL", "2;2024-01-04;5,00;TRY",
    )
    f["case43_currency_column_mixed.csv"] = lines(
        "customer;date;amount;currency", "1;2024-01-03;10,00;TRY", "2;2024-01-04;5,00;USD",
    )
    f["case44_refunds.csv"] = lines(
        "customer;date;amount;status", "1;2024-01-03;-250,00;", "1;2024-01-04;(250,00);", "2;2024-01-05;250,00-;",
        "2;2024-01-06;\u2212250;", "3;2024-01-07;100,00;İade", "3;2024-01-08;100,00;İptal",
        "3;2024-01-09;100,00;Tamamlandı",
    )
    f["case45_zero_blank_amounts.csv"] = lines(
        "customer;date;amount", "1;2024-01-03;0", "2;2024-01-04;", "3;2024-01-05;-", "4;2024-01-06;N/A",
        "5;2024-01-07;бесплатно", *(f"{6 + i};2024-01-08;10,00" for i in range(100)),
    )

    # Rows and file level
    f["case46_duplicates.csv"] = lines("customer;date;amount", "1;2024-01-03;10,00", "1;2024-01-03;10,00",
                                       "2;2024-01-04;5,00")
    f["case46_duplicates_order_id.csv"] = lines(
        "order id;customer;date;amount", "S1;1;2024-01-03;10,00", "S1;1;2024-01-03;10,00", "S2;1;2024-01-03;10,00",
    )
    f["case47_long_line.csv.gz"] = gzip_bytes(
        lines("customer,date,amount,note", "1,2024-01-03,1,short", "2,2024-01-04,1," + "x" * 1_100_000).encode()
    )
    f["case48_formulas.csv"] = lines(
        "customer;date;amount;product;phone",
        '1001;2024-01-03;10,00;"=HYPERLINK(""http://x"";""y"")";+905321234567',
        "1002;2024-01-04;5,00;@SUM(A1);-1+2",
    )
    f["case49_comments.csv"] = lines(
        "# exported by ShopX 2.1", "customer,date,amount", "1001,2024-01-03,1", "# page 2",
        "#1002,2024-01-04,2", "1003,2024-01-05,3",
    )
    rng = random.Random(50)
    f["case50_random_bytes.csv"] = bytes(rng.randrange(256) for _ in range(2000))
    return {k: (v.encode("utf-8") if isinstance(v, str) else v) for k, v in f.items()}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in fixtures().items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(fixtures())} fixtures to {OUT}")


if __name__ == "__main__":
    main()
