"""Probability models of buying: BG/NBD (will they buy again) and Gamma-Gamma (how much)."""

from winback.models.bgnbd import BetaGeoModel, bgnbd_log_likelihood, simulate_bgnbd
from winback.models.gammagamma import GammaGammaModel, gamma_gamma_log_likelihood, shrunk_average_value

__all__ = [
    "BetaGeoModel",
    "GammaGammaModel",
    "bgnbd_log_likelihood",
    "gamma_gamma_log_likelihood",
    "shrunk_average_value",
    "simulate_bgnbd",
]
