"""Alert logic: a risk score per asset becomes watch / alarm alerts with hysteresis.

An alert opens (or escalates) only after the risk has stayed above the threshold for `confirm`
consecutive evaluations, de-escalates below a lower threshold than the one that raised it, and
clears only after `clear_after` evaluations below `clear_below`, so a score wobbling around a
threshold does not make alerts flap.

Risk in [0, 1] (`risk_score`): the larger of the fault evidence (1 - P(healthy)) and the RUL
urgency (1 when the RUL median is at or below `alarm_rul`, falling linearly to 0 at
`watch_rul` and above).
"""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("ok", "watch", "alarm")


@dataclass(frozen=True)
class AlertPolicy:
    """Thresholds of the hysteresis; RUL thresholds in the model's RUL unit (hours here)."""

    watch_on: float = 0.5  # risk that opens a watch
    alarm_on: float = 0.8  # risk that escalates to alarm
    alarm_off: float = 0.65  # an alarm drops back to watch below this
    clear_below: float = 0.3  # risk under which an alert may clear ...
    clear_after: int = 3  # ... after this many consecutive evaluations
    confirm: int = 2  # consecutive evaluations above a threshold before acting
    watch_rul: float = 48.0  # RUL median at or above this adds no urgency
    alarm_rul: float = 8.0  # RUL median at or below this is full urgency

    def __post_init__(self) -> None:
        if not 0 <= self.clear_below < self.watch_on <= self.alarm_off < self.alarm_on <= 1:
            raise ValueError(
                "alert thresholds must satisfy 0 <= clear_below < watch_on <= alarm_off < "
                f"alarm_on <= 1, got {self}"
            )
        if self.confirm < 1 or self.clear_after < 1:
            raise ValueError("confirm and clear_after must be at least 1")
        if self.alarm_rul >= self.watch_rul:
            raise ValueError("alarm_rul must be below watch_rul")


@dataclass
class AlertState:
    """Where one asset stands: its level and the run lengths the hysteresis counts."""

    level: str = "ok"
    above: int = 0  # consecutive evaluations above the threshold of the next level up
    below: int = 0  # consecutive evaluations below clear_below (or alarm_off in alarm)


def risk_score(p_healthy: float | None, rul_median: float | None, policy: AlertPolicy) -> float:
    """max(1 - P(healthy), RUL urgency); a missing part counts as no evidence."""
    fault = 0.0 if p_healthy is None else min(1.0, max(0.0, 1.0 - p_healthy))
    urgency = 0.0
    if rul_median is not None:
        span = policy.watch_rul - policy.alarm_rul
        urgency = min(1.0, max(0.0, (policy.watch_rul - rul_median) / span))
    return max(fault, urgency)


def step(state: AlertState, risk: float, policy: AlertPolicy) -> tuple[AlertState, str | None]:
    """One evaluation: the new state and the action to take on the asset's alert.

    Actions: "open_watch", "open_alarm" (from ok), "escalate" (watch -> alarm),
    "deescalate" (alarm -> watch), "clear" (-> ok), or None.
    """
    level, above, below = state.level, state.above, state.below
    if level == "ok":
        above = above + 1 if risk >= policy.watch_on else 0
        if above >= policy.confirm:
            new = "alarm" if risk >= policy.alarm_on else "watch"
            return AlertState(new, 0, 0), f"open_{new}"
        return AlertState("ok", above, 0), None
    below = below + 1 if risk < policy.clear_below else 0
    if below >= policy.clear_after:
        return AlertState("ok", 0, 0), "clear"
    if level == "watch":
        above = above + 1 if risk >= policy.alarm_on else 0
        if above >= policy.confirm:
            return AlertState("alarm", 0, below), "escalate"
        return AlertState("watch", above, below), None
    # alarm: drop to watch only when clearly lower, and not straight to ok
    above = above + 1 if risk < policy.alarm_off else 0
    if above >= policy.confirm:
        return AlertState("watch", 0, below), "deescalate"
    return AlertState("alarm", above, below), None
