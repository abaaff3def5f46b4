"""Time `winback scan` end to end and per stage, next to DuckDB and lifetimes (not a test).

    python benchmarks/bench_scan.py --small /tmp/orders_3m.csv --large /tmp/orders_10m.csv \
        [--lifetimes-python /tmp/ltvenv/bin/python]

Make the files with benchmarks/generate_orders.py (1,000,000 and 3,600,000 customers). Everything
runs in one go on one machine, so the ratios compare like with like; peak memory is the maximum
resident set of the `winback scan` process (getrusage of the child). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

AS_OF = "2025-01-01"

_STAGES = """
import sys, time, json, resource
from datetime import date
import pandas as pd
from winback.importer import ImportOptions, load_orders
from winback.summary import summarize
from winback.scoring import ScoreParams, score
from winback.segments import assign_segments
from winback.calllist import SelectOptions, select
from winback.contacts import contacts_from_orders
as_of = date.fromisoformat(sys.argv[2])
t = {}
s = time.perf_counter(); loaded = load_orders([sys.argv[1]], ImportOptions(as_of=as_of)); t["import"] = time.perf_counter() - s
s = time.perf_counter(); summary = summarize(loaded.orders, as_of); t["summary"] = time.perf_counter() - s
s = time.perf_counter(); scored = score(summary.customers, ScoreParams(), recent_value=summary.customers["recent_value"].to_numpy(), has_amount=summary.has_amount, has_margin=summary.has_margin); t["models + scoring"] = time.perf_counter() - s
s = time.perf_counter(); scores = scored.scores; scores["segment"] = assign_segments(scores); t["segments"] = time.perf_counter() - s
s = time.perf_counter(); orders = loaded.orders[loaded.orders["order_date"] <= pd.Timestamp(as_of)]; contacts = contacts_from_orders(orders); t["contacts"] = time.perf_counter() - s
s = time.perf_counter(); select(scores, orders, SelectOptions(), currency=None, has_amount=True, has_margin=False, median_second_days=None, contacts=contacts); t["call list"] = time.perf_counter() - s
t["customers"] = len(summary.customers); t["orders"] = len(loaded.orders)
t["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(t))
"""

_DUCKDB = """
import sys, time, duckdb
con = duckdb.connect(); con.execute("SET threads = 2")
s = time.perf_counter()
con.execute("SELECT customer_id, min(order_date), max(order_date), count(*), sum(amount) "
            "FROM read_csv($p) GROUP BY customer_id", {"p": sys.argv[1]}).fetchall()
print(time.perf_counter() - s)
"""

_LIFETIMES = """
import sys, time, pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
s = time.perf_counter()
tx = pd.read_csv(sys.argv[1], usecols=["customer_id", "order_date", "amount"], dtype={"customer_id": str})
tx = tx[tx["amount"] > 0]
data = summary_data_from_transaction_data(tx, "customer_id", "order_date", monetary_value_col="amount",
                                          observation_period_end=sys.argv[2])
# penalizer 0.001: with 0, BetaGeoFitter stops with ConvergenceError on the generated files
bgf = BetaGeoFitter(penalizer_coef=0.001).fit(data["frequency"], data["recency"], data["T"])
repeat = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
ggf = GammaGammaFitter(penalizer_coef=0.001).fit(repeat["frequency"], repeat["monetary_value"])
bgf.conditional_probability_alive(data["frequency"], data["recency"], data["T"])
ggf.conditional_expected_average_profit(data["frequency"], data["monetary_value"])
print(time.perf_counter() - s)
"""


def _python(code: str, *args: str, python: str = sys.executable) -> str:
    done = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def time_scan(path: str, out_dir: str) -> tuple[float, float]:
    """Seconds and peak MB of `winback scan` on one file (its own process)."""
    winback = str(Path(sys.executable).with_name("winback"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run([winback, "scan", path, "--as-of", AS_OF, "--out", str(Path(out_dir) / "calls.csv"),
                    "--quiet"], check=True)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", required=True, help="the ~3M-order file (lifetimes comparison)")
    parser.add_argument("--large", required=True, help="the ~10M-order file (DuckDB and memory)")
    parser.add_argument("--lifetimes-python", help="python of a venv with lifetimes installed")
    args = parser.parse_args()
    import json

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in (("small", args.small), ("large", args.large)):
            stages = json.loads(_python(_STAGES, path, AS_OF))
            scan_s, peak = time_scan(path, tmp)
            rows.append((label, path, stages, scan_s, peak))
    duck_s = float(_python(_DUCKDB, args.large))
    life_s = float(_python(_LIFETIMES, args.small, AS_OF, python=args.lifetimes_python)) \
        if args.lifetimes_python else float("nan")
    (_, _, small_stages, small_scan, _), (_, _, large_stages, large_scan, large_peak) = rows
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{date.today().isoformat()}")
    print()
    print("| file | orders | customers | " + " | ".join(k for k in large_stages if k not in
          ("customers", "orders", "peak_mb")) + " | `winback scan` | peak MB |")
    print("|---" * (len(large_stages) + 2) + "|")
    for label, path, stages, scan_s, peak in rows:
        cells = [f"{v:.2f} s" for k, v in stages.items() if k not in ("customers", "orders", "peak_mb")]
        print(f"| {label} | {stages['orders']:,} | {stages['customers']:,} | " + " | ".join(cells)
              + f" | {scan_s:.2f} s | {peak:,.0f} |")
    print()
    print("| comparison | winback | other | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| scan 10M vs DuckDB read + min/max/count/sum | {large_scan:.2f} s | {duck_s:.2f} s | "
          f"{large_scan / duck_s:.2f}x DuckDB's time | <= 1.0x |")
    print(f"| scan 3M vs lifetimes pipeline | {small_scan:.2f} s | {life_s:.2f} s | "
          f"{life_s / small_scan:.1f}x faster | >= 15x |")
    print(f"| peak memory, scan 10M | {large_peak:,.0f} MB | | | < 2,500 MB |")


if __name__ == "__main__":
    main()
