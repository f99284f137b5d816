"""The alert history: a version at opening, at each kept change, and at clearing."""

from __future__ import annotations

from phm.store.state import StateStore


def test_versions_are_kept_only_when_asked_and_read_oldest_first(state_at) -> None:
    state = StateStore(state_at)
    a = state.open_alert("pump-001", "condition", "watch", "watch: imbalance", {"mode": "x"}, at=1)
    state.update_alert(a, message="watch: imbalance, RUL 9.9 h", at=2, keep_version=False)
    state.update_alert(a, severity="alarm", message="alarm: looseness", details={"mode": "y"}, at=3)
    state.clear_alert(a, at=4)
    versions = state.alert_history(a)
    assert [(v.at, v.severity, v.status) for v in versions] == [
        (1.0, "watch", "open"),
        (3.0, "alarm", "open"),
        (4.0, "alarm", "cleared"),
    ]
    assert [v.message for v in versions] == ["watch: imbalance", *["alarm: looseness"] * 2]
    assert versions[1].details == {"mode": "y"}
    # the refresh that kept no version still changed the alert itself
    assert StateStore(state_at, readonly=True).alert_history(a) == versions
    assert state.alert_history(999) == []
