"""`phm bench femto --protocol challenge` end to end on generated files of the real layout:
`Learning_set/Bearing*/acc_NNNNN.csv` run to failure and truncated `Test_set/Bearing*`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phm.cli import main
from phm.datasets.femto import SNAPSHOT_SAMPLES, TEST_ACTUAL_RUL_S
from phm.resources import resource_path

TINY = str(resource_path("models/tiny.toml"))
LEARNING = {"Bearing1_1": 18, "Bearing1_2": 14, "Bearing2_1": 16, "Bearing2_2": 12,
            "Bearing3_1": 15, "Bearing3_2": 20}  # fmt: skip
TEST = {"Bearing1_3": 9, "Bearing2_4": 7, "Bearing3_3": 6}  # snapshots kept before the cut


def write_acc_files(folder: Path, n: int, life: int, seed: int) -> None:
    """n acc_NNNNN.csv snapshots, 10 s apart, of a bearing whose vibration grows towards
    failure at snapshot `life` (2560 rows: hour, minute, second, microsecond, h g, v g)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    us = np.arange(SNAPSHOT_SAMPLES) * 39 + 1000
    for i in range(n):
        clock = 9 * 3600 + 10 * i
        amp = 0.3 * np.exp(3.0 * max(0.0, i / life - 0.5))
        acc = np.round(rng.normal(scale=amp, size=(SNAPSHOT_SAMPLES, 2)), 3)
        head = f"{clock // 3600},{clock % 3600 // 60},{clock % 60},"
        lines = [f"{head}{u},{a:.3f},{b:.3f}" for u, (a, b) in zip(us, acc, strict=True)]
        (folder / f"acc_{i + 1:05d}.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def femto_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data") / "femto"
    for k, (name, n) in enumerate(LEARNING.items()):
        write_acc_files(root / "Learning_set" / name, n, n, seed=k)
    for k, (name, n) in enumerate(TEST.items()):
        write_acc_files(root / "Test_set" / name, n, n + 4, seed=10 + k)
    return root


def _bench(femto_dir: Path, out: Path, *extra: str) -> dict:
    args = ["bench", "femto", "--data", str(femto_dir), "--cache", str(out / "cache")]
    assert main([*args, "--protocol", "challenge", "--out", str(out), *extra]) == 0
    (result,) = [p for p in out.glob("femto_challenge*.json")]
    return json.loads(result.read_text())


@pytest.mark.parametrize("model", ["degradation", "gbm"])
def test_challenge_protocol_from_files(femto_dir: Path, tmp_path: Path, model: str) -> None:
    result = _bench(femto_dir, tmp_path, "--model", model, "--max-iter", "5")
    assert result["protocol"] == "challenge" and result["model"] == model
    assert result["n_bearings"] == len(TEST) and result["n_predictions"] == len(TEST)
    per = result["details"]["per_bearing"]
    assert set(per) == set(TEST)
    for name, b in per.items():
        (cut,) = b["cuts"]
        assert cut["actual_rul_s"] == TEST_ACTUAL_RUL_S[name]  # the published RUL at the end
        assert cut["elapsed_s"] == pytest.approx(10.0 * (TEST[name] - 1))
        assert sorted(b["train_bearings"]) == sorted(LEARNING)
    assert 0.0 <= result["phm2012_score"] <= 1.0
    if model == "degradation":
        assert 0.0 <= result["coverage_90"] <= 1.0
        assert set(result["details"]["degradation_choices"]) == {"all"}


def test_challenge_protocol_moe_from_files(femto_dir: Path, tmp_path: Path) -> None:
    extra = ["--model", "moe", "--config", TINY, "--epochs", "1", "--threads", "1"]
    result = _bench(femto_dir, tmp_path, *extra)
    assert result["protocol"] == "challenge" and result["n_predictions"] == len(TEST)
    (seed,) = result["details"]["per_seed"]
    (fold,) = seed["folds"]
    assert fold["held_out"] == "Test_set"
    assert sorted(fold["fit_bearings"] + fold["val_bearings"]) == sorted(LEARNING)
    assert {c["bearing"] for c in seed["cuts"]} == set(TEST)
    for c in seed["cuts"]:
        assert c["actual_rul_s"] == TEST_ACTUAL_RUL_S[c["bearing"]]
        assert float(c["lower_s"]) <= float(c["upper_s"])  # an unbounded upper is "inf"
        # the scored RUL is the earlier of the network's and the degradation model's
        assert c["predicted_rul_s"] == min(c["network_rul_s"], c["degradation_rul_s"])
    assert 0.0 <= result["phm2012_score_network"] <= 1.0


def test_degradation_refuses_the_condition_scope(tmp_path: Path) -> None:
    args = ["bench", "femto", "--scope", "condition", "--data", str(tmp_path)]
    assert main([*args, "--out", str(tmp_path)]) != 0  # before reading any data
    assert not list(tmp_path.glob("*.json"))
