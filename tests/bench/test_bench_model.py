"""`phm bench model` end to end with the tiny configs: keys, parameter counts, balance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from phm.cli import main

CONFIGS = Path(__file__).parents[2] / "phm" / "configs" / "models"


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """The command sets torch threads; give the rest of the suite its setting back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_bench_model_writes_costs_and_balance(tmp_path: Path) -> None:
    args = ["bench", "model", "--out", str(tmp_path), "--config", str(CONFIGS / "tiny.toml")]
    args += ["--dense-config", str(CONFIGS / "dense-tiny.toml"), "--train-steps", "2"]
    args += ["--latency-calls", "20", "--batch-windows", "64", "--balance-steps", "100"]
    assert main([*args, "--gamma", "0.01", "--skew", "3"]) == 0
    record = json.loads((tmp_path / "model.json").read_text())
    for kind in ("moe", "dense"):
        for key in ("train_windows_per_s_cpu", "batch_windows_per_s", "latency_p50_ms"):
            assert record[f"{kind}_{key}"] > 0
        assert record[f"{kind}_latency_p50_ms"] <= record[f"{kind}_latency_p99_ms"]
        if not torch.cuda.is_available():
            assert record[f"{kind}_train_windows_per_s_cuda"].startswith("not measured")
    # tiny: 4 routed experts of which 2 are active; dense matches the MoE's active FFN width
    assert record["moe_n_params_active"] < record["moe_n_params"]
    assert record["dense_n_params_active"] == record["dense_n_params"]
    assert record["dense_n_params"] <= record["moe_n_params_active"]
    # The skewed input sends (nearly) every token to the same 2 of 4 experts: CV -> 1.
    assert record["load_cv_start"] > 0.9
    assert record["load_cv_without_bias"] > 0.9
    assert record["load_cv_with_bias"] < 0.5 * record["load_cv_without_bias"]
    balance = record["details"]["balance"]
    assert balance["gamma"] == 0.01 and balance["skew"] == 3
    assert balance["without_bias"]["bias_range"] == 0 < balance["with_bias"]["bias_range"]
    assert (tmp_path / "model.md").read_text().startswith("| measured | moe (tiny) |")
    assert main([*args[:-6], "--config", str(CONFIGS / "dense-tiny.toml")]) == 2
