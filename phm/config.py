"""Configuration: frozen-style dataclasses filled from TOML files with type checks.

Every config error names the file, the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from phm.errors import ConfigError

T = TypeVar("T")


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file raises ConfigError naming it."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def from_mapping(cls: type[T], values: dict[str, Any], source: str, what: str = "config") -> T:
    """An instance of dataclass `cls` from `values`, checked against the defaults' types.

    Unknown keys and values of the wrong type raise ConfigError naming `source` and the key;
    ints are accepted for float fields, lists of ints for tuple fields, never bools for numbers.
    """
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    defaults = cls()
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                f"{source}: unknown {what} key {key!r} (expected one of {sorted(fields)})"
            )
        want = type(getattr(defaults, key))
        ok = isinstance(value, want) or (want is float and isinstance(value, int))
        if want is tuple:
            ok = isinstance(value, list | tuple) and all(isinstance(v, int) for v in value)
        if not ok or (want is not bool and isinstance(value, bool)):
            raise ConfigError(f"{source}: {what} {key} = {value!r} should be a {want.__name__}")
    return cls(**values)
