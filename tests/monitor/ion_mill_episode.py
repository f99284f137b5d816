"""A simulated ion mill tool's fault episode written into a store's lake as ingest would, in
steps, so a test can score it with the monitor at a chosen cadence."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phm.plant import Plant
from phm.sim.plant import IonMillRows
from phm.store.lake import LakeWriter
from phm.store.state import StateStore
from phm.wire.codec import Batch

T0 = 1.7e9  # Unix time of the tool's life 0


class IonMillEpisode:
    """Tool `index` of the plant simulator under `seed` (ion_mill-002 of the demo plant is
    index 7): its rows up to life `until_s`, written into `store` by `write_until`."""

    def __init__(self, store: Path, plant: Plant, asset: str, index: int, seed: int) -> None:
        self.asset, self.plant = asset, plant
        self.rows = IonMillRows(index, seed, 4 * 86_400.0, 10_000)
        self.state = StateStore(store / "state.sqlite")
        self.state.register_assets(plant)
        self.writer = LakeWriter(store / "lake", plant)
        self.channels = plant.stream(asset, "process").channels
        self.seq = 0

    def faults(self, mode: str) -> list[tuple[float, float]]:
        """(precursor start, fault) life seconds of the tool's `mode` episodes."""
        return [(a, b) for m, a, b in self.rows.faults() if m == mode]

    def write_until(self, life_s: float) -> None:
        """Commit every row up to life `life_s` (Unix time T0 + life)."""
        batches = []
        for t0, dt, values in self.rows.ready(life_s, final=True):
            v = np.asarray(values, np.float32)
            batches.append(Batch(self.asset, "process", self.seq, T0 + t0, dt, self.channels, v))
            self.seq += 1
        if batches:
            self.state.commit_ingest(self.writer.write(batches), [], [], {})
