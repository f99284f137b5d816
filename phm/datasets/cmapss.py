"""NASA C-MAPSS turbofan run-to-failure data (FD001-FD004) as canonical runs, plus its features.

Files per subset: `train_FDxxx.txt`, `test_FDxxx.txt` (26 space-separated columns: unit, cycle,
3 operational settings, 21 sensors; lines end with spaces) and `RUL_FDxxx.txt` (the true RUL at
the last cycle of each test unit, one line per unit). One `Run` per engine unit:
signals = `time` (the cycle), `condition` (operating-condition id), `op_setting_1..3`, `s1..s21`.
Train runs carry `labels` (`time`, `rul`: cycles left before failure); test runs carry the same
`labels` computed from the RUL file, and `meta["rul_end"]` (the true RUL at the last cycle).

Operating conditions (six in FD002/FD004, one in FD001/FD003) are found on the train file by
clustering the three settings with fixed tolerances; `ConditionScaler` z-scores each sensor per
condition with statistics fitted on train runs only. `window_features` turns runs into causal
rolling features (mean, std, slope, last value over the last W cycles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from phm.datasets.paths import dataset_dir
from phm.datasets.run import Run
from phm.errors import DataFormatError

SUBSETS: tuple[str, ...] = ("FD001", "FD002", "FD003", "FD004")
OP_SETTINGS: tuple[str, ...] = ("op_setting_1", "op_setting_2", "op_setting_3")
SENSORS: tuple[str, ...] = tuple(f"s{i}" for i in range(1, 22))
COLUMNS: tuple[str, ...] = ("unit", "cycle", *OP_SETTINGS, *SENSORS)
N_CONDITIONS: dict[str, int] = {"FD001": 1, "FD002": 6, "FD003": 1, "FD004": 6}
# Settings closer than this (altitude in kft, Mach number, throttle resolver angle) are one
# operating condition: the real conditions are >= 5 kft, 0.08 Mach or 40 TRA apart, and the
# recorded settings scatter around them by less than 0.01 kft, 0.001 Mach and 0.1 TRA.
CONDITION_TOLERANCE: tuple[float, float, float] = (1.0, 0.04, 5.0)
# How a network sees the operating condition (TrainConfig.condition_input, built by
# phm.models.windows.cmapss_windows): the last cycle's as a context token, a one-hot of each
# cycle's as process channels, both, or none.
CONDITION_INPUTS: tuple[str, ...] = ("token", "channels", "both", "none")
_LAYOUT = "26 space-separated columns: unit, cycle, 3 operational settings, 21 sensors"


@dataclass(frozen=True)
class OperatingConditions:
    """Operating-condition centres found on training data; `assign` maps settings to ids.

    centres: (K, 3) mean settings of each condition, sorted so ids are stable.
    """

    centres: np.ndarray

    @property
    def n_conditions(self) -> int:
        return int(self.centres.shape[0])

    @classmethod
    def fit(cls, settings: np.ndarray) -> OperatingConditions:
        """Cluster (N, 3) settings: points within `CONDITION_TOLERANCE` of a centre share it."""
        tol = np.asarray(CONDITION_TOLERANCE)
        x = np.asarray(settings, dtype=np.float64) / tol
        remaining = np.ones(len(x), dtype=bool)
        centres = []
        while remaining.any():
            seed = x[np.argmax(remaining)]
            members = remaining & (np.abs(x - seed).max(axis=1) < 1.0)
            centres.append(x[members].mean(axis=0))
            remaining &= ~members
        c = np.asarray(centres) * tol
        order = np.lexsort(c.T[::-1])
        return cls(centres=c[order])

    def assign(self, settings: np.ndarray) -> np.ndarray:
        """(N,) condition id of each row: the nearest centre in tolerance units."""
        x = np.asarray(settings, dtype=np.float64) / np.asarray(CONDITION_TOLERANCE)
        c = self.centres / np.asarray(CONDITION_TOLERANCE)
        dist = np.abs(x[:, None, :] - c[None, :, :]).max(axis=2)
        return np.argmin(dist, axis=1).astype(np.int32)


@dataclass
class CmapssData:
    """One C-MAPSS subset: train runs (run to failure) and test runs (cut before failure)."""

    subset: str
    train: list[Run]
    test: list[Run]
    conditions: OperatingConditions
    source: Path

    @property
    def n_conditions(self) -> int:
        return self.conditions.n_conditions


def read_cmapss_table(path: str | Path) -> pl.DataFrame:
    """Read a train or test file into a frame with `COLUMNS` (unit, cycle as Int32).

    Raises DataFormatError naming the file, line and column for a wrong column count, a value
    that is not a finite number, or cycles that do not count 1, 2, 3... within each unit.
    """
    path = Path(path)
    text = _read_text(path)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(COLUMNS):
            raise DataFormatError(
                path, f"line {lineno} has {len(fields)} columns", expected=_LAYOUT
            )
        rows.append(fields)
        line_numbers.append(lineno)
    if not rows:
        raise DataFormatError(path, "the file has no data rows", expected=_LAYOUT)
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        values = None
    if values is None or not np.isfinite(values).all():
        i, j = _first_bad_value(rows)
        raise DataFormatError(
            path,
            f"line {line_numbers[i]}: {rows[i][j]!r} is not a finite number",
            column=COLUMNS[j],
            expected="a number",
        )
    _check_units_and_cycles(path, values, line_numbers)
    data = {name: values[:, j] for j, name in enumerate(COLUMNS)}
    frame = pl.DataFrame(data)
    return frame.with_columns(pl.col("unit", "cycle").cast(pl.Int32))


def read_rul_file(path: str | Path, n_units: int | None = None) -> np.ndarray:
    """Read `RUL_FDxxx.txt`: (U,) true RUL (cycles) at the last cycle of each test unit."""
    path = Path(path)
    values: list[float] = []
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        bad = len(fields) != 1
        if not bad:
            try:
                v = float(fields[0])
                bad = not np.isfinite(v) or v < 0 or v != int(v)
            except ValueError:
                bad = True
        if bad:
            raise DataFormatError(
                path, f"line {lineno} is {line.strip()!r}", expected="one whole number >= 0"
            )
        values.append(v)
    if n_units is not None and len(values) != n_units:
        raise DataFormatError(
            path, f"{len(values)} RUL values", expected=f"one per test unit, {n_units}"
        )
    return np.asarray(values, dtype=np.float64)


def find_data_dir(data_dir: str | Path | None, subset: str) -> Path:
    """The folder holding `train_<subset>.txt`: DIR, DIR/cmapss, or $PHM_DATA_DIR/cmapss."""
    return dataset_dir(
        data_dir,
        "cmapss",
        lambda folder: (folder / f"train_{subset}.txt").is_file(),
        expected=f"train_{subset}.txt, test_{subset}.txt, RUL_{subset}.txt",
    )


def load_cmapss(data_dir: str | Path | None = None, subset: str = "FD001") -> CmapssData:
    """Load one subset (FD001-FD004) as train and test runs of raw values.

    data_dir: the cmapss folder or its parent; None reads $PHM_DATA_DIR. Operating conditions
    are fitted on the train file only and then assigned to both files.
    """
    if subset not in SUBSETS:
        raise ValueError(f"unknown C-MAPSS subset {subset!r}; expected one of {SUBSETS}")
    folder = find_data_dir(data_dir, subset)
    train_path = folder / f"train_{subset}.txt"
    train = read_cmapss_table(train_path)
    test = read_cmapss_table(folder / f"test_{subset}.txt")
    n_test_units = test["unit"].n_unique()
    rul_end = read_rul_file(folder / f"RUL_{subset}.txt", n_units=n_test_units)

    conditions = OperatingConditions.fit(train.select(OP_SETTINGS).to_numpy())
    if conditions.n_conditions != N_CONDITIONS[subset]:
        raise DataFormatError(
            train_path,
            f"the operational settings form {conditions.n_conditions} operating conditions",
            column="op_setting_1..3",
            expected=f"{N_CONDITIONS[subset]} for {subset}",
        )
    train_runs = _runs(train, subset, "train", conditions, None)
    test_runs = _runs(test, subset, "test", conditions, rul_end)
    return CmapssData(subset, train_runs, test_runs, conditions, folder)


def _runs(
    table: pl.DataFrame,
    subset: str,
    split: str,
    conditions: OperatingConditions,
    rul_end: np.ndarray | None,
) -> list[Run]:
    cond = conditions.assign(table.select(OP_SETTINGS).to_numpy())
    table = table.with_columns(pl.Series("condition", cond, dtype=pl.Int32))
    signal_columns = ["time", "condition", *OP_SETTINGS, *SENSORS]
    runs = []
    for i, part in enumerate(table.partition_by("unit", maintain_order=True)):
        unit = int(part["unit"][0])
        last = int(part["cycle"][-1])
        end = 0.0 if rul_end is None else float(rul_end[i])
        signals = part.rename({"cycle": "time"}).select(signal_columns)
        labels = signals.select("time", rul=(pl.lit(last) - pl.col("time")).cast(pl.Float64) + end)
        meta = {
            "subset": subset,
            "split": split,
            "unit": unit,
            "n_cycles": part.height,
            "failed": rul_end is None,
            "rul_end": end,
        }
        asset_id = f"{subset}-{split}-{unit:03d}"
        runs.append(Run(asset_id, "turbofan", signals, meta=meta, labels=labels))
    return runs


class ConditionScaler:
    """Per-operating-condition z-scoring of sensor columns, fitted on training runs only.

    Learned: `mean_`, `scale_` of shape (K, S) for K conditions and S columns; a constant column
    keeps scale 1 so it maps to 0 rather than NaN.
    """

    def __init__(self, columns: Sequence[str] = SENSORS) -> None:
        self.columns = tuple(columns)

    def fit(self, runs: Sequence[Run]) -> ConditionScaler:
        frame = _concat(runs)
        k = int(frame["condition"].max()) + 1
        values = frame.select(self.columns).to_numpy()
        cond = frame["condition"].to_numpy()
        self.mean_ = np.zeros((k, len(self.columns)))
        self.scale_ = np.ones((k, len(self.columns)))
        for c in range(k):
            rows = values[cond == c]
            if len(rows) == 0:
                continue
            self.mean_[c] = rows.mean(axis=0)
            std = rows.std(axis=0)
            self.scale_[c] = np.where(std > 0, std, 1.0)
        return self

    def transform(self, runs: Sequence[Run]) -> list[Run]:
        """New runs whose scaled columns are (x - mean[condition]) / scale[condition]."""
        if not hasattr(self, "mean_"):
            raise RuntimeError("ConditionScaler is not fitted yet: call fit() first")
        out = []
        for run in runs:
            cond = run.signals["condition"].to_numpy()
            if cond.max(initial=0) >= self.mean_.shape[0]:
                raise ValueError(f"{run.asset_id}: condition {cond.max()} was not seen in fit")
            z = (run.signals.select(self.columns).to_numpy() - self.mean_[cond]) / self.scale_[cond]
            scaled = run.signals.with_columns(
                pl.Series(name, z[:, j]) for j, name in enumerate(self.columns)
            )
            out.append(replace(run, signals=scaled))
        return out


def constant_sensors(runs: Sequence[Run], max_levels: int = 2) -> list[str]:
    """Sensors with at most `max_levels` distinct values within every operating condition.

    Such a sensor is fixed or toggles between two quantisation steps (s6 in FD001): it carries
    no degradation trend. Call it on training runs only.
    """
    frame = _concat(runs)
    counts = frame.group_by("condition").agg(pl.col(SENSORS).n_unique())
    return [s for s in SENSORS if int(counts[s].max()) <= max_levels]


def window_features(
    runs: Sequence[Run], columns: Sequence[str], window: int = 30, include_time: bool = True
) -> pl.DataFrame:
    """Causal rolling features per cycle over the last `window` cycles of each run.

    Returns one row per signal row (runs concatenated in order): `asset_id`, `time`, then for
    each column `{c}_mean`, `{c}_std`, `{c}_slope` (least-squares change per cycle) and `{c}_last`,
    and `cycle` (the time itself) when include_time. Early rows use the cycles available;
    std and slope of a single cycle are 0.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1 cycles, got {window}")
    frame = _concat(runs).select("asset_id", "time", *columns)
    t = pl.col("time").cast(pl.Float64)

    def roll(expr: pl.Expr) -> pl.Expr:
        return expr.rolling_mean(window, min_samples=1).over("asset_id")

    exprs: list[pl.Expr] = []
    t_mean, t2_mean = roll(t), roll(t * t)
    for c in columns:
        x = pl.col(c).cast(pl.Float64)
        cov = roll(t * x) - t_mean * roll(x)
        var = t2_mean - t_mean * t_mean
        exprs += [
            roll(x).alias(f"{c}_mean"),
            x.rolling_std(window, min_samples=1).over("asset_id").fill_null(0.0).alias(f"{c}_std"),
            pl.when(var > 1e-9).then(cov / var).otherwise(0.0).alias(f"{c}_slope"),
            x.alias(f"{c}_last"),
        ]
    if include_time:
        exprs.append(t.alias("cycle"))
    return frame.select("asset_id", "time", *exprs)


def _concat(runs: Sequence[Run]) -> pl.DataFrame:
    if not runs:
        raise ValueError("no runs given")
    return pl.concat(
        [r.signals.with_columns(asset_id=pl.lit(r.asset_id)) for r in runs], how="vertical"
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise DataFormatError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"cannot read the file: {exc}") from None


def _first_bad_value(rows: list[list[str]]) -> tuple[int, int]:
    for i, row in enumerate(rows):
        for j, token in enumerate(row):
            try:
                ok = np.isfinite(float(token))
            except ValueError:
                ok = False
            if not ok:
                return i, j
    raise AssertionError("no bad value found")  # pragma: no cover


def _check_units_and_cycles(path: Path, values: np.ndarray, line_numbers: list[int]) -> None:
    unit, cycle = values[:, 0], values[:, 1]
    for name, col in (("unit", unit), ("cycle", cycle)):
        bad = np.flatnonzero((col != np.round(col)) | (col < 1))
        if bad.size:
            i = int(bad[0])
            raise DataFormatError(
                path,
                f"line {line_numbers[i]}: {name} is {col[i]:g}",
                column=name,
                expected="a whole number >= 1",
            )
    new_unit = np.r_[True, unit[1:] != unit[:-1]]
    expected_cycle = np.where(new_unit, 1.0, np.r_[0.0, cycle[:-1]] + 1.0)
    bad = np.flatnonzero(cycle != expected_cycle)
    if bad.size:
        i = int(bad[0])
        raise DataFormatError(
            path,
            f"line {line_numbers[i]}: cycle {cycle[i]:g} of unit {unit[i]:g}",
            column="cycle",
            expected=f"{expected_cycle[i]:g} (cycles count 1, 2, 3... per unit)",
        )
    starts = np.flatnonzero(new_unit)
    _, first = np.unique(unit[starts], return_index=True)
    repeated = np.setdiff1d(np.arange(len(starts)), first)
    if repeated.size:
        i = int(starts[repeated.min()])
        raise DataFormatError(
            path,
            f"line {line_numbers[i]}: unit {unit[i]:g} appears in two separate blocks",
            column="unit",
            expected="all rows of a unit together",
        )
