"""C-MAPSS tables of issue 16: `python3 pipelines/i16_cmapss_summary.py OUT [OUT2 ...]`.

Reads every OUT/*/cmapss*.json written by `phm bench cmapss` (pipelines/i16_cmapss_gpu.sh, or
the earlier pipelines/gpu_network_benches.sh runs), groups the runs by name without the trailing
seed and prints, per group, mean +- sample std over seeds of: test RMSE against the RUL file as
is and against the truth capped at 125 (recomputed from the stored per-unit predictions, so
results written before the capped figures existed are rescored too), NASA scores, 90% interval
coverage, validation RMSE (the only figure choices may read), wall seconds and, for MoE on
FD002, each layer's condition-expert mutual information (bits).
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

CAP = 125.0


def nasa(truth: np.ndarray, pred: np.ndarray) -> float:
    d = pred - truth
    return float(np.sum(np.exp(np.where(d < 0, -d / 13.0, d / 10.0)) - 1.0))


def scores(units: list[dict]) -> dict[str, float]:
    """Test figures of one run from its per-unit predictions (and interval, where stored)."""
    truth = np.array([u["rul_true"] for u in units], dtype=float)
    pred = np.array([u["rul_pred"] for u in units], dtype=float)
    capped = np.minimum(truth, CAP)
    out = {
        "rmse": float(np.sqrt(np.mean((pred - truth) ** 2))),
        "rmse_capped": float(np.sqrt(np.mean((pred - capped) ** 2))),
        "nasa": nasa(truth, pred),
        "nasa_capped": nasa(capped, pred),
    }
    if "lower" in units[0]:
        lo = np.array([float(u["lower"]) for u in units])
        hi = np.array([float(u["upper"]) for u in units])
        out["coverage_90"] = float(np.mean((lo <= truth) & (truth <= hi)))
    return out


def runs_of(record: dict) -> list[dict[str, float]]:
    """One figure dict per seed of a bench JSON (networks: per_seed; baselines: one run)."""
    details = record["details"]
    if "per_seed" not in details:
        row = scores(details["test_units"])
        row["val_rmse"] = details.get("validation", {}).get("rmse_all_cycles_capped", np.nan)
        row["seconds"] = sum(details.get("seconds", {}).values())
        return [row]
    rows = []
    for run in details["per_seed"]:
        row = scores(run["test_units"])
        row["val_rmse"] = run["val_rmse_capped"]
        row["seconds"] = run["seconds"]
        row["best_epoch"] = run["best_epoch"]
        for load in run.get("expert_load_by_condition", []):
            key = f"mi_bits_m{load['member']}_l{load['layer']}"
            row[key] = load["condition_information_bits"]
        rows.append(row)
    return rows


def main(outs: list[Path]) -> int:
    groups: dict[str, list[dict[str, float]]] = defaultdict(list)
    for out in outs:
        for path in sorted(out.glob("*/cmapss*.json")):
            name = re.sub(r"-\d+$", "", path.parent.name)  # drop the seed
            groups[name] += runs_of(json.loads(path.read_text()))
    for name in sorted(groups):
        rows = groups[name]
        parts = [f"{name} ({len(rows)} runs)"]
        for key in rows[0]:
            a = np.array([r.get(key, np.nan) for r in rows], dtype=float)
            std = a.std(ddof=1) if len(a) > 1 else 0.0
            each = " / ".join(f"{v:.2f}" for v in a)
            parts.append(f"{key} {a.mean():.2f} +- {std:.2f} [{each}]")
        print("\n  ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main([Path(p) for p in sys.argv[1:]]))
