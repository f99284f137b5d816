"""Typed dataclass configs from TOML mappings."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from phm.config import from_mapping, read_toml
from phm.errors import ConfigError


@dataclass(frozen=True)
class Example:
    width: int = 8
    rate: float = 0.1
    sizes: tuple[int, ...] = (1, 2)
    on: bool = True


def test_accepts_ints_for_floats_and_lists_for_tuples() -> None:
    got = from_mapping(Example, {"rate": 1, "sizes": [3, 4]}, "x.toml")
    assert got.rate == 1 and got.sizes == [3, 4] and got.width == 8


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"widht": 3}, r"x\.toml: unknown config key 'widht'"),
        ({"width": 2.5}, r"x\.toml: config width = 2.5 should be a int"),
        ({"width": True}, r"config width = True should be a int"),
        ({"sizes": [1.5]}, r"config sizes = \[1.5\] should be a tuple"),
    ],
)
def test_bad_values_name_the_file_and_key(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_mapping(Example, values, "x.toml")


def test_read_toml_names_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        read_toml(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("width = = 3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        read_toml(bad)
