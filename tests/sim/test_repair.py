"""A failed simulated pump is repaired after its downtime: the same pump, without its fault."""

from __future__ import annotations

import numpy as np

from phm.plant import load_plant
from phm.sim.plant import RepairedPump, _truth_lines, pump_simulator, repaired_pump


def test_a_repaired_pump_renders_faulty_until_its_repair_and_healthy_after() -> None:
    plant = load_plant()
    asset = next(
        a for a in plant.assets.values()
        if a.type == "pump" and pump_simulator(a, plant, 1).fault is not None
    )  # fmt: skip
    sim = repaired_pump(asset, plant, 1, 3600.0)
    assert isinstance(sim, RepairedPump)
    fail = sim.fault.failure_s
    assert sim.repaired_s == fail + 3600.0
    times = np.array([fail - 10.0, fail + 100.0, fail + 3600.0, fail + 7200.0])
    rows = sim.process_rows(times, tick=3)
    np.testing.assert_array_equal(rows[:2], sim.failing.process_rows(times[:2], 3))
    np.testing.assert_array_equal(rows[2:], sim.healthy.process_rows(times[2:] - sim.repaired_s, 3))
    after = sim.snapshot(fail + 7200.0)
    np.testing.assert_array_equal(after, sim.healthy.snapshot(3600.0))
    # worn out until the repair, like new after it: the drive-end vibration drops
    assert np.std(sim.snapshot(fail + 1800.0)) > 1.5 * np.std(after)
    truth = _truth_lines(plant, 1, 1000.0, {asset.asset_id: sim}, {})
    line = next(t for t in truth if t["asset"] == asset.asset_id)
    assert line["repaired_s"] == sim.repaired_s and line["repaired_time"] == 1000.0 + sim.repaired_s
    assert not isinstance(repaired_pump(asset, plant, 1, None), RepairedPump)


def test_a_run_without_a_duration_spans_the_last_repair() -> None:
    from phm.sim.plant import REPAIR_AFTER_S, default_horizon_s, pump_scenario

    plant = load_plant()
    last = max(
        s.failure_s for a in plant.assets.values()
        if a.type == "pump" and (s := pump_scenario(a.asset_id, 1)) is not None
    )  # fmt: skip
    assert default_horizon_s(plant, 1, None) == 1.05 * last
    assert default_horizon_s(plant, 1) == 1.05 * (last + REPAIR_AFTER_S)
