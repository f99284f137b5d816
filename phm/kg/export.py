"""Export a knowledge graph: GraphML (yEd, Gephi, networkx) and Cypher CREATE statements (Neo4j).

GraphML node attributes: type, label, prior, leak, detector; edge attributes: kind, likelihood.
Cypher: one `CREATE` per node with the label of its type (`:Cause`, `:FailureMode`, ...) and
properties {id, label, prior, leak, detector}, then one `MATCH ... CREATE` per edge with the
relationship type of its kind (`:CAUSES`, `:SHOWS`, ...) and {likelihood}.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from phm.kg.schema import Edge, KnowledgeGraph, Node

_NODE_KEYS = (("type", "string"), ("label", "string"), ("prior", "double"), ("leak", "double"))
_NODE_KEYS += (("detector", "string"),)
_EDGE_KEYS = (("kind", "string"), ("likelihood", "double"))
NEO4J_LABELS = {
    "asset_type": "AssetType",
    "subunit": "Subunit",
    "item": "MaintainableItem",
    "failure_mode": "FailureMode",
    "mechanism": "Mechanism",
    "cause": "Cause",
    "symptom": "Symptom",
    "action": "Action",
}


def _node_values(n: Node) -> dict[str, object]:
    return {
        "type": n.type,
        "label": n.label,
        "prior": n.prior,
        "leak": n.leak,
        "detector": n.detector,
    }


def to_graphml(graph: KnowledgeGraph) -> str:
    """The graph as a GraphML document (directed)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
    ]
    for name, kind in _NODE_KEYS:
        lines.append(f'  <key id="{name}" for="node" attr.name="{name}" attr.type="{kind}"/>')
    for name, kind in _EDGE_KEYS:
        lines.append(f'  <key id="{name}" for="edge" attr.name="{name}" attr.type="{kind}"/>')
    lines.append(f'  <graph id={quoteattr(graph.name)} edgedefault="directed">')
    for n in graph.nodes.values():
        lines.append(f"    <node id={quoteattr(n.id)}>")
        for key, value in _node_values(n).items():
            if value is not None:
                lines.append(f'      <data key="{key}">{escape(str(value))}</data>')
        lines.append("    </node>")
    for i, e in enumerate(graph.edges):
        lines.append(
            f'    <edge id="e{i}" source={quoteattr(e.source)} target={quoteattr(e.target)}>'
        )
        lines.append(f'      <data key="kind">{e.kind}</data>')
        lines.append(f'      <data key="likelihood">{e.likelihood!r}</data>')
        lines.append("    </edge>")
    lines += ["  </graph>", "</graphml>", ""]
    return "\n".join(lines)


def from_graphml(text: str) -> KnowledgeGraph:
    """Read back a graph written by `to_graphml` (validated like a YAML graph)."""
    import xml.etree.ElementTree as ET

    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.fromstring(text)
    g = root.find("g:graph", ns)
    if g is None:
        raise ValueError("no <graph> element")
    nodes = []
    for el in g.findall("g:node", ns):
        d = {x.get("key"): x.text for x in el.findall("g:data", ns)}
        nodes.append(
            Node(
                el.get("id", ""),
                d.get("type", ""),
                d.get("label") or el.get("id", ""),
                float(d["prior"]) if d.get("prior") else None,
                float(d["leak"]) if d.get("leak") else None,
                d.get("detector"),
            )
        )
    edges = []
    for el in g.findall("g:edge", ns):
        d = {x.get("key"): x.text for x in el.findall("g:data", ns)}
        edges.append((el.get("source", ""), el.get("target", ""), float(d["likelihood"])))
    return KnowledgeGraph.from_parts(g.get("id", "graphml"), nodes, edges, source="<graphml>")


def _cypher_props(values: dict[str, object]) -> str:
    parts = [f"{k}: {json.dumps(v)}" for k, v in values.items() if v is not None]
    return "{" + ", ".join(parts) + "}"


def _rel_type(e: Edge) -> str:
    return e.kind.upper()


def to_cypher(graph: KnowledgeGraph) -> str:
    """Cypher statements that create the graph in Neo4j (one statement per line, `;` ended)."""
    lines = [f"// knowledge graph {graph.name}: {len(graph.nodes)} nodes, {len(graph.edges)} edges"]
    for n in graph.nodes.values():
        props = {"id": n.id, "label": n.label, "prior": n.prior, "leak": n.leak}
        props["detector"] = n.detector
        props["graph"] = graph.name
        lines.append(f"CREATE (:{NEO4J_LABELS[n.type]} {_cypher_props(props)});")
    for e in graph.edges:
        src, dst = json.dumps(e.source), json.dumps(e.target)
        g = json.dumps(graph.name)
        lines.append(
            f"MATCH (a {{id: {src}, graph: {g}}}), (b {{id: {dst}, graph: {g}}}) "
            f"CREATE (a)-[:{_rel_type(e)} {{likelihood: {e.likelihood!r}}}]->(b);"
        )
    return "\n".join(lines) + "\n"


def export_graph(graph: KnowledgeGraph, fmt: str, out: str | Path) -> Path:
    """Write the graph as `graphml` or `cypher` to `out`; returns the path."""
    text = {"graphml": to_graphml, "cypher": to_cypher}[fmt](graph)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
