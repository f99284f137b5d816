"""The PHM 2018 loader on small hand-made files in the official layout, quirks included."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from phm.datasets.phm2018 import Phm2018Dataset, check_header
from phm.datasets.phm2018_layout import FAULT_COLUMNS, SENSOR_COLUMNS, TTF_COLUMNS
from phm.errors import DataFormatError

TIMES = [100, 104, 108, 112, 2000, 2004, 2008, 2012]  # a 1888 s idle gap after 112


def sensor_rows(times: list[int], tool: str = "01M01") -> list[list[object]]:
    rows = []
    for i, t in enumerate(times):
        lot = "L0042" if i == 2 else str(40 + i // 4)  # one non-numeric Lot, as in the real data
        shutter = 255 if i == 3 else 1  # 255 = position unknown
        sensors = [round(0.1 * i - 0.3, 3)] * 17
        sensors[12] = shutter  # FIXTURESHUTTERPOSITION is the 13th measurement
        rows.append([t, tool, 1, lot, 7000 + i, 3, 1 + i % 3, *sensors])
    return rows


def write_csv(path: Path, header: list[str] | tuple[str, ...], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)]
    for r in rows:
        lines.append(
            ",".join("" if (isinstance(v, float) and math.isnan(v)) else str(v) for v in r)
        )
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    train = tmp_path / "train"
    write_csv(train / "01_M01_DC_train.csv", SENSOR_COLUMNS, sensor_rows(TIMES))
    # faults: pressure_low at 108 (logged twice), pressure_high at 2004 under the [NoWaferID] label
    faults = [
        [108, "FlowCool Pressure Dropped Below Limit", "01M01"],
        [108, "FlowCool Pressure Dropped Below Limit", "01M01"],
        [2004, "Flowcool Pressure Too High Check Flowcool Pump [NoWaferID]", "01M01"],
    ]
    write_csv(train / "train_faults" / "01_M01_train_fault_data.csv", FAULT_COLUMNS, faults)
    nan = float("nan")
    ttf = [[t, 108 - t if t <= 108 else nan, 2004 - t if t <= 2004 else nan, nan] for t in TIMES]
    write_csv(train / "train_ttf" / "01_M01_DC_train.csv", TTF_COLUMNS, ttf)
    # final validation: history, scored rows, truth
    final = tmp_path / "final"
    write_csv(final / "11_M01_DC_test.csv", SENSOR_COLUMNS, sensor_rows(TIMES[:4], "11M01"))
    write_csv(final / "11_M01_DC_score.csv", SENSOR_COLUMNS, sensor_rows(TIMES[4:], "11M01"))
    truth = [[t, nan, 2008 - t if t <= 2008 else nan, nan] for t in TIMES[4:]]
    write_csv(final / "11_M01_DC_groundtruth.csv", TTF_COLUMNS, truth)
    write_csv(
        tmp_path / "test" / "11_M01_DC_test.csv", SENSOR_COLUMNS, sensor_rows(TIMES[:4], "11M01")
    )
    return tmp_path


def test_discovers_tools(root: Path) -> None:
    ds = Phm2018Dataset(root)
    assert ds.train_tools() == ["01_M01"]
    assert ds.test_tools() == ["11_M01"]
    assert ds.validation_tools() == ["11_M01"]


def test_load_train_handles_the_known_quirks(root: Path) -> None:
    run = Phm2018Dataset(root).load_train("01M01")  # the in-file spelling works too
    assert run.asset_id == "01_M01"
    assert run.signals.columns == list(SENSOR_COLUMNS)
    assert run.signals.height == len(TIMES)
    assert run.signals["Lot"][2] == "L0042"
    assert run.signals["FIXTURESHUTTERPOSITION"].null_count() == 1
    assert run.meta["shutter_unknown"] == 1
    assert run.meta["gaps"] == 1
    assert run.labels is not None
    assert run.labels.columns == ["time", "ttf_pressure_low", "ttf_pressure_high", "ttf_leak"]
    low = run.labels["ttf_pressure_low"].to_list()
    assert low[:3] == [8.0, 4.0, 0.0] and low[3:] == [None] * 5
    assert run.labels["ttf_leak"].null_count() == len(TIMES)
    assert run.events is not None
    assert run.events.select("time", "fault_mode").rows() == [
        (108, "pressure_low"),
        (2004, "pressure_high"),
    ]
    assert run.meta["duplicate_fault_rows"] == 1


def test_load_validation_aligns_truth_with_scored_rows(root: Path) -> None:
    record = Phm2018Dataset(root).load_validation("11_M01")
    assert record.history.signals.height == 4
    assert record.scored.signals["time"].to_list() == TIMES[4:]
    assert record.scored.labels is not None
    assert record.scored.labels["ttf_pressure_high"].to_list() == [8.0, 4.0, 0.0, None]


def test_column_projection_reads_only_what_is_asked(root: Path) -> None:
    run = Phm2018Dataset(root).load_train("01_M01", columns=["recipe_step", "FLOWCOOLPRESSURE"])
    assert run.signals.columns == ["time", "recipe_step", "FLOWCOOLPRESSURE"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda cols: [c if c != "FLOWCOOLPRESSURE" else "FLOWCOOL_PRESSURE" for c in cols],
            r"01_M01_DC_train\.csv, column 'FLOWCOOLPRESSURE': column 14 is 'FLOWCOOL_PRESSURE'",
        ),
        (
            lambda cols: [c for c in cols if c != "ETCHBEAMCURRENT"],
            r"01_M01_DC_train\.csv, column 'ETCHBEAMCURRENT'.*is missing",
        ),
        (lambda cols: [*cols, "EXTRA"], r"01_M01_DC_train\.csv, column 'EXTRA': unexpected extra"),
        (
            lambda cols: [cols[1], cols[0], *cols[2:]],
            r"column 'time': column 1 is 'Tool'; 'time' is found at position 2",
        ),
    ],
)
def test_wrong_sensor_header_names_file_and_column(root: Path, mutate, message: str) -> None:
    path = root / "train" / "01_M01_DC_train.csv"
    lines = path.read_text().splitlines()
    lines[0] = ",".join(mutate(list(SENSOR_COLUMNS)))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=message):
        Phm2018Dataset(root).load_train("01_M01")


def test_renamed_ttf_column_is_rejected(root: Path) -> None:
    path = root / "train" / "train_ttf" / "01_M01_DC_train.csv"
    text = path.read_text().replace("TTF_Flowcool leak", "TTF_FlowCool leak")
    path.write_text(text)
    with pytest.raises(
        DataFormatError, match=r"train_ttf/01_M01_DC_train\.csv, column 'TTF_Flowcool leak'"
    ):
        Phm2018Dataset(root).load_train("01_M01")


def test_non_numeric_sensor_value_names_file(root: Path) -> None:
    path = root / "train" / "01_M01_DC_train.csv"
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[13] = "high"
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"01_M01_DC_train\.csv: a value does not parse"):
        Phm2018Dataset(root).load_train("01_M01")


def test_unknown_fault_label_names_file_and_column(root: Path) -> None:
    path = root / "train" / "train_faults" / "01_M01_train_fault_data.csv"
    path.write_text(
        path.read_text().replace("Flowcool Pressure Too High", "Flowcool Pressure Very High")
    )
    with pytest.raises(
        DataFormatError, match=r"fault_data\.csv, column 'fault_name': unknown fault label"
    ):
        Phm2018Dataset(root).load_train("01_M01")


def test_misaligned_ttf_rows_are_rejected(root: Path) -> None:
    path = root / "train" / "train_ttf" / "01_M01_DC_train.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DataFormatError, match="7 rows but the sensor file has 8"):
        Phm2018Dataset(root).load_train("01_M01")


def test_missing_root_and_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="dataset folder not found"):
        Phm2018Dataset(tmp_path / "nope")
    with pytest.raises(DataFormatError, match="file not found"):
        check_header(tmp_path / "absent.csv", ["time"])


def test_scan_is_lazy(root: Path) -> None:
    from phm.datasets.phm2018 import scan_sensors

    lf = scan_sensors(root / "train" / "01_M01_DC_train.csv", ["FLOWCOOLPRESSURE"])
    assert isinstance(lf, pl.LazyFrame)
    assert lf.collect().shape == (len(TIMES), 2)
