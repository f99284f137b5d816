"""Where a public dataset's files are: the folder given, its named child, or $PHM_DATA_DIR."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from phm.errors import ConfigError, DataFormatError


def dataset_dir(
    data_dir: str | Path | None, name: str, holds: Callable[[Path], bool], expected: str
) -> Path:
    """DIR or DIR/NAME, whichever `holds` the dataset; DIR defaults to $PHM_DATA_DIR.

    So `--data ../shared/data` and `--data ../shared/data/cwru` both work. Raises ConfigError
    when no folder is given at all, DataFormatError naming the folder when nothing fits.
    """
    if data_dir is None:
        env = os.environ.get("PHM_DATA_DIR")
        if not env:
            raise ConfigError(f"no {name} data folder: pass --data DIR or set PHM_DATA_DIR")
        data_dir = env
    base = Path(data_dir)
    for candidate in (base, base / name):
        if candidate.is_dir() and holds(candidate):
            return candidate
    raise DataFormatError(base, f"no {name} data here or in {base / name}", expected=expected)
