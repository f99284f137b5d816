"""The dashboard's display rules (phm.dashboard.charts) and the queries behind the new asset
page parts: units per channel, categorical codes kept out of line charts, readable graph
labels without overlaps, the sister-asset comparison and the store's warnings."""

from __future__ import annotations

import numpy as np
import pytest

from phm.dashboard import charts
from phm.dashboard import queries as q
from phm.records import Prediction
from phm.store.state import StateStore
from tests.dashboards.store_fixture import FixtureStore, build_store

PUMP_PROCESS = ["speed_rpm", "load_pct", "suction_kpa", "discharge_kpa", "flow_m3h"]
ION_MILL = ["stage", "Lot", "runnum", "recipe", "recipe_step", "IONGAUGEPRESSURE",
            "ETCHBEAMVOLTAGE", "ETCHSUPPRESSORVOLTAGE", "FLOWCOOLPRESSURE"]  # fmt: skip


def test_channels_are_grouped_one_chart_per_unit() -> None:
    groups = charts.channel_groups(PUMP_PROCESS)
    assert [(g.axis_title, g.channels) for g in groups] == [
        ("speed (rpm)", ("speed_rpm",)),
        ("load (%)", ("load_pct",)),
        ("pressure (kPa)", ("suction_kpa", "discharge_kpa")),
        ("flow (m³/h)", ("flow_m3h",)),
    ]
    mill = charts.channel_groups(ION_MILL)
    assert [g.quantity for g in mill] == ["pressure", "voltage"]
    assert mill[0].channels == ("IONGAUGEPRESSURE", "FLOWCOOLPRESSURE")
    assert not any(charts.is_categorical(c) for g in mill for c in g.channels)
    assert [c for c in ION_MILL if charts.is_categorical(c)] == ION_MILL[:5]


def test_evidence_graph_uses_labels_and_never_stacks_two_nodes() -> None:
    causes = [
        {"path": ["c.loose_bolts", "m.loosening", "looseness", "s.harmonics_many", "s.sub"]},
        {"path": ["c.worn_fit", "m.fit_wear", "looseness", "s.sub", "s.vib_1x_high"]},
    ]
    pos, edges = charts.evidence_layout(causes)
    assert len(set(pos.values())) == len(pos) == 8  # every node its own place
    assert {pos[s][0] for s in ("s.harmonics_many", "s.sub", "s.vib_1x_high")} == {3.0}
    assert ("looseness", "s.vib_1x_high", 1) in edges and ("c.worn_fit", "m.fit_wear", 1) in edges
    labels = {"c.loose_bolts": "loose hold-down bolts"}
    fig = charts.cause_figure(causes, labels)
    text = " ".join(" ".join(n["lines"]) for layer in fig["layer"][2:]
                    for n in layer["data"]["values"])  # fmt: skip
    assert "loose hold-down bolts" in text and "harmonics many" in text
    assert "c.loose_bolts" not in text and "s.harmonics_many" not in text
    shown = charts.symptoms_text(
        {"proc.head_low": 0.65, "vib.3x": 0.2}, {"proc.head_low": "head low"}
    )
    assert shown == "head low (0.65)"


def test_severity_axis_is_fixed_from_zero_to_above_zone_d() -> None:
    fig = charts.severity_figure([0, 1], {"drive_end": [0.78, 0.79]}, (1.4, 2.8, 4.5))
    assert fig["layer"][-1]["encoding"]["y"]["scale"]["domain"] == [0, 6.75]
    assert [z["hi"] for z in fig["layer"][0]["data"]["values"]] == [1.4, 2.8, 4.5, 6.75]
    loud = charts.severity_figure([0, 1], {"drive_end": [9.0, 10.0]}, (1.4, 2.8, 4.5))
    top = loud["layer"][-1]["encoding"]["y"]["scale"]["domain"][1]
    assert top == pytest.approx(11.0)  # a reading above raises the top


def test_chart_data_is_json_with_gaps_and_utc_times() -> None:
    """NaN becomes a gap (null), times epoch milliseconds on a UTC scale."""
    fig = charts.lines([0.0, 3600.0], {"speed_rpm": np.array([1.0, np.nan])}, "t", "speed (rpm)")
    values = fig["layer"][0]["data"]["values"]
    assert [v["t"] for v in values] == [0.0, 3_600_000.0]
    assert values[1]["y"] is None and values[0]["series"] == "speed"
    assert fig["layer"][0]["encoding"]["x"]["scale"]["type"] == "utc"


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    return build_store(tmp_path_factory.mktemp("charts"), n_assets=8, days=2.0)


def test_comparison_against_sisters_and_own_baseline(small_store: FixtureStore) -> None:
    store = q.open_store(small_store.root)
    cmp = q.trend_comparison(store, "pump-001", None)
    pumps = [a for a, x in small_store.plant.assets.items() if x.type == "pump"]
    assert cmp["metric"] == "health" and cmp["sisters"] == len(pumps) - 1
    frame = cmp["frame"]
    assert 47 <= frame.height <= 50  # hourly buckets over two days
    assert (frame["p10"] <= frame["median"]).all() and (frame["median"] <= frame["p90"]).all()
    preds = store.state.predictions("pump-001")
    first_day = [p.health for p in preds if p.time <= preds[0].time + 86_400.0]
    assert cmp["baseline"] == pytest.approx(float(np.median(first_day)))


def test_warnings_name_untrained_models_and_stale_assets(small_store: FixtureStore) -> None:
    store = q.open_store(small_store.root)
    assert q.warnings(store, now=small_store.now) == []
    stale = q.warnings(store, now=small_store.now + 2 * 3600)
    assert (
        len(stale) == 1 and stale[0].startswith("Stale data: 1 asset(s)") and "pump-001" in stale[0]
    )
    with StateStore(small_store.root / "state.sqlite") as state:
        state.write_prediction(Prediction("pump-002", small_store.now, "tiny.pt:plant",
                                          {"healthy": 0.2}, None, None, None, 0.2,
                                          details={"model_untrained": True}))  # fmt: skip
    text = q.warnings(store, now=small_store.now)
    assert len(text) == 1 and text[0].startswith("Untrained model: tiny.pt:plant")
