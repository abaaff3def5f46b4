"""Scoring on awkward inputs, and reasons that match the numbers they quote."""

from __future__ import annotations

import json
import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SAMPLE, SAMPLE_AS_OF
from winback.cli import app
from winback.scoring import score
from winback.segments import SEGMENTS
from winback.summary import summarize

SCORE_COLUMNS = ["p_alive", "p_no_purchase", "annual_value", "expected_value", "value_at_risk", "priority",
                 "overdue_ratio", "expected_gap_days"]


def orders_frame(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount", "kind"])
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    frame["line"] = np.arange(len(frame)) + 2
    return frame


def scored(rows, as_of=date(2025, 6, 1)):
    summary = summarize(orders_frame(rows), as_of)
    return score(summary.customers, has_amount=summary.has_amount, has_margin=summary.has_margin)


def assert_clean(result):
    s = result.scores
    for col in SCORE_COLUMNS:
        assert np.isfinite(s[col].to_numpy(dtype=float)).all(), col
    assert ((s["p_alive"] >= 0) & (s["p_alive"] <= 1)).all()
    assert ((s["p_no_purchase"] >= 0) & (s["p_no_purchase"] <= 1)).all()
    assert (s["value_at_risk"] >= 0).all()


@pytest.mark.parametrize(
    "rows",
    [
        [("A", "2025-01-01", 10.0, "purchase")],  # one customer, one order
        [("A", "2025-01-01", 10.0, "purchase"), ("A", "2025-02-01", 12.0, "purchase")],  # one customer
        [(f"C{i}", f"2025-0{1 + i % 5}-1{i % 9}", 10.0 + i, "purchase") for i in range(40)],  # all one-time
        [(f"C{i % 7}", "2025-03-03", 5.0, "purchase") for i in range(30)],  # everything on one day
        [(f"C{i}", "2025-03-03", 5.0, "purchase") for i in range(3)]
        + [(f"C{i}", "2025-03-10", -5.0, "refund") for i in range(3)],  # refunded in full
    ],
    ids=["one-order", "one-customer", "all-one-time", "all-one-day", "refunds"],
)
def test_awkward_inputs_score_without_nan(rows):
    assert_clean(scored(rows))


def test_refunds_only_customer_is_not_scored_and_not_a_target():
    result = scored([("A", "2025-01-01", 100.0, "purchase"), ("A", "2025-01-05", -100.0, "refund"),
                     ("B", "2025-01-02", -30.0, "refund")])
    assert list(result.scores.index) == ["A"]  # B never bought
    assert not result.scores.loc["A", "target"]  # net revenue 0: costs more than brings


def test_million_customers_no_nan():
    rng = np.random.default_rng(7)
    n = 1_000_000
    # Histories on a weekly grid: a million customers, a few thousand distinct histories (the fit's cost).
    orders = rng.integers(1, 6, size=n)
    age = rng.integers(5, 100, size=n) * 7
    recency = (age * rng.random(n) / 7).astype(int) * 7 * (orders > 1)
    customers = pd.DataFrame({
        "frequency": orders - 1, "orders": orders, "recency_days": recency, "age_days": age,
        "days_since_last": age - recency, "first_gap_days": np.where(orders > 1, np.maximum(recency // 2, 1), np.nan),
        "gap_median_days": np.where(orders > 1, np.maximum(recency / np.maximum(orders - 1, 1), 1), np.nan),
        "gap_spread_days": np.where(orders > 2, 3.0, np.nan),
        "gross_revenue": orders * 50.0, "revenue": orders * 50.0, "refunds": 0.0, "margin": np.nan,
        "avg_order_value": 50.0, "repeat_avg_value": np.where(orders > 1, 50.0, np.nan),
        "referrals": 0, "referred_by": "",
    }, index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"))
    result = score(customers)
    assert_clean(result)


def test_one_time_buyers_are_not_always_alive():
    rows = [(f"R{i}", "2024-01-01", 10.0, "purchase") for i in range(60)]
    rows += [(f"R{i}", "2024-01-15", 10.0, "purchase") for i in range(60)]
    rows += [("OLD", "2024-01-01", 10.0, "purchase"), ("RECENT", "2025-05-20", 10.0, "purchase")]
    s = scored(rows).scores
    assert s.loc["OLD", "p_alive"] < 0.05  # silent 17 months where everyone else came back within 2 weeks
    assert s.loc["RECENT", "p_alive"] > s.loc["OLD", "p_alive"]


def test_rhythm_tells_regular_from_rare_buyers():
    rows = []
    for i in range(40):  # weekly buyers, all still buying
        rows += [(f"W{i}", d, 10.0, "purchase") for d in pd.date_range("2024-06-01", "2025-05-25", freq="7D")]
    for i in range(40):  # weekly buyers who stopped months ago: people do leave here
        rows += [(f"S{i}", d, 10.0, "purchase") for d in pd.date_range("2024-06-01", f"2024-{7 + i % 5}-01", freq="7D")]
    for i in range(40):  # twice a year, still buying
        rows += [(f"H{i}", d, 100.0, "purchase") for d in ("2023-09-01", "2024-03-01", "2024-09-01", "2025-03-01")]
    rows += [("W-GONE", d, 10.0, "purchase") for d in pd.date_range("2024-06-01", "2025-03-31", freq="14D")]
    rows += [("H-LATE", d, 100.0, "purchase") for d in ("2023-10-01", "2024-04-01", "2024-10-01", "2025-04-01")]
    s = scored(rows).scores
    # Both silent about two months; the biweekly one is long overdue, the twice-a-year one is not.
    assert s.loc["W-GONE", "overdue_ratio"] > 3
    assert s.loc["H-LATE", "overdue_ratio"] < 0.5
    assert s.loc["W-GONE", "lapsed"] and not s.loc["H-LATE", "lapsed"]


def test_segments_cover_everyone_once(runner, tmp_path):
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--json", "--out", str(tmp_path / "c.csv")])
    data = json.loads(result.stdout)
    assert set(data["segments"]) == set(SEGMENTS)
    assert sum(data["segments"].values()) == data["input"]["customers"]


REPEAT = re.compile(r"^Usually orders every (\d+) days; (\d+) days since the last order \(([\d.]+)x the usual gap\); "
                    r"(\d+) orders, ([\d,]+) net over ")
SINGLE = re.compile(r"^One order (\d+) days ago .*; ([\d,]+) net\.")


def test_every_reason_matches_its_row(runner, tmp_path):
    out = tmp_path / "c.csv"
    result = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--all", "--out", str(out),
                                 "--csv-dialect", "comma", "--quiet"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig")
    assert len(rows) > 500
    for rec in rows.itertuples():
        m = REPEAT.match(rec.reason)
        if m:
            gap, silent, ratio, n, revenue = m.groups()
            assert int(gap) == rec.usual_gap_days
            assert int(silent) == rec.days_since_last_order
            # The reason uses the unrounded gap; the file shows it rounded to whole days.
            low = rec.days_since_last_order / (rec.usual_gap_days + 0.5) - 0.05
            high = rec.days_since_last_order / max(rec.usual_gap_days - 0.5, 0.5) + 0.05
            assert low <= float(ratio) <= high
            assert int(n) == rec.orders
        else:
            m = SINGLE.match(rec.reason)
            assert m, rec.reason
            silent, revenue = m.groups()
            assert int(silent) == rec.days_since_last_order and rec.orders == 1
        assert int(revenue.replace(",", "")) == round(rec.revenue)


def test_second_purchase_curve_table_lookup_matches_the_curve():
    from winback.cadence import ALIVE_WITHIN_DAYS, SecondPurchaseCurve

    rng = np.random.default_rng(5)
    n = 30_000
    repeat = rng.random(n) < 0.4
    customers = pd.DataFrame({
        "frequency": repeat.astype(int),
        "first_gap_days": np.where(repeat, rng.integers(1, 400, n), np.nan),
        "age_days": rng.integers(1, 900, n),
    })
    curve = SecondPurchaseCurve.fit(customers)
    days = rng.integers(0, 2_000, n).astype(float)  # whole days, also beyond the observed range
    np.testing.assert_array_equal(curve.s(days), curve._s(days))
    fractional = days + 0.5  # not whole days: no table
    np.testing.assert_array_equal(curve.s(fractional), curve._s(fractional))
    # The probabilities from tables over whole days equal the same arithmetic per customer.
    for silent in (days, fractional):
        for horizon in (90, 45.5):
            now = np.maximum(curve._s(silent), 1e-300)
            alive_per_customer = 1.0 - np.clip(curve._s(silent + ALIVE_WITHIN_DAYS) / now, 0.0, 1.0)
            none_per_customer = np.clip(curve._s(silent + horizon) / now, 0.0, 1.0)
            alive, none = curve.p_alive_and_no_purchase(silent, horizon)
            np.testing.assert_array_equal(alive, alive_per_customer)
            np.testing.assert_array_equal(none, none_per_customer)
            np.testing.assert_array_equal(curve.p_no_purchase(silent, horizon), none_per_customer)
            np.testing.assert_array_equal(curve.p_alive(silent), alive_per_customer)


@pytest.mark.parametrize("values", [
    [3.0, 0.0, 3.0, 17.0, 5.0, 5.0, 5.0],  # whole days: counted per day
    [0.5, 2.0, 0.5],  # not whole: sorted
    [-1.0, 4.0, 4.0],  # negative: sorted
    [],
])
def test_distinct_counts_equal_numpys_unique(values):
    from winback.cadence import _distinct_counts

    got, expected = _distinct_counts(np.array(values)), np.unique(np.array(values), return_counts=True)
    assert got[0].dtype == expected[0].dtype and got[0].tolist() == expected[0].tolist()
    assert got[1].tolist() == expected[1].tolist()


def test_without_bgnbd_repeat_buyers_are_judged_by_their_own_rhythm(monkeypatch):
    """BG/NBD is fitted while the rhythms are worked out in a second thread; when it can't be fitted,
    repeat buyers get the rhythm fallback, and the run notes keep their order (BG/NBD, then spend)."""
    from winback import scoring
    from winback.errors import ModelFitError
    from winback.models import BetaGeoModel

    rows = [(f"C{i % 60}", f"2025-0{1 + i % 5}-{1 + i % 27:02d}", 10.0 + i % 13, "purchase") for i in range(400)]
    summary = summarize(orders_frame(rows), date(2025, 6, 1))

    def no_fit(self, *args, **kwargs):
        raise ModelFitError("the test says no")

    monkeypatch.setattr(BetaGeoModel, "fit", no_fit)
    result = score(summary.customers, has_amount=True)
    s = result.scores
    assert result.model.bgnbd is None and result.model.notes[0] == "BG/NBD not used: the test says no"
    assert s["p_alive_bgnbd"].isna().all()
    repeat = (s["frequency"] > 0).to_numpy()
    alive, none = scoring._rhythm_fallback(s["orders"].to_numpy(dtype=float), s["days_since_last"].to_numpy(dtype=float),
                                           s["expected_gap_days"].to_numpy(), 90)
    assert repeat.any() and np.allclose(s["p_alive"].to_numpy()[repeat], alive[repeat], rtol=0, atol=1e-15)
    assert np.allclose(s["p_no_purchase"].to_numpy()[repeat], np.clip(none, 0, 1)[repeat], rtol=0, atol=1e-15)
    assert_clean(result)


@pytest.mark.parametrize("with_bgnbd", [True, False])
def test_expected_purchases_are_worked_out_from_the_scores_when_asked(with_bgnbd, monkeypatch):
    """A score result's expected_purchases (backtests call it) holds no array of its own: its own
    copies of frequency, recency, age and the rate held about 140 MB at 3.6 million customers
    through the call list, where a scan peaks. It works them out from the score columns when it is
    called: BG/NBD's expectation for repeat buyers, or without BG/NBD their P(alive) times their own
    rate; and changing the scores frame afterwards changes nothing."""
    from winback import scoring
    from winback.errors import ModelFitError
    from winback.models import BetaGeoModel

    fitted, real_fit = [], scoring._fit

    def fit(model_class, *args):
        if model_class is BetaGeoModel and not with_bgnbd:
            raise ModelFitError("the test says no")
        fitted.append(real_fit(model_class, *args))
        return fitted[-1]

    monkeypatch.setattr(scoring, "_fit", fit)
    rows = [(f"C{i % 60}", f"2025-0{1 + i % 5}-{1 + i % 27:02d}", 10.0 + i % 13, "purchase")
            for i in range(400)]
    # One-time buyers of the last days before the as-of date (five days): some may still return.
    one_time = [(f"N{i}", f"2025-05-{25 + i % 5}", 20.0, "purchase") for i in range(30)]
    rows += one_time
    summary = summarize(orders_frame(rows), date(2025, 6, 1))
    result = score(summary.customers, has_amount=True)
    held = [cell.cell_contents for cell in result.expected_purchases.__closure__]
    assert not [value for value in held if isinstance(value, np.ndarray)]

    s = result.scores
    got = result.expected_purchases(90.0)
    repeat = (s["frequency"] > 0).to_numpy()
    assert repeat.any() and (~repeat).any()
    if with_bgnbd:
        (bg,) = [model for model in fitted if isinstance(model, BetaGeoModel)]
        want = bg.expected_purchases(90.0 / 7, s["frequency"].to_numpy(dtype=float),
                                     s["recency_days"].to_numpy(dtype=float) / 7,
                                     s["age_days"].to_numpy(dtype=float) / 7)
    else:
        assert result.model.bgnbd is None
        own_rate = 7.0 / np.maximum(s["expected_gap_days"].to_numpy(), 1.0)
        want = s["p_alive"].to_numpy() * own_rate * 90.0 / 7
    np.testing.assert_array_equal(got[repeat], want[repeat])
    # One-time buyers (five first-order days, so five ages, worked out once each): P(a second
    # purchase) x (1 + what BG/NBD expects after it, in the second half of the window).
    from winback.cadence import SecondPurchaseCurve

    silent = s["days_since_last"].to_numpy(dtype=float)
    returns = 1.0 - SecondPurchaseCurve.fit(s).p_no_purchase(silent, 90.0)
    if with_bgnbd:
        later = s["age_days"].to_numpy(dtype=float) / 7 + 45.0 / 7
        returns *= 1.0 + bg.expected_purchases(45.0 / 7, np.ones(len(s)), later, later)
    assert len(np.unique(s["age_days"].to_numpy()[~repeat])) == 5
    may_return = returns[~repeat] > 0
    assert len(np.unique(returns[~repeat][may_return])) >= (3 if with_bgnbd else 1)
    np.testing.assert_array_equal(got[~repeat], returns[~repeat])
    assert np.isfinite(got).all() and (got >= 0).all()

    s["frequency"] = 0
    s["age_days"] = 0
    s["p_alive"] = 0.0
    np.testing.assert_array_equal(result.expected_purchases(90.0), got)


def test_expected_gap_is_the_shrinkage_formula_to_the_last_bit():
    """Worked out in place on one array: the same numbers as the formula written out,
    exp((n log(own) + k log(prior)) / (n + k)), one-time buyers and unusable gaps as documented."""
    from winback.cadence import expected_gap

    rng = np.random.default_rng(11)
    n = rng.integers(0, 9, 4_000)
    own = np.where(rng.random(4_000) < 0.05, np.nan, rng.gamma(2.0, 20.0, 4_000))
    own[n == 0] = np.nan
    customers = pd.DataFrame({"frequency": n, "gap_median_days": own})
    got = expected_gap(customers, 30.0, 45.0, prior_weight=1.7).to_numpy()
    usable = np.where(np.isfinite(own) & (own > 0), own, 1.0)
    expected = np.where(n > 0, np.exp((n * np.log(usable) + 1.7 * np.log(30.0)) / (n + 1.7)), 45.0)
    assert (n == 0).any() and np.isnan(own[n > 0]).any()
    np.testing.assert_array_equal(got, expected)


def test_models_load_in_a_thread_of_their_own_and_leave_a_failure_to_the_fit(monkeypatch):
    """start_loading_models imports the models' libraries in a thread beside the caller; when that
    import fails, the thread says nothing (no traceback on stderr): the fit's own import raises."""
    import sys
    import threading

    from winback import scoring

    started: list[threading.Thread] = []
    real_start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start",
                        lambda self: (started.append(self), real_start(self)))
    scoring.start_loading_models()
    assert [t.name for t in started] == ["winback-models"] and started[0].daemon
    started[0].join(timeout=60)
    assert "winback.models" in sys.modules

    monkeypatch.setitem(sys.modules, "winback.models", None)  # as when scipy cannot be imported
    scoring._import_models()  # no exception here: score()'s own import raises it


@pytest.mark.parametrize("who", ["helper", "caller", "older scipy"])
def test_spend_model_is_fitted_by_the_first_free_thread_with_the_same_result(who, monkeypatch):
    """Gamma-Gamma is fitted by the score helper once the rhythms are done, unless the calling
    thread is done with BG/NBD first; with a scipy older than 1.15 (whose L-BFGS-B was not safe in
    two threads) always by the calling thread, after BG/NBD. Which thread it is changes nothing:
    the same scores, the same parameters, the run notes in the same order."""
    import threading

    from winback import scoring
    from winback.models import BetaGeoModel

    rows = [(f"C{i % 60}", f"2025-0{1 + i % 5}-{1 + i % 27:02d}", 10.0 + i % 13, "purchase")
            for i in range(400)]
    summary = summarize(orders_frame(rows), date(2025, 6, 1))
    baseline = score(summary.customers, has_amount=True)

    spend_done, fitted_by = threading.Event(), []
    real_fit_spend, real_rhythms = scoring._fit_spend, scoring._rhythms
    real_bg_fit = BetaGeoModel.fit

    def fit_spend(*args):
        fitted_by.append(threading.current_thread().name)
        try:
            return real_fit_spend(*args)
        finally:
            spend_done.set()

    def bg_fit_after_spend(self, *args, **kwargs):  # the helper gets to Gamma-Gamma first
        assert spend_done.wait(timeout=60)
        return real_bg_fit(self, *args, **kwargs)

    def rhythms_after_spend(*args):  # the calling thread gets to Gamma-Gamma first
        assert spend_done.wait(timeout=60)
        return real_rhythms(*args)

    def bg_fit_slowly(self, *args, **kwargs):  # time for the helper to take Gamma-Gamma, if let
        spend_done.wait(timeout=0.5)
        return real_bg_fit(self, *args, **kwargs)

    monkeypatch.setattr(scoring, "_fit_spend", fit_spend)
    if who == "helper":
        monkeypatch.setattr(BetaGeoModel, "fit", bg_fit_after_spend)
    elif who == "caller":
        monkeypatch.setattr(scoring, "_rhythms", rhythms_after_spend)
    else:
        monkeypatch.setattr(scoring, "_optimisers_in_two_threads", lambda: False)
        monkeypatch.setattr(BetaGeoModel, "fit", bg_fit_slowly)
    result = score(summary.customers, has_amount=True)

    assert len(fitted_by) == 1
    assert (fitted_by[0] == threading.current_thread().name) == (who != "helper")
    assert result.model.to_dict() == baseline.model.to_dict()
    assert result.model.gamma_gamma is not None and result.model.bgnbd is not None
    pd.testing.assert_frame_equal(result.scores, baseline.scores)
