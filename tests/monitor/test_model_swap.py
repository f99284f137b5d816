"""Train on a plant's own lake, register versions, and swap the running monitor's model live.

A short simulation of four pumps is written to a real lake; `phm train --dataset lake` trains
a tiny model on it with the failure log and registers v0001 (active) and v0002; a Monitor
started on the store scores with v0001, picks v0002 up on its next pass after `phm models
activate` (no restart), refuses broken checkpoints (one that does not load, one that does not
fit a pump window) while v0002 keeps scoring, and goes back to v0001 on `phm models rollback`.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from phm.cli import main
from phm.models.checkpoint import CheckpointHeader
from phm.models.model import PhmModel, load_config, save_checkpoint
from phm.monitor.scorer import Monitor
from phm.plant import load_plant
from phm.sim.rotating import FaultScenario, PumpSimulator
from phm.store.lake import LakeWriter
from phm.store.registry import ModelRegistry
from phm.store.state import StateStore
from phm.wire.codec import Batch

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "phm" / "configs" / "models" / "tiny.toml"
T0 = 1.7e9
STEP_S = 1800.0
SNAPSHOTS = 12
FAULTS = {  # pump -> (mode, cause), failing just after the simulated span; None: healthy
    "pump-001": ("inner_race", "contamination"),
    "pump-002": None,
    "pump-003": ("looseness", "soft foot"),
    "pump-004": None,
}
FAILURE_S = STEP_S * (SNAPSHOTS + 1)


def write_snapshots(store: Path, asset: str, first: int, n: int) -> None:
    """Snapshots first .. first+n-1 (one every STEP_S) of `asset` and its rows, into the lake."""
    plant = load_plant()
    fault = FAULTS[asset]
    scenario = None if fault is None else FaultScenario(*fault, 0.3 * FAILURE_S, FAILURE_S)
    sim = PumpSimulator(asset, plant.types["pump"].meta, 0, scenario)
    temp = plant.stream(asset, "temperature").channels
    proc = plant.stream(asset, "process").channels
    batches = []
    for i in range(first, first + n):
        t = STEP_S * (i + 1)
        x = sim.snapshot(t)[None]
        batches += [
            Batch(asset, "vibration", i, T0 + t, 0.0, ("drive_end", "fan_end"), x, fs=12800.0),
            Batch(asset, "temperature", i, T0 + t - 1, 0.0, temp, sim.temperature_rows([t])),
            Batch(asset, "process", i, T0 + t - 1, 0.0, proc, sim.process_rows([t])),
        ]
    state = StateStore(store / "state.sqlite")
    state.register_assets(plant)
    state.commit_ingest(LakeWriter(store / "lake", plant).write(batches), [], [], {})


@pytest.fixture
def lake_store(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(store, failures.csv, tiny pump model TOML)."""
    store = tmp_path / "store"
    for asset in FAULTS:
        write_snapshots(store, asset, 0, SNAPSHOTS)
    failed_at = datetime.fromtimestamp(T0 + FAILURE_S, UTC).isoformat()
    failures = tmp_path / "failures.csv"
    failures.write_text(
        "asset,failed_at,cause,mode\n"
        + "".join(f"{a},{failed_at},{f[1]},{f[0]}\n" for a, f in FAULTS.items() if f)
    )
    config = tmp_path / "tiny-pump.toml"
    config.write_text(TINY.read_text() + "snapshots = 3\nsnapshot = 256\nval_fraction = 0.34\n")
    return store, failures, config


def train(store: Path, failures: Path, config: Path, seed: int) -> int:
    return main(
        ["train", "--dataset", "lake", "--store", str(store), "--failures", str(failures),
         "--config", str(config), "--epochs", "1", "--threads", "1", "--seed", str(seed)]
    )  # fmt: skip


def new_predictions(monitor: Monitor, store: Path, first: int) -> list:
    """One more snapshot of every pump, then one monitor pass: its predictions."""
    for asset in FAULTS:
        write_snapshots(store, asset, first, 1)
    return monitor.evaluate(now=T0 + STEP_S * (first + 2))


@pytest.mark.filterwarnings("ignore:no validation window has a known RUL")
def test_monitor_swaps_to_an_activated_version_and_rolls_back_without_restart(
    lake_store: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, failures, config = lake_store
    assert train(store, failures, config, seed=0) == 0
    out = capsys.readouterr().out
    assert '"test"' in out and '"accuracy"' in out  # held-out figures printed
    assert "held-out windows" in out and "accuracy" in out
    assert "models/pump/v0001: active (parent none)" in out
    assert train(store, failures, config, seed=1) == 0
    assert "phm models activate v0002" in capsys.readouterr().out
    registry = ModelRegistry(store)
    v1, v2 = registry.versions()
    assert (registry.active(), v2.parent, v1.dataset) == ("v0001", "v0001", "lake")
    assert v1.metrics["test"]["fault"]["n"] > 0  # the held-out pump's windows were scored

    monitor = Monitor(store, load_plant())  # no checkpoint given: the registry's active one
    first = monitor.evaluate(now=T0 + 1e5)
    assert sorted(p.asset_id for p in first) == sorted(FAULTS)
    assert {p.details["model_version"] for p in first} == {"v0001"}
    assert {p.model for p in first} == {"pump/v0001:tiny"}

    assert main(["models", "activate", "v0002", "--store", str(store)]) == 0
    swapped = new_predictions(monitor, store, SNAPSHOTS)
    assert len(swapped) == len(FAULTS)
    assert {p.details["model_version"] for p in swapped} == {"v0002"}
    assert {p.model for p in swapped} == {"pump/v0002:tiny"}
    probs = {p.asset_id: p.fault_probs for p in swapped}

    # a version whose checkpoint is broken on disk is refused; v0002 keeps scoring
    broken = registry.root / "v0003"
    broken.mkdir()
    (broken / "model.pt").write_bytes(b"garbage")
    (broken / "meta.json").write_text((v2.path / "meta.json").read_text().replace("v0002", "v0003"))
    (registry.root / "active").write_text("v0003\n")
    with caplog.at_level(logging.ERROR, logger="phm.monitor.scorer"):
        kept = new_predictions(monitor, store, SNAPSHOTS + 1)
    assert "model pump/v0003 refused" in caplog.text
    assert {p.details["model_version"] for p in kept} == {"v0002"}
    assert all(set(p.fault_probs) == set(probs[p.asset_id]) for p in kept)
    # ... and so is one that loads but does not fit a pump window (another input layout)
    odd = registry.root / "v0004"
    odd.mkdir()
    cfg = dataclasses.replace(load_config(TINY), process_channels=2, max_positions=4)
    save_checkpoint(odd / "model.pt", PhmModel(cfg), CheckpointHeader(dataset="lake"))
    (odd / "meta.json").write_text((v2.path / "meta.json").read_text().replace("v0002", "v0004"))
    (registry.root / "active").write_text("v0004\n")
    with caplog.at_level(logging.ERROR, logger="phm.monitor.scorer"):
        kept = new_predictions(monitor, store, SNAPSHOTS + 2)
    assert "model pump/v0004 refused" in caplog.text
    assert {p.details["model_version"] for p in kept} == {"v0002"}

    assert main(["models", "rollback", "--store", str(store)]) == 0  # v0002 -> v0001
    back = new_predictions(monitor, store, SNAPSHOTS + 3)
    assert {p.details["model_version"] for p in back} == {"v0001"}
    rows = StateStore(store / "state.sqlite").predictions("pump-001")
    versions = [r.details["model_version"] for r in rows]
    assert versions == ["v0001", "v0002", "v0002", "v0002", "v0001"]
