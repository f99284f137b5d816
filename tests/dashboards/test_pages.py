"""Every page of the dashboard renders the fixture store (Streamlit AppTest, no browser)."""

from __future__ import annotations

import json
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
    assert "rul_median" not in table.columns  # RUL in one column
    ok = table[table["status"].str.endswith(" ok")]
    assert len(ok) and ok["top fault mode"].isna().all()  # no "top fault (0%)" when healthy
    assert table["top fault mode"][0].startswith("inner_race (")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Assets"] == "8" and metrics["🔴 alarm"] == "1" and metrics["🟠 watch"] == "1"


def test_fleet_filters_by_line_and_type(store_env: FixtureStore) -> None:
    at = page("fleet").run()
    at.multiselect(key="f_line").select("line2").run()
    table = at.dataframe[0].value
    assert set(table["line"]) == {"line2"} and len(table) == 4
    at.multiselect(key="f_type").select("ion_mill").run()
    assert list(at.dataframe[0].value["asset"]) == ["ion_mill-002"]


def test_asset_page_draws_trends_severity_spectra_comparison_prognosis_and_alerts(
    store_env: FixtureStore,
) -> None:
    at = page("asset")
    at.query_params["asset"] = "pump-001"
    at.run()
    assert not at.exception
    specs = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    titles = [s["layout"]["title"]["text"] for s in specs.values()]
    # temperature; process (rpm, %, kPa, m3/h stacked panels); severity, kurtosis, spectrum,
    # envelope, comparison, RUL, modes, alerts
    assert len(specs) == 2 + 8, titles
    units = set()
    for s in specs.values():  # every chart titled, every y axis with its unit
        assert s["layout"]["title"]["text"]
        axes = [v for k, v in s["layout"].items() if k.startswith("yaxis")]
        assert axes and all(a["title"]["text"] for a in axes), s["layout"]["title"]
        units |= {a["title"]["text"] for a in axes}
    assert {"speed (rpm)", "load (%)", "pressure (kPa)", "flow (m³/h)"} <= units
    assert "temperature (°C)" in units and "velocity RMS (mm/s)" in units
    process = next(s for s in specs.values() if s["layout"]["title"]["text"].startswith("process"))
    pressure = [t["name"] for t in process["data"] if t.get("yaxis") == "y3"]
    assert pressure == ["suction", "discharge"]
    assert not any("expert" in t.lower() for t in titles)  # model internals: Engineer page
    # ISO 20816 group 2 rigid: zone bands up to 1.5 x the C/D boundary of 4.5 mm/s
    severity = next(s for s in specs.values() if "ISO 20816" in s["layout"]["title"]["text"])
    assert severity["layout"]["yaxis"]["range"] == [0, 6.75]
    assert [r["y1"] for r in severity["layout"]["shapes"]][:3] == [1.4, 2.8, 4.5]
    spec = next(s for s in specs.values() if "envelope" in s["layout"]["title"]["text"])
    assert "BPFI" in json.dumps(spec) and "FTF" in json.dumps(spec)
    assert any(s["layout"]["xaxis"]["title"]["text"] == "plant time (UTC)" for s in specs.values())
    body = texts(at)
    assert "🔴 alarm" in body and "inner race" in body
    # the 24 h default window of 1 Hz process rows, downsampled for the browser
    rows, drawn = re.search(
        r"process: ([\d,]+) rows in the window, drawn as ([\d,]+)", body
    ).groups()
    assert 86_000 <= int(rows.replace(",", "")) <= 86_402 and int(drawn.replace(",", "")) <= 1500
    comparison = next(s for s in specs.values() if "sister" in s["layout"]["title"]["text"])
    assert any(t.get("name", "").startswith("sister assets 10-90%") for t in comparison["data"])


def test_engineer_page_shows_the_expert_load(store_env: FixtureStore) -> None:
    at = page("engineer")
    at.query_params["asset"] = "pump-001"
    at.run()
    assert not at.exception
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any("routed expert" in t for t in titles) and len(titles) >= 2


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
    assert "| 1 | contamination of the lubricant | 62% |" in body
    assert "| 2 | overload / fatigue | 25% |" in body
    assert "strongest symptoms (score 0-1): envelope bpfi (0.81)" in body
    assert "no root-cause analysis yet" in body  # the alerts without details
    assert "acknowledged by **Ana**" in body
    graph = next(c.proto.spec for c in at.get("plotly_chart") if "evidence" in c.proto.spec)
    assert "contamination" in graph


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
