"""Window features over process signals, written as polars expressions.

Every feature at a row uses only that row and earlier rows of the same asset (causal), so the
same code serves training (whole records), row-by-row evaluation, and streaming (append rows,
recompute the tail). Windows are time-based, so idle gaps shorten a window instead of
stretching it across the gap.

For the PHM 2018 ion mill, the flow-cool and beam signals are summarised per recipe step:
a reading is compared with earlier readings of the same step, since each step loads the
flow-cool loop differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

FLOWCOOL_CHANNELS: tuple[str, ...] = ("FLOWCOOLPRESSURE", "FLOWCOOLFLOWRATE")
BEAM_CHANNELS: tuple[str, ...] = ("ETCHBEAMCURRENT", "ETCHBEAMVOLTAGE", "IONGAUGEPRESSURE")


@dataclass(frozen=True)
class ProcessFeatureConfig:
    """Which channels, which windows (seconds) and which grouping make the features.

    channels: sensor columns to summarise.
    recent_s, short_s, mid_s: recent windows; long_s: the reference window. A deviation is a
        recent mean minus the reference mean; several recent windows give the trend.
    group_by: windows are taken within each value of these columns (e.g. recipe_step).
    gap_s: a pause longer than this starts a new segment (maintenance, idle).
    """

    channels: tuple[str, ...] = FLOWCOOL_CHANNELS + BEAM_CHANNELS
    recent_s: int = 120
    short_s: int = 600
    mid_s: int = 3600
    long_s: int = 24 * 3600
    group_by: tuple[str, ...] = ("recipe_step",)
    gap_s: int = 1800
    extra: tuple[str, ...] = field(default=())

    def input_columns(self) -> list[str]:
        """Columns a signals frame must have for these features."""
        return ["time", *self.group_by, *self.channels, *self.extra]


def _roll(expr: pl.Expr, kind: str, window_s: int) -> pl.Expr:
    window = f"{window_s}i"
    if kind == "mean":
        return expr.rolling_mean_by("time", window_size=window)
    if kind == "std":
        return expr.rolling_std_by("time", window_size=window)
    if kind == "min":
        return expr.rolling_min_by("time", window_size=window)
    if kind == "max":
        return expr.rolling_max_by("time", window_size=window)
    raise ValueError(f"unknown rolling statistic {kind!r}")


def feature_expressions(config: ProcessFeatureConfig) -> list[pl.Expr]:
    """The feature columns as expressions over a frame sorted by `time` (one asset)."""
    group = list(config.group_by)
    exprs: list[pl.Expr] = []
    for c in config.channels:
        x = pl.col(c).cast(pl.Float64)
        short_step = _roll(x, "mean", config.short_s).over(group)
        mid_step = _roll(x, "mean", config.mid_s).over(group)
        long_step = _roll(x, "mean", config.long_s).over(group)
        long_std = _roll(x, "std", config.long_s).over(group)
        recent_step = _roll(x, "mean", config.recent_s).over(group)
        exprs += [
            short_step.alias(f"{c}__step_mean_{config.short_s}s"),
            (recent_step - long_step).alias(f"{c}__step_dev_{config.recent_s}s"),
            (short_step - long_step).alias(f"{c}__step_dev_{config.short_s}s"),
            (mid_step - long_step).alias(f"{c}__step_dev_{config.mid_s}s"),
            ((short_step - long_step) / (long_std + 1e-3)).alias(f"{c}__step_z_{config.short_s}s"),
            _roll(x, "std", config.mid_s).over(group).alias(f"{c}__step_std_{config.mid_s}s"),
            (_roll(x, "std", config.short_s) / (long_std + 1e-3)).alias(
                f"{c}__std_ratio_{config.short_s}s"
            ),
            (_roll(x, "max", config.short_s) - _roll(x, "min", config.short_s)).alias(
                f"{c}__range_{config.short_s}s"
            ),
            _roll(x, "mean", config.mid_s).alias(f"{c}__mean_{config.mid_s}s"),
        ]
    # Time since the last long pause: maintenance follows faults, so this is a clock of the
    # current healthy stretch.
    gap = pl.col("time").diff().fill_null(0) > config.gap_s
    segment_start = pl.when(gap | (pl.int_range(pl.len()) == 0)).then(pl.col("time"))
    exprs.append(
        (pl.col("time") - segment_start.forward_fill()).cast(pl.Float64).alias("time_since_pause_s")
    )
    return exprs


def feature_names(config: ProcessFeatureConfig) -> list[str]:
    """Names of the feature columns `process_features` adds, in order."""
    probe = pl.DataFrame(
        {c: [] for c in config.input_columns()},
        schema={
            c: (pl.Int64 if c == "time" else pl.String if c in config.group_by else pl.Float64)
            for c in config.input_columns()
        },
    )
    return process_features(probe, config).columns[len(probe.columns) :]


def process_features(
    signals: pl.DataFrame | pl.LazyFrame, config: ProcessFeatureConfig | None = None
) -> pl.DataFrame:
    """Append the window features to one asset's signals (sorted by time). Returns a new frame.

    Shape: (rows, input columns + features). The first rows have partial windows; a feature
    whose window holds no value yet is null.
    """
    config = config or ProcessFeatureConfig()
    lf = signals.lazy() if isinstance(signals, pl.DataFrame) else signals
    missing = [c for c in config.input_columns() if c not in lf.collect_schema().names()]
    if missing:
        raise ValueError(f"signals lack the columns {missing} needed for process features")
    return lf.select(config.input_columns()).with_columns(feature_expressions(config)).collect()


def feature_matrix(frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """Just the feature columns, as float32 (nulls stay null; tree models handle them)."""
    return frame.select(pl.col(list(names)).cast(pl.Float32))
