"""BG/NBD: the beta-geometric / negative binomial model of repeat buying.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "Counting Your Customers the Easy Way: An
Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284.

While active, a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each purchase they
drop out with probability p ~ Beta(a, b). A customer's history is (x, t_x, T): repeat purchases,
time of the last purchase and age, all measured from the first purchase, in one time unit.

The fit maximises the log-likelihood (computed in log space throughout) over the *distinct* histories
weighted by how many customers share each, so the cost grows with distinct histories, not customers.
The optimiser works on log-parameters.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

from winback.errors import ModelFitError

_BOUND = 12.0  # log-parameters stay within exp(+-12): beyond that the data say nothing useful


def _arrays(*values: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


def bgnbd_log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-history log-likelihood (eq. 6 of the paper, in log space)."""
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1.0, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


class BetaGeoModel:
    """BG/NBD, scikit-learn style: ``fit`` returns self; fitted attributes end with ``_``."""

    def __init__(self, penalizer: float = 0.0, maxiter: int = 2000) -> None:
        self.penalizer = penalizer
        self.maxiter = maxiter

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None,
            *, initial: dict[str, float] | None = None) -> BetaGeoModel:
        x, t_x, age = _arrays(frequency, recency, T)
        if x.size == 0:
            raise ModelFitError("the BG/NBD model needs customers, and there are none")
        if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(age).all()):
            raise ModelFitError("the BG/NBD model got missing or infinite purchase histories")
        if (x < 0).any() or (t_x < 0).any() or (age < t_x).any():
            raise ModelFitError("the BG/NBD model needs 0 <= recency <= age and frequency >= 0")
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
        if not (x > 0).any():
            raise ModelFitError(
                f"the BG/NBD model needs repeat buyers, and none of the {x.size} customers bought twice"
            )
        rows, inverse = np.unique(np.column_stack([x, t_x, age]), axis=0, return_inverse=True)
        counts = np.bincount(inverse.ravel(), weights=w)
        ux, ut, uT = rows[:, 0], rows[:, 1], rows[:, 2]
        self.n_customers_ = int(w.sum())
        self.n_distinct_ = int(len(rows))
        total = counts.sum()

        def objective(logp: np.ndarray) -> float:
            params = np.exp(logp)
            ll = bgnbd_log_likelihood(params, ux, ut, uT)
            value = -(counts * ll).sum() / total + self.penalizer * (params**2).sum()
            return float(value) if np.isfinite(value) else 1e300

        starts = [np.log([initial[k] for k in ("r", "alpha", "a", "b")])] if initial else []
        scale = max(float(np.average(uT, weights=counts)), 1e-3)
        starts += [np.zeros(4), np.log([1.0, scale, 1.0, 1.0]), np.log([0.5, scale / 4, 0.5, 2.0])]
        best = None
        for start in starts:
            res = minimize(objective, start, method="L-BFGS-B", bounds=[(-_BOUND, _BOUND)] * 4,
                           options={"maxiter": self.maxiter})
            if not res.success or not np.isfinite(res.fun):
                res = minimize(objective, res.x, method="Nelder-Mead",
                               options={"maxiter": self.maxiter * 2, "xatol": 1e-8, "fatol": 1e-12})
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
        if best is None or not np.isfinite(best.fun) or best.fun >= 1e299:
            raise ModelFitError(
                f"the BG/NBD model did not converge on this data ({self.n_customers_} customers, "
                f"{int((x > 0).sum())} repeat buyers)"
            )
        params = np.exp(best.x)
        self.params_ = dict(zip(("r", "alpha", "a", "b"), (float(p) for p in params), strict=True))
        self.log_likelihood_ = float((counts * bgnbd_log_likelihood(params, ux, ut, uT)).sum())
        at_bound = bool(np.any(np.abs(best.x) >= _BOUND - 1e-6))
        self.converged_ = bool(best.success) and not at_bound
        self.message_ = str(best.message) + (" (a parameter reached its bound)" if at_bound else "")
        return self

    # -- predictions -------------------------------------------------------------------------------

    def _p(self) -> tuple[float, float, float, float]:
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def _log_odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._p()
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = np.log(a) - np.log(np.maximum(b + x - 1.0, 1e-300)) + (r + x) * (
                np.log(alpha + T) - np.log(alpha + t_x))
        return np.where(x > 0, lo, -np.inf)

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(still active | history) (eq. 12). 1 for x = 0: the known BG/NBD artefact."""
        x, t_x, age = _arrays(frequency, recency, T)
        return expit(-self._log_odds_dead(x, t_x, age))

    def prob_no_purchase(self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(no purchase in (T, T + t] | history).

        Dropout happens only right after a purchase, so a customer alive at T stays alive until their
        next purchase; given alive, lambda | history ~ Gamma(r + x, alpha + T), and the chance of no
        purchase in t is ((alpha + T) / (alpha + T + t)) ** (r + x). Exact for the model.
        """
        x, t_x, age = _arrays(frequency, recency, T)
        r, alpha, _, _ = self._p()
        alive = self.p_alive(x, t_x, age)
        quiet = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + t)))
        return np.clip((1.0 - alive) + alive * quiet, 0.0, 1.0)

    def expected_purchases(self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """E[purchases in (T, T + t] | history] (eq. 10), finite and >= 0 for every valid input."""
        x, t_x, age = _arrays(frequency, recency, T)
        r, alpha, a, b = self._p()
        alive = self.p_alive(x, t_x, age)
        z = t / (alpha + age + t)
        with np.errstate(all="ignore"):
            log_q = (r + x) * (np.log(alpha + age) - np.log(alpha + age + t))
            term = (a + b + x - 1.0) / (a - 1.0) * (1.0 - np.exp(log_q) * hyp2f1(r + x, b + x, a + b + x - 1.0, z))
            value = alive * term
        # Upper bound: buying at the posterior mean rate for all of t without ever dropping out.
        bound = alive * (r + x) / (alpha + age) * t
        ok = np.isfinite(value) & (value >= 0) & (value <= bound * (1 + 1e-9) + 1e-12)
        return np.where(ok, value, bound)

    def expected_purchases_new(self, t: float) -> float:
        """E[X(t)] for a new customer (eq. 9)."""
        r, alpha, a, b = self._p()
        z = t / (alpha + t)
        return float((a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1.0, z)))

    def summary(self) -> dict[str, float | bool | int]:
        return {**self.params_, "log_likelihood": self.log_likelihood_, "converged": self.converged_,
                "customers": self.n_customers_, "distinct_histories": self.n_distinct_}


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, T: ArrayLike,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate (frequency, recency, T) for ``n`` customers observed for ``T`` each.

    Vectorised over customers; loops only over purchase rounds.
    """
    T = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    now = np.zeros(n)
    x = np.zeros(n)
    last = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        now[idx] += rng.exponential(1.0 / np.maximum(lam[idx], 1e-300))
        bought = now[idx] <= T[idx]
        done = idx[~bought]
        active[done] = False
        buyers = idx[bought]
        x[buyers] += 1
        last[buyers] = now[buyers]
        dropped = rng.random(len(buyers)) < p[buyers]
        active[buyers[dropped]] = False
    return x, last, T
