"""C-MAPSS protocol (capping, unit split, last-cycle test rows) and `phm bench cmapss`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from phm.bench.cmapss_posterior import (
    BATCHES_PER_FOLD,
    CAPPED_INTERVALS,
    RECIPES,
    SHIPPED_CAPPED_INTERVAL,
    TRUNCATIONS,
    capped_interval,
    choose_candidate,
    choose_interval,
    crossfit_parts,
    crossfit_predictions,
    summarize,
    summarize_intervals,
    validate_posterior,
)
from phm.cli import main
from phm.datasets.cmapss import load_cmapss
from phm.datasets.splits import (
    cmapss_problem,
    last_cycle_rows,
    piecewise_rul,
    split_units,
)
from phm.models.rul_intervals import ResidualIntervals

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


@pytest.mark.parametrize(
    ("model", "val_fraction", "past_cap"),
    [("gbm", "0.25", False), ("gbm", "0.25", True), ("survival", "0", False)],
)
def test_bench_on_synthetic_subset(
    tmp_path: Path, model: str, val_fraction: str, past_cap: bool
) -> None:
    folder = helpers.write_fd002_like(tmp_path / "data" / "cmapss", n_train=16, seed=7)
    out = tmp_path / "out"
    flags = ["--model", model, "--out", str(out), "--window", "10", "--val-fraction", val_fraction]
    flags += ["--max-iter", "60"]  # the default gbm fits 14 models (cross-fit posterior)
    flags += ["--past-cap"] if past_cap else []
    code = main(["bench", "cmapss", "--data", str(folder.parent), "--subset", "FD002", *flags])
    assert code == 0
    record = json.loads((out / "cmapss.json").read_text())
    assert record["subset"] == "FD002" and record["model"] == model
    assert record["n_test_units"] == 6 and len(record["details"]["test_units"]) == 6
    assert record["details"]["n_operating_conditions"] == 6
    if model == "gbm":
        assert record["details"]["validation"]["n_units"] == 4
        assert record["details"]["validation"]["rmse_uniform_cut_uncapped"] > 0
        assert record["details"]["validation"]["uniform_cut_predictor"] == "UncappedGbmRul"
    assert 0 <= record["rmse"] < 60
    # rmse: the uncapped predictor; rmse_capped_truth: the capped one, against min(RUL, 125)
    units = record["details"]["test_units"]
    truth, pred = (np.array([u[k] for u in units]) for k in ("rul_true", "rul_pred"))
    uncapped = np.array([u["rul_pred_uncapped"] for u in units])
    assert pred.max() <= 125 and (uncapped >= pred - 1e-9).all()
    posterior = model == "gbm" and not past_cap  # the default: the posterior past the cap
    if model == "survival":  # one predictor for both truths
        np.testing.assert_array_equal(uncapped, pred)
    assert record["rmse"] == pytest.approx(np.sqrt(np.mean((uncapped - truth) ** 2)))
    capped_rmse = np.sqrt(np.mean((pred - np.minimum(truth, 125)) ** 2))
    assert record["rmse_capped_truth"] == pytest.approx(capped_rmse)
    predictors = record["details"]["protocol"]["predictors"]
    assert ("blended into a gbm on labels capped at 200" in predictors) == past_cap
    assert ("prior of the remaining life fitted on the test units'" in predictors) == posterior
    assert (record["details"]["posterior"] is not None) == posterior
    if val_fraction != "0":  # 90% intervals from the validation units, coverage on the test
        lower, upper = (np.array([u[k] for u in units]) for k in ("lower", "upper"))
        assert (lower <= upper).all() and (lower >= 0).all()
        if not posterior:  # residual intervals lie around the point; quantiles need not
            assert (lower <= uncapped).all() and (uncapped <= upper).all()
        covered = np.mean((lower <= truth) & (truth <= upper))
        assert record["coverage_90"] == pytest.approx(covered)
        lo_c, hi_c = (np.array([u[k] for u in units]) for k in ("lower_capped", "upper_capped"))
        covered_c = np.mean((lo_c <= np.minimum(truth, 125)) & (np.minimum(truth, 125) <= hi_c))
        assert record["coverage_90_capped_truth"] == pytest.approx(covered_c)
        assert record["details"]["intervals"]["uncapped_truth"]["level"] == 0.9
    else:
        assert "coverage_90" not in record
    capped_method = (record["details"]["intervals"]["capped_truth"] or {}).get("method", "")
    assert ("cross-fit by unit of every training unit" in capped_method) == (model == "gbm")
    assert ("coverage_90_capped_truth" in record) == (model == "gbm" or val_fraction != "0")
    if model == "gbm":  # the capped interval: the cross-fit of every training unit, shipped
        problem = cmapss_problem(load_cmapss(folder, "FD002"), window=10)
        target = np.minimum(problem.rul_train, problem.cap)
        cross = crossfit_predictions(problem.X_train, target, problem.units_train, 0, 60)
        expected = capped_interval(cross, problem, seed=0).as_dict()
        got = record["details"]["intervals"]["capped_truth"]
        assert got["above"] == pytest.approx(expected["above"])
        assert got["below"] == pytest.approx(expected["below"])
        lo_c, hi_c = (np.array([u[k] for u in units]) for k in ("lower_capped", "upper_capped"))
        assert (lo_c <= pred + 1e-9).all() and (pred <= hi_c + 1e-9).all()


def test_capped_interval_calibrates_on_every_training_unit_once() -> None:
    """The cross-fit folds partition the training units; every unit then weighs 1 in total."""
    units = np.repeat(np.array([f"u{i}" for i in range(13)]), np.arange(3, 16))
    parts = crossfit_parts(units, seed=4)
    together = np.concatenate(parts)
    assert sorted(together.tolist()) == sorted(set(units.tolist()))  # each unit exactly once
    assert len(parts) == 5 and min(len(p) for p in parts) >= 2
    # the shipped fit reads every row, its finite-sample correction counts the 13 units
    rng = np.random.default_rng(0)
    pred = rng.uniform(0, 125, units.size)
    truth = np.clip(pred + rng.normal(0, 10, units.size), 0, 125)
    shipped = CAPPED_INTERVALS[SHIPPED_CAPPED_INTERVAL](pred, truth, units, 0)
    by_rows = CAPPED_INTERVALS[SHIPPED_CAPPED_INTERVAL](pred, truth, np.arange(units.size), 0)
    assert (shipped.above >= by_rows.above).all() and (shipped.above > by_rows.above).any()
    # (a), the old calibration, reads the first cross-fit fold's units only
    first = np.isin(units, parts[0])
    one_split = CAPPED_INTERVALS["(a) one 20% split"](pred, truth, units, 4)
    assert one_split.as_dict() == ResidualIntervals.fit(pred[first], truth[first]).as_dict()


def test_posterior_never_reads_the_rul_file(tmp_path: Path) -> None:
    """The default gbm's uncapped column and interval come from test inputs only: rewriting
    the RUL file changes the scores, never the predictions."""
    folder = helpers.write_fd002_like(tmp_path / "data" / "cmapss", n_train=16, seed=7)
    flags = ["--window", "10", "--val-fraction", "0", "--max-iter", "30"]
    base = ["bench", "cmapss", "--data", str(folder.parent), "--subset", "FD002", *flags]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    rul_file = folder / "RUL_FD002.txt"
    rul_file.write_text("".join(f"{v} \n" for v in (5, 300, 40, 7, 250, 90)))
    assert main([*base, "--out", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / d / "cmapss.json").read_text()) for d in ("a", "b"))
    keys = ("rul_pred", "rul_pred_uncapped", "lower", "upper", "lower_capped", "upper_capped")
    for unit_a, unit_b in zip(a["details"]["test_units"], b["details"]["test_units"], strict=True):
        assert [unit_a[k] for k in keys] == [unit_b[k] for k in keys]
    assert a["details"]["posterior"] == b["details"]["posterior"]
    assert a["rmse"] != b["rmse"] and "coverage_90" in a  # the posterior interval needs no split
    assert "coverage_90_capped_truth" in a  # nor the capped one (cross-fit of the training units)
    assert a["details"]["intervals"]["capped_truth"] == b["details"]["intervals"]["capped_truth"]
    assert b["details"]["test_units"][1]["rul_true"] == 300


def test_uncapped_validation_scores_every_candidate_on_pseudo_batches(tmp_path: Path) -> None:
    """What `--validate-uncapped` runs (per seed; the flag runs seeds S..S+4)."""
    folder = helpers.write_fd002_like(tmp_path / "cmapss", n_train=16, seed=7)
    problem = cmapss_problem(load_cmapss(folder, "FD002"), window=10)
    intervals: dict = {}
    scores = validate_posterior(problem, seeds=[0], max_iter=20, intervals=intervals)
    assert set(intervals) == {f"{m}/{n}" for m in TRUNCATIONS for n in CAPPED_INTERVALS}
    for metrics in intervals.values():
        assert len(metrics["coverage_90_capped"]) == BATCHES_PER_FOLD
        assert all(0 <= c <= 1 for c in metrics["coverage_90_capped"])
    name = "(b) cross-fit, every row, 1 band"
    covs = [np.mean(intervals[f"{m}/{name}"]["coverage_90_capped"]) for m in TRUNCATIONS]
    one_band = summarize_intervals(intervals)[name]
    assert one_band["gap"] == pytest.approx(np.mean(np.abs(np.array(covs) - 0.9)))
    by_hand = {
        "a": {"x": {"gap": 0.030, "width": 50.0}, "y": {"gap": 0.020, "width": 60.0}},
        "b": {"x": {"gap": 0.010, "width": 50.0}, "y": {"gap": 0.016, "width": 60.0}},
    }
    assert choose_interval(by_hand) == "x"  # gap 0.020 vs 0.018: a tie, x is narrower
    by_hand["a"]["x"]["gap"] = 0.040  # 0.025 vs 0.018: no longer a tie
    assert choose_interval(by_hand) == "y"
    names = {"capped gbm", "blend 200 m60", *(r.name for r in RECIPES)}
    assert set(scores) == {f"{m}/{n}" for m in TRUNCATIONS for n in names}
    for metrics in scores.values():
        assert len(metrics["rmse"]) == BATCHES_PER_FOLD
        assert all(0 <= c <= 1 for c in metrics["coverage_90"])
    # gbm+excess keeps the capped gbm for the capped truth
    m = "uniform cut"
    excess = next(r.name for r in RECIPES if r.point == "gbm+excess")
    assert scores[f"{m}/{excess}"]["rmse_capped"] == scores[f"{m}/capped gbm"]["rmse_capped"]
    summary = summarize(scores)
    assert summary["capped gbm"]["rmse"] == pytest.approx(
        np.mean([np.mean(scores[f"{m}/capped gbm"]["rmse"]) for m in TRUNCATIONS])
    )
    per_subset = {
        "a": {"x": {"rmse": 2.0}, "y": {"rmse": 1.0}},
        "b": {"x": {"rmse": 1.0}, "y": {"rmse": 1.5}},
    }
    assert choose_candidate(per_subset, "rmse") == "y"  # mean 1.25 against 1.5


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
    assert main([*base, "--model", "survival", "--past-cap", "--out", str(tmp_path)]) == 2
    assert "--past-cap applies to gbm" in capsys.readouterr().err


def test_bench_reports_missing_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "cmapss", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "train_FD001.txt" in capsys.readouterr().err
