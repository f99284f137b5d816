"""Every page of the dashboard renders the fixture store (Streamlit AppTest, no browser)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from phm.store.state import StateStore
from tests.dashboards.store_fixture import FixtureStore

PAGES = Path(__file__).parents[2] / "phm" / "dashboard" / "app"


def page(name: str) -> AppTest:
    path = PAGES / "app.py" if name == "app" else PAGES / "views" / f"{name}.py"
    return AppTest.from_file(str(path), default_timeout=60)


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [i.value for i in at.info]
    parts += [str(m.label) + " " + str(m.value) for m in at.metric]
    return "\n".join(str(p) for p in parts)


def test_fleet_lists_every_asset_most_urgent_first(store_env: FixtureStore) -> None:
    at = page("fleet").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 8
    assert list(table["asset"][:2]) == ["pump-001", "pump-002"]  # alarm, then watch
    assert table["status"][0].endswith("alarm") and table["status"][1].endswith("watch")
    assert table["status"].iloc[-1].endswith("no data")  # ion mills: not scored
    assert "(90%:" in table["RUL"][0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Assets"] == "8" and metrics["🔴 alarm"] == "1" and metrics["🟠 watch"] == "1"


def test_fleet_filters_by_line_and_type(store_env: FixtureStore) -> None:
    at = page("fleet").run()
    at.multiselect(key="f_line").select("line2").run()
    table = at.dataframe[0].value
    assert set(table["line"]) == {"line2"} and len(table) == 4
    at.multiselect(key="f_type").select("ion_mill").run()
    assert list(at.dataframe[0].value["asset"]) == ["ion_mill-002"]


def test_asset_page_draws_trends_spectra_prognosis_load_and_alerts(
    store_env: FixtureStore,
) -> None:
    at = page("asset")
    at.query_params["asset"] = "pump-001"
    at.run()
    assert not at.exception
    charts = {c.proto.id for c in at.get("plotly_chart")}
    assert len(charts) >= 9  # 2 trends, features, spectrum, envelope, RUL, modes, 2 loads, alerts
    spec = next(c for c in at.get("plotly_chart") if "envelope" in c.proto.spec)
    assert "BPFI" in spec.proto.spec and "FTF" in spec.proto.spec
    body = texts(at)
    assert "🔴 alarm" in body and "inner_race" in body
    # the 24 h default window of 1 Hz process rows, downsampled for the browser
    specs = "\n".join(c.proto.spec for c in at.get("plotly_chart"))
    rows, drawn = re.search(r"process: ([\d,]+) rows, ([\d,]+) points", specs).groups()
    assert 86_000 <= int(rows.replace(",", "")) <= 86_402 and int(drawn.replace(",", "")) <= 1500


def test_asset_page_with_no_lake_data_and_unknown_asset(store_env: FixtureStore) -> None:
    at = page("asset")
    at.query_params["asset"] = "pump-003"  # predictions but no lake data
    at.run()
    assert not at.exception
    assert "No process data yet" in texts(at) and "No vibration snapshot yet" in texts(at)
    at = page("asset")
    at.query_params["asset"] = "pump-999"
    at.run()
    assert not at.exception
    assert "Unknown asset `pump-999`" in texts(at)


def test_alerts_page_lists_statuses_and_root_causes(store_env: FixtureStore) -> None:
    at = page("alerts").run()
    assert not at.exception
    heads = [s.value for s in at.subheader]
    assert heads == [
        "Flood summary (last 24 h, plant time)",
        "Active (3)",
        "Shelved (0)",
        "Out of service (0)",
        "Cleared (1)",
    ]
    body = texts(at)
    assert "Ranked root causes" in body and "replace the drive-end bearing" in body
    causes = next(d.value for d in at.dataframe if "cause" in d.value.columns)
    assert list(causes["cause"]) == ["contamination of the lubricant", "overload / fatigue"]
    assert "symptoms: envelope_bpfi 0.81, bearing_temperature_rise 0.35" in body
    assert "no root-cause analysis yet" in body  # the alerts without details
    assert "acknowledged by **Ana**" in body
    assert any("evidence paths" in c.proto.spec for c in at.get("plotly_chart"))


# acknowledging (with a login) is tested in test_alarm_pages.py


def test_system_page_shows_broker_lag_rate_dead_letters_and_model(
    store_env: FixtureStore,
) -> None:
    at = page("system").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Broker"] == "🟢 connected"
    assert metrics["Dead letters"] == "2"
    assert metrics["Readings"] == "987,654"
    dead = at.dataframe[-1].value
    assert set(dead["reason"]) == {"bad_topic", "unknown_asset"}
    models = at.dataframe[0].value
    assert models["model version"][0] == "pump.pt:plant" and models["assets scored"][0] == 6


def test_missing_store_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHM_STORE", str(tmp_path / "nowhere"))
    for name in ("fleet", "asset", "alerts", "system"):
        at = page(name).run()
        assert not at.exception
        assert "Store not found" in at.error[0].value and "does not exist" in at.error[0].value
    assert not (tmp_path / "nowhere").exists()  # the dashboard never creates a store


def test_empty_store_says_no_data_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    StateStore(tmp_path / "state.sqlite")
    monkeypatch.setenv("PHM_STORE", str(tmp_path))
    at = page("fleet").run()
    assert not at.exception and "No assets yet" in texts(at)
    at = page("alerts").run()
    assert "No alerts yet" in texts(at)
    at = page("system").run()
    assert not at.exception
    assert "No predictions yet" in texts(at) and "No data committed" in texts(at)


def test_app_navigation_opens_the_fleet_page(store_env: FixtureStore) -> None:
    at = page("app").run()
    assert not at.exception
    assert at.title[0].value == "Fleet"


def test_long_windows_are_bucketed_from_parquet_like_the_exact_read(
    fixture_store: FixtureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phm.dashboard import queries as q

    store = q.open_store(fixture_store.root)
    exact, n_exact = q.sensor_trends(store, "pump-001", "process", None)
    monkeypatch.setattr(q, "EXACT_ROWS", 1000)  # force the polars aggregation path
    fast, n_fast = q.sensor_trends(store, "pump-001", "process", None)
    assert n_exact == n_fast == 172_800  # 2 days of 1 Hz rows
    assert exact.shape == fast.shape == (1500, 6)
    for c in exact.columns:
        assert (exact[c] - fast[c]).abs().max() < 1e-3, c
