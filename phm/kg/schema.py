"""The knowledge-graph schema, in the vocabulary of ISO 14224 (failure mode, mechanism and cause
kept apart), and its validation.

Node types:
    asset_type      equipment class (centrifugal pump, ion mill flow-cool loop, turbofan)
    subunit         a subunit of it (drive motor, pump unit, chiller)
    item            maintainable item (drive-end bearing, mechanical seal, pressure sensor)
    failure_mode    how the item fails, as observed (ISO 14224 failure mode: outer-race spall,
                    pressure too low)
    mechanism       the physical, chemical or other process that leads to it (fatigue, wear)
    cause           the root cause, the circumstance that starts the mechanism (contamination,
                    soft foot); the roots of the Bayesian network, with a prior
    symptom         an observable pattern on a named feature or sensor ("envelope energy at
                    BPFO rising"); `detector` names the evidence key that measures it
    action          a remedy

Edges carry a likelihood p in (0, 1]: on causal edges the noisy-OR link probability (the
parent alone turns the child on with probability p), on action edges the share of cases the
action fixes, on structural edges (asset_type -> subunit -> item -> failure_mode) 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from phm.errors import PhmError

NODE_TYPES: tuple[str, ...] = (
    "asset_type",
    "subunit",
    "item",
    "failure_mode",
    "mechanism",
    "cause",
    "symptom",
    "action",
)
# (source type, target type) -> edge kind. Anything else is a schema error.
EDGE_KINDS: dict[tuple[str, str], str] = {
    ("asset_type", "subunit"): "has_part",
    ("subunit", "item"): "has_part",
    ("item", "failure_mode"): "fails_by",
    ("cause", "mechanism"): "causes",
    ("cause", "failure_mode"): "causes",
    ("mechanism", "mechanism"): "causes",
    ("mechanism", "failure_mode"): "causes",
    ("failure_mode", "failure_mode"): "causes",  # a secondary failure (lubrication -> race)
    ("cause", "symptom"): "shows",
    ("mechanism", "symptom"): "shows",
    ("failure_mode", "symptom"): "shows",
    ("cause", "action"): "remedied_by",
    ("mechanism", "action"): "remedied_by",
    ("failure_mode", "action"): "remedied_by",
}
CAUSAL_KINDS = ("causes", "shows")
LATENT_TYPES = ("mechanism", "failure_mode")
DEFAULT_LEAK = 0.02  # P(symptom seen) with none of its parents active: false alarms, noise
DEFAULT_PRIOR = 0.01


class GraphError(PhmError, ValueError):
    """A graph file or FMEA sheet is invalid; the message names the file and the node, edge,
    line or column at fault."""


@dataclass(frozen=True)
class Node:
    """One node. `prior` is set on causes (from `prior` or an FMEA `occurrence` rating),
    `leak` on symptoms; `detector` on symptoms names the evidence key that measures them."""

    id: str
    type: str
    label: str
    prior: float | None = None
    leak: float | None = None
    detector: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Edge:
    """A directed edge with its likelihood in (0, 1]."""

    source: str
    target: str
    likelihood: float
    kind: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


@dataclass
class KnowledgeGraph:
    """A validated graph: nodes by id (file order kept) and edges. Build with `from_parts`."""

    name: str
    nodes: dict[str, Node]
    edges: list[Edge]
    description: str = ""
    source: str = "<memory>"
    _out: dict[str, list[Edge]] = field(default_factory=dict, repr=False)
    _in: dict[str, list[Edge]] = field(default_factory=dict, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_parts(
        cls,
        name: str,
        nodes: Iterable[Node],
        edges: Iterable[tuple[str, str, float]],
        *,
        description: str = "",
        source: str = "<memory>",
    ) -> KnowledgeGraph:
        """Validate and build; raises GraphError naming `source` and the node or edge at fault."""
        by_id: dict[str, Node] = {}
        for node in nodes:
            if not node.id or not isinstance(node.id, str):
                raise GraphError(f"{source}: node with an empty or non-string id {node.id!r}")
            if node.id in by_id:
                raise GraphError(f"{source}: duplicate node id {node.id!r}")
            if node.type not in NODE_TYPES:
                raise GraphError(
                    f"{source}: node {node.id!r} has type {node.type!r} (expected one of "
                    f"{', '.join(NODE_TYPES)})"
                )
            for what, value in (("prior", node.prior), ("leak", node.leak)):
                if value is not None and not 0 < value < 1:
                    raise GraphError(f"{source}: node {node.id!r}: {what} {value} outside (0, 1)")
            by_id[node.id] = node
        built: list[Edge] = []
        seen: set[tuple[str, str]] = set()
        for src, dst, p in edges:
            where = f"{source}: edge {src} -> {dst}"
            for end in (src, dst):
                if end not in by_id:
                    raise GraphError(f"{where}: unknown node {end!r}")
            kind = EDGE_KINDS.get((by_id[src].type, by_id[dst].type))
            if kind is None:
                allowed = sorted({f"{a} -> {b}" for a, b in EDGE_KINDS if a == by_id[src].type})
                raise GraphError(
                    f"{where}: wrong node types {by_id[src].type} -> {by_id[dst].type} "
                    f"(from a {by_id[src].type}: {', '.join(allowed) or 'no edges allowed'})"
                )
            if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 1:
                raise GraphError(f"{where}: likelihood {p!r} outside (0, 1]")
            if (src, dst) in seen:
                raise GraphError(f"{where}: duplicate edge")
            seen.add((src, dst))
            built.append(Edge(src, dst, float(p), kind))
        graph = cls(name, by_id, built, description, source)
        graph._index()
        graph._check_acyclic()
        return graph

    def _index(self) -> None:
        self._out = {n: [] for n in self.nodes}
        self._in = {n: [] for n in self.nodes}
        for e in self.edges:
            self._out[e.source].append(e)
            self._in[e.target].append(e)

    def _check_acyclic(self) -> None:
        """Causal and structural edges must form a DAG (noisy-OR needs one); name a cycle."""
        state: dict[str, int] = {}
        for start in self.nodes:
            if state.get(start):
                continue
            stack: list[tuple[str, Iterable[Edge]]] = [(start, iter(self._out[start]))]
            trail = [start]
            state[start] = 1
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    state[node] = 2
                    stack.pop()
                    trail.pop()
                    continue
                child = nxt.target
                if state.get(child) == 1:
                    cycle = [*trail[trail.index(child) :], child]
                    raise GraphError(
                        f"{self.source}: cycle not allowed through edge {nxt}: "
                        + " -> ".join(cycle)
                    )
                if not state.get(child):
                    state[child] = 1
                    trail.append(child)
                    stack.append((child, iter(self._out[child])))

    # --- queries ------------------------------------------------------------------------------
    def of_type(self, node_type: str) -> list[str]:
        """Node ids of one type, in file order."""
        return [n.id for n in self.nodes.values() if n.type == node_type]

    def out_edges(self, node: str, kind: str | None = None) -> list[Edge]:
        return [e for e in self._out[node] if kind is None or e.kind == kind]

    def in_edges(self, node: str, kind: str | None = None) -> list[Edge]:
        return [e for e in self._in[node] if kind is None or e.kind == kind]

    def prior(self, cause: str) -> float:
        """The prior probability of a cause (DEFAULT_PRIOR when the file gives none)."""
        p = self.nodes[cause].prior
        return DEFAULT_PRIOR if p is None else p

    def leak(self, symptom: str) -> float:
        p = self.nodes[symptom].leak
        return DEFAULT_LEAK if p is None else p

    def with_priors(self, priors: Mapping[str, float]) -> KnowledgeGraph:
        """A copy with some causes' priors replaced (validated)."""
        nodes = []
        for n in self.nodes.values():
            if n.id in priors:
                if n.type != "cause":
                    raise GraphError(f"{self.source}: prior given for {n.id!r}, a {n.type}")
                n = Node(n.id, n.type, n.label, float(priors[n.id]), n.leak, n.detector, n.attrs)
            nodes.append(n)
        unknown = set(priors) - set(self.nodes)
        if unknown:
            raise GraphError(f"{self.source}: prior given for unknown node {sorted(unknown)[0]!r}")
        return KnowledgeGraph.from_parts(
            self.name,
            nodes,
            [(e.source, e.target, e.likelihood) for e in self.edges],
            description=self.description,
            source=self.source,
        )

    def summary(self) -> dict[str, int]:
        """Counts of nodes per type and of edges."""
        out = {t: len(self.of_type(t)) for t in NODE_TYPES}
        out["nodes"] = len(self.nodes)
        out["edges"] = len(self.edges)
        return out
