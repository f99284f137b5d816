"""One coherent story from the monitor on recorded stores: an alert's headline mode agrees with
its top cause or says it does not, a failing pump's RUL only falls while its alert is open, no
asset without fault evidence has a finite RUL, and a simulated ion mill pressure_high episode
opens an alert before the fault."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from phm.bench.story import headline_checks, rul_checks
from phm.dashboard.queries import alert_history, fleet, open_store
from phm.models.data import TrainConfig
from phm.models.model import PhmModel, load_config, save_checkpoint
from phm.models.prepare_plant import PlantOptions, prepare_plant
from phm.monitor.priority import priority
from phm.monitor.scorer import Monitor, ScoringModel
from phm.plant import load_plant
from phm.sim.rotating import FaultScenario, PumpSimulator
from phm.store.lake import LakeWriter
from phm.store.state import StateStore
from phm.wire.codec import Batch
from tests.demo_models import trained_ion_mill_model
from tests.monitor.ion_mill_episode import T0, IonMillEpisode

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "phm" / "configs" / "models" / "tiny.toml"
STEP_S = 1800.0  # a snapshot, its rows and a scoring every half hour of data time


@pytest.fixture(scope="module")
def pump_model(tmp_path_factory: pytest.TempPathFactory) -> ScoringModel:
    """An untrained tiny pump model: P(healthy) ~ 1/8, so the alert opens at once."""
    tcfg = TrainConfig(snapshots=3, snapshot=256)
    prep = prepare_plant(PlantOptions(pumps=3, test_pumps=0, plant=None), tcfg, 0)
    cfg = dataclasses.replace(load_config(TINY), **prep.config_updates)
    path = tmp_path_factory.mktemp("ckpt") / "pump.pt"
    torch.manual_seed(0)  # the untrained weights must not depend on the tests run before
    save_checkpoint(path, PhmModel(cfg), prep.header)
    return ScoringModel.load(path)


def write_step(store: Path, sim: PumpSimulator, k: int) -> None:
    """Snapshot k of the pump at life k * STEP_S, with a temperature and a process row."""
    plant = load_plant()
    t = k * STEP_S
    temp = plant.stream(sim.asset_id, "temperature").channels
    proc = plant.stream(sim.asset_id, "process").channels
    batches = [
        Batch(sim.asset_id, "vibration", k, T0 + t, 0.0, ("drive_end", "fan_end"),
              sim.snapshot(t)[None], fs=12800.0),
        Batch(sim.asset_id, "temperature", k, T0 + t - 1, 0.0, temp,
              sim.temperature_rows(np.array([t]))),
        Batch(sim.asset_id, "process", k, T0 + t - 1, 0.0, proc, sim.process_rows(np.array([t]))),
    ]  # fmt: skip
    state = StateStore(store / "state.sqlite")
    state.register_assets(plant)
    state.commit_ingest(LakeWriter(store / "lake", plant).write(batches), [], [], {})


def stored_preds(monitor: Monitor) -> list:
    return monitor.state.predictions("pump-001")


def test_a_failing_pumps_alert_is_one_refreshed_story(tmp_path: Path, pump_model) -> None:
    plant = load_plant()
    fault = FaultScenario("looseness", "loose hold-down bolts", 0.0, 6 * STEP_S)
    sim = PumpSimulator("pump-001", plant.types["pump"].meta, 0, fault)
    monitor = Monitor(tmp_path, plant, pump_model)
    preds = []
    for k in range(1, 9):
        write_step(tmp_path, sim, k)
        preds += monitor.evaluate(now=T0 + k * STEP_S)
    assert len(preds) == 8
    # the first scoring only counts towards the alert: no fault evidence yet, RUL open
    assert preds[0].rul_median is None and preds[0].details["model_rul"]["median"] is not None
    (alert,) = monitor.state.alerts(asset="pump-001")
    d = alert.details
    # refreshed at every scoring: the alert shows the last prediction's numbers
    assert d["data_time"] == preds[-1].time and d["fault_probs"] == preds[-1].fault_probs
    assert d["mode"] == max(d["modes"], key=lambda m: m[1])[0]
    assert d["mode"] in alert.message
    # its ISA-18.2 priority follows the severity and the tracked RUL (pumps: consequence medium)
    rul = d["rul"]
    assert alert.priority == priority(alert.severity, "medium", rul["median"], rul["failed"])
    checks = headline_checks(monitor.state, [alert])
    assert checks and all(c["coherent"] for c in checks)
    # the RUL falls from scoring to scoring while the alert is open
    ruls = [p.rul_median for p in preds[1:]]
    assert all(r is not None for r in ruls)
    assert all(b <= a for a, b in itertools.pairwise(ruls))
    stored = [p.rul_median for p in monitor.state.predictions("pump-001")]
    assert stored == [p.rul_median for p in preds]
    (check,) = rul_checks(monitor.state, [alert], {"pump-001": stored_preds(monitor)}, {})
    assert check["rises"] == 0 and check["scorings"] == len(preds) - 1
    # a version at opening and one per change an operator reads, not one per scoring
    versions = monitor.state.alert_history(alert.alert_id)
    assert 1 <= len(versions) < len(preds) - 1
    # the fleet page shows the alert's mode and the displayed RUL aged to the latest data
    row = fleet(open_store(tmp_path)).filter(pl.col("asset") == "pump-001").row(0, named=True)
    assert (row["top_fault"], row["disagreement"]) == (d["mode"], d["disagreement"])
    assert row["rul_median"] == pytest.approx(preds[-1].rul_median)  # scored at the latest data
    # the alerts page lists the kept versions: each RUL no higher than the one before
    history = alert_history(open_store(tmp_path), alert.alert_id)
    assert history.height == len(versions) and history["mode"][-1] == d["mode"]
    assert (history["rul_median"].diff().drop_nulls() <= 0).all()
    # a restarted monitor carries the tracked RUL on from the alert
    again = Monitor(tmp_path, plant, pump_model)
    write_step(tmp_path, sim, 9)
    (last,) = again.evaluate(now=T0 + 9 * STEP_S)
    assert last.rul_median is not None and last.rul_median <= ruls[-1]


def test_a_simulated_pressure_high_episode_opens_an_alert_before_the_fault(
    tmp_path: Path,
) -> None:
    plant = load_plant()
    model = ScoringModel.load(trained_ion_mill_model(tmp_path / "models"), "phm2018")
    # the demo plant's ion_mill-002 under seed 1: a pressure_high fault 27 h into its life
    episode = IonMillEpisode(tmp_path / "store", plant, "ion_mill-002", 7, 1)
    pre, fault = episode.faults("pressure_high")[0]
    monitor = Monitor(tmp_path / "store", plant, None, ion_mill_model=model)
    t = pre - 2 * 3600.0  # the lake holds the 8 h reference before it
    episode.write_until(t)
    opened = None
    while t < fault + 900.0 and opened is None:
        t += 900.0  # a scoring every 15 min of data time
        episode.write_until(t)
        monitor.evaluate(now=T0 + t)
        alerts = monitor.state.alerts(asset="ion_mill-002")
        if alerts:
            opened = alerts[0]
    assert opened is not None, "the pressure_high episode raised no alert"
    at = opened.details["data_time"] - T0
    assert pre < at < fault  # after the precursor began, before the fault
    assert opened.details["mode"] == "pressure_high"
    assert max(opened.details["symptoms"].values()) >= 0.5  # the flow-cool detectors saw it
    ok = [p for p in monitor.state.predictions("ion_mill-002") if p.time - T0 < pre]
    assert ok and all(p.rul_median is None for p in ok)  # no fault evidence: RUL open


def test_a_failing_alert_write_still_stores_the_prediction(tmp_path: Path, pump_model) -> None:
    plant = load_plant()
    fault = FaultScenario("imbalance", "impeller erosion", 0.0, 6 * STEP_S)
    sim = PumpSimulator("pump-001", plant.types["pump"].meta, 0, fault)
    monitor = Monitor(tmp_path, plant, pump_model)

    def broken(*_):
        raise RuntimeError("graph unavailable")

    monitor.root_causes = broken  # type: ignore[method-assign]
    for k in (1, 2, 3):
        write_step(tmp_path, sim, k)
        monitor.evaluate(now=T0 + k * STEP_S)
    stored = monitor.state.predictions("pump-001")
    assert len(stored) == 3  # written, with the displayed RUL, though no alert could be
    assert stored[-1].rul_median is not None and monitor.state.alerts() == []


def test_a_pump_reports_its_iso_20816_zone_and_zone_d_caps_its_health(tmp_path, pump_model):
    plant = load_plant()
    assert plant.types["pump"].iso20816 is not None  # the shipped plant names group 2, rigid
    fault = FaultScenario("imbalance", "unbalanced impeller", 0.0, 10 * STEP_S)
    sim = PumpSimulator("pump-001", plant.types["pump"].meta, 0, fault)
    monitor = Monitor(tmp_path, plant, pump_model)
    write_step(tmp_path, sim, 1)
    (early,) = monitor.evaluate(now=T0 + STEP_S)
    write_step(tmp_path, sim, 10)  # the imbalance near failure: several mm/s
    (late,) = monitor.evaluate(now=T0 + 10 * STEP_S)
    iso_early, iso_late = early.details["iso20816"], late.details["iso20816"]
    assert iso_early["zone"] == "A" and iso_early["velocity_mm_s"] < 1.4
    assert iso_late["zone"] == "D" and iso_late["velocity_mm_s"] > 4.5
    assert late.health is not None and late.health <= 0.2
