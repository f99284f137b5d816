"""What operators do to alarms, after ISA-18.2: shelving, out-of-service, and the audit trail.

- Shelving hides one alert from the active list until its expiry (wall time) or until it is
  unshelved; then it returns. A shelf always has a reason and an expiry.
- Out-of-service suppresses every alarm of one asset (maintenance, a planned stop) until it
  is returned to service; its alarms stay stored and are shown as suppressed.
- The audit trail (`operator_actions`) holds every action: who, when (Unix s, wall), what
  (ACTIONS), on which alert and/or asset, and the note or reason. Acknowledgements are written
  there by `StateStore.acknowledge` in its own transaction; every function here writes its
  row in the transaction of the action.

Tables of phm.store.state (created with the store). Readers of a store written before these
tables existed, opened read-only, see no shelves, no out-of-service assets and no actions.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from phm.store.state import StateStore, UnknownAlertError

ACTIONS = ("acknowledge", "shelve", "unshelve", "out_of_service", "return_to_service")
MAX_SHELVE_S = 7 * 86400.0  # a shelf longer than a week is a design problem, not an operator's


@dataclass(frozen=True)
class Shelf:
    """An alert shelved by `by` for `reason`, from `at` until `expires_at` (Unix s)."""

    alert_id: int
    by: str
    reason: str
    at: float
    expires_at: float


@dataclass(frozen=True)
class OutOfService:
    """An asset taken out of service by `by` with `note` at `at` (Unix s)."""

    asset_id: str
    by: str
    note: str
    at: float


@dataclass(frozen=True)
class OperatorAction:
    """One row of the audit trail."""

    at: float
    by: str
    action: str
    alert_id: int | None
    asset_id: str | None
    note: str


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name!r} must be a non-empty string, got {value!r}")
    return value.strip()


def _audit(
    conn: sqlite3.Connection,
    at: float,
    by: str,
    action: str,
    alert_id: int | None,
    asset_id: str | None,
    note: str,
) -> None:
    conn.execute(
        "INSERT INTO operator_actions (at, by_name, action, alert_id, asset_id, note) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (at, by, action, alert_id, asset_id, note),
    )


def _alert_asset(conn: sqlite3.Connection, state: StateStore, alert_id: int) -> str:
    row = conn.execute("SELECT asset_id FROM alerts WHERE id = ?", (int(alert_id),)).fetchone()
    if row is None:
        raise UnknownAlertError(f"{state.path}: no alert with id {alert_id}")
    return str(row[0])


def shelve(
    state: StateStore,
    alert_id: int,
    by: str,
    reason: str,
    duration_s: float,
    at: float | None = None,
) -> float:
    """Shelve an alert for `duration_s` seconds (0 < duration <= MAX_SHELVE_S) with a
    reason; a shelf already on it ends first. Returns the expiry (Unix s)."""
    by, reason = _text("by", by), _text("reason", reason)
    if not 0 < float(duration_s) <= MAX_SHELVE_S:
        raise ValueError(f"shelve duration {duration_s!r} s: expected (0, {MAX_SHELVE_S:g}]")
    at = time.time() if at is None else float(at)
    expires = at + float(duration_s)
    with state.transaction() as conn:
        asset = _alert_asset(conn, state, alert_id)
        conn.execute(
            "UPDATE shelves SET ended_at = ? WHERE alert_id = ? AND ended_at IS NULL",
            (at, int(alert_id)),
        )
        conn.execute(
            "INSERT INTO shelves (alert_id, by_name, reason, at, expires_at, ended_at) "
            "VALUES (?, ?, ?, ?, ?, NULL)",
            (int(alert_id), by, reason, at, expires),
        )
        _audit(conn, at, by, "shelve", int(alert_id), asset, f"{reason} (for {duration_s:g} s)")
    return expires


def unshelve(state: StateStore, alert_id: int, by: str, at: float | None = None) -> None:
    """End the alert's shelf now (it returns to the active list)."""
    by = _text("by", by)
    at = time.time() if at is None else float(at)
    with state.transaction() as conn:
        asset = _alert_asset(conn, state, alert_id)
        conn.execute(
            "UPDATE shelves SET ended_at = ? WHERE alert_id = ? AND ended_at IS NULL",
            (at, int(alert_id)),
        )
        _audit(conn, at, by, "unshelve", int(alert_id), asset, "")


def set_out_of_service(
    state: StateStore, asset_id: str, by: str, note: str, at: float | None = None
) -> None:
    """Take an asset out of service: its alarms are suppressed until it returns. Taking an
    asset already out of service again only adds to the audit trail."""
    asset_id, by, note = _text("asset", asset_id), _text("by", by), _text("note", note)
    at = time.time() if at is None else float(at)
    with state.transaction() as conn:
        known = conn.execute("SELECT 1 FROM assets WHERE asset_id = ?", (asset_id,)).fetchone()
        if known is None:
            raise KeyError(f"{state.path}: no registered asset {asset_id!r}")
        live = conn.execute(
            "SELECT 1 FROM out_of_service WHERE asset_id = ? AND ended_at IS NULL", (asset_id,)
        ).fetchone()
        if live is None:
            conn.execute(
                "INSERT INTO out_of_service (asset_id, by_name, note, at, ended_at) "
                "VALUES (?, ?, ?, ?, NULL)",
                (asset_id, by, note, at),
            )
        _audit(conn, at, by, "out_of_service", None, asset_id, note)


def return_to_service(
    state: StateStore, asset_id: str, by: str, note: str = "", at: float | None = None
) -> None:
    """Return an asset to service: its alarms show again."""
    by = _text("by", by)
    at = time.time() if at is None else float(at)
    with state.transaction() as conn:
        conn.execute(
            "UPDATE out_of_service SET ended_at = ? WHERE asset_id = ? AND ended_at IS NULL",
            (at, asset_id),
        )
        _audit(conn, at, by, "return_to_service", None, asset_id, note.strip())


def _rows(state: StateStore, sql: str, args: tuple = ()) -> list[tuple]:
    try:
        return state._conn().execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:  # a read-only store older than these tables
        if "no such table" not in str(exc):
            raise
        return []


def shelves(state: StateStore, now: float | None = None) -> dict[int, Shelf]:
    """The shelves in force at `now` (not ended, not expired), by alert id."""
    now = time.time() if now is None else float(now)
    rows = _rows(
        state,
        "SELECT alert_id, by_name, reason, at, expires_at FROM shelves "
        "WHERE ended_at IS NULL AND expires_at > ? ORDER BY at",
        (now,),
    )
    return {int(r[0]): Shelf(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows}


def out_of_service(state: StateStore) -> dict[str, OutOfService]:
    """The assets out of service now, by id."""
    rows = _rows(
        state,
        "SELECT asset_id, by_name, note, at FROM out_of_service WHERE ended_at IS NULL ORDER BY at",
    )
    return {r[0]: OutOfService(r[0], r[1], r[2], r[3]) for r in rows}


def actions(state: StateStore, limit: int = 200) -> list[OperatorAction]:
    """The newest `limit` rows of the audit trail, newest first."""
    rows = _rows(
        state,
        "SELECT at, by_name, action, alert_id, asset_id, note FROM operator_actions "
        "ORDER BY at DESC, id DESC LIMIT ?",
        (int(limit),),
    )
    return [OperatorAction(*r) for r in rows]
