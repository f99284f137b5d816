"""Shelving, out-of-service and the audit trail in a real SQLite state store; the alert
priority column migrated onto a store written before it existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from phm.plant import load_plant
from phm.store import operator_log as ol
from phm.store.state import StateStore, UnknownAlertError

T0 = 1_700_000_000.0


@pytest.fixture
def store(state_at) -> StateStore:
    s = StateStore(state_at)
    s.register_assets(load_plant(assets=4))
    return s


def test_shelf_hides_until_expiry_or_unshelve_and_is_audited(store: StateStore) -> None:
    a = store.open_alert("pump-001", "condition", "watch", "w", at=T0, priority="low")
    expires = ol.shelve(store, a, "ana", "sensor swap at 14:00", 3600.0, at=T0 + 10)
    assert expires == T0 + 3610
    assert set(ol.shelves(store, now=T0 + 3000)) == {a}
    assert ol.shelves(store, now=T0 + 3610) == {}  # expired: back on the active list
    ol.shelve(store, a, "bo", "again", 600.0, at=T0 + 4000)
    ol.unshelve(store, a, "bo", at=T0 + 4100)
    assert ol.shelves(store, now=T0 + 4200) == {}
    trail = ol.actions(store)
    assert [(x.action, x.by, x.alert_id, x.asset_id) for x in trail] == [
        ("unshelve", "bo", a, "pump-001"),
        ("shelve", "bo", a, "pump-001"),
        ("shelve", "ana", a, "pump-001"),
    ]
    assert trail[-1].note == "sensor swap at 14:00 (for 3600 s)"


@pytest.mark.parametrize(
    ("by", "reason", "duration", "error"),
    [
        ("", "r", 60.0, ValueError),
        ("ana", " ", 60.0, ValueError),
        ("ana", "r", 0.0, ValueError),
        ("ana", "r", 8 * 86400.0, ValueError),  # longer than MAX_SHELVE_S
    ],
)
def test_shelve_refuses_bad_input(store: StateStore, by, reason, duration, error) -> None:
    a = store.open_alert("pump-001", "condition", "watch", "w", at=T0)
    with pytest.raises(error):
        ol.shelve(store, a, by, reason, duration, at=T0)
    assert ol.actions(store) == []


def test_shelving_an_unknown_alert_names_it(store: StateStore) -> None:
    with pytest.raises(UnknownAlertError, match="no alert with id 99"):
        ol.shelve(store, 99, "ana", "r", 60.0)


def test_out_of_service_until_returned_and_audited(store: StateStore) -> None:
    ol.set_out_of_service(store, "pump-002", "eve", "seal change", at=T0)
    ol.set_out_of_service(store, "pump-002", "eve", "still on it", at=T0 + 5)  # no second row
    assert list(ol.out_of_service(store)) == ["pump-002"]
    assert ol.out_of_service(store)["pump-002"].note == "seal change"
    ol.return_to_service(store, "pump-002", "eve", "done", at=T0 + 60)
    assert ol.out_of_service(store) == {}
    assert [x.action for x in ol.actions(store)] == [
        "return_to_service",
        "out_of_service",
        "out_of_service",
    ]
    with pytest.raises(KeyError, match="pump-999"):
        ol.set_out_of_service(store, "pump-999", "eve", "x")


def test_acknowledgement_lands_in_the_audit_trail(store: StateStore) -> None:
    a = store.open_alert("pump-003", "condition", "alarm", "a", at=T0, priority="high")
    store.acknowledge(a, "ana", "bearing ordered", at=T0 + 1)
    (row,) = ol.actions(store)
    assert (row.at, row.by, row.action, row.alert_id, row.asset_id, row.note) == (
        T0 + 1, "ana", "acknowledge", a, "pump-003", "bearing ordered",
    )  # fmt: skip


def test_priority_is_stored_and_refreshed(store: StateStore) -> None:
    a = store.open_alert("pump-001", "condition", "watch", "w", at=T0, priority="low")
    assert store.alerts()[0].priority == "low"
    store.update_alert(a, severity="alarm", at=T0 + 1, priority="critical")
    store.update_alert(a, message="m", at=T0 + 2)  # no priority given: kept
    assert store.alerts()[0].priority == "critical"


def test_an_older_store_gets_the_priority_column_and_the_new_tables(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    StateStore(path).open_alert("pump-001", "condition", "alarm", "old", at=T0)
    with sqlite3.connect(path) as conn:  # back to the store as the release before wrote it
        conn.execute("ALTER TABLE alerts DROP COLUMN priority")
        for table in ("shelves", "out_of_service", "operator_actions"):
            conn.execute(f"DROP TABLE {table}")
    reader = StateStore(path, readonly=True)  # before the migration: reads, no priority
    assert reader.alerts()[0].priority is None
    assert ol.shelves(reader) == {} and ol.actions(reader) == []
    StateStore(path)  # a writer's open migrates
    assert StateStore(path, readonly=True).alerts()[0].priority is None
    with sqlite3.connect(path) as conn:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(alerts)")}
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "priority" in cols
    assert {"shelves", "out_of_service", "operator_actions"} <= tables
