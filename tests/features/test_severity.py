"""ISO 20816 velocity RMS against hand-computed sines, the zone table, the plant's iso20816."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phm import plant as plant_module
from phm.errors import ConfigError
from phm.features import severity
from phm.features.severity import G_M_S2, SeverityZones, velocity_rms_mm_s
from phm.plant import load_plant

FS, N = 12800.0, 16384  # 1.28 s: bins of 0.78 Hz


def tone(amplitude: float, hz: float, n: int = N, fs: float = FS) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(n) / fs)


@pytest.mark.parametrize("hz", [25.0, 100.0, 157.3, 480.5, 950.0])
def test_a_sine_gives_the_hand_computed_velocity_rms(hz: float) -> None:
    # a = A sin(2 pi f t) in g -> v = -A g / (2 pi f) cos(...), v_rms = A g / (2 pi f sqrt 2)
    a = 0.5
    expected_mm_s = a * G_M_S2 / (2 * np.pi * hz * np.sqrt(2)) * 1e3
    got = velocity_rms_mm_s(tone(a, hz), FS, "g")
    assert got == pytest.approx(expected_mm_s, rel=0.01)


def test_the_unit_scales_the_result_and_snapshots_keep_their_shape() -> None:
    x = np.stack([tone(1.0, 100.0), tone(2.0, 100.0)])[None]  # (1, 2, N)
    in_g = velocity_rms_mm_s(x, FS, "g")
    in_si = velocity_rms_mm_s(x, FS, "m/s2")
    assert in_g.shape == (1, 2)
    np.testing.assert_allclose(in_g, in_si * G_M_S2)
    assert in_g[0, 1] == pytest.approx(2 * in_g[0, 0])
    assert velocity_rms_mm_s(x, FS, "g")[0, 0] == pytest.approx(
        1.0 * G_M_S2 / (2 * np.pi * 100.0 * np.sqrt(2)) * 1e3, rel=0.01
    )


@pytest.mark.parametrize("out_of_band_hz", [3.0, 2000.0, 4000.0])
def test_tones_outside_10_to_1000_hz_are_left_out(out_of_band_hz: float) -> None:
    inside = velocity_rms_mm_s(tone(0.2, 120.0), FS, "g")
    # the out-of-band tone alone would be large in velocity (3 Hz: 15x the in-band one)
    both = velocity_rms_mm_s(tone(0.2, 120.0) + tone(0.5, out_of_band_hz), FS, "g")
    assert both == pytest.approx(inside, rel=0.01)
    assert velocity_rms_mm_s(tone(0.5, out_of_band_hz), FS, "g") < 0.01 * inside


def test_a_rate_too_low_for_the_band_and_an_unknown_unit_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2000 Hz"):
        velocity_rms_mm_s(tone(1.0, 50.0, fs=1500.0), 1500.0)
    with pytest.raises(ValueError, match="unit 'mm/s2'"):
        velocity_rms_mm_s(tone(1.0, 50.0), FS, "mm/s2")


@pytest.mark.parametrize(
    ("group", "foundation", "boundaries"),
    [
        (1, "rigid", (2.3, 4.5, 7.1)),
        (1, "flexible", (3.5, 7.1, 11.0)),
        (2, "rigid", (1.4, 2.8, 4.5)),
        (2, "flexible", (2.3, 4.5, 7.1)),
    ],
)
def test_zone_boundaries_of_iso_10816_3(group: int, foundation: str, boundaries) -> None:
    zones = SeverityZones(group, foundation)
    assert zones.boundaries == boundaries
    ab, bc, cd = boundaries
    assert [zones.zone(v) for v in (0.0, ab, ab + 0.01, bc, bc + 0.01, cd, cd + 0.01)] == list(
        "AABBCCD"
    )


def test_an_unknown_group_or_foundation_is_refused() -> None:
    with pytest.raises(ValueError, match="group 3"):
        SeverityZones(3, "rigid")
    with pytest.raises(ValueError, match="'soft'"):
        SeverityZones(2, "soft")


def test_the_plant_knows_the_same_groups_foundations_and_units() -> None:
    assert plant_module.ISO20816_GROUPS == severity.GROUPS
    assert plant_module.ISO20816_FOUNDATIONS == severity.FOUNDATIONS
    assert set(plant_module.ACCEL_UNITS) == set(severity.ACCEL_UNITS)


PLANT = """
[types.rig]
scorer = "baseline"
{line}
[types.rig.streams.vibration]
kind = "waveform"
channels = ["housing"]
sampling_hz = 12800.0
samples = 1024
"""


def test_a_type_names_its_machine_group(tmp_path: Path) -> None:
    path = tmp_path / "plant.toml"
    path.write_text(PLANT.format(line='iso20816 = {group = 1, foundation = "flexible"}'))
    spec = load_plant(path).types["rig"].iso20816
    assert spec is not None
    assert (spec.group, spec.foundation, spec.accel_unit) == (1, "flexible", "g")
    path.write_text(PLANT.format(line=""))
    assert load_plant(path).types["rig"].iso20816 is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("iso20816 = {group = 3}", "group = 3: expected one of"),
        ('iso20816 = {group = "2"}', "group = '2'"),
        ('iso20816 = {foundation = "concrete"}', "foundation = 'concrete'"),
        ('iso20816 = {accel_unit = "mm/s"}', "accel_unit = 'mm/s'"),
        ("iso20816 = {group = 2, power_kw = 30}", "unknown keys \\['power_kw'\\]"),
        ("iso20816 = 2", "expected a table"),
    ],
)
def test_a_bad_iso20816_names_the_file_type_and_key(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "plant.toml"
    path.write_text(PLANT.format(line=line))
    with pytest.raises(ConfigError, match=message) as err:
        load_plant(path)
    assert str(path) in str(err.value) and "[types.rig] iso20816" in str(err.value)
