"""Dataset -> `Prepared`: one function per dataset turns its runs into window sets.

Each returns fit, validation and test `WindowSet`s, the data-dependent ModelConfig fields and
the preprocessing the checkpoint must keep. Validation is a split of the training assets (never
rows, never test data); it drives early stopping and the conformal calibration of the RUL
interval. `DATASETS` maps `phm train --dataset` names to these functions; each takes its
dataset's options dataclass (`CmapssOptions`, ... `PlantOptions`, `LakeOptions`; `OPTIONS` maps
the names to them).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from phm.datasets.splits import PHM2018_NEAR_STRIDE, PHM2018_STRIDE
from phm.errors import ConfigError
from phm.models.augment import VibrationAugment
from phm.models.checkpoint import CheckpointHeader
from phm.models.data import (
    Prepared,
    TrainConfig,
    WindowSet,
    capped_rul_targets,
    sliding_windows,
)
from phm.models.prepare_lake import LakeOptions, prepare_lake
from phm.models.prepare_plant import PlantOptions, prepare_plant
from phm.models.windows import (
    PHM2018_CLASSES,
    PHM2018_STEP_ROWS,
    PHM2018_WINDOW,
    cmapss_windows,
    condition_parts,
    phm2018_normalise,
    phm2018_windows,
)


@dataclass(frozen=True)
class CmapssOptions:
    """C-MAPSS: the data folder (or its parent; None reads $PHM_DATA_DIR) and the subset."""

    dataset: ClassVar[str] = "cmapss"
    data: Path | None = None
    subset: str = "FD001"


@dataclass(frozen=True)
class CwruOptions:
    """CWRU: time split, or cross-load when `train_load` and `test_load` (hp) are both set;
    `classes` (optional) keeps only these fault classes."""

    dataset: ClassVar[str] = "cwru"
    data: Path | None = None
    train_load: int | None = None
    test_load: int | None = None
    classes: Sequence[str] | None = None


@dataclass(frozen=True)
class FemtoOptions:
    """PRONOSTIA: `holdout` leaves one learning bearing out (it tests); `runs` (optional) are
    preloaded runs, read from `data` otherwise."""

    dataset: ClassVar[str] = "femto"
    data: Path | None = None
    holdout: str | None = None
    runs: Sequence[Any] | None = None


@dataclass(frozen=True)
class Phm2018Options:
    """PHM 2018: the training tools (`tools`, default all) and the row sampling (`sample_rows`:
    every `stride`-th row, every `near_stride`-th within the horizon before a fault)."""

    dataset: ClassVar[str] = "phm2018"
    data: Path | None = None
    tools: Sequence[str] | None = None
    stride: int = PHM2018_STRIDE
    near_stride: int = PHM2018_NEAR_STRIDE


DatasetOptions = (
    CmapssOptions | CwruOptions | FemtoOptions | Phm2018Options | PlantOptions | LakeOptions
)


def prepare_cmapss(options: CmapssOptions, tcfg: TrainConfig, seed: int) -> Prepared:
    """C-MAPSS subset: per-condition z-scored sensors (statistics from the fit units only).

    The operating conditions (clustered on the training file's settings) and the scaler are
    stored in the header; `tcfg.condition_input` says how the network sees the condition
    (a context token, one-hot channels per cycle, both or none: `cmapss_windows`).
    """
    from phm.datasets.cmapss import SENSORS, ConditionScaler, constant_sensors, load_cmapss
    from phm.datasets.splits import CMAPSS_RUL_CAP, split_units

    data = load_cmapss(options.data, options.subset)
    try:
        token, channels = condition_parts(tcfg.condition_input, data.n_conditions)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
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
            scaler.transform(runs),
            sensors,
            tcfg.window,
            cap,
            tcfg.include_cycle,
            last_only,
            tcfg.condition_input,
            data.n_conditions,
        )

    n_channels = len(sensors) + int(tcfg.include_cycle) + (data.n_conditions if channels else 0)
    return Prepared(
        fit=windows(fit_runs),
        val=windows(val_runs),
        test=windows(data.test, last_only=True),
        config_updates={
            "process_channels": n_channels,
            "context_cardinalities": (data.n_conditions,) if token else (),
            "max_positions": max(tcfg.window, 1),
            "rul_horizon": cap,
        },
        header=CheckpointHeader(
            dataset="cmapss",
            asset_type="turbofan",
            channels=tuple(sensors),
            feature_mean=np.asarray(scaler.mean_),
            feature_scale=np.asarray(scaler.scale_),
            window=tcfg.window,
            rul_unit="cycles",
            subset=options.subset,
            include_cycle=tcfg.include_cycle,
            rul_cap=cap,
            condition_centres=np.asarray(data.conditions.centres),
            condition_input=tcfg.condition_input,
        ),
        extra={"val_units": sorted(set(units[~fit_mask].tolist()))},
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


def prepare_cwru(options: CwruOptions, tcfg: TrainConfig, seed: int) -> Prepared:
    """CWRU, by time split (default) or cross-load.

    Time split: each record's first 60% trains, the rest tests; validation is the last
    `val_fraction` of each record's training part (by time, so no window overlaps).
    Cross-load (`options.train_load` and `options.test_load` set): the load-L records train (the
    last `val_fraction` of each by time validates), every window of the load-M records tests,
    over the fault classes recorded at both loads. `options.classes` (optional) keeps only
    these fault classes. Training windows are augmented with a random speed change and gain
    (`tcfg.speed_jitter`, `tcfg.gain_jitter`: phm.models.augment), as another load would give.
    """
    from phm.datasets.cwru import TEN_CLASSES, load_cwru
    from phm.datasets.splits import cwru_cross_load, cwru_time_split

    train_load, test_load = options.train_load, options.test_load
    cross = train_load is not None or test_load is not None
    if cross and (train_load is None or test_load is None):
        raise ConfigError("cross-load needs both --train-load and --test-load")
    runs = load_cwru(options.data, classes=options.classes)
    if not runs:
        raise ConfigError(f"no CWRU record of the requested classes under {options.data}")
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
        augment=VibrationAugment(tcfg.speed_jitter, tcfg.gain_jitter),
        header=CheckpointHeader(
            dataset="cwru",
            asset_type="bearing",
            classes=tuple(classes),
            window=window,
            snapshot=tcfg.snapshot,
        ),
        extra={
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
        targets=capped_rul_targets(rul, FEMTO_RUL_HORIZON),
        groups=np.concatenate(groups),
    )


def prepare_femto(options: FemtoOptions, tcfg: TrainConfig, seed: int) -> Prepared:
    """PRONOSTIA learning set, optionally leaving one bearing out (`options.holdout`).

    The training bearings (all learning bearings but the held-out one) are split by bearing:
    `val_fraction` of them (at least one) validate, the rest fit; the held-out bearing never
    enters fit or validation and, when given, all its windows form the test set (the bench
    picks the truncation points). `options.runs` (optional) are preloaded runs. RUL in hours on
    a fixed 8 h horizon (FEMTO_RUL_UNIT_S, FEMTO_RUL_HORIZON); no censoring: every learning
    bearing ran to failure.
    """
    from phm.datasets.femto import CONDITIONS, load_femto
    from phm.datasets.splits import split_units

    runs = options.runs or load_femto(options.data, sets=("Learning_set",))
    learning = [r for r in runs if r.meta.get("set") == "Learning_set"]
    holdout = options.holdout
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
        header=CheckpointHeader(
            dataset="femto",
            asset_type="bearing",
            channels=FEMTO_PROCESS,
            snapshots=tcfg.snapshots,
            samples=samples,
            rul_unit="hours",
            rul_unit_s=FEMTO_RUL_UNIT_S,
            rul_horizon=FEMTO_RUL_HORIZON,
        ),
        extra={
            "holdout": holdout,
            "fit_bearings": [r.asset_id for r in fit_runs],
            "val_units": [r.asset_id for r in val_runs],
        },
    )


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
    """One training tool: (feature matrix (n, F), sampled rows, targets, known) of the rows.

    The targets also hold `weight`, each row's inverse sampling rate (`sample_rows` keeps every
    `near_stride`-th row before a fault, every `stride`-th elsewhere), for choosing the submit
    policy on validation rows as the whole record would.
    """
    from phm.datasets.phm2018 import TTF_LABEL_COLUMNS
    from phm.datasets.splits import sample_rows
    from phm.features.process import feature_names, process_features

    run = dataset.load_train(tool, columns=config.input_columns()[1:])
    feats = process_features(run.signals, config)
    matrix = feats.select(feature_names(config)).to_numpy().astype(np.float32)
    ttf = run.labels.select(TTF_LABEL_COLUMNS).to_numpy().astype(np.float64)
    rows = sample_rows(ttf, stride, near_stride, horizon_s)
    t = feats["time"].to_numpy().astype(np.float64)
    targets, known = phm2018_targets(ttf[rows], t[-1] - t[rows], horizon_s)
    near = (np.nan_to_num(ttf[rows], nan=np.inf) <= horizon_s).any(axis=1)
    targets["weight"] = np.where(near, near_stride, stride).astype(np.float32)
    return matrix, rows, targets, known


def prepare_phm2018(options: Phm2018Options, tcfg: TrainConfig, seed: int) -> Prepared:
    """PHM 2018 training tools (`options.tools`, default all), split by tool into fit and
    validation (`val_fraction` of them, at least one); no test set (the bench scores).

    Rows sampled as the baselines do (`options.stride`, `options.near_stride`: every Nth row, denser
    within the horizon before a fault); windows of the z-scored causal window features
    (`phm2018_windows`, statistics from the fit tools); targets `phm2018_targets`: TTF per
    fault mode (censoring-aware hazard) and the next fault mode within the horizon (class).
    """
    from phm.datasets.splits import split_units

    tools, loaded = _phm2018_loaded(options)
    fit_mask, _ = split_units(np.array(tools), tcfg.val_fraction, seed)
    fit_tools = [t for t, keep in zip(tools, fit_mask, strict=True) if keep]
    val_tools = [t for t, keep in zip(tools, fit_mask, strict=True) if not keep]
    mean, scale = _phm2018_scaler(loaded, fit_tools)
    return _phm2018_prepared(options, loaded, fit_tools, val_tools, mean, scale)


def prepare_phm2018_folds(options: Phm2018Options, folds: int, seed: int) -> Iterator[Prepared]:
    """Cross-fitting: the training tools dealt into `folds` groups (a permutation by `seed`);
    yields one Prepared per group, validated on that group and fitted on the others.

    The features are z-scored with statistics of all training tools, so that every fold's
    model reads the same inputs (one header) and their predictions can be pooled. Each tool
    is validated on exactly once: the folds' validation predictions cover every training tool.
    """
    tools, loaded = _phm2018_loaded(options)
    if not 2 <= folds <= len(tools):
        raise ConfigError(
            f"PHM 2018 cross-fitting needs 2 <= folds <= training tools ({len(tools)}), got {folds}"
        )
    mean, scale = _phm2018_scaler(loaded, tools)
    order = np.random.default_rng(seed).permutation(len(tools))
    for group in np.array_split(order, folds):
        val_tools = [tools[i] for i in sorted(group)]
        fit_tools = [t for t in tools if t not in val_tools]
        yield _phm2018_prepared(options, loaded, fit_tools, val_tools, mean, scale)


def _phm2018_loaded(options: Phm2018Options) -> tuple[list[str], dict[str, tuple[dict, dict]]]:
    """(training tools, per tool (raw window inputs, targets)) of the sampled rows."""
    from phm.datasets.phm2018 import Phm2018Dataset
    from phm.features.process import ProcessFeatureConfig
    from phm.models.baselines import DEFAULT_HORIZON_S

    dataset = Phm2018Dataset(options.data)
    tools = list(options.tools or dataset.train_tools())
    if len(tools) < 2:
        raise ConfigError("PHM 2018 training needs at least 2 training tools")
    stride, near_stride = int(options.stride), int(options.near_stride)
    config = ProcessFeatureConfig()
    loaded = {}
    for tool in tools:
        matrix, rows, target, known = phm2018_tool(
            dataset, tool, config, stride, near_stride, float(DEFAULT_HORIZON_S)
        )
        inputs = phm2018_windows(matrix, rows[known])
        loaded[tool] = (inputs, {k: v[known] for k, v in target.items()})
        del matrix
    return tools, loaded


def _phm2018_scaler(
    loaded: dict[str, tuple[dict, dict]], tools: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale (F,) of the windows' last step over `tools`."""
    last = np.concatenate([loaded[t][0]["process"][:, -1] for t in tools])
    with warnings.catch_warnings():  # an all-NaN feature column gets mean 0, scale 1
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nan_to_num(np.nanmean(last, axis=0)).astype(np.float32)
        scale = np.nanstd(last, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-9), scale, 1.0).astype(np.float32)
    return mean, scale


def _phm2018_prepared(
    options: Phm2018Options,
    loaded: dict[str, tuple[dict, dict]],
    fit_tools: list[str],
    val_tools: list[str],
    mean: np.ndarray,
    scale: np.ndarray,
) -> Prepared:
    """The Prepared of one split: windows z-scored by (mean, scale) on the fly (the loaded
    arrays stay raw, so several splits can share them)."""
    from phm.features.process import ProcessFeatureConfig, feature_names
    from phm.models.baselines import DEFAULT_HORIZON_S

    def windows(which: list[str]) -> WindowSet:
        inputs = {k: np.concatenate([loaded[t][0][k] for t in which]) for k in loaded[which[0]][0]}
        phm2018_normalise(inputs, mean, scale)
        return WindowSet(
            inputs,
            {k: np.concatenate([loaded[t][1][k] for t in which]) for k in loaded[which[0]][1]},
            np.concatenate([np.full(len(loaded[t][1]["fault"]), t) for t in which]),
        )

    names = feature_names(ProcessFeatureConfig())
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
            "ttf_horizon": float(DEFAULT_HORIZON_S),
            "rul_head": "none",
        },
        header=CheckpointHeader(
            dataset="phm2018",
            asset_type="ion_mill",
            classes=tuple(PHM2018_CLASSES),
            channels=tuple(names),
            feature_mean=np.asarray(mean),
            feature_scale=np.asarray(scale),
            window=PHM2018_WINDOW,
            step_rows=PHM2018_STEP_ROWS,
        ),
        extra={
            "stride": int(options.stride),
            "near_stride": int(options.near_stride),
            "fit_tools": fit_tools,
            "val_units": val_tools,
        },
    )


DATASETS: dict[str, Callable[[Any, TrainConfig, int], Prepared]] = {
    "cmapss": prepare_cmapss,
    "cwru": prepare_cwru,
    "femto": prepare_femto,
    "phm2018": prepare_phm2018,
    "plant": prepare_plant,
    "lake": prepare_lake,
}

OPTIONS: dict[str, type[DatasetOptions]] = {
    o.dataset: o
    for o in (CmapssOptions, CwruOptions, FemtoOptions, Phm2018Options, PlantOptions, LakeOptions)
}
