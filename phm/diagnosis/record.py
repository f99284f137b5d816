"""What a monitoring system gathers about one pump when it looks for a root cause, as symptom
evidence: the latest snapshot and rows, the last day (one load cycle), the history since
start-up, the sister pumps' commissioning load models and the plant's records.

`PumpRecord` holds those data as plain arrays, the way a monitor reads them from its lake, and
`record_symptoms` runs the detectors of `phm.diagnosis.evidence`, `phm.diagnosis.load_cycle`
and `phm.diagnosis.history` on them (each detector emits nothing, i.e. unknown, where its data
are too short). Two sources fill a record:

- `phm.bench.sim_evidence.pump_evidence` reads a `phm.sim.rotating.PumpSimulator`
  standing in for the lake (snapshots, temperature and process rows at any life time) in the
  form a live monitor would (nothing from the simulator's truth but the baseline period), and
  adds the plant's records (`phm.diagnosis.context`, `PumpSimulator.context`). Used by
  `phm bench rootcause`.
- `phm.monitor.pump_record.read_pump_record` reads the lake for `Monitor.root_causes`: every
  detector runs live except the plant's records, which the lake does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phm.diagnosis.evidence import (
    PumpBaseline,
    process_symptoms,
    pump_symptoms,
    recent_shift_symptoms,
    vibration_features,
)
from phm.diagnosis.history import (
    STARTUP_SNAPSHOTS,
    defect_wander_symptom,
    fleet_temperature_symptom,
    roughness_symptom,
    startup_defect_symptom,
    temperature_creep_symptom,
    temperature_spike_symptom,
)
from phm.diagnosis.load_cycle import (
    casing_estimate,
    cross_phase,
    load_cycle_symptoms,
    phase_wander_symptom,
    step_symptom,
)
from phm.features.spectral import BearingGeometry

# the last day (one load cycle): a snapshot every 30 min (the simulated plant sends one every 10)
HISTORY_SNAPSHOTS = 48
TREND_SNAPSHOTS = 16  # the history since the pump started
EARLY_HISTORY, EARLY_ROWS = 0.4, 24  # rows over the first 40% of the life so far


@dataclass
class PumpRecord:
    """One pump's data as the root-cause detectors read them, all times in one clock (s),
    increasing. Vibration in g (C, L) per snapshot, drive end first; temperature rows (n, 4):
    bearing_de, bearing_fe, winding, ambient (deg C); process rows (n, 5): speed_rpm, load_pct,
    suction_kpa, discharge_kpa, flow_m3h (the channel order of phm/configs/plant.toml)."""

    fs: float  # vibration sampling rate (Hz)
    snapshot: np.ndarray  # (C, L) the latest snapshot
    temperature: np.ndarray  # (n, 4) the latest temperature rows
    process: np.ndarray  # (m, 5) the latest process rows
    day_times: np.ndarray  # (S,) snapshots over the last day (one load cycle)
    day_snapshots: np.ndarray  # (S, C, L)
    day_temperature: np.ndarray  # (S, 4) the rows at the snapshot times
    day_process: np.ndarray  # (S, 5)
    lag_times: np.ndarray  # (R,) rows from 3 casing time constants before the day on
    lag_load: np.ndarray  # (R,) load_pct at lag_times (`casing_estimate`)
    lag_ambient: np.ndarray  # (R,) ambient deg C at lag_times
    row_times: np.ndarray  # (Q,) rows over the day (a few hundred; >= 60 for the spikes)
    row_temperature: np.ndarray  # (Q, 4)
    row_process: np.ndarray  # (Q, 5)
    trend_times: np.ndarray  # (H,) snapshots over the history since start-up
    trend_snapshots: np.ndarray  # (H, C, L)
    trend_shaft_hz: np.ndarray  # (H,) shaft speed at trend_times (Hz, speed sensor)
    early_times: np.ndarray  # (E,) rows over the early history (first 40% of the life)
    early_temperature: np.ndarray  # (E, 4)
    early_process: np.ndarray  # (E, 5)
    base_phases: np.ndarray  # (B,) `cross_phase` of the baseline (healthy) snapshots, rad


def record_symptoms(
    record: PumpRecord,
    baseline: PumpBaseline | None,
    geometry: BearingGeometry,
    vanes: int | None = None,
    fleet: list[PumpBaseline] | None = None,
) -> dict[str, float]:
    """Symptom strengths of one pump from its `record`, against its healthy `baseline` and
    (`fleet`) the sister pumps' commissioning load models: `pump_symptoms` on the latest
    snapshot and rows; over the day `load_cycle_symptoms` (2x on the casing temperature
    estimated from the lag rows), `recent_shift_symptoms` (its last quarter),
    `phase_wander_symptom` (its last half), `temperature_spike_symptom` and the day-long
    process symptoms; over the history `trend.1x_step`, `trend.defect_at_startup`,
    `trend.hf_before_defect`, `trend.bpfo_wander` (the day's BPFO) and
    `temperature_creep_symptom` (early rows); `fleet_temperature_symptom`. Without a baseline
    only the detectors that need none run."""
    fs = record.fs

    def features(x: np.ndarray, shaft: float) -> dict[str, float]:
        return vibration_features(x, fs, shaft, geometry, vanes)

    # the speed comes from the process rows' speed sensor, not the simulator's truth
    ev = pump_symptoms(
        record.snapshot, fs, record.temperature, record.process, baseline, geometry, vanes
    )
    # the last day: one load cycle
    day_t, day_temp, day_proc = record.day_times, record.day_temperature, record.day_process
    n = len(day_t)
    day_vib = [features(x, r[0] / 60) for x, r in zip(record.day_snapshots, day_proc, strict=True)]
    o1, o2, hf, harm = (np.array([f[k] for f in day_vib]) for k in ("o1", "o2", "hf", "harm"))
    if baseline is not None:
        # a slow shift shows in the median of the last six hours' snapshots
        shifts = recent_shift_symptoms(day_vib[n - n // 4 :], baseline)
        if "vib.resonance_shift" in shifts:
            ev["vib.resonance_shift"] = shifts["vib.resonance_shift"]
    # the casing temperature from the ambient and the load rows, from three time constants
    # before the first snapshot on
    casing = None
    if len(record.lag_times):
        casing = casing_estimate(day_t, record.lag_times, record.lag_load, record.lag_ambient)
    # the film's temperature as the weather and the duty set it: the healthy load model of
    # the drive end (the breakdown's own heat grows with it, not with the weather)
    film = day_temp[:, 0]
    if baseline is not None and baseline.temp_coef is not None:
        a, b = baseline.temp_coef[0]
        film = day_temp[:, 3] + a + b * day_proc[:, 1] / 100
    o2_healthy = None
    if baseline is not None and "o2" in baseline.vib_median:
        o2_healthy = (baseline.vib_median["o2"], baseline.vib_spread["o2"])
    ev.update(
        load_cycle_symptoms(
            day_t,
            o1,
            o2,
            film,
            day_proc[:, 1],
            day_proc[:, 3],
            hf,
            harm=harm,
            hf_healthy=None if baseline is None else baseline.vib_median.get("hf"),
            casing=casing,
            o2_healthy=o2_healthy,
        )
    )
    phases = [
        cross_phase(x, fs, r[0] / 60) for x, r in zip(record.day_snapshots, day_proc, strict=True)
    ]
    # the last half day: the fault is further on there
    wander = phase_wander_symptom(np.array(phases[n // 2 :]), np.asarray(record.base_phases))
    if baseline is not None:
        rows = process_symptoms(record.row_process, baseline)
        ev.update(
            temperature_spike_symptom(
                record.row_times, record.row_temperature, record.row_process[:, 1], baseline
            )
        )
        ev.update(
            {k: rows[k] for k in ("proc.load_high", "proc.suction_drop_with_flow") if k in rows}
        )
    # the history since the pump started
    trend_t = record.trend_times
    trend_vib = [
        features(x, f) for x, f in zip(record.trend_snapshots, record.trend_shaft_hz, strict=True)
    ]
    trend_1x = np.array([f["o1"] for f in trend_vib])
    bpfo_day = np.array([f["env_bpfo"] for f in day_vib])
    for key, value in (
        ("trend.1x_phase", wander),
        ("trend.1x_step", step_symptom(trend_t, trend_1x)),
        ("trend.defect_at_startup", startup_defect_symptom(trend_vib[:STARTUP_SNAPSHOTS])),
        ("trend.bpfo_wander", defect_wander_symptom(day_t, bpfo_day)),
        ("trend.hf_before_defect", roughness_symptom(trend_t, trend_vib)),
    ):
        if value is not None:
            ev[key] = value
    if baseline is not None:
        # the early history (before most faults start)
        ev.update(
            temperature_creep_symptom(
                record.early_times,
                record.early_temperature,
                record.early_process[:, 1],
                baseline,
            )
        )
        if fleet:
            ev.update(fleet_temperature_symptom(baseline, fleet))
    return ev
