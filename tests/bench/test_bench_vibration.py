"""`phm bench cwru` and `phm bench femto` end to end on tiny generated data; the classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from phm.cli import main
from phm.datasets.cwru import CATALOGUE
from phm.features.spectral import SKF_6205
from phm.models.classifiers import GbmFaultClassifier

FS = 12_000.0


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """Histogram boosting on tiny data is several times faster on one thread when the
    machine is shared; results do not depend on the thread count."""
    with threadpool_limits(1, user_api="openmp"):
        yield


def write_cwru(folder: Path, numbers: list[int], n: int = 24_000) -> None:
    """Records whose 3 kHz resonance is amplitude-modulated at the class's defect frequency."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(n) / FS
    for k, number in enumerate(numbers):
        rec = CATALOGUE[number]
        shaft = rec.nominal_rpm / 60
        mult = SKF_6205.multiples()
        f_mod = {"inner_race": mult.bpfi, "ball": 2 * mult.bsf, "outer_race": mult.bpfo}
        noise = np.random.default_rng(k).normal(scale=0.3, size=n)
        if rec.location == "normal":
            de = noise
        else:
            mod = 1 + 0.9 * np.cos(2 * np.pi * f_mod[rec.location] * shaft * t)
            de = mod * np.sin(2 * np.pi * 3000 * t) + noise
        content = {f"X{number:03d}_DE_time": de[:, None], f"X{number:03d}RPM": [[rec.nominal_rpm]]}
        savemat(folder / f"{number}.mat", content)


def test_bench_cwru_time_split_and_cross_load(tmp_path: Path) -> None:
    write_cwru(tmp_path / "cwru", [97, 105, 106, 118, 119, 130, 131])
    out = tmp_path / "bench"
    fast = ["--max-iter", "50"]
    base = ["bench", "cwru", "--data", str(tmp_path), "--out", str(out), *fast]
    assert main([*base, "--model", "gbm"]) == 0
    result = json.loads((out / "cwru.json").read_text())
    assert result["protocol"] == "time_split" and result["n_classes"] == 4
    assert result["accuracy"] > 0.9 and 0 <= result["macro_f1"] <= 1
    assert set(result["details"]["per_class_accuracy"]) == {"normal", "IR007", "B007", "OR007@6"}
    assert (out / "cwru.md").read_text().startswith("| CWRU 10class")
    assert main([*base, "--train-load", "0", "--test-load", "1"]) == 0
    cross = json.loads((out / "cwru_load0to1.json").read_text())
    assert cross["protocol"] == "cross_load_0_to_1" and cross["n_classes"] == 3
    assert cross["details"]["dropped_classes"] == ["normal"]
    assert cross["details"]["files"] == {"train": [105, 118, 130], "test": [106, 119, 131]}
    assert main([*base, "--train-load", "0"]) == 2  # both loads or neither


CONFIGS = Path(__file__).parents[2] / "phm" / "configs" / "models"


@pytest.mark.parametrize(("model", "config"), [("moe", "tiny.toml"), ("dense", "dense-tiny.toml")])
def test_bench_cwru_network_time_split_and_cross_load(
    tmp_path: Path, model: str, config: str
) -> None:
    write_cwru(tmp_path / "cwru", [97, 105, 106, 118, 119, 130, 131])
    out = tmp_path / "bench"
    flags = ["--model", model, "--config", str(CONFIGS / config), "--epochs", "1", "--threads", "1"]
    base = ["bench", "cwru", "--data", str(tmp_path), "--out", str(out), *flags]
    assert main(base) == 0
    result = json.loads((out / f"cwru_{model}.json").read_text())
    assert result["protocol"] == "time_split" and result["n_classes"] == 4
    assert result["model"] == model and result["n_seeds"] == 1
    # 24,000 samples: 11 windows of 2048; 7 end before the 60% cut (1 validates), 3 start after.
    assert result["n_train_windows"] == 7 * 7 and result["n_test_windows"] == 7 * 3
    seed = result["details"]["per_seed"][0]
    assert result["accuracy"] == seed["accuracy"] and result["accuracy_std"] == 0.0
    confusion = np.array(seed["confusion"]["rows_true_cols_pred"])
    assert confusion.sum() == 21
    assert result["accuracy"] == pytest.approx(np.trace(confusion) / 21)
    assert 0 <= result["macro_f1"] <= 1
    assert (result["n_params_active"] < result["n_params"]) == (model == "moe")
    assert main([*base, "--train-load", "0", "--test-load", "1"]) == 0
    cross = json.loads((out / f"cwru_load0to1_{model}.json").read_text())
    assert cross["protocol"] == "cross_load_0_to_1" and cross["n_classes"] == 3
    assert cross["details"]["dropped_classes"] == ["normal"]
    assert cross["details"]["files"] == {"train": [105, 118, 130], "test": [106, 119, 131]}
    assert cross["n_train_windows"] == 3 * 11 and cross["n_test_windows"] == 3 * 11


def write_femto_bearing(folder: Path, n: int, seed: int) -> None:
    """n snapshots whose vibration grows towards failure; comma-separated."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    us = 65_664 + 39 * np.arange(2560)
    for i in range(n):
        clock = 8 * 3600 + 10 * i
        h, m, s = clock // 3600, clock % 3600 // 60, clock % 60
        x = rng.normal(scale=0.3 * np.exp(3 * i / n), size=(2560, 2))
        rows = [f"{h},{m},{s},{us[j]},{x[j, 0]:.3f},{x[j, 1]:.3f}" for j in range(2560)]
        (folder / f"acc_{i + 1:05d}.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def femto_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("femto_data") / "femto"
    for k, name in enumerate(["1_1", "1_2", "2_1", "2_2", "3_1", "3_2"]):
        write_femto_bearing(root / "Learning_set" / f"Bearing{name}", n=8 + 2 * k, seed=k)
    write_femto_bearing(root / "Test_set" / "Bearing1_3", n=6, seed=9)
    return root


def test_bench_femto_leave_one_bearing_out(femto_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["--data", str(femto_data), "--cache", str(tmp_path / "cache"), "--max-iter", "20"]
    assert main(["bench", "femto", "--model", "gbm", "--out", str(out), *args]) == 0
    result = json.loads((out / "femto.json").read_text())
    assert result["protocol"] == "leave_one_bearing_out_all"
    assert 0 < result["phm2012_score"] <= 1 and result["rmse"] >= 0
    assert result["n_bearings"] == 6 and result["n_predictions"] == 24
    per = result["details"]["per_bearing"]
    for bearing, info in per.items():
        assert bearing not in info["train_bearings"] and len(info["train_bearings"]) == 5
        assert [c["fraction"] for c in info["cuts"]] == [0.6, 0.7, 0.8, 0.9]
        assert all(c["actual_rul_s"] > 0 for c in info["cuts"])
    assert "0.31" in (out / "femto.md").read_text()


def test_bench_femto_challenge(femto_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["--data", str(femto_data), "--cache", str(tmp_path / "cache"), "--max-iter", "20"]
    assert main(["bench", "femto", "--protocol", "challenge", "--out", str(out), *args]) == 0
    result = json.loads((out / "femto_challenge.json").read_text())
    (cut,) = result["details"]["per_bearing"]["Bearing1_3"]["cuts"]
    assert cut["actual_rul_s"] == 5730.0 and result["n_predictions"] == 1


@parametrize_with_checks([GbmFaultClassifier(max_iter=5)])
def test_classifier_follows_sklearn_conventions(estimator, check) -> None:
    check(estimator)


def test_classifier_before_fit_and_single_class() -> None:
    from phm.errors import NotFittedError

    with pytest.raises(NotFittedError):
        GbmFaultClassifier().predict(np.zeros((2, 3)))
    model = GbmFaultClassifier().fit(np.zeros((4, 2)), ["a"] * 4)
    assert model.predict(np.ones((3, 2))).tolist() == ["a"] * 3


def test_femto_prediction_sees_only_the_snapshots_before_the_cut() -> None:
    import polars as pl
    from sklearn.compose import TransformedTargetRegressor

    from phm.bench.femto import health_feature_names, predict_at
    from phm.datasets.run import Run, Waveforms
    from phm.models.rul_baselines import GbmRul

    names = ["h_rms", "h_kurtosis"]
    n, index = 60, 40
    rng = np.random.default_rng(0)
    times = np.arange(n) * 10.0
    waves = Waveforms(times, 25_600.0, ("h",), np.zeros((n, 1, 4), dtype=np.float32))
    run = Run("Bearing1_1", "bearing", pl.DataFrame({"time": times}),
              meta={"rpm": 1800.0, "load_n": 4000.0}, waveforms=waves)  # fmt: skip
    width = len(health_feature_names(names))
    X = rng.normal(size=(400, width))
    # log RUL follows h_rms_delta; the model takes and gives seconds, as make_model's do
    model = TransformedTargetRegressor(
        GbmRul(max_iter=30, min_samples_leaf=5), func=np.log1p, inverse_func=np.expm1
    ).fit(X, np.expm1(8 + X[:, 0]))
    raw = rng.normal(size=(n, 2))
    future_changed = raw.copy()
    future_changed[index + 1 :] += 100.0
    before = predict_at(model, run, raw, names, index)
    assert before == predict_at(model, run, future_changed, names, index)
    past_changed = raw.copy()
    past_changed[index - 3 : index + 1, 0] += 3.0
    assert predict_at(model, run, past_changed, names, index) != before
