"""`phm train`: fit the MoE model on a dataset and save a checkpoint.

    phm train --dataset cmapss --data DIR [--subset FD001] --config configs/models/small.toml
              --device cpu|cuda --out CKPT [--seed S] [--epochs N]
    phm train --dataset femto --data DIR [--holdout Bearing1_1] ...   (RUL in hours)

A dataset enters through one function that turns its runs into `WindowSet`s (model inputs per
modality, targets, the asset of each window) and returns them as `Prepared`: fit, validation
and test sets, the data-dependent config fields, and the preprocessing the checkpoint must keep.
Validation is a split of the training assets (never rows, never test data); it drives early
stopping and the conformal calibration of the RUL interval. Test windows are scored only after
the checkpoint is written, for the report.

Training: AdamW, linear warmup then cosine decay, gradient clipping, bf16 autocast on CUDA,
seeds for python, numpy and torch, and a progress bar with the loss and the expert-load
coefficient of variation (CV, 0 = perfectly balanced).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from phm.config import from_mapping, read_toml
from phm.errors import ConfigError
from phm.models.heads import grouped_conformal_factors, hazard_survival, survival_quantile
from phm.models.model import ModelConfig, PhmModel, load_config, save_checkpoint


@dataclass
class TrainConfig:
    """Optimisation and data-window settings, the `[train]` table of a model config TOML."""

    batch_size: int = 256  # windows per optimiser step
    lr: float = 1e-3  # peak learning rate
    min_lr_ratio: float = 0.05  # cosine decays to lr * this
    weight_decay: float = 0.05  # AdamW decay on matrices and embeddings (not norms, biases)
    warmup_steps: int = 100  # linear warmup steps
    epochs: int = 30  # most passes over the fit windows
    patience: int = 6  # stop after this many epochs without a better validation score
    grad_clip: float = 1.0  # max global gradient norm
    val_fraction: float = 0.2  # share of training assets held out for validation
    window: int = 30  # time steps (cycles, rows, snapshots) per window
    include_cycle: bool = True  # C-MAPSS: add the cycle count / RUL cap as a process channel
    snapshot: int = 512  # CWRU: samples per vibration token (a record window is cut into these);
    # FEMTO: samples kept per snapshot (its first `snapshot` of 2560: all bands up to 12.8 kHz)
    snapshots: int = 8  # FEMTO: snapshots per window (the last K up to the prediction time)
    eval_batch_size: int = 1024  # windows per forward when evaluating


def load_train_config(path: str | Path) -> TrainConfig:
    """The `[train]` table of a model config TOML; unknown keys raise ConfigError."""
    return from_mapping(TrainConfig, read_toml(path).get("train", {}), str(path), "[train]")


# --- data --------------------------------------------------------------------------------------


@dataclass
class WindowSet:
    """Model-ready windows: `inputs` per modality (plus `*_mask`), `targets`, `groups` (asset).

    Arrays share their first axis (N windows). Targets: `rul_time`, `rul_event` (censoring-aware
    RUL), `rul_true` (uncapped truth, for metrics), `fault` (class id), `ttf_time`, `ttf_event`.
    """

    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    groups: np.ndarray

    def __len__(self) -> int:
        return len(self.groups)

    def take(self, idx: np.ndarray) -> WindowSet:
        return WindowSet(
            {k: v[idx] for k, v in self.inputs.items()},
            {k: v[idx] for k, v in self.targets.items()},
            self.groups[idx],
        )

    def to(self, device: torch.device) -> TensorWindows:
        return TensorWindows(
            {
                k: torch.from_numpy(np.ascontiguousarray(v)).to(device)
                for k, v in self.inputs.items()
            },
            {
                k: torch.from_numpy(np.ascontiguousarray(v)).to(device)
                for k, v in self.targets.items()
            },
        )


@dataclass
class TensorWindows:
    """A WindowSet's arrays as tensors on one device; `batch(idx)` slices both dicts."""

    inputs: dict[str, Tensor]
    targets: dict[str, Tensor]

    def batch(self, idx: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        return (
            {k: v[idx] for k, v in self.inputs.items()},
            {k: v[idx] for k, v in self.targets.items()},
        )


@dataclass
class Prepared:
    """What a dataset function hands to training."""

    fit: WindowSet
    val: WindowSet
    test: WindowSet | None
    config_updates: dict[str, Any]  # data-dependent ModelConfig fields
    extra: dict[str, Any] = field(default_factory=dict)  # preprocessing kept in the checkpoint


def sliding_windows(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Causal windows ending at every row of one run, front-padded with zeros.

    values (n, C) -> windows (n, window, C) float32 and mask (n, window) True on real rows;
    window i holds rows max(0, i - window + 1) .. i, the last row always at position window-1.
    """
    n, c = values.shape
    padded = np.concatenate([np.zeros((window - 1, c), values.dtype), values]).astype(np.float32)
    real = np.concatenate([np.zeros(window - 1, bool), np.ones(n, bool)])
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # (n, C, window)
    mask = np.lib.stride_tricks.sliding_window_view(real, window)  # (n, window)
    return np.ascontiguousarray(view.transpose(0, 2, 1)), mask.copy()


def cmapss_windows(
    runs: list,
    sensors: list[str],
    window: int,
    cap: float,
    include_cycle: bool,
    last_only: bool = False,
) -> WindowSet:
    """C-MAPSS runs (already condition-scaled) -> windows of the last `window` cycles.

    process: the sensors (plus cycle / cap when include_cycle); context: the operating
    condition. RUL targets: time min(rul, cap), event rul < cap (longer lives are censored at
    the cap: the data cannot tell them apart), rul_true the uncapped RUL.
    """
    xs, ms, conds, ruls, groups = [], [], [], [], []
    for run in runs:
        vals = run.signals.select(sensors).to_numpy().astype(np.float32)
        if include_cycle:
            cycle = run.signals["time"].to_numpy().astype(np.float32)[:, None] / cap
            vals = np.concatenate([vals, cycle], axis=1)
        x, m = sliding_windows(vals, window)
        rul = run.labels["rul"].to_numpy().astype(np.float32)
        cond = run.signals["condition"].to_numpy().astype(np.int64)
        if last_only:
            x, m, rul, cond = x[-1:], m[-1:], rul[-1:], cond[-1:]
        xs.append(x)
        ms.append(m)
        conds.append(cond)
        ruls.append(rul)
        groups.append(np.full(len(rul), run.asset_id))
    rul = np.concatenate(ruls)
    return WindowSet(
        inputs={
            "process": np.concatenate(xs),
            "process_mask": np.concatenate(ms),
            "context": np.concatenate(conds)[:, None],
        },
        targets={
            "rul_time": np.minimum(rul, cap).astype(np.float32),
            "rul_event": rul < cap,
            "rul_true": rul,
        },
        groups=np.concatenate(groups),
    )


def prepare_cmapss(args: argparse.Namespace, tcfg: TrainConfig, seed: int) -> Prepared:
    """C-MAPSS subset: per-condition z-scored sensors (statistics from the fit units only)."""
    from phm.datasets.cmapss import SENSORS, ConditionScaler, constant_sensors, load_cmapss
    from phm.evaluation.protocols import CMAPSS_RUL_CAP, split_units

    data = load_cmapss(args.data, args.subset)
    units = np.array([r.asset_id for r in data.train])
    fit_mask, _ = split_units(units, tcfg.val_fraction, seed)
    fit_runs = [r for r, keep in zip(data.train, fit_mask, strict=True) if keep]
    val_runs = [r for r, keep in zip(data.train, fit_mask, strict=True) if not keep]
    dropped = constant_sensors(fit_runs)
    sensors = [s for s in SENSORS if s not in dropped]
    scaler = ConditionScaler(sensors).fit(fit_runs)
    cap = float(CMAPSS_RUL_CAP)

    def windows(runs: list, last_only: bool = False) -> WindowSet:
        return cmapss_windows(
            scaler.transform(runs), sensors, tcfg.window, cap, tcfg.include_cycle, last_only
        )

    n_channels = len(sensors) + int(tcfg.include_cycle)
    return Prepared(
        fit=windows(fit_runs),
        val=windows(val_runs),
        test=windows(data.test, last_only=True),
        config_updates={
            "process_channels": n_channels,
            "context_cardinalities": (data.n_conditions,),
            "max_positions": max(tcfg.window, 1),
            "rul_horizon": cap,
        },
        extra={
            "dataset": "cmapss",
            "subset": args.subset,
            "sensors": sensors,
            "scaler_mean": torch.tensor(scaler.mean_),
            "scaler_scale": torch.tensor(scaler.scale_),
            "condition_centres": torch.tensor(data.conditions.centres),
            "window": tcfg.window,
            "include_cycle": tcfg.include_cycle,
            "rul_cap": cap,
            "val_units": sorted(set(units[~fit_mask].tolist())),
        },
    )


def cwru_windows(
    runs: list, indices: list[np.ndarray], classes: list[str], snapshot: int
) -> WindowSet:
    """CWRU record windows -> `vibration` (N, S, C, snapshot): each window cut into S tokens.

    indices: which of each run's windows to take. Target `fault`: the class id in `classes`.
    """
    xs, ys, groups = [], [], []
    for run, idx in zip(runs, indices, strict=True):
        data = run.waveforms.data[idx]  # (n, C, L)
        n, c, length = data.shape
        s = length // snapshot
        if s < 1:
            raise ConfigError(
                f"[train] snapshot = {snapshot} is longer than a {length}-sample window"
            )
        x = data[:, :, : s * snapshot].reshape(n, c, s, snapshot).transpose(0, 2, 1, 3)
        xs.append(np.ascontiguousarray(x, dtype=np.float32))
        ys.append(np.full(n, classes.index(run.fault_class), dtype=np.int64))
        groups.append(np.full(n, run.asset_id))
    return WindowSet(
        {"vibration": np.concatenate(xs)}, {"fault": np.concatenate(ys)}, np.concatenate(groups)
    )


def prepare_cwru(args: argparse.Namespace, tcfg: TrainConfig, seed: int) -> Prepared:
    """CWRU, by time split (default) or cross-load.

    Time split: each record's first 60% trains, the rest tests; validation is the last
    `val_fraction` of each record's training part (by time, so no window overlaps).
    Cross-load (`args.train_load` and `args.test_load` set): the load-L records train (the
    last `val_fraction` of each by time validates), every window of the load-M records tests,
    over the fault classes recorded at both loads. `args.classes` (optional) keeps only
    these fault classes.
    """
    from phm.datasets.cwru import TEN_CLASSES, load_cwru
    from phm.evaluation.protocols import cwru_cross_load, cwru_time_split

    train_load, test_load = getattr(args, "train_load", None), getattr(args, "test_load", None)
    cross = train_load is not None or test_load is not None
    if cross and (train_load is None or test_load is None):
        raise ConfigError("cross-load needs both --train-load and --test-load")
    runs = load_cwru(args.data, classes=getattr(args, "classes", None))
    if not runs:
        raise ConfigError(f"no CWRU record of the requested classes under {args.data}")
    dropped: tuple[str, ...] = ()
    if cross:
        try:
            split = cwru_cross_load(runs, train_load, test_load)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        train_runs, test_runs, dropped = list(split.train), list(split.test), split.dropped
        present = set(split.classes)
    else:
        train_runs, test_runs = runs, runs
        present = {r.fault_class for r in runs}
    classes = [c for c in TEN_CLASSES if c in present] + sorted(present - set(TEN_CLASSES))
    fit_idx, val_idx, test_idx = [], [], []
    for run in train_runs:
        train = np.arange(len(run.waveforms.data)) if cross else cwru_time_split(run).train
        n_val = max(1, round(tcfg.val_fraction * len(train)))
        fit_idx.append(train[:-n_val])
        val_idx.append(train[-n_val:])
    for run in test_runs:
        test_idx.append(np.arange(len(run.waveforms.data)) if cross else cwru_time_split(run).test)
    window = int(runs[0].waveforms.data.shape[-1])

    def windows(which: list, indices: list[np.ndarray]) -> WindowSet:
        return cwru_windows(which, indices, classes, tcfg.snapshot)

    if cross:
        protocol = (
            f"cross-load {train_load} -> {test_load} hp: load-{train_load} records train (the "
            f"last {tcfg.val_fraction:g} of each validates), every load-{test_load} window tests"
        )
    else:
        protocol = "time split: first 60% of each record trains (last 20% of it validates)"
    return Prepared(
        fit=windows(train_runs, fit_idx),
        val=windows(train_runs, val_idx),
        test=windows(test_runs, test_idx),
        config_updates={
            "vibration_channels": 1,
            "process_channels": 0,
            "max_positions": window // tcfg.snapshot,
            "n_classes": len(classes),
            "rul_head": "none",
        },
        extra={
            "dataset": "cwru",
            "classes": classes,
            "window": window,
            "snapshot": tcfg.snapshot,
            "protocol": protocol,
            "dropped_classes": list(dropped),
            "train_files": [r.meta["file_number"] for r in train_runs],
            "test_files": [r.meta["file_number"] for r in test_runs],
        },
    )


# FEMTO RUL unit and grid: hours, on a fixed 8 h horizon (the longest learning life is 7.8 h).
FEMTO_RUL_UNIT_S = 3600.0
FEMTO_RUL_HORIZON = 8.0
FEMTO_BASELINE_SNAPSHOTS = 30  # healthy baseline of the log RMS: the record's first 30 snapshots
FEMTO_PROCESS = ("elapsed", "log_rms_h", "log_rms_v", "temperature", "temperature_present")


def femto_process(run: Any) -> np.ndarray:
    """(S, 5) causal per-snapshot process channels of a FEMTO run (see FEMTO_PROCESS).

    elapsed: time since the first snapshot / horizon (h); log_rms_*: log10 RMS of each
    channel minus its median over the snapshots so far, the first 30 at most (the healthy
    baseline); temperature: the latest RTD reading at or before the snapshot, minus the
    record's first reading, / 50 degC (0 where the bearing has none, flagged by the last
    channel).
    """
    w = run.waveforms
    times = np.asarray(w.times, dtype=np.float64)
    log_rms = np.log10(np.sqrt(np.mean(np.square(w.data, dtype=np.float64), axis=-1)) + 1e-9)
    base = np.empty_like(log_rms)
    for i in range(min(FEMTO_BASELINE_SNAPSHOTS, len(base))):
        base[i] = np.median(log_rms[: i + 1], axis=0)
    base[FEMTO_BASELINE_SNAPSHOTS:] = base[min(FEMTO_BASELINE_SNAPSHOTS, len(base)) - 1]
    temp = np.zeros(len(times))
    present = 0.0
    if run.signals is not None and run.signals.height > 0:
        t = run.signals["time"].to_numpy()
        v = run.signals["temperature_c"].to_numpy()
        j = np.searchsorted(t, times, side="right") - 1  # latest reading at or before
        temp = np.where(j >= 0, (v[np.clip(j, 0, None)] - v[0]) / 50.0, 0.0)
        present = 1.0
    elapsed = times / FEMTO_RUL_UNIT_S / FEMTO_RUL_HORIZON
    return np.column_stack([elapsed, log_rms - base, temp, np.full(len(times), present)]).astype(
        np.float32
    )


def femto_windows(runs: list, snapshots: int, samples: int) -> WindowSet:
    """FEMTO run-to-failure runs -> one window per snapshot i: snapshots i-K+1 .. i.

    vibration (N, K, 2, samples): the first `samples` of each snapshot; process (N, K, 5)
    (`femto_process`); both front-padded with masks; context: the operating condition - 1.
    RUL targets in hours (`rul_s` / 3600): time min(rul, horizon), event rul < horizon (every
    learning bearing failed: no censoring inside the horizon), rul_true the uncapped RUL.
    """
    vib, vms, proc, conds, ruls, groups = [], [], [], [], [], []
    for run in runs:
        data = np.ascontiguousarray(run.waveforms.data[:, :, :samples], dtype=np.float32)
        s = data.shape[0]
        idx = np.arange(s)[:, None] + np.arange(-snapshots + 1, 1)[None, :]  # (S, K)
        real = idx >= 0
        v = data[np.clip(idx, 0, None)]  # (S, K, C, L)
        v[~real] = 0.0
        x, _ = sliding_windows(femto_process(run), snapshots)
        vib.append(v)
        vms.append(real)
        proc.append(x)
        conds.append(np.full(s, int(run.meta["condition"]) - 1, dtype=np.int64))
        ruls.append(run.labels["rul_s"].to_numpy().astype(np.float32) / FEMTO_RUL_UNIT_S)
        groups.append(np.full(s, run.asset_id))
    rul = np.concatenate(ruls)
    mask = np.concatenate(vms)
    return WindowSet(
        inputs={
            "vibration": np.concatenate(vib),
            "vibration_mask": mask,
            "process": np.concatenate(proc),
            "process_mask": mask.copy(),
            "context": np.concatenate(conds)[:, None],
        },
        targets={
            "rul_time": np.minimum(rul, FEMTO_RUL_HORIZON).astype(np.float32),
            "rul_event": rul < FEMTO_RUL_HORIZON,
            "rul_true": rul,
        },
        groups=np.concatenate(groups),
    )


def prepare_femto(args: argparse.Namespace, tcfg: TrainConfig, seed: int) -> Prepared:
    """PRONOSTIA learning set, optionally leaving one bearing out (`args.holdout`).

    The training bearings (all learning bearings but the held-out one) are split by bearing:
    `val_fraction` of them (at least one) validate, the rest fit; the held-out bearing never
    enters fit or validation and, when given, all its windows form the test set (the bench
    picks the truncation points). `args.runs` (optional) are preloaded runs. RUL in hours on
    a fixed 8 h horizon (FEMTO_RUL_UNIT_S, FEMTO_RUL_HORIZON); no censoring: every learning
    bearing ran to failure.
    """
    from phm.datasets.femto import CONDITIONS, load_femto
    from phm.evaluation.protocols import split_units

    runs = getattr(args, "runs", None) or load_femto(args.data, sets=("Learning_set",))
    learning = [r for r in runs if r.meta.get("set") == "Learning_set"]
    holdout = getattr(args, "holdout", None)
    names = [r.asset_id for r in learning]
    if holdout is not None and holdout not in names:
        raise ConfigError(f"--holdout {holdout}: not a learning bearing ({', '.join(names)})")
    train_runs = [r for r in learning if r.asset_id != holdout]
    if len(train_runs) < 2:
        raise ConfigError("FEMTO training needs at least 2 training bearings")
    units = np.array([r.asset_id for r in train_runs])
    fit_mask, _ = split_units(units, tcfg.val_fraction, seed)
    fit_runs = [r for r, keep in zip(train_runs, fit_mask, strict=True) if keep]
    val_runs = [r for r, keep in zip(train_runs, fit_mask, strict=True) if not keep]
    test_runs = [r for r in learning if r.asset_id == holdout]
    length = int(learning[0].waveforms.data.shape[-1])
    samples = min(tcfg.snapshot, length)

    def windows(which: list) -> WindowSet:
        return femto_windows(which, tcfg.snapshots, samples)

    return Prepared(
        fit=windows(fit_runs),
        val=windows(val_runs),
        test=windows(test_runs) if test_runs else None,
        config_updates={
            "vibration_channels": int(learning[0].waveforms.data.shape[1]),
            "process_channels": len(FEMTO_PROCESS),
            "context_cardinalities": (len(CONDITIONS),),
            "max_positions": max(tcfg.snapshots, 1),
            "rul_horizon": FEMTO_RUL_HORIZON,
            "n_classes": 0,
        },
        extra={
            "dataset": "femto",
            "holdout": holdout,
            "snapshots": tcfg.snapshots,
            "samples": samples,
            "process_channels": list(FEMTO_PROCESS),
            "rul_unit_s": FEMTO_RUL_UNIT_S,
            "rul_horizon": FEMTO_RUL_HORIZON,
            "fit_bearings": [r.asset_id for r in fit_runs],
            "val_units": [r.asset_id for r in val_runs],
        },
    )


# PHM 2018: windows of the causal window features (phm.features.process), one step a minute.
PHM2018_WINDOW = 16  # steps per window
PHM2018_STEP_ROWS = 15  # rows between steps (4 s rows: one a minute)
PHM2018_CLASSES = ("none", "pressure_low", "pressure_high", "leak")  # next fault in the horizon


def phm2018_windows(
    feats: np.ndarray,
    rows: np.ndarray,
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    window: int = PHM2018_WINDOW,
    step: int = PHM2018_STEP_ROWS,
) -> dict[str, np.ndarray]:
    """Model inputs of the windows ending at `rows` of one tool's feature matrix (n, F).

    process (len(rows), window, F): the features of rows r - (window-1-k) * step, k = 0 ..
    window-1, z-scored with `mean`, `scale` and NaN -> 0 (without them: raw, NaN kept; finish
    with `phm2018_normalise`); steps before the record's first row are masked out.
    """
    idx = rows[:, None] + step * np.arange(-window + 1, 1)[None, :]
    real = idx >= 0
    x = feats[np.clip(idx, 0, None)]
    x[~real] = np.nan
    out = {"process": x, "process_mask": real}
    if mean is not None and scale is not None:
        phm2018_normalise(out, mean, scale)
    return out


def phm2018_normalise(inputs: dict[str, np.ndarray], mean: np.ndarray, scale: np.ndarray) -> None:
    """In place: process = (process - mean) / scale, NaN and padding -> 0."""
    x = inputs["process"]
    x -= mean
    x /= scale
    np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def phm2018_targets(
    ttf: np.ndarray, remaining_s: np.ndarray, horizon_s: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Targets of rows with TTF per mode `ttf` (N, M) (NaN: no further fault in the record).

    ttf_time / ttf_event (N, M): the fault time, or censored at the end of the record where no
    fault of the mode follows; `fault`: 0 (none) or 1 + the mode that fails first within the
    horizon. Returns the targets and the rows whose class is known (a fault within the horizon,
    or the record runs on for at least the horizon: `phm.models.baselines._usable`); the
    others (the last hour of a record without a fault ahead) are left out of training.
    """
    event = ~np.isnan(ttf)
    time_s = np.where(event, ttf, remaining_s[:, None])
    first = np.nan_to_num(ttf, nan=np.inf)
    soon = first.min(axis=1) <= horizon_s
    fault = np.where(soon, 1 + first.argmin(axis=1), 0).astype(np.int64)
    known = soon | (remaining_s >= horizon_s)
    targets = {
        "ttf_time": time_s.astype(np.float32),
        "ttf_event": event,
        "fault": fault,
    }
    return targets, known


def phm2018_tool(
    dataset: Any, tool: str, config: Any, stride: int, near_stride: int, horizon_s: float
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """One training tool: (feature matrix (n, F), sampled rows, targets, known) of the rows."""
    from phm.evaluation.bench_phm2018 import TTF_COLUMNS, sample_rows
    from phm.features.process import feature_names, process_features

    run = dataset.load_train(tool, columns=config.input_columns()[1:])
    feats = process_features(run.signals, config)
    matrix = feats.select(feature_names(config)).to_numpy().astype(np.float32)
    ttf = run.labels.select(TTF_COLUMNS).to_numpy().astype(np.float64)
    rows = sample_rows(ttf, stride, near_stride, horizon_s)
    t = feats["time"].to_numpy().astype(np.float64)
    targets, known = phm2018_targets(ttf[rows], t[-1] - t[rows], horizon_s)
    return matrix, rows, targets, known


def prepare_phm2018(args: argparse.Namespace, tcfg: TrainConfig, seed: int) -> Prepared:
    """PHM 2018 training tools (`args.tools`, default all), split by tool into fit and
    validation (`val_fraction` of them, at least one); no test set (the bench scores).

    Rows sampled as the baselines do (`args.stride`, `args.near_stride`: every Nth row, denser
    within the horizon before a fault); windows of the z-scored causal window features
    (`phm2018_windows`, statistics from the fit tools); targets `phm2018_targets`: TTF per
    fault mode (censoring-aware hazard) and the next fault mode within the horizon (class).
    """
    from phm.datasets.phm2018 import Phm2018Dataset
    from phm.evaluation.protocols import split_units
    from phm.features.process import ProcessFeatureConfig, feature_names
    from phm.models.baselines import DEFAULT_HORIZON_S

    dataset = Phm2018Dataset(args.data)
    tools = list(getattr(args, "tools", None) or dataset.train_tools())
    if len(tools) < 2:
        raise ConfigError("PHM 2018 training needs at least 2 training tools")
    stride = int(getattr(args, "stride", 30))
    near_stride = int(getattr(args, "near_stride", 4))
    horizon = float(DEFAULT_HORIZON_S)
    config = ProcessFeatureConfig()
    fit_mask, _ = split_units(np.array(tools), tcfg.val_fraction, seed)
    loaded = {}
    for tool in tools:
        matrix, rows, target, known = phm2018_tool(
            dataset, tool, config, stride, near_stride, horizon
        )
        inputs = phm2018_windows(matrix, rows[known])
        loaded[tool] = (inputs, {k: v[known] for k, v in target.items()})
        del matrix
    fit_tools = [t for t, keep in zip(tools, fit_mask, strict=True) if keep]
    val_tools = [t for t, keep in zip(tools, fit_mask, strict=True) if not keep]
    last = np.concatenate([loaded[t][0]["process"][:, -1] for t in fit_tools])
    with warnings.catch_warnings():  # an all-NaN feature column gets mean 0, scale 1
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nan_to_num(np.nanmean(last, axis=0)).astype(np.float32)
        scale = np.nanstd(last, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-9), scale, 1.0).astype(np.float32)
    for inputs, _ in loaded.values():
        phm2018_normalise(inputs, mean, scale)

    def windows(which: list[str]) -> WindowSet:
        return WindowSet(
            {k: np.concatenate([loaded[t][0][k] for t in which]) for k in loaded[which[0]][0]},
            {k: np.concatenate([loaded[t][1][k] for t in which]) for k in loaded[which[0]][1]},
            np.concatenate([np.full(len(loaded[t][1]["fault"]), t) for t in which]),
        )

    names = feature_names(config)
    return Prepared(
        fit=windows(fit_tools),
        val=windows(val_tools),
        test=None,
        config_updates={
            "process_channels": len(names),
            "context_cardinalities": (),
            "max_positions": PHM2018_WINDOW,
            "n_classes": len(PHM2018_CLASSES),
            "n_fault_modes": len(PHM2018_CLASSES) - 1,
            "ttf_horizon": horizon,
            "rul_head": "none",
        },
        extra={
            "dataset": "phm2018",
            "features": names,
            "feature_mean": torch.tensor(mean),
            "feature_scale": torch.tensor(scale),
            "window": PHM2018_WINDOW,
            "step_rows": PHM2018_STEP_ROWS,
            "classes": list(PHM2018_CLASSES),
            "stride": stride,
            "near_stride": near_stride,
            "fit_tools": fit_tools,
            "val_units": val_tools,
        },
    )


DATASETS: dict[str, Callable[[argparse.Namespace, TrainConfig, int], Prepared]] = {
    "cmapss": prepare_cmapss,
    "cwru": prepare_cwru,
    "femto": prepare_femto,
    "phm2018": prepare_phm2018,
}


# --- training ----------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - third-party code may use the global generator
    torch.manual_seed(seed)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1 over `warmup` steps, then cosine decay to `min_ratio` at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: PhmModel, tcfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on tensors of 2+ dims only (not norms, biases, the gate bias)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": tcfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=tcfg.lr, betas=(0.9, 0.95))


@dataclass
class FitResult:
    """History per epoch, the best epoch (restored into the model) and training throughput."""

    history: list[dict[str, float]]
    best_epoch: int
    best_score: float
    windows_per_s: float
    train_seconds: float


def fit(
    model: PhmModel,
    train: WindowSet,
    val: WindowSet | None,
    tcfg: TrainConfig,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = True,
) -> FitResult:
    """Train `model` in place on `train`; early-stop on `val` (lower score is better).

    The score is the validation RMSE of the point RUL against min(rul_true, horizon) when
    the model has a RUL head, else the validation loss. The best epoch's weights are restored.
    Without `val`, all `tcfg.epochs` run and the last weights stay.
    """
    seed_everything(seed)
    device = torch.device(device)
    model.to(device)
    data = train.to(device)
    n = len(train)
    steps_per_epoch = max(1, math.ceil(n / tcfg.batch_size))
    total = tcfg.epochs * steps_per_epoch
    opt = make_optimizer(model, tcfg)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, tcfg.warmup_steps, total, tcfg.min_lr_ratio)
    )
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    history: list[dict[str, float]] = []
    best, best_epoch, best_state, stale = math.inf, -1, None, 0
    train_time, seen = 0.0, 0
    bar = tqdm(
        total=total,
        desc=f"train {model.config.name}",
        unit="step",
        disable=not progress,
        mininterval=1.0,
    )
    for epoch in range(tcfg.epochs):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen).to(device)
        losses = []
        for i in range(steps_per_epoch):
            idx = order[i * tcfg.batch_size : (i + 1) * tcfg.batch_size]
            inputs, targets = data.batch(idx)
            with autocast:
                out = model(inputs)
            loss, _ = model.loss(out, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            opt.step()
            sched.step()
            model.update_expert_bias()
            losses.append(float(loss.detach()))
            seen += len(idx)
            cv = model.expert_load_cv()
            bar.set_postfix(
                epoch=epoch, loss=f"{losses[-1]:.3f}", cv=f"{np.mean(cv or [0]):.2f}", refresh=False
            )
            bar.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_time += time.perf_counter() - t0
        record = {"epoch": epoch, "loss": float(np.mean(losses)), "lr": sched.get_last_lr()[0]}
        record["load_cv"] = float(np.mean(model.expert_load_cv() or [0.0]))
        if val is not None and len(val) > 0:
            record |= evaluate(model, val, tcfg, device)
            score = record.get("val_rmse", record["val_loss"])
            if score < best:
                best, best_epoch, stale = score, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
            bar.set_postfix(epoch=epoch, loss=f"{record['loss']:.3f}", val=f"{score:.3f}")
        history.append(record)
        if val is not None and stale >= tcfg.patience:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history) - 1
    return FitResult(history, best_epoch, best, seen / max(train_time, 1e-9), train_time)


@torch.no_grad()
def predict(
    model: PhmModel, windows: WindowSet, device: str | torch.device = "cpu", batch_size: int = 1024
) -> dict[str, np.ndarray]:
    """Head outputs for every window: RUL summary (point, median, mean, lower, upper),
    `fault_prob` (N, n_classes), `ttf` (N, M) with NaN for no fault ahead, `ttf_no_fault`
    (N, M) the chance of no fault within the horizon, `ttf_median` (N, M) the median TTF."""
    model.eval()
    device = torch.device(device)
    data = windows.to(device)
    n = len(windows)
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size), device=device)
        inputs, _ = data.batch(idx)
        out = model(inputs)
        parts: dict[str, Tensor] = {}
        if model.rul is not None:
            parts |= model.rul.summary(out["rul"])
        if model.fault is not None:
            parts["fault_prob"] = out["fault"].float().softmax(-1)
        if model.ttf is not None:
            parts["ttf"] = model.ttf.predict(out["ttf"])
            parts["ttf_no_fault"] = model.ttf.no_fault_prob(out["ttf"])
            parts["ttf_median"] = survival_quantile(
                hazard_survival(out["ttf"]), model.ttf.grid, 0.5
            )
        for k, v in parts.items():
            chunks.setdefault(k, []).append(v.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in chunks.items()}


@torch.no_grad()
def evaluate(
    model: PhmModel, windows: WindowSet, tcfg: TrainConfig, device: str | torch.device
) -> dict[str, float]:
    """Validation loss, and RMSE of the point RUL against the capped truth (RUL head)."""
    model.eval()
    data = windows.to(device)
    n, losses = len(windows), []
    for start in range(0, n, tcfg.eval_batch_size):
        idx = torch.arange(start, min(n, start + tcfg.eval_batch_size), device=device)
        inputs, targets = data.batch(idx)
        loss, _ = model.loss(model(inputs), targets)
        losses.append(float(loss) * len(idx))
    result = {"val_loss": sum(losses) / n}
    if model.rul is not None and "rul_true" in windows.targets:
        pred = predict(model, windows, device, tcfg.eval_batch_size)
        truth = np.minimum(windows.targets["rul_true"], model.config.rul_horizon)
        result["val_rmse"] = float(np.sqrt(np.mean((pred["point"] - truth) ** 2)))
    if model.fault is not None and "fault" in windows.targets:
        pred = predict(model, windows, device, tcfg.eval_batch_size)
        result["val_accuracy"] = float(
            np.mean(pred["fault_prob"].argmax(1) == windows.targets["fault"])
        )
    return result


def calibrate_interval(
    model: PhmModel, val: WindowSet, device: str | torch.device = "cpu"
) -> list[float]:
    """Group-conditional split-conformal calibration of the RUL interval on `val`.

    Truth: `rul_true`. Sets the model's `conformal_factor` and `conformal_edges` (stored in
    the checkpoint) and returns the factors.
    """
    if model.rul is None:
        raise ValueError("the model has no RUL head to calibrate")
    model.rul.conformal_factor.zero_()
    pred = predict(model, val, device)
    factors, edges = grouped_conformal_factors(
        pred["lower"],
        pred["median"],
        pred["upper"],
        val.targets["rul_true"],
        model.config.interval_level,
        model.rul.min_width,
        model.config.conformal_groups,
    )
    model.rul.conformal_factor.copy_(torch.as_tensor(factors))
    model.rul.conformal_edges.copy_(torch.as_tensor(edges))
    return [float(f) for f in factors]


def fault_report(pred: dict[str, np.ndarray], truth: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of the most probable class."""
    from phm.evaluation.metrics import accuracy, macro_f1

    label = pred["fault_prob"].argmax(1)
    return {"accuracy": accuracy(truth, label), "macro_f1": macro_f1(truth, label), "n": len(truth)}


def rul_report(pred: dict[str, np.ndarray], truth: np.ndarray, cap: float) -> dict[str, float]:
    """RMSE and NASA score of the point RUL clipped to [0, cap], and interval coverage."""
    from phm.evaluation.metrics import nasa_score, rmse

    point = np.clip(pred["point"], 0.0, cap)
    covered = (truth >= pred["lower"]) & (truth <= pred["upper"])
    finite = np.isfinite(pred["upper"])
    width = np.where(finite, pred["upper"] - pred["lower"], np.nan)
    return {
        "rmse": rmse(truth, point),
        "nasa_score": nasa_score(truth, point),
        "coverage": float(covered.mean()),
        "interval_width_median": float(np.nanmedian(width)) if finite.any() else math.inf,
        "open_ended_share": float(1.0 - finite.mean()),
        "n": len(truth),
    }


def train_prepared(
    prep: Prepared,
    config: ModelConfig,
    tcfg: TrainConfig,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = True,
) -> tuple[PhmModel, FitResult]:
    """Build the model of `config` with the data's fields, train it with early stopping on
    `prep.val`, and calibrate its RUL interval there when it has a RUL head."""
    config = dataclasses.replace(config, **prep.config_updates)
    seed_everything(seed)
    model = PhmModel(config)
    result = fit(model, prep.fit, prep.val, tcfg, device, seed, progress)
    if model.rul is not None:
        calibrate_interval(model, prep.val, device)
    return model, result


# --- command -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm train`."""
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="cmapss")
    parser.add_argument(
        "--data", type=Path, default=None, help="dataset folder or its parent ($PHM_DATA_DIR)"
    )
    parser.add_argument("--subset", default="FD001", help="C-MAPSS subset")
    parser.add_argument(
        "--train-load", type=int, default=None, help="CWRU cross-load: train on this load (hp)"
    )
    parser.add_argument(
        "--test-load", type=int, default=None, help="CWRU cross-load: test on this load (hp)"
    )
    parser.add_argument(
        "--holdout", default=None, help="FEMTO: leave this learning bearing out (it tests)"
    )
    parser.add_argument(
        "--config", type=Path, default=Path("configs/models/small.toml"), help="model TOML"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint path to write")
    parser.add_argument("--seed", type=int, default=0, help="model, data order and split seed")
    parser.add_argument("--epochs", type=int, default=None, help="override [train] epochs")
    parser.add_argument("--metrics-out", type=Path, default=None, help="write metrics JSON here")
    parser.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)"
    )
    parser.add_argument(
        "--no-test", action="store_true", help="skip scoring the test windows after saving"
    )


def run(args: argparse.Namespace) -> int:
    """Prepare data, train with early stopping, calibrate, save; then score the test windows."""
    import json

    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available")
    if args.dataset != "cwru" and (args.train_load is not None or args.test_load is not None):
        raise ConfigError(f"--train-load/--test-load apply to --dataset cwru, not {args.dataset}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    tcfg = load_train_config(args.config)
    if args.epochs is not None:
        tcfg = dataclasses.replace(tcfg, epochs=args.epochs)
    t_start = time.perf_counter()
    prep = DATASETS[args.dataset](args, tcfg, args.seed)
    cfg = dataclasses.replace(cfg, **prep.config_updates)
    seed_everything(args.seed)
    model = PhmModel(cfg)
    print(
        f"{cfg.name}: {model.n_params():,} parameters, {model.n_params(active=True):,} active "
        f"per token; {len(prep.fit)} fit / {len(prep.val)} validation windows"
    )
    result = fit(model, prep.fit, prep.val, tcfg, args.device, args.seed)
    metrics: dict[str, Any] = {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "train_windows_per_s": result.windows_per_s,
        "train_seconds": result.train_seconds,
    }
    if model.rul is not None:
        metrics["conformal_factors"] = calibrate_interval(model, prep.val, args.device)
        val_pred = predict(model, prep.val, args.device)
        metrics["val"] = rul_report(val_pred, prep.val.targets["rul_true"], cfg.rul_horizon)
        capped = np.minimum(prep.val.targets["rul_true"], cfg.rul_horizon)
        for name in ("point", "median", "mean"):
            err = np.clip(val_pred[name], 0, cfg.rul_horizon) - capped
            metrics["val"][f"rmse_capped_{name}"] = float(np.sqrt(np.mean(err**2)))
    if model.fault is not None:
        metrics["val"] = fault_report(
            predict(model, prep.val, args.device), prep.val.targets["fault"]
        )
    metrics["load_cv_per_layer"] = model.expert_load_cv()
    extra = prep.extra | {
        "train_config": dataclasses.asdict(tcfg),
        "seed": args.seed,
        "metrics": json.loads(json.dumps(metrics)),
        "history": result.history,
    }
    save_checkpoint(args.out, model, extra)
    metrics["wall_seconds"] = time.perf_counter() - t_start
    print(f"wrote {args.out}")
    if prep.test is not None and not args.no_test:
        test_pred = predict(model, prep.test, args.device)
        if model.rul is not None:
            metrics["test"] = rul_report(test_pred, prep.test.targets["rul_true"], cfg.rul_horizon)
        if model.fault is not None:
            metrics["test"] = fault_report(test_pred, prep.test.targets["fault"])
    text = json.dumps(metrics, indent=2, default=float)
    print(text)
    if args.metrics_out is not None:
        args.metrics_out.parent.mkdir(parents=True, exist_ok=True)
        args.metrics_out.write_text(text + "\n")
    return 0
