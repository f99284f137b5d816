"""The simulator standing in for a plant's lake in `phm bench rootcause`: a
`phm.sim.rotating.PumpSimulator`'s snapshots and rows gathered into a
`phm.diagnosis.record.PumpRecord` the way a live monitor reads its lake (nothing from the
simulator's truth but the baseline period), plus the plant's records
(`PumpSimulator.context`), and the sister pumps' commissioning load models. Only the benches
may import `phm.sim`; the live path fills its records with `phm.monitor.pump_record`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from phm.diagnosis.context import context_symptoms
from phm.diagnosis.evidence import PumpBaseline, fit_pump_baseline, vibration_features
from phm.diagnosis.load_cycle import CASING_TAU_S, cross_phase
from phm.diagnosis.record import (
    EARLY_HISTORY,
    EARLY_ROWS,
    HISTORY_SNAPSHOTS,
    TREND_SNAPSHOTS,
    PumpRecord,
    record_symptoms,
)
from phm.features.spectral import BearingGeometry
from phm.plant import PumpSpec
from phm.sim.rotating import PumpSimulator

FLEET_PUMPS = 12  # sister pumps of the same type with their commissioning load models


def fleet_baselines(
    pump: PumpSpec | Mapping[str, Any], seed: int, n: int = FLEET_PUMPS
) -> list[PumpBaseline]:
    """Commissioning temperature and process load models of n healthy sister pumps (their
    first day of rows), the fleet reference of `fleet_temperature_symptom`."""
    times = np.linspace(0.0, 86_400.0, 240)
    out = []
    for i in range(n):
        sim = PumpSimulator(f"fleet-pump-{i:02d}", pump, seed=seed)
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
    before), the history since the pump's start (snapshots; rows over its first 40%), its
    commissioning load model against the sister pumps' (`fleet`), and (with `context`) the
    plant's records (`PumpSimulator.context`). `record_symptoms` on the simulator's data."""
    geometry = BearingGeometry.from_spec(sim.spec)
    vanes = sim.spec.impeller_vanes
    base_t = np.linspace(0.05, 0.95, 6) * healthy_until
    base_rows_t = np.linspace(0.0, 0.98 * healthy_until, 240)
    temp_b = sim.temperature_rows(base_rows_t, tick=10_000_001)
    proc_b = sim.process_rows(base_rows_t, tick=10_000_002)
    base_snaps = [sim.snapshot(float(tb)) for tb in base_t]
    base_speed = sim.process_rows(base_t, tick=10_000_003)[:, 0] / 60
    vib_b = [
        vibration_features(x, sim.fs, f, geometry, vanes)
        for x, f in zip(base_snaps, base_speed, strict=True)
    ]
    baseline = fit_pump_baseline(vib_b, temp_b, proc_b)
    # the last day (less for a pump younger than that): a snapshot every 30 min
    span = min(86_400.0, 0.95 * t)
    day_t = t - span * np.arange(1, HISTORY_SNAPSHOTS + 1)[::-1] / HISTORY_SNAPSHOTS
    lag_t = np.linspace(day_t[0] - 3 * CASING_TAU_S, t, 720)
    lag_t = lag_t[lag_t >= 0.0]
    rows_t = t - span * np.arange(720)[::-1] / 720  # rows every two minutes over the day
    trend_t = np.linspace(0.0, t, TREND_SNAPSHOTS + 1)[1:]
    early_t = np.linspace(0.0, EARLY_HISTORY * t, EARLY_ROWS + 1)[1:]
    record = PumpRecord(
        fs=sim.fs,
        snapshot=sim.snapshot(t),
        temperature=sim.temperature_rows(t - 5.0 * np.arange(10)[::-1]),
        process=sim.process_rows(t - np.arange(60)[::-1].astype(float)),
        day_times=day_t,
        day_snapshots=sim.snapshots(day_t),
        day_temperature=sim.temperature_rows(day_t, tick=10_000_004),
        day_process=sim.process_rows(day_t, tick=10_000_005),
        lag_times=lag_t,
        lag_load=sim.process_rows(lag_t, tick=10_000_009)[:, 1],
        lag_ambient=sim.temperature_rows(lag_t, tick=10_000_010)[:, 3],
        row_times=rows_t,
        row_temperature=sim.temperature_rows(rows_t),
        row_process=sim.process_rows(rows_t),
        trend_times=trend_t,
        trend_snapshots=sim.snapshots(trend_t),
        trend_shaft_hz=sim.process_rows(trend_t, tick=10_000_006)[:, 0] / 60,
        early_times=early_t,
        early_temperature=sim.temperature_rows(early_t, tick=10_000_008),
        early_process=sim.process_rows(early_t, tick=10_000_007),
        base_phases=np.array(
            [cross_phase(x, sim.fs, f) for x, f in zip(base_snaps, base_speed, strict=True)]
        ),
    )
    ev = record_symptoms(record, baseline, geometry, vanes, fleet)
    if context:
        ev.update(context_symptoms(sim.context(t)))
    return ev
