"""The pump scorer (`[types.pump] scorer = "pump"`): a pump's last `snapshots` vibration
snapshots and the temperature and process rows at those times (`pump_window`, the training
window of `phm train --dataset plant`), scored by the checkpoint: fault-mode probabilities, RUL
median and 90% interval in hours of life, health = P(healthy), expert loads per MoE layer, and
where the type names an ISO 20816 machine group (`[types.pump] iso20816`) the newest snapshot's
velocity RMS (mm/s) and zone, zone C capping the health at a watch and zone D at an alarm.

Its root causes rank the rotating-equipment graph (phm.kg) on the model's fault probabilities
and the symptom detectors of `phm.diagnosis.record.record_symptoms` on the pump's latest data,
last day and history read from the lake, against its own early baseline and its sister pumps'
(the other assets of its type).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from phm.diagnosis.evidence import PumpBaseline, fit_pump_baseline, vibration_features
from phm.diagnosis.load_cycle import cross_phase
from phm.diagnosis.record import record_symptoms
from phm.features.severity import SeverityZones, velocity_rms_mm_s
from phm.features.spectral import BearingGeometry
from phm.models.predictor import Decoded
from phm.models.windows import read_latest_pump_data
from phm.monitor.baseline_scorer import ZONE_HEALTH
from phm.monitor.pump_record import nearest, read_pump_record
from phm.monitor.scorers import AssetScorer, ScoringModel, finite
from phm.plant import Plant, pump_spec
from phm.store.lake import Lake
from phm.store.state import Prediction

log = logging.getLogger(__name__)

ROOT_CAUSE_GRAPH = "rotating_equipment"  # phm/configs/kg/: the pumps' knowledge graph
BASELINE_SNAPSHOTS = 12  # a pump's first snapshots: its healthy reference for the symptoms


@dataclass
class PumpWindow:
    """One pump's model window (`inputs`, a batch of one) and what its prediction needs
    besides the model's outputs: the newest snapshot's time (s) and data (C, L) at rate `fs`
    (its ISO 20816 severity) and the name of the model it was prepared for."""

    asset_id: str
    time: float
    fs: float
    newest: np.ndarray
    inputs: dict[str, np.ndarray]
    model_name: str


class PumpScorer(AssetScorer):
    """Scores motor-driven centrifugal pumps with a `phm train --dataset plant` checkpoint."""

    dataset = "plant"
    also_scores = ("lake",)  # `phm train --dataset lake`: the same windows, the plant's labels
    graph_name = ROOT_CAUSE_GRAPH

    def __init__(
        self, type_name: str, plant: Plant, lake: Lake, model: ScoringModel | None
    ) -> None:
        super().__init__(type_name, plant, lake, model)
        self.baselines: dict[str, PumpBaseline] = {}
        self.base_phases: dict[str, np.ndarray] = {}  # 1x cross phase of the baseline snapshots
        self.first_seen: dict[str, float] = {}  # a pump's first snapshot time (s)
        self.severity = plant.types[type_name].iso20816  # None: no ISO 20816 zones
        self.zones = (
            None
            if self.severity is None
            else SeverityZones(self.severity.group, self.severity.foundation)
        )

    @torch.no_grad()
    def check_model(self, model: ScoringModel) -> None:
        """A pump checkpoint of a dataset this scorer takes that also runs on a window of this
        type's shape (an all-zero one); anything else raises."""
        super().check_model(model)
        h = model.header
        channels = len(self.plant.types[self.type_name].streams["vibration"].channels)
        k, samples = h.snapshots or 1, h.samples or 1
        vibration = np.zeros((k, channels, samples), np.float32)
        model.predict(model.pump_inputs(vibration, np.zeros((k, len(h.channels)), np.float32)))

    @torch.no_grad()
    def score(self, asset_id: str, after: float) -> Prediction | None:
        window = self.prepare(asset_id, after)
        if window is None:
            return None
        assert self.model is not None
        out = self.model.predict(window.inputs)
        return self.finish(window, out, 0, self.model.expert_load())

    def finish_batch(
        self, windows: list[PumpWindow], out: Decoded, expert_loads: list[list[list[float]]]
    ) -> list[Prediction]:
        """`finish` of every row of a batch, the ISO 20816 velocities of the newest snapshots
        computed in one vectorised call per sampling rate and length."""
        velocity: list[np.ndarray | None] = [None] * len(windows)
        if self.zones is not None:
            groups: dict[tuple[float, tuple[int, ...]], list[int]] = {}
            for i, w in enumerate(windows):
                groups.setdefault((w.fs, w.newest.shape), []).append(i)
            for (fs, _), rows in groups.items():
                stacked = np.stack([windows[i].newest for i in rows])  # (n, C, L)
                v = velocity_rms_mm_s(stacked, fs, self.severity.accel_unit)  # (n, C)
                for j, i in enumerate(rows):
                    velocity[i] = v[j]
        return [self.finish(w, out, i, expert_loads[i], velocity[i]) for i, w in enumerate(windows)]

    def prepare(self, asset_id: str, after: float) -> PumpWindow | None:
        """The asset's model window from its latest data if newer than `after` (s), else None
        (or no model): what `score` runs the model on, one row of a batch
        (phm.monitor.batching)."""
        if self.model is None:
            return None
        predictor = self.model
        k = predictor.header.snapshots
        assert k is not None
        latest = self.lake.latest_time("vibration", asset_id)  # cheap: no waveform read
        if latest is None or latest <= after:
            return None
        times, fs, data, rows = read_latest_pump_data(self.lake, self.plant, asset_id, k, latest)
        if rows is None:
            return None
        inputs = predictor.pump_inputs(data, rows)
        return PumpWindow(asset_id, float(times[-1]), fs, data[-1], inputs, predictor.name)

    def finish(
        self,
        window: PumpWindow,
        out: Decoded,
        row: int,
        expert_load: list[list[float]],
        velocity: np.ndarray | None = None,
    ) -> Prediction:
        """The prediction of `window` from row `row` of the decoded model outputs `out`;
        `velocity`: the newest snapshot's velocity RMS per channel (mm/s) if computed."""
        assert out.fault is not None and out.rul is not None
        rul = {name: float(v[row]) for name, v in out.rul.items()}
        fault_probs = out.fault_probs(row)
        classes = list(fault_probs)
        health = fault_probs.get("healthy")
        details: dict[str, Any] = {
            "unit": "hours of life",
            "top_mode": classes[int(out.fault[row].argmax())],
        }
        if self.zones is not None:
            # ISO 20816 severity of the newest snapshot, the louder bearing: zone C caps the
            # health at a watch, zone D at an alarm, whatever the model says
            if velocity is None:
                velocity = velocity_rms_mm_s(window.newest, window.fs, self.severity.accel_unit)
            v = float(velocity.max())
            zone = self.zones.zone(v)
            details["iso20816"] = {
                "velocity_mm_s": v,
                "zone": zone,
                "group": self.zones.group,
                "foundation": self.zones.foundation,
            }
            if health is not None:
                health = min(health, ZONE_HEALTH[zone])
        return Prediction(
            asset_id=window.asset_id,
            time=window.time,
            model=window.model_name,
            fault_probs=fault_probs,
            rul_median=finite(rul["median"]),
            rul_lower=finite(rul["lower"]),
            rul_upper=finite(rul["upper"]),
            health=health,
            expert_load=expert_load,
            details=details,
        )

    def root_causes(self, asset_id: str, pred: Prediction) -> dict[str, Any]:
        """The model's fault probabilities plus the symptom detectors of `record_symptoms` on
        the pump's record read from the lake up to `pred.time` (`read_pump_record`: the latest
        snapshot and last hour's rows, the last day's snapshots and rows, the history since its
        first snapshot), against this pump's own early (healthy) baseline and, for
        `temp.bearing_de_above_fleet`, the other pumps' baselines. The plant's records
        (`phm.diagnosis.context`: maintenance, oil analysis, inspections) are not in the lake
        and do not run live. A young pump gets fewer symptoms (each detector stays unknown while
        its data are short). Measured on 2 CPU cores, a pump with a day of snapshots every 600 s
        and rows at 1 and 0.2 Hz (144 uncompacted segments a stream): 0.3 s (0.7 s on the first
        call, which fits its own and five sister pumps' baselines); three days old, 1.2 s
        (0.7 s compacted)."""
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
                pump = pump_spec(self.plant, self.type_name)
                symptoms = record_symptoms(
                    record,
                    baseline,
                    BearingGeometry.from_spec(pump),
                    pump.impeller_vanes,
                    fleet=self._fleet(asset_id),
                )
        except Exception:  # symptoms are extra evidence: the model's word still ranks causes
            log.exception("symptoms of %s failed", asset_id)
        return self.analysis(pred.fault_probs, symptoms)

    def _fleet(self, asset_id: str) -> list[PumpBaseline]:
        """The baselines of the plant's other pumps that have one (the sister pumps); one
        whose data cannot be read is left out (logged), not this pump's symptoms."""
        out = []
        for other in self.plant.assets.values():
            if other.type != self.type_name or other.asset_id == asset_id:
                continue
            try:
                baseline = self._baseline(other.asset_id)
            except Exception:
                log.exception("baseline of %s failed", other.asset_id)
                continue
            if baseline is not None:
                out.append(baseline)
        return out

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
        pump = pump_spec(self.plant, self.type_name)
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
