"""Vibration features of waveform snapshots: time-domain statistics, band energies, envelope
spectrum and rolling-element bearing defect frequencies. Pure numpy/scipy.

Every function takes `x` shaped (S, C, L) (snapshots x channels x samples) or (S, L) and
returns one value per snapshot and channel, (S, C) or (S,), computed along the last axis.
Large inputs are processed in chunks of snapshots so temporaries stay small.

Bearing defect frequencies (multiples of the shaft frequency fr, d ball diameter, D pitch
diameter, n balls, contact angle a):
    FTF  = fr/2 * (1 - d/D cos a)                 cage (fundamental train)
    BPFO = n fr/2 * (1 - d/D cos a)               ball pass, outer race
    BPFI = n fr/2 * (1 + d/D cos a)               ball pass, inner race
    BSF  = D fr/(2 d) * (1 - (d/D cos a)^2)       ball spin (one ball revolution)
BSF here is the classical ball *spin* frequency. The CWRU data center's "rolling element"
figure (4.7135 for the SKF 6205) is 2 x BSF: a spalled ball strikes both races once per spin.
The envelope features look at harmonics 1..k of each frequency, so 2 x BSF is covered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import signal as sps

if TYPE_CHECKING:
    from phm.plant import PumpSpec

CHUNK_SNAPSHOTS = 256
DEFECT_NAMES = ("bpfi", "bpfo", "bsf", "ftf")


@dataclass(frozen=True)
class DefectFrequencies:
    """Bearing defect frequencies, in Hz (or multiples of the shaft frequency)."""

    bpfi: float
    bpfo: float
    bsf: float
    ftf: float

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in DEFECT_NAMES}


@dataclass(frozen=True)
class BearingGeometry:
    """Rolling-element bearing geometry; diameters in any one unit (only their ratio matters)."""

    n_balls: int
    ball_diameter: float
    pitch_diameter: float
    contact_angle_deg: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.n_balls < 1:
            raise ValueError(f"n_balls must be >= 1, got {self.n_balls}")
        if not 0 < self.ball_diameter < self.pitch_diameter:
            raise ValueError(
                f"need 0 < ball_diameter < pitch_diameter, got {self.ball_diameter} and "
                f"{self.pitch_diameter}"
            )

    @classmethod
    def from_spec(cls, spec: PumpSpec) -> BearingGeometry:
        """The drive-end bearing of a pump's `phm.plant.PumpSpec` (diameters in mm)."""
        return cls(
            spec.n_balls,
            spec.ball_diameter_mm,
            spec.pitch_diameter_mm,
            spec.contact_angle_deg,
            spec.bearing,
        )

    def multiples(self) -> DefectFrequencies:
        """Defect frequencies as multiples of the shaft rotation frequency."""
        r = (
            self.ball_diameter
            / self.pitch_diameter
            * math.cos(math.radians(self.contact_angle_deg))
        )
        return DefectFrequencies(
            bpfi=self.n_balls / 2 * (1 + r),
            bpfo=self.n_balls / 2 * (1 - r),
            bsf=self.pitch_diameter / (2 * self.ball_diameter) * (1 - r * r),
            ftf=0.5 * (1 - r),
        )

    def defect_frequencies(self, shaft_hz: float) -> DefectFrequencies:
        """Defect frequencies in Hz at a shaft speed in Hz (rpm / 60)."""
        m = self.multiples()
        return DefectFrequencies(*(shaft_hz * v for v in (m.bpfi, m.bpfo, m.bsf, m.ftf)))


# CWRU drive-end bearing (inches), as published by the Case Western data center.
SKF_6205 = BearingGeometry(9, 0.3126, 1.537, 0.0, "SKF 6205-2RS (CWRU drive end)")

# PRONOSTIA test bearing (mm) as quoted in secondary literature on the platform (13 rollers of
# 3.5 mm, pitch diameter 25.6 mm from 22.1/29.1 mm race diameters). Not checked against the
# manufacturer's sheet here, so the FEMTO bench uses band energies only, not these frequencies.
PRONOSTIA_BEARING = BearingGeometry(13, 3.5, 25.6, 0.0, "PRONOSTIA test bearing (unverified)")


def _as_3d(x: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(x)
    if x.ndim == 2:
        return x[:, None, :], True
    if x.ndim == 3:
        return x, False
    raise ValueError(
        f"expected (snapshots, channels, samples) or (snapshots, samples), got {x.shape}"
    )


def _chunked(
    x: np.ndarray, fn: Callable[[np.ndarray, slice], np.ndarray], chunk: int = CHUNK_SNAPSHOTS
) -> np.ndarray:
    """Apply fn(x3d[chunk], rows) over chunks of snapshots; fn returns (s, C, ...)."""
    x3, squeeze = _as_3d(x)
    parts = [fn(x3[i : i + chunk], slice(i, i + chunk)) for i in range(0, x3.shape[0], chunk)]
    if not parts:
        parts = [fn(x3, slice(0, 0))]
    out = np.concatenate(parts, axis=0)
    return out[:, 0] if squeeze else out


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def rms(x: np.ndarray) -> np.ndarray:
    """Root mean square along samples: (S, C) or (S,)."""
    return _chunked(x, lambda b, _: np.sqrt(np.mean(_f64(b) ** 2, axis=-1)))


def peak(x: np.ndarray) -> np.ndarray:
    """Largest absolute value along samples."""
    return _chunked(x, lambda b, _: np.max(np.abs(_f64(b)), axis=-1))


def crest_factor(x: np.ndarray) -> np.ndarray:
    """Peak / RMS (sqrt 2 for a sine); 0 for an all-zero snapshot."""
    p, r = peak(x), rms(x)
    return np.divide(p, r, out=np.zeros_like(p), where=r > 0)


def kurtosis(x: np.ndarray) -> np.ndarray:
    """Pearson kurtosis m4 / m2^2 (3 for a Gaussian, 1.5 for a sine); 0 for a constant."""

    def fn(b: np.ndarray, _: slice) -> np.ndarray:
        d = _f64(b) - np.mean(b, axis=-1, keepdims=True, dtype=np.float64)
        d2 = d * d
        m2 = d2.mean(axis=-1)
        m4 = (d2 * d2).mean(axis=-1)
        return np.divide(m4, m2 * m2, out=np.zeros_like(m4), where=m2 > 0)

    return _chunked(x, fn)


def band_edges(sampling_rate_hz: float, n_bands: int, f_max_hz: float | None = None) -> np.ndarray:
    """n_bands + 1 equally spaced band edges from 0 to f_max (default Nyquist), in Hz."""
    if n_bands < 1:
        raise ValueError(f"n_bands must be >= 1, got {n_bands}")
    nyquist = sampling_rate_hz / 2
    top = nyquist if f_max_hz is None else min(f_max_hz, nyquist)
    return np.linspace(0.0, top, n_bands + 1)


def _one_sided_power(b: np.ndarray) -> np.ndarray:
    """Per-bin power whose sum over bins is the mean square of the signal (Parseval)."""
    n = b.shape[-1]
    spec = np.fft.rfft(_f64(b), axis=-1)
    power = (spec.real**2 + spec.imag**2) / (n * n)
    power[..., 1 : (n + 1) // 2] *= 2  # fold negative frequencies; DC and Nyquist once
    return power


def band_energies(
    x: np.ndarray, sampling_rate_hz: float, n_bands: int = 16, f_max_hz: float | None = None
) -> np.ndarray:
    """Mean-square energy per equal-width FFT band from 0 to f_max: (S, C, n_bands) or (S, n).

    Over the full band (f_max = Nyquist) the bands sum to the mean square of the signal.
    A bin belongs to the band [lo, hi); the last band includes its upper edge.
    """
    edges = band_edges(sampling_rate_hz, n_bands, f_max_hz)
    n = np.asarray(x).shape[-1]
    freqs = np.fft.rfftfreq(n, 1.0 / sampling_rate_hz)
    lo = np.searchsorted(freqs, edges[:-1], side="left")
    hi = np.searchsorted(freqs, edges[1:], side="left")
    # The last band includes its top edge (and the Nyquist bin, whatever its rounding).
    top_is_nyquist = edges[-1] >= sampling_rate_hz / 2
    hi[-1] = freqs.size if top_is_nyquist else np.searchsorted(freqs, edges[-1], side="right")

    def fn(b: np.ndarray, _: slice) -> np.ndarray:
        power = _one_sided_power(b)
        cs = np.concatenate([np.zeros((*power.shape[:-1], 1)), np.cumsum(power, axis=-1)], -1)
        return cs[..., hi] - cs[..., lo]

    return _chunked(x, fn)


def default_envelope_band(sampling_rate_hz: float) -> tuple[float, float]:
    """Band-pass for envelope analysis when none is given: 10% to 40% of the sampling rate."""
    return 0.1 * sampling_rate_hz, 0.4 * sampling_rate_hz


def envelope(
    x: np.ndarray,
    sampling_rate_hz: float,
    band: tuple[float, float] | None = None,
    order: int = 4,
) -> np.ndarray:
    """Amplitude envelope |hilbert(bandpass(x))|, same shape as x.

    The zero-phase Butterworth band-pass (sosfiltfilt) isolates the structural resonance
    that bearing impacts excite; the Hilbert magnitude demodulates it.
    """
    lo, hi = default_envelope_band(sampling_rate_hz) if band is None else band
    nyquist = sampling_rate_hz / 2
    if not 0 < lo < hi < nyquist:
        raise ValueError(f"envelope band must satisfy 0 < lo < hi < {nyquist} Hz, got {band}")
    sos = sps.butter(order, [lo, hi], btype="bandpass", fs=sampling_rate_hz, output="sos")

    def fn(b: np.ndarray, _: slice) -> np.ndarray:
        filtered = sps.sosfiltfilt(sos, _f64(b), axis=-1)
        return np.abs(sps.hilbert(filtered, axis=-1))

    return _chunked(x, fn)


def envelope_spectrum(
    x: np.ndarray,
    sampling_rate_hz: float,
    band: tuple[float, float] | None = None,
    order: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """(freqs (F,), amplitude (S, C, F) or (S, F)) of the mean-removed envelope, Hann window."""
    n = np.asarray(x).shape[-1]
    window = np.hanning(n)
    scale = 2.0 / window.sum()

    def fn(b: np.ndarray, rows: slice) -> np.ndarray:
        env = _as_3d(envelope(b, sampling_rate_hz, band, order))[0]
        env = env - env.mean(axis=-1, keepdims=True)
        return np.abs(np.fft.rfft(env * window, axis=-1)) * scale

    freqs = np.fft.rfftfreq(n, 1.0 / sampling_rate_hz)
    return freqs, _chunked(x, fn)


def defect_band_energies(
    freqs: np.ndarray,
    spectrum: np.ndarray,
    targets_hz: np.ndarray | float,
    harmonics: int = 2,
    tolerance: float = 0.03,
) -> np.ndarray:
    """Share of envelope-spectrum energy within +-tolerance of harmonics 1..k of a frequency.

    spectrum: (S, C, F) or (S, F) amplitudes; targets_hz: scalar or (S,) per snapshot (shaft
    speed may differ between snapshots). The half-width of each band is tolerance x the
    harmonic frequency, at least one frequency bin. Returns (S, C) or (S,) in [0, 1].
    """
    spec, squeeze = _as_3d(spectrum)
    s = spec.shape[0]
    targets = np.broadcast_to(np.asarray(targets_hz, dtype=np.float64), (s,))
    df = freqs[1] - freqs[0] if freqs.size > 1 else 1.0
    power = spec.astype(np.float64) ** 2
    total = power[..., 1:].sum(axis=-1)
    mask = np.zeros((s, freqs.size), dtype=bool)
    for k in range(1, harmonics + 1):
        centre = k * targets[:, None]
        half = np.maximum(tolerance * centre, df)
        mask |= np.abs(freqs[None, :] - centre) <= half
    mask[:, 0] = False
    inside = np.einsum("scf,sf->sc", power, mask.astype(np.float64))
    out = np.divide(inside, total, out=np.zeros_like(inside), where=total > 0)
    return out[:, 0] if squeeze else out


def spectral_features(
    x: np.ndarray,
    sampling_rate_hz: float,
    *,
    channels: Sequence[str] | None = None,
    n_bands: int = 16,
    f_max_hz: float | None = None,
    shaft_hz: np.ndarray | float | None = None,
    geometry: BearingGeometry | None = None,
    envelope_band: tuple[float, float] | None = None,
    harmonics: int = 2,
    tolerance: float = 0.03,
) -> tuple[np.ndarray, list[str]]:
    """A feature matrix (S, F) and its column names, per channel:

    rms, peak, crest, kurtosis, log10 band energies band00..; with `geometry` and `shaft_hz`
    (scalar or (S,) Hz) also the envelope-spectrum energy share at BPFI/BPFO/BSF/FTF.
    """
    x3, _ = _as_3d(x)
    names_ch = list(channels) if channels is not None else [f"ch{i}" for i in range(x3.shape[1])]
    if len(names_ch) != x3.shape[1]:
        raise ValueError(f"{len(names_ch)} channel names for {x3.shape[1]} channels")
    blocks: list[tuple[str, np.ndarray]] = [
        ("rms", rms(x3)),
        ("peak", peak(x3)),
        ("crest", crest_factor(x3)),
        ("kurtosis", kurtosis(x3)),
    ]
    bands = np.log10(band_energies(x3, sampling_rate_hz, n_bands, f_max_hz) + 1e-12)
    blocks += [(f"band{b:02d}", bands[..., b]) for b in range(n_bands)]
    if geometry is not None:
        if shaft_hz is None:
            raise ValueError("defect-frequency features need shaft_hz along with geometry")
        freqs, spec = envelope_spectrum(x3, sampling_rate_hz, envelope_band)
        shaft = np.broadcast_to(np.asarray(shaft_hz, dtype=np.float64), (x3.shape[0],))
        mult = geometry.multiples().as_dict()
        for name in DEFECT_NAMES:
            energy = defect_band_energies(freqs, spec, shaft * mult[name], harmonics, tolerance)
            blocks.append((f"env_{name}", energy))
    columns, names = [], []
    for c, ch in enumerate(names_ch):
        for feature, values in blocks:
            columns.append(values[:, c])
            names.append(f"{ch}_{feature}")
    matrix = np.stack(columns, axis=1) if columns else np.zeros((x3.shape[0], 0))
    return matrix, names
