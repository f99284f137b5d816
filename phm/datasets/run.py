"""The canonical run: one asset's record, whatever dataset or live stream it came from.

Adapters produce runs; features turn runs into windows; models consume windows. A new dataset
only needs an adapter that fills these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Waveforms:
    """Vibration snapshots of one run.

    times: (S,) seconds since the run's origin, one per snapshot.
    data: (S, C, L) float32, S snapshots x C channels x L samples.
    """

    times: np.ndarray
    sampling_rate_hz: float
    channels: tuple[str, ...]
    data: np.ndarray

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise ValueError(
                f"waveform data must be (snapshots, channels, samples), got {self.data.shape}"
            )
        if self.data.shape[0] != self.times.shape[0]:
            raise ValueError(
                f"{self.times.shape[0]} snapshot times for {self.data.shape[0]} snapshots"
            )
        if self.data.shape[1] != len(self.channels):
            raise ValueError(
                f"{len(self.channels)} channel names for {self.data.shape[1]} channels"
            )


@dataclass
class Run:
    """One asset's record (one tool, one engine, one bearing, one CWRU file).

    signals: polars frame with a `time` column plus context and sensor columns at the process rate.
    events: fault log (`time`, `fault_mode`, and the raw label) where the dataset has one.
    labels: per-row targets aligned with `signals` (TTF per fault mode, RUL), where known.
    fault_class: a single class label for records of one condition (CWRU).
    """

    asset_id: str
    asset_type: str
    signals: pl.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    waveforms: Waveforms | None = None
    events: pl.DataFrame | None = None
    labels: pl.DataFrame | None = None
    fault_class: str | None = None

    def __repr__(self) -> str:
        parts = [
            f"asset_id={self.asset_id!r}",
            f"asset_type={self.asset_type!r}",
            f"rows={self.signals.height}",
        ]
        if self.waveforms is not None:
            parts.append(f"snapshots={self.waveforms.data.shape[0]}")
        if self.events is not None:
            parts.append(f"events={self.events.height}")
        if self.fault_class is not None:
            parts.append(f"fault_class={self.fault_class!r}")
        return f"Run({', '.join(parts)})"
