"""History detectors: what a pump's own history since start-up, and its sister pumps, say about
the cause of a bearing fault -> {detector key: strength in [0, 1]}.

One snapshot tells a spall's location; when it started and how it behaves between snapshots
tell why. The inputs are what a monitoring system keeps in its lake: `vibration_features` of
snapshots since start-up and over the last day, and the healthy load models (`PumpBaseline`)
of this pump and of other pumps of the same type.

- `startup_defect_symptom`: a bearing-defect line already in the first snapshots after
  start-up (the raceways were dented before the pump ran: brinelling in shipping).
- `defect_wander_symptom`: the BPFO line waxing and waning between snapshots over hours
  (the outer ring creeps in a worn or oversize bore and carries the defect in and out of the
  load zone), where a spall fixed in the load zone grows smoothly.
- `roughness_symptom`: the high-frequency floor rising through life while no defect line is
  there yet (particles dent and roughen the raceways before a spall forms: contamination).
- `fleet_temperature_symptom`: the drive-end bearing ran hotter than its sister pumps at the
  same load from commissioning (a too-tight fit removed the internal clearance).
- `temperature_spike_symptom`: the drive-end bearing temperature flashes up and recovers
  within the hour, over the slow trend (a starved contact after a missed relubrication).
- `temperature_creep_symptom`: the drive-end bearing temperature crept up over the early
  history, long before any breakdown (the grease oxidising).

Each emits nothing (unknown) when its data are missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.ndimage import median_filter

from phm.diagnosis.evidence import RATIO_PRESENT, Z_PRESENT, Z_WIDTH, PumpBaseline, strength

STARTUP_SNAPSHOTS = 3  # the earliest snapshots since start-up that count as "from the start"
STARTUP_PRESENT, STARTUP_WIDTH = 1.0, 0.15  # median envelope peak ratio of those snapshots
WANDER_PRESENT, WANDER_WIDTH = 0.45, 0.08  # residual sd of the BPFO peak ratio (natural log)
ROUGH_PRESENT, ROUGH_WIDTH = 0.08, 0.03  # log10 rise of the HF floor before any defect line
FLEET_PRESENT, FLEET_WIDTH = 3.0, 0.75  # sister-pump sds: an outlier of the fleet
FLEET_SPREAD_FLOOR_K = 0.5  # least fleet spread (K): a few pumps understate it
FLEET_REFERENCE_LOAD = 0.7  # load (fraction) at which the load models are compared
# bursts above the slow trend (K, 99th percentile over a day): on the tuning seeds' pumps
# without starvation it is 0.42-0.62 K (the sensors' noise; oxidising grease's creep up to 0.75)
SPIKE_PRESENT_K, SPIKE_WIDTH_K = 0.85, 0.08
SPIKE_TREND_S = 3 * 3600.0  # the slow trend: a running median over three hours
CREEP_PRESENT_K, CREEP_WIDTH_K = 1.0, 0.3  # rise of the drive end over the early history
_LINES = ("env_bpfi", "env_bpfo")


def _finite(feats: Sequence[Mapping[str, float]], name: str) -> np.ndarray:
    return np.array([f.get(name, np.nan) for f in feats], dtype=np.float64)


def startup_defect_symptom(early: Sequence[Mapping[str, float]]) -> float | None:
    """Strength that a bearing-defect line (BPFI or BPFO envelope peak ratio) was there in
    the earliest snapshots since start-up (`vibration_features` dicts, at least
    STARTUP_SNAPSHOTS): the larger race's median ratio. None with too few snapshots."""
    if len(early) < STARTUP_SNAPSHOTS:
        return None
    ratios = [np.nanmedian(_finite(early, k)) for k in _LINES]
    ratios = [r for r in ratios if np.isfinite(r)]
    if not ratios:
        return None
    # the median of a few snapshots' ratios is steadier than one ratio: a tighter threshold
    return strength(max(ratios), STARTUP_PRESENT, STARTUP_WIDTH)


def defect_wander_symptom(times: np.ndarray, bpfo_ratio: np.ndarray) -> float | None:
    """Strength that the BPFO envelope peak ratio (natural log, one per snapshot at `times`
    s, about a day of them) jumps between snapshots more than a growing spall's: the residual
    sd after a quadratic drift in time. None with fewer than 8 snapshots or when the line is
    absent from all but a quarter of them (nothing to wander)."""
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(bpfo_ratio, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(t)
    t, y = t[ok], y[ok]
    if t.size < 8 or np.ptp(t) == 0:
        return None
    if np.mean(y > RATIO_PRESENT) < 0.25:
        return None
    tau = (t - t.mean()) / np.ptp(t)
    a = np.stack([np.ones_like(tau), tau, tau**2], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid_sd = float(np.sqrt(np.sum((y - a @ coef) ** 2) / (t.size - 3)))
    return strength(resid_sd, WANDER_PRESENT, WANDER_WIDTH)


def roughness_symptom(times: np.ndarray, feats: Sequence[Mapping[str, float]]) -> float | None:
    """Strength that the high-frequency floor (`vibration_features` hf, log10) rose through
    the snapshots since start-up that show no bearing-defect line (envelope peak ratios below
    RATIO_PRESENT): both the rise (fitted slope over their time span) and its t statistic.
    None with fewer than 4 such snapshots."""
    t = np.asarray(times, dtype=np.float64)
    lines = np.stack([_finite(feats, k) for k in _LINES])  # (2, S)
    clear = np.all(~(lines > RATIO_PRESENT), axis=0)
    hf = _finite(feats, "hf")
    keep = clear & np.isfinite(hf)
    t, hf = t[keep], hf[keep]
    if t.size < 4 or np.ptp(t) == 0:
        return None
    x = t - t.mean()
    slope = float(np.sum(x * (hf - hf.mean())) / np.sum(x**2))
    resid = hf - hf.mean() - slope * x
    se = np.sqrt(np.sum(resid**2) / (t.size - 2) / np.sum(x**2))
    tstat = slope / max(float(se), 1e-12)
    rise = slope * float(np.ptp(t))
    return min(strength(rise, ROUGH_PRESENT, ROUGH_WIDTH), strength(tstat, Z_PRESENT, Z_WIDTH))


def _de_at_reference(baseline: PumpBaseline) -> float:
    a, b = baseline.temp_coef[0]
    return float(a + b * FLEET_REFERENCE_LOAD)


def fleet_temperature_symptom(
    baseline: PumpBaseline, fleet: Sequence[PumpBaseline]
) -> dict[str, float]:
    """`temp.bearing_de_above_fleet`: the drive-end bearing's healthy load model (its
    commissioning baseline, temperature over ambient at FLEET_REFERENCE_LOAD) against those
    of sister pumps of the same type, in fleet standard deviations. Empty without a
    temperature model or with fewer than 5 sister pumps."""
    ref = [_de_at_reference(b) for b in fleet if b.temp_coef is not None]
    if baseline.temp_coef is None or len(ref) < 5:
        return {}
    ref_arr = np.array(ref)
    med = float(np.median(ref_arr))
    spread = max(1.4826 * float(np.median(np.abs(ref_arr - med))), FLEET_SPREAD_FLOOR_K)
    z = (_de_at_reference(baseline) - med) / spread
    return {"temp.bearing_de_above_fleet": strength(z, FLEET_PRESENT, FLEET_WIDTH)}


def temperature_spike_symptom(
    times: np.ndarray, temperature: np.ndarray, load_pct: np.ndarray, baseline: PumpBaseline
) -> dict[str, float]:
    """`temp.bearing_de_spikes`: bursts of the drive-end bearing temperature over its slow
    trend, from rows over about a day (times (n,) s, temperature rows (n, 4) as in
    `temperature_symptoms`, load_pct (n,)): the drive end less ambient less the healthy load
    model, less its running median over SPIKE_TREND_S; the 99th percentile of what is left,
    in K. Empty without a temperature model or with fewer than 60 rows."""
    t = np.asarray(times, dtype=np.float64)
    if baseline.temp_coef is None or t.size < 60 or np.ptp(t) <= 0:
        return {}
    a, b = baseline.temp_coef[0]
    resid = temperature[:, 0] - temperature[:, 3] - (a + b * np.asarray(load_pct) / 100)
    width = max(int(SPIKE_TREND_S / (np.ptp(t) / (t.size - 1))), 5) | 1  # odd, in rows
    bursts = resid - median_filter(resid.astype(np.float64), size=width, mode="nearest")
    height = float(np.percentile(bursts, 99))
    return {"temp.bearing_de_spikes": strength(height, SPIKE_PRESENT_K, SPIKE_WIDTH_K)}


def temperature_creep_symptom(
    times: np.ndarray, temperature: np.ndarray, load_pct: np.ndarray, baseline: PumpBaseline
) -> dict[str, float]:
    """`temp.bearing_de_creep`: the drive-end bearing temperature (less ambient, less the
    healthy load model) rising steadily over rows spread over the early history since start-up
    (times (n,) s, temperature rows (n, 4), load_pct (n,)): the fitted rise across them in K
    and its t statistic, the load fitted alongside. Empty without a temperature model or with
    fewer than 6 rows."""
    t = np.asarray(times, dtype=np.float64)
    if baseline.temp_coef is None or t.size < 6 or np.ptp(t) <= 0:
        return {}
    a, b = baseline.temp_coef[0]
    load = np.asarray(load_pct, dtype=np.float64) / 100
    resid = temperature[:, 0] - temperature[:, 3] - (a + b * load)
    # the load stays a regressor: a baseline fitted over a day or two is not exact in load
    design = np.stack([np.ones_like(t), (t - t.mean()) / np.ptp(t), load - load.mean()], axis=1)
    coef, *_ = np.linalg.lstsq(design, resid, rcond=None)
    noise = resid - design @ coef
    cov = np.linalg.pinv(design.T @ design) * float(np.sum(noise**2)) / max(t.size - 3, 1)
    rise = float(coef[1])
    tstat = rise / max(float(np.sqrt(cov[1, 1])), 1e-12)
    return {
        "temp.bearing_de_creep": min(
            strength(rise, CREEP_PRESENT_K, CREEP_WIDTH_K), strength(tstat, Z_PRESENT, Z_WIDTH)
        )
    }
