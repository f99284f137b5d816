"""Stale data and lost communication, per asset, as alarms of their own (kinds "stale", "comms").

- stale: the asset's newest data time (its committed segments or its newest prediction) lags
  the plant's newest data time by more than `[alarms] stale_multiple` times the asset's scoring
  interval (the mean spacing of its predictions over the last two days of data time;
  `default_interval_s` with fewer than two). Data time, so a replay or a simulator running
  faster than the wall clock is judged on its own clock. Severity watch: the asset is still
  monitored, on old data.
- comms: nothing from the asset was committed for `[alarms] comms_after_s` of wall time (an
  asset never heard from raises none: it shows as "no data"). Severity alarm: the asset is
  not monitored at all.

`data_states` is the pure reading (the dashboard's fleet shows it too); `StalenessWatch` opens
and clears the alarms in the state store, one per asset and kind, at each monitor pass.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from phm.monitor.priority import priority
from phm.plant import Plant
from phm.store.state import StateStore

KINDS = ("stale", "comms")
SEVERITY = {"stale": "watch", "comms": "alarm"}
INTERVAL_WINDOW_S = 2 * 86400.0  # scoring intervals are measured over this much data time

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataState:
    """One asset's data freshness: newest data time (Unix s, None: no data), its scoring
    interval (s), lag behind the plant's newest data (s), wall seconds since its last commit
    (None: never committed), the lag above which it is stale (s), and the two flags."""

    asset_id: str
    newest: float | None
    interval_s: float
    lag_s: float | None
    silent_s: float | None
    stale_after_s: float
    stale: bool
    comms_lost: bool

    def message(self, kind: str) -> str:
        """The alarm's message for `kind` ("stale" or "comms")."""
        if kind == "stale":
            return (
                f"stale data: newest data {_hours(self.lag_s)} behind the plant's "
                f"(limit {_hours(self.stale_after_s)}: {self.interval_s / 60:.3g} min scoring "
                "interval x [alarms] stale_multiple)"
            )
        return f"communication lost: nothing received for {_hours(self.silent_s)} (wall time)"


def _hours(s: float | None) -> str:
    return "?" if s is None else f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"


def plant_newest(states: dict[str, DataState]) -> float | None:
    """The plant's newest data time among `states` (None without data)."""
    return max((s.newest for s in states.values() if s.newest is not None), default=None)


def data_states(state: StateStore, plant: Plant, now: float) -> dict[str, DataState]:
    """The freshness of every asset of `plant` at wall time `now` (see the module doc)."""
    limits = plant.alarms
    committed = state.data_times()
    newest_data = max((t for t, _ in committed.values()), default=-math.inf)
    since = (newest_data if math.isfinite(newest_data) else now) - INTERVAL_WINDOW_S
    scored = state.scoring_intervals(since)
    newest: dict[str, float] = {}
    for asset in plant.assets:
        pair = (committed.get(asset, (None, None))[0], scored.get(asset, (None, 0, None))[2])
        found = [t for t in pair if t is not None]
        if found:
            newest[asset] = max(found)
    plant_newest = max(newest.values(), default=None)
    out = {}
    for asset in plant.assets:
        spacing = scored.get(asset, (math.nan, 0, None))[0]
        interval = spacing if math.isfinite(spacing) and spacing > 0 else limits.default_interval_s
        t = newest.get(asset)
        lag = None if t is None or plant_newest is None else plant_newest - t
        silent = now - committed[asset][1] if asset in committed else None
        out[asset] = DataState(
            asset,
            t,
            interval,
            lag,
            silent,
            limits.stale_multiple * interval,
            lag is not None and lag > limits.stale_multiple * interval,
            silent is not None and silent > limits.comms_after_s,
        )
    return out


class StalenessWatch:
    """Opens and clears the "stale" and "comms" alarms of the plant's assets in `state`; the
    alarms open at start are picked up from the store, so a restarted monitor carries on."""

    def __init__(self, state: StateStore, plant: Plant) -> None:
        self.state = state
        self.plant = plant
        self.open_ids: dict[tuple[str, str], int] = {}
        for alert in state.alerts():
            if alert.kind in KINDS and alert.status != "cleared":
                self.open_ids[(alert.asset_id, alert.kind)] = alert.alert_id

    def check(self, now: float) -> list[tuple[str, str, str]]:
        """One pass at wall time `now`: returns the (asset, kind, "open" | "clear") done."""
        done = []
        states = data_states(self.state, self.plant, now)
        newest = plant_newest(states)
        for asset, ds in states.items():
            for kind, flagged in (("stale", ds.stale), ("comms", ds.comms_lost)):
                key = (asset, kind)
                if flagged and key not in self.open_ids:
                    severity = SEVERITY[kind]
                    consequence = self.plant.types[self.plant.assets[asset].type].consequence
                    self.open_ids[key] = self.state.open_alert(
                        asset,
                        kind,
                        severity,
                        ds.message(kind),
                        {
                            "data_time": ds.newest,
                            "plant_time": newest,
                            "lag_s": ds.lag_s,
                            "silent_s": ds.silent_s,
                            "interval_s": ds.interval_s,
                        },
                        at=now,
                        priority=priority(severity, consequence, None),
                    )
                    done.append((asset, kind, "open"))
                    log.info("%s %s: %s", asset, kind, ds.message(kind))
                elif not flagged and key in self.open_ids:
                    self.state.clear_alert(self.open_ids.pop(key), at=now)
                    done.append((asset, kind, "clear"))
                    log.info("%s %s cleared", asset, kind)
        return done
