"""`phm bench femto` with each baseline on the real PRONOSTIA learning set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phm.cli import main
from tests.datadir import real_data_dir


@pytest.mark.integration
@pytest.mark.parametrize("model", ["gbm", "survival"])
def test_femto_bench_each_model(model: str, tmp_path: Path) -> None:
    data = real_data_dir("femto", "Learning_set.tar.xz")
    assert (
        main(["bench", "femto", "--data", str(data), "--model", model, "--out", str(tmp_path)]) == 0
    )
    result = json.loads((tmp_path / "femto.json").read_text())
    assert result["model"] == model and result["n_predictions"] == 24
    assert 0.0 < result["phm2012_score"] <= 1.0 and result["rmse"] > 0
