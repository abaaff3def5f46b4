"""Regenerate the golden call-list files: ``python -m tests.regen_golden``.

The golden files are the exported artifacts, checked in and compared byte for byte by
tests/test_writers.py and tests/test_cli_scan.py. Run this only when a change to them is intended, and
review the diff. Workbooks are compared as a text dump of their cells (a .xlsx holds timestamps).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd

GOLDEN = Path(__file__).resolve().parent / "golden"
ORDERS_SMALL = GOLDEN / "orders_small.csv"
CUSTOMERS_SMALL = GOLDEN / "customers_small.csv"
CLI_AS_OF = "2026-01-15"
CLI_ARGS = ["--as-of", CLI_AS_OF, "--all", "--customers", str(CUSTOMERS_SMALL), "--departed-owners", "Elif",
            "--quiet"]
CLI_GOLDEN = {"csv": "calls_small.csv", "json": "calls_small.json", "xlsx": "calls_small.xlsx.txt"}


def writer_rows() -> pd.DataFrame:
    """A fixed call list with every awkward cell the writers must handle."""
    from winback.calllist import COLUMNS

    rows = pd.DataFrame({
        "rank": [1, 2, 3],
        "customer_id": ["00042", "-7", "C-100"],
        "segment": ["can't lose", "at risk", "lost"],
        "reason": ["Usually orders every 14 days; 58 days since the last order (4.1x the usual gap); 9 orders.",
                   "One order 200 days ago.", "@SUM(1+1)*cmd|' /C calc'!A0"],
        "last_order_date": ["2025-11-01", "2025-06-01", "2024-12-31"],
        "days_since_last_order": [58, 200, 350],
        "orders": [9, 1, 3],
        "revenue": [14250.5, 99.99, -0.5],
        "name": ["Şahin Kafe (İstanbul)", "=HYPERLINK(\"http://x\",\"click\")", "+ Ölçü; \"quoted\"\nline"],
        "phone": ["+90 532 123 45 67", "0532 12", "+7 912 345-67-89"],
        "email": ["a@b.com.tr", "", "@evil"],
        "owner": ["Ayşe Yılmaz", "", "Иванов"],
        "margin": [3000.25, float("nan"), 1.0],
        "average_order_value": [1583.39, 99.99, 12.0],
        "first_order_date": ["2024-01-05", "2025-06-01", "2023-02-28"],
        "usual_gap_days": [14, 60, 90],
        "p_alive": [0.123, 0.5, 0.0],
        "value_at_risk": [12000.0, 50.0, 0.25],
        "priority": [13000.12, 40.0, 0.1],
        "last_products": ["Türk Kahvesi 1 kg; Çay", "-Tea", "\tTab"],
        "referrals": [2, 0, 0],
        "note": ["", "invalid phone", "orphaned; no contact details"],
    })
    return rows[COLUMNS]


def dump_xlsx(data: bytes) -> str:
    """A workbook as text: layout, then one line per cell with its type, value and number format."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    lines = [f"sheet {ws.title!r} freeze {ws.freeze_panes} filter {ws.auto_filter.ref}"]
    widths = {k: v.width for k, v in sorted(ws.column_dimensions.items()) if v.width}
    lines.append("widths " + " ".join(f"{k}={w:g}" for k, w in widths.items()))
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            flags = ("B" if cell.font.bold else "") + ("Q" if cell.quotePrefix else "")
            lines.append(f"{cell.coordinate} {cell.data_type} {cell.value!r} [{cell.number_format}] {flags}".rstrip())
    return "\n".join(lines) + "\n"


def cli_outputs(tmp: Path) -> dict[str, bytes]:
    from typer.testing import CliRunner

    from winback.cli import app

    out: dict[str, bytes] = {}
    runner = CliRunner()
    for fmt, name in CLI_GOLDEN.items():
        target = tmp / f"calls.{fmt}"
        result = runner.invoke(app, ["scan", str(ORDERS_SMALL), *CLI_ARGS, "--format", fmt, "--out", str(target)])
        if result.exit_code != 0:
            raise SystemExit(f"winback scan failed ({result.exit_code}): {result.output}")
        data = target.read_bytes()
        out[name] = dump_xlsx(data).encode("utf-8") if fmt == "xlsx" else data
    return out


def writer_outputs() -> dict[str, bytes]:
    from winback.writers import COMMA, SEMICOLON, csv_bytes, json_bytes, xlsx_bytes

    rows = writer_rows()
    return {
        "writer_comma.csv": csv_bytes(rows, COMMA),
        "writer_semicolon.csv": csv_bytes(rows, SEMICOLON),
        "writer.json": json_bytes(rows),
        "writer.xlsx.txt": dump_xlsx(xlsx_bytes(rows)).encode("utf-8"),
    }


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        files = {**writer_outputs(), **cli_outputs(Path(tmp))}
    for name, data in files.items():
        path = GOLDEN / name
        changed = not path.exists() or path.read_bytes() != data
        path.write_bytes(data)
        print(f"{'updated' if changed else 'same   '} {path.relative_to(GOLDEN.parent.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()
