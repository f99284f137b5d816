"""The ion mill scorer (`[types.ion_mill] scorer = "ion_mill"`): a PHM 2018-style etch tool's
latest process row, its window of causal process features (those of `phm train --dataset
phm2018`, computed incrementally by `StreamingProcessFeatures`), time to failure per fault mode
within the model's horizon, and the flow-cool detectors (phm.diagnosis.flowcool: pressure and
flow against the tool's own previous hours) over the rows since its last scoring.

Health, what the alert's risk reads, is the least of: P(healthy) of the model's classes (the
tool's state now), P(no fault within the horizon) of each mode (the PHM 2018 bench's alarm is
its complement), and 1 - the strongest flow-cool symptom, so a precursor the model misses, or
one that rose and tripped between two scorings, still raises the alert. Its root causes rank
the flow-cool graph on the model's probabilities and the detectors' symptoms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import torch

from phm.diagnosis.flowcool import (
    BEAM,
    FLOW,
    PRESSURE,
    SYMPTOM_Z,
    FlowcoolDetectorConfig,
    fit_flowcool_baseline,
    flowcool_symptoms,
)
from phm.features.process import ProcessFeatureConfig
from phm.monitor.scorers import AssetScorer, ScoringModel, finite
from phm.monitor.streaming import StreamingProcessFeatures
from phm.plant import Plant
from phm.store.lake import Lake
from phm.store.state import Prediction

ION_MILL_GRAPH = "ion_mill_flowcool"  # phm/configs/kg/: the ion mill tools' flow-cool graph
PROCESS_CONFIG = ProcessFeatureConfig()  # the features `phm train --dataset phm2018` used
ION_MILL_ROW_S = 4.0  # an ion mill tool's row period (s): sizes the first read of its history
FLOWCOOL = FlowcoolDetectorConfig()  # chosen on simulated tools of seeds 11-13: docs/i18/story.md
FIRST_LOOKBACK_S = 3600.0  # the detectors' lookback at a tool's first scoring
MAX_LOOKBACK_S = 12 * 3600.0  # ... and at most, after a long pause of the monitor
RECENT_COLUMNS = ("time", PRESSURE, FLOW, BEAM)  # what the detectors read of a tool's rows


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
        self.scored: dict[str, float] = {}  # time of each tool's last scored row (s)
        self.recent: dict[str, pl.DataFrame] = {}  # flow-cool rows the detectors may still read
        self.symptoms: dict[str, dict[str, float]] = {}  # flow-cool symptoms of that scoring

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
        symptoms = self._flowcool(asset_id, float(last))
        known = [q for q in symptoms.values() if np.isfinite(q)]
        health = min(
            fault_probs.get("healthy", 1.0),
            float(no_fault.min()) if no_fault.size else 1.0,
            1.0 - max(known, default=0.0),
        )
        return Prediction(
            asset_id=asset_id,
            time=float(last),
            model=self.model.name,
            fault_probs=fault_probs,
            rul_median=None if first is None else float(median[first]) * hours,
            rul_lower=None if first is None else float(ttf["lower"][first]) * hours,
            rul_upper=None if first is None else finite(float(ttf["upper"][first]) * hours),
            health=health,
            expert_load=predictor.expert_load(),
            details={
                "unit": "hours (time to the next fault, within the model's horizon)",
                "p_healthy_now": fault_probs.get("healthy"),
                # unknown (NaN) as null: JSON has no NaN
                "flowcool_symptoms": {
                    k: q if np.isfinite(q) else None for k, q in symptoms.items()
                },
                "top_mode": classes[int(probs.argmax())],
                "no_fault_within_horizon": dict(zip(classes[1:], no_fault.tolist(), strict=True)),
                "horizon_h": float(grid[-1]) * hours,
            },
        )

    def root_causes(self, asset_id: str, pred: Prediction) -> dict[str, Any]:
        """The flow-cool graph ranked on the model's fault probabilities and the flow-cool
        symptoms of the same scoring (unknown ones left out)."""
        found = pred.details.get("flowcool_symptoms") or self.symptoms.get(asset_id, {})
        symptoms = {k: float(q) for k, q in found.items() if q is not None and np.isfinite(q)}
        return self.analysis(pred.fault_probs, symptoms)

    def _flowcool(self, asset_id: str, last: float) -> dict[str, float]:
        """The flow-cool symptoms of the rows since the tool's last scoring (and one rolling
        window before it), against the `reference_s` of rows before those; NaN (unknown)
        while the tool's history is too short for a reference."""
        prev = self.scored.get(asset_id, last - FIRST_LOOKBACK_S)
        start = max(prev, last - MAX_LOOKBACK_S) - FLOWCOOL.window_s
        rows = self.recent[asset_id].filter(pl.col("time") >= start - FLOWCOOL.reference_s)
        self.recent[asset_id] = rows
        self.scored[asset_id] = last
        reference = fit_flowcool_baseline(rows.filter(pl.col("time") < start), FLOWCOOL)
        if reference is None:
            out = dict.fromkeys(SYMPTOM_Z, float("nan"))
        else:
            out = flowcool_symptoms(rows.filter(pl.col("time") >= start), reference, FLOWCOOL)
        self.symptoms[asset_id] = out
        return out

    def _features(self, asset_id: str, last: float) -> pl.DataFrame | None:
        """The tool's newest process feature rows, one model window of them. The first pass
        reads the history one window and the longest feature window need (and the flow-cool
        detectors' reference and lookback); later passes read only the rows stored since (a
        row stored late, behind ones already fed, stays in the lake but does not enter the
        live features). The flow-cool columns of what was read are kept in `recent`."""
        assert self.model is not None
        feed = self.feeds.get(asset_id)
        if feed is None:
            feed = ProcessFeed(StreamingProcessFeatures(PROCESS_CONFIG), self.model.phm2018_keep())
            self.feeds[asset_id] = feed
            start = last - PROCESS_CONFIG.long_s - feed.keep * ION_MILL_ROW_S - 60.0
            need = FLOWCOOL.reference_s + FIRST_LOOKBACK_S + FLOWCOOL.window_s
            rows = self.lake.read_rows("process", asset_id, start=min(start, last - need))
            feed.update(rows.filter(pl.col("time") >= start))
            self.recent[asset_id] = rows.select(RECENT_COLUMNS)
        else:
            start = float(np.nextafter(feed.last_time, np.inf))
            rows = self.lake.read_rows("process", asset_id, start=start)
            feed.update(rows)
            self.recent[asset_id] = pl.concat([self.recent[asset_id], rows.select(RECENT_COLUMNS)])
        return feed.features
