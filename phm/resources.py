"""Files shipped inside the package, under phm/configs/, reached through importlib.resources so
they are found from a source checkout and from an installed wheel alike.

Names are relative to phm/configs/ with `/` separators: "plant.toml" (the plant registry),
"models/small.toml" (model sizes), "kg/rotating_equipment.yaml" (knowledge graphs),
"fmea/pump_station.csv" (an FMEA sheet), "mosquitto.conf" (the broker configs).

- `read_text(name)`: the file's text.
- `resource_path(name)`: a real filesystem path (the package is installed as files, the
  normal case; a zipped package raises and `as_file` is the way).
- `as_file(name)`: a context manager giving a real path in any case (a temporary copy
  where the package is zipped), for programs that need a file, such as Mosquitto.
- `shipped(folder, suffix)`: the names in a folder, e.g. shipped("kg", ".yaml").

A user's own file always overrides by path: the commands take `--plant FILE`, `--config FILE`,
`--graph FILE` and only fall back to these names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from phm.errors import PhmError

PACKAGE = "phm"
FOLDER = "configs"


class ResourceError(PhmError, FileNotFoundError):
    """A shipped file that does not exist (the message names it and what is shipped)."""


def _root() -> Traversable:
    return resources.files(PACKAGE) / FOLDER


def _parts(name: str) -> list[str]:
    parts = [p for p in str(name).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ResourceError(f"{name!r}: not a shipped file name (e.g. 'models/small.toml')")
    return parts


def resource(name: str) -> Traversable:
    """The shipped file `name` (relative to phm/configs/) as a Traversable."""
    parts = _parts(name)
    node = _root().joinpath(*parts)
    if not node.is_file():
        folder = "/".join(parts[:-1])
        known = shipped(folder)
        where = f"{PACKAGE}/{FOLDER}/{folder + '/' if folder else ''}"
        raise ResourceError(
            f"{name}: no such shipped file in {where}"
            + (f" (shipped there: {', '.join(known)})" if known else "")
        )
    return node


def read_text(name: str, encoding: str = "utf-8") -> str:
    """The text of the shipped file `name`."""
    return resource(name).read_text(encoding=encoding)


def resource_path(name: str) -> Path:
    """The shipped file `name` as a filesystem path (the package installed as files)."""
    node = resource(name)
    if not isinstance(node, Path):
        raise ResourceError(
            f"{name}: the phm package is not installed as plain files; use "
            "phm.resources.as_file() for a temporary copy"
        )
    return node


@contextlib.contextmanager
def as_file(name: str) -> Iterator[Path]:
    """A real filesystem path to the shipped file `name` for the `with` block (a temporary
    copy only where the package is not installed as plain files)."""
    with resources.as_file(resource(name)) as path:
        yield Path(path)


def shipped(folder: str = "", suffix: str = "") -> list[str]:
    """Names (relative to phm/configs/, sorted) of the files shipped in `folder` whose names
    end in `suffix`; not recursive."""
    node = _root().joinpath(*_parts(folder)) if folder else _root()
    if not node.is_dir():
        return []
    prefix = f"{folder.strip('/')}/" if folder else ""
    return sorted(
        prefix + c.name for c in node.iterdir() if c.is_file() and c.name.endswith(suffix)
    )
