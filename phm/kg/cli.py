"""`phm kg explain|export|check`: the knowledge graph from the command line.

phm kg explain --asset pump-001 --store data/demo/store [--graph rotating_equipment] [--top 5]
    ranked root causes of the asset's latest open alert (else its latest prediction), from the
    fault probabilities stored with it, plus any symptom strengths the monitor stored under
    details["symptoms"]; --history CSV updates the cause priors by the plant's past failures
    (phm.kg.fault_history)
phm kg export --graph rotating_equipment --format graphml|cypher --out PATH
phm kg check FILE            validate a graph YAML or an FMEA CSV; exit 2 naming the fault
"""

from __future__ import annotations

import argparse
from pathlib import Path

from phm.errors import ConfigError
from phm.kg.fault_history import with_fault_history
from phm.kg.inference import explain_alert
from phm.kg.loader import load_graph

# asset type (phm/configs/plant.toml) -> shipped graph
GRAPH_OF_TYPE = {"pump": "rotating_equipment", "ion_mill": "ion_mill_flowcool"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the kg commands (one parser per name; unused flags are harmless)."""
    parser.add_argument("file", nargs="?", type=Path, help="check: graph YAML or FMEA CSV")
    parser.add_argument("--asset", help="explain: asset id")
    parser.add_argument("--store", type=Path, help="explain: store folder (state.sqlite)")
    parser.add_argument("--graph", help="graph name (phm/configs/kg) or YAML/CSV path")
    parser.add_argument("--top", type=int, default=5, help="explain: causes to print")
    parser.add_argument(
        "--history", type=Path, help="explain: fault-history CSV (asset,failed_at,cause)"
    )
    parser.add_argument("--format", choices=("graphml", "cypher"), default="graphml")
    parser.add_argument("--out", type=Path, help="export: output file")


def run(args: argparse.Namespace) -> int:
    """Dispatch on args.name."""
    if args.name == "check":
        if args.file is None:
            raise ConfigError("phm kg check FILE: give a graph YAML or an FMEA CSV")
        graph = load_graph(args.file)
        counts = ", ".join(f"{k} {v}" for k, v in graph.summary().items() if v)
        print(f"{args.file}: ok ({counts})")
        return 0
    if args.name == "export":
        if not args.graph or args.out is None:
            raise ConfigError("phm kg export needs --graph NAME and --out PATH")
        from phm.kg.export import export_graph

        path = export_graph(load_graph(args.graph), args.format, args.out)
        print(f"wrote {path}")
        return 0
    return _explain(args)


def _explain(args: argparse.Namespace) -> int:
    if not args.asset or args.store is None:
        raise ConfigError("phm kg explain needs --asset ID and --store DIR")
    from phm.store.state import StateStore, state_exists, state_location

    db = state_location(args.store)
    if not state_exists(db):
        raise ConfigError(f"{args.store}: no state.sqlite here")

    with StateStore(db, readonly=True) as state:
        alerts = [
            a
            for a in state.alerts(asset=args.asset)
            if a.status != "cleared" and a.kind == "condition"  # not the stale / comms alarms
        ]
        preds = state.predictions(args.asset)
        assets = {row[0]: row[1] for row in state.assets()}
    if alerts:
        alert = max(alerts, key=lambda a: a.updated_at)
        probs = alert.details.get("fault_probs") or (preds[-1].fault_probs if preds else {})
        symptoms = alert.details.get("symptoms") or {}
        print(f"{args.asset}: alert #{alert.alert_id} {alert.severity}: {alert.message}")
    elif preds:
        probs, symptoms = preds[-1].fault_probs, preds[-1].details.get("symptoms") or {}
        print(f"{args.asset}: no open alert; latest prediction at {preds[-1].time:.0f}")
    else:
        raise ConfigError(f"{args.asset}: no alerts or predictions in {db}")
    name = args.graph or GRAPH_OF_TYPE.get(assets.get(args.asset, ""), "rotating_equipment")
    graph = load_graph(name)
    if args.history is not None:
        graph = with_fault_history(graph, args.history)
    for i, rc in enumerate(explain_alert(graph, probs, symptoms, top=args.top), 1):
        labels = [graph.nodes[n].label for n in rc.path]
        print(f"{i}. {rc.label} ({rc.probability:.2f})")
        print(f"   path: {' -> '.join(labels)}")
        if rc.actions:
            print(f"   do: {'; '.join(graph.nodes[a].label for a in rc.actions[:3])}")
    return 0
