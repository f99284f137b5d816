"""`phm pretrain`: masked-reconstruction pretraining of the encoder on several datasets.

phm pretrain --datasets cmapss,cwru,femto,phm2018,plant --config phm/configs/models/small.toml
             --out CKPT [--data DIR] [--epochs N] [--mask-ratio 0.5] [--span 5] [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from phm.models.pretrain import PRETRAIN_DATASETS, PretrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm pretrain`."""
    from phm.models.train import DEFAULT_MODEL_CONFIG

    d = PretrainConfig()
    parser.add_argument(
        "--datasets",
        default=",".join(PRETRAIN_DATASETS),
        help="comma-separated datasets (training assets only; a missing one is skipped)",
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="folder holding the datasets ($PHM_DATA_DIR)"
    )
    parser.add_argument(
        "--subsets", default="FD001,FD002,FD003", help="C-MAPSS subsets, comma-separated"
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_MODEL_CONFIG, help="model TOML (trunk size)"
    )
    parser.add_argument("--out", type=Path, required=True, help="pretrained checkpoint to write")
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--mask-ratio", type=float, default=d.mask_ratio)
    parser.add_argument("--span", type=int, default=d.span, help="process: masked span length")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument(
        "--max-windows", type=int, default=d.max_windows, help="most windows per dataset"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: default)")
    parser.add_argument("--metrics-out", type=Path, default=None, help="write the history JSON")


def run(args: argparse.Namespace) -> int:
    """`phm pretrain`: load the sources, pretrain, save, print the history."""

    from phm.models.data import load_train_config
    from phm.models.model import load_config
    from phm.models.pretrain import load_sources, pretrain, save_pretrained
    from phm.models.train import torch_runtime

    torch_runtime(args.device, args.threads)
    pcfg = dataclasses.replace(
        PretrainConfig(),
        epochs=args.epochs,
        mask_ratio=args.mask_ratio,
        span=args.span,
        batch_size=args.batch_size,
        lr=args.lr,
        max_windows=args.max_windows,
    )
    config, tcfg = load_config(args.config), load_train_config(args.config)
    t0 = time.perf_counter()
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    subsets = tuple(s.strip() for s in args.subsets.split(",") if s.strip())
    sources = load_sources(datasets, config, tcfg, args.data, subsets, pcfg.max_windows, args.seed)
    model, result = pretrain(sources, config, pcfg, args.device, args.seed)
    metrics = {
        "sources": [s.name for s in sources],
        "windows": {s.name: len(next(iter(s.train.values()))) for s in sources},
        "pretrain_config": dataclasses.asdict(pcfg),
        "history": result.history,
        "train_seconds": result.seconds,
        "wall_seconds": time.perf_counter() - t0,
    }
    save_pretrained(args.out, model, {"config_file": str(args.config), **metrics})
    text = json.dumps(metrics, indent=2, default=float)
    print(text)
    print(f"wrote {args.out}")
    if args.metrics_out is not None:
        args.metrics_out.parent.mkdir(parents=True, exist_ok=True)
        args.metrics_out.write_text(text + "\n")
    return 0
