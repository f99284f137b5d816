"""Evaluation protocols: which data trains, which data tests, for each public dataset.

No protocol ever lets test data reach training or model selection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import polars as pl

    from phm.datasets.cmapss import CmapssData

# --- C-MAPSS -------------------------------------------------------------------------------

CMAPSS_RUL_CAP = 125  # cycles: RUL labels above this are flattened (piecewise-linear target)
# Cycles of history behind each window feature: chosen on the validation units (the lowest
# mean over FD001-FD003 of 30, 50, 80, 120, 160, 200: docs/i16/cmapss.md).
CMAPSS_WINDOW = 160


def piecewise_rul(rul: np.ndarray, cap: float = CMAPSS_RUL_CAP) -> np.ndarray:
    """Training target: cycles left before failure (last cycle - cycle), capped at `cap`."""
    return np.minimum(np.asarray(rul, dtype=np.float64), cap)


def split_units(
    units: np.ndarray, val_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Row masks (fit, validation) that split by unit, never by rows: a unit goes one way.

    units: (N,) unit id of each training row. At least one unit lands on each side.
    """
    units = np.asarray(units)
    ids = np.unique(units)
    if len(ids) < 2:
        raise ValueError(f"a unit-level split needs at least 2 units, got {len(ids)}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_val = min(max(1, round(val_fraction * len(ids))), len(ids) - 1)
    val_ids = np.random.default_rng(seed).permutation(ids)[:n_val]
    val = np.isin(units, val_ids)
    return ~val, val


def last_cycle_rows(features: pl.DataFrame) -> pl.DataFrame:
    """The row of each run's last cycle (`asset_id`, `time` first), runs in their order."""
    return features.group_by("asset_id", maintain_order=True).last()


@dataclass(frozen=True)
class CmapssProblem:
    """Feature matrices of one subset under the C-MAPSS protocol.

    Train: every cycle of every training unit, target capped RUL; `rul_train` is the uncapped
    remaining life and `event_train` whether the run ended in failure (survival models).
    Test: one row per test unit, at its last cycle; `y_test` the true RUL from RUL_FDxxx.txt.
    """

    subset: str
    feature_names: tuple[str, ...]
    X_train: np.ndarray  # (N, F)
    y_train: np.ndarray  # (N,) capped RUL, cycles
    rul_train: np.ndarray  # (N,) uncapped RUL, cycles
    event_train: np.ndarray  # (N,) bool
    units_train: np.ndarray  # (N,) asset id of each row
    X_test: np.ndarray  # (U, F)
    y_test: np.ndarray  # (U,) true RUL at the last cycle
    units_test: tuple[str, ...]
    dropped_sensors: tuple[str, ...]
    window: int
    cap: float


def cmapss_problem(
    data: CmapssData,
    window: int = CMAPSS_WINDOW,
    cap: float = CMAPSS_RUL_CAP,
    per_condition: bool = True,
) -> CmapssProblem:
    """Build the protocol's matrices; every statistic (scaler, dropped sensors) from train only.

    Sensors are z-scored per operating condition (per_condition False: one global z-score, the
    ablation without regime handling), constant sensors are dropped, then causal window
    features over the last `window` cycles feed the models.
    """
    import polars as pl

    from phm.datasets.cmapss import SENSORS, ConditionScaler, constant_sensors, window_features

    train, test = data.train, data.test
    if not per_condition:
        train, test = _one_condition(train), _one_condition(test)
    dropped = constant_sensors(train)
    sensors = [s for s in SENSORS if s not in dropped]
    scaler = ConditionScaler(sensors).fit(train)
    train_feats = window_features(scaler.transform(train), sensors, window)
    test_feats = last_cycle_rows(window_features(scaler.transform(test), sensors, window))
    names = tuple(train_feats.columns[2:])

    train_labels = pl.concat([r.labels for r in data.train])
    rul = train_labels["rul"].to_numpy()
    failed = np.concatenate([np.full(r.signals.height, r.meta["failed"]) for r in data.train])
    rul_end = {r.asset_id: r.meta["rul_end"] for r in data.test}
    units_test = tuple(test_feats["asset_id"].to_list())
    return CmapssProblem(
        subset=data.subset,
        feature_names=names,
        X_train=train_feats.select(names).to_numpy(),
        y_train=piecewise_rul(rul, cap),
        rul_train=rul.astype(np.float64),
        event_train=failed.astype(bool),
        units_train=train_feats["asset_id"].to_numpy(),
        X_test=test_feats.select(names).to_numpy(),
        y_test=np.array([rul_end[u] for u in units_test], dtype=np.float64),
        units_test=units_test,
        dropped_sensors=tuple(dropped),
        window=window,
        cap=cap,
    )


def _one_condition(runs: list) -> list:
    """The runs with every cycle's condition set to 0 (one global regime)."""
    import polars as pl

    return [
        replace(r, signals=r.signals.with_columns(pl.lit(0, dtype=pl.Int32).alias("condition")))
        for r in runs
    ]


# --- PRONOSTIA (FEMTO) ---------------------------------------------------------------------

if TYPE_CHECKING:
    from collections.abc import Sequence

    from phm.datasets.run import Run

# Fractions of a learning bearing's life at which its record is cut for validation. The
# challenge's own test bearings were cut at about 0.6 to 0.97 of their lives.
FEMTO_TRUNCATION_FRACTIONS = (0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class BearingFold:
    """One leave-one-bearing-out fold: the held-out bearing and the bearings that train."""

    test: str
    train: tuple[str, ...]


def femto_leave_one_bearing_out(runs: Sequence[Run], scope: str = "condition") -> list[BearingFold]:
    """Folds over the learning set (runs with `meta["set"] == "Learning_set"`).

    scope "condition": train on the other bearings of the held-out bearing's condition (only
    one in the learning set); "all": train on every other learning bearing, all conditions.
    """
    if scope not in ("condition", "all"):
        raise ValueError(f"scope must be 'condition' or 'all', got {scope!r}")
    learning = [r for r in runs if r.meta.get("set") == "Learning_set"]
    folds = []
    for held in learning:
        train = tuple(
            r.asset_id
            for r in learning
            if r.asset_id != held.asset_id
            and (scope == "all" or r.meta["condition"] == held.meta["condition"])
        )
        if not train:
            raise ValueError(f"no training bearing for {held.asset_id} with scope {scope!r}")
        folds.append(BearingFold(held.asset_id, train))
    return folds


@dataclass(frozen=True)
class Truncation:
    """A bearing record cut after snapshot `index`; the model sees snapshots 0..index only."""

    bearing: str
    fraction: float
    index: int
    actual_rul_s: float


def femto_truncations(
    run: Run, fractions: Sequence[float] = FEMTO_TRUNCATION_FRACTIONS
) -> list[Truncation]:
    """Cut points of a run-to-failure record at fractions of its snapshots; RUL from labels.

    Index = ceil(fraction x S) - 1, kept below the last snapshot so the actual RUL is > 0.
    """
    if run.labels is None or run.waveforms is None:
        raise ValueError(f"{run.asset_id} has no RUL labels or waveforms to truncate")
    rul = run.labels["rul_s"].to_numpy()
    n = rul.size
    if n < 2:
        raise ValueError(f"{run.asset_id} has {n} snapshot(s); truncation needs at least 2")
    cuts = []
    for f in fractions:
        if not 0.0 < f < 1.0:
            raise ValueError(f"truncation fractions must be in (0, 1), got {f}")
        index = min(max(int(np.ceil(f * n)) - 1, 0), n - 2)
        cuts.append(Truncation(run.asset_id, float(f), index, float(rul[index])))
    return cuts


@dataclass(frozen=True)
class FemtoChallenge:
    """The IEEE PHM 2012 challenge: train on the learning set, predict the RUL at the end of
    each truncated Test_set record, scored against the published actual RUL."""

    train: tuple[str, ...]
    test: tuple[Truncation, ...]


def femto_challenge(runs: Sequence[Run]) -> FemtoChallenge:
    """The challenge split; needs Learning_set runs and Test_set runs with a known actual RUL."""
    train = tuple(r.asset_id for r in runs if r.meta.get("set") == "Learning_set")
    test = []
    for r in runs:
        if r.meta.get("set") != "Test_set":
            continue
        actual = r.meta.get("actual_rul_s")
        if actual is None or r.waveforms is None:
            raise ValueError(f"Test_set bearing {r.asset_id} has no published actual RUL")
        last = r.waveforms.data.shape[0] - 1
        test.append(Truncation(r.asset_id, 1.0, last, float(actual)))
    if not train or not test:
        raise ValueError("the challenge protocol needs Learning_set and Test_set bearings")
    return FemtoChallenge(train, tuple(test))


# --- CWRU ----------------------------------------------------------------------------------

CWRU_TRAIN_FRACTION = 0.6


@dataclass(frozen=True)
class WindowSplit:
    """Windows of one CWRU record split at a sample index: train windows end at or before
    the cut, test windows start at or after it; a window across the cut is in neither."""

    asset_id: str
    cut_sample: int
    train: np.ndarray  # indices into run.waveforms snapshots
    test: np.ndarray


def cwru_time_split(run: Run, train_fraction: float = CWRU_TRAIN_FRACTION) -> WindowSplit:
    """Split a record by time: the first `train_fraction` of its samples train, the rest test.

    Needs `meta["window_starts"]`, `meta["window"]` and `meta["n_samples"]` (the CWRU adapter).
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    starts = np.asarray(run.meta["window_starts"], dtype=np.int64)
    window = int(run.meta["window"])
    cut = int(train_fraction * int(run.meta["n_samples"]))
    train = np.flatnonzero(starts + window <= cut)
    test = np.flatnonzero(starts >= cut)
    return WindowSplit(run.asset_id, cut, train, test)


@dataclass(frozen=True)
class CrossLoadSplit:
    """Records at one motor load train, records at another test, over the fault classes
    recorded at both loads (`dropped`: classes seen at only one of them)."""

    train_load: int
    test_load: int
    train: tuple[Run, ...]
    test: tuple[Run, ...]
    classes: tuple[str, ...]
    dropped: tuple[str, ...]


def cwru_cross_load(runs: Sequence[Run], train_load: int, test_load: int) -> CrossLoadSplit:
    """Train on load `train_load` (hp), test on `test_load`; only shared classes are kept."""
    if train_load == test_load:
        raise ValueError(f"cross-load needs two different loads, got {train_load} twice")
    at = {
        load: [r for r in runs if r.meta.get("load_hp") == load] for load in (train_load, test_load)
    }
    classes_at = {load: {r.fault_class for r in rs} for load, rs in at.items()}
    shared = classes_at[train_load] & classes_at[test_load]
    if not shared:
        raise ValueError(f"no fault class is recorded at both {train_load} and {test_load} hp")
    dropped = (classes_at[train_load] | classes_at[test_load]) - shared
    return CrossLoadSplit(
        train_load,
        test_load,
        tuple(r for r in at[train_load] if r.fault_class in shared),
        tuple(r for r in at[test_load] if r.fault_class in shared),
        tuple(sorted(shared)),
        tuple(sorted(dropped)),
    )


# --- PHM 2018 ------------------------------------------------------------------------------

# Training rows: every PHM2018_STRIDE-th row (4 s rows: one every 2 minutes), every
# PHM2018_NEAR_STRIDE-th row within the horizon before a fault. The defaults of `phm train
# --dataset phm2018` and `phm bench phm2018`.
PHM2018_STRIDE = 30
PHM2018_NEAR_STRIDE = 4


def sample_rows(ttf: np.ndarray, stride: int, near_stride: int, near_s: float) -> np.ndarray:
    """Row indices: every `near_stride`-th row within `near_s` before a fault of any mode,
    every `stride`-th row elsewhere (faults are rare; their approach deserves more rows)."""
    idx = np.arange(ttf.shape[0])
    near = (np.nan_to_num(ttf, nan=np.inf) <= near_s).any(axis=1)
    return idx[(near & (idx % near_stride == 0)) | (~near & (idx % stride == 0))]
