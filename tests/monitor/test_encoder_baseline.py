"""The healthy baseline's encoder method: the snapshot encoder pretrained at commissioning, no
alert on healthy snapshots, an alert on a synthetic bearing fault with the gain normalised
away, the encoder persisted with the baseline and read back on restart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phm.errors import ConfigError
from phm.models.snapshot_encoder import SnapshotEncoder, SnapshotEncoderConfig, snapshot_bands
from phm.monitor.scorer import Monitor
from phm.plant import load_plant
from phm.store.state import StateStore
from tests.monitor import test_baseline_scorer as base
from tests.monitor.test_baseline_scorer import evaluate_all

T0 = 1.7e9
FS, L = 12800.0, 2048
PLANT = """
[types.rig]
scorer = "baseline"

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


def plant_file(tmp_path: Path, baseline: str) -> Path:
    path = tmp_path / "plant.toml"
    path.write_text(PLANT.format(baseline=baseline))
    return path


def snapshot(rng: np.random.Generator, faulty: bool) -> np.ndarray:
    """A 1x line and broadband noise at a random sensor gain (0.3-3x), normalised to unit RMS;
    a fault adds impacts at 87 Hz ringing at 3 kHz (bearing-like) before the normalisation,
    so only the spectrum's shape tells it apart."""
    t = np.arange(L) / FS
    x = 0.05 * np.sin(2 * np.pi * 29.5 * t) + 0.01 * rng.standard_normal(L)
    if faulty:
        impacts = np.zeros(L)
        impacts[:: int(FS / 87.0)] = 0.2
        ring = np.exp(-np.arange(40) / 6.0) * np.sin(2 * np.pi * 3000 * np.arange(40) / FS)
        x = x + np.convolve(impacts, ring)[:L]
    x = x / np.sqrt(np.mean(x**2)) * rng.uniform(0.3, 3.0)
    return x.astype(np.float32)[None, None, :]  # (1, C=1, L)


def write_snapshots(store: Path, plant_path: Path, faulty: list[bool], start: int = 0) -> None:
    base.write_snapshots(store, plant_path, faulty, start, make=snapshot)


def test_encoder_method_commissions_alerts_on_a_gain_blind_fault_and_survives_restart(
    tmp_path: Path,
) -> None:
    path = plant_file(tmp_path, 'method = "encoder"\nfeatures = "shape"')
    monitor = Monitor(tmp_path, load_plant(path))
    write_snapshots(tmp_path, path, [False] * 16)
    (p,) = evaluate_all(monitor)
    assert p.details["top_mode"] == "commissioning"
    saved = json.loads((tmp_path / "baselines" / "rig-1.json").read_text())
    assert saved["features"] == ["encoder.log_recon_error"]
    assert saved["encoder"]["reference"] is None  # "shape": each snapshot's own RMS
    assert saved["encoder"]["model"]["config"]["bands"] == 64
    healthy = []
    for i in range(16, 28):
        write_snapshots(tmp_path, path, [False], start=i)
        healthy += evaluate_all(monitor)
    state = StateStore(tmp_path / "state.sqlite", readonly=True)
    assert len(healthy) == 12
    assert max(p.details["anomaly_score"] / p.details["threshold"] for p in healthy) < 1.0
    assert state.alerts(asset="rig-1") == []
    faults = []
    for i in range(28, 31):
        write_snapshots(tmp_path, path, [True], start=i)
        faults += evaluate_all(monitor)
    assert all(p.details["top_mode"] == "anomaly" for p in faults)
    (alert,) = state.alerts(asset="rig-1")
    assert alert.status == "open" and "anomaly" in alert.message
    state.close()
    # a restarted monitor reads the encoder back, not refit (a doctored threshold shows it):
    # the same snapshot gets the same score
    write_snapshots(tmp_path, path, [True], start=31)
    (before,) = evaluate_all(monitor)
    saved = json.loads((tmp_path / "baselines" / "rig-1.json").read_text())
    saved["threshold"] = 1e9
    (tmp_path / "baselines" / "rig-1.json").write_text(json.dumps(saved))
    again = Monitor(tmp_path, load_plant(path))
    scorer = again.scorers["rig"]
    (after,) = [scorer.score("rig-1", before.time - 1.0)]
    assert after.details["threshold"] == 1e9
    assert after.details["anomaly_score"] == pytest.approx(before.details["anomaly_score"])


def test_a_baseline_of_another_method_is_not_scored_with_this_one(tmp_path: Path) -> None:
    path = plant_file(tmp_path, 'method = "stats"')
    write_snapshots(tmp_path, path, [False] * 17)
    evaluate_all(Monitor(tmp_path, load_plant(path)))
    path = plant_file(tmp_path, 'method = "both"')
    write_snapshots(tmp_path, path, [False], start=17)
    scorer = Monitor(tmp_path, load_plant(path)).scorers["rig"]
    with pytest.raises(ConfigError, match=r"rig-1\.json: baseline features differ"):
        scorer.score("rig-1", T0 + 60.0 * 16)


@pytest.mark.parametrize(
    ("baseline", "message"),
    [
        ('method = "autoencoder"', "method = 'autoencoder': expected one of"),
        ("method = 2", "baseline method = 2 should be a str"),
    ],
)
def test_a_bad_method_names_the_file_and_key(tmp_path: Path, baseline: str, message: str) -> None:
    path = plant_file(tmp_path, baseline)
    with pytest.raises(ConfigError, match=message) as err:
        Monitor(tmp_path, load_plant(path))
    assert str(path) in str(err.value) and "[types.rig.meta.baseline]" in str(err.value)


def test_the_encoder_is_reproducible_and_its_gain_blind_input_ignores_the_gain() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 1, L))
    bands = snapshot_bands(x, None, 64)
    assert bands.shape == (16, 64)
    np.testing.assert_allclose(snapshot_bands(7 * x, None, 64), bands, atol=1e-5)
    level = snapshot_bands(x, np.ones(1), 64)
    assert not np.allclose(snapshot_bands(7 * x, np.ones(1), 64), level, atol=0.1)
    cfg = SnapshotEncoderConfig(steps=50)
    a, b = SnapshotEncoder(cfg).fit(bands), SnapshotEncoder(cfg).fit(bands)
    np.testing.assert_array_equal(a.embed(bands)[1], b.embed(bands)[1])
    c = SnapshotEncoder.from_json(json.loads(json.dumps(a.to_json())))
    np.testing.assert_allclose(c.embed(bands)[0], a.embed(bands)[0], rtol=1e-6)
