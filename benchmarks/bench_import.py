"""Benchmark the importer: rows per second on a large generated order export (not a test).

    python benchmarks/bench_import.py [ROWS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from winback.importer import ImportOptions, load_orders


def generate(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 1000, rows), unit="D")
    frame = pd.DataFrame({
        "order_id": np.char.add("SP-", np.arange(rows).astype(str)),
        "customer_id": np.char.zfill(rng.integers(1, 200_000, rows).astype(str), 6),
        "order_date": days.strftime("%Y-%m-%d"),
        "amount": np.round(rng.gamma(2.0, 150.0, rows), 2),
    })
    frame.to_csv(path, index=False, quoting=2)  # csv.QUOTE_NONNUMERIC: ids and dates quoted


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        generate(path, rows)
        size = path.stat().st_size / 1e6
        start = time.perf_counter()
        loaded = load_orders([str(path)], ImportOptions())
        elapsed = time.perf_counter() - start
    assert len(loaded.orders) == rows, loaded.report.to_dict()
    print(f"{rows:,} rows ({size:.0f} MB) in {elapsed:.1f} s: {rows / elapsed:,.0f} rows/second")


if __name__ == "__main__":
    main()
