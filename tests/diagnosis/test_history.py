"""History detectors (`phm.diagnosis.history`) on hand-made feature histories and rows."""

from __future__ import annotations

import numpy as np

from phm.diagnosis.evidence import PumpBaseline
from phm.diagnosis.history import (
    defect_wander_symptom,
    fleet_temperature_symptom,
    roughness_symptom,
    startup_defect_symptom,
    temperature_creep_symptom,
    temperature_spike_symptom,
)


def feats(bpfo: float, bpfi: float = 0.2, hf: float = -7.2) -> dict[str, float]:
    return {"env_bpfo": bpfo, "env_bpfi": bpfi, "hf": hf}


def test_defect_line_from_start_up():
    assert startup_defect_symptom([feats(2.0), feats(1.8), feats(0.3)]) > 0.9
    assert startup_defect_symptom([feats(0.3), feats(0.1), feats(2.5)]) < 0.1
    assert startup_defect_symptom([feats(0.2), feats(0.2), feats(0.2, bpfi=2.2)]) < 0.1
    assert startup_defect_symptom([feats(0.2), feats(0.2, bpfi=2.2), feats(0.2, bpfi=2.0)]) > 0.9
    assert startup_defect_symptom([feats(2.0), feats(2.0)]) is None  # too few


def test_bpfo_line_wandering_between_snapshots():
    rng = np.random.default_rng(2)
    t = 3600.0 * np.arange(24)
    growing = 1.5 + 1.5 * (t / t[-1]) ** 2 + 0.2 * rng.standard_normal(24)
    assert defect_wander_symptom(t, growing) < 0.1
    # in the load zone part of the time: the ratio falls towards the floor and back
    zone = np.maximum(np.cos(2 * np.pi * t / (5 * 3600.0)), 0.0)
    wandering = 0.3 + 2.5 * zone + 0.2 * rng.standard_normal(24)
    assert defect_wander_symptom(t, wandering) > 0.9
    assert defect_wander_symptom(t, 0.2 + 0.3 * rng.standard_normal(24)) is None  # no line
    assert defect_wander_symptom(t[:6], wandering[:6]) is None


def test_roughness_before_the_defect_line():
    t = np.linspace(1.0, 16.0, 16)
    onset = 9  # a line from the tenth snapshot on
    lines = [2.5 if i >= onset else 0.2 for i in range(16)]
    rough = [feats(b, hf=-7.2 + 0.03 * i) for i, b in enumerate(lines)]
    smooth = [feats(b, hf=-7.2 + (0.3 if b > 1 else 0.005 * (i % 2))) for i, b in enumerate(lines)]
    assert roughness_symptom(t, rough) > 0.9
    # the spall raises the floor too, but only once its line is there: that does not count
    assert roughness_symptom(t, smooth) < 0.1
    assert roughness_symptom(t, [feats(2.5, hf=-7.0 + 0.1 * i) for i in range(16)]) is None


def baseline(de_over_ambient_at_70: float) -> PumpBaseline:
    b = PumpBaseline()
    b.temp_coef = np.array([[de_over_ambient_at_70 - 7.0, 10.0], [12.0, 8.0], [25.0, 45.0]])
    b.temp_sd = np.array([0.2, 0.2, 0.2])
    return b


def test_hotter_than_the_sister_pumps():
    rng = np.random.default_rng(3)
    fleet = [baseline(22.0 + 1.5 * z) for z in rng.standard_normal(12)]
    key = "temp.bearing_de_above_fleet"
    assert fleet_temperature_symptom(baseline(31.0), fleet)[key] > 0.9
    assert fleet_temperature_symptom(baseline(23.0), fleet)[key] < 0.1
    assert fleet_temperature_symptom(baseline(31.0), fleet[:3]) == {}  # too few sisters
    assert fleet_temperature_symptom(PumpBaseline(), fleet) == {}


def test_temperature_spikes_over_the_slow_trend():
    rng = np.random.default_rng(4)
    t = 120.0 * np.arange(720)  # a day of rows every two minutes
    load = 70 + 10 * np.sin(2 * np.pi * t / 86_400)
    ambient = 25 + 4 * np.sin(2 * np.pi * t / 86_400 + 1.0)
    slow = 20 * (t / t[-1]) ** 3  # a lubrication breakdown heating the bearing
    de = ambient + 8.0 + 10 * load / 100 + slow + 0.15 * rng.standard_normal(720)
    rows = np.stack([de, ambient + 10, ambient + 50, ambient], axis=1)
    b = baseline(15.0)
    key = "temp.bearing_de_spikes"
    assert temperature_spike_symptom(t, rows, load, b)[key] < 0.1
    bursts = 6.0 * np.exp(4.0 * (np.cos(2 * np.pi * t / (4 * 3600.0)) - 1.0))
    rows[:, 0] += bursts
    assert temperature_spike_symptom(t, rows, load, b)[key] > 0.9
    assert temperature_spike_symptom(t[:30], rows[:30], load[:30], b) == {}


def test_temperature_creeping_over_the_early_history():
    rng = np.random.default_rng(5)
    t = np.linspace(3600.0, 0.4 * 86_400.0, 24)
    load = 70 + 10 * np.sin(2 * np.pi * t / 86_400)
    ambient = 25 + 4 * np.sin(2 * np.pi * t / 86_400 + 1.0)
    de = ambient + 8.0 + 10 * load / 100 + 0.15 * rng.standard_normal(24)
    rows = np.stack([de, ambient + 10, ambient + 50, ambient], axis=1)
    # a baseline a little off in load, as one fitted over a day or two is
    b = baseline(15.0)
    b.temp_coef[0, 1] = 11.0
    key = "temp.bearing_de_creep"
    assert temperature_creep_symptom(t, rows, load, b)[key] < 0.1
    rows[:, 0] += 2.5 * t / t[-1]  # the grease oxidising
    assert temperature_creep_symptom(t, rows, load, b)[key] > 0.9
    assert temperature_creep_symptom(t[:5], rows[:5], load[:5], b) == {}
