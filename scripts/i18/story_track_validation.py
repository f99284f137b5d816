"""Choose the RUL track weight (phm.monitor.rul_track) on validation pumps: the failing ones
among 16 scenarios of seed 777 (`pump_scenarios`; not the demo's pumps nor the model's
training pumps), scored by a trained pump model every CADENCE_S of life up to 6 h past the
failure (the simulator keeps a failed pump running until its repair), through the monitor's
alert hysteresis.

    python scripts/i18/story_track_validation.py CADENCE_S [CHECKPOINT]

Prints per weight: the mean absolute error of the displayed RUL against the true RUL while
the alert is open before the failure, how many pumps were shown failed within 6 h of their
failure, and the error of that moment (h, + = late).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from phm.models.prepare_plant import pump_scenarios
from phm.monitor.alerts import AlertPolicy, AlertState, risk_score, step
from phm.monitor.rul_track import track_rul
from phm.monitor.scorers import ScoringModel, finite
from phm.plant import load_plant, pump_spec
from phm.sim.rotating import PumpSimulator

WEIGHTS = (0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
AFTER_S = 6 * 3600.0


def score_lives(model: ScoringModel, cadence: float) -> list:
    """(life s, [(t, P(healthy), median, lower, upper)]) of each failing validation pump."""
    spec, k = pump_spec(load_plant()), model.header.snapshots
    out = []
    for aid, fault, life in pump_scenarios(16, 777):
        if fault is None:
            continue
        sim = PumpSimulator(aid, spec, 777, fault)
        snaps = np.arange(600.0, life + AFTER_S, 600.0)
        scored = []
        for t in np.arange(cadence, life + AFTER_S, cadence):
            ts = snaps[snaps <= t][-k:]
            vib = np.stack([sim.snapshot(float(x)) for x in ts])
            rows = np.concatenate([sim.temperature_rows(ts), sim.process_rows(ts)], axis=1)
            with torch.no_grad():
                pred = model.predict(model.pump_inputs(vib, rows.astype(np.float32)))
            rul = {n: finite(float(v[0])) for n, v in pred.rul.items()}
            health = pred.fault_probs(0).get("healthy")
            scored.append((t, health, rul["median"], rul["lower"], rul["upper"]))
        out.append((life, scored))
        print(aid, fault.mode, f"{life / 3600:.1f} h", flush=True)
    return out


def evaluate(lives: list, weight: float) -> dict:
    policy = AlertPolicy()
    failed_err, abs_err = [], []
    for life, scored in lives:
        state, track, failed_at = AlertState(), None, None
        for t, health, med, lo, hi in scored:
            state, action = step(state, risk_score(health, med, policy), policy)
            if state.level == "ok":
                track = None
                continue
            opening = action is not None and action.startswith("open_")
            track = track_rul(None if opening else track, t, med, lo, hi, weight=weight)
            if track is None:
                continue
            if t <= life:
                abs_err.append(abs(track.median - (life - t) / 3600))
            if track.failed and failed_at is None:
                failed_at = t
        failed_err.append(None if failed_at is None else (failed_at - life) / 3600)
    shown = [x for x in failed_err if x is not None]
    return {
        "mae_h": float(np.mean(abs_err)),
        "shown_failed": f"{len(shown)}/{len(failed_err)}",
        "failed_err_median_h": float(np.median(shown)) if shown else None,
        "failed_abs_err_mean_h": float(np.mean(np.abs(shown))) if shown else None,
    }


def main() -> None:
    torch.set_num_threads(1)
    cadence = float(sys.argv[1])
    model = ScoringModel.load(sys.argv[2] if len(sys.argv) > 2 else "data/demo/models/pump.pt")
    lives = score_lives(model, cadence)
    print(json.dumps({w: evaluate(lives, w) for w in WEIGHTS}, indent=1))


if __name__ == "__main__":
    main()
