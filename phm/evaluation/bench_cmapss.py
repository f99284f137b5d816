"""`phm bench cmapss`: RMSE and NASA score of a RUL baseline on one C-MAPSS subset.

Protocol (phm.evaluation.protocols): fit on every cycle of the training units with RUL capped
at 125; hyperparameters are fixed here, up front; a unit-level validation split of the training
units is reported as a diagnostic and never used for choices; the test file is read only to
predict each test unit's RUL at its last cycle, compared with RUL_FDxxx.txt.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from phm.datasets.cmapss import SUBSETS, load_cmapss
from phm.evaluation.bench import Stopwatch, fmt, markdown_table, write_result
from phm.evaluation.metrics import nasa_score, rmse
from phm.evaluation.protocols import (
    CMAPSS_RUL_CAP,
    CMAPSS_WINDOW,
    CmapssProblem,
    cmapss_problem,
    split_units,
)
from phm.models.rul_baselines import GbmRul, SurvivalRul

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
    parser.add_argument("--model", choices=("gbm", "survival"), default="gbm")
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="result folder")
    parser.add_argument("--seed", type=int, default=0, help="model and validation-split seed")
    parser.add_argument("--window", type=int, default=CMAPSS_WINDOW, help="cycles per window")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share of training units held out for the validation diagnostic (0: none)",
    )
    parser.add_argument(
        "--max-iter", type=int, default=300, help="boosting iterations of the gbm model"
    )


def make_model(name: str, seed: int, max_iter: int = 300) -> GbmRul | SurvivalRul:
    """The fixed-hyperparameter baseline named `name` ("gbm" or "survival")."""
    if name == "gbm":
        return GbmRul(max_iter=max_iter, random_state=seed)
    if name == "survival":
        return SurvivalRul(kind="weibull_aft", penalizer=0.01, max_prediction=CMAPSS_RUL_CAP)
    raise ValueError(f"unknown model {name!r}; expected 'gbm' or 'survival'")


def fit_model(model: GbmRul | SurvivalRul, problem: CmapssProblem, rows: np.ndarray) -> Any:
    """Fit on the training rows selected by the mask `rows`, with the target the model needs."""
    X = problem.X_train[rows]
    if isinstance(model, SurvivalRul):
        return model.fit(X, problem.rul_train[rows], problem.event_train[rows])
    return model.fit(X, problem.y_train[rows])


def predict_rul(model: GbmRul | SurvivalRul, X: np.ndarray, cap: float) -> np.ndarray:
    """Predictions clipped to [0, cap]: the protocol's labels never leave that range."""
    return np.clip(model.predict(X), 0.0, cap)


def run(args: argparse.Namespace) -> int:
    """Load, build features, validate on held-out training units, fit, score the test units."""
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
        problem = cmapss_problem(data, window=args.window)
    bar.update()

    validation: dict[str, Any] = {"val_fraction": args.val_fraction}
    with step("validation"):
        if args.val_fraction > 0:
            fit_rows, val_rows = split_units(problem.units_train, args.val_fraction, args.seed)
            model = fit_model(make_model(args.model, args.seed, args.max_iter), problem, fit_rows)
            pred = predict_rul(model, problem.X_train[val_rows], problem.cap)
            validation |= {
                "n_units": len(np.unique(problem.units_train[val_rows])),
                "rmse_all_cycles_capped": rmse(problem.y_train[val_rows], pred),
            }
    bar.update()
    with step("fit"):
        model = fit_model(
            make_model(args.model, args.seed, args.max_iter),
            problem,
            np.ones(len(problem.y_train), dtype=bool),
        )
    bar.update()
    with step("predict"):
        pred = predict_rul(model, problem.X_test, problem.cap)
    bar.update()
    bar.close()

    score_rmse = rmse(problem.y_test, pred)
    score_nasa = nasa_score(problem.y_test, pred)
    headline = {
        "rmse": score_rmse,
        "nasa_score": score_nasa,
        "subset": args.subset,
        "model": args.model,
        "n_test_units": len(problem.units_test),
    }
    details = {
        "protocol": {
            "rul_cap": problem.cap,
            "window_cycles": problem.window,
            "test_point": "last cycle of each test unit; truth from RUL file, uncapped",
            "predictions_clipped_to": [0, problem.cap],
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
            {"unit": u, "rul_true": t, "rul_pred": p}
            for u, t, p in zip(problem.units_test, problem.y_test, pred, strict=True)
        ],
        "published": {k: v[args.subset] for k, v in PUBLISHED.items()},
    }
    table = results_table(args.subset, args.model, score_rmse, score_nasa)
    table += (
        f"\n\nC-MAPSS {args.subset}, {len(problem.units_test)} test units, RUL cap "
        f"{fmt(problem.cap)}, window {problem.window} cycles; published figures from "
        f"DATASETS.md (their papers, not rerun here). "
        f"Total {sum(watch.seconds.values()):.1f} s."
    )
    write_result(args.out, "cmapss", headline, details, table)
    return 0


def results_table(subset: str, model: str, score_rmse: float, score_nasa: float) -> str:
    """Markdown table: our measured figure first, then each published one for `subset`."""
    rows: list[list[Any]] = [[f"**ours: {model} (measured)**", score_rmse, score_nasa]]
    for name, figures in PUBLISHED.items():
        r, s = figures[subset] or (None, None)
        rows.append([f"{name} (published)", r, s])
    return markdown_table([f"C-MAPSS {subset}", "RMSE (cycles)", "NASA score"], rows)
