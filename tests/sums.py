"""Test helper: a model's summed likelihood (what its fit minimises) against the per-row one."""

from __future__ import annotations

import numpy as np


def assert_sums_agree(summed: tuple[float, np.ndarray], w: np.ndarray, ll: np.ndarray,
                      grad: np.ndarray, value_size: np.ndarray, grad_size: np.ndarray) -> None:
    """``summed`` (the log-likelihood's weighted sum and its gradient) is ``w @ ll`` and
    ``w @ grad`` to 1e-12 of the weighted sizes of the terms they add up: the two sum the same
    terms in other orders, and terms that cancel leave a few ulps of their size."""
    total, summed_grad = summed
    assert abs(total - w @ ll) <= 1e-12 * (w @ value_size)
    assert np.all(np.abs(summed_grad - w @ grad) <= 1e-12 * (w @ grad_size))
