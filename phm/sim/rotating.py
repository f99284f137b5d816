"""Physics-based signals of a motor-driven centrifugal pump, healthy or developing one fault.

`PumpSimulator` renders, at any simulated life time t (seconds since the pump's life began):
vibration snapshots (C, L) in g on the drive-end and fan-end motor bearings, temperature rows
and process rows, with the channels of `[types.pump]` in phm/configs/plant.toml.

Healthy baseline (per channel): 1x shaft (residual imbalance), a small 2x, vane pass (6x for
6 vanes), broadband noise and a lightly damped structural resonance near 3 kHz excited by that
noise. The shaft speed follows the load through the induction motor's slip.

Faults (`FaultScenario.mode`), each scaled by a severity in [0, 1] (`severity`):
    inner_race    impacts at BPFI ringing the resonance, amplitude-modulated at 1x (the defect
                  turns through the load zone), impact times jittered ~1.5%
    outer_race    impacts at BPFO, not modulated (the defect sits still in the load zone)
    imbalance     1x radial grows
    misalignment  2x grows most, 1x and 3x too; bearing warms a little
    looseness     many 1x harmonics and 0.5x sub-harmonics, waveform truncated on one side
    lubrication   broadband high-frequency noise floor rises; bearing temperature rises
    cavitation    random broadband HF noise modulated at vane pass; suction pressure falls,
                  flow drops and becomes unsteady
Severity is 0 before onset and grows like a crack under Paris' law, slowly then fast:
s(u) = (exp(k u) - 1) / (exp(k) - 1), u = (t - onset) / (failure - onset), 1 from failure on.

Root causes (`FaultScenario.root_cause`) leave their own traces where physics gives one, in the
same streams:
    overload / fatigue        the pump runs at a duty point near full motor load all its life
    contamination             particles dent the raceways from the start: a rough broadband
                              high-frequency floor rises through life, before the spall
    brinelling from shipping  the dents are there from commissioning: a small outer-race
                              signature from the first day, growing slowly until it spalls
    housing bore              the outer ring creeps in the oversize bore: the defect wanders in
                              and out of the load zone, so the BPFO impacts wax and wane over
                              hours; 1x harmonics; the pinched ring heats the drive end early
    improper fit              too tight (60% of fits): no internal clearance, the drive-end
                              bearing runs hot from start-up; too loose: the inner ring creeps
                              on the shaft, carrying its runout round with it: a drive-end 1x
                              vector that turns slowly, so 1x grows and its phase drifts
    broken vane fragment      1x steps up when the fragment leaves (not a slow rise)
    impeller erosion          flow and head fall with the metal loss (fouling: flow a little)
    thermal growth            the misalignment (2x, 3x) follows the casing temperature, which
                              lags the load by its thermal inertia and follows the ambient
    pipe strain               the misalignment follows the discharge pressure at once (nozzle
                              load)
    soft foot                 1x and 2x follow the motor load at once (torque twists the frame)
    insufficient lubrication  the starved contact flashes hot and recovers: temperature spikes
    grease degradation        the grease oxidises from the first day: the drive-end
                              temperature creeps up over the life, before the breakdown
    wrong lubricant           too thin when hot: the high-frequency floor follows the machine
                              temperature
    coupling misalignment     constant over the load cycle
    worn fit                  the ring creeps: 1x phase between the two bearings wanders
    cracked baseplate         the structural resonance falls with the lost stiffness; the
                              crack opens under torque: the looseness harmonics (not 1x)
                              follow the motor load
    loose hold-down bolts     the joint slips when the clamp is lost: the looseness steps up
    clogged suction strainer  the suction loss grows with flow squared
    low suction head          suction low whatever the flow
    high fluid temperature    cavitation with the suction pressure as it was; the hot casing
                              heats the drive-end bearing
Other causes leave no trace in the streams; `PumpSimulator.context` renders what a plant has
beside its sensors (maintenance records, oil analysis, inspections, operator rounds) as
imperfect, partly missing observations, see `CONTEXT_FIELDS`.

Operating conditions: the ambient follows the sun, one plant-wide daily swing warmest
mid-afternoon (t = 0 is midnight) plus weather drifting over days, the same for every pump of
a seed; each pump's load follows its own production schedule (its own daily and shift phases,
and occasional steps when the schedule changes). The casing temperature is the ambient plus
the load's heat through a first-order lag of about an hour (`casing_c`): the bearing rows
follow the load at once, the casing's bulk (and a thermal-growth misalignment) lags it.

Noise is drawn from generators keyed by (seed, asset, stream, time), so a snapshot or a block of
rows is the same whatever else was rendered before it. Pure numpy.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from phm.features.spectral import BearingGeometry, DefectFrequencies
from phm.plant import PumpSpec
from phm.sim.maintenance import maintenance_context

FAULT_MODES: tuple[str, ...] = (
    "inner_race",
    "outer_race",
    "imbalance",
    "misalignment",
    "looseness",
    "lubrication",
    "cavitation",
)
# Causes that physically lead to each mode; a scenario draws one at random.
ROOT_CAUSES: dict[str, tuple[str, ...]] = {
    "inner_race": ("contamination", "worn bearing", "overload / fatigue", "improper fit"),
    "outer_race": ("contamination", "worn bearing", "brinelling from shipping", "housing bore"),
    "imbalance": ("impeller fouling / imbalance", "impeller erosion", "broken vane fragment"),
    "misalignment": ("coupling misalignment", "soft foot", "pipe strain", "thermal growth"),
    "looseness": ("loose hold-down bolts", "soft foot", "cracked baseplate", "worn fit"),
    "lubrication": ("insufficient lubrication", "grease degradation", "wrong lubricant"),
    "cavitation": ("low suction head", "clogged suction strainer", "high fluid temperature"),
}
PARIS_K = 4.0  # growth exponent of the severity curve (larger: later, steeper rise)

FS_DEFAULT, SAMPLES_DEFAULT = 12800.0, 4096
SLIP_HZ_FULL_LOAD = 0.70  # shaft slows from 29.95 to ~29.25 Hz at full load (2.3% slip)
RESONANCE_HZ = (3100.0, 2700.0)  # structural resonance per channel (drive end, fan end)
RESONANCE_ZETA = 0.06  # damping ratio: rings for ~1 ms
BASE_1X_G, BASE_2X_G, BASE_VANE_G = 0.02, 0.006, 0.025
NOISE_G, RESONANCE_NOISE_G = 0.008, 0.01
FAN_END_COUPLING = 0.35  # a drive-end bearing defect seen on the fan-end sensor
IMPACT_JITTER = 0.015  # sd of impact-interval jitter (slip of the rolling elements)
IR_MODULATION = 0.8  # depth of the 1x load-zone modulation of inner-race impacts

# cause-specific physics (see the module docstring)
OVERLOAD_LOAD_PCT = (86.0, 94.0)  # mean motor load of an overloaded pump
VANE_BREAK_SEVERITY = 0.2  # the fragment leaves when the crack's severity reaches this
VANE_STEP = 0.6  # imbalance severity right after the fragment leaves
THERMAL_GAIN_PER_K = 0.08  # relative change of the misalignment per K of machine temperature
SOFT_FOOT_GAIN_PER_PCT = 0.03  # ... per % of motor load (soft foot, cracked baseplate)
PIPE_STRAIN_GAIN_PER_KPA = 0.015  # ... per kPa of discharge pressure
WORN_FIT_PHASE_RAD = 0.8  # sd of the 1x phase wander between bearings at severity 1
BASEPLATE_RESONANCE_DROP = 0.15  # relative fall of the resonance frequency at severity 1
BOLT_SLIP_SEVERITY, BOLT_STEP = 0.1, 0.5  # the joint slips at this severity, to this level
CONTAMINATION_ROUGHNESS = 1.5  # broadband HF (x NOISE_G) from dents at the end of life
BRINELL_DENT_G = 0.12  # impact amplitude of the shipping dents at commissioning
CREEP_PERIOD_H = (3.0, 9.0)  # hours for the creeping outer ring to turn once
CREEP_FLOOR = 0.2  # impact amplitude left with the defect out of the load zone
TIGHT_FIT_SHARE = 0.6  # improper fits that are too tight (the rest too loose)
TIGHT_FIT_HEAT_K = (6.0, 10.0)  # drive-end temperature rise of a too-tight fit
STARVED_SPIKE_K = 15.0  # drive-end temperature spike of a starved bearing at severity 1
GREASE_AGEING_K = 6.0  # drive-end temperature creep of oxidising grease over the life
STARVE_PERIODS_S = (4.0 * 3600.0, 13.7 * 3600.0)  # bursts, and their height's swing
DE_TEMP_SPREAD_K = 1.5  # pump-to-pump sd of the healthy drive-end bearing temperature
# operating conditions (see the module docstring)
AMBIENT_DAILY_K, AMBIENT_PEAK_H = 4.0, 15.0  # plant-wide daily swing, warmest at 15:00
WEATHER_K, WEATHER_PERIODS_D = (2.0, 1.5), (3.3, 7.9)  # drift over days: amplitudes, periods
LOAD_STEP_EVERY_D, LOAD_STEP_SD = 2.5, 3.0  # schedule changes: mean interval (days), size (%)
LOAD_STEP_HORIZON_D = 8.0  # schedule steps drawn over this many days of life
CASING_TAU_RANGE_S = (0.7 * 3600.0, 1.5 * 3600.0)  # casing thermal time constant, drawn per pump
CASING_K_PER_LOAD = (10.0, 20.0)  # casing rise over ambient at full load (K)
LOOSE_FIT_RUNOUT = 2.0  # a creeping inner ring's 1x runout (x BASE_1X_G) at severity 1

STREAM_KEYS = {"vibration": 1, "temperature": 2, "process": 3, "context": 4, "cause": 5}


@dataclass(frozen=True)
class FaultScenario:
    """One fault developing: severity 0 before `onset_s`, 1 at `failure_s` (life seconds)."""

    mode: str
    root_cause: str
    onset_s: float
    failure_s: float

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"fault mode {self.mode!r}: expected one of {FAULT_MODES}")
        if not 0 <= self.onset_s < self.failure_s:
            raise ValueError(f"need 0 <= onset_s < failure_s, got {self.onset_s}, {self.failure_s}")

    @classmethod
    def draw(
        cls, rng: np.random.Generator, life_range_s: tuple[float, float] = (86_400, 4 * 86_400)
    ) -> FaultScenario:
        """A random mode and cause, failure log-uniform in life_range_s, onset at 20-60% of it."""
        mode = str(rng.choice(FAULT_MODES))
        cause = str(rng.choice(ROOT_CAUSES[mode]))
        lo, hi = np.log(life_range_s[0]), np.log(life_range_s[1])
        failure = float(np.exp(rng.uniform(lo, hi)))
        return cls(mode, cause, float(rng.uniform(0.2, 0.6)) * failure, failure)


def severity_curve(t: np.ndarray | float, onset_s: float, failure_s: float) -> np.ndarray:
    """Paris-law-like severity in [0, 1] at life times t: 0 before onset, 1 from failure on."""
    u = np.clip((np.asarray(t, dtype=np.float64) - onset_s) / (failure_s - onset_s), 0.0, 1.0)
    return np.expm1(PARIS_K * u) / np.expm1(PARIS_K)


class PumpSimulator:
    """Signals of one pump over its life; `fault=None` is a healthy pump.

    pump: the pump's `PumpSpec` (shaft_hz, bearing geometry, impeller_vanes), or its
    `[types.pump.meta]` table, parsed into one.
    """

    def __init__(
        self,
        asset_id: str,
        pump: PumpSpec | Mapping[str, Any],
        seed: int = 0,
        fault: FaultScenario | None = None,
        fs: float = FS_DEFAULT,
        samples: int = SAMPLES_DEFAULT,
    ) -> None:
        self.spec = pump if isinstance(pump, PumpSpec) else PumpSpec.from_meta(pump)
        self.meta = self.spec.as_meta()
        self.asset_id, self.seed, self.fault = asset_id, int(seed), fault
        self.fs, self.samples = float(fs), int(samples)
        self.shaft_hz_no_load = self.spec.shaft_hz
        self.vanes = self.spec.impeller_vanes
        self.geometry = BearingGeometry.from_spec(self.spec)
        self._key = zlib.crc32(asset_id.encode())
        traits = self._rng(0, 0)
        # the load cycle: a daily and a shift pattern with this pump's phases and levels
        self._load_mean = float(traits.uniform(55, 80))
        self._load_amp = traits.uniform((5, 2, 2), (15, 6, 5))
        self._load_period = np.array([86_400.0, 8 * 3600.0, 2 * 3600.0])
        self._load_phase = traits.uniform(0, 2 * np.pi, 3)
        self._ambient = float(traits.uniform(18, 30))
        self._suction = float(traits.uniform(140, 200))  # kPa, flooded suction
        self._head = float(traits.uniform(350, 500))  # kPa across the pump at rated flow
        self._rated_flow = float(traits.uniform(80, 160))  # m3/h
        # per channel and harmonic 1x..Hx (H covers vane pass)
        self._phase = traits.uniform(0, 2 * np.pi, (2, max(8, self.vanes)))
        self._de_offset = float(traits.normal(0.0, DE_TEMP_SPREAD_K))
        # the production schedule's steps and the casing's thermal inertia
        n_steps = int(traits.poisson(LOAD_STEP_HORIZON_D / LOAD_STEP_EVERY_D))
        self._step_times = np.sort(traits.uniform(0, LOAD_STEP_HORIZON_D * 86_400.0, n_steps))
        self._step_sizes = traits.normal(0.0, LOAD_STEP_SD, n_steps)
        self._casing_tau = float(traits.uniform(*CASING_TAU_RANGE_S))
        self._casing_k = float(traits.uniform(*CASING_K_PER_LOAD))
        # the weather is the plant's: drawn from the seed alone
        plant = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(0, 6)))
        self._weather_phase = plant.uniform(0, 2 * np.pi, len(WEATHER_K))
        self.cause = fault.root_cause if fault is not None else ""
        # cause traits, drawn apart: other pumps keep theirs
        cause_rng = self._rng(STREAM_KEYS["cause"], 0)
        if self.cause == "overload / fatigue":
            self._load_mean = float(cause_rng.uniform(*OVERLOAD_LOAD_PCT))
        self.tight_fit = self.cause == "improper fit" and bool(cause_rng.random() < TIGHT_FIT_SHARE)
        self._fit_heat = float(cause_rng.uniform(*TIGHT_FIT_HEAT_K)) if self.tight_fit else 0.0
        self._creep_period = 3600.0 * float(cause_rng.uniform(*CREEP_PERIOD_H))
        self._creep_phase = float(cause_rng.uniform(0, 2 * np.pi))

    def _rng(self, stream: int, tick: int) -> np.random.Generator:
        key = (self._key, stream, tick)
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))

    # --- slow state ---------------------------------------------------------------------------
    def severity(self, t: np.ndarray | float) -> np.ndarray:
        """Fault severity in [0, 1] at life times t (0 for a healthy pump)."""
        if self.fault is None:
            return np.zeros_like(np.asarray(t, dtype=np.float64))
        return severity_curve(t, self.fault.onset_s, self.fault.failure_s)

    def _mode_severity(self, t: np.ndarray | float, mode: str) -> np.ndarray:
        s = self.severity(t)
        return s if self.fault is not None and self.fault.mode == mode else s * 0.0

    def load_pct(self, t: np.ndarray | float) -> np.ndarray:
        """Motor load in % at life times t: this pump's daily and shift cycles and the steps
        of its production schedule."""
        return np.clip(self._load_mean + self._load_swing(t, 0.0), 10.0, 100.0)

    def _load_swing(self, t: np.ndarray | float, tau: float) -> np.ndarray:
        """The load's cycles and steps about its mean (%) at life times t, through a
        first-order lag of time constant tau (s; 0: the load itself)."""
        t = np.asarray(t, dtype=np.float64)
        w = 2 * np.pi / self._load_period
        gain, lag = 1 / np.sqrt(1 + (w * tau) ** 2), np.arctan(w * tau)
        wave = np.sin(w * t[..., None] + self._load_phase - lag) @ (self._load_amp * gain)
        since = t[..., None] - self._step_times  # (..., steps)
        rise = np.where(since >= 0, 1.0, 0.0)
        if tau > 0:
            rise = rise * -np.expm1(-np.maximum(since, 0.0) / tau)
        return wave + rise @ self._step_sizes

    def casing_c(self, t: np.ndarray | float) -> np.ndarray:
        """Casing (bulk machine) temperature in deg C at life times t: the ambient plus the
        load's heat through the casing's thermal lag (not a measured channel)."""
        swing = self._load_swing(t, self._casing_tau)
        return self.ambient_c(t) + self._casing_k * (self._load_mean + swing) / 100

    def shaft_hz(self, t: np.ndarray | float) -> np.ndarray:
        """Shaft speed in Hz at life times t: slip grows with load."""
        return self.shaft_hz_no_load - SLIP_HZ_FULL_LOAD * self.load_pct(t) / 100.0

    def defect_frequencies(self, t: float) -> DefectFrequencies:
        """Bearing defect frequencies in Hz at the speed of life time t."""
        return self.geometry.defect_frequencies(float(self.shaft_hz(t)))

    def ambient_c(self, t: np.ndarray | float) -> np.ndarray:
        """Ambient temperature in deg C at life times t: the plant's daily swing (warmest at
        AMBIENT_PEAK_H) and weather drift over days about this pump house's mean."""
        t = np.asarray(t, dtype=np.float64)
        day = AMBIENT_DAILY_K * np.cos(2 * np.pi * (t / 3600.0 - AMBIENT_PEAK_H) / 24.0)
        periods = 86_400.0 * np.array(WEATHER_PERIODS_D)
        drift = np.sin(2 * np.pi * t[..., None] / periods + self._weather_phase) @ WEATHER_K
        return self._ambient + day + drift

    def _imbalance_severity(self, t: np.ndarray | float) -> np.ndarray:
        """Severity of the imbalance: a broken vane steps up when the fragment leaves."""
        s = self._mode_severity(t, "imbalance")
        if self.cause != "broken vane fragment":
            return s
        return np.where(s >= VANE_BREAK_SEVERITY, VANE_STEP + (1 - VANE_STEP) * s, 0.0)

    def _looseness_severity(self, t: float) -> float:
        """Severity of the looseness: loose bolts step up when the joint slips."""
        s = float(self._mode_severity(t, "looseness"))
        if self.cause != "loose hold-down bolts":
            return s
        return BOLT_STEP + (1 - BOLT_STEP) * s if s >= BOLT_SLIP_SEVERITY else 0.0

    def _race_impacts(self, t: float, s: float) -> float:
        """Amplitude (g) of the bearing-defect impacts at life time t, severity s: the spall
        grows with s; shipping dents are there from commissioning and grow slowly; a defect
        on an outer ring creeping in its bore is in the load zone only part of the time."""
        amp = 0.05 + 2.0 * s if s > 0 else 0.0
        if self.cause == "brinelling from shipping":
            amp += BRINELL_DENT_G * (1.0 + min(t / self.fault.failure_s, 1.0))
        elif self.cause == "housing bore":
            turn = np.cos(2 * np.pi * t / self._creep_period + self._creep_phase)
            amp *= CREEP_FLOOR + (1 - CREEP_FLOOR) * max(float(turn), 0.0)
        return amp

    def _starved_spikes(self, t: np.ndarray) -> np.ndarray:
        """Bursts of friction heat (0-1) of a starved bearing at life times t: the contact
        runs dry, flashes hot and recovers as the churned grease returns; about an hour long,
        every few hours, of varying height."""
        p1, p2 = STARVE_PERIODS_S
        burst = np.exp(4.0 * (np.cos(2 * np.pi * t / p1 + self._creep_phase) - 1.0))
        return burst * (0.6 + 0.4 * np.cos(2 * np.pi * t / p2 + 2 * self._creep_phase))

    def _cause_gain(self, t: float) -> float:
        """The factor on the misalignment, looseness or lubrication signature over the load
        cycle: it follows the machine temperature (thermal growth; a wrong, too thin lubricant),
        (thermal growth: the casing's, lagging the load; a wrong, too thin lubricant: the
        bearing's), the motor load (soft foot, a cracked baseplate) or the discharge pressure
        (pipe strain); 1 for other causes."""
        if self.cause == "thermal growth":  # the casing's bulk temperature, lagging the load
            x = self.casing_c(t) - self._ambient - self._casing_k * self._load_mean / 100
            g = 1 + THERMAL_GAIN_PER_K * x
        elif self.cause == "wrong lubricant":  # the film: the bearing temperature, at once
            x = self.ambient_c(t) - self._ambient + 0.1 * (self.load_pct(t) - self._load_mean)
            g = 1 + THERMAL_GAIN_PER_K * x
        elif self.cause in ("soft foot", "cracked baseplate"):
            g = 1 + SOFT_FOOT_GAIN_PER_PCT * (self.load_pct(t) - self._load_mean)
        elif self.cause == "pipe strain":
            rise = self._pump_rise(self._clean_flow(t)) - self._pump_rise(self._clean_flow(None))
            g = 1 + PIPE_STRAIN_GAIN_PER_KPA * rise
        else:
            return 1.0
        return float(np.clip(g, 0.2, 3.0))

    def _clean_flow(self, t: np.ndarray | float | None) -> np.ndarray:
        """Healthy flow in m3/h at life times t (None: at the mean load)."""
        load = self._load_mean if t is None else self.load_pct(t)
        return self._rated_flow * (0.3 + 0.8 * np.asarray(load) / 100)

    def _pump_rise(self, flow: np.ndarray) -> np.ndarray:
        """Pressure rise across the healthy pump in kPa at a flow (pump curve)."""
        return self._head * (1.15 - 0.3 * (flow / self._rated_flow) ** 2)

    # --- vibration ----------------------------------------------------------------------------
    def snapshot(self, t: float) -> np.ndarray:
        """One vibration snapshot (C=2, L) float32 in g at life time t (seconds)."""
        rng = self._rng(STREAM_KEYS["vibration"], round(t * 1000))
        n, fs = self.samples, self.fs
        time = np.arange(n) / fs  # (L,)
        fr = float(self.shaft_hz(t))
        s = float(self.severity(t))
        mode = self.fault.mode if self.fault is not None and s > 0 else "healthy"
        if self.cause == "brinelling from shipping":  # dented before the spall's onset
            mode = self.fault.mode
        if mode == "looseness":
            s = self._looseness_severity(t)
        h = self._phase.shape[1]
        phase = self._phase + rng.uniform(0, 2 * np.pi)  # (2, H); one random start per snapshot
        amp = np.zeros((2, h))  # harmonic amplitudes 1x..Hx per channel
        amp[:, 0], amp[:, 1] = BASE_1X_G, BASE_2X_G
        amp[:, self.vanes - 1] += BASE_VANE_G
        gain = self._cause_gain(t) if mode in ("misalignment", "looseness", "lubrication") else 1.0
        if mode == "imbalance":
            amp[:, 0] *= 1 + 9 * float(self._imbalance_severity(t))
        elif mode == "misalignment":
            # a soft foot twists the frame: 1x follows the load too; otherwise 2x and 3x carry
            # the varying offset
            amp[:, 0] *= 1 + 2 * s * (gain if self.cause == "soft foot" else 1.0)
            amp[:, 1] += 0.12 * s * gain
            amp[:, 2] += 0.05 * s * gain
            phase[1] = phase[0] + np.pi  # axial-radial 180 deg across the coupling
        elif mode == "looseness":
            g = np.full(h, gain)
            if self.cause == "cracked baseplate":  # the breathing crack is a nonlinear
                g[0] = 1.0  # stiffness: harmonics follow the torque, the 1x force does not
            amp += 0.05 * s * g * np.exp(-np.arange(h) / 4.0)
            if self.cause == "worn fit":  # the ring creeps in its seat between readings
                phase[1, 0] += WORN_FIT_PHASE_RAD * s * rng.standard_normal()
        elif self.cause == "housing bore":  # the loose outer ring rattles: 1x harmonics
            amp[:, :4] += 0.012 * s * np.exp(-np.arange(4) / 2.0)
        harmonics = np.arange(1, h + 1)[:, None] * (2 * np.pi * fr * time)  # (H, L)
        x = np.einsum("ch,chl->cl", amp, np.sin(harmonics[None] + phase[:, :, None]))
        if self.cause == "improper fit" and not self.tight_fit and s > 0:
            # the inner ring creeps on the shaft and carries its runout round with it: a 1x
            # vector turning once per creep period, strongest at the drive end
            turn = 2 * np.pi * t / self._creep_period + self._creep_phase
            runout = LOOSE_FIT_RUNOUT * BASE_1X_G * s * np.array([1.0, FAN_END_COUPLING])
            x += runout[:, None] * np.sin(harmonics[0] + phase[0, 0] + turn)[None]
        if mode == "looseness":  # sub-harmonics at 0.5x, 1.5x, 2.5x...
            half = (np.arange(4)[:, None] + 0.5) * (2 * np.pi * fr * time)  # (4, L)
            x += 0.03 * s * np.exp(-np.arange(4) / 3.0) @ np.sin(half + phase[0, :4, None])
        hf = RESONANCE_NOISE_G * np.ones(2)  # noise that excites the resonance
        bearing = np.zeros((2, n))
        if mode in ("inner_race", "outer_race"):
            d = self.geometry.defect_frequencies(fr)
            rate = d.bpfi if mode == "inner_race" else d.bpfo
            bearing[0] = self._impacts(rng, rate, fr, mode == "inner_race") * self._race_impacts(
                t, s
            )
            bearing[1] = FAN_END_COUPLING * bearing[0]
        hf_scale = 1.0
        if mode == "lubrication":
            hf_scale = 1.0 + 8.0 * s * gain
        x += NOISE_G * rng.standard_normal((2, n))
        ring = hf[:, None] * rng.standard_normal((2, n)) + bearing
        drop = BASEPLATE_RESONANCE_DROP * s if self.cause == "cracked baseplate" else 0.0
        x += self._resonate(ring, 1.0 - drop)
        rough = 0.0
        if self.cause == "contamination":  # dents roughen the raceways from the start
            rough = CONTAMINATION_ROUGHNESS * min(t / self.fault.failure_s, 1.0)
        if mode in ("lubrication", "cavitation") or rough > 0:
            broadband = self._highpass(rng.standard_normal((2, n)), 1500.0)
            if rough > 0:
                x += NOISE_G * rough * broadband
            if mode == "lubrication":
                x += NOISE_G * (hf_scale - 1.0) * broadband
            elif mode == "cavitation":  # random bursts as bubbles collapse, paced by the vanes
                vane = 1 + np.sin(2 * np.pi * self.vanes * fr * time + rng.uniform(0, 6.3))
                bursts = np.abs(rng.standard_normal(n)) ** 2
                x += 0.08 * s * broadband * (0.5 * vane + 0.5 * bursts)[None]
                x += 0.03 * s * np.sin(2 * np.pi * self.vanes * fr * time)[None] * vane[None]
        if mode == "looseness":  # the loose foot bottoms out: one side of the waveform is cut
            top = np.quantile(x, 1.0 - 0.25 * s, axis=1, keepdims=True)
            x = np.minimum(x, top)
        return x.astype(np.float32)

    def snapshots(self, times: np.ndarray) -> np.ndarray:
        """Snapshots (S, C, L) float32 at life times (S,)."""
        return np.stack([self.snapshot(float(t)) for t in np.asarray(times)])

    def _impacts(
        self, rng: np.random.Generator, rate_hz: float, fr: float, modulated: bool
    ) -> np.ndarray:
        """A train of unit impacts (L,) at rate_hz with jittered intervals (amplitude g)."""
        n, fs = self.samples, self.fs
        count = int(n / fs * rate_hz) + 3
        gaps = (1 + IMPACT_JITTER * rng.standard_normal(count)) / rate_hz
        times = rng.uniform(0, 1 / rate_hz) + np.cumsum(gaps) - gaps[0]
        times = times[times < n / fs]
        amp = np.ones_like(times)
        if modulated:  # the inner-race defect passes through the load zone once a turn
            amp = 1 + IR_MODULATION * np.cos(2 * np.pi * fr * times + rng.uniform(0, 6.3))
            amp = np.maximum(amp, 0.0) / (1 + IR_MODULATION)
        train = np.zeros(n)
        np.add.at(train, np.minimum((times * fs).round().astype(int), n - 1), amp)
        return train

    def _resonate(self, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """x (C, L) through each channel's structural resonance (ringing, unit peak gain),
        the resonance frequencies times `scale`."""
        n, fs = x.shape[-1], self.fs
        f = np.fft.rfftfreq(2 * n, 1 / fs)
        fn = scale * np.array(RESONANCE_HZ)[:, None]
        # second-order resonance, normalised so |H| = 1 at fn
        h = (2j * RESONANCE_ZETA * fn * f) / (fn**2 - f**2 + 2j * RESONANCE_ZETA * fn * f)
        return np.fft.irfft(np.fft.rfft(x, 2 * n, axis=-1) * h, 2 * n, axis=-1)[:, :n]

    def _highpass(self, x: np.ndarray, cut_hz: float) -> np.ndarray:
        """x (C, L) with content below cut_hz removed, rescaled to unit variance."""
        spec = np.fft.rfft(x, axis=-1)
        spec[:, np.fft.rfftfreq(x.shape[-1], 1 / self.fs) < cut_hz] = 0
        y = np.fft.irfft(spec, x.shape[-1], axis=-1)
        return y / np.sqrt(np.mean(y**2, axis=-1, keepdims=True))

    # --- context ------------------------------------------------------------------------------
    def context(self, t: float) -> dict[str, Any]:
        """What the plant knows beside the sensors at life time t: maintenance records, oil
        analysis, inspection and rounds (`phm.sim.maintenance.maintenance_context`)."""
        fit = ("tight" if self.tight_fit else "loose") if self.cause == "improper fit" else None
        return maintenance_context(self.asset_id, self.seed, self.cause or None, t, fit=fit)

    # --- rows ---------------------------------------------------------------------------------
    def temperature_rows(self, times: np.ndarray, tick: int | None = None) -> np.ndarray:
        """(n, 4) float32: bearing_de_c, bearing_fe_c, winding_c, ambient_c at life times."""
        times = np.asarray(times, dtype=np.float64)
        rng = self._rng(STREAM_KEYS["temperature"], _tick(times, tick))
        load = self.load_pct(times) / 100
        ambient = self.ambient_c(times)
        s = self.severity(times)
        mode = self.fault.mode if self.fault is not None else "healthy"
        # friction heat: lubrication loss most, damaged bearings late in life, misalignment
        extra = {
            "lubrication": 35 * s,
            "inner_race": 18 * s**2,
            "outer_race": 15 * s**2,
            "misalignment": 8 * s,
            "looseness": 3 * s,
        }.get(mode, 0 * s)
        # a pinched outer ring heats early; a hot process fluid soaks into the drive end
        extra = extra + {"housing bore": 8 * s, "high fluid temperature": 10 * s}.get(self.cause, 0)
        if self.cause == "insufficient lubrication":
            extra = extra + STARVED_SPIKE_K * s * self._starved_spikes(times)
        elif self.cause == "grease degradation":  # oxidising from the first day: a slow creep
            extra = extra + GREASE_AGEING_K * np.minimum(times / self.fault.failure_s, 1.0)
        # a too-tight fit preloads the bearing from start-up, before any defect
        de = ambient + 15 + self._de_offset + 10 * load + extra + self._fit_heat
        fe = ambient + 12 + 8 * load + (0.3 if mode != "misalignment" else 0.8) * extra
        winding = ambient + 25 + 45 * load**2 + (6 * s if mode == "imbalance" else 0)
        out = np.stack([de, fe, winding, ambient], axis=1)
        return (out + 0.15 * rng.standard_normal(out.shape)).astype(np.float32)

    def process_rows(self, times: np.ndarray, tick: int | None = None) -> np.ndarray:
        """(n, 5) float32: speed_rpm, load_pct, suction_kpa, discharge_kpa, flow_m3h."""
        times = np.asarray(times, dtype=np.float64)
        rng = self._rng(STREAM_KEYS["process"], _tick(times, tick))
        noise = rng.standard_normal((5, times.size))
        load = self.load_pct(times)
        cav = self._mode_severity(times, "cavitation")
        imb = self._imbalance_severity(times)
        # impeller wear: erosion loses flow and head with the metal; deposits and a lost
        # fragment little
        loss = {"impeller erosion": 0.15, "broken vane fragment": 0.03}.get(self.cause, 0.05)
        head_loss = 0.1 * imb if self.cause == "impeller erosion" else 0.0
        unsteady = 1 + 12 * cav
        flow = self._clean_flow(times) * (1 - 0.35 * cav - loss * imb)
        flow = flow * (1 + 0.005 * unsteady * noise[4])
        if self.cause == "clogged suction strainer":  # loss across the screen ~ flow^2
            q = flow / self._clean_flow(None)
            suction = self._suction * (1 - 0.6 * cav * q**2)
        elif self.cause == "high fluid temperature":  # the vapour pressure rose, not the suction
            suction = self._suction * np.ones_like(cav)
        else:
            suction = self._suction * (1 - 0.6 * cav)
        suction = suction + 1.0 * unsteady * noise[2]
        rise = self._pump_rise(flow) * (1 - 0.3 * cav) * (1 - head_loss)
        discharge = suction + rise + 2.0 * unsteady * noise[3]
        rpm = 60 * self.shaft_hz(times) + 0.5 * noise[0]
        out = np.stack([rpm, load + 0.3 * noise[1], suction, discharge, flow], axis=1)
        return out.astype(np.float32)


def _tick(times: np.ndarray, tick: int | None) -> int:
    """Noise key of a block of rows: the caller's block index, else its first time in ms."""
    if tick is not None:
        return int(tick)
    return round(float(times[0]) * 1000) if times.size else 0
