"""The alarm tests' store: `store_fixture.build_store` plus alerts of every priority, a stale
pump and a users file (shared by the page tests and the browser tests)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from phm.dashboard.auth import add_user
from phm.store.state import StateStore
from tests.dashboards.store_fixture import FixtureStore, build_store

PASSWORDS = {"vic": "viewer-pass", "ana": "operator-pass", "eve": "engineer-pass"}
STALE_ASSET = "pump-005"  # its data stops 10 h before the others'


@dataclass
class AlarmStore:
    base: FixtureStore
    users: Path
    critical: int  # ion_mill-001: high consequence, RUL 2 h
    high: int  # pump-003: alarm, RUL 6 h

    @property
    def root(self) -> Path:
        return self.base.root


def build_alarm_store(root: Path, n_assets: int = 8) -> AlarmStore:
    """See the module doc; the fixture's own alerts (pump-001, pump-002) carry no stored
    priority (an older monitor's), so the page computes theirs."""
    base = build_store(root / "store", n_assets=n_assets, days=1.0)
    state = StateStore(base.root / "state.sqlite")
    now = base.now
    critical = state.open_alert(
        "ion_mill-001", "condition", "alarm", "alarm: flow-cool leak, RUL 2.0 h",
        {"rul": {"median": 2.0}, "data_time": now - 60}, at=now - 60, priority="critical",
    )  # fmt: skip
    high = state.open_alert(
        "pump-003", "condition", "alarm", "alarm: cavitation, RUL 6.0 h",
        {"rul": {"median": 6.0}, "data_time": now - 1200}, at=now - 1200, priority="high",
    )  # fmt: skip
    with sqlite3.connect(base.root / "state.sqlite") as conn:
        conn.execute(
            "DELETE FROM predictions WHERE asset_id = ? AND time > ?", (STALE_ASSET, now - 36000)
        )
    users = root / "users.toml"
    for name, role in (("vic", "viewer"), ("ana", "operator"), ("eve", "engineer")):
        add_user(users, name, role, PASSWORDS[name])
    return AlarmStore(base, users, critical, high)
