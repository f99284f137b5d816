"""`phm bench femto`: PRONOSTIA (IEEE PHM 2012) bearing RUL, PHM 2012 score and RMSE.

Protocol "lobo" (default; phm.datasets.splits): leave one learning bearing out. The
learning set has only two bearings per condition, so a within-condition fold would train on
a single bearing; we choose up front to train on the five other bearings of all conditions,
with the condition (rpm, load) as features (`--scope condition` gives the within-condition
variant). The held-out record is cut at 60/70/80/90% of its snapshots; the model sees only
the snapshots up to each cut and predicts the RUL there. Score: PHM 2012 accuracy A averaged
over the held-out bearings x cuts, and the RMSE in seconds. Hyperparameters are fixed here;
the held-out bearing is never used for any choice.
Protocol "challenge" (needs Test_set): train on the learning set, predict at the end of each
truncated test record, score against the published actual RUL.

Features per 0.1 s snapshot, per channel: log RMS, log peak, crest, kurtosis and 8 log FFT band
energies up to 12.8 kHz (band energies only, no bearing defect frequencies: the PRONOSTIA
bearing geometry is not verified here); each minus its median over the record's first 30
snapshots (the healthy baseline), smoothed by a causal EWMA over 6 snapshots (1 min); plus
the running maximum of the smoothed log RMS, the elapsed time, rpm and load. All causal.
Models: degradation (default) = phm.models.degradation.DegradationRul on the ln RMS of both
channels: a monotone health indicator over the bearing's own baseline, an optional
exponential trend since onset extrapolated to the failure level, and a scale-free survival
prior; onset level, trend window, point quantile and interval levels are chosen by nested
leave-one-bearing-out inside the training bearings at the same cut fractions (the held-out
bearing never takes part); its 90% interval is scored for coverage.
gbm = GbmRul (gradient boosting) on log(1 + RUL s); survival = lifelines Weibull AFT
on the remaining life (SurvivalRul). Every training bearing gives as many evenly spaced
snapshots as the shortest one (equal weight per bearing);
the RUL at a cut is the median of the last 6 snapshot predictions, each moved to the cut time.
Reference: "mean life" predicts the training bearings' mean life minus the elapsed time.

`--model moe|dense` trains the network of `--config` (default phm/configs/models/small.toml or
dense-small.toml) per fold and per seed (`--seeds N`: seeds S..S+N-1) with
`phm.models.prepare.prepare_femto`: a window is the last K snapshots up to a time (vibration,
first `snapshot` samples of each), process channels (elapsed time, log RMS over its healthy
baseline, temperature where recorded) and the condition as context; RUL in hours on a fixed
8 h horizon. One of the five training bearings (by seed) validates: early stopping and the
conformal 90% interval; the held-out bearing is only predicted. Same cuts, the same median of
the last 6 window predictions moved to the cut. The scored prediction is the earlier of that
and the degradation model's (fitted on the same training bearings; a rule fixed up front: the
score punishes late predictions hardest); the network alone is reported beside it
(`phm2012_score_network`), and both intervals' coverage. Headline mean and sample std over
seeds. Result: femto_{model}.json. With `--protocol challenge` the network trains on
the six learning bearings (one validates) and predicts each Test_set bearing at its last
snapshot; result femto_challenge_{model}.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import lfilter
from sklearn.base import RegressorMixin
from sklearn.compose import TransformedTargetRegressor

from phm.bench.networks import NETWORKS, add_network_arguments
from phm.bench.results import Stopwatch, fmt, markdown_table, write_result
from phm.datasets.femto import load_femto
from phm.datasets.run import Run
from phm.datasets.splits import (
    FEMTO_TRUNCATION_FRACTIONS,
    Truncation,
    femto_challenge,
    femto_leave_one_bearing_out,
    femto_truncations,
)
from phm.errors import ConfigError
from phm.features.spectral import spectral_features
from phm.metrics import phm2012_score, rmse
from phm.models.degradation import DegradationRul, History
from phm.models.rul_baselines import GbmRul, SurvivalRul

BASELINE_SNAPSHOTS = 30
SMOOTH_SPAN = 6
N_BANDS = 8
PUBLISHED_WINNER = 0.31  # PHM 2012 challenge, test set


MODELS = ("degradation", "gbm", "survival")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm bench femto`."""
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="femto folder or its parent (default: $PHM_DATA_DIR)",
    )
    parser.add_argument("--model", choices=(*MODELS, *NETWORKS), default="degradation")
    parser.add_argument("--protocol", choices=("lobo", "challenge"), default="lobo")
    parser.add_argument(
        "--scope", choices=("all", "condition"), default="all", help="lobo training bearings"
    )
    parser.add_argument("--cache", type=Path, default=None, help="extraction and parse cache")
    parser.add_argument("--max-iter", type=int, default=300, help="boosting iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="result folder")
    add_network_arguments(parser)


def snapshot_features(run: Run) -> tuple[np.ndarray, list[str]]:
    """(S, F) per-snapshot vibration features of a run (no history), and their names."""
    assert run.waveforms is not None
    w = run.waveforms
    x, names = spectral_features(w.data, w.sampling_rate_hz, channels=w.channels, n_bands=N_BANDS)
    for i, name in enumerate(names):
        if name.endswith(("_rms", "_peak")):
            x[:, i] = np.log10(x[:, i] + 1e-9)
    return x, names


def bearing_history(run: Run) -> History:
    """The run's snapshot times (s) and ln RMS per channel (S, 2), for DegradationRul."""
    assert run.waveforms is not None
    w = run.waveforms
    rms = np.sqrt(np.mean(np.square(w.data, dtype=np.float64), axis=-1))  # (S, C)
    return History(np.asarray(w.times, dtype=np.float64), np.log(rms + 1e-9))


def health_features(
    raw: np.ndarray, names: list[str], times: np.ndarray, meta: dict[str, Any]
) -> tuple[np.ndarray, list[str]]:
    """Causal features of a record prefix (S, F): row j depends only on snapshots 0..j
    (the baseline is the first 30 snapshots, fixed once the record is that long)."""
    base = np.median(raw[:BASELINE_SNAPSHOTS], axis=0)
    delta = raw - base
    a = 2.0 / (SMOOTH_SPAN + 1)
    smooth = lfilter([a], [1.0, a - 1.0], delta, axis=0, zi=(1 - a) * delta[:1])[0]
    rms_cols = [i for i, n in enumerate(names) if n.endswith("_rms")]
    peak_rms = np.maximum.accumulate(smooth[:, rms_cols], axis=0)
    s = raw.shape[0]
    context = np.stack([times, np.full(s, meta["rpm"]), np.full(s, meta["load_n"])], axis=1).astype(
        np.float64
    )
    return np.concatenate([smooth, peak_rms, context], axis=1), health_feature_names(names)


def health_feature_names(names: list[str]) -> list[str]:
    """Column names of `health_features` for snapshot features named `names`."""
    peaks = [f"{n}_delta_max" for n in names if n.endswith("_rms")]
    return [f"{n}_delta" for n in names] + peaks + ["elapsed_s", "rpm", "load_n"]


def make_model(name: str, seed: int, max_iter: int) -> RegressorMixin | DegradationRul:
    """The RUL model named `name`, taking and giving seconds.

    degradation = DegradationRul (its onset level, point quantile and interval chosen by
    nested leave-one-bearing-out inside the training bearings, at the bench's cut fractions).
    gbm learns log(1 + RUL): lives span 1-7 h, and relative error is what the score weighs.
    survival is a Weibull AFT model of the remaining life (every learning bearing failed).
    """
    if name == "gbm":
        gbm = GbmRul(max_iter=max_iter, min_samples_leaf=50, random_state=seed)
        return TransformedTargetRegressor(gbm, func=np.log1p, inverse_func=np.expm1)
    if name == "survival":
        return SurvivalRul(kind="weibull_aft", penalizer=0.05)
    if name == "degradation":
        return DegradationRul(validation_fractions=FEMTO_TRUNCATION_FRACTIONS, random_state=seed)
    raise ConfigError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return str(float(value))
    return value


def model_params(model: Any) -> dict[str, Any]:
    """Constructor arguments of a bench model, JSON-safe (infinity as "inf")."""
    if isinstance(model, DegradationRul):
        params = {k: v for k, v in vars(model).items() if not k.endswith("_")}
    else:
        params = model.get_params()
    return {k: _jsonable(v) for k, v in params.items()}


def degradation_choices(model: DegradationRul) -> dict[str, Any]:
    """What a fitted DegradationRul chose by its nested validation."""
    return {
        "onset_level": _jsonable(model.onset_level_),
        "quantile": model.quantile_,
        "interval_levels": list(model.interval_levels_),
        "failure_level": _jsonable(model.failure_level_),
        "inner_score_by_onset_level": model.validation_,
    }


def fit_bearings(
    runs: list[Run], raw: dict[str, np.ndarray], names: list[str], model: RegressorMixin
) -> RegressorMixin:
    """Fit on the given run-to-failure bearings, each giving the same number of snapshots
    (the shortest one's), evenly spaced over its life: equal weight per bearing, and no
    sample weights (which slow histogram boosting several-fold)."""
    per_bearing = min(r.labels.height for r in runs if r.labels is not None)
    X, y = [], []
    for r in runs:
        assert r.waveforms is not None and r.labels is not None
        feats = health_features(raw[r.asset_id], names, r.waveforms.times, r.meta)[0]
        rows = np.unique(np.linspace(0, feats.shape[0] - 1, per_bearing).round().astype(int))
        X.append(feats[rows])
        y.append(r.labels["rul_s"].to_numpy()[rows])
    return model.fit(np.concatenate(X), np.concatenate(y))


def predict_at(
    model: RegressorMixin, run: Run, raw: np.ndarray, names: list[str], index: int
) -> float:
    """RUL (s) at snapshot `index`, from snapshots 0..index only."""
    assert run.waveforms is not None
    times = run.waveforms.times[: index + 1]
    X, _ = health_features(raw[: index + 1], names, times, run.meta)
    last = slice(max(0, index + 1 - SMOOTH_SPAN), index + 1)
    moved = model.predict(X[last]) - (times[-1] - times[last])
    return float(max(np.median(moved), 0.0))


def score_cut_rows(rows: list[dict[str, Any]], key: str) -> tuple[float, float]:
    """PHM 2012 score and RMSE of the rows' `key` prediction against their actual RUL."""
    act = np.array([r["actual_rul_s"] for r in rows])
    pred = np.array([r[key] for r in rows])
    return phm2012_score(act, pred), rmse(act, pred)


def cut_accuracy(actual: float, predicted: float) -> float:
    """The PHM 2012 accuracy A of one cut's prediction."""
    return phm2012_score([actual], [predicted])


def run(args: argparse.Namespace) -> int:
    """Load, build features, fit per fold, predict at the cuts, score."""
    if args.model in NETWORKS:
        from phm.bench.femto_network import run_network

        return run_network(args)
    if args.model == "degradation" and args.scope != "all":
        raise ConfigError(
            "--model degradation runs with --scope all only (its nested validation leaves one "
            "of at least 3 training bearings out; a condition fold has 1)"
        )
    watch = Stopwatch()
    sets = ("Learning_set",) if args.protocol == "lobo" else ("Learning_set", "Test_set")
    with watch("load"):
        runs = load_femto(args.data, sets=sets, cache_dir=args.cache)
    by_id = {(r.meta["set"], r.asset_id): r for r in runs}
    with watch("features"):
        raw: dict[str, dict[str, np.ndarray]] = {s: {} for s in sets}
        names: list[str] = []
        for r in runs:
            raw[r.meta["set"]][r.asset_id], names = snapshot_features(r)

    plan: list[tuple[list[Run], Run, list[Truncation]]] = []
    if args.protocol == "lobo":
        for fold in femto_leave_one_bearing_out(runs, args.scope):
            held = by_id[("Learning_set", fold.test)]
            train = [by_id[("Learning_set", b)] for b in fold.train]
            plan.append((train, held, femto_truncations(held, FEMTO_TRUNCATION_FRACTIONS)))
        protocol = f"leave_one_bearing_out_{args.scope}"
    else:
        challenge = femto_challenge(runs)
        train = [by_id[("Learning_set", b)] for b in challenge.train]
        plan = [(train, by_id[("Test_set", t.bearing)], [t]) for t in challenge.test]
        protocol = "challenge"

    cut_at_end = protocol == "challenge"
    rows: list[dict[str, Any]] = []
    fitted: dict[tuple[str, ...], Any] = {}
    chosen: dict[str, Any] = {}
    for train, held, cuts in plan:
        key = tuple(r.asset_id for r in train)
        if key not in fitted:  # the challenge shares one model across test bearings
            with watch("fit"):
                model = make_model(args.model, args.seed, args.max_iter)
                if isinstance(model, DegradationRul):
                    fitted[key] = model.fit([bearing_history(r) for r in train])
                    chosen[held.asset_id if not cut_at_end else "all"] = degradation_choices(
                        fitted[key]
                    )
                else:
                    fitted[key] = fit_bearings(train, raw["Learning_set"], names, model)
        mean_life = float(np.mean([r.meta["duration_s"] for r in train]))
        held_raw = raw[held.meta["set"]][held.asset_id]
        assert held.waveforms is not None
        history = bearing_history(held) if isinstance(fitted[key], DegradationRul) else None
        for cut in cuts:
            interval: dict[str, Any] = {}
            with watch("predict"):
                if history is not None:
                    dist = fitted[key].predict_distribution(history.prefix(cut.index))
                    pred = dist.point
                    interval = {
                        "lower_s": dist.lower,
                        "upper_s": dist.upper,
                        "covered_90": bool(dist.lower <= cut.actual_rul_s <= dist.upper),
                    }
                else:
                    pred = predict_at(fitted[key], held, held_raw, names, cut.index)
            elapsed = float(held.waveforms.times[cut.index])
            naive = max(mean_life - elapsed, 0.0)
            rows.append(
                {
                    "bearing": held.asset_id,
                    "condition": held.meta["condition"],
                    "fraction": cut.fraction,
                    "elapsed_s": elapsed,
                    "actual_rul_s": cut.actual_rul_s,
                    "predicted_rul_s": pred,
                    "accuracy_a": cut_accuracy(cut.actual_rul_s, pred),
                    **interval,
                    "reference_rul_s": naive,
                    "reference_accuracy_a": cut_accuracy(cut.actual_rul_s, naive),
                    "train_bearings": list(key),
                }
            )
    score, err = score_cut_rows(rows, "predicted_rul_s")
    ref_score, ref_err = score_cut_rows(rows, "reference_rul_s")
    per_bearing: dict[str, Any] = {}
    for r in rows:
        b = per_bearing.setdefault(r["bearing"], {"cuts": [], "mean_accuracy_a": 0.0})
        b["cuts"].append({k: v for k, v in r.items() if k not in ("bearing", "train_bearings")})
        b["train_bearings"] = r["train_bearings"]
    for b in per_bearing.values():
        b["mean_accuracy_a"] = float(np.mean([c["accuracy_a"] for c in b["cuts"]]))

    headline = {
        "phm2012_score": score,
        "rmse": err,
        "protocol": protocol,
        "model": args.model,
        "n_bearings": len(per_bearing),
        "n_predictions": len(rows),
    }
    if rows and "covered_90" in rows[0]:
        headline["coverage_90"] = float(np.mean([r["covered_90"] for r in rows]))
    details = {
        "per_bearing": per_bearing,
        "degradation_choices": chosen or None,
        "reference_mean_life": {"phm2012_score": ref_score, "rmse": ref_err},
        "truncation_fractions": None if cut_at_end else list(FEMTO_TRUNCATION_FRACTIONS),
        "features": health_feature_names(names),
        "model_params": model_params(make_model(args.model, args.seed, args.max_iter)),
        "target": "RUL s: a quantile of the DegradationRul draws at the cut"
        if args.model == "degradation"
        else "log(1 + RUL s); prediction = median of the last 6 snapshots, moved to the cut",
        "seconds": watch.seconds,
        "seed": args.seed,
        "published": {"winner_phm2012_score": PUBLISHED_WINNER, "protocol": "challenge test set"},
    }
    table_rows: list[list[Any]] = [
        [f"**ours: {args.model}, {protocol} (measured)**", score, err],
        [f"reference: training mean life - elapsed, {protocol} (measured)", ref_score, ref_err],
        ["PHM 2012 winner (published; different protocol: challenge test set)", "~0.31", "-"],
    ]
    table = markdown_table(["PRONOSTIA (FEMTO)", "PHM 2012 score", "RMSE (s)"], table_rows)
    table += "\n\n" + markdown_table(
        ["held-out bearing", "mean A", "cuts: actual / predicted RUL (s)"],
        [
            [
                name,
                b["mean_accuracy_a"],
                "; ".join(
                    f"{fmt(c['actual_rul_s'], 5)} / {fmt(c['predicted_rul_s'], 5)}"
                    for c in b["cuts"]
                ),
            ]
            for name, b in per_bearing.items()
        ],
    )
    if "coverage_90" in headline:
        table += f"\n\n90% interval coverage over the cuts: {headline['coverage_90']:.3f}."
    table += f"\n\nTotal {sum(watch.seconds.values()):.1f} s."
    name = "femto" if args.protocol == "lobo" and args.scope == "all" else f"femto_{protocol}"
    write_result(args.out, name, headline, details, table)
    return 0
