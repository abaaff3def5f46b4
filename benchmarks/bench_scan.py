"""Time `winback scan` end to end and per stage, next to DuckDB and lifetimes (not a test).

    python benchmarks/bench_scan.py --small /tmp/orders_3m.csv --large /tmp/orders_10m.csv \
        [--many /tmp/orders_busy.csv] [--lifetimes-python /tmp/ltvenv/bin/python]

Make the files with benchmarks/generate_orders.py (1,000,000 and 3,600,000 customers; --many: the
small file's customers with about four times the orders each, ``1000000 --busier 4``). Everything
runs in one go on one machine, interleaved and repeated (--repeat, median and range reported), so the
ratios compare like with like on a machine whose speed drifts; peak memory is the maximum resident set
of the `winback scan` process (getrusage of the child). Also times two nights of the nightly job
(`winback scan --state`) on the large file, and `winback scan --low-memory` on every file: its peak
should follow the customers, not the orders (the small and the --many file have the same
customers). DuckDB and lifetimes are timed both inside their own process (the targets' terms) and as
whole processes, start-up included as for `winback scan`. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

AS_OF = "2025-01-01"

_STAGES = """
import sys, time, json, resource
from winback._memory import keep_freed_memory, use_one_malloc_arena, warm_heap_for
from winback._startup import one_blas_thread
use_one_malloc_arena()  # as the command does, before numpy and Arrow start threads
if keep_freed_memory():  # as the command does
    warm_heap_for(sys.argv[1:2])
one_blas_thread()  # as the command does, before numpy loads its BLAS
from datetime import date
import pandas as pd
from winback.importer import ImportOptions, load_orders
from winback.summary import summarize
from winback.scoring import ScoreParams, score, start_loading_models
from winback.segments import assign_segments
from winback.calllist import SelectOptions, select
from winback.contacts import contacts_from_orders
as_of = date.fromisoformat(sys.argv[2])
t = {}
# (meanwhile: scipy's import started when the import waits for its id thread, as the command does)
s = time.perf_counter()
loaded = load_orders([sys.argv[1]], ImportOptions(as_of=as_of), meanwhile=start_loading_models)
t["import"] = time.perf_counter() - s
s = time.perf_counter(); summary = summarize(loaded.orders, as_of, customer_order=loaded.customer_order); t["summary"] = time.perf_counter() - s
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
con = duckdb.connect(); con.execute("SET threads = 2"); con.execute("SET enable_progress_bar = false")
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
# plain maximum likelihood (penalizer 0), as winback fits first
bgf = BetaGeoFitter(penalizer_coef=0.0).fit(data["frequency"], data["recency"], data["T"])
repeat = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
ggf = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency"], repeat["monetary_value"])
bgf.conditional_probability_alive(data["frequency"], data["recency"], data["T"])
ggf.conditional_expected_average_profit(data["frequency"], data["monetary_value"])
print(time.perf_counter() - s)
"""


def _python(code: str, *args: str, python: str = sys.executable) -> str:
    done = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def _timed(code: str, *args: str, python: str = sys.executable) -> dict[str, float]:
    """Seconds a comparison script measures inside itself, and its whole process (start-up and imports
    included, as every `winback scan` time is)."""
    start = time.perf_counter()
    inside = float(_python(code, *args, python=python))
    return {"inside": inside, "process": time.perf_counter() - start}


def time_scan(path: str, out_dir: str, *extra: str, as_of: str = AS_OF) -> dict[str, float]:
    """Wall, user and system seconds and peak MB of one `winback scan` process."""
    winback = str(Path(sys.executable).with_name("winback"))
    script = ("import resource, subprocess, sys, time; s = time.perf_counter(); "
              "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); w = time.perf_counter() - s; "
              "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
              "print(w, r.ru_utime, r.ru_stime, r.ru_maxrss / 1024)")
    line = _python(script, winback, "scan", path, "--as-of", as_of, "--out", str(Path(out_dir) / "calls.csv"),
                   "--quiet", *extra)
    wall, user, system, peak = (float(v) for v in line.split())
    return {"wall": wall, "user": user, "sys": system, "peak": peak}


def _span(values: list[float], unit: str = " s", digits: int = 2) -> str:
    """Median, and the range over the repeats."""
    mid = statistics.median(values)
    if len(values) == 1:
        return f"{mid:,.{digits}f}{unit}"
    return f"{mid:,.{digits}f}{unit} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def _compile_winback() -> None:
    """Write winback's bytecode, as `pip install .` does. From an editable install (a checkout) with
    PYTHONDONTWRITEBYTECODE set, every process would compile its ~40 modules again, about 0.3 s of
    start-up that no installed copy pays."""
    import compileall

    import winback
    compileall.compile_dir(str(Path(winback.__file__).parent), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", required=True, help="the ~3M-order file (lifetimes comparison)")
    parser.add_argument("--large", required=True, help="the ~10M-order file (DuckDB and memory)")
    parser.add_argument("--many", help="the small file's customers with more orders each (memory)")
    parser.add_argument("--lifetimes-python", help="python of a venv with lifetimes installed")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timed command (median reported)")
    args = parser.parse_args()
    import json

    _compile_winback()

    files = {"small": args.small, "large": args.large, **({"many": args.many} if args.many else {})}
    stages = {label: json.loads(_python(_STAGES, path, AS_OF)) for label, path in files.items()}
    names = ("small", "large", "duckdb", "lifetimes", "night1", "night2", "many",
             *(f"low {label}" for label in files))
    runs: dict[str, list] = {k: [] for k in names}
    next_day = (date.fromisoformat(AS_OF) + timedelta(days=1)).isoformat()
    for _ in range(args.repeat):  # interleaved, so that the machine's drift hits every command alike
        with tempfile.TemporaryDirectory() as tmp:
            runs["small"].append(time_scan(args.small, tmp))
            runs["large"].append(time_scan(args.large, tmp))
            runs["duckdb"].append(_timed(_DUCKDB, args.large))
            if args.lifetimes_python:
                runs["lifetimes"].append(_timed(_LIFETIMES, args.small, AS_OF, python=args.lifetimes_python))
            state = str(Path(tmp) / "state.db")  # two nights of the nightly job: cooldown, control, diff
            runs["night1"].append(time_scan(args.large, tmp, "--state", state))
            runs["night2"].append(time_scan(args.large, tmp, "--state", state, as_of=next_day))
            if args.many:
                runs["many"].append(time_scan(args.many, tmp))
            for label, path in files.items():  # read a part at a time
                runs[f"low {label}"].append(time_scan(path, tmp, "--low-memory"))

    def col(name: str, key: str) -> list[float]:
        return [r[key] for r in runs[name]]

    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{date.today().isoformat()}; {args.repeat} interleaved runs, median (min-max)")
    print()
    keys = [k for k in stages["large"] if k not in ("customers", "orders", "peak_mb")]
    print("| file | orders | customers | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 3) + "|")
    for label, st in stages.items():
        print(f"| {label} | {st['orders']:,} | {st['customers']:,} | "
              + " | ".join(f"{st[k]:.2f} s" for k in keys) + " |")
    print()
    print("| command | wall | user | system | peak MB |")
    print("|---|---|---|---|---|")
    for name, label in (("small", "`winback scan` small"), ("large", "`winback scan` large"),
                        ("night1", "`winback scan --state` large, first night"),
                        ("night2", "`winback scan --state` large, next night"),
                        ("many", "`winback scan` many"),
                        *((f"low {f}", f"`winback scan --low-memory` {f}") for f in files)):
        if not runs[name]:
            continue
        print(f"| {label} | {_span(col(name, 'wall'))} | {_span(col(name, 'user'))} | {_span(col(name, 'sys'))} | "
              f"{_span(col(name, 'peak'), '', 0)} |")
    for name, label in (("duckdb", "DuckDB, large (2 threads)"), ("lifetimes", "lifetimes pipeline, small")):
        if runs[name]:
            print(f"| {label}, in process | {_span(col(name, 'inside'))} | | | |")
            print(f"| {label}, whole process | {_span(col(name, 'process'))} | | | |")
    large, small = statistics.median(col("large", "wall")), statistics.median(col("small", "wall"))

    def other(name: str, key: str) -> float:
        return statistics.median(col(name, key)) if runs[name] else float("nan")

    print()
    print("The targets: winback's whole process against the others timed inside a running process.")
    print()
    print("| target | winback | other | ratio | target |")
    print("|---|---|---|---|---|")
    duck, life = other("duckdb", "inside"), other("lifetimes", "inside")
    print(f"| scan 10M vs DuckDB read + min/max/count/sum | {large:.2f} s | {duck:.2f} s | "
          f"{large / duck:.2f}x DuckDB's time | <= 1.0x |")
    print(f"| scan 3M vs lifetimes pipeline | {small:.2f} s | {life:.2f} s | {life / small:.1f}x faster | >= 15x |")
    print(f"| peak memory, scan 10M | {max(col('large', 'peak')):,.0f} MB (highest run) | | | < 2,500 MB |")
    print()
    duck, life = other("duckdb", "process"), other("lifetimes", "process")
    print(f"All whole processes (start-up and imports on both sides): {large / duck:.2f}x DuckDB's time, "
          f"{life / small:.1f}x faster than lifetimes.")
    # The machine's speed drifts within minutes: two commands of one repetition, run one after the
    # other, meet nearly the same machine; their ratios are shown beside the ratio of the medians.
    print()
    print("Within each repetition (the 10M scan, then DuckDB): " + _span_of_ratios(
        [w / d for w, d in zip(col("large", "wall"), col("duckdb", "inside"), strict=True)], "x DuckDB's time") + ".")
    if runs["lifetimes"]:
        print("Within each repetition (the 3M scan and lifetimes): " + _span_of_ratios(
            [li / w for w, li in zip(col("small", "wall"), col("lifetimes", "inside"), strict=True)], "x faster") + ".")
    print()
    print("What memory grows with: the highest peak of each file's scans, read whole and in parts.")
    print()
    print("| file | orders | customers | read whole | `--low-memory` | `--low-memory`, wall |")
    print("|---|---|---|---|---|---|")
    for label in files:
        st, low = stages[label], f"low {label}"
        whole = f"{max(col(label, 'peak')):,.0f} MB" if runs[label] else ""
        print(f"| {label} | {st['orders']:,} | {st['customers']:,} | {whole} | "
              f"{max(col(low, 'peak')):,.0f} MB | {_span(col(low, 'wall'))} |")


def _span_of_ratios(values: list[float], unit: str) -> str:
    """'median (min-max)' of per-repetition ratios."""
    return f"median {statistics.median(values):.2f}{unit} ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()
