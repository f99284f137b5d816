"""Window builders shared by training and serving: the same function turns a dataset's runs
into training windows and the rows read back from the lake into the live model's input, so
the monitor and the reports score exactly what the model was trained on. Models-layer
library code: it never imports the simulators (`prepare_plant` does, for training data).

- `cmapss_windows`: C-MAPSS runs -> windows of the last cycles (RUL targets);
  `cmapss_token_conditions` the operating condition of each of their cycles.
- `phm2018_windows` / `phm2018_normalise`: an ion mill tool's causal window features.
- `pump_window` / `read_latest_pump_data`: a pump's latest vibration snapshots with its
  temperature and process rows (`PUMP_CHANNELS`) at their times (`pump_rows_at`, which the
  lake's training windows use too: phm.models.prepare_lake).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from phm.datasets.cmapss import CONDITION_INPUTS
from phm.models.data import WindowSet, capped_rul_targets, sliding_windows

PUMP_CHANNELS = (
    "bearing_de_c",
    "bearing_fe_c",
    "winding_c",
    "ambient_c",
    "speed_rpm",
    "load_pct",
    "suction_kpa",
    "discharge_kpa",
    "flow_m3h",
)


def condition_parts(condition_input: str | None, n_conditions: int) -> tuple[bool, bool]:
    """(context token, one-hot channels) of a `condition_input`; None reads "token".

    Channels only where there is more than one condition (one condition: a constant channel).
    Raises ValueError naming the field for an unknown value.
    """
    mode = condition_input or "token"
    if mode not in CONDITION_INPUTS:
        raise ValueError(f"[train] condition_input = {mode!r}: expected one of {CONDITION_INPUTS}")
    token = mode in ("token", "both")
    channels = mode in ("channels", "both") and n_conditions > 1
    return token, channels


def cmapss_windows(
    runs: list,
    sensors: list[str],
    window: int,
    cap: float,
    include_cycle: bool,
    last_only: bool = False,
    condition_input: str | None = "token",
    n_conditions: int = 1,
) -> WindowSet:
    """C-MAPSS runs (already condition-scaled) -> windows of the last `window` cycles.

    process: the sensors, then (`condition_input` "channels"/"both", `n_conditions` > 1) a
    one-hot of each cycle's operating condition, then (include_cycle) cycle / cap; context
    ("token"/"both"): the last cycle's operating condition. RUL targets: time min(rul, cap),
    event rul < cap (longer lives are censored at the cap: the data cannot tell them apart),
    rul_true the uncapped RUL.
    """
    token, channels = condition_parts(condition_input, n_conditions)
    xs, ms, conds, ruls, groups = [], [], [], [], []
    for run in runs:
        vals = run.signals.select(sensors).to_numpy().astype(np.float32)
        cond = run.signals["condition"].to_numpy().astype(np.int64)
        if channels:
            vals = np.concatenate([vals, np.eye(n_conditions, dtype=np.float32)[cond]], axis=1)
        if include_cycle:
            cycle = run.signals["time"].to_numpy().astype(np.float32)[:, None] / cap
            vals = np.concatenate([vals, cycle], axis=1)
        x, m = sliding_windows(vals, window)
        rul = run.labels["rul"].to_numpy().astype(np.float32)
        if last_only:
            x, m, rul, cond = x[-1:], m[-1:], rul[-1:], cond[-1:]
        xs.append(x)
        ms.append(m)
        conds.append(cond)
        ruls.append(rul)
        groups.append(np.full(len(rul), run.asset_id))
    rul = np.concatenate(ruls)
    inputs = {"process": np.concatenate(xs), "process_mask": np.concatenate(ms)}
    if token:
        inputs["context"] = np.concatenate(conds)[:, None]
    return WindowSet(
        inputs=inputs, targets=capped_rul_targets(rul, cap), groups=np.concatenate(groups)
    )


def cmapss_token_conditions(runs: list, window: int) -> np.ndarray:
    """(N, window) operating condition of each cycle of `cmapss_windows(runs, ..., window)`'s
    windows (all cycles, not last_only), -1 on padding: what the expert-load table groups by."""
    out = []
    for run in runs:
        cond = run.signals["condition"].to_numpy().astype(np.int64)[:, None]
        x, m = sliding_windows(cond.astype(np.float32), window)
        out.append(np.where(m, x[..., 0].astype(np.int64), -1))
    return np.concatenate(out)


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


def pump_window(
    vibration: np.ndarray, rows: np.ndarray, k: int, mean: np.ndarray, scale: np.ndarray
) -> dict[str, np.ndarray]:
    """Model inputs of one window from the latest snapshots: vibration (S, 2, L) and rows
    (S, 9) at the snapshot times, oldest first; the last k are used, front-padded and masked."""
    s = min(k, len(vibration))
    vib = np.zeros((1, k, *vibration.shape[1:]), np.float32)
    proc = np.zeros((1, k, rows.shape[1]), np.float32)
    mask = np.zeros((1, k), bool)
    if s:
        vib[0, k - s :] = vibration[-s:]
        proc[0, k - s :] = (rows[-s:] - mean) / scale
        mask[0, k - s :] = True
    return {"vibration": vib, "vibration_mask": mask, "process": proc, "process_mask": mask.copy()}


RECENT_S = 86_400  # a pump's latest snapshots are read from this far back first ...
LOOKBACK_S = 7 * 86_400  # ... and from this far when fewer than a window's worth came back
ROW_MARGIN_S = 6 * 3600  # rows read before the window's first snapshot (as-of lookups)


def read_latest_pump_data(
    lake: Any, plant: Any, asset_id: str, k: int, latest: float
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray | None]:
    """The last k snapshots up to `latest` (times (n,), fs, data (n, C, L) at full length)
    of a pump in the lake (phm.store.lake.Lake) and its PUMP_CHANNELS rows (n, 9) at or before
    each snapshot time (None when it has no temperature or process rows): what `pump_window`
    turns into the training window of the monitor and the reports."""
    times, fs, data = lake.read_waveforms(asset_id, start=latest - RECENT_S)
    if len(times) < k:  # sparse snapshots: look further back for a full window
        times, fs, data = lake.read_waveforms(asset_id, start=latest - LOOKBACK_S)
    times, data = times[-k:], data[-k:]
    if len(times) == 0:
        return times, fs, data, None
    return times, fs, data, pump_rows_at(lake, plant, asset_id, times)


def pump_rows_at(lake: Any, plant: Any, asset_id: str, times: np.ndarray) -> np.ndarray | None:
    """A pump's PUMP_CHANNELS rows (n, 9) as of each of `times` (n,) (the last temperature and
    process row at or before each; from ROW_MARGIN_S before the first), read from the lake
    (phm.store.lake.Lake); None when it has no temperature or process rows there."""
    start = float(times[0]) - ROW_MARGIN_S
    parts = []
    for stream in ("temperature", "process"):
        frame = lake.read_rows(stream, asset_id, start=start, end=float(times[-1]) + 1.0)
        if frame.height == 0:
            return None
        channels = list(plant.stream(asset_id, stream).channels)
        t = frame["time"].to_numpy()
        idx = np.clip(np.searchsorted(t, times, side="right") - 1, 0, None)
        parts.append(frame.select(channels).to_numpy()[idx])
    return np.concatenate(parts, axis=1).astype(np.float32)
