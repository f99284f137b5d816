"""Vibration features that transfer across speed, sampling rate and gain: order tracking,
envelope spectra in orders of shaft speed, scale-free statistics. Pure numpy/scipy.

Per recording (constant shaft speed within a recording):
1. resample to a common rate (`common_fs_hz`) so every recording sees the same band;
2. envelope |hilbert(bandpass)| at that rate (the band is in Hz: impacts ring the structure);
3. angular resampling = resampling to `samples_per_rev` samples per shaft revolution, of the
   envelope and of the raw signal, so a defect at order k lies at bin k x revs-per-window for
   any speed and any sampling rate;
4. windows of `window_revs` revolutions every `stride_revs`.
Features per window are scale-free (ratios, shares, kurtosis, crest), so a recording's gain or
unit does not reach the model: the normalisation is "scale-free features only".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
from scipy import signal as sps

from phm.features.spectral import DefectFrequencies, envelope

DEFECTS = ("bpfo", "bpfi", "bsf2", "ftf")  # bsf2: 2 x ball spin, a spall strikes both races
LOCATION_OF = {"bpfo": "outer_race", "bpfi": "inner_race", "bsf2": "ball"}
HARMONICS = 3
RAW_ORDER_BANDS = ((0.5, 1.5), (1.5, 2.5), (2.5, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 128))


@dataclass(frozen=True)
class OrderConfig:
    """How recordings become windows in the angle domain.

    common_fs_hz: every recording is resampled to this rate first (Hz).
    samples_per_rev: envelope samples per shaft revolution (orders up to half of it);
    raw_samples_per_rev: raw-signal samples per revolution for the order band energies.
    window_revs / stride_revs: window length and hop, in shaft revolutions.
    envelope_band: band-pass before demodulation, Hz at the common rate (None: 10-40%).
    tolerance: half-width of a defect-order peak window, as a fraction of the order.
    demod_bands: the bands of `multiband_features` (Hz at the common rate): the resonance
      that impacts excite differs by machine and sensor, so each defect line is also read in
      every band and the strongest kept (a coarse kurtogram).
    """

    common_fs_hz: float = 12_000.0
    samples_per_rev: int = 64
    raw_samples_per_rev: int = 256
    window_revs: int = 16
    stride_revs: int = 8
    envelope_band: tuple[float, float] | None = None
    tolerance: float = 0.02
    demod_bands: tuple[tuple[float, float], ...] = (
        (300, 1200),
        (1200, 2400),
        (2400, 3600),
        (3600, 4800),
        (4800, 5800),
    )


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """x (N,) at fs_in -> fs_out by polyphase filtering (the rate ratio to 1e-4)."""
    if fs_in == fs_out:
        return np.asarray(x, dtype=np.float64)
    ratio = Fraction(fs_out / fs_in).limit_denominator(10_000)
    return sps.resample_poly(np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator)


def angular_resample(x: np.ndarray, fs_hz: float, rpm: float, samples_per_rev: int) -> np.ndarray:
    """Constant-speed order tracking: x (N,) at fs_hz -> (M,) at samples_per_rev per revolution."""
    if rpm <= 0 or fs_hz <= 0:
        raise ValueError(f"rpm and fs_hz must be > 0, got {rpm} and {fs_hz}")
    return resample(x, fs_hz, samples_per_rev * rpm / 60.0)


@dataclass(frozen=True)
class AngleWindows:
    """A recording in the angle domain: envelope (W, window_revs*spr) and raw windows."""

    envelope: np.ndarray
    raw: np.ndarray
    band: np.ndarray  # band-passed signal at the common rate, per window (W, L)
    config: OrderConfig


def angle_windows(x: np.ndarray, fs_hz: float, rpm: float, cfg: OrderConfig) -> AngleWindows:
    """Cut one constant-speed recording into windows of whole revolutions."""
    common = resample(x, fs_hz, cfg.common_fs_hz)
    common = common - common.mean()
    env = envelope(common[None, :], cfg.common_fs_hz, cfg.envelope_band)[0]
    lo, hi = cfg.envelope_band or (0.1 * cfg.common_fs_hz, 0.4 * cfg.common_fs_hz)
    sos = sps.butter(4, [lo, hi], btype="bandpass", fs=cfg.common_fs_hz, output="sos")
    band = sps.sosfiltfilt(sos, common)
    env_a = angular_resample(env, cfg.common_fs_hz, rpm, cfg.samples_per_rev)
    raw_a = angular_resample(common, cfg.common_fs_hz, rpm, cfg.raw_samples_per_rev)
    revs = env_a.size / cfg.samples_per_rev
    starts = np.arange(0, revs - cfg.window_revs + 1e-9, cfg.stride_revs)
    per_rev = cfg.common_fs_hz * 60.0 / rpm
    n_band = int(cfg.window_revs * per_rev)
    n_env, n_raw = cfg.window_revs * cfg.samples_per_rev, cfg.window_revs * cfg.raw_samples_per_rev
    keep = [
        s
        for s in starts
        if int(s * cfg.raw_samples_per_rev) + n_raw <= raw_a.size
        and int(s * per_rev) + n_band <= band.size
    ]
    e = np.stack([env_a[int(s * cfg.samples_per_rev) :][:n_env] for s in keep]) if keep else None
    if e is None:
        empty = np.zeros((0, n_env))
        return AngleWindows(empty, np.zeros((0, n_raw)), np.zeros((0, n_band)), cfg)
    r = np.stack([raw_a[int(s * cfg.raw_samples_per_rev) :][:n_raw] for s in keep])
    b = np.stack([band[int(s * per_rev) :][:n_band] for s in keep])
    return AngleWindows(e, r, b, cfg)


def order_spectrum(windows: np.ndarray, samples_per_rev: int) -> tuple[np.ndarray, np.ndarray]:
    """(orders (F,), amplitude (W, F)) of mean-removed windows (W, L), Hann window."""
    n = windows.shape[-1]
    w = np.hanning(n)
    x = windows - windows.mean(axis=-1, keepdims=True)
    amp = np.abs(np.fft.rfft(x * w, axis=-1)) * (2.0 / w.sum())
    return np.fft.rfftfreq(n, 1.0 / samples_per_rev), amp


def line_ratio(orders: np.ndarray, amp: np.ndarray, order: float, tol: float) -> np.ndarray:
    """log(peak within +-tol x order (at least 1.5 bins) / median within +-25% around): (W,).

    ~0 where there is no line, > 1 for a clear one; scale-free."""
    d = orders[1] - orders[0]
    near = np.abs(orders - order)
    win = near <= max(tol * order, 1.5 * d)
    ring = (near <= max(0.25 * order, 8 * d)) & ~win
    if order + 0.25 * order >= orders[-1] or not win.any() or not ring.any():
        return np.full(amp.shape[0], np.nan)
    floor = np.maximum(np.median(amp[:, ring], axis=1), 1e-300)
    return np.log(np.maximum(amp[:, win].max(axis=1), 1e-300) / floor)


def defect_lines(w: AngleWindows, orders_of: DefectFrequencies) -> dict[str, np.ndarray]:
    """Envelope-spectrum line ratios per window: `<defect>_h<k>` for k = 1..3, BPFI +-1 x
    sidebands, shaft 1x and 2x. Keys in a fixed order."""
    cfg = w.config
    orders, amp = order_spectrum(w.envelope, cfg.samples_per_rev)
    base = {
        "bpfo": orders_of.bpfo,
        "bpfi": orders_of.bpfi,
        "bsf2": 2 * orders_of.bsf,
        "ftf": orders_of.ftf,
    }
    out: dict[str, np.ndarray] = {}
    for name in DEFECTS:
        for k in range(1, HARMONICS + 1):
            out[f"{name}_h{k}"] = line_ratio(orders, amp, k * base[name], cfg.tolerance)
    out["bpfi_sb_minus"] = line_ratio(orders, amp, base["bpfi"] - 1, cfg.tolerance)
    out["bpfi_sb_plus"] = line_ratio(orders, amp, base["bpfi"] + 1, cfg.tolerance)
    out["shaft_1x"] = line_ratio(orders, amp, 1.0, cfg.tolerance)
    out["shaft_2x"] = line_ratio(orders, amp, 2.0, cfg.tolerance)
    return out


def _kurtosis(x: np.ndarray) -> np.ndarray:
    c = x - x.mean(axis=-1, keepdims=True)
    m2 = np.mean(c**2, axis=-1)
    return np.mean(c**4, axis=-1) / np.maximum(m2**2, 1e-300) - 3.0


def _crest(x: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(x**2, axis=-1))
    return np.abs(x).max(axis=-1) / np.maximum(rms, 1e-300)


def _log_shares(orders: np.ndarray, amp: np.ndarray, bands) -> np.ndarray:
    power = amp**2
    total = np.maximum(power[:, 1:].sum(axis=1), 1e-300)
    cols = [power[:, (orders >= lo) & (orders < hi)].sum(axis=1) / total for lo, hi in bands]
    return np.log10(np.stack(cols, axis=1) + 1e-6)


def order_features(w: AngleWindows, orders_of: DefectFrequencies) -> tuple[np.ndarray, list[str]]:
    """(W, F) scale-free features of the windows of one recording and their names."""
    cfg = w.config
    lines = defect_lines(w, orders_of)
    blocks = {f"env_{k}": v for k, v in lines.items()}
    blocks["band_kurtosis"] = _kurtosis(w.band)
    blocks["band_crest"] = _crest(w.band)
    blocks["raw_kurtosis"] = _kurtosis(w.raw)
    blocks["raw_crest"] = _crest(w.raw)
    env_orders, env_amp = order_spectrum(w.envelope, cfg.samples_per_rev)
    top = cfg.samples_per_rev / 2
    env_bands = [(lo, lo + 2.0) for lo in np.arange(0.0, min(32.0, top), 2.0)]
    env_shares = _log_shares(env_orders, env_amp, env_bands)
    raw_orders, raw_amp = order_spectrum(w.raw, cfg.raw_samples_per_rev)
    raw_shares = _log_shares(raw_orders, raw_amp, RAW_ORDER_BANDS)
    names = list(blocks)
    cols = [blocks[n] for n in names]
    names += [f"env_share_{lo:g}_{hi:g}" for lo, hi in env_bands]
    cols += list(env_shares.T)
    names += [f"raw_share_{lo:g}_{hi:g}" for lo, hi in RAW_ORDER_BANDS]
    cols += list(raw_shares.T)
    # envelope modulation depth: envelope std over mean, scale-free
    names.append("env_depth")
    cols.append(w.envelope.std(axis=1) / np.maximum(w.envelope.mean(axis=1), 1e-300))
    return np.stack(cols, axis=1), names


def multiband_features(
    x: np.ndarray, fs_hz: float, rpm: float, orders_of: DefectFrequencies, cfg: OrderConfig
) -> tuple[np.ndarray, list[str]]:
    """(W, F) scale-free features over `cfg.demod_bands`, windows as `angle_windows(x, ...)`:
    every envelope line ratio of `defect_lines` at its largest over the bands (`envmax_*`), and
    the log kurtosis of the band-passed signal per band (`kurt_<lo>_<hi>`)."""
    lines, kurt = [], []
    for band in cfg.demod_bands:
        w = angle_windows(x, fs_hz, rpm, replace(cfg, envelope_band=band))
        per_band = defect_lines(w, orders_of)
        lines.append(np.stack(list(per_band.values()), axis=1))
        kurt.append(np.log(np.maximum(_kurtosis(w.band) + 3.0, 1e-3)))
    with warnings.catch_warnings():  # a line beyond the spectrum is NaN in every band
        warnings.simplefilter("ignore", RuntimeWarning)
        strongest = np.nanmax(np.stack(lines, axis=1), axis=1) if lines[0].size else lines[0]
    names = [f"envmax_{k}" for k in per_band]
    names += [f"kurt_{lo:g}_{hi:g}" for lo, hi in cfg.demod_bands]
    return np.hstack([strongest, np.stack(kurt, axis=1)]), names


def envelope_diagnosis(
    lines: dict[str, np.ndarray], locations: tuple[str, ...], threshold: float = 1.0
) -> np.ndarray:
    """The no-training envelope-analysis decision per window: the location whose defect order
    has the largest mean line ratio over harmonics 1..3, if that exceeds `threshold` (log
    peak-to-floor; 1.0 = a peak e times its neighbourhood), else "normal". Only locations in
    `locations` compete (a 3-class task has no ball)."""
    scores = {}
    for defect, location in LOCATION_OF.items():
        if location in locations:
            h = np.stack([lines[f"{defect}_h{k}"] for k in range(1, HARMONICS + 1)], axis=1)
            scores[location] = np.nanmean(np.where(np.isfinite(h), h, np.nan), axis=1)
    if not scores:
        raise ValueError(f"no fault location among {locations}")
    names = list(scores)
    s = np.nan_to_num(np.stack([scores[n] for n in names], axis=1), nan=-np.inf)
    best = s.argmax(axis=1)
    out = np.array(names, dtype=object)[best]
    out[s.max(axis=1) < threshold] = "normal"
    return out.astype(str)
