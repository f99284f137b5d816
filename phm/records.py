"""Records every layer passes around, free of any I/O:

- `Batch`: one decoded payload of one asset's stream (`phm.wire.codec` decodes it,
  `phm.store.lake` writes it);
- what the state store keeps (`phm.store.state.StateStore` reads and writes them): dead
  letters, predictions, alerts and their acknowledgements.
"""

from __future__ import annotations

import hashlib
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


SEVERITIES = ("watch", "alarm")
STATUSES = ("open", "acknowledged", "cleared")


@dataclass(frozen=True)
class DeadLetter:
    """A message ingest could not accept: when (Unix s), its topic, why, and its raw bytes.

    `size` and `sha256` (hex) describe the whole payload; `payload` may hold only its first
    bytes (the plant's `dead_letter_keep_bytes`): `truncated` says so."""

    received_at: float
    topic: str
    reason: str
    detail: str
    payload: bytes
    size: int = -1  # -1: len(payload)
    sha256: str = ""  # "": computed from payload

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.payload))
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.payload).hexdigest())

    @property
    def truncated(self) -> bool:
        """True when only the first bytes of the payload are stored."""
        return len(self.payload) < self.size

    def kept(self, keep_bytes: int) -> DeadLetter:
        """This dead letter with at most `keep_bytes` of its payload (size and hash kept)."""
        if len(self.payload) <= keep_bytes:
            return self
        return DeadLetter(
            self.received_at,
            self.topic,
            self.reason,
            self.detail,
            self.payload[:keep_bytes],
            self.size,
            self.sha256,
        )


@dataclass
class Prediction:
    """One scoring of one asset: fault probabilities, RUL (median and 90% interval, in the
    model's time unit), health in [0, 1], expert loads (layers x experts)."""

    asset_id: str
    time: float
    model: str
    fault_probs: dict[str, float]
    rul_median: float | None
    rul_lower: float | None
    rul_upper: float | None
    health: float | None
    expert_load: list[list[float]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Acknowledgement:
    """An operator's acknowledgement of an alert."""

    by: str
    note: str
    at: float


@dataclass
class Alert:
    """An alert and its acknowledgements, oldest first."""

    alert_id: int
    asset_id: str
    kind: str
    severity: str
    status: str
    opened_at: float
    updated_at: float
    cleared_at: float | None
    message: str
    details: dict[str, Any]
    acknowledgements: list[Acknowledgement] = field(default_factory=list)
    # ISA-18.2 priority (phm.monitor.priority: PRIORITIES); None for alerts of older monitors
    priority: str | None = None


@dataclass(frozen=True)
class AlertVersion:
    """One recorded version of an alert (its history): what it showed from `at` (Unix s)."""

    alert_id: int
    at: float
    severity: str
    status: str
    message: str
    details: dict[str, Any]


def alert_root_causes(details: Any) -> list[dict[str, Any]]:
    """An alert's ranked root causes (`details["root_causes"]`, written by the monitor: cause,
    label, probability, path, actions, action_labels) as {cause (its label when it has one),
    id, probability, path, actions (labels when present)}, most probable first; [] when no
    analysis is attached. Malformed entries keep what they have, so a partial analysis shows."""
    raw = details.get("root_causes") if isinstance(details, dict) else None
    if not isinstance(raw, list):
        return []
    out = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        prob = item.get("probability")
        out.append(
            {
                "cause": str(item.get("label") or item.get("cause", "?")),
                "id": str(item.get("cause", "?")),
                "probability": float(prob) if isinstance(prob, int | float) else None,
                "path": [str(n) for n in item.get("path") or []],
                # the graph's labels beside the ids; alerts of older monitors lack them
                "actions": [str(a) for a in item.get("action_labels") or item.get("actions") or []],
            }
        )
    return sorted(out, key=lambda c: -(c["probability"] or 0.0))
