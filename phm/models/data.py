"""Model-ready data: the `[train]` settings, window sets and what a dataset hands to training.

`TrainConfig` is the `[train]` table of a model config TOML. A dataset enters training as a
`Prepared` (fit, validation and test `WindowSet`s, the data-dependent config fields and the
preprocessing a checkpoint keeps); `phm.models.prepare` builds one per dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from phm.config import from_mapping, read_toml
from phm.models.checkpoint import CheckpointHeader


@dataclass
class TrainConfig:
    """Optimisation and data-window settings, the `[train]` table of a model config TOML."""

    batch_size: int = 256  # windows per optimiser step
    lr: float = 1e-3  # peak learning rate
    min_lr_ratio: float = 0.05  # cosine decays to lr * this
    weight_decay: float = 0.05  # AdamW decay on matrices and embeddings (not norms, biases)
    warmup_steps: int = 100  # linear warmup steps
    epochs: int = 30  # most passes over the fit windows
    patience: int = 6  # stop after this many epochs without a better validation score
    grad_clip: float = 1.0  # max global gradient norm
    val_fraction: float = 0.2  # share of training assets held out for validation
    window: int = 30  # time steps (cycles, rows, snapshots) per window
    include_cycle: bool = True  # C-MAPSS: add the cycle count / RUL cap as a process channel
    # C-MAPSS: how the network sees the operating condition (sensors are always z-scored per
    # condition): "token" the last cycle's condition as a context token; "channels" a one-hot
    # of each cycle's condition as process channels (six-condition subsets only), so every
    # cycle's token, and the router, knows its condition; "both"; "none" (ablation)
    condition_input: str = "token"
    snapshot: int = 512  # CWRU: samples per vibration token (a record window is cut into these);
    # FEMTO: samples kept per snapshot (its first `snapshot` of 2560: all bands up to 12.8 kHz)
    snapshots: int = 8  # FEMTO: snapshots per window (the last K up to the prediction time)
    eval_batch_size: int = 1024  # windows per forward when evaluating
    ema_decay: float = 0.0  # > 0: validate and keep the moving average of the weights
    # > 1: a deep ensemble of this many models, trained from seeds seed, seed + 1000, ... on
    # the same fit/validation split; it predicts their equal-weight mixture (PhmEnsemble)
    members: int = 1
    # CWRU: optional random speed change (+-, resampled) and gain (x / (1 + g) .. x (1 + g)) of
    # training windows, as another motor load would give (phm.models.augment); 0 = off. Off by
    # default: +-2% speed lowered cross-load accuracy (docs/BENCHMARKS.md, CWRU ablation)
    speed_jitter: float = 0.0
    gain_jitter: float = 0.0
    # a pretrained checkpoint (`phm pretrain`) whose matching trunk and embedder tensors
    # initialise the model ("" = random init); phm.models.pretrain.load_pretrained
    init: str = ""
    # multitask gradients on the shared encoder: "sum" of the losses or "pcgrad" (gradient
    # surgery, phm.models.surgery); the same with a single task
    gradient_surgery: str = "sum"


def load_train_config(path: str | Path) -> TrainConfig:
    """The `[train]` table of a model config TOML; unknown keys raise ConfigError."""
    return from_mapping(TrainConfig, read_toml(path).get("train", {}), str(path), "[train]")


@dataclass
class WindowSet:
    """Model-ready windows: `inputs` per modality (plus `*_mask`), `targets`, `groups` (asset).

    Arrays share their first axis (N windows). Targets: `rul_time`, `rul_event` (censoring-aware
    RUL), `rul_true` (uncapped truth, for metrics), `fault` (class id), `ttf_time`, `ttf_event`.
    """

    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    groups: np.ndarray

    def __len__(self) -> int:
        return len(self.groups)

    def take(self, idx: np.ndarray) -> WindowSet:
        return WindowSet(
            {k: v[idx] for k, v in self.inputs.items()},
            {k: v[idx] for k, v in self.targets.items()},
            self.groups[idx],
        )

    def to(self, device: torch.device) -> TensorWindows:
        return TensorWindows(
            {
                k: torch.from_numpy(np.ascontiguousarray(v)).to(device)
                for k, v in self.inputs.items()
            },
            {
                k: torch.from_numpy(np.ascontiguousarray(v)).to(device)
                for k, v in self.targets.items()
            },
        )


@dataclass
class TensorWindows:
    """A WindowSet's arrays as tensors on one device; `batch(idx)` slices both dicts."""

    inputs: dict[str, Tensor]
    targets: dict[str, Tensor]

    def batch(self, idx: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        return (
            {k: v[idx] for k, v in self.inputs.items()},
            {k: v[idx] for k, v in self.targets.items()},
        )


@dataclass
class Prepared:
    """What a dataset function hands to training."""

    fit: WindowSet
    val: WindowSet
    test: WindowSet | None
    config_updates: dict[str, Any]  # data-dependent ModelConfig fields
    header: CheckpointHeader  # what using the model needs: written into the checkpoint
    # provenance (validation units, files...), kept in the header's `training`: never read to
    # use the model
    extra: dict[str, Any] = field(default_factory=dict)
    # training-time augmentation of a batch's inputs (inputs, generator) -> inputs; None: none
    augment: Callable[[dict[str, Tensor], torch.Generator], dict[str, Tensor]] | None = None


def capped_rul_targets(rul: np.ndarray, cap: float) -> dict[str, np.ndarray]:
    """RUL targets of lives capped at `cap`: time min(rul, cap) (float32), event rul < cap
    (longer lives are censored at the cap), rul_true the uncapped RUL."""
    return {"rul_time": np.minimum(rul, cap).astype(np.float32), "rul_event": rul < cap,
            "rul_true": rul}  # fmt: skip


def sliding_windows(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Causal windows ending at every row of one run, front-padded with zeros.

    values (n, C) -> windows (n, window, C) float32 and mask (n, window) True on real rows;
    window i holds rows max(0, i - window + 1) .. i, the last row always at position window-1.
    """
    n, c = values.shape
    padded = np.concatenate([np.zeros((window - 1, c), values.dtype), values]).astype(np.float32)
    real = np.concatenate([np.zeros(window - 1, bool), np.ones(n, bool)])
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # (n, C, window)
    mask = np.lib.stride_tricks.sliding_window_view(real, window)  # (n, window)
    return np.ascontiguousarray(view.transpose(0, 2, 1)), mask.copy()
