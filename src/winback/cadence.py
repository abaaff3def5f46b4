"""Each customer's own buying rhythm, and what one-time buyers can be compared with.

Two pieces, both vectorised:

- :func:`expected_gap`: a customer's usual gap between purchases, shrunk towards the population's
  typical gap when they have few gaps to judge by (a geometric mean of the two, weighted by the
  number of observed gaps against :func:`prior_gaps` pseudo-gaps). "Usually every 14 days, 60 days
  silent" and "twice a year, 60 days silent" are then told apart by ``days_since_last / gap``.
- :class:`SecondPurchaseCurve`: how long customers here take to make a *second* purchase, as a
  Kaplan-Meier curve over all customers (repeat buyers are events at their first gap; one-time
  buyers are censored at their age). It gives one-time buyers a defensible chance of still coming
  back after ``d`` silent days (within the horizon, and within a year for P(alive)), instead of the
  BG/NBD "always alive" artefact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from winback._sorting import finite_or_zero

#: Pseudo-gaps of population evidence mixed into each customer's own median gap: estimated from the
#: data within these bounds, or the default when fewer than 10 customers show their rhythm.
DEFAULT_PRIOR_GAPS = 2.0
MIN_PRIOR_GAPS = 0.25
MAX_PRIOR_GAPS = 5.0
#: A one-time buyer counts as "alive" with the probability of buying again within this many days.
ALIVE_WITHIN_DAYS = 365.0
#: Second purchases needed in the last third of the observed range before its rate is extrapolated.
MIN_TAIL_EVENTS = 5
#: The tail rate is used only when it is at most this share of the average rate over the observed range.
TAIL_MAX_SHARE_OF_AVERAGE = 0.5


def population_gap(customers: pd.DataFrame) -> float:
    """Typical days between purchases for repeat buyers here (median of their median gaps)."""
    gaps = customers["gap_median_days"].to_numpy(dtype=float)
    # numpy: a filtered Series would copy the id index. Positions, not a mask (faster: numpy
    # branches on every value of a mask; docs/performance.md).
    gaps = gaps[np.flatnonzero(np.isfinite(gaps) & (gaps > 0))]
    return float(np.median(gaps)) if len(gaps) else float("nan")


def expected_gap(customers: pd.DataFrame, pop_gap: float, first_gap_median: float,
                 prior_weight: float | None = None) -> pd.Series:
    """Usual days between purchases for each customer, shrunk towards the population.

    On the log scale, a customer's own median gap (from n gaps) is mixed with the population's typical
    gap counted as k pseudo-gaps, k = within-customer variance / between-customer variance of log gaps
    (an empirical-Bayes weight, kept within [MIN_PRIOR_GAPS, MAX_PRIOR_GAPS]). Where customers are
    regular and differ a lot from each other (weekly buyers beside twice-a-year buyers), a few gaps are
    trusted; where single customers' gaps are erratic, the population counts more. One-time buyers
    get ``first_gap_median``: how long repeat buyers here usually took to come back after their first
    purchase. ``prior_weight``: k when the caller has worked it out already (:func:`prior_gaps`).
    """
    n = customers["frequency"].to_numpy(dtype=float)
    own = customers["gap_median_days"].to_numpy(dtype=float)
    own = np.where(np.isfinite(own) & (own > 0), own, 1.0)
    prior = pop_gap if np.isfinite(pop_gap) and pop_gap > 0 else 30.0
    k = prior_gaps(customers) if prior_weight is None else prior_weight
    # exp((n log(own) + k log(prior)) / (n + k)), the same operations in place on ``own`` (a new
    # array): at millions of customers each new array costs more in fresh memory than in arithmetic.
    gap = np.log(own, out=own)
    gap *= n
    gap += k * np.log(prior)
    gap /= n + k
    np.exp(gap, out=gap)
    fallback = first_gap_median if np.isfinite(first_gap_median) and first_gap_median > 0 else prior
    gap[np.flatnonzero(~(n > 0))] = fallback  # (positions, not a mask: faster)
    return pd.Series(gap, index=customers.index, name="expected_gap_days", copy=False)


def prior_gaps(customers: pd.DataFrame) -> float:
    """Pseudo-gaps of population evidence: within- over between-customer variance of log gaps."""
    median = customers["gap_median_days"].to_numpy(dtype=float)
    spread = customers["gap_spread_days"].to_numpy(dtype=float)
    several = np.flatnonzero(np.isfinite(spread) & (median > 0))  # (positions: faster than masks)
    repeat = np.flatnonzero(np.isfinite(median) & (median > 0))
    if len(several) < 10 or len(repeat) < 10:
        return DEFAULT_PRIOR_GAPS
    within = float(np.median(np.log1p((spread[several] / median[several]) ** 2)))
    between = float(np.var(np.log(median[repeat])))
    if between <= 0:
        return MAX_PRIOR_GAPS
    return float(np.clip(within / between, MIN_PRIOR_GAPS, MAX_PRIOR_GAPS))


#: From this many customers, S(days) is looked up in a table over whole days (up to _TABLE_UP_TO).
_TABLE_FROM = 10_000
_TABLE_UP_TO = 1_000_000


def _whole_days(days: np.ndarray, ahead: float = 0.0) -> np.ndarray | None:
    """``days`` as int64 when there are more than ``_TABLE_FROM`` of them, all whole and,
    ``ahead`` days later, still below ``_TABLE_UP_TO``: then a table over every day is the cheaper
    way to S."""
    if days.size <= _TABLE_FROM:
        return None
    whole = days.astype(np.int64)
    in_range = whole.min(initial=0) >= 0 and whole.max(initial=0) + ahead < _TABLE_UP_TO
    return whole if in_range and (whole == days).all() else None


def _distinct_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_counts=True)``. Times in whole days (the usual case) are counted per
    day with one pass (bincount) instead of a sort of every value."""
    if len(values) and values.min() >= 0 and values.max() < 1e7:
        whole = values.astype(np.int64)  # (non-negative: whole days are those equal to their floor)
        if (whole == values).all():
            per_day = np.bincount(whole)
            days = np.flatnonzero(per_day)
            return days.astype(values.dtype), per_day[days]
    return np.unique(values, return_counts=True)


@dataclass(frozen=True)
class SecondPurchaseCurve:
    """Kaplan-Meier survival of "no second purchase yet" against days since the first purchase.

    Beyond the last time with enough customers still waiting, the curve is extended with the hazard
    seen over the last third of that range (a constant-hazard tail, only when at least
    ``MIN_TAIL_EVENTS`` second purchases fall there and that rate has fallen to at most half the
    average rate), so a short history neither says "nobody ever comes back after this" nor
    "everyone does".
    """

    times: np.ndarray  # distinct event times (days), ascending
    survival: np.ndarray  # S(t) just after each time
    median_days: float  # days by which half of those who returned had returned (NaN if none)
    reliable_until: float  # last time with enough customers still at risk
    tail_hazard: float  # per day, used beyond reliable_until

    @classmethod
    def fit(cls, customers: pd.DataFrame, min_at_risk: int = 30) -> SecondPurchaseCurve:
        # Days to the second purchase, else days observed (missing: 0), in one new array.
        t = customers["age_days"].to_numpy(dtype=float, copy=True)
        # The repeat buyers' positions, not a mask: faster (see _sorting.finite_or_zero).
        at = np.flatnonzero(customers["frequency"].to_numpy() > 0)
        t[at] = customers["first_gap_days"].to_numpy(dtype=float)[at]
        finite_or_zero(t, out=t)
        if not len(at):
            return cls(np.array([0.0]), np.array([1.0]), float("nan"), float(t.max(initial=0.0)), 0.0)
        # Customers and second purchases per distinct time, without a Python object per customer.
        times, counts = _distinct_counts(t)
        event_times, event_counts = _distinct_counts(t[at])
        events = np.zeros(len(times))
        events[np.searchsorted(times, event_times)] = event_counts
        at_risk = len(t) - (np.cumsum(counts) - counts)  # customers still waiting at each time
        survival = np.cumprod(1.0 - events / at_risk)
        ok = at_risk >= min_at_risk
        reliable_until = float(times[ok][-1]) if ok.any() else float(event_times.max())
        keep = times <= reliable_until
        times, survival, tail_events = times[keep], survival[keep], events[keep]
        start = reliable_until * 2.0 / 3.0
        in_tail = times > start
        s_start = float(survival[~in_tail][-1]) if (~in_tail).any() else 1.0
        s_end = float(survival[-1])
        span = reliable_until - start
        # Extrapolate only from evidence: enough customers waiting, enough second purchases in the tail,
        # and a tail rate that has settled below the average rate (returns thinning out, not a spike).
        enough = ok.any() and tail_events[in_tail].sum() >= MIN_TAIL_EVENTS and span > 0 and s_end > 0
        tail = float(np.log(s_start / s_end) / span) if enough else 0.0
        average = float(-np.log(max(s_end, 1e-300)) / reliable_until) if reliable_until > 0 else 0.0
        if tail > TAIL_MAX_SHARE_OF_AVERAGE * average:
            tail = 0.0
        returned = 1.0 - s_end
        if returned > 0:
            idx = int(np.searchsorted(-survival, -(1.0 - returned / 2.0), side="left"))
            median_days = float(times[min(idx, len(times) - 1)])
        else:
            median_days = float("nan")
        return cls(times, survival, median_days, reliable_until, max(tail, 0.0))

    def s(self, days: np.ndarray) -> np.ndarray:
        """S(days): share with no second purchase after ``days`` days."""
        days = np.asarray(days, dtype=float)
        whole = _whole_days(days)
        if whole is not None:
            # Whole days repeat a lot (a few thousand distinct values for millions of customers):
            # look them up in a table of S over every day instead of searching the curve per customer.
            return self._s(np.arange(int(whole.max(initial=0)) + 1, dtype=float))[whole]
        return self._s(days)

    def _s(self, days: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.times, days, side="right") - 1
        inside = np.where(idx >= 0, self.survival[np.clip(idx, 0, None)], 1.0)
        beyond = self.survival[-1] * np.exp(-self.tail_hazard * np.maximum(days - self.reliable_until, 0.0))
        return np.where(days > self.reliable_until, beyond, inside)

    def p_no_purchase(self, days_silent: np.ndarray, horizon_days: float) -> np.ndarray:
        """P(no second purchase within the next ``horizon_days``, given none so far)."""
        return self._no_purchase(np.asarray(days_silent, dtype=float), horizon_days)[0]

    def p_alive(self, days_silent: np.ndarray) -> np.ndarray:
        """P(a one-time buyer silent for ``days_silent`` days buys again within a year)."""
        return 1.0 - self.p_no_purchase(days_silent, ALIVE_WITHIN_DAYS)

    def p_alive_and_no_purchase(self, days_silent: np.ndarray,
                                horizon_days: float) -> tuple[np.ndarray, np.ndarray]:
        """(:meth:`p_alive`, :meth:`p_no_purchase` within ``horizon_days``), the same values, from
        one look at the silent days."""
        days = np.asarray(days_silent, dtype=float)
        alive, none = self._no_purchase(days, ALIVE_WITHIN_DAYS, horizon_days)
        np.subtract(1.0, alive, out=alive)
        return alive, none

    def _no_purchase(self, days: np.ndarray, *horizons: float) -> list[np.ndarray]:
        """For each horizon h, S(days + h) / S(days) in [0, 1], with S(days) floored at 1e-300.

        Over whole days (millions of customers, a few thousand distinct days) the ratio is worked
        out once per day in a table and looked up per customer: one new array per horizon. Per
        customer, S(days), each S(days + h) and the whole days of each took six more arrays of
        millions of values, each of them fresh memory, which costs more than the arithmetic
        (docs/performance.md). The values are the same: the same operations on the same numbers."""
        whole_horizons = all(float(h).is_integer() for h in horizons)
        whole = _whole_days(days, max(horizons)) if whole_horizons else None
        if whole is not None:
            day = np.arange(int(whole.max(initial=0)) + 1, dtype=float)
            now = np.maximum(self._s(day), 1e-300)
            return [np.clip(self._s(day + h) / now, 0.0, 1.0)[whole] for h in horizons]
        now = np.maximum(self.s(days), 1e-300)
        return [np.clip(self.s(days + h) / now, 0.0, 1.0) for h in horizons]

    def share_without_second_purchase(self) -> float:
        """Share of customers with no second purchase by ``reliable_until`` days."""
        return float(self.survival[-1])
