"""`phm train`: the flags, turned into `TrainOptions` for `phm.models.train.train_and_save`.

phm train --dataset cmapss --data DIR [--subset FD001] [--config phm/configs/models/cmapss.toml]
          --device cpu|cuda --out CKPT [--seed S] [--epochs N]
phm train --dataset femto --data DIR [--holdout Bearing1_1] ...   (RUL in hours)
phm train --dataset lake --store STORE --failures failures.csv [--plant plant.toml]
          [--label-rule onset|fixed] [--onset-min-h 6] [--onset-max-h 48]
          [--fault-window-h 24] [--guard-h 0] [--test-fraction 0.25]
          (a running plant's own history: phm.models.prepare_lake; the checkpoint is registered
          as the next version in STORE/models/pump/, phm.store.registry; --out optional)
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from phm.errors import ConfigError
from phm.models.prepare import (
    DATASETS,
    CmapssOptions,
    CwruOptions,
    DatasetOptions,
    FemtoOptions,
    LakeOptions,
    Phm2018Options,
    PlantOptions,
)
from phm.models.prepare_lake import (
    LAKE_FAULT_WINDOW_H,
    LAKE_GUARD_H,
    LAKE_LABEL_RULE,
    LAKE_LABEL_RULES,
    LAKE_ONSET_MAX_H,
    LAKE_ONSET_MIN_H,
    LAKE_TEST_FRACTION,
)
from phm.models.train import DEFAULT_MODEL_CONFIG, TrainOptions, train_and_save
from phm.resources import resource_path

# --dataset -> its default model config where it is not the shipped small size
DATASET_CONFIGS: dict[str, Path] = {
    "cmapss": resource_path("models/cmapss.toml"),
    "lake": resource_path("models/plant.toml"),  # the shipped pump model (the demo's)
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm train`."""
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="cmapss")
    parser.add_argument(
        "--data", type=Path, default=None, help="dataset folder or its parent ($PHM_DATA_DIR)"
    )
    parser.add_argument("--subset", default="FD001", help="C-MAPSS subset")
    parser.add_argument(
        "--train-load", type=int, default=None, help="CWRU cross-load: train on this load (hp)"
    )
    parser.add_argument(
        "--test-load", type=int, default=None, help="CWRU cross-load: test on this load (hp)"
    )
    parser.add_argument(
        "--holdout", default=None, help="FEMTO: leave this learning bearing out (it tests)"
    )
    parser.add_argument("--pumps", type=int, default=None, help="plant: training pumps (40)")
    parser.add_argument("--test-pumps", type=int, default=None, help="plant: test pumps (10)")
    parser.add_argument("--plant", type=Path, default=None, help="plant, lake: plant TOML")
    parser.add_argument(
        "--store", type=Path, default=None, help="lake: the plant's store (STORE/lake)"
    )
    parser.add_argument(
        "--failures", type=Path, default=None, help="lake: fault-history CSV with a mode column"
    )
    parser.add_argument(
        "--label-rule",
        choices=LAKE_LABEL_RULES,
        default=LAKE_LABEL_RULE,
        help="lake: how far before a failure its mode labels: from where the pump's own anomaly "
        "score left its healthy band (onset), or a fixed --fault-window-h (fixed) "
        f"(default {LAKE_LABEL_RULE})",
    )
    parser.add_argument(
        "--onset-min-h",
        type=float,
        default=LAKE_ONSET_MIN_H,
        help=f"lake, onset: least hours before a failure labelled with its mode "
        f"({LAKE_ONSET_MIN_H:g})",
    )
    parser.add_argument(
        "--onset-max-h",
        type=float,
        default=LAKE_ONSET_MAX_H,
        help=f"lake, onset: most hours before a failure labelled with its mode; snapshots "
        f"between the onset and this are left out ({LAKE_ONSET_MAX_H:g})",
    )
    parser.add_argument(
        "--fault-window-h",
        type=float,
        default=LAKE_FAULT_WINDOW_H,
        help=f"lake, fixed: hours before a failure labelled with its mode "
        f"({LAKE_FAULT_WINDOW_H:g})",
    )
    parser.add_argument(
        "--guard-h",
        type=float,
        default=LAKE_GUARD_H,
        help=f"lake, fixed: fit windows left out this long before the fault window "
        f"({LAKE_GUARD_H:g})",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=LAKE_TEST_FRACTION,
        help=f"lake: share of the pumps held out to test ({LAKE_TEST_FRACTION:g})",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="model TOML (default: models/cmapss.toml for cmapss, models/plant.toml for lake, "
        "models/small.toml otherwise)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="checkpoint path to write (required, except for lake: the store's registry)",
    )
    parser.add_argument("--seed", type=int, default=0, help="model, data order and split seed")
    parser.add_argument("--epochs", type=int, default=None, help="override [train] epochs")
    parser.add_argument(
        "--members", type=int, default=None, help="override [train] members (deep ensemble)"
    )
    parser.add_argument(
        "--init", default=None, help="override [train] init: a `phm pretrain` checkpoint"
    )
    parser.add_argument("--metrics-out", type=Path, default=None, help="write metrics JSON here")
    parser.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)"
    )
    parser.add_argument(
        "--no-test", action="store_true", help="skip scoring the test windows after saving"
    )


def dataset_options(args: argparse.Namespace) -> DatasetOptions:
    """The options of `--dataset` from the flags of `phm train`."""
    if args.dataset != "cwru" and (args.train_load is not None or args.test_load is not None):
        raise ConfigError(f"--train-load/--test-load apply to --dataset cwru, not {args.dataset}")
    if args.dataset == "cmapss":
        return CmapssOptions(data=args.data, subset=args.subset)
    if args.dataset == "cwru":
        return CwruOptions(data=args.data, train_load=args.train_load, test_load=args.test_load)
    if args.dataset == "femto":
        return FemtoOptions(data=args.data, holdout=args.holdout)
    if args.dataset == "phm2018":
        return Phm2018Options(data=args.data)
    if args.dataset == "lake":
        return lake_options(args)
    plant = PlantOptions(plant=args.plant)
    if args.pumps is not None:
        plant = dataclasses.replace(plant, pumps=args.pumps)
    if args.test_pumps is not None:
        plant = dataclasses.replace(plant, test_pumps=args.test_pumps)
    return plant


def lake_options(args: argparse.Namespace) -> LakeOptions:
    """`--dataset lake`: the store's lake opened with the plant, and the fault history."""
    from phm.plant import load_plant
    from phm.store.lake import Lake

    if args.store is None or args.failures is None:
        raise ConfigError("--dataset lake needs --store STORE and --failures CSV")
    if not (args.store / "lake").is_dir():
        raise ConfigError(f"{args.store}: no lake here (STORE/lake); is ingest writing to it?")
    plant = load_plant(args.plant)
    return LakeOptions(
        lake=Lake(args.store / "lake", plant),
        plant=plant,
        failures=args.failures,
        fault_window_h=args.fault_window_h,
        guard_h=args.guard_h,
        test_fraction=args.test_fraction,
        label_rule=args.label_rule,
        onset_min_h=args.onset_min_h,
        onset_max_h=args.onset_max_h,
    )


def run(args: argparse.Namespace) -> int:
    """`phm train`: `train_and_save` with the options of the flags; `--dataset lake` then
    registers the checkpoint in the store's registry."""
    if args.dataset == "lake":
        return run_lake(args)
    if args.out is None:
        raise ConfigError(f"--dataset {args.dataset} needs --out CKPT")
    train_and_save(train_options(args, dataset_options(args), args.out, args.metrics_out))
    return 0


def train_options(
    args: argparse.Namespace, data: DatasetOptions, out: Path, metrics_out: Path | None
) -> TrainOptions:
    """The `TrainOptions` of the flags."""
    return TrainOptions(
        data=data,
        out=out,
        config=args.config or DATASET_CONFIGS.get(args.dataset, DEFAULT_MODEL_CONFIG),
        device=args.device,
        seed=args.seed,
        epochs=args.epochs,
        members=args.members,
        init=args.init,
        metrics_out=metrics_out,
        threads=args.threads,
        test=not args.no_test,
    )


def held_out_summary(metrics: dict) -> str:
    """One line of the held-out assets' figures from `train_and_save`'s metrics."""
    test = metrics.get("test")
    if not test:
        return "no held-out assets scored"
    fault = test.get("fault", {})
    parts = [f"held-out windows {fault.get('n', 0)}"]
    if "accuracy" in fault:
        parts.append(f"accuracy {fault['accuracy']:.3f}, macro-F1 {fault['macro_f1']:.3f}")
    if "rmse" in test:
        parts.append(f"RUL RMSE {test['rmse']:.1f} h over {test['n']} windows with a known RUL")
    return "; ".join(parts)


def run_lake(args: argparse.Namespace) -> int:
    """Train on the lake, then register the checkpoint (and keep a copy at --out if given)."""
    import json
    import shutil
    import tempfile

    from phm.store.registry import ModelRegistry

    data = lake_options(args)
    registry = ModelRegistry(args.store, data.asset_type)
    with tempfile.TemporaryDirectory(prefix="phm-train-lake-") as tmp:
        ckpt, metrics_path = Path(tmp) / "model.pt", Path(tmp) / "metrics.json"
        train_and_save(train_options(args, data, ckpt, metrics_path))
        metrics = json.loads(metrics_path.read_text())
        if args.metrics_out is not None:
            shutil.copyfile(metrics_path, args.metrics_out)
        if args.out is not None:
            shutil.copyfile(ckpt, args.out)
        source = f"phm train --dataset lake --store {args.store} --failures {args.failures}"
        mv = registry.register(ckpt, source, metrics)
    print(held_out_summary(metrics))
    state = "active" if registry.active() == mv.version else "registered, not active"
    print(f"{registry.root / mv.version}: {state} (parent {mv.parent or 'none'})")
    if state != "active":
        print(f"activate it with: phm models activate {mv.version} --store {args.store}")
    return 0
