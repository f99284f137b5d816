"""Uniformly random cuts of held-out units: the weights and the weighted RMSE.

Test units are cut some time before failure; cutting a held-out training unit at a uniformly
random cycle makes its expected squared error the mean over all of its cycles, so every cycle
weighs 1 / (cycles of its unit) and each unit counts once. The wide-cap grid that once lived
here (it chose `--past-cap`'s 200 / m60, docs/i16/uncapped.md) is superseded by
phm.bench.cmapss_posterior, which scores that blend beside the posterior recipes under several
truncation mechanisms (`phm bench cmapss --validate-uncapped`).
"""

from __future__ import annotations

import numpy as np


def uniform_cut_weights(units: np.ndarray) -> np.ndarray:
    """(N,) weight 1 / (rows of the row's unit): one uniformly random cut per unit, in mean."""
    _, inverse, counts = np.unique(units, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def weighted_rmse(truth: np.ndarray, pred: np.ndarray, weight: np.ndarray) -> float:
    """sqrt(sum w (pred - truth)^2 / sum w)."""
    return float(np.sqrt(np.sum(weight * (pred - truth) ** 2) / np.sum(weight)))
