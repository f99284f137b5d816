"""The pump signal model: each fault shows the spectral and process signature it has in reality."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from phm.features import spectral as sp
from phm.plant import PumpSpec, load_plant
from phm.sim.rotating import (
    FAULT_MODES,
    ROOT_CAUSES,
    FaultScenario,
    PumpSimulator,
    severity_curve,
)

FS = 12800.0
ONSET, FAILURE = 1_000.0, 100_000.0
LATE = 95_000.0  # severity ~0.8
EARLY = 500.0  # before onset


@pytest.fixture(scope="module")
def meta() -> dict:
    return load_plant().types["pump"].meta


def pump(meta: dict, mode: str | None, seed: int = 3) -> PumpSimulator:
    fault = FaultScenario(mode, ROOT_CAUSES[mode][0], ONSET, FAILURE) if mode else None
    return PumpSimulator("pump-001", meta, seed, fault)


def amplitude_at(x: np.ndarray, f_hz: float) -> float:
    """Hann-windowed spectrum amplitude (g) of channel 0 near f_hz (+-1 bin)."""
    w = np.hanning(x.shape[-1])
    spec = np.abs(np.fft.rfft(x[0] * w)) * 2 / w.sum()
    k = round(f_hz * x.shape[-1] / FS)
    return float(spec[k - 1 : k + 2].max())


def hf_rms(x: np.ndarray) -> float:
    """RMS of channel 0 above 3.2 kHz."""
    return float(np.sqrt(sp.band_energies(x[None], FS, 4)[0, 0, 1:].sum()))


def mean_over(sim: PumpSimulator, t: float, fn, k: int = 4) -> float:
    return float(np.mean([fn(sim.snapshot(t + 600 * i)) for i in range(k)]))


def env_spectrum(sim: PumpSimulator, t: float, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Envelope spectrum of the drive-end channel averaged over k snapshots near t."""
    x = sim.snapshots(t + 60 * np.arange(k))
    freqs, spec = sp.envelope_spectrum(x, FS, band=(2000.0, 4500.0))
    return freqs, spec[:, 0].mean(axis=0)


@pytest.mark.parametrize("mode,rate", [("inner_race", "bpfi"), ("outer_race", "bpfo")])
def test_bearing_fault_envelope_peaks_at_defect_frequency(meta, mode, rate) -> None:
    sim = pump(meta, mode)
    freqs, env = env_spectrum(sim, LATE)
    target = getattr(sim.defect_frequencies(LATE), rate)
    band = (freqs > 10) & (freqs < 400)
    peak = freqs[band][np.argmax(env[band])]
    assert abs(peak - target) / target < 0.02, (peak, target)
    # the defect frequency stands far above the envelope floor
    assert env[band].max() > 8 * np.median(env[band])


def test_inner_race_has_shaft_sidebands_outer_race_not(meta) -> None:
    def sideband_ratio(mode: str, rate: str) -> float:
        sim = pump(meta, mode)
        freqs, env = env_spectrum(sim, LATE, k=6)
        fr = float(sim.shaft_hz(LATE))
        f0 = getattr(sim.defect_frequencies(LATE), rate)

        def at(f: float) -> float:
            k = int(np.argmin(np.abs(freqs - f)))
            return float(env[k - 1 : k + 2].max())

        floor = np.median(env[(freqs > 10) & (freqs < 400)])
        return min(at(f0 - fr), at(f0 + fr)) / floor

    assert sideband_ratio("inner_race", "bpfi") > 4
    assert sideband_ratio("outer_race", "bpfo") < 3


def test_healthy_pump_has_no_defect_peak(meta) -> None:
    sim = pump(meta, None)
    freqs, _env = env_spectrum(sim, LATE)
    geometry = sim.geometry
    x = sim.snapshots(LATE + 60 * np.arange(4))
    shaft = float(sim.shaft_hz(LATE))
    _, spec = sp.envelope_spectrum(x, FS, band=(2000.0, 4500.0))
    for name in ("bpfi", "bpfo"):
        target = shaft * getattr(geometry.multiples(), name)
        share = sp.defect_band_energies(freqs, spec[:, 0], target, harmonics=2).mean()
        assert share < 0.05, (name, share)
    faulty = pump(meta, "inner_race").snapshots(LATE + 60 * np.arange(4))
    _, fspec = sp.envelope_spectrum(faulty, FS, band=(2000.0, 4500.0))
    target = shaft * geometry.multiples().bpfi
    assert sp.defect_band_energies(freqs, fspec[:, 0], target, harmonics=2).mean() > 0.2


def test_imbalance_raises_1x(meta) -> None:
    healthy, faulty = pump(meta, None), pump(meta, "imbalance")
    fr = float(healthy.shaft_hz(LATE))
    a_h = mean_over(healthy, LATE, lambda x: amplitude_at(x, fr))
    a_f = mean_over(faulty, LATE, lambda x: amplitude_at(x, fr))
    assert a_f > 4 * a_h
    # and not at onset
    a_0 = mean_over(faulty, EARLY, lambda x: amplitude_at(x, fr))
    assert a_0 == pytest.approx(mean_over(healthy, EARLY, lambda x: amplitude_at(x, fr)), rel=0.05)


def test_misalignment_raises_2x_above_1x(meta) -> None:
    healthy, faulty = pump(meta, None), pump(meta, "misalignment")
    fr = float(healthy.shaft_hz(LATE))
    two_h = mean_over(healthy, LATE, lambda x: amplitude_at(x, 2 * fr))
    two_f = mean_over(faulty, LATE, lambda x: amplitude_at(x, 2 * fr))
    one_f = mean_over(faulty, LATE, lambda x: amplitude_at(x, fr))
    three_f = mean_over(faulty, LATE, lambda x: amplitude_at(x, 3 * fr))
    three_h = mean_over(healthy, LATE, lambda x: amplitude_at(x, 3 * fr))
    assert two_f > 5 * two_h and two_f > one_f and three_f > 5 * three_h


def test_looseness_raises_half_order_and_truncates(meta) -> None:
    healthy, faulty = pump(meta, None), pump(meta, "looseness")
    fr = float(healthy.shaft_hz(LATE))
    half_h = mean_over(healthy, LATE, lambda x: amplitude_at(x, 0.5 * fr))
    half_f = mean_over(faulty, LATE, lambda x: amplitude_at(x, 0.5 * fr))
    assert half_f > 5 * half_h
    x = faulty.snapshot(LATE)[0]
    # truncated on the top side: the top few % of samples all sit at one level
    assert np.mean(x >= x.max() - 1e-6) > 0.05
    assert np.mean(np.abs(x - x.min()) < 1e-6) < 0.01


def test_lubrication_raises_hf_and_bearing_temperature(meta) -> None:
    healthy, faulty = pump(meta, None), pump(meta, "lubrication")
    assert mean_over(faulty, LATE, hf_rms) > 3 * mean_over(healthy, LATE, hf_rms)
    t = LATE + np.arange(10.0)
    d_temp = faulty.temperature_rows(t)[:, 0].mean() - healthy.temperature_rows(t)[:, 0].mean()
    assert d_temp > 15
    winding = faulty.temperature_rows(t)[:, 2].mean() - healthy.temperature_rows(t)[:, 2].mean()
    assert abs(winding) < 1


def test_cavitation_lowers_suction_and_raises_hf(meta) -> None:
    healthy, faulty = pump(meta, None), pump(meta, "cavitation")
    assert mean_over(faulty, LATE, hf_rms) > 3 * mean_over(healthy, LATE, hf_rms)
    t = LATE + np.arange(300.0)
    ph, pf = healthy.process_rows(t), faulty.process_rows(t)
    assert pf[:, 2].mean() < 0.6 * ph[:, 2].mean()  # suction_kpa
    assert pf[:, 4].mean() < 0.85 * ph[:, 4].mean()  # flow_m3h drops
    # flow unsteady: short-term scatter grows
    assert np.std(np.diff(pf[:, 4])) > 5 * np.std(np.diff(ph[:, 4]))


def test_speed_slips_with_load(meta) -> None:
    sim = pump(meta, None)
    t = np.linspace(0, 86_400, 500)
    load, rpm = sim.load_pct(t), sim.process_rows(t)[:, 0]
    assert np.corrcoef(load, rpm)[0, 1] < -0.95
    assert rpm.min() > 1740 and rpm.max() < 1797


def test_winding_temperature_follows_load(meta) -> None:
    sim = pump(meta, None)
    t = np.linspace(0, 86_400, 500)
    assert np.corrcoef(sim.load_pct(t), sim.temperature_rows(t)[:, 2])[0, 1] > 0.9


@pytest.mark.parametrize("mode", FAULT_MODES)
def test_deterministic_for_a_seed(meta, mode) -> None:
    a, b, c = pump(meta, mode, 7), pump(meta, mode, 7), pump(meta, mode, 8)
    np.testing.assert_array_equal(a.snapshot(LATE), b.snapshot(LATE))
    np.testing.assert_array_equal(a.process_rows(np.arange(5.0)), b.process_rows(np.arange(5.0)))
    assert not np.array_equal(a.snapshot(LATE), c.snapshot(LATE))
    assert a.snapshot(LATE).dtype == np.float32 and a.snapshot(LATE).shape == (2, 4096)


def test_severity_monotone_from_onset_to_failure() -> None:
    t = np.linspace(0, 2 * FAILURE, 10_001)
    s = severity_curve(t, ONSET, FAILURE)
    assert np.all(np.diff(s) >= 0)
    assert s[t < ONSET].max() == 0 and s[t >= FAILURE].min() == 1
    mid = severity_curve((ONSET + FAILURE) / 2, ONSET, FAILURE)
    assert 0 < mid < 0.3  # Paris-like: slow first, fast late


def test_bearing_rms_grows_with_severity(meta) -> None:
    sim = pump(meta, "outer_race")
    times = np.linspace(ONSET, FAILURE, 6)
    kurt = [mean_over(sim, t, lambda x: float(sp.kurtosis(x[None])[0, 0]), k=3) for t in times]
    assert kurt[-1] > kurt[0] + 3
    assert all(b >= a - 0.5 for a, b in itertools.pairwise(kurt))


def test_scenario_draw_is_valid_and_varied() -> None:
    rng = np.random.default_rng(0)
    drawn = [FaultScenario.draw(rng) for _ in range(200)]
    assert {d.mode for d in drawn} == set(FAULT_MODES)
    assert all(d.root_cause in ROOT_CAUSES[d.mode] for d in drawn)
    assert all(0 < d.onset_s < d.failure_s for d in drawn)
    assert len({d.root_cause for d in drawn if d.mode == "misalignment"}) > 1
    with pytest.raises(ValueError, match="fault mode"):
        FaultScenario("rust", "x", 0, 1)


def test_the_spec_and_its_meta_table_give_the_same_pump(meta) -> None:
    spec = PumpSpec.from_meta(meta)
    a, b = PumpSimulator("p", spec, 3), PumpSimulator("p", meta, 3)
    assert a.spec == b.spec and a.meta == meta
    np.testing.assert_array_equal(a.snapshot(5000.0), b.snapshot(5000.0))
