"""`phm bench recordings` end to end on a tiny generated manifest, and its splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from phm.bench.recordings import load_recordings, split
from phm.cli import main
from phm.errors import ConfigError
from phm.features.spectral import SKF_6205

ORDERS = SKF_6205.multiples()
LINE = {"normal": None, "inner_race": ORDERS.bpfi, "outer_race": ORDERS.bpfo}


def _signal(location: str, rpm: float, fs: float, gain: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(2.5 * fs)) / fs
    x = 0.05 * rng.standard_normal(t.size)
    if LINE[location] is not None:
        for t0 in np.arange(0, t[-1], 60.0 / (rpm * LINE[location])):
            m = (t >= t0) & (t < t0 + 0.004)
            x[m] += np.exp(-(t[m] - t0) * 1500) * np.sin(2 * np.pi * 3000 * (t[m] - t0))
    return gain * x


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    rows = []
    for rig, fs, gain in (("a", 12_000, 1.0), ("b", 25_600, 50.0)):
        for rpm in (900, 1500):
            for i, location in enumerate(LINE):
                name = f"{rig}_{location}_{rpm}.npy"
                np.save(tmp_path / name, _signal(location, rpm, fs, gain, i + rpm))
                rows.append(
                    {
                        "path": name,
                        "label": location,
                        "rig": rig,
                        "rpm": str(rpm),
                        "fs_hz": str(fs),
                        "bearing": "6205",
                    }
                )
    path = tmp_path / "manifest.csv"
    pl.DataFrame(rows).write_csv(path)
    return path


def test_splits_never_share_a_recording(manifest: Path) -> None:
    recs = load_recordings([manifest], "label")
    train, test = split(recs, "rig=a", "rig=b,rpm=900|1500")
    assert len(train) == 6 and len(test) == 6
    assert not {r.key for r in train} & {r.key for r in test}
    with pytest.raises(ConfigError, match="both"):
        split(recs, "rig=a", "rpm=900")
    with pytest.raises(ConfigError, match="no manifest"):
        split(recs, "machine=a", "rig=b")


@pytest.mark.parametrize("model", ["linear", "gbm", "envelope"])
def test_bench_end_to_end_across_rigs(manifest: Path, tmp_path: Path, model: str) -> None:
    out = tmp_path / "out"
    argv = [
        "bench",
        "recordings",
        "--manifest",
        str(manifest),
        "--train",
        "rig=a",
        "--test",
        "rig=b",
        "--model",
        model,
        "--seeds",
        "2",
        "--max-iter",
        "30",
        "--out",
        str(out),
    ]
    if model == "gbm":  # trees on 6 recording means (min 10 per leaf) cannot split: per window
        argv[-2:-2] = ["--context", "window"]
    assert main(argv) == 0
    result = json.loads((out / f"recordings_{model}.json").read_text())
    assert result["n_train_recordings"] == 6 and result["n_test_recordings"] == 6
    # the fault lines sit at the same orders on rig b (other rate, gain 50): both transfer
    assert result["accuracy"] > 0.9, result["details"]["per_seed"][0]["confusion"]
    if model == "linear":  # the default model, on recording-context features
        assert result["context"] == "recording"
        default = tmp_path / "default"
        without = [a for a in argv if a not in ("--model", "linear")]
        assert main([*without[:-1], str(default)]) == 0
        again = json.loads((default / "recordings_linear.json").read_text())
        assert again["model"] == "linear" and again["accuracy"] == result["accuracy"]
        assert again["accuracy_std"] == 0.0  # deterministic: no seed spread
    if model == "gbm":
        assert result["variant"] == "orders"  # the default: no validation run needed
        assert result["details"]["validation"] is None
        assert len(result["details"]["per_seed"]) == 2
        # --variant auto validates on the training rig, leaving one speed out
        auto = tmp_path / "auto"
        assert main([*argv[:-1], str(auto), "--variant", "auto"]) == 0
        chosen = json.loads((auto / "recordings_gbm.json").read_text())
        assert chosen["details"]["validation"]["column"] == "rpm"
        assert chosen["variant"] in ("orders", "hz", "hz_raw")


def test_target_labels_leave_overlapping_windows_unscored(manifest: Path) -> None:
    from phm.bench.recordings import recording_features, target_windows
    from phm.features.orders import OrderConfig

    recs = load_recordings([manifest], "label")
    _, test = split(recs, "rig=a", "rig=b")
    feats = {r.key: recording_features(r, OrderConfig()) for r in test}
    X, y, masks = target_windows(test, feats, "orders", 3, seed=1)
    assert X.shape[0] == 9 and sorted(set(y)) == sorted(LINE)
    labelled_total = 0
    for r, keep in zip(test, masks, strict=True):
        rows = feats[r.key].features["orders"]
        taken = [i for i in range(rows.shape[0]) if any((rows[i] == X).all(axis=1))]
        labelled_total += len(taken)
        near = {j for i in taken for j in (i - 1, i, i + 1) if 0 <= j < rows.shape[0]}
        # a labelled window and its half-overlapping neighbours are not scored; the rest are
        assert set(np.flatnonzero(~keep)) == near
    assert labelled_total == 9


def test_target_labels_may_leave_a_short_recording_nothing_to_score(
    manifest: Path, tmp_path: Path
) -> None:
    # 900 rpm x 2.5 s = 3 windows: 2 labelled ones and their neighbours cover all 3
    argv = ["bench", "recordings", "--manifest", str(manifest), "--train", "rig=a"]
    argv += ["--test", "rig=b", "--target-labels", "4", "--seeds", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    result = json.loads((tmp_path / "recordings_linear.json").read_text())
    assert result["target_labels_per_class"] == 4 and 0.0 <= result["accuracy"] <= 1.0


def test_recording_context_is_the_recordings_own_window_mean() -> None:
    from phm.bench.recordings import in_context

    X = np.array([[1.0, np.nan], [3.0, 2.0], [5.0, np.nan]])
    ctx = in_context(X, "recording")
    assert ctx.shape == X.shape
    np.testing.assert_allclose(ctx, [[3.0, 2.0]] * 3)  # NaN windows skipped per column
    assert in_context(X, "window") is X
    assert in_context(np.zeros((0, 2)), "recording").shape == (0, 2)


def test_network_end_to_end_with_target_labels_and_pretrained_init(
    manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["bench", "recordings", "--manifest", str(manifest), "--train", "rig=a"]
    base += ["--test", "rig=b", "--model", "moe", "--seeds", "1", "--epochs", "3"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    plain = json.loads((tmp_path / "plain" / "recordings_moe.json").read_text())
    assert plain["model"] == "moe" and plain["config"] == "recordings" and plain["init"] is None
    assert plain["n_train_recordings"] == 6 and plain["n_test_recordings"] == 6
    seed0 = plain["details"]["per_seed"][0]
    assert sum(map(sum, seed0["confusion"]["rows_true_cols_pred"])) == seed0["n_test_windows"]
    # 1 labelled test window per class trains; it and its neighbours leave the scored set
    assert main([*base, "--target-labels", "1", "--out", str(tmp_path / "few")]) == 0
    few = json.loads((tmp_path / "few" / "recordings_moe.json").read_text())
    n_few = few["details"]["per_seed"][0]["n_test_windows"]
    assert few["target_labels_per_class"] == 1
    assert seed0["n_test_windows"] - 3 * 3 <= n_few <= seed0["n_test_windows"] - 3 * 2
    # pretraining on every window (labels unused), then --init starts from it
    ckpt = tmp_path / "pre.pt"
    assert main([*base, "--pretrain-to", str(ckpt)]) == 0 and ckpt.is_file()
    assert main([*base, "--init", str(ckpt), "--out", str(tmp_path / "init")]) == 0
    init = json.loads((tmp_path / "init" / "recordings_moe.json").read_text())
    assert init["init"] == str(ckpt)
    linear = [a if a != "moe" else "linear" for a in base]
    assert main([*linear, "--init", str(ckpt), "--out", str(tmp_path / "lin")]) == 2
    assert "moe or dense" in capsys.readouterr().err
