"""Plant registry: the shipped plant loads; fleets resize; bad files name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from phm.errors import ConfigError
from phm.plant import load_plant


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
