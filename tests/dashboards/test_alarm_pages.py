"""The alarm-management pages (Streamlit AppTest, no browser): priority order, actions on the
cards with a login, view-only without users, anonymous refusal, fleet alarm and data columns,
the flood summary and the data-lag tile."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from phm.dashboard import alarm_queries as aq
from phm.dashboard.auth import Session
from phm.dashboard.login import SESSION_KEY, VIEW_ONLY
from phm.dashboard.queries import open_store
from phm.store import operator_log
from phm.store.state import StateStore
from tests.dashboards.alarm_fixture import STALE_ASSET, AlarmStore, build_alarm_store

PAGES = Path(__file__).parents[2] / "phm" / "dashboard" / "app" / "views"
OPERATOR = Session("ana", "operator", 0.0, 4e9)


@pytest.fixture(scope="module")
def alarms(tmp_path_factory: pytest.TempPathFactory) -> AlarmStore:
    return build_alarm_store(tmp_path_factory.mktemp("alarms"))


@pytest.fixture
def env(alarms: AlarmStore, monkeypatch: pytest.MonkeyPatch) -> AlarmStore:
    monkeypatch.setenv("PHM_STORE", str(alarms.root))
    monkeypatch.setenv("PHM_DASHBOARD_USERS", str(alarms.users))
    return alarms


def page(name: str, session: Session | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)
    if session is not None:
        at.session_state[SESSION_KEY] = session
    return at.run()


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [i.value for i in at.info]
    parts += [s.value for s in at.success] + [x.label for x in at.expander]
    return "\n".join(str(p) for p in parts)


def test_active_alerts_sorted_by_priority_then_age(env: AlarmStore) -> None:
    views = aq.by_state(aq.alarm_views(open_store(env.root)))["active"]
    got = [(v.alert.asset_id, v.priority) for v in views]
    # pump-001's alarm has no stored priority (an older monitor's): medium consequence and
    # alarm give medium; of the two low watches, pump-001's (2.5 h old) waited longest
    assert got == [
        ("ion_mill-001", "critical"),
        ("pump-003", "high"),
        ("pump-001", "medium"),
        ("pump-001", "low"),
        ("pump-002", "low"),
    ]
    at = page("alerts")
    assert not at.exception
    titles = [x.label for x in at.expander if x.label.startswith(("🟥", "🟧", "🟨", "🟦"))]
    assert titles[0].startswith("🟥 critical · #") and "ion_mill-001" in titles[0]
    assert [t.split(" ")[1] for t in titles[:5]] == ["critical", "high", "medium", "low", "low"]


def test_view_only_without_a_users_file(env: AlarmStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHM_DASHBOARD_USERS")
    at = page("alerts", OPERATOR)  # even a session cannot act without users configured
    assert VIEW_ONLY in texts(at)
    assert not [b for b in at.button if b.label in ("Acknowledge", "Shelve")]


def test_anonymous_acknowledge_is_refused_on_the_server(env: AlarmStore) -> None:
    at = page("alerts")  # users configured, nobody logged in: the forms show, the server refuses
    at.text_input(key=f"ack_note_{env.high}").input("sneaky")
    at.button(key=f"ack_btn_{env.high}").click().run()
    assert "Refused: acknowledge: not logged in" in texts(at)
    state = StateStore(env.root / "state.sqlite", readonly=True)
    assert next(a for a in state.alerts() if a.alert_id == env.high).status == "open"


def test_operator_acknowledges_and_shelves_from_the_card(env: AlarmStore) -> None:
    at = page("alerts", OPERATOR)
    assert not [b for b in at.button if b.label == "Out of service"]  # engineers only
    at.button(key=f"ack_btn_{env.high}").click().run()  # no note
    assert "Acknowledge needs" in texts(at) and "'note' must be a non-empty string" in texts(at)
    at.text_input(key=f"ack_note_{env.high}").input("impeller checked, valve throttled")
    at.button(key=f"ack_btn_{env.high}").click().run()
    assert f"Alert #{env.high} acknowledged by ana." in texts(at)
    at.text_input(key=f"shelve_reason_{env.critical}").input("sensor recalibration")
    at.selectbox(key=f"shelve_hours_{env.critical}").select(4)
    at.button(key=f"shelve_btn_{env.critical}").click().run()
    assert not at.exception
    heads = [s.value for s in at.subheader]
    assert "Shelved (1)" in heads and "Active (4)" in heads
    assert any("shelved until" in x.label and "by ana" in x.label for x in at.expander)
    state = StateStore(env.root / "state.sqlite", readonly=True)
    acked = next(a for a in state.alerts() if a.alert_id == env.high)
    assert acked.status == "acknowledged" and acked.acknowledgements[-1].by == "ana"
    assert set(operator_log.shelves(state)) == {env.critical}
    trail = [(r.by, r.action, r.alert_id) for r in operator_log.actions(state)[:2]]
    assert trail == [("ana", "shelve", env.critical), ("ana", "acknowledge", env.high)]
    audit = next(d.value for d in at.dataframe if "action" in d.value.columns)
    assert list(audit["action"][:2]) == ["shelve", "acknowledge"]


def test_engineer_takes_an_asset_out_of_service(env: AlarmStore) -> None:
    at = page("alerts", Session("eve", "engineer", 0.0, 4e9))
    alert = env.base.open_alert  # pump-001's alarm
    at.text_input(key=f"oos_note_{alert}").input("bearing change, 2 h")
    at.button(key=f"oos_btn_{alert}").click().run()
    assert "pump-001 taken out of service" in texts(at)
    heads = [s.value for s in at.subheader]
    assert "Out of service (2)" in heads  # both live alerts of pump-001
    fleet = page("fleet").dataframe[0].value
    row = fleet[fleet["asset"] == "pump-001"].iloc[0]
    assert row["status"] == "🚧 out of service" and row["alarm handling"].startswith("out of")
    at.button(key=f"rts_{alert}").click().run()
    assert operator_log.out_of_service(StateStore(env.root / "state.sqlite")) == {}


def test_fleet_shows_acknowledged_state_and_flags_the_stale_asset(env: AlarmStore) -> None:
    at = page("fleet")
    assert not at.exception
    table = at.dataframe[0].value.set_index("asset")
    assert table.loc["pump-003", "alarm handling"] == "acknowledged by ana"
    assert table.loc["pump-002", "alarm handling"] == "1 unacknowledged"
    assert table.loc[STALE_ASSET, "status"] == "🟣 stale data"  # no alert, old data: not ok
    assert table.loc[STALE_ASSET, "data"] == "stale (10.0 h behind)"
    assert table.loc["pump-004", "data"] == "fresh" and table.loc["pump-004", "status"] == "🟢 ok"
    assert "🟣 stale data: 1" in texts(at)


def test_flood_summary_counts_and_flags(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite")
    end = 1_700_000_000.0
    for k in range(12):  # twelve alerts within 5.5 minutes on pump-001: a flood for one
        state.open_alert("pump-001", "condition", "watch", "w", {"data_time": end - 600 + 30 * k})
    state.open_alert("pump-002", "condition", "watch", "w", {"data_time": end - 5 * 3600})
    state.open_alert("pump-003", "condition", "watch", "w", {"data_time": end - 30 * 3600})
    store = open_store(tmp_path)
    f = aq.flood_summary(store, operators=1, end=end)
    assert (f.total, f.peak_10min, f.peak_at, f.flood) == (13, 12, end - 600, True)
    assert f.hourly["alerts"].sum() == 13 and f.hourly["alerts"][-1] == 12
    assert f.hourly["alerts"][19] == 1  # 5 h before the end: the hour from 19 h to 20 h
    assert f.top_assets.rows() == [("pump-001", 12), ("pump-002", 1)]
    assert not aq.flood_summary(store, operators=2, end=end).flood  # 6 per operator


def test_data_lag_tile_turns_red(env: AlarmStore, monkeypatch: pytest.MonkeyPatch) -> None:
    at = page("system")
    lag = next(m.value for m in at.metric if m.label == "Data lag")
    assert lag.startswith("🟢")  # the fixture's data is seconds old
    monkeypatch.setattr("time.time", lambda: env.base.now + 7200.0)  # two hours later
    at = page("system")
    assert next(m.value for m in at.metric if m.label == "Data lag").startswith("🔴")
