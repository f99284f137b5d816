"""The ion mill scorer (`[types.ion_mill] scorer = "ion_mill"`): a PHM 2018-style etch tool's
latest process row, its window of causal process features (those of `phm train --dataset
phm2018`, computed incrementally by `StreamingProcessFeatures`), time to failure per fault mode
within the model's horizon. Its root causes rank the flow-cool graph on the model's word only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import torch

from phm.features.process import ProcessFeatureConfig
from phm.kg.inference import explain_alert
from phm.monitor.scorers import AssetScorer, ScoringModel, finite
from phm.monitor.streaming import StreamingProcessFeatures
from phm.plant import Plant
from phm.store.lake import Lake
from phm.store.state import Prediction

ION_MILL_GRAPH = "ion_mill_flowcool"  # phm/configs/kg/: the ion mill tools' flow-cool graph
PROCESS_CONFIG = ProcessFeatureConfig()  # the features `phm train --dataset phm2018` used
ION_MILL_ROW_S = 4.0  # an ion mill tool's row period (s): sizes the first read of its history


@dataclass
class ProcessFeed:
    """One ion mill tool's process features, carried from pass to pass: each pass feeds only
    the rows that arrived since the last (`StreamingProcessFeatures`, equal to the batch code
    over the whole record) and keeps the newest `keep` feature rows, one model window."""

    stream: StreamingProcessFeatures
    keep: int
    features: pl.DataFrame | None = None
    last_time: float = -np.inf  # stored time of the last row fed (s)
    last_second: int | None = None  # the same, rounded to the second as the features use it

    def update(self, rows: pl.DataFrame) -> None:
        """Feed rows newer than the last fed (lake columns; float `time`)."""
        if rows.height == 0:
            return
        self.last_time = float(rows["time"].max())
        rows = rows.with_columns(pl.col("time").round(0).cast(pl.Int64))
        if self.last_second is not None:  # two rows within a second of the last keep one
            rows = rows.filter(pl.col("time") > self.last_second)
        rows = rows.unique("time", keep="last", maintain_order=True)
        if rows.height == 0:
            return
        self.last_second = int(rows["time"][-1])
        new = self.stream.update(rows)
        both = new if self.features is None else pl.concat([self.features, new])
        self.features = both.tail(self.keep)


class IonMillScorer(AssetScorer):
    """Scores ion mill etch tools with a `phm train --dataset phm2018` checkpoint."""

    dataset = "phm2018"
    graph_name = ION_MILL_GRAPH

    def __init__(
        self, type_name: str, plant: Plant, lake: Lake, model: ScoringModel | None
    ) -> None:
        super().__init__(type_name, plant, lake, model)
        self.feeds: dict[str, ProcessFeed] = {}  # the tools' live process features

    @torch.no_grad()
    def score(self, asset_id: str, after: float) -> Prediction | None:
        """The tool's latest process row: its window of causal process features (those of
        `phm train --dataset phm2018`, computed incrementally: `_features`), TTF per fault mode
        within the model's horizon."""
        if self.model is None:
            return None
        predictor = self.model
        last = self.lake.latest_time("process", asset_id)
        if last is None or last <= after:
            return None
        feats = self._features(asset_id, last)
        if feats is None:
            return None
        out = predictor.predict(predictor.phm2018_inputs(feats))
        assert out.fault is not None and out.ttf is not None
        classes = ["healthy" if c == "none" else c for c in predictor.header.classes]
        probs = out.fault[0]
        ttf = {k: v[0] for k, v in out.ttf.items()}  # (M,) per fault mode, seconds
        no_fault, median = ttf["no_fault"], ttf["median"]
        soon = np.flatnonzero(no_fault < 0.5)  # modes with a fault likely within the horizon
        first = int(soon[np.argmin(median[soon])]) if soon.size else None
        hours = 1.0 / 3600.0
        grid = predictor.model.ttf.grid
        fault_probs = {c: float(p) for c, p in zip(classes, probs, strict=True)}
        return Prediction(
            asset_id=asset_id,
            time=float(last),
            model=self.model.name,
            fault_probs=fault_probs,
            rul_median=None if first is None else float(median[first]) * hours,
            rul_lower=None if first is None else float(ttf["lower"][first]) * hours,
            rul_upper=None if first is None else finite(float(ttf["upper"][first]) * hours),
            health=fault_probs.get("healthy"),
            expert_load=predictor.expert_load(),
            details={
                "unit": "hours (time to the next fault, within the model's horizon)",
                "top_mode": classes[int(probs.argmax())],
                "no_fault_within_horizon": dict(zip(classes[1:], no_fault.tolist(), strict=True)),
                "horizon_h": float(grid[-1]) * hours,
            },
        )

    def root_causes(self, asset_id: str, pred: Prediction) -> dict[str, Any]:
        """The flow-cool graph ranked on the model's fault probabilities (no live detectors)."""
        ranked = explain_alert(self.graph, pred.fault_probs, {}, top=5)
        return {"root_causes": self.causes(ranked), "symptoms": {}, "graph": ION_MILL_GRAPH}

    def _features(self, asset_id: str, last: float) -> pl.DataFrame | None:
        """The tool's newest process feature rows, one model window of them. The first pass
        reads the history one window and the longest feature window need; later passes read
        only the rows stored since (a row stored late, behind ones already fed, stays in the
        lake but does not enter the live features)."""
        assert self.model is not None
        feed = self.feeds.get(asset_id)
        if feed is None:
            feed = ProcessFeed(StreamingProcessFeatures(PROCESS_CONFIG), self.model.phm2018_keep())
            self.feeds[asset_id] = feed
            start = last - PROCESS_CONFIG.long_s - feed.keep * ION_MILL_ROW_S - 60.0
        else:
            start = float(np.nextafter(feed.last_time, np.inf))
        feed.update(self.lake.read_rows("process", asset_id, start=start))
        return feed.features
