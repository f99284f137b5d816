"""C-MAPSS adapter: real files when present, malformed files, six-condition normalisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from phm.datasets.cmapss import (
    COLUMNS,
    OP_SETTINGS,
    SENSORS,
    ConditionScaler,
    OperatingConditions,
    constant_sensors,
    load_cmapss,
    read_cmapss_table,
    read_rul_file,
    window_features,
)
from phm.datasets.run import Run
from phm.errors import DataFormatError
from tests.datadir import real_data_dir

# The six FD002/FD004 operating conditions: altitude (kft), Mach, throttle resolver angle.
SIX_CONDITIONS = np.array(
    [[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60], [35, 0.84, 100], [42, 0.84, 100]]
)


def real_cmapss_dir() -> Path:
    return real_data_dir("cmapss", "train_FD001.txt")


def write_fd002_like(
    folder: Path, n_train: int = 12, n_test: int = 6, seed: int = 0, test_shift: float = 0.0
) -> Path:
    """Write a tiny synthetic FD002-like subset (six conditions) into `folder`.

    Sensor = per-condition base level + degradation growing towards failure + noise; s1 is
    constant within each condition. `test_shift` offsets the test sensors (in noise units).
    Operating settings scatter around the real centres, with Mach 0.25 noise across the 0.25
    rounding boundary. Returns the folder.
    """
    rng = np.random.default_rng(seed)
    base = rng.uniform(-500, 500, size=(6, 21))
    base[:, 0] = np.arange(6) * 100.0  # s1: constant per condition

    def unit_rows(unit: int, life: int, stop: int, shift: float) -> np.ndarray:
        cond = rng.integers(0, 6, size=stop)
        ops = SIX_CONDITIONS[cond] + rng.normal(0, [0.002, 0.0006, 0.0], size=(stop, 3))
        cycles = np.arange(1, stop + 1)
        wear = np.exp(-(life - cycles) / 30.0)[:, None]
        sensors = base[cond] + 5.0 * wear * np.linspace(1, 2, 21) + rng.normal(0, 1, (stop, 21))
        sensors[:, 0] = base[cond, 0]
        sensors[:, 1:] += shift
        return np.column_stack([np.full(stop, unit), cycles, ops, sensors])

    folder.mkdir(parents=True, exist_ok=True)
    lives = rng.integers(60, 110, size=n_train + n_test)
    train = np.vstack([unit_rows(u + 1, lives[u], lives[u], 0.0) for u in range(n_train)])
    cuts = [int(rng.integers(20, lives[n_train + u] - 5)) for u in range(n_test)]
    test = np.vstack(
        [unit_rows(u + 1, lives[n_train + u], cuts[u], test_shift) for u in range(n_test)]
    )
    for name, table in (("train", train), ("test", test)):
        lines = [
            " ".join(f"{v:.4f}" if j > 1 else str(int(v)) for j, v in enumerate(r)) + "  "
            for r in table
        ]
        (folder / f"{name}_FD002.txt").write_text("\n".join(lines) + "\n")
    rul = [lives[n_train + u] - cuts[u] for u in range(n_test)]
    (folder / "RUL_FD002.txt").write_text("".join(f"{r} \n" for r in rul))
    return folder


@pytest.mark.integration
def test_real_fd001_runs_and_labels() -> None:
    folder = real_cmapss_dir()
    data = load_cmapss(folder, "FD001")
    assert (len(data.train), len(data.test), data.n_conditions) == (100, 100, 1)
    run = data.train[0]
    assert run.asset_id == "FD001-train-001" and run.asset_type == "turbofan"
    assert run.signals.columns == ["time", "condition", *OP_SETTINGS, *SENSORS]
    assert run.signals.height == 192  # unit 1 of train_FD001 fails after 192 cycles
    assert run.labels["rul"].to_list()[:2] == [191.0, 190.0]
    assert run.labels["rul"][-1] == 0.0 and run.meta["failed"] is True
    first_test = data.test[0]
    assert first_test.meta["rul_end"] == 112.0  # first line of RUL_FD001.txt
    assert first_test.labels["rul"][-1] == 112.0 and first_test.meta["failed"] is False
    assert sum(r.signals.height for r in data.train) == 20631
    assert constant_sensors(data.train) == ["s1", "s5", "s6", "s10", "s16", "s18", "s19"]


@pytest.mark.integration
def test_real_folder_or_parent_or_env(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = real_cmapss_dir()
    a = load_cmapss(folder, "FD003")
    b = load_cmapss(folder.parent, "FD003")
    monkeypatch.setenv("PHM_DATA_DIR", str(folder.parent))
    c = load_cmapss(None, "FD003")
    assert len(a.train) == len(b.train) == len(c.train) == 100
    assert a.test[5].signals.equals(c.test[5].signals)


def test_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train_FD001.txt"
    good = " ".join(["1"] * 26)
    path.write_text(f"{good} \n1 2 {' '.join(['0'] * 23)} \n")  # line 2: 25 columns
    with pytest.raises(DataFormatError, match=r"train_FD001\.txt.*line 2 has 25 columns") as err:
        read_cmapss_table(path)
    assert "26 space-separated columns" in str(err.value)


def test_non_numeric_value_names_column_and_line(tmp_path: Path) -> None:
    path = tmp_path / "test_FD001.txt"
    rows = [["1", str(c)] + ["0.5"] * 24 for c in (1, 2, 3)]
    rows[2][8] = "n/a"  # column 9 = s4
    path.write_text("".join(" ".join(r) + "  \n" for r in rows))
    with pytest.raises(DataFormatError) as err:
        read_cmapss_table(path)
    assert err.value.column == "s4" and err.value.path == str(path)
    assert "line 3: 'n/a' is not a finite number" in str(err.value)


def test_cycle_gap_and_split_unit_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "train_FD001.txt"
    rest = " ".join(["0"] * 24)
    path.write_text(f"1 1 {rest}\n1 3 {rest}\n")
    with pytest.raises(DataFormatError, match="line 2: cycle 3 of unit 1") as err:
        read_cmapss_table(path)
    assert err.value.column == "cycle"
    path.write_text(f"1 1 {rest}\n2 1 {rest}\n1 1 {rest}\n")
    with pytest.raises(DataFormatError, match="line 3: unit 1 appears in two separate blocks"):
        read_cmapss_table(path)


def test_rul_file_checks(tmp_path: Path) -> None:
    path = tmp_path / "RUL_FD001.txt"
    path.write_text("112 \n98 \n")
    assert read_rul_file(path, n_units=2).tolist() == [112.0, 98.0]
    with pytest.raises(DataFormatError, match="2 RUL values"):
        read_rul_file(path, n_units=3)
    path.write_text("112 \nabc \n")
    with pytest.raises(DataFormatError, match="line 2"):
        read_rul_file(path)


def test_missing_folder_names_expected_files(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"train_FD004\.txt, test_FD004\.txt, RUL_FD004\.txt"):
        load_cmapss(tmp_path, "FD004")


def test_fd002_like_six_conditions_found_and_assigned(tmp_path: Path) -> None:
    data = load_cmapss(write_fd002_like(tmp_path / "cmapss"), "FD002")  # folder itself
    assert data.n_conditions == 6
    np.testing.assert_allclose(data.conditions.centres, SIX_CONDITIONS, atol=0.01)
    for run in data.train + data.test:
        ops = run.signals.select(OP_SETTINGS).to_numpy()
        truth = np.abs(ops[:, None, :] - SIX_CONDITIONS[None]).sum(axis=2).argmin(axis=1)
        assert run.signals["condition"].to_list() == truth.tolist()
    # Rounding Mach to 0.1 would split 0.2497 and 0.2503; the tolerance clustering does not.
    assert (
        OperatingConditions.fit(np.array([[10, 0.2497, 100], [10, 0.2503, 100]])).n_conditions == 1
    )


def test_fd002_like_normalisation_fitted_on_train_only(tmp_path: Path) -> None:
    data = load_cmapss(write_fd002_like(tmp_path / "cmapss", test_shift=4.0), "FD002")
    raw = pl.concat([r.signals for r in data.train])
    # Raw sensors are dominated by the condition: the spread across rows is hundreds of units.
    assert raw["s5"].std() > 50
    scaler = ConditionScaler(SENSORS).fit(data.train)
    train = pl.concat([r.signals for r in scaler.transform(data.train)])
    for _cond, part in train.group_by("condition"):
        assert part["s5"].mean() == pytest.approx(0.0, abs=1e-9)
        assert part["s5"].std(ddof=0) == pytest.approx(1.0, rel=1e-9)
    assert (train["s1"] == 0.0).all()  # constant per condition: 0, not NaN
    # Test rows use the train statistics: the +4 noise-unit shift survives scaling.
    test = pl.concat([r.signals for r in scaler.transform(data.test)])
    assert 1.0 < test["s5"].mean() < 6.0
    row = data.test[0].signals.row(0, named=True)
    c = row["condition"]
    j = SENSORS.index("s7")
    expected = (row["s7"] - scaler.mean_[c, j]) / scaler.scale_[c, j]
    assert scaler.transform(data.test[:1])[0].signals["s7"][0] == pytest.approx(expected)
    assert constant_sensors(data.train) == ["s1"]


def test_wrong_condition_count_is_an_error(tmp_path: Path) -> None:
    folder = write_fd002_like(tmp_path)
    for name in ("train", "test", "RUL"):
        (folder / f"{name}_FD002.txt").rename(folder / f"{name}_FD001.txt")
    with pytest.raises(DataFormatError, match=r"6 operating conditions.*expected 1 for FD001"):
        load_cmapss(folder, "FD001")


def _run(name: str, x: list[float]) -> Run:
    signals = pl.DataFrame({"time": list(range(1, len(x) + 1)), "condition": [0] * len(x), "x": x})
    return Run(name, "turbofan", signals.with_columns(pl.col("time").cast(pl.Int32)))


def test_window_features_hand_computed() -> None:
    f = window_features([_run("a", [1.0, 2.0, 4.0, 8.0])], ["x"], window=3)
    assert f.columns == ["asset_id", "time", "x_mean", "x_std", "x_slope", "x_last", "cycle"]
    np.testing.assert_allclose(f["x_mean"], [1.0, 1.5, 7 / 3, 14 / 3])
    np.testing.assert_allclose(
        f["x_std"], [0.0, np.sqrt(0.5), np.std([1, 2, 4], ddof=1), np.std([2, 4, 8], ddof=1)]
    )
    np.testing.assert_allclose(f["x_slope"], [0.0, 1.0, 1.5, 3.0])  # least squares over the window
    np.testing.assert_allclose(f["x_last"], [1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(f["cycle"], [1.0, 2.0, 3.0, 4.0])


def test_window_features_are_causal_and_per_run() -> None:
    a = window_features([_run("a", [1.0, 2.0, 4.0, 8.0, 3.0])], ["x"], window=3)
    b = window_features([_run("a", [1.0, 2.0, 4.0, 100.0, -7.0])], ["x"], window=3)
    assert a.head(3).equals(b.head(3))  # later cycles never reach earlier features
    two = window_features([_run("a", [1.0, 2.0]), _run("b", [50.0, 52.0])], ["x"], window=3)
    assert two.filter(pl.col("asset_id") == "b")["x_mean"].to_list() == [50.0, 51.0]


def test_columns_constant_is_the_documented_layout() -> None:
    assert len(COLUMNS) == 26 and COLUMNS[:5] == ("unit", "cycle", *OP_SETTINGS)
