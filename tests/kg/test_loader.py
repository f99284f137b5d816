"""Graph files and FMEA sheets: shipped graphs load; bad files fail naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from phm.datasets.phm2018_layout import FAULT_MODES as PHM2018_MODES
from phm.kg.loader import load_fmea, load_graph, occurrence_prior, shipped_graphs
from phm.kg.schema import GraphError
from phm.resources import read_text
from phm.sim.rotating import FAULT_MODES, ROOT_CAUSES

REPO = Path(__file__).resolve().parents[2]


def test_shipped_graphs_load_with_every_layer():
    assert {"ion_mill_flowcool", "rotating_equipment", "turbofan"} <= set(shipped_graphs())
    for name in ("ion_mill_flowcool", "rotating_equipment", "turbofan"):
        s = load_graph(name).summary()
        for t in ("asset_type", "subunit", "item", "failure_mode", "mechanism", "cause"):
            assert s[t] >= 1, (name, t)
        assert s["symptom"] >= 10 and s["action"] >= 5, name


def test_rotating_graph_covers_the_simulator_ground_truth():
    g = load_graph("rotating_equipment")
    labels = {g.nodes[c].label for c in g.of_type("cause")}
    for mode, causes in ROOT_CAUSES.items():
        assert mode in g.of_type("failure_mode")
        for cause in causes:
            assert cause in labels, cause
    assert set(FAULT_MODES) <= set(g.of_type("failure_mode"))
    for m in ("ball", "cage", "overheating"):
        assert m in g.of_type("failure_mode")


def test_ion_mill_graph_has_the_phm2018_fault_modes():
    g = load_graph("ion_mill_flowcool")
    assert set(PHM2018_MODES) <= set(g.of_type("failure_mode"))
    detectors = {g.nodes[s].detector for s in g.of_type("symptom")}
    assert "proc.FLOWCOOLPRESSURE_falling" in detectors


GOOD = {
    "name": "tiny",
    "nodes": [
        {"id": "c1", "type": "cause", "label": "cause one", "occurrence": 5, "to": {"fm": 0.8}},
        {"id": "fm", "type": "failure_mode", "to": {"s1": 0.9}},
        {"id": "s1", "type": "symptom", "detector": "d1"},
    ],
}


def _with(**change) -> dict:
    doc = yaml.safe_load(yaml.safe_dump(GOOD))
    for key, value in change.items():
        doc[key] = value
    return doc


BAD = [
    # (document, words the error must contain)
    (_with(edges=[["c1", "ghost", 0.5]]), ["c1 -> ghost", "unknown node 'ghost'"]),
    (_with(edges=[["c1", "s1", 1.5]]), ["c1 -> s1", "likelihood 1.5"]),
    (_with(edges=[["c1", "s1", 0]]), ["c1 -> s1", "likelihood 0"]),
    (_with(edges=[["s1", "fm", 0.5]]), ["s1 -> fm", "wrong node types symptom -> failure_mode"]),
    (_with(nodes=[*GOOD["nodes"], {"id": "fm", "type": "mechanism"}]), ["duplicate", "'fm'"]),
    (
        _with(
            nodes=[
                *GOOD["nodes"],
                {"id": "f2", "type": "failure_mode", "to": {"f3": 0.5}},
                {"id": "f3", "type": "failure_mode", "to": {"f2": 0.5}},
            ]
        ),
        ["cycle", "f2", "f3"],
    ),
    (_with(nodes=[{"id": "x", "type": "widget"}]), ["'x'", "type 'widget'"]),
    (
        _with(nodes=[{"id": "c9", "type": "cause", "occurrence": 11}]),
        ["'c9'", "occurrence 11"],
    ),
    (_with(nodes=[{"id": "s9", "type": "symptom", "leak": 1.0}]), ["'s9'", "leak"]),
]


@pytest.mark.parametrize(("doc", "words"), BAD)
def test_bad_graph_files_name_the_file_and_the_node_or_edge(tmp_path, doc, words):
    path = tmp_path / "bad_graph.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(GraphError) as err:
        load_graph(path)
    message = str(err.value)
    assert str(path) in message
    for w in words:
        assert w in message


def test_unknown_graph_name_lists_the_shipped_ones():
    with pytest.raises(GraphError, match="rotating_equipment"):
        load_graph("no_such_graph")


def test_occurrence_scale():
    assert occurrence_prior(10) == pytest.approx(0.5)
    assert occurrence_prior(8) == pytest.approx(0.05)
    assert occurrence_prior(6) / occurrence_prior(4) == pytest.approx(10)


HEADER = (
    "component,function,failure mode,effect,cause,detection/symptom,severity,occurrence,"
    "detection rating,action\n"
)


def test_fmea_import_computes_rpn_and_builds_a_graph(tmp_path):
    rows = load_fmea(REPO / "phm" / "configs" / "fmea" / "pump_station.csv")
    assert rows[0].rpn == rows[0].severity * rows[0].occurrence * rows[0].detection_rating
    assert rows[0].rpn == 8 * 5 * 3
    g = load_graph(REPO / "phm" / "configs" / "fmea" / "pump_station.csv")
    cause = "c.drive_end_bearing.contamination"
    assert g.nodes[cause].attrs["rpn"] == 120
    assert g.prior(cause) == pytest.approx(occurrence_prior(5))
    mode = "fm.drive_end_bearing.outer_race_spall"
    assert any(e.target == mode for e in g.out_edges(cause))
    # detection rating 3 -> the symptom shows with p 0.8
    (edge,) = [e for e in g.out_edges(mode) if g.nodes[e.target].type == "symptom"]
    assert edge.likelihood == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ("pump,f,leak,e,c,s,11,3,3,a\n", "line 2, column 'severity'"),
        ("pump,f,leak,e,c,s,5,x,3,a\n", "line 2, column 'occurrence'"),
        ("pump,f,,e,c,s,5,3,3,a\n", "line 2, column 'failure_mode'"),
        ("pump,f,leak,e,c,s,5,3\n", "line 2: 8 cells"),
    ],
)
def test_bad_fmea_rows_are_named_by_line_and_column(tmp_path, row, where):
    path = tmp_path / "plant_fmea.csv"
    path.write_text(HEADER + row)
    with pytest.raises(GraphError) as err:
        load_fmea(path)
    assert str(path) in str(err.value) and where in str(err.value)


def test_fmea_missing_column_is_named(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("component,function,failure mode\npump,f,leak\n")
    with pytest.raises(GraphError, match=r"missing column.*effect"):
        load_fmea(path)


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        # a cause's edge to a symptom that was renamed: the edge and the missing node are named
        (
            "s.vib_2x_vs_discharge: 0.7",
            "s.vib_2x_vs_dischrge: 0.7",
            ["c.pipe_strain ->", "'s.vib_2x_vs_dischrge'"],
        ),
        (
            "s.suction_drop_with_flow: 0.75",
            "s.suction_drop_with_flow: 1.75",
            ["c.clogged_strainer -> s.suction_drop_with_flow", "likelihood 1.75"],
        ),
        # the history symptoms: a renamed target, a likelihood out of range
        (
            "s.defect_at_startup: 0.8",
            "s.defect_at_start: 0.8",
            ["c.brinelling ->", "'s.defect_at_start'"],
        ),
        (
            "s.bpfo_wander: 0.7",
            "s.bpfo_wander: -0.7",
            ["c.housing_bore -> s.bpfo_wander", "likelihood -0.7"],
        ),
        (
            "detector: ctx.recent_bearing_change, leak: 0.05",
            "detector: ctx.recent_bearing_change, leak: 5",
            ["'s.recent_bearing_change'", "leak 5"],
        ),
    ],
)
def test_shipped_rotating_graph_with_a_bad_edit_names_it(tmp_path, old, new, words):
    text = read_text("kg/rotating_equipment.yaml")
    assert text.count(old) == 1, old
    path = tmp_path / "rotating_equipment.yaml"
    path.write_text(text.replace(old, new))
    with pytest.raises(GraphError) as err:
        load_graph(path)
    for w in words:
        assert w in str(err.value)
