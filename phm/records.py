"""Records every layer passes around, free of any I/O: `Batch`, one decoded payload of one
asset's stream (`phm.wire.codec` decodes it, `phm.store.lake` writes it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Batch:
    """A decoded payload of one asset's stream."""

    asset: str
    stream: str
    seq: int
    t0: float
    dt: float
    channels: tuple[str, ...]
    values: np.ndarray  # (n, C) rows, (n, C, L) snapshots, (0, 0) events; float32
    fs: float = 0.0
    event: dict[str, Any] = field(default_factory=dict)

    @property
    def times(self) -> np.ndarray:
        """(n,) float64 Unix seconds of the rows or snapshots."""
        return self.t0 + self.dt * np.arange(self.values.shape[0], dtype=np.float64)

    @property
    def readings(self) -> int:
        """Values carried: rows x channels, or snapshots x channels x samples."""
        return int(self.values.size)
