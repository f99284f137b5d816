"""phm.store: the lake (Parquet segments of decoded batches) and the state store (SQLite).

See docs/live-path.md, section "Store".
"""

from phm.store.lake import Lake, LakeWriter, Segment, compact
from phm.store.state import Alert, DeadLetter, Prediction, StateStore, UnknownAlertError

__all__ = [
    "Alert",
    "DeadLetter",
    "Lake",
    "LakeWriter",
    "Prediction",
    "Segment",
    "StateStore",
    "UnknownAlertError",
    "compact",
]
