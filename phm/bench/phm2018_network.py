"""`phm bench phm2018 --model moe|dense`: the network path of the PHM 2018 bench.

Trains the networks per seed on the training tools, cross-fitted over `--folds` groups of them
(default 3: one network per fold, each training tool held out once), turns their TTF
distributions into a submission fitted on the held-out predictions only (`NetworkDecision`: the
threshold policy with a per-mode choice of the median or the S1 estimate shipped; the median
alone and the Bayes rules scored beside it), and scores the evaluation tools with the official
S1 (the folds' submissions combined by majority vote). Imported by phm.bench.phm2018 only
when a network is asked for.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from phm.bench.networks import NETWORKS, network_configs, spread
from phm.bench.phm2018 import (
    NETWORK_PATIENCE,
    ScoredTool,
    evaluation_tools,
    scored_signals,
    summarise,
    table,
)
from phm.bench.results import Stopwatch, fmt, write_result
from phm.datasets.phm2018 import TTF_LABEL_COLUMNS, Phm2018Dataset
from phm.datasets.phm2018_layout import FAULT_MODES
from phm.features.process import ProcessFeatureConfig, feature_names, process_features
from phm.metrics import macro_f1, phm2018_cell_scores
from phm.models.baselines import DEFAULT_HORIZON_S
from phm.models.checkpoint import CheckpointHeader

SCORE_CHUNK = 32768  # scored rows per batch of windows


@dataclass
class NetworkDecision:
    """How the network's TTF distribution becomes a submission, fitted on training tools only.

    `estimate_choice` with `estimator` (M,): the shipped rule, (alarm levels, estimate caps)
    per mode of `choose_policy` applied to the median TTF or to the S1 estimate (ESTIMATORS),
    whichever had less S1 on the held-out windows (chosen with `--folds 3` on development
    fleets 101-102, docs/i16/phm2018.md). `threshold`: the same with the median always (the
    shipped rule until then, an ablation now).
    `temperature`, `shift` (M,): calibration of the hazard logits on the held-out windows
    (`fit_hazard_calibration`); `far_nan_share` (M,): share of far truths that are NaN. The
    Bayes decisions and the per-mode choice between Bayes and threshold are ablations.
    """

    threshold: tuple[np.ndarray, np.ndarray]
    estimator: np.ndarray
    estimate_choice: tuple[np.ndarray, np.ndarray]
    temperature: np.ndarray
    shift: np.ndarray
    far_nan_share: np.ndarray
    # (M,) the Bayes rule is used for the mode (its validation events fitted a calibration)
    has_events: np.ndarray
    # (M,) `per_mode_choice`: the Bayes rule had less validation S1 than the threshold rule
    bayes_wins: np.ndarray
    # the nominal level of the TTF intervals (`choose_interval_level`), their coverage on the
    # held-out windows at that level and at each level tried, and the nominal 90%'s
    interval_level: float = 0.9
    validation_coverage: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, dict[str, float]]:
        fields = {
            "alarm_level": self.threshold[0],
            "estimate_cap_s": self.threshold[1],
            "choice_s1_estimate": self.estimator == "s1",
            "choice_alarm_level": self.estimate_choice[0],
            "choice_estimate_cap_s": self.estimate_choice[1],
            "temperature": self.temperature,
            "shift": self.shift,
            "far_nan_share": self.far_nan_share,
            "has_events": self.has_events,
            "bayes_wins": self.bayes_wins,
        }
        return {m: {k: float(v[i]) for k, v in fields.items()} for i, m in enumerate(FAULT_MODES)}


# the first is the shipped one, the others are scored beside it as ablations. Chosen on the
# development fleets 101-102 with `--folds 3` (docs/i16/phm2018.md, fourth attempt): per mode,
# the threshold rule submitting the median or the S1 estimate, whichever held-out windows
# prefer (mean S1 2.978 against 3.046 for the median alone; both beat all-NaN on both fleets)
SUBMISSIONS = (
    "threshold_estimate_choice",
    "threshold",
    "bayes",
    "bayes_uncalibrated",
    "per_mode_choice",
)
# TTF point estimates a threshold rule may submit, per mode: the median of the predicted TTF
# distribution (NaN where P(fault within the horizon) < 0.5; the shipped rule's), or the S1
# estimate (`phm.models.s1_decision.s1_estimate`, the exp(-0.001 t)-weighted median given a
# fault)
ESTIMATORS = ("median", "s1")


def network_submissions(
    logits: np.ndarray, decision: NetworkDecision, horizon_s: float
) -> dict[str, np.ndarray]:
    """Submissions (N, M) of hazard logits (N, M, J) by the Bayes rule under the calibrated and
    the raw distribution; NaN for a mode without validation events (nothing calibrated it)."""
    from phm.models.s1_decision import bayes_submission, hazard_distribution

    out = {k: np.full(logits.shape[:2], np.nan) for k in ("bayes", "bayes_uncalibrated")}
    for m in range(logits.shape[1]):
        if not decision.has_events[m]:
            continue
        q = float(decision.far_nan_share[m])
        raw = logits[:, m].astype(np.float64)
        cal = decision.temperature[m] * raw + decision.shift[m]
        for name, lg in (("bayes", cal), ("bayes_uncalibrated", raw)):
            support, mass, far = hazard_distribution(lg, horizon_s)
            out[name][:, m] = bayes_submission(support, mass, far, horizon_s, q)
    return out


def majority_submission(subs: np.ndarray) -> np.ndarray:
    """Submissions (K, N, M) of K cross-fitted models -> (N, M): a TTF where more than half of
    the models submit one (the median of theirs), NaN where most say "no fault"."""
    finite = np.isfinite(subs)
    out = np.full(subs.shape[1:], np.nan)
    vote = finite.sum(axis=0) * 2 > subs.shape[0]
    if vote.any():
        out[vote] = np.nanmedian(np.where(finite, subs, np.nan)[:, vote], axis=0)
    return out


def median_estimate(estimates: np.ndarray) -> np.ndarray:
    """(K, N, M) -> (N, M): the median of the models' TTF estimates, NaN where none has one."""
    if len(estimates) == 1:
        return estimates[0]
    with warnings.catch_warnings():  # all-NaN cells stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(estimates, axis=0)


# nominal levels tried for the TTF interval; the smallest whose coverage on the held-out
# training windows reaches 90% is used (split-conformal on the cross-fitted predictions)
INTERVAL_LEVELS = (0.9, 0.92, 0.94, 0.96, 0.98, 0.99, 0.995, 0.999)


def calibrated_intervals(
    logits: np.ndarray, decision: NetworkDecision, horizon_s: float, level: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """TTF intervals (lower, upper) (N, M) given a fault within the horizon (`ttf_interval`,
    `given_fault`) of hazard logits (N, M, J) under the per-mode calibration fitted on the
    held-out windows (identity for a mode without events there), at the nominal `level`
    (default: the decision's `interval_level`)."""
    from phm.models.s1_decision import ttf_interval

    level = decision.interval_level if level is None else level
    lower, upper = np.empty(logits.shape[:2]), np.empty(logits.shape[:2])
    for m in range(logits.shape[1]):
        cal = decision.temperature[m] * logits[:, m].astype(np.float64) + decision.shift[m]
        lower[:, m], upper[:, m] = ttf_interval(cal, horizon_s, level, given_fault=True)
    return lower, upper


def interval_coverage(
    time_s: np.ndarray,
    event: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    horizon_s: float,
    weight: np.ndarray | None = None,
) -> dict[str, Any]:
    """Coverage of TTF intervals given a fault within the horizon: over the (row, mode) cells
    whose mode faults within the horizon (`event` and `time_s` <= horizon, as
    `phm2018_targets`), the share whose time to the fault lies in [lower, upper]; pooled and
    per mode (weighted by `weight` (N,) when given), with the number of such cells."""
    w = np.ones(time_s.shape[0]) if weight is None else np.asarray(weight, np.float64)
    ww = np.broadcast_to(w[:, None], time_s.shape)
    near = event & (time_s <= horizon_s)
    inside = near & (lower <= time_s) & (time_s <= upper)

    def share(mask: np.ndarray, of: np.ndarray) -> float | None:
        total = float(ww[of].sum())
        return float(ww[mask & of].sum()) / total if total > 0 else None

    out: dict[str, Any] = {"coverage_90": share(inside, near), "cells": int(near.sum())}
    for i, m in enumerate(FAULT_MODES):
        out[f"coverage_90_{m}"] = share(inside[:, i], near[:, i])
    return out


def choose_interval_level(
    logits: np.ndarray, decision: NetworkDecision, time_s, event, weight, horizon_s: float
) -> tuple[float, dict[str, float | None]]:
    """The smallest of INTERVAL_LEVELS whose intervals cover >= 90% of the held-out windows'
    near-fault cells (the largest if none does), and the coverage at each level."""
    seen: dict[str, float | None] = {}
    for level in INTERVAL_LEVELS:
        lower, upper = calibrated_intervals(logits, decision, horizon_s, level)
        cov = interval_coverage(time_s, event, lower, upper, horizon_s, weight)["coverage_90"]
        seen[f"{level:g}"] = cov
        if cov is not None and cov >= 0.9:
            return level, seen
    return INTERVAL_LEVELS[-1], seen


def member_outputs(pred: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({estimator: TTF estimate (N, M)} for each of ESTIMATORS, alarm (N, M)) of one model's
    predictions; the alarm is 1 - P(no fault within the horizon)."""
    from phm.models.s1_decision import s1_estimate

    median = pred["ttf_median"].astype(np.float64)
    logits = pred["ttf_logits"]
    horizon = float(DEFAULT_HORIZON_S)
    estimates = {
        "median": np.where(np.isfinite(median), median, np.nan),
        "s1": np.stack([s1_estimate(logits[:, m], horizon) for m in range(logits.shape[1])], 1),
    }
    return estimates, 1.0 - pred["ttf_no_fault"].astype(np.float64)


def threshold_submission(
    estimates: dict[str, np.ndarray], alarm: np.ndarray, decision: NetworkDecision, choice=False
) -> np.ndarray:
    """The threshold rule: per mode the median TTF where the alarm reaches the mode's level and
    the estimate its cap, NaN elsewhere; `choice` (the shipped rule): per mode the median or the
    S1 estimate, whichever the held-out windows preferred, with its own level and cap."""
    if choice:
        estimate = np.column_stack([estimates[e][:, m] for m, e in enumerate(decision.estimator)])
        levels, caps = decision.estimate_choice
    else:
        estimate, (levels, caps) = estimates["median"], decision.threshold
    submit = (alarm >= levels[None, :]) & (estimate <= caps[None, :])
    return np.where(submit, estimate, np.nan)


def network_score_tool(
    dataset: Phm2018Dataset,
    tool: str,
    protocol: str,
    models: list[Any],
    header: CheckpointHeader,
    config: ProcessFeatureConfig,
    device: str,
    batch_size: int,
    decision: NetworkDecision,
) -> tuple[dict[str, ScoredTool], np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The predictions of `models` (one, or the cross-fitted ones) at every scored row of one
    tool, each from a window ending at that row (its history included). Returns one scored
    tool per rule of SUBMISSIONS, the predicted next-fault class and its truth (-1: unknown),
    and its TTF intervals (rows, modes) at the level chosen on the held-out windows
    (`ttf_lower`, `ttf_upper`) and at the nominal 90% (`ttf_lower90`, `ttf_upper90`), with the
    time to the next fault or the record's end (`time`, `event`) that `interval_coverage` reads.

    Each model's threshold submission is its own (`threshold_submission`); several models
    vote (`majority_submission`). The Bayes rules read the models' mean hazard logits; the
    reported estimate and alarm (RMSE, AUC) are the models' median estimate and mean alarm.
    """
    from phm.models.data import WindowSet
    from phm.models.prepare import phm2018_targets, phm2018_windows
    from phm.models.train import predict

    signals, truth_frame, first = scored_signals(dataset, tool, protocol, config)
    feats = process_features(signals, config)
    matrix = feats.select(feature_names(config)).to_numpy().astype(np.float32)
    mean, scale = header.feature_mean, header.feature_scale
    window, step_rows = header.window, header.step_rows
    assert mean is not None and scale is not None and window is not None and step_rows is not None
    horizon = float(DEFAULT_HORIZON_S)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(first, len(matrix), SCORE_CHUNK):
        rows = np.arange(start, min(len(matrix), start + SCORE_CHUNK))
        inputs = WindowSet(phm2018_windows(matrix, rows, mean, scale, window, step_rows), {}, rows)
        preds = [predict(model, inputs, device, batch_size) for model in models]
        outputs = [member_outputs(pred) for pred in preds]
        chunk = {
            "estimate": median_estimate(np.stack([e["median"] for e, _ in outputs])),
            "alarm": np.mean([a for _, a in outputs], axis=0),
            "fault_prob": np.mean([pred["fault_prob"] for pred in preds], axis=0),
        }
        for name, choice in (("threshold", False), ("threshold_estimate_choice", True)):
            subs = np.stack([threshold_submission(e, a, decision, choice) for e, a in outputs])
            chunk[name] = subs[0] if len(models) == 1 else majority_submission(subs)
        logits = np.mean([pred["ttf_logits"] for pred in preds], axis=0)
        chunk |= network_submissions(logits, decision, horizon)
        chunk["ttf_lower"], chunk["ttf_upper"] = calibrated_intervals(logits, decision, horizon)
        chunk["ttf_lower90"], chunk["ttf_upper90"] = calibrated_intervals(
            logits, decision, horizon, 0.9
        )
        for k, v in chunk.items():
            parts.setdefault(k, []).append(v)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    truth = truth_frame.select(TTF_LABEL_COLUMNS).to_numpy().astype(np.float64)
    t = feats["time"].to_numpy().astype(np.float64)[first:]
    targets, known = phm2018_targets(truth, t[-1] - t, horizon)
    out["per_mode_choice"] = np.where(decision.bayes_wins[None, :], out["bayes"], out["threshold"])
    estimate, alarm = out["estimate"], out["alarm"]
    scored = {k: ScoredTool(tool, truth, estimate, alarm, out[k]) for k in SUBMISSIONS}
    interval = {k: out[k] for k in ("ttf_lower", "ttf_upper", "ttf_lower90", "ttf_upper90")}
    interval |= {"time": targets["ttf_time"], "event": targets["ttf_event"]}
    return scored, out["fault_prob"].argmax(1), np.where(known, targets["fault"], -1), interval


def network_decision(
    pred: dict[str, np.ndarray], targets: dict[str, np.ndarray], every: list[dict[str, np.ndarray]]
) -> NetworkDecision:
    """Fit the submit rule on training tools only: the threshold policy (`choose_policy`, least
    S1 on the held-out windows weighted by their inverse sampling rate) and the hazard
    calibration, from `pred`, the predictions on held-out windows whose `targets` are given
    (one validation split, or every tool's out-of-fold windows when cross-fitted); the NaN
    share of far truths from the targets of all training windows (`every`). The scored tools
    are never seen."""
    from phm.models.baselines import choose_policy
    from phm.models.s1_decision import far_nan_share, fit_hazard_calibration

    horizon = float(DEFAULT_HORIZON_S)
    time_s, event = targets["ttf_time"], targets["ttf_event"]
    truth = np.where(event, time_s, np.nan).astype(float)
    estimates, alarm = member_outputs(pred)
    weight = targets["weight"].astype(np.float64)
    n_modes = truth.shape[1]
    policies = {e: (np.full(n_modes, np.inf), np.full(n_modes, np.inf)) for e in ESTIMATORS}
    best = np.full(n_modes, np.inf)
    levels, caps = np.full(n_modes, np.inf), np.full(n_modes, np.inf)
    estimator = np.full(n_modes, ESTIMATORS[0], dtype=object)
    temperature, shift = np.ones(n_modes), np.zeros(n_modes)
    has_events = event.any(axis=0)
    for m in range(n_modes):
        for e in ESTIMATORS:  # the first wins ties
            est = estimates[e][:, m]
            level, cap = choose_policy(truth[:, m], est, alarm[:, m], weight)
            policies[e][0][m], policies[e][1][m] = level, cap
            sub = np.where((alarm[:, m] >= level) & (est <= cap), est, np.nan)
            s1 = np.average(phm2018_cell_scores(truth[:, m], sub), weights=weight)
            if s1 < best[m] - 1e-12:
                best[m], levels[m], caps[m], estimator[m] = s1, level, cap, e
        temperature[m], shift[m] = fit_hazard_calibration(
            pred["ttf_logits"][:, m], time_s[:, m], event[:, m], horizon, weight
        )
    all_truth = np.concatenate([np.where(t["ttf_event"], t["ttf_time"], np.nan) for t in every])
    all_weight = np.concatenate([t["weight"] for t in every]).astype(np.float64)
    q = far_nan_share(all_truth, horizon, all_weight)
    decision = NetworkDecision(
        policies["median"],
        estimator,
        (levels, caps),
        temperature,
        shift,
        q,
        has_events,
        np.zeros(n_modes, bool),
    )
    logits = pred["ttf_logits"]
    level, by_level = choose_interval_level(logits, decision, time_s, event, weight, horizon)
    decision.interval_level = level
    lower, upper = calibrated_intervals(logits, decision, horizon)
    decision.validation_coverage = interval_coverage(time_s, event, lower, upper, horizon, weight)
    decision.validation_coverage["by_level"] = by_level
    # per mode, the rule (Bayes or threshold) of less S1 on the same held-out windows
    bayes = network_submissions(pred["ttf_logits"], decision, horizon)["bayes"]
    threshold = threshold_submission(estimates, alarm, decision)
    for m in range(n_modes):
        s1_bayes = np.average(phm2018_cell_scores(truth[:, m], bayes[:, m]), weights=weight)
        s1_threshold = np.average(phm2018_cell_scores(truth[:, m], threshold[:, m]), weights=weight)
        decision.bayes_wins[m] = s1_bayes < s1_threshold
    return decision


@dataclass
class Fitted:
    """The model(s) of one seed, the submit rule fitted on their held-out windows, and what
    the report needs about each fit (one per fold when cross-fitted)."""

    models: list[Any]
    decision: NetworkDecision
    header: CheckpointHeader
    fits: list[dict[str, Any]]


def fit_networks(
    args: argparse.Namespace, cfg: Any, tcfg: Any, tools: list[str], seed: int
) -> Fitted:
    """Train on the training `tools`: with `args.folds` 1, one model validated on a split of
    the tools; with K > 1, one model per fold of a K-fold split by tool (cross-fitting), the
    submit rule chosen on the pooled out-of-fold predictions of every training tool."""
    from phm.models.prepare import Phm2018Options, prepare_phm2018, prepare_phm2018_folds
    from phm.models.train import member_seed, predict, train_prepared

    options = Phm2018Options(
        data=args.data, tools=tools, stride=args.stride, near_stride=args.near_stride
    )
    progress = not args.no_progress
    if args.folds == 1:
        splits = iter([prepare_phm2018(options, tcfg, seed)])
    else:
        splits = prepare_phm2018_folds(options, args.folds, seed)
    models, fits, preds, targets, every = [], [], [], [], []
    header = None
    for k, prep in enumerate(splits):
        model, fitted = train_prepared(
            prep, cfg, tcfg, args.device, member_seed(seed, k), progress=progress
        )
        preds.append(predict(model, prep.val, args.device, tcfg.eval_batch_size))
        targets.append(prep.val.targets)
        every.append(prep.val.targets)
        if args.folds == 1:
            every.append(prep.fit.targets)
        models.append(model)
        header = prep.header
        fits.append(
            {
                "best_epoch": fitted.best_epoch,
                "epochs_run": len(fitted.history),
                "val_loss": fitted.best_score,
                "train_windows_per_s": fitted.windows_per_s,
                "train_seconds": fitted.train_seconds,
                "load_cv_per_layer": model.expert_load_cv(),
                "n_fit_windows": len(prep.fit),
                "n_val_windows": len(prep.val),
                "fit_tools": prep.extra["fit_tools"],
                "val_tools": prep.extra["val_units"],
            }
        )
        del prep
    assert header is not None

    def pooled(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    decision = network_decision(pooled(preds), pooled(targets), every)
    return Fitted(models, decision, header, fits)


def run_network(args: argparse.Namespace) -> int:
    """`--model moe|dense`: train on the training tools per seed (cross-fitted over `--folds`
    groups of tools, or validated on one split), predict every scored row causally, score S1
    and the next-fault macro-F1."""
    from phm.models.prepare import PHM2018_CLASSES

    cfg, tcfg = network_configs(args)
    # validation loss bottoms out after one or two epochs on every fleet measured
    # (docs/i16/phm2018.md): stop at the first epoch that does not improve on the best
    tcfg = dataclasses.replace(tcfg, patience=NETWORK_PATIENCE)
    dataset = Phm2018Dataset(args.data)
    config = ProcessFeatureConfig()
    progress = not args.no_progress
    protocol, train_tools, eval_tools = evaluation_tools(dataset, args.holdout, args.seed)
    seeds = list(range(args.seed, args.seed + args.seeds))
    watch = Stopwatch()
    per_seed: list[dict[str, Any]] = []
    nan_result: dict[str, Any] = {}
    fitted = None
    for seed in seeds:
        with watch("fit"):
            fitted = fit_networks(args, cfg, tcfg, train_tools, seed)
        scored: dict[str, list[ScoredTool]] = {k: [] for k in SUBMISSIONS}
        scored_nan, labels, truths, intervals = [], [], [], []
        with watch("predict"):
            for tool in tqdm(eval_tools, desc="score", unit="tool", disable=not progress):
                s, label, truth, interval = network_score_tool(
                    dataset,
                    tool,
                    protocol,
                    fitted.models,
                    fitted.header,
                    config,
                    args.device,
                    tcfg.eval_batch_size,
                    fitted.decision,
                )
                for k in SUBMISSIONS:
                    scored[k].append(s[k])
                labels.append(label)
                truths.append(truth)
                intervals.append(interval)
                gt = s[SUBMISSIONS[0]].truth
                nan = np.full_like(gt, np.nan)
                scored_nan.append(ScoredTool(tool, gt, nan, np.zeros_like(nan), nan))
        result = summarise(scored[SUBMISSIONS[0]])
        for k in SUBMISSIONS[1:]:
            alt = summarise(scored[k])
            result[f"s1_total_{k}"] = alt["s1_total"]
            result |= {f"s1_{m}_{k}": alt[f"s1_{m}"] for m in FAULT_MODES}
        nan_result = summarise(scored_nan)
        label, truth = np.concatenate(labels), np.concatenate(truths)
        known = truth >= 0
        result["fault_macro_f1"] = macro_f1(truth[known], label[known]) if known.any() else None
        result["fault_accuracy"] = (
            float(np.mean(truth[known] == label[known])) if known.any() else None
        )
        result["fault_rows"] = int(known.sum())
        every = {k: np.concatenate([c[k] for c in intervals]) for k in intervals[0]}
        for name, suffix in (("chosen", ""), ("nominal", "90")):
            result[f"interval_{name}"] = interval_coverage(
                every["time"],
                every["event"],
                every[f"ttf_lower{suffix}"],
                every[f"ttf_upper{suffix}"],
                float(DEFAULT_HORIZON_S),
            )
        result["interval_level"] = fitted.decision.interval_level
        result["interval_validation"] = fitted.decision.validation_coverage
        result["coverage_90"] = result["interval_chosen"]["coverage_90"]
        result["coverage_90_nominal"] = result["interval_nominal"]["coverage_90"]
        result["fault_rows_per_class"] = {
            c: int((truth == i).sum()) for i, c in enumerate(PHM2018_CLASSES)
        }
        result |= {
            "seed": seed,
            "folds": args.folds,
            "fits": fitted.fits,
            "decision": fitted.decision.as_dict(),
        }
        per_seed.append(result)
        print(
            f"seed {seed}: S1 {fmt(result['s1_total'])} vs all-NaN {fmt(nan_result['s1_total'])}, "
            f"macro-F1 {fmt(result['fault_macro_f1'])}, TTF interval coverage "
            f"{fmt(result['coverage_90'])} at level {result['interval_level']:g} (held-out "
            f"training windows {fmt(result['interval_validation']['coverage_90'])}; nominal "
            f"90%: {fmt(result['coverage_90_nominal'])})",
            flush=True,
        )
    assert fitted is not None
    model = fitted.models[0]
    keys = [
        "s1_total",
        *(f"s1_{m}" for m in FAULT_MODES),
        "fault_macro_f1",
        "coverage_90",
        "coverage_90_nominal",
        *(f"s1_total_{k}" for k in SUBMISSIONS[1:]),
    ]
    stats = {
        k: spread([r[k] for r in per_seed]) if all(r[k] is not None for r in per_seed) else None
        for k in keys
    }
    mean = {k: None if v is None else v[0] for k, v in stats.items()}
    s1_all_nan = nan_result["s1_total"]
    headline = {
        "model": args.model,
        "protocol": protocol,
        "seeds": seeds,
        **mean,
        **{f"{k}_std": None if v is None else v[1] for k, v in stats.items()},
        **{
            f"{k}_{m}": float(np.mean([r[f"{k}_{m}"] for r in per_seed]))
            if all(r[f"{k}_{m}"] is not None for r in per_seed)
            else None
            for k in ("rmse", "auc_1h")
            for m in FAULT_MODES
        },
        "s1_all_nan": s1_all_nan,
        "s1_ratio_to_all_nan": mean["s1_total"] / s1_all_nan if s1_all_nan else None,
    }
    details = {
        "per_seed": per_seed,
        "train_tools": train_tools,
        "eval_tools": eval_tools,
        "stride": args.stride,
        "near_stride": args.near_stride,
        "window": fitted.header.window,
        "step_rows": fitted.header.step_rows,
        "features": feature_names(config),
        "classes": list(PHM2018_CLASSES),
        "config": dataclasses.asdict(model.config),
        "config_file": str(args.config or NETWORKS[args.model]),
        "train_config": dataclasses.asdict(tcfg),
        "folds": args.folds,
        "patience": NETWORK_PATIENCE,
        "params_total": model.n_params(),
        "params_active_per_token": model.n_params(active=True),
        "seconds": watch.seconds,
        "all_nan": nan_result,
        "note": "S1 is the official score; macro-F1 of the next fault mode within the horizon "
        "(none / pressure_low / pressure_high / leak) on the scored rows whose class is known.",
    }
    table_result = {**per_seed[-1], **{k: v for k, v in mean.items() if v is not None}}
    for k in ("rmse", "auc_1h"):
        for m in FAULT_MODES:
            table_result[f"{k}_{m}"] = headline[f"{k}_{m}"]
    text = table(table_result, args.model, protocol, nan_result)
    text += (
        f"\n\nNext-fault classification macro-F1 ({len(seeds)} seed(s)): "
        f"{fmt(mean['fault_macro_f1'])}\n\nTTF intervals (level chosen on the held-out "
        f"training windows: "
        + ", ".join(f"{r['interval_level']:g}" for r in per_seed)
        + f"): coverage of the scored cells {fmt(mean['coverage_90'])} (nominal 90%: "
        f"{fmt(mean['coverage_90_nominal'])}); held-out windows "
        + ", ".join(fmt(r["interval_validation"]["coverage_90"]) for r in per_seed)
    )
    write_result(args.out, f"phm2018_{args.model}", headline, details, text)
    print(f"S1 {fmt(mean['s1_total'])} vs all-NaN {fmt(s1_all_nan)} ({time.strftime('%H:%M:%S')})")
    return 0
