"""`phm distill`: distil a trained model (or ensemble) into a smaller student, with a report.

phm distill --teacher CKPT --config phm/configs/models/tiny.toml --out STUDENT [--data DIR]
            [--alphas 0,0.5,1,2] [--temperature 2] [--threads N] [--metrics-out JSON]
The dataset is the teacher's; its options take the same flags as `phm train`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from phm.models.distill import ALPHAS, TEMPERATURE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm distill`."""
    parser.add_argument("--teacher", type=Path, required=True, help="teacher checkpoint")
    parser.add_argument("--config", type=Path, required=True, help="student model TOML")
    parser.add_argument("--out", type=Path, required=True, help="student checkpoint to write")
    parser.add_argument(
        "--data", type=Path, default=None, help="dataset folder or its parent ($PHM_DATA_DIR)"
    )
    parser.add_argument("--subset", default=None, help="C-MAPSS subset (default: the teacher's)")
    parser.add_argument("--train-load", type=int, default=None, help="CWRU cross-load train hp")
    parser.add_argument("--test-load", type=int, default=None, help="CWRU cross-load test hp")
    parser.add_argument("--holdout", default=None, help="FEMTO: held-out learning bearing")
    parser.add_argument("--pumps", type=int, default=None, help="plant: training pumps (40)")
    parser.add_argument("--test-pumps", type=int, default=None, help="plant: test pumps (10)")
    parser.add_argument("--plant", type=Path, default=None, help="plant: plant TOML")
    parser.add_argument(
        "--alphas",
        default=",".join(f"{a:g}" for a in ALPHAS),
        help="distillation weights tried (0: the student alone); validation picks one > 0",
    )
    parser.add_argument("--temperature", type=float, default=TEMPERATURE)
    parser.add_argument("--seed", type=int, default=None, help="default: the teacher's seed")
    parser.add_argument("--epochs", type=int, default=None, help="override the student's epochs")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: default)")
    parser.add_argument("--metrics-out", type=Path, default=None, help="write the report JSON")


def run(args: argparse.Namespace) -> int:
    """`phm distill`: the teacher's dataset options from the flags, then `distill`."""
    import torch

    from phm.errors import ConfigError
    from phm.models.checkpoint import header_from_state
    from phm.models.cli import dataset_options
    from phm.models.distill import DistillOptions, distill, finite
    from phm.models.train import torch_runtime

    torch_runtime(args.device, args.threads)
    try:
        state = torch.load(args.teacher, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"--teacher {args.teacher}: checkpoint not found") from None
    header = header_from_state(state, str(args.teacher))
    del state
    args.dataset = header.dataset
    if args.subset is None:
        args.subset = header.subset or "FD001"
    try:
        alphas = tuple(float(a) for a in args.alphas.split(",") if a.strip())
    except ValueError:
        raise ConfigError(
            f"--alphas: expected numbers separated by commas, got {args.alphas!r}"
        ) from None
    report = distill(
        DistillOptions(
            teacher=args.teacher,
            config=args.config,
            out=args.out,
            data=dataset_options(args),
            device=args.device,
            seed=args.seed,
            epochs=args.epochs,
            alphas=alphas,
            temperature=args.temperature,
            threads=args.threads,
        )
    )
    text = json.dumps(finite(report), indent=2, default=float)
    print(text)
    if args.metrics_out is not None:
        args.metrics_out.parent.mkdir(parents=True, exist_ok=True)
        args.metrics_out.write_text(text + "\n")
    return 0
