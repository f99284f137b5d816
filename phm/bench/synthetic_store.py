"""Synthetic store contents, for `phm bench dashboard` and the dashboard's tests: hourly
predictions of a degrading fleet (`write_predictions`), lake data (process and temperature rows,
vibration snapshots) of a pump from the pump simulator (`write_pump_lake`), and an example of an
alert's root causes. Written through the real `StateStore` and `LakeWriter`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from phm.plant import Plant, pump_spec
from phm.records import Batch
from phm.sim.rotating import FAULT_MODES, FaultScenario, PumpSimulator
from phm.store.lake import LakeWriter, Segment
from phm.store.state import StateStore

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


def _fault_probs(rng: np.random.Generator, health: float, mode: str) -> dict[str, float]:
    """Probabilities of the pump model's classes ("healthy", *FAULT_MODES) at this health."""
    rest = rng.dirichlet(np.ones(len(FAULT_MODES))) * 0.2 * (1 - health)
    probs = dict(zip(FAULT_MODES, rest, strict=True))
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
        mode = FAULT_MODES[k % len(FAULT_MODES)]
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
    span = end - start
    sim = PumpSimulator(
        asset, pump_spec(plant), 0, FaultScenario("inner_race", "contamination", 0.0, span)
    )
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
