"""Summary of `pipelines/i16_phm2018_gpu.sh` runs: S1 per fleet and model, mean and std over
fleets, whether each model beats all-NaN on every fleet, and the fitted submit rule per fleet
(its stability across fleets).

    PYTHONPATH=. python3 pipelines/i16_phm2018_summary.py RUNS   # RUNS/SEED-MODEL/phm2018*.json

Prints markdown; writes RUNS/../summary.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from phm.models.s1_decision import policy_stability

# runs are named RUNS/SEED-NAME: NAME is the model ("gbm", "moe", "dense"), optionally with
# a variant suffix ("moe-f3": `--folds 3`); every name found becomes a column
ABLATION_KEYS = {  # JSON key -> column suffix
    "s1_total_threshold_estimate_choice": "threshold, S1-estimate choice",
    "s1_total_threshold": "threshold, median",
    "s1_total_bayes": "Bayes",
    "s1_total_bayes_uncalibrated": "Bayes uncalibrated",
    "s1_total_per_mode_choice": "per-mode choice",
}


def load(runs: Path) -> dict[str, dict[str, dict]]:
    """{fleet seed: {model: result JSON}} of every finished run."""
    out: dict[str, dict[str, dict]] = {}
    for path in sorted(runs.glob("*-*/phm2018*.json")):
        fleet, model = path.parent.name.split("-", 1)
        out.setdefault(fleet, {})[model] = json.loads(path.read_text())
    return out


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main(runs: Path) -> dict:
    results = load(runs)
    fleets = sorted(results)
    names = sorted({m for f in fleets for m in results[f]})
    networks = [m for m in names if m != "gbm"]
    s1: dict[str, dict[str, float]] = {m: {} for m in ("nan", *names)}
    for f in fleets:
        for m, r in results[f].items():
            s1[m][f] = r["s1_total"]
        any_run = next(iter(results[f].values()))
        s1["nan"].setdefault(f, any_run["s1_all_nan"])
    abl: dict[str, dict[str, float]] = {}
    for m in names:
        for key, suffix in ABLATION_KEYS.items():
            for f in fleets:
                r = results[f].get(m)
                if r is not None and r.get(key) is not None:
                    abl.setdefault(f"{m} {suffix}", {})[f] = r[key]
    cols = [m for m in ("nan", *names) if s1[m]] + list(abl)
    table = {**s1, **abl}
    lines = ["| fleet | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for f in fleets:
        lines.append(f"| {f} | " + " | ".join(fmt(table[c].get(f)) for c in cols) + " |")
    summary: dict = {"fleets": fleets, "s1": table, "mean": {}, "std": {}}
    cells = []
    for c in cols:
        v = np.array(list(table[c].values()))
        std = float(v.std(ddof=1)) if v.size > 1 else 0.0
        summary["mean"][c], summary["std"][c] = float(v.mean()), std
        cells.append(f"{v.mean():.3f} +- {summary['std'][c]:.3f} (n={v.size})")
    lines.append("| mean +- std | " + " | ".join(cells) + " |")
    verdicts = []
    for m in names:
        wins = [f for f in s1[m] if s1[m][f] < s1["nan"][f]]
        summary[f"{m}_beats_all_nan_every_fleet"] = len(wins) == len(fleets) == len(s1[m])
        verdicts.append(f"- {m} beats all-NaN on {len(wins)} of {len(fleets)} fleets")
    for m in networks:
        if s1[m] and s1.get("gbm"):
            better = summary["mean"][m] < summary["mean"]["gbm"]
            summary[f"{m}_beats_gbm_on_mean"] = better
            verdicts.append(f"- {m} mean S1 {'<' if better else '>='} gbm mean S1")
    lines += ["", *verdicts]
    # the submit rule fitted on each fleet's training tools, and its spread over fleets
    for m in networks:
        per_fleet = {}
        for f in fleets:
            r = results[f].get(m)
            if r is None:
                continue
            decision = r["details"]["per_seed"][0]["decision"]
            per_fleet[f] = {
                f"{mode}.{k}": float(v)  # JSON writes inf as the string "inf"
                for mode, fitted in decision.items()
                for k, v in fitted.items()
                if k in ("alarm_level", "estimate_cap_s", "temperature", "shift", "far_nan_share")
            }
        if not per_fleet:
            continue
        stab = policy_stability(per_fleet)
        summary[f"{m}_decision_per_fleet"], summary[f"{m}_decision_stability"] = per_fleet, stab
        keys = list(stab)
        lines += ["", f"{m}: submit rule fitted on each fleet's training tools", ""]
        lines += ["| fleet | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for f, p in per_fleet.items():
            lines.append(f"| {f} | " + " | ".join(f"{p[k]:.3f}" for k in keys) + " |")
        spread = [f"{stab[k]['mean']:.3f} +- {stab[k]['std']:.3f}" for k in keys]
        lines.append("| mean +- std | " + " | ".join(spread) + " |")
    gbm_q = {
        f: results[f]["gbm"]["details"].get("far_nan_share") for f in fleets if "gbm" in results[f]
    }
    if gbm_q:
        summary["gbm_far_nan_share_per_fleet"] = gbm_q
    walls = {f"{f}-{m}": r["details"].get("seconds") for f in fleets for m, r in results[f].items()}
    summary["seconds"] = walls
    print("\n".join(lines))
    (runs.parent / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: i16_phm2018_summary.py RUNS")
    main(Path(sys.argv[1]))
