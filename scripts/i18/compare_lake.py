"""Lake labels vs the simulator's own labels, on the same held-out pumps (issue 18, part C).

On the lake of `scripts/i18/lake_plant.py` (STORE: lake, truth.jsonl, failures.csv), for one
seed:

- `lake`: `prepare_lake` (what `phm train --dataset lake` trains on: the failure log's labels)
  trained with the model TOML (default the shipped pump model, models/plant.toml);
- `truth`: the same fit / validation / test pumps and windows, labelled by the simulator's
  truth instead (the fault's mode once its severity reaches VISIBLE_SEVERITY, the rule of
  `phm train --dataset plant`), same model TOML and seed;
- `plant` (with --plant-model): a `phm train --dataset plant` checkpoint (simulated lives).

All are scored on the held-out test pumps of the split against the simulator's truth labels
(accuracy, macro-F1 of the fault class; RUL RMSE in hours where the failure is known). Prints
one JSON object and writes it to --out.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/i18/compare_lake.py --store /tmp/lake \
        --seed 0 [--plant-model plant.pt] --out lake-seed0.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from phm.metrics import accuracy, macro_f1
from phm.models.data import load_train_config
from phm.models.model import load_checkpoint, load_config
from phm.models.prepare_lake import (
    LakeOptions,
    lake_history,
    lake_pump_record,
    prepare_lake,
)
from phm.models.prepare_plant import (
    PLANT_CLASSES,
    PLANT_RUL_HORIZON,
    PLANT_RUL_UNIT_S,
    VISIBLE_SEVERITY,
    plant_windows,
    pump_prepared,
)
from phm.models.train import predict, rul_report, train_prepared
from phm.plant import load_plant
from phm.resources import resource_path
from phm.sim.rotating import severity_curve
from phm.store.lake import Lake

HERE = Path(__file__).parent


def truth_labels(times: np.ndarray, truth: dict) -> dict[str, np.ndarray]:
    """The simulator's labels of one pump's snapshots (Unix s): its mode once the severity
    reaches VISIBLE_SEVERITY, RUL to its failure (event); a healthy pump censored at the end of
    its record. Snapshots after the failure are left out, as the lake's labels leave them."""
    n = len(times)
    if truth["mode"] == "healthy":
        rul = (times[-1] - times) / PLANT_RUL_UNIT_S
        return {"fault": np.zeros(n, np.int64), "rul": rul.astype(np.float32),
                "event": np.zeros(n, bool), "keep": np.ones(n, bool)}  # fmt: skip
    sev = severity_curve(times, truth["onset_time"], truth["failure_time"])
    mode = PLANT_CLASSES.index(truth["mode"])
    return {
        "fault": np.where(sev >= VISIBLE_SEVERITY, mode, 0).astype(np.int64),
        "rul": ((truth["failure_time"] - times) / PLANT_RUL_UNIT_S).astype(np.float32),
        "event": np.ones(n, bool),
        "keep": times <= truth["failure_time"],
    }


def score(model, windows) -> dict[str, float]:
    pred = predict(model, windows)
    label = pred["fault_prob"].argmax(1)
    truth = windows.targets["fault"]
    out = {"accuracy": accuracy(truth, label), "macro_f1": macro_f1(truth, label),
           "windows": len(truth)}  # fmt: skip
    rul = rul_report(pred, windows.targets["rul_true"], PLANT_RUL_HORIZON)
    out["rul_rmse_h"] = rul.get("rmse", float("nan"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--plant", type=Path, default=HERE / "pumps.toml")
    p.add_argument("--assets", type=int, default=None, help="the fleet size the lake was made with")
    p.add_argument("--config", type=Path, default=resource_path("models/plant.toml"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plant-model", type=Path, default=None)
    p.add_argument("--train", default="lake,truth", help="which of lake,truth to train")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    plant = load_plant(args.plant, args.assets)
    cfg, tcfg = load_config(args.config), load_train_config(args.config)
    options = LakeOptions(
        lake=Lake(args.store / "lake", plant), plant=plant, failures=args.store / "failures.csv"
    )
    lake_prep = prepare_lake(options, tcfg, args.seed)
    split = {k: lake_prep.extra[k] for k in ("fit_assets", "val_units", "test_assets")}
    truths = {}
    for line in (args.store / "truth.jsonl").read_text().splitlines():
        t = json.loads(line)
        truths[t["asset"]] = t
    hist = {}
    for aid in sorted({a for v in split.values() for a in v}):
        record = lake_pump_record(options.lake, plant, aid, int(tcfg.snapshot))
        assert record is not None
        hist[aid] = lake_history(record, truth_labels(record[0], truths[aid]))
    truth_prep = pump_prepared(
        [hist[a] for a in split["fit_assets"]],
        [hist[a] for a in split["val_units"]],
        [hist[a] for a in split["test_assets"]],
        tcfg,
        "plant",
        split,
    )
    test = [hist[a] for a in split["test_assets"]]
    result: dict = {"seed": args.seed, "store": str(args.store), "config": str(args.config)}
    result["split"] = {k: len(v) for k, v in split.items()}
    result["failures_in_log"] = lake_prep.extra["n_failures"]
    for name, prep in (("lake", lake_prep), ("truth", truth_prep)):
        if name not in args.train.split(","):
            continue
        model, fitres = train_prepared(prep, cfg, tcfg, "cpu", args.seed, progress=False)
        h = prep.header
        windows = plant_windows(test, h.snapshots, h.feature_mean, h.feature_scale)
        result[name] = score(model, windows) | {"best_epoch": fitres.best_epoch}
    if args.plant_model is not None:
        model, h = load_checkpoint(args.plant_model)
        model.eval()
        windows = plant_windows(test, h.snapshots, h.feature_mean, h.feature_scale)
        result["plant"] = score(model, windows) | {"checkpoint": str(args.plant_model)}
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
