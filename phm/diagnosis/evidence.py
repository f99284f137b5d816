"""Symptom detectors: signal features -> evidence {detector key: strength in [0, 1]}.

A strength is soft evidence for the symptom (see `phm.kg.inference`): near 1 present, near 0
measured and absent, 0.5 undecided. A detector that cannot run (no baseline, no data) emits
nothing: the symptom stays unknown, which the inference treats differently from absent.

Detectors:
- vibration (`vibration_features` + `vibration_symptoms`): envelope-spectrum peaks at the
  bearing defect frequencies (BPFI with its 1x sidebands, BPFO, 2 x BSF, FTF) and at vane pass,
  from `phm.features.spectral.envelope_spectrum`; raw-spectrum shaft orders (1x, 2x, 3x,
  sub-harmonics, 4x-8x), kurtosis, waveform asymmetry, the high-frequency noise floor away from
  the structural resonance. Peak-to-floor ratios need no baseline; amplitudes are judged
  against a healthy baseline of the same machine (`PumpBaseline`).
- temperature: bearing and winding temperature above a linear load model of the healthy
  machine (minus ambient).
- process: suction pressure falling, flow and head below the load model, flow unsteady.
- trends (`trend_symptom`): slope of a feature over time against its noise.
- load cycle and 1x history: in `phm.diagnosis.load_cycle` (2x following the casing
  temperature, the load or the discharge pressure, 1x steps, the 1x phase wandering); suction
  falling with flow squared (`process_symptoms`) and slow shifts over recent snapshots
  (`recent_shift_symptoms`) here.
- context: maintenance records, oil analysis, inspection and rounds are in
  `phm.diagnosis.context`.
- thresholds (`threshold_symptom`); the model's fault probabilities are
  `phm.kg.inference.model_evidence`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from phm.features.spectral import BearingGeometry, envelope_spectrum
from phm.kg.inference import STRENGTH_RANGE

Z_PRESENT, Z_WIDTH = 4.0, 1.0  # a symptom is 50% present at 4 baseline sd, 95% at ~7
RATIO_PRESENT, RATIO_WIDTH = 1.2, 0.25  # envelope peak / local floor, natural log
LOAD_HIGH_PCT = 85.0  # mean motor load above which the duty point overloads the bearings
RESONANCE_PROMINENCE = 1.8  # smoothed resonance peak / broadband floor for a usable estimate


def strength(score: float | np.ndarray, at: float, width: float) -> float:
    """Logistic map of a score to a strength: 0.5 at `at`, clipped to STRENGTH_RANGE."""
    s = 1.0 / (1.0 + np.exp(-(np.asarray(score, dtype=np.float64) - at) / width))
    return float(np.clip(s, *STRENGTH_RANGE))


def threshold_symptom(value: float, limit: float, scale: float, above: bool = True) -> float:
    """Strength that `value` is beyond `limit` (above, or below with above=False); `scale` is
    the distance over which the strength goes from 0.5 to ~0.73."""
    d = (value - limit) if above else (limit - value)
    return strength(d / scale, 0.0, 1.0)


def trend_symptom(times: np.ndarray, values: np.ndarray, rising: bool = True) -> float | None:
    """Strength that `values` trend up (or down) over `times`: the slope's t statistic mapped
    with Z_PRESENT. None (unknown) with fewer than 4 finite points."""
    t, v = np.asarray(times, dtype=np.float64), np.asarray(values, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(v)
    t, v = t[ok], v[ok]
    if t.size < 4 or np.ptp(t) == 0:
        return None
    a = np.vstack([t - t.mean(), np.ones_like(t)]).T
    coef, res, *_ = np.linalg.lstsq(a, v, rcond=None)
    dof = t.size - 2
    sigma2 = float(res[0]) / dof if res.size else 0.0
    se = np.sqrt(sigma2 / np.sum((t - t.mean()) ** 2)) if sigma2 > 0 else 1e-12
    tstat = coef[0] / se * (1 if rising else -1)
    return strength(tstat, Z_PRESENT, Z_WIDTH)


# --- vibration ------------------------------------------------------------------------------
def peak_ratio(
    freqs: np.ndarray,
    amp: np.ndarray,
    f0: float,
    harmonics: int = 3,
    tol: float = 0.02,
    exclude: Sequence[float] = (),
) -> float:
    """Mean over harmonics 1..k of log(peak within +-tol of h f0 / median of the spectrum
    within +-25% of f0 around it): ~0 for no peak, > 1 for a clear line. Harmonics within
    tolerance of a line in `exclude` (another defect's harmonics) are ambiguous and skipped;
    NaN when none is left."""
    df = freqs[1] - freqs[0]
    out = []
    for h in range(1, harmonics + 1):
        c = h * f0
        if c + 0.25 * f0 >= freqs[-1]:
            break
        if any(abs(c - e) <= tol * (c + e) + 1.5 * df for e in exclude):
            continue
        near = np.abs(freqs - c)
        win = near <= max(tol * c, 1.5 * df)
        ring = (near <= max(0.25 * f0, 8 * df)) & ~win
        if not win.any() or not ring.any():
            continue
        floor = np.median(amp[ring])
        out.append(np.log(amp[win].max() / max(floor, 1e-12)))
    return float(np.mean(out)) if out else float("nan")


def _harmonics(fs: Sequence[float], k: int = 5) -> list[float]:
    return [h * f for f in fs for h in range(1, k + 1)]


def _order_amplitude(freqs: np.ndarray, amp: np.ndarray, f: float) -> float:
    """Largest amplitude within +-2 bins of f."""
    df = freqs[1] - freqs[0]
    win = np.abs(freqs - f) <= 2 * df
    return float(amp[win].max()) if win.any() else float("nan")


def prewhiten(x: np.ndarray) -> np.ndarray:
    """Cepstral pre-whitening (x (L,) -> (L,)): the spectrum divided by its magnitude, which
    removes discrete shaft and gear lines and flattens resonances, leaving impulsive content
    (Borghesani et al. 2013; the benchmark method of Smith and Randall 2015 on CWRU)."""
    spec = np.fft.rfft(x - x.mean())
    return np.fft.irfft(spec / np.maximum(np.abs(spec), 1e-12), x.size)


def vibration_features(
    x: np.ndarray,
    fs: float,
    shaft_hz: float,
    geometry: BearingGeometry,
    vanes: int | None = None,
    hf_band: tuple[float, float] | None = None,
    envelope_band: tuple[float, float] | None = None,
    whiten: bool = False,
) -> dict[str, float]:
    """Raw symptom features of one snapshot x (L,) or (C, L) (first channel: the bearing of
    interest) at shaft speed `shaft_hz` (Hz): envelope peak ratios env_*, shaft-order
    amplitudes o1/o2/o3/sub/harm (g), kurtosis, asymmetry, hf floor (g^2/bin, log10).
    whiten: envelope of the cepstrally pre-whitened signal (`prewhiten`)."""
    sig = np.asarray(x, dtype=np.float64)
    sig = sig[0] if sig.ndim == 2 else sig
    n = sig.size
    d = geometry.defect_frequencies(shaft_hz)
    freqs, env = envelope_spectrum((prewhiten(sig) if whiten else sig)[None, :], fs, envelope_band)
    env = env[0]
    lines = {"bpfi": d.bpfi, "bpfo": d.bpfo, "bsf": 2 * d.bsf}

    def others(name: str) -> list[float]:
        return _harmonics([f for k, f in lines.items() if k != name])

    feats = {
        "env_bpfi": peak_ratio(freqs, env, d.bpfi, exclude=others("bpfi")),
        "env_bpfo": peak_ratio(freqs, env, d.bpfo, exclude=others("bpfo")),
        "env_bsf": peak_ratio(freqs, env, 2 * d.bsf, harmonics=2, exclude=others("bsf")),
        "env_ftf": peak_ratio(freqs, env, d.ftf, harmonics=2, tol=0.05),
    }
    sb = [peak_ratio(freqs, env, d.bpfi + s * shaft_hz, harmonics=1) for s in (-1, 1)]
    feats["env_bpfi_sb"] = float(np.nanmean(sb))
    if vanes:
        feats["env_vane"] = peak_ratio(freqs, env, vanes * shaft_hz, harmonics=2)
    w = np.hanning(n)
    spec_f = np.fft.rfftfreq(n, 1 / fs)
    amp = np.abs(np.fft.rfft((sig - sig.mean()) * w)) * 2 / w.sum()
    feats["o1"] = _order_amplitude(spec_f, amp, shaft_hz)
    feats["o2"] = _order_amplitude(spec_f, amp, 2 * shaft_hz)
    feats["o3"] = _order_amplitude(spec_f, amp, 3 * shaft_hz)
    feats["sub"] = float(
        np.sqrt(sum(_order_amplitude(spec_f, amp, k * shaft_hz) ** 2 for k in (0.5, 1.5, 2.5)))
    )
    orders = [k for k in range(4, 9) if k != vanes]
    feats["harm"] = float(
        np.sqrt(sum(_order_amplitude(spec_f, amp, k * shaft_hz) ** 2 for k in orders))
    )
    c = sig - sig.mean()
    m2 = np.mean(c**2)
    feats["kurtosis"] = float(np.mean(c**4) / m2**2) if m2 > 0 else 0.0
    feats["asymmetry"] = float(np.log(max(-c.min(), 1e-12) / max(c.max(), 1e-12)))
    lo, hi = hf_band if hf_band is not None else (0.35 * fs, 0.48 * fs)
    band = (spec_f >= lo) & (spec_f <= hi)
    feats["hf"] = float(np.log10(np.median(amp[band] ** 2) + 1e-30))
    feats["resonance"] = resonance_hz(spec_f, amp**2, (0.15 * fs, 0.35 * fs), (lo, hi))
    return feats


def resonance_hz(
    freqs: np.ndarray,
    power: np.ndarray,
    band: tuple[float, float],
    floor_band: tuple[float, float],
) -> float:
    """The structural resonance in Hz within `band`: the peak of the power above the
    broadband floor (median power in `floor_band`) smoothed over ~200 Hz, refined by mean
    shift (the centre of the excess power within +-400 Hz, moved there, five times). NaN when
    the smoothed peak is less than RESONANCE_PROMINENCE times the floor (buried in broadband
    noise, as under cavitation or a lubrication breakdown)."""
    df = freqs[1] - freqs[0]
    in_floor = (freqs >= floor_band[0]) & (freqs <= floor_band[1])
    inside = (freqs >= band[0]) & (freqs <= band[1])
    if not inside.any() or not in_floor.any():
        return float("nan")
    floor = float(np.median(power[in_floor]))
    width = max(int(200 / df), 1)
    smooth = np.convolve(power, np.ones(width) / width, mode="same")
    if smooth[inside].max() < RESONANCE_PROMINENCE * floor:
        return float("nan")
    excess = np.maximum(power - floor, 0.0)
    peak = float(freqs[inside][np.argmax(smooth[inside])])
    for _ in range(5):
        near = np.abs(freqs - peak) <= 400
        peak = float(np.sum(freqs[near] * excess[near]) / max(np.sum(excess[near]), 1e-30))
    return peak


# (feature, detector key, direction): amplitude-like features judged against a baseline
_VIB_BASELINE = (
    ("o1", "vib.1x", 1),
    ("o2", "vib.2x", 1),
    ("o3", "vib.3x", 1),
    ("sub", "vib.subharmonics", 1),
    ("harm", "vib.harmonics", 1),
    ("kurtosis", "vib.kurtosis", 1),
    ("asymmetry", "vib.asymmetry", 1),
    ("hf", "vib.hf_floor", 1),
    ("resonance", "vib.resonance_shift", -1),  # a stiffness loss lowers the resonance
)
# least spread of a baseline feature where 5% of its median would hide a real change (Hz)
_SPREAD_FLOOR = {"resonance": 40.0}
_VIB_RATIO = (
    ("env_bpfi", "vib.env_bpfi"),
    ("env_bpfo", "vib.env_bpfo"),
    ("env_bsf", "vib.env_bsf"),
    ("env_ftf", "vib.env_ftf"),
    ("env_bpfi_sb", "vib.env_bpfi_sidebands"),
    ("env_vane", "vib.env_vane"),
)
_LOG_FEATURES = ("o1", "o2", "o3", "sub", "harm")  # judged as log amplitude


@dataclass
class PumpBaseline:
    """Healthy reference of one machine: per-feature median and spread of vibration features,
    linear load models of temperatures and flow, suction level and flow noise."""

    vib_median: dict[str, float] = field(default_factory=dict)
    vib_spread: dict[str, float] = field(default_factory=dict)
    temp_coef: np.ndarray | None = None  # (3, 2): (de, fe, winding) - ambient = a + b load
    temp_sd: np.ndarray | None = None  # (3,)
    flow_coef: np.ndarray | None = None  # flow = a + b load
    flow_sd: float = 1.0
    suction: float = float("nan")
    suction_sd: float = 1.0
    head_coef: np.ndarray | None = None  # (discharge - suction) = a + b flow^2
    head_sd: float = 1.0
    suction_flow2: float = 0.0  # d suction / d flow^2 of the healthy pump (kPa h^2 / m^6)


def _vib_value(name: str, v: float) -> float:
    return float(np.log(max(v, 1e-12))) if name in _LOG_FEATURES else float(v)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    a = np.vstack([np.ones_like(x), x]).T
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return coef, float(np.std(y - a @ coef))


def fit_pump_baseline(
    vib: Sequence[Mapping[str, float]],
    temperature: np.ndarray | None = None,
    process: np.ndarray | None = None,
) -> PumpBaseline:
    """A baseline from healthy data: vibration feature dicts (`vibration_features` of several
    snapshots), temperature rows (n, 4: de, fe, winding, ambient) and process rows (n, 5:
    speed_rpm, load_pct, suction_kpa, discharge_kpa, flow_m3h), the rows spread over loads."""
    b = PumpBaseline()
    for name, _, _ in _VIB_BASELINE:
        vals = np.array(
            [_vib_value(name, f[name]) for f in vib if np.isfinite(f.get(name, np.nan))]
        )
        if vals.size >= 3:
            med = float(np.median(vals))
            mad = 1.4826 * float(np.median(np.abs(vals - med)))
            b.vib_median[name] = med
            # a floor on the spread: a few snapshots understate it
            floor = _SPREAD_FLOOR.get(name, max(0.05 * abs(med), 0.05))
            b.vib_spread[name] = max(mad, float(np.std(vals)), floor)
    if temperature is not None and process is not None and len(temperature) >= 5:
        load = process[:, 1] / 100
        coefs, sds = [], []
        for j in range(3):
            coef, sd = _line(load, temperature[:, j] - temperature[:, 3])
            coefs.append(coef)
            sds.append(max(sd, 0.1))
        b.temp_coef, b.temp_sd = np.array(coefs), np.array(sds)
    if process is not None and len(process) >= 5:
        b.flow_coef, sd = _line(process[:, 1], process[:, 4])
        b.flow_sd = max(sd, 1e-3 * float(np.mean(process[:, 4])))
        b.suction = float(np.median(process[:, 2]))
        b.suction_sd = max(float(np.std(process[:, 2])), 0.2)
        b.head_coef, sd = _line(process[:, 4] ** 2, process[:, 3] - process[:, 2])
        b.head_sd = max(sd, 0.5)
        b.suction_flow2 = float(_line(process[:, 4] ** 2, process[:, 2])[0][1])
    return b


def vibration_symptoms(
    feats: Mapping[str, float], baseline: PumpBaseline | None = None
) -> dict[str, float]:
    """Strengths from `vibration_features`: envelope peaks always; amplitudes with a baseline."""
    out = {}
    for name, key in _VIB_RATIO:
        v = feats.get(name)
        if v is not None and np.isfinite(v):
            out[key] = strength(v, RATIO_PRESENT, RATIO_WIDTH)
    if baseline is not None:
        for name, key, sign in _VIB_BASELINE:
            if np.isfinite(feats.get(name, np.nan)) and name in baseline.vib_median:
                z = (_vib_value(name, feats[name]) - baseline.vib_median[name]) / (
                    baseline.vib_spread[name]
                )
                out[key] = strength(sign * z, Z_PRESENT, Z_WIDTH)
    return out


def temperature_symptoms(
    temperature: np.ndarray, load_pct: float | np.ndarray, baseline: PumpBaseline
) -> dict[str, float]:
    """Bearing and winding temperature above the healthy load model, rows (n, 4) averaged;
    load_pct: per row (n,) or one mean value."""
    if baseline.temp_coef is None or len(temperature) == 0:
        return {}
    load = np.broadcast_to(np.asarray(load_pct, dtype=np.float64), (len(temperature),)) / 100
    out = {}
    keys = ("temp.bearing_de_rise", "temp.bearing_fe_rise", "temp.winding_rise")
    for j, key in enumerate(keys):
        a, b = baseline.temp_coef[j]
        resid = temperature[:, j] - temperature[:, 3] - (a + b * load)
        # mean of n rows: its noise is sd / sqrt(n); 1 K is the least rise worth a symptom
        z = float(np.mean(resid)) / max(baseline.temp_sd[j] / np.sqrt(len(resid)), 0.25)
        out[key] = strength(z, Z_PRESENT, Z_WIDTH)
    return out


def process_symptoms(process: np.ndarray, baseline: PumpBaseline) -> dict[str, float]:
    """Suction low, flow low, head low, flow unsteady, load high from process rows (n, 5);
    with rows over a load cycle (flow varying, >= 30 rows) also suction falling with flow
    squared (a strainer's loss), from a fit of suction on flow^2 with a quadratic drift in
    row order."""
    if baseline.flow_coef is None or len(process) < 3:
        return {}
    load, suction, discharge, flow = process[:, 1], process[:, 2], process[:, 3], process[:, 4]
    n = len(process)
    flow_res = flow - (baseline.flow_coef[0] + baseline.flow_coef[1] * load)
    head_res = discharge - suction - (baseline.head_coef[0] + baseline.head_coef[1] * flow**2)
    se = np.sqrt(n)
    return {
        "proc.suction_low": strength(
            (baseline.suction - float(np.mean(suction))) / (baseline.suction_sd / se + 1.0),
            Z_PRESENT,
            Z_WIDTH,
        ),
        "proc.flow_low": strength(
            -float(np.mean(flow_res)) / (baseline.flow_sd / se + 0.01 * np.mean(flow)),
            Z_PRESENT,
            Z_WIDTH,
        ),
        "proc.head_low": strength(
            -float(np.mean(head_res)) / (baseline.head_sd / se + 2.0), Z_PRESENT, Z_WIDTH
        ),
        # the F-like ratio of residual spread to the healthy spread
        "proc.flow_unsteady": strength(float(np.std(flow_res)) / baseline.flow_sd, 2.0, 0.25),
        "proc.load_high": threshold_symptom(float(np.mean(load)), LOAD_HIGH_PCT, 2.0),
    } | _suction_flow_symptom(suction, flow, baseline)


def _suction_flow_symptom(
    suction: np.ndarray, flow: np.ndarray, baseline: PumpBaseline
) -> dict[str, float]:
    """`proc.suction_drop_with_flow`: the extra suction loss across the rows' flow range
    (kPa, from p10 to p90 of flow^2) at the latest row, against the healthy slope, judged on
    size and t. The loss coefficient may drift over the rows (a strainer clogs as it goes),
    so it is fitted as a quadratic in row order, like the level."""
    n = len(flow)
    q2 = flow.astype(np.float64) ** 2
    span = float(np.percentile(q2, 90) - np.percentile(q2, 10))
    if n < 30 or span <= 0:
        return {}
    tau = np.linspace(-1, 1, n)
    drift = np.stack([np.ones(n), tau, tau**2], axis=1)  # (n, 3)
    a = np.concatenate([drift, drift * ((q2 - q2.mean()) / span)[:, None]], axis=1)  # (n, 6)
    coef, *_ = np.linalg.lstsq(a, suction, rcond=None)
    resid = suction - a @ coef
    cov = np.linalg.pinv(a.T @ a) * float(np.sum(resid**2)) / max(n - a.shape[1], 1)
    now = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])  # the flow^2 coefficient at tau = 1
    drop = -(float(now @ coef) - baseline.suction_flow2 * span)
    t = drop / max(float(np.sqrt(now @ cov @ now)), 1e-9)
    return {"proc.suction_drop_with_flow": min(strength(drop, 6.0, 2.0), strength(t, 4.0, 1.0))}


def step_deviation_symptoms(
    values: Mapping[str, np.ndarray],
    steps: np.ndarray,
    reference: Mapping[str, np.ndarray],
    reference_steps: np.ndarray,
    prefix: str = "proc.",
) -> dict[str, float]:
    """Process deviations within recipe steps: for each column, `<prefix><COL>_falling`,
    `_rising` (mean shift against the same step of healthy reference rows, in standard errors,
    pooled over steps) and `_unsteady` (within-step spread against the reference's).

    values / reference: column -> (n,) readings; steps / reference_steps: (n,) step codes.
    A column or step absent from either side contributes nothing (unknown).
    """
    steps, reference_steps = np.asarray(steps), np.asarray(reference_steps)
    out: dict[str, float] = {}
    for col, v in values.items():
        if col not in reference:
            continue
        v, r = np.asarray(v, dtype=np.float64), np.asarray(reference[col], dtype=np.float64)
        zs, ws, spread = [], [], []
        for s in np.unique(steps):
            a, b = v[(steps == s) & np.isfinite(v)], r[(reference_steps == s) & np.isfinite(r)]
            if a.size < 2 or b.size < 3:
                continue
            sd = max(float(np.std(b)), 1e-6 * max(abs(float(np.mean(b))), 1.0))
            zs.append((a.mean() - b.mean()) / (sd / np.sqrt(a.size)))
            ws.append(a.size)
            spread.append(float(np.std(a)) / sd)
        if not zs:
            continue
        # Stouffer's weighted z over steps: N(0, 1) again when healthy
        w = np.sqrt(np.asarray(ws, dtype=np.float64))
        z = float(np.dot(w, zs) / np.sqrt(np.sum(w**2)))
        out[f"{prefix}{col}_falling"] = strength(-z, Z_PRESENT, Z_WIDTH)
        out[f"{prefix}{col}_rising"] = strength(z, Z_PRESENT, Z_WIDTH)
        out[f"{prefix}{col}_unsteady"] = strength(float(np.mean(spread)), 2.0, 0.25)
    return out


def pump_symptoms(
    snapshot: np.ndarray,
    fs: float,
    temperature: np.ndarray,
    process: np.ndarray,
    baseline: PumpBaseline | None,
    geometry: BearingGeometry,
    vanes: int | None = None,
) -> dict[str, float]:
    """All pump detectors at one moment: a vibration snapshot (C, L) in g (drive end first),
    recent temperature rows (n, 4) and process rows (m, 5) in the channel order of
    phm/configs/plant.toml. The shaft speed comes from the process rows' speed_rpm. Without a
    baseline only the envelope-spectrum detectors run (the rest stay unknown)."""
    shaft = float(np.mean(process[:, 0])) / 60
    ev = vibration_symptoms(vibration_features(snapshot, fs, shaft, geometry, vanes), baseline)
    if baseline is not None:
        ev.update(temperature_symptoms(temperature, float(np.mean(process[:, 1])), baseline))
        ev.update(process_symptoms(process, baseline))
    return ev


def recent_shift_symptoms(
    recent: Sequence[Mapping[str, float]], baseline: PumpBaseline
) -> dict[str, float]:
    """The amplitude-like vibration symptoms (`vibration_symptoms` keys) from the median of
    several recent snapshots' features against the baseline: the median's noise is the
    baseline spread / sqrt(n), so slow shifts too small for one snapshot show (the
    resonance falling as a baseplate cracks)."""
    out = {}
    n = len(recent)
    for name, key, sign in _VIB_BASELINE:
        vals = [_vib_value(name, f[name]) for f in recent if name in f and np.isfinite(f[name])]
        if len(vals) < 3 or name not in baseline.vib_median:
            continue
        se = baseline.vib_spread[name] * 1.25 / np.sqrt(n)  # the median's efficiency
        z = (float(np.median(vals)) - baseline.vib_median[name]) / se
        out[key] = strength(sign * z, Z_PRESENT, Z_WIDTH)
    return out
