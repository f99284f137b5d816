"""Online scoring: each asset's latest window from the lake -> prediction -> alerts.

`Monitor.evaluate(now)` goes over the plant's assets whose type names a scorer in the plant
TOML (`[types.pump] scorer = "pump"`; phm.monitor.registry maps the name to its
`AssetScorer`, phm.monitor.scorers): the scorer reads the asset's latest data and gives a
`Prediction` (fault-mode probabilities, RUL or time to failure with its interval in hours,
health = P(healthy), expert loads per MoE layer) when there is data newer than its last one.
The monitor writes each prediction and steps the asset's alert through the hysteresis of
phm.monitor.alerts, opening, escalating, de-escalating and clearing alerts in the state
store. Every alert opened or changed carries the ranked root causes the scorer gives
(`AssetScorer.root_causes`: its knowledge graph on the model's fault probabilities and, for a
pump, the symptom detectors on its data), each with its evidence path and recommended actions.
Alert levels are rebuilt from the open alerts at start, so a restarted monitor carries on where
it stopped. The monitor itself knows no asset type: a type is scored by the scorer it names,
with the checkpoint of that scorer's dataset.

Live model swap: each pass first reads the store's model registry (phm.store.registry,
STORE/models/<asset type>/active). When a type's active version changed (`phm models activate`,
`phm models rollback`, a first `phm train --dataset lake`), the monitor loads that checkpoint
and swaps it into the type's scorer between two scorings; a checkpoint that does not load or
is of a dataset the scorer cannot score is refused with a logged error and the old model stays.
An active registry version takes precedence over a checkpoint given to the constructor. Each
prediction of a registry model names its version (`details["model_version"]`, and the
`model` column: "<type>/<version>:<config name>").
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from phm.errors import ConfigError
from phm.monitor.alerts import AlertPolicy, AlertState, risk_score, step
from phm.monitor.ion_mill_scorer import ION_MILL_ROW_S, PROCESS_CONFIG
from phm.monitor.registry import SCORERS
from phm.monitor.scorers import AssetScorer, ScoringModel
from phm.plant import Plant
from phm.store.lake import Lake
from phm.store.registry import ModelRegistry
from phm.store.state import Prediction, StateStore

# ScoringModel and the ion mill feature constants were defined here before the scorers moved
# out (phm.monitor.scorers, phm.monitor.ion_mill_scorer); their callers still import them here
__all__ = ["ION_MILL_ROW_S", "PROCESS_CONFIG", "Monitor", "ScoringModel"]

log = logging.getLogger(__name__)


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
    ) -> None:
        self.plant = plant
        self.lake = Lake(Path(store_dir) / "lake", plant)
        self.state = StateStore(Path(store_dir) / "state.sqlite")
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

    def evaluate(self, now: float | None = None) -> list[Prediction]:
        """Score every asset with data newer than its last prediction; write each prediction
        and step the asset's alert."""
        now = time.time() if now is None else now
        self.refresh_models()
        out = []
        for asset in self.plant.assets.values():
            scorer = self.scorers.get(asset.type)
            if scorer is None:
                continue
            asset_id = asset.asset_id
            try:
                p = scorer.score(asset_id, self.last_scored.get(asset_id, -np.inf))
                if p is None:
                    continue
                if asset.type in self.model_versions:
                    p.details["model_version"] = self.model_versions[asset.type]
                self.state.write_prediction(p)
                self.last_scored[asset_id] = p.time
                self._alert(asset_id, p, now)
            except Exception:  # one asset's bad data must not stop the others
                log.exception("scoring %s failed", asset_id)
                continue
            out.append(p)
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
                model = ScoringModel.load(registry.get(version).checkpoint, None)
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

    def run(self, interval_s: float = 2.0, stop: threading.Event | None = None) -> None:
        """Evaluate every `interval_s` until `stop` is set."""
        stop = stop or threading.Event()
        while not stop.is_set():
            self.evaluate()
            stop.wait(interval_s)


def _fmt(x: float | None) -> str:
    return "open" if x is None else f"{x:.1f}"
