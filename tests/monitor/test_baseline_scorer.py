"""The healthy-baseline scorer in the monitor: commissioning, anomaly alerts, restart, config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phm.errors import ConfigError
from phm.monitor.baseline_scorer import (
    BaselineConfig,
    HealthyBaseline,
    anomaly_health,
    condition_features,
)
from phm.monitor.scorer import Monitor
from phm.plant import load_plant
from phm.store.lake import LakeWriter
from phm.store.state import StateStore
from phm.wire.codec import Batch

T0 = 1.7e9
FS, L = 12800.0, 2048
PLANT = """
[types.rig]
scorer = "baseline"
{extra}
[types.rig.meta.baseline]
snapshots = 16
{baseline}
[types.rig.streams.vibration]
kind = "waveform"
channels = ["housing"]
sampling_hz = 12800.0
samples = 2048

[[assets]]
id = "rig-1"
type = "rig"
"""


def plant_file(tmp_path: Path, extra: str = "", baseline: str = "") -> Path:
    path = tmp_path / "plant.toml"
    path.write_text(PLANT.format(extra=extra, baseline=baseline))
    return path


def snapshot(rng: np.random.Generator, faulty: bool) -> np.ndarray:
    """A 1x line and broadband noise; a fault adds impacts at 87 Hz (bearing-like)."""
    t = np.arange(L) / FS
    x = 0.05 * np.sin(2 * np.pi * 29.5 * t) + 0.01 * rng.standard_normal(L)
    if faulty:
        impacts = np.zeros(L)
        impacts[:: int(FS / 87.0)] = 0.4
        ring = np.exp(-np.arange(40) / 6.0) * np.sin(2 * np.pi * 3000 * np.arange(40) / FS)
        x = x + np.convolve(impacts, ring)[:L]
    return x.astype(np.float32)[None, None, :]  # (1, C=1, L)


def write_snapshots(
    store: Path, plant_path: Path, faulty: list[bool], start: int = 0, make=snapshot
) -> None:
    """Snapshots of rig-1 (`make(rng, faulty)` each, one a minute from T0 + `start` min) into
    the store's lake, committed."""
    plant = load_plant(plant_path)
    rng = np.random.default_rng(start)
    batches = [
        Batch("rig-1", "vibration", start + i, T0 + 60.0 * (start + i), 0.0, ("housing",),
              make(rng, f), fs=FS)
        for i, f in enumerate(faulty)
    ]  # fmt: skip
    state = StateStore(store / "state.sqlite")
    state.register_assets(plant)
    state.commit_ingest(LakeWriter(store / "lake", plant).write(batches), [], [], {})
    state.close()


def evaluate_all(monitor: Monitor) -> list:
    out = []
    while preds := monitor.evaluate(now=T0):
        out += preds
    return out


def test_commissioning_then_no_alert_on_healthy_and_an_anomaly_alert_on_a_fault(
    tmp_path: Path,
) -> None:
    path = plant_file(tmp_path)
    monitor = Monitor(tmp_path, load_plant(path))
    write_snapshots(tmp_path, path, [False] * 10)
    preds = [p for _ in range(3) for p in monitor.evaluate(now=T0)]
    assert len(preds) == 1  # everything new in one prediction, then nothing new
    assert preds[0].health is None and preds[0].details["top_mode"] == "commissioning"
    assert not (tmp_path / "baselines" / "rig-1.json").exists()  # 10 < 16 snapshots
    state = StateStore(tmp_path / "state.sqlite", readonly=True)
    # the rest of the commissioning period, then healthy snapshots one per pass
    write_snapshots(tmp_path, path, [False] * 6, start=10)
    evaluate_all(monitor)
    saved = json.loads((tmp_path / "baselines" / "rig-1.json").read_text())
    assert saved["snapshots"] == 16 and saved["until"] == T0 + 60.0 * 15
    healthy = []
    for i in range(16, 40):
        write_snapshots(tmp_path, path, [False], start=i)
        healthy += evaluate_all(monitor)
    assert len(healthy) == 24 and all(p.health is not None for p in healthy)
    assert max(p.details["anomaly_score"] / p.details["threshold"] for p in healthy) < 1.0
    assert state.alerts(asset="rig-1") == []
    faults = []
    for i in range(40, 44):
        write_snapshots(tmp_path, path, [True], start=i)
        faults += evaluate_all(monitor)
    assert all(p.details["top_mode"] == "anomaly" and p.health < 0.5 for p in faults)
    (alert,) = state.alerts(asset="rig-1")
    assert alert.status == "open" and "anomaly" in alert.message
    assert alert.details["deviations"]  # the features furthest from the baseline
    # a restarted monitor reads the baseline back (a doctored threshold shows it is not refit)
    saved["threshold"] = 1e9
    (tmp_path / "baselines" / "rig-1.json").write_text(json.dumps(saved))
    again = Monitor(tmp_path, load_plant(path))
    assert again.levels["rig-1"].level == alert.severity
    write_snapshots(tmp_path, path, [True], start=44)
    (p,) = again.evaluate(now=T0)
    assert p.details["threshold"] == 1e9 and p.details["top_mode"] == "healthy"


def test_a_batch_scores_its_median_so_one_odd_snapshot_does_not_alert(tmp_path: Path) -> None:
    path = plant_file(tmp_path)
    monitor = Monitor(tmp_path, load_plant(path))
    write_snapshots(tmp_path, path, [False] * 16)
    evaluate_all(monitor)
    write_snapshots(tmp_path, path, [False, True, False, False, False], start=16)
    (p,) = evaluate_all(monitor)
    assert p.details["snapshots"] == 5
    assert p.details["anomaly_score"] < p.details["threshold"] < p.details["anomaly_max"]


def test_iso20816_zone_rides_along_and_zone_d_caps_health(tmp_path: Path) -> None:
    # group 2 rigid: D above 4.5 mm/s; in m/s2 the 1x line of 0.05 is 0.19 mm/s (zone A)
    path = plant_file(tmp_path, 'iso20816 = {group = 2, foundation = "rigid", accel_unit = "m/s2"}')
    monitor = Monitor(tmp_path, load_plant(path))
    write_snapshots(tmp_path, path, [False] * 17)
    (first,) = [p for p in evaluate_all(monitor) if p.health is not None]
    assert first.details["iso20816"]["zone"] == "A"
    v = first.details["iso20816"]["velocity_mm_s"]
    assert v == pytest.approx(0.05 / (2 * np.pi * 29.5 * np.sqrt(2)) * 1e3, rel=0.1)
    # a loud 1x (looseness, imbalance) the baseline would call anomalous anyway; the zone is D
    plant = load_plant(path)
    rng = np.random.default_rng(9)
    t = np.arange(L) / FS
    loud = (0.05 * 30 * np.sin(2 * np.pi * 29.5 * t) + 0.01 * rng.standard_normal(L)).astype("f4")
    state = StateStore(tmp_path / "state.sqlite")
    batch = Batch("rig-1", "vibration", 99, T0 + 6000.0, 0.0, ("housing",), loud[None, None], fs=FS)
    state.commit_ingest(LakeWriter(tmp_path / "lake", plant).write([batch]), [], [], {})
    (p,) = evaluate_all(monitor)
    assert p.details["iso20816"]["zone"] == "D" and p.health <= 0.2


def test_health_is_one_half_at_the_threshold() -> None:
    assert anomaly_health(0.0, 3.0) == 1.0
    assert anomaly_health(3.0, 3.0) == pytest.approx(0.5)
    assert anomaly_health(6.9, 3.0) == pytest.approx(0.2, abs=0.01)  # below the alarm line


def test_the_threshold_is_the_margin_times_the_quantile_of_the_commissioning_scores() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 1, L)).astype("f4")
    names, X = condition_features(x, FS, ("housing",))
    assert len(names) == X.shape[1] == 12 and "housing.log_velocity" in names
    cfg = BaselineConfig(snapshots=20, quantile=0.9, margin=2.5)
    b = HealthyBaseline.fit("a", names, X, np.arange(20.0), cfg)
    assert b.threshold == pytest.approx(2.5 * np.quantile(b.score(X), 0.9))
    assert b.until == 19.0 and b.snapshots == 20


@pytest.mark.parametrize(
    ("baseline", "message"),
    [
        ("margin = 0.5", "margin = 0.5: expected at least 1"),
        ('quantile = "high"', "baseline quantile = 'high' should be a float"),
        ("window = 3", "unknown baseline key 'window'"),
        ('features = "spectrum"', "features = 'spectrum': expected one of"),
    ],
)
def test_a_bad_baseline_table_names_the_file_and_key(
    tmp_path: Path, baseline: str, message: str
) -> None:
    path = plant_file(tmp_path, baseline=baseline)
    with pytest.raises(ConfigError, match=message) as err:
        Monitor(tmp_path, load_plant(path))
    assert str(path) in str(err.value) and "[types.rig.meta.baseline]" in str(err.value)


def test_shape_features_are_blind_to_the_sensor_gain_and_level_features_are_not() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 1, L))
    names, shape = condition_features(x, FS, ("housing",), features="shape")
    _, shape_x10 = condition_features(10 * x, FS, ("housing",), features="shape")
    np.testing.assert_allclose(shape, shape_x10, atol=1e-9)
    assert "housing.log_rms" not in names and len(names) == 10
    names, level = condition_features(x, FS, ("housing",))
    _, level_x10 = condition_features(10 * x, FS, ("housing",))
    i = names.index("housing.log_rms")
    np.testing.assert_allclose(level_x10[:, i] - level[:, i], 1.0)  # log10 of the gain
    with pytest.raises(ValueError, match="features = 'both'"):
        condition_features(x, FS, ("housing",), features="both")


def test_commissioning_by_hours_takes_every_snapshot_of_the_period(tmp_path: Path) -> None:
    path = plant_file(tmp_path, baseline="hours = 0.5")  # snapshots = 16 and one every 60 s
    monitor = Monitor(tmp_path, load_plant(path))
    write_snapshots(tmp_path, path, [False] * 31)  # t = 0 .. 1800 s: the period is not over
    evaluate_all(monitor)
    assert not (tmp_path / "baselines" / "rig-1.json").exists()
    write_snapshots(tmp_path, path, [False], start=31)
    (p,) = evaluate_all(monitor)
    saved = json.loads((tmp_path / "baselines" / "rig-1.json").read_text())
    assert saved["snapshots"] == 31 and saved["until"] == T0 + 1800.0  # 31 > 16 snapshots
    assert p.health is not None and p.details["snapshots"] == 1  # the one after the period
