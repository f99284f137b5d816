"""`phm replay`: assets and commissioning from a manifest, snapshots, the replay plant, and the
whole live path (Mosquitto -> ingest -> lake -> monitor) on synthetic and HIT-SM recordings."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from phm.datasets.recordings import read_manifest
from phm.errors import ConfigError
from phm.ingest.worker import IngestWorker
from phm.plant import load_plant
from phm.sim.replay import (
    _Playlist,
    asset_id_of,
    common_rate,
    read_truth,
    replay_assets,
    replay_plant,
    run_replay,
    snapshots_of,
)
from phm.store.lake import Lake
from tests.ingest.conftest import mosquitto  # noqa: F401  (the broker fixture)

REPO = Path(__file__).resolve().parents[2]
# $PHM_DATA_DIR, else the shared data beside the checkout
HITSM = (
    Path(os.environ.get("PHM_DATA_DIR", REPO.parent / "shared" / "data")) / "hitsm" / "manifest.csv"
)
FS = 51200.0


def write_manifest(folder: Path, fs: float = FS, n: int = 4096 * 5 + 100) -> Path:
    """Two rigs x (normal, inner race) at one speed, as .npy and .csv files."""
    rng = np.random.default_rng(0)
    rows = []
    for rig in ("a", "b"):
        for label in ("N", "IR"):
            x = rng.standard_normal(n) * (0.01 if label == "N" else 0.1)
            if label == "N":
                name = f"{rig}_{label}.npy"
                np.save(folder / name, x)
            else:
                name = f"{rig}_{label}.csv"
                pl.DataFrame({"accel": x}).write_csv(folder / name)
            rows.append({"path": name, "label": label, "rig": rig, "rpm": "1200", "fs_hz": str(fs)})
    pl.DataFrame(rows).write_csv(folder / "manifest.csv")
    return folder / "manifest.csv"


def other_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "other"
    folder.mkdir(exist_ok=True)
    return folder


def test_assets_commission_each_fault_on_its_rigs_healthy_recording(tmp_path: Path) -> None:
    recs = read_manifest(write_manifest(tmp_path))
    assets = replay_assets(recs, "", ["rig", "label"], "label=N", ["rig", "rpm"])
    plays = {a.asset_id: [(s.recording.path.name, s.role) for s in a.segments] for a in assets}
    assert plays == {
        "a-n": [("a_N.npy", "healthy")],
        "a-ir": [("a_N.npy", "commission"), ("a_IR.csv", "replay")],
        "b-n": [("b_N.npy", "healthy")],
        "b-ir": [("b_N.npy", "commission"), ("b_IR.csv", "replay")],
    }
    assert {a.line for a in assets} == {"a", "b"}  # the rig is the line of the topic
    assert [a.asset_id for a in replay_assets(recs, "rig=b,label=IR")] == ["b-b_ir"]
    assert asset_id_of(recs[0]) == "a-a_n"


def test_unmatched_or_clashing_assets_are_refused(tmp_path: Path) -> None:
    recs = read_manifest(write_manifest(tmp_path))
    with pytest.raises(ConfigError, match=r"a_IR\.csv: 2 commissioning recordings"):
        replay_assets(recs, "", ["rig", "label"], "label=N", ["rpm"])
    with pytest.raises(ConfigError, match="map to the same asset 'a'"):
        replay_assets(recs, "", ["rig"])
    with pytest.raises(ConfigError, match="selects no recording"):
        replay_assets(recs, "rig=c")
    with pytest.raises(ConfigError, match="filter column 'speed' is in no manifest"):
        replay_assets(recs, "speed=3")


def test_the_replay_plant_lists_the_assets_of_the_replay_type(tmp_path: Path) -> None:
    recs = read_manifest(write_manifest(tmp_path))
    assets = replay_assets(recs, "", ["rig", "label"], "label=N", ["rig"])
    path = tmp_path / "plant.toml"
    path.write_text(replay_plant(assets))
    plant = load_plant(path)
    assert sorted(plant.assets) == ["a-ir", "a-n", "b-ir", "b-n"]
    assert {a.type for a in plant.assets.values()} == {"bearing_rig"}
    assert plant.types["bearing_rig"].scorer == "baseline"
    with pytest.raises(ConfigError, match="no asset type 'pump'"):
        replay_plant(assets, type_name="pump")
    # replayed at the recordings' own rate where they share one
    assert common_rate(assets) == FS
    path.write_text(replay_plant(assets, sampling_hz=12000.0))
    assert load_plant(path).types["bearing_rig"].streams["vibration"].sampling_hz == 12000.0
    other = read_manifest(write_manifest(other_folder(tmp_path), fs=25600.0))
    mixed = [r for r in recs if r.fields["rig"] == "a"] + [
        r for r in other if r.fields["rig"] == "b"
    ]
    assert common_rate(replay_assets(mixed)) is None


def test_snapshots_are_consecutive_slices_resampled_to_the_type_rate(tmp_path: Path) -> None:
    recs = read_manifest(write_manifest(tmp_path, fs=25600.0, n=10_000))
    spec = load_plant(REPO / "phm" / "configs" / "plant_replay.toml").types["bearing_rig"]
    vib = spec.streams["vibration"]
    snaps = snapshots_of(recs[0], vib)
    assert snaps.shape == (20_000 // 4096, 1, 4096) and snaps.dtype == np.float32
    same_rate = read_manifest(write_manifest(other_folder(tmp_path), n=10_000))[0]
    x = np.load(same_rate.path)
    np.testing.assert_array_equal(snapshots_of(same_rate, vib)[1, 0], x[4096:8192].astype("f4"))


def test_a_playlist_releases_snapshots_as_signal_time_comes_and_loops() -> None:
    snaps = np.zeros((5, 1, 8), np.float32)
    p = _Playlist(snaps, 0.5, loop=False)
    assert [i for i, _ in p.ready(0.0)] == [0]  # t = 0 is due at once
    got = p.ready(1.2)
    assert [(i, len(s)) for i, s in got] == [(1, 2)]  # t = 0.5, 1.0
    assert p.ready(100.0)[0][0] == 3 and p.done
    loop = _Playlist(snaps, 0.5, loop=True)
    assert [(i, len(s)) for i, s in loop.ready(3.4)] == [(0, 5), (5, 2)]  # wraps to the start
    assert not loop.done


@pytest.mark.integration
def test_replayed_recordings_reach_the_lake_exactly(tmp_path: Path, mosquitto) -> None:  # noqa: F811
    recs = read_manifest(write_manifest(tmp_path))
    assets = replay_assets(recs, "rig=a", ["rig", "label"], "label=N", ["rig"])
    store = tmp_path / "store"
    store.mkdir()
    (store / "plant.toml").write_text(replay_plant(assets))
    plant = load_plant(store / "plant.toml")
    worker = IngestWorker(mosquitto.url, store, plant, client_id="test-replay").start()
    try:
        deadline = time.monotonic() + 15
        while not worker.subscribed and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = run_replay(plant, assets, mosquitto.url, speed=20.0, truth_path=store / "t.jsonl")
        assert stats.undelivered == 0 and stats.per_asset == {"a-n": 5, "a-ir": 10}
        lake = Lake(store / "lake", plant)
        deadline = time.monotonic() + 20
        while len(lake.read_waveforms("a-ir")[0]) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
    times, fs, data = lake.read_waveforms("a-ir")
    assert fs == FS and data.shape == (10, 1, 4096)
    np.testing.assert_allclose(np.diff(times), 4096 / FS, atol=1e-6)  # Unix s in float64
    normal = np.load(tmp_path / "a_N.npy")[: 5 * 4096].reshape(5, 4096).astype("f4")
    fault = pl.read_csv(tmp_path / "a_IR.csv")["accel"].to_numpy()[: 5 * 4096]
    np.testing.assert_array_equal(data[:5, 0], normal)  # commissioned on the healthy file ...
    np.testing.assert_array_equal(data[5:, 0], fault.reshape(5, 4096).astype("f4"))  # ... then
    truth = {(t["asset_id"], t["role"]): t for t in read_truth(store / "t.jsonl")}
    assert truth["a-ir", "replay"]["start"] == pytest.approx(times[5])
    assert truth["a-ir", "commission"]["label"] == "N" and times[-1] <= time.time()


@pytest.mark.integration
def test_hitsm_healthy_baseline_alerts_every_fault_and_never_the_healthy_rig(
    tmp_path: Path,
    mosquitto,  # noqa: F811
) -> None:
    if not HITSM.is_file():
        pytest.skip(f"HIT-SM data not found at {HITSM} (see docs/i18/replay.md)")
    from phm.bench.replay import replay_through_live_path

    result = replay_through_live_path(
        HITSM,
        "rig=spectraquest,rpm=1200,label=N|IR2|OR2",
        tmp_path / "store",
        asset_columns=("rig", "label", "rpm"),
        commission="label=N",
        commission_by=("rig", "rpm"),
        speed=4.0,
        broker_url=mosquitto.url,
        timeout_s=40.0,
    )
    rows = {(r["asset_id"], r["role"]): r for r in result["recordings"]}
    assert result["snapshots_stored"] == result["snapshots_published"] == 64 * 5
    # the healthy rig, and the healthy stretch before each fault, raise nothing
    for key in [("spectraquest-n-1200", "healthy"), ("spectraquest-ir2-1200", "commission"),
                ("spectraquest-or2-1200", "commission")]:  # fmt: skip
        assert rows[key]["alert"] is False and rows[key]["predictions"] > 0
    for asset in ("spectraquest-ir2-1200", "spectraquest-or2-1200"):
        fault = rows[asset, "replay"]
        assert fault["alert"] is True
        assert 0 <= fault["time_to_alert_s"] < 5.12  # within the 5.12 s fault recording
    assert result["passed"]


def test_offline_scoring_alerts_the_louder_fault_at_its_second_snapshot(tmp_path: Path) -> None:
    from phm.bench.replay import score_offline

    manifest = write_manifest(tmp_path, n=4096 * 12)
    template = tmp_path / "template.toml"
    shipped = (REPO / "phm" / "configs" / "plant_replay.toml").read_text()
    template.write_text(shipped.replace("snapshots = 32 ", "snapshots = 8 "))
    rows = score_offline(
        manifest, "rig=a", asset_columns=("rig", "label"), commission="label=N",
        commission_by=("rig",), template=template,
    )  # fmt: skip
    got = {(r["asset_id"], r["role"]): r for r in rows}
    assert got["a-n", "healthy"]["scored"] == 4 and got["a-ir", "commission"]["scored"] == 4
    for key in [("a-n", "healthy"), ("a-ir", "commission")]:
        assert got[key]["alert_at_snapshot"] is None and got[key]["max_score"] < 1.0
    fault = got["a-ir", "replay"]
    assert fault["scored"] == 12 and fault["min_score"] > 1.0
    assert fault["alert_at_snapshot"] == 1  # the hysteresis confirms on the second snapshot
