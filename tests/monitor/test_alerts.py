"""Alert hysteresis: opens only on sustained risk, does not flap, clears after a quiet run."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phm.monitor.alerts import AlertPolicy, AlertState, risk_score, step

POLICY = AlertPolicy()


def run(risks: list[float]) -> tuple[list[str], list[str | None]]:
    state, levels, actions = AlertState(), [], []
    for r in risks:
        state, action = step(state, r, POLICY)
        levels.append(state.level)
        actions.append(action)
    return levels, actions


def test_sustained_risk_opens_escalates_and_clears() -> None:
    levels, actions = run([0.1, 0.6, 0.6, 0.9, 0.9, 0.5, 0.5, 0.1, 0.1, 0.1])
    assert actions == [
        None,
        None,
        "open_watch",
        None,
        "escalate",
        None,
        "deescalate",
        None,
        None,
        "clear",
    ]
    assert levels[-1] == "ok"


def test_wobbling_around_a_threshold_does_not_flap() -> None:
    _, actions = run([0.45, 0.55] * 20)  # never two evaluations in a row at or above 0.5
    assert actions == [None] * 40
    levels, actions = run([0.9, 0.9] + [0.7, 0.62, 0.7, 0.62] * 10)  # alarm, wobbling at 0.65
    assert actions.count("deescalate") == 0 and levels[-1] == "alarm"
    levels, actions = run([0.6, 0.6] + [0.2, 0.4] * 10)  # never 3 quiet evaluations in a row
    assert "clear" not in actions and levels[-1] == "watch"


def test_straight_to_alarm_and_risk_score() -> None:
    _, actions = run([0.95, 0.95])
    assert actions == [None, "open_alarm"]
    assert risk_score(0.9, None, POLICY) == pytest.approx(0.1)
    assert risk_score(None, 8.0, POLICY) == 1.0
    assert risk_score(None, 28.0, POLICY) == pytest.approx(0.5)
    assert risk_score(0.95, 100.0, POLICY) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="thresholds"):
        AlertPolicy(watch_on=0.9)


@given(st.lists(st.floats(0, 1), max_size=200))
def test_transitions_are_legal_and_confirmed(risks: list[float]) -> None:
    levels, actions = run(risks)
    prev = "ok"
    for i, (level, action) in enumerate(zip(levels, actions, strict=True)):
        if action in ("open_watch", "open_alarm", "escalate"):
            assert i >= 1 and risks[i] >= POLICY.watch_on and risks[i - 1] >= POLICY.watch_on
        if action == "clear":
            assert all(r < POLICY.clear_below for r in risks[i - 2 : i + 1])
        if action is None:
            assert level == prev
        prev = level
