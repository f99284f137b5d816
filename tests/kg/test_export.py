"""GraphML and Cypher export."""

from __future__ import annotations

import pytest

from phm.kg.export import export_graph, from_graphml, to_cypher, to_graphml
from phm.kg.loader import load_graph


def test_graphml_round_trip_keeps_nodes_edges_and_likelihoods():
    g = load_graph("rotating_equipment")
    back = from_graphml(to_graphml(g))
    assert set(back.nodes) == set(g.nodes)
    assert {(e.source, e.target, e.likelihood, e.kind) for e in back.edges} == {
        (e.source, e.target, e.likelihood, e.kind) for e in g.edges
    }
    assert back.prior("c.contamination") == pytest.approx(g.prior("c.contamination"))
    assert back.nodes["s.env_bpfo"].detector == "vib.env_bpfo"


def test_graphml_reads_in_networkx(tmp_path):
    nx = pytest.importorskip("networkx")
    g = load_graph("ion_mill_flowcool")
    path = export_graph(g, "graphml", tmp_path / "g.graphml")
    h = nx.read_graphml(path)
    assert h.number_of_nodes() == len(g.nodes) and h.number_of_edges() == len(g.edges)
    assert h.nodes["pressure_low"]["type"] == "failure_mode"
    assert h.edges["c.pump_wear", "m.head_loss"]["likelihood"] == pytest.approx(0.85)


def test_cypher_has_one_create_per_node_and_edge():
    g = load_graph("turbofan")
    text = to_cypher(g)
    lines = [x for x in text.splitlines() if not x.startswith("//")]
    assert sum(x.startswith("CREATE (:") for x in lines) == len(g.nodes)
    assert sum(x.startswith("MATCH ") for x in lines) == len(g.edges)
    assert all(x.endswith(";") for x in lines)
    assert 'CREATE (:FailureMode {id: "hpc_degradation"' in text
    assert "-[:CAUSES {likelihood: 0.85}]->" in text
