"""Validation of the uncapped C-MAPSS predictor: which wide cap and blend margin.

Test units are cut some time before failure, so each held-out training unit is cut at a
uniformly random cycle; the expected squared error over that cut is the mean over all of the
unit's cycles, so every cycle weighs 1 / (cycles of its unit) and each unit counts once. Truth
is the uncapped remaining life. Folds: `split_units` with the given seeds (20% of the units
held out each). The test file is never read here. This grid chose the blend's 200 / m60;
`phm bench cmapss --validate-uncapped` now runs phm.bench.cmapss_posterior, which scores that
blend against the posterior recipes under several truncation mechanisms.
"""

from __future__ import annotations

import numpy as np

from phm.datasets.splits import CmapssProblem, split_units
from phm.models.rul_baselines import GbmRul
from phm.models.uncapped_rul import past_cap_blend

WIDE_CAPS: tuple[float | None, ...] = (150.0, 175.0, 200.0, 250.0, 300.0, None)
MARGINS: tuple[float, ...] = (20.0, 40.0, 60.0, 80.0, 125.0)


def uniform_cut_weights(units: np.ndarray) -> np.ndarray:
    """(N,) weight 1 / (rows of the row's unit): one uniformly random cut per unit, in mean."""
    _, inverse, counts = np.unique(units, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def weighted_rmse(truth: np.ndarray, pred: np.ndarray, weight: np.ndarray) -> float:
    """sqrt(sum w (pred - truth)^2 / sum w)."""
    return float(np.sqrt(np.sum(weight * (pred - truth) ** 2) / np.sum(weight)))


def candidate_name(wide_cap: float | None, margin: float | None) -> str:
    """ "capped 125", "gbm cap 200" (the wide model alone) or "blend 200 m60"."""
    cap = "none" if wide_cap is None else f"{wide_cap:g}"
    return f"gbm cap {cap}" if margin is None else f"blend {cap} m{margin:g}"


def validate_uncapped(
    problem: CmapssProblem,
    seeds: list[int],
    wide_caps: tuple[float | None, ...] = WIDE_CAPS,
    margins: tuple[float, ...] = MARGINS,
    max_iter: int = 300,
    val_fraction: float = 0.2,
) -> dict[str, list[float]]:
    """Validation RMSE (uncapped truth, uniform cut) per candidate, one value per seed.

    Candidates: the capped model alone ("capped 125"), each wide model alone, and each blend
    (`past_cap_blend`) of the capped model with a wide one at each margin.
    """
    scores: dict[str, list[float]] = {}
    for seed in seeds:
        fit, val = split_units(problem.units_train, val_fraction, seed)
        X_fit, X_val = problem.X_train[fit], problem.X_train[val]
        truth, rul_fit = problem.rul_train[val], problem.rul_train[fit]
        weight = uniform_cut_weights(problem.units_train[val])

        fold = (X_fit, rul_fit, X_val)
        capped = capped_gbm_predictions(*fold, problem.cap, seed, max_iter)
        scores.setdefault(f"capped {problem.cap:g}", []).append(
            weighted_rmse(truth, capped, weight)
        )
        for wide_cap in wide_caps:
            cap = np.inf if wide_cap is None else wide_cap
            wide = capped_gbm_predictions(*fold, cap, seed, max_iter)
            for margin in (None, *margins):
                pred = wide if margin is None else past_cap_blend(capped, wide, problem.cap, margin)
                name = candidate_name(wide_cap, margin)
                scores.setdefault(name, []).append(weighted_rmse(truth, pred, weight))
    return scores


def capped_gbm_predictions(
    X_fit: np.ndarray,
    rul_fit: np.ndarray,
    X_val: np.ndarray,
    cap: float,
    seed: int,
    max_iter: int,
) -> np.ndarray:
    """Predictions on X_val, in [0, cap], of a gbm fitted on min(rul_fit, cap)."""
    model = GbmRul(max_iter=max_iter, random_state=seed).fit(X_fit, np.minimum(rul_fit, cap))
    return np.clip(model.predict(X_val), 0.0, cap)


def choose_uncapped(per_subset: dict[str, dict[str, list[float]]]) -> str:
    """The candidate of the lowest mean (over subsets) of its mean validation RMSE over seeds;
    ties go to the first in sorted name order, so the choice is deterministic."""
    names = sorted(set.intersection(*(set(s) for s in per_subset.values())))
    return min(names, key=lambda n: np.mean([np.mean(s[n]) for s in per_subset.values()]))
