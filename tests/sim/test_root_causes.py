"""Root causes leave their own traces: over the load cycle, in the 1x history, on the process
curves, and in the plant's records (imperfect and partly missing)."""

from __future__ import annotations

import numpy as np
import pytest

from phm.diagnosis.evidence import vibration_features
from phm.plant import load_plant
from phm.sim.maintenance import AVAILABLE, GROUPS, maintenance_context
from phm.sim.rotating import FaultScenario, PumpSimulator

# a slow fault: severity ~0.8 and nearly constant over the day the tests look at
ONSET, FAILURE = 1_000.0, 10_000_000.0
LATE = 9_500_000.0
MID = 7_000_000.0  # severity ~0.3
DAY = LATE + 1800.0 * np.arange(48)  # a snapshot every half hour


@pytest.fixture(scope="module")
def meta() -> dict:
    return load_plant().types["pump"].meta


def pump(meta: dict, mode: str, cause: str, seed: int = 3, asset: str = "pump-001"):
    return PumpSimulator(asset, meta, seed, FaultScenario(mode, cause, ONSET, FAILURE))


def orders(sim: PumpSimulator, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1x and 2x amplitudes (g) of the drive-end channel at each time."""
    feats = [
        vibration_features(sim.snapshot(float(t)), sim.fs, float(sim.shaft_hz(t)), sim.geometry)
        for t in times
    ]
    return np.array([f["o1"] for f in feats]), np.array([f["o2"] for f in feats])


def largest_step_share(meta: dict, mode: str, cause: str) -> float:
    """Largest one-step rise of log 1x from onset to failure, as a share of its whole range."""
    one, _ = orders(pump(meta, mode, cause), np.linspace(ONSET, FAILURE, 41))
    v = np.log(one)
    return float(np.max(np.diff(v)) / (v.max() - v.min()))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def test_thermal_growth_2x_tracks_the_casing_temperature_coupling_does_not(meta) -> None:
    thermal = pump(meta, "misalignment", "thermal growth")
    coupling = pump(meta, "misalignment", "coupling misalignment")
    _, two_t = orders(thermal, DAY)
    _, two_c = orders(coupling, DAY)
    assert corr(np.log(two_t), thermal.casing_c(DAY)) > 0.9
    assert np.ptp(np.log(two_t)) > 0.3  # the 2x swings by more than a third over the day
    assert abs(corr(np.log(two_c), coupling.temperature_rows(DAY, tick=1)[:, 0])) < 0.5
    assert np.ptp(np.log(two_c)) < 0.1


def test_pipe_strain_follows_discharge_and_soft_foot_follows_load(meta) -> None:
    strain = pump(meta, "misalignment", "pipe strain")
    _, two = orders(strain, DAY)
    discharge = strain.process_rows(DAY, tick=1)[:, 3]
    assert corr(np.log(two), discharge) > 0.8
    soft = pump(meta, "misalignment", "soft foot")
    one, _ = orders(soft, DAY)
    assert corr(np.log(one), soft.load_pct(DAY)) > 0.8
    one_c, _ = orders(pump(meta, "misalignment", "coupling misalignment"), DAY)
    assert np.ptp(np.log(one_c)) < 0.1


def test_clogged_strainer_loss_grows_with_flow_low_suction_head_does_not(meta) -> None:
    t = LATE + 120.0 * np.arange(720)  # a day of process rows

    def slope(cause: str) -> tuple[float, float]:
        rows = pump(meta, "cavitation", cause).process_rows(t, tick=5)
        q2 = rows[:, 4].astype(float) ** 2
        b = np.polyfit(q2 / q2.mean(), rows[:, 2], 1)[0]  # kPa per unit of relative flow^2
        return float(b), float(rows[:, 2].mean())

    healthy = PumpSimulator("pump-001", meta, 3).process_rows(t, tick=5)[:, 2].mean()
    b_strainer, _ = slope("clogged suction strainer")
    b_head, suction_head = slope("low suction head")
    assert b_strainer < -30  # tens of kPa more loss at high flow
    assert abs(b_head) < 5 and suction_head < 0.6 * healthy
    _, suction_hot = slope("high fluid temperature")
    assert suction_hot > 0.95 * healthy  # cavitation from vapour pressure, suction as before


def test_broken_vane_steps_fouling_rises_slowly(meta) -> None:
    assert largest_step_share(meta, "imbalance", "broken vane fragment") > 0.7
    assert largest_step_share(meta, "imbalance", "impeller fouling / imbalance") < 0.3


def test_impeller_erosion_loses_more_flow_than_fouling(meta) -> None:
    t = LATE + np.arange(300.0)
    healthy = PumpSimulator("pump-001", meta, 3).process_rows(t)[:, 4].mean()
    eroded = pump(meta, "imbalance", "impeller erosion").process_rows(t)[:, 4].mean()
    fouled = pump(meta, "imbalance", "impeller fouling / imbalance").process_rows(t)[:, 4].mean()
    assert eroded < 0.9 * healthy and fouled > 0.93 * healthy


def test_cracked_baseplate_lowers_the_resonance(meta) -> None:
    def resonance(cause: str, t0: float) -> float:
        sim = pump(meta, "looseness", cause)
        x = [sim.snapshot(t0 + 977.0 * i) for i in range(12)]
        return float(
            np.median([vibration_features(s, sim.fs, 29.5, sim.geometry)["resonance"] for s in x])
        )

    assert resonance("cracked baseplate", 500.0) - resonance("cracked baseplate", LATE) > 200
    assert (
        abs(resonance("loose hold-down bolts", 500.0) - resonance("loose hold-down bolts", LATE))
        < 80
    )


def test_worn_fit_makes_the_1x_phase_wander(meta) -> None:
    from phm.diagnosis.load_cycle import cross_phase

    def wander(cause: str) -> float:
        sim = pump(meta, "looseness", cause)
        ph = np.array(
            [cross_phase(sim.snapshot(float(t)), sim.fs, float(sim.shaft_hz(t))) for t in DAY]
        )
        return float(np.median(np.abs(np.angle(np.exp(1j * np.diff(ph))))))

    # a truncated waveform moves the phase a little too; a creeping ring several times more
    assert wander("worn fit") > 0.3
    assert wander("loose hold-down bolts") < 0.15


def test_overload_runs_near_full_load(meta) -> None:
    t = np.linspace(0, 86_400, 200)
    assert pump(meta, "inner_race", "overload / fatigue").load_pct(t).mean() > 85
    assert pump(meta, "inner_race", "contamination").load_pct(t).mean() < 82


# --- operating conditions: the sun, the schedule and thermal inertia ----------------------
def test_ambient_is_the_plants_and_warmest_mid_afternoon_load_is_each_pumps(meta) -> None:
    hours = np.arange(0.0, 72.0, 0.25)
    t = 3600.0 * hours
    pumps = [PumpSimulator(f"pump-{i:03d}", meta, seed=4) for i in range(12)]
    swings = [p.ambient_c(t) - p.ambient_c(t).mean() for p in pumps]
    assert np.allclose(swings[0], swings[5])  # one plant-wide weather, whatever the pump
    other_seed = PumpSimulator("pump-000", meta, seed=5).ambient_c(t)
    assert not np.allclose(swings[0], other_seed - other_seed.mean())  # another plant's
    daily = pumps[0].ambient_c(t) - pumps[0].ambient_c(t + 43_200.0)  # weather mostly cancels
    assert 12.0 <= hours[np.argmax(daily[:96])] <= 18.0
    # the load follows each pump's schedule: no longer in step with the ambient
    r = [corr(p.load_pct(t), p.ambient_c(t)) for p in pumps]
    assert min(r) < -0.2 and max(r) > 0.2, r


def test_casing_lags_the_load_by_its_thermal_inertia(meta) -> None:
    sim = PumpSimulator("pump-007", meta, seed=4)
    # over a day the casing follows the load with a lag of tens of minutes
    day = np.arange(0.0, 86_400.0, 300.0)
    load = sim.load_pct(day) - sim.load_pct(day).mean()
    heat = sim.casing_c(day) - sim.ambient_c(day)
    heat = heat - heat.mean()
    lags = np.arange(0, 37)  # 0-3 hours in 5-minute steps
    best = max(lags, key=lambda k: float(np.dot(load[: len(day) - k], heat[k:])))
    assert 2 <= best <= 24, best  # 10 minutes to 2 hours
    # a schedule step alone: the load steps at once, the casing has 63% of its step one
    # time constant later
    sim._load_amp = np.zeros(3)
    sim._step_times, sim._step_sizes = np.array([72_000.0]), np.array([10.0])
    tau = sim._casing_tau
    t = 72_000.0 + np.array([-60.0, 1.0, tau, 6 * tau])
    rise = sim.casing_c(t) - sim.ambient_c(t)
    rise = rise - rise[0]
    assert sim.load_pct(t[1]) - sim.load_pct(t[0]) == pytest.approx(10.0)
    full = sim._casing_k * 10.0 / 100
    assert rise[1] < 0.01 * full
    assert rise[2] == pytest.approx((1 - np.exp(-1)) * full, rel=1e-3)
    assert rise[3] == pytest.approx(full, rel=0.01)


def test_soft_foot_2x_follows_the_load_at_once_thermal_growth_lags(meta) -> None:
    soft = pump(meta, "misalignment", "soft foot", asset="pump-lag")
    thermal = pump(meta, "misalignment", "thermal growth", asset="pump-lag")
    _, two_s = orders(soft, DAY)
    _, two_t = orders(thermal, DAY)
    load = soft.load_pct(DAY)
    lagged = thermal.casing_c(DAY) - thermal.ambient_c(DAY)  # the same pump's schedule
    assert corr(np.log(two_s), load) > corr(np.log(two_s), lagged)
    assert corr(np.log(two_s), load) > 0.8
    # thermal growth: the casing's heat and the ambient; the load alone explains less
    assert corr(np.log(two_t), thermal.casing_c(DAY)) > corr(np.log(two_t), load) + 0.1


def test_loose_fit_1x_phase_drifts_tight_fit_does_not(meta) -> None:
    from phm.diagnosis.load_cycle import cross_phase

    def drift(sim: PumpSimulator) -> float:
        ph = [cross_phase(sim.snapshot(float(t)), sim.fs, float(sim.shaft_hz(t))) for t in DAY]
        return float(np.median(np.abs(np.angle(np.exp(1j * np.diff(ph))))))

    fits = [pump(meta, "inner_race", "improper fit", asset=f"pump-{i:03d}") for i in range(8)]
    loose = next(p for p in fits if not p.tight_fit)
    tight = next(p for p in fits if p.tight_fit)
    assert drift(loose) > 0.1
    assert drift(tight) < 0.03
    expected = maintenance_context(loose.asset_id, 3, "improper fit", LATE, fit="loose")
    assert loose.context(LATE) == expected


# --- context: error rates over many pumps -------------------------------------------------
N_PUMPS = 600


def draws(cause: str | None) -> list[dict]:
    return [maintenance_context(f"pump-{i:04d}", 11, cause) for i in range(N_PUMPS)]


def rates(with_cause: list[dict], without: list[dict], field: str, test) -> tuple[float, float]:
    """Sensitivity and false-positive rate of `test` on the field, among pumps where it is
    not missing."""
    pos = [test(c[field]) for c in with_cause if c[field] is not None]
    neg = [test(c[field]) for c in without if c[field] is not None]
    return float(np.mean(pos)), float(np.mean(neg))


@pytest.mark.parametrize(
    "cause,field,test",
    [
        ("improper fit", "days_since_bearing_change", lambda v: v < 90),
        ("worn bearing", "bearing_life_used", lambda v: v > 1.0),
        ("worn fit", "bearing_changes_5y", lambda v: v >= 3),
        ("brinelling from shipping", "days_since_install", lambda v: v < 90),
        ("insufficient lubrication", "relube_overdue_ratio", lambda v: v > 1.15),
        ("wrong lubricant", "lubricant_changed", bool),
        ("contamination", "particle_code", lambda v: v >= 19),
        ("grease degradation", "oxidation_pct", lambda v: v > 30),
        ("impeller fouling / imbalance", "impeller_deposits", bool),
        ("soft foot", "soft_foot_mm", lambda v: v > 0.05),
        ("coupling misalignment", "cold_misalignment_mm", lambda v: v > 0.08),
        ("clogged suction strainer", "strainer_dp_kpa", lambda v: v > 25),
        ("high fluid temperature", "fluid_temp_rise_c", lambda v: v > 8),
        ("clogged suction strainer", "strainer_overdue_ratio", lambda v: v > 1.15),
        ("wrong lubricant", "viscosity_change_pct", lambda v: v < -15),
        ("worn fit", "iron_oxide", bool),
        ("pipe strain", "pipe_support_faulty", bool),
        ("pipe strain", "flange_moves", bool),
        ("thermal growth", "hot_alignment_off", bool),
    ],
)
def test_context_observations_are_imperfect(cause, field, test) -> None:
    other = "impeller erosion" if cause != "impeller erosion" else "soft foot"
    sens, fp = rates(draws(cause), draws(other), field, test)
    assert 0.45 < sens < 0.97, sens
    assert 0.005 < fp < 0.2, fp


def test_coupling_insert_and_iron_oxide_tell_causes_apart() -> None:
    worn = [c["coupling_insert_worn"] for c in draws("coupling misalignment")]
    worn_t = [c["coupling_insert_worn"] for c in draws("thermal growth")]
    assert np.mean([w for w in worn if w is not None]) > 0.4
    assert np.mean([w for w in worn_t if w is not None]) < 0.3

    # only a loose fit creeps and frets: iron oxide in the oil
    def oxide(fit: str) -> float:
        vals = [
            maintenance_context(f"pump-{i:04d}", 11, "improper fit", fit=fit)["iron_oxide"]
            for i in range(N_PUMPS)
        ]
        return float(np.mean([v for v in vals if v is not None]))

    assert oxide("loose") > 0.45
    assert oxide("tight") < 0.12


def test_context_is_often_missing_and_deterministic() -> None:
    healthy = draws(None)
    for group, fields in GROUPS.items():
        present = np.mean([c[fields[0]] is not None for c in healthy])
        # the group's availability less single lost fields, within sampling error
        assert abs(present - AVAILABLE[group] * 0.9) < 0.07, (group, present)
    assert maintenance_context("pump-0001", 11, "soft foot") == maintenance_context(
        "pump-0001", 11, "soft foot"
    )
    assert maintenance_context("pump-0001", 11, None) != maintenance_context("pump-0001", 12, None)


def test_simulator_context_carries_the_cause(meta) -> None:
    sim = pump(meta, "lubrication", "wrong lubricant")
    ctx = sim.context(LATE)
    assert ctx == maintenance_context("pump-001", 3, "wrong lubricant", LATE)
    assert set(ctx) == {f for fields in GROUPS.values() for f in fields}


# --- bearing causes: the history since start-up, and the sister pumps ---------------------
def bearing_features(sim: PumpSimulator, times: np.ndarray) -> list[dict]:
    return [
        vibration_features(sim.snapshot(float(t)), sim.fs, float(sim.shaft_hz(t)), sim.geometry)
        for t in times
    ]


def test_brinelling_shows_the_outer_race_from_the_first_day(meta) -> None:
    early = np.array([3600.0, 7200.0, 10_800.0])  # hours after start-up, long before onset
    brinelled = bearing_features(pump(meta, "outer_race", "brinelling from shipping"), early)
    worn = bearing_features(pump(meta, "outer_race", "worn bearing"), early)
    assert min(f["env_bpfo"] for f in brinelled) > 1.4  # a clear BPFO line
    assert max(f["env_bpfo"] for f in worn) < 1.0


def test_housing_bore_bpfo_waxes_and_wanes_over_hours(meta) -> None:
    hours = MID + 3600.0 * np.arange(24)
    creeping = [
        f["env_bpfo"] for f in bearing_features(pump(meta, "outer_race", "housing bore"), hours)
    ]
    fixed = [
        f["env_bpfo"] for f in bearing_features(pump(meta, "outer_race", "worn bearing"), hours)
    ]
    assert np.std(creeping) > 2 * np.std(fixed)
    assert max(creeping) - min(creeping) > 1.0  # out of and into the load zone


def test_contamination_roughens_the_floor_before_the_spall(meta) -> None:
    fail = 4 * 86_400.0
    onset = 2.4 * 86_400.0
    before = np.linspace(0.05, 0.95, 9) * onset  # all before the spall's onset

    def hf(cause: str) -> np.ndarray:
        sim = PumpSimulator("pump-001", meta, 3, FaultScenario("inner_race", cause, onset, fail))
        return np.array([f["hf"] for f in bearing_features(sim, before)])

    dirty, clean = hf("contamination"), hf("worn bearing")
    # log10 power, last three against first three: the floor rose by a quarter or more
    assert dirty[-3:].mean() - dirty[:3].mean() > 0.1
    assert abs(clean[-3:].mean() - clean[:3].mean()) < 0.05


def test_tight_fit_runs_hot_from_start_up_loose_fit_raises_1x(meta) -> None:
    t = np.linspace(0.0, 3600.0, 20)  # the first hour, long before onset
    fits = [pump(meta, "inner_race", "improper fit", asset=f"pump-{i:03d}") for i in range(12)]
    tight = [s for s in fits if s.tight_fit]
    loose = [s for s in fits if not s.tight_fit]
    assert tight and loose
    healthy = [PumpSimulator(f"pump-{i:03d}", meta, 3) for i in range(12)]

    def de_over_ambient(sim: PumpSimulator) -> float:
        rows = sim.temperature_rows(t, tick=1)
        return float(np.mean(rows[:, 0] - rows[:, 3]) - 10 * np.mean(sim.load_pct(t)) / 100)

    sisters = [de_over_ambient(s) for s in healthy]
    assert min(de_over_ambient(s) for s in tight) > max(sisters) + 2.0
    assert max(de_over_ambient(s) for s in loose) < max(sisters) + 2.0
    # the creeping ring's runout turns with it: 1x waxes and wanes over hours, to well
    # above a worn bearing's
    one_loose, _ = orders(loose[0], DAY[::4])
    one_worn, _ = orders(
        pump(meta, "inner_race", "worn bearing", asset=loose[0].asset_id), DAY[::4]
    )
    assert one_loose.max() > 2 * np.median(one_worn)
    assert np.ptp(np.log(one_loose)) > 0.5


def test_loose_bolts_step_up_other_looseness_grows(meta) -> None:
    assert largest_step_share(meta, "looseness", "loose hold-down bolts") > 0.6
    assert largest_step_share(meta, "looseness", "worn fit") < 0.3


def test_starved_bearing_temperature_spikes(meta) -> None:
    t = LATE + 120.0 * np.arange(720)

    def bursts(cause: str) -> float:
        de = pump(meta, "lubrication", cause).temperature_rows(t, tick=2)[:, 0]
        smooth = np.convolve(de, np.ones(91) / 91, mode="same")[45:-45]
        return float(np.max(de[45:-45] - smooth))

    assert bursts("insufficient lubrication") > 3.0
    assert bursts("grease degradation") < 1.0


def test_grease_degradation_creeps_up_before_the_breakdown(meta) -> None:
    t = np.linspace(0.05, 0.95, 12) * ONSET * 1000  # long before an onset at 1e6 s

    def creep(cause: str) -> float:
        sim = PumpSimulator("pump-001", meta, 3, FaultScenario("lubrication", cause, 1e6, 4e6))
        rows = sim.temperature_rows(t, tick=3)
        resid = rows[:, 0] - rows[:, 3] - 10 * sim.load_pct(t) / 100
        return float(np.polyfit(t / t[-1], resid, 1)[0])

    assert creep("grease degradation") > 1.0  # K over the span
    assert abs(creep("insufficient lubrication")) < 0.3


def test_cracked_baseplate_harmonics_follow_the_load_not_1x(meta) -> None:
    crack = pump(meta, "looseness", "cracked baseplate")
    feats = bearing_features(crack, DAY)
    load = crack.load_pct(DAY)
    assert corr(np.log([f["harm"] for f in feats]), load) > 0.7
    assert abs(corr(np.log([f["o1"] for f in feats]), load)) < 0.5
