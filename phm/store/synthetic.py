"""A synthetic store for the dashboard's tests and bench: registered assets, hourly
predictions of a degrading fleet, alerts in every status (some with root causes), dead letters,
ingest counters, and lake data (process and temperature rows, vibration snapshots) of chosen
pumps from the pump simulator. Written through the real `StateStore` and `LakeWriter`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phm.ingest.codec import Batch
from phm.plant import Plant, load_plant
from phm.sim.rotating import FAULT_MODES, FaultScenario, PumpSimulator
from phm.store.lake import LakeWriter, Segment
from phm.store.state import DeadLetter, StateStore

PLANT_CLASSES = ("healthy", *FAULT_MODES)  # the pump model's classes (phm.models.prepare_plant)
ROOT_CAUSES_EXAMPLE = [
    {
        "cause": "contamination",
        "label": "contamination of the lubricant",
        "probability": 0.62,
        "path": ["envelope_bpfi", "inner_race", "contamination"],
        "actions": ["replace the drive-end bearing", "check the seals and the lubricant"],
    },
    {
        "cause": "overload / fatigue",
        "probability": 0.25,
        "path": ["envelope_bpfi", "inner_race", "overload / fatigue"],
        "actions": ["check the duty point against the pump curve"],
    },
]


@dataclass
class FixtureStore:
    """What `build_store` wrote: the folder, the plant, and the ids tests refer to."""

    root: Path
    plant: Plant
    now: float
    alarm_asset: str
    open_alert: int
    acked_alert: int
    cleared_alert: int
    lake_assets: list[str]


def _fault_probs(rng: np.random.Generator, health: float, mode: str) -> dict[str, float]:
    rest = rng.dirichlet(np.ones(len(PLANT_CLASSES) - 1)) * 0.2 * (1 - health)
    probs = dict(zip(PLANT_CLASSES[1:], rest, strict=True))
    probs[mode] += (1 - health) - rest.sum()
    return {"healthy": health, **{k: float(v) for k, v in probs.items()}}


def write_predictions(
    state: StateStore,
    assets: list[str],
    start: float,
    end: float,
    every_s: float = 3600.0,
    seed: int = 0,
    model: str = "pump.pt:plant",
    layers: int = 2,
    experts: int = 8,
) -> int:
    """Predictions of every asset every `every_s` seconds from start to end, in bulk; each
    asset degrades towards a fault mode at its own pace. Returns the rows written."""
    rng = np.random.default_rng(seed)
    times = np.arange(start, end, every_s)
    rows = []
    for k, asset in enumerate(assets):
        life = rng.uniform(0.5, 3.0) * (end - start) / 3600.0  # hours of life at the start
        mode = PLANT_CLASSES[1 + k % (len(PLANT_CLASSES) - 1)]
        for t in times:
            rul = max(life - (t - start) / 3600.0, 0.0)
            health = float(np.clip(rul / 100.0, 0.02, 0.98))
            load = rng.dirichlet(np.ones(experts), size=layers).tolist()
            rows.append(
                (
                    asset,
                    float(t),
                    model,
                    json.dumps(_fault_probs(rng, health, mode)),
                    rul,
                    rul * 0.6,
                    rul * 1.5 + 2.0,
                    health,
                    json.dumps(load),
                    json.dumps({"unit": "hours of life", "top_mode": mode}),
                )
            )
    with state.transaction() as conn:
        conn.executemany(
            "INSERT INTO predictions (asset_id, time, model, fault_probs, rul_median, "
            "rul_lower, rul_upper, health, expert_load, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def write_pump_lake(
    root: Path,
    plant: Plant,
    asset: str,
    start: float,
    end: float,
    snapshot_every_s: float = 3600.0,
    batch_s: float = 3600.0,
    samples: int | None = None,
) -> list[Segment]:
    """Process (1 Hz) and temperature (0.2 Hz) rows and vibration snapshots of one pump with a
    developing inner-race fault, from start to end (Unix s), one batch per `batch_s`."""
    meta = plant.types["pump"].meta
    span = end - start
    sim = PumpSimulator(asset, meta, 0, FaultScenario("inner_race", "contamination", 0.0, span))
    writer = LakeWriter(root, plant)
    segments: list[Segment] = []
    seq = 0
    for b0 in np.arange(start, end, batch_s):
        batches = []
        for stream in ("process", "temperature"):
            spec = plant.stream(asset, stream)
            dt = 1.0 / spec.sampling_hz
            life = np.arange(b0 - start, min(b0 + batch_s, end) - start, dt)
            rows = sim.process_rows(life) if stream == "process" else sim.temperature_rows(life)
            batches.append(Batch(asset, stream, seq, start + life[0], dt, spec.channels, rows))
        spec = plant.stream(asset, "vibration")
        for t in np.arange(b0, min(b0 + batch_s, end), snapshot_every_s):
            snap = sim.snapshot(float(t - start))[None]
            if samples is not None:
                snap = snap[..., :samples]
            seq += 1
            batches.append(
                Batch(asset, "vibration", seq, float(t), 0.0, spec.channels, snap, fs=sim.fs)
            )
        seq += 1
        segments += writer.write(batches)
    return segments


def build_store(
    root: str | Path,
    n_assets: int = 8,
    days: float = 2.0,
    lake_assets: tuple[str, ...] = ("pump-001",),
    lake_days: float | None = None,
    now: float | None = None,
    seed: int = 0,
) -> FixtureStore:
    """A store at `root` (state.sqlite + lake/) with `n_assets` assets (the demo plant
    resized), hourly predictions of the pumps over the last `days`, lake data of
    `lake_assets` over the last `lake_days` (default: days), three alerts on `pump-001`
    (open alarm with root causes, acknowledged watch, cleared watch), an open watch on
    `pump-002`, two dead letters and ingest counters."""
    root = Path(root)
    now = time.time() if now is None else now
    plant = load_plant(assets=n_assets)
    state = StateStore(root / "state.sqlite")
    state.register_assets(plant)
    pumps = [a for a, x in plant.assets.items() if x.type == "pump"]
    write_predictions(state, pumps, now - days * 86400.0, now, seed=seed)
    segments: list[Segment] = []
    for asset in lake_assets:
        span = (lake_days or days) * 86400.0
        segments += write_pump_lake(root / "lake", plant, asset, now - span, now)
    dead = [
        DeadLetter(now - 60, "phm/v1/site1/line1/pump-009/process", "unknown_asset", "x", b"ab"),
        DeadLetter(now - 30, "phm/v1/bad", "bad_topic", "too few levels", b"abc"),
    ]
    counters = {
        "ingest_messages": 1234,
        "ingest_readings": 987654,
        "dead_letters": 2,
        "dead_letter_unknown_asset": 1,
        "dead_letter_bad_topic": 1,
        "broker_connected": 1,
        "ingest_last_message_at": int(now - 2),
        "ingest_status_at": int(now - 3),
    }
    state.commit_ingest(segments, [], dead, counters)
    a = pumps[0]
    cleared = state.open_alert(a, "condition", "watch", "watch: early signs", at=now - 80000)
    state.clear_alert(cleared, at=now - 70000)
    acked = state.open_alert(a, "condition", "watch", "watch: imbalance, risk 0.55", at=now - 9000)
    state.acknowledge(acked, "Ana", "balancing booked for Friday", at=now - 8000)
    details = {
        "risk": 0.93,
        "top_mode": "inner_race",
        "root_causes": ROOT_CAUSES_EXAMPLE,
        "symptoms": {"envelope_bpfi": 0.81, "bearing_temperature_rise": 0.35},
    }
    opened = state.open_alert(
        a, "condition", "alarm", "alarm: inner_race, risk 0.93", details, at=now - 3600
    )
    if len(pumps) > 1:
        state.open_alert(pumps[1], "condition", "watch", "watch: cavitation", at=now - 600)
    return FixtureStore(root, plant, now, a, opened, acked, cleared, list(lake_assets))
