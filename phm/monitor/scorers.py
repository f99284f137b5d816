"""The scorer interface: one `AssetScorer` per asset type, named by `[types.X] scorer` of the
plant TOML (phm.monitor.registry maps the name to its class).

A scorer holds what scoring one type needs (its checkpoint, its knowledge graph, its detectors
and their per-asset state) and does two things for `phm.monitor.scorer.Monitor`:

- `score(asset_id, after)`: a `Prediction` from the asset's latest data in the lake if that is
  newer than `after` (the time of its last prediction), else None. The scorer does not write it:
  the monitor writes predictions and steps the alerts.
- `root_causes(asset_id, pred)`: the ranked root causes of the type's graph (each with its
  evidence path and actions), the graph's posterior over failure modes (`modes`) and the
  symptoms they rest on, for an open alert (refreshed at every scoring).

A scorer is built with the checkpoint of its `dataset` (`phm train --dataset <dataset>`) if
the monitor was given one; without it, it scores nothing but still ranks root causes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from phm.kg.fault_history import with_fault_history
from phm.kg.inference import explain_alert, explain_modes
from phm.kg.loader import load_graph
from phm.kg.schema import KnowledgeGraph
from phm.models.predictor import Predictor
from phm.plant import Plant
from phm.store.lake import Lake
from phm.store.state import Prediction


class ScoringModel(Predictor):
    """The `Predictor` a scorer scores with; `load` refuses a checkpoint of another dataset
    than the one asked for."""

    @classmethod
    def load(cls, path: str | Path, dataset: str | None = "plant") -> ScoringModel:
        """A checkpoint of `phm train --dataset <dataset>`: "plant" scores pumps, "phm2018"
        ion mill tools."""
        out = super().load(path, dataset)
        assert isinstance(out, ScoringModel)
        return out


class AssetScorer(ABC):
    """Scores the assets of one type (`type_name`) of `plant` from `lake` with `model`."""

    dataset: ClassVar[str]  # the checkpoints it scores with: `phm train --dataset <dataset>`
    # further datasets whose checkpoints take the same windows (e.g. "lake" for pumps)
    also_scores: ClassVar[tuple[str, ...]] = ()
    graph_name: ClassVar[str]  # its shipped knowledge graph (phm/configs/kg/)

    def __init__(
        self, type_name: str, plant: Plant, lake: Lake, model: ScoringModel | None
    ) -> None:
        self.type_name = type_name
        self.plant = plant
        self.lake = lake
        self.model = model
        self.graph = type_graph(plant, self.graph_name, type_name)

    @classmethod
    def datasets(cls) -> tuple[str, ...]:
        """Every dataset whose checkpoints this scorer scores with, its own first."""
        return (cls.dataset, *cls.also_scores)

    def check_model(self, model: ScoringModel) -> None:
        """A ConfigError unless `model` is a checkpoint this scorer can score with."""
        if model.header.dataset not in self.datasets():
            model.require(self.dataset, model.name, f"the {self.type_name!r} scorer")

    @abstractmethod
    def score(self, asset_id: str, after: float) -> Prediction | None:
        """The asset's prediction from data newer than `after` (s); None when there is none
        (or no model)."""

    @abstractmethod
    def root_causes(self, asset_id: str, pred: Prediction) -> dict[str, Any]:
        """`root_causes` (ranked, with the evidence path and actions), `modes` (the graph's
        posterior over failure modes), the `symptoms` they rest on and the `graph` that
        ranked them (`analysis`)."""

    def analysis(self, fault_probs: dict[str, float], symptoms: dict[str, float]) -> dict[str, Any]:
        """What `root_causes` returns: the top 5 causes of `explain_alert` and the failure
        modes of `explain_modes` (most probable first, [mode, probability] pairs) on the
        model's fault probabilities and the detectors' symptom strengths."""
        ranked = explain_alert(self.graph, fault_probs, symptoms, top=5)
        modes = explain_modes(self.graph, fault_probs, symptoms)
        return {
            "root_causes": self.causes(ranked),
            "modes": [[m, float(p)] for m, p in modes],
            # an unknown reading (NaN) as null: JSON has no NaN
            "symptoms": {
                k: float(q) if finite(q) is not None else None for k, q in symptoms.items()
            },
            "graph": self.graph.name,
        }

    def causes(self, ranked: list) -> list[dict[str, Any]]:
        """Ranked causes of `phm.kg.inference.explain_alert` as the alert details hold them."""
        return [
            {
                "cause": r.cause,
                "label": r.label or r.cause,
                "probability": r.probability,
                "path": list(r.path),
                "actions": list(r.actions),
                "action_labels": [self.label(a) for a in r.actions],
                "path_labels": [self.label(n) for n in r.path],
            }
            for r in ranked
        ]

    def label(self, node_id: str) -> str:
        node = self.graph.nodes.get(node_id)
        return node.label if node is not None and node.label else node_id


def type_graph(plant: Plant, name: str, asset_type: str) -> KnowledgeGraph:
    """The shipped graph `name`, its cause priors updated by the plant's fault history of
    `asset_type` where the plant TOML names one (`fault_history`)."""
    graph = load_graph(name)
    spec = plant.types.get(asset_type)
    if spec is not None and spec.fault_history is not None:
        graph = with_fault_history(graph, spec.fault_history)
    return graph


def finite(x: float | None) -> float | None:
    return x if x is not None and np.isfinite(x) else None
