"""Nightly rules on tiny hand-made frames: the draw, material change, cooldown, diff and outcomes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from winback.nightly import (
    History,
    NightlyOptions,
    changed_materially,
    contact_outcome,
    cooldown,
    draw,
    nightly_diff,
    outcomes,
)

AS_OF = date(2025, 12, 8)


def orders(*rows):
    return pd.DataFrame([{"customer_id": c, "order_date": pd.Timestamp(d), "kind": k, "amount": a}
                         for c, d, k, a in rows])


def history(*rows):
    frame = pd.DataFrame([{"list_date": pd.Timestamp(d), "customer_id": c, "arm": arm, "rank": i + 1,
                           "compared": 1, "priority": p, "value_at_risk": 1.0, "segment": s, "owner": "A",
                           "last_order": pd.Timestamp("2025-06-01")} for i, (d, c, arm, p, s) in enumerate(rows)])
    return frame


def test_draw_is_stable_per_day_and_close_to_the_share():
    ids = [f"C{i}" for i in range(4000)]
    a = draw(ids, AS_OF, 0.1)
    assert (a == draw(ids, AS_OF, 0.1)).all()
    assert 0.08 < a.mean() < 0.12
    assert (a != draw(ids, date(2025, 12, 9), 0.1)).any()
    assert not draw(ids, AS_OF, 0.0).any()


def test_material_change_and_cooldown():
    then = history(("2025-12-01", "A", "called", 10.0, "at risk"), ("2025-12-01", "B", "called", 10.0, "at risk"),
                   ("2025-12-01", "C", "called", 10.0, "at risk"), ("2025-12-01", "D", "called", 10.0, "at risk"),
                   ("2025-12-01", "E", "control", 100.0, "at risk"), ("2025-10-01", "F", "called", 10.0, "at risk"))
    now = pd.DataFrame({"priority": [10.5, 15.0, 11.0, 10.0, 500.0, 10.0],
                        "segment": ["at risk", "at risk", "lost", "at risk", "lost", "at risk"]},
                       index=pd.Index(list("ABCDEF"), name="customer_id"))
    refunds = orders(("D", "2025-12-03", "refund", -50.0), ("A", "2025-11-01", "refund", -5.0))
    last = then.set_index("customer_id").loc[list("ABCD")]
    assert changed_materially(now, last, refunds).tolist() == [False, True, True, True]
    cooled, again = cooldown(now, then, refunds, AS_OF, NightlyOptions(cooldown_days=30))
    assert cooled == ["A", "E"]  # E is control: it sits out the cooldown whatever happens; F is past it
    assert again == ["B", "C", "D"]
    assert cooldown(now, then, refunds, AS_OF, NightlyOptions(ignore_cooldown=True)) == ([], [])


def test_nightly_diff():
    past = History(history(), date(2025, 12, 1), ["A", "B", "C"])
    got = nightly_diff(["B", "C", "D"], past, orders(("C", "2025-12-05", "purchase", 10.0),
                                                     ("B", "2025-11-20", "purchase", 10.0)), AS_OF)
    assert (got.newly_lapsed.to_pylist(), got.came_back.to_pylist(), got.still_lapsed.to_pylist()) == (["D"], ["C"], ["B"])
    assert nightly_diff(["A"], History(history()), orders(), AS_OF).previous_as_of is None


def test_outcomes_by_hand():
    listed = history(("2025-10-01", "A", "called", 1.0, "at risk"), ("2025-10-01", "B", "control", 1.0, "lost"),
                     ("2025-10-01", "C", "called", 1.0, "at risk"), ("2025-10-20", "C", "called", 1.0, "at risk"))
    o = orders(("A", "2025-10-05", "purchase", 100.0), ("A", "2025-10-09", "refund", -20.0),
               ("A", "2026-03-01", "purchase", 999.0),  # after the 90 days: not counted
               ("B", "2025-11-01", "purchase", 30.0), ("C", "2025-10-25", "purchase", 40.0))
    result = outcomes(listed, o, AS_OF, window_days=90)
    d = result.detail.set_index(["customer_id", result.detail["list_date"].dt.strftime("%m-%d")])
    assert d.loc[("A", "10-01"), ["came_back", "days_to_return", "revenue"]].tolist() == [True, 4, 80.0]
    assert d.loc[("B", "10-01"), "days_to_return"] == 31
    assert not d.loc[("C", "10-01"), "came_back"]  # the order came after the next list of C
    assert d.loc[("C", "10-20"), "came_back"]
    cmp = result.comparison()
    assert cmp["called"]["customers"] == 3 and cmp["called"]["came_back"] == 2
    assert cmp["control"]["rate"] == 1.0
    assert cmp["uplift"] == round(2 / 3 - 1, 4)
    assert cmp["incremental_revenue"] == round((120 / 3 - 30) * 3, 2)
    by_segment = result.table("segment").set_index(["segment", "arm"])
    assert by_segment.loc[("at risk", "called"), "customers"] == 3
    assert np.isclose(by_segment.loc[("lost", "control"), "rate"], 1.0)


def test_contact_outcome_spellings():
    assert [contact_outcome(t) for t in ("Reached", "no answer", "NO_ANSWER", "wrong-number", "x")] == [
        "reached", "no-answer", "no-answer", "wrong-number", None]


@pytest.mark.parametrize("seed", range(4))
def test_the_digit_id_lookup_of_the_nightly_diff_equals_arrows_hash_lookup(seed):
    """Tonight's and last night's lapsed ids: digit ids (also of different lengths, "0042" beside "42")
    are found by a binary search on integer keys, other ids by Arrow's hash lookup; the same flags."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from winback.nightly import _found_in, _sorted_text

    rng = np.random.default_rng(seed)
    pool = [str(v) for v in rng.integers(0, 5_000, 3_000)] + [f"{v:06d}" for v in rng.integers(0, 5_000, 1_000)]
    if seed == 3:
        pool += ["7", "07", "007", "99999999999999999"]
    now = _sorted_text(list(rng.choice(pool, 1_500)))
    before = _sorted_text(list(rng.choice(pool, 1_500)))
    at = pc.index_in(now, value_set=before)
    expected_now = at.is_valid().to_numpy(zero_copy_only=False)
    expected_before = np.zeros(len(before), dtype=bool)
    expected_before[at.filter(at.is_valid()).to_numpy(zero_copy_only=False)] = True
    found_now, found_before = _found_in(now, before)
    assert np.array_equal(found_now, expected_now) and np.array_equal(found_before, expected_before)
    assert 0 < found_now.sum() < len(now)
    letters = _sorted_text(["A1", "B2", *now.to_pylist()[:50]])  # not all digits: the hash lookup
    assert np.array_equal(_found_in(letters, before)[0], pc.is_in(letters, value_set=before).to_numpy(zero_copy_only=False))
    empty = pa.array([], type=pa.large_string())
    assert _found_in(empty, before)[1].sum() == 0 and len(_found_in(now, empty)[0]) == len(now)
