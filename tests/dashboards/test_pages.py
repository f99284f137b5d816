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
    tally = next(m.value for m in at.markdown if "assets" in m.value)
    assert tally.startswith("#### **8** assets")
    assert "🔴 alarm **1**" in tally and "🟠 watch **1**" in tally and "⚪ no data **" in tally


def test_fleet_filters_by_line_and_type(store_env: FixtureStore) -> None:
    at = page("fleet").run()
    at.multiselect(key="f_line").select("line2").run()
    table = at.dataframe[0].value
    assert set(table["line"]) == {"line2"} and len(table) == 4
    at.multiselect(key="f_type").select("ion_mill").run()
    assert list(at.dataframe[0].value["asset"]) == ["ion_mill-002"]


def vega_specs(at: AppTest) -> list[dict]:
    """The Vega-Lite specs of a run's charts (st.vega_lite_chart)."""
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def title(spec: dict) -> str:
    return spec["title"]["text"]


def encodings(spec: dict, channel: str) -> list[dict]:
    """Every `channel` encoding of a spec and its layers."""
    out = [spec["encoding"][channel]] if channel in spec.get("encoding", {}) else []
    for layer in spec.get("layer", []):
        out += encodings(layer, channel)
    return out


def asset_tab(asset: str, view: str | None = None) -> AppTest:
    at = page("asset")
    at.query_params["asset"] = asset
    if view is not None:
        at.query_params["view"] = view
    at.run()
    assert not at.exception, at.exception
    return at


def test_asset_page_draws_each_tab_alone_with_titles_and_units(store_env: FixtureStore) -> None:
    """Only the open tab is computed and drawn; every chart titled, every y axis with its unit."""
    tabs = {
        None: ["vibration severity", "remaining useful life", "fault-mode probabilities"],
        "Trends": ["temperature: temperature", "process: speed", "process: load",
                   "process: pressure", "process: flow"],
        "Spectra": ["kurtosis", "amplitude spectrum", "envelope spectrum"],
        "Compare": ["health: pump-001 against its sister assets"],
        "Alerts": ["alert timeline"],
    }  # fmt: skip
    specs: dict[str | None, list[dict]] = {}
    for view, expected in tabs.items():
        at = asset_tab("pump-001", view)
        specs[view] = vega_specs(at)
        titles = [title(s) for s in specs[view]]
        assert len(titles) == len(expected), (view, titles)
        assert all(t.startswith(e) for t, e in zip(titles, expected, strict=True)), titles
        for spec in specs[view]:
            assert any(y.get("title") for y in encodings(spec, "y")), title(spec)
        body = texts(at)
        assert "🔴 alarm" in body and "inner race" in body  # the header, on every tab
    units = {y.get("title") for view in specs for s in specs[view] for y in encodings(s, "y")}
    assert {"speed (rpm)", "load (%)", "pressure (kPa)", "flow (m³/h)"} <= units
    assert {"temperature (°C)", "velocity RMS (mm/s)", "RUL (hours)"} <= units
    pressure = next(s for s in specs["Trends"] if title(s) == "process: pressure")
    assert sorted({v["series"] for v in pressure["layer"][0]["data"]["values"]}) == [
        "discharge",
        "suction",
    ]
    assert not any("expert" in title(s).lower() for v in specs for s in specs[v])  # Engineer
    # ISO 20816 group 2 rigid: zone bands up to 1.5 x the C/D boundary of 4.5 mm/s
    severity = specs[None][0]
    zones = severity["layer"][0]["data"]["values"]
    assert [z["hi"] for z in zones] == [1.4, 2.8, 4.5, 6.75]
    assert encodings(severity, "y")[-1]["scale"]["domain"] == [0.0, 6.75]
    envelope = json.dumps(specs["Spectra"][2])
    assert "BPFI" in envelope and "FTF" in envelope
    times = [x for s in specs[None] for x in encodings(s, "x") if x.get("type") == "temporal"]
    assert times and all(x["title"] == "plant time (UTC)" for x in times)
    assert all(x["scale"]["type"] == "utc" for x in times)
    body = texts(asset_tab("pump-001", "Trends"))
    # the 24 h default window of 1 Hz process rows, downsampled for the browser
    rows, drawn = re.search(
        r"process: ([\d,]+) rows in the window, drawn as ([\d,]+)", body
    ).groups()
    assert 86_000 <= int(rows.replace(",", "")) <= 86_402 and int(drawn.replace(",", "")) <= 600
    comparison = json.dumps(specs["Compare"][0])
    assert "sister assets 10-90%" in comparison


def test_engineer_page_shows_the_expert_load(store_env: FixtureStore) -> None:
    at = page("engineer")
    at.query_params["asset"] = "pump-001"
    at.run()
    assert not at.exception
    titles = [title(s) for s in vega_specs(at)]
    assert any("routed expert" in t for t in titles) and len(titles) >= 2


def test_asset_page_with_no_lake_data_and_unknown_asset(store_env: FixtureStore) -> None:
    at = asset_tab("pump-003")  # predictions but no lake data
    assert "No vibration snapshot yet" in texts(at)
    assert "No process data yet" in texts(asset_tab("pump-003", "Trends"))
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
    graph = next(json.dumps(s) for s in vega_specs(at) if "evidence" in title(s))
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
    assert exact.shape == fast.shape == (q.MAX_POINTS, 6)
    for c in exact.columns:
        assert (exact[c] - fast[c]).abs().max() < 1e-3, c


def test_server_freezes_the_pages_modules_out_of_the_post_run_collection() -> None:
    """Streamlit collects garbage after every script run; the server module loads what the
    pages use and freezes it, so that collection walks only the run's own objects."""
    import subprocess
    import sys

    code = (
        "import gc, sys; sys.argv = ['server']; import phm.dashboard.app.server as s; "
        "import phm.dashboard.queries as q; "
        "print(gc.get_freeze_count(), len(gc.get_objects()), "
        "any(o is q.fleet for o in gc.get_objects()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    frozen, tracked, fleet_tracked = int(out[0]), int(out[1]), out[2]
    assert frozen > 50_000, frozen  # polars, numpy, scipy, pandas, pyarrow, Streamlit, phm
    assert tracked < frozen / 20, (tracked, frozen)
    assert fleet_tracked == "False"  # a page's query function is among the frozen
