"""Stage 3: customer summary -> scores: who has lapsed, how sure we are, what they are worth.

Models (time unit: weeks):

- repeat buyers: BG/NBD (Fader, Hardie & Lee 2005) gives P(alive) and P(no purchase in the
  horizon); a customer's purchase rate if still active is the posterior mean (r + x) / (alpha + T).
- one-time buyers: the second-purchase curve (:class:`winback.cadence.SecondPurchaseCurve`), never
  the BG/NBD "always alive" artefact.
- spend per occasion: Gamma-Gamma on repeat occasions, or a shrunk mean when it cannot be fitted.

Values (money when the file has amounts, else orders; margin when a cost or margin column exists):

- ``annual_value``: what the customer is worth in a year while active = purchases per year x value
  per purchase x margin ratio, plus ``REFERRAL_SHARE`` of the annual value of customers they referred.
- ``expected_value``: expected value over the next year if left alone = annual_value x P(alive).
- ``last_year_value``: what they brought in the last 12 months (the summary's ``recent_value``), plus
  ``REFERRAL_SHARE`` of what the customers they referred brought.
- ``value_at_risk``: the value lost if they do not come back = last_year_value x (1 - P(alive)).
- ``priority``: value_at_risk x tenure weight, where tenure weight grows 10% per year of relationship
  (up to +50%).

A customer has **lapsed** when they are overdue against their own rhythm (days since the last order
at least ``LAPSE_FACTOR`` times their usual gap) and the models say they will probably not buy within
the horizon on their own (P(no purchase) >= 0.5). Customers whose net revenue, or net margin where
known, is not positive are never targets.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from winback._sorting import finite_or_zero
from winback.cadence import SecondPurchaseCurve, expected_gap, population_gap, prior_gaps
from winback.errors import ModelFitError

if TYPE_CHECKING:
    from winback.models import GammaGammaModel

# winback.models (scipy) is imported where a model is fitted (or by start_loading_models), not here:
# scipy's import takes about 0.2-0.3 s, which every command paid at start-up, including those that
# fit no model (--help, inspect).

LAPSE_FACTOR = 2.0
P_NO_PURCHASE_LAPSED = 0.5
REFERRAL_SHARE = 0.5
TENURE_WEIGHT_PER_YEAR = 0.10
TENURE_WEIGHT_MAX_YEARS = 5.0
MARGIN_PRIOR_ORDERS = 3.0
FIT_SAMPLE = 200_000
FIT_SEED = 20261123
FIT_PENALTY = 0.01
WEEK = 7.0


@dataclass
class ScoreParams:
    horizon_days: int = 90


@dataclass
class ModelInfo:
    """What was fitted, for the run summary."""

    time_unit: str = "weeks"
    bgnbd: dict | None = None
    gamma_gamma: dict | None = None
    second_purchase: dict = field(default_factory=dict)
    population_gap_days: float | None = None
    prior_gaps: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out: dict = {"time_unit": self.time_unit}
        if self.bgnbd is not None:
            out["bgnbd"] = self.bgnbd
        if self.gamma_gamma is not None:
            out["gamma_gamma"] = self.gamma_gamma
        out["second_purchase"] = self.second_purchase
        out["population_gap_days"] = self.population_gap_days
        out["prior_gaps"] = self.prior_gaps
        out["notes"] = list(self.notes)
        return out


@dataclass
class ScoreResult:
    scores: pd.DataFrame  # the summary columns plus the score columns
    model: ModelInfo
    #: expected purchase occasions per customer in the next ``days`` days (same order as ``scores``)
    expected_purchases: Callable[[float], np.ndarray]


def start_loading_models() -> None:
    """Start importing the models' libraries (scipy: about 0.2 s, holding the interpreter lock most
    of it) in a thread of their own, ahead of :func:`score`, whose own import then waits for it if
    it is not done (or raises the error, if it failed). Worth it once the caller's threads mostly
    work without the lock and leave a core free (the pipeline: when the importer waits for its id
    thread)."""
    threading.Thread(target=_import_models, name="winback-models", daemon=True).start()


def _import_models() -> None:
    with contextlib.suppress(ImportError):  # raised again where a model is fitted, and reported
        import winback.models  # noqa: F401


def score(customers: pd.DataFrame, params: ScoreParams | None = None, *, has_amount: bool = True,
          has_margin: bool = False, recent_value: pd.Series | np.ndarray | None = None) -> ScoreResult:
    """Score every customer of the summary.

    ``recent_value`` is each customer's value over the last 12 months (the summary's ``recent_value``,
    as an array in the summary's order, or a Series by customer id); without it, the model's yearly
    value stands in.
    """
    params = params or ScoreParams()
    info = ModelInfo()
    out = customers.copy(deep=False)  # copy-on-write: the new columns do not touch the summary
    n = len(out)
    if n == 0:
        for col in ("expected_gap_days", "overdue_ratio", "p_alive", "p_alive_bgnbd", "p_no_purchase",
                    "annual_value", "expected_value", "last_year_value", "value_at_risk", "priority"):
            out[col] = pd.Series(dtype="float64")
        out["lapsed"] = pd.Series(dtype="bool")
        out["target"] = pd.Series(dtype="bool")
        info.notes.append("no customers to score")
        return ScoreResult(out, info, lambda days: np.zeros(0))

    # A second thread works out the rhythms (no model) while BG/NBD is fitted here; Gamma-Gamma is
    # fitted by whichever of the two is free first (the helper at a million customers, this thread
    # at millions, where the rhythms take longer than BG/NBD). Then the helper works out each
    # customer's value per purchase while BG/NBD's probabilities are computed here (the two threads
    # take about as long), then what needs no model while the probabilities are combined here. The
    # run notes come in the same order every time, and nothing is written to ``out`` until both
    # threads are done.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="winback-score") as helper:
        rhythm = helper.submit(_rhythms, out)
        # At millions of customers a new array costs more in fresh memory than in arithmetic, so
        # the columns below are one new array each, and the arithmetic on them is done in place
        # (same values).
        x = out["frequency"].to_numpy(dtype=float)
        t_x = _column(out, "recency_days")
        t_x /= WEEK
        age = _column(out, "age_days")
        age /= WEEK
        silent = out["days_since_last"].to_numpy(dtype=float)
        horizon_w = params.horizon_days / WEEK
        repeat = x > 0
        repeat_mean = finite_or_zero(out["repeat_avg_value"].to_numpy(dtype=float)) \
            if has_amount else None
        spend_info = ModelInfo()  # Gamma-Gamma's notes: after BG/NBD's, whichever thread fits it
        fit_spend = partial(_fit_spend, spend_info, x, repeat_mean) if has_amount else None
        # Queued on the helper behind the rhythms; taken back below if it has not started by then.
        queued = helper.submit(fit_spend) if fit_spend and _optimisers_in_two_threads() else None
        from winback.models import BetaGeoModel
        bg: BetaGeoModel | None = None
        try:
            bg = _fit(BetaGeoModel, info, "BG/NBD", x, t_x, age)
        except ModelFitError as exc:
            info.notes.append(f"BG/NBD not used: {exc}")
        if queued is not None and not queued.cancel():  # (cancel: only if not started)
            gg = queued.result()
        else:
            gg = fit_spend() if fit_spend else None
        del fit_spend, queued
        info.notes.extend(spend_info.notes)
        info.gamma_gamma = spend_info.gamma_gamma
        spend = helper.submit(_value_per_purchase, out, gg, x, repeat_mean)
        # Then what needs no model (last year's value, the tenure weight, who is a target), while
        # the probabilities are put together here.
        model_free = helper.submit(_without_models, out, customers, recent_value, has_amount,
                                   has_margin)
        del repeat_mean
        if bg is not None:
            info.bgnbd = {k: round(float(v), 6) for k, v in bg.params_.items()}
            info.bgnbd["log_likelihood"] = round(float(bg.log_likelihood_), 4)
            info.bgnbd["converged"] = bool(bg.converged_)
            p_alive_bg, repeat_none = bg.p_alive_and_no_purchase(horizon_w, x, t_x, age)
            repeat_alive = p_alive_bg
            rate_per_week = bg.params_["r"] + x
            rate_per_week /= bg.params_["alpha"] + age
        else:
            p_alive_bg, rate_per_week = np.full(n, np.nan), np.full(n, np.nan)
        # Each temporary of 3.6 million values is let go of as soon as it is used, so that the
        # arrays made after it reuse its memory: a scan's memory peaks at the end of scoring.
        del x, t_x, age
        curve, pop_gap, k, gap = rhythm.result()
        # (The curve's probabilities were the second thread's; here the two threads take about as long.)
        p_alive, p_none = curve.p_alive_and_no_purchase(silent, params.horizon_days)
        per_purchase = spend.result()
        info.second_purchase = {
            "median_days_to_second_purchase": _finite_or_none(curve.median_days),
            "share_without_second_purchase": round(curve.share_without_second_purchase(), 4),
            "observed_days": _finite_or_none(curve.reliable_until),
        }
        info.population_gap_days = _finite_or_none(pop_gap)
        info.prior_gaps = round(k, 3)
        # New columns are numpy arrays put in as Series over them: pandas copies an array assigned
        # as it is (twelve fresh 3.6M-value copies at ten million orders, 0.2-0.3 s), not a
        # Series' values.
        gap_days = gap.to_numpy()
        overdue = np.maximum(gap_days, 1.0)
        np.divide(silent, overdue, out=overdue)

        # One-time buyers always use the second-purchase curve; repeat buyers use BG/NBD, or their
        # own rhythm when BG/NBD cannot be fitted (see _rhythm_fallback).
        if bg is None:
            repeat_alive, repeat_none = _rhythm_fallback(out["orders"].to_numpy(dtype=float),
                                                         silent, gap_days, params.horizon_days)
        del silent
        at = np.flatnonzero(repeat)  # (positions, not a masked copy: faster; see finite_or_zero)
        p_alive[at] = repeat_alive[at]
        p_none[at] = repeat_none[at]
        del at
        del repeat_alive, repeat_none
        if not np.isfinite(rate_per_week).all():
            # Without a fitted model: the customer's own rate, shrunk like the gap.
            rate_per_week = WEEK / np.maximum(gap_days, 1.0)
        np.clip(p_alive, 0.0, 1.0, out=p_alive)
        np.clip(p_none, 0.0, 1.0, out=p_none)

        margin_ratio = _margin_ratio(out) if (has_margin and has_amount) else 1.0
        own_annual = rate_per_week  # not used after this: worked on in place
        del rate_per_week
        own_annual *= 52.0
        own_annual *= per_purchase
        own_annual *= margin_ratio
        own = pd.Series(own_annual, index=out.index, copy=False)
        annual = _with_referred_share(own, customers)
        last_year, tenure_weight, target = model_free.result()
    if last_year is None:  # without last year's value, the model's yearly value stands in
        last_year = _with_referred_share(own, customers)
    del own, own_annual
    at_risk = np.subtract(1.0, p_alive)
    at_risk *= last_year
    columns = {
        "expected_gap_days": gap_days,
        "overdue_ratio": overdue,
        "p_alive": p_alive,
        "p_alive_bgnbd": p_alive_bg,  # plain BG/NBD (1 for one-time buyers); for comparisons only
        "p_no_purchase": p_none,
        "annual_value": annual,
        "expected_value": annual * p_alive,
        "last_year_value": last_year,
        "value_at_risk": at_risk,
        "priority": np.multiply(tenure_weight, at_risk, out=tenure_weight),
        "lapsed": (overdue >= LAPSE_FACTOR) & (p_none >= P_NO_PURCHASE_LAPSED),
        "target": target,
    }
    for name, values in columns.items():
        out[name] = pd.Series(values, index=out.index, copy=False)
    # What expected_purchases needs, as the columns it is worked out from (no copies): it is kept
    # as long as the result, and its own arrays (frequency, recency, age and days since the last
    # order as floats, the rate) held about 140 MB at 3.6 million customers through the call list,
    # where a scan peaks. A backtest calls it once or twice, and makes them again then.
    kept = {name: out[name] for name in ("frequency", "recency_days", "age_days", "days_since_last",
                                         "p_alive", "expected_gap_days")}
    del repeat

    def expected_purchases(days: float) -> np.ndarray:
        """Repeat buyers: the BG/NBD conditional expectation. One-time buyers: P(a second purchase within
        ``days``) x (1 + what BG/NBD expects from a repeat buyer in the second half of the window)."""
        x = kept["frequency"].to_numpy(dtype=float)
        age = kept["age_days"].to_numpy(dtype=float) / WEEK
        repeat = x > 0
        returns = 1.0 - curve.p_no_purchase(kept["days_since_last"].to_numpy(dtype=float), days)
        if bg is None:  # the customer's own rate, as above without a fitted model
            rate = WEEK / np.maximum(kept["expected_gap_days"].to_numpy(dtype=float), 1.0)
            return np.where(repeat, kept["p_alive"].to_numpy() * rate * days / WEEK, returns)
        # Each formula on the customers it is for, not on everyone (the hypergeometric function
        # is the cost: 2.7 s at 3.2 million customers). What BG/NBD expects of a one-time buyer
        # after a second purchase depends on the age alone: worked out once per distinct age.
        # (Positions, not masks: faster where repeat and one-time buyers alternate.)
        once, repeat = np.flatnonzero(~repeat), np.flatnonzero(repeat)
        if len(once):
            half = days / 2.0 / WEEK
            ages, at = np.unique(age[once], return_inverse=True)
            after = bg.expected_purchases(half, np.ones(len(ages)), ages + half, ages + half)
            returns[once] *= 1.0 + after[at]
        if len(repeat):
            t_x = kept["recency_days"].to_numpy(dtype=float)[repeat] / WEEK
            returns[repeat] = bg.expected_purchases(days / WEEK, x[repeat], t_x, age[repeat])
        return returns

    return ScoreResult(out, info, expected_purchases)


def _rhythms(out: pd.DataFrame) -> tuple[SecondPurchaseCurve, float, float, pd.Series]:
    """No model fit: the second-purchase curve, the population's usual gap, the prior's weight and each
    customer's expected gap."""
    curve = SecondPurchaseCurve.fit(out)
    pop_gap = population_gap(out)
    k = prior_gaps(out)
    return curve, pop_gap, k, expected_gap(out, pop_gap, curve.median_days, k)


def _optimisers_in_two_threads() -> bool:
    """Whether two model fits may run at once: scipy's L-BFGS-B is C code keeping its state in the
    caller's arrays since scipy 1.15; before, it was Fortran behind a wrapper not safe in two
    threads (numpy/numpy#16513). An unreadable version counts as an old one."""
    import scipy

    try:
        major, minor = (int(part) for part in scipy.__version__.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (1, 15)


def _fit(model_class: type, info: ModelInfo, name: str, *columns: np.ndarray):  # noqa: ANN202
    """Fit a model on at most ``FIT_SAMPLE`` customers, retrying once with a small penalty.

    The parameters describe the whole customer base, so a seeded random sample of a very large base
    estimates them as well as all of it, in bounded time. When the plain fit does not settle (a
    parameter runs off to 0 or infinity, typical of small or very regular data), a small L2 penalty on
    the log-parameters, as the BTYD libraries recommend, usually does; the run notes say so.
    """
    n = len(columns[0])
    if n > FIT_SAMPLE:
        pick = np.random.default_rng(FIT_SEED).choice(n, size=FIT_SAMPLE, replace=False)
        columns = tuple(c[pick] for c in columns)
        info.notes.append(f"{name} fitted on a random sample of {FIT_SAMPLE:,} of the {n:,} customers.")
    try:
        return model_class().fit(*columns)
    except ModelFitError as first:
        try:
            model = model_class(penalizer=FIT_PENALTY).fit(*columns)
        except ModelFitError:
            raise first from None
        info.notes.append(f"{name} fitted with a small penalty ({FIT_PENALTY}) because the plain fit did "
                          f"not settle: {first}")
        return model


def _rhythm_fallback(orders: np.ndarray, silent: np.ndarray, gap: np.ndarray,
                     horizon_days: float) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) and P(no purchase in the horizon) from a customer's own rhythm, without BG/NBD.

    While active the customer buys at rate 1 / usual gap (Poisson); after each purchase they may stop
    with probability 1 / (orders + 2) (a Laplace estimate: the more orders, the less likely the last one
    was the end). Then P(alive | silent d) = (1 - q) e^(-d/gap) / ((1 - q) e^(-d/gap) + q).
    """
    q = 1.0 / (orders + 2.0)
    stay = (1.0 - q) * np.exp(-silent / np.maximum(gap, 1.0))
    alive = stay / (stay + q)
    none = (1.0 - alive) + alive * np.exp(-horizon_days / np.maximum(gap, 1.0))
    return alive, none


def _fit_spend(info: ModelInfo, x: np.ndarray, repeat_mean: np.ndarray) -> GammaGammaModel | None:
    """Gamma-Gamma fitted on the repeat buyers' average spend, or None (and a run note) when it
    cannot be."""
    from winback.models import GammaGammaModel
    try:
        gg = _fit(GammaGammaModel, info, "Gamma-Gamma", x, repeat_mean)
    except ModelFitError as exc:
        info.notes.append(f"Gamma-Gamma not used, shrunk averages instead: {exc}")
        return None
    info.gamma_gamma = {k: round(float(v), 6) for k, v in gg.params_.items()}
    info.gamma_gamma["converged"] = bool(gg.converged_)
    return gg


def _value_per_purchase(out: pd.DataFrame, gg: GammaGammaModel | None, x: np.ndarray,
                        repeat_mean: np.ndarray | None) -> np.ndarray:
    """Each customer's value per purchase: Gamma-Gamma's expectation (``gg``, fitted), or shrunk
    averages without it; 1 each without amounts (``repeat_mean`` None)."""
    if repeat_mean is None:
        return np.ones(len(out))
    first_mean = out["avg_order_value"].to_numpy(dtype=float)
    if gg is not None:
        value = gg.conditional_expected_average_profit(x, repeat_mean)
        # One-time buyers: their single order says something too; blend it in like one repeat:
        # 0.5 value + 0.5 their order's value, written over theirs (in fewer new arrays).
        blend = finite_or_zero(first_mean)
        blend *= 0.5
        blend += 0.5 * value
        once = np.flatnonzero(~(x > 0))
        value[once] = blend[once]
        del blend
    else:
        from winback.models import shrunk_average_value
        prior = float(np.nanmedian(first_mean)) if np.isfinite(first_mean).any() else 0.0
        value = shrunk_average_value(out["orders"].to_numpy(dtype=float),
                                     finite_or_zero(first_mean), prior)
    # (value is this function's own array either way: worked on in place)
    return np.maximum(finite_or_zero(value, out=value), 0.0, out=value)


def _without_models(out: pd.DataFrame, customers: pd.DataFrame,
                    recent_value: pd.Series | np.ndarray | None, has_amount: bool, has_margin: bool
                    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(last year's value with the referred customers' share, or None without ``recent_value``;
    the tenure weight; whether each customer is a target): what the scores take from the summary
    alone."""
    last_year = None
    if recent_value is not None:
        if isinstance(recent_value, np.ndarray):  # the summary's own column: already aligned
            clipped = finite_or_zero(recent_value.astype(float, copy=False))  # a copy
            recent = pd.Series(np.clip(clipped, 0.0, None, out=clipped), index=out.index,
                               copy=False)
            del clipped
        else:
            recent = recent_value.reindex(out.index).fillna(0.0).clip(lower=0.0)
        last_year = _with_referred_share(recent, customers)
        del recent
    tenure_weight = _column(out, "age_days")  # years of the relationship, then the weight
    tenure_weight /= 365.25
    np.minimum(tenure_weight, TENURE_WEIGHT_MAX_YEARS, out=tenure_weight)
    tenure_weight *= TENURE_WEIGHT_PER_YEAR
    tenure_weight += 1.0
    if has_margin and has_amount:
        target = out["margin"].to_numpy() > 0
    elif has_amount:
        target = out["revenue"].to_numpy() > 0
    else:
        target = np.ones(len(out), dtype=bool)
    return last_year, tenure_weight, target


def _margin_ratio(out: pd.DataFrame) -> np.ndarray:
    gross = out["gross_revenue"].to_numpy(dtype=float)
    margin = out["margin"].to_numpy(dtype=float)
    total_gross = np.nansum(gross)
    pop = float(np.nansum(margin) / total_gross) if total_gross > 0 else 1.0
    own = np.divide(margin, gross, out=np.full_like(margin, pop), where=gross > 0)
    k = MARGIN_PRIOR_ORDERS
    orders = out["orders"].to_numpy(dtype=float)
    return (orders * own + k * pop) / (orders + k)


def _referred_value(customers: pd.DataFrame, own_annual: pd.Series) -> np.ndarray:
    """Sum of the own annual value of the customers each customer referred (0 if none), as a new
    array."""
    if not customers["referrals"].any():
        return np.zeros(len(customers))
    referred = customers["referred_by"].fillna("")
    has = referred != ""
    sums = own_annual[has].groupby(referred[has]).sum()
    return sums.reindex(customers.index, fill_value=0.0).to_numpy(dtype=float, copy=True)


def _with_referred_share(own: pd.Series, customers: pd.DataFrame) -> np.ndarray:
    """``own`` plus ``REFERRAL_SHARE`` of the ``own`` of the customers each one referred, as a new
    array."""
    total = _referred_value(customers, own)
    total *= REFERRAL_SHARE
    total += own.to_numpy()
    return total


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as a new float array, to be worked on in place (never a view of the frame)."""
    return frame[name].to_numpy(dtype=float, copy=True)


def _finite_or_none(v: float) -> float | None:
    return round(float(v), 2) if np.isfinite(v) else None
