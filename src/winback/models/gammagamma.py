"""Gamma-Gamma: how much a customer spends per purchase.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "RFM and CLV: Using Iso-Value Curves for
Customer Base Analysis", Journal of Marketing Research 42(4), 415-430; and Fader & Hardie (2013),
"The Gamma-Gamma Model of Monetary Value".

A customer's transaction values are Gamma(p, nu) with nu ~ Gamma(q, v) across customers. Fitted on
repeat buyers' mean repeat-transaction value; the conditional expectation shrinks each customer's
own average towards the population mean, more so the fewer purchases they have.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import gammaln

from winback.errors import ModelFitError


def gamma_gamma_log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    p, q, v = params
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
            + (p * x - 1.0) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v))


class GammaGammaModel:
    """Gamma-Gamma spend model; ``fit`` returns self; fitted attributes end with ``_``."""

    def __init__(self, min_customers: int = 30, penalizer: float = 0.0, maxiter: int = 2000) -> None:
        self.min_customers = min_customers
        self.penalizer = penalizer
        self.maxiter = maxiter

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None) -> GammaGammaModel:
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
        use = (x > 0) & np.isfinite(m) & (m > 0)
        self.n_used_ = int(w[use].sum())
        if self.n_used_ < self.min_customers:
            raise ModelFitError(
                f"the spend model needs at least {self.min_customers} repeat buyers with positive amounts; "
                f"this data has {self.n_used_}"
            )
        x, m, w = x[use], m[use], w[use]
        total = w.sum()
        scale = float(np.average(m, weights=w))

        def objective(logp: np.ndarray) -> float:
            params = np.exp(logp)
            params_scaled = np.array([params[0], params[1], params[2] * scale])
            ll = gamma_gamma_log_likelihood(params_scaled, x, m)
            value = -(w * ll).sum() / total + self.penalizer * (params**2).sum()
            return float(value) if np.isfinite(value) else 1e300

        best = None
        for start in (np.zeros(3), np.log([2.0, 2.0, 1.0]), np.log([5.0, 3.0, 2.0])):
            res = minimize(objective, start, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 3,
                           options={"maxiter": self.maxiter})
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
        if best is None or best.fun >= 1e299:
            raise ModelFitError(f"the spend model did not converge ({self.n_used_} repeat buyers)")
        p, q, v = np.exp(best.x)
        v *= scale
        self.params_ = {"p": float(p), "q": float(q), "v": float(v)}
        self.log_likelihood_ = float((w * gamma_gamma_log_likelihood(np.array([p, q, v]), x, m)).sum())
        self.converged_ = bool(best.success) and bool(np.all(np.abs(best.x) < 12.0 - 1e-6)) and q > 1.0
        return self

    def population_mean(self) -> float:
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        return p * v / (q - 1.0) if q > 1.0 else float("nan")

    def conditional_expected_average_profit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
        """E[value per transaction | x, mean value] (eq. 5 of Fader & Hardie 2013).

        Customers without repeat purchases or with a non-positive mean get the population mean.
        """
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        pop = self.population_mean()
        usable = (x > 0) & np.isfinite(m) & (m > 0)
        with np.errstate(all="ignore"):
            own = p * (v + x * m) / (p * x + q - 1.0)
        return np.where(usable & np.isfinite(own), own, pop)


def shrunk_average_value(n: ArrayLike, mean: ArrayLike, prior_mean: float, prior_weight: float = 3.0) -> np.ndarray:
    """Credibility-weighted mean: (n * mean + k * prior) / (n + k); the fallback when Gamma-Gamma cannot fit."""
    n_arr = np.asarray(n, dtype=float)
    mean_arr = np.nan_to_num(np.asarray(mean, dtype=float), nan=prior_mean)
    return (n_arr * mean_arr + prior_weight * prior_mean) / (n_arr + prior_weight)
