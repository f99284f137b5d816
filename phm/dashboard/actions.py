"""The dashboard's writes: operator actions on alerts and assets, each checked on the server.

Every function takes the caller's login (`auth.Session`, None when anonymous) and refuses with
`auth.NotAllowedError` unless the session is valid and its role has the right
(`auth.RIGHTS`); the acting user is the session's login name, never a name typed into a form.
Each write goes through its own short-lived `StateStore` writer (the pages read through a
read-only one and never take the write lock) and lands in the audit trail
(phm.store.operator_log).
"""

from __future__ import annotations

from phm.dashboard.auth import Session, require
from phm.dashboard.queries import DashboardStore
from phm.store import operator_log
from phm.store.state import StateStore


def acknowledge(store: DashboardStore, session: Session | None, alert_id: int, note: str) -> str:
    """Acknowledge an alert with `note` as the session's user; returns the user name."""
    who = require(session, "acknowledge").user
    with StateStore(store.db_path) as writer:
        writer.acknowledge(int(alert_id), who, note)
    return who


def shelve(
    store: DashboardStore, session: Session | None, alert_id: int, reason: str, hours: float
) -> float:
    """Shelve an alert for `hours` with `reason`; returns the expiry (Unix s, wall)."""
    who = require(session, "shelve").user
    with StateStore(store.db_path) as writer:
        return operator_log.shelve(writer, int(alert_id), who, reason, float(hours) * 3600.0)


def unshelve(store: DashboardStore, session: Session | None, alert_id: int) -> None:
    """Return a shelved alert to the active list now."""
    who = require(session, "shelve").user
    with StateStore(store.db_path) as writer:
        operator_log.unshelve(writer, int(alert_id), who)


def set_out_of_service(
    store: DashboardStore, session: Session | None, asset_id: str, note: str
) -> None:
    """Take an asset out of service (engineers): its alarms are suppressed until it returns."""
    who = require(session, "out_of_service").user
    with StateStore(store.db_path) as writer:
        operator_log.set_out_of_service(writer, asset_id, who, note)


def return_to_service(
    store: DashboardStore, session: Session | None, asset_id: str, note: str = ""
) -> None:
    """Return an asset to service (engineers)."""
    who = require(session, "out_of_service").user
    with StateStore(store.db_path) as writer:
        operator_log.return_to_service(writer, asset_id, who, note)
