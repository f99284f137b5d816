"""`phm bench cmapss`: RMSE and NASA score of a RUL baseline on one C-MAPSS subset.

Protocol (phm.datasets.splits): fit on every cycle of the training units with RUL capped
at 125; hyperparameters are fixed here, up front; a unit-level validation split of the training
units is reported as a diagnostic and never used for choices; the test file is read only to
predict each test unit's RUL at its last cycle, compared with RUL_FDxxx.txt.

gbm scores the capped truth with the cap-125 gbm (`ResidualIntervals` 90% interval: banded
conformal on the residuals of its 5-fold cross-fit by unit over every training unit,
`capped_interval`; docs/i16/ivl.md) and the uncapped truth with the
empirical-Bayes posterior of phm.bench.cmapss_posterior (`SHIPPED_RECIPE`): the capped gbm
plus the posterior mean of the remaining life past the cap, the posterior's 5%/95% quantiles
as the 90% interval, the prior of the test batch fitted on its own predictions (test inputs,
never the RUL file). `--past-cap` scores the uncapped truth with the blend instead
(`UncappedGbmRul`: a second gbm on labels capped at 200, blended in where the capped
prediction nears 125). `--validate-uncapped` scores those candidates on pseudo test batches
of held-out training units (docs/i16/ebcut.md).

`--model moe|dense` trains the network of `--config` (default phm/configs/models/cmapss.toml or
dense-cmapss.toml: the small model as a deep ensemble of 5) with `phm.models.train` once per
seed (`--seeds N`: seeds S..S+N-1): the validation split of the training units drives early
stopping and calibrates the 90% RUL interval; the test units are scored once, after training.
Reported: RMSE and NASA score against the RUL file as is and against the truth capped at 125
(as most papers score), mean and std over seeds (sample std, 0 for one seed), the empirical
coverage of the interval on the test units and, on subsets of several operating conditions,
each MoE layer's expert load per condition.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from phm.bench.cmapss_posterior import (
    BATCH_UNITS,
    BATCHES_PER_FOLD,
    BLEND_MARGIN,
    BLEND_WIDE_CAP,
    CROSSFIT_FOLDS,
    TRUNCATIONS,
    capped_interval,
    crossfit_predictions,
    observed_lengths,
    posterior_note,
    predict_uncapped_posterior,
    summarize,
    summarize_intervals,
    training_crossfit,
    validate_posterior,
)
from phm.bench.cmapss_uncapped import uniform_cut_weights, weighted_rmse
from phm.bench.networks import NETWORKS, add_network_arguments
from phm.bench.results import Stopwatch, fmt, markdown_table, write_result
from phm.datasets.cmapss import CONDITION_INPUTS, SUBSETS, load_cmapss
from phm.datasets.splits import (
    CMAPSS_RUL_CAP,
    CMAPSS_WINDOW,
    CmapssProblem,
    cmapss_problem,
    split_units,
)
from phm.errors import ConfigError
from phm.metrics import nasa_score, rmse
from phm.models.rul_baselines import GbmRul, SurvivalRul
from phm.models.rul_intervals import ResidualIntervals, coverage
from phm.models.uncapped_rul import UncappedGbmRul
from phm.resources import resource_path

# gbm past the cap (`UncappedGbmRul`, `--past-cap`): wide cap and blend margin, chosen on
# validation (`phm bench cmapss --validate-uncapped`, docs/i16/uncapped.md)
UNCAPPED_WIDE_CAP = BLEND_WIDE_CAP  # 200
UNCAPPED_MARGIN = BLEND_MARGIN  # 60

SPLIT_METHOD = (
    "split conformal on the validation units' residuals, 4 bands of the prediction; "
    "calibrated on the validation-split model, applied to the refit one"
)
CROSSFIT_METHOD = (
    f"conformal on the residuals of a {CROSSFIT_FOLDS}-fold cross-fit by unit of every training "
    "unit against min(RUL, cap), every row, 4 bands of the prediction, finite-sample "
    "correction by units; applied around the refit model"
)

# --model moe|dense -> the default C-MAPSS config (small model, [train] members = 5)
CMAPSS_NETWORKS: dict[str, Path] = {
    "moe": resource_path("models/cmapss.toml"),
    "dense": resource_path("models/dense-cmapss.toml"),
}

# Published (RMSE, NASA score) per subset, from DATASETS.md; None where not reported.
PUBLISHED: dict[str, dict[str, tuple[float, float] | None]] = {
    "CNN (Babu 2016)": {
        "FD001": (18.45, 1299),
        "FD002": (30.29, 13600),
        "FD003": None,
        "FD004": (29.16, 7890),
    },
    "deep LSTM (Zheng 2017)": {
        "FD001": (16.14, 338),
        "FD002": (24.49, 4450),
        "FD003": (16.18, 852),
        "FD004": (28.17, 5550),
    },
    "MS-DCNN": {
        "FD001": (11.44, 196),
        "FD002": (19.35, 3747),
        "FD003": (11.67, 242),
        "FD004": (22.22, 4844),
    },
    "MTSTAN": {
        "FD001": (10.97, 175),
        "FD002": (16.81, 1154),
        "FD003": (10.90, 188),
        "FD004": (18.85, 1446),
    },
    "FFVE": {
        "FD001": (12.31, 280),
        "FD002": (12.55, 772),
        "FD003": (12.43, 302),
        "FD004": (14.08, 1149),
    },
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm bench cmapss`."""
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="cmapss folder or its parent (default: $PHM_DATA_DIR)",
    )
    parser.add_argument("--subset", choices=SUBSETS, default="FD001")
    parser.add_argument(
        "--model",
        choices=("gbm", "survival", *NETWORKS),
        default="gbm",
        help="moe/dense read models/cmapss.toml / dense-cmapss.toml unless --config is given",
    )
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="result folder")
    parser.add_argument("--seed", type=int, default=0, help="model and validation-split seed")
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        help=f"cycles per window (baselines: {CMAPSS_WINDOW}; moe/dense: the config's [train])",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="share of training units held out (baselines: 0.2, a diagnostic, 0 for none; "
        "moe/dense: the config's, for early stopping and interval calibration)",
    )
    add_network_arguments(parser)
    parser.add_argument(
        "--condition-input",
        choices=CONDITION_INPUTS,
        default=None,
        help="moe/dense: override [train] condition_input, how the network sees the operating "
        "condition (token: the last cycle's as a context token; channels: a one-hot per cycle; "
        "both; none)",
    )
    parser.add_argument(
        "--global-scaling",
        action="store_true",
        help="gbm/survival: z-score sensors over all cycles instead of per operating condition "
        "(the ablation without regime handling)",
    )
    parser.add_argument(
        "--max-iter", type=int, default=300, help="boosting iterations of the gbm model"
    )
    parser.add_argument(
        "--past-cap",
        action="store_true",
        help="gbm: score the uncapped truth with the blend (a second gbm on labels capped at "
        f"{UNCAPPED_WIDE_CAP:g} blended in near the cap) instead of the default posterior "
        "(docs/i16/ebcut.md)",
    )
    parser.add_argument(
        "--validate-uncapped",
        action="store_true",
        help="gbm: score the uncapped candidates (capped gbm, blend, posterior recipes) on "
        "pseudo test batches of held-out training units, seeds S..S+4, under several "
        "truncation mechanisms; the test file is not scored",
    )


def make_model(
    name: str, seed: int, max_iter: int = 300, past_cap: bool = False
) -> GbmRul | UncappedGbmRul | SurvivalRul:
    """The fixed-hyperparameter baseline named `name` ("gbm" or "survival"); with `past_cap`,
    gbm is the capped gbm plus its extension past the cap (`UncappedGbmRul`), which the bench
    always uses: `--past-cap` scores its blend, the default posterior reads it."""
    if name == "gbm" and not past_cap:
        return GbmRul(max_iter=max_iter, random_state=seed)
    if name == "gbm":
        return UncappedGbmRul(
            cap=CMAPSS_RUL_CAP,
            wide_cap=UNCAPPED_WIDE_CAP,
            margin=UNCAPPED_MARGIN,
            max_iter=max_iter,
            random_state=seed,
        )
    if name == "survival":
        return SurvivalRul(kind="weibull_aft", penalizer=0.01, max_prediction=CMAPSS_RUL_CAP)
    raise ValueError(f"unknown model {name!r}; expected 'gbm' or 'survival'")


def fit_model(model: Any, problem: CmapssProblem, rows: np.ndarray) -> Any:
    """Fit on the training rows selected by the mask `rows`, with the target the model needs."""
    X = problem.X_train[rows]
    if isinstance(model, SurvivalRul):
        return model.fit(X, problem.rul_train[rows], problem.event_train[rows])
    if isinstance(model, UncappedGbmRul):
        return model.fit(X, problem.rul_train[rows])
    return model.fit(X, problem.y_train[rows])


def predict_rul(model: Any, X: np.ndarray, cap: float) -> np.ndarray:
    """Capped predictions, clipped to [0, cap]: the protocol's labels never leave that range."""
    if isinstance(model, UncappedGbmRul):
        return model.predict_capped(X)
    return np.clip(model.predict(X), 0.0, cap)


def make_gbm_or_survival(args: argparse.Namespace) -> GbmRul | UncappedGbmRul | SurvivalRul:
    """The baseline the bench flags ask for."""
    return make_model(args.model, args.seed, args.max_iter, past_cap=args.model == "gbm")


def predict_uncapped(model: Any, X: np.ndarray, cap: float) -> np.ndarray:
    """Predictions against the uncapped truth: past the cap for gbm, else the capped ones."""
    if isinstance(model, UncappedGbmRul):
        return model.predict(X)
    return predict_rul(model, X, cap)


def run(args: argparse.Namespace) -> int:
    """Load, build features, validate on held-out training units, fit, score the test units."""
    if args.model in NETWORKS:
        if args.global_scaling:
            raise ConfigError(f"--global-scaling applies to gbm/survival, not --model {args.model}")
        from phm.bench.cmapss_network import run_network

        return run_network(args)
    if args.condition_input is not None:
        raise ConfigError(f"--condition-input applies to moe/dense, not --model {args.model}")
    args.window = CMAPSS_WINDOW if args.window is None else args.window
    args.val_fraction = 0.2 if args.val_fraction is None else args.val_fraction
    if args.validate_uncapped:
        if args.model != "gbm":
            raise ConfigError(f"--validate-uncapped applies to gbm, not --model {args.model}")
        return run_uncapped_validation(args)
    if args.past_cap and args.model != "gbm":
        raise ConfigError(f"--past-cap applies to gbm, not --model {args.model}")
    watch = Stopwatch()
    steps = ["load", "features", "validation", "fit", "predict"]
    bar = tqdm(total=len(steps), desc=f"cmapss {args.subset} {args.model}", unit="step")

    def step(name: str) -> Any:
        bar.set_postfix_str(name)
        return watch(name)

    with step("load"):
        data = load_cmapss(args.data, args.subset)
    bar.update()
    with step("features"):
        problem = cmapss_problem(data, window=args.window, per_condition=not args.global_scaling)
    bar.update()

    validation: dict[str, Any] = {"val_fraction": args.val_fraction}
    intervals_capped: ResidualIntervals | None = None
    with step("validation"):
        if args.val_fraction > 0:
            fit_rows, val_rows = split_units(problem.units_train, args.val_fraction, args.seed)
            model = fit_model(make_gbm_or_survival(args), problem, fit_rows)
            pred = predict_rul(model, problem.X_train[val_rows], problem.cap)
            pred_uncapped = predict_uncapped(model, problem.X_train[val_rows], problem.cap)
            # 90% intervals from the held-out units' residuals: around the uncapped-truth
            # predictor against the uncapped truth, around the capped one against the capped
            intervals = ResidualIntervals.fit(pred_uncapped, problem.rul_train[val_rows])
            if args.model != "gbm":  # gbm: from the cross-fit of every training unit, below
                intervals_capped = ResidualIntervals.fit(pred, problem.y_train[val_rows])
            validation |= {
                "n_units": len(np.unique(problem.units_train[val_rows])),
                "rmse_all_cycles_capped": rmse(problem.y_train[val_rows], pred),
                "rmse_uniform_cut_uncapped": weighted_rmse(
                    problem.rul_train[val_rows],
                    pred_uncapped,
                    uniform_cut_weights(problem.units_train[val_rows]),
                ),
                # the posterior needs a batch of test inputs, so this diagnostic scores the
                # predictor it reads (gbm: the blend) on every cycle of the held-out units
                "uniform_cut_predictor": type(model).__name__,
            }
    bar.update()
    with step("fit"):
        model = fit_model(
            make_gbm_or_survival(args),
            problem,
            np.ones(len(problem.y_train), dtype=bool),
        )
        crossfit = None
        if args.model == "gbm":  # cross-fitted capped (and blended) predictions, every unit
            if args.past_cap:
                target = np.minimum(problem.rul_train, problem.cap)
                crossfit = {
                    "capped": crossfit_predictions(
                        problem.X_train, target, problem.units_train, args.seed, args.max_iter
                    )
                }
            else:
                crossfit = training_crossfit(problem, args.seed, args.max_iter)
            intervals_capped = capped_interval(crossfit["capped"], problem, args.seed)
    bar.update()
    with step("predict"):
        pred = predict_rul(model, problem.X_test, problem.cap)
        pred_uncapped = predict_uncapped(model, problem.X_test, problem.cap)
        lower, upper = intervals.interval(pred_uncapped) if args.val_fraction > 0 else (pred, pred)
        posterior = None
        if args.model == "gbm" and not args.past_cap:
            # the test units' inputs (lengths, predictions) set the prior; never the RUL file
            lengths = observed_lengths(data.test, problem.units_test)
            batch = {"capped": pred, "blend": pred_uncapped}
            pred_uncapped, lower, upper, posterior = predict_uncapped_posterior(
                problem, lengths, batch, args.seed, args.max_iter, crossfit=crossfit
            )
    bar.update()
    bar.close()

    score_rmse = rmse(problem.y_test, pred_uncapped)
    score_nasa = nasa_score(problem.y_test, pred_uncapped)
    capped = capped_truth_scores(problem.y_test, pred, problem.cap)
    lower_c, upper_c = (
        intervals_capped.interval(pred) if intervals_capped is not None else (pred, pred)
    )
    covered: dict[str, float] = {}
    if args.val_fraction > 0 or posterior is not None:
        covered["coverage_90"] = coverage(lower, upper, problem.y_test)
    if intervals_capped is not None:
        covered["coverage_90_capped_truth"] = coverage(
            lower_c, upper_c, np.minimum(problem.y_test, problem.cap)
        )
    headline = {
        "rmse": score_rmse,
        "nasa_score": score_nasa,
        **capped,
        **covered,
        "subset": args.subset,
        "model": args.model,
        "n_test_units": len(problem.units_test),
    }
    if posterior is not None:
        uncapped_note = (
            f"rmse/nasa_score/coverage_90 (uncapped truth): {posterior_note()}; "
            f"*_capped_truth: the cap-{fmt(problem.cap)} gbm alone, clipped to [0, "
            f"{fmt(problem.cap)}]"
        )
    elif isinstance(model, UncappedGbmRul):
        uncapped_note = (
            f"rmse/nasa_score (uncapped truth): gbm past the cap, the cap-{fmt(problem.cap)} gbm "
            f"blended into a gbm on labels capped at {fmt(model.wide_cap)} where its prediction "
            f"exceeds {fmt(problem.cap - model.margin)} (margin {fmt(model.margin)}); "
            f"*_capped_truth: the cap-{fmt(problem.cap)} gbm alone, clipped to [0, "
            f"{fmt(problem.cap)}]"
        )
    else:
        uncapped_note = f"both: the model's predictions clipped to [0, {fmt(problem.cap)}]"
    details = {
        "protocol": {
            "rul_cap": problem.cap,
            "window_cycles": problem.window,
            "sensor_scaling": "globally" if args.global_scaling else "per operating condition",
            "test_point": "last cycle of each test unit; truth from RUL file, uncapped",
            "capped_truth": f"*_capped_truth: truth min(RUL, {fmt(problem.cap)}), as most papers",
            "predictions_clipped_to": [0, problem.cap],
            "predictors": uncapped_note,
            "hyperparameters": "fixed up front; test never used for choices",
        },
        "model_params": model.get_params(),
        "n_train_units": len(data.train),
        "n_train_rows": len(problem.y_train),
        "n_operating_conditions": data.n_conditions,
        "features": list(problem.feature_names),
        "dropped_sensors": list(problem.dropped_sensors),
        "validation": validation,
        "seconds": watch.seconds,
        "seed": args.seed,
        "data": str(data.source),
        "test_units": [
            {
                "unit": u,
                "rul_true": t,
                "rul_pred": p,
                "rul_pred_uncapped": q,
                "lower": lo,
                "upper": hi,
                "lower_capped": lo_c,
                "upper_capped": hi_c,
            }
            for u, t, p, q, lo, hi, lo_c, hi_c in zip(
                problem.units_test,
                problem.y_test,
                pred,
                pred_uncapped,
                lower,
                upper,
                lower_c,
                upper_c,
                strict=True,
            )
        ],
        "posterior": posterior,
        "intervals": {
            "uncapped_truth": (
                {"level": 0.9, "method": "posterior 5%/95% quantiles"}
                if posterior is not None
                else intervals.as_dict() | {"method": SPLIT_METHOD}
                if args.val_fraction > 0
                else None
            ),
            "capped_truth": (
                None
                if intervals_capped is None
                else intervals_capped.as_dict()
                | {"method": CROSSFIT_METHOD if crossfit is not None else SPLIT_METHOD}
            ),
        },
        "published": {k: v[args.subset] for k, v in PUBLISHED.items()},
    }
    table = results_table(
        args.subset,
        args.model,
        [
            score_rmse,
            capped["rmse_capped_truth"],
            score_nasa,
            capped["nasa_score_capped_truth"],
            *([covered["coverage_90"]] if covered else []),
        ],
    )
    table += (
        f"\n\nC-MAPSS {args.subset}, {len(problem.units_test)} test units, RUL cap "
        f"{fmt(problem.cap)}, window {problem.window} cycles, sensors z-scored "
        f"{details['protocol']['sensor_scaling']}; truth capped: min(RUL, {fmt(problem.cap)}); "
        f"{uncapped_note}; "
        f"published figures from DATASETS.md (their papers, not rerun "
        f"here; most cap the truth). "
        f"Total {sum(watch.seconds.values()):.1f} s."
    )
    write_result(args.out, "cmapss", headline, details, table)
    return 0


def run_uncapped_validation(args: argparse.Namespace) -> int:
    """Score the uncapped candidates (capped gbm, the `--past-cap` blend, the posterior
    variants) on pseudo test batches of held-out training units; the test file is not used."""
    watch = Stopwatch()
    with watch("load"):
        data = load_cmapss(args.data, args.subset)
    with watch("features"):
        problem = cmapss_problem(data, window=args.window, per_condition=not args.global_scaling)
    seeds = list(range(args.seed, args.seed + 5))
    intervals: dict[str, dict[str, list[float]]] = {}
    with watch("validation"):
        scores = validate_posterior(problem, seeds, max_iter=args.max_iter, intervals=intervals)
    summary = summarize(scores)
    best = min(sorted(summary), key=lambda k: summary[k]["rmse"])
    interval_summary = summarize_intervals(intervals)
    headline = {
        "subset": args.subset,
        "best_candidate": best,
        "best_rmse": summary[best]["rmse"],
        "best_capped_interval": min(interval_summary, key=lambda k: interval_summary[k]["gap"]),
    }
    details = {
        "protocol": {
            "folds": f"split_units, 20% of the training units held out, seeds {seeds}",
            "batches": f"{BATCHES_PER_FOLD} pseudo test batches per fold and mechanism, each "
            f"held-out unit cut ceil({BATCH_UNITS} / held-out units) times",
            "truncations": list(TRUNCATIONS),
            "truth": "uncapped remaining life of the training units; test file not read",
            "posterior": f"prior g by EM on each batch's observed lengths (c) or lengths and "
            f"capped predictions (c+y), k pseudo-units toward the uniform-cut prior; "
            f"{CROSSFIT_FOLDS}-fold cross-fitted capped gbm for p(y | r)",
        },
        "mean_over_mechanisms": summary,
        "scores_per_batch": scores,
        "capped_intervals": {
            "what": "90% intervals around the cap-125 gbm against min(RUL, cap), calibrated on "
            "the fit units' cross-fitted predictions; gap: mean over mechanisms of |coverage "
            "- 0.9|; width: mean interval width (cycles)",
            "mean_over_mechanisms": interval_summary,
            "scores_per_batch": intervals,
        },
        "seconds": watch.seconds,
    }
    rows = [
        [k, v["rmse"], v["rmse_seed_std"], v["rmse_capped"], v["coverage_90"]]
        for k, v in sorted(summary.items(), key=lambda i: i[1]["rmse"])
    ]
    table = markdown_table(
        [f"C-MAPSS {args.subset} candidate", "RMSE", "seed std", "RMSE capped", "coverage 90"],
        rows,
    )
    mechanisms = list(TRUNCATIONS)
    table += "\n\n" + markdown_table(
        [f"C-MAPSS {args.subset} capped-truth interval", "gap", "coverage", "seed std", "width"]
        + [f"cov. {m}" for m in mechanisms],
        [
            [k, v["gap"], v["coverage"], v["coverage_seed_std"], v["width"]]
            + [v[f"coverage@{m}"] for m in mechanisms]
            for k, v in sorted(interval_summary.items(), key=lambda i: i[1]["gap"])
        ],
    )
    write_result(args.out, f"cmapss_uncapped_validation_{args.subset}", headline, details, table)
    return 0


RESULT_COLUMNS = (
    "RMSE (cycles)",
    "RMSE, truth capped",
    "NASA score",
    "NASA score, truth capped",
)


def capped_truth_scores(truth: np.ndarray, point: np.ndarray, cap: float) -> dict[str, float]:
    """RMSE and NASA score against min(truth, cap), the test truth most papers score against
    (the uncapped figures count every unit with RUL > cap as an error of RUL - cap at best)."""
    t = np.minimum(np.asarray(truth, dtype=np.float64), cap)
    return {"rmse_capped_truth": rmse(t, point), "nasa_score_capped_truth": nasa_score(t, point)}


def results_table(subset: str, model: str, ours: list[Any]) -> str:
    """Markdown table: our measured figures first (`RESULT_COLUMNS`, then any extra columns),
    then each published one for `subset` (in the capped-truth columns: what papers score)."""
    rows: list[list[Any]] = [[f"**ours: {model} (measured)**", *ours]]
    for name, figures in PUBLISHED.items():
        r, s = figures[subset] or (None, None)
        rows.append([f"{name} (published)", None, r, None, s, *([None] * (len(ours) - 4))])
    extra = ["90% interval coverage"] if len(ours) > 4 else []
    return markdown_table([f"C-MAPSS {subset}", *RESULT_COLUMNS, *extra], rows)
