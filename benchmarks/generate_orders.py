"""Write a realistic large order export for the benchmarks (not a test).

    python benchmarks/generate_orders.py CUSTOMERS OUT.csv [--seed N]

Each customer makes a first purchase on a uniform day of a three-year window and then buys again
after exponential gaps (a Poisson process with a Gamma-distributed rate) while "alive": after each purchase
they stop with their own probability p ~ Beta(2.1, 3.0), as in BG/NBD, so both the buying rate and the
dropout differ between customers, as in real customer bases (1M customers give ~2.8M order lines and
3.6M give ~10M). Rows are in date order like a shop's export:
quoted order id, quoted zero-padded customer id, quoted ISO date, amount with two decimals (about
2% refunds, negative), and a ``channel`` column winback does not need (it is never loaded).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

START = np.datetime64("2022-01-01")
WINDOW_DAYS = 3 * 365
CHUNK = 2_000_000


def orders_for(customers: int, seed: int = 1, busier: float = 1.0) -> pa.Table:
    """``busier``: buying rates this many times higher and dropouts this many times rarer (about
    this many times more orders per customer: ``--busier 4`` gives ~11M orders of 1M customers)."""
    rng = np.random.default_rng(seed)
    # per customer: P(stop after a purchase), mean 0.41 (busier 1)
    dropout = rng.beta(2.1, 3.0, customers) / busier
    repeats = rng.geometric(dropout) - 1  # repeat purchases before they stop (the window cuts more off)
    first = rng.integers(0, WINDOW_DAYS, customers)
    n = customers + int(repeats.sum())
    owner = np.repeat(np.arange(customers), repeats + 1)
    start = np.repeat(first, repeats + 1)
    # occasion number within the customer: 0 for the first order
    offsets = np.arange(n) - np.repeat(np.cumsum(repeats + 1) - (repeats + 1), repeats + 1)
    # mean gap per customer (days)
    rate = np.repeat(rng.gamma(2.0, 30.0 / busier, customers), repeats + 1)
    gaps = np.where(offsets == 0, 0, rng.exponential(1.0, n) * rate).round().astype(np.int64)
    gap_sum = np.cumsum(gaps)
    base = np.repeat(gap_sum[np.cumsum(repeats + 1) - (repeats + 1)], repeats + 1)
    day = start + (gap_sum - base)
    keep = day < WINDOW_DAYS
    owner, day = owner[keep], day[keep]
    order = np.argsort(day, kind="stable")
    owner, day = owner[order], day[order]
    n = len(day)
    spend = np.repeat(rng.gamma(3.0, 40.0, customers), 1)[owner]
    amount = np.round(rng.gamma(4.0, 0.25, n) * spend, 2)
    amount = np.where(rng.random(n) < 0.02, -amount, amount)
    ids = pa.array(np.char.zfill(owner.astype(str), 8))
    dates = pa.array((START + day.astype("timedelta64[D]")).astype(str))
    channel = pa.array(np.array(["web", "store", "phone"])[rng.integers(0, 3, n)])
    return pa.table({
        "order_id": pa.array(np.char.add("SP-", np.arange(1, n + 1).astype(str))),
        "customer_id": ids,
        "order_date": dates,
        "amount": pa.array(amount),
        "channel": channel,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("customers", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--busier", type=float, default=1.0,
                        help="buying rates this many times higher, dropouts this many times rarer")
    args = parser.parse_args()
    table = orders_for(args.customers, args.seed, args.busier)
    pacsv.write_csv(table, args.out, pacsv.WriteOptions(quoting_style="needed"))
    print(f"{args.out}: {table.num_rows:,} orders of {args.customers:,} customers, "
          f"{args.out.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
