"""Where the real public datasets are for tests: skip clearly outside CI, fail inside it.

DATASETS.md: tests that need the shared data must run in CI (CI=true, where ../shared exists)
and skip with a clear reason elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def real_data_dir(name: str, marker: str) -> Path:
    """$PHM_DATA_DIR/NAME, else ../shared/data/NAME beside the repo, holding `marker`.

    Skips with the reason when absent; under CI=true a missing dataset is a failure instead.
    """
    env = os.environ.get("PHM_DATA_DIR")
    folder = (Path(env) if env else REPO.parent / "shared" / "data") / name
    if not (folder / marker).exists():
        reason = f"{name} data not found at {folder} (set PHM_DATA_DIR to its parent)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI must run the real-data tests")
        pytest.skip(reason)
    return folder
