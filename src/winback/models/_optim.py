"""Shared numerical helpers for the models: input checks, history collapsing, the log-parameter
optimiser, and the quadrature fallback for the BG/NBD conditional expectation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, log_expit, logsumexp

from winback._sorting import blocks, sort_with_positions
from winback.errors import ModelFitError

#: Box for every log-parameter: exp(+-15) spans 3e-7 .. 3.3e6, far beyond any sensible estimate.
LOG_BOUND = 15.0
#: An estimate beyond exp(+-12) (6e-6 .. 1.6e5) means the likelihood keeps improving towards a
#: degenerate limit (e.g. no heterogeneity at all); the optimiser merely stopped on the way there.
RUNAWAY = 12.0
#: Iteration caps (each iteration costs one pass over the *distinct* histories).
MAXITER_LBFGS = 500
MAXITER_NELDER_MEAD = 2_000
#: A stop without the optimiser's own success flag is still accepted when the largest (projected)
#: gradient component of the mean log-likelihood is below this.
GRAD_TOL = 1e-3

Objective = Callable[[NDArray[np.float64]], "tuple[float, NDArray[np.float64]]"]


@dataclass(frozen=True)
class OptimResult:
    """Outcome of :func:`minimise_log_params`."""

    log_params: NDArray[np.float64]
    value: float
    converged: bool
    stationary: bool
    runaway: bool
    message: str


def require_fit(res: OptimResult, fail: str, runaway_hint: str) -> None:
    """Raise ModelFitError (starting with ``fail``) unless the optimiser settled on a usable point."""
    if not np.isfinite(res.value):
        raise ModelFitError(f"{fail}: the likelihood is not finite ({res.message}).")
    if not (res.converged or res.stationary):
        raise ModelFitError(f"{fail}: the optimiser stopped early ({res.message}).")
    if res.runaway:
        raise ModelFitError(f"{fail}: a parameter ran off to 0 or infinity ({runaway_hint}).")


def check_rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Validate and broadcast (frequency, recency, T); recency is set to 0 where frequency is 0."""
    arrays = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    x, t_x, age = np.broadcast_arrays(*arrays)
    # The checks make flags, not new float arrays: at millions of customers each float temporary is
    # 28 MB of fresh memory (docs/performance.md).
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(age))):
        raise ValueError("frequency, recency and T must be finite numbers")
    # Blocks of a flat view (``x.flat[...]`` would copy each), np.trunc (a float ``% 1`` is about ten
    # times slower).
    flat = x.reshape(-1)
    if np.any(x < 0) or any(np.any(np.trunc(flat[part]) != flat[part]) for part in blocks(flat.size)):
        raise ValueError("frequency must be a non-negative whole number of repeat purchases")
    if np.any(age < 0):
        raise ValueError("T (customer age) must be non-negative")
    past_age = bool(np.any(t_x > age))  # then measured with a rounding tolerance
    if np.any(t_x < 0) or (past_age and np.any(t_x > age * (1 + 1e-12) + 1e-12)):
        raise ValueError("recency must satisfy 0 <= recency <= T")
    if past_age or np.any((t_x != 0) & (x == 0)):  # else nothing to clamp: the recency as it is
        t_x = np.where(x > 0, np.minimum(t_x, age), 0.0)
    # x, age and (with nothing to clamp) t_x may be views of the input: nothing writes to them.
    return x.astype(float, copy=False), t_x.astype(float, copy=False), age.astype(float, copy=False)


def collapse(
    columns: tuple[NDArray[np.float64], ...], weights: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Distinct rows of the stacked ``columns`` and their summed weights (counts without weights).

    Fitting on distinct rows makes the cost grow with the number of distinct histories, not of
    customers. The rows come out in lexicographic order, first column first (as ``np.unique``).
    """
    n = len(columns[0])
    if weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(weights, dtype=float).reshape(-1)
        if w.size not in (1, n):
            raise ValueError("weights must have one value per customer")
        w = np.broadcast_to(w, (n,))
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and non-negative")
    if n == 0:
        return np.column_stack(columns), w
    key = _lexicographic_key(columns)
    if key is None:
        order = np.lexsort(columns[::-1])  # rows in lexicographic order, first column first
        ordered = np.column_stack(columns)[order]
        new = np.ones(n, dtype=bool)
        new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
        rows = ordered[new]
    else:
        key, order = sort_with_positions(key, overwrite=True)  # ties in row order, as lexsort's
        new = _run_starts(key)
        # Each distinct row from its first place, a column at a time (gathering whole rows of the
        # stacked columns into sorted order made the collapse of a fit's 200,000 histories 53 ms
        # instead of 29 ms).
        first = order[new]
        rows = np.column_stack([np.asarray(column)[first] for column in columns])
    summed = np.bincount(np.cumsum(new) - 1, weights=w[order]).astype(float, copy=False)
    keep = summed > 0
    return rows[keep], summed[keep]


def _lexicographic_key(columns: tuple[NDArray[np.float64], ...]) -> NDArray[np.int64] | None:
    """One non-negative int64 per row that orders the rows as the columns do, first column first
    (equal rows, equal keys), or None when the columns' distinct values are too many to share 63
    bits with a row position. Each value becomes its rank among its column's distinct values: the
    values are numbered by hashing (``pd.factorize``, which takes 0.0 and -0.0 as one value), and
    only the distinct ones are sorted; then one value sort of the keys with their positions puts the
    rows in order. ``np.lexsort`` compares floats column by column: 45 ms for the 200,000 histories
    of a fit; sorting each column's values for its ranks, 22-28 ms; numbering them by hashing,
    11-12 ms."""
    n = len(columns[0])
    bits_left = 63 - max(int(n - 1).bit_length(), 1)  # what sort_with_positions leaves for the key
    key = np.zeros(n, dtype=np.int64)
    for column in columns:
        codes, distinct = pd.factorize(np.asarray(column, dtype=np.float64), sort=False)
        rank = np.empty(len(distinct), dtype=np.int64)
        rank[np.argsort(distinct)] = np.arange(len(distinct))
        bits = max(int(len(distinct) - 1).bit_length(), 1)
        bits_left -= bits
        if bits_left < 0:
            return None
        key <<= bits
        key |= rank[codes]
    return key


def _run_starts(sorted_values: NDArray) -> NDArray[np.bool_]:
    """A flag per value: it differs from the one before (the first value always does)."""
    starts = np.empty(len(sorted_values), dtype=bool)
    starts[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    return starts


def penalised_mean(summed: Callable[[NDArray[np.float64]], tuple[float, NDArray[np.float64]]],
                   total: float, penalizer: float) -> Objective:
    """What both models minimise: the weighted mean negative log-likelihood plus an L2 penalty on
    the log-parameters; inf where not finite. ``summed(theta)`` gives the weighted log-likelihood's
    sum over the rows and its gradient, ``total`` the sum of the weights."""

    def objective(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        ll, grad = summed(theta)
        value = -ll / total + penalizer * float(theta @ theta)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(theta)
        return value, -grad / total + 2 * penalizer * theta

    return objective


def _check_point(objective: Objective, theta: NDArray, bound: float) -> tuple[float, bool, bool]:
    """(value, stationary, runaway); stationary: the projected gradient is ~0 (KKT in a box)."""
    with np.errstate(all="ignore"):
        value, grad = objective(theta)
    at_lower, at_upper = theta <= -bound + 1e-6, theta >= bound - 1e-6
    projected = np.where(at_lower, np.minimum(grad, 0.0), grad)
    projected = np.where(at_upper, np.maximum(grad, 0.0), projected)
    stationary = bool(np.all(np.isfinite(projected)) and np.max(np.abs(projected)) < GRAD_TOL)
    return float(value), stationary, bool(np.any(np.abs(theta) > min(RUNAWAY, bound - 1e-6)))


def minimise_log_params(
    objective: Objective, x0: NDArray[np.float64], *, bound: float = LOG_BOUND
) -> OptimResult:
    """Minimise ``objective(theta) -> (value, gradient)`` over log-parameters ``theta`` in a box.

    L-BFGS-B with the analytic gradient first; when it stops neither successful nor at a stationary
    point, Nelder-Mead restarts from where it stopped. Both runs are capped (no hangs). The best
    finite result is returned.
    """
    bounds = [(-bound, bound)] * len(x0)
    start = np.clip(np.asarray(x0, dtype=float), -bound + 1, bound - 1)
    with np.errstate(all="ignore"):
        best = minimize(
            objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
            options={"maxiter": MAXITER_LBFGS, "maxfun": 3 * MAXITER_LBFGS, "ftol": 1e-13,
                     "gtol": 1e-8},
        )
    usable = bool(np.isfinite(best.fun) and np.all(np.isfinite(best.x)))
    if not (best.success and usable) and not (usable and _check_point(objective, best.x, bound)[1]):
        restart = best.x if usable else start
        with np.errstate(all="ignore"):
            nm = minimize(
                lambda th: objective(th)[0], restart, method="Nelder-Mead", bounds=bounds,
                options={"maxiter": MAXITER_NELDER_MEAD, "maxfev": 2 * MAXITER_NELDER_MEAD,
                         "xatol": 1e-8, "fatol": 1e-12},
            )
        if np.isfinite(nm.fun) and np.all(np.isfinite(nm.x)) and (not usable or nm.fun < best.fun):
            best, usable = nm, True
    if not usable:
        return OptimResult(start, float("nan"), False, False, False, str(best.message))
    theta = np.asarray(best.x, dtype=float)
    value, stationary, runaway = _check_point(objective, theta, bound)
    return OptimResult(theta, value, bool(best.success), stationary, runaway, str(best.message))


# --- BG/NBD expected purchases by quadrature (fallback for the hypergeometric closed form) ---

_QUAD_NODES = 200  # per side of the centre: 401 nodes, relative error ~1e-9 on an extreme test grid
_QUAD_CHUNK = 2048


def _ratio_log1p(v: NDArray) -> NDArray:
    with np.errstate(all="ignore"):
        return np.where(v < 1e-8, 1 - v / 2, np.log1p(v) / v)


def _ratio_expm1(v: NDArray, sign: float) -> NDArray:
    """``expm1(v)/v`` (sign +1) or ``-expm1(-v)/v`` (sign -1), exact limit 1 near v = 0."""
    with np.errstate(all="ignore"):
        return np.where(v < 1e-8, 1 + sign * v / 2, sign * np.expm1(sign * v) / v)


def _log_integrand(y: NDArray, a: NDArray, bp: NDArray, s: NDArray,
                   u: NDArray) -> tuple[NDArray, NDArray]:
    """log of ``p^a (1-p)^bp g(p)`` at ``p = expit(y)``, ``g(p) = (1 - (1+pu)^-s) / p``; y-slope."""
    lp, lq = log_expit(y), log_expit(-y)
    pu = np.exp(lp + np.log(u))
    rl = _ratio_log1p(pu)  # log1p(pu) / pu
    sL = s * pu * rl  # s * log1p(pu), computed without underflow trouble
    value = a * lp + bp * lq + np.log(s * u) + np.log(_ratio_expm1(sL, -1.0)) + np.log(rl)
    with np.errstate(all="ignore"):
        q = np.exp(lq)
        slope = (a - 1) * q - bp * np.exp(lp) + q / ((1 + pu) * rl * _ratio_expm1(sL, 1.0))
    return value, slope


def _quad_chunk(a: NDArray, bp: NDArray, s: NDArray, u: NDArray) -> NDArray:
    flat, col = (a, bp, s, u), (a[:, None], bp[:, None], s[:, None], u[:, None])
    lo, hi = np.full(a.shape, -800.0), np.full(a.shape, 800.0)
    for _ in range(70):  # the integrand is single-peaked in y: bisect on the slope of its log
        mid = 0.5 * (lo + hi)
        up = _log_integrand(mid, *flat)[1] > 0
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    peak = 0.5 * (lo + hi)
    eps = 1e-4 * np.maximum(1.0, np.abs(peak))
    ahead, behind = _log_integrand(peak + eps, *flat)[1], _log_integrand(peak - eps, *flat)[1]
    curv = (ahead - behind) / (2 * eps)
    width = np.minimum(1.0 / np.sqrt(np.clip(-curv, 1e-12, 1e12)), 50.0)
    # tails decay like exp(a y) (left) and exp(-bp y) (right); reach 60 e-folds beyond the bend
    t_left = np.arcsinh((60 / np.minimum(a, 1.0) + 60) / width) + 0.5
    t_right = np.arcsinh((60 / np.minimum(bp, 1.0) + 60) / width) + 0.5
    j = np.arange(-_QUAD_NODES, _QUAD_NODES + 1) / _QUAD_NODES
    tau = np.where(j < 0, t_left[:, None] * j, t_right[:, None] * j)
    centre = (t_left + t_right)[:, None] / 2
    step = np.where(j < 0, t_left[:, None], np.where(j > 0, t_right[:, None], centre))
    y = peak[:, None] + width[:, None] * np.sinh(tau)
    log_f = _log_integrand(y, *col)[0] + np.log(width[:, None] * np.cosh(tau) * step / _QUAD_NODES)
    return np.exp(logsumexp(log_f, axis=1) - betaln(a, bp))


def given_alive_quadrature(a: float, bp: NDArray, s: NDArray, u: NDArray) -> NDArray:
    """``E[(1 - (1 + p u)^-s) / p]`` for ``p ~ Beta(a, bp)`` by quadrature in ``y = logit(p)``.

    Trapezoid rule on a sinh-mapped grid centred on the peak of the single-peaked integrand: it has
    no trouble where the hypergeometric closed form is ill-conditioned (a near 1, extreme
    parameters, u -> infinity). Positive integrand, so no cancellation; vectorised in chunks.
    """
    bp, s, u = (np.asarray(v, dtype=float).reshape(-1) for v in np.broadcast_arrays(bp, s, u))
    aa = np.full(bp.shape, float(a))
    out = np.zeros(bp.shape)
    for start in range(0, bp.size, _QUAD_CHUNK):
        sl = slice(start, start + _QUAD_CHUNK)
        with np.errstate(all="ignore"):
            out[sl] = _quad_chunk(aa[sl], bp[sl], s[sl], u[sl])
    return out
