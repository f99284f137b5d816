"""C-MAPSS protocol (capping, unit split, last-cycle test rows) and `phm bench cmapss`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from phm.cli import main
from phm.datasets.cmapss import load_cmapss
from phm.datasets.splits import (
    cmapss_problem,
    last_cycle_rows,
    piecewise_rul,
    split_units,
)

_spec = importlib.util.spec_from_file_location(
    "cmapss_test_helpers", Path(__file__).parents[1] / "datasets" / "test_cmapss.py"
)
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def test_piecewise_rul_caps_at_125() -> None:
    got = piecewise_rul(np.array([300, 126, 125, 124, 0]))
    assert got.tolist() == [125.0, 125.0, 125.0, 124.0, 0.0]
    assert piecewise_rul(np.array([50, 10]), cap=20).tolist() == [20.0, 10.0]


def test_split_units_never_splits_a_unit() -> None:
    units = np.repeat(np.array([f"u{i}" for i in range(10)]), 7)
    fit, val = split_units(units, val_fraction=0.3, seed=1)
    assert (fit ^ val).all()
    assert len(set(units[fit]) & set(units[val])) == 0
    assert len(set(units[val])) == 3
    again = split_units(units, val_fraction=0.3, seed=1)[1]
    assert (again == val).all()
    assert len(set(units[split_units(units, 0.01, 0)[1]])) == 1  # at least one unit each side
    with pytest.raises(ValueError, match="at least 2 units"):
        split_units(np.array(["a", "a"]))


def test_last_cycle_rows() -> None:
    f = pl.DataFrame(
        {"asset_id": ["b", "b", "a", "a", "a"], "time": [1, 2, 1, 2, 3], "v": range(5)}
    )
    last = last_cycle_rows(f)
    assert last.rows() == [("b", 2, 1), ("a", 3, 4)]


def test_problem_labels_test_rows_and_no_test_leakage(tmp_path: Path) -> None:
    folder = helpers.write_fd002_like(tmp_path / "a", seed=5)
    data = load_cmapss(folder, "FD002")
    p = cmapss_problem(data, window=10)
    n_rows = sum(r.signals.height for r in data.train)
    assert p.X_train.shape == (n_rows, len(p.feature_names))
    assert p.dropped_sensors == ("s1",) and "s1_mean" not in p.feature_names
    first = data.train[0]
    life = first.signals.height
    y_first = p.y_train[:life]
    assert y_first[-1] == 0.0 and y_first.max() <= 125.0
    assert p.rul_train[:life][0] == life - 1 and p.event_train.all()
    # One test row per unit, taken at its last cycle, scored against RUL_FD002.txt.
    assert p.X_test.shape == (len(data.test), len(p.feature_names))
    cycle = p.feature_names.index("cycle")
    assert p.X_test[:, cycle].tolist() == [r.signals.height for r in data.test]
    rul_file = (folder / "RUL_FD002.txt").read_text().split()
    assert p.y_test.tolist() == [float(v) for v in rul_file]
    # Changing the test file changes nothing the models are fitted on.
    other = helpers.write_fd002_like(tmp_path / "b", seed=5, test_shift=10.0)
    q = cmapss_problem(load_cmapss(other, "FD002"), window=10)
    np.testing.assert_array_equal(p.X_train, q.X_train)
    assert not np.allclose(p.X_test, q.X_test)


def test_global_scaling_is_the_ablation_without_regimes(tmp_path: Path) -> None:
    data = load_cmapss(helpers.write_fd002_like(tmp_path / "a", seed=5), "FD002")
    per_condition = cmapss_problem(data, window=10)
    plain = cmapss_problem(data, window=10, per_condition=False)
    # s1 is constant within each condition only: dropped per condition, kept globally.
    assert "s1_last" in plain.feature_names and "s1_last" not in per_condition.feature_names
    # Per condition, the sensor means within each condition are 0; globally they are not.
    s2, s2_plain = (p.feature_names.index("s2_last") for p in (per_condition, plain))
    cond = np.concatenate([r.signals["condition"].to_numpy() for r in data.train])
    for c in range(6):
        assert abs(per_condition.X_train[cond == c, s2].mean()) < 1e-6
    assert max(abs(plain.X_train[cond == c, s2_plain].mean()) for c in range(6)) > 0.5
    np.testing.assert_array_equal(plain.y_train, per_condition.y_train)


@pytest.mark.parametrize(("model", "val_fraction"), [("gbm", "0.25"), ("survival", "0")])
def test_bench_on_synthetic_subset(tmp_path: Path, model: str, val_fraction: str) -> None:
    folder = helpers.write_fd002_like(tmp_path / "data" / "cmapss", n_train=16, seed=7)
    out = tmp_path / "out"
    flags = ["--model", model, "--out", str(out), "--window", "10", "--val-fraction", val_fraction]
    code = main(["bench", "cmapss", "--data", str(folder.parent), "--subset", "FD002", *flags])
    assert code == 0
    record = json.loads((out / "cmapss.json").read_text())
    assert record["subset"] == "FD002" and record["model"] == model
    assert record["n_test_units"] == 6 and len(record["details"]["test_units"]) == 6
    assert record["details"]["n_operating_conditions"] == 6
    if model == "gbm":
        assert record["details"]["validation"]["n_units"] == 4
        assert record["details"]["validation"]["rmse_uniform_cut_uncapped"] > 0
    assert 0 <= record["rmse"] < 60
    # rmse: the uncapped predictor; rmse_capped_truth: the capped one, against min(RUL, 125)
    units = record["details"]["test_units"]
    truth, pred = (np.array([u[k] for u in units]) for k in ("rul_true", "rul_pred"))
    uncapped = np.array([u["rul_pred_uncapped"] for u in units])
    assert pred.max() <= 125 and (uncapped >= pred - 1e-9).all()
    assert record["rmse"] == pytest.approx(np.sqrt(np.mean((uncapped - truth) ** 2)))
    capped_rmse = np.sqrt(np.mean((pred - np.minimum(truth, 125)) ** 2))
    assert record["rmse_capped_truth"] == pytest.approx(capped_rmse)
    predictors = record["details"]["protocol"]["predictors"]
    assert ("blended into a gbm on labels capped at 200" in predictors) == (model == "gbm")


def test_validate_uncapped_scores_candidates_on_training_units(tmp_path: Path) -> None:
    folder = helpers.write_fd002_like(tmp_path / "data" / "cmapss", n_train=10, seed=7)
    rul_file = folder / "RUL_FD002.txt"
    rul_file.write_text("0\n" * len(rul_file.read_text().split()))  # truth the choice never sees
    out = tmp_path / "out"
    flags = ["--validate-uncapped", "--window", "10", "--max-iter", "10", "--out", str(out)]
    assert main(["bench", "cmapss", "--data", str(folder.parent), "--subset", "FD002", *flags]) == 0
    record = json.loads((out / "cmapss_uncapped_validation_FD002.json").read_text())
    scores = record["details"]["scores_per_seed"]
    assert len(scores) == 1 + 6 * 6 and all(len(v) == 5 for v in scores.values())
    assert record["best_rmse"] == pytest.approx(min(np.mean(v) for v in scores.values()))


TINY = Path(__file__).parents[2] / "phm" / "configs" / "models"


@pytest.mark.parametrize(("model", "config"), [("moe", "tiny.toml"), ("dense", "dense-tiny.toml")])
def test_bench_network_on_synthetic_subset(
    tmp_path: Path, model: str, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = helpers.write_fd002_like(tmp_path / "data" / "cmapss", n_train=8, seed=7)
    out = tmp_path / "out"
    flags = ["--model", model, "--config", str(TINY / config), "--epochs", "1", "--seeds", "2"]
    base = ["bench", "cmapss", "--data", str(folder.parent), "--subset", "FD002"]
    assert main([*base, *flags, "--out", str(out), "--threads", "1"]) == 0
    record = json.loads((out / f"cmapss_{model}_FD002.json").read_text())
    assert record["model"] == model and record["n_seeds"] == 2 and record["n_test_units"] == 6
    per_seed = record["details"]["per_seed"]
    assert [r["seed"] for r in per_seed] == [0, 1] and all(r["epochs_run"] == 1 for r in per_seed)
    rmses = [r["rmse"] for r in per_seed]
    assert record["rmse"] == pytest.approx(np.mean(rmses))
    assert record["rmse_std"] == pytest.approx(np.std(rmses, ddof=1))
    units = per_seed[0]["test_units"]  # an open-ended upper bound is stored as "inf"
    lower, upper = (np.array([float(u[k]) for u in units]) for k in ("lower", "upper"))
    assert len(units) == 6 and (lower <= upper).all()
    truth = np.array([u["rul_true"] for u in units])
    covered = np.mean((lower <= truth) & (truth <= upper))
    assert per_seed[0]["coverage_90"] == pytest.approx(covered)
    assert 0 <= record["coverage_90"] <= 1 and record["nasa_score"] > 0
    point = np.array([u["rul_pred"] for u in units])
    capped_rmse = np.sqrt(np.mean((point - np.minimum(truth, 125)) ** 2))
    assert per_seed[0]["rmse_capped_truth"] == pytest.approx(capped_rmse)
    assert record["condition_input"] == "token"
    loads = per_seed[0]["expert_load_by_condition"]
    table = capsys.readouterr().out
    if model == "moe":
        assert record["n_params_active"] < record["n_params"]
        # tiny: one MoE layer; six conditions, each row the shares of its routed slots
        assert len(loads) == 1 and np.allclose(np.sum(loads[0]["fractions"], axis=1), 1, atol=1e-3)
        assert len(loads[0]["fractions"]) == 6 and sum(loads[0]["tokens_per_condition"]) > 0
        assert "MoE layer 0 (validation cycles by operating condition" in table
    else:
        assert record["n_params_active"] == record["n_params"] and loads == []
    assert f"**ours: {model} " in table and "90% interval coverage" in table
    assert "MTSTAN (published)" in table
    # The model kind must match the config.
    wrong = TINY / ("dense-tiny.toml" if model == "moe" else "tiny.toml")
    assert main([*base, "--model", model, "--config", str(wrong), "--out", str(out)]) == 2


@pytest.mark.integration
def test_bench_gbm_fd001_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = helpers.real_cmapss_dir()
    code = main(
        [
            "bench",
            "cmapss",
            "--data",
            str(folder.parent),
            "--subset",
            "FD001",
            "--model",
            "gbm",
            "--out",
            str(tmp_path),
            "--max-iter",
            "30",
            "--val-fraction",
            "0",
        ]
    )
    assert code == 0
    record = json.loads((tmp_path / "cmapss.json").read_text())
    for key in ("rmse", "nasa_score", "subset", "model", "n_test_units"):
        assert key in record
    assert record["n_test_units"] == 100
    # 30 iterations at rate 0.05 only move partway from the mean; it still beats a flat guess.
    truth = np.array([u["rul_true"] for u in record["details"]["test_units"]])
    flat = float(np.sqrt(np.mean((truth - np.minimum(truth, 125).mean()) ** 2)))
    assert record["rmse"] < flat
    # The capped-truth figures score the same predictions against min(RUL, 125).
    pred = np.array([u["rul_pred"] for u in record["details"]["test_units"]])
    capped = np.minimum(truth, 125)
    assert record["rmse_capped_truth"] == pytest.approx(np.sqrt(np.mean((pred - capped) ** 2)))
    assert record["rmse_capped_truth"] < record["rmse"]  # FD001 has test units with RUL > 125
    table = capsys.readouterr().out
    assert "**ours: gbm (measured)**" in table
    assert "MTSTAN (published) | - | 10.97 | - | 175 |" in table
    assert (tmp_path / "cmapss.md").read_text().startswith("| C-MAPSS FD001 |")


def test_flags_of_the_other_model_kind_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = helpers.write_fd002_like(tmp_path / "data" / "cmapss", n_train=4, seed=7)
    base = ["bench", "cmapss", "--data", str(folder.parent), "--subset", "FD002"]
    assert main([*base, "--model", "moe", "--global-scaling", "--out", str(tmp_path)]) == 2
    assert "--global-scaling applies to gbm/survival" in capsys.readouterr().err
    assert main([*base, "--condition-input", "none", "--out", str(tmp_path)]) == 2
    assert "--condition-input applies to moe/dense" in capsys.readouterr().err
    assert main([*base, "--model", "survival", "--validate-uncapped", "--out", str(tmp_path)]) == 2
    assert "--validate-uncapped applies to gbm" in capsys.readouterr().err


def test_bench_reports_missing_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "cmapss", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "train_FD001.txt" in capsys.readouterr().err
