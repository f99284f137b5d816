"""`phm train`: the flags, turned into `TrainOptions` for `phm.models.train.train_and_save`.

phm train --dataset cmapss --data DIR [--subset FD001] [--config phm/configs/models/cmapss.toml]
          --device cpu|cuda --out CKPT [--seed S] [--epochs N]
phm train --dataset femto --data DIR [--holdout Bearing1_1] ...   (RUL in hours)
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
    Phm2018Options,
    PlantOptions,
)
from phm.models.train import DEFAULT_MODEL_CONFIG, TrainOptions, train_and_save
from phm.resources import resource_path

# --dataset -> its default model config where it is not the shipped small size
DATASET_CONFIGS: dict[str, Path] = {"cmapss": resource_path("models/cmapss.toml")}


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
    parser.add_argument("--plant", type=Path, default=None, help="plant: plant TOML")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="model TOML (default: models/cmapss.toml for cmapss, models/small.toml otherwise)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint path to write")
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
    plant = PlantOptions(plant=args.plant)
    if args.pumps is not None:
        plant = dataclasses.replace(plant, pumps=args.pumps)
    if args.test_pumps is not None:
        plant = dataclasses.replace(plant, test_pumps=args.test_pumps)
    return plant


def run(args: argparse.Namespace) -> int:
    """`phm train`: `train_and_save` with the options of the flags."""
    train_and_save(
        TrainOptions(
            data=dataset_options(args),
            out=args.out,
            config=args.config or DATASET_CONFIGS.get(args.dataset, DEFAULT_MODEL_CONFIG),
            device=args.device,
            seed=args.seed,
            epochs=args.epochs,
            members=args.members,
            init=args.init,
            metrics_out=args.metrics_out,
            threads=args.threads,
            test=not args.no_test,
        )
    )
    return 0
