"""Fixtures for the report tests: a synthetic FD001-like subset with an (untrained) C-MAPSS
checkpoint, and a small live store of pumps with a pump checkpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from phm.models.data import TrainConfig
from phm.models.model import PhmModel, load_config, save_checkpoint
from phm.models.prepare import CmapssOptions, prepare_cmapss
from phm.models.prepare_plant import PlantOptions, prepare_plant
from phm.plant import load_plant
from phm.sim.rotating import FaultScenario, PumpSimulator
from phm.store.lake import LakeWriter
from phm.store.state import StateStore
from phm.wire.codec import Batch

TINY = Path(__file__).parents[2] / "phm" / "configs" / "models" / "tiny.toml"
T0 = 1.7e9


def write_fd001_like(folder: Path, n_train: int = 12, n_test: int = 8, seed: int = 0) -> Path:
    """A tiny FD001-shaped subset: one operating condition, sensors drifting towards failure."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def unit_rows(unit: int, life: int, cycles: int) -> list[str]:
        rows = []
        for c in range(1, cycles + 1):
            wear = c / life
            settings = [rng.normal(0, 0.002), rng.normal(0, 0.0003), 100.0]
            sensors = 500 + 10 * np.arange(21) + wear * np.linspace(-3, 3, 21)
            sensors = sensors + rng.normal(0, 0.3, 21)
            sensors[[0, 4, 9]] = [518.67, 14.62, 1.3]  # constant sensors, as in FD001
            rows.append(" ".join(f"{v:.4f}" for v in [unit, c, *settings, *sensors]) + " ")
        return rows

    train, test, rul = [], [], []
    for u in range(1, n_train + 1):
        life = int(rng.integers(40, 90))
        train += unit_rows(u, life, life)
    for u in range(1, n_test + 1):
        life = int(rng.integers(40, 90))
        cut = int(rng.integers(15, life - 2))
        test += unit_rows(u, life, cut)
        rul.append(str(life - cut))
    (folder / "train_FD001.txt").write_text("\n".join(train) + "\n")
    (folder / "test_FD001.txt").write_text("\n".join(test) + "\n")
    (folder / "RUL_FD001.txt").write_text("\n".join(rul) + "\n")
    return folder


@pytest.fixture(scope="session")
def cmapss_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder, checkpoint) for a synthetic FD001 with 8 test units."""
    root = tmp_path_factory.mktemp("cmapss")
    data = write_fd001_like(root / "cmapss")
    tcfg = TrainConfig(window=10)
    prep = prepare_cmapss(CmapssOptions(data=data, subset="FD001"), tcfg, 0)
    cfg = dataclasses.replace(load_config(TINY), **prep.config_updates)
    torch_seed(0)
    path = root / "cmapss.pt"
    save_checkpoint(path, PhmModel(cfg), prep.header)
    return data, path


def torch_seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


@pytest.fixture(scope="session")
def pump_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tcfg = TrainConfig(snapshots=3, snapshot=256)
    prep = prepare_plant(PlantOptions(pumps=3, test_pumps=0, plant=None), tcfg, 0)
    cfg = dataclasses.replace(load_config(TINY), **prep.config_updates)
    torch_seed(0)
    path = tmp_path_factory.mktemp("pump") / "pump.pt"
    save_checkpoint(path, PhmModel(cfg), prep.header)
    return path


def write_pump(store: Path, asset: str, n: int) -> None:
    """n snapshots (every 30 min of life) of a pump with rows, into the store at `store`."""
    plant = load_plant()
    fault = FaultScenario("inner_race", "contamination", 0.0, 3600.0 * n)
    sim = PumpSimulator(asset, plant.types["pump"].meta, 0, fault)
    batches = []
    for i, t in enumerate(1800.0 * np.arange(1, n + 1)):
        when = T0 + t
        snap = sim.snapshot(float(t))[None]
        batches.append(Batch(asset, "vibration", i, when, 0.0, ("drive_end", "fan_end"), snap,
                             fs=12800.0))  # fmt: skip
        for stream, render in (
            ("temperature", sim.temperature_rows),
            ("process", sim.process_rows),
        ):
            channels = plant.stream(asset, stream).channels
            batches.append(Batch(asset, stream, i, when - 1, 0.0, channels, render(np.array([t]))))
    state = StateStore(store / "state.sqlite")
    state.register_assets(plant)
    state.commit_ingest(LakeWriter(store / "lake", plant).write(batches), [], [], {})
    state.close()


@pytest.fixture(scope="session")
def pump_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with pump-001 (4 snapshots, an alert with root causes) and pump-002 (2)."""
    store = tmp_path_factory.mktemp("store")
    write_pump(store, "pump-001", 4)
    write_pump(store, "pump-002", 2)
    state = StateStore(store / "state.sqlite")
    causes = [
        {"cause": "bearing contamination", "probability": 0.7, "path": ["a", "b"],
         "actions": ["replace the drive-end bearing", "check the seals"]},
        {"cause": "lubricant degradation", "probability": 0.2, "actions": ["relubricate"]},
    ]  # fmt: skip
    state.open_alert("pump-001", "condition", "alarm", "alarm: inner_race", {"root_causes": causes},
                     at=T0 + 9000)  # fmt: skip
    state.close()
    truth = [
        '{"asset": "pump-001", "type": "pump", "mode": "inner_race", "root_cause": "x", '
        f'"onset_s": 0.0, "failure_s": 5400.0, "onset_time": {T0}, "failure_time": {T0 + 5400}}}',
        '{"asset": "pump-002", "type": "pump", "mode": "healthy", "root_cause": null}',
    ]
    (store / "truth.jsonl").write_text("\n".join(truth) + "\n")
    return store
