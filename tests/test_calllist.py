"""Stage 4 on tiny hand-built frames: who is listed, in which order, and what is counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winback.calllist import COLUMNS, FIXED_COLUMNS, SelectOptions, segment_name, select
from winback.contacts import Suppression, empty_contacts

AS_OF = pd.Timestamp("2026-01-01")


def scores_frame(rows: list[dict]) -> pd.DataFrame:
    """A scores frame with the columns select() reads; each row gives what matters to the test."""
    base = {
        "lapsed": True, "target": True, "segment": "at risk", "owner": "", "orders": 4, "frequency": 3,
        "days_since_last": 100, "expected_gap_days": 20.0, "overdue_ratio": 5.0, "revenue": 1000.0,
        "refunds": 0.0, "margin": 300.0, "avg_order_value": 250.0, "recency_days": 200, "referrals": 0,
        "p_alive": 0.2, "value_at_risk": 500.0, "priority": 500.0,
    }
    frame = pd.DataFrame([{**base, **r} for r in rows]).set_index("customer_id")
    frame.index = frame.index.astype("str")
    frame["last_order"] = AS_OF - pd.to_timedelta(frame["days_since_last"], unit="D")
    frame["first_order"] = frame["last_order"] - pd.to_timedelta(frame["recency_days"], unit="D")
    return frame


def contacts_frame(rows: dict[str, dict]) -> pd.DataFrame:
    frame = empty_contacts(pd.Index(list(rows), dtype="str", name="customer_id"))
    for cid, values in rows.items():
        for key, value in values.items():
            frame.loc[cid, key] = value
    return frame


ORDERS = pd.DataFrame({
    "customer_id": ["A", "A", "B"], "order_date": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
    "kind": ["purchase"] * 3, "product": ["Tea", "=HYPERLINK(\"x\")", "Cups"], "line": [2, 3, 4],
})


def run(scores: pd.DataFrame, contacts: pd.DataFrame | None = None, **options):
    return select(scores, ORDERS, SelectOptions(**{"top": None, **options}), currency="TRY", has_amount=True,
                  has_margin=True, median_second_days=30.0, contacts=contacts)


def test_columns_are_the_contract_even_when_empty():
    result = run(scores_frame([{"customer_id": "A", "lapsed": False}]))
    assert list(result.rows.columns) == COLUMNS
    assert COLUMNS[:8] == FIXED_COLUMNS
    assert COLUMNS[8:11] == ["name", "phone", "email"]
    assert result.rows.empty and result.lapsed == 0


def test_order_is_priority_then_id_and_ranks_count_from_one():
    scores = scores_frame([
        {"customer_id": "b", "priority": 10.0}, {"customer_id": "a", "priority": 10.0},
        {"customer_id": "c", "priority": 99.0},
    ])
    rows = run(scores).rows
    assert rows["customer_id"].tolist() == ["c", "a", "b"]
    assert rows["rank"].tolist() == [1, 2, 3]


def test_do_not_contact_never_listed_and_counted():
    scores = scores_frame([{"customer_id": c, "priority": p} for c, p in (("A", 3.0), ("B", 2.0), ("C", 1.0))])
    contacts = contacts_frame({"A": {"do_not_contact": True, "phone": "0532 123 45 67"},
                               "B": {"email": "Ben@Example.com"}, "C": {"phone": "0532 765 43 21"}})
    suppression = Suppression("s.txt", ids=frozenset({"nobody"}), phones=frozenset({"+905327654321"}),
                              emails=frozenset({"ben@example.com"}))
    result = run(scores, contacts, suppression=suppression)
    assert result.rows.empty
    assert result.do_not_contact == 3
    assert result.eligible == 3


def test_costly_customers_left_off_and_counted():
    scores = scores_frame([{"customer_id": "A"}, {"customer_id": "B", "target": False}])
    result = run(scores)
    assert result.rows["customer_id"].tolist() == ["A"]
    assert (result.lapsed, result.eligible, result.not_targets) == (2, 1, 1)


def test_min_value_and_segment_filters():
    scores = scores_frame([
        {"customer_id": "A", "value_at_risk": 50.0},
        {"customer_id": "B", "value_at_risk": 500.0, "segment": "lost"},
        {"customer_id": "C", "value_at_risk": 900.0, "segment": "can't lose"},
    ])
    assert run(scores, min_value=100.0).rows["customer_id"].tolist() == ["B", "C"]
    result = run(scores, min_value=100.0, segments=("can't lose",))
    assert result.rows["customer_id"].tolist() == ["C"]
    assert result.filtered_out == 2


def test_orphaned_go_first_and_are_flagged():
    scores = scores_frame([
        {"customer_id": "A", "priority": 90.0, "owner": "Elif"},
        {"customer_id": "B", "priority": 10.0, "owner": "Mehmet"},
        {"customer_id": "C", "priority": 5.0, "owner": "mehmet "},
    ])
    result = run(scores, departed_owners=("Mehmet",))
    rows = result.rows
    assert rows["customer_id"].tolist() == ["B", "C", "A"]
    assert rows["note"].tolist()[:2] == ["orphaned; no contact details"] * 2
    assert result.orphaned == 2
    assert result.per_owner() == {"Elif": 1, "": 2}


def test_owner_from_customers_file_wins():
    scores = scores_frame([{"customer_id": "A", "owner": "Old"}, {"customer_id": "B", "owner": "Old"}])
    contacts = contacts_frame({"A": {"owner": "New"}})
    rows = run(scores, contacts).rows
    assert rows.set_index("customer_id")["owner"].to_dict() == {"A": "New", "B": "Old"}


def test_per_owner_cap_then_top():
    scores = scores_frame([{"customer_id": f"{o}{i}", "owner": o, "priority": float(10 * i + (o == "x"))}
                           for o in "xy" for i in range(5)])
    result = run(scores, per_owner=2)
    assert result.rows.groupby("owner").size().to_dict() == {"x": 2, "y": 2}
    assert result.over_owner_cap == 6
    assert len(run(scores, per_owner=2, top=3).rows) == 3


def test_split_by_owner_adds_up_to_the_list():
    scores = scores_frame([{"customer_id": str(i), "owner": ["Ayşe", "Elif", ""][i % 3], "priority": float(i)}
                           for i in range(12)])
    result = run(scores, departed_owners=("Elif",))
    parts = result.by_owner()
    assert set(parts) == {"Ayşe", ""}
    together = pd.concat(parts.values()).sort_values("rank")
    pd.testing.assert_frame_equal(together, result.rows)


def test_contact_columns_and_notes():
    scores = scores_frame([{"customer_id": c, "priority": p} for c, p in (("A", 3.0), ("B", 2.0), ("C", 1.0))])
    contacts = contacts_frame({
        "A": {"name": "=cmd|' /C calc'!A0", "phone": "0532 123 45 67", "email": "a@x.tr"},
        "B": {"name": "Bora", "phone": "12345"},
    })
    rows = run(scores, contacts).rows.set_index("customer_id")
    assert rows.loc["A", "phone"] == "+90 532 123 45 67"
    assert rows.loc["A", "name"] == "=cmd|' /C calc'!A0"  # neutralising is the writers' job
    assert rows.loc["A", "note"] == ""
    assert rows.loc["B", "phone"] == "12345" and rows.loc["B", "note"] == "invalid phone"
    assert rows.loc["C", "note"] == "no contact details"
    assert rows.loc["A", "last_products"] == "=HYPERLINK(\"x\"); Tea"


def test_dtypes_of_rows():
    rows = run(scores_frame([{"customer_id": "007"}])).rows
    assert rows["customer_id"].tolist() == ["007"]
    for col in ("rank", "days_since_last_order", "orders", "usual_gap_days", "referrals"):
        assert rows[col].dtype == "int64", col
    for col in ("revenue", "margin", "average_order_value", "p_alive", "value_at_risk", "priority"):
        assert rows[col].dtype == "float64", col
    assert rows["last_order_date"].tolist() == ["2025-09-23"]


@pytest.mark.parametrize(("text", "name"), [("at risk", "at risk"), ("At-Risk", "at risk"),
                                            ("cant-lose", "can't lose"), ("can't lose", "can't lose"),
                                            ("nope", None)])
def test_segment_names(text, name):
    assert segment_name(text) == name


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", ""]), st.floats(0, 1000), st.booleans(),
                          st.booleans()), min_size=1, max_size=30),
       st.integers(1, 5))
def test_invariants(customers, cap):
    scores = scores_frame([{"customer_id": f"{i:03d}", "owner": o, "priority": p, "value_at_risk": p}
                           for i, (o, p, _, _) in enumerate(customers)])
    contacts = contacts_frame({f"{i:03d}": {"do_not_contact": d, "phone": "0532 123 45 67" if c else ""}
                               for i, (_, _, d, c) in enumerate(customers)})
    result = run(scores, contacts, per_owner=cap, departed_owners=("c",))
    rows = result.rows
    dnc = {f"{i:03d}" for i, (_, _, d, _) in enumerate(customers) if d}
    assert not dnc & set(rows["customer_id"])
    assert len(rows) + result.do_not_contact + result.filtered_out + result.over_owner_cap == result.eligible
    assert rows["customer_id"].is_unique
    assert sum(len(p) for p in result.by_owner().values()) == len(rows)
    orphaned = rows["note"].str.contains("orphaned").to_numpy()
    assert not (orphaned[1:] & ~orphaned[:-1]).any()  # orphaned rows all come first


def test_leave_out_lists_as_if_those_rows_were_gone_and_rank_formats_nothing():
    import numpy as np

    from winback.calllist import rank

    scores = scores_frame([{"customer_id": c, "priority": p, "owner": o} for c, p, o in
                           (("a", 5.0, "X"), ("b", 9.0, "X"), ("c", 7.0, "Y"), ("d", 1.0, "X"))])
    leave = np.array([False, True, False, False])
    options = dict(per_owner=1)
    kept = select(
        scores, ORDERS, SelectOptions(top=None, **options), currency="TRY", has_amount=True, has_margin=True,
        median_second_days=30.0, leave_out=leave)
    dropped = run(scores.drop(index="b"), **options)
    pd.testing.assert_frame_equal(kept.rows, dropped.rows)
    assert kept.rows["customer_id"].tolist() == ["c", "a"] and kept.over_owner_cap == 1
    assert kept.lapsed == 4 and kept.eligible == 4  # left-out customers still count as lapsed
    ranking = rank(scores, SelectOptions(top=2))
    assert scores.index[ranking.order].tolist() == ["b", "c", "a", "d"]  # --top is for select()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("first", [0, 1, 3, 50, 999, 1000, 5000])
def test_the_first_of_the_calling_order_are_the_full_sorts(seed, first):
    from winback._sorting import argsort_descending

    rng = np.random.default_rng(seed)
    values = np.round(rng.gamma(1.0, 50.0, 1000), 0)  # many ties, at the cut too
    values[rng.integers(0, 1000, 20)] = 0.0
    values[rng.integers(0, 1000, 20)] = -0.0
    full = argsort_descending(values)
    got = argsort_descending(values, first)
    assert len(got) >= min(first, len(values))
    assert got.tolist() == full[: len(got)].tolist()
    if 0 < first < len(values):
        assert len(got) < len(values) or values[full[first - 1]] == values[full[-1]]  # the rest was not sorted


def test_notes_and_dates_are_the_texts_pandas_made():
    """Notes (flag names joined by '; ') and ISO dates are made by Arrow for millions of rows: the
    same texts as pandas' string arithmetic and strftime, missing dates missing."""
    from winback.calllist import _iso_dates, _join_flags

    flags = pd.DataFrame({"a": [0, 1, 0, 1, 0, 1, 0, 1], "b b": [0, 0, 1, 1, 0, 0, 1, 1],
                          "c": [0, 0, 0, 0, 1, 1, 1, 1]}, dtype=bool)
    want = pd.Series("", index=flags.index, dtype="str")
    for name in flags.columns:
        want = want + np.where(flags[name], name + "; ", "")
    pd.testing.assert_series_equal(_join_flags(flags), want.str.removesuffix("; "))
    dates = pd.Series(pd.to_datetime(["2024-02-29", None, "1999-12-31 23:59"], format="mixed"),
                      index=[5, 6, 7])
    pd.testing.assert_series_equal(_iso_dates(dates), dates.dt.strftime("%Y-%m-%d").astype("str"))
    zoned = dates.dt.tz_localize("Europe/Istanbul")
    pd.testing.assert_series_equal(_iso_dates(zoned), zoned.dt.strftime("%Y-%m-%d").astype("str"))
