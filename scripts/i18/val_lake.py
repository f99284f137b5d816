"""Choose `phm train --dataset lake`'s labelling and training on validation pumps (issue 18, C2).

The lake of `scripts/i18/lake_plant.py` is read once; each candidate (a label rule and its
windows, and [train] overrides of the model TOML) is trained per seed by `prepare_lake_records`
(the test pumps of `phm train --dataset lake --seed S` stay out, untouched) and scored on that
seed's validation pumps with figures no labelling rule under test decides:

- mode accuracy: windows at most SURE_FAULT_H before a failure (every rule calls them the
  failure's mode);
- false alarms: share of windows called faulty among those more than SURE_HEALTHY_H before
  any failure or on a pump that never failed (every rule calls them healthy);
- score: the mean of mode accuracy and (1 - false alarms);
- RUL RMSE (hours, point clipped to the horizon) on every window before a failure: the time to
  the logged failure, which no labelling rule changes.

The simulator's truth is not read. Prints and writes one JSON object.

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python scripts/i18/val_lake.py \
        --store /work/tmp-lake/s90 --plant scripts/i18/pumps90.toml --seeds 0,1,2 \
        --candidates fixed24,onset48 --out val.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from phm.models.data import load_train_config
from phm.models.model import load_config
from phm.models.prepare_lake import (
    LakeOptions,
    lake_history,
    lake_labels,
    lake_records,
    prepare_lake_records,
)
from phm.models.prepare_plant import PLANT_RUL_HORIZON, plant_windows
from phm.models.train import predict, rul_report, train_prepared
from phm.plant import load_plant
from phm.resources import resource_path
from phm.store.lake import Lake

HERE = Path(__file__).parent
SURE_FAULT_H = 6.0
SURE_HEALTHY_H = 72.0

# name: (LakeOptions fields, [train] overrides)
CANDIDATES: dict[str, tuple[dict, dict]] = {
    "fixed24": ({"label_rule": "fixed", "fault_window_h": 24.0}, {}),
    "onset48": ({"label_rule": "onset", "onset_min_h": 6.0, "onset_max_h": 48.0}, {}),
    "onset24": ({"label_rule": "onset", "onset_min_h": 6.0, "onset_max_h": 24.0}, {}),
    "onset36": ({"label_rule": "onset", "onset_min_h": 6.0, "onset_max_h": 36.0}, {}),
    "onset48-ignore": ({"label_rule": "onset", "onset_max_h": 48.0, "unsure_fit": "ignore"}, {}),
    "onset72": ({"label_rule": "onset", "onset_min_h": 6.0, "onset_max_h": 72.0}, {}),
    "onset48min12": ({"label_rule": "onset", "onset_min_h": 12.0, "onset_max_h": 48.0}, {}),
    "fixed24-lr1e-3": ({"label_rule": "fixed", "fault_window_h": 24.0}, {"lr": 1e-3}),
    "onset48-lr1e-3": ({"label_rule": "onset", "onset_max_h": 48.0}, {"lr": 1e-3}),
    "onset48-ema": ({"label_rule": "onset", "onset_max_h": 48.0}, {"ema_decay": 0.99}),
    "onset48-wd": ({"label_rule": "onset", "onset_max_h": 48.0}, {"weight_decay": 0.2}),
}


def sure_validation(records, failures, assets, header):
    """Windows of the validation `assets` with the labels every rule agrees on, and the mask of
    those windows (the others are scored by no figure)."""
    hist, sure = [], []
    for aid in assets:
        record = records[aid]
        own = [f for f in failures if f.asset_id == aid]
        labels = lake_labels(record[0], own, float(record[0][-1]), SURE_FAULT_H * 3600.0)
        h = lake_history(record, labels)
        hist.append(h)
        sure.append(~h["event"] | (h["rul"] <= SURE_FAULT_H) | (h["rul"] > SURE_HEALTHY_H))
    windows = plant_windows(hist, header.snapshots, header.feature_mean, header.feature_scale)
    return windows, np.concatenate(sure)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--plant", type=Path, default=HERE / "pumps90.toml")
    p.add_argument("--config", type=Path, default=resource_path("models/plant.toml"))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--candidates", default=",".join(CANDIDATES))
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    plant = load_plant(args.plant)
    cfg, tcfg0 = load_config(args.config), load_train_config(args.config)
    base = LakeOptions(
        lake=Lake(args.store / "lake", plant), plant=plant, failures=args.store / "failures.csv"
    )
    t0 = time.perf_counter()
    records, failures = lake_records(base, int(tcfg0.snapshot))
    result: dict = {"store": str(args.store), "read_s": time.perf_counter() - t0, "runs": {}}
    for name in args.candidates.split(","):
        fields, train = CANDIDATES[name]
        options = dataclasses.replace(base, **fields)
        tcfg = dataclasses.replace(tcfg0, **train)
        rows = []
        for seed in (int(s) for s in args.seeds.split(",")):
            t1 = time.perf_counter()
            prep = prepare_lake_records(records, failures, options, tcfg, seed)
            model, fitres = train_prepared(prep, cfg, tcfg, "cpu", seed, progress=False)
            windows, sure = sure_validation(records, failures, prep.extra["val_units"], prep.header)
            pred = predict(model, windows)
            label = pred["fault_prob"].argmax(1)
            rul = rul_report(pred, windows.targets["rul_true"], PLANT_RUL_HORIZON)
            truth = windows.targets["fault"]
            faulty, healthy = sure & (truth > 0), sure & (truth == 0)
            mode_acc = float((label[faulty] == truth[faulty]).mean())
            false_alarm = float((label[healthy] > 0).mean())
            rows.append({
                "seed": seed, "mode_acc": mode_acc, "false_alarm": false_alarm,
                "score": (mode_acc + 1 - false_alarm) / 2,
                "rul_rmse_h": rul.get("rmse", float("nan")), "fault_windows": int(faulty.sum()),
                "healthy_windows": int(healthy.sum()), "fit_windows": len(prep.fit),
                "best_epoch": fitres.best_epoch, "seconds": time.perf_counter() - t1,
            })  # fmt: skip
            print(name, json.dumps(rows[-1]), flush=True)
        mean = {
            k: float(np.mean([r[k] for r in rows]))
            for k in ("mode_acc", "false_alarm", "score", "rul_rmse_h")
        }
        result["runs"][name] = {"mean": mean, "seeds": rows}
        print(name, "MEAN", json.dumps(mean), flush=True)
        if args.out is not None:
            args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
