"""Gamma-Gamma: published CDNOW estimates, simulation recovery, fallbacks, degenerate input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import digamma, gammaln

from tests.cdnow import cdnow_rfm
from tests.sums import assert_sums_agree
from winback.errors import ModelFitError
from winback.models import GammaGammaModel, gamma_gamma_log_likelihood, shrunk_average_value
from winback.models.gammagamma import _loglik, _summed_loglik


@pytest.fixture(scope="module")
def cdnow():
    return cdnow_rfm()


@pytest.fixture(scope="module")
def fitted(cdnow):
    return GammaGammaModel().fit(cdnow["frequency"], cdnow["monetary_value"])


def _simulate(n, p, q, v, rng):
    """x ~ 1 + Poisson(2) repeat purchases; nu ~ Gamma(q, rate v); values ~ Gamma(p, rate nu)."""
    x = 1 + rng.poisson(2.0, n)
    nu = rng.gamma(q, 1.0 / v, n)
    # The mean of x Gamma(p, nu) values is Gamma(p x, rate x nu).
    m = rng.gamma(p * x, 1.0 / (x * nu))
    return x, m


def test_reproduces_published_cdnow_estimates(fitted, cdnow):
    # Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": p 6.25, q 3.74, v 15.44
    assert round(fitted.params_["p"], 2) == 6.25
    assert round(fitted.params_["q"], 2) == 3.74
    assert round(fitted.params_["v"], 2) == 15.44
    assert fitted.converged_
    assert fitted.n_used_ == 946 == int((cdnow["frequency"] > 0).sum())
    x, m = cdnow["frequency"], cdnow["monetary_value"]
    use = x > 0
    ll = gamma_gamma_log_likelihood(fitted.params_, x[use], m[use])
    assert fitted.log_likelihood_ == pytest.approx(ll.sum())


def test_conditional_expectation_is_a_credibility_weighted_mean(fitted):
    p, q = fitted.params_["p"], fitted.params_["q"]
    pop = fitted.population_mean()
    assert pop == pytest.approx(p * fitted.params_["v"] / (q - 1))
    x, m = np.array([1, 3, 20]), np.array([5.0, 80.0, 5.0])
    weight = p * x / (p * x + q - 1)
    expected = weight * m + (1 - weight) * pop
    np.testing.assert_allclose(fitted.conditional_expected_average_profit(x, m), expected)
    low = fitted.conditional_expected_average_profit([1, 20], [5.0, 5.0])
    assert pop > low[0] > low[1] > 5.0  # one purchase: pulled further towards the population mean


def test_no_usable_history_gets_the_population_mean(fitted):
    pop = fitted.population_mean()
    out = fitted.conditional_expected_average_profit([0, 3, 2, 0], [0.0, -10.0, np.nan, 25.0])
    np.testing.assert_allclose(out, [pop] * 4)


def test_cdnow_population_mean_is_plausible(fitted, cdnow):
    repeaters = cdnow.loc[cdnow["frequency"] > 0, "monetary_value"]
    # Mean repeat spend per customer is ~35 USD; the model's mean per transaction must be near it.
    assert fitted.population_mean() == pytest.approx(repeaters.mean(), rel=0.1)


def test_recovers_simulated_parameters():
    rng = np.random.default_rng(11)
    x, m = _simulate(20_000, p=6.0, q=4.0, v=15.0, rng=rng)
    model = GammaGammaModel().fit(x, m)
    # Over 12 seeds at n = 20,000 the relative sd was 5.1% for p, 1.6% for q, 6.8% for v (p and v
    # trade off) and 0.5% for the population mean p v / (q - 1). Tolerances are about 4 sd.
    assert model.params_["p"] == pytest.approx(6.0, rel=0.2)
    assert model.params_["q"] == pytest.approx(4.0, rel=0.07)
    assert model.params_["v"] == pytest.approx(15.0, rel=0.28)
    assert model.population_mean() == pytest.approx(6.0 * 15.0 / 3.0, rel=0.02)


def _term_sizes(theta, x, m, scale):
    """Per pair, the sizes of the terms that the log-likelihood and each gradient component add
    up (they can cancel: two right sums of them may differ by a few ulps of these)."""
    p, q, v = np.exp(theta) * [1, 1, scale]
    px, log_vxm = p * x, np.abs(np.log(v + x * m))
    value = (np.abs(gammaln(px + q)) + np.abs(gammaln(px)) + abs(gammaln(q)) + abs(q * np.log(v))
             + px * np.abs(np.log(x)) + np.abs((px - 1) * np.log(m)) + (px + q) * log_vxm)
    grad = np.column_stack([
        px * (np.abs(digamma(px + q)) + np.abs(digamma(px)) + np.abs(np.log(x))
              + np.abs(np.log(m)) + log_vxm),
        q * (np.abs(digamma(px + q)) + abs(digamma(q)) + abs(np.log(v)) + log_vxm),
        q + v * (px + q) / (v + x * m),
    ])
    return value, grad


@settings(max_examples=100, deadline=None)
@given(params=st.tuples(*(st.floats(1e-3, 1e3) for _ in range(3))),
       scale=st.sampled_from([0.01, 1.0, 250.0, 1e6]), seed=st.integers(0, 2**32 - 1))
def test_summed_likelihood_is_the_weighted_sum_of_the_per_pair_one(params, scale, seed):
    """The fit's objective (sums only) against ``w @ _loglik``, with uneven weights, pairs in no
    particular order and amounts from cents to millions. The two sum the same terms in other
    orders: they agree to a few ulps of the terms' sizes."""
    rng = np.random.default_rng(seed)
    n = 300
    x = rng.choice([1, 1, 2, 3, 7, 40, 3000], size=n).astype(float)
    m = scale * rng.lognormal(0.0, 2.0, size=n)
    w = rng.integers(1, 50, size=n).astype(float)
    theta = np.log(np.array(params))
    summed = _summed_loglik(x, m, scale, w, np.unique(x, return_inverse=True))(theta)
    assert_sums_agree(summed, w, *_loglik(theta, x, m, scale), *_term_sizes(theta, x, m, scale))


def test_weights_equal_repeated_rows():
    rng = np.random.default_rng(3)
    x, m = _simulate(300, 6.0, 4.0, 15.0, rng)
    counts = rng.integers(1, 4, 300)
    weighted = GammaGammaModel().fit(x, m, weights=counts)
    repeated = GammaGammaModel().fit(np.repeat(x, counts), np.repeat(m, counts))
    for key in ("p", "q", "v"):
        assert weighted.params_[key] == pytest.approx(repeated.params_[key], rel=1e-6)
    assert weighted.n_used_ == repeated.n_used_ == counts.sum()


def test_money_unit_does_not_matter(cdnow, fitted):
    cents = GammaGammaModel().fit(cdnow["frequency"], 100 * cdnow["monetary_value"])
    assert cents.params_["p"] == pytest.approx(fitted.params_["p"], rel=1e-5)
    assert cents.params_["q"] == pytest.approx(fitted.params_["q"], rel=1e-5)
    assert cents.params_["v"] == pytest.approx(100 * fitted.params_["v"], rel=1e-5)


def test_ignores_one_time_buyers_and_refunds(cdnow, fitted):
    x = np.concatenate([cdnow["frequency"], [0, 0, 4, 2]])
    m = np.concatenate([cdnow["monetary_value"], [50.0, 0.0, -20.0, np.nan]])
    model = GammaGammaModel().fit(x, m)
    assert model.n_used_ == fitted.n_used_
    assert model.params_ == pytest.approx(fitted.params_)


def test_too_few_repeat_buyers():
    with pytest.raises(ModelFitError, match=r"at least 30 repeat buyers.*has 2\."):
        GammaGammaModel().fit([1, 2, 0], [10.0, 20.0, 0.0])
    with pytest.raises(ModelFitError, match="at least 30"):
        GammaGammaModel().fit(np.ones(100), -np.ones(100))  # only refunds
    with pytest.raises(ModelFitError, match="at least 5"):
        GammaGammaModel(min_customers=5).fit([], [])


def test_identical_amounts_fail_cleanly():
    """Everybody spends exactly 10 every time: no spread to fit; an error, never NaN parameters."""
    x = np.tile([1, 2, 3, 4], 25)
    try:
        model = GammaGammaModel().fit(x, np.full(x.shape, 10.0))
    except ModelFitError as exc:
        assert "spend model" in str(exc)
    else:
        assert all(np.isfinite(v) and v > 0 for v in model.params_.values())
        value = model.conditional_expected_average_profit(x, 10.0)
        np.testing.assert_allclose(value, 10.0, rtol=0.05)


def test_heavy_tailed_spend_is_refused():
    """q <= 1 means an infinite mean spend across customers: refuse rather than mislead."""
    rng = np.random.default_rng(5)
    x, m = _simulate(5_000, p=3.0, q=0.6, v=15.0, rng=rng)
    with pytest.raises(ModelFitError, match=r"infinite average spend \(q = 0\.\d+"):
        GammaGammaModel().fit(x, m)


def test_not_fitted():
    with pytest.raises(RuntimeError, match="not fitted"):
        GammaGammaModel().conditional_expected_average_profit([1], [10.0])


def test_shrunk_average():
    out = shrunk_average_value([0, 1, 9], [np.nan, 40.0, 10.0], prior_mean=20.0, prior_weight=1.0)
    np.testing.assert_allclose(out, [20.0, 30.0, 11.0])
    # Default: one pseudo-transaction at the prior; missing or zero counts fall back to the prior.
    out = shrunk_average_value([3, 0, -1], [40.0, 99.0, 5.0], 20.0)
    np.testing.assert_allclose(out, [35.0, 20.0, 20.0])
    big = shrunk_average_value(1e6, 40.0, 20.0, prior_weight=5.0)
    assert big == pytest.approx(40.0, rel=1e-4)
    with pytest.raises(ValueError):
        shrunk_average_value([1], [10.0], 20.0, prior_weight=0.0)


def test_conditional_expected_average_profit_is_the_formula_to_the_last_bit():
    """Worked out in place on the repeat buyers' values: the same numbers as the formula written
    out, p (v + x m) / (p x + q - 1); the others get the population mean."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 8, 5_000).astype(float)
    m = np.where(rng.random(5_000) < 0.1, np.nan, rng.gamma(2.0, 30.0, 5_000))
    model = GammaGammaModel()
    model.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}  # (Fader-Hardie's CDNOW estimates)
    p, q, v = 6.25, 3.74, 15.44
    usable = (x > 0) & np.isfinite(m) & (m > 0)
    expected = np.where(usable, p * (v + x * m) / (p * x + q - 1), model.population_mean())
    got = model.conditional_expected_average_profit(x, m)
    assert usable.any() and (~usable).any()
    np.testing.assert_array_equal(got, expected)
