"""The uncapped C-MAPSS RUL as an empirical-Bayes posterior, and its validation.

`PosteriorRul` turns the gbm into a predictor of the uncapped remaining life: the likelihood
of a gbm prediction (the capped one, or the `--past-cap` blend) from cross-fitted predictions
on the training units (`CROSSFIT_FOLDS` folds by unit), the fallback prior from the training
lives, and the truncation prior g of the scored batch fitted on the batch's own inputs (its
predictions and/or observed lengths; the RUL file is never read for it); see
phm.models.truncation_prior. `PosteriorRecipe` names the choices; `SHIPPED_RECIPE` is the
default of `phm bench cmapss --model gbm`.

`validate_posterior` decides the settings on training units only: `split_units` folds (20%
held out, one per seed); every held-out unit is cut several times under each of
`TRUNCATIONS`, mechanisms the method does not know, into pseudo test batches of about
`BATCH_UNITS` units; each candidate is scored on each batch (RMSE against the uncapped and the
capped truth, coverage of its 90% interval). On the same batches, `score_intervals` scores the
`CAPPED_INTERVALS` candidates, 90% intervals around the cap-125 gbm against the capped truth;
`capped_interval` is the shipped one (`SHIPPED_CAPPED_INTERVAL`, docs/i16/ivl.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from phm.bench.cmapss_uncapped import uniform_cut_weights
from phm.datasets.splits import CmapssProblem, split_units
from phm.metrics import rmse
from phm.models.rul_baselines import GbmRul
from phm.models.rul_intervals import ResidualIntervals, coverage
from phm.models.truncation_prior import (
    LifeDistribution,
    PredictionLikelihood,
    RulPosterior,
    fit_tilted_prior,
    fit_truncation_prior,
    length_log_likelihood,
    rul_posterior,
    uniform_cut_prior,
)
from phm.models.uncapped_rul import past_cap_blend

CROSSFIT_FOLDS = 5
BATCH_UNITS = 100
BATCHES_PER_FOLD = 4
LEVEL = 0.9
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


def crossfit_parts(units: np.ndarray, seed: int, folds: int = CROSSFIT_FOLDS) -> list:
    """The units of each cross-fit fold (a seeded permutation of the units, split in `folds`)."""
    ids = np.random.default_rng(seed).permutation(np.unique(units))
    return np.array_split(ids, min(folds, len(ids)))


def crossfit_predictions(
    X: np.ndarray,
    target: np.ndarray,
    units: np.ndarray,
    seed: int,
    max_iter: int,
    folds: int = CROSSFIT_FOLDS,
) -> np.ndarray:
    """(N,) out-of-fold gbm predictions, folds by unit, each clipped to [0, max target]."""
    pred = np.empty(len(target))
    for part in crossfit_parts(units, seed, folds):
        held = np.isin(units, part)
        model = GbmRul(max_iter=max_iter, random_state=seed).fit(X[~held], target[~held])
        pred[held] = np.clip(model.predict(X[held]), 0.0, target.max())
    return pred


IntervalRecipe = Callable[[np.ndarray, np.ndarray, np.ndarray, int], ResidualIntervals]


def _one_split(pred: np.ndarray, y: np.ndarray, units: np.ndarray, seed: int) -> ResidualIntervals:
    # the residuals of one cross-fit fold (20% of the units, predicted by a model of the other
    # 80%): the old `--val-fraction 0.2` calibration, rows counted as if independent
    rows = np.isin(units, crossfit_parts(units, seed)[0])
    return ResidualIntervals.fit(pred[rows], y[rows])


def _crossfit(bands: int, weighted: bool) -> IntervalRecipe:
    def fit(pred: np.ndarray, y: np.ndarray, units: np.ndarray, seed: int) -> ResidualIntervals:
        w = uniform_cut_weights(units) if weighted else None
        return ResidualIntervals.fit(pred, y, n_bands=bands, units=units, weights=w)

    return fit


# 90% intervals around the cap-125 gbm against the capped truth, from the cross-fitted
# predictions of the training units: name -> fit(pred, capped truth, units, seed)
CAPPED_INTERVALS: dict[str, IntervalRecipe] = {
    "(a) one 20% split": _one_split,
    "(b) cross-fit, every row": _crossfit(4, weighted=False),
    "(c) cross-fit, one cut per unit": _crossfit(4, weighted=True),
    "(c) cross-fit, one cut per unit, 1 band": _crossfit(1, weighted=True),
    "(c) cross-fit, one cut per unit, 8 bands": _crossfit(8, weighted=True),
    "(b) cross-fit, every row, 1 band": _crossfit(1, weighted=False),
}
# chosen by `--validate-uncapped` (docs/i16/ivl.md): the lowest mean over subsets and
# mechanisms of |coverage - 0.9| (no other candidate within 0.005 of it)
SHIPPED_CAPPED_INTERVAL = "(b) cross-fit, every row"


def capped_interval(
    crossfit_capped: np.ndarray,
    problem: CmapssProblem,
    seed: int,
    name: str = SHIPPED_CAPPED_INTERVAL,
) -> ResidualIntervals:
    """The shipped capped-truth interval, calibrated on the cross-fitted cap-125 predictions
    of every training unit (`crossfit_predictions`) against min(RUL, cap)."""
    truth = np.minimum(problem.rul_train, problem.cap)
    return CAPPED_INTERVALS[name](crossfit_capped, truth, problem.units_train, seed)


def training_crossfit(problem: CmapssProblem, seed: int, max_iter: int) -> dict[str, np.ndarray]:
    """{"capped", "blend"}: the cross-fitted predictions of every training row (the capped
    gbm, and the `--past-cap` blend of it with the wide gbm)."""
    X, rul, units = problem.X_train, problem.rul_train, problem.units_train
    capped = crossfit_predictions(X, np.minimum(rul, problem.cap), units, seed, max_iter)
    wide = crossfit_predictions(X, np.minimum(rul, BLEND_WIDE_CAP), units, seed, max_iter)
    return {"capped": capped, "blend": past_cap_blend(capped, wide, problem.cap, BLEND_MARGIN)}


@dataclass(frozen=True)
class PosteriorRecipe:
    """One way to build the posterior; every field is a choice made on validation.

    evidence: whose prediction y enters p(y | r): "capped" (the cap-125 gbm) or "blend" (the
    `--past-cap` blend, which still moves past the cap). prior: "uniform-cut" (the fallback
    g0 alone), "em" (a free g by EM) or "tilt" (g0 tilted and cut off, two parameters).
    prior_evidence: what the prior is fitted on: "c" (observed lengths), "y" (predictions)
    or "c+y". posterior_lengths: whether p(c | r) enters the posterior too. point: "gbm+excess"
    (capped gbm + posterior mean past the cap) or "mean" (posterior mean).
    """

    evidence: str = "blend"
    prior: str = "tilt"
    prior_evidence: str = "y"
    posterior_lengths: bool = False
    pseudo_count: float = 0.0
    point: str = "gbm+excess"

    @property
    def name(self) -> str:
        lengths = ", p(c|r)" if self.posterior_lengths else ""
        return (
            f"posterior {self.evidence}-y, {self.prior} on {self.prior_evidence} "
            f"k={self.pseudo_count:g}{lengths}, {self.point}"
        )


# the candidates scored by `--validate-uncapped` (the first is the brief's recipe as written)
RECIPES: tuple[PosteriorRecipe, ...] = (
    PosteriorRecipe("capped", "em", "c", True, 10.0, "mean"),
    PosteriorRecipe("capped", "em", "c", True, 10.0, "gbm+excess"),
    PosteriorRecipe("capped", "tilt", "y", False, 0.0, "gbm+excess"),
    PosteriorRecipe("blend", "uniform-cut", "y", False, 0.0, "gbm+excess"),
    PosteriorRecipe("blend", "tilt", "y", False, 0.0, "gbm+excess"),
    PosteriorRecipe("blend", "tilt", "y", False, 10.0, "gbm+excess"),
    PosteriorRecipe("blend", "tilt", "c+y", False, 0.0, "gbm+excess"),
    PosteriorRecipe("blend", "tilt", "y", False, 0.0, "mean"),
)


# the shipped recipe, chosen by `phm bench cmapss --validate-uncapped` (docs/i16/ebcut.md):
# the lowest mean RMSE is RECIPES[4]; its twin with 10 pseudo-units toward the fallback is
# within 0.11 of it (seed std 1-3), covers closer to 90%, and keeps a small batch near g0
SHIPPED_RECIPE = RECIPES[5]


class PosteriorRul:
    """The posterior of the uncapped RUL of a batch of units, from their capped and blended
    gbm predictions and their observed lengths.

    Learned by `fit`: `life_` (f), `fallback_` (g0 on r = 0..R, R the longest training
    life), `likelihoods_` ({"capped", "blend"}: p(y | r)).
    """

    def __init__(self, cap: float, recipe: PosteriorRecipe) -> None:
        self.cap = cap
        self.recipe = recipe

    def fit(
        self, lives: np.ndarray, crossfit: dict[str, np.ndarray], rul: np.ndarray
    ) -> PosteriorRul:
        """lives: (U,) training lives; crossfit: {"capped", "blend"} (N,) held-out predictions
        of the training rows; rul: (N,) their uncapped remaining life."""
        self.life_ = LifeDistribution.fit(lives)
        self.fallback_ = uniform_cut_prior(self.life_, self.life_.max_life())
        reach = {"capped": self.cap, "blend": BLEND_WIDE_CAP}
        self.likelihoods_ = {
            k: PredictionLikelihood.fit(v, rul, reach[k]) for k, v in crossfit.items()
        }
        return self

    def predict(
        self, lengths: np.ndarray, pred: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, RulPosterior, np.ndarray]:
        """(point (U,), posterior, prior g) of a batch: lengths (U,) cycles seen, pred
        {"capped", "blend"} (U,) predictions."""
        recipe = self.recipe
        r = np.arange(self.fallback_.size)
        log_y = self.likelihoods_[recipe.evidence].log_pdf(pred[recipe.evidence], r)
        log_c = length_log_likelihood(lengths, self.life_, r.size - 1)
        fit_on = {"c": log_c, "y": log_y, "c+y": log_c + log_y}[recipe.prior_evidence]
        if recipe.prior == "uniform-cut":
            g = self.fallback_
        elif recipe.prior == "em":  # EM always sees the lengths; the predictions if asked
            extra = log_y if "y" in recipe.prior_evidence else None
            g = fit_truncation_prior(
                lengths, self.life_, r.size - 1, self.fallback_, recipe.pseudo_count, extra
            )
        else:
            g = fit_tilted_prior(fit_on, self.fallback_, pseudo_count=recipe.pseudo_count)
        post = rul_posterior(g, log_y + log_c if recipe.posterior_lengths else log_y)
        if recipe.point == "gbm+excess":
            point = pred["capped"] + post.excess(self.cap)
        else:
            point = post.mean()
        return point, post, g


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
    crossfit = {"capped": fold.crossfit_capped, "blend": fold.crossfit_blend}
    models = [PosteriorRul(cap, rc).fit(fold.lives, crossfit, fold.rul_fit) for rc in RECIPES]
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
            for model in models:
                point, post, _ = model.predict(lengths, {"capped": y, "blend": yb})
                capped_point = post.mean(cap) if model.recipe.point == "mean" else y
                add(f"{name}/{model.recipe.name}", point, capped_point, *post.interval(LEVEL), r)
    return out


def score_intervals(fold: FoldPredictions, cap: float) -> dict[str, dict[str, list[float]]]:
    """{mechanism/candidate: {coverage_90_capped, width_capped: one value per batch}} of the
    `CAPPED_INTERVALS` candidates, on the batches `score_fold` draws (same seeds)."""
    truth = np.minimum(fold.rul_fit, cap)
    bands = {
        name: fit(fold.crossfit_capped, truth, fold.units_fit, fold.seed)
        for name, fit in CAPPED_INTERVALS.items()
    }
    out: dict[str, dict[str, list[float]]] = {}
    for index, (mechanism, truncation) in enumerate(TRUNCATIONS.items()):
        rng = np.random.default_rng([fold.seed, index])
        for _ in range(BATCHES_PER_FOLD):
            rows = draw_batch(fold.units, fold.rul, truncation, rng)
            r, y = np.minimum(fold.rul[rows], cap), fold.capped[rows]
            for name, band in bands.items():
                lo, hi = band.interval(y)
                m = out.setdefault(f"{mechanism}/{name}", {"coverage_90_capped": [], "width": []})
                m["coverage_90_capped"].append(coverage(lo, hi, r))
                m["width"].append(float(np.mean(hi - lo)))
    return out


def summarize_intervals(scores: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """{candidate: coverage (mean over mechanisms of the mean over batches), gap (mean over
    mechanisms of |that mean - LEVEL|), width, coverage_seed_std, and "coverage@mechanism"}."""
    out: dict[str, dict[str, Any]] = {}
    for key, metrics in scores.items():
        mechanism, candidate = key.split("/", 1)
        row = out.setdefault(candidate, {"_seed": []})
        row[f"coverage@{mechanism}"] = float(np.mean(metrics["coverage_90_capped"]))
        row[f"width@{mechanism}"] = float(np.mean(metrics["width"]))
        per_seed = np.reshape(metrics["coverage_90_capped"], (-1, BATCHES_PER_FOLD)).mean(axis=1)
        row["_seed"].append(per_seed)
    for row in out.values():
        cov = [v for k, v in row.items() if k.startswith("coverage@")]
        row["coverage"] = float(np.mean(cov))
        row["gap"] = float(np.mean(np.abs(np.array(cov) - LEVEL)))
        row["width"] = float(np.mean([v for k, v in row.items() if k.startswith("width@")]))
        seed_means = np.mean(row.pop("_seed"), axis=0)
        row["coverage_seed_std"] = float(np.std(seed_means, ddof=1)) if seed_means.size > 1 else 0.0
    return out


def choose_interval(per_subset: dict[str, dict[str, dict[str, float]]], tie: float = 0.005) -> str:
    """The rule fixed before the validation run: the lowest mean over subsets of the gap
    (mean over mechanisms of |coverage - LEVEL|); candidates within `tie` of it go to the
    narrowest mean width."""
    names = sorted(set.intersection(*(set(s) for s in per_subset.values())))
    gap = {n: float(np.mean([s[n]["gap"] for s in per_subset.values()])) for n in names}
    width = {n: float(np.mean([s[n]["width"] for s in per_subset.values()])) for n in names}
    best = min(gap.values())
    return min((n for n in names if gap[n] <= best + tie), key=lambda n: width[n])


def _length(fold: FoldPredictions, row: int) -> float:
    """Cycles seen at a held-out row: its unit's life minus its remaining life."""
    life = fold.rul[fold.units == fold.units[row]].max() + 1.0
    return float(life - fold.rul[row])


def validate_posterior(
    problem: CmapssProblem,
    seeds: list[int],
    max_iter: int = 300,
    intervals: dict[str, dict[str, list[float]]] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Scores of every candidate under every mechanism ("mechanism/candidate"), one value per
    batch, pooled over the folds of `seeds`; `intervals`, if given, receives the capped-truth
    interval scores (`score_intervals`) of the same folds."""
    scores: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        fold = fold_predictions(problem, seed, max_iter)
        parts = [(scores, score_fold(fold, problem.cap))]
        if intervals is not None:
            parts.append((intervals, score_intervals(fold, problem.cap)))
        for into, scored in parts:
            for key, metrics in scored.items():
                for metric, values in metrics.items():
                    into.setdefault(key, {}).setdefault(metric, []).extend(values)
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


def predict_uncapped_posterior(
    problem: CmapssProblem,
    lengths: np.ndarray,
    pred: dict[str, np.ndarray],
    seed: int,
    max_iter: int,
    recipe: PosteriorRecipe = SHIPPED_RECIPE,
    crossfit: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """The shipped uncapped prediction of a batch of test units: (point, lower, upper, info).

    f from all training lives; p(y | r) from a CROSSFIT_FOLDS-fold cross-fit (by unit) of the
    capped and the wide gbm on the training units (`training_crossfit`, computed here unless
    given); g from the batch itself (its `lengths` and predictions `pred` {"capped", "blend"},
    test inputs; never the RUL file).
    """
    rul, units = problem.rul_train, problem.units_train
    if crossfit is None:
        crossfit = training_crossfit(problem, seed, max_iter)
    model = PosteriorRul(problem.cap, recipe).fit(unit_lives(units, rul), crossfit, rul)
    point, post, g = model.predict(lengths, pred)
    lower, upper = post.interval(LEVEL)
    r = np.arange(g.size)
    info = {
        "recipe": recipe.name,
        "level": LEVEL,
        "prior_mean_rul": float(g @ r),
        "prior_mass_past_cap": float(g[r > problem.cap].sum()),
        "prior_reach": int(r[g > 0].max()),
        "life_bandwidth": model.life_.bandwidth,
        "likelihood": model.likelihoods_[recipe.evidence].as_dict(),
    }
    return point, lower, upper, info


def posterior_note(recipe: PosteriorRecipe = SHIPPED_RECIPE) -> str:
    """One line for the bench JSON and table: which predictor gave the uncapped column."""
    point = (
        "the capped gbm plus the posterior mean of the remaining life past the cap"
        if recipe.point == "gbm+excess"
        else "the posterior mean of the remaining life"
    )
    evidence = {
        "c": "observed lengths",
        "y": f"{recipe.evidence} gbm predictions",
        "c+y": f"observed lengths and {recipe.evidence} gbm predictions",
    }[recipe.prior_evidence]
    return (
        f"{point} (posterior {recipe.name}); interval: posterior {100 * (1 - LEVEL) / 2:g}%/"
        f"{100 * (1 + LEVEL) / 2:g}% quantiles; prior of the remaining life fitted on the "
        f"test units' {evidence} (test inputs; the RUL file is never read for it); likelihood "
        f"of the prediction from a {CROSSFIT_FOLDS}-fold cross-fit on the training units"
    )
