"""The monitor reads pump windows from a real lake, writes predictions and opens alerts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from phm.errors import ConfigError
from phm.features.process import process_features
from phm.kg.loader import load_graph
from phm.models.checkpoint import CheckpointHeader
from phm.models.data import TrainConfig
from phm.models.model import PhmModel, load_config, save_checkpoint
from phm.models.prepare_plant import PlantOptions, prepare_plant
from phm.monitor.scorer import ION_MILL_ROW_S, PROCESS_CONFIG, Monitor, ScoringModel
from phm.plant import load_plant
from phm.sim.rotating import FaultScenario, PumpSimulator
from phm.store.lake import Lake, LakeWriter
from phm.store.state import StateStore
from phm.wire.codec import Batch

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "phm" / "configs" / "models" / "tiny.toml"
T0 = 1.7e9


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tcfg = TrainConfig(snapshots=3, snapshot=256)
    prep = prepare_plant(PlantOptions(pumps=3, test_pumps=0, plant=None), tcfg, 0)
    cfg = dataclasses.replace(load_config(TINY), **prep.config_updates)
    path = tmp_path_factory.mktemp("ckpt") / "pump.pt"
    save_checkpoint(path, PhmModel(cfg), prep.header)  # untrained: the wiring is under test
    return path


def write_pump(store: Path, asset: str, n: int) -> None:
    plant = load_plant()
    fault = FaultScenario("inner_race", "contamination", 0.0, 3600.0 * n)
    sim = PumpSimulator(asset, plant.types["pump"].meta, 0, fault)
    life = 1800.0 * np.arange(1, n + 1)
    batches = []
    for i, t in enumerate(life):
        when = T0 + t
        batches.append(
            Batch(
                asset,
                "vibration",
                i,
                when,
                0.0,
                ("drive_end", "fan_end"),
                sim.snapshot(float(t))[None],
                fs=12800.0,
            )
        )
        temp = plant.stream(asset, "temperature").channels
        proc = plant.stream(asset, "process").channels
        batches.append(
            Batch(asset, "temperature", i, when - 1, 0.0, temp, sim.temperature_rows(np.array([t])))
        )
        batches.append(
            Batch(asset, "process", i, when - 1, 0.0, proc, sim.process_rows(np.array([t])))
        )
    state = StateStore(store / "state.sqlite")
    state.register_assets(plant)
    state.commit_ingest(LakeWriter(store / "lake", plant).write(batches), [], [], {})


def test_monitor_scores_new_snapshots_once_and_opens_an_alert(
    tmp_path: Path, checkpoint: Path
) -> None:
    write_pump(tmp_path, "pump-001", 2)
    monitor = Monitor(tmp_path, load_plant(), ScoringModel.load(checkpoint))
    preds = monitor.evaluate(now=T0 + 10_000)
    assert [p.asset_id for p in preds] == ["pump-001"]  # only the pump with data
    p = preds[0]
    assert sum(p.fault_probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(p.fault_probs) >= {"healthy", "inner_race"}
    assert p.health == p.fault_probs["healthy"]
    if p.rul_lower is not None and p.rul_median is not None:
        assert p.rul_lower <= p.rul_median
    assert len(p.expert_load) == 1 and sum(p.expert_load[0]) == pytest.approx(1.0)
    assert monitor.evaluate(now=T0 + 10_000) == []  # nothing new: nothing written
    state = StateStore(tmp_path / "state.sqlite")
    assert len(state.predictions("pump-001")) == 1
    # an untrained model gives P(healthy) ~ 1/8: risk ~0.9, an alert after `confirm` passes
    write_pump(tmp_path, "pump-001", 4)
    for _ in range(3):
        monitor.last_scored.clear()
        monitor.evaluate(now=T0 + 20_000)
    alerts = state.alerts(asset="pump-001")
    assert len(alerts) == 1 and alerts[0].status == "open"
    assert alerts[0].severity in ("watch", "alarm")
    causes = alerts[0].details["root_causes"]
    assert causes and causes[0]["probability"] >= causes[-1]["probability"]
    assert causes[0]["actions"] and causes[0]["path"][0] == causes[0]["cause"]
    assert alerts[0].details["symptoms"]  # the detectors ran on the latest snapshot
    again = Monitor(tmp_path, load_plant(), ScoringModel.load(checkpoint))  # restart
    assert again.levels["pump-001"].level == alerts[0].severity


def test_monitor_refuses_a_checkpoint_of_another_dataset(tmp_path: Path) -> None:
    cfg = dataclasses.replace(load_config(TINY), process_channels=2, max_positions=4)
    path = tmp_path / "cmapss.pt"
    save_checkpoint(path, PhmModel(cfg), CheckpointHeader(dataset="cmapss"))
    with pytest.raises(ConfigError, match="dataset 'cmapss'"):
        ScoringModel.load(path)


def test_monitor_scores_ion_mill_tools_from_their_process_rows(tmp_path: Path) -> None:
    from phm.datasets.phm2018 import Phm2018Dataset
    from phm.models.prepare import Phm2018Options, prepare_phm2018
    from phm.sim.ion_mill_files import simulate_phm2018

    sim = tmp_path / "sim"
    simulate_phm2018(sim, tools=2, days=1.5, seed=2, test_tools=1, workers=1, progress=False)
    tcfg = TrainConfig(val_fraction=0.5)
    prep = prepare_phm2018(Phm2018Options(data=sim, stride=60, near_stride=20), tcfg, 0)
    cfg = dataclasses.replace(load_config(TINY), **prep.config_updates)
    ckpt = tmp_path / "ion.pt"
    save_checkpoint(ckpt, PhmModel(cfg), prep.header)
    plant = load_plant()
    channels = plant.stream("ion_mill-001", "process").channels
    run = Phm2018Dataset(sim).load_train(Phm2018Dataset(sim).train_tools()[0])
    rows = run.signals.head(30_000)
    codes = [c for c in channels if rows[c].dtype == pl.String]  # e.g. Lot "L0869" -> 869
    rows = rows.with_columns(pl.col(c).str.extract(r"(\d+)").cast(pl.Float32) for c in codes)
    values = rows.select(channels).to_numpy().astype(np.float32)
    values[np.isnan(values)] = 0.0
    times = rows["time"].to_numpy().astype(float) + T0
    batches = [
        Batch("ion_mill-001", "process", i, float(times[a]), 4.0, channels, values[a : a + 1000])
        for i, a in enumerate(range(0, len(values), 1000))
    ]
    store = tmp_path / "store"
    state = StateStore(store / "state.sqlite")
    state.register_assets(plant)
    half = len(batches) // 2  # the rows arrive in two parts, scored after each
    state.commit_ingest(LakeWriter(store / "lake", plant).write(batches[:half]), [], [], {})
    pump = tmp_path / "pump.pt"
    tcfg = TrainConfig(snapshots=3, snapshot=256)
    pprep = prepare_plant(PlantOptions(pumps=3, test_pumps=0, plant=None), tcfg, 0)
    save_checkpoint(
        pump,
        PhmModel(dataclasses.replace(load_config(TINY), **pprep.config_updates)),
        pprep.header,
    )
    with pytest.raises(ConfigError, match="dataset 'phm2018'"):
        ScoringModel.load(ckpt)  # a pump model is expected by default
    monitor = Monitor(
        store, plant, ScoringModel.load(pump), ion_mill_model=ScoringModel.load(ckpt, "phm2018")
    )
    first = monitor.evaluate(now=T0 + 10**6)
    assert [p.asset_id for p in first] == ["ion_mill-001"]
    assert first[0].time == pytest.approx(times[half * 1000 - 1])
    state.commit_ingest(LakeWriter(store / "lake", plant).write(batches[half:]), [], [], {})
    preds = monitor.evaluate(now=T0 + 10**6)
    assert [p.asset_id for p in preds] == ["ion_mill-001"]
    p = preds[0]
    assert set(p.fault_probs) == {"healthy", "pressure_low", "pressure_high", "leak"}
    assert sum(p.fault_probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert p.time == pytest.approx(times[len(values) - 1])
    assert p.rul_median is None or 0 <= p.rul_median <= p.details["horizon_h"]
    # the second pass fed only the new rows; its features equal the batch code's over
    # everything the monitor has read
    feed = monitor.scorers["ion_mill"].feeds["ion_mill-001"]
    start = times[half * 1000 - 1] - PROCESS_CONFIG.long_s - feed.keep * ION_MILL_ROW_S - 60.0
    frame = Lake(store / "lake", plant).read_rows("process", "ion_mill-001", start=start)
    batch = process_features(frame.with_columns(pl.col("time").round(0).cast(pl.Int64)))
    assert feed.features is not None and feed.features.height == feed.keep
    want = batch.tail(feed.keep).select(feed.features.columns)
    assert_frame_equal(feed.features, want, check_dtypes=False, rel_tol=1e-6, abs_tol=1e-9)


def test_monitor_ranks_with_the_plants_fault_history(tmp_path: Path, checkpoint: Path) -> None:
    text = (REPO / "phm" / "configs" / "plant.toml").read_text()
    head = "[types.pump]\n"
    assert head in text
    toml = tmp_path / "plant.toml"
    toml.write_text(text.replace(head, head + 'fault_history = "failures.csv"\n', 1))
    rows = [f"pump-{k:03d},2025-02-{1 + k % 28:02d},soft foot" for k in range(30)]
    (tmp_path / "failures.csv").write_text("asset,failed_at,cause\n" + "\n".join(rows) + "\n")
    plant = load_plant(toml)
    assert plant.types["pump"].fault_history == tmp_path / "failures.csv"
    monitor = Monitor(tmp_path / "store", plant, ScoringModel.load(checkpoint))
    shipped = load_graph("rotating_equipment")
    assert monitor.scorers["pump"].graph.prior("c.soft_foot") > 3 * shipped.prior("c.soft_foot")
    ion = load_graph("ion_mill_flowcool")
    assert all(
        monitor.scorers["ion_mill"].graph.prior(c) == ion.prior(c) for c in ion.of_type("cause")
    )


def test_the_registry_implements_the_scorer_names_the_plant_accepts() -> None:
    from phm.monitor.registry import SCORERS
    from phm.plant import SCORER_NAMES

    assert tuple(SCORERS) == SCORER_NAMES


def test_a_type_without_a_scorer_is_not_scored(tmp_path: Path, checkpoint: Path) -> None:
    text = (REPO / "phm" / "configs" / "plant.toml").read_text()
    line = 'scorer = "pump"'
    assert line in text
    toml = tmp_path / "plant.toml"
    toml.write_text(text.replace(line, "", 1))
    plant = load_plant(toml)
    assert plant.types["pump"].scorer is None
    write_pump(tmp_path, "pump-001", 2)
    monitor = Monitor(tmp_path, plant, ScoringModel.load(checkpoint))
    assert set(monitor.scorers) == {"ion_mill"}
    assert monitor.evaluate(now=T0 + 10_000) == []
    assert StateStore(tmp_path / "state.sqlite").predictions("pump-001") == []
    # the same data with the shipped plant, whose pumps name their scorer, is scored
    assert [p.asset_id for p in Monitor(tmp_path, load_plant(), ScoringModel.load(checkpoint))
            .evaluate(now=T0 + 10_000)] == ["pump-001"]  # fmt: skip
