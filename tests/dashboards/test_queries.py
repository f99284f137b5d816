"""Root causes as the alerts page reads them from an alert's details."""

from __future__ import annotations

from phm.dashboard.queries import root_causes
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
