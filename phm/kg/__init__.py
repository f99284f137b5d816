"""phm.kg: knowledge-graph root-cause analysis.

Graphs are data (phm/configs/kg/*.yaml, an FMEA CSV) in the vocabulary of ISO 14224: asset type ->
subunit -> maintainable item; failure mode, mechanism and cause kept apart; symptoms on named
features; actions. `rank_causes(graph, evidence)` is the exact posterior of a noisy-OR
Bayesian network under soft evidence from the detectors of `phm.diagnosis` (signals, the pump's
history since start-up and its sister pumps, the plant's records).

    from phm.kg import load_graph, rank_causes, explain_alert
    graph = load_graph("rotating_equipment")
    for rc in explain_alert(graph, prediction.fault_probs, symptoms):
        print(rc.label, rc.probability, rc.path, rc.actions)
"""

from phm.kg.inference import (
    Posterior,
    RankedCause,
    explain_alert,
    posterior,
    rank_causes,
    rank_modes,
    update_priors,
)
from phm.kg.loader import load_fmea, load_graph, shipped_graphs
from phm.kg.schema import GraphError, KnowledgeGraph

__all__ = [
    "GraphError",
    "KnowledgeGraph",
    "Posterior",
    "RankedCause",
    "explain_alert",
    "load_fmea",
    "load_graph",
    "posterior",
    "rank_causes",
    "rank_modes",
    "shipped_graphs",
    "update_priors",
]
