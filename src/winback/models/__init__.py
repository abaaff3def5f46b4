"""Probability models of buying: BG/NBD (will they buy again, how often) and Gamma-Gamma (how much).

Time unit: whatever unit frequency, recency and T are given in (winback uses weeks); the fitted
``alpha`` is in that unit.
"""

from __future__ import annotations

from winback.models.bgnbd import (
    BetaGeoModel,
    SimulatedRFM,
    bgnbd_log_likelihood,
    simulate_bgnbd,
    simulate_bgnbd_with_holdout,
)
from winback.models.gammagamma import (
    GammaGammaModel,
    gamma_gamma_log_likelihood,
    shrunk_average_value,
)

__all__ = [
    "BetaGeoModel",
    "GammaGammaModel",
    "SimulatedRFM",
    "bgnbd_log_likelihood",
    "gamma_gamma_log_likelihood",
    "shrunk_average_value",
    "simulate_bgnbd",
    "simulate_bgnbd_with_holdout",
]
