"""Symptom detectors on synthetic signals and rows."""

from __future__ import annotations

import numpy as np
import pytest

from phm.features.spectral import SKF_6205
from phm.kg.evidence import (
    fit_pump_baseline,
    model_evidence,
    process_symptoms,
    step_deviation_symptoms,
    temperature_symptoms,
    trend_symptom,
    vibration_features,
    vibration_symptoms,
)
from phm.kg.inference import rank_modes
from phm.kg.loader import load_graph

FS, N, SHAFT = 12_000.0, 8192, 29.95


def bearing_snapshot(rate_hz: float | None, seed: int = 0, modulate_hz: float = 0.0):
    """Unit impacts at rate_hz ringing a 3 kHz resonance, plus white noise (g)."""
    rng = np.random.default_rng(seed)
    t = np.arange(N) / FS
    x = 0.05 * rng.standard_normal(N)
    if rate_hz:
        train = np.zeros(N)
        times = np.arange(0, N / FS, 1 / rate_hz) + rng.uniform(0, 1 / rate_hz)
        amp = 1 + (0.8 * np.cos(2 * np.pi * modulate_hz * times) if modulate_hz else 0)
        idx = np.minimum((times * FS).astype(int), N - 1)
        np.add.at(train, idx, amp)
        ring = np.exp(-t[:200] * 600) * np.sin(2 * np.pi * 3000 * t[:200])
        x += np.convolve(train, ring)[:N]
    return x


def test_bpfo_impacts_give_outer_race_evidence():
    d = SKF_6205.defect_frequencies(SHAFT)
    ev = vibration_symptoms(vibration_features(bearing_snapshot(d.bpfo), FS, SHAFT, SKF_6205))
    assert ev["vib.env_bpfo"] > 0.9
    assert ev["vib.env_bpfi"] < 0.5 and ev["vib.env_bsf"] < 0.5
    g = load_graph("rotating_equipment")
    modes = dict(rank_modes(g, ev, given_mode=True))
    assert max(("inner_race", "outer_race", "ball"), key=modes.get) == "outer_race"


def test_bpfi_impacts_modulated_at_1x_give_inner_race_evidence():
    d = SKF_6205.defect_frequencies(SHAFT)
    x = bearing_snapshot(d.bpfi, modulate_hz=SHAFT)
    ev = vibration_symptoms(vibration_features(x, FS, SHAFT, SKF_6205))
    assert ev["vib.env_bpfi"] > 0.9 and ev["vib.env_bpfo"] < 0.5
    assert ev["vib.env_bpfi_sidebands"] > 0.5


def test_noise_alone_gives_no_bearing_evidence():
    ev = vibration_symptoms(vibration_features(bearing_snapshot(None), FS, SHAFT, SKF_6205))
    for key in ("vib.env_bpfi", "vib.env_bpfo", "vib.env_bsf"):
        assert ev[key] < 0.3, key


def test_amplitude_symptoms_need_a_baseline_and_see_1x_growth():
    t = np.arange(N) / FS
    rng = np.random.default_rng(1)

    def snap(a1: float) -> np.ndarray:
        return a1 * np.sin(2 * np.pi * SHAFT * t) + 0.01 * rng.standard_normal(N)

    healthy = [vibration_features(snap(0.02), FS, SHAFT, SKF_6205) for _ in range(6)]
    sick = vibration_features(snap(0.2), FS, SHAFT, SKF_6205)
    assert "vib.1x" not in vibration_symptoms(sick)  # no baseline: unknown, not absent
    base = fit_pump_baseline(healthy)
    ev = vibration_symptoms(sick, base)
    assert ev["vib.1x"] > 0.9 and ev["vib.2x"] < 0.5
    assert vibration_symptoms(healthy[0], base)["vib.1x"] < 0.2


def _rows(n, rng, load, de_extra=0.0, suction_drop=0.0, flow_noise=1.0):
    amb = np.full(n, 22.0)
    lf = load / 100
    temp = np.stack(
        [amb + 15 + 10 * lf + de_extra, amb + 12 + 8 * lf, amb + 25 + 45 * lf**2, amb], axis=1
    ) + 0.15 * rng.standard_normal((n, 4))
    flow = 120 * (0.3 + 0.8 * lf) * (1 + 0.005 * flow_noise * rng.standard_normal(n))
    suction = 170 * (1 - suction_drop) + rng.standard_normal(n)
    discharge = suction + 400 * (1.15 - 0.3 * (flow / 120) ** 2) + 2 * rng.standard_normal(n)
    proc = np.stack([np.full(n, 1780.0), load, suction, discharge, flow], axis=1)
    return temp, proc


def test_temperature_and_process_symptoms_against_the_load_model():
    rng = np.random.default_rng(2)
    load = rng.uniform(50, 90, 300)
    temp, proc = _rows(300, rng, load)
    base = fit_pump_baseline([], temp, proc)
    t_ok, p_ok = _rows(30, rng, np.full(30, 70.0))
    ok = temperature_symptoms(t_ok, 70.0, base) | process_symptoms(p_ok, base)
    assert max(ok.values()) < 0.3, ok
    t_hot, p_cav = _rows(30, rng, np.full(30, 70.0), de_extra=6, suction_drop=0.3, flow_noise=8)
    bad = temperature_symptoms(t_hot, 70.0, base) | process_symptoms(p_cav, base)
    assert bad["temp.bearing_de_rise"] > 0.9 and bad["temp.bearing_fe_rise"] < 0.3
    assert bad["proc.suction_low"] > 0.9 and bad["proc.flow_unsteady"] > 0.9


def test_step_deviation_flowcool_pressure_falling_in_a_recipe_step():
    rng = np.random.default_rng(3)
    steps = np.repeat([1, 2, 3], 50)
    level = np.select([steps == 1, steps == 2], [10.0, 12.0], 11.0)
    ref = {"FLOWCOOLPRESSURE": level + 0.1 * rng.standard_normal(150)}
    cur = {"FLOWCOOLPRESSURE": level - 0.3 + 0.1 * rng.standard_normal(150)}
    ev = step_deviation_symptoms(cur, steps, ref, steps)
    assert ev["proc.FLOWCOOLPRESSURE_falling"] > 0.9
    assert ev["proc.FLOWCOOLPRESSURE_rising"] < 0.1
    same = step_deviation_symptoms(ref, steps, ref, steps)
    assert same["proc.FLOWCOOLPRESSURE_falling"] < 0.1
    g = load_graph("ion_mill_flowcool")
    modes = dict(rank_modes(g, {**ev, "model.pressure_low": 0.8}))
    assert max(("pressure_low", "pressure_high", "leak"), key=modes.get) == "pressure_low"


def test_trend_and_model_evidence():
    t = np.arange(50.0)
    rng = np.random.default_rng(4)
    assert trend_symptom(t, 0.1 * t + rng.standard_normal(50)) > 0.9
    assert trend_symptom(t, rng.standard_normal(50)) < 0.5
    assert trend_symptom(t[:3], t[:3]) is None
    ev = model_evidence({"healthy": 0.7, "inner_race": 1.0, "cavitation": float("nan")})
    assert ev == {"model.inner_race": pytest.approx(0.98)}


@pytest.mark.parametrize("mode", ["outer_race", "cavitation", "lubrication"])
def test_pump_symptoms_on_the_simulator_name_the_mode(mode):
    from phm.bench.rootcause import pump_evidence, pump_meta, time_at_severity
    from phm.sim.rotating import FAULT_MODES, ROOT_CAUSES, FaultScenario, PumpSimulator

    sc = FaultScenario(mode, ROOT_CAUSES[mode][0], 20_000.0, 100_000.0)
    sim = PumpSimulator("test-pump", pump_meta(), seed=9, fault=sc)

    ev = pump_evidence(sim, time_at_severity(sc, 0.8), sc.onset_s)
    g = load_graph("rotating_equipment")
    top = next(m for m, _ in rank_modes(g, ev) if m in FAULT_MODES)
    assert top == mode
    # before onset the sensors say nothing (the plant's records may: they are left out)
    healthy = pump_evidence(sim, sc.onset_s * 0.9, sc.onset_s, context=False)
    assert sum(v > 0.5 for v in healthy.values()) <= 1, healthy


# --- load cycle, history and context detectors ------------------------------------------------
DAY = np.arange(24) * 3600.0


def _cycle(rng):
    """A day of load (%), bearing temperature (deg C) and discharge pressure (kPa)."""
    load = 70 + 12 * np.sin(2 * np.pi * DAY / 86_400) + 4 * np.sin(2 * np.pi * DAY / 7200)
    temp = 45 + 4 * np.sin(2 * np.pi * DAY / 86_400 + 0.3) + 0.1 * (load - 70)
    discharge = 600 - 1.5 * (load - 70) + rng.standard_normal(24)
    return load, temp, discharge


def test_load_cycle_2x_following_temperature_is_thermal_growth_not_soft_foot():
    from phm.kg.load_cycle import load_cycle_symptoms

    rng = np.random.default_rng(5)
    load, temp, discharge = _cycle(rng)
    noise = 1 + 0.01 * rng.standard_normal((2, 24))
    growth = 1 + DAY / DAY[-1]  # the fault growing over the day
    one = 0.05 * growth * noise[0]
    two = 0.1 * growth * (1 + 0.08 * (temp - temp.mean())) * noise[1]
    ev = load_cycle_symptoms(DAY, one, two, temp, load, discharge)
    assert ev["trend.2x_vs_temperature"] > 0.9
    assert ev["trend.1x_vs_load"] < 0.1 and ev["trend.2x_vs_discharge"] < 0.1
    # 2x following the torque (soft foot): judged on the load with the temperature held
    twisted = 0.1 * growth * (1 + 0.03 * (load - load.mean())) * noise[1]
    assert load_cycle_symptoms(DAY, one, twisted, temp, load, discharge)["trend.2x_vs_load"] > 0.9
    # constant over the cycle (coupling misalignment): nothing
    flat = load_cycle_symptoms(DAY, one, 0.1 * growth * noise[1], temp, load, discharge)
    assert max(flat.values()) < 0.1
    # 2x following the discharge pressure (pipe strain)
    strain = 0.1 * growth * (1 + 0.015 * (discharge - discharge.mean())) * noise[1]
    strained = load_cycle_symptoms(DAY, one, strain, temp, load, discharge)
    assert strained["trend.2x_vs_discharge"] > 0.9
    assert strained["trend.2x_vs_load"] < 0.1  # the discharge falls as the load rises
    assert load_cycle_symptoms(DAY[:5], one[:5], two[:5], temp[:5], load[:5], discharge[:5]) == {}


def test_looseness_harmonics_following_the_load_is_a_breathing_crack():
    from phm.kg.load_cycle import load_cycle_symptoms

    rng = np.random.default_rng(9)
    load, temp, discharge = _cycle(rng)
    noise = 1 + 0.01 * rng.standard_normal((3, 24))
    growth = 1 + DAY / DAY[-1]
    one, two = 0.05 * growth * noise[0], 0.1 * growth * noise[1]
    steady = 0.03 * growth * noise[2]
    breathing = steady * (1 + 0.03 * (load - load.mean()))
    key = "trend.looseness_vs_load"
    assert load_cycle_symptoms(DAY, one, two, temp, load, discharge, harm=breathing)[key] > 0.9
    assert load_cycle_symptoms(DAY, one, two, temp, load, discharge, harm=steady)[key] < 0.2
    assert key not in load_cycle_symptoms(DAY, one, two, temp, load, discharge)


def test_hf_excess_following_temperature_is_a_thin_lubricant():
    from phm.kg.load_cycle import load_cycle_symptoms

    rng = np.random.default_rng(10)
    load, temp, discharge = _cycle(rng)
    one, two = np.full(24, 0.05), np.full(24, 0.1)
    healthy = 1e-7  # g^2 per bin
    s = np.expm1(4 * DAY / DAY[-1]) / np.expm1(4)  # the breakdown growing, Paris-like
    noise = 1 + 0.05 * rng.standard_normal(24)
    key = "trend.hf_vs_temperature"

    def ev(excess: np.ndarray) -> dict:
        hf = np.log10(healthy + excess * noise)
        return load_cycle_symptoms(DAY, one, two, temp, load, discharge, hf, hf_healthy=-7.0)

    thin = 20 * healthy * s * (1 + 0.08 * (temp - temp.mean()))
    assert ev(thin)[key] > 0.8
    assert ev(20 * healthy * s)[key] < 0.2  # grows, but not with the temperature
    assert key not in ev(0.1 * healthy * s)  # no floor above healthy: unknown


def test_step_and_phase_wander():
    from phm.kg.load_cycle import phase_wander_symptom, step_symptom

    t = np.arange(16.0)
    slow = 0.02 * (1 + 9 * np.expm1(4 * t / 15) / np.expm1(4))
    step = np.where(t >= 9, 0.15, 0.02)
    assert step_symptom(t, step) > 0.9
    assert step_symptom(t, slow) < 0.2
    assert step_symptom(t, np.full(16, 0.02)) < 0.1  # no rise: no step
    assert step_symptom(t[:4], step[:4]) is None
    rng = np.random.default_rng(6)
    base = 1.0 + 0.01 * rng.standard_normal(6)
    assert phase_wander_symptom(1.0 + 0.5 * rng.standard_normal(12), base) > 0.9
    # one lasting shift of the phase is not a wander
    assert phase_wander_symptom(np.r_[np.full(6, 1.0), np.full(6, 2.5)], base) < 0.1


def test_suction_falling_with_flow_squared():
    rng = np.random.default_rng(7)
    lb, lc = rng.uniform(50, 90, 300), 70 + 15 * np.sin(np.linspace(0, 6, 300))
    temp, proc = _rows(300, rng, lb)
    base = fit_pump_baseline([], temp, proc)
    _, ok = _rows(300, rng, lc)
    assert process_symptoms(ok, base)["proc.suction_drop_with_flow"] < 0.1
    clogged = ok.copy()
    clogged[:, 2] -= 60 * (clogged[:, 4] / clogged[:, 4].mean()) ** 2  # loss ~ flow^2
    assert process_symptoms(clogged, base)["proc.suction_drop_with_flow"] > 0.9
    low_head = ok.copy()
    low_head[:, 2] -= 60  # low whatever the flow
    ev = process_symptoms(low_head, base)
    assert ev["proc.suction_low"] > 0.9 and ev["proc.suction_drop_with_flow"] < 0.1


def test_suction_loss_growing_with_flow_while_the_strainer_clogs():
    rng = np.random.default_rng(8)
    lb = rng.uniform(50, 90, 300)
    temp, proc = _rows(300, rng, lb)
    base = fit_pump_baseline([], temp, proc)
    u = np.linspace(0, 1, 720)  # a day: the daily and two shift cycles of the load
    load = 70 + 10 * np.sin(2 * np.pi * u) + 5 * np.sin(6 * np.pi * u) + 3 * np.sin(24 * np.pi * u)
    _, rows = _rows(720, rng, load)
    # the screen clogs over the day: the flow^2 loss grows from nothing to 60 kPa at mean flow
    clog = u**3
    rows[:, 2] -= 60 * clog * (rows[:, 4] / rows[:, 4].mean()) ** 2
    assert process_symptoms(rows, base)["proc.suction_drop_with_flow"] > 0.9
    level = rows.copy()
    level[:, 2] = proc[:, 2].mean() - 60 * u**2 + rng.normal(0, 1, 720)  # low, flow or not
    assert process_symptoms(level, base)["proc.suction_drop_with_flow"] < 0.1


def test_context_symptoms_from_records():
    from phm.kg.context import context_symptoms

    ev = context_symptoms(
        {
            "days_since_bearing_change": 20.0,
            "bearing_life_used": 0.3,
            "particle_code": 22.0,
            "oxidation_pct": None,  # no oil analysis: unknown, not absent
            "impeller_deposits": False,
            "soft_foot_mm": 0.2,
        }
    )
    assert ev["ctx.recent_bearing_change"] > 0.9 and ev["ctx.bearing_age"] < 0.1
    assert ev["oil.particles"] > 0.9 and "oil.oxidation" not in ev
    assert ev["insp.deposits"] == pytest.approx(0.05) and ev["insp.soft_foot"] > 0.9
    with pytest.raises(ValueError, match="impeler_deposits"):
        context_symptoms({"impeler_deposits": True})
    g = load_graph("rotating_equipment")
    detectors = {g.nodes[s].detector for s in g.of_type("symptom")}
    # every record the simulator writes reaches a symptom of the graph
    from phm.sim.maintenance import CONTEXT_FIELDS

    full = context_symptoms(dict.fromkeys(CONTEXT_FIELDS, 1))
    assert set(full) <= detectors


def test_casing_estimate_is_a_first_order_lag_of_the_load():
    from phm.kg.load_cycle import casing_estimate

    rows = np.arange(0.0, 6 * 3600.0, 60.0)
    load = np.where(rows >= 3600.0, 100.0, 50.0)  # a step at one hour
    ambient = np.full(rows.size, 20.0)
    at = np.array([3000.0, 3600.0 + 3600.0, 3600.0 + 4 * 3600.0])
    got = casing_estimate(at, rows, load, ambient, tau_s=3600.0, k_per_load=15.0)
    # 20 + 15 x (0.5 + 0.5 (1 - exp(-dt / tau))); the row at the step is held from there on
    expect = 20 + 15 * (0.5 + 0.5 * -np.expm1(-(at - 3600.0).clip(0) / 3600.0))
    assert got[0] == pytest.approx(27.5)
    assert got[1] == pytest.approx(expect[1], abs=0.1)
    assert got[2] == pytest.approx(expect[2], abs=0.05)


def _lagged_day(rng):
    """A day of load (%) on its own schedule, an ambient following the sun, and the casing
    (ambient + lagged load) at the snapshot times."""
    from phm.kg.load_cycle import casing_estimate

    rows = np.arange(-4 * 3600.0, DAY[-1] + 1, 120.0)
    load_rows = (
        70 + 10 * np.sin(2 * np.pi * rows / 86_400 + 2.0) + 5 * np.sin(2 * np.pi * rows / 28_800)
    )
    amb_rows = 25 + 4 * np.cos(2 * np.pi * (rows / 3600 - 15) / 24)
    casing = casing_estimate(DAY, rows, load_rows, amb_rows)
    load = np.interp(DAY, rows, load_rows)
    discharge = 600 - 1.5 * (load - 70) + rng.standard_normal(24)
    return load, casing, discharge


def test_load_cycle_tells_lagging_casing_from_instant_torque_and_steady_2x():
    from phm.kg.load_cycle import load_cycle_symptoms

    rng = np.random.default_rng(12)
    load, casing, discharge = _lagged_day(rng)
    temp = casing + 10  # the bearing rows are not used with a casing estimate
    noise = 1 + 0.01 * rng.standard_normal((2, 24))
    growth = 1 + DAY / DAY[-1]
    one = 0.05 * growth * noise[0]
    healthy = (np.log(0.006), 0.05)  # median and spread of the healthy log 2x

    def ev(two):
        return load_cycle_symptoms(
            DAY, one, two, temp, load, discharge, casing=casing, o2_healthy=healthy
        )

    thermal = ev(0.1 * growth * (1 + 0.08 * (casing - casing.mean())) * noise[1])
    assert thermal["trend.2x_vs_temperature"] > 0.9 and thermal["trend.2x_vs_load"] < 0.1
    assert thermal["trend.2x_steady"] < 0.1
    twisted = ev(0.1 * growth * (1 + 0.03 * (load - load.mean())) * noise[1])
    assert twisted["trend.2x_vs_load"] > 0.9 and twisted["trend.2x_vs_temperature"] < 0.1
    steady = ev(0.1 * growth * noise[1])
    assert steady["trend.2x_steady"] > 0.75
    assert max(v for k, v in steady.items() if k != "trend.2x_steady") < 0.1
    # a 2x at its healthy level is not judged steady or otherwise
    assert "trend.2x_steady" not in ev(0.006 * noise[1])


def test_second_sign_records_map_to_their_symptoms():
    from phm.kg.context import context_symptoms
    from phm.kg.loader import load_graph

    ev = context_symptoms(
        {
            "viscosity_change_pct": -35.0,
            "iron_oxide": True,
            "hot_alignment_off": True,
            "coupling_insert_worn": False,
            "pipe_support_faulty": True,
            "strainer_overdue_ratio": 2.0,
        }
    )
    assert ev["oil.viscosity_low"] > 0.95 and ev["ctx.strainer_overdue"] > 0.95
    assert ev["oil.iron_oxide"] > 0.9 and ev["insp.hot_alignment"] > 0.9
    assert ev["insp.coupling_worn"] < 0.1 and ev["proc.pipe_support_faulty"] > 0.9
    assert context_symptoms({"viscosity_change_pct": 0.0})["oil.viscosity_low"] < 0.05
    graph = load_graph("rotating_equipment")
    detectors = {graph.nodes[s].detector for s in graph.of_type("symptom")}
    assert set(ev) | {"trend.2x_steady"} <= detectors
