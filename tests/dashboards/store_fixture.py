"""The dashboard tests' synthetic store: registered assets, hourly predictions of a degrading
fleet, alerts in every status (some with root causes), dead letters, ingest counters, and lake
data of chosen pumps (the writers of `phm.bench.synthetic_store`, shared with `phm bench
dashboard`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from phm.bench.synthetic_store import ROOT_CAUSES_EXAMPLE, write_predictions, write_pump_lake
from phm.plant import Plant, load_plant
from phm.store.lake import Segment
from phm.store.state import DeadLetter, StateStore


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
