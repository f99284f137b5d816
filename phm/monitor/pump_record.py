"""A pump's record for its root cause, read from the lake: the arrays of
`phm.diagnosis.record.PumpRecord` that `Monitor.root_causes` hands to `record_symptoms`.

The record mirrors what `phm bench rootcause` gathers from its simulator, in the lake's clock
(Unix s) and at the lake's own reading times:

- the latest snapshot (the one at the prediction time) and the last hour's rows;
- the last day before the prediction time (less for a pump younger than that): at most
  HISTORY_SNAPSHOTS snapshots spread evenly over it (every 30 min over a full day, as in the
  bench), each with the temperature and process rows nearest its time; temperature rows over
  the day (at most DAY_ROWS, evenly, each with the nearest process row) for the temperature
  spikes and the day-long process symptoms; the same from three casing time constants before
  the day on, for the casing temperature estimate (ambient and load);
- the history since the asset's first snapshot: the snapshots nearest TREND_SNAPSHOTS evenly
  spaced times (with the speed from the nearest process row), and rows nearest EARLY_ROWS
  times over its first 40%.

What lies in the day (and the three hours before it) is read once; older times are read in
narrow windows around them (those within GROUP_S of each other in one), so the cost does not
grow with the pump's age. Nothing here decides whether a detector has enough data: each
returns nothing (unknown) when its input is short.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phm.diagnosis.load_cycle import CASING_TAU_S
from phm.diagnosis.record import (
    EARLY_HISTORY,
    EARLY_ROWS,
    HISTORY_SNAPSHOTS,
    TREND_SNAPSHOTS,
    PumpRecord,
)
from phm.plant import Plant
from phm.store.lake import Lake

DAY_S = 86_400.0  # the last day: one load cycle
DAY_ROWS = 720  # rows over the day and over the casing lag: one every 2 min, as in the bench
LATEST_S = 3600.0  # the latest rows: the last hour before the prediction
SNAPSHOT_SEARCH_S = 1800.0  # a history snapshot is looked for this close to its time
ROW_SEARCH_S = 300.0  # an early row is looked for this close to its time
GROUP_S = 6 * 3600.0  # older times this close together are read in one window


def nearest(times: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index into `times` (sorted, non-empty) of the element nearest each of `at` (s)."""
    right = np.clip(np.searchsorted(times, at), 0, len(times) - 1)
    left = np.clip(right - 1, 0, None)
    return np.where(np.abs(at - times[left]) <= np.abs(times[right] - at), left, right)


def evenly(n: int, k: int) -> np.ndarray:
    """At most k indices spread evenly over range(n), the first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(np.int64))


@dataclass
class LakeSpan:
    """One pump's snapshots and rows with lo <= time < hi (s), as numpy arrays."""

    lo: float
    hi: float
    fs: float
    snap_times: np.ndarray  # (S,)
    snapshots: np.ndarray  # (S, C, L) g
    temp_times: np.ndarray  # (n,)
    temperature: np.ndarray  # (n, 4) deg C
    proc_times: np.ndarray  # (m,)
    process: np.ndarray  # (m, 5)

    @classmethod
    def read(
        cls, lake: Lake, plant: Plant, asset_id: str, lo: float, hi: float, waveforms: bool = True
    ) -> LakeSpan:
        """Read the span from the lake (without `waveforms`, no snapshots)."""
        spec = plant.stream(asset_id, "vibration")
        if waveforms:
            snap_times, fs, snaps = lake.read_waveforms(asset_id, lo, hi)
        else:
            snap_times = np.zeros(0)
            fs, snaps = spec.sampling_hz, np.zeros((0, len(spec.channels), spec.samples), "f4")
        rows = {}
        for stream in ("temperature", "process"):
            frame = lake.read_rows(stream, asset_id, lo, hi)
            channels = plant.stream(asset_id, stream).channels
            rows[stream] = (
                frame["time"].to_numpy().astype(np.float64, copy=False),
                frame.select(channels).to_numpy().reshape(frame.height, len(channels)),
            )
        return cls(lo, hi, fs, snap_times, snaps, *rows["temperature"], *rows["process"])

    def has_rows(self) -> bool:
        return len(self.temp_times) > 0 and len(self.proc_times) > 0


def read_pump_record(
    lake: Lake,
    plant: Plant,
    asset_id: str,
    t: float,
    first: float,
    base_phases: np.ndarray,
) -> PumpRecord | None:
    """The record of pump `asset_id` at time t (s, the prediction's snapshot), its history
    since `first` (s, its first snapshot), with `base_phases` (`cross_phase` of its baseline
    snapshots, rad). None when the lake has no snapshot over the day or no rows in the last
    hour."""
    end = float(np.nextafter(t, np.inf))  # readings at t count, later ones do not
    day_lo = max(t - DAY_S, first)
    span = LakeSpan.read(lake, plant, asset_id, day_lo - 3 * CASING_TAU_S, end)
    in_day = np.flatnonzero(span.snap_times >= day_lo)
    latest_temp = span.temperature[span.temp_times >= t - LATEST_S]
    latest_proc = span.process[span.proc_times >= t - LATEST_S]
    if not in_day.size or not len(latest_temp) or not len(latest_proc):
        return None
    day = in_day[evenly(in_day.size, HISTORY_SNAPSHOTS)]
    day_t = span.snap_times[day]
    # temperature rows come slower than process rows: they set the row times
    lag = evenly(len(span.temp_times), DAY_ROWS)
    lag_t = span.temp_times[lag]
    in_rows = np.flatnonzero(span.temp_times >= day_t[0])
    rows = in_rows[evenly(in_rows.size, DAY_ROWS)]
    rows_t = span.temp_times[rows]
    trend_t, trend_x, trend_hz = _history_snapshots(lake, plant, asset_id, t, first, span)
    early_t, early_temp, early_proc = _early_rows(lake, plant, asset_id, t, first, span)
    return PumpRecord(
        fs=span.fs,
        snapshot=span.snapshots[in_day[-1]],
        temperature=latest_temp,
        process=latest_proc,
        day_times=day_t,
        day_snapshots=span.snapshots[day],
        day_temperature=span.temperature[nearest(span.temp_times, day_t)],
        day_process=span.process[nearest(span.proc_times, day_t)],
        lag_times=lag_t,
        lag_load=span.process[nearest(span.proc_times, lag_t), 1],
        lag_ambient=span.temperature[lag, 3],
        row_times=rows_t,
        row_temperature=span.temperature[rows],
        row_process=span.process[nearest(span.proc_times, rows_t)],
        trend_times=trend_t,
        trend_snapshots=trend_x,
        trend_shaft_hz=trend_hz,
        early_times=early_t,
        early_temperature=early_temp,
        early_process=early_proc,
        base_phases=np.asarray(base_phases, dtype=np.float64),
    )


def _sources(
    lake: Lake,
    plant: Plant,
    asset_id: str,
    targets: np.ndarray,
    w: float,
    span: LakeSpan,
    waveforms: bool,
) -> list[tuple[float, LakeSpan]]:
    """Each target time (s, increasing) with a span of the lake holding target +- w: `span`
    where it does, else a window read around it and the nearby targets."""
    out: list[tuple[float, LakeSpan]] = []
    groups: list[list[float]] = []
    for target in targets:
        if target - w >= span.lo:
            out.append((float(target), span))
        elif groups and target - groups[-1][0] <= GROUP_S:
            groups[-1].append(float(target))
        else:
            groups.append([float(target)])
    for group in groups:
        lo, hi = group[0] - w, min(group[-1] + w + 1.0, span.hi)
        src = LakeSpan.read(lake, plant, asset_id, lo, hi, waveforms)
        out.extend((target, src) for target in group)
    return sorted(out, key=lambda pair: pair[0])


def _history_snapshots(
    lake: Lake, plant: Plant, asset_id: str, t: float, first: float, span: LakeSpan
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (H,), snapshots (H, C, L) and shaft speeds (H,) Hz of the snapshots nearest
    TREND_SNAPSHOTS evenly spaced times over (first, t], each once."""
    targets = first + (t - first) * np.arange(1, TREND_SNAPSHOTS + 1) / TREND_SNAPSHOTS
    w = min(0.5 * (t - first) / TREND_SNAPSHOTS, SNAPSHOT_SEARCH_S)
    found: dict[float, tuple[np.ndarray, float]] = {}
    for target, src in _sources(lake, plant, asset_id, targets, w, span, waveforms=True):
        if not len(src.snap_times) or not len(src.proc_times):
            continue
        i = int(nearest(src.snap_times, np.array([target]))[0])
        when = float(src.snap_times[i])
        if abs(when - target) > w + 1.0 or when in found:
            continue
        speed = src.process[nearest(src.proc_times, np.array([when]))[0], 0] / 60
        found[when] = (src.snapshots[i], speed)
    times = np.array(sorted(found))
    if not times.size:
        return times, span.snapshots[:0], np.zeros(0)
    snaps = np.stack([found[k][0] for k in times])
    return times, snaps, np.array([found[k][1] for k in times])


def _early_rows(
    lake: Lake, plant: Plant, asset_id: str, t: float, first: float, span: LakeSpan
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (E,), temperature rows (E, 4) and process rows (E, 5) nearest EARLY_ROWS evenly
    spaced times over the first EARLY_HISTORY of the life (first, t], each once."""
    life = EARLY_HISTORY * (t - first)
    targets = first + life * np.arange(1, EARLY_ROWS + 1) / EARLY_ROWS
    found: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for target, src in _sources(lake, plant, asset_id, targets, ROW_SEARCH_S, span, False):
        if not src.has_rows():
            continue
        i = int(nearest(src.temp_times, np.array([target]))[0])
        when = float(src.temp_times[i])
        j = int(nearest(src.proc_times, np.array([when]))[0])
        near = abs(src.proc_times[j] - when) <= ROW_SEARCH_S
        if abs(when - target) > ROW_SEARCH_S or not near or when in found:
            continue
        found[when] = (src.temperature[i], src.process[j])
    times = np.array(sorted(found))
    if not times.size:
        return times, span.temperature[:0], span.process[:0]
    return (
        times,
        np.stack([found[k][0] for k in times]),
        np.stack([found[k][1] for k in times]),
    )
