"""The uncapped C-MAPSS RUL as an empirical-Bayes posterior, and its validation.

`PosteriorRul` turns the cap-125 gbm into a predictor of the uncapped remaining life: the life
distribution f from the training lives, the likelihood of the gbm's prediction from its
cross-fitted predictions on the training units (`CROSSFIT_FOLDS` folds by unit), and the
truncation prior g of the scored batch from the batch's observed lengths (an input; the RUL
file is never read for it); see phm.models.truncation_prior.

`validate_posterior` decides the settings on training units only: `split_units` folds (20%
held out, one per seed); every held-out unit is cut several times under each of
`TRUNCATIONS`, mechanisms the method does not know, into pseudo test batches of about
`BATCH_UNITS` units; each candidate is scored on each batch (RMSE against the uncapped and the
capped truth, coverage of its 90% interval).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from phm.datasets.splits import CmapssProblem, split_units
from phm.metrics import rmse
from phm.models.rul_baselines import GbmRul
from phm.models.rul_intervals import ResidualIntervals, coverage
from phm.models.truncation_prior import (
    LifeDistribution,
    PredictionLikelihood,
    RulPosterior,
    fit_truncation_prior,
    rul_posterior,
)
from phm.models.uncapped_rul import past_cap_blend

CROSSFIT_FOLDS = 5
BATCH_UNITS = 100
BATCHES_PER_FOLD = 4
LEVEL = 0.9
# shrinkage of the batch's prior toward the uniform-cut fallback, in pseudo-units
PSEUDO_COUNTS: tuple[float, ...] = (10.0, 100.0)
# the shipped variant, chosen by `phm bench cmapss --validate-uncapped` (docs/i16/ebcut.md):
# pseudo count, the prior's evidence ("c": lengths; "c+y": lengths and capped predictions) and
# the point ("gbm+excess": capped gbm + posterior mean past the cap; "mean": posterior mean)
SHIPPED_PSEUDO_COUNT = 10.0
SHIPPED_PRIOR_EVIDENCE = "c"
SHIPPED_POINT = "gbm+excess"
# the `--past-cap` blend, scored alongside
BLEND_WIDE_CAP, BLEND_MARGIN = 200.0, 60.0

Truncation = Callable[[np.random.Generator, int], int]


def _uniform_cut(rng: np.random.Generator, life: int) -> int:
    return int(rng.integers(0, life))


def _bounded_r(high: int) -> Truncation:
    def draw(rng: np.random.Generator, life: int) -> int:
        return int(rng.integers(1, min(high, life - 1) + 1))

    return draw


def _life_fraction(rng: np.random.Generator, life: int) -> int:
    return life - max(1, math.ceil(rng.uniform(0.5, 1.0) * life))


# remaining life r of a held-out unit of life L, as each mechanism cuts it (0 <= r < L)
TRUNCATIONS: dict[str, Truncation] = {
    "uniform cut": _uniform_cut,
    "r uniform 1-150": _bounded_r(150),
    "r uniform 1-250": _bounded_r(250),
    "life fraction 0.5-1": _life_fraction,
}


def unit_lives(units: np.ndarray, rul: np.ndarray) -> np.ndarray:
    """Life (cycles to failure) of each training unit: its first row's RUL + 1, in unit order."""
    _, first = np.unique(units, return_index=True)
    return rul[first] + 1.0


def crossfit_predictions(
    X: np.ndarray,
    target: np.ndarray,
    units: np.ndarray,
    seed: int,
    max_iter: int,
    folds: int = CROSSFIT_FOLDS,
) -> np.ndarray:
    """(N,) out-of-fold gbm predictions, folds by unit, each clipped to [0, max target]."""
    ids = np.random.default_rng(seed).permutation(np.unique(units))
    pred = np.empty(len(target))
    for part in np.array_split(ids, min(folds, len(ids))):
        held = np.isin(units, part)
        model = GbmRul(max_iter=max_iter, random_state=seed).fit(X[~held], target[~held])
        pred[held] = np.clip(model.predict(X[held]), 0.0, target.max())
    return pred


class PosteriorRul:
    """The posterior of the uncapped RUL around a capped point model's predictions.

    Learned by `fit`: `life_` (f), `likelihood_` (p(y | r)), `r_max_` (the grid's reach).
    """

    def __init__(
        self, cap: float, pseudo_count: float = SHIPPED_PSEUDO_COUNT, reach: float | None = None
    ) -> None:
        self.cap = cap
        self.pseudo_count = pseudo_count
        self.reach = reach

    def fit(self, lives: np.ndarray, crossfit_pred: np.ndarray, rul: np.ndarray) -> PosteriorRul:
        """lives: (U,) training lives; crossfit_pred, rul: (N,) held-out capped predictions
        of the training rows and their uncapped remaining life."""
        self.life_ = LifeDistribution.fit(lives)
        self.r_max_ = self.life_.max_life()
        self.likelihood_ = PredictionLikelihood.fit(crossfit_pred, rul, self.cap, reach=self.reach)
        return self

    def prior(
        self,
        lengths: np.ndarray,
        pred: np.ndarray | None = None,
        pseudo_count: float | None = None,
    ) -> np.ndarray:
        """g on r = 0..r_max_ from the batch's observed lengths (cycles seen) and, if given,
        its capped predictions."""
        k = self.pseudo_count if pseudo_count is None else pseudo_count
        extra = None
        if pred is not None:
            extra = self.likelihood_.log_pdf(pred, np.arange(self.r_max_ + 1))
        return fit_truncation_prior(
            lengths, self.life_, self.r_max_, pseudo_count=k, extra_log_likelihood=extra
        )

    def posterior(
        self, lengths: np.ndarray, pred: np.ndarray, prior: np.ndarray | None = None
    ) -> RulPosterior:
        """p(r | c, y) of each unit of the batch; prior None: `prior(lengths)`."""
        g = self.prior(lengths) if prior is None else prior
        return rul_posterior(lengths, pred, g, self.life_, self.likelihood_)


@dataclass(frozen=True)
class FoldPredictions:
    """One validation fold: the fit units' lives and cross-fitted predictions, and the
    held-out rows' predictions (fitted on all fit units) with their truth and unit."""

    seed: int
    lives: np.ndarray
    crossfit_capped: np.ndarray
    crossfit_blend: np.ndarray
    rul_fit: np.ndarray
    units_fit: np.ndarray
    capped: np.ndarray
    blend: np.ndarray
    rul: np.ndarray
    units: np.ndarray


def fold_predictions(problem: CmapssProblem, seed: int, max_iter: int) -> FoldPredictions:
    """Fit the capped and the wide gbm of one `split_units` fold (20% held out)."""
    fit, val = split_units(problem.units_train, 0.2, seed)
    X, rul, units = problem.X_train[fit], problem.rul_train[fit], problem.units_train[fit]
    capped_target = np.minimum(rul, problem.cap)
    wide_target = np.minimum(rul, BLEND_WIDE_CAP)

    def both(X_fit, cap_fit, wide_fit, X_val) -> tuple[np.ndarray, np.ndarray]:
        c = GbmRul(max_iter=max_iter, random_state=seed).fit(X_fit, cap_fit).predict(X_val)
        w = GbmRul(max_iter=max_iter, random_state=seed).fit(X_fit, wide_fit).predict(X_val)
        c = np.clip(c, 0.0, problem.cap)
        w = np.clip(w, 0.0, BLEND_WIDE_CAP)
        return c, past_cap_blend(c, w, problem.cap, BLEND_MARGIN)

    cross_c = crossfit_predictions(X, capped_target, units, seed, max_iter)
    cross_w = crossfit_predictions(X, wide_target, units, seed, max_iter)
    cross_b = past_cap_blend(cross_c, cross_w, problem.cap, BLEND_MARGIN)
    capped, blend = both(X, capped_target, wide_target, problem.X_train[val])
    return FoldPredictions(
        seed=seed,
        lives=unit_lives(units, rul),
        crossfit_capped=cross_c,
        crossfit_blend=cross_b,
        rul_fit=rul,
        units_fit=units,
        capped=capped,
        blend=blend,
        rul=problem.rul_train[val],
        units=problem.units_train[val],
    )


def draw_batch(
    units: np.ndarray, rul: np.ndarray, truncation: Truncation, rng: np.random.Generator
) -> np.ndarray:
    """Row indices of a pseudo test batch: each held-out unit cut ceil(BATCH_UNITS / units)
    times at the remaining life the mechanism draws."""
    ids = np.unique(units)
    per_unit = math.ceil(BATCH_UNITS / len(ids))
    rows = []
    for u in ids:
        own = np.flatnonzero(units == u)
        life = int(rul[own].max()) + 1
        by_rul = {int(r): i for r, i in zip(rul[own], own, strict=True)}
        rows += [by_rul[truncation(rng, life)] for _ in range(per_unit)]
    return np.array(rows)


def score_fold(fold: FoldPredictions, cap: float) -> dict[str, dict[str, list[float]]]:
    """{mechanism/candidate: {metric: one value per batch}} on `BATCHES_PER_FOLD` batches per
    mechanism; metrics rmse (uncapped truth), rmse_capped (truth min(r, cap)), coverage_90."""
    model = PosteriorRul(cap).fit(fold.lives, fold.crossfit_capped, fold.rul_fit)
    band_c = ResidualIntervals.fit(fold.crossfit_capped, fold.rul_fit, units=fold.units_fit)
    band_b = ResidualIntervals.fit(fold.crossfit_blend, fold.rul_fit, units=fold.units_fit)
    out: dict[str, dict[str, list[float]]] = {}

    def add(key: str, point: np.ndarray, capped_point: np.ndarray, lo, hi, r) -> None:
        m = out.setdefault(key, {"rmse": [], "rmse_capped": [], "coverage_90": []})
        m["rmse"].append(rmse(r, point))
        m["rmse_capped"].append(rmse(np.minimum(r, cap), capped_point))
        m["coverage_90"].append(coverage(lo, hi, r))

    for index, (name, truncation) in enumerate(TRUNCATIONS.items()):
        rng = np.random.default_rng([fold.seed, index])
        for _ in range(BATCHES_PER_FOLD):
            rows = draw_batch(fold.units, fold.rul, truncation, rng)
            r, y, yb = fold.rul[rows], fold.capped[rows], fold.blend[rows]
            lengths = np.array([_length(fold, i) for i in rows])
            add(f"{name}/capped gbm", y, y, *band_c.interval(y), r)
            add(f"{name}/blend 200 m60", yb, y, *band_b.interval(yb), r)
            for label, g in _priors(model, lengths, y).items():
                post = model.posterior(lengths, y, g)
                lo, hi = post.interval(LEVEL)
                add(f"{name}/{label}, mean", post.mean(), post.mean(cap), lo, hi, r)
                add(f"{name}/{label}, gbm+excess", y + post.excess(cap), y, lo, hi, r)
    return out


def _length(fold: FoldPredictions, row: int) -> float:
    """Cycles seen at a held-out row: its unit's life minus its remaining life."""
    life = fold.rul[fold.units == fold.units[row]].max() + 1.0
    return float(life - fold.rul[row])


def _priors(model: PosteriorRul, lengths: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """The candidate priors: the uniform-cut fallback alone, and EM at each pseudo count on
    the lengths alone (c) and on the lengths and predictions (c+y)."""
    priors = {"posterior, uniform-cut prior": model.prior(lengths[:0])}
    for k in PSEUDO_COUNTS:
        priors[f"posterior, EM c k={k:g}"] = model.prior(lengths, pseudo_count=k)
        priors[f"posterior, EM c+y k={k:g}"] = model.prior(lengths, pred, pseudo_count=k)
    return priors


def validate_posterior(
    problem: CmapssProblem, seeds: list[int], max_iter: int = 300
) -> dict[str, dict[str, list[float]]]:
    """Scores of every candidate under every mechanism ("mechanism/candidate"), one value per
    batch, pooled over the folds of `seeds`."""
    scores: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        fold = fold_predictions(problem, seed, max_iter)
        for key, metrics in score_fold(fold, problem.cap).items():
            for metric, values in metrics.items():
                scores.setdefault(key, {}).setdefault(metric, []).extend(values)
    return scores


def summarize(scores: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """{candidate: {metric: mean over batches, then over mechanisms}}; also per mechanism as
    "metric@mechanism", and rmse_seed_std: the sample std over seeds of that mean RMSE."""
    out: dict[str, dict[str, Any]] = {}
    for key, metrics in scores.items():
        mechanism, candidate = key.split("/", 1)
        for metric, values in metrics.items():
            out.setdefault(candidate, {})[f"{metric}@{mechanism}"] = float(np.mean(values))
        # seed spread: the batches come in blocks of BATCHES_PER_FOLD per seed
        per_seed = np.reshape(metrics["rmse"], (-1, BATCHES_PER_FOLD)).mean(axis=1)
        out[candidate].setdefault("_seed_means", []).append(per_seed)
    for row in out.values():
        for metric in ("rmse", "rmse_capped", "coverage_90"):
            row[metric] = float(np.mean([v for k, v in row.items() if k.startswith(metric + "@")]))
        seed_means = np.mean(row.pop("_seed_means"), axis=0)  # type: ignore[arg-type]
        row["rmse_seed_std"] = float(np.std(seed_means, ddof=1)) if seed_means.size > 1 else 0.0
    return out


def choose_candidate(per_subset: dict[str, dict[str, dict[str, float]]], metric: str) -> str:
    """The candidate of the lowest mean over subsets of `metric` (each already the mean over
    mechanisms); ties go to the first in name order."""
    names = sorted(set.intersection(*(set(s) for s in per_subset.values())))
    return min(names, key=lambda n: np.mean([s[n][metric] for s in per_subset.values()]))


def observed_lengths(runs: list, units: tuple[str, ...]) -> np.ndarray:
    """(U,) cycles seen of each test unit (its signal rows), in the order of `units`: an input
    of the test file; the RUL file is not read."""
    seen = {r.asset_id: r.signals.height for r in runs}
    missing = [u for u in units if u not in seen]
    if missing:
        raise ValueError(f"test units without signals: {missing[:5]}")
    return np.array([seen[u] for u in units], dtype=np.float64)


@dataclass(frozen=True)
class UncappedPosteriorPrediction:
    """The shipped uncapped prediction of a batch: point (U,), 90% interval (U,) x 2, the
    batch's prior g and the fitted model (for the JSON)."""

    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    prior: np.ndarray
    model: PosteriorRul

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description of the prior and likelihood."""
        r = np.arange(self.prior.size)
        return {
            "point": SHIPPED_POINT,
            "prior_evidence": SHIPPED_PRIOR_EVIDENCE,
            "pseudo_count": self.model.pseudo_count,
            "prior_mean_rul": float(self.prior @ r),
            "prior_mass_past_cap": float(self.prior[r > self.model.cap].sum()),
            "life_bandwidth": self.model.life_.bandwidth,
            "likelihood": self.model.likelihood_.as_dict(),
            "level": LEVEL,
        }


def predict_uncapped_posterior(
    problem: CmapssProblem,
    lengths: np.ndarray,
    pred: np.ndarray,
    seed: int,
    max_iter: int,
) -> UncappedPosteriorPrediction:
    """The shipped recipe: f from all training lives, p(y | r) from a CROSSFIT_FOLDS-fold
    cross-fit of the capped gbm on the training units, g by EM on the batch (`lengths`, and
    the capped predictions `pred` when SHIPPED_PRIOR_EVIDENCE is "c+y")."""
    crossfit = crossfit_predictions(
        problem.X_train, problem.y_train, problem.units_train, seed, max_iter
    )
    lives = unit_lives(problem.units_train, problem.rul_train)
    model = PosteriorRul(problem.cap).fit(lives, crossfit, problem.rul_train)
    g = model.prior(lengths, pred if SHIPPED_PRIOR_EVIDENCE == "c+y" else None)
    post = model.posterior(lengths, pred, g)
    point = pred + post.excess(problem.cap) if SHIPPED_POINT == "gbm+excess" else post.mean()
    lower, upper = post.interval(LEVEL)
    return UncappedPosteriorPrediction(point, lower, upper, g, model)


def posterior_note(prediction: UncappedPosteriorPrediction) -> str:
    """One line for the bench JSON and table: which predictor gave the uncapped column."""
    point = (
        "the capped gbm plus the posterior mean of the remaining life past the cap"
        if SHIPPED_POINT == "gbm+excess"
        else "the posterior mean of the remaining life"
    )
    evidence = "observed lengths" + (
        " and capped predictions" if SHIPPED_PRIOR_EVIDENCE == "c+y" else ""
    )
    return (
        f"{point}; interval: posterior {100 * (1 - LEVEL) / 2:g}%/"
        f"{100 * (1 + LEVEL) / 2:g}% quantiles; prior of the remaining life by EM on the test "
        f"units' {evidence} (test inputs; the RUL file is never read for it), "
        f"{prediction.model.pseudo_count:g} pseudo-units toward the uniform-cut prior; "
        f"likelihood of the capped prediction from a {CROSSFIT_FOLDS}-fold cross-fit on the "
        f"training units"
    )
