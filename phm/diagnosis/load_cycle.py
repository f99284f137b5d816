"""Load-cycle and 1x-history detectors: how vibration moves with the machine's operating
conditions over about a day, and how 1x behaves between readings -> {detector key: strength}.

Causes of one failure mode often differ in what their signature follows, not in the
signature. A misalignment from thermal growth follows the casing's bulk temperature, which
follows the ambient and lags the load by the casing's thermal inertia (about an hour); a soft
foot's twisted frame follows the torque at once; pipe strain follows the discharge pressure at
once; a coupling set out of line stays put. The casing temperature is not measured:
`casing_estimate` builds it from the ambient channel and the load rows through a first-order
lag (a nominal plant heat model, not the simulator's). Since the ambient follows the sun and
each pump's load its own schedule, the two regressors are not collinear over a day.

- `load_cycle_symptoms`: partial effects of the casing temperature, the load, the discharge
  pressure on 2x (and of the load on 1x, the looseness harmonics, and of the bearing
  temperature on the high-frequency floor), with a quadratic drift (the fault growing); 2x
  elevated and steady over the cycle.
- `step_symptom`: the 1x history rose in one step (bolts slipping), not gradually.
- `phase_wander_symptom`, `cross_phase`: the 1x phase between the bearings changing from one
  reading to the next (a ring creeping in its seat).
"""

from __future__ import annotations

import numpy as np

from phm.diagnosis.evidence import STRENGTH_RANGE, Z_PRESENT, Z_WIDTH, strength

CYCLE_PRESENT, CYCLE_WIDTH = 0.1, 0.04  # log change of an amplitude across the load cycle
STEADY_T, STEADY_WIDTH = Z_PRESENT, 0.7  # largest |t| of 2x on the drivers: steady below
EXCESS_SHARE = 1.0  # a fault's 2x judged where its excess is at least the healthy 2x
ELEVATED_Z = 3.0  # the day's median 2x this many healthy spreads up: a 2x worth judging
WANDER_PRESENT, WANDER_WIDTH = 0.09, 0.025  # rad: median 1x phase change beyond healthy
CASING_TAU_S = 3600.0  # nominal casing thermal time constant of the monitor's heat model
CASING_K_PER_LOAD = 15.0  # nominal casing rise over ambient at full load (K)


def casing_estimate(
    times: np.ndarray,
    row_times: np.ndarray,
    load_pct: np.ndarray,
    ambient_c: np.ndarray,
    tau_s: float = CASING_TAU_S,
    k_per_load: float = CASING_K_PER_LOAD,
) -> np.ndarray:
    """The casing temperature (deg C) at `times` (s): the ambient plus k_per_load x the load
    fraction through a first-order lag of tau_s, from rows (row_times (n,) increasing s,
    load_pct (n,), ambient_c (n,)) that should start a few tau_s before `times`."""
    rt = np.asarray(row_times, dtype=np.float64)
    load = np.asarray(load_pct, dtype=np.float64)
    lagged = np.empty_like(load)
    lagged[0] = load[0]
    alpha = -np.expm1(-np.diff(rt) / tau_s)  # exact for a load held between rows
    for i in range(1, load.size):
        lagged[i] = lagged[i - 1] + alpha[i - 1] * (load[i] - lagged[i - 1])
    heat = k_per_load * lagged / 100 + np.asarray(ambient_c, dtype=np.float64)
    return np.interp(np.asarray(times, dtype=np.float64), rt, heat)


def cross_phase(x: np.ndarray, fs: float, shaft_hz: float) -> float:
    """Phase in rad of channel 1 against channel 0 at 1x, of a snapshot x (C >= 2, L)."""
    sig = np.asarray(x, dtype=np.float64)[:2]
    n = sig.shape[-1]
    w = np.hanning(n)
    spec = np.fft.rfft((sig - sig.mean(axis=-1, keepdims=True)) * w, axis=-1)
    k0 = max(round(shaft_hz * n / fs) - 2, 1)
    k = k0 + int(np.argmax(np.abs(spec[0, k0 : k0 + 5])))  # the 1x bin, +-2 bins
    return float(np.angle(spec[1, k] * np.conj(spec[0, k])))


def _partial_effect(
    y: np.ndarray, x: np.ndarray, controls: list[np.ndarray]
) -> tuple[float, float]:
    """Effect of x on y over x's p10-p90 range with the controls fitted too, and its t."""
    n = y.size
    span = float(np.percentile(x, 90) - np.percentile(x, 10))
    if span <= 0 or n < len(controls) + 4:
        return 0.0, 0.0
    a = np.stack([*controls, (x - x.mean()) / span], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    cov = np.linalg.pinv(a.T @ a) * float(np.sum(resid**2)) / max(n - a.shape[1], 1)
    return float(coef[-1]), float(coef[-1] / max(np.sqrt(cov[-1, -1]), 1e-9))


def load_cycle_symptoms(
    times: np.ndarray,
    o1: np.ndarray,
    o2: np.ndarray,
    temp_de: np.ndarray,
    load: np.ndarray,
    discharge: np.ndarray,
    hf: np.ndarray | None = None,
    harm: np.ndarray | None = None,
    hf_healthy: float | None = None,
    casing: np.ndarray | None = None,
    o2_healthy: tuple[float, float] | None = None,
) -> dict[str, float]:
    """How 1x and 2x move over a load cycle (snapshots at `times` s, about a day of them): o1,
    o2 shaft-order amplitudes (g), and at the same times the drive-end bearing temperature
    (deg C), motor load (%) and discharge pressure (kPa). A drift in time (the fault growing)
    is fitted alongside: quadratic, but straight in the fits on the casing temperature and on
    the floor's excess over healthy (a day's curved drift would take up the sun's daily swing).

    Strengths: `trend.2x_vs_temperature` (2x follows the casing temperature with the load
    held: thermal growth; with `casing` (deg C, `casing_estimate`) at the times, else the
    bearing temperature), `trend.2x_vs_load` (2x follows the load with that temperature held:
    a frame twisted by torque), `trend.1x_vs_load`, `trend.2x_vs_discharge` (nozzle loads);
    with `o2_healthy` the 2x fits use the log excess over the healthy 2x (`_log_excess`);
    with `o2_healthy` (median and spread of the healthy log 2x) and the day's 2x elevated
    beyond ELEVATED_Z spreads, `trend.2x_steady` (none of the three moves it: an offset set
    in cold). With `hf` (log10 g^2) `trend.hf_vs_temperature` (the floor rises as the bearing
    warms: a lubricant too thin when hot; with `hf_healthy` judged on the excess over the
    healthy floor where it is at least half of it, unknown with fewer than 8 such); with
    `harm` (4x-8x, g) `trend.looseness_vs_load` (a cracked baseplate breathing). Empty with
    fewer than 8 snapshots."""
    t = np.asarray(times, dtype=np.float64)
    if t.size < 8 or np.ptp(t) == 0:
        return {}
    tau = (t - t.mean()) / np.ptp(t)
    drift = [np.ones_like(tau), tau, tau**2]
    # against the temperature only a straight drift: over one day a curved drift would take
    # up most of the sun's one warm bump, and a fault's log growth over its last day is near
    # straight (its growth near exponential)
    straight = drift[:2]
    y1 = np.log(np.maximum(np.asarray(o1, dtype=np.float64), 1e-12))
    temp, load = np.asarray(temp_de, dtype=np.float64), np.asarray(load, dtype=np.float64)
    press = np.asarray(discharge, dtype=np.float64)
    heat = temp if casing is None else np.asarray(casing, dtype=np.float64)
    # 2x judged on its excess over the healthy 2x where the fault dominates: the fault's
    # own growth is then a smooth drift of log excess, whatever the healthy level
    y2, keep = _log_excess(np.asarray(o2, dtype=np.float64), o2_healthy)
    d2 = [d[keep] for d in drift]
    if casing is None:  # the bearing follows the load too: only 2x on the load is held
        fits = [("trend.2x_vs_temperature", y2, heat[keep], d2)]
    else:
        d2_straight = [d[keep] for d in straight]
        fits = [("trend.2x_vs_temperature", y2, heat[keep], [*d2_straight, load[keep]])]
    fits += [
        ("trend.2x_vs_load", y2, load[keep], [*d2, heat[keep]]),
        ("trend.2x_vs_discharge", y2, press[keep], d2),
        ("trend.1x_vs_load", y1, load, drift),
    ]
    if hf is not None and hf_healthy is None:  # log10 power -> natural log amplitude
        fits.append(("trend.hf_vs_temperature", np.asarray(hf) * np.log(10) / 2, temp, drift))
    elif hf is not None:
        excess = 10 ** np.asarray(hf, dtype=np.float64) - 10**hf_healthy
        keep = excess > 0.5 * 10**hf_healthy
        if keep.sum() >= 8:
            sub = [d[keep] for d in straight]
            fits.append(("trend.hf_vs_temperature", 0.5 * np.log(excess[keep]), temp[keep], sub))
    if harm is not None:
        y_h = np.log(np.maximum(np.asarray(harm, dtype=np.float64), 1e-12))
        fits.append(("trend.looseness_vs_load", y_h, load, drift))
    out = {}
    t_2x = []
    for key, y, x, controls in fits:
        effect, tstat = _partial_effect(y, x, controls)
        out[key] = min(
            strength(effect, CYCLE_PRESENT, CYCLE_WIDTH), strength(tstat, Z_PRESENT, Z_WIDTH)
        )
        if key.startswith("trend.2x_"):
            t_2x.append(abs(tstat))
    if o2_healthy is not None:
        med, spread = o2_healthy
        if float(np.median(np.log(np.maximum(o2, 1e-12)))) > med + ELEVATED_Z * spread:
            out["trend.2x_steady"] = strength(-max(t_2x), -STEADY_T, STEADY_WIDTH)
    return out


def _log_excess(
    amp: np.ndarray, healthy: tuple[float, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Log of an amplitude's excess over its healthy level (`healthy`: median and spread of
    the healthy log amplitude) on the readings where it is at least EXCESS_SHARE of the
    healthy level, with their mask; the log amplitude itself on all readings without a
    healthy level or with fewer than 8 such readings."""
    if healthy is not None:
        base = float(np.exp(healthy[0]))
        keep = amp - base > EXCESS_SHARE * base
        if keep.sum() >= 8:
            return np.log(amp[keep] - base), keep
    return np.log(np.maximum(amp, 1e-12)), np.ones(amp.shape, dtype=bool)


def step_symptom(times: np.ndarray, values: np.ndarray) -> float | None:
    """Strength that an amplitude history (values > 0 at increasing times) rose in one step
    rather than gradually: the share of its total log rise taken by the largest rise between
    consecutive readings. None with fewer than 6 readings; low when it barely rose."""
    v = np.log(np.maximum(np.asarray(values, dtype=np.float64), 1e-12))
    v = v[np.argsort(np.asarray(times))]
    if v.size < 6:
        return None
    rise = float(np.max(v) - np.min(v[: max(v.size // 4, 1)]))
    if rise <= 0:
        return STRENGTH_RANGE[0]
    share = float(np.max(np.diff(v))) / rise
    # a rise the size of the snapshot-to-snapshot noise says nothing about its shape
    return min(strength(share, 0.45, 0.08), strength(rise, 0.5, 0.12))


def phase_wander_symptom(recent: np.ndarray, baseline: np.ndarray) -> float | None:
    """Strength that the 1x phase between the bearings (`cross_phase`, rad, readings in time
    order) wanders from one reading to the next more than it did when healthy: the median
    wrapped change between consecutive readings, recent against baseline (one lasting shift
    of the phase is a single change and does not count). None with fewer than 4 readings on
    either side."""
    recent, baseline = np.asarray(recent), np.asarray(baseline)
    if recent.size < 4 or baseline.size < 4:
        return None

    def wander(a: np.ndarray) -> float:
        return float(np.median(np.abs(np.angle(np.exp(1j * np.diff(a))))))

    return strength(wander(recent) - max(wander(baseline), 0.03), WANDER_PRESENT, WANDER_WIDTH)
