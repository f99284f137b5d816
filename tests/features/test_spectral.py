"""Spectral features on signals whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phm.features.spectral import (
    SKF_6205,
    BearingGeometry,
    band_energies,
    crest_factor,
    defect_band_energies,
    envelope_spectrum,
    kurtosis,
    peak,
    rms,
    spectral_features,
)

FS = 12_000.0


def sine(amplitude: float, freq: float, n: int = 12_000, fs: float = FS) -> np.ndarray:
    t = np.arange(n) / fs
    return amplitude * np.sin(2 * np.pi * freq * t)


def test_rms_peak_crest_of_a_sine() -> None:
    x = np.stack([sine(2.0, 50.0), sine(0.5, 120.0)])  # (S=2, L): whole periods
    np.testing.assert_allclose(rms(x), [2.0 / math.sqrt(2), 0.5 / math.sqrt(2)], rtol=1e-9)
    np.testing.assert_allclose(peak(x), [2.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(crest_factor(x), math.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(kurtosis(x), 1.5, rtol=1e-6)


def test_kurtosis_of_gaussian_is_three_and_shapes_follow_input() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 2, 50_000)).astype(np.float32)  # (S, C, L)
    k = kurtosis(x)
    assert k.shape == (4, 2)
    np.testing.assert_allclose(k, 3.0, atol=0.1)
    assert rms(x).shape == (4, 2) and rms(x[:, 0]).shape == (4,)
    assert kurtosis(np.zeros((1, 100))).tolist() == [0.0]
    assert crest_factor(np.zeros((1, 100))).tolist() == [0.0]


def test_chunking_gives_identical_values() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 1, 256))  # more snapshots than one chunk
    whole = np.array([np.sqrt(np.mean(s**2)) for s in x[:, 0]])
    np.testing.assert_allclose(rms(x)[:, 0], whole, rtol=1e-12)


def test_band_energy_of_a_sine_sits_in_its_band_and_sums_to_mean_square() -> None:
    x = sine(3.0, 1_000.0)[None, :]  # bands of 375 Hz: 1000 Hz is in band 2
    e = band_energies(x, FS, n_bands=16)
    assert e.shape == (1, 16)
    assert int(np.argmax(e[0])) == 2
    np.testing.assert_allclose(e.sum(), 9.0 / 2, rtol=1e-9)
    np.testing.assert_allclose(e[0, 2], 9.0 / 2, rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(8, 300), n_bands=st.integers(1, 40), seed=st.integers(0, 1000))
def test_band_energies_obey_parseval(n: int, n_bands: int, seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(2, n))
    e = band_energies(x, 1000.0, n_bands=n_bands)
    np.testing.assert_allclose(e.sum(axis=-1), np.mean(x**2, axis=-1), rtol=1e-9)
    assert np.all(e >= 0)


def test_skf6205_multiples_match_the_data_center() -> None:
    m = SKF_6205.multiples()
    assert m.bpfi == pytest.approx(5.4152, rel=1e-3)
    assert m.bpfo == pytest.approx(3.5848, rel=1e-3)
    assert m.ftf == pytest.approx(0.39828, rel=1e-3)
    # The data center's "rolling element" figure is 2 x the ball spin frequency.
    assert 2 * m.bsf == pytest.approx(4.7135, rel=1e-2)
    hz = SKF_6205.defect_frequencies(1797 / 60)
    assert hz.bpfi == pytest.approx(5.4152 * 1797 / 60, rel=1e-3)


def test_bad_geometry_is_refused() -> None:
    with pytest.raises(ValueError, match="ball_diameter"):
        BearingGeometry(9, 2.0, 1.0)


def am_signal(defect_hz: float, n: int = 24_000, seed: int = 0) -> np.ndarray:
    """A 3 kHz resonance amplitude-modulated at defect_hz, plus noise."""
    t = np.arange(n) / FS
    carrier = np.sin(2 * np.pi * 3_000.0 * t)
    mod = 1.0 + 0.8 * np.cos(2 * np.pi * defect_hz * t)
    noise = np.random.default_rng(seed).normal(scale=0.2, size=n)
    return mod * carrier + noise


def test_envelope_spectrum_peaks_at_the_modulating_defect_frequency() -> None:
    shaft_hz = 1797 / 60
    bpfi = SKF_6205.defect_frequencies(shaft_hz).bpfi  # 162.2 Hz
    x = am_signal(bpfi)[None, None, :]
    freqs, spec = envelope_spectrum(x, FS, band=(2_000.0, 4_000.0))
    assert spec.shape == (1, 1, freqs.size)
    f_peak = freqs[np.argmax(spec[0, 0, 1:]) + 1]
    assert abs(f_peak - bpfi) <= freqs[1]
    shares = {
        name: defect_band_energies(freqs, spec, shaft_hz * mult)[0, 0]
        for name, mult in SKF_6205.multiples().as_dict().items()
    }
    assert max(shares, key=shares.get) == "bpfi"
    assert shares["bpfi"] > 0.5 and shares["bpfo"] < 0.05


def test_spectral_features_names_shapes_and_per_snapshot_speed() -> None:
    shaft = np.array([1797 / 60, 1772 / 60])
    x = np.stack([am_signal(SKF_6205.defect_frequencies(s).bpfo, 4096) for s in shaft])
    matrix, names = spectral_features(
        x[:, None, :], FS, channels=["DE"], n_bands=8, shaft_hz=shaft, geometry=SKF_6205
    )
    assert matrix.shape == (2, 4 + 8 + 4) and len(names) == matrix.shape[1]
    assert names[:4] == ["DE_rms", "DE_peak", "DE_crest", "DE_kurtosis"]
    env = matrix[:, [names.index(f"DE_env_{k}") for k in ("bpfi", "bpfo", "bsf", "ftf")]]
    assert np.all(np.argmax(env, axis=1) == 1)  # bpfo wins in both snapshots
    plain, plain_names = spectral_features(x, FS, n_bands=4)
    assert plain.shape == (2, 8) and plain_names[0] == "ch0_rms"
    with pytest.raises(ValueError, match="shaft_hz"):
        spectral_features(x, FS, geometry=SKF_6205)
