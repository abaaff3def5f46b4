"""One test per case of ../shared/import-cases.md, on the fixtures in tests/fixtures/import/.

The fixtures are written by tests/make_import_fixtures.py; a test here fails if they are stale.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from tests.make_import_fixtures import fixtures
from winback.errors import InputDataError, InputNotFoundError
from winback.importer import ImportOptions, load_orders

FIX = Path(__file__).resolve().parent / "fixtures" / "import"


def path(name: str) -> str:
    return str(FIX / name)


def load(name: str, **kw):
    kw.setdefault("max_skipped", 1.0)
    return load_orders([path(name)], ImportOptions(**kw))


def days(orders) -> list[str]:
    return orders["order_date"].dt.strftime("%Y-%m-%d").tolist()


def error(name: str, **kw) -> str:
    with pytest.raises(InputDataError) as err:
        load(name, **kw)
    return str(err.value).replace(path(name), name)


def test_fixtures_are_up_to_date():
    for name, data in fixtures().items():
        assert (FIX / name).read_bytes() == data, f"run python tests/make_import_fixtures.py ({name})"


# Bytes, encoding, container
def test_case_01_empty_file():
    assert error("case01_empty.csv").startswith("case01_empty.csv: the file is empty (0 bytes).")


def test_case_02_blank_lines_only():
    assert "the file is empty: it has only blank lines, no header found" in error("case02_blank_lines.csv")


def test_case_03_header_only_is_zero_orders_with_warning():
    got = load("case03_header_only.csv")
    assert len(got.orders) == 0
    assert list(got.orders.columns[:4]) == ["customer_id", "order_date", "amount", "kind"]
    assert got.report.warnings == ["no orders found: the file(s) have a header but no order rows."]


def test_case_04_utf8_bom_does_not_stick_to_header():
    got = load("case04_utf8_bom.csv")
    assert got.report.sources[0].encoding == "utf-8-sig"
    assert got.report.columns["customer_id"] == "Müşteri No"
    assert got.orders["customer_id"].tolist() == ["00042", "00042", "İ-7"]


def test_case_05_cp1254_detected_and_reported():
    got = load("case05_cp1254.csv")
    src = got.report.sources[0]
    assert src.encoding == "cp1254"
    assert src.notes[0].startswith("encoding detected: cp1254 (confidence 0.")
    assert src.headers == ["Müşteri", "Sipariş Tarihi", "Tutar", "Ürün"]
    assert got.orders["product"].tolist()[2] == "Işıklı İğne seti"


def test_case_05_undecidable_encoding_suggests_cp1254():
    msg = error("case05_undecidable.csv")
    assert "cannot tell which encoding" in msg and "--encoding cp1254" in msg


def test_case_05_cp1252_mojibake_is_never_plausible():
    from winback.importer.source import _plausible

    assert not _plausible("Müþteri;Sipariþ Tarihi", "cp1252")
    assert _plausible("Müşteri;Sipariş Tarihi", "cp1254")


def test_case_06_cp1251():
    got = load("case06_cp1251.csv")
    assert got.report.sources[0].encoding == "cp1251"
    assert got.orders["amount"].tolist() == [1234.5, 99.0, 10.0]
    assert got.orders["product"].tolist()[1] == "Чай чёрный"


def test_case_07_utf16_tab():
    got = load("case07_utf16.txt")
    assert (got.report.sources[0].encoding, got.report.sources[0].delimiter) == ("utf-16", "tab")
    assert got.orders["amount"].tolist() == [10.5, 20.0]


def test_case_08_invalid_byte_names_line_and_byte():
    assert error("case08_bad_byte.csv") == (
        "case08_bad_byte.csv: line 3: byte 0xFE is not valid UTF-8, but the rest of the file is UTF-8. Fix that "
        "line, or run with --on-decode-error replace to import it with the bad bytes replaced (the lines are "
        "listed)."
    )
    got = load("case08_bad_byte.csv", on_decode_error="replace")
    assert got.orders["customer_id"].tolist() == ["1001", "1003"]  # line 3 has a 4th field now
    assert "replaced with \ufffd on 1 line(s): 3" in got.report.sources[0].notes[0]


@pytest.mark.parametrize("name", ["case09_orders.csv.gz", "case09_gzip_without_extension.csv", "case09_one_csv.zip"])
def test_case_09_gzip_and_zip_by_content(name):
    got = load(name)
    assert got.orders["customer_id"].tolist() == ["A1", "A2"]
    assert got.report.sources[0].container in ("gzip", "zip")


def test_case_09_zip_with_two_files_is_an_error():
    assert "the zip archive holds 2 files" in error("case09_two_files.zip")


@pytest.mark.parametrize("name", ["case10_orders.xlsx", "case10_workbook_named.csv"])
def test_case_10_xlsx_is_read_by_content(name):
    got = load(name)
    assert got.report.sources[0].container == "xlsx"
    assert got.report.sources[0].sheet == "Siparişler"
    assert got.orders["customer_id"].tolist() == ["00042", "1001", "İ-7"]
    assert days(got.orders) == ["2024-01-03", "2024-01-13", "2024-02-01"]
    assert got.orders["amount"].tolist() == [1234.56, 99.9, -250.0]


def test_case_10_xlsx_sheet_option():
    got = load("case10_orders.xlsx", sheet="2")
    assert got.report.sources[0].sheet == "İadeler"
    assert got.orders["kind"].tolist() == ["refund"]
    assert "--sheet Nope: no such sheet. Sheets: 'Siparişler', 'İadeler'." in error("case10_orders.xlsx", sheet="Nope")


def test_case_10_parquet():
    got = load("case10_orders.parquet")
    assert got.orders["customer_id"].tolist() == ["007", "8", "007"]
    assert got.orders["amount"].tolist() == [100.5, 20.0, -5.25]


@pytest.mark.parametrize(("name", "text"), [
    ("case10_old_excel.csv", "this looks like an old Excel workbook (.xls)"),
    ("case10_binary.csv", "this is a binary file (it contains NUL bytes)"),
])
def test_case_10_binaries_are_clear_errors(name, text):
    assert text in error(name)


# Dialect and structure
def test_case_11_semicolon_with_decimal_comma():
    got = load("case11_semicolon_decimal_comma.csv")
    assert got.report.sources[0].delimiter == ";"
    assert got.orders["amount"].tolist() == [1234.56, 5.0, 12000.0]


@pytest.mark.parametrize(("name", "delim"), [("case12_tab.txt", "tab"), ("case12_pipe.txt", "|"),
                                            ("case12_whitespace.txt", "whitespace")])
def test_case_12_tab_pipe_and_whitespace(name, delim):
    got = load(name)
    assert got.report.sources[0].delimiter == delim
    assert got.orders["amount"].tolist() == [10.5, 3.0]


def test_case_13_preamble_lines_skipped_and_reported():
    got = load("case13_preamble.csv")
    assert got.report.sources[0].header_line == 3
    assert got.report.warnings == [f"{path('case13_preamble.csv')}: skipped 1 preamble line(s) above the header "
                                   "on line 3 (title lines, report period or another block)."]
    assert len(got.orders) == 3


@pytest.mark.parametrize("lang", ["tr", "ru", "az", "hy", "en"])
def test_case_14_totals_rows_in_five_languages(lang):
    got = load(f"case14_totals_{lang}.csv")
    assert got.orders["customer_id"].tolist() == ["1001", "1002"]
    assert got.report.skipped_by_reason == {"totals row": 1}
    assert got.report.skipped_examples["totals row"] == [f"{path(f'case14_totals_{lang}.csv')}:4"]


def test_case_14_unlabelled_sum_and_1c_footer():
    got = load("case14_sum_without_label.csv")
    assert got.report.skipped_by_reason == {"totals row": 1}
    got = load("case14_1c_footer.csv")
    assert got.report.skipped_by_reason == {"blank line": 1, "footer line": 1}
    assert got.report.skipped_examples["footer line"] == [f"{path('case14_1c_footer.csv')}:5"]


def test_case_15_repeated_header():
    got = load("case15_repeated_header.csv")
    assert got.report.skipped_examples == {"repeated header": [f"{path('case15_repeated_header.csv')}:4"]}
    assert got.orders["amount"].tolist() == [1234.56, 99.9, -250.0]


def test_case_16_summary_block_ignored_two_order_tables_refused():
    got = load("case16_summary_block.csv")
    assert got.report.sources[0].header_line == 5 and got.report.sources[0].preamble_lines == 3
    assert error("case16_two_order_tables.csv") == (
        "case16_two_order_tables.csv: the file holds two tables that both look like orders (headers on lines 1 "
        "and 6). Split it into two files, or keep only the order table."
    )


@pytest.mark.parametrize("name", ["case17_trailing_delimiter.csv", "case17_trailing_on_data_only.csv"])
def test_case_17_trailing_delimiter(name):
    got = load(name)
    assert got.report.sources[0].headers == ["Müşteri No", "Sipariş Tarihi", "Tutar"]
    assert got.orders["amount"].tolist() == [1234.56, 99.9, -250.0]
    assert got.report.rows_skipped == 0


def test_case_18_ragged_rows_skipped_with_field_counts():
    got = load("case18_ragged.csv")
    p = path("case18_ragged.csv")
    assert got.report.skipped_examples == {"wrong number of fields": [f"{p}:3 (5 fields, expected 6)",
                                                                      f"{p}:4 (7 fields, expected 6)"]}
    assert got.orders["customer_id"].tolist() == ["1001", "1004"]


def test_case_19_quoted_newlines_keep_physical_lines():
    got = load("case19_quoted_newlines.csv")
    assert got.orders["line"].tolist() == [2]
    p = path("case19_quoted_newlines.csv")
    assert got.report.skipped_examples == {"invalid amount": [f"{p}:4", f"{p}:5"]}


def test_case_20_inch_marks():
    got = load("case20_inch_quote.csv")
    assert got.orders["product"].tolist() == ['15" monitor', '15 monitor"']
    assert got.report.skipped_examples["wrong number of fields"] == [
        f"{path('case20_inch_quote.csv')}:4 (5 fields, expected 4)"]


def test_case_21_unclosed_quote_names_its_line():
    assert error("case21_unclosed_quote.csv") == (
        'case21_unclosed_quote.csv: line 3: a quote (") opens a field and is never closed, so the rest of the '
        "file would become one cell. Fix or remove that quote and export again."
    )


def test_case_22_cr_crlf_and_mixed_line_endings():
    got = load("case22_line_endings.csv")
    assert got.orders["customer_id"].tolist() == ["1001", "1002", "1003"]
    assert got.orders["line"].tolist() == [2, 3, 4]


def test_case_23_blank_lines_counted_and_empty_rows_skipped():
    got = load("case23_blank_and_empty_rows.csv")
    assert got.report.skipped_by_reason == {"blank line": 3, "empty row": 1}
    assert got.report.skipped_examples["empty row"] == [f"{path('case23_blank_and_empty_rows.csv')}:5"]
    assert got.report.rows_read == got.report.rows_used + got.report.rows_skipped


# Header and column mapping
@pytest.mark.parametrize("lang", ["tr_upper", "ru", "az", "hy"])
def test_case_24_headers_in_four_scripts(lang):
    got = load(f"case24_{lang}.csv")
    assert set(got.report.columns) == {"customer_id", "order_date", "amount"}
    assert got.orders["amount"].tolist() == [10.0]


def test_case_25_missing_required_column():
    assert error("case25_no_customer_column.csv") == (
        "case25_no_customer_column.csv: no customer id column found. Headers found: 'Cari', 'Tarih', 'Tutar'. "
        "Name the column with --map customer_id=COLUMN (a header name or a column number)."
    )
    assert load("case25_no_customer_column.csv", mapping={"customer_id": "Cari"}).orders["customer_id"].tolist() == ["A"]


def test_case_26_duplicate_column_names():
    assert "columns 'Tutar' (column 3) and 'Tutar' (column 4) could both be the amount" in error(
        "case26_duplicate_columns.csv")
    got = load("case26_duplicate_columns.csv", mapping={"amount": "4"})
    assert got.orders["amount"].tolist() == [11.8]


def test_case_27_blank_header_cell_and_no_header():
    assert load("case27_blank_header_cell.csv").orders["amount"].tolist() == [10.0]
    msg = error("case27_no_header.csv")
    assert "line 1 looks like data, not a header row" in msg and "--no-header --map customer_id=1" in msg
    assert "1001" not in msg  # never echo data rows
    got = load("case27_no_header.csv", has_header=False,
               mapping={"customer_id": "1", "order_date": "2", "amount": "3"})
    assert got.orders["customer_id"].tolist() == ["1001", "1002"]
    assert got.orders["line"].tolist() == [1, 2]


def test_case_28_two_header_rows():
    assert "the header seems to span two rows (lines 1 and 2)" in error("case28_two_header_rows.csv")
    got = load("case28_two_header_rows.csv", header_row=2, mapping={"customer_id": "1"})
    assert got.orders["customer_id"].tolist() == ["1001", "1002"]


# Customer ids
def test_case_29_blank_customer_id():
    got = load("case29_blank_id.csv")
    assert got.report.skipped_examples == {"empty customer id": [f"{path('case29_blank_id.csv')}:3"]}
    with pytest.raises(InputDataError, match="1 of 22 rows"):
        load("case29_blank_id.csv", max_skipped=0.01)


def test_case_30_ids_stay_strings_and_excel_corruption_is_flagged():
    got = load("case30_numeric_ids.csv")
    assert got.orders["customer_id"].tolist() == ["007", "12345678901234567890", "+905321234567", "1,23457E+15"]
    assert "ids appear corrupted by Excel" in got.report.warnings[0] and "lines 5" in got.report.warnings[0]


def test_case_31_id_whitespace_normalised_case_only_on_request():
    got = load("case31_id_variants.csv")
    assert got.orders["customer_id"].tolist() == ["C-001", "C-001", "c-001", "C 002"]
    got = load("case31_id_variants.csv", ignore_id_case=True)
    assert got.orders["customer_id"].nunique() == 2
    assert "ignoring upper/lower case" in got.report.sources[0].notes[0]


# Dates
def test_case_32_day_first_for_the_whole_column():
    assert days(load("case32_ddmmyyyy.csv").orders) == ["2024-01-03", "2024-01-13"]


def test_case_33_ambiguous_slash_dates():
    assert "column 'date': ambiguous dates (dd/mm vs mm/dd)" in error("case33_ambiguous_slash.csv")
    assert days(load("case33_ambiguous_slash.csv", date_format="%d/%m/%Y").orders) == ["2024-02-01", "2024-04-03"]
    got = load("case33_decided_slash.csv")
    assert days(got.orders) == ["2024-01-02", "2024-03-14"]
    assert "decided by values over 12 in the second position" in got.report.sources[0].notes[0]


def test_case_34_mixed_formats_iso_stays_year_first():
    assert days(load("case34_mixed_formats.csv").orders) == ["2024-01-03", "2024-01-05", "2024-01-07"]


def test_case_35_excel_serials():
    got = load("case35_excel_serials.csv")
    assert days(got.orders)[:2] == ["2024-01-01", "2024-01-03"]
    assert got.report.skipped_examples == {"invalid date": [f"{path('case35_excel_serials.csv')}:4"]}
    assert "converted 31 Excel serial dates" in got.report.sources[0].notes[0]


def test_case_36_two_digit_years_pivot():
    got = load("case36_two_digit_years.csv")
    assert days(got.orders) == ["2024-01-03", "1999-12-31"]
    assert "00-69 read as 20xx" in got.report.sources[0].notes[0]


def test_case_37_time_zones():
    assert days(load("case37_timezones.csv").orders) == ["2024-01-03", "2024-01-03", "2024-01-04", "2024-01-04"]
    got = load("case37_timezones.csv", tz="Europe/Istanbul")
    assert days(got.orders) == ["2024-01-03", "2024-01-04", "2024-01-04", "2024-01-05"]


def test_case_38_local_month_names():
    got = load("case38_month_names.csv")
    assert days(got.orders)[:7] == ["2024-01-03", "2024-01-03", "2024-01-03", "2024-02-15", "2024-05-01",
                                    "2024-08-07", "2024-03-05"]
    assert got.report.skipped_examples == {"invalid date": [f"{path('case38_month_names.csv')}:9"]}


def test_case_39_invalid_dates_skipped():
    got = load("case39_invalid_dates.csv", max_skipped=0.05)
    p = path("case39_invalid_dates.csv")
    assert got.report.skipped_examples == {"invalid date": [f"{p}:2", f"{p}:3", f"{p}:4"]}


def test_case_40_future_and_old_dates_flagged_or_skipped():
    got = load("case40_future_old.csv", as_of=date(2026, 11, 23))
    assert len(got.orders) == 4
    assert "1 order(s) dated before 2000, e.g. lines 4" in got.report.warnings[0]
    assert "1 order(s) dated after 2026-11-23 (in the future), e.g. lines 3" in got.report.warnings[1]
    got = load("case40_future_old.csv", as_of=date(2026, 11, 23), skip_implausible_dates=True)
    assert got.report.skipped_by_reason == {"implausible date": 2}


# Amounts
def test_case_41_decimal_separator_decided_per_column():
    assert load("case41_decimal_comma.csv").orders["amount"].tolist() == [1234.56, 1234.0]
    assert load("case41_decimal_point.csv").orders["amount"].tolist() == [1234.56, 1234.0]
    assert "amounts like 1.234 could be thousands or decimals" in error("case41_ambiguous.csv")
    assert load("case41_ambiguous.csv", decimal=",").orders["amount"].tolist() == [1234.0, 5.0]


def test_case_42_space_nbsp_narrow_nbsp_thousands():
    assert load("case42_space_thousands.csv").orders["amount"].tolist() == [1234.56] * 3


def test_case_43_currencies():
    got = load("case43_currencies.csv")
    assert got.orders["amount"].tolist() == [1234.56, 99.9, 5.0]
    assert got.report.currency == "TRY"
    assert load("case43_currency_symbols_az_am_ru.csv").report.currency == "AZN"
    assert "column 'amount': amounts in several currencies (TRY, USD)" in error("case43_mixed_currencies.csv")
    assert load("case43_currency_column.csv").report.currency == "TRY"
    assert "column 'currency' holds several currencies (TRY, USD)" in error("case43_currency_column_mixed.csv")


def test_case_44_refunds_and_cancellations():
    got = load("case44_refunds.csv")
    assert got.orders["amount"].tolist() == [-250.0, -250.0, -250.0, -250.0, -100.0, 100.0, 100.0]
    assert got.orders["kind"].tolist() == ["refund"] * 5 + ["cancelled", "purchase"]


def test_case_45_zero_blank_and_text_amounts():
    got = load("case45_zero_blank_amounts.csv")
    assert got.orders["amount"].iloc[0] == 0.0
    p = path("case45_zero_blank_amounts.csv")
    assert got.report.skipped_examples == {"invalid amount": [f"{p}:3", f"{p}:4", f"{p}:5", f"{p}:6"]}
    assert got.report.skipped_by_reason == {"invalid amount": 4}


def test_case_46_exact_duplicates_reported_deduped_only_by_order_id():
    got = load("case46_duplicates.csv")
    assert len(got.orders) == 3 and got.report.exact_duplicates == 1
    assert "1 row(s) repeat an earlier row exactly (lines 3)" in got.report.warnings[0]
    got = load("case46_duplicates_order_id.csv")
    assert got.orders["line"].tolist() == [2, 4]  # S1 once, S2; the order id column itself is not kept
    assert "order_id" not in got.orders
    assert got.report.skipped_by_reason == {"duplicate order line": 1}


def test_case_47_line_over_the_limit():
    assert error("case47_long_line.csv.gz") == (
        "case47_long_line.csv.gz: line 3 is 1,100,015 characters long, more than the 1,000,000 winback accepts: "
        "this is not an order export, or its line breaks are lost. Check the file in a text editor."
    )


def test_case_48_formula_text_is_literal():
    got = load("case48_formulas.csv")
    assert got.orders["product"].tolist() == ['=HYPERLINK("http://x";"y")', "@SUM(A1)"]
    assert got.orders["phone"].tolist() == ["+905321234567", "-1+2"]


def test_case_49_comment_lines():
    got = load("case49_comments.csv")
    assert got.report.skipped_examples == {"comment line": [f"{path('case49_comments.csv')}:4"]}
    assert got.orders["customer_id"].tolist() == ["1001", "#1002", "1003"]  # fits the columns: data


def test_case_50_random_bytes_fixture():
    assert "binary file" in error("case50_random_bytes.csv")


def test_case_50_fuzzed_inputs_only_raise_typed_errors(tmp_path):
    """Seeded, bounded: mutated fixtures and random text never raise anything but our typed errors."""
    rng = random.Random(2024)
    seeds = [d for n, d in sorted(fixtures().items()) if len(d) < 5000 and not n.endswith((".xlsx", ".parquet"))]
    alphabet = b';,\t|"\n\r #-.0123456789/:()\xc3\xbc\xfe\xff\x00'
    for i in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            op = rng.randrange(3)
            pos = rng.randrange(len(data) + 1)
            if op == 0:
                data[pos:pos] = bytes([rng.choice(alphabet)])
            elif op == 1 and data:
                del data[min(pos, len(data) - 1)]
            elif data:
                data[min(pos, len(data) - 1)] = rng.choice(alphabet)
        target = tmp_path / f"fuzz{i}.csv"
        target.write_bytes(bytes(data))
        try:
            load_orders([str(target)], ImportOptions(max_skipped=1.0))
        except (InputDataError, InputNotFoundError):
            pass


def test_missing_file_is_not_found(tmp_path):
    with pytest.raises(InputNotFoundError, match="no such file"):
        load_orders([str(tmp_path / "nope.csv")])


def test_several_files_at_once():
    got = load_orders([path("case12_tab.txt"), path("case12_pipe.txt")], ImportOptions())
    assert got.orders["source"].str.endswith(("case12_tab.txt", "case12_pipe.txt")).all()
    assert len(got.orders) == 4 and len(got.report.sources) == 2
