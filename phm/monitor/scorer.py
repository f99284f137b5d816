"""Online scoring: each asset's latest window from the lake -> prediction -> alerts.

`Monitor.evaluate(now)` goes over the plant's assets that have a model: for a pump, the last
`snapshots` vibration snapshots and the temperature and process rows at those times
(`pump_window`, the training window of `phm train --dataset plant`), scored by the checkpoint.
It writes one `Prediction` per new snapshot (fault-mode probabilities, RUL median and 90%
interval in hours of life, health = P(healthy), expert loads per MoE layer) and steps each
asset's alert through the hysteresis of phm.monitor.alerts, opening, escalating,
de-escalating and clearing alerts in the state store. Every alert opened or changed carries the
ranked root causes of the knowledge graph (phm.kg: the model's fault probabilities and the
symptom detectors of `phm.diagnosis.record.record_symptoms` on the pump's latest data, last day
and history read from the lake, against its own early baseline and its sister pumps'; see
`Monitor.root_causes`), each with its evidence path and recommended actions. Alert levels are
rebuilt from the open alerts at start, so a restarted monitor carries on where it stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from phm.diagnosis.evidence import PumpBaseline, fit_pump_baseline, vibration_features
from phm.diagnosis.load_cycle import cross_phase
from phm.diagnosis.record import record_symptoms
from phm.errors import ConfigError
from phm.features.process import ProcessFeatureConfig
from phm.features.spectral import BearingGeometry
from phm.kg.fault_history import with_fault_history
from phm.kg.inference import explain_alert
from phm.kg.loader import load_graph
from phm.kg.schema import KnowledgeGraph
from phm.models.heads import hazard_survival, survival_quantile
from phm.models.model import PhmModel, load_checkpoint
from phm.models.windows import phm2018_windows, pump_window, read_latest_pump_data
from phm.monitor.alerts import AlertPolicy, AlertState, risk_score, step
from phm.monitor.pump_record import nearest, read_pump_record
from phm.monitor.streaming import StreamingProcessFeatures
from phm.plant import Plant, pump_spec
from phm.store.lake import Lake
from phm.store.state import Prediction, StateStore

log = logging.getLogger(__name__)

ROOT_CAUSE_GRAPH = "rotating_equipment"  # phm/configs/kg/: the pumps' knowledge graph
ION_MILL_GRAPH = "ion_mill_flowcool"  # phm/configs/kg/: the ion mill tools' flow-cool graph
PROCESS_CONFIG = ProcessFeatureConfig()  # the features `phm train --dataset phm2018` used
BASELINE_SNAPSHOTS = 12  # a pump's first snapshots: its healthy reference for the symptoms
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


@dataclass
class ScoringModel:
    """A loaded checkpoint and what scoring needs from its `extra`."""

    model: PhmModel
    extra: dict[str, Any]
    name: str

    @classmethod
    def load(cls, path: str | Path, dataset: str = "plant") -> ScoringModel:
        """A checkpoint of `phm train --dataset <dataset>`: "plant" scores pumps, "phm2018"
        ion mill tools."""
        model, extra = load_checkpoint(path)
        if extra.get("dataset") != dataset:
            raise ConfigError(
                f"{path}: a checkpoint of dataset {extra.get('dataset')!r}; the monitor needs a "
                f"`phm train --dataset {dataset}` checkpoint here"
            )
        return cls(model.eval(), extra, f"{Path(path).name}:{model.config.name}")


class Monitor:
    """Scores the pumps of `plant` from the store at `store_dir` with `pump_model`."""

    def __init__(
        self,
        store_dir: str | Path,
        plant: Plant,
        pump_model: ScoringModel,
        policy: AlertPolicy | None = None,
        ion_mill_model: ScoringModel | None = None,
    ) -> None:
        self.plant = plant
        self.lake = Lake(Path(store_dir) / "lake", plant)
        self.state = StateStore(Path(store_dir) / "state.sqlite")
        self.pump = pump_model
        self.ion_mill = ion_mill_model
        self.ion_graph = self._graph(ION_MILL_GRAPH, "ion_mill")
        self.policy = policy or AlertPolicy()
        self.levels: dict[str, AlertState] = {}
        self.open_ids: dict[str, int] = {}
        for alert in self.state.alerts():
            if alert.status != "cleared" and alert.kind == "condition":
                self.levels[alert.asset_id] = AlertState(alert.severity)
                self.open_ids[alert.asset_id] = alert.alert_id
        self.graph = self._graph(ROOT_CAUSE_GRAPH, "pump")
        self.baselines: dict[str, PumpBaseline] = {}
        self.base_phases: dict[str, np.ndarray] = {}  # 1x cross phase of the baseline snapshots
        self.first_seen: dict[str, float] = {}  # a pump's first snapshot time (s)
        self.feeds: dict[str, ProcessFeed] = {}  # ion mill tools' live process features
        self.last_scored: dict[str, float] = {}
        for p in self.state.latest_predictions():
            self.last_scored[p.asset_id] = p.time

    def _graph(self, name: str, asset_type: str) -> KnowledgeGraph:
        """The shipped graph `name`, its cause priors updated by the plant's fault history of
        `asset_type` where phm/configs/plant.toml names one (`fault_history`)."""
        graph = load_graph(name)
        spec = self.plant.types.get(asset_type)
        if spec is not None and spec.fault_history is not None:
            graph = with_fault_history(graph, spec.fault_history)
        return graph

    def evaluate(self, now: float | None = None) -> list[Prediction]:
        """Score every pump with a snapshot newer than its last prediction."""
        now = time.time() if now is None else now
        out = []
        for asset in self.plant.assets.values():
            if asset.type == "pump":
                score = self._score_pump
            elif asset.type == "ion_mill" and self.ion_mill is not None:
                score = self._score_ion_mill
            else:
                continue
            try:
                p = score(asset.asset_id, now)
            except Exception:  # one asset's bad data must not stop the others
                log.exception("scoring %s failed", asset.asset_id)
                continue
            if p is not None:
                out.append(p)
        return out

    @torch.no_grad()
    def _score_pump(self, asset_id: str, now: float) -> Prediction | None:
        extra = self.pump.extra
        k, samples = int(extra["snapshots"]), int(extra["samples"])
        latest = self.lake.latest_time("vibration", asset_id)  # cheap: no waveform read
        if latest is None or latest <= self.last_scored.get(asset_id, -np.inf):
            return None
        times, _, data, rows = read_latest_pump_data(self.lake, self.plant, asset_id, k, latest)
        if rows is None:
            return None
        data = data[:, :, :samples]
        mean = extra["feature_mean"].numpy()
        scale = extra["feature_scale"].numpy()
        inputs = pump_window(data, rows, k, mean, scale)
        model = self.pump.model
        out = model({name: torch.from_numpy(v) for name, v in inputs.items()})
        probs = out["fault"].float().softmax(-1)[0].numpy()
        rul = {name: float(v[0]) for name, v in model.rul.summary(out["rul"]).items()}
        classes = list(extra["classes"])
        fault_probs = {c: float(p) for c, p in zip(classes, probs, strict=True)}
        health = fault_probs.get("healthy")
        pred = Prediction(
            asset_id=asset_id,
            time=float(times[-1]),
            model=self.pump.name,
            fault_probs=fault_probs,
            rul_median=_finite(rul["median"]),
            rul_lower=_finite(rul["lower"]),
            rul_upper=_finite(rul["upper"]),
            health=health,
            expert_load=[load.tolist() for load in model.expert_load()],
            details={"unit": "hours of life", "top_mode": classes[int(probs.argmax())]},
        )
        self.state.write_prediction(pred)
        self.last_scored[asset_id] = pred.time
        self._alert(asset_id, pred, now)
        return pred

    @torch.no_grad()
    def _score_ion_mill(self, asset_id: str, now: float) -> Prediction | None:
        """The tool's latest process row: its window of causal process features (those of
        `phm train --dataset phm2018`, computed incrementally: `_ion_mill_features`), TTF per
        fault mode within the model's horizon."""
        assert self.ion_mill is not None
        extra, model = self.ion_mill.extra, self.ion_mill.model
        last = self.lake.latest_time("process", asset_id)
        if last is None or last <= self.last_scored.get(asset_id, -np.inf):
            return None
        feats = self._ion_mill_features(asset_id, last)
        if feats is None:
            return None
        matrix = feats.select(list(extra["features"])).to_numpy().astype(np.float32)
        inputs = phm2018_windows(
            matrix,
            np.array([len(matrix) - 1]),
            extra["feature_mean"].numpy(),
            extra["feature_scale"].numpy(),
            int(extra["window"]),
            int(extra["step_rows"]),
        )
        out = model({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()})
        classes = ["healthy" if c == "none" else c for c in extra["classes"]]
        probs = out["fault"].float().softmax(-1)[0].numpy()
        surv = hazard_survival(out["ttf"])  # (1, M, J+1)
        grid = model.ttf.grid
        no_fault = surv[0, :, -1].numpy()
        median = survival_quantile(surv, grid, 0.5)[0].numpy()
        lower = survival_quantile(surv, grid, 0.05)[0].numpy()
        upper = survival_quantile(surv, grid, 0.95)[0].numpy()
        soon = np.flatnonzero(no_fault < 0.5)  # modes with a fault likely within the horizon
        first = int(soon[np.argmin(median[soon])]) if soon.size else None
        hours = 1.0 / 3600.0
        fault_probs = {c: float(p) for c, p in zip(classes, probs, strict=True)}
        pred = Prediction(
            asset_id=asset_id,
            time=float(last),
            model=self.ion_mill.name,
            fault_probs=fault_probs,
            rul_median=None if first is None else float(median[first]) * hours,
            rul_lower=None if first is None else float(lower[first]) * hours,
            rul_upper=None if first is None else _finite(float(upper[first]) * hours),
            health=fault_probs.get("healthy"),
            expert_load=[load.tolist() for load in model.expert_load()],
            details={
                "unit": "hours (time to the next fault, within the model's horizon)",
                "top_mode": classes[int(probs.argmax())],
                "no_fault_within_horizon": dict(zip(classes[1:], no_fault.tolist(), strict=True)),
                "horizon_h": float(grid[-1]) * hours,
            },
        )
        self.state.write_prediction(pred)
        self.last_scored[asset_id] = pred.time
        self._alert(asset_id, pred, now)
        return pred

    def _ion_mill_features(self, asset_id: str, last: float) -> pl.DataFrame | None:
        """The tool's newest process feature rows, one model window of them. The first pass
        reads the history one window and the longest feature window need; later passes read
        only the rows stored since (a row stored late, behind ones already fed, stays in the
        lake but does not enter the live features)."""
        assert self.ion_mill is not None
        feed = self.feeds.get(asset_id)
        if feed is None:
            window, step_rows = (
                int(self.ion_mill.extra["window"]),
                int(self.ion_mill.extra["step_rows"]),
            )
            feed = ProcessFeed(
                StreamingProcessFeatures(PROCESS_CONFIG), (window - 1) * step_rows + 1
            )
            self.feeds[asset_id] = feed
            start = last - PROCESS_CONFIG.long_s - feed.keep * ION_MILL_ROW_S - 60.0
        else:
            start = float(np.nextafter(feed.last_time, np.inf))
        feed.update(self.lake.read_rows("process", asset_id, start=start))
        return feed.features

    def _alert(self, asset_id: str, pred: Prediction, now: float) -> None:
        state = self.levels.get(asset_id, AlertState())
        risk = risk_score(pred.health, pred.rul_median, self.policy)
        new, action = step(state, risk, self.policy)
        self.levels[asset_id] = new
        if action is None:
            return
        mode = pred.details["top_mode"]
        message = (
            f"{new.level}: {mode if mode != 'healthy' else 'degradation'}, risk {risk:.2f}, "
            f"RUL median {_fmt(pred.rul_median)} h (90% {_fmt(pred.rul_lower)}-"
            f"{_fmt(pred.rul_upper)} h)"
        )
        details = {"risk": risk, "top_mode": mode, "fault_probs": pred.fault_probs}
        if action != "clear":
            details |= self.root_causes(asset_id, pred)
        if action.startswith("open_"):
            self.open_ids[asset_id] = self.state.open_alert(
                asset_id, "condition", new.level, message, details, at=now
            )
        elif action in ("escalate", "deescalate") and asset_id in self.open_ids:
            self.state.update_alert(
                self.open_ids[asset_id],
                severity=new.level,
                message=message,
                details=details,
                at=now,
            )
        elif action == "clear" and asset_id in self.open_ids:
            self.state.clear_alert(self.open_ids.pop(asset_id), at=now)
        log.info("%s %s: %s", asset_id, action, message)

    def root_causes(self, asset_id: str, pred: Prediction) -> dict[str, Any]:
        """`root_causes` (ranked, with the evidence path and actions) and the `symptoms` they
        rest on: the model's fault probabilities plus, for a pump, the symptom detectors of
        `record_symptoms` on its record read from the lake up to `pred.time`
        (`read_pump_record`: the latest snapshot and last hour's rows, the last day's
        snapshots and rows, the history since its first snapshot), against this pump's own
        early (healthy) baseline and, for `temp.bearing_de_above_fleet`, the other pumps'
        baselines. The plant's records (`phm.diagnosis.context`: maintenance, oil analysis,
        inspections) are not in the lake and do not run live. A young pump gets fewer
        symptoms (each detector stays unknown while its data are short). Measured on 2 CPU
        cores, a pump with a day of snapshots every 600 s and rows at 1 and 0.2 Hz (144
        uncompacted segments a stream): 0.3 s (0.7 s on the first call, which fits its own
        and five sister pumps' baselines); three days old, 1.2 s (0.7 s compacted)."""
        if self.plant.assets[asset_id].type != "pump":  # the model's word only
            ranked = explain_alert(self.ion_graph, pred.fault_probs, {}, top=5)
            return {"root_causes": self._causes(ranked), "symptoms": {}, "graph": ION_MILL_GRAPH}
        symptoms: dict[str, float] = {}
        try:
            baseline = self._baseline(asset_id)
            record = read_pump_record(
                self.lake,
                self.plant,
                asset_id,
                pred.time,
                self.first_seen.get(asset_id, pred.time),
                self.base_phases.get(asset_id, np.zeros(0)),
            )
            if record is not None:
                pump = pump_spec(self.plant)
                symptoms = record_symptoms(
                    record,
                    baseline,
                    BearingGeometry.from_spec(pump),
                    pump.impeller_vanes,
                    fleet=self._fleet(asset_id),
                )
        except Exception:  # symptoms are extra evidence: the model's word still ranks causes
            log.exception("symptoms of %s failed", asset_id)
        ranked = explain_alert(self.graph, pred.fault_probs, symptoms, top=5)
        return {"root_causes": self._causes(ranked), "symptoms": symptoms, "graph": self.graph.name}

    def _fleet(self, asset_id: str) -> list[PumpBaseline]:
        """The baselines of the plant's other pumps that have one (the sister pumps); one
        whose data cannot be read is left out (logged), not this pump's symptoms."""
        out = []
        for other in self.plant.assets.values():
            if other.type != "pump" or other.asset_id == asset_id:
                continue
            try:
                baseline = self._baseline(other.asset_id)
            except Exception:
                log.exception("baseline of %s failed", other.asset_id)
                continue
            if baseline is not None:
                out.append(baseline)
        return out

    def _causes(self, ranked: list) -> list[dict[str, Any]]:
        return [
            {
                "cause": r.cause,
                "label": r.label or r.cause,
                "probability": r.probability,
                "path": list(r.path),
                "actions": list(r.actions),
                "action_labels": [self._label(a) for a in r.actions],
                "path_labels": [self._label(n) for n in r.path],
            }
            for r in ranked
        ]

    def _label(self, node_id: str) -> str:
        node = self.graph.nodes.get(node_id) or self.ion_graph.nodes.get(node_id)
        return node.label if node is not None and node.label else node_id

    def _baseline(self, asset_id: str) -> PumpBaseline | None:
        """The pump's healthy reference from its first BASELINE_SNAPSHOTS snapshots and the
        rows of that period, each temperature row with the nearest process row (cached, with
        the snapshots' 1x cross phases and the pump's first snapshot time); None until that
        much data exists."""
        if asset_id in self.baselines:
            return self.baselines[asset_id]
        times, fs, data = self.lake.read_waveforms(asset_id)
        if len(times):
            self.first_seen[asset_id] = float(times[0])
        if len(times) < BASELINE_SNAPSHOTS:
            return None
        end = float(times[BASELINE_SNAPSHOTS - 1]) + 1.0
        temp = self.lake.read_rows("temperature", asset_id, end=end)
        proc = self.lake.read_rows("process", asset_id, end=end)
        pump = pump_spec(self.plant)
        shaft = float(proc["speed_rpm"].mean()) / 60 if proc.height else pump.shaft_hz
        geometry = BearingGeometry.from_spec(pump)
        vib = [
            vibration_features(x, fs, shaft, geometry, pump.impeller_vanes)
            for x in data[:BASELINE_SNAPSHOTS]
        ]
        temp_rows = proc_rows = None
        if temp.height and proc.height:
            # the streams come at their own rates: pair each temperature row with the
            # process row nearest in time
            at = nearest(proc["time"].to_numpy(), temp["time"].to_numpy())
            temp_rows = temp.select(self.plant.stream(asset_id, "temperature").channels)
            proc_rows = proc.select(self.plant.stream(asset_id, "process").channels)
            temp_rows, proc_rows = temp_rows.to_numpy(), proc_rows.to_numpy()[at]
        baseline = fit_pump_baseline(vib, temp_rows, proc_rows)
        self.base_phases[asset_id] = np.array(
            [cross_phase(x, fs, shaft) for x in data[:BASELINE_SNAPSHOTS]]
        )
        self.baselines[asset_id] = baseline
        return baseline

    def run(self, interval_s: float = 2.0, stop: threading.Event | None = None) -> None:
        """Evaluate every `interval_s` until `stop` is set."""
        stop = stop or threading.Event()
        while not stop.is_set():
            self.evaluate()
            stop.wait(interval_s)


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None


def _fmt(x: float | None) -> str:
    return "open" if x is None else f"{x:.1f}"
