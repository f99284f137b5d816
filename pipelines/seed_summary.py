"""Mean and std over per-seed bench results: `python3 pipelines/seed_summary.py OUT`.

Reads every OUT/*/*.json written by `phm bench ... --seed S --seeds 1`
(pipelines/gpu_network_benches.sh) and prints, per benchmark and model, the mean and sample std
of its headline figures.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

KEYS = (
    "rmse",
    "nasa_score",
    "coverage_90",
    "s1_total",
    "s1_pressure_low",
    "s1_pressure_high",
    "s1_leak",
    "fault_macro_f1",
    "s1_all_nan",
)


def main(out: Path) -> int:
    groups: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(out.glob("*/*.json")):
        name = re.sub(r"-\d+$", "", path.parent.name)  # drop the seed
        groups[name].append(json.loads(path.read_text()))
    for name, results in groups.items():
        parts = [f"{name} ({len(results)} seeds)"]
        for key in KEYS:
            values = [r[key] for r in results if isinstance(r.get(key), int | float)]
            if values:
                a = np.asarray(values, dtype=float)
                std = a.std(ddof=1) if len(a) > 1 else 0.0
                each = ", ".join(f"{v:.3f}" for v in a)
                parts.append(f"{key} {a.mean():.3f} +- {std:.3f} [{each}]")
        print("\n  ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
