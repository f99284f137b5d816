"""Evaluation protocols: which data trains, which data tests, for each public dataset.

No protocol ever lets test data reach training or model selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import polars as pl

    from phm.datasets.cmapss import CmapssData

# --- C-MAPSS -------------------------------------------------------------------------------

CMAPSS_RUL_CAP = 125  # cycles: RUL labels above this are flattened (piecewise-linear target)
CMAPSS_WINDOW = 30  # cycles of history behind each window feature


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
    data: CmapssData, window: int = CMAPSS_WINDOW, cap: float = CMAPSS_RUL_CAP
) -> CmapssProblem:
    """Build the protocol's matrices; every statistic (scaler, dropped sensors) from train only.

    Sensors are z-scored per operating condition, constant sensors are dropped, then causal
    window features over the last `window` cycles feed the models.
    """
    import polars as pl

    from phm.datasets.cmapss import SENSORS, ConditionScaler, constant_sensors, window_features

    dropped = constant_sensors(data.train)
    sensors = [s for s in SENSORS if s not in dropped]
    scaler = ConditionScaler(sensors).fit(data.train)
    train_feats = window_features(scaler.transform(data.train), sensors, window)
    test_feats = last_cycle_rows(window_features(scaler.transform(data.test), sensors, window))
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


# --- PRONOSTIA (FEMTO) ---------------------------------------------------------------------

# --- CWRU ----------------------------------------------------------------------------------
