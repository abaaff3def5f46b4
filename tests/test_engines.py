"""The fast paths agree with the thorough ones.

- Import: the fast reader (:mod:`winback.importer.fast`) and the thorough reader give the same orders
  frame, report and errors on every import fixture and on generated exports.
- Summary: the pandas and DuckDB engines give the same per-customer summary.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import winback.importer.fast as fast
import winback.importer.parts as parts
from winback.errors import InputDataError, WinbackError
from winback.importer import ImportOptions, load_orders
from winback.summary import ENGINES, summarize

FIX = Path(__file__).resolve().parent / "fixtures" / "import"
FIXTURES = sorted(p.name for p in FIX.iterdir())
OPTION_SETS = [
    {},
    {"as_of": date(2024, 6, 1), "skip_implausible_dates": True, "ignore_id_case": True, "examples": None},
    {"decimal": ","},
]


def _load(paths, options, use_fast: bool, monkeypatch):
    with monkeypatch.context() as m:
        if not use_fast:
            m.setattr(fast, "read_fast", lambda *a, **k: None)
        used = []
        real = fast.read_fast

        def spy(*a, **k):
            got = real(*a, **k)
            used.append(got is not None)
            return got

        if use_fast:
            m.setattr(fast, "read_fast", spy)
        try:
            got = load_orders(paths, ImportOptions(**options))
            return ("ok", got.orders, got.report.to_dict()), any(used)
        except WinbackError as exc:
            return ("error", type(exc).__name__, str(exc)), any(used)


def _assert_same(a, b):
    assert a[0] == b[0], (a, b)
    if a[0] == "error":
        assert a[1:] == b[1:]
        return
    pd.testing.assert_frame_equal(a[1], b[1], check_exact=True)
    assert a[2] == b[2]


@pytest.mark.parametrize("options", OPTION_SETS, ids=["default", "strict", "comma"])
def test_fast_reader_matches_thorough_reader_on_every_fixture(options, monkeypatch):
    used = 0
    for name in FIXTURES:
        opts = {"max_skipped": 1.0, **options}
        slow, _ = _load([str(FIX / name)], opts, False, monkeypatch)
        quick, took = _load([str(FIX / name)], opts, True, monkeypatch)
        _assert_same(quick, slow)
        used += took
    assert used >= 10  # the fast reader really read a good share of the fixtures


@pytest.mark.parametrize(("part", "chunk"), [(29, 5), (300, 7), (4096, 1000)])
def test_fast_reader_gives_the_same_in_small_parts(part, chunk, tmp_path, monkeypatch):
    """The file is parsed part by part (cut after a line break, lines longer than a part read on into a
    larger buffer) and scanned in chunks within a part: tiny sizes cut through every line, quoted
    field, carriage return and multi-byte character of the fixtures and give the same result."""
    monkeypatch.setattr(parts, "PART", part)
    monkeypatch.setattr(parts, "_SCAN_CHUNK", chunk)
    monkeypatch.setattr(parts, "_FILL_HALF_MIN", 5)  # each part read in two halves, side by side
    names = "Müşteri,Ayşe Yılmaz,Иван Петров,Հայկ,Zəhra"
    utf8 = _export(tmp_path / "utf8.csv", 400, 3, ids="digits", amounts="plain").replace("web", "")
    text = Path(utf8).read_text(encoding="utf-8").splitlines()
    rows = [f"{line},{names.split(',')[i % 5]}" for i, line in enumerate(text[1:])]
    Path(utf8).write_text("\r\n".join([text[0] + ",name", *rows]) + "\r\n", encoding="utf-8")
    used = 0
    for path in [*(str(FIX / name) for name in FIXTURES), utf8]:
        slow, _ = _load([path], {"max_skipped": 1.0}, False, monkeypatch)
        quick, took = _load([path], {"max_skipped": 1.0}, True, monkeypatch)
        _assert_same(quick, slow)
        used += took
    assert used >= 10  # the fast reader read them


def test_the_line_scan_finds_what_sends_a_file_to_the_thorough_reader():
    """Invalid UTF-8 (also a character cut off at the very end), a bare carriage return, and the line
    count, whatever the part and chunk boundaries."""
    def scanned(data: bytes, cuts: list[int]) -> tuple[bool, int]:
        scan = parts.LineScan()
        for lo, hi in zip([0, *cuts], [*cuts, len(data)], strict=True):
            scan.add(memoryview(data[lo:hi]), hi - lo)
        return scan.result()

    good = "a,ş\r\nb,Ж\r\nc,d".encode()
    for cuts in ([], [1], [3], [5], [3, 5], [len(good) - 1]):  # 3: inside "ş"; 5: between \r and \n
        assert scanned(good, cuts) == (True, 3)
    assert scanned(b"a,b\nc,d\n", [4]) == (True, 2)
    assert scanned(b"a,b\rc,d\n", []) == (False, 1)  # a bare carriage return
    assert scanned(b"a,b\r", [3]) == (False, 1)
    assert scanned("a,ş".encode()[:-1], []) == (False, 0)  # cut inside the last character
    assert scanned(b"a,\xff\n", [2])[0] is False
    assert scanned(b"", []) == (True, 0)


def _export(path: Path, rows: int, seed: int, *, ids: str, amounts: str, extra: str = "") -> str:
    rng = random.Random(seed)
    lines = ["order_id,customer_id,order_date,amount,status,channel"]
    for i in range(rows):
        cust = rng.randint(1, rows // 3 + 1)
        cid = f"{cust:06d}" if ids == "digits" else f"C-{cust} x" if ids == "text" else f"c{cust}" + rng.choice("aA")
        day = date(2023, 1, 1).toordinal() + rng.randint(0, 700)
        value = rng.randint(-500, 90000) / 100
        amount = f"{value:.2f}" if amounts == "plain" else f'"{value:,.2f} TL"'
        status = rng.choice(["Completed", "completed", "Cancelled", "iade", ""])
        order = f"SP-{i}" if rng.random() > 0.01 else "SP-1"
        lines.append(f'"{order}","{cid}","{date.fromordinal(day).isoformat()}",{amount},{status},web')
        if rng.random() < 0.01:
            lines.append(lines[-1])  # an exact duplicate order line
    text = "\n".join(lines) + "\n" + extra
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("ids", ["digits", "text", "mixedcase"])
@pytest.mark.parametrize("amounts", ["plain", "currency"])
@pytest.mark.parametrize("extra", ["", "bad,row\n", "\n", ",,2024-01-01,5,,\n", "SP-9,0001,31.02.2024,5,,web\n"])
def test_fast_reader_matches_on_generated_exports(tmp_path, ids, amounts, extra, monkeypatch):
    path = _export(tmp_path / "orders.csv", 3000, 7, ids=ids, amounts=amounts, extra=extra)
    for options in OPTION_SETS:
        opts = {"max_skipped": 1.0, **options}
        slow, _ = _load([path], opts, False, monkeypatch)
        quick, _ = _load([path], opts, True, monkeypatch)
        _assert_same(quick, slow)


@pytest.mark.parametrize("extra", ["", "SP-9,0001,31.02.2024,5,,web\n"])
def test_fast_reader_finds_duplicates_among_same_day_rows_of_a_date_ordered_export(tmp_path, extra, monkeypatch):
    path = _export(tmp_path / "orders.csv", 6000, 11, ids="digits", amounts="plain")
    header, *lines = Path(path).read_text(encoding="utf-8").splitlines()
    lines.sort(key=lambda line: line.split(",")[2])  # by date, stably: repeated lines stay side by side
    lines += [lines[10], lines[-3]]  # two more exact repeats, of an early and a late line (out of date order)
    Path(path).write_text("\n".join([header, *sorted(lines, key=lambda line: line.split(",")[2])]) + "\n" + extra,
                          encoding="utf-8")
    shared = []
    real = fast._shares_customer_and_day
    monkeypatch.setattr(fast, "_shares_customer_and_day", lambda *a: shared.append(real(*a)) or shared[-1])
    for options in OPTION_SETS:
        opts = {"max_skipped": 1.0, **options}
        slow, _ = _load([path], opts, False, monkeypatch)
        quick, took = _load([path], opts, True, monkeypatch)
        assert took
        _assert_same(quick, slow)
        assert slow[2]["exact_duplicates"] >= 30  # about 1% of the lines, and the two added
    # Only the same-day rows of a customer were fingerprinted (where the ids were numbered as digits).
    assert any(flags is not None and 0 < flags.sum() < len(flags) / 5 for flags in shared)


@pytest.mark.parametrize("step", [1, 2, 7, 1_000])
def test_same_customer_and_day_flags_do_not_depend_on_the_blocks(step):
    """The rows grouped by customer are compared a block at a time, each block with the next one's
    first row: the flags are the same however the rows are cut, and a customer's rows out of date
    order are found in any block."""
    rng = np.random.default_rng(step)
    n = 400
    codes = rng.integers(0, 60, n).astype(np.int32)
    days = np.sort(rng.integers(0, 40, n))  # in date order, so each customer's rows are too
    out = pd.DataFrame({"order_date": (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"))
                        .astype("datetime64[ns]")})
    by_customer = np.argsort(codes, kind="stable")
    expected = pd.DataFrame({"customer": codes, "day": days}).duplicated(keep=False).to_numpy()
    assert 0 < expected.sum() < n
    flags = fast._shares_customer_and_day(out, codes, by_customer, step)
    np.testing.assert_array_equal(flags, expected)
    newest_first = out.iloc[::-1].reset_index(drop=True)
    assert fast._shares_customer_and_day(newest_first, codes[::-1].copy(),
                                         np.argsort(codes[::-1], kind="stable"), step) is None
    # Only the last customer's rows out of order: found by the half of the blocks that has them
    # (the two halves run in two threads).
    last = by_customer[codes[by_customer] == codes[by_customer[-1]]]
    assert len(last) >= 2 and days[last[0]] < days[last[-1]]
    swapped = days.copy()
    swapped[last[0]], swapped[last[-1]] = days[last[-1]], days[last[0]]
    start = pd.Timestamp("2024-01-01")
    late = pd.DataFrame({"order_date": start + pd.to_timedelta(swapped, unit="D")})
    late["order_date"] = late["order_date"].astype("datetime64[ns]")
    assert fast._shares_customer_and_day(late, codes, by_customer, step) is None


def _random_orders(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, n // 4 + 1, n)
    frame = pd.DataFrame({
        "customer_id": pd.Series(np.char.add("C", cust.astype(str)), dtype="str"),
        "order_date": (pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 800, n), unit="D"))
        .astype("datetime64[ns]"),  # the orders-frame contract
        "amount": np.round(rng.gamma(2.0, 50.0, n), 2),
        "kind": pd.Series(rng.choice(["purchase", "purchase", "purchase", "refund", "cancelled"], n),
                          dtype="str"),
        "cost": np.round(rng.gamma(2.0, 20.0, n), 2),
        "referred_by": pd.Series(np.where(rng.random(n) < 0.1, np.char.add("C", rng.integers(0, n // 4, n)
                                                                          .astype(str)), ""), dtype="str"),
        "owner": pd.Series(np.where(rng.random(n) < 0.3, rng.choice(["Elif", "Murat", "Ayşe"], n), ""),
                           dtype="str"),
        "line": np.arange(2, n + 2),
    })
    frame.loc[frame["kind"] == "refund", "amount"] *= -1
    frame.loc[rng.random(n) < 0.02, "amount"] = np.nan
    return frame


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("variant", ["full", "no_cost", "no_amount", "margin", "categorical"])
def test_summary_engines_agree(seed, variant):
    pytest.importorskip("duckdb")
    orders = _random_orders(4000, seed)
    if variant == "categorical":  # as the importer gives them: sorted categories, each id held once
        orders["customer_id"] = pd.Categorical(orders["customer_id"])
        orders["kind"] = pd.Categorical(orders["kind"], categories=["purchase", "refund", "cancelled"])
    if variant != "full":
        orders = orders.drop(columns=["cost", "referred_by", "owner"])
    if variant == "no_amount":
        orders["amount"] = np.nan
    if variant == "margin":
        orders["margin"] = orders["amount"] * 0.3
    as_of = date(2024, 6, 1)
    a = summarize(orders, as_of, engine="pandas")
    b = summarize(orders, as_of, engine="duckdb")
    assert (a.orders_after_as_of, a.customers_without_purchases, a.has_amount, a.has_margin) == (
        b.orders_after_as_of, b.customers_without_purchases, b.has_amount, b.has_margin)
    pd.testing.assert_frame_equal(a.customers, b.customers, check_exact=False, rtol=1e-12, atol=1e-9)


def test_the_duckdb_engine_reads_a_parquet_file_of_orders(tmp_path):
    """Out of core: the orders as a Parquet file (a path with a quote in it, too) give the summary
    of the same orders in memory."""
    pytest.importorskip("duckdb")
    orders = _random_orders(4000, 7)
    path = tmp_path / "shop's orders.parquet"
    orders.to_parquet(path)
    as_of = date(2024, 6, 1)
    a = summarize(orders, as_of, engine="pandas")
    b = summarize(str(path), as_of, engine="duckdb")
    assert (a.orders_after_as_of, a.customers_without_purchases) == (b.orders_after_as_of,
                                                                     b.customers_without_purchases)
    pd.testing.assert_frame_equal(a.customers, b.customers, check_exact=False, rtol=1e-12, atol=1e-9)


def test_engines_are_listed():
    assert set(ENGINES) == {"pandas", "duckdb"}
    with pytest.raises(ValueError, match="engine"):
        summarize(_random_orders(10, 1), date(2024, 6, 1), engine="spark")


def test_digit_ids_are_numbered_in_text_order():
    from winback.importer.fast import _digit_ids

    ids = ["9", "10", "1", "0042", "042", "00", "0", "99999999999999999", "10", "042", "1000", "01"]
    codes, distinct, in_order, by_customer = _digit_ids(pa.chunked_array([pa.array(ids)]))
    assert in_order and distinct.to_pylist() == sorted(set(ids))
    assert [distinct[int(c)].as_py() for c in codes] == ids
    assert by_customer.tolist() == np.argsort(codes, kind="stable").tolist()  # file order within an id


@pytest.mark.parametrize("odd", ["+1", "-1", " 1", "1 ", "١٢", "1e5", "0x1F", "123456789012345678"])
def test_only_plain_ascii_digit_ids_take_the_digit_path(odd):
    from winback.importer.fast import _customer_ids

    codes, distinct, in_order, by_customer = _customer_ids(pa.chunked_array([pa.array(["12", odd, "7"])]),
                                                           "customer_id", None)
    assert not in_order and by_customer is None  # the general path: stripped, compared as text
    assert sorted(distinct.to_pylist()) == sorted({"12", odd.strip(), "7"})
    assert _customer_ids(pa.chunked_array([pa.array(["12", "7"])]), "customer_id", None)[2]


@pytest.mark.parametrize(("part", "block"), [(300, 7), (4096, 100), (1 << 20, 1 << 20)])
@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_order_ids_are_read_again_from_the_lines_asked_for(tmp_path, part, block, ending,
                                                           monkeypatch):
    """The fast reader does not parse the order id column; the duplicate check reads the ids of the
    rows it needs from their lines, part by part (a byte order mark, CRLF line ends, a last line
    without a line break, quoted ids with delimiters and doubled quotes), in the order asked."""
    monkeypatch.setattr(parts, "PART", part)
    monkeypatch.setattr(parts, "_INDEX_BLOCK", block)
    rng = random.Random(part)
    shapes = ['"SP-{n}"', "{n}", '"A,{n}"', '"say ""{n}"""', '"Ş-{n}"']
    ids = [rng.choice(shapes).format(n=i) for i in range(500)]
    lines = ["order_id,customer_id,order_date,amount",
             *(f"{oid},{i % 37},2024-01-{1 + i % 28:02d},{i}.5" for i, oid in enumerate(ids))]
    path = tmp_path / "orders.csv"
    text = ("\r\n" if ending == "\r\n" else "\n").join(lines) + ending
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    table, plain, count, index = parts.read_columns(str(path), ",", 4, [0, 1], set())
    assert table is not None and plain and count == 501
    assert index.feeds_to[-1] == 500 + (ending != "")
    whole = table.column("c0").combine_chunks().view(pa.string())
    asked = np.array([499, 0, 250, 1, 498, *rng.sample(range(500), 60)])
    got = fast._OrderIds(str(path), index, ",", 0, 4).take(pa.array(asked))
    assert got.to_pylist() == whole.take(pa.array(asked)).to_pylist()
    unquoted = [oid[1:-1].replace('""', '"') if oid.startswith('"') else oid for oid in ids]
    assert got.to_pylist()[:2] == [unquoted[499], unquoted[0]]
    path.write_bytes(path.read_bytes()[:-40])  # the file cut short after it was read
    with pytest.raises(InputDataError, match="changed while it was being read"):
        fast._OrderIds(str(path), index, ",", 0, 4).take(pa.array(asked))


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 150, 199, 200, 201, 1000])
@pytest.mark.parametrize("start", [0, 3])
def test_a_part_is_read_in_two_halves_side_by_side_with_what_a_plain_read_gives(
        tmp_path, size, start, monkeypatch):
    """Full, cut short in either half, or at the file's end: the bytes, the count and the file's
    position are those of one read after the other."""
    monkeypatch.setattr(parts, "_FILL_HALF_MIN", 10)
    data = bytes(random.Random(size).getrandbits(8) for _ in range(size))
    path = tmp_path / "part.bin"
    path.write_bytes(data)
    for skip in (0, 7):  # the file read from its start, or from further on
        with open(path, "rb", buffering=0) as halves, open(path, "rb", buffering=0) as plain:
            halves.seek(skip)
            plain.seek(skip)
            a, b = bytearray(b"#" * 200), bytearray(b"#" * 200)
            got = parts._fill(halves, memoryview(a), start)
            want = parts.read_on(lambda part, done: plain.readinto(part), memoryview(b)[start:])
            assert got == want == min(200 - start, max(size - skip, 0))
            assert a == b and halves.tell() == plain.tell()
