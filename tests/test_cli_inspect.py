"""`winback inspect`, import errors through the CLI, and the Turkish-Excel equivalence."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SAMPLE, SAMPLE_AS_OF
from winback.cli import app

FIX = Path(__file__).resolve().parent / "fixtures" / "import"


def fx(name: str) -> str:
    return str(FIX / name)


def test_inspect_explains_each_decision(runner):
    result = runner.invoke(app, ["inspect", fx("case13_preamble.csv"), fx("case18_ragged.csv"),
                                 "--as-of", "2026-11-23"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "read as:  text, encoding utf-8 (certain), columns separated by semicolons (;)" in out
    assert "header:   line 3; 1 line(s) above it skipped (title, report period or another block)" in out
    assert "2. Sipariş Tarihi  order date: dd.mm.yyyy" in out
    assert "wrong number of fields (2): rows with more or fewer columns than the header" in out
    assert f"{fx('case18_ragged.csv')}:3 (5 fields, expected 6)" in out
    assert out.rstrip().endswith("more than the 5% limit: winback scan will stop. Fix the lines above, or raise "
                                 "--max-skipped.")
    assert result.stderr == ""


def test_inspect_json_is_the_same_data(runner):
    result = runner.invoke(app, ["inspect", fx("case05_cp1254.csv"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    src = data["files"][0]
    assert (src["encoding"], src["delimiter"], src["header_line"]) == ("cp1254", ";", 1)
    assert [c["role"] for c in src["columns"]] == ["customer_id", "order_date", "amount", "product"]
    assert data["orders"]["customers"] == 3 and data["verdict"]["ok"] is True


def test_inspect_lists_every_skipped_line(runner):
    result = runner.invoke(app, ["inspect", fx("case45_zero_blank_amounts.csv"), "--json"])
    lines = json.loads(result.stdout)["skipped"]["invalid amount"]["lines"]
    assert [ref.rsplit(":", 1)[1] for ref in lines] == ["3", "4", "5", "6"]


def test_inspect_reads_stdin(runner):
    result = runner.invoke(app, ["inspect", "-"], input=(FIX / "case12_tab.txt").read_bytes())
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("standard input\n")


def test_bad_data_is_one_error_line_exit_4(runner):
    result = runner.invoke(app, ["inspect", fx("case33_ambiguous_slash.csv")])
    assert result.exit_code == 4
    assert result.stderr == (
        f"Error: {fx('case33_ambiguous_slash.csv')}: column 'date': ambiguous dates (dd/mm vs mm/dd): values like "
        "01/02/2024 could be day/month or month/day and no value decides it. Say which with --date-format "
        "%d/%m/%Y (day first) or --date-format %m/%d/%Y (month first).\n"
    )
    assert "Traceback" not in result.output


def test_every_error_fixture_is_one_line_without_traceback(runner):
    for name in ("case01_empty.csv", "case02_blank_lines.csv", "case08_bad_byte.csv", "case10_old_excel.csv",
                 "case16_two_order_tables.csv", "case21_unclosed_quote.csv", "case25_no_customer_column.csv",
                 "case26_duplicate_columns.csv", "case27_no_header.csv", "case28_two_header_rows.csv",
                 "case41_ambiguous.csv", "case43_mixed_currencies.csv", "case47_long_line.csv.gz",
                 "case50_random_bytes.csv"):
        result = runner.invoke(app, ["inspect", fx(name)])
        assert result.exit_code == 4, (name, result.output)
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, name
        assert "Traceback" not in result.output


def test_missing_file_exit_3(runner, tmp_path):
    result = runner.invoke(app, ["inspect", str(tmp_path / "nope.csv")])
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: ") and "no such file" in result.stderr


def test_scan_fails_on_too_many_skipped_rows(runner, tmp_path):
    result = runner.invoke(app, ["scan", fx("case18_ragged.csv"), "--as-of", "2026-11-23",
                                 "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 4
    assert "2 of 4 rows (50%) could not be used, more than the 5% allowed" in result.stderr


def test_no_header_with_map_through_the_cli(runner):
    result = runner.invoke(app, ["inspect", fx("case27_no_header.csv"), "--no-header", "--map", "customer_id=1",
                                 "--map", "order_date=2", "--map", "amount=3"])
    assert result.exit_code == 0, result.output
    assert "header:   none (--no-header)" in result.stdout


def test_turkish_excel_export_gives_the_same_call_list_as_plain_csv(runner, tmp_path):
    text = SAMPLE.read_text(encoding="utf-8-sig")
    turkish = tmp_path / "tr.csv"
    turkish.write_bytes(text.encode("cp1254"))
    lines = text.splitlines()
    english = ["order_id,customer_id,order_date,product,quantity,amount,cost,status,owner,referred_by"]
    for line in lines[1:]:
        f = line.split(";")
        day, month, year = f[2].split(".")
        money = [v.replace(".", "").replace(",", ".") for v in (f[5], f[6])]
        cells = [f[0], f[1], f"{year}-{month}-{day}", f[3], f[4], *money, f[7], f[8], f[9]]
        english.append(",".join(f'"{c}"' if "," in c else c for c in cells))
    plain = tmp_path / "en.csv"
    plain.write_text("\n".join(english) + "\n", encoding="utf-8")
    outputs = []
    for src in (turkish, plain):
        out = tmp_path / f"calls-{src.stem}.csv"
        result = runner.invoke(app, ["scan", str(src), "--as-of", SAMPLE_AS_OF, "--all", "--out", str(out),
                                     "--csv-dialect", "comma"])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
