"""The simulated ion-mill etch tool of the PHM 2018 data challenge: its draw, schedule and signals.

Each tool is simulated on its own, from RNG streams derived from (seed, tool index) (`tool_rng`),
so the output does not depend on how many tools run in parallel. Per tool (`SimulatedTool`):

1. Draw the tool (recipes, baselines, limits, fault rates, precursor time scales) and its fault
   schedule up front: a list of maintenance cycles, each healthy -> precursor -> fault (burst)
   -> maintenance gap. The schedule is tiny and fixes every fault time, so TTF of any row is known
   when that row is written.
2. Stream lots (runs of one recipe, each run a sequence of recipe steps at a 4 s cadence) in time
   order, laid out so that every fault time is exactly a sample time; group lots into chunks of
   about CHUNK_ROWS rows and render each chunk with vectorised numpy. Memory is bounded by the
   chunk size, not by the record length.

Signals are z-score-like (no units) like the real files; counters and categoricals are raw.
The flow-cool precursor model is described at `_flowcool`. The dataset files (`phm simulate
phm2018`) are written by `phm.sim.ion_mill_files`; the live plant streams the rows
(`phm.sim.plant`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

from phm.datasets.phm2018_layout import (
    FAULT_MODES,
    SAMPLE_PERIOD_S,
    SENSOR_COLUMNS,
    SHUTTER_UNKNOWN,
)

CHUNK_ROWS = 65_536  # rows rendered (and written) at a time; bounds memory (~25 MB per chunk)

# --- time and process structure ---------------------------------------------------------------
S = SAMPLE_PERIOD_S  # 4 s; every time below is in seconds, every row count in samples
DAY_S = 86_400
TOOL_START_RANGE_S = (3_000_000, 40_000_000)  # anonymised offset of each tool's first row
JITTER_PROB = 0.003  # a row stamped 1 s early or late: steps of 3+5 s around it, grid kept
LOT_RUNS_RANGE = (2, 9)  # runs (wafers) per lot, upper bound exclusive
LOT_GAP_MEDIAN_S, LOT_GAP_SIGMA, LOT_GAP_MIN_S = 900.0, 1.0, 60  # idle gap between lots (lognormal)
LOT_ID_STEP_MAX = 3  # Lot ids increase by 1..3 per lot (other lots ran on other tools)
FAULT_LOT_SLACK_S = 1800  # a fault this soon after a lot's natural end extends that lot
FAULT_LEAD_IN_S = 75 * S  # a fault in an idle gap: the next lot starts this long before it
RECIPES_PER_TOOL = (3, 7)  # upper bound exclusive
RECIPE_ID_MAX = 60
ETCH_STEPS_RANGE = (2, 7)  # etch steps per recipe -> 7..15 recipe steps; upper bound exclusive
STAGES = (1, 2, 3, 4)  # the small set of `stage` values
STEP_DURATION_SPREAD = 0.15  # lognormal sigma of run-to-run step durations
# kind -> (duration range in samples, beam level range, gas level range, shutter position)
STEP_KINDS: dict[str, tuple[tuple[int, int], tuple[float, float], tuple[float, float], int]] = {
    "load": ((5, 15), (0.0, 0.0), (0.0, 0.0), 0),
    "pump": ((15, 60), (0.0, 0.0), (0.3, 0.6), 0),
    "etch": ((20, 150), (0.55, 1.0), (0.7, 1.0), 1),
    "settle": ((3, 15), (0.0, 0.0), (0.6, 0.9), 2),
    "cool": ((10, 40), (0.0, 0.0), (0.0, 0.2), 3),
    "unload": ((5, 15), (0.0, 0.0), (0.0, 0.0), 0),
}
TILT_HOME_Z, TILT_ETCH_Z = -1.6, (-1.2, -0.3, 0.6, 1.5)  # fixture tilt: home, etch positions
ROTATION_ETCH_Z = 1.5  # etch-step rotation angles are uniform in +-this (z); 0 otherwise
ROTATION_SPEEDS = (10, 15, 20, 25, 30)  # ROTATIONSPEED, constant per tool
RECIPE_MIX_CONCENTRATION = 2.0  # Dirichlet concentration of how often each recipe runs
FIRST_LOT_MAX, FIRST_RUN_MAX = 5000, 100_000  # a tool's first Lot id and runnum lie below these
COUNTER_START_MAX = 5_000_000  # usage counters start anywhere below this (seconds of use)
SOURCE_CHANGE_PROB = 0.25  # a maintenance also changes the source (usage counters reset)

# --- step-driven channels: (drive, idle z, full-drive z, noise sd) ----------------------------
DRIVEN_CHANNELS: dict[str, tuple[str, float, float, float]] = {
    "IONGAUGEPRESSURE": ("gas", -1.3, 0.7, 0.06),
    "ETCHBEAMVOLTAGE": ("beam", -1.1, 0.9, 0.02),
    "ETCHBEAMCURRENT": ("beam", -1.0, 0.95, 0.04),
    "ETCHSUPPRESSORVOLTAGE": ("beam", -1.1, 0.9, 0.02),
    "ETCHSUPPRESSORCURRENT": ("beam", -0.8, 1.1, 0.08),
    "ETCHGASCHANNEL1READBACK": ("gas", -1.0, 0.85, 0.03),
    "ETCHPBNGASREADBACK": ("gas", -0.9, 1.0, 0.03),
}
CHANNEL_OFFSET_SD = 0.1  # per-tool offset of each driven channel (z)
ANGLE_NOISE_SD = 0.005
BEAM_TAU_S = 8.0  # readback response time of beam/gas channels
NAN_FRACTION = 2.2e-5  # fraction of float sensor values written empty (real data: 0.0022%)
SHUTTER_UNKNOWN_FRACTION = 1e-4  # rows with FIXTURESHUTTERPOSITION = 255

# --- flow-cool loop (z units) -----------------------------------------------------------------
FLOWCOOL_BASE_SD = 1.0  # tool-to-tool spread of the pressure and flow baselines
PRESSURE_GAIN_RANGE = (0.6, 1.2)  # pressure rise at full heat load
FLOW_GAIN_RANGE = (0.4, 1.0)  # flow rise at full heat load
FLOWCOOL_NOISE_RANGE = (0.05, 0.12)  # per-tool white-noise sd
HEAT_TAU_S = 60.0  # thermal time constant of the fixture (heat load = lagged beam level)
WANDER_TAU_S, WANDER_SD = 1800.0, 0.08  # slow AR(1) drift shared by pressure and flow
FLOW_WANDER_COUPLING = 0.5
BASELINE_SHIFT_SD = 0.05  # baseline shift at each maintenance

# --- faults and precursors --------------------------------------------------------------------
# Bursts per tool-day, chosen so 30 days of one tool give ~5.7 pressure_low, ~2.4 pressure_high and
# ~1.1 leak events on average (real logs: 741 / 332 / 137 over 20 tools x ~200 days, i.e. 5.6 /
# 2.5 / 1.0 per tool-month); set a little above that, as competing risks and gaps lower counts.
FAULT_BURST_RATE_PER_DAY = {"pressure_low": 2.2 / 30, "pressure_high": 1.9 / 30, "leak": 1.2 / 30}
# mean extra re-fires per burst (Poisson), indexed like FAULT_MODES
BURST_EXTRA = np.array([1.5, 0.3, 0.1])
BURST_INTERVAL_MEAN_S, BURST_INTERVAL_MIN_S = 240.0, 60.0  # re-fire spacing within a burst
MODE_ABSENT_PROB = {"pressure_low": 0.0, "pressure_high": 0.1, "leak": 0.2}  # tool never has it
TOOL_RATE_SPREAD = 0.35  # lognormal sigma of a tool's rate multiplier
MIN_HEALTHY_S = 2 * 3600  # no fault this soon after maintenance; no precursor in its first half
PRECURSOR_LEAD_RANGE_S = (3600.0, 24 * 3600.0)  # log-uniform, drawn per event
POST_FAULT_TAIL_MAX = 75  # samples logged after the last fault of a burst before shutdown
MAINTENANCE_GAP_RANGE_S = (1800.0, 6 * 3600.0)  # log-uniform idle gap after a fault
LIMIT_MARGIN_RANGE = (1.0, 1.8)  # limit distance from the healthy full-load level, per tool/mode
# Accelerating degradation follows the inverse-rate law of failure forecasting (Voight 1988):
# severity grows like tau / (TTF + tau), so its rate of change climbs steeply in the last
# ~tau seconds. tau is drawn per tool and mode; see `precursor_severity`.
PRECURSOR_TAU_RANGE_S = (400.0, 1600.0)
EVENT_AMP_SD = 0.15  # amplitude multiplier 1 + |N(0, sd)|, so the limit is always reached
PRECURSOR_IDLE_WEIGHT = 0.3  # precursor strength without heat load, relative to full load
LOW_FLOW_FOLLOW = 0.6  # pressure_low: flow falls with pressure
HIGH_FLOW_DROP, HIGH_OSC_GAIN = 0.5, 0.5  # pressure_high: flow drop, oscillation amplitude
HIGH_OSC_PERIOD_RANGE_S = (120.0, 900.0)
LEAK_PRESSURE_SAG, LEAK_NOISE_GAIN = 0.3, 2.0  # leak: pressure sag and extra pressure noise
LEAK_SPIKE_PROB, LEAK_SPIKE_SCALE = 0.02, 0.8  # spike chance per sample at full severity; size
LEAK_SPIKE_FLOW_RATIO = 0.5  # a leak spike moves flow by this fraction of its pressure dip

FLOWCOOL_COLUMNS = ("FLOWCOOLFLOWRATE", "FLOWCOOLPRESSURE")
ANGLE_COLUMNS = ("FIXTURETILTANGLE", "ACTUALROTATIONANGLE")
FLOAT_COLUMNS = (*DRIVEN_CHANNELS, *FLOWCOOL_COLUMNS, *ANGLE_COLUMNS)  # z-scored; the rest are ints
COUNTER_COLUMNS = ("ETCHSOURCEUSAGE", "ETCHAUXSOURCETIMER", "ETCHAUX2SOURCETIMER")


@dataclass(frozen=True)
class _Recipe:
    recipe_id: int
    stage: int
    step: dict[str, np.ndarray]  # num, dur, varies, beam, gas, tilt, rot, shutter: (n_steps,)


@dataclass(frozen=True)
class _Tool:
    """One tool's fixed traits; per-mode arrays are indexed like FAULT_MODES."""

    t_start: int
    recipes: list[_Recipe]
    recipe_p: np.ndarray  # (n_recipes,) how often each recipe runs
    rotation_speed: int
    channel_offset: np.ndarray  # (len(DRIVEN_CHANNELS),) z
    pressure_base: float
    flow_base: float
    pressure_gain: float
    flow_gain: float
    noise_sd: float
    margin: np.ndarray  # (3,) limit distance from the healthy full-load level, z
    tau_s: np.ndarray  # (3,) precursor time scale, seconds
    rate_per_s: np.ndarray  # (3,) bursts per second, 0 = mode absent
    osc_period_s: float
    osc_phase: float
    counters: np.ndarray  # (3,) initial usage counters, seconds
    first_lot: int
    first_run: int


@dataclass(frozen=True)
class _Cycle:
    """A maintenance cycle: rows from h0 to end, ending in a fault burst unless mode is -1."""

    h0: int
    end: int
    mode: int  # index in FAULT_MODES; -1: the record ends first
    faults: np.ndarray  # (k,) int64 fault times of the burst; empty if mode is -1
    tf: int  # first fault time (end if none)
    t_pre: int  # precursor onset
    amplitude: float
    pressure_base: float
    flow_base: float
    source_change: bool  # the source was changed at h0 (usage counters restart)


@dataclass(frozen=True)
class _Lot:
    start: int  # time of the first row
    n: int  # rows
    lot_id: int
    stage: int
    steps: dict[str, np.ndarray]  # recipe step arrays tiled over the runs, plus run, runnum
    cycle: _Cycle
    reset: bool  # usage counters restart at the first row


@dataclass
class _State:
    """Carried from chunk to chunk: filter states (beam, gas, heat, wander) and counters."""

    zi: np.ndarray = field(default_factory=lambda: np.zeros((4, 1)))
    counters: np.ndarray = field(default_factory=lambda: np.zeros(3))


def tool_rng(seed: int, index: int, purpose: int) -> np.random.Generator:
    """Independent stream per (seed, tool, purpose): 0 tool, 1 schedule, 2 lots, 3 signals."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, purpose)))


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(*lo_hi))


def _loguniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(lo_hi[0]), np.log(lo_hi[1]))))


def _draw_recipe(rng: np.random.Generator, recipe_id: int) -> _Recipe:
    n_etch = int(rng.integers(*ETCH_STEPS_RANGE))
    kinds = ["load", "pump", *(["etch", "settle"] * n_etch)[:-1], "cool", "unload"]
    rows = []
    for kind in kinds:
        (dur_lo, dur_hi), beam, gas, shutter = STEP_KINDS[kind]
        etch = kind == "etch"
        rows.append(
            (
                int(rng.integers(dur_lo, dur_hi + 1)),
                kind in ("etch", "pump"),
                _uniform(rng, beam),
                _uniform(rng, gas),
                float(rng.choice(TILT_ETCH_Z)) if etch else TILT_HOME_Z,
                _uniform(rng, (-ROTATION_ETCH_Z, ROTATION_ETCH_Z)) if etch else 0.0,
                shutter,
            )
        )
    names = ("dur", "varies", "beam", "gas", "tilt", "rot", "shutter")
    step = {k: np.array(v) for k, v in zip(names, zip(*rows, strict=True), strict=True)}
    step["num"] = np.arange(1, len(kinds) + 1)
    return _Recipe(recipe_id, int(rng.choice(STAGES)), step)


def _draw_tool(rng: np.random.Generator) -> _Tool:
    n_recipes = int(rng.integers(*RECIPES_PER_TOOL))
    ids = np.sort(rng.choice(np.arange(1, RECIPE_ID_MAX + 1), n_recipes, replace=False))
    absent = rng.random(3) < np.array([MODE_ABSENT_PROB[m] for m in FAULT_MODES])
    base_rate = np.array([FAULT_BURST_RATE_PER_DAY[m] for m in FAULT_MODES]) / DAY_S
    return _Tool(
        t_start=int(rng.integers(*TOOL_START_RANGE_S)),
        recipes=[_draw_recipe(rng, int(i)) for i in ids],
        recipe_p=rng.dirichlet(np.full(n_recipes, RECIPE_MIX_CONCENTRATION)),
        rotation_speed=int(rng.choice(ROTATION_SPEEDS)),
        channel_offset=rng.normal(0.0, CHANNEL_OFFSET_SD, len(DRIVEN_CHANNELS)),
        pressure_base=float(rng.normal(0.0, FLOWCOOL_BASE_SD)),
        flow_base=float(rng.normal(0.0, FLOWCOOL_BASE_SD)),
        pressure_gain=_uniform(rng, PRESSURE_GAIN_RANGE),
        flow_gain=_uniform(rng, FLOW_GAIN_RANGE),
        noise_sd=_uniform(rng, FLOWCOOL_NOISE_RANGE),
        margin=rng.uniform(*LIMIT_MARGIN_RANGE, 3),
        tau_s=rng.uniform(*PRECURSOR_TAU_RANGE_S, 3),
        rate_per_s=np.where(absent, 0.0, base_rate * rng.lognormal(0.0, TOOL_RATE_SPREAD, 3)),
        osc_period_s=_uniform(rng, HIGH_OSC_PERIOD_RANGE_S),
        osc_phase=_uniform(rng, (0.0, 2 * np.pi)),
        counters=rng.uniform(0, COUNTER_START_MAX, 3),
        first_lot=int(rng.integers(1, FIRST_LOT_MAX)),
        first_run=int(rng.integers(1, FIRST_RUN_MAX)),
    )


def _draw_schedule(rng: np.random.Generator, tool: _Tool, t_end: int) -> list[_Cycle]:
    """Maintenance cycles covering [t_start, t_end]; the modes are competing risks, drawn
    afresh after each maintenance, so each cycle has exactly one precursor and one mode."""
    cycles: list[_Cycle] = []
    h0, p_base, f_base, changed = tool.t_start, tool.pressure_base, tool.flow_base, False
    while h0 <= t_end:
        with np.errstate(divide="ignore"):
            waits = rng.exponential(1.0, 3) / tool.rate_per_s  # inf for an absent mode
        mode = int(np.argmin(waits))
        tf = h0 + MIN_HEALTHY_S + int(min(waits[mode], t_end))
        extra = rng.exponential(BURST_INTERVAL_MEAN_S, rng.poisson(BURST_EXTRA[mode]))
        spacing = S * np.round(np.maximum(extra, BURST_INTERVAL_MIN_S) / S).astype(np.int64)
        faults = tf + np.concatenate([[0], np.cumsum(spacing)]).astype(np.int64)
        end = int(faults[-1]) + S * int(rng.integers(0, POST_FAULT_TAIL_MAX + 1))
        t_pre = max(tf - int(_loguniform(rng, PRECURSOR_LEAD_RANGE_S)), h0 + MIN_HEALTHY_S // 2)
        full_load_drop = tool.pressure_gain if FAULT_MODES[mode] == "pressure_low" else 0.0
        amplitude = (tool.margin[mode] + full_load_drop) * (1 + abs(rng.normal(0, EVENT_AMP_SD)))
        gap = int(_loguniform(rng, MAINTENANCE_GAP_RANGE_S))
        shift = rng.normal(0.0, BASELINE_SHIFT_SD, 2)
        change_next = bool(rng.random() < SOURCE_CHANGE_PROB)
        if end > t_end:  # the record ends before this fault: a last, healthy cycle
            none = np.zeros(0, np.int64)
            cycles.append(_Cycle(h0, t_end, -1, none, t_end, t_end, 0.0, p_base, f_base, changed))
            break
        cycles.append(_Cycle(h0, end, mode, faults, tf, t_pre, amplitude, p_base, f_base, changed))
        h0, p_base, f_base, changed = end + gap, p_base + shift[0], f_base + shift[1], change_next
    return cycles


def _run_steps(rng: np.random.Generator, recipe: _Recipe, n_runs: int) -> dict[str, np.ndarray]:
    """The recipe's steps tiled over n_runs runs, with run-to-run duration spread."""
    steps = {k: np.tile(v, n_runs) for k, v in recipe.step.items()}
    spread = rng.lognormal(0.0, STEP_DURATION_SPREAD, len(steps["dur"]))
    steps["dur"] = np.maximum(1, np.round(steps["dur"] * np.where(steps["varies"], spread, 1.0)))
    steps["dur"] = steps["dur"].astype(np.int64)
    steps["run"] = np.repeat(np.arange(n_runs), len(recipe.step["dur"]))
    return steps


def _fit_steps(rng: np.random.Generator, recipe: _Recipe, steps: dict, n: int) -> dict:
    """Append runs until the steps last at least n samples, then cut them at exactly n."""
    while steps["dur"].sum() < n:
        more = _run_steps(rng, recipe, 1)
        more["run"] += steps["run"][-1] + 1
        steps = {k: np.concatenate([steps[k], more[k]]) for k in steps}
    ends = np.cumsum(steps["dur"])
    last = int(np.searchsorted(ends, n))  # the step holding sample n - 1
    steps = {k: v[: last + 1].copy() for k, v in steps.items()}
    steps["dur"][-1] -= int(ends[last] - n)
    return steps


def _lots(rng: np.random.Generator, tool: _Tool, cycles: list[_Cycle]) -> Iterator[_Lot]:
    """Lots in time order. Every fault time lands on a sample of a lot (not jittered), and the
    lot holding a cycle's first fault runs on to the cycle's end (re-fires, then shutdown)."""
    lot_id, runnum = tool.first_lot, tool.first_run
    for cycle in cycles:
        start, first, done = cycle.h0, True, False
        while not done:
            recipe = tool.recipes[int(rng.choice(len(tool.recipes), p=tool.recipe_p))]
            steps = _run_steps(rng, recipe, int(rng.integers(*LOT_RUNS_RANGE)))
            n = int(steps["dur"].sum())
            if cycle.mode >= 0:
                if start > cycle.tf:  # the fault fell in the idle gap: start shortly before it
                    start = cycle.tf - FAULT_LEAD_IN_S
                start += (cycle.tf - start) % S  # put the fault on this lot's 4 s grid
                done = start + S * (n - 1) + FAULT_LOT_SLACK_S >= cycle.tf
            else:
                done = start + S * (n - 1) >= cycle.end
            if done:
                n = (cycle.end - start) // S + 1
            steps = _fit_steps(rng, recipe, steps, n)
            steps["runnum"] = runnum + steps["run"]
            steps["recipe"] = np.full(len(steps["dur"]), recipe.recipe_id)
            reset = first and cycle.source_change
            yield _Lot(start, n, lot_id, recipe.stage, steps, cycle, reset)
            lot_id += int(rng.integers(1, LOT_ID_STEP_MAX + 1))
            runnum = int(steps["runnum"][-1]) + 1
            gap = max(LOT_GAP_MIN_S, int(rng.lognormal(np.log(LOT_GAP_MEDIAN_S), LOT_GAP_SIGMA)))
            start, first = start + S * (n - 1) + gap, False
            done = done or (cycle.mode < 0 and start > cycle.end)


def _chunks(lots: Iterator[_Lot]) -> Iterator[list[_Lot]]:
    """Groups of consecutive lots holding at least CHUNK_ROWS rows (the last may hold fewer)."""
    group: list[_Lot] = []
    rows = 0
    for lot in lots:
        group.append(lot)
        rows += lot.n
        if rows >= CHUNK_ROWS:
            yield group
            group, rows = [], 0
    if group:
        yield group


def _lag(x: np.ndarray, tau_s: float, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First-order lag (time constant tau_s) of x (rows,); returns (y, filter state)."""
    a = 1.0 - np.exp(-S / tau_s)
    return lfilter([a], [1.0, a - 1.0], x, zi=zi)


def _counter(inc: np.ndarray, reset: np.ndarray, carry: float) -> np.ndarray:
    """Running total of inc (rows,) starting at carry, restarting from 0 where reset is set."""
    total = np.cumsum(inc)
    base = np.maximum.accumulate(np.where(reset, total - inc, 0.0))
    return total - base + np.where(np.cumsum(reset) == 0, carry, 0.0)


def precursor_severity(
    t: np.ndarray, t_pre: np.ndarray, t_fault: np.ndarray, tau: np.ndarray
) -> np.ndarray:
    """Degradation severity in [0, 1]: 0 until the precursor starts, 1 from the fault on.

    In between it follows the inverse-rate law: s = (tau/(ttf+tau) - s0) / (1 - s0) with
    s0 = tau/(lead+tau), so 1/rate falls linearly to the fault, which is what lets a model
    read the time to failure from the trend rather than from the level alone. All (rows,).
    """
    lead = np.maximum(t_fault - t_pre, 1.0)
    ttf = np.clip(t_fault - t, 0.0, lead)
    s0 = tau / (lead + tau)
    return np.where(t < t_pre, 0.0, (tau / (ttf + tau) - s0) / (1.0 - s0))


def _flowcool(
    rng: np.random.Generator,
    tool: _Tool,
    t: np.ndarray,
    heat: np.ndarray,
    wander: np.ndarray,
    cyc: dict[str, np.ndarray],
    fault_row: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """FLOWCOOLPRESSURE and FLOWCOOLFLOWRATE, each (rows,); all inputs are (rows,).

    Healthy: cycle baseline + gain * heat load + slow wander + white noise. In a cycle that ends
    in a fault the precursor starts at t_pre; severity follows `precursor_severity` (0 -> 1 at
    the first fault, 1 through the burst), weighted by the heat load so it shows mostly in
    beam-on steps, and relative to the tool's own baseline:
      pressure_low:  pressure falls by amplitude * severity, flow follows (clogging filter);
      pressure_high: pressure rises with a growing oscillation while flow drops (restriction);
      leak:          flow rises (pump compensates), pressure sags, gets noisier and spiky.
    At fault rows the tripping channel reads past the tool's limit for that mode.
    """
    n = len(t)
    mode, amp = cyc["mode"], cyc["amplitude"]
    tau = tool.tau_s[np.maximum(mode, 0)]
    severity = np.where(mode >= 0, precursor_severity(t, cyc["t_pre"], cyc["tf"], tau), 0.0)
    drift = amp * severity * (PRECURSOR_IDLE_WEIGHT + (1.0 - PRECURSOR_IDLE_WEIGHT) * heat)
    low, high, leak = (mode == 0), (mode == 1), (mode == 2)
    noise = tool.noise_sd * rng.standard_normal((3, n))
    oscillation = HIGH_OSC_GAIN * amp * np.sin(2 * np.pi * t / tool.osc_period_s + tool.osc_phase)
    spike = (rng.random(n) < LEAK_SPIKE_PROB * severity * leak) * rng.exponential(1.0, n)
    leak_dp = LEAK_PRESSURE_SAG * drift - LEAK_NOISE_GAIN * severity * noise[2]
    leak_dp += LEAK_SPIKE_SCALE * amp * spike
    pressure = cyc["p_base"] + tool.pressure_gain * heat + wander + noise[0]
    pressure += np.select([low, high, leak], [-drift, drift + severity * oscillation, -leak_dp])
    flow = cyc["f_base"] + tool.flow_gain * heat + FLOW_WANDER_COUPLING * wander + noise[1]
    leak_df = drift + LEAK_SPIKE_FLOW_RATIO * LEAK_SPIKE_SCALE * amp * spike
    flow += np.select(
        [low, high, leak], [-LOW_FLOW_FOLLOW * drift, -HIGH_FLOW_DROP * drift, leak_df]
    )
    past = np.abs(noise[2])  # how far past the limit the tripping reading lands
    low_limit = cyc["p_base"] - tool.margin[0] - past
    high_limit = cyc["p_base"] + tool.pressure_gain + tool.margin[1] + past
    leak_limit = cyc["f_base"] + tool.flow_gain + tool.margin[2] + past
    pressure = np.where(fault_row & low, np.minimum(pressure, low_limit), pressure)
    pressure = np.where(fault_row & high, np.maximum(pressure, high_limit), pressure)
    flow = np.where(fault_row & leak, np.maximum(flow, leak_limit), flow)
    return pressure, flow


def _render(
    lots: list[_Lot], tool: _Tool, state: _State, rng: np.random.Generator, faults: np.ndarray
) -> dict[str, np.ndarray]:
    """The SENSOR_COLUMNS of a group of lots as (rows,) arrays (Tool is left empty)."""
    n_lot = np.array([lot.n for lot in lots])
    total = int(n_lot.sum())
    lot_row = np.repeat(np.arange(len(lots)), n_lot)  # (rows,) lot index of each row
    in_lot = np.arange(total) - np.repeat(np.cumsum(n_lot) - n_lot, n_lot)
    steps = {k: np.concatenate([lot.steps[k] for lot in lots]) for k in lots[0].steps}
    step_row = np.repeat(np.arange(len(steps["dur"])), steps["dur"])  # (rows,) step index

    def per_lot(get: Callable[[_Lot], float]) -> np.ndarray:
        return np.array([get(lot) for lot in lots])[lot_row]

    def noise(sd: float) -> np.ndarray:
        return sd * rng.standard_normal(total)

    nominal = per_lot(lambda lot: lot.start) + S * in_lot
    fault_row = np.isin(nominal, faults)
    jitter = (rng.random(total) < JITTER_PROB) & (in_lot > 0) & (in_lot < n_lot[lot_row] - 1)
    jitter &= ~fault_row
    jitter[1:] &= ~jitter[:-1]  # isolated rows only, so the steps read 3+5 or 5+3 s
    t = nominal + np.where(jitter, 2 * rng.integers(0, 2, total) - 1, 0)
    beam, gas = steps["beam"][step_row], steps["gas"][step_row]
    rho = np.exp(-S / WANDER_TAU_S)
    wander, state.zi[3] = lfilter(
        [WANDER_SD * np.sqrt(1 - rho**2)], [1.0, -rho], rng.standard_normal(total), zi=state.zi[3]
    )
    drive = {}
    (drive["beam"], state.zi[0]), (drive["gas"], state.zi[1]) = (
        _lag(beam, BEAM_TAU_S, state.zi[0]),
        _lag(gas, BEAM_TAU_S, state.zi[1]),
    )
    heat, state.zi[2] = _lag(beam, HEAT_TAU_S, state.zi[2])
    cols = {
        "time": t,
        "Tool": np.zeros(0),
        "stage": per_lot(lambda lot: lot.stage),
        "Lot": per_lot(lambda lot: lot.lot_id),
        "runnum": steps["runnum"][step_row],
        "recipe": steps["recipe"][step_row],
        "recipe_step": steps["num"][step_row],
    }
    for i, (name, (source, idle, full, sd)) in enumerate(DRIVEN_CHANNELS.items()):
        cols[name] = idle + (full - idle) * drive[source] + tool.channel_offset[i] + noise(sd)
    fields = ("mode", "tf", "t_pre", "amplitude", "pressure_base", "flow_base")
    cyc = {f: per_lot(lambda lot, f=f: getattr(lot.cycle, f)) for f in fields}
    cyc["p_base"], cyc["f_base"] = cyc.pop("pressure_base"), cyc.pop("flow_base")
    pressure, flow = _flowcool(rng, tool, t, heat, wander, cyc, fault_row)
    cols["FLOWCOOLPRESSURE"], cols["FLOWCOOLFLOWRATE"] = pressure, flow
    cols["FIXTURETILTANGLE"] = steps["tilt"][step_row] + noise(ANGLE_NOISE_SD)
    cols["ROTATIONSPEED"] = np.full(total, tool.rotation_speed)
    cols["ACTUALROTATIONANGLE"] = steps["rot"][step_row] + noise(ANGLE_NOISE_SD)
    unknown = rng.random(total) < SHUTTER_UNKNOWN_FRACTION
    cols["FIXTURESHUTTERPOSITION"] = np.where(unknown, SHUTTER_UNKNOWN, steps["shutter"][step_row])
    reset = np.zeros(total, bool)
    reset[(np.cumsum(n_lot) - n_lot)[np.array([lot.reset for lot in lots])]] = True
    increments = (beam * S, (beam > 0) * float(S), (gas > 0) * float(S))
    for k, name in enumerate(COUNTER_COLUMNS):
        value = _counter(increments[k], reset, state.counters[k])
        state.counters[k] = value[-1]
        cols[name] = np.floor(value).astype(np.int64)
    step_start = t[np.cumsum(steps["dur"]) - steps["dur"]]  # (steps,)
    cols["ACTUALSTEPDURATION"] = t - step_start[step_row]
    for c in FLOAT_COLUMNS:
        cols[c] = np.where(rng.random(total) < NAN_FRACTION, np.nan, cols[c])
    return {c: cols[c] for c in SENSOR_COLUMNS}


@dataclass
class SimulatedTool:
    """One tool's simulated life: its drawn parameters and fault-cycle schedule (seeded streams
    0 and 1 of (seed, index)), rendered lot group by lot group (`render`), so a caller can
    write the whole record (`simulate_phm2018`) or stream it row by row (`phm.sim.plant`)."""

    seed: int
    index: int
    tool: _Tool
    cycles: list[_Cycle]

    @classmethod
    def draw(cls, seed: int, index: int, life_s: int) -> SimulatedTool:
        """The tool of (seed, index) and its schedule over `life_s` seconds from its start."""
        tool = _draw_tool(tool_rng(seed, index, 0))
        cycles = _draw_schedule(tool_rng(seed, index, 1), tool, tool.t_start + int(life_s))
        return cls(seed, index, tool, cycles)

    def fault_times(self) -> np.ndarray:
        """Every fault time (s, tool clock) of the schedule, all modes."""
        return np.concatenate([c.faults for c in self.cycles]).astype(np.int64)

    def render(self, rng: np.random.Generator | None = None) -> Iterator[dict[str, np.ndarray]]:
        """The sensor columns (`time` on the tool clock) of each group of lots, in order.
        `rng` draws the sensor noise (default: stream 3 of (seed, index)); the lots come from
        stream 2."""
        rng = rng if rng is not None else tool_rng(self.seed, self.index, 3)
        state = _State(counters=self.tool.counters.copy())
        faults = self.fault_times()
        lots = _lots(tool_rng(self.seed, self.index, 2), self.tool, self.cycles)
        for group in _chunks(lots):
            yield _render(group, self.tool, state, rng, faults)
