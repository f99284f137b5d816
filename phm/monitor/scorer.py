"""Online scoring: each asset's latest window from the lake -> prediction -> alerts.

`Monitor.evaluate(now)` goes over the plant's assets whose type names a scorer in the plant
TOML (`[types.pump] scorer = "pump"`; phm.monitor.registry maps the name to its
`AssetScorer`, phm.monitor.scorers): the scorer reads the asset's latest data and gives a
`Prediction` (fault-mode probabilities, RUL or time to failure with its interval in hours,
health = P(healthy), expert loads per MoE layer) when there is data newer than its last one.
The monitor steps the asset's alert through the hysteresis of phm.monitor.alerts (opening,
escalating, de-escalating and clearing alerts in the state store) and writes the prediction
with its displayed RUL (phm.monitor.rul_track: falling with data time while an alert is open,
0 = failed; open-ended, None, without fault evidence). An open alert is refreshed at every
scoring: the ranked root causes the scorer gives (`AssetScorer.root_causes`: its knowledge
graph on the model's fault probabilities and the symptom detectors on its data, each cause with
its evidence path and recommended actions), its ISA-18.2 priority (phm.monitor.priority: the
type's consequence and the RUL), the headline failure mode decided from them
(phm.monitor.headline, the same function the dashboard shows its mode with, saying where model
and evidence disagree), the RUL and the message; the alert's history keeps a version whenever
one of these changed for the operator. Alert levels are rebuilt from the open alerts at start
(the tracked RUL from the alert's details), so a restarted monitor carries on where it
stopped. The monitor itself knows no asset type: a type is scored by the scorer it names,
with the checkpoint of that scorer's dataset.

Live model swap: each pass first reads the store's model registry (phm.store.registry,
STORE/models/<asset type>/active). When a type's active version changed (`phm models activate`,
`phm models rollback`, a first `phm train --dataset lake`), the monitor loads that checkpoint
and swaps it into the type's scorer between two scorings; a checkpoint that does not load or
is of a dataset the scorer cannot score is refused with a logged error and the old model stays.
An active registry version takes precedence over a checkpoint given to the constructor. Each
prediction of a registry model names its version (`details["model_version"]`, and the
`model` column: "<type>/<version>:<config name>").

Batching: a scorer that can batch (the pump scorer) scores all its due assets with one forward
pass per `batching.max_batch` windows (phm.monitor.batching), the same predictions as one at a
time; `batching=None` scores one asset per pass. `load_model` turns a registry version's
checkpoint into the scoring model (`phm monitor --runtime onnx`: an ONNX graph).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from phm.errors import ConfigError
from phm.monitor.alerts import AlertPolicy, AlertState, risk_score, step
from phm.monitor.batching import DEFAULT_BATCHING, BatchPolicy, can_batch, score_due
from phm.monitor.headline import headline
from phm.monitor.ion_mill_scorer import ION_MILL_ROW_S, PROCESS_CONFIG
from phm.monitor.priority import priority
from phm.monitor.registry import SCORERS
from phm.monitor.rul_track import RulTrack, rul_text, track_rul
from phm.monitor.scorers import AssetScorer, ScoringModel
from phm.monitor.staleness import StalenessWatch
from phm.plant import Plant
from phm.store.lake import Lake
from phm.store.registry import ModelRegistry
from phm.store.state import Prediction, open_state

# ScoringModel and the ion mill feature constants were defined here before the scorers moved
# out (phm.monitor.scorers, phm.monitor.ion_mill_scorer); their callers still import them here
__all__ = ["ION_MILL_ROW_S", "PROCESS_CONFIG", "Monitor", "ScoringModel"]

log = logging.getLogger(__name__)

# an open alert's refresh keeps a history version when its RUL moved by more than both
HISTORY_RUL_SHARE = 0.1  # this share of the last kept RUL ...
HISTORY_RUL_H = 1.0  # ... and this many hours


class Monitor:
    """Scores the assets of `plant` from the store at `store_dir`, each type with the scorer
    its `[types.X] scorer` names; writes the predictions and raises the alerts.

    The checkpoints (`model`, `ion_mill_model`, `models`: any order) go to the scorers by
    dataset: each scorer gets the one of its `dataset` (`phm train --dataset <dataset>`); a
    scorer without one scores nothing. The scorers' own state (a pump scorer's `baselines`,
    `first_seen`, `base_phases`, `graph`; an ion mill scorer's `feeds`, `graph`) reads
    through `monitor.scorers[type name]`."""

    def __init__(
        self,
        store_dir: str | Path,
        plant: Plant,
        model: ScoringModel | None = None,
        policy: AlertPolicy | None = None,
        ion_mill_model: ScoringModel | None = None,
        *,
        models: tuple[ScoringModel, ...] = (),
        batching: BatchPolicy | None = DEFAULT_BATCHING,
        load_model: Callable[[Path], ScoringModel] | None = None,
    ) -> None:
        self.plant = plant
        self.batching = batching  # None: one forward pass per asset
        # a registry version's checkpoint -> its scoring model (`phm monitor --runtime onnx`:
        # converted to an ONNX graph in memory)
        self.load_model = load_model or (lambda path: ScoringModel.load(path, None))
        self.lake = Lake(Path(store_dir) / "lake", plant)
        self.state = open_state(store_dir)  # state.sqlite, or PHM_STATE_URL
        by_dataset: dict[str, ScoringModel] = {}
        for m in (model, ion_mill_model, *models):
            if m is None:
                continue
            dataset = m.header.dataset
            if dataset in by_dataset:
                raise ConfigError(
                    f"two checkpoints of dataset {dataset!r} ({by_dataset[dataset].name}, "
                    f"{m.name}): the monitor takes one per dataset"
                )
            by_dataset[dataset] = m
        self.scorers: dict[str, AssetScorer] = {}  # asset type -> its scorer
        for name, spec in plant.types.items():
            if spec.scorer is None:
                continue
            cls = SCORERS[spec.scorer]
            model_of = next((by_dataset[d] for d in cls.datasets() if d in by_dataset), None)
            self.scorers[name] = cls(name, plant, self.lake, model_of)
        self.registries = {name: ModelRegistry(store_dir, name) for name in self.scorers}
        self.model_versions: dict[str, str] = {}  # asset type -> registry version it scores with
        self.refused_versions: dict[str, str] = {}  # asset type -> the version last refused
        self.refresh_models()
        self.policy = policy or AlertPolicy()
        self.levels: dict[str, AlertState] = {}
        self.open_ids: dict[str, int] = {}
        for alert in self.state.alerts():
            if alert.status != "cleared" and alert.kind == "condition":
                self.levels[alert.asset_id] = AlertState(alert.severity)
                self.open_ids[alert.asset_id] = alert.alert_id
        self.last_scored: dict[str, float] = {}
        for p in self.state.latest_predictions():
            self.last_scored[p.asset_id] = p.time
        self.staleness = StalenessWatch(self.state, plant)  # the "stale" and "comms" alarms
        self.tracks: dict[str, RulTrack] = {}  # displayed RUL of the assets with an open alert
        self.shown: dict[str, tuple] = {}  # what each open alert's last kept version showed

    def evaluate(self, now: float | None = None) -> list[Prediction]:
        """Score every asset with data newer than its last prediction; write each prediction
        and step the asset's alert; then open or clear the assets' stale-data and
        lost-communication alarms (phm.monitor.staleness)."""
        now = time.time() if now is None else now
        self.refresh_models()
        batched = self._score_batched()
        out = []
        for asset in self.plant.assets.values():
            scorer = self.scorers.get(asset.type)
            if scorer is None:
                continue
            asset_id = asset.asset_id
            try:
                if asset_id in batched:
                    p = batched[asset_id]
                else:
                    p = scorer.score(asset_id, self.last_scored.get(asset_id, -np.inf))
                if isinstance(p, Exception):
                    raise p
                if p is None:
                    continue
                if asset.type in self.model_versions:
                    p.details["model_version"] = self.model_versions[asset.type]
                if scorer.model is not None and not _trained(scorer.model):
                    p.details["model_untrained"] = True  # the dashboard and reports warn
                self._alert(asset_id, p, now)  # first: it sets the displayed RUL
                self.state.write_prediction(p)
                self.last_scored[asset_id] = p.time
            except Exception:  # one asset's bad data must not stop the others
                log.exception("scoring %s failed", asset_id)
                continue
            out.append(p)
        try:
            self.staleness.check(now)
        except Exception:  # a failed check must not stop the scoring
            log.exception("staleness check failed")
        return out

    def _score_batched(self) -> dict[str, Prediction | Exception | None]:
        """With `batching`, the predictions of the scorers that batch (phm.monitor.batching:
        the due assets' windows in one forward pass per `max_batch`), by asset."""
        out: dict[str, Prediction | Exception | None] = {}
        if self.batching is None:
            return out
        for type_name, scorer in self.scorers.items():
            if can_batch(scorer):
                ids = [a.asset_id for a in self.plant.assets.values() if a.type == type_name]
                out.update(score_due(scorer, ids, self.last_scored, self.batching))  # type: ignore[arg-type]
        return out

    def refresh_models(self) -> None:
        """Swap each scorer to its type's active registry version where that changed (see the
        module doc); a version that cannot be used is logged once and the old model stays."""
        for type_name, scorer in self.scorers.items():
            registry = self.registries[type_name]
            try:
                version = registry.active()
            except OSError:
                log.exception("model registry %s: cannot read the active version", registry.root)
                continue
            if version is None or version in (
                self.model_versions.get(type_name),
                self.refused_versions.get(type_name),
            ):
                continue
            try:
                model = self.load_model(registry.get(version).checkpoint)
                scorer.check_model(model)
            except Exception as exc:
                self.refused_versions[type_name] = version
                log.error(
                    "model %s/%s refused, %s keeps scoring %s: %s",
                    type_name,
                    version,
                    type_name,
                    scorer.model.name if scorer.model is not None else "nothing",
                    exc,
                )
                continue
            model.name = f"{type_name}/{version}:{model.model.config.name}"
            scorer.model = model  # one assignment: the next scoring uses the new model
            self.model_versions[type_name] = version
            self.refused_versions.pop(type_name, None)
            log.info("%s now scores with model %s", type_name, model.name)

    def root_causes(self, asset_id: str, pred: Prediction) -> dict[str, Any]:
        """The ranked root causes (`root_causes`, with the evidence path and actions), the
        `symptoms` they rest on and the `graph`, from the scorer of the asset's type
        (`AssetScorer.root_causes`); empty for a type without a scorer."""
        scorer = self.scorers.get(self.plant.assets[asset_id].type)
        return {} if scorer is None else scorer.root_causes(asset_id, pred)

    def _alert(self, asset_id: str, pred: Prediction, now: float) -> None:
        """Step the asset's alert on `pred` (before it is written): the risk of the model's
        own numbers drives the hysteresis; the prediction then carries the displayed RUL
        (`phm.monitor.rul_track`: tracked while an alert is open, None without fault evidence;
        the model's numbers stay in `details["model_rul"]`). An open alert is refreshed at every
        scoring (headline mode, causes, RUL, message); its history gets a version only when
        something an operator reads changed (`_changed`)."""
        state = self.levels.get(asset_id, AlertState())
        risk = risk_score(pred.health, pred.rul_median, self.policy)
        new, action = step(state, risk, self.policy)
        self.levels[asset_id] = new
        pred.details["model_rul"] = {
            "median": pred.rul_median,
            "lower": pred.rul_lower,
            "upper": pred.rul_upper,
        }
        track = None
        if new.level != "ok":
            opening = action is not None and action.startswith("open_")
            prev = None if opening else self._track(asset_id)
            track = track_rul(prev, pred.time, pred.rul_median, pred.rul_lower, pred.rul_upper)
        if track is None:
            self.tracks.pop(asset_id, None)
        else:
            self.tracks[asset_id] = track
        pred.rul_median = None if track is None else track.median
        pred.rul_lower = None if track is None else track.lower
        pred.rul_upper = None if track is None else track.upper
        pred.details["rul_failed"] = track is not None and track.failed
        try:  # the prediction is written (with its displayed RUL) even if this fails
            self._write_alert(asset_id, pred, now, new, action, risk, track)
        except Exception:
            log.exception("alert of %s failed", asset_id)

    def _write_alert(
        self,
        asset_id: str,
        pred: Prediction,
        now: float,
        new: AlertState,
        action: str | None,
        risk: float,
        track: RulTrack | None,
    ) -> None:
        """Open, refresh or clear the asset's alert in the state store (see `_alert`)."""
        if action == "clear" and asset_id in self.open_ids:
            self.state.clear_alert(self.open_ids.pop(asset_id), at=now)
            self.shown.pop(asset_id, None)
            log.info("%s clear", asset_id)
            return
        if new.level == "ok":
            return
        analysis = self.root_causes(asset_id, pred)
        head = headline(pred.fault_probs, analysis)
        mode = head.text() if head.mode is not None else "degradation"
        message = f"{new.level}: {mode}, risk {risk:.2f}, RUL {rul_text(track)}"
        details = {
            "data_time": pred.time,
            "risk": risk,
            "top_mode": head.mode,
            "fault_probs": pred.fault_probs,
            **head.as_details(),
            "rul": None if track is None else track.as_details(),
            "model_rul": pred.details["model_rul"],
            **analysis,
        }
        shown = (new.level, head.mode, head.disagreement is not None, track)
        consequence = self.plant.types[self.plant.assets[asset_id].type].consequence
        rank = priority(
            new.level,
            consequence,
            None if track is None else track.median,
            track is not None and track.failed,
            self.policy,
        )
        if action is not None and action.startswith("open_"):
            self.open_ids[asset_id] = self.state.open_alert(
                asset_id, "condition", new.level, message, details, at=now, priority=rank
            )
            self.shown[asset_id] = shown
        elif asset_id in self.open_ids:
            changed = self._changed(asset_id, shown)
            self.state.update_alert(
                self.open_ids[asset_id],
                severity=new.level,
                message=message,
                details=details,
                at=now,
                keep_version=changed,
                priority=rank,
            )
            if changed:
                self.shown[asset_id] = shown
        if action is not None:
            log.info("%s %s: %s", asset_id, action, message)

    def _track(self, asset_id: str) -> RulTrack | None:
        """The asset's tracked RUL; after a restart, the one its open alert holds."""
        if asset_id not in self.tracks and asset_id in self.open_ids:
            for alert in self.state.alerts(asset=asset_id):
                if alert.alert_id == self.open_ids[asset_id]:
                    found = RulTrack.from_details(alert.details.get("rul"))
                    if found is not None:
                        self.tracks[asset_id] = found
        return self.tracks.get(asset_id)

    def _changed(self, asset_id: str, shown: tuple) -> bool:
        """True when a refresh changes what an operator reads against the alert's last kept
        version: level, headline mode, disagreement or failed state, or a RUL that moved by
        more than HISTORY_RUL_SHARE of itself and HISTORY_RUL_H (or became open / finite)."""
        last = self.shown.get(asset_id)
        if last is None or last[:3] != shown[:3]:
            return True
        old, new = last[3], shown[3]
        if (old is None) != (new is None):
            return True
        if old is None or new is None:
            return False
        if old.failed != new.failed:
            return True
        return abs(new.median - old.median) > max(HISTORY_RUL_SHARE * old.median, HISTORY_RUL_H)

    def run(self, interval_s: float = 2.0, stop: threading.Event | None = None) -> None:
        """Evaluate every `interval_s` until `stop` is set."""
        stop = stop or threading.Event()
        while not stop.is_set():
            self.evaluate()
            stop.wait(interval_s)


def _trained(model: ScoringModel) -> bool:
    """Whether the checkpoint records a training run (`phm train` writes its history and
    metrics into the header); an untrained one scores noise."""
    training = model.header.training
    return bool(training.get("history") or training.get("metrics"))
