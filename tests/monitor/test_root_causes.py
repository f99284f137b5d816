"""The monitor's root causes read a pump's day and history from a real lake: the day-long,
history and fleet detectors run live, and a young pump still gets its snapshot symptoms."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from phm.diagnosis.record import HISTORY_SNAPSHOTS
from phm.monitor.pump_record import evenly, nearest, read_pump_record
from phm.monitor.scorer import Monitor, ScoringModel
from phm.plant import load_plant
from phm.sim.rotating import FaultScenario, PumpSimulator
from phm.store.lake import Lake, LakeWriter
from phm.store.state import Prediction, StateStore
from phm.wire.codec import Batch

T0 = 1.7e9
DAY = 86_400.0


def write_pump(
    store: Path, asset: str, fault: FaultScenario | None, life_s: float, every_s: float
) -> float:
    """A snapshot every `every_s` of life up to `life_s`, temperature rows every 5 s and
    process rows every second in between (the plant's rates); returns the last snapshot's
    lake time."""
    plant = load_plant()
    sim = PumpSimulator(asset, plant.types["pump"].meta, 0, fault)
    temp = plant.stream(asset, "temperature").channels
    proc = plant.stream(asset, "process").channels
    state = StateStore(store / "state.sqlite")
    state.register_assets(plant)
    writer = LakeWriter(store / "lake", plant)
    n = int(life_s // every_s)
    for k in range(1, n + 1):
        t = k * every_s
        t_temp = t - every_s + 5.0 * np.arange(1, int(every_s // 5) + 1)
        t_proc = t - every_s + np.arange(1, int(every_s) + 1, dtype=float)
        batches = [
            Batch(asset, "vibration", k, T0 + t, 0.0, ("drive_end", "fan_end"),
                  sim.snapshot(t)[None], fs=12800.0),
            Batch(asset, "temperature", k, T0 + t_temp[0], 5.0, temp, sim.temperature_rows(t_temp)),
            Batch(asset, "process", k, T0 + t_proc[0], 1.0, proc, sim.process_rows(t_proc)),
        ]  # fmt: skip
        state.commit_ingest(writer.write(batches), [], [], {})
    return T0 + n * every_s


def prediction(asset: str, t: float, mode: str) -> Prediction:
    probs = {"healthy": 0.1, mode: 0.9}
    return Prediction(asset, t, "test", probs, None, None, None, 0.1, [], {})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pump checkpoint (untrained: root causes do not run the model)."""
    import dataclasses

    from phm.models.data import TrainConfig
    from phm.models.model import PhmModel, load_config, save_checkpoint
    from phm.models.prepare_plant import PlantOptions, prepare_plant

    tiny = Path(__file__).parents[2] / "phm" / "configs" / "models" / "tiny.toml"
    prep = prepare_plant(
        PlantOptions(pumps=3, test_pumps=0, plant=None),
        TrainConfig(snapshots=3, snapshot=256),
        0,
    )
    path = tmp_path_factory.mktemp("ckpt") / "pump.pt"
    cfg = dataclasses.replace(load_config(tiny), **prep.config_updates)
    save_checkpoint(path, PhmModel(cfg), prep.header)
    return path


def test_nearest_and_evenly_pick_by_hand() -> None:
    times = np.array([0.0, 10.0, 20.0, 40.0])
    at = np.array([-5.0, 4.0, 6.0, 15.0, 29.0, 31.0, 99.0])
    assert nearest(times, at).tolist() == [0, 0, 1, 1, 2, 3, 3]  # a tie goes to the earlier
    assert nearest(np.array([7.0]), at).tolist() == [0] * 7
    assert evenly(144, 24).tolist() == np.linspace(0, 143, 24).round().astype(int).tolist()
    assert evenly(5, 24).tolist() == [0, 1, 2, 3, 4]
    assert evenly(0, 24).size == 0


@pytest.mark.parametrize(
    ("mode", "cause", "telling", "quiet", "graph_cause"),
    [
        (
            "looseness",
            "loose hold-down bolts",
            "trend.1x_step",
            "temp.bearing_de_spikes",
            "c.loose_bolts",
        ),
        (
            "lubrication",
            "insufficient lubrication",
            "temp.bearing_de_spikes",
            "trend.1x_step",
            "c.insufficient_lubrication",
        ),
    ],
)
def test_root_causes_of_a_pump_with_a_day_of_data_use_day_long_detectors(
    tmp_path: Path,
    checkpoint: Path,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    cause: str,
    telling: str,
    quiet: str,
    graph_cause: str,
) -> None:
    fault = FaultScenario(mode, cause, 0.35 * DAY, 1.1 * DAY)
    t = write_pump(tmp_path, "pump-001", fault, DAY, 1800.0)  # 48 snapshots
    for k in range(2, 7):  # healthy sister pumps with a baseline each (6 h)
        write_pump(tmp_path, f"pump-{k:03d}", None, 6 * 3600.0, 1800.0)
    monitor = Monitor(tmp_path, load_plant(), ScoringModel.load(checkpoint))
    with caplog.at_level(logging.ERROR):
        out = monitor.root_causes("pump-001", prediction("pump-001", t, mode))
    assert not caplog.records  # no detector failed and was swallowed
    symptoms = out["symptoms"]
    assert symptoms[telling] > 0.9 and symptoms[quiet] < 0.1  # the other fault's is quiet
    # the day (load cycle), the history and the fleet ran; the plant's records did not
    day_long = {"trend.1x_vs_load", "trend.2x_vs_load", "trend.1x_phase", "temp.bearing_de_spikes"}
    history = {"trend.1x_step", "trend.defect_at_startup", "temp.bearing_de_creep"}
    assert day_long | history | {"temp.bearing_de_above_fleet"} <= set(symptoms)
    assert not any(k.startswith("ctx.") for k in symptoms)
    assert all(0.0 <= v <= 1.0 for v in symptoms.values())
    assert out["root_causes"][0]["cause"] == graph_cause
    # the record: a day of snapshots every 30 min with its latest, 16 history snapshots, early rows
    plant = load_plant()
    record = read_pump_record(
        Lake(tmp_path / "lake", plant),
        plant,
        "pump-001",
        t,
        monitor.scorers["pump"].first_seen["pump-001"],
        monitor.scorers["pump"].base_phases["pump-001"],
    )
    assert record is not None
    assert record.day_times.size == HISTORY_SNAPSHOTS and record.day_times[-1] == t
    assert record.day_times[0] == pytest.approx(t - DAY + 1800.0)
    assert record.day_snapshots.shape == (HISTORY_SNAPSHOTS, 2, 4096)
    assert record.trend_times.size == 16 and record.trend_snapshots.shape[0] == 16
    assert record.row_times.size == 720 and record.early_times.size == 24
    assert record.base_phases.size == 12


def test_a_pump_with_an_hour_of_data_gets_its_snapshot_symptoms(
    tmp_path: Path, checkpoint: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fault = FaultScenario("outer_race", "worn bearing", 0.0, 7200.0)
    t = write_pump(tmp_path, "pump-001", fault, 3600.0, 600.0)  # 6 snapshots: no baseline
    monitor = Monitor(tmp_path, load_plant(), ScoringModel.load(checkpoint))
    with caplog.at_level(logging.ERROR):
        out = monitor.root_causes("pump-001", prediction("pump-001", t, "outer_race"))
    assert not caplog.records
    symptoms = out["symptoms"]
    assert {"vib.env_bpfo", "vib.env_bpfi"} <= set(symptoms)  # need no baseline
    assert symptoms["vib.env_bpfo"] > 0.5
    # no baseline (12 snapshots) for the amplitudes and the temperature models; too short
    # for the load cycle (8 snapshots)
    assert "vib.1x" not in symptoms and "temp.bearing_de_spikes" not in symptoms
    assert "trend.1x_vs_load" not in symptoms
