"""Root causes and data times as the alert pages read them from an alert's details."""

from __future__ import annotations

from phm.dashboard.alarm_queries import raised_at
from phm.dashboard.queries import alert_data_time, alerts_frame, root_causes
from phm.store.state import Alert


def alert(details: dict) -> Alert:
    return Alert(1, "pump-001", "condition", "alarm", "open", 0.0, 0.0, None, "m", details)


def test_root_causes_show_labels_most_probable_first_and_survive_bad_entries() -> None:
    details = {
        "root_causes": [
            {"cause": "c.a", "label": "cause A", "probability": 0.2, "path": ["c.a", "m.x"],
             "actions": ["a.one"], "action_labels": ["do one"]},
            {"cause": "c.b", "probability": 0.7, "actions": ["a.two"]},
            "not a cause",
        ]
    }  # fmt: skip
    causes = root_causes(alert(details))
    assert [c["cause"] for c in causes] == ["c.b", "cause A"]  # label when there is one
    assert causes[1]["actions"] == ["do one"] and causes[0]["actions"] == ["a.two"]
    assert causes[1]["path"] == ["c.a", "m.x"]
    assert root_causes(alert({})) == []


def test_a_staleness_alert_keeps_the_assets_data_time_apart_from_the_plants() -> None:
    # the staleness monitor stores both: raised at the plant's newest time, the asset's own
    # data stopped earlier; the card and the asset's alert table must not mix them up
    stale = alert({"data_time": 400.0, "plant_time": 1000.0})
    assert raised_at(stale) == 1000.0 and alert_data_time(stale) == 400.0
    assert alerts_frame([stale], now=2000.0)["data_time"].to_list() == [400.0]
    scored = alert({"data_time": 700.0})  # a model alert: one time, read the same by both
    assert raised_at(scored) == alert_data_time(scored) == 700.0
    assert alert_data_time(alert({"data_time": float("nan")})) is None
