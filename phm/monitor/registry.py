"""The scorers by name: `[types.X] scorer = "<name>"` of the plant TOML picks the class that
scores type X's assets. The names are phm.plant.SCORER_NAMES (the plant checks them when it
loads; it cannot import the monitor): a new scorer is added to both."""

from __future__ import annotations

from phm.monitor.baseline_scorer import BaselineScorer
from phm.monitor.ion_mill_scorer import IonMillScorer
from phm.monitor.pump_scorer import PumpScorer
from phm.monitor.scorers import AssetScorer

SCORERS: dict[str, type[AssetScorer]] = {
    "pump": PumpScorer,
    "ion_mill": IonMillScorer,
    "baseline": BaselineScorer,
}
