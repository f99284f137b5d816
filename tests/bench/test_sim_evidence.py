"""The simulator standing in for the lake (`phm.bench.sim_evidence`): the detectors on
its records name the fault mode, and say nothing before onset."""

from __future__ import annotations

import pytest

from phm.bench.rootcause import pump_meta, time_at_severity
from phm.bench.sim_evidence import pump_evidence
from phm.kg.inference import rank_modes
from phm.kg.loader import load_graph
from phm.sim.rotating import FAULT_MODES, ROOT_CAUSES, FaultScenario, PumpSimulator


@pytest.mark.parametrize("mode", ["outer_race", "cavitation", "lubrication"])
def test_pump_symptoms_on_the_simulator_name_the_mode(mode):
    sc = FaultScenario(mode, ROOT_CAUSES[mode][0], 20_000.0, 100_000.0)
    sim = PumpSimulator("test-pump", pump_meta(), seed=9, fault=sc)

    ev = pump_evidence(sim, time_at_severity(sc, 0.8), sc.onset_s)
    g = load_graph("rotating_equipment")
    top = next(m for m, _ in rank_modes(g, ev) if m in FAULT_MODES)
    assert top == mode
    # before onset the sensors say nothing (the plant's records may: they are left out)
    healthy = pump_evidence(sim, sc.onset_s * 0.9, sc.onset_s, context=False)
    assert sum(v > 0.5 for v in healthy.values()) <= 1, healthy
