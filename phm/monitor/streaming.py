"""Streaming process features: the batch feature code (phm.features.process), fed incrementally.

Every process feature at a row depends only on rows of the same asset within the longest window
before it (`long_s`), except `time_since_pause_s`, which reaches back to the start of the
current run of rows without a long pause. `StreamingProcessFeatures` therefore keeps a tail of
`long_s` seconds, recomputes the batch expressions over tail + new rows, returns the rows that
are new, and carries the start of the current segment across calls: the values equal those of
`process_features` over the whole record (tests/monitor/test_streaming.py feeds the same data
both ways).
"""

from __future__ import annotations

import polars as pl

from phm.features.process import ProcessFeatureConfig, feature_names, process_features


class StreamingProcessFeatures:
    """Window features of one asset's process rows as they arrive, equal to the batch values.

    `update(rows)` takes new rows (a frame with the config's input columns, `time` Int64
    seconds, sorted, later than everything before) and returns them with their features.
    """

    def __init__(self, config: ProcessFeatureConfig | None = None) -> None:
        self.config = config or ProcessFeatureConfig()
        self.names = feature_names(self.config)
        self._tail: pl.DataFrame | None = None
        self._segment_start: int | None = None  # start time of the current pause-free run
        self._last_time: int | None = None

    def update(self, rows: pl.DataFrame) -> pl.DataFrame:
        cfg = self.config
        if rows.height == 0:
            return process_features(rows.select(cfg.input_columns()), cfg)
        rows = rows.select(cfg.input_columns())
        times = rows["time"]
        if not times.is_sorted():
            raise ValueError("streaming process rows must be sorted by time")
        first = int(times[0])
        if self._last_time is not None and first <= self._last_time:
            raise ValueError(f"row time {first} is not after the last row seen ({self._last_time})")
        tail = self._tail
        frame = rows if tail is None else pl.concat([tail, rows], how="vertical_relaxed")
        feats = process_features(frame, cfg)
        n_tail = 0 if tail is None else tail.height
        new = feats.slice(n_tail)
        # time_since_pause_s: the batch code starts a segment at the frame's first row; where no
        # pause separates a row from the tail's start, the true start is the carried one.
        t = frame["time"]
        gaps = (t.diff().fill_null(0) > cfg.gap_s).cum_sum()
        start = self._segment_start if self._segment_start is not None else int(t[0])
        first_segment = (gaps == 0).slice(n_tail)
        new = new.with_columns(
            pl.when(pl.Series(first_segment))
            .then((pl.col("time") - start).cast(pl.Float64))
            .otherwise(pl.col("time_since_pause_s"))
            .alias("time_since_pause_s")
        )
        if int(gaps[-1]) > 0:  # a pause inside: the segment restarts at the last gap
            starts = t.filter(t.diff().fill_null(0) > cfg.gap_s)
            self._segment_start = int(starts[-1])
        else:
            self._segment_start = start
        last = int(t[-1])
        self._last_time = last
        self._tail = frame.filter(pl.col("time") > last - cfg.long_s)
        return new
