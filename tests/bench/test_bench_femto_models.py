"""`phm bench femto` with each baseline on the real PRONOSTIA learning set, and the moe path
on generated FEMTO-like runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from phm.cli import main
from phm.datasets.run import Run, Waveforms
from phm.resources import resource_path
from tests.datadir import real_data_dir

TINY = str(resource_path("models/tiny.toml"))
BEARINGS = ("Bearing1_1", "Bearing1_2", "Bearing2_1", "Bearing2_2", "Bearing3_1", "Bearing3_2")


def femto_like_runs(samples: int = 256, seed: int = 0) -> list[Run]:
    """Six run-to-failure learning bearings: 2-channel noise snapshots every 10 s whose
    amplitude grows towards failure; temperature on the first bearing of each condition."""
    rng = np.random.default_rng(seed)
    runs = []
    for k, name in enumerate(BEARINGS):
        condition = int(name[7])
        n = 20 + 6 * k
        times = 10.0 * np.arange(n)
        amp = 1.0 + 4.0 * (np.arange(n) / (n - 1)) ** 3
        data = (rng.standard_normal((n, 2, samples)) * amp[:, None, None]).astype(np.float32)
        signals = pl.DataFrame(
            {"time": [], "temperature_c": []},
            schema={"time": pl.Float64, "temperature_c": pl.Float64},
        )
        if name.endswith("_1"):
            t = np.arange(0.0, times[-1] + 1, 1.0)
            signals = pl.DataFrame({"time": t, "temperature_c": 30.0 + t / 60.0})
        meta = {"set": "Learning_set", "condition": condition, "rpm": 1800.0, "load_n": 4000.0,
                "duration_s": float(times[-1])}  # fmt: skip
        labels = pl.DataFrame({"time": times, "rul_s": times[-1] - times})
        waveforms = Waveforms(times, 25_600.0, ("horizontal", "vertical"), data)
        runs.append(Run(name, "bearing", signals, meta, waveforms, labels=labels))
    return runs


def test_femto_bench_moe_tiny_on_generated_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import phm.bench.femto_network as bench

    runs = femto_like_runs()
    monkeypatch.setattr(bench, "load_femto", lambda *a, **k: runs)
    args = ["bench", "femto", "--model", "moe", "--config", TINY]
    args += ["--epochs", "1", "--seeds", "2", "--threads", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    result = json.loads((tmp_path / "femto_moe.json").read_text())
    assert result["model"] == "moe" and result["n_predictions"] == 24 and result["n_seeds"] == 2
    assert 0.0 <= result["phm2012_score"] <= 1.0 and result["rmse"] > 0
    assert result["phm2012_score_std"] >= 0 and result["rmse_std"] >= 0
    for seed in result["details"]["per_seed"]:
        for fold in seed["folds"]:  # the held-out bearing never fits nor validates
            assert fold["held_out"] not in fold["fit_bearings"] + fold["val_bearings"]
            assert len(fold["val_bearings"]) == 1 and len(fold["fit_bearings"]) == 4
        assert {c["fraction"] for c in seed["cuts"]} == {0.6, 0.7, 0.8, 0.9}


def test_femto_bench_network_needs_the_all_scope_and_a_matching_config(tmp_path: Path) -> None:
    dense_on_moe = ["bench", "femto", "--model", "dense", "--config", TINY]
    assert main([*dense_on_moe, "--out", str(tmp_path)]) != 0
    condition = ["bench", "femto", "--model", "moe", "--scope", "condition"]
    assert main([*condition, "--out", str(tmp_path)]) != 0
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.integration
@pytest.mark.parametrize("model", ["degradation", "gbm", "survival"])
def test_femto_bench_each_model(model: str, tmp_path: Path) -> None:
    data = real_data_dir("femto", "Learning_set.tar.xz")
    assert (
        main(["bench", "femto", "--data", str(data), "--model", model, "--out", str(tmp_path)]) == 0
    )
    result = json.loads((tmp_path / "femto.json").read_text())
    assert result["model"] == model and result["n_predictions"] == 24
    assert 0.0 < result["phm2012_score"] <= 1.0 and result["rmse"] > 0
    if model == "degradation":  # the default model reports its 90% interval's coverage
        assert 0.0 <= result["coverage_90"] <= 1.0
