"""The alarm-management views as plain data (no Streamlit): alerts by priority with their
operator state, the flood summary, the audit trail, and the fleet's alarm and data columns.

Operator state of an alert (STATES): "out of service" (its asset is), "shelved" (until the
shelf's expiry, wall time), "acknowledged", "unacknowledged" (open), or "cleared". The active
list is the unacknowledged and acknowledged alerts, by priority (phm.monitor.priority,
critical first) then age (the longest waiting first).

Flood (ISA-18.2 / EEMUA 191): more than FLOOD_PER_10MIN alerts raised in any 10 minutes per
operator on shift (`operators`, from `phm dashboard --operators`, default 1). Times of the
flood summary are plant (data) time: an alert counts at the data time it was raised on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from phm.dashboard.queries import DashboardStore
from phm.monitor.priority import PRIORITIES, priority, priority_rank
from phm.monitor.staleness import DataState, data_states
from phm.plant import AlarmLimits
from phm.store import operator_log
from phm.store.operator_log import OutOfService, Shelf
from phm.store.state import Alert

STATES = ("unacknowledged", "acknowledged", "shelved", "out of service", "cleared")
PRIORITY_BADGE = {
    "critical": "🟥 critical",
    "high": "🟧 high",
    "medium": "🟨 medium",
    "low": "🟦 low",
}
# fleet statuses beside phm.dashboard.ui.BADGE's: never a green ok on old data or a stopped asset
STATUS_BADGE = {"stale": "🟣 stale data", "out of service": "🚧 out of service"}
FLOOD_PER_10MIN = 10  # EEMUA 191 / ISA-18.2: more than this per 10 min per operator is a flood
FLOOD_WINDOW_S = 600.0
SUMMARY_SPAN_S = 86400.0  # the flood summary covers the last 24 h of plant time


@dataclass
class AlarmView:
    """One alert as the alerts page shows it."""

    alert: Alert
    priority: str
    state: str
    shelf: Shelf | None
    out_of_service: OutOfService | None

    @property
    def acknowledged_by(self) -> str | None:
        acks = self.alert.acknowledgements
        return acks[-1].by if acks else None

    def state_text(self) -> str:
        """The state in words, e.g. `acknowledged by ana`, `shelved until 14:05 UTC by bo`."""
        if self.state == "out of service" and self.out_of_service is not None:
            return f"out of service (asset, by {self.out_of_service.by})"
        if self.state == "shelved" and self.shelf is not None:
            until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.shelf.expires_at))
            return f"shelved until {until} by {self.shelf.by}: {self.shelf.reason}"
        if self.acknowledged_by and self.state == "acknowledged":
            return f"acknowledged by {self.acknowledged_by}"
        if self.acknowledged_by and self.state == "cleared":
            return f"cleared, acknowledged by {self.acknowledged_by}"
        return self.state


def alert_priority(alert: Alert, consequence: str | None) -> str:
    """The stored priority, or (an alert of an older monitor) the one its severity, its
    asset type's consequence and its displayed RUL give."""
    if alert.priority in PRIORITIES:
        return alert.priority
    rul = alert.details.get("rul") if isinstance(alert.details.get("rul"), dict) else {}
    return priority(alert.severity, consequence, rul.get("median"), bool(rul.get("failed")))


def alarm_views(
    store: DashboardStore,
    asset: str | None = None,
    now: float | None = None,
    live_only: bool = False,
) -> list[AlarmView]:
    """Every alert (of `asset`; `live_only`: not cleared) with its priority and operator state
    at wall time `now`, by priority then age (oldest first); cleared ones last, newest first."""
    now = time.time() if now is None else now
    plant = store.plant()
    shelves = operator_log.shelves(store.state, now)
    oos = operator_log.out_of_service(store.state)
    views = []
    if live_only:
        alerts = store.state.alerts("open", asset) + store.state.alerts("acknowledged", asset)
    else:
        alerts = store.state.alerts(asset=asset)
    for a in alerts:
        kind = plant.assets[a.asset_id].type if a.asset_id in plant.assets else None
        consequence = plant.types[kind].consequence if kind in plant.types else None
        if a.status == "cleared":
            state = "cleared"
        elif a.asset_id in oos:
            state = "out of service"
        elif a.alert_id in shelves:
            state = "shelved"
        else:
            state = "acknowledged" if a.status == "acknowledged" else "unacknowledged"
        views.append(
            AlarmView(
                a,
                alert_priority(a, consequence),
                state,
                shelves.get(a.alert_id),
                oos.get(a.asset_id),
            )
        )
    live = [v for v in views if v.state != "cleared"]
    live.sort(key=lambda v: (priority_rank(v.priority), v.alert.opened_at, v.alert.alert_id))
    cleared = [v for v in views if v.state == "cleared"]
    cleared.sort(key=lambda v: -(v.alert.cleared_at or v.alert.updated_at))
    return live + cleared


def by_state(views: list[AlarmView]) -> dict[str, list[AlarmView]]:
    """The views grouped: "active" (unacknowledged and acknowledged), "shelved",
    "out of service", "cleared"; each keeps the order of `views`."""
    groups: dict[str, list[AlarmView]] = {
        "active": [],
        "shelved": [],
        "out of service": [],
        "cleared": [],
    }
    for v in views:
        groups["active" if v.state in ("unacknowledged", "acknowledged") else v.state].append(v)
    return groups


# -- flood summary ---------------------------------------------------------------------------


def raised_at(alert: Alert) -> float:
    """The plant (data) time an alert was raised on: the data time of the scoring that opened
    it (`details["plant_time"]` or `["data_time"]`), else its opening time."""
    d = alert.details if isinstance(alert.details, dict) else {}
    for key in ("plant_time", "data_time"):
        value = d.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
    return alert.opened_at


def plant_time(store: DashboardStore, now: float | None = None) -> float:
    """The plant's newest data time (segments and predictions); `now` (wall) without data."""
    t = [x for x, _ in store.state.data_times().values()]
    t += [p for (p,) in store.read_sql("SELECT max(time) FROM predictions") if p is not None]
    return max(t) if t else (time.time() if now is None else now)


@dataclass
class FloodSummary:
    """Alerts raised over the `SUMMARY_SPAN_S` before `end` (plant time)."""

    end: float
    total: int
    hourly: pl.DataFrame  # hour (start, Unix s), alerts
    top_assets: pl.DataFrame  # asset, alerts (most first, at most 5)
    peak_10min: int  # the most alerts raised within any 10 minutes
    peak_at: float | None  # the start of that 10-minute window
    operators: int
    flood: bool  # peak_10min / operators > FLOOD_PER_10MIN


def flood_summary(
    store: DashboardStore, operators: int = 1, end: float | None = None
) -> FloodSummary:
    """The flood summary of the last 24 h of plant time before `end` (default the plant's
    newest data time); see the module doc for the flood rule."""
    if operators < 1:
        raise ValueError(f"operators must be at least 1, got {operators}")
    end = plant_time(store) if end is None else end
    start = end - SUMMARY_SPAN_S
    raised = [(raised_at(a), a.asset_id) for a in store.state.alerts()]
    raised = sorted((t, a) for t, a in raised if start <= t <= end)
    times = np.array([t for t, _ in raised])
    hours = np.minimum(((times - start) // 3600).astype(int), 23)
    counts = np.bincount(hours, minlength=24) if len(times) else np.zeros(24, int)
    hourly = pl.DataFrame(
        {"hour": [start + 3600.0 * h for h in range(24)], "alerts": counts.tolist()},
        schema={"hour": pl.Float64, "alerts": pl.Int64},
    )
    per_asset: dict[str, int] = {}
    for _, a in raised:
        per_asset[a] = per_asset.get(a, 0) + 1
    top = sorted(per_asset.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    top_assets = pl.DataFrame(
        {"asset": [a for a, _ in top], "alerts": [n for _, n in top]},
        schema={"asset": pl.Utf8, "alerts": pl.Int64},
    )
    peak, peak_at = 0, None
    if len(times):
        # alerts in [t_i, t_i + 10 min) for every i: the sliding window's maximum
        ends = np.searchsorted(times, times + FLOOD_WINDOW_S, side="left")
        inside = ends - np.arange(len(times))
        i = int(np.argmax(inside))
        peak, peak_at = int(inside[i]), float(times[i])
    return FloodSummary(
        end, len(raised), hourly, top_assets, peak, peak_at, operators,
        peak / operators > FLOOD_PER_10MIN,
    )  # fmt: skip


# -- audit trail -----------------------------------------------------------------------------


def audit_frame(store: DashboardStore, limit: int = 200) -> pl.DataFrame:
    """The newest `limit` operator actions, newest first: at (Unix s, wall), by, action,
    alert, asset, note."""
    rows = operator_log.actions(store.state, limit)
    return pl.DataFrame(
        {
            "at": [r.at for r in rows],
            "by": [r.by for r in rows],
            "action": [r.action for r in rows],
            "alert": [r.alert_id for r in rows],
            "asset": [r.asset_id for r in rows],
            "note": [r.note for r in rows],
        },
        schema={
            "at": pl.Float64,
            "by": pl.Utf8,
            "action": pl.Utf8,
            "alert": pl.Int64,
            "asset": pl.Utf8,
            "note": pl.Utf8,
        },
    )


# -- fleet and asset -------------------------------------------------------------------------


def _data_text(ds: DataState | None) -> str:
    if ds is None or ds.newest is None:
        return "no data"
    if ds.comms_lost:
        return f"comms lost ({ds.silent_s / 3600:.1f} h)" if ds.silent_s else "comms lost"
    if ds.stale:
        return f"stale ({(ds.lag_s or 0) / 3600:.1f} h behind)"
    return "fresh"


def asset_alarm_states(
    store: DashboardStore, now: float | None = None
) -> dict[str, dict[str, Any]]:
    """Per asset: `alarm_state` (its live alerts' operator state in words: "unacknowledged",
    "acknowledged by ana", "shelved", "out of service", "" without live alerts),
    `out_of_service`, `stale`, `comms_lost` and `data` (fresh / stale / comms lost / no data)."""
    now = time.time() if now is None else now
    plant = store.plant()
    views = alarm_views(store, now=now, live_only=True)
    oos = operator_log.out_of_service(store.state)
    fresh = data_states(store.state, plant, now)
    by_asset: dict[str, list[AlarmView]] = {}
    for v in views:
        by_asset.setdefault(v.alert.asset_id, []).append(v)
    out: dict[str, dict[str, Any]] = {}
    for asset in set(plant.assets) | set(by_asset):
        mine = by_asset.get(asset, [])
        states = {v.state for v in mine}
        if asset in oos:
            text = f"out of service (by {oos[asset].by})"
        elif "unacknowledged" in states:
            n = sum(v.state == "unacknowledged" for v in mine)
            text = f"{n} unacknowledged"
        elif "acknowledged" in states:
            who = sorted({v.acknowledged_by for v in mine if v.acknowledged_by})
            text = "acknowledged by " + ", ".join(who)
        elif "shelved" in states:
            text = "shelved"
        else:
            text = ""
        ds = fresh.get(asset)
        out[asset] = {
            "alarm_state": text,
            "out_of_service": asset in oos,
            "stale": bool(ds and ds.stale),
            "comms_lost": bool(ds and ds.comms_lost),
            "data": _data_text(ds),
        }
    return out


def with_alarm_state(
    store: DashboardStore, fleet: pl.DataFrame, now: float | None = None
) -> pl.DataFrame:
    """The fleet frame (`queries.fleet`) with `alarm_state` and `data` columns, and the status
    of an out-of-service asset "out of service" and of a stale or silent asset whose status
    was "ok" "stale" (never a green ok on old data)."""
    states = asset_alarm_states(store, now)
    assets = fleet["asset"].to_list()
    blank = {"alarm_state": "", "out_of_service": False, "stale": False, "comms_lost": False,
             "data": "no data"}  # fmt: skip
    rows = [states.get(a, blank) for a in assets]
    status = []
    for s, r in zip(fleet["status"].to_list(), rows, strict=True):
        if r["out_of_service"]:
            s = "out of service"
        elif s == "ok" and (r["stale"] or r["comms_lost"]):
            s = "stale"
        status.append(s)
    return fleet.with_columns(
        pl.Series("status", status, dtype=pl.Utf8),
        pl.Series("alarm_state", [r["alarm_state"] for r in rows], dtype=pl.Utf8),
        pl.Series("data", [r["data"] for r in rows], dtype=pl.Utf8),
    )


def lag_level(lag_s: float | None, limits: AlarmLimits) -> str:
    """ "ok", "watch" (amber, above `[alarms] lag_watch_s`) or "alarm" (red, above
    `lag_alarm_s`) for a data lag; "ok" without data (the page says "no data")."""
    if lag_s is None or not math.isfinite(lag_s):
        return "ok"
    return (
        "alarm" if lag_s > limits.lag_alarm_s else "watch" if lag_s > limits.lag_watch_s else "ok"
    )


def asset_alarm_note(store: DashboardStore, asset: str, now: float | None = None) -> str:
    """One line on the asset's alarm handling for its page, e.g. `Alarms: 1 unacknowledged ·
    data fresh`; '' when there is nothing to say."""
    state = asset_alarm_states(store, now).get(asset)
    if state is None:
        return ""
    parts = [state["alarm_state"]] if state["alarm_state"] else []
    parts.append(f"data {state['data']}")
    return "Alarms: " + " · ".join(parts)
