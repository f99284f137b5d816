"""Alarm priority after ISA-18.2: from the consequence of the failure and the time to respond.

ISA-18.2 (and EEMUA 191) rank an alarm by how bad the consequence is if nobody acts and how
soon someone must act. Here:

- consequence: the asset type's `consequence` in the plant TOML ("low", "medium" (default),
  "high"; `phm.plant.CONSEQUENCES`);
- time to respond, from the time to failure (the alert's displayed RUL median, hours):
  "prompt" at or below the policy's `alarm_rul` (8 h) or once failed, "soon" at or below its
  `watch_rul` (48 h), else "delayed"; an alert of severity alarm is at least "soon" (its fault
  evidence is strong even where the RUL is open), a lost-communication alarm too.

                       delayed    soon       prompt
    consequence low    low        low        medium
    consequence medium low        medium     high
    consequence high   medium     high       critical

PRIORITIES lists them most urgent first; `priority_rank` sorts by it.
"""

from __future__ import annotations

from phm.monitor.alerts import AlertPolicy
from phm.plant import CONSEQUENCES, DEFAULT_CONSEQUENCE

PRIORITIES = ("critical", "high", "medium", "low")  # most urgent first
URGENCIES = ("delayed", "soon", "prompt")
_MATRIX = {  # consequence -> priority per URGENCIES
    "low": ("low", "low", "medium"),
    "medium": ("low", "medium", "high"),
    "high": ("medium", "high", "critical"),
}


def urgency(
    severity: str,
    rul_median: float | None,
    failed: bool = False,
    policy: AlertPolicy | None = None,
) -> str:
    """How soon someone must act (URGENCIES) given the severity and the RUL median (h)."""
    policy = policy or AlertPolicy()
    if failed or (rul_median is not None and rul_median <= policy.alarm_rul):
        return "prompt"
    if severity == "alarm" or (rul_median is not None and rul_median <= policy.watch_rul):
        return "soon"
    return "delayed"


def priority(
    severity: str,
    consequence: str | None,
    rul_median: float | None,
    failed: bool = False,
    policy: AlertPolicy | None = None,
) -> str:
    """The ISA-18.2 priority (PRIORITIES) of an alert of `severity` on an asset whose type has
    `consequence` (None: the default, medium), with RUL median `rul_median` hours."""
    consequence = DEFAULT_CONSEQUENCE if consequence is None else consequence
    if consequence not in CONSEQUENCES:
        raise ValueError(f"consequence {consequence!r}: expected one of {CONSEQUENCES}")
    row = _MATRIX[consequence]
    return row[URGENCIES.index(urgency(severity, rul_median, failed, policy))]


def priority_rank(p: str | None) -> int:
    """0 for critical .. 3 for low; 4 for an alert without a priority (older monitors)."""
    return PRIORITIES.index(p) if p in PRIORITIES else len(PRIORITIES)
