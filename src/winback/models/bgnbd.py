"""BG/NBD customer-base model.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers" the Easy Way: An
Alternative to the Pareto/NBD Model. *Marketing Science* 24(2), 275-284.

While alive, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; right
after each repeat purchase the customer drops out for good with probability ``p ~ Beta(a, b)``. A
history is ``(x, t_x, T)``: ``x`` repeat purchases (purchases after the first one), the last at
``t_x``, and ``T`` time units observed since the first purchase. All three share one time unit; the
fitted ``alpha`` is in that unit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from winback._sorting import blocks
from winback.errors import ModelFitError
from winback.models._optim import (
    check_rfm,
    collapse,
    given_alive_quadrature,
    minimise_log_params,
    penalised_mean,
    require_fit,
)

__all__ = ["BetaGeoModel", "SimulatedRFM", "bgnbd_log_likelihood", "simulate_bgnbd",
           "simulate_bgnbd_with_holdout"]

_NAMES = ("r", "alpha", "a", "b")
#: A fit whose mean chance of dropping out after a purchase, a / (a + b), is below this is
#: degenerate: fitted BG/NBD models put it at a few to a few tens of per cent (CDNOW: 25%).
_NO_DROPOUT = 1e-6
_NEAR = 1e-4  # closer than this to the removable singularities a = 1, a + b + x = 1: quadrature
_BLOCK = 1 << 17  # customers at a time in p_alive_and_no_purchase (1 MB per float array)


def _loglik(theta: NDArray, x: NDArray, t_x: NDArray, T: NDArray,
            by_x: tuple[NDArray, NDArray] | None = None) -> tuple[NDArray, NDArray]:
    """Per-history log-likelihood (paper eq. 6) and its gradient in the log-parameters.

    ``L = A1 + [x > 0] A2``. With ``D = log(A2 / A1) = log(a / (b+x-1)) + (r+x) log((alpha+T) /
    (alpha+t_x))`` the log is ``log A1 + log1p(exp(D))``, evaluated with ``logaddexp``: neither
    large ``x`` nor large ``T`` overflows. The gamma-function terms depend on x alone, which takes
    few distinct values: they are computed once per distinct x (``by_x`` = ``np.unique(x,
    return_inverse=True)``, computed here when not given) and gathered.
    """
    r, alpha, a, b = np.exp(theta)
    ux, inv = by_x if by_x is not None else np.unique(x, return_inverse=True)
    rep = x > 0
    log_aT = np.log(alpha + T)
    gap = np.log1p((T - t_x) / (alpha + t_x))  # log((alpha + T) / (alpha + t_x))
    bx1 = np.where(rep, b + x - 1, 1.0)
    D = np.where(rep, np.log(a) - np.log(bx1) + (r + x) * gap, -np.inf)
    per_x = (gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux) - betaln(a, b))[inv]
    ll = per_x - (r + x) * log_aT + np.logaddexp(0.0, D)
    s = expit(D)  # share of A2 in the likelihood, 0 where x = 0
    d_alpha = (r / alpha - (r + x) / (alpha + T)
               + s * (r + x) * (1 / (alpha + T) - 1 / (alpha + t_x)))
    d_abx = digamma(a + b) - digamma(a + b + ux)
    grad = np.column_stack([
        r * ((digamma(r + ux) - digamma(r) + np.log(alpha))[inv] - log_aT + s * gap),
        alpha * d_alpha,
        a * (d_abx[inv] + s / a),
        b * ((digamma(b + ux) - digamma(b) + d_abx)[inv] - s / bx1),
    ])
    return ll, grad


def _summed_loglik(X: NDArray, TX: NDArray, TT: NDArray, w: NDArray,
                   by_x: tuple[NDArray, NDArray]) -> Callable[[NDArray], tuple[float, NDArray]]:
    """``theta -> (w @ ll, w @ grad)`` of :func:`_loglik` over the histories ``(X, TX, TT)``, for
    the fit: the same terms summed as they are made, with no per-history gradient table.

    Each evaluation of the fit's objective needs only these sums. :func:`_loglik` builds four
    gradient columns and stacks them (a copy of every value), gathers the per-x terms to every
    history, and evaluates ``logaddexp`` and ``expit`` separately; here the per-x terms are weighted
    by the customers with each x (``wx``), the one-time buyers (x = 0: no dropout term) are summed
    apart, and ``log(1 + e^D)`` and ``expit(D)`` share one ``exp(-|D|)``. At the 101,081 distinct
    histories of a million-customer fit an evaluation takes half the time (docs/performance.md).
    """
    ux, inv = by_x
    wx = np.bincount(inv, weights=w, minlength=ux.size)  # customers (weights) with each x
    total = float(w.sum())
    once = X == 0
    T0, w0 = TT[once], w[once]
    rep = np.flatnonzero(~once)
    x, t_x, T, wr = X[rep], TX[rep], TT[rep], w[rep]
    later, x1, wrx = T - t_x, x - 1, wr * x

    def summed(theta: NDArray) -> tuple[float, NDArray]:
        r, alpha, a, b = np.exp(theta)
        log_a0, inv_a0 = np.log(alpha + T0), 1 / (alpha + T0)
        aT = alpha + T
        log_aT, inv_aT = np.log(aT), 1 / aT
        q = later / (alpha + t_x)  # (alpha + T) / (alpha + t_x) - 1
        gap = np.log1p(q)
        rx = r + x
        bx1 = b + x1
        D = rx * gap
        D += np.log(a)
        D -= np.log(bx1)
        e = np.exp(-np.abs(D))
        soft = np.maximum(D, 0.0)  # log(1 + e^D) = max(D, 0) + log1p(e^-|D|)
        soft += np.log1p(e)
        s = np.where(D >= 0, 1.0, e)  # expit(D)
        s /= 1 + e
        ws = wr * s
        ll = (wx @ (gammaln(r + ux) + betaln(a, b + ux))
              + total * (r * np.log(alpha) - gammaln(r) - betaln(a, b))
              - r * (w0 @ log_a0) - r * (wr @ log_aT) - wrx @ log_aT + wr @ soft)
        d_abx = digamma(a + b) - digamma(a + b + ux)
        # d/d alpha of the repeat buyers' terms: -(r+x) / (alpha+T) * (1 + s q), weighted
        c = ws * q
        c += wr
        c *= rx
        grad = np.array([
            r * (wx @ digamma(r + ux) + total * (np.log(alpha) - digamma(r)) - w0 @ log_a0
                 - wr @ log_aT + ws @ gap),
            r * total - alpha * (r * (w0 @ inv_a0) + c @ inv_aT),
            a * (wx @ d_abx) + ws.sum(),
            b * (wx @ (digamma(b + ux) - digamma(b) + d_abx) - ws @ (1 / bx1)),
        ])
        return float(ll), grad

    return summed


def bgnbd_log_likelihood(params: Mapping[str, float] | Sequence[float], frequency: ArrayLike,
                         recency: ArrayLike, T: ArrayLike) -> NDArray[np.float64]:
    """Per-customer BG/NBD log-likelihood for ``(r, alpha, a, b)`` given as a dict or a sequence."""
    values = [params[k] for k in _NAMES] if isinstance(params, Mapping) else list(params)
    x, t_x, age = check_rfm(frequency, recency, T)
    return _loglik(np.log(np.asarray(values, dtype=float)), x, t_x, age)[0]


def _alternating_series(s: NDArray, a: float, bp: NDArray, u: NDArray) -> NDArray:
    """``sum_k (-1)^k (s)_(k+1) / (k+1)! u^(k+1) E[p^k]``; term ratio at most ``(s+1) u <= 1/2``."""
    term = s * u
    total = term.copy()
    for k in range(1, 80):
        term = term * (-(s + k) / (k + 1) * u * (a + k - 1) / (a + bp + k - 1))
        total += term
        if np.all(np.abs(term) <= 1e-17 * np.abs(total)):
            break
    return total


_FAR_U = 99.0  # u / (1 + u) = 0.99


def _expected_given_alive(r: float, a: float, b: float, x: NDArray, u: NDArray) -> NDArray:
    """``E[(1 - (1 + p u)^-(r+x)) / p]``, ``p ~ Beta(a, b+x)``: purchases in ``t = u (alpha + T)``.

    The bracket of paper eq. 10 (eq. 9 when x = 0 and u = t / alpha). For ``(r+x+1) u <= 1/2`` it
    is summed as a series in u. Otherwise a Pfaff transformation gives ``(a+b+x-1)/(a-1) *
    [1 - (1+u)^(1-a) 2F1(a+b-1-r, a-1; a+b+x-1; u/(1+u))]``: upper parameters that do not grow with
    x and an argument in [0, 1). Where that is ill-conditioned (a or a+b+x near 1, cancellation,
    u above ``_FAR_U``), scipy's hyp2f1 fails, or the result breaks the bounds ``g(E p) <= value <= (r+x) u`` (g is
    convex: Jensen), the value comes from quadrature instead.
    """
    s, bp, c = r + x, b + x, a + b + x - 1
    small = (s + 1) * u <= 0.5
    out = np.zeros(u.shape)
    if np.any(small):
        out[small] = _alternating_series(s[small], a, bp[small], u[small])
    big = ~small
    if np.any(big):
        sb, bpb, cb, ub = s[big], bp[big], c[big], u[big]
        mean_p = a / (a + bpb)
        with np.errstate(all="ignore"):
            h = hyp2f1(a + b - 1 - r, a - 1, cb, ub / (1 + ub))
            bracket = 1 - np.exp((1 - a) * np.log1p(ub)) * h
            closed = cb / (a - 1) * bracket
            lower = -np.expm1(-sb * np.log1p(mean_p * ub)) / mean_p
            upper = np.minimum(sb * ub, cb / (a - 1) if a > 1 else np.inf)
            # scipy's hyp2f1 loses digits as its argument u / (1 + u) nears 1 (seen: 6e-6 relative
            # at u = 1000); such far extrapolations (t over 99 times alpha + T) are rare: integrate.
            ok = (np.isfinite(closed) & (ub <= _FAR_U) & (np.abs(bracket) > 1e-4) & (np.abs(cb) > _NEAR)
                  & (abs(a - 1) > _NEAR) & (closed >= lower * (1 - 1e-9))
                  & (closed <= upper * (1 + 1e-9)))
        if not np.all(ok):
            closed[~ok] = given_alive_quadrature(a, bpb[~ok], sb[~ok], ub[~ok])
        out[big] = closed
    return np.maximum(out, 0.0)


def _check_t(t: ArrayLike) -> NDArray[np.float64]:
    t_arr = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(t_arr)) or np.any(t_arr < 0):
        raise ValueError("t must be a non-negative finite number")
    return t_arr


class BetaGeoModel:
    """BG/NBD model (Fader, Hardie & Lee 2005), fitted by maximum likelihood on log-parameters.

    Parameters
    ----------
    penalizer:
        Optional L2 penalty on the log-parameters (added to the mean negative log-likelihood); it
        shrinks each parameter towards 1 and keeps degenerate fits finite. Default 0: plain ML.

    Attributes (after :meth:`fit`)
    -------------------------------
    params_ : dict with ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_ : total unpenalised log-likelihood (sum over customers, weights applied).
    converged_ : the optimiser reported success (False: it stopped on precision loss at a point
        where the gradient is nevertheless ~0; fits that are not stationary raise instead).
    n_customers_ : input rows. n_repeat_buyers_ : customers with frequency > 0 (weighted).
    n_distinct_ : distinct ``(x, t_x, T)`` histories the likelihood was evaluated on.
    message_ : the optimiser's message.
    """

    def __init__(self, penalizer: float = 0.0) -> None:
        if not (np.isfinite(penalizer) and penalizer >= 0):
            raise ValueError("penalizer must be a non-negative number")
        self.penalizer = float(penalizer)

    @classmethod
    def from_params(cls, r: float, alpha: float, a: float, b: float) -> BetaGeoModel:
        """A model with known parameters (e.g. stored from an earlier fit), ready to predict."""
        model = cls()
        model.params_ = {"r": float(r), "alpha": float(alpha), "a": float(a), "b": float(b)}
        if not all(np.isfinite(v) and v > 0 for v in model.params_.values()):
            raise ValueError("BG/NBD parameters must be positive finite numbers")
        return model

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
            weights: ArrayLike | None = None, *,
            initial: dict[str, float] | None = None) -> BetaGeoModel:
        """Fit on customer histories; ``weights`` counts customers per row (default 1 each).

        Raises ModelFitError, with a plain-language message, when there are no customers or no
        repeat buyers, the input is invalid, or the fit fails or runs off to a degenerate limit.
        """
        try:
            x, t_x, age = check_rfm(frequency, recency, T)
            rows, w = collapse((x.reshape(-1), t_x.reshape(-1), age.reshape(-1)), weights)
        except ValueError as exc:
            raise ModelFitError(f"The BG/NBD model cannot be fitted: {exc}.") from exc
        if rows.shape[0] == 0:
            raise ModelFitError("The BG/NBD model needs customers, but the input has no customers.")
        X, TX, TT = rows.T
        by_x = np.unique(X, return_inverse=True)
        n, m = x.size, float(w[X > 0].sum())
        if m == 0:
            raise ModelFitError(f"The BG/NBD model needs repeat buyers, but none of the {n} "
                                "customers bought more than once.")
        total = float(w.sum())

        summed = _summed_loglik(X, TX, TT, w, by_x)
        objective = penalised_mean(summed, total, self.penalizer)

        if initial is None:
            mean_x, mean_T = float(w @ X) / total, float(w @ TT) / total
            alpha0 = max(mean_T, 1e-6) / max(mean_x, 1e-3)
            initial = {"r": 1.0, "alpha": alpha0, "a": 1.0, "b": 1.0}
        res = minimise_log_params(objective, np.log([float(initial[k]) for k in _NAMES]))
        _, _, a, b = np.exp(res.log_params)
        if a / (a + b) < _NO_DROPOUT:
            # a -> 0 and b -> infinity: nobody would ever stop buying. The likelihood creeps up
            # along that ridge, and where the optimiser stops on it depends on the last bits of
            # its arithmetic (seen on the same 128 customers: log a = -12.3, past RUNAWAY, and
            # -11.6). Wherever it stopped, the fit is degenerate.
            res = replace(res, runaway=True)
        who = f"{n} customers, {m:g} repeat buyers"
        fail = f"The BG/NBD model did not converge on this data ({who})"
        require_fit(res, fail, "the data cannot pin the model down: too few customers, or too uniform "
                               "purchases")
        self.params_ = {k: float(v) for k, v in zip(_NAMES, np.exp(res.log_params), strict=True)}
        self.log_likelihood_ = summed(res.log_params)[0]
        self.converged_ = res.converged
        self.n_customers_ = n
        self.n_repeat_buyers_ = m
        self.n_distinct_ = int(rows.shape[0])
        self.message_ = res.message
        return self

    def _p(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise RuntimeError("BetaGeoModel is not fitted yet; call fit() or from_params() first")
        r, alpha, a, b = (self.params_[k] for k in _NAMES)
        return r, alpha, a, b

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike,
                T: ArrayLike) -> NDArray[np.float64]:
        """P(alive at T | history) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

        Paper eq. 11. It is 1 for x = 0: in BG/NBD nobody drops out before a repeat purchase (a
        known artefact; callers treat one-time buyers separately).
        """
        return self._p_alive(*check_rfm(frequency, recency, T))

    def _p_alive(self, x: NDArray, t_x: NDArray, age: NDArray) -> NDArray[np.float64]:
        r, alpha, a, b = self._p()
        alive = np.ones(np.shape(x))  # no repeat purchase: no chance to have dropped out yet
        # Only the repeat buyers are computed. Their positions, not a mask: numpy's mask indexing
        # branches on every value, five times slower where repeat and one-time buyers alternate.
        repeat = x > 0
        if repeat.ndim:  # (a 0-d array has no positions)
            repeat = np.nonzero(repeat)
        xs, t_xs, ages = x[repeat], t_x[repeat], age[repeat]
        # D = log(a) - log(b + x - 1) + (r + x) log1p((T - t_x) / (alpha + t_x)), the same
        # operations in place on the three new arrays above (at millions of customers fresh memory
        # is the cost).
        later = np.subtract(ages, t_xs, out=ages)
        np.divide(later, np.add(alpha, t_xs, out=t_xs), out=later)
        np.log1p(later, out=later)
        later *= r + xs
        D = np.add(b, xs, out=xs)
        D -= 1
        with np.errstate(divide="ignore"):
            np.log(D, out=D)
        np.subtract(np.log(a), D, out=D)
        D += later
        del later
        alive[repeat] = expit(np.negative(D, out=D), out=D)
        return alive

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike,
                           T: ArrayLike) -> NDArray[np.float64]:
        """E[number of purchases in (T, T+t] | history] (paper eq. 10), in a stable form."""
        r, alpha, a, b = self._p()
        t_arr, x, t_x, age = np.broadcast_arrays(_check_t(t), *check_rfm(frequency, recency, T))
        u = (t_arr / (alpha + age)).reshape(-1)
        given_alive = _expected_given_alive(r, a, b, x.reshape(-1), u).reshape(x.shape)
        return self._p_alive(x, t_x, age) * given_alive

    def prob_no_purchase(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike,
                         T: ArrayLike) -> NDArray[np.float64]:
        """P(no purchase in (T, T+t] | history) = 1 - P(alive) [1 - (1 + t/(alpha+T))^-(r+x)].

        Exact: given alive, lambda ~ Gamma(r+x, alpha+T), and dropout only happens right after a
        purchase, so a customer who makes no purchase in the window cannot drop out during it.
        """
        return self.p_alive_and_no_purchase(t, frequency, recency, T)[1]

    def p_alive_and_no_purchase(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike,
                                T: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(:meth:`p_alive`, :meth:`prob_no_purchase`) in one pass: the inputs are checked once and
        P(alive) is computed once (the scoring of millions of customers needs both).

        Many customers are worked out a block at a time into the two results: every temporary is
        then a block's, memory used again and again, instead of a new array of millions of values
        each, which costs more in fresh memory than in arithmetic (docs/performance.md). The
        values are the same."""
        t_arr, x, t_x, age = np.broadcast_arrays(_check_t(t), *check_rfm(frequency, recency, T))
        if x.ndim != 1 or x.size <= _BLOCK:
            return self._alive_and_none(t_arr, x, t_x, age)
        alive, none = np.empty(x.size), np.empty(x.size)
        for part in blocks(x.size, _BLOCK):
            in_part = (t_arr[part], x[part], t_x[part], age[part])
            alive[part], none[part] = self._alive_and_none(*in_part)
        return alive, none

    def _alive_and_none(self, t_arr: NDArray, x: NDArray, t_x: NDArray,
                        age: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        r, alpha, _, _ = self._p()
        alive = self._p_alive(x, t_x, age)
        # 1 - P(alive) P(a purchase in t | alive), P = -expm1(-(r + x) log1p(t / (alpha + T))): the
        # same operations in place on one new array (at millions of customers fresh memory is the
        # cost).
        none = np.asarray(np.add(alpha, age))  # an array also for one customer: out= needs one
        np.divide(t_arr, none, out=none)
        np.log1p(none, out=none)
        rate = np.asarray(np.add(r, x))
        np.negative(rate, out=rate)
        np.multiply(rate, none, out=none)
        del rate
        np.expm1(none, out=none)
        np.negative(none, out=none)
        np.multiply(alive, none, out=none)
        np.subtract(1.0, none, out=none)
        return alive, np.clip(none, 0.0, 1.0, out=none)

    def expected_purchases_new(self, t: ArrayLike) -> NDArray[np.float64]:
        """Unconditional E[X(t)] for a new customer (paper eq. 9); for calibration checks."""
        r, alpha, a, b = self._p()
        t_arr = _check_t(t)
        flat = t_arr.reshape(-1)
        out = _expected_given_alive(r, a, b, np.zeros_like(flat), flat / alpha)
        return out.reshape(t_arr.shape)

    def summary(self) -> dict[str, object]:
        """Parameters, log-likelihood and fit diagnostics as a plain dict."""
        self._p()
        return {**self.params_, "log_likelihood": getattr(self, "log_likelihood_", None),
                "converged": getattr(self, "converged_", None),
                "n_customers": getattr(self, "n_customers_", None),
                "n_distinct": getattr(self, "n_distinct_", None)}


class SimulatedRFM(NamedTuple):
    """Output of :func:`simulate_bgnbd_with_holdout`; ``holdout``: purchases in (T, T + holdout]."""

    frequency: NDArray[np.float64]
    recency: NDArray[np.float64]
    T: NDArray[np.float64]
    holdout: NDArray[np.float64]


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, T: ArrayLike,
                   rng: np.random.Generator) -> tuple[NDArray, NDArray, NDArray]:
    """Draw ``n`` BG/NBD histories ``(frequency, recency, T)``; first purchase at time 0."""
    sim = simulate_bgnbd_with_holdout(n, r, alpha, a, b, T, rng, holdout=0.0)
    return sim.frequency, sim.recency, sim.T


def simulate_bgnbd_with_holdout(n: int, r: float, alpha: float, a: float, b: float, T: ArrayLike,
                                rng: np.random.Generator, *, holdout: float) -> SimulatedRFM:
    """Like :func:`simulate_bgnbd`, also counting each customer's purchases in (T, T + holdout].

    Vectorised over customers; the loop runs over purchase rounds only (as many as the most
    purchases of any one customer). Dropout, with probability p, follows each repeat purchase.
    """
    age = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    end = age + holdout
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    clock = np.zeros(n)
    freq, rec, hold = np.zeros(n), np.zeros(n), np.zeros(n)
    idx = np.arange(n)
    while idx.size:
        with np.errstate(divide="ignore"):
            clock[idx] += rng.standard_exponential(idx.size) / lam[idx]
        idx = idx[clock[idx] <= end[idx]]
        cal = clock[idx] <= age[idx]
        freq[idx[cal]] += 1
        rec[idx[cal]] = clock[idx[cal]]
        hold[idx[~cal]] += 1
        idx = idx[rng.random(idx.size) >= p[idx]]
    return SimulatedRFM(freq, rec, age, hold)
