"""What a monitoring system gathers about one pump when it looks for a root cause, as symptom
evidence: the latest snapshot and rows, the last day (one load cycle), the history since
start-up, the sister pumps' commissioning load models and the plant's records.

`pump_evidence` reads them from a `phm.sim.rotating.PumpSimulator` standing in for the lake
(snapshots, temperature and process rows at any life time, `context` for the records) and
runs the detectors of `phm.kg.evidence`, `phm.kg.load_cycle`, `phm.kg.history` and
`phm.kg.context` on them, in
the form a live monitor would (nothing from the simulator's truth but the baseline period).
Used by `phm bench rootcause`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from phm.kg.context import context_symptoms
from phm.kg.evidence import (
    PumpBaseline,
    fit_pump_baseline,
    process_symptoms,
    pump_symptoms,
    recent_shift_symptoms,
    vibration_features,
)
from phm.kg.history import (
    STARTUP_SNAPSHOTS,
    defect_wander_symptom,
    fleet_temperature_symptom,
    roughness_symptom,
    startup_defect_symptom,
    temperature_creep_symptom,
    temperature_spike_symptom,
)
from phm.kg.load_cycle import (
    CASING_TAU_S,
    casing_estimate,
    cross_phase,
    load_cycle_symptoms,
    phase_wander_symptom,
    step_symptom,
)
from phm.sim.rotating import PumpSimulator, geometry_of

# the last day (one load cycle): a snapshot every 30 min (the simulated plant sends one every 10)
HISTORY_SNAPSHOTS = 48
TREND_SNAPSHOTS = 16  # the history since the pump started
EARLY_HISTORY, EARLY_ROWS = 0.4, 24  # rows over the first 40% of the life so far
FLEET_PUMPS = 12  # sister pumps of the same type with their commissioning load models


def fleet_baselines(meta: dict[str, Any], seed: int, n: int = FLEET_PUMPS) -> list[PumpBaseline]:
    """Commissioning temperature and process load models of n healthy sister pumps (their
    first day of rows), the fleet reference of `fleet_temperature_symptom`."""
    times = np.linspace(0.0, 86_400.0, 240)
    out = []
    for i in range(n):
        sim = PumpSimulator(f"fleet-pump-{i:02d}", meta, seed=seed)
        temp = sim.temperature_rows(times, tick=10_000_001)
        proc = sim.process_rows(times, tick=10_000_002)
        out.append(fit_pump_baseline([], temp, proc))
    return out


def pump_evidence(
    sim: PumpSimulator,
    t: float,
    healthy_until: float,
    context: bool = True,
    fleet: list[PumpBaseline] | None = None,
) -> dict[str, float]:
    """Symptom strengths of pump `sim` at life time t, against its baseline before
    `healthy_until` (life seconds): the latest snapshot and rows, the last day (a snapshot
    every 30 min with the rows at the same times; process and temperature rows every 2 minutes;
    the casing temperature estimated from the ambient and load rows since three hours
    before),
    the history since the pump's start (snapshots; rows over its first 40%), its
    commissioning load model against the sister pumps' (`fleet`), and (with `context`) the
    plant's records (`PumpSimulator.context`)."""
    meta = sim.meta
    geometry = geometry_of(meta)
    vanes = int(meta.get("impeller_vanes", 6))
    base_t = np.linspace(0.05, 0.95, 6) * healthy_until
    base_rows_t = np.linspace(0.0, 0.98 * healthy_until, 240)
    temp_b = sim.temperature_rows(base_rows_t, tick=10_000_001)
    proc_b = sim.process_rows(base_rows_t, tick=10_000_002)
    base_snaps = [sim.snapshot(float(tb)) for tb in base_t]
    base_speed = sim.process_rows(base_t, tick=10_000_003)[:, 0] / 60

    def features(x: np.ndarray, shaft: float) -> dict[str, float]:
        return vibration_features(x, sim.fs, shaft, geometry, vanes)

    vib_b = [features(x, f) for x, f in zip(base_snaps, base_speed, strict=True)]
    baseline = fit_pump_baseline(vib_b, temp_b, proc_b)
    temp = sim.temperature_rows(t - 5.0 * np.arange(10)[::-1])
    proc = sim.process_rows(t - np.arange(60)[::-1].astype(float))
    # the speed comes from the process rows' speed sensor, not the simulator's truth
    ev = pump_symptoms(sim.snapshot(t), sim.fs, temp, proc, baseline, geometry, vanes)
    # the last day (less for a pump younger than that): one load cycle
    span = min(86_400.0, 0.95 * t)
    day_t = t - span * np.arange(1, HISTORY_SNAPSHOTS + 1)[::-1] / HISTORY_SNAPSHOTS
    day_temp = sim.temperature_rows(day_t, tick=10_000_004)
    day_proc = sim.process_rows(day_t, tick=10_000_005)
    day_snaps = [sim.snapshot(float(td)) for td in day_t]
    day_vib = [features(x, r[0] / 60) for x, r in zip(day_snaps, day_proc, strict=True)]
    o1, o2, hf, harm = (np.array([f[k] for f in day_vib]) for k in ("o1", "o2", "hf", "harm"))
    # a slow shift shows in the median of the last six hours' snapshots
    shifts = recent_shift_symptoms(day_vib[-HISTORY_SNAPSHOTS // 4 :], baseline)
    ev["vib.resonance_shift"] = shifts.get("vib.resonance_shift", ev.get("vib.resonance_shift"))
    # the casing temperature from the ambient and the load rows, from three time constants
    # before the first snapshot on
    lag_t = np.linspace(day_t[0] - 3 * CASING_TAU_S, t, 720)
    lag_t = lag_t[lag_t >= 0.0]
    lag_load = sim.process_rows(lag_t, tick=10_000_009)[:, 1]
    lag_ambient = sim.temperature_rows(lag_t, tick=10_000_010)[:, 3]
    casing = casing_estimate(day_t, lag_t, lag_load, lag_ambient)
    # the film's temperature as the weather and the duty set it: the healthy load model of
    # the drive end (the breakdown's own heat grows with it, not with the weather)
    film = day_temp[:, 0]
    if baseline.temp_coef is not None:
        a, b = baseline.temp_coef[0]
        film = day_temp[:, 3] + a + b * day_proc[:, 1] / 100
    o2_healthy = None
    if "o2" in baseline.vib_median:
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
            hf_healthy=baseline.vib_median.get("hf"),
            casing=casing,
            o2_healthy=o2_healthy,
        )
    )
    phases = [cross_phase(x, sim.fs, r[0] / 60) for x, r in zip(day_snaps, day_proc, strict=True)]
    base_phases = [cross_phase(x, sim.fs, f) for x, f in zip(base_snaps, base_speed, strict=True)]
    # the last half day: the fault is further on there
    wander = phase_wander_symptom(np.array(phases[HISTORY_SNAPSHOTS // 2 :]), np.array(base_phases))
    rows_t = t - span * np.arange(720)[::-1] / 720  # rows every two minutes over the day
    rows_proc = sim.process_rows(rows_t)
    rows = process_symptoms(rows_proc, baseline)
    ev.update(
        temperature_spike_symptom(rows_t, sim.temperature_rows(rows_t), rows_proc[:, 1], baseline)
    )
    ev.update({k: rows[k] for k in ("proc.load_high", "proc.suction_drop_with_flow") if k in rows})
    # the history since the pump started
    trend_t = np.linspace(0.0, t, TREND_SNAPSHOTS + 1)[1:]
    trend_speed = sim.process_rows(trend_t, tick=10_000_006)[:, 0] / 60
    trend_vib = [
        features(sim.snapshot(float(tt)), f) for tt, f in zip(trend_t, trend_speed, strict=True)
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
    # the early history (before most faults start): rows over its first 40%
    early_t = np.linspace(0.0, EARLY_HISTORY * t, EARLY_ROWS + 1)[1:]
    early_proc = sim.process_rows(early_t, tick=10_000_007)
    early_temp = sim.temperature_rows(early_t, tick=10_000_008)
    ev.update(temperature_creep_symptom(early_t, early_temp, early_proc[:, 1], baseline))
    if fleet:
        ev.update(fleet_temperature_symptom(baseline, fleet))
    if context:
        ev.update(context_symptoms(sim.context(t)))
    return ev
