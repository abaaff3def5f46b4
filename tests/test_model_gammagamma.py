"""Gamma-Gamma: published CDNOW estimates and the fallback."""

from __future__ import annotations

import numpy as np
import pytest

from tests.cdnow import cdnow_rfm
from winback.errors import ModelFitError
from winback.models import GammaGammaModel, shrunk_average_value


def test_reproduces_published_cdnow_estimates():
    d = cdnow_rfm()
    model = GammaGammaModel().fit(d["frequency"], d["monetary_value"])
    # Fader, Hardie & Lee (2005b) / Fader & Hardie (2013): p = 6.25, q = 3.74, v = 15.44
    assert model.params_["p"] == pytest.approx(6.25, abs=0.01)
    assert model.params_["q"] == pytest.approx(3.74, abs=0.01)
    assert model.params_["v"] == pytest.approx(15.44, abs=0.02)
    assert model.converged_
    assert model.n_used_ == int((d["frequency"] > 0).sum())


def test_conditional_expectation_shrinks_towards_population():
    d = cdnow_rfm()
    model = GammaGammaModel().fit(d["frequency"], d["monetary_value"])
    pop = model.population_mean()
    low = model.conditional_expected_average_profit([1, 20], [5.0, 5.0])
    assert low[0] > low[1] > 5.0  # one purchase: pulled up more towards the population mean
    assert low[0] < pop
    none = model.conditional_expected_average_profit([0, 3], [0.0, -10.0])
    assert none == pytest.approx([pop, pop])


def test_too_few_repeat_buyers():
    with pytest.raises(ModelFitError, match="at least 30 repeat buyers"):
        GammaGammaModel().fit([1, 2, 0], [10.0, 20.0, 0.0])
    with pytest.raises(ModelFitError):
        GammaGammaModel().fit(np.ones(100), -np.ones(100))  # only refunds


def test_shrunk_average():
    out = shrunk_average_value([0, 1, 9], [np.nan, 40.0, 10.0], prior_mean=20.0, prior_weight=1.0)
    assert out == pytest.approx([20.0, 30.0, 11.0])
