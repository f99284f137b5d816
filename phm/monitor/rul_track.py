"""The displayed RUL of an asset with fault evidence: it falls with plant time and reaches 0.

A model scores each window on its own, so a pump past its failure time can keep getting
"about 5 h" for days. What the operator reads is instead a tracked estimate, started when the
asset's alert opens and dropped when it clears (an asset without fault evidence has an
open-ended RUL, None):

- between scorings it ages with the asset's data time: the last median minus the elapsed
  time, floored at 0 (`RulTrack.at`);
- at a scoring, the aged estimate moves towards the model's new median by `weight` of the way
  when the model says less (the default, 1: it takes the model's lower median), and never
  rises (the model saying more than the aged estimate is not taken as the asset getting
  younger), so it falls monotonically while the alert is open;
- at 0 the asset is failed (`RulTrack.failed`), shown as such instead of a number.

The 90% bounds follow the same rule, each clipped to keep lower <= median <= upper. Times are
Unix seconds of the asset's data, RUL in hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HOUR_S = 3600.0
# share of the way from the aged estimate to a lower model median; chosen on validation pumps
# (scripts/i18/story_track_validation.py, docs/i18/story.md): 1 had the least RUL error
TRACK_WEIGHT = 1.0


@dataclass(frozen=True)
class RulTrack:
    """A tracked RUL (hours) as of data time `time` (s); None bounds are open-ended."""

    time: float
    median: float
    lower: float | None
    upper: float | None

    @property
    def failed(self) -> bool:
        """True once the tracked median has reached 0."""
        return self.median <= 0.0

    def at(self, t: float) -> RulTrack:
        """The estimate aged to data time `t` (s): every bound minus the elapsed hours,
        floored at 0 (a `t` before `time` ages nothing)."""
        gone = max(0.0, t - self.time) / HOUR_S
        return RulTrack(
            max(t, self.time),
            max(0.0, self.median - gone),
            None if self.lower is None else max(0.0, self.lower - gone),
            None if self.upper is None else max(0.0, self.upper - gone),
        )

    def as_details(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "median": self.median,
            "lower": self.lower,
            "upper": self.upper,
            "failed": self.failed,
        }

    @classmethod
    def from_details(cls, d: Any) -> RulTrack | None:
        """The track an alert's `details["rul"]` holds (None when absent or malformed)."""
        if not isinstance(d, dict) or not isinstance(d.get("median"), int | float):
            return None
        if not isinstance(d.get("time"), int | float):
            return None
        lower, upper = d.get("lower"), d.get("upper")
        return cls(
            float(d["time"]),
            float(d["median"]),
            float(lower) if isinstance(lower, int | float) else None,
            float(upper) if isinstance(upper, int | float) else None,
        )


def _blend(aged: float | None, new: float | None, weight: float) -> float | None:
    if aged is None:
        return new
    if new is None or new >= aged:
        return aged
    return aged + weight * (new - aged)


def track_rul(
    prev: RulTrack | None,
    t: float,
    median: float | None,
    lower: float | None,
    upper: float | None,
    weight: float = TRACK_WEIGHT,
) -> RulTrack | None:
    """The tracked RUL after a scoring at data time `t` (s) that gave `median` and its 90%
    bounds (hours; None: beyond the model's horizon). Without `prev` the scoring starts the
    track (None when it has no median either)."""
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"track weight must be in (0, 1], got {weight}")
    if prev is None:
        if median is None:
            return None
        med = max(0.0, float(median))
        lo = None if lower is None else min(max(0.0, float(lower)), med)
        hi = None if upper is None else max(float(upper), med)
        return RulTrack(float(t), med, lo, hi)
    aged = prev.at(t)
    med = _blend(aged.median, median, weight)
    assert med is not None
    lo = _blend(aged.lower, lower, weight)
    hi = _blend(aged.upper, upper, weight)
    lo = None if lo is None else min(lo, med)
    hi = None if hi is None else max(hi, med)
    return RulTrack(aged.time, med, lo, hi)


def rul_text(track: RulTrack | None) -> str:
    """`4.2 h (90% 0.0-12.1 h)`, `failed`, or `open` (no fault evidence)."""
    if track is None:
        return "open"
    if track.failed:
        return "failed (RUL reached 0)"

    def f(x: float | None) -> str:
        return "open" if x is None else f"{x:.1f}"

    return f"{track.median:.1f} h (90% {f(track.lower)}-{f(track.upper)} h)"
