"""Generate the shipped sample data: a Turkish wholesale supplier's order export.

Run from the repository root:  python sample_data/generate.py

The output is deterministic (fixed seed and dates), so the committed files can be regenerated and
compared byte for byte. It writes:

- sample_data/orders.csv     the order export (UTF-8 with BOM, `;`, decimal comma, dd.mm.yyyy,
                             Turkish headers), as Excel in a Turkish locale saves "CSV UTF-8"
- sample_data/customers.csv  the customer card export (name, phone, e-mail, account owner)

The customers follow a buy-till-you-die process with personal rhythms: regular small buyers, rare
large buyers, one-time buyers, customers who drift away, some refunds and cancellations, several
account owners (one of whom has left), a cost column and referrals.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np

SEED = 20261120
START = date(2024, 11, 1)
END = date(2026, 11, 20)  # last day of the export
N_CUSTOMERS = 1800
OUT = Path(__file__).resolve().parent

OWNERS = ["Ayşe Yılmaz", "Mehmet Demir", "Elif Kaya", "Murat Şahin", "Zeynep Çelik"]
FIRST_NAMES = [
    "Ahmet", "Mehmet", "Mustafa", "Ali", "Hüseyin", "Hasan", "İbrahim", "İsmail", "Osman", "Yusuf",
    "Fatma", "Ayşe", "Emine", "Hatice", "Zeynep", "Elif", "Meryem", "Şerife", "Zehra", "Sultan",
    "Gökhan", "Özge", "Çağla", "Buğra", "Ilgın", "Şükrü", "Gülşen", "Ümit", "Cem", "Derya",
]
LAST_NAMES = [
    "Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Yıldırım", "Öztürk", "Aydın", "Özdemir",
    "Arslan", "Doğan", "Kılıç", "Aslan", "Çetin", "Kara", "Koç", "Kurt", "Özkan", "Şimşek",
]
BUSINESS = ["Kafe", "Büfe", "Market", "Pastane", "Lokanta", "Otel", "Ofis", "Kırtasiye"]
CITIES = ["İstanbul", "Ankara", "İzmir", "Bursa", "Eskişehir", "Trabzon", "Gaziantep", "Konya"]
PRODUCTS = [
    ("Türk Kahvesi 1 kg", 420.0), ("Filtre Kahve 1 kg", 560.0), ("Siyah Çay 5 kg", 890.0),
    ("Yeşil Çay 500 g", 185.0), ("Şeker Küp 5 kg", 210.0), ("Karton Bardak 1000'li", 640.0),
    ("Peçete Koli", 330.0), ("Süt Tozu 1 kg", 275.0), ("Sıcak Çikolata 1 kg", 390.0),
    ("Espresso Makinesi Servisi", 2750.0), ("Çay Ocağı Tüpü", 1450.0), ("Kaşık Karıştırıcı 1000'li", 95.0),
]


def _customers(rng: np.random.Generator) -> list[dict]:
    ids = rng.choice(np.arange(1, 99999), size=N_CUSTOMERS, replace=False)
    kinds = rng.choice(["regular", "rare_large", "one_time"], size=N_CUSTOMERS, p=[0.45, 0.2, 0.35])
    customers = []
    for i, (num, kind) in enumerate(zip(ids, kinds, strict=True)):
        first = FIRST_NAMES[rng.integers(len(FIRST_NAMES))]
        last = LAST_NAMES[rng.integers(len(LAST_NAMES))]
        if rng.random() < 0.5:
            name = f"{first} {last}"
        else:
            name = f"{last} {BUSINESS[rng.integers(len(BUSINESS))]} ({CITIES[rng.integers(len(CITIES))]})"
        phone_kind = rng.random()
        digits = f"5{rng.integers(30, 56)}{rng.integers(1000000, 9999999)}"
        if phone_kind < 0.4:
            phone = f"0{digits[:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}"
        elif phone_kind < 0.7:
            phone = f"+90 {digits[:3]} {digits[3:6]} {digits[6:]}"
        elif phone_kind < 0.95:
            phone = f"0{digits}"
        else:
            phone = ""
        email = "" if rng.random() < 0.3 else f"musteri{num:05d}@ornek.com.tr"
        customers.append(
            {
                "id": f"{num:05d}",
                "kind": kind,
                "name": name,
                "phone": phone,
                "email": email,
                "owner": OWNERS[rng.integers(len(OWNERS))],
                "index": i,
            }
        )
    return customers


def _orders_for(c: dict, rng: np.random.Generator, customers: list[dict]) -> list[dict]:
    span = (END - START).days
    start = START + timedelta(days=int(rng.integers(0, span - 10)))
    if c["kind"] == "regular":
        gap = float(rng.choice([7, 10, 14, 21, 30]))
        drop_p = float(rng.uniform(0.01, 0.08))
        basket = (2, 6)
    elif c["kind"] == "rare_large":
        gap = float(rng.choice([60, 90, 120, 180]))
        drop_p = float(rng.uniform(0.05, 0.25))
        basket = (4, 12)
    else:
        gap, drop_p, basket = 0.0, 1.0, (1, 4)
    days, d = [], start
    while d <= END:
        days.append(d)
        if rng.random() < drop_p:
            break
        d = d + timedelta(days=max(1, int(round(rng.gamma(4.0, gap / 4.0)))))
    orders = []
    for day in days:
        for _ in range(int(rng.integers(1, 3)) if c["kind"] != "one_time" else 1):
            product, price = PRODUCTS[rng.integers(len(PRODUCTS))]
            qty = int(rng.integers(*basket))
            amount = round(price * qty * float(rng.uniform(0.9, 1.1)), 2)
            cost = round(amount * float(rng.uniform(0.55, 0.85)), 2)
            status = "Tamamlandı"
            r = rng.random()
            if r < 0.015:
                status = "İptal"
            orders.append(
                {"day": day, "customer": c, "product": product, "qty": qty, "amount": amount,
                 "cost": cost, "status": status}
            )
            if status == "Tamamlandı" and r > 0.985 and day + timedelta(days=5) <= END:
                orders.append(
                    {"day": day + timedelta(days=int(rng.integers(2, 6))), "customer": c,
                     "product": product, "qty": -qty, "amount": -amount, "cost": -cost,
                     "status": "İade"}
                )
    return orders


def _fmt_money(x: float) -> str:
    s = f"{abs(x):,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return ("-" if x < 0 else "") + s


def main() -> None:
    rng = np.random.default_rng(SEED)
    customers = _customers(rng)
    referrers = rng.choice(N_CUSTOMERS, size=N_CUSTOMERS // 12, replace=False)
    referred_by: dict[int, str] = {}
    for ref in referrers:
        for j in rng.choice(N_CUSTOMERS, size=int(rng.integers(1, 4)), replace=False):
            if j != ref and j not in referred_by:
                referred_by[int(j)] = customers[int(ref)]["id"]
    orders = []
    for c in customers:
        orders.extend(_orders_for(c, rng, customers))
    orders.sort(key=lambda o: (o["day"], o["customer"]["id"]))

    with (OUT / "orders.csv").open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        w.writerow(["Sipariş No", "Müşteri No", "Sipariş Tarihi", "Ürün", "Adet", "Tutar (KDV Hariç)",
                    "Maliyet", "Durum", "Satış Temsilcisi", "Referans Müşteri"])
        for n, o in enumerate(orders, start=1):
            c = o["customer"]
            w.writerow([
                f"SP-{n:06d}", c["id"], o["day"].strftime("%d.%m.%Y"), o["product"], o["qty"],
                _fmt_money(o["amount"]), _fmt_money(o["cost"]), o["status"], c["owner"],
                referred_by.get(c["index"], ""),
            ])
    with (OUT / "customers.csv").open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        w.writerow(["Müşteri No", "Ad Soyad / Unvan", "Telefon", "E-posta", "Satış Temsilcisi"])
        for c in sorted(customers, key=lambda c: c["id"]):
            w.writerow([c["id"], c["name"], c["phone"], c["email"], c["owner"]])


if __name__ == "__main__":
    main()
