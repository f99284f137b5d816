"""Loader for the PHM Society 2018 data challenge (ion mill etch tool), official layout.

Reads one tool at a time, lazily with polars, into canonical runs. Every file's header is
checked against the official column names and order before any row is read; a wrong layout
fails with a `DataFormatError` naming the file and the column.

Known quirks handled here:
- the `Tool` column says `01M01` while file names say `01_M01`;
- TTF is NaN (or empty) after a tool's last fault of a kind: read as null;
- fault logs repeat some rows: exact duplicates (same time, same mode) are removed and counted
  in `run.meta["duplicate_fault_rows"]`;
- the label `... Check Flowcool Pump [NoWaferID]` is the pressure_high mode;
- idle gaps between samples: counted in `run.meta["gaps"]`; features use time-based windows;
- FIXTURESHUTTERPOSITION 255 means "position unknown": read as null, counted in meta;
- categorical columns (stage, Lot, recipe, recipe_step) are not always numeric: read as text.

Final-validation release: any folder under the root holding `<tool>_DC_groundtruth.csv`
beside `<tool>_DC_test.csv` (history) and `<tool>_DC_score.csv` (the scored rows, sensors).
Our reading of that release: the submission gives TTF for every row of the score file, and
the ground-truth file holds the true TTF for those rows, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from phm.datasets.phm2018_layout import (
    FAULT_COLUMNS,
    FAULT_MODES,
    FAULT_NAME_VARIANTS,
    SENSOR_COLUMNS,
    SHUTTER_UNKNOWN,
    TTF_COLUMN_OF,
    TTF_COLUMNS,
    column_tool_name,
    file_tool_name,
)
from phm.datasets.run import Run
from phm.errors import DataFormatError

ASSET_TYPE = "ion_mill_etch_tool"
TEXT_COLUMNS = ("Tool", "stage", "Lot", "recipe", "recipe_step")
INTEGER_COLUMNS = ("time", "runnum")
GAP_S = 60  # a step longer than this between samples counts as an idle gap

SENSOR_SCHEMA: dict[str, pl.DataType] = {
    c: (pl.String() if c in TEXT_COLUMNS else pl.Int64() if c in INTEGER_COLUMNS else pl.Float32())
    for c in SENSOR_COLUMNS
}
TTF_SCHEMA: dict[str, pl.DataType] = {
    c: (pl.Int64() if c == "time" else pl.Float64()) for c in TTF_COLUMNS
}
FAULT_SCHEMA: dict[str, pl.DataType] = {
    c: (pl.Int64() if c == "time" else pl.String()) for c in FAULT_COLUMNS
}


def check_header(path: Path, expected: Sequence[str]) -> None:
    """Compare the CSV header of `path` with `expected` names and order; raise on mismatch."""
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    with path.open("r", encoding="utf-8", errors="replace") as f:
        first = f.readline().rstrip("\r\n")
    if not first:
        raise DataFormatError(path, "file is empty", expected="a header row")
    found = [c.strip().strip('"') for c in first.split(",")]
    for i, name in enumerate(expected):
        if i >= len(found):
            raise DataFormatError(
                path,
                f"missing column at position {i + 1}",
                column=name,
                expected=f"{len(expected)} columns: {', '.join(expected)}",
            )
        if found[i] != name:
            hint = "missing" if name not in found else f"found at position {found.index(name) + 1}"
            raise DataFormatError(
                path,
                f"column {i + 1} is {found[i]!r}; {name!r} is {hint}",
                column=name,
                expected=f"{name!r} at position {i + 1}",
            )
    if len(found) > len(expected):
        raise DataFormatError(
            path,
            f"unexpected extra column {found[len(expected)]!r}",
            column=found[len(expected)],
            expected=f"{len(expected)} columns",
        )


def _scan(path: Path, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    check_header(path, list(schema))
    return pl.scan_csv(
        path, schema=schema, null_values=["", "NaN", "nan", "NA"], raise_if_empty=True
    )


def _collect(lf: pl.LazyFrame, path: Path) -> pl.DataFrame:
    try:
        return lf.collect()
    except pl.exceptions.ComputeError as exc:  # a value that does not parse as its column's type
        raise DataFormatError(
            path,
            f"a value does not parse: {str(exc).splitlines()[0]}",
            expected="numbers in time, runnum and the sensor columns",
        ) from exc


def scan_sensors(path: str | Path, columns: Sequence[str] | None = None) -> pl.LazyFrame:
    """Lazy frame over one sensor file (train, test, score), header checked, typed.

    columns: read only these (plus `time`), to save memory on wide files.
    FIXTURESHUTTERPOSITION 255 becomes null (unknown position).
    """
    path = Path(path)
    lf = _scan(path, SENSOR_SCHEMA)
    if columns is not None:
        unknown = [c for c in columns if c not in SENSOR_SCHEMA]
        if unknown:
            raise ValueError(f"unknown PHM 2018 sensor columns {unknown}")
        keep = ["time", *[c for c in columns if c != "time"]]
        lf = lf.select(keep)
    else:
        keep = list(SENSOR_COLUMNS)
    if "FIXTURESHUTTERPOSITION" in keep:
        shutter = pl.col("FIXTURESHUTTERPOSITION")
        lf = lf.with_columns(
            pl.when(shutter == SHUTTER_UNKNOWN)
            .then(None)
            .otherwise(shutter)
            .alias("FIXTURESHUTTERPOSITION")
        )
    return lf


def scan_ttf(path: str | Path) -> pl.LazyFrame:
    """Lazy frame over a TTF (or ground-truth) file; NaN and empty cells read as null."""
    path = Path(path)
    return _scan(path, TTF_SCHEMA).with_columns(pl.col(TTF_COLUMNS[1:]).fill_nan(None))


def read_fault_log(path: str | Path, tool: str | None = None) -> tuple[pl.DataFrame, int]:
    """Fault log as (`time`, `fault_mode`, `fault_name`) sorted by time, exact duplicates removed.

    Returns the frame and the number of duplicate rows removed. Labels are mapped to the three
    fault modes (`FAULT_MODES`); an unknown label or a row of another tool is an error.
    """
    path = Path(path)
    raw = _collect(_scan(path, FAULT_SCHEMA), path)
    unknown = raw.filter(~pl.col("fault_name").is_in(list(FAULT_NAME_VARIANTS)))
    if unknown.height:
        raise DataFormatError(
            path,
            f"unknown fault label {unknown['fault_name'][0]!r}",
            column="fault_name",
            expected=f"one of {sorted(FAULT_NAME_VARIANTS)}",
        )
    if tool is not None:
        other = raw.filter(pl.col("Tool").str.replace("_", "") != column_tool_name(tool))
        if other.height:
            raise DataFormatError(
                path,
                f"row for tool {other['Tool'][0]!r} in the log of {tool}",
                column="Tool",
                expected=column_tool_name(tool),
            )
    log = raw.with_columns(
        pl.col("fault_name").replace_strict(FAULT_NAME_VARIANTS).alias("fault_mode")
    ).select("time", "fault_mode", "fault_name")
    deduped = log.unique(subset=["time", "fault_mode"], keep="first", maintain_order=True)
    return deduped.sort("time", maintain_order=True), raw.height - deduped.height


def _signals_meta(signals: pl.DataFrame, path: Path) -> dict[str, int]:
    time = signals["time"]
    if time.null_count():
        raise DataFormatError(path, "empty time value", column="time", expected="integer seconds")
    steps = time.diff().drop_nulls()
    if steps.len() and steps.min() < 0:
        raise DataFormatError(
            path, "time goes backwards", column="time", expected="non-decreasing integer seconds"
        )
    return {
        "rows": signals.height,
        "gaps": int((steps > GAP_S).sum()),
        "shutter_unknown": int(signals["FIXTURESHUTTERPOSITION"].null_count())
        if "FIXTURESHUTTERPOSITION" in signals.columns
        else 0,
    }


# The TTF label columns of a loaded run, one per fault mode (the files' own header, with `time`
# and the official names, is `phm2018_layout.TTF_COLUMNS`).
TTF_LABEL_COLUMNS: tuple[str, ...] = tuple(f"ttf_{m}" for m in FAULT_MODES)


def ttf_frame(ttf: pl.DataFrame) -> pl.DataFrame:
    """Rename the official TTF columns to `ttf_<mode>` (pressure_low, pressure_high, leak)."""
    return ttf.rename(
        {TTF_COLUMN_OF[m]: c for m, c in zip(FAULT_MODES, TTF_LABEL_COLUMNS, strict=True)}
    )


@dataclass(frozen=True)
class ValidationTool:
    """One tool of the final-validation release: history, scored rows with their truth."""

    history: Run
    scored: Run  # labels hold the ground-truth TTF of each scored row


class Phm2018Dataset:
    """A PHM 2018 dataset root in the official layout (real archive or `phm simulate phm2018`)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataFormatError(
                self.root,
                "dataset folder not found",
                expected="a folder with train/ (and test/) in the PHM 2018 layout",
            )

    # --- discovery -------------------------------------------------------------------------
    def train_tools(self) -> list[str]:
        """Tools with a training sensor file, in file-name spelling (`01_M01`)."""
        return sorted(
            p.name.removesuffix("_DC_train.csv")
            for p in (self.root / "train").glob("*_DC_train.csv")
        )

    def test_tools(self) -> list[str]:
        return sorted(
            p.name.removesuffix("_DC_test.csv") for p in (self.root / "test").glob("*_DC_test.csv")
        )

    def validation_tools(self) -> list[str]:
        """Tools of the final-validation release (a ground-truth file found under the root)."""
        return sorted(p.name.removesuffix("_DC_groundtruth.csv") for p in self._groundtruth_files())

    def _groundtruth_files(self) -> list[Path]:
        return sorted(self.root.rglob("*_DC_groundtruth.csv"))

    # --- paths -----------------------------------------------------------------------------
    def train_paths(self, tool: str) -> tuple[Path, Path, Path]:
        """(sensors, TTF, fault log) paths of a training tool."""
        name = file_tool_name(tool)
        train = self.root / "train"
        return (
            train / f"{name}_DC_train.csv",
            train / "train_ttf" / f"{name}_DC_train.csv",
            train / "train_faults" / f"{name}_train_fault_data.csv",
        )

    # --- runs ------------------------------------------------------------------------------
    def load_train(self, tool: str, columns: Sequence[str] | None = None) -> Run:
        """One training tool: sensors, TTF labels (`ttf_<mode>`, seconds) and the fault log."""
        sensors_path, ttf_path, faults_path = self.train_paths(tool)
        signals = _collect(scan_sensors(sensors_path, columns), sensors_path)
        ttf = _collect(scan_ttf(ttf_path), ttf_path)
        if ttf.height != signals.height:
            raise DataFormatError(
                ttf_path,
                f"{ttf.height} rows but the sensor file has {signals.height}",
                expected="one TTF row per sensor row",
            )
        mismatch = (ttf["time"] != signals["time"]).arg_true()
        if mismatch.len():
            i = int(mismatch[0])
            raise DataFormatError(
                ttf_path,
                f"row {i + 2} has time {ttf['time'][i]} but the sensor "
                f"file has {signals['time'][i]}",
                column="time",
                expected="rows aligned 1:1 with the sensor file",
            )
        events, duplicates = (
            read_fault_log(faults_path, tool)
            if faults_path.is_file()
            else (
                pl.DataFrame(
                    schema={"time": pl.Int64, "fault_mode": pl.String, "fault_name": pl.String}
                ),
                0,
            )
        )
        meta = _signals_meta(signals, sensors_path)
        meta.update(duplicate_fault_rows=duplicates, source=str(sensors_path))
        return Run(
            asset_id=file_tool_name(tool),
            asset_type=ASSET_TYPE,
            signals=signals,
            meta=meta,
            events=events,
            labels=ttf_frame(ttf),
        )

    def load_validation(self, tool: str, columns: Sequence[str] | None = None) -> ValidationTool:
        """One final-validation tool: the history before scoring and the scored rows + truth."""
        name = file_tool_name(tool)
        matches = [p for p in self._groundtruth_files() if p.name == f"{name}_DC_groundtruth.csv"]
        if not matches:
            raise DataFormatError(self.root, f"no {name}_DC_groundtruth.csv under the root")
        folder = matches[0].parent
        history_path, score_path = folder / f"{name}_DC_test.csv", folder / f"{name}_DC_score.csv"
        history = _collect(scan_sensors(history_path, columns), history_path)
        scored = _collect(scan_sensors(score_path, columns), score_path)
        truth = _collect(scan_ttf(matches[0]), matches[0])
        if truth.height != scored.height or (truth["time"] != scored["time"]).any():
            raise DataFormatError(
                matches[0],
                "rows do not match the score file's rows",
                column="time",
                expected=f"{scored.height} rows aligned with {score_path.name}",
            )
        if history.height and scored.height and history["time"][-1] > scored["time"][0]:
            raise DataFormatError(
                score_path,
                "scored rows start before the history ends",
                column="time",
                expected="scored period after the history",
            )
        return ValidationTool(
            history=Run(
                name,
                ASSET_TYPE,
                history,
                meta={**_signals_meta(history, history_path), "source": str(history_path)},
            ),
            scored=Run(
                name,
                ASSET_TYPE,
                scored,
                labels=ttf_frame(truth),
                meta={**_signals_meta(scored, score_path), "source": str(score_path)},
            ),
        )

    def iter_train(
        self, tools: Sequence[str] | None = None, columns: Sequence[str] | None = None
    ) -> Iterator[Run]:
        """Training runs one tool at a time (only one tool's data in memory at once)."""
        for tool in tools if tools is not None else self.train_tools():
            yield self.load_train(tool, columns)
