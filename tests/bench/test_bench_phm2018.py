"""Simulate PHM 2018 -> load -> `phm bench phm2018` and `phm bench io`, end to end, small."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phm.cli import main
from phm.datasets.phm2018 import Phm2018Dataset
from phm.sim.ion_mill_files import simulate_phm2018


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sim")
    simulate_phm2018(root, tools=4, days=3, seed=5, test_tools=1, workers=1, progress=False)
    return root


def test_loader_reads_simulated_layout_and_ttf_matches_fault_log(sim: Path) -> None:
    ds = Phm2018Dataset(sim)
    assert len(ds.train_tools()) == 4 and ds.validation_tools() == ["03_M01"]
    for run in ds.iter_train():
        assert run.events is not None and run.labels is not None
        t = run.signals["time"].to_numpy()
        for mode in ("pressure_low", "pressure_high", "leak"):
            faults = np.sort(run.events.filter(run.events["fault_mode"] == mode)["time"].to_numpy())
            padded = np.append(faults, np.nan)  # past the last fault: NaN
            expect = padded[np.searchsorted(faults, t)] - t
            got = run.labels[f"ttf_{mode}"].to_numpy().astype(float)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expect))
            np.testing.assert_allclose(got[~np.isnan(got)], expect[~np.isnan(expect)])


@pytest.mark.parametrize("model", ["nan", "gbm"])
def test_bench_writes_official_score_and_all_nan_reference(
    sim: Path, tmp_path: Path, model: str
) -> None:
    code = main(
        [
            "bench",
            "phm2018",
            "--data",
            str(sim),
            "--model",
            model,
            "--out",
            str(tmp_path),
            "--stride",
            "20",
            "--no-progress",
        ]
    )
    assert code == 0
    result = json.loads((tmp_path / "phm2018.json").read_text())
    assert result["protocol"] == "final_validation"
    per_mode = [result[f"s1_{m}"] for m in ("pressure_low", "pressure_high", "leak")]
    assert result["s1_total"] == pytest.approx(sum(per_mode))
    assert result["s1_total"] == pytest.approx(sum(result["details"]["s1_per_tool"].values()))
    if model == "nan":
        assert result["s1_total"] == pytest.approx(result["s1_all_nan"])
        assert "s1_total_bayes" not in result
    else:  # the threshold rule ships; the Bayes rule of the same fit is scored beside it
        assert result["s1_total_bayes"] >= 0.0
        assert len(result["details"]["far_nan_share"]) == 3
    assert (tmp_path / "phm2018.md").read_text().startswith("## PHM 2018")


def test_bench_holdout_names_unknown_tool(sim: Path, tmp_path: Path, capsys) -> None:
    code = main(
        [
            "bench",
            "phm2018",
            "--data",
            str(sim),
            "--out",
            str(tmp_path),
            "--holdout",
            "09_M02",
            "--no-progress",
        ]
    )
    assert code == 2
    assert "09_M02" in capsys.readouterr().err


def test_bench_io_compares_with_pandas(sim: Path, tmp_path: Path) -> None:
    assert main(["bench", "io", "--data", str(sim), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "io.json").read_text())
    rows = sum(r.signals.height for r in Phm2018Dataset(sim).iter_train())
    assert result["rows"] == rows
    assert result["ratio"] > 0 and result["peak_rss_gib"] < 2.0
    readers = result["details"]["readers"]
    assert set(readers) == {"pandas.read_csv", "phm loader", "phm loader, feature columns"}


def test_bench_network_writes_s1_beside_all_nan_and_macro_f1(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    simulate_phm2018(sim, tools=3, days=2, seed=1, test_tools=1, workers=1, progress=False)
    out = tmp_path / "out"
    code = main(
        [
            "bench",
            "phm2018",
            "--data",
            str(sim),
            "--model",
            "moe",
            "--config",
            "phm/configs/models/tiny.toml",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--stride",
            "20",
            "--folds",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    result = json.loads((out / "phm2018_moe.json").read_text())
    assert result["model"] == "moe" and result["protocol"] == "final_validation"
    per_mode = [result[f"s1_{m}"] for m in ("pressure_low", "pressure_high", "leak")]
    assert result["s1_total"] == pytest.approx(sum(per_mode))
    assert result["s1_all_nan"] == pytest.approx(result["details"]["all_nan"]["s1_total"])
    f1 = result["fault_macro_f1"]
    assert f1 is None or 0.0 <= f1 <= 1.0
    seed = result["details"]["per_seed"][0]
    (fit,) = seed["fits"]
    assert fit["n_fit_windows"] > 0 and fit["n_val_windows"] > 0
    assert set(fit["fit_tools"]).isdisjoint(fit["val_tools"])
    assert "02_M02" not in fit["fit_tools"] + fit["val_tools"]  # the scored tool never trains
    modes = {"pressure_low", "pressure_high", "leak"}
    assert set(seed["decision"]) == modes
    for fitted in seed["decision"].values():
        assert 0.2 <= fitted["temperature"] <= 5.0 and 0.0 <= fitted["far_nan_share"] <= 1.0
    # TTF intervals: the level chosen on the held-out windows, coverage there and on the tool
    from phm.bench.phm2018_network import INTERVAL_LEVELS

    assert seed["interval_level"] in INTERVAL_LEVELS
    tried = seed["interval_validation"]["by_level"]
    covs = [c for c in tried.values() if c is not None]
    # the chosen level is the first to reach 90% on the held-out windows (or the last tried)
    assert list(tried)[-1] == f"{seed['interval_level']:g}"
    assert all(c < 0.9 for c in covs[:-1]) and covs == sorted(covs)  # wider never covers less
    for cov in (seed["interval_chosen"], seed["interval_nominal"], seed["interval_validation"]):
        assert cov["coverage_90"] is None or 0.0 <= cov["coverage_90"] <= 1.0
        assert cov["cells"] >= 0
    assert result["coverage_90"] == seed["interval_chosen"]["coverage_90"]
    # the shipped rule's ablations are all scored
    for k in (
        "s1_total_threshold",
        "s1_total_bayes",
        "s1_total_bayes_uncalibrated",
        "s1_total_per_mode_choice",
    ):
        assert result[k] >= 0.0
    # the per-mode Bayes-or-median choice equals the median threshold rule wherever it kept it
    for m, fitted in seed["decision"].items():
        chosen = "bayes" if fitted["bayes_wins"] else "threshold"
        assert seed[f"s1_{m}_per_mode_choice"] == pytest.approx(seed[f"s1_{m}_{chosen}"])
    # the headline is the threshold rule with the per-mode choice of estimate (median or S1
    # estimate): where the mode's choice is the median, it is the median rule itself
    for m, fitted in seed["decision"].items():
        if not fitted["choice_s1_estimate"]:  # the mode submits the median
            assert seed[f"s1_{m}"] == pytest.approx(seed[f"s1_{m}_threshold"])


def test_bench_network_cross_fits_every_training_tool_once(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    simulate_phm2018(sim, tools=4, days=2, seed=2, test_tools=1, workers=1, progress=False)
    out = tmp_path / "out"
    args = ["bench", "phm2018", "--data", str(sim), "--model", "moe"]  # 3 folds: the default
    args += ["--config", "phm/configs/models/tiny.toml", "--epochs", "1", "--threads", "1"]
    assert main([*args, "--stride", "20", "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "phm2018_moe.json").read_text())
    seed = result["details"]["per_seed"][0]
    assert seed["folds"] == 3 and len(seed["fits"]) == 3
    held_out = [t for fit in seed["fits"] for t in fit["val_tools"]]
    train_tools = result["details"]["train_tools"]
    assert sorted(held_out) == sorted(train_tools)  # each training tool held out exactly once
    for fit in seed["fits"]:
        assert set(fit["fit_tools"]) == set(train_tools) - set(fit["val_tools"])
    assert result["s1_total"] >= 0.0 and result["s1_all_nan"] >= 0.0


def test_bench_folds_is_for_networks_only(sim: Path, capsys) -> None:
    assert main(["bench", "phm2018", "--data", str(sim), "--model", "gbm", "--folds", "3"]) != 0
    assert "--folds applies to --model moe|dense, not --model gbm" in capsys.readouterr().err


def test_majority_submission_votes_and_takes_the_median() -> None:
    from phm.bench.phm2018_network import majority_submission

    nan = np.nan
    subs = np.array(
        [
            [[100.0, nan], [nan, nan]],
            [[300.0, 50.0], [nan, 10.0]],
            [[200.0, nan], [5.0, 20.0]],
        ]
    )
    out = majority_submission(subs)
    # row 0 mode 0: all three submit -> median 200; row 0 mode 1: one of three -> NaN;
    # row 1 mode 0: one of three -> NaN; row 1 mode 1: two of three -> median of 10, 20
    np.testing.assert_allclose(out, [[200.0, nan], [nan, 15.0]])


def test_ttf_interval_and_its_coverage_by_hand() -> None:
    from phm.bench.phm2018_network import interval_coverage
    from phm.models.s1_decision import ttf_interval

    # hazard 0.2 in each of 10 bins of 10 s: CDF 0.2 at 10 s, 1 - 0.8^k at 10 k s
    logits = np.full((2, 10), np.log(0.2 / 0.8))
    logits[1] = 5.0  # a near-certain fault in the first bin: CDF 0.9933 at 10 s
    lower, upper = ttf_interval(logits, 100.0)
    assert lower[0] == pytest.approx(2.5)  # 0.05 of a CDF rising linearly to 0.2 over 10 s
    assert upper[0] == np.inf  # the CDF at the horizon is 1 - 0.8^10 = 0.89 < 0.95
    assert lower[1] == pytest.approx(0.05 / 0.99331 * 10, rel=1e-3)
    assert upper[1] == pytest.approx(0.95 / 0.99331 * 10, rel=1e-3)
    # given a fault within the horizon: the CDF divided by its value there (0.8926 for row 0)
    lower, upper = ttf_interval(logits, 100.0, given_fault=True)
    within = 1 - 0.8**10
    assert lower[0] == pytest.approx(0.05 * within / 0.2 * 10, rel=1e-3)
    k = int(np.floor(np.log(1 - 0.95 * within) / np.log(0.8)))  # last edge below 0.95 x within
    c0, c1 = 1 - 0.8**k, 1 - 0.8 ** (k + 1)
    assert upper[0] == pytest.approx(10 * (k + (0.95 * within - c0) / (c1 - c0)), rel=1e-3)
    assert np.isnan(ttf_interval(np.full((1, 10), -80.0), 100.0, given_fault=True)[0][0])
    # (rows, modes): time to the next fault (event) or to the record's end (no event)
    time_s = np.array([[50.0, 30.0, 30.0], [9.0, 500.0, 1.0], [150.0, 40.0, 20.0]])
    event = np.array([[True, False, True], [True, True, True], [True, False, True]])
    lo = np.array([[2.5, 0.0, 40.0], [0.5, 0.0, 0.5], [0.0, 0.0, 0.0]])
    hi = np.array([[60.0, 10.0, 60.0], [9.6, 90.0, 9.6], [90.0, 10.0, 15.0]])
    cov = interval_coverage(time_s, event, lo, hi, 100.0)
    # cells with a fault within 100 s: (0,0) in, (0,2) out, (1,0) in, (1,2) in, (2,2) out;
    # a fault after 100 s (1,1), (2,0) and no fault (0,1), (2,1) are not counted
    assert cov["cells"] == 5 and cov["coverage_90"] == pytest.approx(3 / 5)
    assert cov["coverage_90_pressure_low"] == 1.0 and cov["coverage_90_pressure_high"] is None
    assert cov["coverage_90_leak"] == pytest.approx(1 / 3)
    weighted = interval_coverage(time_s, event, lo, hi, 100.0, weight=np.array([3.0, 1.0, 1.0]))
    assert weighted["coverage_90"] == pytest.approx((3 + 1 + 1) / (3 * 2 + 2 + 1))
