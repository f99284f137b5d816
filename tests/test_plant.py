"""Plant registry: the shipped plant loads; fleets resize; bad files name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from phm.errors import ConfigError
from phm.features.spectral import BearingGeometry
from phm.plant import Plant, PumpSpec, load_plant, pump_spec


def test_shipped_plant_and_resized_fleet() -> None:
    plant = load_plant()
    assert {a.type for a in plant.assets.values()} == {"pump", "ion_mill"}
    big = load_plant(assets=40)
    assert len(big.assets) == 40
    pumps = sum(a.type == "pump" for a in big.assets.values())
    assert pumps == 30  # 6:2 kept
    assert "pump-030" in big.assets and "ion_mill-010" in big.assets


ONE = "[types.a.streams.process]\nchannels=['x']\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no \\[types"),
        ("[types.a]\n", "has no streams"),
        ("[types.a.streams.sound]\nchannels=['x']\n", "unknown stream"),
        ("[types.a.streams.process]\n", "at least one channel"),
        ("[types.a.streams.process]\nchannels=['x','x']\n", "duplicate channel"),
        ("[types.a.streams.vibration]\nkind='waveform'\nchannels=['x']\n", "samples >= 2"),
        ("[types.a.streams.process]\nchannels=['x']\nnullable=['y']\n", "nullable"),
        (
            "[types.a.streams.process]\nchannels=['x']\n[[assets]]\nid='q'\ntype='b'\n",
            "unknown type",
        ),
        (
            "[types.a.streams.process]\nchannels=['x']\n[[assets]]\nid='q/1'\ntype='a'\n",
            "topic level",
        ),
        ("[types.a.streams.process]\nchannels=['x']\n[fleet]\nb=2\n", "not an asset type"),
    ],
)
def test_bad_plant_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plant.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_plant(path)
    assert "plant.toml" in str(err.value)


def test_pump_spec_parsed_once_from_the_meta_table() -> None:
    plant = load_plant()
    pump = pump_spec(plant)
    assert plant.types["pump"].pump is pump
    assert pump == PumpSpec(29.95, "6205-2RS", 9, 7.94, 39.04, 0.0, 6)
    assert pump.as_meta() == plant.types["pump"].meta
    assert plant.types["ion_mill"].pump is None
    with pytest.raises(ConfigError, match="no pump type 'ion_mill'"):
        pump_spec(plant, "ion_mill")
    bpfo = BearingGeometry.from_spec(pump).defect_frequencies(pump.shaft_hz).bpfo
    assert bpfo == pytest.approx(107.4, abs=0.1)  # 3.585 x 29.95 Hz, the SKF 6205


PUMP = "[types.pump.streams.process]\nchannels=['x']\n[types.pump.meta]\n"


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("n_balls = 9.5", "n_balls = 9.5: expected an integer"),
        ("n_balls = 0", "n_balls = 0: expected >= 1"),
        ("shaft_hz = 'fast'", "shaft_hz = 'fast': expected a number"),
        ("ball_diameter_mm = 40.0", "pitch_diameter_mm = 39.04: expected > ball_diameter_mm"),
        ("contact_angle_deg = 90", "contact_angle_deg = 90.0: expected in"),
        ("impeller_vanes = true", "impeller_vanes = True: expected an integer"),
        ("bearing = 6205", "bearing = 6205: expected a designation"),
    ],
)
def test_bad_pump_meta_names_the_file_and_key(tmp_path: Path, meta: str, message: str) -> None:
    path = tmp_path / "plant.toml"
    path.write_text(PUMP + meta + "\n")
    with pytest.raises(ConfigError, match=message) as err:
        load_plant(path)
    assert "plant.toml: [types.pump.meta]" in str(err.value)


def test_each_type_names_its_scorer_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    plant = load_plant()
    assert {n: t.scorer for n, t in plant.types.items()} == {"pump": "pump", "ion_mill": "ion_mill"}
    assert load_plant_text(tmp_path, ONE).types["a"].scorer is None  # not scored
    with pytest.raises(ConfigError) as err:
        load_plant_text(tmp_path, "[types.a]\nscorer = 'centrifuge'\n" + ONE)
    message = str(err.value)
    assert "plant.toml: [types.a] scorer = 'centrifuge': unknown scorer" in message
    assert "known: pump, ion_mill" in message


def load_plant_text(tmp_path: Path, text: str) -> Plant:
    path = tmp_path / "plant.toml"
    path.write_text(text)
    return load_plant(path)
