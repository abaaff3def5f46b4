"""Write a customers file (customer cards) for the files of generate_orders.py (not a test).

    python benchmarks/generate_customers.py CUSTOMERS OUT.csv [--seed N]

One card per customer id of ``generate_orders.py CUSTOMERS`` (zero-padded to eight digits), as a
Turkish shop's card export: semicolon separated, Turkish headers, a name, a mobile number written
the local way (one card in ten without one), an e-mail and an account owner (a quarter without).
``winback scan ORDERS.csv --customers OUT.csv`` then reads every card and lists names and phones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

FIRST = np.array(["Ayşe", "Mehmet", "Elif", "Can", "Zeynep", "Burak", "Hatice", "Oğuz"])
LAST = np.array(["Yılmaz", "Kaya", "Demir", "Çelik", "Şahin", "Öztürk"])
OWNERS = np.array(["Elif Kaya", "Mehmet Demir", "Ali Veli", ""])


def cards_for(customers: int, seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = pc.utf8_lpad(pa.array(np.arange(customers).astype(str)), 8, "0")
    names = np.char.add(np.char.add(FIRST[rng.integers(0, len(FIRST), customers)], " "),
                        LAST[rng.integers(0, len(LAST), customers)])
    numbers = np.char.zfill(rng.integers(0, 10_000_000, customers).astype(str), 7)
    no_phone = pa.array(rng.random(customers) < 0.1)
    phone = pc.if_else(no_phone, "", pa.array(np.char.add("0532 ", numbers)))
    return pa.table({
        "Müşteri No": ids,
        "Ad Soyad": pa.array(names),
        "Telefon": phone,
        "E-posta": pc.binary_join_element_wise("musteri", ids, "@ornek.com.tr", ""),
        "Satış Temsilcisi": pa.array(OWNERS[rng.integers(0, len(OWNERS), customers)]),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("customers", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    table = cards_for(args.customers, args.seed)
    pacsv.write_csv(table, args.out, pacsv.WriteOptions(delimiter=";", quoting_style="needed"))
    print(f"{args.out}: {table.num_rows:,} cards, {args.out.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
