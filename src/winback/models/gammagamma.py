"""Gamma-Gamma model of the value per transaction.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: Using Iso-Value Curves for
Customer Base Analysis. *Journal of Marketing Research* 42(4), 415-430; and Fader, P. S. &
Hardie, B. G. S. (2013), "The Gamma-Gamma Model of Monetary Value" (note, brucehardie.com).

A customer's transaction values are Gamma(p, nu); across customers nu ~ Gamma(q, v). The model is
fitted on repeat buyers' *mean repeat-transaction value* ``m_x`` (first purchase excluded) and their
number of repeat transactions ``x``. The conditional expectation shrinks a customer's own mean
towards the population mean ``p v / (q - 1)``, the more so the fewer transactions there are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from winback.errors import ModelFitError
from winback.models._optim import (
    collapse,
    minimise_log_params,
    penalised_mean,
    require_fit,
)

__all__ = ["GammaGammaModel", "gamma_gamma_log_likelihood", "shrunk_average_value"]

_NAMES = ("p", "q", "v")


def _loglik(theta: NDArray, x: NDArray, m: NDArray, scale: float,
            by_x: tuple[NDArray, NDArray] | None = None) -> tuple[NDArray, NDArray]:
    """Log density of ``m_x`` given ``x`` (Fader & Hardie 2013, eq. 3); gradient in log-params.

    The third log-parameter is ``log(v / scale)``, so the search is unit-free; the value is the
    density of ``m_x`` in the input's money unit. The gamma-function terms depend on x alone: they
    are computed once per distinct x (``by_x`` = ``np.unique(x, return_inverse=True)``) and gathered.
    """
    p, q, v_rel = np.exp(theta)
    v = v_rel * scale
    ux, inv = by_x if by_x is not None else np.unique(x, return_inverse=True)
    pux = p * ux
    px = p * x
    log_m = np.log(m)
    log_vxm = np.log(v + x * m)
    ll = ((gammaln(pux + q) - gammaln(pux) - gammaln(q) + q * np.log(v) + pux * np.log(ux))[inv]
          + (px - 1) * log_m - (px + q) * log_vxm)
    psi_pxq = digamma(pux + q)
    grad = np.column_stack([
        px * ((psi_pxq - digamma(pux) + np.log(ux))[inv] + log_m - log_vxm),
        q * ((psi_pxq - digamma(q) + np.log(v))[inv] - log_vxm),
        v * (q / v - (px + q) / (v + x * m)),
    ])
    return ll, grad


def _summed_loglik(X: NDArray, M: NDArray, scale: float, w: NDArray,
                   by_x: tuple[NDArray, NDArray]) -> Callable[[NDArray], tuple[float, NDArray]]:
    """``theta -> (w @ ll, w @ grad)`` of :func:`_loglik` over the pairs ``(X, M)``, for the fit:
    the sums only, as in BG/NBD's ``_summed_loglik``. What does not depend on the parameters
    (``log m``, ``x m`` and their weighted forms) is computed once; an evaluation then takes one
    logarithm and one division per pair and a few dot products, where :func:`_loglik` makes and
    stacks three gradient columns."""
    ux, inv = by_x
    wx = np.bincount(inv, weights=w, minlength=ux.size)  # weight with each x
    wxu = wx * ux
    log_ux = np.log(ux)
    total = float(w.sum())
    wX = w * X
    xm = X * M
    log_m = np.log(M)
    w_log_m, wX_log_m = float(w @ log_m), float(wX @ log_m)

    def summed(theta: NDArray) -> tuple[float, NDArray]:
        p, q, v_rel = np.exp(theta)
        v = v_rel * scale
        pux = p * ux
        vxm = v + xm
        log_vxm, inv_vxm = np.log(vxm), 1 / vxm
        w_log_vxm, wX_log_vxm = w @ log_vxm, wX @ log_vxm
        psi_pxq = digamma(pux + q)
        ll = (wx @ (gammaln(pux + q) - gammaln(pux) + pux * log_ux)
              + total * (q * np.log(v) - gammaln(q))
              + p * wX_log_m - w_log_m - p * wX_log_vxm - q * w_log_vxm)
        grad = np.array([
            p * (wxu @ (psi_pxq - digamma(pux) + log_ux) + wX_log_m - wX_log_vxm),
            q * (wx @ psi_pxq + total * (np.log(v) - digamma(q)) - w_log_vxm),
            q * total - v * (p * (wX @ inv_vxm) + q * (w @ inv_vxm)),
        ])
        return float(ll), grad

    return summed


def gamma_gamma_log_likelihood(params: Mapping[str, float] | Sequence[float],
                               frequency: ArrayLike, monetary_value: ArrayLike) -> NDArray:
    """Per-customer log-likelihood for ``(p, q, v)``; needs frequency > 0, monetary_value > 0."""
    values = [params[k] for k in _NAMES] if isinstance(params, Mapping) else list(params)
    x, m = np.broadcast_arrays(np.asarray(frequency, dtype=float),
                               np.asarray(monetary_value, dtype=float))
    ll, _ = _loglik(np.log(np.asarray(values, dtype=float)), x.reshape(-1), m.reshape(-1), 1.0)
    return ll.reshape(x.shape)


class GammaGammaModel:
    """Gamma-Gamma spend model fitted by maximum likelihood on log-parameters.

    Parameters
    ----------
    min_customers:
        Fewest usable repeat buyers (frequency > 0 and monetary value > 0) to attempt a fit.
    penalizer:
        Optional L2 penalty on the log-parameters (added to the mean negative log-likelihood).

    Attributes (after :meth:`fit`)
    -------------------------------
    params_ : dict with ``p``, ``q``, ``v`` (``v`` in the money unit of the input).
    log_likelihood_ : total unpenalised log-likelihood over the customers used.
    converged_ : the optimiser reported success.
    n_used_ : repeat buyers used (weighted). n_distinct_ : distinct ``(x, m_x)`` pairs.
    """

    def __init__(self, min_customers: int = 30, penalizer: float = 0.0) -> None:
        if not (np.isfinite(penalizer) and penalizer >= 0):
            raise ValueError("penalizer must be a non-negative number")
        self.min_customers = int(min_customers)
        self.penalizer = float(penalizer)

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike,
            weights: ArrayLike | None = None) -> GammaGammaModel:
        """Fit on customers with frequency > 0 and monetary_value > 0; the others are ignored.

        ``monetary_value`` is the mean value of each customer's *repeat* transactions. Raises
        ModelFitError when fewer than ``min_customers`` are usable or the fit fails or degenerates.
        """
        x = np.asarray(frequency, dtype=float).reshape(-1)
        m = np.asarray(monetary_value, dtype=float).reshape(-1)
        if x.shape != m.shape:
            raise ModelFitError("The spend model cannot be fitted: frequency and monetary_value "
                                "differ in length.")
        w = np.ones_like(x) if weights is None else np.broadcast_to(
            np.asarray(weights, dtype=float), x.shape)
        use = np.isfinite(x) & (x > 0) & np.isfinite(m) & (m > 0) & np.isfinite(w) & (w > 0)
        rows, wu = collapse((x[use], m[use]), w[use])
        n_used = float(wu.sum())
        if n_used < self.min_customers:
            raise ModelFitError(
                f"The spend model needs at least {self.min_customers} repeat buyers with positive "
                f"amounts; this data has {n_used:g}."
            )
        X, M = rows.T
        by_x = np.unique(X, return_inverse=True)
        scale = float(wu @ M) / n_used  # v is searched relative to the mean spend

        summed = _summed_loglik(X, M, scale, wu, by_x)
        objective = penalised_mean(summed, n_used, self.penalizer)

        res = minimise_log_params(objective, np.log([1.0, 2.0, 1.0]))
        who = f"{n_used:g} repeat buyers"
        fail = f"The spend model did not converge on this data ({who})"
        require_fit(res, fail, "amounts too uniform, or too few")
        p, q, v_rel = np.exp(res.log_params)
        if q <= 1:
            raise ModelFitError(
                f"The spend model does not suit this data ({who}): amounts are so spread out that "
                f"the fit implies an infinite average spend (q = {q:.3g} <= 1)."
            )
        self.params_ = {"p": float(p), "q": float(q), "v": float(v_rel * scale)}
        self.log_likelihood_ = summed(res.log_params)[0]
        self.converged_ = res.converged
        self.n_used_ = int(n_used) if n_used == int(n_used) else n_used
        self.n_distinct_ = int(rows.shape[0])
        self.message_ = res.message
        return self

    def _p(self) -> tuple[float, float, float]:
        if not hasattr(self, "params_"):
            raise RuntimeError("GammaGammaModel is not fitted yet; call fit() first")
        return self.params_["p"], self.params_["q"], self.params_["v"]

    def population_mean(self) -> float:
        """Mean value per transaction across customers, ``p v / (q - 1)`` (infinite if q <= 1)."""
        p, q, v = self._p()
        return p * v / (q - 1) if q > 1 else float("inf")

    def conditional_expected_average_profit(self, frequency: ArrayLike,
                                            monetary_value: ArrayLike) -> NDArray[np.float64]:
        """E[value per transaction | x, m_x] = w m_x + (1 - w) population mean, w = px/(px+q-1).

        Customers with frequency 0, or a non-positive or missing monetary value, get the
        population mean.
        """
        p, q, v = self._p()
        x, m = np.broadcast_arrays(np.asarray(frequency, dtype=float),
                                   np.asarray(monetary_value, dtype=float))
        # Positions, not a mask: numpy's mask indexing branches on every value, several times slower
        # where repeat and one-time buyers alternate.
        usable = np.isfinite(x) & (x > 0) & np.isfinite(m) & (m > 0)
        if usable.ndim:  # (a 0-d array has no positions)
            usable = np.nonzero(usable)
        out = np.full(x.shape, self.population_mean())
        xs, ms = x[usable], m[usable]  # only the repeat buyers: fewer and smaller temporaries
        # p (v + x m) / (p x + q - 1), the same operations in place on the two gathered arrays.
        ms *= xs
        ms += v
        ms *= p
        xs *= p
        xs += q
        xs -= 1
        ms /= xs
        out[usable] = ms
        return out

    def summary(self) -> dict[str, object]:
        """Parameters, log-likelihood and fit diagnostics as a plain dict."""
        self._p()
        return {**self.params_, "log_likelihood": getattr(self, "log_likelihood_", None),
                "converged": getattr(self, "converged_", None),
                "n_used": getattr(self, "n_used_", None)}


def shrunk_average_value(n: ArrayLike, mean: ArrayLike, prior_mean: float,
                         prior_weight: float = 1.0) -> NDArray[np.float64]:
    """Credibility-weighted mean ``(n * mean + k * prior_mean) / (n + k)``: Gamma-Gamma's fallback.

    ``n`` is the number of transactions behind each customer's ``mean`` and ``k = prior_weight``
    the number of pseudo-transactions at ``prior_mean`` (a robust population figure, e.g. the
    median order value). Customers without a usable mean (n <= 0, or mean missing) get
    ``prior_mean``. The Gamma-Gamma expectation has this very form with ``k = (q - 1) / p`` (0.44
    on CDNOW), so a ``k`` of about 1 is a mild, sensible default.
    """
    if not (np.isfinite(prior_weight) and prior_weight > 0):
        raise ValueError("prior_weight must be a positive number")
    n_arr, mean_arr = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(mean, dtype=float))
    ok = np.isfinite(n_arr) & (n_arr > 0) & np.isfinite(mean_arr)
    n_use = np.where(ok, n_arr, 0.0)
    mean_use = np.where(ok, mean_arr, 0.0)
    return (n_use * mean_use + prior_weight * prior_mean) / (n_use + prior_weight)
