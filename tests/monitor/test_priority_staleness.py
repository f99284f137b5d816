"""ISA-18.2 priority from consequence and time to failure; stale-data and lost-communication
alarms opened and cleared by the monitor's StalenessWatch on a real state store."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from phm.errors import ConfigError
from phm.monitor.priority import PRIORITIES, priority, priority_rank
from phm.monitor.staleness import StalenessWatch, data_states
from phm.plant import load_plant
from phm.store.lake import Segment
from phm.store.state import Prediction, StateStore

T0 = 1_700_000_000.0


@pytest.mark.parametrize(
    ("severity", "consequence", "rul", "failed", "expected"),
    [
        ("watch", "low", None, False, "low"),
        ("watch", "medium", None, False, "low"),
        ("watch", "high", None, False, "medium"),
        ("watch", "medium", 30.0, False, "medium"),  # RUL <= 48 h: soon
        ("alarm", "medium", None, False, "medium"),  # an alarm is at least soon
        ("alarm", "medium", 8.0, False, "high"),  # RUL <= 8 h: prompt
        ("watch", "low", 5.0, False, "medium"),
        ("alarm", "high", 2.0, False, "critical"),
        ("watch", "high", None, True, "critical"),  # failed: prompt
        ("alarm", None, 100.0, False, "medium"),  # None: the default consequence, medium
    ],
)
def test_priority_matrix(severity, consequence, rul, failed, expected) -> None:
    assert priority(severity, consequence, rul, failed) == expected


def test_priority_order_and_bad_consequence() -> None:
    assert sorted(["low", None, "critical", "medium", "high"], key=priority_rank) == [
        "critical", "high", "medium", "low", None,
    ]  # fmt: skip
    assert PRIORITIES[0] == "critical"
    with pytest.raises(ValueError, match="consequence 'severe'"):
        priority("alarm", "severe", None)


def test_plant_consequence_and_alarm_limits_are_checked(tmp_path: Path) -> None:
    plant = load_plant()
    assert plant.types["ion_mill"].consequence == "high"
    assert plant.types["pump"].consequence == "medium"
    assert plant.alarms.stale_multiple == 5.0
    text = (Path(plant.source)).read_text()
    bad = tmp_path / "plant.toml"
    bad.write_text(text.replace('consequence = "high"', 'consequence = "huge"'))
    with pytest.raises(ConfigError, match=r"\[types.ion_mill\] consequence = 'huge'"):
        load_plant(bad)
    bad.write_text(text.replace("stale_multiple = 5.0", "stale_multiple = -1"))
    with pytest.raises(ConfigError, match=r"\[alarms\] stale_multiple = -1"):
        load_plant(bad)
    bad.write_text(text.replace("stale_multiple = 5.0", "stale_mult = 5.0"))
    with pytest.raises(ConfigError, match="'stale_mult' is unknown"):
        load_plant(bad)


def _predict(state: StateStore, asset: str, times: list[float]) -> None:
    for t in times:
        state.write_prediction(Prediction(asset, t, "m", {"healthy": 1.0}, None, None, None, 1.0))


_parts = itertools.count()


def _commit(state: StateStore, asset: str, t_max: float) -> None:
    name = f"/lake/process/asset={asset}/date=x/part-{next(_parts)}.parquet"
    seg = Segment(Path(name), "process",
                  asset, 10, t_max - 10, t_max)  # fmt: skip
    state.commit_ingest([seg], [])


def test_stale_and_comms_alarms_open_and_clear(tmp_path: Path) -> None:
    plant = load_plant(assets=4)  # pump-001..003, ion_mill-001
    plant = dataclasses.replace(
        plant, alarms=dataclasses.replace(plant.alarms, stale_multiple=5.0, comms_after_s=600.0)
    )
    state = StateStore(tmp_path / "state.sqlite")
    state.register_assets(plant)
    hourly = [T0 + 3600.0 * k for k in range(24)]
    _predict(state, "pump-001", hourly)
    _predict(state, "pump-002", hourly[:18])  # 6 h behind: > 5 x its 1 h interval
    _predict(state, "pump-003", hourly[:21])  # 3 h behind: fresh
    for a in ("pump-001", "pump-002", "pump-003"):
        _commit(state, a, hourly[-1] if a == "pump-001" else T0)
    states = data_states(state, plant, now=state.data_times()["pump-001"][1] + 5)
    assert states["pump-001"].lag_s == 0 and not states["pump-001"].stale
    assert states["pump-002"].lag_s == 6 * 3600.0 and states["pump-002"].stale
    assert states["pump-002"].interval_s == 3600.0
    assert not states["pump-003"].stale
    assert states["ion_mill-001"].newest is None and not states["ion_mill-001"].stale

    watch = StalenessWatch(state, plant)
    wall = state.data_times()["pump-001"][1]
    assert watch.check(wall + 5) == [("pump-002", "stale", "open")]
    (alert,) = [a for a in state.alerts() if a.kind == "stale"]
    assert (alert.asset_id, alert.severity, alert.priority) == ("pump-002", "watch", "low")
    assert "6.0 h behind" in alert.message
    assert watch.check(wall + 6) == []  # one alarm per asset and kind
    # ten minutes of silence: every asset that was ever heard from lost its communication
    lost = watch.check(wall + 601)
    assert sorted(lost) == [(a, "comms", "open") for a in ("pump-001", "pump-002", "pump-003")]
    comms = [a for a in state.alerts() if a.kind == "comms"]
    assert {a.severity for a in comms} == {"alarm"} and {a.priority for a in comms} == {"medium"}
    # a restarted monitor picks the open ones up; pump-002 catches up and is heard from again
    _predict(state, "pump-002", hourly[18:])
    for a in ("pump-001", "pump-002", "pump-003"):
        _commit(state, a, hourly[-1])
    again = StalenessWatch(state, plant)
    wall = state.data_times()["pump-001"][1]
    assert sorted(again.check(wall + 1)) == [
        ("pump-001", "comms", "clear"),
        ("pump-002", "comms", "clear"),
        ("pump-002", "stale", "clear"),
        ("pump-003", "comms", "clear"),
    ]
    assert all(a.status == "cleared" for a in state.alerts())


def test_the_monitor_pass_raises_the_comms_alarm(tmp_path: Path) -> None:
    from phm.monitor.scorer import Monitor

    plant = load_plant(assets=4)
    monitor = Monitor(tmp_path, plant)  # no checkpoints: nothing is scored, the check still runs
    monitor.state.register_assets(plant)
    _commit(monitor.state, "pump-001", T0)
    wall = monitor.state.data_times()["pump-001"][1]
    assert monitor.evaluate(now=wall + 60) == []
    assert monitor.state.alerts() == []
    monitor.evaluate(now=wall + plant.alarms.comms_after_s + 1)
    (alert,) = monitor.state.alerts()
    assert (alert.asset_id, alert.kind, alert.severity) == ("pump-001", "comms", "alarm")
