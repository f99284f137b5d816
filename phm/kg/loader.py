"""Graphs from data: YAML graph files (phm/configs/kg/*.yaml) and a plant's FMEA sheet (CSV).

YAML layout:

    name: rotating_equipment
    description: ...
    nodes:
      - {id: c.contamination, type: cause, label: contamination, occurrence: 6,
         to: {m.abrasive_wear: 0.7, a.seal_upgrade: 0.6}}
      - {id: s.env_bpfo, type: symptom, label: envelope energy at BPFO rising,
         detector: vib.env_bpfo, leak: 0.03}
    edges:                       # optional; `to:` on a node is the same thing, shorter
      - [m.abrasive_wear, outer_race, 0.5]
      - {from: m.fatigue, to: inner_race, p: 0.6}

A cause's prior is `prior` (a probability) or `occurrence` (an FMEA rating 1-10, see
`occurrence_prior`). Extra keys of a node are kept in `Node.attrs`.

FMEA CSV: one row per (component, failure mode, cause) with columns component, function,
failure_mode, effect, cause, detection (the symptom or detection method), severity, occurrence,
detection_rating (1-10 each), optionally action; RPN = S x O x D is computed.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phm.kg.schema import GraphError, KnowledgeGraph, Node
from phm.resources import resource_path, shipped

_NODE_KEYS = {"id", "type", "label", "prior", "occurrence", "leak", "detector", "to"}


def occurrence_prior(rating: float) -> float:
    """An FMEA occurrence rating 1-10 as a probability: 10 -> 0.5, each step down / sqrt(10)
    (rating 1 -> 1.6e-5), the log-linear shape of the AIAG occurrence table."""
    if not 1 <= rating <= 10:
        raise ValueError(f"occurrence rating {rating} outside 1-10")
    return 0.5 * 10 ** ((rating - 10) / 2)


def shipped_graphs() -> list[str]:
    """Names of the graphs shipped in phm/configs/kg/."""
    return sorted(Path(n).stem for n in shipped("kg", ".yaml"))


def load_graph(path_or_name: str | Path) -> KnowledgeGraph:
    """A graph from a YAML file, or a shipped graph by name ("rotating_equipment")."""
    p = Path(path_or_name)
    if not p.suffix and not p.exists():
        if p.name not in shipped_graphs():
            raise GraphError(
                f"{path_or_name}: no such graph (shipped: {', '.join(shipped_graphs())})"
            )
        p = resource_path(f"kg/{p.name}.yaml")
    if p.suffix.lower() == ".csv":
        return fmea_graph(load_fmea(p), name=p.stem, source=str(p))
    import yaml

    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise GraphError(f"{p}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise GraphError(f"{p}: not valid YAML ({exc})") from exc
    return graph_from_dict(data, source=str(p))


def graph_from_dict(data: Any, source: str = "<memory>") -> KnowledgeGraph:
    """Validate a parsed YAML document and build the graph."""
    if not isinstance(data, Mapping):
        raise GraphError(f"{source}: expected a mapping with 'name', 'nodes' and 'edges'")
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise GraphError(f"{source}: 'nodes' must be a non-empty list")
    nodes: list[Node] = []
    edges: list[tuple[str, str, float]] = []
    for i, raw in enumerate(raw_nodes):
        if not isinstance(raw, Mapping) or "id" not in raw or "type" not in raw:
            raise GraphError(f"{source}: node #{i + 1} needs at least 'id' and 'type': {raw!r}")
        nid = str(raw["id"])
        prior = raw.get("prior")
        if "occurrence" in raw:
            occ = raw["occurrence"]
            if not isinstance(occ, int | float) or isinstance(occ, bool) or not 1 <= occ <= 10:
                raise GraphError(f"{source}: node {nid!r}: occurrence {occ!r} outside 1-10")
            prior = occurrence_prior(float(occ))
        for key in ("prior", "leak"):
            v = raw.get(key)
            if v is not None and (not isinstance(v, int | float) or isinstance(v, bool)):
                raise GraphError(f"{source}: node {nid!r}: {key} {v!r} is not a number")
        if prior is not None and raw["type"] != "cause":
            raise GraphError(f"{source}: node {nid!r}: a prior belongs on a cause only")
        attrs = {k: v for k, v in raw.items() if k not in _NODE_KEYS}
        if "occurrence" in raw:
            attrs["occurrence"] = raw["occurrence"]
        nodes.append(
            Node(
                nid,
                str(raw["type"]),
                str(raw.get("label", nid)),
                None if prior is None else float(prior),
                None if raw.get("leak") is None else float(raw["leak"]),
                None if raw.get("detector") is None else str(raw["detector"]),
                attrs,
            )
        )
        targets = raw.get("to") or {}
        if not isinstance(targets, Mapping):
            raise GraphError(f"{source}: node {nid!r}: 'to' must map target id -> likelihood")
        edges += [(nid, str(t), p) for t, p in targets.items()]
    for i, raw in enumerate(data.get("edges") or []):
        if isinstance(raw, list | tuple) and len(raw) in (2, 3):
            src, dst, p = raw[0], raw[1], raw[2] if len(raw) == 3 else 1.0
        elif isinstance(raw, Mapping) and "from" in raw and "to" in raw:
            src, dst, p = raw["from"], raw["to"], raw.get("p", 1.0)
        else:
            raise GraphError(f"{source}: edge #{i + 1} must be [from, to, p] or {{from, to, p}}")
        edges.append((str(src), str(dst), p))
    return KnowledgeGraph.from_parts(
        str(data.get("name", Path(source).stem)),
        nodes,
        edges,
        description=str(data.get("description", "")),
        source=source,
    )


# --- FMEA ---------------------------------------------------------------------------------
FMEA_COLUMNS = (
    "component",
    "function",
    "failure_mode",
    "effect",
    "cause",
    "detection",
    "severity",
    "occurrence",
    "detection_rating",
)
RATING_COLUMNS = ("severity", "occurrence", "detection_rating")


@dataclass(frozen=True)
class FmeaRow:
    """One FMEA line; `line` is its line number in the file (header = 1)."""

    line: int
    component: str
    function: str
    failure_mode: str
    effect: str
    cause: str
    detection: str
    severity: int
    occurrence: int
    detection_rating: int
    action: str = ""

    @property
    def rpn(self) -> int:
        """Risk priority number S x O x D (1-1000)."""
        return self.severity * self.occurrence * self.detection_rating


def _column_key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_").replace("/", "_")


def load_fmea(path: str | Path) -> list[FmeaRow]:
    """The rows of an FMEA CSV; GraphError names the file, line and column of a bad cell."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise GraphError(f"{p}: cannot read ({exc})") from exc
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise GraphError(f"{p}: empty FMEA file")
    keys = [_column_key(h) for h in header]
    aliases = {"detection_symptom": "detection", "symptom": "detection", "s": "severity"}
    keys = [aliases.get(k, k) for k in keys]
    missing = [c for c in FMEA_COLUMNS if c not in keys]
    if missing:
        raise GraphError(
            f"{p}, line 1: missing column(s) {', '.join(missing)} (expected "
            f"{', '.join(FMEA_COLUMNS)}[, action])"
        )
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(keys):
            raise GraphError(f"{p}, line {line}: {len(cells)} cells, header has {len(keys)}")
        rec = {k: c.strip() for k, c in zip(keys, cells, strict=True)}
        for col in ("component", "failure_mode", "cause"):
            if not rec[col]:
                raise GraphError(f"{p}, line {line}, column {col!r}: empty")
        ratings = {}
        for col in RATING_COLUMNS:
            try:
                v = int(rec[col])
            except ValueError:
                v = -1
            if not 1 <= v <= 10:
                raise GraphError(
                    f"{p}, line {line}, column {col!r}: {rec[col]!r} is not a rating 1-10"
                )
            ratings[col] = v
        rows.append(
            FmeaRow(
                line,
                rec["component"],
                rec["function"],
                rec["failure_mode"],
                rec["effect"],
                rec["cause"],
                rec["detection"],
                action=rec.get("action", ""),
                **ratings,
            )
        )
    if not rows:
        raise GraphError(f"{p}: no FMEA rows")
    return rows


def _slug(text: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def fmea_graph(rows: list[FmeaRow], name: str = "fmea", source: str = "<fmea>") -> KnowledgeGraph:
    """An FMEA sheet as a graph: asset -> item (component) -> failure mode; cause -> mode with
    p 0.9, prior from the occurrence rating (the largest where a cause repeats); mode ->
    symptom with p from the detection rating (1 -> 1.0, 10 -> 0.1); cause -> action."""
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str], float] = {}
    asset = f"asset.{_slug(name)}"
    nodes[asset] = Node(asset, "asset_type", name)
    sub = f"sub.{_slug(name)}"
    nodes[sub] = Node(sub, "subunit", f"{name} (from FMEA)")
    edges[(asset, sub)] = 1.0
    for r in rows:
        item = f"item.{_slug(r.component)}"
        mode = f"fm.{_slug(r.component)}.{_slug(r.failure_mode)}"
        cause = f"c.{_slug(r.component)}.{_slug(r.cause)}"
        nodes.setdefault(item, Node(item, "item", r.component, attrs={"function": r.function}))
        nodes.setdefault(
            mode, Node(mode, "failure_mode", r.failure_mode, attrs={"effect": r.effect})
        )
        prior = occurrence_prior(r.occurrence)
        old = nodes.get(cause)
        if old is None or (old.prior or 0) < prior:
            nodes[cause] = Node(
                cause,
                "cause",
                r.cause,
                prior,
                attrs={"rpn": r.rpn, "severity": r.severity, "occurrence": r.occurrence},
            )
        edges[(sub, item)] = 1.0
        edges[(item, mode)] = 1.0
        edges[(cause, mode)] = 0.9
        if r.detection:
            sym = f"s.{_slug(r.detection)}"
            nodes.setdefault(sym, Node(sym, "symptom", r.detection, detector=_slug(r.detection)))
            p = round(1.0 - (r.detection_rating - 1) / 10, 3)
            edges[(mode, sym)] = max(edges.get((mode, sym), 0.0), p)
        if r.action:
            act = f"a.{_slug(r.action)}"
            nodes.setdefault(act, Node(act, "action", r.action))
            edges[(cause, act)] = 0.8
    return KnowledgeGraph.from_parts(
        name,
        nodes.values(),
        [(a, b, p) for (a, b), p in edges.items()],
        description=f"imported from FMEA {source}",
        source=source,
    )
