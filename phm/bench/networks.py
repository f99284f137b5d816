"""What the benches share to train and score the networks (`--model moe|dense`).

`NETWORKS` names the default config of each network, `add_network_arguments` adds the flags
(`--config`, `--device`, `--seeds`, `--epochs`, `--members`, `--threads`), `network_configs`
loads and checks the configs, and `spread` gives mean and std over seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from phm.errors import ConfigError
from phm.resources import resource_path

if TYPE_CHECKING:  # torch loads only when a network is benched
    from phm.models.data import TrainConfig
    from phm.models.model import ModelConfig

# --model NAME of the networks -> default config file.
NETWORKS: dict[str, Path] = {
    "moe": resource_path("models/small.toml"),
    "dense": resource_path("models/dense-small.toml"),
}


def add_network_arguments(
    parser: argparse.ArgumentParser, epochs_default: int | None = None
) -> None:
    """Flags of the moe / dense models, shared with `phm bench cwru`. `epochs_default`: the
    bench's own epoch cap when `--epochs` is not given (None: the config's [train] epochs)."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="model TOML (default: the shipped models/small.toml, dense-small.toml for dense)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--seeds", type=int, default=1, help="moe/dense: seeds S .. S+N-1")
    parser.add_argument(
        "--epochs",
        type=int,
        default=epochs_default,
        help="override [train] epochs"
        + ("" if epochs_default is None else f" (default here: {epochs_default})"),
    )
    parser.add_argument(
        "--members",
        type=int,
        default=None,
        help="override [train] members: a deep ensemble of N models per seed",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)"
    )
    parser.add_argument(
        "--init", default=None, help="override [train] init: a `phm pretrain` checkpoint"
    )


def network_configs(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    """The model and train configs of `--model moe|dense`, checked against the model kind,
    with the `--epochs` override; sets torch threads and checks `--device`."""

    from phm.models.data import load_train_config
    from phm.models.model import load_config
    from phm.models.train import torch_runtime

    path = args.config or NETWORKS[args.model]
    cfg, tcfg = load_config(path), load_train_config(path)
    if args.model == "dense" and not cfg.dense:
        raise ConfigError(
            f"{path}: --model dense needs every block dense (n_dense_blocks = {cfg.n_dense_blocks}"
            f" < n_layers = {cfg.n_layers}); use a dense-*.toml config"
        )
    if args.model == "moe" and cfg.dense:
        raise ConfigError(
            f"{path}: --model moe needs MoE blocks (n_dense_blocks = {cfg.n_dense_blocks} >= "
            f"n_layers = {cfg.n_layers}); use a config without the dense- prefix"
        )
    if args.epochs is not None:
        tcfg = dataclasses.replace(tcfg, epochs=args.epochs)
    if getattr(args, "members", None) is not None:
        if args.members < 1:
            raise ConfigError(f"--members must be at least 1, got {args.members}")
        tcfg = dataclasses.replace(tcfg, members=args.members)
    if getattr(args, "init", None) is not None:
        tcfg = dataclasses.replace(tcfg, init=str(args.init))
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    torch_runtime(args.device, args.threads)
    return cfg, tcfg


def spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0
