"""BG/NBD: published CDNOW results, exact formulas, simulation checks, degenerate/extreme input."""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import beta, betaln, digamma, expit, gamma, gammaln, hyp2f1

from tests.cdnow import cdnow_rfm
from tests.conftest import SAMPLE
from tests.sums import assert_sums_agree
from winback.errors import ModelFitError
from winback.importer import ImportOptions
from winback.models import (
    BetaGeoModel,
    bgnbd,
    bgnbd_log_likelihood,
    simulate_bgnbd,
    simulate_bgnbd_with_holdout,
)
from winback.models._optim import RUNAWAY, OptimResult, given_alive_quadrature
from winback.models.bgnbd import _expected_given_alive, _loglik, _summed_loglik
from winback.pipeline import ScanOptions, scan

# Fader, Hardie & Lee (2005), section 5, on the CDNOW sample.
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.fixture(scope="module")
def cdnow():
    return cdnow_rfm()


@pytest.fixture(scope="module")
def fitted(cdnow):
    return BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def _rfm(d):
    return d["frequency"].to_numpy(float), d["recency"].to_numpy(float), d["T"].to_numpy(float)


def test_cdnow_summary_counts(cdnow):
    assert len(cdnow) == 2357
    assert cdnow["T"].max() == pytest.approx(272 / 7)  # 1997-01-01 .. 1997-09-30: the paper's 38.86
    assert cdnow["T"].min() == pytest.approx(189 / 7)  # 1997-03-25 .. 1997-09-30
    # Same-day orders merged: 946 repeat buyers (2357 - 1411 with no repeat, as in the paper), 2457
    # repeat purchase days in weeks 1-39 and 1882 in weeks 40-78.
    assert int((cdnow["frequency"] > 0).sum()) == 946
    assert int(cdnow["frequency"].sum()) == 2457
    assert int(cdnow["holdout"].sum()) == 1882
    assert (cdnow["recency"] <= cdnow["T"]).all()


def test_reproduces_published_cdnow_fit(fitted):
    for key, value in PUBLISHED.items():
        # equal to the published value in all three decimals
        assert fitted.params_[key] == pytest.approx(value, abs=6e-4), key
    assert fitted.log_likelihood_ == pytest.approx(-9582.4, abs=0.06)
    assert fitted.converged_
    assert fitted.summary()["log_likelihood"] == fitted.log_likelihood_


def test_log_likelihood_matches_textbook_formula(fitted, cdnow):
    """Paper eq. 6 written out directly (fine at CDNOW's moderate values) vs the log-space form."""
    x, t_x, T = _rfm(cdnow)
    r, alpha, a, b = (fitted.params_[k] for k in ("r", "alpha", "a", "b"))
    a1 = gamma(r + x) * alpha**r / (gamma(r) * (alpha + T) ** (r + x)) * beta(a, b + x) / beta(a, b)
    a2 = np.where(x > 0, gamma(r + x) * alpha**r / (gamma(r) * (alpha + t_x) ** (r + x))
                  * beta(a + 1, np.maximum(b + x - 1, 1e-9)) / beta(a, b), 0.0)
    ll = bgnbd_log_likelihood(fitted.params_, x, t_x, T)
    np.testing.assert_allclose(ll, np.log(a1 + a2), rtol=1e-10)
    assert ll.sum() == pytest.approx(fitted.log_likelihood_)


def test_predictions_match_textbook_formulas(fitted, cdnow):
    """Eq. 10 / eq. 11 as printed (lifetimes' form), valid for CDNOW's moderate inputs."""
    x, t_x, T = _rfm(cdnow)
    r, alpha, a, b = (fitted.params_[k] for k in ("r", "alpha", "a", "b"))
    alive = 1 / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    t = 39.0
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    eq10 = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    eq10 = eq10 * alive
    np.testing.assert_allclose(fitted.p_alive(x, t_x, T), alive, rtol=1e-12)
    np.testing.assert_allclose(fitted.expected_purchases(t, x, t_x, T), eq10, rtol=1e-9)
    hyp0 = hyp2f1(r, b, a + b - 1, t / (alpha + t))
    eq9 = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp0)
    assert fitted.expected_purchases_new(t) == pytest.approx(eq9, rel=1e-10)


def test_holdout_purchases_tracked(fitted, cdnow):
    expected = fitted.expected_purchases(39.0, *_rfm(cdnow)).sum()
    actual = cdnow["holdout"].sum()
    assert abs(expected - actual) / actual < 0.15  # 1653 vs 1882 in this sample


# Values of (a+b+x-1)/(a-1) [1 - 2F1(r+x, a-1; a+b+x-1; -u)], the purchases expected in
# t = u (alpha+T) by a customer alive at T, from mpmath.hyp2f1 at 50 digits; where mpmath.quad
# of the Beta integral converges (the easier rows) it agrees to all digits. (r, x, a, b, u, value)
REFERENCE = [
    (0.243, 5, 0.793, 2.426, 1.3, 5.107872165707831),
    (0.5, 100, 0.3, 5, 0.5, 47.215731417469661),
    (2, 0, 0.05, 50, 1e4, 15410.207698516096),
    (0.68, 2, 0.113, 437.8, 1.2e5, 168757.13158411636),
    (0.01, 1000, 880, 0.17, 19, 2.1378498293515358),
    (0.3, 3, 1.000001, 2.0, 5.0, 7.1457999211620929),  # a next to 1: removable singularity
    (0.3, 0, 0.4, 0.6000001, 3.0, 0.60073742440969434),  # a + b + x - 1 next to 0
    (1.5, 5000, 0.8, 2.5, 0.01, 49.816163629515943),
    (0.25, 1, 0.8, 2.5, 520000.0, 164.52869411272335),
    (0.243, 2, 0.793, 2.426, 0.05, 0.11079590601462175),  # small u: the series branch
    (0.5, 0, 0.3, 5, 0.2, 0.099178640037361957),
    (3, 50, 0.8, 2.5, 0.005, 0.26446466528696007),
    (0.243, 0, 0.793, 2.426, 1e-7, 2.4299999627951459e-8),
]


@pytest.mark.parametrize(("r", "x", "a", "b", "u", "value"), REFERENCE)
def test_expected_purchases_reference_values(r, x, a, b, u, value):
    alpha, T = 2.0, 3.0
    model = BetaGeoModel.from_params(r, alpha, a, b)
    t_x = T if x > 0 else 0.0  # recency = T: the alive-probability factor is known in closed form
    got = model.expected_purchases(u * (alpha + T), x, t_x, T) / model.p_alive(x, t_x, T)
    assert got == pytest.approx(value, rel=1e-7)


@settings(max_examples=200, deadline=None)
@given(
    r=st.floats(0.01, 50), a=st.floats(0.01, 50), b=st.floats(0.01, 500),
    x=st.integers(0, 3000), log10_u=st.floats(-6, 4),
)
def test_closed_form_agrees_with_quadrature(r, a, b, x, log10_u):
    """Series / hypergeometric branches against the independent quadrature (accurate to ~1e-9)."""
    xs, us = np.array([float(x)]), np.array([10.0**log10_u])
    closed = _expected_given_alive(r, a, b, xs, us)
    quad = given_alive_quadrature(a, b + xs, r + xs, us)
    np.testing.assert_allclose(closed, quad, rtol=1e-6)


@settings(max_examples=200, deadline=None)
@given(
    params=st.tuples(*(st.floats(1e-4, 1e4) for _ in range(4))),
    x=st.integers(0, 100_000), frac=st.floats(0.0, 1.0), T=st.floats(0.0, 1e6),
)
def test_log_likelihood_and_gradient_stay_finite(params, x, frac, T):
    t_x = frac * T if x > 0 else 0.0
    ll, grad = _loglik(np.log(np.array(params)), np.array([x]), np.array([t_x]), np.array([T]))
    assert np.isfinite(ll).all() and np.isfinite(grad).all()
    if x == 0:  # then the likelihood is the probability of no repeat purchase by T
        # (at most 1, less the rounding of terms that cancel: gammaln(3355) is 23,900)
        value_size, _ = _term_sizes(np.log(np.array(params)), np.array([x]), np.array([t_x]),
                                    np.array([T]))
        assert ll[0] <= 1e-12 + 1e-15 * value_size[0]


def _term_sizes(theta, x, t_x, T):
    """Per history, the sizes of the terms that the log-likelihood and each gradient component
    add up (they can cancel: two right sums of them may differ by a few ulps of these)."""
    r, alpha, a, b = np.exp(theta)
    log_aT, gap = np.log(alpha + T), np.log1p((T - t_x) / (alpha + t_x))
    bx1 = np.where(x > 0, b + x - 1, 1.0)
    D = np.log(a) - np.log(bx1) + (r + x) * gap
    s = np.where(x > 0, expit(D), 0.0)
    dab = np.abs(digamma(a + b)) + np.abs(digamma(a + b + x))
    value = (np.abs(gammaln(r + x)) + abs(gammaln(r)) + abs(r * np.log(alpha)) + np.abs(
        betaln(a, b + x)) + abs(betaln(a, b)) + (r + x) * np.abs(log_aT) + np.abs(D) * s + 1)
    grad = np.column_stack([
        r * (np.abs(digamma(r + x)) + abs(digamma(r)) + abs(np.log(alpha)) + np.abs(log_aT)
             + s * gap),
        r + alpha * (r + x) * (1 / (alpha + T) + s / (alpha + t_x)),
        a * dab + s,
        b * (np.abs(digamma(b + x)) + abs(digamma(b)) + dab + s / bx1),
    ])
    return value, grad


@settings(max_examples=100, deadline=None)
@given(
    params=st.tuples(*(st.floats(1e-4, 1e4) for _ in range(4))),
    seed=st.integers(0, 2**32 - 1),
)
def test_summed_likelihood_is_the_weighted_sum_of_the_per_history_one(params, seed):
    """The fit's objective (sums only) against ``w @ _loglik``: one-time and repeat buyers mixed
    in no particular order, uneven weights, and parameters from tiny to huge (the dropout term
    ``D`` then runs from far below to far above 0). The two sum the same terms in other orders:
    they agree to a few ulps of the terms' sizes."""
    rng = np.random.default_rng(seed)
    n = 300
    x = rng.choice([0, 0, 1, 2, 5, 40, 3000], size=n).astype(float)
    T = rng.choice([0.0, 0.5, 7.0, 365.0, 1e5], size=n) * rng.random(n)
    t_x = np.where(x > 0, T * rng.choice([0.0, 0.3, 1.0], size=n), 0.0)
    w = rng.integers(1, 50, size=n).astype(float)
    theta = np.log(np.array(params))
    summed = _summed_loglik(x, t_x, T, w, np.unique(x, return_inverse=True))(theta)
    assert_sums_agree(summed, w, *_loglik(theta, x, t_x, T), *_term_sizes(theta, x, t_x, T))


def test_fit_collapses_to_distinct_histories(fitted, cdnow):
    assert fitted.n_customers_ == 2357
    assert fitted.n_repeat_buyers_ == 946
    distinct = len(np.unique(np.column_stack(_rfm(cdnow)), axis=0))
    assert fitted.n_distinct_ == distinct < 1100


def test_million_customers_from_cdnow_histories(fitted, cdnow):
    # 1,001,725 customers with 1016 distinct histories
    x, t_x, T = (np.repeat(v, 425) for v in _rfm(cdnow))
    big = BetaGeoModel().fit(x, t_x, T)
    assert big.n_customers_ == 1_001_725
    assert big.n_distinct_ == fitted.n_distinct_
    for key in PUBLISHED:
        assert big.params_[key] == pytest.approx(fitted.params_[key], rel=1e-4)
    assert big.log_likelihood_ == pytest.approx(425 * fitted.log_likelihood_, rel=1e-8)


def test_weights_equal_repeated_rows(cdnow):
    rows, counts = np.unique(np.column_stack(_rfm(cdnow)), axis=0, return_counts=True)
    weighted = BetaGeoModel().fit(rows[:, 0], rows[:, 1], rows[:, 2], weights=counts)
    plain = BetaGeoModel().fit(*_rfm(cdnow))
    for key in PUBLISHED:
        assert weighted.params_[key] == pytest.approx(plain.params_[key], rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-10)


def test_recovers_simulated_parameters():
    rng = np.random.default_rng(20261123)
    n = 20_000
    T = rng.uniform(20, 52, n)
    x, t_x, T = simulate_bgnbd(n, r=0.5, alpha=10.0, a=0.8, b=2.5, T=T, rng=rng)
    model = BetaGeoModel().fit(x, t_x, T)
    p = model.params_
    # Spread of the estimates over 40 seeds at this n (relative sd): r 1.8%, alpha 2.4%, a 9.6%,
    # b 11.3%, mean dropout a/(a+b) 2.9%. With at most 20-52 weeks of data a and b are individually
    # weakly identified, their ratio is not. Tolerances are about 4-5 sd.
    assert p["r"] == pytest.approx(0.5, rel=0.10)
    assert p["alpha"] == pytest.approx(10.0, rel=0.12)
    assert p["a"] / (p["a"] + p["b"]) == pytest.approx(0.8 / 3.3, rel=0.15)
    assert p["a"] == pytest.approx(0.8, rel=0.45)
    assert p["b"] == pytest.approx(2.5, rel=0.5)
    # Likelihood ratio: 2 (LL(fit) - LL(truth)) is chi-square with 4 df; 99.9% point 18.5.
    lr = 2 * (model.log_likelihood_ - bgnbd_log_likelihood((0.5, 10.0, 0.8, 2.5), x, t_x, T).sum())
    assert 0 <= lr < 18.5


def test_predictions_match_simulated_future():
    """With the true parameters, predictions must match what the simulated customers then do."""
    rng = np.random.default_rng(7)
    n = 50_000
    T = rng.uniform(20, 52, n)
    sim = simulate_bgnbd_with_holdout(n, 0.5, 10.0, 0.8, 2.5, T, rng, holdout=39.0)
    model = BetaGeoModel.from_params(0.5, 10.0, 0.8, 2.5)
    hist = (sim.frequency, sim.recency, sim.T)
    # Sum of holdout purchases: per-customer sd ~1.7, so the sum's relative sd is ~1%.
    assert model.expected_purchases(39.0, *hist).sum() == pytest.approx(sim.holdout.sum(), rel=0.04)
    # Share with no purchase: binomial sd ~0.002.
    none = model.prob_no_purchase(39.0, *hist).mean()
    assert none == pytest.approx(np.mean(sim.holdout == 0), abs=0.01)
    new = simulate_bgnbd(n, 0.5, 10.0, 0.8, 2.5, 26.0, rng)[0]  # new customers' first 26 weeks
    assert model.expected_purchases_new(26.0) == pytest.approx(new.mean(), abs=0.03)  # se ~0.007


def test_no_customers_and_no_repeat_buyers_are_clear_errors():
    with pytest.raises(ModelFitError, match="no customers"):
        BetaGeoModel().fit([], [], [])
    with pytest.raises(ModelFitError, match=r"needs repeat buyers.*none of the 3 customers"):
        BetaGeoModel().fit([0, 0, 0], [0, 0, 0], [5, 10, 20])


def test_invalid_input_is_a_clear_error():
    with pytest.raises(ModelFitError, match="recency"):
        BetaGeoModel().fit([1, 2], [5.0, 1.0], [4.0, 3.0])
    with pytest.raises(ModelFitError, match="whole number"):
        BetaGeoModel().fit([1.5], [1.0], [2.0])
    model = BetaGeoModel.from_params(*PUBLISHED.values())
    with pytest.raises(ValueError, match="finite"):
        model.p_alive([1], [np.nan], [2.0])
    with pytest.raises(RuntimeError, match="not fitted"):
        BetaGeoModel().p_alive([1], [1.0], [2.0])
    with pytest.raises(ValueError, match="whole number"):  # past the first block of a million
        model.p_alive(np.r_[np.ones(1_500_000), 2.5], np.zeros(1_500_001), np.ones(1_500_001))
    with pytest.raises(ValueError, match="recency"):
        model.p_alive([2], [1.0 + 1e-9], [1.0])


def test_recency_is_clamped_to_age_and_to_zero_without_repeat_purchases():
    """Within the rounding tolerance past T, recency counts as T; without a repeat purchase, as 0.
    The input arrays are left as they were."""
    from winback.models._optim import check_rfm

    x, age = np.array([2.0, 0.0, 1.0]), np.array([5.0, 4.0, 4.0])
    t_x = np.array([5.0 + 1e-13, 3.0, 2.0])
    checked = check_rfm(x, t_x, age)
    assert checked[1].tolist() == [5.0, 0.0, 2.0]
    assert t_x.tolist() == [5.0 + 1e-13, 3.0, 2.0]
    model = BetaGeoModel.from_params(*PUBLISHED.values())
    clamped = model.p_alive(x, [5.0, 0.0, 2.0], age)
    assert model.p_alive(x, t_x, age).tolist() == clamped.tolist()
    assert check_rfm([0.0, 1.0], [3.0, 1.0], [4.0, 4.0])[1].tolist() == [0.0, 1.0]  # none past T
    # nothing to clamp
    assert check_rfm([2.0, 0.0], [1.0, 0.0], [5.0, 4.0])[1].tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("x", "t_x", "T"),
    [
        ([1], [1.0], [2.0]),  # one customer
        ([3, 3, 0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),  # all on one day, observed for no time
        ([3, 3, 0], [0.0, 0.0, 0.0], [10.0, 20.0, 5.0]),  # repeat purchases all on the first day
        ([1000, 0, 2], [500.0, 0.0, 1.0], [520.0, 1000.0, 1000.0]),  # huge frequency and age
        ([1000] * 10 + [0] * 50, [1e5] * 10 + [0.0] * 50, [1e5] * 60),  # huge and uniform
    ],
)
def test_degenerate_inputs_fit_or_fail_cleanly(x, t_x, T):
    start = time.perf_counter()
    try:
        model = BetaGeoModel().fit(x, t_x, T)
    except ModelFitError as exc:
        assert "BG/NBD" in str(exc) and "nan" not in str(exc).lower()
    else:
        assert all(np.isfinite(v) and v > 0 for v in model.params_.values())
        assert np.isfinite(model.log_likelihood_)
        assert np.all(np.isfinite(model.expected_purchases(52.0, x, t_x, T)))
    assert time.perf_counter() - start < 20


@pytest.mark.parametrize("log_a, log_b", [(-12.31268471, 11.056308), (-11.56688378, 10.38373882)])
def test_a_fit_on_the_no_dropout_ridge_is_refused_wherever_it_stopped(log_a, log_b, monkeypatch):
    """a -> 0, b -> infinity: nobody would ever stop buying, and the likelihood creeps up that way.
    The two points are where L-BFGS-B stopped on the sample's 128 customers as of 2025-01-01 with
    two ways of summing the same likelihood (same value to 1e-10); only the first is past
    RUNAWAY. Both are refused, so the scan's fallback (a small penalty) does not depend on it."""
    stop = OptimResult(np.array([0.0158, 1.654, log_a, log_b]), 2.0041607618, True, True,
                       abs(log_a) > RUNAWAY, "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH")
    monkeypatch.setattr(bgnbd, "minimise_log_params", lambda objective, x0: stop)
    with pytest.raises(ModelFitError, match="ran off to 0 or infinity"):
        BetaGeoModel().fit([0, 1, 2, 5], [0.0, 3.0, 4.0, 6.0], [8.0, 8.0, 8.0, 8.0])


def test_the_sample_early_on_gets_the_penalised_fit():
    """The ridge above, on real histories: the sample's customers as of 2025-01-01."""
    as_of = date(2025, 1, 1)
    options = ScanOptions(as_of=as_of, import_options=ImportOptions(as_of=as_of))
    result = scan([str(SAMPLE)], options)
    assert any(note.startswith("BG/NBD fitted with a small penalty") for note in result.model.notes)
    assert result.model.bgnbd["a"] / (result.model.bgnbd["a"] + result.model.bgnbd["b"]) > 0.01


def test_penalizer_keeps_a_single_customer_fit_finite():
    with pytest.raises(ModelFitError):
        BetaGeoModel().fit([5], [10.0], [20.0])
    model = BetaGeoModel(penalizer=0.1).fit([5], [10.0], [20.0])
    assert all(np.isfinite(v) and v > 0 for v in model.params_.values())


def test_p_alive_is_one_without_repeat_purchases(fitted):
    assert np.all(fitted.p_alive([0, 0], [0.0, 0.0], [1.0, 1e6]) == 1.0)


@settings(max_examples=300, deadline=None)
@given(
    x=st.integers(0, 5000),
    frac=st.floats(0.0, 1.0),
    T=st.floats(0.0, 1e5),
    t=st.floats(1e-3, 520.0),
    params=st.tuples(*(st.floats(1e-3, 1e3) for _ in range(4))),
)
def test_predictions_are_bounded_and_consistent(x, frac, T, t, params):
    model = BetaGeoModel.from_params(*params)
    r, alpha = params[0], params[1]
    t_x = frac * T if x > 0 else 0.0
    alive = model.p_alive(x, t_x, T)
    none = model.prob_no_purchase(t, x, t_x, T)
    expected = model.expected_purchases(t, x, t_x, T)
    later = model.expected_purchases(2 * t, x, t_x, T)
    assert np.isfinite(alive) and 0.0 <= alive <= 1.0
    assert np.isfinite(none) and 0.0 <= none <= 1.0
    assert np.isfinite(expected) and expected >= 0.0
    assert none >= 1 - alive - 1e-12  # a customer who has left never buys
    assert later >= expected * (1 - 1e-9)  # more time, more purchases
    # Markov: P(at least one) <= E[count]; and no more than an alive customer's Poisson mean.
    assert 1 - none <= expected * (1 + 1e-6) + 1e-12
    assert expected <= alive * (r + x) * t / (alpha + T) * (1 + 1e-6) + 1e-300


@pytest.mark.parametrize("n", [1, 7, 20, 23])
def test_p_alive_and_no_purchase_block_by_block_equals_all_at_once(n, monkeypatch):
    """Many customers are worked out a block at a time: the same values, to the last bit, as
    p_alive and prob_no_purchase of all of them at once; one block fewer or more at the edges."""
    from winback.models import bgnbd

    rng = np.random.default_rng(n)
    x = rng.integers(0, 6, n).astype(float)
    age = rng.uniform(1.0, 100.0, n)
    t_x = np.where(x > 0, age * rng.uniform(0.0, 1.0, n), 0.0)
    model = BetaGeoModel.from_params(*PUBLISHED.values())
    whole = model._alive_and_none(np.full(n, 13.0), x, t_x, age)
    monkeypatch.setattr(bgnbd, "_BLOCK", 5)
    alive, none = model.p_alive_and_no_purchase(13.0, x, t_x, age)
    assert alive.shape == none.shape == (n,)
    np.testing.assert_array_equal(alive, whole[0])
    np.testing.assert_array_equal(none, whole[1])
    np.testing.assert_array_equal(alive, model.p_alive(x, t_x, age))
    np.testing.assert_array_equal(none, model.prob_no_purchase(13.0, x, t_x, age))
