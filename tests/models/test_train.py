"""Training: windows, schedule, a tiny run that learns, `phm train` end to end, estimators."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from phm.cli import main
from phm.errors import ConfigError
from phm.models.data import TrainConfig, WindowSet, load_train_config, sliding_windows
from phm.models.model import PhmModel, load_checkpoint, load_config
from phm.models.nn_estimators import MoeClassifier, MoeRul
from phm.models.prepare import phm2018_targets, phm2018_windows
from phm.models.train import fit, lr_factor, predict

TINY = Path(__file__).parents[2] / "phm" / "configs" / "models" / "tiny.toml"


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 20), c=st.integers(1, 3), window=st.integers(1, 8))
def test_sliding_windows_are_causal_and_front_padded(n: int, c: int, window: int) -> None:
    values = np.arange(n * c, dtype=np.float32).reshape(n, c) + 1.0
    x, mask = sliding_windows(values, window)
    assert x.shape == (n, window, c) and mask.shape == (n, window)
    for i in range(n):
        np.testing.assert_array_equal(x[i, -1], values[i])  # last position = current row
        real = min(i + 1, window)
        assert mask[i].sum() == real and mask[i, window - real :].all()
        np.testing.assert_array_equal(x[i, window - real :], values[i + 1 - real : i + 1])
        assert (x[i, ~mask[i]] == 0).all()


def test_lr_schedule_warmup_then_cosine() -> None:
    assert lr_factor(0, 10, 110, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 110, 0.1) == pytest.approx(1.0)
    assert lr_factor(60, 10, 110, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(110, 10, 110, 0.1) == pytest.approx(0.1)


def test_unknown_train_key_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('name = "m"\n[train]\nepochz = 3\n')
    with pytest.raises(ConfigError, match=r"m\.toml.*epochz"):
        load_train_config(path)


def synthetic_rul(n: int, seed: int) -> WindowSet:
    """Windows whose first channel drifts with the remaining life; censored past 40."""
    rng = np.random.default_rng(seed)
    rul = rng.uniform(0, 60, n).astype(np.float32)
    t = np.arange(8, dtype=np.float32)
    health = (60 - rul)[:, None] / 60 + 0.02 * t[None]  # (N, T)
    x = np.stack([health, rng.normal(0, 1, (n, 8)), np.sin(t)[None].repeat(n, 0)], axis=-1)
    x[..., 0] += rng.normal(0, 0.05, (n, 8))
    return WindowSet(
        inputs={"process": x.astype(np.float32), "context": rng.integers(0, 2, (n, 1))},
        targets={
            "rul_time": np.minimum(rul, 40.0),
            "rul_event": rul < 40.0,
            "rul_true": rul,
        },
        groups=np.arange(n) // 8,
    )


def test_tiny_training_run_reduces_the_loss() -> None:
    cfg = dataclasses.replace(
        load_config(TINY),
        process_channels=3,
        context_cardinalities=(2,),
        max_positions=8,
        rul_horizon=40.0,
    )
    tcfg = TrainConfig(batch_size=64, lr=3e-3, warmup_steps=5, epochs=6, patience=10)
    train, val = synthetic_rul(768, 0), synthetic_rul(256, 1)
    torch.manual_seed(0)
    model = PhmModel(cfg)
    before = predict(model, val)
    rmse0 = math.sqrt(np.mean((before["point"] - np.minimum(val.targets["rul_true"], 40)) ** 2))
    result = fit(model, train, val, tcfg, "cpu", seed=0, progress=False)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0]
    assert result.history[result.best_epoch]["val_rmse"] < 0.6 * rmse0
    assert result.windows_per_s > 0
    assert all(0 <= h["load_cv"] < 2 for h in result.history)


def write_fd001_like(folder: Path, n_train: int = 8, n_test: int = 4, seed: int = 0) -> Path:
    """A tiny synthetic FD001 (one operating condition): 14 drifting sensors, 7 constant."""
    rng = np.random.default_rng(seed)
    drift = rng.normal(0, 1, 21)
    drift[[0, 4, 5, 9, 15, 17, 18]] = 0.0  # constant sensors, as in the real FD001

    def rows(unit: int, life: int, stop: int) -> np.ndarray:
        cyc = np.arange(1, stop + 1)
        ops = np.array([0.0, 0.0, 100.0]) + rng.normal(0, [0.002, 0.0002, 0.0], (stop, 3))
        wear = np.exp(np.clip(cyc - life + 40, None, 40) / 15.0)[:, None] / 15
        sens = 100 + wear * drift + rng.normal(0, 0.05, (stop, 21)) * (drift != 0)
        return np.column_stack([np.full(stop, unit), cyc, ops, sens])

    lives = rng.integers(60, 90, n_train + n_test)
    train = np.vstack([rows(u + 1, lives[u], lives[u]) for u in range(n_train)])
    stops = [int(lives[n_train + u] * 0.7) for u in range(n_test)]
    test = np.vstack([rows(u + 1, lives[n_train + u], stops[u]) for u in range(n_test)])
    rul = [lives[n_train + u] - stops[u] for u in range(n_test)]
    np.savetxt(folder / "train_FD001.txt", train, fmt="%.4f")
    np.savetxt(folder / "test_FD001.txt", test, fmt="%.4f")
    np.savetxt(folder / "RUL_FD001.txt", np.array(rul), fmt="%d")
    return folder


def test_phm_train_cmapss_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_fd001_like(tmp_path)
    ckpt = tmp_path / "tiny.pt"
    args = ["train", "--dataset", "cmapss", "--data", str(data), "--config", str(TINY)]
    rc = main([*args, "--device", "cpu", "--out", str(ckpt), "--epochs", "1", "--seed", "3"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "val" in printed and "test" in printed and "coverage" in printed
    model, header = load_checkpoint(ckpt)
    extra = header.training
    assert header.dataset == "cmapss" and extra["seed"] == 3
    assert len(header.channels) == 14  # the 7 constant sensors are dropped
    assert model.config.process_channels == 15  # 14 sensors + the cycle count
    assert extra["val_units"]  # validation units come from the training file
    assert all(u.startswith("FD001-train-") for u in extra["val_units"])
    assert torch.isfinite(model.rul.conformal_factor).all()
    assert extra["metrics"]["train_windows_per_s"] > 0


def test_phm_train_rejects_cuda_without_a_gpu(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    rc = main(["train", "--config", str(TINY), "--device", "cuda", "--out", str(tmp_path / "x")])
    assert rc == 2


def test_moe_rul_estimator_interface() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (300, 4))
    y = np.clip(30 + 10 * X[:, 0], 0, 50)
    est = MoeRul(config="tiny", epochs=3, batch_size=64)
    assert est.get_params()["epochs"] == 3 and not hasattr(est, "model_")
    assert est.fit(X, y, groups=np.arange(300) // 10, cap=50.0) is est
    pred = est.predict(X)
    assert pred.shape == (300,) and (pred >= 0).all() and (pred <= 50).all()
    lo, hi = est.predict_interval(X[:5])
    assert lo.shape == hi.shape == (5,) and (lo <= hi).all()
    assert est.n_features_in_ == 4 and est.cap_ == 50.0
    assert np.corrcoef(pred, y)[0, 1] > 0.5


def test_moe_classifier_estimator_interface() -> None:
    rng = np.random.default_rng(1)
    y = np.array(["healthy", "inner", "outer"])[rng.integers(0, 3, 300)]
    X = rng.normal(0, 0.3, (300, 6, 2)).astype(np.float32)
    X[:, :, 0] += (y == "inner")[:, None] * 2.0
    X[:, :, 1] += (y == "outer")[:, None] * 2.0
    clf = MoeClassifier(config="tiny", epochs=4, batch_size=32).fit(X, y)
    assert list(clf.classes_) == ["healthy", "inner", "outer"]
    assert clf.predict_proba(X).shape == (300, 3)
    assert np.mean(clf.predict(X) == y) > 0.9


def test_phm_train_cwru_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    t = np.arange(20480) / 12_000.0
    normal = np.sin(2 * np.pi * 30 * t) + 0.1 * rng.normal(size=t.size)
    inner = normal + (np.sin(2 * np.pi * 162 * t) > 0.995) * 3.0  # periodic impacts
    savemat(tmp_path / "97.mat", {"X097_DE_time": normal[:, None], "X097RPM": 1797})
    savemat(tmp_path / "105.mat", {"X105_DE_time": inner[:, None], "X105RPM": 1797})
    ckpt = tmp_path / "cwru.pt"
    args = ["train", "--dataset", "cwru", "--data", str(tmp_path), "--config", str(TINY)]
    assert main([*args, "--out", str(ckpt), "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "macro_f1" in printed
    model, header = load_checkpoint(ckpt)
    assert header.classes == ("normal", "IR007")
    assert model.config.n_classes == 2 and model.rul is None
    assert model.config.vibration_channels == 1 and model.config.max_positions == 2048 // 512


def _femto_runs(samples: int = 64) -> list:
    """Four small run-to-failure bearings; snapshot j of bearing k is filled with k*1000 + j."""
    import polars as pl

    from phm.datasets.run import Run, Waveforms

    runs = []
    for k, name in enumerate(("Bearing1_1", "Bearing1_2", "Bearing2_1", "Bearing3_1")):
        n = 12 + 3 * k
        times = 10.0 * np.arange(n)
        data = np.broadcast_to((k * 1000 + np.arange(n))[:, None, None], (n, 2, samples))
        empty = {"time": pl.Float64, "temperature_c": pl.Float64}
        signals = (
            pl.DataFrame({"time": times, "temperature_c": 30.0 + times / 10.0})
            if k == 0
            else pl.DataFrame({"time": [], "temperature_c": []}, schema=empty)
        )
        runs.append(
            Run(
                name,
                "bearing",
                signals,
                {"set": "Learning_set", "condition": int(name[7]), "duration_s": times[-1]},
                Waveforms(times, 25_600.0, ("h", "v"), data.astype(np.float32)),
                labels=pl.DataFrame({"time": times, "rul_s": times[-1] - times}),
            )
        )
    return runs


def test_prepare_femto_windows_are_causal_and_split_by_bearing() -> None:
    from phm.models.prepare import (
        DATASETS,
        FEMTO_RUL_HORIZON,
        FEMTO_RUL_UNIT_S,
        FemtoOptions,
        prepare_femto,
    )

    assert DATASETS["femto"] is prepare_femto
    runs = _femto_runs()
    tcfg = TrainConfig(snapshots=4, snapshot=32, val_fraction=0.2)
    prep = prepare_femto(FemtoOptions(runs=runs, holdout="Bearing2_1"), tcfg, seed=0)
    assert prep.test is not None and set(prep.test.groups) == {"Bearing2_1"}
    fit_ids, val_ids = set(prep.fit.groups), set(prep.val.groups)
    assert "Bearing2_1" not in fit_ids | val_ids and len(val_ids) == 1 and not fit_ids & val_ids
    assert prep.config_updates["rul_horizon"] == FEMTO_RUL_HORIZON
    test = prep.test
    vib, mask = test.inputs["vibration"], test.inputs["vibration_mask"]
    assert vib.shape == (18, 4, 2, 32) and test.inputs["process"].shape == (18, 4, 5)
    for i in range(18):  # window i holds snapshots i-3 .. i, the last one at the end
        for p in range(4):
            j = i - 3 + p
            assert mask[i, p] == (j >= 0)
            assert np.all(vib[i, p] == (2000 + j if j >= 0 else 0.0))
    np.testing.assert_allclose(test.targets["rul_true"], (170.0 - 10.0 * np.arange(18)) / 3600)
    assert FEMTO_RUL_UNIT_S == 3600.0 and test.targets["rul_event"].all()
    assert (test.inputs["context"][:, 0] == 1).all()  # condition 2 -> index 1
    fit_proc = prep.fit.inputs["process"]
    with_temp = prep.fit.groups == "Bearing1_1"
    if with_temp.any():  # temperature present: flag 1, rising reading over its first
        assert (fit_proc[with_temp][:, -1, 4] == 1).all() and fit_proc[with_temp][-1, -1, 3] > 0
    assert (test.inputs["process"][:, :, 4] == 0).all()


def test_phm2018_targets_censor_at_record_end_and_class_next_fault() -> None:
    nan = np.nan
    ttf = np.array(
        [
            [600.0, 300.0, nan],  # pressure_high first, within the horizon
            [nan, nan, 5000.0],  # leak beyond the horizon: none
            [nan, nan, nan],  # no fault ahead, record runs 2 h on: none, known
            [nan, nan, nan],  # no fault ahead, record ends in 10 min: unknown
        ]
    )
    remaining = np.array([9000.0, 9000.0, 7200.0, 600.0])
    targets, known = phm2018_targets(ttf, remaining, 3600.0)
    assert targets["fault"].tolist() == [2, 0, 0, 0]
    assert known.tolist() == [True, True, True, False]
    assert targets["ttf_event"].tolist() == [
        [True, True, False],
        [False, False, True],
        [False, False, False],
        [False, False, False],
    ]
    np.testing.assert_allclose(targets["ttf_time"][0], [600.0, 300.0, 9000.0])
    np.testing.assert_allclose(targets["ttf_time"][3], [600.0, 600.0, 600.0])


def test_phm2018_windows_are_causal_and_masked() -> None:
    feats = np.arange(40, dtype=np.float32).reshape(20, 2)
    feats[5, 1] = np.nan
    mean, scale = np.zeros(2, np.float32), np.ones(2, np.float32)
    out = phm2018_windows(feats, np.array([3, 19]), mean, scale, window=4, step=2)
    assert out["process"].shape == (2, 4, 2)
    assert out["process_mask"].tolist() == [[False, False, True, True], [True] * 4]
    np.testing.assert_array_equal(out["process"][0, :, 0], [0, 0, 2, 6])  # rows 1, 3
    np.testing.assert_array_equal(out["process"][1, :, 0], [26, 30, 34, 38])  # rows 13..19
    assert np.isfinite(out["process"]).all()


def test_weight_average_is_kept_and_swapping_restores_the_trained_weights() -> None:
    from phm.models.train import WeightAverage

    cfg = dataclasses.replace(
        load_config(TINY), process_channels=3, context_cardinalities=(1,), max_positions=4
    )
    model = PhmModel(cfg)
    avg = WeightAverage(model, 0.5)
    start = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    avg.update(model)  # halfway between start and start + 1
    trained = [p.detach().clone() for p in model.parameters()]
    with avg.swapped_in(model):
        for p, s in zip(model.parameters(), start, strict=True):
            torch.testing.assert_close(p, s + 0.5)
    for p, t in zip(model.parameters(), trained, strict=True):
        torch.testing.assert_close(p, t)


def test_phm_train_deep_ensemble(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--members 2: two members from seeds S and S + 1000 on one split, saved as one ensemble
    whose validation score and calibration are the ensemble's."""
    from phm.models.model import PhmEnsemble

    data = write_fd001_like(tmp_path)
    ckpt = tmp_path / "ens.pt"
    args = ["train", "--dataset", "cmapss", "--data", str(data), "--config", str(TINY)]
    rc = main([*args, "--out", str(ckpt), "--epochs", "2", "--seed", "3", "--members", "2"])
    assert rc == 0
    capsys.readouterr()
    model, header = load_checkpoint(ckpt)
    extra = header.training
    assert isinstance(model, PhmEnsemble) and len(model.members) == 2
    first, second = (m.state_dict() for m in model.members)
    assert any(not torch.equal(first[k], second[k]) for k in first)  # other seeds
    members = extra["metrics"]["members"]
    assert len(members) == 2 and all(m["epochs_run"] >= 1 for m in members)
    assert torch.isfinite(model.rul.conformal_factor).all()
    assert extra["metrics"]["val"]["rmse_capped_point"] >= 0  # the ensemble's own figures
