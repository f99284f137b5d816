"""Plant training data: simulated pump lives become windows with fault and RUL targets, and the
live monitor's window builder gives exactly the training window."""

from __future__ import annotations

import numpy as np

from phm.models.data import TrainConfig
from phm.models.prepare_plant import (
    PLANT_CLASSES,
    PLANT_STEP_S,
    VISIBLE_SEVERITY,
    PlantOptions,
    plant_windows,
    prepare_plant,
    pump_history,
    pump_scenarios,
    pump_window,
)
from phm.plant import load_plant
from phm.sim.rotating import FaultScenario

META = load_plant().types["pump"].meta


def test_history_labels_follow_the_fault() -> None:
    fault = FaultScenario("outer_race", "contamination", onset_s=20 * 3600, failure_s=30 * 3600)
    h = pump_history("p", META, 0, fault, fault.failure_s, samples=256)
    n = len(h["times"])
    assert h["vibration"].shape == (n, 2, 256) and h["rows"].shape == (n, 9)
    assert h["times"][0] == PLANT_STEP_S and h["times"][-1] < fault.failure_s
    np.testing.assert_allclose(h["rul"], (fault.failure_s - h["times"]) / 3600, rtol=1e-6)
    assert set(h["fault"][h["times"] < fault.onset_s]) == {0}
    assert h["fault"][-1] == PLANT_CLASSES.index("outer_race")
    assert h["event"].all()
    assert np.diff(h["fault"]).min() >= 0  # once visible, stays visible
    assert VISIBLE_SEVERITY > 0


def test_live_window_equals_training_window() -> None:
    fault = FaultScenario("imbalance", "impeller erosion", 3600.0, 10 * 3600.0)
    h = pump_history("p", META, 1, fault, fault.failure_s, samples=128)
    mean, scale = h["rows"].mean(0), h["rows"].std(0) + 1e-6
    ws = plant_windows([h], 4, mean, scale)
    for i in (0, 2, len(h["times"]) - 1):
        live = pump_window(h["vibration"][: i + 1], h["rows"][: i + 1], 4, mean, scale)
        for key, value in live.items():
            np.testing.assert_allclose(value[0], ws.inputs[key][i], rtol=1e-6, err_msg=key)


def test_prepare_plant_splits_pumps() -> None:
    tcfg = TrainConfig(snapshots=3, snapshot=64, val_fraction=0.25)
    prep = prepare_plant(PlantOptions(pumps=4, test_pumps=1, plant=None), tcfg, 0)
    assert len(prep.fit) > 0 and len(prep.val) > 0
    assert prep.fit.inputs["vibration"].shape[1:] == (3, 2, 64)
    assert prep.config_updates["n_classes"] == len(PLANT_CLASSES)
    assert prep.test is not None and len(prep.test) > 0
    assert len(pump_scenarios(50, 3)) == 50
    healthy = [f for _, f, _ in pump_scenarios(200, 3) if f is None]
    assert 20 < len(healthy) < 60  # about HEALTHY_SHARE
