"""The PHM 2018 simulator: exact layout, labels that agree with the fault log, realism, memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from phm.cli import main as cli_main
from phm.datasets.phm2018_layout import (
    FAULT_COLUMNS,
    FAULT_MODES,
    FAULT_NAME_VARIANTS,
    SENSOR_COLUMNS,
    TTF_COLUMN_OF,
    TTF_COLUMNS,
    column_tool_name,
)
from phm.errors import ConfigError
from phm.sim.ion_mill import COUNTER_COLUMNS
from phm.sim.ion_mill_files import (
    DUPLICATE_PROB,
    NO_WAFER_ID_LABEL,
    NO_WAFER_ID_PROB,
    fault_log,
    simulate_phm2018,
)

HOUR = 3600
MONTH_SEED = 2  # 3 train tools x 30 days with this seed hold every fault mode and bursts


def read_sensors(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, schema_overrides={"Lot": pl.String, "Tool": pl.String})


def read_ttf(path: Path) -> pl.DataFrame:
    # a TTF column can be empty from top to bottom (no fault of that mode), so give its type
    return pl.read_csv(path, schema_overrides={c: pl.Float64 for c in TTF_COLUMNS[1:]})


def read_log(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, schema_overrides={"time": pl.Int64})


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    simulate_phm2018(out, tools=2, days=2, seed=11, progress=False)
    return out


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, pl.DataFrame]]:
    """3 training tools x 30 days, loaded: tool -> {sensors, ttf, log}."""
    out = tmp_path_factory.mktemp("month")
    summary = simulate_phm2018(out, tools=3, days=30, seed=MONTH_SEED, test_tools=0, progress=False)
    tools = {}
    for tool in summary.train_tools:
        tools[tool] = {
            "sensors": read_sensors(out / "train" / f"{tool}_DC_train.csv"),
            "ttf": read_ttf(out / "train" / "train_ttf" / f"{tool}_DC_train.csv"),
            "log": read_log(out / "train" / "train_faults" / f"{tool}_train_fault_data.csv"),
        }
    return tools


def header(path: Path) -> tuple[str, ...]:
    with path.open() as f:
        return tuple(f.readline().rstrip("\n").split(","))


def expected_ttf(times: np.ndarray, log: pl.DataFrame, mode: str) -> np.ndarray:
    """Next fault of `mode` - time from the deduplicated log; NaN after the last one."""
    names = [n for n, m in FAULT_NAME_VARIANTS.items() if m == mode]
    faults = np.unique(log.unique().filter(pl.col("fault_name").is_in(names))["time"].to_numpy())
    i = np.searchsorted(faults, times)
    nxt = np.append(faults, 0)[i].astype(float)
    return np.where(i < len(faults), nxt - times, np.nan)


def test_writes_exactly_the_official_layout(small: Path) -> None:
    files = {str(p.relative_to(small)) for p in small.rglob("*") if p.is_file()}
    assert files == {
        "train/01_M01_DC_train.csv",
        "train/01_M02_DC_train.csv",
        "train/train_ttf/01_M01_DC_train.csv",
        "train/train_ttf/01_M02_DC_train.csv",
        "train/train_faults/01_M01_train_fault_data.csv",
        "train/train_faults/01_M02_train_fault_data.csv",
        "test/02_M01_DC_test.csv",
        "final_validation/02_M01_DC_test.csv",
        "final_validation/02_M01_DC_score.csv",
        "final_validation/02_M01_DC_groundtruth.csv",
        "final_validation/02_M01_fault_data.csv",
    }
    for name in files:
        path = small / name
        if "fault" in name:
            assert header(path) == FAULT_COLUMNS, name
        elif "train_ttf" in name or "groundtruth" in name:
            assert header(path) == TTF_COLUMNS, name
        else:
            assert header(path) == SENSOR_COLUMNS, name
            assert read_sensors(path)["Tool"].unique().to_list() == [
                column_tool_name(path.name[:6])
            ]


def test_final_validation_splits_history_and_scored_rows(small: Path) -> None:
    fv = small / "final_validation"
    assert (fv / "02_M01_DC_test.csv").read_bytes() == (
        small / "test/02_M01_DC_test.csv"
    ).read_bytes()
    history, score = (
        read_sensors(fv / "02_M01_DC_test.csv"),
        read_sensors(fv / "02_M01_DC_score.csv"),
    )
    truth = read_ttf(fv / "02_M01_DC_groundtruth.csv")
    assert history["time"].max() < score["time"].min()
    span = score["time"].max() - history["time"].min()
    assert 0.35 < (score["time"].min() - history["time"].min()) / span < 0.45  # 40% history
    assert truth["time"].to_list() == score["time"].to_list()
    log = read_log(fv / "02_M01_fault_data.csv")
    for mode in FAULT_MODES:
        want = expected_ttf(truth["time"].to_numpy(), log, mode)
        np.testing.assert_array_equal(truth[TTF_COLUMN_OF[mode]].to_numpy(), want)


def test_ttf_agrees_with_the_deduplicated_fault_log(month: dict) -> None:
    events = 0
    for tool, d in month.items():
        sensors, ttf, log = d["sensors"], d["ttf"], d["log"]
        times = sensors["time"].to_numpy()
        assert ttf.columns == list(TTF_COLUMNS) and ttf.height == sensors.height
        np.testing.assert_array_equal(ttf["time"].to_numpy(), times)
        assert log["time"].is_sorted() and (log["Tool"] == tool.replace("_", "")).all()
        assert np.isin(log["time"].to_numpy(), times).all(), "a fault time is not a sample time"
        for mode in FAULT_MODES:
            got = ttf[TTF_COLUMN_OF[mode]].to_numpy()
            np.testing.assert_array_equal(got, expected_ttf(times, log, mode))
            at_fault = np.isin(times, log["time"].to_numpy()) & (got == 0)
            events += int(at_fault.sum())
    assert events > 10


def test_every_fault_mode_occurs_with_realistic_rates_and_bursts(month: dict) -> None:
    logs = pl.concat([d["log"].unique() for d in month.values()])
    modes = logs["fault_name"].replace_strict(FAULT_NAME_VARIANTS)
    counts = {m: int((modes == m).sum()) for m in FAULT_MODES}
    # per tool-month: pressure_low ~3-8, pressure_high ~1-4, leak ~0-2 on average
    assert 3 * 2 <= counts["pressure_low"] <= 3 * 10, counts
    assert 3 * 1 <= counts["pressure_high"] <= 3 * 5, counts
    assert 1 <= counts["leak"] <= 3 * 3, counts
    low = np.sort(logs.filter(modes == "pressure_low")["time"].to_numpy())
    assert (np.diff(low) <= 30 * 60).any(), "pressure_low should re-fire in bursts"


def test_fault_log_duplicates_and_variant_labels() -> None:
    events = [(4 * i, FAULT_MODES[i % 3]) for i in range(6000)]
    log = fault_log(events, "01_M01", np.random.default_rng(0))
    assert log.columns == list(FAULT_COLUMNS) and log["time"].is_sorted()
    duplicates = (log.height - log.unique().height) / len(events)
    assert abs(duplicates - DUPLICATE_PROB) < 0.006
    assert log.unique()["time"].n_unique() == len(events)
    high = log.unique().filter(pl.col("fault_name").str.contains("Too High"))
    variant = (high["fault_name"] == NO_WAFER_ID_LABEL).mean()
    assert abs(variant - NO_WAFER_ID_PROB) < 0.03


def test_same_seed_same_bytes_and_workers_do_not_matter(tmp_path: Path) -> None:
    def files(out: Path) -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.csv"))}

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate_phm2018(a, tools=2, days=1, seed=3, test_tools=1, progress=False)
    simulate_phm2018(b, tools=2, days=1, seed=3, test_tools=1, workers=2, progress=False)
    simulate_phm2018(c, tools=2, days=1, seed=4, test_tools=1, progress=False)
    assert files(a) == files(b)
    assert files(a).keys() == files(c).keys()
    assert all(files(a)[k] != files(c)[k] for k in files(a) if "fault" not in k)


def test_cadence_is_4_s_with_jitter_and_idle_gaps(month: dict) -> None:
    for d in month.values():
        steps = np.diff(d["sensors"]["time"].to_numpy())
        assert (steps > 0).all()
        assert (steps == 4).mean() >= 0.99
        assert ((steps == 3) | (steps == 5)).sum() > 0
        assert (steps >= 10 * 60).sum() >= 30  # idle gaps between lots and after faults
        assert steps.max() >= HOUR  # maintenance


def test_process_structure_and_counters(month: dict) -> None:
    for d in month.values():
        s = d["sensors"]
        assert (s["runnum"].diff().drop_nulls() >= 0).all()
        lots = s["Lot"].cast(pl.Int64, strict=False)
        assert 0 < lots.null_count() < 1e-3 * s.height  # a few text Lots like L0042
        assert s["Lot"].filter(lots.is_null()).str.contains(r"^L\d+$").all()
        assert (lots.drop_nulls().diff().drop_nulls() >= 0).all()
        assert 3 <= s["recipe"].n_unique() <= 6
        assert s["recipe_step"].min() == 1 and s["recipe_step"].max() <= 15
        assert s["ROTATIONSPEED"].n_unique() == 1
        assert set(s["FIXTURESHUTTERPOSITION"].unique()) <= {0, 1, 2, 3, 255}
        assert (s["ACTUALSTEPDURATION"] >= 0).all()
        steps = s["time"].diff().to_numpy()[1:]
        for c in COUNTER_COLUMNS:
            drops = np.flatnonzero(np.diff(s[c].to_numpy()) < 0)
            assert (steps[drops] >= 30 * 60).all(), f"{c} reset outside a maintenance gap"
        nulls = sum(s[c].null_count() for c in s.columns)
        assert 0 < nulls < 1e-4 * s.height * len(s.columns)


def test_each_fault_mode_has_its_precursor(month: dict) -> None:
    shift = {m: {"FLOWCOOLPRESSURE": [], "FLOWCOOLFLOWRATE": []} for m in FAULT_MODES}
    for d in month.values():
        s, ttf = d["sensors"], d["ttf"]
        far = pl.all_horizontal(
            [
                ttf[TTF_COLUMN_OF[m]].is_null() | (ttf[TTF_COLUMN_OF[m]] > 30 * HOUR)
                for m in FAULT_MODES
            ]
        )
        for m in FAULT_MODES:
            near = (ttf[TTF_COLUMN_OF[m]] > 0) & (ttf[TTF_COLUMN_OF[m]] <= HOUR)
            if near.any():
                for c in shift[m]:
                    shift[m][c].append(s.filter(near)[c].mean() - s.filter(far)[c].mean())
    for m in FAULT_MODES:
        assert shift[m]["FLOWCOOLPRESSURE"], f"no {m} event in the month fixture"
    assert max(shift["pressure_low"]["FLOWCOOLPRESSURE"]) < -0.3
    assert max(shift["pressure_low"]["FLOWCOOLFLOWRATE"]) < -0.2
    assert min(shift["pressure_high"]["FLOWCOOLPRESSURE"]) > 0.3
    assert max(shift["pressure_high"]["FLOWCOOLFLOWRATE"]) < 0
    assert min(shift["leak"]["FLOWCOOLFLOWRATE"]) > 0.3


PEAK_RSS_SCRIPT = """
import resource, sys
from pathlib import Path
from phm.sim.ion_mill_files import simulate_phm2018
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
s = simulate_phm2018(Path(sys.argv[1]), 1, float(sys.argv[2]), 0, test_tools=0, progress=False)
print(s.sensor_rows, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_memory_stays_bounded_as_the_record_grows(tmp_path: Path) -> None:
    def growth(days: float) -> tuple[int, int]:
        out = tmp_path / str(days)
        cmd = [sys.executable, "-c", PEAK_RSS_SCRIPT, str(out), str(days)]
        rows, grown = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        return int(rows), int(grown)

    short_rows, short_growth = growth(8)  # several chunks: the working set is reached
    long_rows, long_growth = growth(40)
    held = (long_rows - short_rows) * len(SENSOR_COLUMNS) * 8  # bytes to hold the extra rows
    assert held > 100e6
    assert long_growth - short_growth < 25e6 < held / 4, (short_growth, long_growth)


def test_cli_runs_and_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["simulate", "phm2018", "--out", str(tmp_path), "--tools", "1", "--seed", "1"]
    assert cli_main([*args, "--days", "0.25", "--no-progress"]) == 0
    assert "rows/s" in capsys.readouterr().out
    assert (tmp_path / "train" / "01_M01_DC_train.csv").exists()
    assert cli_main([*args, "--days", "0"]) == 2
    with pytest.raises(ConfigError, match="tools"):
        simulate_phm2018(tmp_path, tools=0, days=1, seed=0)
